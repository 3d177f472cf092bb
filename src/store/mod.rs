//! Persistence: one set of traits, one implementation per database.
//!
//! The app layer runs each use case as a closure over a [`Tx`] inside one database
//! transaction: [`Store::write`] for changes, [`Store::read`] for consistent reads.
//! Implementations hold no business rules beyond integrity constraints (such as the
//! slot claims that make a double booking impossible).

mod model;
pub mod sqlite;

use std::sync::Arc;

use jiff::Timestamp;

pub use model::*;

use crate::store::sqlite::SqliteStore;

/// What can go wrong in the store, in terms the app layer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness guarantee refused the change.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// Anything else: the message is for the operator's log, never for clients.
    #[error("database error: {0}")]
    Internal(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The doctor's time is already claimed by a live appointment.
    DoctorSlotTaken,
    /// The patient already has a live appointment at an overlapping time.
    PatientBusy,
    EmailTaken,
    SpecialtyExists,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The operations of one transaction. Object-safe, synchronous: implementations run
/// on threads of their own, never on the async runtime's workers.
pub trait Tx {
    // users and sessions
    fn insert_user(&mut self, user: &UserRecord) -> StoreResult<()>;
    fn update_user(&mut self, user: &UserRecord) -> StoreResult<()>;
    fn find_user(&mut self, id: &UserId) -> StoreResult<Option<UserRecord>>;
    fn find_user_by_email(&mut self, email: &str) -> StoreResult<Option<UserRecord>>;
    fn list_users(
        &mut self,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<UserRecord>>;
    fn count_users(&mut self) -> StoreResult<i64>;
    fn insert_session(&mut self, session: &SessionRecord) -> StoreResult<()>;
    fn find_session(&mut self, token_hash: &str) -> StoreResult<Option<SessionRecord>>;
    fn delete_session(&mut self, token_hash: &str) -> StoreResult<()>;
    fn delete_sessions_of(&mut self, user: &UserId) -> StoreResult<()>;
    fn delete_expired_sessions(&mut self, now: Timestamp) -> StoreResult<()>;
    fn record_login_attempt(&mut self, attempt: &LoginAttempt) -> StoreResult<()>;
    fn count_failed_logins(&mut self, key: LoginKey<'_>, since: Timestamp) -> StoreResult<i64>;
    fn last_login_success(&mut self, email: &str) -> StoreResult<Option<Timestamp>>;

    // specialties and doctors
    fn insert_specialty(&mut self, specialty: &Specialty) -> StoreResult<()>;
    fn list_specialties(&mut self) -> StoreResult<Vec<Specialty>>;
    fn find_specialty(&mut self, id_or_slug: &str) -> StoreResult<Option<Specialty>>;
    fn upsert_doctor(&mut self, doctor: &DoctorRecord) -> StoreResult<()>;
    fn find_doctor(&mut self, id: &UserId) -> StoreResult<Option<DoctorRecord>>;
    fn list_doctors(
        &mut self,
        filter: &DoctorFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DoctorRecord>>;
    fn insert_time_off(&mut self, time_off: &TimeOffRecord) -> StoreResult<()>;
    fn delete_time_off(&mut self, doctor: &UserId, id: &TimeOffId) -> StoreResult<bool>;
    fn list_time_off(
        &mut self,
        doctor: &UserId,
        window: Interval,
    ) -> StoreResult<Vec<TimeOffRecord>>;

    // appointments
    /// Inserts the appointment and, when it is live, claims its time for the doctor
    /// and the patient; a claim already held is a [`Conflict`].
    fn insert_appointment(&mut self, appointment: &AppointmentRecord) -> StoreResult<()>;
    /// Saves status, slot and reasons, and moves or releases the claims to match.
    fn update_appointment(&mut self, appointment: &AppointmentRecord) -> StoreResult<()>;
    fn find_appointment(&mut self, id: &AppointmentId) -> StoreResult<Option<AppointmentView>>;
    fn list_appointments(
        &mut self,
        filter: &AppointmentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<AppointmentView>>;
    /// Slots of the doctor's live appointments that overlap `window`.
    fn busy_slots(&mut self, doctor: &UserId, window: Interval) -> StoreResult<Vec<Interval>>;
    fn have_met(&mut self, doctor: &UserId, patient: &UserId) -> StoreResult<bool>;
    fn append_appointment_event(&mut self, event: &AppointmentEvent) -> StoreResult<()>;
    fn appointment_events(&mut self, id: &AppointmentId) -> StoreResult<Vec<AppointmentEvent>>;

    // audit
    fn append_audit(&mut self, entry: &NewAuditEntry) -> StoreResult<()>;
    fn list_audit(
        &mut self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<AuditEntry>>;

    /// `true` once the schema is current (for `/readyz`).
    fn schema_is_current(&mut self) -> StoreResult<bool>;
}

/// A handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<SqliteStore>,
}

impl Store {
    /// Opens the database that `url` names (`sqlite://path`, `sqlite::memory:` is not
    /// supported: readers and the writer need one shared file) and brings its schema
    /// up to date.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        let path = sqlite::path_from_url(url)?;
        Ok(Store {
            backend: Arc::new(SqliteStore::open(&path)?),
        })
    }

    /// Runs `work` inside one write transaction. The result is returned only after
    /// the transaction committed, so an `Ok` is durable; an `Err` from `work` rolls
    /// back everything it wrote.
    pub async fn write<R, E>(
        &self,
        work: impl FnOnce(&mut dyn Tx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.backend.write(work).await
    }

    /// Runs `work` over a consistent snapshot. Writes attempted through it fail.
    pub async fn read<R, E>(
        &self,
        work: impl FnOnce(&mut dyn Tx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.backend.read(work).await
    }
}
