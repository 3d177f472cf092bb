//! The records the store reads and writes.

use carebook_domain::policy::AppointmentScope;
pub use carebook_domain::{
    AppointmentId, AppointmentStatus, Interval, PaymentId, PaymentMethod, PaymentMode,
    PaymentStatus, Role, Schedule, SpecialtyId, TimeOffId, UserId, UserStatus, VisitMode,
};
use jiff::Timestamp;
use jiff::civil::Date;

/// A live appointment's hold on its doctor's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusySlot {
    pub appointment_id: AppointmentId,
    pub slot: Interval,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub id: UserId,
    /// Lower-cased.
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub date_of_birth: Option<Date>,
    pub role: Role,
    pub status: UserStatus,
    pub password_hash: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// SHA-256 of the bearer token; the token itself is never stored.
    pub token_hash: String,
    pub user_id: UserId,
    /// Present for cookie sessions: unsafe requests must echo it in `X-CSRF-Token`.
    pub csrf_token: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoginAttempt {
    pub email: String,
    pub client: String,
    pub at: Timestamp,
    pub succeeded: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum LoginKey<'a> {
    Email(&'a str),
    Client(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specialty {
    pub id: SpecialtyId,
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fee {
    /// Integer minor units (cents).
    pub amount: i64,
    /// ISO 4217, upper case.
    pub currency: String,
}

/// A doctor's profile and schedule, joined with the account fields lists need.
#[derive(Debug, Clone, PartialEq)]
pub struct DoctorRecord {
    pub user_id: UserId,
    /// From the account; ignored on write.
    pub name: String,
    /// From the account; ignored on write.
    pub status: UserStatus,
    pub bio: Option<String>,
    pub qualifications: Option<String>,
    pub years_experience: Option<i64>,
    pub languages: Vec<String>,
    pub fee: Option<Fee>,
    pub schedule: Schedule,
    pub specialty_ids: Vec<SpecialtyId>,
    /// In person, video, or both; never empty, in `VisitMode` order.
    pub visit_modes: Vec<VisitMode>,
    /// At the clinic (the default) or online when a patient books.
    pub payment_mode: PaymentMode,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimeOffRecord {
    pub id: TimeOffId,
    pub doctor_id: UserId,
    pub period: Interval,
    pub reason: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppointmentRecord {
    pub id: AppointmentId,
    pub doctor_id: UserId,
    pub patient_id: UserId,
    pub slot: Interval,
    pub status: AppointmentStatus,
    /// The patient's reason for the visit.
    pub reason: Option<String>,
    /// Why it was last rejected or cancelled.
    pub status_reason: Option<String>,
    pub created_by: UserId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub mode: VisitMode,
    /// The meeting room of a video visit, made when it is first confirmed and kept
    /// across reschedules. A secret: see `carebook_domain::video`.
    pub video_room: Option<String>,
}

/// An appointment with the names people see.
#[derive(Debug, Clone, PartialEq)]
pub struct AppointmentView {
    pub record: AppointmentRecord,
    pub doctor_name: String,
    pub patient_name: String,
    /// The appointment's latest payment, if its fee was ever asked for or taken.
    pub payment: Option<PaymentBrief>,
}

/// What an appointment shows of its payment.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentBrief {
    pub id: PaymentId,
    pub status: PaymentStatus,
    pub method: PaymentMethod,
    pub amount_minor: i64,
    pub currency: String,
    /// Where the patient pays, while the payment is pending.
    pub checkout_url: Option<String>,
    pub hold_until: Option<Timestamp>,
}

/// One step of an appointment's history.
#[derive(Debug, Clone, PartialEq)]
pub struct AppointmentEvent {
    pub appointment_id: AppointmentId,
    pub seq: i64,
    pub at: Timestamp,
    pub actor_id: Option<UserId>,
    /// `book` or a transition name.
    pub action: String,
    pub from_status: Option<AppointmentStatus>,
    pub to_status: AppointmentStatus,
    pub from_start: Option<Timestamp>,
    pub to_start: Option<Timestamp>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEntry {
    pub at: Timestamp,
    pub actor_id: Option<UserId>,
    pub action: String,
    pub subject_type: String,
    pub subject_id: Option<String>,
    /// Never carries clinical details, passwords or tokens.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub entry: NewAuditEntry,
}

/// Keyset pagination: the rows after `after` in the list's order, at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Cursor>,
}

/// The position of the last row of a page: its sort key and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: String,
    pub id: String,
}

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Matches name or email, case-insensitively.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub status: Option<UserStatus>,
}

#[derive(Debug, Clone, Default)]
pub struct DoctorFilter {
    pub q: Option<String>,
    pub specialty_id: Option<SpecialtyId>,
    /// Only doctors whose account is active (public search).
    pub only_active: bool,
}

/// A doctor as search picks candidates: name, account status and specialties. The
/// app holds every doctor's in memory (see `crate::app::availability`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDoctor {
    pub id: UserId,
    pub name: String,
    pub status: UserStatus,
    pub specialty_ids: Vec<SpecialtyId>,
}

impl ListedDoctor {
    /// Folds the rows of [`DOCTOR_DIRECTORY`] (id, name, status, one specialty or
    /// none; a doctor's rows together) into doctors ordered as search lists them:
    /// by name, then id, byte for byte (PostgreSQL's columns are `COLLATE "C"`).
    pub(crate) fn fold(
        rows: impl IntoIterator<Item = (String, String, String, Option<String>)>,
    ) -> super::StoreResult<Vec<ListedDoctor>> {
        let mut doctors: Vec<ListedDoctor> = Vec::new();
        for (id, name, status, specialty) in rows {
            if doctors.last().is_none_or(|last| last.id.as_str() != id) {
                let status = UserStatus::parse(&status).ok_or_else(|| {
                    super::StoreError::Internal(format!("user status {status:?}"))
                })?;
                doctors.push(ListedDoctor {
                    id: UserId::new(id),
                    name,
                    status,
                    specialty_ids: Vec::new(),
                });
            }
            if let (Some(specialty), Some(last)) = (specialty, doctors.last_mut()) {
                last.specialty_ids.push(SpecialtyId::new(specialty));
            }
        }
        doctors.sort_unstable_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        Ok(doctors)
    }
}

/// Every doctor with their specialties, one row per doctor and specialty (or one
/// without), a doctor's rows together: the same on both stores.
pub(crate) const DOCTOR_DIRECTORY: &str = "SELECT u.id, u.name, u.status, s.specialty_id \
     FROM doctors d JOIN users u ON u.id = d.user_id \
     LEFT JOIN doctor_specialties s ON s.doctor_id = d.user_id \
     WHERE u.role = 'doctor' ORDER BY u.id, s.specialty_id";

#[derive(Debug, Clone)]
pub struct AppointmentFilter {
    pub scope: AppointmentScope,
    pub statuses: Vec<AppointmentStatus>,
    /// Appointments starting at or after.
    pub from: Option<Timestamp>,
    /// Appointments starting before.
    pub to: Option<Timestamp>,
    pub doctor_id: Option<UserId>,
    pub patient_id: Option<UserId>,
    /// Matches the doctor's or the patient's name.
    pub q: Option<String>,
    pub newest_first: bool,
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor_id: Option<UserId>,
    pub subject_id: Option<String>,
    pub action: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

impl DoctorRecord {
    /// A new doctor's profile: the clinic's zone, no hours yet, default rules.
    pub fn new_for(user: &UserRecord, time_zone: jiff::tz::TimeZone) -> DoctorRecord {
        DoctorRecord {
            user_id: user.id.clone(),
            name: user.name.clone(),
            status: user.status,
            bio: None,
            qualifications: None,
            years_experience: None,
            languages: Vec::new(),
            fee: None,
            schedule: Schedule {
                time_zone,
                slot_minutes: 30,
                weekly_hours: Vec::new(),
                rules: carebook_domain::BookingRules::default(),
            },
            specialty_ids: Vec::new(),
            visit_modes: vec![VisitMode::InPerson],
            payment_mode: PaymentMode::AtClinic,
        }
    }
}
