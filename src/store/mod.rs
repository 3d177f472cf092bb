//! Persistence: one set of traits, one implementation per database.
//!
//! The app layer runs each use case as a closure over a [`Tx`] inside one database
//! transaction: [`Store::write`] for changes, [`Store::read`] for consistent reads.
//! Implementations hold no business rules beyond integrity constraints (such as the
//! guard that makes a double booking impossible: triggers on SQLite, slot claims on
//! PostgreSQL).
//!
//! The backend is picked by the database URL: `postgres://` or `postgresql://` is
//! PostgreSQL ([`postgres`]), `sqlite://PATH`, `sqlite:PATH` or a bare path is
//! SQLite ([`sqlite`]).

mod attachments;
pub mod changes;
mod chat;
mod clinical;
mod files;
mod model;
mod notifications;
mod oidc;
mod payments;
mod photos;
pub mod postgres;
mod prescriptions;
mod security;
pub mod sqlite;
pub mod tables;

use std::sync::Arc;

use jiff::Timestamp;

pub use attachments::*;
pub use changes::{
    AVAILABILITY_CHANNEL, AvailabilityChange, BusyChange, CommitObserver, CommittedChanges,
};
pub(crate) use changes::{ChangeLog, Observers};
pub use chat::*;
pub use clinical::*;
pub use files::{FileStore, FileStoreError};
pub use model::*;
pub use notifications::*;
pub use oidc::*;
pub use payments::*;
pub use photos::*;
pub use prescriptions::*;
pub use security::*;

use crate::store::postgres::PgStore;
use crate::store::sqlite::SqliteStore;
use crate::store::tables::{Cell, Table};

/// What can go wrong in the store, in terms the app layer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness guarantee refused the change.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// The database gave up on this transaction to let a concurrent one through
    /// (deadlock, serialization failure); nothing was written and a retry may succeed.
    #[error("the database is busy; try again")]
    Busy,
    /// The database cannot be reached (down, restarting, network): nothing was
    /// written; the message is for the operator's log.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
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
    /// The appointment has a visit record already.
    RecordExists,
    /// A new version of a record or health summary that does not follow the latest:
    /// someone else's change got in first.
    StaleVersion,
    /// The appointment already has a payment that is pending or holds money.
    PaymentExists,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The operations of one transaction. Object-safe, synchronous: implementations run
/// on threads of their own, never on the async runtime's workers.
pub trait Tx:
    NotificationTx
    + SecurityTx
    + ClinicalTx
    + PrescriptionTx
    + ChatTx
    + AttachmentTx
    + PhotoTx
    + OidcTx
    + PaymentTx
{
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
    /// The ids and names of the doctors [`Tx::list_doctors`] would return, in the
    /// same order.
    fn list_doctor_names(
        &mut self,
        filter: &DoctorFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<(UserId, String)>>;
    /// Every doctor as search picks candidates (see [`ListedDoctor::fold`]).
    fn list_doctor_directory(&mut self) -> StoreResult<Vec<ListedDoctor>>;
    fn insert_time_off(&mut self, time_off: &TimeOffRecord) -> StoreResult<()>;
    fn delete_time_off(&mut self, doctor: &UserId, id: &TimeOffId) -> StoreResult<bool>;
    fn list_time_off(
        &mut self,
        doctor: &UserId,
        window: Interval,
    ) -> StoreResult<Vec<TimeOffRecord>>;

    // appointments
    /// Inserts the appointment; when it is live and its doctor's or its patient's
    /// time is taken by another live appointment, the database refuses it: a
    /// [`Conflict`] (SQLite's triggers, PostgreSQL's claims).
    fn insert_appointment(&mut self, appointment: &AppointmentRecord) -> StoreResult<()>;
    /// Saves status, slot and reasons; a move onto taken time, or back to a live
    /// status over it, is refused as on insert.
    fn update_appointment(&mut self, appointment: &AppointmentRecord) -> StoreResult<()>;
    fn find_appointment(&mut self, id: &AppointmentId) -> StoreResult<Option<AppointmentView>>;
    fn list_appointments(
        &mut self,
        filter: &AppointmentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<AppointmentView>>;
    /// The doctor's live appointments that overlap `window`, soonest first.
    fn busy_slots(&mut self, doctor: &UserId, window: Interval) -> StoreResult<Vec<BusySlot>>;
    /// Starts changing `doctor`'s availability in this transaction: bumps its
    /// version once per transaction (on PostgreSQL this locks the doctor's row until
    /// commit, so availability changes of one doctor are serialised) and returns
    /// the version the transaction builds on; `None` when there is no such doctor.
    /// Writes that change availability call it themselves; a use case calls it
    /// first to learn which committed state it reads (see [`changes`]).
    fn begin_availability_change(&mut self, doctor: &UserId) -> StoreResult<Option<i64>>;
    /// The committed version of `doctor`'s availability; `None`: no such doctor.
    fn availability_version(&mut self, doctor: &UserId) -> StoreResult<Option<i64>>;
    /// Whether `doctor` and `patient` have any appointment together, whatever its
    /// status (see [`ClinicalTx::care_relationship`] for the clinical one).
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

    // moving a clinic between stores (`carebook copy`): rows as [`Cell`]s, one per
    // column of the [`Table`]. SQL names come only from [`tables::TABLES`]: a table
    // that is not one of them is refused.

    /// Up to `limit` rows of `table` ordered by its key columns, after the row whose
    /// key is `after` (keyset pagination). Every cell is read as its column's
    /// [`tables::Kind`] says: flags come back as [`Cell::Bool`] on every backend.
    fn export_rows(
        &mut self,
        table: &Table,
        after: Option<&[Cell]>,
        limit: u32,
    ) -> StoreResult<Vec<Vec<Cell>>>;
    /// Inserts `rows` as they are, generated ids included.
    fn import_rows(&mut self, table: &Table, rows: &[Vec<Cell>]) -> StoreResult<()>;
    fn count_rows(&mut self, table: &Table) -> StoreResult<i64>;
    /// Deletes every row of `table` (call children before parents).
    fn delete_all_rows(&mut self, table: &Table) -> StoreResult<()>;
    /// After an import: moves the id generators of tables with
    /// [`Table::generated_id`] past the largest id now stored.
    fn finish_import(&mut self) -> StoreResult<()>;
    /// Names the database this transaction runs on, such that two stores over the
    /// same database (however their URLs spell it) give the same answer: the
    /// canonical file path on SQLite; the server instance and database OID on
    /// PostgreSQL.
    fn database_identity(&mut self) -> StoreResult<String>;
}

/// A handle to the database, cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PgStore>),
}

/// How to open a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// PostgreSQL: connections in the pool, one thread each (opened when first
    /// needed). Ignored by SQLite.
    pub pool_size: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: postgres::DEFAULT_POOL_SIZE,
        }
    }
}

/// Which backend a URL names.
enum Location {
    Sqlite(std::path::PathBuf),
    Postgres,
}

fn locate(url: &str) -> Result<Location, StoreError> {
    if postgres::is_postgres_url(url) {
        return Ok(Location::Postgres);
    }
    if let Some((scheme, _)) = url.split_once("://")
        && scheme != "sqlite"
    {
        return Err(StoreError::Internal(format!(
            "unsupported database URL {} (expected postgres://… or sqlite://PATH)",
            redact_url(url)
        )));
    }
    sqlite::path_from_url(url).map(Location::Sqlite)
}

/// `url` with its password (in the user info or a `password=` parameter) replaced
/// by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let mut redacted = url.to_owned();
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        if let Some(at) = authority.rfind('@')
            && let Some(colon) = authority[..at].find(':')
        {
            let start = scheme_end + 3 + colon + 1;
            let end = scheme_end + 3 + at;
            redacted.replace_range(start..end, "***");
        }
    }
    if let Some(query_start) = redacted.find('?') {
        let (head, query) = redacted.split_at(query_start + 1);
        let query = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("&");
        redacted = format!("{head}{query}");
    }
    redacted
}

impl Store {
    /// Opens the database that `url` names, with default [`StoreOptions`].
    ///
    /// SQLite (`sqlite://PATH`; `sqlite::memory:` is not supported: readers and the
    /// writer need one shared file) is brought up to date on open. PostgreSQL is
    /// never migrated here: opening fails when its schema is not current (run
    /// [`Store::migrate`], i.e. `carebook migrate`, first).
    pub fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, &StoreOptions::default())
    }

    pub fn open_with(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        let backend = match locate(url)? {
            Location::Sqlite(path) => Backend::Sqlite(Arc::new(SqliteStore::open(&path)?)),
            Location::Postgres => {
                Backend::Postgres(Arc::new(PgStore::open(url, options.pool_size)?))
            }
        };
        Ok(Store { backend })
    }

    /// Applies the pending migrations of the database that `url` names. On
    /// PostgreSQL this runs in one transaction holding an advisory lock, so several
    /// instances may call it at once. Safe to call from async code (it blocks the
    /// caller while it runs).
    /// A consistent online backup of the SQLite database at `url` into the new file
    /// `out`. PostgreSQL has its own tool for this (`pg_dump`), which we point to.
    pub fn backup(url: &str, out: &std::path::Path) -> Result<(), StoreError> {
        if postgres::is_postgres_url(url) {
            return Err(StoreError::Internal(
                "back PostgreSQL up with its own tool: pg_dump --format=custom --file=FILE URL \
                 (restore with pg_restore, or `carebook copy` into a fresh database)"
                    .into(),
            ));
        }
        sqlite::backup(&sqlite::path_from_url(url)?, out)
    }

    pub fn migrate(url: &str) -> Result<(), StoreError> {
        match locate(url)? {
            Location::Sqlite(path) => sqlite::migrate_file(&path),
            Location::Postgres => postgres::migrate(url),
        }
    }

    /// SQLite: folds the write-ahead log into the database file, so that the file
    /// alone holds every commit (see [`sqlite::SqliteStore::checkpoint`]); for a
    /// command to call when it is done writing. PostgreSQL: nothing to do, the
    /// server keeps its own files.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(store) => store.checkpoint().await,
            Backend::Postgres(_) => Ok(()),
        }
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Calls `observer` after each commit that changed a doctor's availability, with
    /// what it changed (SQLite: on the writer thread, in commit order, before the
    /// writes are answered; PostgreSQL: on the thread that committed). Other
    /// instances' changes arrive on [`AVAILABILITY_CHANNEL`] (see [`Store::listen`]).
    pub fn observe(&self, observer: CommitObserver) {
        match &self.backend {
            Backend::Sqlite(store) => store.observe(observer),
            Backend::Postgres(store) => store.observe(observer),
        }
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
        match &self.backend {
            Backend::Sqlite(store) => store.write(work).await,
            Backend::Postgres(store) => store.write(work).await,
        }
    }

    /// As [`Store::write`], for work that may run more than once, from the start,
    /// with the same outcome on the same data (no effects outside `tx`). Hot writes
    /// use it: SQLite then runs it without a savepoint of its own, and if it fails
    /// after writing (it sees that from the count of rows changed), runs the work
    /// of its group again without it.
    pub async fn write_repeatable<R, E>(
        &self,
        work: impl Fn(&mut dyn Tx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(store) => store.write_repeatable(work).await,
            Backend::Postgres(store) => store.write(work).await,
        }
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
        match &self.backend {
            Backend::Sqlite(store) => store.read(work).await,
            Backend::Postgres(store) => store.read(work).await,
        }
    }

    /// PostgreSQL: `SELECT pg_notify(channel, payload)` on a pooled connection, outside
    /// any transaction (so it is sent at once; payloads are limited to 8000 bytes).
    /// Every connection listening on `channel` (see [`Store::listen`]), in any
    /// instance, receives it. SQLite: does nothing (one process; use an in-process
    /// broadcast). The future owns its arguments and may be spawned.
    pub fn notify(
        &self,
        channel: &str,
        payload: &str,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let backend = self.backend.clone();
        let channel = channel.to_owned();
        let payload = payload.to_owned();
        async move {
            match backend {
                Backend::Sqlite(_) => Ok(()),
                Backend::Postgres(store) => store.notify(channel, payload).await,
            }
        }
    }

    /// PostgreSQL: subscribes to `channel` on a dedicated connection of its own (see
    /// [`postgres::listen`]); every notification's payload arrives on the receiver.
    /// Blocks briefly until `LISTEN` is active. SQLite: an error (not needed there).
    pub fn listen(
        &self,
        channel: &str,
    ) -> Result<tokio::sync::mpsc::UnboundedReceiver<String>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Err(StoreError::Internal(
                "LISTEN/NOTIFY needs PostgreSQL; SQLite runs in one process".into(),
            )),
            Backend::Postgres(store) => store.listen(channel),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_backend() {
        assert!(matches!(
            locate("postgres://u@localhost/db"),
            Ok(Location::Postgres)
        ));
        assert!(matches!(
            locate("postgresql://u@localhost/db"),
            Ok(Location::Postgres)
        ));
        assert!(matches!(locate("sqlite://c.db"), Ok(Location::Sqlite(_))));
        assert!(matches!(locate("sqlite:c.db"), Ok(Location::Sqlite(_))));
        assert!(matches!(locate("data/c.db"), Ok(Location::Sqlite(_))));
        let Err(StoreError::Internal(message)) = locate("mysql://root:hunter2@db/clinic") else {
            panic!("an unknown scheme is refused");
        };
        assert!(message.contains("mysql://root:***@db/clinic"), "{message}");
        assert!(!message.contains("hunter2"));
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://carebook:s3cret@db:5432/clinic?sslmode=disable"),
            "postgres://carebook:***@db:5432/clinic?sslmode=disable"
        );
        assert_eq!(
            redact_url("postgres://db/clinic?user=c&password=s3cret"),
            "postgres://db/clinic?user=c&password=***"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(redact_url("sqlite://c.db"), "sqlite://c.db");
    }
}
