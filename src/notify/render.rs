//! Message text from templates kept as files (`templates/notify/`), built into the
//! binary and overridable per file from `template_dir`.
//!
//! Each kind has `<kind>.txt`, whose blocks are the email's `subject` and `text`,
//! the `sms` and the in-app `title` and `body`, and `<kind>.html`, the email's HTML
//! body, which extends `layout.html`. Only `.html` templates are auto-escaped.
//! Every template sees the same variables (see [`View`]), none of them clinical.

use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::json;

use super::ical::{self, Calendar};
use super::{AppointmentFacts, ClinicFacts, Notice, NoticeKind, Recipient, UserFacts};

const LAYOUT: &str = "layout.html";

/// The built-in templates, by file name.
const BUILT_IN: [(&str, &str); 31] = [
    (LAYOUT, include_str!("../../templates/notify/layout.html")),
    (
        "welcome.txt",
        include_str!("../../templates/notify/welcome.txt"),
    ),
    (
        "welcome.html",
        include_str!("../../templates/notify/welcome.html"),
    ),
    (
        "doctor_approved.txt",
        include_str!("../../templates/notify/doctor_approved.txt"),
    ),
    (
        "doctor_approved.html",
        include_str!("../../templates/notify/doctor_approved.html"),
    ),
    (
        "appointment_requested.txt",
        include_str!("../../templates/notify/appointment_requested.txt"),
    ),
    (
        "appointment_requested.html",
        include_str!("../../templates/notify/appointment_requested.html"),
    ),
    (
        "appointment_confirmed.txt",
        include_str!("../../templates/notify/appointment_confirmed.txt"),
    ),
    (
        "appointment_confirmed.html",
        include_str!("../../templates/notify/appointment_confirmed.html"),
    ),
    (
        "appointment_rejected.txt",
        include_str!("../../templates/notify/appointment_rejected.txt"),
    ),
    (
        "appointment_rejected.html",
        include_str!("../../templates/notify/appointment_rejected.html"),
    ),
    (
        "appointment_cancelled.txt",
        include_str!("../../templates/notify/appointment_cancelled.txt"),
    ),
    (
        "appointment_cancelled.html",
        include_str!("../../templates/notify/appointment_cancelled.html"),
    ),
    (
        "appointment_rescheduled.txt",
        include_str!("../../templates/notify/appointment_rescheduled.txt"),
    ),
    (
        "appointment_rescheduled.html",
        include_str!("../../templates/notify/appointment_rescheduled.html"),
    ),
    (
        "patient_checked_in.txt",
        include_str!("../../templates/notify/patient_checked_in.txt"),
    ),
    (
        "patient_checked_in.html",
        include_str!("../../templates/notify/patient_checked_in.html"),
    ),
    (
        "reminder.txt",
        include_str!("../../templates/notify/reminder.txt"),
    ),
    (
        "reminder.html",
        include_str!("../../templates/notify/reminder.html"),
    ),
    (
        "password_reset.txt",
        include_str!("../../templates/notify/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../../templates/notify/password_reset.html"),
    ),
    (
        "email_verification.txt",
        include_str!("../../templates/notify/email_verification.txt"),
    ),
    (
        "email_verification.html",
        include_str!("../../templates/notify/email_verification.html"),
    ),
    (
        "prescription_issued.txt",
        include_str!("../../templates/notify/prescription_issued.txt"),
    ),
    (
        "payment_received.txt",
        include_str!("../../templates/notify/payment_received.txt"),
    ),
    (
        "payment_received.html",
        include_str!("../../templates/notify/payment_received.html"),
    ),
    (
        "payment_refunded.txt",
        include_str!("../../templates/notify/payment_refunded.txt"),
    ),
    (
        "payment_refunded.html",
        include_str!("../../templates/notify/payment_refunded.html"),
    ),
    (
        "prescription_issued.html",
        include_str!("../../templates/notify/prescription_issued.html"),
    ),
    (
        "new_sign_in.txt",
        include_str!("../../templates/notify/new_sign_in.txt"),
    ),
    (
        "new_sign_in.html",
        include_str!("../../templates/notify/new_sign_in.html"),
    ),
];

/// The templates, loaded once at start.
pub struct Templates {
    env: Environment<'static>,
}

#[derive(Debug, thiserror::Error)]
#[error("template {name}: {message}")]
pub struct RenderError {
    pub name: String,
    pub message: String,
}

impl RenderError {
    fn new(name: &str, error: impl std::fmt::Display) -> RenderError {
        RenderError {
            name: name.to_owned(),
            message: error.to_string(),
        }
    }

    fn from_minijinja(name: &str, error: &minijinja::Error) -> RenderError {
        // The detail (line, cause) is what someone fixing an override needs.
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        RenderError {
            name: name.to_owned(),
            message,
        }
    }
}

/// An email's parts.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// An invitation (confirmed, rescheduled) or a cancellation.
    pub calendar: Option<Calendar>,
}

/// A notification in the app's own list.
#[derive(Debug, Clone, PartialEq)]
pub struct InApp {
    pub title: String,
    pub body: String,
    pub link: String,
}

/// What every template sees.
#[derive(Debug, Clone, Serialize)]
struct View {
    /// The recipient's name.
    recipient: String,
    /// The recipient is the appointment's patient (else its doctor, or staff).
    for_patient: bool,
    clinic: String,
    link: String,
    /// The account the notice is about (welcome, approval), else the recipient.
    user_name: String,
    doctor: Option<String>,
    patient: Option<String>,
    /// The start in the appointment's zone, e.g.
    /// `Tuesday 3 March 2026, 09:30 (Europe/Berlin)`.
    when: Option<String>,
    previous_when: Option<String>,
    /// Who acted, when it was someone other than the recipient: `by the clinic`.
    by: Option<&'static str>,
    /// The email's subject, for the HTML `<title>`.
    subject: Option<String>,
    /// The meeting link of a video visit: in emails only, never in texts or
    /// in-app entries (see docs/VIDEO.md).
    video_url: Option<String>,
    /// A receipt's or refund's amount, e.g. `EUR 50.00`.
    amount: Option<String>,
    /// How it was paid, in words (`online (card)`, `cash at the desk`).
    method: Option<&'static str>,
    payment_id: Option<String>,
    refund_reason: Option<String>,
}

impl View {
    fn new(notice: &Notice, recipient_id: &str, recipient_name: Option<&str>) -> View {
        let appointment = notice.appointment.as_ref();
        let for_patient = appointment.is_some_and(|a| a.patient_id == recipient_id);
        let recipient = recipient_name
            .map(str::to_owned)
            .unwrap_or_else(|| name_of(notice, recipient_id).unwrap_or_default().to_owned());
        let user_name = notice
            .user
            .as_ref()
            .map_or_else(|| recipient.clone(), |user| user.name.clone());
        View {
            for_patient,
            clinic: notice.clinic.name.clone(),
            link: notice.link(),
            user_name,
            doctor: appointment.map(|a| a.doctor_name.clone()),
            patient: appointment.map(|a| a.patient_name.clone()),
            when: appointment.map(|a| local_time(a.start, &a.time_zone)),
            previous_when: appointment
                .and_then(|a| a.previous_start.map(|at| local_time(at, &a.time_zone))),
            by: actor(notice.changed_by.as_deref(), for_patient),
            subject: None,
            video_url: None,
            amount: notice.payment.as_ref().map(|p| p.amount_text()),
            method: notice.payment.as_ref().map(|p| p.method_text()),
            payment_id: notice.payment.as_ref().map(|p| p.id.clone()),
            refund_reason: notice
                .payment
                .as_ref()
                .and_then(|p| p.refund_reason.clone()),
            recipient,
        }
    }
}

/// The name of `user_id` as far as the notice knows it.
fn name_of<'a>(notice: &'a Notice, user_id: &str) -> Option<&'a str> {
    if let Some(a) = &notice.appointment {
        if a.patient_id == user_id {
            return Some(&a.patient_name);
        }
        if a.doctor_id == user_id {
            return Some(&a.doctor_name);
        }
    }
    notice
        .user
        .as_ref()
        .filter(|user| user.id == user_id)
        .map(|user| user.name.as_str())
}

/// Names the actor only when it is not the recipient's own side: a patient who
/// cancelled does not need to be told that they did.
fn actor(changed_by: Option<&str>, for_patient: bool) -> Option<&'static str> {
    match changed_by? {
        "patient" if !for_patient => Some("by the patient"),
        "doctor" if for_patient => Some("by the doctor"),
        "receptionist" | "admin" => Some("by the clinic"),
        _ => None,
    }
}

/// `Tuesday 3 March 2026, 09:30 (Europe/Berlin)`; in UTC when the zone is
/// unknown, which says so rather than showing a wrong local time.
pub fn local_time(at: Timestamp, time_zone: &str) -> String {
    let (zone, zone_name) = match TimeZone::get(time_zone) {
        Ok(zone) => (zone, time_zone),
        Err(_) => (TimeZone::UTC, "UTC"),
    };
    format!(
        "{} ({zone_name})",
        at.to_zoned_datetime(zone).strftime("%A %-d %B %Y, %H:%M")
    )
}

/// Escapes what HTML text and quoted attributes need, and no more: the built-in
/// escaper also turns `/` into `&#x2f;`, which makes links and zone names in the
/// source of every email hard to read and look suspicious to spam filters.
fn write_html_escaped(out: &mut impl std::fmt::Write, text: &str) -> std::fmt::Result {
    let mut rest = text;
    while let Some(index) = rest.find(['&', '<', '>', '"', '\'']) {
        out.write_str(&rest[..index])?;
        out.write_str(match rest.as_bytes()[index] {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            _ => "&#x27;",
        })?;
        rest = &rest[index + 1..];
    }
    out.write_str(rest)
}

/// One line: template authors may wrap subjects and texts messages freely.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Trailing spaces dropped, and at most one blank line in a row, so `{% if %}`
/// lines in a template leave no holes in the text.
fn tidy_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

impl Templates {
    /// The built-in templates, each replaced by a file of the same name in
    /// `overrides` when there is one. Every template is compiled here, so a broken
    /// override stops the start instead of a delivery.
    pub fn load(overrides: Option<&Path>) -> Result<Templates, RenderError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| match value.as_str() {
            Some(text) if *state.auto_escape() == AutoEscape::Html && !value.is_safe() => {
                write_html_escaped(out, text)
                    .map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure))
            }
            _ => minijinja::escape_formatter(out, state, value),
        });
        // A misspelt variable in an override fails loudly instead of vanishing.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        for (name, built_in) in BUILT_IN {
            let source = match overrides {
                Some(dir) => match std::fs::read_to_string(dir.join(name)) {
                    Ok(source) => source,
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                        built_in.to_owned()
                    }
                    Err(error) => return Err(RenderError::new(name, error)),
                },
                None => built_in.to_owned(),
            };
            env.add_template_owned(name, source)
                .map_err(|error| RenderError::from_minijinja(name, &error))?;
        }
        let templates = Templates { env };
        templates.check_every_kind()?;
        Ok(templates)
    }

    /// Renders every part of every kind for a patient and for a doctor, so an
    /// override that compiles but fails to render (an unknown variable, a missing
    /// block) is found at start too.
    fn check_every_kind(&self) -> Result<(), RenderError> {
        let sample = sample_notice(NoticeKind::Welcome);
        let appointment = sample.appointment.clone().expect("the sample has one");
        let viewers = [
            Recipient {
                user_id: appointment.patient_id,
                name: appointment.patient_name,
                email: "patient@example.invalid".into(),
                phone: None,
            },
            Recipient {
                user_id: appointment.doctor_id,
                name: appointment.doctor_name,
                email: "doctor@example.invalid".into(),
                phone: None,
            },
        ];
        for kind in NoticeKind::ALL {
            let notice = sample_notice(kind);
            for viewer in &viewers {
                self.email(&notice, viewer, "carebook <no-reply@example.invalid>")?;
                self.sms(&notice, viewer)?;
                self.in_app(&notice, &viewer.user_id)?;
            }
        }
        Ok(())
    }

    fn text_blocks(
        &self,
        kind: NoticeKind,
        view: &View,
        blocks: &[&str],
    ) -> Result<Vec<String>, RenderError> {
        let name = format!("{}.txt", kind.as_str());
        let template = self
            .env
            .get_template(&name)
            .map_err(|error| RenderError::from_minijinja(&name, &error))?;
        let mut captured = template
            .render_captured(minijinja::Value::from(Serde(view)))
            .map_err(|error| RenderError::from_minijinja(&name, &error))?;
        blocks
            .iter()
            .map(|block| {
                captured
                    .with_state_mut(|state| state.render_block(block))
                    .map_err(|error| RenderError::from_minijinja(&name, &error))
            })
            .collect()
    }

    /// `organizer` is the clinic's From address, for the calendar's ORGANIZER.
    pub fn email(
        &self,
        notice: &Notice,
        to: &Recipient,
        organizer: &str,
    ) -> Result<RenderedEmail, RenderError> {
        let mut view = View::new(notice, &to.user_id, Some(&to.name));
        view.video_url = notice
            .appointment
            .as_ref()
            .and_then(|a| a.video_url.clone());
        let [subject, text]: [String; 2] = self
            .text_blocks(notice.kind, &view, &["subject", "text"])?
            .try_into()
            .expect("two blocks asked, two rendered");
        let subject = one_line(&subject);
        view.subject = Some(subject.clone());
        let name = format!("{}.html", notice.kind.as_str());
        let html = self
            .env
            .get_template(&name)
            .and_then(|template| template.render(minijinja::Value::from(Serde(&view))))
            .map_err(|error| RenderError::from_minijinja(&name, &error))?;
        Ok(RenderedEmail {
            subject,
            text: tidy_text(&text),
            html: tidy_text(&html),
            calendar: ical::for_notice(notice, organizer, to),
        })
    }

    pub fn sms(&self, notice: &Notice, to: &Recipient) -> Result<String, RenderError> {
        let view = View::new(notice, &to.user_id, Some(&to.name));
        let [sms]: [String; 1] = self
            .text_blocks(notice.kind, &view, &["sms"])?
            .try_into()
            .expect("one block asked, one rendered");
        Ok(one_line(&sms))
    }

    /// `to_user_id` decides the point of view (the patient's or the doctor's).
    pub fn in_app(&self, notice: &Notice, to_user_id: &str) -> Result<InApp, RenderError> {
        let view = View::new(notice, to_user_id, None);
        let [title, body]: [String; 2] = self
            .text_blocks(notice.kind, &view, &["title", "body"])?
            .try_into()
            .expect("two blocks asked, two rendered");
        Ok(InApp {
            title: one_line(&title),
            body: one_line(&body),
            link: notice.link(),
        })
    }
}

/// A notice with every field filled, for checking templates at load.
fn sample_notice(kind: NoticeKind) -> Notice {
    let start = Timestamp::UNIX_EPOCH;
    Notice {
        event_id: "sample".into(),
        kind,
        occurred_at: start,
        clinic: ClinicFacts {
            name: "Sample Clinic".into(),
            time_zone: "UTC".into(),
            base_url: "https://clinic.example.invalid".into(),
        },
        user: Some(UserFacts {
            id: "sample-user".into(),
            name: "Sam Sample".into(),
            role: "patient".into(),
        }),
        appointment: Some(AppointmentFacts {
            id: "sample-appointment".into(),
            doctor_id: "sample-doctor".into(),
            doctor_name: "Dana Doctor".into(),
            patient_id: "sample-patient".into(),
            patient_name: "Pat Patient".into(),
            start,
            end: start,
            previous_start: Some(start),
            time_zone: "UTC".into(),
            status: "confirmed".into(),
            sequence: 1,
            video_url: Some("https://meet.example.invalid/carebook-sample".into()),
        }),
        changed_by: Some("receptionist".into()),
        action_link: None,
        payment: Some(super::PaymentFacts {
            id: "pay_sample".into(),
            amount_minor: 5000,
            currency: "EUR".into(),
            method: "stripe".into(),
            refund_reason: Some("the visit was cancelled by the clinic".into()),
        }),
    }
}

/// The JSON body webhooks receive and SNS messages carry: ids and times only, no
/// names (receivers join on ids) and nothing clinical.
pub fn event_json(notice: &Notice) -> serde_json::Value {
    let mut data = serde_json::Map::new();
    if let Some(a) = &notice.appointment {
        data.insert(
            "appointment".into(),
            json!({
                "id": a.id,
                "doctor_id": a.doctor_id,
                "patient_id": a.patient_id,
                "status": a.status,
                "start": a.start.to_string(),
                "end": a.end.to_string(),
                "previous_start": a.previous_start.map(|at| at.to_string()),
            }),
        );
    }
    if let Some(user) = &notice.user {
        data.insert("user".into(), json!({"id": user.id, "role": user.role}));
    }
    data.insert("changed_by".into(), json!(notice.changed_by));
    json!({
        "id": notice.event_id,
        "type": notice.kind.event_type(),
        "occurred_at": notice.occurred_at.to_string(),
        "clinic": notice.clinic.name,
        "data": data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(kind: NoticeKind) -> Notice {
        Notice {
            event_id: "evt-7".into(),
            kind,
            occurred_at: "2026-03-01T08:00:00Z".parse().unwrap(),
            clinic: ClinicFacts {
                name: "Praxis Mitte".into(),
                time_zone: "Europe/Berlin".into(),
                base_url: "https://clinic.example".into(),
            },
            user: (matches!(kind, NoticeKind::Welcome | NoticeKind::DoctorApproved)
                || kind.is_security())
            .then(|| UserFacts {
                id: "pat-1".into(),
                name: "Jörg Müller".into(),
                role: "patient".into(),
            }),
            appointment: (!matches!(kind, NoticeKind::Welcome | NoticeKind::DoctorApproved)
                && !kind.is_security())
            .then(|| AppointmentFacts {
                id: "apt-42".into(),
                doctor_id: "doc-1".into(),
                doctor_name: "Anna Weber".into(),
                patient_id: "pat-1".into(),
                patient_name: "Jörg Müller".into(),
                start: "2026-03-03T08:30:00Z".parse().unwrap(),
                end: "2026-03-03T09:00:00Z".parse().unwrap(),
                previous_start: (kind == NoticeKind::AppointmentRescheduled)
                    .then(|| "2026-03-02T13:15:00Z".parse().unwrap()),
                time_zone: "Europe/Berlin".into(),
                status: "confirmed".into(),
                sequence: 2,
                video_url: None,
            }),
            changed_by: Some("receptionist".into()),
            action_link: None,
            payment: None,
        }
    }

    fn patient() -> Recipient {
        Recipient {
            user_id: "pat-1".into(),
            name: "Jörg Müller".into(),
            email: "joerg@example.org".into(),
            phone: Some("+4915112345678".into()),
        }
    }

    fn doctor() -> Recipient {
        Recipient {
            user_id: "doc-1".into(),
            name: "Anna Weber".into(),
            email: "anna@clinic.example".into(),
            phone: None,
        }
    }

    const WHEN: &str = "Tuesday 3 March 2026, 09:30 (Europe/Berlin)";

    #[test]
    fn every_kind_renders_for_patient_and_doctor() {
        let templates = Templates::load(None).unwrap();
        for kind in NoticeKind::ALL {
            let notice = notice(kind);
            for to in [patient(), doctor()] {
                let email = templates.email(&notice, &to, "x@clinic.example").unwrap();
                let sms = templates.sms(&notice, &to).unwrap();
                let in_app = templates.in_app(&notice, &to.user_id).unwrap();
                let context = format!("{kind:?} for {}", to.name);
                assert!(!email.subject.is_empty(), "{context}");
                assert!(!email.subject.contains('\n'), "{context}");
                assert!(email.text.contains(&notice.link()), "{context}");
                assert!(email.html.contains("<html"), "{context}");
                assert!(
                    !sms.is_empty() && sms.chars().count() < 320,
                    "{context}: {sms}"
                );
                assert!(
                    !in_app.title.is_empty() && !in_app.body.is_empty(),
                    "{context}"
                );
                assert_eq!(in_app.link, notice.link());
                if notice.appointment.is_some() {
                    assert!(email.text.contains(WHEN), "{context}: {}", email.text);
                    assert!(in_app.body.contains(WHEN), "{context}: {}", in_app.body);
                    assert!(email.text.contains("Praxis Mitte"), "{context}");
                }
                for text in [
                    &email.subject,
                    &email.text,
                    &sms,
                    &in_app.title,
                    &in_app.body,
                ] {
                    assert!(
                        !text
                            .split(|c: char| !c.is_alphanumeric())
                            .any(|w| w == "none"),
                        "{context}: {text}"
                    );
                    assert!(!text.contains("{{") && !text.contains("{%"), "{context}");
                }
            }
        }
    }

    #[test]
    fn point_of_view_follows_the_recipient() {
        let templates = Templates::load(None).unwrap();
        let cancelled = notice(NoticeKind::AppointmentCancelled);
        let for_patient = templates
            .email(&cancelled, &patient(), "x@y.example")
            .unwrap();
        assert_eq!(
            for_patient.subject,
            format!("Your appointment with Dr Anna Weber on {WHEN} was cancelled")
        );
        assert!(for_patient.text.contains("was cancelled by the clinic"));
        let for_doctor = templates.in_app(&cancelled, "doc-1").unwrap();
        assert_eq!(
            for_doctor.body,
            format!("The appointment with Jörg Müller on {WHEN} was cancelled by the clinic.")
        );

        let mut by_patient = cancelled.clone();
        by_patient.changed_by = Some("patient".into());
        let to_patient = templates.in_app(&by_patient, "pat-1").unwrap();
        assert!(!to_patient.body.contains(" by "), "{}", to_patient.body);
        let to_doctor = templates.in_app(&by_patient, "doc-1").unwrap();
        assert!(to_doctor.body.ends_with("was cancelled by the patient."));

        let requested = notice(NoticeKind::AppointmentRequested);
        let email = templates
            .email(&requested, &doctor(), "x@y.example")
            .unwrap();
        assert_eq!(
            email.subject,
            format!("New appointment request from Jörg Müller for {WHEN}")
        );

        let reminder = notice(NoticeKind::Reminder);
        let email = templates
            .email(&reminder, &patient(), "x@y.example")
            .unwrap();
        assert!(
            email
                .subject
                .starts_with("Reminder: your appointment with Dr Anna Weber")
        );

        let moved = notice(NoticeKind::AppointmentRescheduled);
        let email = templates.email(&moved, &patient(), "x@y.example").unwrap();
        assert!(
            email
                .text
                .contains("from: Monday 2 March 2026, 14:15 (Europe/Berlin)"),
            "{}",
            email.text
        );
        assert!(email.calendar.is_some());

        let welcome = templates
            .email(&notice(NoticeKind::Welcome), &patient(), "x@y.example")
            .unwrap();
        assert!(welcome.text.starts_with("Hello Jörg Müller,"));
        assert!(welcome.text.contains("https://clinic.example/"));
        let approved = templates
            .in_app(&notice(NoticeKind::DoctorApproved), "pat-1")
            .unwrap();
        assert_eq!(approved.title, "Your doctor account was approved");
    }

    #[test]
    fn html_escapes_names_and_text_does_not() {
        let templates = Templates::load(None).unwrap();
        let mut notice = notice(NoticeKind::AppointmentConfirmed);
        let appointment = notice.appointment.as_mut().unwrap();
        appointment.patient_name = "<script>alert(1)</script>".into();
        let mut to = patient();
        to.name = "<script>alert(1)</script>".into();
        let email = templates.email(&notice, &to, "x@y.example").unwrap();
        assert!(!email.html.contains("<script>"), "{}", email.html);
        assert!(
            email
                .html
                .contains("Hello &lt;script&gt;alert(1)&lt;/script&gt;,"),
            "{}",
            email.html
        );
        assert!(
            email
                .html
                .contains("href=\"https://clinic.example/appointments/apt-42\"")
        );
        let mut escaped = String::new();
        write_html_escaped(&mut escaped, "a&b<c>d\"e'f/g").unwrap();
        assert_eq!(escaped, "a&amp;b&lt;c&gt;d&quot;e&#x27;f/g");
        assert!(email.text.contains("Hello <script>alert(1)</script>,"));
    }

    #[test]
    fn an_override_replaces_a_built_in_template() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("reminder.txt"),
            "{% block subject %}Bis bald, {{ recipient }}{% endblock %}\
             {% block text %}Termin: {{ when }} {{ link }}{% endblock %}\
             {% block sms %}Termin {{ when }}{% endblock %}\
             {% block title %}Erinnerung{% endblock %}\
             {% block body %}Termin {{ when }}{% endblock %}",
        )
        .unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let email = templates
            .email(&notice(NoticeKind::Reminder), &patient(), "x@y.example")
            .unwrap();
        assert_eq!(email.subject, "Bis bald, Jörg Müller");
        assert_eq!(
            templates
                .in_app(&notice(NoticeKind::Reminder), "pat-1")
                .unwrap()
                .title,
            "Erinnerung"
        );
        // The kinds not overridden keep their built-in text.
        let welcome = templates
            .in_app(&notice(NoticeKind::Welcome), "pat-1")
            .unwrap();
        assert_eq!(welcome.title, "Welcome to Praxis Mitte");
    }

    #[test]
    fn a_broken_override_fails_load() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("welcome.html"), "{% if %}").unwrap();
        let error = Templates::load(Some(dir.path())).err().unwrap();
        assert_eq!(error.name, "welcome.html");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("layout.html"),
            "<p>{{ no_such_variable }}</p>",
        )
        .unwrap();
        let error = Templates::load(Some(dir.path())).err().unwrap();
        assert!(error.message.contains("undefined"), "{error}");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("welcome.txt"),
            "{% block subject %}Hi{% endblock %}",
        )
        .unwrap();
        assert!(Templates::load(Some(dir.path())).is_err(), "missing blocks");
    }

    #[test]
    fn event_json_carries_ids_and_times_only() {
        let value = event_json(&notice(NoticeKind::AppointmentRescheduled));
        assert_eq!(
            value,
            json!({
                "id": "evt-7",
                "type": "appointment.rescheduled",
                "occurred_at": "2026-03-01T08:00:00Z",
                "clinic": "Praxis Mitte",
                "data": {
                    "appointment": {
                        "id": "apt-42",
                        "doctor_id": "doc-1",
                        "patient_id": "pat-1",
                        "status": "confirmed",
                        "start": "2026-03-03T08:30:00Z",
                        "end": "2026-03-03T09:00:00Z",
                        "previous_start": "2026-03-02T13:15:00Z",
                    },
                    "changed_by": "receptionist",
                },
            })
        );
        let welcome = event_json(&notice(NoticeKind::Welcome));
        assert_eq!(welcome["type"], "user.registered");
        assert_eq!(
            welcome["data"]["user"],
            json!({"id": "pat-1", "role": "patient"})
        );
        assert!(welcome["data"].get("appointment").is_none());
        assert!(!welcome.to_string().contains("Jörg"));
    }
}
