//! The PostgreSQL store: a small pool of dedicated threads, each owning one
//! connection of the synchronous `postgres` client, takes jobs from a shared queue.
//!
//! * A write runs inside `BEGIN ISOLATION LEVEL READ COMMITTED ... COMMIT`; an `Err`
//!   or a panic of the work rolls it back, and the caller is answered only after the
//!   COMMIT succeeded. A read runs in a `REPEATABLE READ READ ONLY` transaction, so it
//!   sees one snapshot.
//! * The primary keys of `doctor_claims` and `patient_claims` are the guard against
//!   double booking and overlapping patient appointments, exactly as on SQLite. A
//!   unique violation (SQLSTATE 23505) becomes the [`Conflict`] of the table it hit.
//! * Writes on SQLite are serial, so a use case that reads a row and writes it back
//!   can never lose a concurrent change. To keep that true here, the lookups that
//!   start such a read-modify-write (`find_user`, `find_doctor`, `find_appointment`)
//!   lock the row they return `FOR NO KEY UPDATE` when they run inside a write: a
//!   second writer of the same user, doctor or appointment waits for the first to
//!   commit and then reads its result. A doctor's profile is guarded by the lock on
//!   the doctor's `users` row.
//! * A connection found broken (server restart, network) is dropped and a new one is
//!   opened for the next job; a transaction that could not even begin on a stale
//!   connection is retried once on a fresh one.
//! * The sync client runs a small runtime of its own and must never be called from an
//!   async task: it is only ever used on this module's own threads.
//!
//! Error texts never carry parameter values: PostgreSQL's DETAIL field (which
//! repeats the offending row or key) is left out of every message.

mod attachments;
mod chat;
mod clinical;
mod notifications;
mod oidc;
mod payments;
mod photos;
mod prescriptions;
mod security;

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use ::postgres::error::SqlState;
use ::postgres::fallible_iterator::FallibleIterator;
use ::postgres::types::{FromSql, ToSql};
use ::postgres::{
    Client, Config, GenericClient, IsolationLevel, NoTls, Row, Statement, Transaction,
};
use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;

use super::tables::{self, Cell, Kind, TABLES, Table};
use super::*;
use carebook_domain::policy::AppointmentScope;
use carebook_domain::schedule::{BookingRules, WeeklyInterval};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_core.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_notifications.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_availability.sql"),
    ),
    (
        4,
        include_str!("../../migrations/postgres/0004_account_security.sql"),
    ),
    (
        5,
        include_str!("../../migrations/postgres/0005_records.sql"),
    ),
    (
        6,
        include_str!("../../migrations/postgres/0006_prescriptions.sql"),
    ),
    (7, include_str!("../../migrations/postgres/0007_chat.sql")),
    (
        8,
        include_str!("../../migrations/postgres/0008_attachments.sql"),
    ),
    (
        9,
        include_str!("../../migrations/postgres/0009_message_attachments.sql"),
    ),
    (
        10,
        include_str!("../../migrations/postgres/0010_user_photos.sql"),
    ),
    (
        11,
        include_str!("../../migrations/postgres/0011_video_visits.sql"),
    ),
    (12, include_str!("../../migrations/postgres/0012_oidc.sql")),
    (
        13,
        include_str!("../../migrations/postgres/0013_payments.sql"),
    ),
    (
        14,
        include_str!("../../migrations/postgres/0014_reminder_plan.sql"),
    ),
    (
        15,
        include_str!("../../migrations/postgres/0015_claims_by_key.sql"),
    ),
];
/// Arrives on a [`listen`] receiver after its connection was lost and made again:
/// notifications sent meanwhile are lost. (A real payload never holds a NUL.)
pub const LISTEN_GAP: &str = "\0";
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const NOTIFY_PAYLOAD_LIMIT: usize = 7900;
/// Connections (and threads) of a store unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 8;
/// The key of the advisory lock that serialises migrations ("carebook" in ASCII).
const MIGRATION_LOCK: i64 = 0x6361_7265_626f_6f6b;
const MAX_CACHED_STATEMENTS: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle listener checks its connection and whether anyone still listens.
const LISTEN_POLL: Duration = Duration::from_millis(250);
const LISTEN_PING: Duration = Duration::from_secs(10);
const LISTEN_MAX_BACKOFF: Duration = Duration::from_secs(5);

/// `true` for `postgres://` and `postgresql://` URLs.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn internal(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(error.to_string())
}

/// An error's text without PostgreSQL's DETAIL (which may quote parameter values).
pub(crate) fn describe(error: &::postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = format!(
                "{}: {} (SQLSTATE {})",
                db.severity(),
                db.message(),
                db.code().code()
            );
            if let Some(constraint) = db.constraint() {
                text.push_str(&format!(" [constraint {constraint}]"));
            }
            text
        }
        None => {
            // The client's own errors say what failed and keep the cause (an I/O
            // error, a timeout, ...) as their source.
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            text
        }
    }
}

/// Maps a unique violation to the [`Conflict`] of the table it hit; anything else
/// is internal.
fn pg_error(error: ::postgres::Error) -> StoreError {
    if let Some(db) = error.as_db_error()
        && *db.code() == SqlState::UNIQUE_VIOLATION
    {
        let conflict = match db.table() {
            Some("doctor_claims") => Some(Conflict::DoctorSlotTaken),
            Some("patient_claims") => Some(Conflict::PatientBusy),
            Some("users") => Some(Conflict::EmailTaken),
            Some("specialties") => Some(Conflict::SpecialtyExists),
            Some("records") => Some(Conflict::RecordExists),
            Some("payments") => Some(Conflict::PaymentExists),
            Some("record_versions" | "health_summaries") => Some(Conflict::StaleVersion),
            _ => None,
        };
        if let Some(conflict) = conflict {
            return StoreError::Conflict(conflict);
        }
    }
    if error.is_closed() {
        return StoreError::Unavailable(describe(&error));
    }
    // Two writes waited on each other's rows; PostgreSQL aborted this one. Nothing was
    // written: the client may simply try again.
    if let Some(db) = error.as_db_error()
        && (*db.code() == SqlState::T_R_DEADLOCK_DETECTED
            || *db.code() == SqlState::T_R_SERIALIZATION_FAILURE)
    {
        return StoreError::Busy;
    }
    internal(describe(&error))
}

fn config(url: &str) -> StoreResult<Config> {
    let mut config: Config = url.parse().map_err(|e: ::postgres::Error| {
        internal(format!(
            "invalid PostgreSQL URL {}: {}",
            redact_url(url),
            describe(&e)
        ))
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("carebook");
    }
    Ok(config)
}

fn connect(config: &Config) -> StoreResult<Client> {
    config.connect(NoTls).map_err(|e| {
        StoreError::Unavailable(format!(
            "cannot connect to PostgreSQL at {}: {}",
            target(config),
            describe(&e)
        ))
    })
}

/// Where a configuration points, without its password: `user@host:port/database`.
fn target(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            ::postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            ::postgres::config::Host::Unix(path) => format!("{}:{port}", path.display()),
        })
        .collect();
    format!(
        "{}@{}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// Runs `f` on a thread of its own and waits for it: the sync client may then be
/// used even when the caller is inside an async runtime.
fn on_own_thread<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(internal)?
        .join()
        .unwrap_or_else(|_| Err(internal(format!("{name} failed unexpectedly"))))
}

/// Applies the pending migrations of the database `url` names, inside one
/// transaction that holds an advisory lock, so that instances migrating at the same
/// time apply each migration once.
pub fn migrate(url: &str) -> StoreResult<()> {
    let config = config(url)?;
    on_own_thread("pg-migrate", move || {
        let mut client = connect(&config)?;
        apply_migrations(&mut client)
    })
}

fn apply_migrations(client: &mut Client) -> StoreResult<()> {
    let mut tx = client.transaction().map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(pg_error)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .map_err(pg_error)?;
    for (version, sql) in MIGRATIONS {
        let applied: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)",
                &[version],
            )
            .map_err(pg_error)?
            .get(0);
        if applied {
            continue;
        }
        tx.batch_execute(sql)
            .map_err(|e| internal(format!("migration {version} failed: {}", describe(&e))))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &Timestamp::now().as_millisecond()],
        )
        .map_err(pg_error)?;
    }
    tx.commit().map_err(pg_error)
}

/// `true` when every migration this build knows is applied. Versions newer than
/// this build's are tolerated: during a rolling upgrade the new release migrates
/// first (migrations only add), and the instances still on the old release stay
/// ready until they are replaced.
fn schema_is_current_on(client: &mut impl GenericClient) -> StoreResult<bool> {
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .map_err(pg_error)?
        .get(0);
    if !exists {
        return Ok(false);
    }
    let known: Vec<i64> = MIGRATIONS.iter().map(|(version, _)| *version).collect();
    let applied: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM schema_migrations WHERE version = ANY($1)",
            &[&known],
        )
        .map_err(pg_error)?
        .get(0);
    Ok(usize::try_from(applied).is_ok_and(|applied| applied == known.len()))
}

/// A job for one of the pool's threads.
type Job = Box<dyn FnOnce(&mut Worker) + Send>;

pub struct PgStore {
    config: Arc<Config>,
    jobs: mpsc::Sender<Job>,
    observers: Arc<Observers>,
}

/// One pool thread's state: its connection, opened when first needed.
struct Worker {
    config: Arc<Config>,
    conn: Option<Conn>,
}

struct Conn {
    client: Client,
    /// Statements prepared on this connection, by their SQL.
    statements: HashMap<String, Statement>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Write,
    Read,
}

impl PgStore {
    /// Starts `pool_size` threads for the database `url` names and checks that its
    /// schema is current; it does not migrate (see [`migrate`]).
    pub fn open(url: &str, pool_size: usize) -> StoreResult<PgStore> {
        let store = PgStore::start(url, pool_size)?;
        let current = store.run_blocking(|worker| {
            let conn = worker.connection()?;
            schema_is_current_on(&mut conn.client)
        })?;
        if current {
            Ok(store)
        } else {
            Err(internal(format!(
                "the schema of {} is not current: run `carebook migrate`",
                redact_url(url)
            )))
        }
    }

    fn start(url: &str, pool_size: usize) -> StoreResult<PgStore> {
        let config = Arc::new(config(url)?);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..pool_size.max(1) {
            let queue = queue.clone();
            let config = config.clone();
            thread::Builder::new()
                .name(format!("carebook-pg-{index}"))
                .spawn(move || run_worker(config, queue))
                .map_err(internal)?;
        }
        Ok(PgStore {
            config,
            jobs,
            observers: Arc::default(),
        })
    }

    fn submit(&self, job: Job) -> StoreResult<()> {
        self.jobs
            .send(job)
            .map_err(|_| internal("the PostgreSQL pool has stopped"))
    }

    /// Runs `f` on a pool thread and blocks the caller until it is done.
    fn run_blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (answer, answered) = mpsc::channel();
        self.submit(Box::new(move |worker| {
            let _ = answer.send(f(worker));
        }))?;
        answered
            .recv()
            .unwrap_or_else(|_| Err(internal("a PostgreSQL job was abandoned")))
    }

    /// Runs `f` on a pool thread and answers asynchronously.
    async fn run<T: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        self.submit(Box::new(move |worker| {
            let _ = answer.send(f(worker));
        }))
        .map_err(E::from)?;
        answered
            .await
            .unwrap_or_else(|_| Err(E::from(internal("a PostgreSQL job was abandoned"))))
    }

    /// `observer` is called after each commit that changed availability, on the
    /// pool thread that committed.
    pub fn observe(&self, observer: CommitObserver) {
        self.observers.add(observer);
    }

    pub async fn write<R, E>(
        &self,
        work: impl FnOnce(&mut dyn Tx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let observers = self.observers.clone();
        self.run(move |worker| {
            let (result, changes) = run_transaction(worker, Mode::Write, work);
            if result.is_ok() {
                observers.committed(&changes);
            }
            result
        })
        .await
    }

    pub async fn read<R, E>(
        &self,
        work: impl FnOnce(&mut dyn Tx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run(move |worker| run_transaction(worker, Mode::Read, work).0)
            .await
    }

    /// `SELECT pg_notify(channel, payload)` on a pooled connection, outside any
    /// transaction: listeners get it at once.
    pub async fn notify(&self, channel: String, payload: String) -> StoreResult<()> {
        self.run(move |worker| {
            for attempt in 0..2 {
                let conn = worker.connection()?;
                match conn
                    .client
                    .execute("SELECT pg_notify($1, $2)", &[&channel, &payload])
                {
                    Ok(_) => return Ok(()),
                    Err(error) if attempt == 0 && conn.client.is_closed() => {
                        tracing::warn!("notify: {}; reconnecting", describe(&error));
                        worker.conn = None;
                    }
                    Err(error) => return Err(pg_error(error)),
                }
            }
            Err(internal("notify failed"))
        })
        .await
    }

    /// Like [`listen`], on this store's database.
    pub fn listen(
        &self,
        channel: &str,
    ) -> StoreResult<tokio::sync::mpsc::UnboundedReceiver<String>> {
        listen_with(self.config.clone(), channel)
    }
}

fn run_worker(config: Arc<Config>, queue: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut worker = Worker { config, conn: None };
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(|e| e.into_inner());
            match queue.recv() {
                Ok(job) => job,
                // The store was dropped: close the connection and end.
                Err(_) => return,
            }
        };
        if catch_unwind(AssertUnwindSafe(|| job(&mut worker))).is_err() {
            tracing::error!("a PostgreSQL job panicked; its connection was closed");
            worker.conn = None;
        }
        if worker.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            worker.conn = None;
        }
    }
}

impl Worker {
    /// The thread's connection, (re)opened when there is none or it broke.
    fn connection(&mut self) -> StoreResult<&mut Conn> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let client = connect(&self.config)?;
            self.conn = Some(Conn {
                client,
                statements: HashMap::new(),
            });
        }
        self.conn
            .as_mut()
            .ok_or_else(|| internal("no PostgreSQL connection"))
    }
}

fn begin(client: &mut Client, mode: Mode) -> Result<Transaction<'_>, ::postgres::Error> {
    match mode {
        Mode::Write => client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start(),
        Mode::Read => client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start(),
    }
}

/// Runs `work` in one transaction: committed when it returns `Ok`, rolled back when
/// it returns `Err` or panics. Also returns what a committed write changed about
/// availability (empty otherwise).
fn run_transaction<R, E: From<StoreError>>(
    worker: &mut Worker,
    mode: Mode,
    work: impl FnOnce(&mut dyn Tx) -> Result<R, E>,
) -> (Result<R, E>, CommittedChanges) {
    let mut retried = false;
    loop {
        let conn = match worker.connection() {
            Ok(conn) => conn,
            Err(error) => return (Err(E::from(error)), CommittedChanges::default()),
        };
        let error = match begin(&mut conn.client, mode) {
            Ok(tx) => return finish_transaction(tx, &mut conn.statements, mode, work),
            Err(error) => error,
        };
        // A connection that died while idle (say, the server restarted) is only
        // noticed when used: nothing ran yet, so try a fresh one, once.
        let closed = worker.conn.as_ref().is_none_or(|c| c.client.is_closed());
        if closed && !retried {
            retried = true;
            tracing::warn!(
                "PostgreSQL connection lost ({}); reconnecting",
                describe(&error)
            );
            worker.conn = None;
            continue;
        }
        return (Err(E::from(pg_error(error))), CommittedChanges::default());
    }
}

fn finish_transaction<R, E: From<StoreError>>(
    mut tx: Transaction<'_>,
    statements: &mut HashMap<String, Statement>,
    mode: Mode,
    work: impl FnOnce(&mut dyn Tx) -> Result<R, E>,
) -> (Result<R, E>, CommittedChanges) {
    let mut changes = ChangeLog::default();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let mut pg_tx = PgTx {
            tx: &mut tx,
            statements,
            locking: mode == Mode::Write,
            changes: ChangeLog::default(),
        };
        let result = work(&mut pg_tx);
        changes = std::mem::take(&mut pg_tx.changes);
        result
    }));
    let none = CommittedChanges::default;
    match outcome {
        Ok(Ok(value)) => {
            let changes = changes.take();
            // Sent inside the transaction: other instances hear of it only if it
            // commits, and in commit order.
            for payload in changes.payloads(NOTIFY_PAYLOAD_LIMIT) {
                if let Err(error) = tx.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&AVAILABILITY_CHANNEL, &payload],
                ) {
                    let _ = tx.rollback();
                    return (Err(E::from(pg_error(error))), none());
                }
            }
            match tx.commit() {
                Ok(()) => (Ok(value), changes),
                Err(error) => (Err(E::from(pg_error(error))), none()),
            }
        }
        Ok(Err(error)) => {
            let _ = tx.rollback();
            (Err(error), none())
        }
        Err(_) => {
            tracing::error!("a transaction's work panicked; its changes were rolled back");
            let _ = tx.rollback();
            (
                Err(E::from(internal("the transaction failed unexpectedly"))),
                none(),
            )
        }
    }
}

/// Subscribes to `channel` on the database `url` names: a thread of its own holds a
/// connection that runs `LISTEN channel` and forwards every notification's payload.
/// Returns once the first `LISTEN` is active (so it blocks briefly: call it at start
/// up or from `spawn_blocking`). If the connection drops, the thread reconnects with
/// a short backoff and listens again; notifications sent while it was away are lost,
/// which it signals with [`LISTEN_GAP`].
/// The thread ends soon after the receiver is dropped.
pub fn listen(
    url: &str,
    channel: &str,
) -> StoreResult<tokio::sync::mpsc::UnboundedReceiver<String>> {
    listen_with(Arc::new(config(url)?), channel)
}

fn listen_with(
    config: Arc<Config>,
    channel: &str,
) -> StoreResult<tokio::sync::mpsc::UnboundedReceiver<String>> {
    let statement = format!("LISTEN {}", quote_identifier(channel));
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let (ready, started) = mpsc::channel::<StoreResult<()>>();
    thread::Builder::new()
        .name("pg-listen".into())
        .spawn(move || {
            let client = match subscribe(&config, &statement) {
                Ok(client) => {
                    let _ = ready.send(Ok(()));
                    client
                }
                Err(error) => {
                    let _ = ready.send(Err(error));
                    return;
                }
            };
            run_listener(&config, &statement, client, &sender);
        })
        .map_err(internal)?;
    started
        .recv()
        .unwrap_or_else(|_| Err(internal("the listener failed to start")))?;
    Ok(receiver)
}

fn subscribe(config: &Config, statement: &str) -> StoreResult<Client> {
    let mut client = connect(config)?;
    client.batch_execute(statement).map_err(pg_error)?;
    Ok(client)
}

fn run_listener(
    config: &Config,
    statement: &str,
    mut client: Client,
    sender: &tokio::sync::mpsc::UnboundedSender<String>,
) {
    let mut last_ping = Instant::now();
    loop {
        let mut broken = false;
        {
            let mut notifications = client.notifications();
            let mut pending = notifications.timeout_iter(LISTEN_POLL);
            loop {
                match pending.next() {
                    Ok(Some(notification)) => {
                        if sender.send(notification.payload().to_owned()).is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => {
                        broken = true;
                        break;
                    }
                }
            }
        }
        if sender.is_closed() {
            return;
        }
        if !broken && last_ping.elapsed() >= LISTEN_PING {
            broken = client.is_valid(Duration::from_secs(5)).is_err();
            last_ping = Instant::now();
        }
        if broken || client.is_closed() {
            tracing::warn!("the PostgreSQL listener lost its connection; reconnecting");
            let mut backoff = Duration::from_millis(100);
            client = loop {
                if sender.is_closed() {
                    return;
                }
                match subscribe(config, statement) {
                    Ok(client) => break client,
                    Err(error) => {
                        tracing::warn!("the PostgreSQL listener cannot reconnect yet: {error}");
                        thread::sleep(backoff);
                        backoff = (backoff * 2).min(LISTEN_MAX_BACKOFF);
                    }
                }
            };
            if sender.send(LISTEN_GAP.to_owned()).is_err() {
                return;
            }
            last_ping = Instant::now();
        }
    }
}

fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

// ---------------------------------------------------------------------------------
// The transaction

struct PgTx<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    statements: &'t mut HashMap<String, Statement>,
    /// Inside a write: lookups that precede a read-modify-write lock their row.
    locking: bool,
    changes: ChangeLog,
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

impl PgTx<'_, '_> {
    fn prepared(&mut self, sql: &str) -> StoreResult<Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql).map_err(pg_error)?;
        if self.statements.len() >= MAX_CACHED_STATEMENTS {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn query(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<Vec<Row>> {
        let statement = self.prepared(sql)?;
        self.tx.query(&statement, params).map_err(pg_error)
    }

    fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<Option<Row>> {
        let statement = self.prepared(sql)?;
        self.tx.query_opt(&statement, params).map_err(pg_error)
    }

    fn query_one(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<Row> {
        let statement = self.prepared(sql)?;
        self.tx.query_one(&statement, params).map_err(pg_error)
    }

    fn execute(&mut self, sql: &str, params: &Params<'_>) -> StoreResult<u64> {
        let statement = self.prepared(sql)?;
        self.tx.execute(&statement, params).map_err(pg_error)
    }

    fn query_built(&mut self, sql: &str, query: &Query) -> StoreResult<Vec<Row>> {
        self.query(sql, &query.params())
    }

    /// Something about `doctor` other than an appointment changed (profile, hours,
    /// time off, account, rating, photo): every held copy of them is reloaded. A
    /// user who is no doctor (and never was) is left alone.
    fn doctor_changed(&mut self, doctor: &UserId) -> StoreResult<()> {
        if self.touch(doctor)?.is_some() {
            self.changes.reload(doctor);
        }
        Ok(())
    }

    /// Bumps `doctor`'s availability version once in this transaction. The account
    /// row is locked first, as every other write to a doctor does, so the two locks
    /// are always taken in the same order.
    fn touch(&mut self, doctor: &UserId) -> StoreResult<Option<i64>> {
        if self.changes.touched(doctor).is_none() {
            self.lock_user(doctor)?;
        }
        let mut changes = std::mem::take(&mut self.changes);
        let bumped = changes::begin_change(&mut changes, doctor, || {
            self.query_opt(
                "UPDATE doctors SET availability_version = availability_version + 1 \
                 WHERE user_id = $1 RETURNING availability_version",
                &[&doctor.as_str()],
            )?
            .map(|row| get(&row, 0))
            .transpose()
        });
        self.changes = changes;
        bumped
    }

    /// Inside a write, waits for and holds the row lock of one `users` row.
    fn lock_user(&mut self, id: &UserId) -> StoreResult<()> {
        if self.locking {
            self.query(
                "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
                &[&id.as_str()],
            )?;
        }
        Ok(())
    }

    /// Claims every unit of the slot for the doctor, then for the patient; a unit
    /// already held fails the statement (mapped to a `Conflict` by its table).
    fn claim(&mut self, a: &AppointmentRecord) -> StoreResult<()> {
        let (first, last) = unit_range(a.slot);
        for (sql, owner) in [(DOCTOR_CLAIM, &a.doctor_id), (PATIENT_CLAIM, &a.patient_id)] {
            self.execute(
                sql,
                &[
                    &owner.as_str(),
                    &a.id.as_str(),
                    &first,
                    &last,
                    &CLAIM_UNIT_MS,
                ],
            )?;
        }
        Ok(())
    }

    /// Claims the slots of the live appointments among `ids`, just imported, as
    /// [`Self::claim`] claims one: claims are this store's guard, not data a copy
    /// carries (SQLite guards with triggers and has none to give).
    fn claim_imported(&mut self, ids: &[&str]) -> StoreResult<()> {
        let live = AppointmentStatus::ALL
            .iter()
            .filter(|status| status.is_live())
            .map(|status| format!("'{}'", status.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        for (claims, owner) in [
            ("doctor_claims", "doctor_id"),
            ("patient_claims", "patient_id"),
        ] {
            let sql = format!(
                "INSERT INTO {claims} ({owner}, unit_start, appointment_id) \
                 SELECT a.{owner}, unit, a.id FROM appointments a, \
                 generate_series(a.start_at - ((a.start_at % $2) + $2) % $2, a.end_at - 1, $2) AS unit \
                 WHERE a.id = ANY($1::TEXT[]) AND a.status IN ({live})"
            );
            // Not cached, like the import's own statements.
            self.tx
                .execute(sql.as_str(), &[&ids, &CLAIM_UNIT_MS])
                .map_err(pg_error)?;
        }
        Ok(())
    }

    /// The slot `id` holds claims on as stored, if it is live; the row stays locked
    /// to this transaction, so no other one moves it before the claims follow.
    fn claimed_slot(&mut self, id: &AppointmentId) -> StoreResult<Option<Interval>> {
        let rows = self.query(
            "SELECT status, start_at, end_at FROM appointments WHERE id = $1 FOR UPDATE",
            &[&id.as_str()],
        )?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let status: String = get(row, 0)?;
        let status = AppointmentStatus::parse(&status).ok_or_else(|| bad("appointments.status"))?;
        if !status.is_live() {
            return Ok(None);
        }
        Ok(Some(
            Interval::new(ts(get(row, 1)?)?, ts(get(row, 2)?)?)
                .ok_or_else(|| bad("appointments slot"))?,
        ))
    }

    /// Frees what `appointment` claimed for `slot`, found by the claims' own keys
    /// (a range of units), as on SQLite.
    fn release(&mut self, appointment: &AppointmentRecord, slot: Interval) -> StoreResult<()> {
        let (from, to) = (ms(slot.start) - CLAIM_RELEASE_REACH_MS, ms(slot.end));
        for (sql, owner) in [
            (
                "DELETE FROM doctor_claims WHERE doctor_id = $1 AND unit_start > $2 \
                 AND unit_start < $3 AND appointment_id = $4",
                &appointment.doctor_id,
            ),
            (
                "DELETE FROM patient_claims WHERE patient_id = $1 AND unit_start > $2 \
                 AND unit_start < $3 AND appointment_id = $4",
                &appointment.patient_id,
            ),
        ] {
            self.execute(
                sql,
                &[&owner.as_str(), &from, &to, &appointment.id.as_str()],
            )?;
        }
        Ok(())
    }

    fn doctor_details(&mut self, doctor: &mut DoctorRecord) -> StoreResult<()> {
        let id = doctor.user_id.as_str();
        let rows = self.query(
            "SELECT day, start_minute, end_minute FROM doctor_weekly_hours WHERE doctor_id = $1 \
             ORDER BY day, start_minute",
            &[&id],
        )?;
        doctor.schedule.weekly_hours = rows
            .iter()
            .map(|row| {
                let day: i64 = get(row, 0)?;
                let day = i8::try_from(day)
                    .ok()
                    .and_then(|d| Weekday::from_monday_one_offset(d).ok())
                    .ok_or_else(|| bad("doctor_weekly_hours.day"))?;
                Ok(WeeklyInterval {
                    day,
                    start: time_of_minute(get(row, 1)?)?,
                    end: time_of_minute(get(row, 2)?)?,
                })
            })
            .collect::<StoreResult<_>>()?;
        let rows = self.query(
            "SELECT specialty_id FROM doctor_specialties WHERE doctor_id = $1 ORDER BY specialty_id",
            &[&id],
        )?;
        doctor.specialty_ids = rows
            .iter()
            .map(|row| Ok(SpecialtyId::new(get::<String>(row, 0)?)))
            .collect::<StoreResult<_>>()?;
        Ok(())
    }
}

/// The SQL of a doctor search selecting `columns`, by name then id; `None` when it
/// can match nothing.
fn doctor_search(
    filter: &DoctorFilter,
    page: &PageRequest,
    columns: &str,
) -> StoreResult<Option<(String, Query)>> {
    let mut query = Query::default();
    query.clause("u.role = 'doctor'".to_owned());
    if filter.only_active {
        query.clause("u.status = 'active'".to_owned());
    }
    if let Some(q) = &filter.q {
        let p = query.text(&like_pattern(q));
        query.clause(format!("u.name ILIKE {p} ESCAPE '\\'"));
    }
    // A specialty's few doctors are found through its index, not by testing every
    // doctor of the clinic in name order.
    let mut from = "doctors d JOIN users u ON u.id = d.user_id";
    if let Some(specialty) = &filter.specialty_id {
        from = "doctor_specialties s JOIN doctors d ON d.user_id = s.doctor_id \
                JOIN users u ON u.id = d.user_id";
        let p = query.text(specialty.as_str());
        query.clause(format!("s.specialty_id = {p}"));
    }
    query.cursor(("u.name", "u.id"), page.after.as_ref(), false, false)?;
    if query.matches_nothing {
        return Ok(None);
    }
    let limit = query.limit(page);
    let sql = format!(
        "SELECT {columns} FROM {from} {} ORDER BY u.name, u.id LIMIT {limit}",
        query.where_sql()
    );
    Ok(Some((sql, query)))
}

/// The length of one claim row's unit of a doctor's or a patient's time: a live
/// appointment claims every unit it covers (`doctor_claims`, `patient_claims`;
/// SQLite guards with triggers instead).
const CLAIM_UNIT_MS: i64 = carebook_domain::schedule::GRID_UNIT_MINUTES * 60_000;
/// How far before a slot a release looks for its claims: claims made on a coarser
/// grid than today's may start before the slot does. Claims are released by
/// their keys (owner and unit) within this reach, never through an index on the
/// appointment: that index was one more B-tree to change for every unit of every
/// booking.
const CLAIM_RELEASE_REACH_MS: i64 = 60 * 60_000;

/// The first and the last 5-minute unit an interval covers.
fn unit_range(slot: Interval) -> (i64, i64) {
    let first = ms(slot.start).div_euclid(CLAIM_UNIT_MS) * CLAIM_UNIT_MS;
    let end = ms(slot.end).max(first + 1);
    let last = first + (end - first - 1).div_euclid(CLAIM_UNIT_MS) * CLAIM_UNIT_MS;
    (first, last)
}

const DOCTOR_CLAIM: &str = "INSERT INTO doctor_claims (doctor_id, unit_start, appointment_id) \
     SELECT $1::TEXT, unit, $2::TEXT FROM generate_series($3::BIGINT, $4::BIGINT, $5::BIGINT) AS unit";
const PATIENT_CLAIM: &str = "INSERT INTO patient_claims (patient_id, unit_start, appointment_id) \
     SELECT $1::TEXT, unit, $2::TEXT FROM generate_series($3::BIGINT, $4::BIGINT, $5::BIGINT) AS unit";

/// The `WHERE` clauses and parameters of a query built from a filter.
#[derive(Default)]
struct Query {
    clauses: Vec<String>,
    params: Vec<Box<dyn ToSql + Sync>>,
    /// A text parameter holds a NUL, which no stored text can: nothing matches.
    matches_nothing: bool,
}

impl Query {
    /// Adds a parameter and returns its placeholder (`$n`).
    fn bind<T: ToSql + Sync + 'static>(&mut self, value: T) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    /// Like [`Query::bind`] for text (see [`has_nul`]).
    fn text(&mut self, value: &str) -> String {
        self.matches_nothing |= has_nul(value);
        self.bind(value.to_owned())
    }

    fn clause(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| &**p as &(dyn ToSql + Sync))
            .collect()
    }

    /// Adds `(key, id) > ($k, $i)` (or `<` when descending) for keyset pagination.
    fn cursor(
        &mut self,
        columns: (&str, &str),
        cursor: Option<&Cursor>,
        descending: bool,
        integer_key: bool,
    ) -> StoreResult<()> {
        if let Some(cursor) = cursor {
            let key = if integer_key {
                self.bind(cursor.key.parse::<i64>().map_err(|_| bad("cursor"))?)
            } else {
                self.text(&cursor.key)
            };
            let id = self.text(&cursor.id);
            let op = if descending { "<" } else { ">" };
            self.clause(format!("({}, {}) {op} ({key}, {id})", columns.0, columns.1));
        }
        Ok(())
    }

    fn limit(&mut self, page: &PageRequest) -> String {
        self.bind(i64::from(page.limit))
    }
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(value: i64) -> StoreResult<Timestamp> {
    Timestamp::from_millisecond(value).map_err(|_| bad("instant out of range"))
}

/// A value read from the database that the domain does not accept. Names the
/// column, never the value (it may be personal data).
fn bad(what: &str) -> StoreError {
    internal(format!("unexpected value in the database: {what}"))
}

fn get<'r, T: FromSql<'r>>(row: &'r Row, index: usize) -> StoreResult<T> {
    row.try_get(index).map_err(pg_error)
}

/// PostgreSQL's TEXT cannot hold NUL (SQLite's can), and a parameter holding one is
/// an error rather than a mismatch. Stored values never hold one (the app refuses
/// control characters), so a key or filter that does matches nothing: lookups check
/// with this first instead of failing.
fn has_nul(value: &str) -> bool {
    value.contains('\0')
}

/// The ids to bind to `= ANY($1)`: one holding a NUL cannot be stored, so matches
/// nothing, and PostgreSQL would refuse the whole array for it.
fn any_ids(ids: &[UserId]) -> Vec<&str> {
    ids.iter()
        .map(UserId::as_str)
        .filter(|id| !has_nul(id))
        .collect()
}

/// Free-form text recorded as given (login attempts, audit keys), with any NUL
/// replaced by U+FFFD so that it can be stored, and found again the same way.
fn storable(value: &str) -> std::borrow::Cow<'_, str> {
    if has_nul(value) {
        std::borrow::Cow::Owned(value.replace('\0', "\u{FFFD}"))
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

fn weekday_number(day: Weekday) -> i64 {
    i64::from(day.to_monday_one_offset())
}

fn minute_of_day(time: Time, is_end: bool) -> i64 {
    let minutes = i64::from(time.hour()) * 60 + i64::from(time.minute());
    if is_end && minutes == 0 {
        24 * 60
    } else {
        minutes
    }
}

fn time_of_minute(minutes: i64) -> StoreResult<Time> {
    let minutes = minutes.rem_euclid(24 * 60);
    Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0)
        .map_err(|_| bad("minute of the day"))
}

const USER_COLUMNS: &str =
    "id, email, name, phone, date_of_birth, role, status, password_hash, created_at, updated_at";

fn user_from_row(row: &Row) -> StoreResult<UserRecord> {
    let role: String = get(row, 5)?;
    let status: String = get(row, 6)?;
    let date_of_birth: Option<String> = get(row, 4)?;
    Ok(UserRecord {
        id: UserId::new(get::<String>(row, 0)?),
        email: get(row, 1)?,
        name: get(row, 2)?,
        phone: get(row, 3)?,
        date_of_birth: date_of_birth
            .map(|d| d.parse::<Date>().map_err(|_| bad("users.date_of_birth")))
            .transpose()?,
        role: Role::parse(&role).ok_or_else(|| bad("users.role"))?,
        status: UserStatus::parse(&status).ok_or_else(|| bad("users.status"))?,
        password_hash: get(row, 7)?,
        created_at: ts(get(row, 8)?)?,
        updated_at: ts(get(row, 9)?)?,
    })
}

const APPOINTMENT_COLUMNS: &str = "a.id, a.doctor_id, a.patient_id, a.start_at, a.end_at, a.status, a.reason, \
     a.status_reason, a.created_by, a.created_at, a.updated_at, d.name, p.name, a.mode, a.video_room, \
     pay.id, pay.status, pay.method, pay.amount_minor, pay.currency, pay.checkout_url, pay.hold_until";

/// The appointment's latest payment, if any (columns 15-21 of [`APPOINTMENT_COLUMNS`]).
const LATEST_PAYMENT_JOIN: &str = "LEFT JOIN payments pay ON pay.id = (SELECT lp.id FROM payments lp \
     WHERE lp.appointment_id = a.id ORDER BY lp.created_at DESC, lp.id DESC LIMIT 1)";

fn appointment_from_row(row: &Row) -> StoreResult<AppointmentView> {
    let status: String = get(row, 5)?;
    Ok(AppointmentView {
        record: AppointmentRecord {
            id: AppointmentId::new(get::<String>(row, 0)?),
            doctor_id: UserId::new(get::<String>(row, 1)?),
            patient_id: UserId::new(get::<String>(row, 2)?),
            slot: Interval::new(ts(get(row, 3)?)?, ts(get(row, 4)?)?)
                .ok_or_else(|| bad("empty slot"))?,
            status: AppointmentStatus::parse(&status).ok_or_else(|| bad("appointments.status"))?,
            reason: get(row, 6)?,
            status_reason: get(row, 7)?,
            created_by: UserId::new(get::<String>(row, 8)?),
            created_at: ts(get(row, 9)?)?,
            updated_at: ts(get(row, 10)?)?,
            mode: VisitMode::parse(&get::<String>(row, 13)?)
                .ok_or_else(|| bad("appointments.mode"))?,
            video_room: get(row, 14)?,
        },
        doctor_name: get(row, 11)?,
        patient_name: get(row, 12)?,
        payment: payment_brief_from_row(row, 15)?,
    })
}

/// The latest payment's columns from `first` on, all NULL when there is none.
fn payment_brief_from_row(row: &Row, first: usize) -> StoreResult<Option<PaymentBrief>> {
    let Some(id) = get::<Option<String>>(row, first)? else {
        return Ok(None);
    };
    Ok(Some(PaymentBrief {
        id: PaymentId::new(id),
        status: PaymentStatus::parse(&get::<String>(row, first + 1)?)
            .ok_or_else(|| bad("payments.status"))?,
        method: PaymentMethod::parse(&get::<String>(row, first + 2)?)
            .ok_or_else(|| bad("payments.method"))?,
        amount_minor: get(row, first + 3)?,
        currency: get(row, first + 4)?,
        checkout_url: get(row, first + 5)?,
        hold_until: get::<Option<i64>>(row, first + 6)?.map(ts).transpose()?,
    }))
}

const DOCTOR_COLUMNS: &str = "d.user_id, u.name, u.status, d.bio, d.qualifications, d.years_experience, d.languages, \
     d.fee_amount, d.fee_currency, d.time_zone, d.slot_minutes, d.min_notice_minutes, d.horizon_days, \
     d.auto_confirm, d.cancel_window_hours, d.visit_modes, d.payment_mode";

fn doctor_from_row(row: &Row) -> StoreResult<DoctorRecord> {
    let status: String = get(row, 2)?;
    let languages: String = get(row, 6)?;
    let fee_amount: Option<i64> = get(row, 7)?;
    let fee_currency: Option<String> = get(row, 8)?;
    let zone: String = get(row, 9)?;
    Ok(DoctorRecord {
        user_id: UserId::new(get::<String>(row, 0)?),
        name: get(row, 1)?,
        status: UserStatus::parse(&status).ok_or_else(|| bad("users.status"))?,
        bio: get(row, 3)?,
        qualifications: get(row, 4)?,
        years_experience: get(row, 5)?,
        languages: serde_json::from_str(&languages).map_err(|_| bad("doctors.languages"))?,
        fee: fee_amount
            .zip(fee_currency)
            .map(|(amount, currency)| Fee { amount, currency }),
        schedule: Schedule {
            time_zone: TimeZone::get(&zone).map_err(|_| bad("doctors.time_zone"))?,
            slot_minutes: get(row, 10)?,
            weekly_hours: Vec::new(),
            rules: BookingRules {
                min_notice_minutes: get(row, 11)?,
                horizon_days: get(row, 12)?,
                auto_confirm: get(row, 13)?,
                cancel_window_hours: get(row, 14)?,
            },
        },
        specialty_ids: Vec::new(),
        visit_modes: serde_json::from_str(&get::<String>(row, 15)?)
            .map_err(|_| bad("doctors.visit_modes"))?,
        payment_mode: PaymentMode::parse(&get::<String>(row, 16)?)
            .ok_or_else(|| bad("doctors.payment_mode"))?,
    })
}

fn time_off_from_row(row: &Row) -> StoreResult<TimeOffRecord> {
    Ok(TimeOffRecord {
        id: TimeOffId::new(get::<String>(row, 0)?),
        doctor_id: UserId::new(get::<String>(row, 1)?),
        period: Interval::new(ts(get(row, 2)?)?, ts(get(row, 3)?)?)
            .ok_or_else(|| bad("empty time off"))?,
        reason: get(row, 4)?,
        created_at: ts(get(row, 5)?)?,
    })
}

fn event_from_row(row: &Row) -> StoreResult<AppointmentEvent> {
    let status = |value: Option<String>| -> StoreResult<Option<AppointmentStatus>> {
        value
            .map(|s| AppointmentStatus::parse(&s).ok_or_else(|| bad("appointment_events.status")))
            .transpose()
    };
    Ok(AppointmentEvent {
        appointment_id: AppointmentId::new(get::<String>(row, 0)?),
        seq: get(row, 1)?,
        at: ts(get(row, 2)?)?,
        actor_id: get::<Option<String>>(row, 3)?.map(UserId::new),
        action: get(row, 4)?,
        from_status: status(get(row, 5)?)?,
        to_status: status(Some(get(row, 6)?))?
            .ok_or_else(|| bad("appointment_events.to_status"))?,
        from_start: get::<Option<i64>>(row, 7)?.map(ts).transpose()?,
        to_start: get::<Option<i64>>(row, 8)?.map(ts).transpose()?,
        reason: get(row, 9)?,
    })
}

fn specialty_from_row(row: &Row) -> StoreResult<Specialty> {
    Ok(Specialty {
        id: SpecialtyId::new(get::<String>(row, 0)?),
        name: get(row, 1)?,
        slug: get(row, 2)?,
    })
}

fn session_from_row(row: &Row) -> StoreResult<SessionRecord> {
    Ok(SessionRecord {
        token_hash: get(row, 0)?,
        user_id: UserId::new(get::<String>(row, 1)?),
        csrf_token: get(row, 2)?,
        created_at: ts(get(row, 3)?)?,
        expires_at: ts(get(row, 4)?)?,
    })
}

fn audit_from_row(row: &Row) -> StoreResult<AuditEntry> {
    let detail: String = get(row, 6)?;
    Ok(AuditEntry {
        id: get(row, 0)?,
        entry: NewAuditEntry {
            at: ts(get(row, 1)?)?,
            actor_id: get::<Option<String>>(row, 2)?.map(UserId::new),
            action: get(row, 3)?,
            subject_type: get(row, 4)?,
            subject_id: get(row, 5)?,
            detail: serde_json::from_str(&detail).map_err(|_| bad("audit_log.detail"))?,
        },
    })
}

fn rows_to<T>(rows: Vec<Row>, convert: fn(&Row) -> StoreResult<T>) -> StoreResult<Vec<T>> {
    rows.iter().map(convert).collect()
}

impl Tx for PgTx<'_, '_> {
    fn insert_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        self.execute(
            &format!(
                "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &user.id.as_str(),
                &user.email,
                &user.name,
                &user.phone,
                &user.date_of_birth.map(|d| d.to_string()),
                &user.role.as_str(),
                &user.status.as_str(),
                &user.password_hash,
                &ms(user.created_at),
                &ms(user.updated_at),
            ],
        )?;
        Ok(())
    }

    fn update_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        self.execute(
            "UPDATE users SET email = $2, name = $3, phone = $4, date_of_birth = $5, role = $6, status = $7, \
             password_hash = $8, updated_at = $9 WHERE id = $1",
            &[
                &user.id.as_str(),
                &user.email,
                &user.name,
                &user.phone,
                &user.date_of_birth.map(|d| d.to_string()),
                &user.role.as_str(),
                &user.status.as_str(),
                &user.password_hash,
                &ms(user.updated_at),
            ],
        )?;
        // Also when the account was a doctor's and its role just changed.
        self.doctor_changed(&user.id)
    }

    fn find_user(&mut self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        if has_nul(id.as_str()) {
            return Ok(None);
        }
        let lock = if self.locking {
            " FOR NO KEY UPDATE"
        } else {
            ""
        };
        self.query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1{lock}"),
            &[&id.as_str()],
        )?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    fn find_user_by_email(&mut self, email: &str) -> StoreResult<Option<UserRecord>> {
        if has_nul(email) {
            return Ok(None);
        }
        self.query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"),
            &[&email],
        )?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    fn list_users(
        &mut self,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<UserRecord>> {
        let mut query = Query::default();
        if let Some(q) = &filter.q {
            let p = query.text(&like_pattern(q));
            query.clause(format!(
                "(name ILIKE {p} ESCAPE '\\' OR email ILIKE {p} ESCAPE '\\')"
            ));
        }
        if let Some(role) = filter.role {
            let p = query.bind(role.as_str());
            query.clause(format!("role = {p}"));
        }
        if let Some(status) = filter.status {
            let p = query.bind(status.as_str());
            query.clause(format!("status = {p}"));
        }
        query.cursor(("name", "id"), page.after.as_ref(), false, false)?;
        if query.matches_nothing {
            return Ok(Vec::new());
        }
        let limit = query.limit(page);
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users {} ORDER BY name, id LIMIT {limit}",
            query.where_sql()
        );
        rows_to(self.query_built(&sql, &query)?, user_from_row)
    }

    fn count_users(&mut self) -> StoreResult<i64> {
        get(&self.query_one("SELECT COUNT(*) FROM users", &[])?, 0)
    }

    fn insert_session(&mut self, session: &SessionRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &session.token_hash,
                &session.user_id.as_str(),
                &session.csrf_token,
                &ms(session.created_at),
                &ms(session.expires_at),
            ],
        )?;
        Ok(())
    }

    fn find_session(&mut self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        if has_nul(token_hash) {
            return Ok(None);
        }
        self.query_opt(
            "SELECT token_hash, user_id, csrf_token, created_at, expires_at FROM sessions WHERE token_hash = $1",
            &[&token_hash],
        )?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    fn delete_session(&mut self, token_hash: &str) -> StoreResult<()> {
        if has_nul(token_hash) {
            return Ok(());
        }
        self.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])?;
        Ok(())
    }

    fn delete_sessions_of(&mut self, user: &UserId) -> StoreResult<()> {
        if has_nul(user.as_str()) {
            return Ok(());
        }
        self.execute("DELETE FROM sessions WHERE user_id = $1", &[&user.as_str()])?;
        Ok(())
    }

    fn delete_expired_sessions(&mut self, now: Timestamp) -> StoreResult<()> {
        self.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&ms(now)])?;
        Ok(())
    }

    fn record_login_attempt(&mut self, attempt: &LoginAttempt) -> StoreResult<()> {
        self.execute(
            "INSERT INTO login_attempts (email, client, at, succeeded) VALUES ($1, $2, $3, $4)",
            &[
                &storable(&attempt.email),
                &storable(&attempt.client),
                &ms(attempt.at),
                &attempt.succeeded,
            ],
        )?;
        Ok(())
    }

    fn count_failed_logins(&mut self, key: LoginKey<'_>, since: Timestamp) -> StoreResult<i64> {
        let (sql, value) = match key {
            LoginKey::Email(email) => (
                "SELECT COUNT(*) FROM login_attempts WHERE email = $1 AND at >= $2 AND NOT succeeded",
                email,
            ),
            LoginKey::Client(client) => (
                "SELECT COUNT(*) FROM login_attempts WHERE client = $1 AND at >= $2 AND NOT succeeded",
                client,
            ),
        };
        get(&self.query_one(sql, &[&storable(value), &ms(since)])?, 0)
    }

    fn last_login_success(&mut self, email: &str) -> StoreResult<Option<Timestamp>> {
        let at: Option<i64> = get(
            &self.query_one(
                "SELECT MAX(at) FROM login_attempts WHERE email = $1 AND succeeded",
                &[&storable(email)],
            )?,
            0,
        )?;
        at.map(ts).transpose()
    }

    fn insert_specialty(&mut self, specialty: &Specialty) -> StoreResult<()> {
        self.execute(
            "INSERT INTO specialties (id, name, slug) VALUES ($1, $2, $3)",
            &[&specialty.id.as_str(), &specialty.name, &specialty.slug],
        )?;
        Ok(())
    }

    fn list_specialties(&mut self) -> StoreResult<Vec<Specialty>> {
        rows_to(
            self.query("SELECT id, name, slug FROM specialties ORDER BY name", &[])?,
            specialty_from_row,
        )
    }

    fn find_specialty(&mut self, id_or_slug: &str) -> StoreResult<Option<Specialty>> {
        if has_nul(id_or_slug) {
            return Ok(None);
        }
        self.query_opt(
            "SELECT id, name, slug FROM specialties WHERE id = $1 OR slug = $1",
            &[&id_or_slug],
        )?
        .as_ref()
        .map(specialty_from_row)
        .transpose()
    }

    fn upsert_doctor(&mut self, doctor: &DoctorRecord) -> StoreResult<()> {
        let schedule = &doctor.schedule;
        let zone = schedule.time_zone.iana_name().unwrap_or("UTC");
        let id = doctor.user_id.as_str();
        let languages = serde_json::to_string(&doctor.languages).map_err(internal)?;
        let visit_modes = serde_json::to_string(&doctor.visit_modes).map_err(internal)?;
        self.execute(
            "INSERT INTO doctors (user_id, bio, qualifications, years_experience, languages, fee_amount, \
             fee_currency, time_zone, slot_minutes, min_notice_minutes, horizon_days, auto_confirm, \
             cancel_window_hours, visit_modes, payment_mode) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (user_id) DO UPDATE SET bio = EXCLUDED.bio, qualifications = EXCLUDED.qualifications, \
             years_experience = EXCLUDED.years_experience, languages = EXCLUDED.languages, \
             fee_amount = EXCLUDED.fee_amount, fee_currency = EXCLUDED.fee_currency, \
             time_zone = EXCLUDED.time_zone, slot_minutes = EXCLUDED.slot_minutes, \
             min_notice_minutes = EXCLUDED.min_notice_minutes, horizon_days = EXCLUDED.horizon_days, \
             auto_confirm = EXCLUDED.auto_confirm, cancel_window_hours = EXCLUDED.cancel_window_hours, \
             visit_modes = EXCLUDED.visit_modes, payment_mode = EXCLUDED.payment_mode",
            &[
                &id,
                &doctor.bio,
                &doctor.qualifications,
                &doctor.years_experience,
                &languages,
                &doctor.fee.as_ref().map(|f| f.amount),
                &doctor.fee.as_ref().map(|f| f.currency.as_str()),
                &zone,
                &schedule.slot_minutes,
                &schedule.rules.min_notice_minutes,
                &schedule.rules.horizon_days,
                &schedule.rules.auto_confirm,
                &schedule.rules.cancel_window_hours,
                &visit_modes,
                &doctor.payment_mode.as_str(),
            ],
        )?;
        self.execute(
            "DELETE FROM doctor_weekly_hours WHERE doctor_id = $1",
            &[&id],
        )?;
        for interval in &schedule.weekly_hours {
            self.execute(
                "INSERT INTO doctor_weekly_hours (doctor_id, day, start_minute, end_minute) VALUES ($1, $2, $3, $4)",
                &[
                    &id,
                    &weekday_number(interval.day),
                    &minute_of_day(interval.start, false),
                    &minute_of_day(interval.end, true),
                ],
            )?;
        }
        self.execute(
            "DELETE FROM doctor_specialties WHERE doctor_id = $1",
            &[&id],
        )?;
        for specialty in &doctor.specialty_ids {
            self.execute(
                "INSERT INTO doctor_specialties (doctor_id, specialty_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&id, &specialty.as_str()],
            )?;
        }
        self.doctor_changed(&doctor.user_id)?;
        Ok(())
    }

    fn find_doctor(&mut self, id: &UserId) -> StoreResult<Option<DoctorRecord>> {
        if has_nul(id.as_str()) {
            return Ok(None);
        }
        // The account row is the lock for the whole profile; the select below runs
        // after it is held, so it reads what the previous writer committed.
        self.lock_user(id)?;
        let found = self
            .query_opt(
                &format!(
                    "SELECT {DOCTOR_COLUMNS} FROM doctors d JOIN users u ON u.id = d.user_id \
                     WHERE d.user_id = $1 AND u.role = 'doctor'"
                ),
                &[&id.as_str()],
            )?
            .as_ref()
            .map(doctor_from_row)
            .transpose()?;
        match found {
            Some(mut doctor) => {
                self.doctor_details(&mut doctor)?;
                Ok(Some(doctor))
            }
            None => Ok(None),
        }
    }

    fn list_doctors(
        &mut self,
        filter: &DoctorFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DoctorRecord>> {
        let Some((sql, query)) = doctor_search(filter, page, DOCTOR_COLUMNS)? else {
            return Ok(Vec::new());
        };
        let mut doctors = rows_to(self.query_built(&sql, &query)?, doctor_from_row)?;
        for doctor in &mut doctors {
            self.doctor_details(doctor)?;
        }
        Ok(doctors)
    }

    fn list_doctor_names(
        &mut self,
        filter: &DoctorFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<(UserId, String)>> {
        let Some((sql, query)) = doctor_search(filter, page, "d.user_id, u.name")? else {
            return Ok(Vec::new());
        };
        self.query_built(&sql, &query)?
            .iter()
            .map(|row| Ok((UserId::new(get::<String>(row, 0)?), get(row, 1)?)))
            .collect()
    }

    fn list_doctor_directory(&mut self) -> StoreResult<Vec<ListedDoctor>> {
        let rows = self
            .query(DOCTOR_DIRECTORY, &[])?
            .iter()
            .map(|row| Ok((get(row, 0)?, get(row, 1)?, get(row, 2)?, get(row, 3)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        ListedDoctor::fold(rows)
    }

    fn insert_time_off(&mut self, time_off: &TimeOffRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO time_off (id, doctor_id, start_at, end_at, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &time_off.id.as_str(),
                &time_off.doctor_id.as_str(),
                &ms(time_off.period.start),
                &ms(time_off.period.end),
                &time_off.reason,
                &ms(time_off.created_at),
            ],
        )?;
        self.doctor_changed(&time_off.doctor_id)?;
        Ok(())
    }

    fn delete_time_off(&mut self, doctor: &UserId, id: &TimeOffId) -> StoreResult<bool> {
        if has_nul(doctor.as_str()) || has_nul(id.as_str()) {
            return Ok(false);
        }
        let deleted = self.execute(
            "DELETE FROM time_off WHERE id = $1 AND doctor_id = $2",
            &[&id.as_str(), &doctor.as_str()],
        )?;
        if deleted > 0 {
            self.doctor_changed(doctor)?;
        }
        Ok(deleted > 0)
    }

    fn list_time_off(
        &mut self,
        doctor: &UserId,
        window: Interval,
    ) -> StoreResult<Vec<TimeOffRecord>> {
        if has_nul(doctor.as_str()) {
            return Ok(Vec::new());
        }
        rows_to(
            self.query(
                "SELECT id, doctor_id, start_at, end_at, reason, created_at FROM time_off \
                 WHERE doctor_id = $1 AND start_at < $3 AND end_at > $2 ORDER BY start_at, id",
                &[&doctor.as_str(), &ms(window.start), &ms(window.end)],
            )?,
            time_off_from_row,
        )
    }

    fn insert_appointment(&mut self, a: &AppointmentRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO appointments (id, doctor_id, patient_id, start_at, end_at, status, reason, status_reason, \
             created_by, created_at, updated_at, mode, video_room) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            &[
                &a.id.as_str(),
                &a.doctor_id.as_str(),
                &a.patient_id.as_str(),
                &ms(a.slot.start),
                &ms(a.slot.end),
                &a.status.as_str(),
                &a.reason,
                &a.status_reason,
                &a.created_by.as_str(),
                &ms(a.created_at),
                &ms(a.updated_at),
                &a.mode.as_str(),
                &a.video_room,
            ],
        )?;
        if a.status.is_live() {
            self.claim(a)?;
        }
        self.touch(&a.doctor_id)?;
        self.changes.appointment(a);
        Ok(())
    }

    fn update_appointment(&mut self, a: &AppointmentRecord) -> StoreResult<()> {
        let claimed = self.claimed_slot(&a.id)?;
        let keeps_its_claims = a.status.is_live() && claimed == Some(a.slot);
        if let Some(slot) = claimed.filter(|_| !keeps_its_claims) {
            self.release(a, slot)?;
        }
        self.execute(
            "UPDATE appointments SET start_at = $2, end_at = $3, status = $4, reason = $5, status_reason = $6, \
             updated_at = $7, mode = $8, video_room = $9 WHERE id = $1",
            &[
                &a.id.as_str(),
                &ms(a.slot.start),
                &ms(a.slot.end),
                &a.status.as_str(),
                &a.reason,
                &a.status_reason,
                &ms(a.updated_at),
                &a.mode.as_str(),
                &a.video_room,
            ],
        )?;
        if a.status.is_live() && !keeps_its_claims {
            self.claim(a)?;
        }
        self.touch(&a.doctor_id)?;
        self.changes.appointment(a);
        Ok(())
    }

    fn find_appointment(&mut self, id: &AppointmentId) -> StoreResult<Option<AppointmentView>> {
        if has_nul(id.as_str()) {
            return Ok(None);
        }
        if self.locking {
            self.query(
                "SELECT 1 FROM appointments WHERE id = $1 FOR NO KEY UPDATE",
                &[&id.as_str()],
            )?;
        }
        self.query_opt(
            &format!(
                "SELECT {APPOINTMENT_COLUMNS} FROM appointments a JOIN users d ON d.id = a.doctor_id \
                 JOIN users p ON p.id = a.patient_id {LATEST_PAYMENT_JOIN} WHERE a.id = $1"
            ),
            &[&id.as_str()],
        )?
        .as_ref()
        .map(appointment_from_row)
        .transpose()
    }

    fn list_appointments(
        &mut self,
        filter: &AppointmentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<AppointmentView>> {
        let mut query = Query::default();
        match &filter.scope {
            AppointmentScope::All => {}
            AppointmentScope::AsPatient(id) => {
                let p = query.text(id.as_str());
                query.clause(format!("a.patient_id = {p}"));
            }
            AppointmentScope::AsDoctor(id) => {
                let p = query.text(id.as_str());
                query.clause(format!("a.doctor_id = {p}"));
            }
        }
        if !filter.statuses.is_empty() {
            let statuses: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            let p = query.bind(statuses);
            query.clause(format!("a.status = ANY({p})"));
        }
        if let Some(from) = filter.from {
            let p = query.bind(ms(from));
            query.clause(format!("a.start_at >= {p}"));
        }
        if let Some(to) = filter.to {
            let p = query.bind(ms(to));
            query.clause(format!("a.start_at < {p}"));
        }
        if let Some(doctor) = &filter.doctor_id {
            let p = query.text(doctor.as_str());
            query.clause(format!("a.doctor_id = {p}"));
        }
        if let Some(patient) = &filter.patient_id {
            let p = query.text(patient.as_str());
            query.clause(format!("a.patient_id = {p}"));
        }
        if let Some(q) = &filter.q {
            let p = query.text(&like_pattern(q));
            query.clause(format!(
                "(d.name ILIKE {p} ESCAPE '\\' OR p.name ILIKE {p} ESCAPE '\\')"
            ));
        }
        query.cursor(
            ("a.start_at", "a.id"),
            page.after.as_ref(),
            filter.newest_first,
            true,
        )?;
        if query.matches_nothing {
            return Ok(Vec::new());
        }
        let limit = query.limit(page);
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments a JOIN users d ON d.id = a.doctor_id \
             JOIN users p ON p.id = a.patient_id {LATEST_PAYMENT_JOIN} {} ORDER BY a.start_at {order}, a.id {order} LIMIT {limit}",
            query.where_sql()
        );
        rows_to(self.query_built(&sql, &query)?, appointment_from_row)
    }

    fn busy_slots(&mut self, doctor: &UserId, window: Interval) -> StoreResult<Vec<BusySlot>> {
        if has_nul(doctor.as_str()) {
            return Ok(Vec::new());
        }
        // Appointments are at most a day long, so bounding start_at from below keeps
        // this an index range scan over the window instead of the doctor's history.
        let lookback = ms(window.start) - 24 * 3_600_000;
        let rows = self.query(
            "SELECT id, start_at, end_at FROM appointments WHERE doctor_id = $1 AND start_at >= $2 \
             AND start_at < $3 AND end_at > $4 AND status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in') \
             ORDER BY start_at",
            &[&doctor.as_str(), &lookback, &ms(window.end), &ms(window.start)],
        )?;
        rows.iter()
            .map(|row| {
                Ok(BusySlot {
                    appointment_id: AppointmentId::new(get::<String>(row, 0)?),
                    slot: Interval::new(ts(get(row, 1)?)?, ts(get(row, 2)?)?)
                        .ok_or_else(|| bad("empty slot"))?,
                })
            })
            .collect()
    }

    fn begin_availability_change(&mut self, doctor: &UserId) -> StoreResult<Option<i64>> {
        if has_nul(doctor.as_str()) {
            return Ok(None);
        }
        self.touch(doctor)
    }

    fn availability_version(&mut self, doctor: &UserId) -> StoreResult<Option<i64>> {
        if has_nul(doctor.as_str()) {
            return Ok(None);
        }
        self.query_opt(
            "SELECT availability_version FROM doctors WHERE user_id = $1",
            &[&doctor.as_str()],
        )?
        .map(|row| get(&row, 0))
        .transpose()
    }

    fn have_met(&mut self, doctor: &UserId, patient: &UserId) -> StoreResult<bool> {
        if has_nul(doctor.as_str()) || has_nul(patient.as_str()) {
            return Ok(false);
        }
        get(
            &self.query_one(
                "SELECT EXISTS (SELECT 1 FROM appointments WHERE doctor_id = $1 AND patient_id = $2)",
                &[&doctor.as_str(), &patient.as_str()],
            )?,
            0,
        )
    }

    fn append_appointment_event(&mut self, e: &AppointmentEvent) -> StoreResult<()> {
        self.execute(
            "INSERT INTO appointment_events (appointment_id, seq, at, actor_id, action, from_status, to_status, \
             from_start, to_start, reason) VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM appointment_events \
             WHERE appointment_id = $1), $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &e.appointment_id.as_str(),
                &ms(e.at),
                &e.actor_id.as_ref().map(UserId::as_str),
                &e.action,
                &e.from_status.map(AppointmentStatus::as_str),
                &e.to_status.as_str(),
                &e.from_start.map(ms),
                &e.to_start.map(ms),
                &e.reason,
            ],
        )?;
        Ok(())
    }

    fn appointment_events(&mut self, id: &AppointmentId) -> StoreResult<Vec<AppointmentEvent>> {
        if has_nul(id.as_str()) {
            return Ok(Vec::new());
        }
        rows_to(
            self.query(
                "SELECT appointment_id, seq, at, actor_id, action, from_status, to_status, from_start, to_start, \
                 reason FROM appointment_events WHERE appointment_id = $1 ORDER BY seq",
                &[&id.as_str()],
            )?,
            event_from_row,
        )
    }

    fn append_audit(&mut self, entry: &NewAuditEntry) -> StoreResult<()> {
        self.execute(
            "INSERT INTO audit_log (at, actor_id, action, subject_type, subject_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &ms(entry.at),
                &entry.actor_id.as_ref().map(|id| storable(id.as_str())),
                &storable(&entry.action),
                &storable(&entry.subject_type),
                &entry.subject_id.as_deref().map(storable),
                &entry.detail.to_string(),
            ],
        )?;
        Ok(())
    }

    fn list_audit(
        &mut self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut query = Query::default();
        if let Some(actor) = &filter.actor_id {
            let p = query.bind(storable(actor.as_str()).into_owned());
            query.clause(format!("actor_id = {p}"));
        }
        if let Some(subject) = &filter.subject_id {
            let p = query.bind(storable(subject).into_owned());
            query.clause(format!("subject_id = {p}"));
        }
        if let Some(action) = &filter.action {
            let p = query.bind(storable(action).into_owned());
            query.clause(format!("action = {p}"));
        }
        if let Some(from) = filter.from {
            let p = query.bind(ms(from));
            query.clause(format!("at >= {p}"));
        }
        if let Some(to) = filter.to {
            let p = query.bind(ms(to));
            query.clause(format!("at < {p}"));
        }
        if let Some(cursor) = &page.after {
            let id: i64 = cursor.id.parse().map_err(|_| bad("cursor"))?;
            let p = query.bind(id);
            query.clause(format!("id < {p}"));
        }
        if query.matches_nothing {
            return Ok(Vec::new());
        }
        let limit = query.limit(page);
        let sql = format!(
            "SELECT id, at, actor_id, action, subject_type, subject_id, detail FROM audit_log {} \
             ORDER BY id DESC LIMIT {limit}",
            query.where_sql()
        );
        rows_to(self.query_built(&sql, &query)?, audit_from_row)
    }

    fn schema_is_current(&mut self) -> StoreResult<bool> {
        schema_is_current_on(&mut *self.tx)
    }

    fn export_rows(
        &mut self,
        table: &Table,
        after: Option<&[Cell]>,
        limit: u32,
    ) -> StoreResult<Vec<Vec<Cell>>> {
        let table = known_table(table)?;
        let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        let mut filter = String::new();
        if let Some(key) = after {
            table.check_key(key).map_err(internal)?;
            let marks = placeholders(table, 0, key.len());
            filter = format!("WHERE ({}) > ({marks})", table.key_list());
            for ((_, kind), cell) in table.columns.iter().zip(key) {
                params.push(pg_value(table, *kind, cell)?);
            }
        }
        params.push(Box::new(i64::from(limit)));
        let sql = format!(
            "SELECT {} FROM {} {filter} ORDER BY {} LIMIT ${}",
            table.column_list(),
            table.name,
            table.key_list(),
            params.len()
        );
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
        let rows = self.query(&sql, &params)?;
        rows.iter()
            .map(|row| {
                table
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(index, (_, kind))| {
                        Ok(match kind {
                            Kind::Text => get::<Option<String>>(row, index)?.map(Cell::Text),
                            Kind::Integer => get::<Option<i64>>(row, index)?.map(Cell::Integer),
                            Kind::Bool => get::<Option<bool>>(row, index)?.map(Cell::Bool),
                        }
                        .unwrap_or(Cell::Null))
                    })
                    .collect()
            })
            .collect()
    }

    fn import_rows(&mut self, table: &Table, rows: &[Vec<Cell>]) -> StoreResult<()> {
        let table = known_table(table)?;
        let width = table.columns.len();
        for chunk in rows.chunks((MAX_PARAMETERS / width).max(1)) {
            let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(chunk.len() * width);
            let mut tuples = Vec::with_capacity(chunk.len());
            for row in chunk {
                table.check_row(row).map_err(internal)?;
                tuples.push(format!("({})", placeholders(table, params.len(), width)));
                for ((_, kind), cell) in table.columns.iter().zip(row) {
                    params.push(pg_value(table, *kind, cell)?);
                }
            }
            let sql = format!(
                "INSERT INTO {} ({}) VALUES {}",
                table.name,
                table.column_list(),
                tuples.join(", ")
            );
            let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as _).collect();
            // Not cached: a statement per page size would crowd out the app's own.
            self.tx.execute(sql.as_str(), &params).map_err(pg_error)?;
        }
        if table.name == "appointments" {
            let ids: Vec<&str> = rows
                .iter()
                .filter_map(|row| match row.first() {
                    Some(Cell::Text(id)) => Some(id.as_str()),
                    _ => None,
                })
                .collect();
            self.claim_imported(&ids)?;
        }
        self.changes.everything();
        Ok(())
    }

    fn count_rows(&mut self, table: &Table) -> StoreResult<i64> {
        let table = known_table(table)?;
        get(
            &self.query_one(&format!("SELECT COUNT(*) FROM {}", table.name), &[])?,
            0,
        )
    }

    fn delete_all_rows(&mut self, table: &Table) -> StoreResult<()> {
        let table = known_table(table)?;
        if table.name == "appointments" {
            self.tx
                .batch_execute("DELETE FROM doctor_claims; DELETE FROM patient_claims")
                .map_err(pg_error)?;
        }
        self.tx
            .batch_execute(&format!("DELETE FROM {}", table.name))
            .map_err(pg_error)?;
        self.changes.everything();
        Ok(())
    }

    fn finish_import(&mut self) -> StoreResult<()> {
        for table in TABLES.iter().filter(|t| t.generated_id) {
            let id = table.columns[0].0;
            // `false`: the next id handed out is MAX(id) + 1 (1 when empty).
            self.tx
                .batch_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{name}', '{id}'), \
                     COALESCE((SELECT MAX({id}) FROM {name}), 0) + 1, false)",
                    name = table.name
                ))
                .map_err(pg_error)?;
        }
        Ok(())
    }

    fn database_identity(&mut self) -> StoreResult<String> {
        // The server instance (its start time) and the database's OID within it:
        // the same whichever host name, address or port the URL used to get there.
        let row = self.query_one(
            "SELECT pg_postmaster_start_time()::TEXT, d.oid::BIGINT, current_database()::TEXT \
             FROM pg_database d WHERE d.datname = current_database()",
            &[],
        )?;
        let started: String = get(&row, 0)?;
        let oid: i64 = get(&row, 1)?;
        let name: String = get(&row, 2)?;
        Ok(format!("postgres:{started}:{oid}:{name}"))
    }
}

/// PostgreSQL takes at most 65535 parameters per statement.
const MAX_PARAMETERS: usize = 65_535;

fn known_table(table: &Table) -> StoreResult<&'static Table> {
    tables::known(table).map_err(|e| internal(format!("{e}: {}", table.name)))
}

/// `$first+1::TYPE, ...` for `count` columns of `table` from its first, each cast to
/// its column's type (so a NULL parameter has one too).
fn placeholders(table: &Table, first: usize, count: usize) -> String {
    table.columns[..count]
        .iter()
        .enumerate()
        .map(|(index, (_, kind))| {
            let sql_type = match kind {
                Kind::Text => "TEXT",
                Kind::Integer => "BIGINT",
                Kind::Bool => "BOOLEAN",
            };
            format!("${}::{sql_type}", first + index + 1)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A cell of a column of `kind` as a parameter (a NULL typed as the column is). Text
/// holding NUL is refused with a message that names the table (PostgreSQL's TEXT
/// cannot store it; the value itself is not repeated).
fn pg_value(table: &Table, kind: Kind, cell: &Cell) -> StoreResult<Box<dyn ToSql + Sync>> {
    Ok(match cell {
        Cell::Null => match kind {
            Kind::Text => Box::new(None::<String>),
            Kind::Integer => Box::new(None::<i64>),
            Kind::Bool => Box::new(None::<bool>),
        },
        Cell::Integer(value) => Box::new(*value),
        Cell::Bool(value) => Box::new(*value),
        Cell::Text(value) if has_nul(value) => {
            return Err(internal(format!(
                "a value of {} holds a NUL character, which PostgreSQL cannot store",
                table.name
            )));
        }
        Cell::Text(value) => Box::new(value.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_ranges_cover_the_slot_in_five_minute_steps() {
        let start = Timestamp::from_second(1_800_000_000).unwrap();
        let slot = Interval::new(start, start + jiff::SignedDuration::from_mins(20)).unwrap();
        let (first, last) = unit_range(slot);
        assert_eq!(first, ms(start));
        assert_eq!(last - first, 15 * 60_000);
        // A slot that does not end on the grid still claims the unit it ends in.
        let odd = Interval::new(start, start + jiff::SignedDuration::from_mins(21)).unwrap();
        assert_eq!(unit_range(odd).1 - first, 20 * 60_000);
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("events"), "\"events\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn postgres_urls_are_recognised() {
        assert!(is_postgres_url("postgres://u@h/db"));
        assert!(is_postgres_url("postgresql://u@h/db"));
        assert!(!is_postgres_url("sqlite://x.db"));
    }
}
