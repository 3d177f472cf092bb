//! Delivery of notifications: one sender per channel, and the outbox worker that
//! drives them.
//!
//! `app` decides who is told what and writes the outbox rows in the transaction of
//! the change; this module turns due rows into emails, texts, webhook calls and SNS
//! messages. It never decides who is told.

pub mod email;
mod http_call;
pub mod ical;
pub mod render;
pub mod sms;
pub mod sns;
pub mod webhook;
pub mod worker;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// What a notice tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Welcome,
    DoctorApproved,
    AppointmentRequested,
    AppointmentConfirmed,
    AppointmentRejected,
    AppointmentCancelled,
    AppointmentRescheduled,
    PatientCheckedIn,
    Reminder,
    /// A link to choose a new password (email only, whatever the preferences).
    PasswordReset,
    /// A link to confirm the account's email address (email only, whatever the
    /// preferences).
    EmailVerification,
    /// A doctor issued the patient a prescription: in-app and email only, and
    /// never with its content (see docs/PRESCRIPTIONS.md).
    PrescriptionIssued,
    /// The account signed in from an address it had not signed in from before
    /// (`new_sign_in_email`): email only, whatever the preferences.
    NewSignIn,
    /// A receipt for a visit's fee, paid online or at the desk: to the patient,
    /// in-app and by email.
    PaymentReceived,
    /// A fee paid online went back (the visit was cancelled or rejected, or the
    /// payment came after the held slot was taken): to the patient.
    PaymentRefunded,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 15] = [
        NoticeKind::Welcome,
        NoticeKind::DoctorApproved,
        NoticeKind::AppointmentRequested,
        NoticeKind::AppointmentConfirmed,
        NoticeKind::AppointmentRejected,
        NoticeKind::AppointmentCancelled,
        NoticeKind::AppointmentRescheduled,
        NoticeKind::PatientCheckedIn,
        NoticeKind::Reminder,
        NoticeKind::PasswordReset,
        NoticeKind::EmailVerification,
        NoticeKind::PrescriptionIssued,
        NoticeKind::NewSignIn,
        NoticeKind::PaymentReceived,
        NoticeKind::PaymentRefunded,
    ];

    /// Snake case, e.g. `appointment_confirmed`: template names start with it.
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Welcome => "welcome",
            NoticeKind::DoctorApproved => "doctor_approved",
            NoticeKind::AppointmentRequested => "appointment_requested",
            NoticeKind::AppointmentConfirmed => "appointment_confirmed",
            NoticeKind::AppointmentRejected => "appointment_rejected",
            NoticeKind::AppointmentCancelled => "appointment_cancelled",
            NoticeKind::AppointmentRescheduled => "appointment_rescheduled",
            NoticeKind::PatientCheckedIn => "patient_checked_in",
            NoticeKind::Reminder => "reminder",
            NoticeKind::PasswordReset => "password_reset",
            NoticeKind::EmailVerification => "email_verification",
            NoticeKind::PrescriptionIssued => "prescription_issued",
            NoticeKind::NewSignIn => "new_sign_in",
            NoticeKind::PaymentReceived => "payment_received",
            NoticeKind::PaymentRefunded => "payment_refunded",
        }
    }

    pub fn parse(value: &str) -> Option<NoticeKind> {
        NoticeKind::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// The dotted type webhooks and SNS messages carry, e.g. `appointment.confirmed`.
    pub fn event_type(self) -> &'static str {
        match self {
            NoticeKind::Welcome => "user.registered",
            NoticeKind::DoctorApproved => "doctor.approved",
            NoticeKind::AppointmentRequested => "appointment.requested",
            NoticeKind::AppointmentConfirmed => "appointment.confirmed",
            NoticeKind::AppointmentRejected => "appointment.rejected",
            NoticeKind::AppointmentCancelled => "appointment.cancelled",
            NoticeKind::AppointmentRescheduled => "appointment.rescheduled",
            NoticeKind::PatientCheckedIn => "appointment.checked_in",
            NoticeKind::Reminder => "appointment.reminder",
            NoticeKind::PasswordReset => "user.password_reset_requested",
            NoticeKind::EmailVerification => "user.email_verification_requested",
            NoticeKind::PrescriptionIssued => "prescription.issued",
            NoticeKind::NewSignIn => "user.new_sign_in",
            NoticeKind::PaymentReceived => "payment.received",
            NoticeKind::PaymentRefunded => "payment.refunded",
        }
    }

    /// Account security messages: sent by email only, to the account's owner alone
    /// (never to webhooks, SNS or the in-app list, since they carry a secret link),
    /// and whatever the owner's preferences say.
    pub fn is_security(self) -> bool {
        matches!(
            self,
            NoticeKind::PasswordReset | NoticeKind::EmailVerification | NoticeKind::NewSignIn
        )
    }
}

/// The facts a notice carries: who, when, where, and links. Never the reason for
/// the visit or anything else clinical. Stored as JSON in the outbox row, so a
/// field may only be added with a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The event this notice tells, shared by every recipient and channel of it:
    /// webhooks and SNS carry it as the event id.
    pub event_id: String,
    pub kind: NoticeKind,
    pub occurred_at: Timestamp,
    pub clinic: ClinicFacts,
    /// The account the notice is about (welcome, doctor approved).
    #[serde(default)]
    pub user: Option<UserFacts>,
    #[serde(default)]
    pub appointment: Option<AppointmentFacts>,
    /// The role of whoever made the change (`patient`, `doctor`, `receptionist`,
    /// `admin`); absent when carebook itself acts (reminders).
    #[serde(default)]
    pub changed_by: Option<String>,
    /// A link the message exists for (password reset, email verification): it
    /// carries a single-use token, so such notices go to their owner's email only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_link: Option<String>,
    /// The fee a receipt or refund is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentFacts>,
}

/// What a receipt says of a payment: no card detail ever reaches carebook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentFacts {
    pub id: String,
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// `stripe`, `cash` or `card_terminal`.
    pub method: String,
    /// Why the money went back (refunds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
}

impl PaymentFacts {
    /// `EUR 50.00`.
    pub fn amount_text(&self) -> String {
        money_text(self.amount_minor, &self.currency)
    }

    pub fn method_text(&self) -> &'static str {
        match self.method.as_str() {
            "stripe" => "online (card)",
            "cash" => "cash at the desk",
            "card_terminal" => "card at the desk",
            _ => "other",
        }
    }
}

/// `EUR 50.00` for 5000 minor units: the minor units as ISO 4217 counts them for
/// the currency (`JPY 5000`, `KWD 5.000`).
pub fn money_text(amount_minor: i64, currency: &str) -> String {
    format!("{currency} {}", decimal_amount(amount_minor, currency))
}

/// `50.00` for 5000 minor units of EUR (see [`money_text`]).
pub fn decimal_amount(amount_minor: i64, currency: &str) -> String {
    let digits = minor_unit_digits(currency);
    let sign = if amount_minor < 0 { "-" } else { "" };
    let amount = amount_minor.unsigned_abs();
    if digits == 0 {
        return format!("{sign}{amount}");
    }
    let scale = 10u64.pow(digits);
    format!(
        "{sign}{}.{:0width$}",
        amount / scale,
        amount % scale,
        width = digits as usize
    )
}

/// How many digits ISO 4217 gives the minor unit of `currency`: two for most,
/// none for the yen and a few others, three for some dinars.
pub fn minor_unit_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClinicFacts {
    pub name: String,
    pub time_zone: String,
    /// Links start with this; no trailing slash.
    pub base_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserFacts {
    pub id: String,
    pub name: String,
    /// `patient`, `doctor`, `receptionist` or `admin`.
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentFacts {
    pub id: String,
    pub doctor_id: String,
    pub doctor_name: String,
    pub patient_id: String,
    pub patient_name: String,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Where it was before a reschedule.
    #[serde(default)]
    pub previous_start: Option<Timestamp>,
    /// The doctor's IANA zone: messages show times in it.
    pub time_zone: String,
    /// The status after the change, e.g. `confirmed`.
    pub status: String,
    /// Grows with every change of the appointment: the iCalendar `SEQUENCE`.
    pub sequence: u32,
    /// The meeting link of a confirmed video visit. Never stored with the notice
    /// (the outbox row would keep it, and admins read those): the worker adds it
    /// when it sends an email to the visit's patient or doctor, and nowhere else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
}

impl Notice {
    /// The action link, else the page of the appointment (or the home page).
    pub fn link(&self) -> String {
        if let Some(link) = &self.action_link {
            return link.clone();
        }
        if self.kind == NoticeKind::PrescriptionIssued {
            return format!("{}/prescriptions", self.clinic.base_url);
        }
        match &self.appointment {
            Some(a) => format!("{}/appointments/{}", self.clinic.base_url, a.id),
            None => format!("{}/", self.clinic.base_url),
        }
    }
}

/// Whom a message goes to, looked up when it is sent, so a changed address or
/// preference counts for messages still waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: String,
    pub name: String,
    pub email: String,
    /// E.164.
    pub phone: Option<String>,
}

/// Why one delivery attempt failed. `message` is stored and shown to admins, so it
/// never carries an address, a credential or a message body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// Worth trying again later (timeouts, 5xx, 429, refused connections); a
    /// permanent error (bad number, 4xx) fails the delivery at once.
    pub retryable: bool,
    pub message: String,
}

impl DeliveryError {
    pub fn retryable(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            retryable: true,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            retryable: false,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// rustls is built with ring only; every TLS client (reqwest's, lettre's) of this
/// process uses it. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The one HTTP client of the HTTP channels: rustls with the ring provider, the
/// system's root certificates, bounded timeouts, no redirects (a webhook that
/// redirects is misconfigured, and following it could leak the signature).
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("carebook/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client's settings are valid")
}

/// The ways a notice travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Email,
    Sms,
    Webhook,
    Sns,
    /// The user's list in the app; reminders reach it through the outbox, at their
    /// time.
    InApp,
}

impl Channel {
    pub const ALL: [Channel; 5] = [
        Channel::Email,
        Channel::Sms,
        Channel::Webhook,
        Channel::Sns,
        Channel::InApp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Webhook => "webhook",
            Channel::Sns => "sns",
            Channel::InApp => "in_app",
        }
    }

    pub fn parse(value: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == value)
    }
}
