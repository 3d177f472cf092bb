use carebook_domain::schedule::SlotRefusal;
use carebook_domain::{Denied, TransitionError, ValidationErrors};

use crate::store::{Conflict, StoreError};

/// Every way a use case can refuse, in terms an adapter maps to its own protocol.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Invalid(#[from] ValidationErrors),
    #[error("authentication required")]
    Unauthenticated,
    /// A login with an unknown email or a wrong password (we do not say which).
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("you are not allowed to do this")]
    Forbidden,
    /// Missing, or hidden from this actor (we do not reveal which).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{detail}")]
    Conflict { kind: ConflictKind, detail: String },
    #[error("too many attempts; try again later")]
    TooManyAttempts { retry_after_seconds: i64 },
    /// Over a per-user rate (chat messages a minute).
    #[error("too many requests; try again later")]
    RateLimited { retry_after_seconds: i64 },
    /// The password was right, but the account has two-factor authentication on
    /// and no code came with it.
    #[error("this account needs a code from its authenticator app")]
    OtpRequired,
    /// A two-factor code (or recovery code) that is wrong, used before or expired.
    #[error("the code is not valid")]
    InvalidOtp,
    /// Staff must turn on two-factor authentication before anything else
    /// (`require_staff_2fa`).
    #[error("turn on two-factor authentication first")]
    TwoFactorSetupRequired,
    /// A self-registered patient who has not confirmed their email address yet.
    #[error("confirm your email address first")]
    EmailUnverified,
    /// The account exists but may not act (pending approval or deactivated).
    #[error("{0}")]
    AccountInactive(&'static str),
    /// A sign-in with the OpenID Connect provider that did not work out; nothing
    /// was changed.
    #[error("{}", .0.message())]
    OidcRefused(crate::app::OidcRefusal),
    /// The database cannot be reached; the message goes to the operator's log.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// An uploaded file over the configured maximum.
    #[error("the file is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    /// An uploaded file whose bytes are not of an accepted type.
    #[error("only PDF, PNG and JPEG files are accepted")]
    UnsupportedFileType,
    /// A photo whose bytes are neither PNG nor JPEG.
    #[error("a photo must be a PNG or JPEG image")]
    UnsupportedPhotoType,
    /// The file store (folder or bucket) cannot be used; the message goes to the
    /// operator's log.
    #[error("file store unavailable: {0}")]
    FileStoreUnavailable(String),
    /// A concurrent change got in the way; nothing was written, try again.
    #[error("busy; try again")]
    Busy,
    /// The payment provider could not be reached or refused carebook's request;
    /// the message goes to the operator's log.
    #[error("payment provider unavailable: {0}")]
    PaymentProviderUnavailable(String),
    /// Online payment is not set up in this clinic (no Stripe keys).
    #[error("online payment is not configured")]
    PaymentsNotConfigured,
    /// A webhook whose `Stripe-Signature` is missing, malformed, stale or wrong.
    #[error("the webhook signature is not valid")]
    InvalidSignature(&'static str),
    /// The message goes to the operator's log, never to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    SlotTaken,
    PatientBusy,
    EmailTaken,
    SpecialtyExists,
    IllegalTransition,
    CancelWindowClosed,
    CheckInNotOpen,
    CheckInClosed,
    NotStartedYet,
    NotPending,
    /// A reminder for an appointment that is over, cancelled or not yet ahead.
    NotRemindable,
    ReminderRecentlySent,
    /// Only a failed or dead delivery can be retried.
    NotRetryable,
    /// Setting up two-factor authentication while it is on.
    TwoFactorEnabled,
    /// Confirming or disabling two-factor authentication that is not set up / on.
    TwoFactorNotEnabled,
    /// Asking for a verification email for an address that needs none.
    NothingToVerify,
    /// Writing a visit record for an appointment that has one (amend it instead).
    RecordExists,
    /// An amendment or summary change based on a version that is no longer the latest.
    StaleVersion,
    /// A visit record for an appointment that is not checked in or completed.
    NotTreated,
    /// A prescription for a visit whose patient is not checked in (nor done).
    VisitNotStarted,
    /// Revoking a prescription that is revoked already.
    AlreadyRevoked,
    /// Rating a visit that is not completed.
    VisitNotCompleted,
    /// Rating a visit a second time.
    FeedbackExists,
    /// Editing feedback more than 14 days after giving it.
    EditWindowClosed,
    /// Replying a second time.
    AlreadyReplied,
    /// Hiding a comment that is hidden already.
    AlreadyHidden,
    /// Writing in a conversation the doctor closed (a new booking reopens it).
    ConversationClosed,
    /// Taking a payment for an appointment that has one pending or paid already.
    PaymentExists,
    /// Taking a payment for an appointment that has ended without taking place.
    NotPayable,
}

impl ConflictKind {
    pub fn slug(self) -> &'static str {
        match self {
            ConflictKind::SlotTaken => "slot-taken",
            ConflictKind::PatientBusy => "patient-busy",
            ConflictKind::EmailTaken => "email-taken",
            ConflictKind::SpecialtyExists => "specialty-exists",
            ConflictKind::IllegalTransition => "illegal-transition",
            ConflictKind::CancelWindowClosed => "cancel-window-closed",
            ConflictKind::CheckInNotOpen => "check-in-not-open",
            ConflictKind::CheckInClosed => "check-in-closed",
            ConflictKind::NotStartedYet => "not-started-yet",
            ConflictKind::NotPending => "not-pending",
            ConflictKind::NotRemindable => "not-remindable",
            ConflictKind::ReminderRecentlySent => "reminder-recently-sent",
            ConflictKind::NotRetryable => "not-retryable",
            ConflictKind::TwoFactorEnabled => "two-factor-enabled",
            ConflictKind::TwoFactorNotEnabled => "two-factor-not-enabled",
            ConflictKind::NothingToVerify => "nothing-to-verify",
            ConflictKind::RecordExists => "record-exists",
            ConflictKind::PaymentExists => "payment-exists",
            ConflictKind::NotPayable => "not-payable",
            ConflictKind::StaleVersion => "stale-version",
            ConflictKind::NotTreated => "not-treated",
            ConflictKind::VisitNotStarted => "visit-not-started",
            ConflictKind::AlreadyRevoked => "already-revoked",
            ConflictKind::VisitNotCompleted => "visit-not-completed",
            ConflictKind::FeedbackExists => "feedback-exists",
            ConflictKind::EditWindowClosed => "edit-window-closed",
            ConflictKind::AlreadyReplied => "already-replied",
            ConflictKind::AlreadyHidden => "already-hidden",
            ConflictKind::ConversationClosed => "conversation-closed",
        }
    }
}

impl AppError {
    pub fn invalid(field: &str, message: &str) -> AppError {
        AppError::Invalid(ValidationErrors::single(field, message))
    }

    pub fn conflict(kind: ConflictKind, detail: impl Into<String>) -> AppError {
        AppError::Conflict {
            kind,
            detail: detail.into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(Conflict::DoctorSlotTaken) => AppError::conflict(
                ConflictKind::SlotTaken,
                "this slot has just been taken; please pick another",
            ),
            StoreError::Conflict(Conflict::PatientBusy) => AppError::conflict(
                ConflictKind::PatientBusy,
                "the patient already has an appointment at an overlapping time",
            ),
            StoreError::Conflict(Conflict::EmailTaken) => AppError::conflict(
                ConflictKind::EmailTaken,
                "an account with this email already exists",
            ),
            StoreError::Conflict(Conflict::SpecialtyExists) => AppError::conflict(
                ConflictKind::SpecialtyExists,
                "a specialty with this name already exists",
            ),
            StoreError::Conflict(Conflict::RecordExists) => AppError::conflict(
                ConflictKind::RecordExists,
                "this appointment has a record already; amend it instead",
            ),
            StoreError::Conflict(Conflict::PaymentExists) => AppError::conflict(
                ConflictKind::PaymentExists,
                "this appointment has a payment pending or paid already",
            ),
            StoreError::Conflict(Conflict::StaleVersion) => AppError::conflict(
                ConflictKind::StaleVersion,
                "someone else changed this first; read the latest version and try again",
            ),
            StoreError::Busy => AppError::Busy,
            StoreError::Unavailable(message) => AppError::Unavailable(message),
            StoreError::Internal(message) => AppError::Internal(message),
        }
    }
}

impl From<Denied> for AppError {
    fn from(_: Denied) -> Self {
        AppError::Forbidden
    }
}

impl From<TransitionError> for AppError {
    fn from(error: TransitionError) -> Self {
        let detail = error.to_string();
        let kind = match error {
            TransitionError::Denied(_) => return AppError::Forbidden,
            TransitionError::IllegalState { .. } => ConflictKind::IllegalTransition,
            TransitionError::CancelWindowClosed { .. } => ConflictKind::CancelWindowClosed,
            TransitionError::CheckInNotOpen => ConflictKind::CheckInNotOpen,
            TransitionError::CheckInClosed => ConflictKind::CheckInClosed,
            TransitionError::NotStartedYet => ConflictKind::NotStartedYet,
        };
        AppError::conflict(kind, detail)
    }
}

impl From<SlotRefusal> for AppError {
    fn from(refusal: SlotRefusal) -> Self {
        match refusal {
            SlotRefusal::Taken => AppError::conflict(
                ConflictKind::SlotTaken,
                "this slot is not free; please pick another",
            ),
            SlotRefusal::NotOnGrid | SlotRefusal::TooSoon | SlotRefusal::BeyondHorizon => {
                AppError::invalid("start", &refusal.to_string())
            }
        }
    }
}
