//! The SQLite store: one writer thread that commits queued writes in groups, and a
//! small pool of read-only connections for snapshot reads (WAL mode).
//!
//! Group commit: the writer takes every write that is queued, runs each inside its
//! own SAVEPOINT (so one request's conflict rolls back only that request) and commits
//! once; a syncer thread then flushes the WAL to disk and only then answers each
//! request. Every answered write is on disk, many writes share one flush, and the
//! writer runs the next group while the disk takes the last one (`run_syncer`).

mod attachments;
mod chat;
mod clinical;
mod notifications;
mod oidc;
mod payments;
mod photos;
mod prescriptions;
mod security;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use rusqlite::types::{Value, ValueRef};
use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Row, params, params_from_iter,
};

use super::tables::{self, Cell, Kind, TABLES, Table};
use super::*;
use carebook_domain::policy::AppointmentScope;
use carebook_domain::schedule::{BookingRules, WeeklyInterval};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_core.sql")),
    (
        2,
        include_str!("../../migrations/sqlite/0002_notifications.sql"),
    ),
    (
        3,
        include_str!("../../migrations/sqlite/0003_availability.sql"),
    ),
    (
        4,
        include_str!("../../migrations/sqlite/0004_account_security.sql"),
    ),
    (5, include_str!("../../migrations/sqlite/0005_records.sql")),
    (
        6,
        include_str!("../../migrations/sqlite/0006_prescriptions.sql"),
    ),
    (7, include_str!("../../migrations/sqlite/0007_chat.sql")),
    (
        8,
        include_str!("../../migrations/sqlite/0008_attachments.sql"),
    ),
    (
        9,
        include_str!("../../migrations/sqlite/0009_message_attachments.sql"),
    ),
    (
        10,
        include_str!("../../migrations/sqlite/0010_user_photos.sql"),
    ),
    (
        11,
        include_str!("../../migrations/sqlite/0011_video_visits.sql"),
    ),
    (12, include_str!("../../migrations/sqlite/0012_oidc.sql")),
    (
        13,
        include_str!("../../migrations/sqlite/0013_payments.sql"),
    ),
    (
        14,
        include_str!("../../migrations/sqlite/0014_reminder_plan.sql"),
    ),
    (
        15,
        include_str!("../../migrations/sqlite/0015_claims_by_key.sql"),
    ),
    (
        16,
        include_str!("../../migrations/sqlite/0016_overlap_triggers.sql"),
    ),
    (
        17,
        include_str!("../../migrations/sqlite/0017_checks_by_comparison.sql"),
    ),
    (
        18,
        include_str!("../../migrations/sqlite/0018_live_events_in_arrival_order.sql"),
    ),
    (
        19,
        include_str!("../../migrations/sqlite/0019_notifications_one_index_per_user.sql"),
    ),
    (
        20,
        include_str!("../../migrations/sqlite/0020_appointments_without_statement_journal.sql"),
    ),
    (
        21,
        include_str!("../../migrations/sqlite/0021_logs_without_foreign_keys.sql"),
    ),
    (
        22,
        include_str!("../../migrations/sqlite/0022_live_stream_keyed_in_batches.sql"),
    ),
];
const MAX_GROUP: usize = 256;
/// Reads that run at once, each on a blocking thread with a connection of its own.
/// More would not be faster on a few cores, and each would cost a connection (its
/// page cache and prepared statements, opened cold) and a thread with its own
/// allocator arena: unbounded, 64 concurrent clients meant 64 of each.
const MAX_READERS: usize = 8;

/// One request's write: `run` does the work and says whether to keep it; `finish`
/// answers the request once the group's commit is known.
struct WriteJob {
    run: Work,
    finish: Finish,
}

/// Answers one request with its group's outcome.
type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

/// A request's work; it returns `true` to keep what it wrote, `false` to undo it.
enum Work {
    /// Runs once, inside a savepoint of its own.
    Once(OnceWork),
    /// May run again from the start, with the same outcome on the same data: runs
    /// without a savepoint (see `run_group`).
    Repeatable(RepeatableWork),
}

type OnceWork = Box<dyn FnOnce(&mut dyn Tx) -> bool + Send>;
type RepeatableWork = Box<dyn FnMut(&mut dyn Tx) -> bool + Send>;

pub struct SqliteStore {
    writer: Mutex<mpsc::Sender<WriteJob>>,
    /// Asks the checkpointer for a whole checkpoint; dropped with the store, which
    /// stops the checkpointer.
    checkpointer: Mutex<mpsc::Sender<FoldRequest>>,
    readers: Arc<ReaderPool>,
    observers: Arc<Observers>,
}

struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// One permit per reader that may run: a read waits (asynchronously) for one
    /// before it takes a blocking thread and a connection.
    permits: Arc<tokio::sync::Semaphore>,
}

/// Accepts `sqlite://PATH`, `sqlite:PATH` and a bare path.
pub fn path_from_url(url: &str) -> Result<PathBuf, StoreError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty()
        || path.contains(":memory:")
        || url.contains("://") && !url.starts_with("sqlite://")
    {
        return Err(StoreError::Internal(format!(
            "unsupported database URL (expected sqlite://PATH): {url}"
        )));
    }
    Ok(PathBuf::from(path))
}

fn internal(error: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(error.to_string())
}

impl From<rusqlite::Error> for StoreError {
    /// A full disk, a read-only file or file system, or an I/O failure is the
    /// operator's to fix and a retry may succeed once they have: `Unavailable`
    /// (503 for requests). Anything else is a bug: `Internal`.
    fn from(error: rusqlite::Error) -> Self {
        let (code, extended) = match &error {
            rusqlite::Error::SqliteFailure(e, _) => (Some(e.code), e.extended_code),
            _ => (None, 0),
        };
        // Plain SQLITE_READONLY is a write tried on one of the read-only reader
        // connections: a bug. A file that cannot be written fails the open (see
        // `open_and_migrate`), or later as an I/O error or an extended READONLY code.
        let plain_readonly = extended == rusqlite::ffi::SQLITE_READONLY;
        match code {
            Some(ErrorCode::ReadOnly) if plain_readonly => internal(error),
            Some(ErrorCode::DiskFull) => StoreError::Unavailable(format!(
                "the disk of the SQLite database is full; free space (nothing was written): {error}"
            )),
            Some(ErrorCode::ReadOnly) => StoreError::Unavailable(format!(
                "the SQLite database is read-only (its file, its folder or its file system): {error}"
            )),
            Some(ErrorCode::SystemIoFailure | ErrorCode::CannotOpen) => {
                StoreError::Unavailable(format!(
                    "the SQLite database file cannot be read or written (is it read-only or \
                     immutable, or is its disk failing?): {error}"
                ))
            }
            _ => internal(error),
        }
    }
}

fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::ConstraintViolation)
}

fn on_unique(conflict: Conflict) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |error| {
        if is_unique_violation(&error) {
            StoreError::Conflict(conflict)
        } else {
            error.into()
        }
    }
}

const STATEMENT_CACHE: usize = 256;
/// Pages the writer keeps in memory (negative: KiB): the pages every booking touches
/// (the newest rows and the top of each index) stay cached between group commits.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// How long a connection waits for a lock another holds before it gives up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // A booking alone runs a few dozen distinct statements; the default cache (16)
    // would prepare most of them again every time.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Query planner stability: without it, binding a value that a partial index or a
    // LIMIT could plan differently for makes SQLite prepare the statement again on
    // every execution (a tenth of the writer's time in the booking benchmark).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // temp_store: each request's SAVEPOINT keeps the pages it changes in a
    // sub-journal; in a temporary file that is one write system call per page and
    // request, the largest cost of a group commit.
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY;",
    )?;
    Ok(())
}

/// Opens (creating it if needed) the database file in WAL mode and brings its schema
/// up to date.
fn open_and_migrate(path: &Path) -> Result<Connection, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(internal)?;
    }
    let conn = Connection::open(path)?;
    // SQLite quietly opens a file it may not write read-only; carebook cannot work
    // so, so say it at the start rather than on the first booking.
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(StoreError::Unavailable(format!(
            "{} is read-only (the file, its folder or its file system); carebook must be able to write it",
            path.display()
        )));
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    configure(&conn)?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    // Checkpoints run on a thread of their own (see `start_checkpointer`), not inside
    // a group commit where every waiting request would wait for them too; the writer
    // only makes the WAL start over (`WalRestarts`). A WAL that grew is cut back once
    // it starts over.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
    migrate(&conn)?;
    Ok(conn)
}

/// Applies the pending migrations of the database file at `path`.
/// Writes a consistent snapshot of the database at `source` to the new file `out`
/// (`VACUUM INTO`), safe while carebook runs and writes, then checks the copy's
/// integrity.
pub fn backup(source: &Path, out: &Path) -> Result<(), StoreError> {
    if !source.is_file() {
        return Err(internal(format!("{} does not exist", source.display())));
    }
    if out.exists() {
        return Err(internal(format!(
            "{} already exists; choose a new file",
            out.display()
        )));
    }
    let conn = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let target = out
        .to_str()
        .ok_or_else(|| internal("the backup path is not valid UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [target])?;
    let copy = Connection::open_with_flags(out, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = copy.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if verdict != "ok" {
        return Err(internal(format!(
            "the backup failed its integrity check: {verdict}"
        )));
    }
    Ok(())
}

pub fn migrate_file(path: &Path) -> Result<(), StoreError> {
    open_and_migrate(path).map(drop)
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let mut wal = WalFile::of(path);
        SqliteStore::open_with_sync(path, move || wal.sync())
    }

    /// Opens the store with `sync` as what makes a committed group durable.
    fn open_with_sync(
        path: &Path,
        sync: impl FnMut() -> std::io::Result<()> + Send + 'static,
    ) -> Result<SqliteStore, StoreError> {
        let conn = open_and_migrate(path)?;
        let live_keys = chat::LiveKeys::start(&conn)?;
        // Commits leave the WAL unflushed; the syncer flushes it before anyone is
        // answered. Checkpoints still flush the WAL before they copy it and the
        // database after.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let progress = WalProgress::restarting_at(RESTART_WAL_AT_FRAMES);
        let checkpointer = start_checkpointer(path, progress.clone())?;
        let syncer = start_syncer(sync)?;

        let (sender, receiver) = mpsc::channel::<WriteJob>();
        let observers = Arc::new(Observers::default());
        let observing = observers.clone();
        // Linux keeps the first 15 bytes of a thread's name, which is all that `top
        // -H`, `perf` and carebook-load's report have to tell the store's threads
        // apart: each name fits.
        thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                run_writer(conn, receiver, &syncer, &observing, progress, live_keys);
            })
            .map_err(internal)?;
        Ok(SqliteStore {
            checkpointer: Mutex::new(checkpointer),
            observers,
            writer: Mutex::new(sender),
            readers: Arc::new(ReaderPool {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            }),
        })
    }

    /// Copies every commit in the WAL into the database file and empties the WAL
    /// (`wal_checkpoint(TRUNCATE)`), waiting up to the busy timeout for reads and
    /// writes in flight. Nothing relies on it for durability; it leaves the file
    /// whole, so that copying `carebook.db` alone after carebook stopped copies
    /// everything, and the next start has no log to read through again.
    ///
    /// The checkpointer thread does it, between its own passes: a second connection
    /// checkpointing beside it would find the checkpoint lock taken and give up.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let (reply, replied) = tokio::sync::oneshot::channel();
        self.checkpointer
            .lock()
            .map_err(|_| internal("the checkpointer's channel is poisoned"))?
            .send(reply)
            .map_err(|_| internal("the checkpointer has stopped"))?;
        replied
            .await
            .map_err(|_| internal("the checkpointer has stopped"))?
    }

    /// `observer` is called on the writer thread after each group commit, with
    /// what the group changed, before any of its requests is answered.
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
        let outcome = Outcome::new();
        let ran = outcome.clone();
        let run = Work::Once(Box::new(move |tx: &mut dyn Tx| ran.keep(work(tx))));
        self.submit(run, outcome).await
    }

    /// As [`SqliteStore::write`], for work that can run again from the start: it runs
    /// without a savepoint of its own, which spares copying every page it changes.
    pub async fn write_repeatable<R, E>(
        &self,
        work: impl Fn(&mut dyn Tx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let outcome = Outcome::new();
        let ran = outcome.clone();
        let run = Work::Repeatable(Box::new(move |tx: &mut dyn Tx| ran.keep(work(tx))));
        self.submit(run, outcome).await
    }

    async fn submit<R, E>(&self, run: Work, outcome: Outcome<R, E>) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel::<Result<R, E>>();
        let job = WriteJob {
            run,
            finish: Box::new(move |commit| {
                let answer_with = match (outcome.take(), commit) {
                    (Some(Ok(value)), Ok(())) => Ok(value),
                    (Some(Err(error)), _) => Err(error),
                    (_, Err(error)) => Err(E::from(error)),
                    (None, Ok(())) => Err(E::from(internal("the write failed unexpectedly"))),
                };
                let _ = answer.send(answer_with);
            }),
        };
        let sent = self
            .writer
            .lock()
            .map_err(internal)
            .and_then(|sender| sender.send(job).map_err(internal));
        sent.map_err(E::from)?;
        answered
            .await
            .unwrap_or_else(|_| Err(E::from(internal("the write was abandoned"))))
    }

    pub async fn read<R, E>(
        &self,
        work: impl FnOnce(&mut dyn Tx) -> Result<R, E> + Send + 'static,
    ) -> Result<R, E>
    where
        R: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.readers.clone();
        let permit = pool
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| E::from(internal("the store is closed")))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take().map_err(E::from)?;
            conn.execute_batch("BEGIN").map_err(|e| E::from(e.into()))?;
            let result = work(&mut SqliteTx::new(&conn));
            let ended = conn.execute_batch("COMMIT");
            if ended.is_ok() {
                pool.give_back(conn);
            }
            result
        })
        .await
        .unwrap_or_else(|_| Err(E::from(internal("a read failed unexpectedly"))))
    }
}

impl ReaderPool {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().map_err(internal)?.pop() {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        configure(&conn)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_READERS
        {
            idle.push(conn);
        }
    }
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    migrate_with(conn, MIGRATIONS)
}

fn migrate_with(conn: &Connection, migrations: &[(i64, &str)]) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )?;
    for (version, sql) in migrations {
        let applied: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |row| row.get(0),
        )?;
        if applied {
            continue;
        }
        // A migration that rebuilds a table (SQLite cannot alter a CHECK) runs with
        // foreign keys off, as SQLite's own procedure asks: the pragma is a no-op
        // inside a transaction, so it is set around it, and the keys are checked
        // before the commit instead.
        let keys_off = sql.starts_with(FOREIGN_KEYS_OFF);
        if keys_off {
            conn.execute_batch("PRAGMA foreign_keys = OFF")?;
        }
        let applied = apply_migration(conn, *version, sql, keys_off);
        if let Err(e) = applied {
            let _ = conn.execute_batch("ROLLBACK");
            if keys_off {
                let _ = conn.execute_batch("PRAGMA foreign_keys = ON");
            }
            return Err(internal(format!("migration {version} failed: {e}")));
        }
        if keys_off {
            conn.execute_batch("PRAGMA foreign_keys = ON")?;
        }
    }
    Ok(())
}

fn apply_migration(
    conn: &Connection,
    version: i64,
    sql: &str,
    keys_off: bool,
) -> Result<(), String> {
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE; {sql}; INSERT INTO schema_migrations (version, applied_at) VALUES ({version}, {now});",
        now = Timestamp::now().as_millisecond()
    ))
    .map_err(|e| e.to_string())?;
    if keys_off {
        let broken: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
                row.get(0)
            })
            .map_err(|e| e.to_string())?;
        if broken > 0 {
            return Err(format!("{broken} rows would break a foreign key"));
        }
    }
    conn.execute_batch("COMMIT").map_err(|e| e.to_string())
}

/// The first line of a migration that must run with foreign keys off.
const FOREIGN_KEYS_OFF: &str = "-- carebook:foreign-keys-off";

/// WAL frames (pages) after which the writer makes the WAL start over (256 MiB).
/// Each restart stalls every booking for the writer's last copy and its two
/// flushes (12-45 ms whatever is left to copy), so the mark sets how many requests
/// a stall reaches: at 16,384 frames it was 1.6 stalls a second in the booking
/// benchmark and the p99 was theirs (74-77 ms); at 65,536, 46-51 ms
/// (docs/BENCHMARKS.md, session 20). The price is disk: the WAL's high-water mark.
const RESTART_WAL_AT_FRAMES: i32 = 65_536;
/// How long the writer waits for readers of older snapshots before it restarts the WAL.
const WAIT_FOR_READERS: Duration = Duration::from_millis(3);
/// How long the writer leaves the WAL alone when readers kept it from copying all.
const RESTART_RETRY_AFTER: Duration = Duration::from_millis(100);
/// How many times `restart_at` frames the WAL may hold before the writer copies
/// whatever is left itself, however much that is: it keeps the WAL bounded.
const WRITER_COPIES_ALL_AT_MARKS: i32 = 4;
/// What a WAL file is cut back to when it starts over: the most it reaches under a
/// steady load (`WRITER_COPIES_ALL_AT_MARKS` times `RESTART_WAL_AT_FRAMES` frames of
/// a 4 KiB page and its header), so that it is cut only after a reader held it back.
/// Cutting it at every restart cost the first commit after it a truncate of
/// 20-100 MiB, and every write after it the file system's allocation of new blocks.
const WAL_SIZE_LIMIT_BYTES: i64 =
    (WRITER_COPIES_ALL_AT_MARKS * RESTART_WAL_AT_FRAMES) as i64 * (4096 + 24) + (1 << 20);
/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// How soon the checkpointer goes again while commits keep coming.
const CHECKPOINT_AGAIN: Duration = Duration::from_millis(20);
/// How soon the checkpointer goes again while the WAL waits to start over.
const CHECKPOINT_SOON: Duration = Duration::from_millis(1);
/// The most frames the writer copies itself to make the WAL start over (4 MiB),
/// unless the WAL has grown past `RESTART_WAL_AT_FRAMES` several times over.
const MOST_LEFT_FOR_WRITER: i64 = 1_024;

/// A request for a whole checkpoint (`SqliteStore::checkpoint`), answered once done.
type FoldRequest = tokio::sync::oneshot::Sender<Result<(), StoreError>>;

/// Starts the thread that checkpoints the WAL of `path` while the store is open
/// (`PASSIVE`: it never blocks the writer or readers; making the WAL start over is
/// the writer's, see `WalRestarts`), and folds the whole WAL into the file when
/// asked. It ends when the returned sender is dropped, i.e. with the store.
fn start_checkpointer(
    path: &Path,
    progress: Arc<WalProgress>,
) -> Result<mpsc::Sender<FoldRequest>, StoreError> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    let (requests, received) = mpsc::channel::<FoldRequest>();
    thread::Builder::new()
        .name("sqlite-checkpt".into())
        .spawn(move || {
            let mut wait = CHECKPOINT_EVERY;
            let mut last: Option<Checkpoint> = None;
            loop {
                match received.recv_timeout(wait) {
                    Ok(reply) => {
                        let _ = reply.send(fold_wal(&conn));
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                }
                let pass = checkpoint(&conn, "PASSIVE");
                if let Err(error) = &pass {
                    tracing::warn!(error = %error, "WAL checkpoint failed; will retry");
                }
                let pass = pass.ok();
                if let Some(Checkpoint {
                    busy: false,
                    copied,
                    ..
                }) = pass
                {
                    progress.copied.store(copied, Ordering::Relaxed);
                }
                wait = next_checkpoint_after(last.as_ref(), pass.as_ref(), progress.is_due());
                last = pass;
            }
        })
        .map_err(internal)?;
    Ok(requests)
}

/// Copies every frame into the database file, waiting up to the busy timeout for the
/// writer and for readers of older snapshots, and empties the WAL.
fn fold_wal(conn: &Connection) -> Result<(), StoreError> {
    match checkpoint(conn, "TRUNCATE")? {
        Checkpoint { busy: false, .. } => Ok(()),
        Checkpoint { busy: true, .. } => Err(StoreError::Busy),
    }
}

fn run_writer(
    mut conn: Connection,
    jobs: mpsc::Receiver<WriteJob>,
    syncer: &mpsc::Sender<Vec<Finish>>,
    observers: &Observers,
    progress: Arc<WalProgress>,
    mut live_keys: chat::LiveKeys,
) {
    let mut restarts = WalRestarts::watch(&mut conn, progress);
    loop {
        // Idle, the writer still keys the live stream's last events now and then.
        let first = match jobs.recv_timeout(IDLE_WRITER_WAKES_EVERY) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                // Nobody waits: the whole batch at once.
                while live_keys.after_commit(&conn) {
                    restarts.after_commit(&conn);
                }
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Some(committed) = commit_group(&conn, group, observers)
            && let Err(mpsc::SendError(finishes)) = syncer.send(committed)
        {
            for finish in finishes {
                finish(Err(internal("the store is closing")));
            }
        }
        restarts.after_commit(&conn);
        if live_keys.after_commit(&conn) {
            restarts.after_commit(&conn);
        }
    }
    live_keys.finish(&conn);
}

/// How long an idle writer sleeps before it looks for live-stream keys to write.
const IDLE_WRITER_WAKES_EVERY: Duration = Duration::from_secs(1);

/// Starts the thread that makes committed groups durable and then answers them.
///
/// With `synchronous=FULL` the writer flushed the WAL inside every commit and sat
/// idle while the disk worked (a fifth of its time in the booking benchmark). Now
/// it hands each committed group here and goes on with the next; one flush covers
/// every group committed before it began, so groups that queue up meanwhile share
/// it. Nobody is answered before the flush that follows their commit, so every 2xx
/// is on disk as before. Readers may see a commit a moment before it is on disk:
/// after a power cut (not a process crash, which the operating system's cache
/// outlives) a reader might have seen a change that no writer was told succeeded.
fn start_syncer(
    sync: impl FnMut() -> std::io::Result<()> + Send + 'static,
) -> Result<mpsc::Sender<Vec<Finish>>, StoreError> {
    let (sender, committed) = mpsc::channel::<Vec<Finish>>();
    thread::Builder::new()
        .name("sqlite-wal-sync".into())
        .spawn(move || run_syncer(&committed, sync))
        .map_err(internal)?;
    Ok(sender)
}

fn run_syncer(
    committed: &mpsc::Receiver<Vec<Finish>>,
    mut sync: impl FnMut() -> std::io::Result<()>,
) {
    while let Ok(mut waiting) = committed.recv() {
        while let Ok(more) = committed.try_recv() {
            waiting.extend(more);
        }
        if let Err(error) = sync() {
            // The commit is visible but may never reach the disk, and after a failed
            // flush the operating system may have dropped the pages it could not
            // write: carrying on could answer later requests over lost ones. Stop,
            // as PostgreSQL does; on restart SQLite recovers what is on disk.
            tracing::error!(error = %error, "flushing the SQLite WAL failed; stopping");
            std::process::abort();
        }
        for finish in waiting {
            finish(Ok(()));
        }
    }
}

/// The WAL file of a database, opened on first use. It is never replaced while the
/// store is open: SQLite deletes a WAL only when its last connection closes, and the
/// writer's stays open; when the WAL starts over it is the same file, cut back.
struct WalFile {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl WalFile {
    fn of(database: &Path) -> WalFile {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        WalFile {
            path: path.into(),
            file: None,
        }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(std::fs::File::open(&self.path)?),
        };
        file.sync_data()
    }
}

/// What the writer and the checkpointer tell each other about the WAL.
struct WalProgress {
    /// WAL frames (pages) after which the WAL should start over.
    restart_at: i32,
    /// Frames in the WAL after the writer's last commit.
    frames: AtomicI32,
    /// Frames of the WAL the checkpointer's last pass found copied back.
    copied: AtomicI64,
}

impl WalProgress {
    fn restarting_at(frames: i32) -> Arc<WalProgress> {
        Arc::new(WalProgress {
            restart_at: frames,
            frames: AtomicI32::new(0),
            copied: AtomicI64::new(0),
        })
    }

    /// Whether the WAL is due to start over (and waits for the checkpointer).
    fn is_due(&self) -> bool {
        self.frames.load(Ordering::Relaxed) >= self.restart_at
    }
}

/// Keeps the WAL from growing without end under a steady stream of commits.
///
/// The checkpointer copies frames back into the database (`PASSIVE`), but the WAL
/// only starts over at a commit whose transaction *began* with every frame already
/// copied; under load the writer begins the next group the moment the last one
/// committed, so that never happened by itself and the WAL grew by gigabytes in the
/// booking benchmark. So once the WAL holds `RESTART_WAL_AT_FRAMES`, the writer,
/// between two groups, copies what the checkpointer has not yet (`PASSIVE`). The
/// next group then begins on a fully copied WAL and writes from the start of the
/// file again.
///
/// Every booking waits while the writer copies, so it leaves the bulk to the
/// checkpointer, which goes again and again once the WAL is due to start over; the
/// writer steps in only when at most `MOST_LEFT_FOR_WRITER` frames are left (it
/// used to copy thousands, 30-70 ms in the booking benchmark). It waits at most
/// `WAIT_FOR_READERS` for readers of an older snapshot, and never for the
/// checkpointer's pass, as `RESTART` mode would make it, and every booking with it.
struct WalRestarts {
    progress: Arc<WalProgress>,
    not_before: Instant,
}

impl WalRestarts {
    fn watch(conn: &mut Connection, progress: Arc<WalProgress>) -> WalRestarts {
        let seen = progress.clone();
        let hooked = conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, in_wal| {
            seen.frames.store(in_wal, Ordering::Relaxed);
            Ok(())
        }));
        if let Err(error) = hooked {
            tracing::error!(error = %error, "cannot watch the WAL's size; it will not be restarted");
        }
        WalRestarts {
            progress,
            not_before: Instant::now(),
        }
    }

    fn after_commit(&mut self, conn: &Connection) {
        let progress = &self.progress;
        let frames = progress.frames.load(Ordering::Relaxed);
        if frames < progress.restart_at || Instant::now() < self.not_before {
            return;
        }
        let left = i64::from(frames) - progress.copied.load(Ordering::Relaxed);
        if left > MOST_LEFT_FOR_WRITER
            && frames
                < progress
                    .restart_at
                    .saturating_mul(WRITER_COPIES_ALL_AT_MARKS)
        {
            return;
        }
        let copied_all = match checkpoint(conn, "PASSIVE") {
            // The checkpointer holds the checkpoint lock: after the next commit.
            Ok(Checkpoint { busy: true, .. }) => return,
            Ok(pass) if pass.copied >= pass.in_wal => true,
            // A reader still reads a snapshot older than the last commit; readers are
            // quick, so wait a moment for them, but no longer: it may be a backup.
            Ok(_) => {
                let waited = conn
                    .busy_timeout(WAIT_FOR_READERS)
                    .and_then(|()| checkpoint(conn, "FULL"));
                let _ = conn.busy_timeout(BUSY_TIMEOUT);
                waited.is_ok_and(|pass| !pass.busy && pass.copied >= pass.in_wal)
            }
            Err(error) => {
                tracing::warn!(error = %error, "WAL checkpoint failed; will retry");
                false
            }
        };
        if !copied_all {
            self.not_before = Instant::now() + RESTART_RETRY_AFTER;
        }
    }
}

/// When the checkpointer goes next, after `pass` (and `last` before it). While
/// commits keep coming it goes again soon, so that the writer, when it makes the
/// WAL start over (`WalRestarts`), has only the last moments left to copy itself:
/// waiting the idle interval after a pass that caught up left the writer copying
/// most of the WAL (a sixth of its time in the booking benchmark). Once the WAL is
/// due to start over it goes again at once, so that the writer finds little left.
fn next_checkpoint_after(
    last: Option<&Checkpoint>,
    pass: Option<&Checkpoint>,
    wal_is_due: bool,
) -> Duration {
    match (last, pass) {
        // A failed pass is logged; do not fill the log.
        (_, None) => CHECKPOINT_EVERY,
        _ if wal_is_due => CHECKPOINT_SOON,
        (_, Some(pass)) if pass.busy || pass.copied < pass.in_wal => CHECKPOINT_AGAIN,
        (Some(last), Some(pass)) if last.in_wal == pass.in_wal => CHECKPOINT_EVERY,
        (None, Some(pass)) if pass.in_wal == 0 => CHECKPOINT_EVERY,
        _ => CHECKPOINT_AGAIN,
    }
}

/// What `PRAGMA wal_checkpoint` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checkpoint {
    busy: bool,
    in_wal: i64,
    copied: i64,
}

fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<Checkpoint> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok(Checkpoint {
            busy: row.get::<_, i64>(0)? != 0,
            in_wal: row.get(1)?,
            copied: row.get(2)?,
        })
    })
}

/// What a request's work returned, kept for its answer; a run again replaces it.
struct Outcome<R, E>(Arc<Mutex<Option<Result<R, E>>>>);

impl<R, E> Outcome<R, E> {
    fn new() -> Self {
        Outcome(Arc::new(Mutex::new(None)))
    }

    /// Keeps `result` for the answer and says whether to keep what the work wrote.
    fn keep(&self, result: Result<R, E>) -> bool {
        let keep = result.is_ok();
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
        keep
    }

    fn take(&self) -> Option<Result<R, E>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl<R, E> Clone for Outcome<R, E> {
    fn clone(&self) -> Self {
        Outcome(self.0.clone())
    }
}

/// Runs and commits one group; answers its requests itself when the group failed,
/// else returns their answers for the syncer to give once the commit is on disk.
fn commit_group(
    conn: &Connection,
    group: Vec<WriteJob>,
    observers: &Observers,
) -> Option<Vec<Finish>> {
    let (runs, finishes): (Vec<Work>, Vec<Finish>) =
        group.into_iter().map(|job| (job.run, job.finish)).unzip();
    let committed = conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(StoreError::from)
        .and_then(|()| run_group(conn, runs))
        .and_then(|changes| {
            conn.execute_batch("COMMIT")
                .map_err(StoreError::from)
                .map(|()| changes)
        });
    match committed {
        Ok(changes) => {
            observers.committed(&changes);
            Some(finishes)
        }
        Err(error) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            tracing::error!("group commit failed");
            for finish in finishes {
                finish(Err(error.clone()));
            }
            None
        }
    }
}

/// Runs a group's work inside its open transaction; returns what the kept work
/// changed.
///
/// Repeatable work goes first, without savepoints: a savepoint copies aside every
/// page its request changes (a tenth of the writer's time when booking), and most
/// requests either succeed or refuse before they write. One that fails after
/// writing can only be undone with the whole transaction: then the work kept so
/// far runs again from the start, and the rest of the group runs as once-only work
/// does, each inside a savepoint of its own. Either way one request's failure
/// undoes only that request. Running the group out of order is fine: its requests
/// came at the same time.
fn run_group(conn: &Connection, runs: Vec<Work>) -> Result<CommittedChanges, StoreError> {
    let mut repeatable = Vec::new();
    let mut once = Vec::new();
    for run in runs {
        match run {
            Work::Repeatable(run) => repeatable.push(run),
            Work::Once(run) => once.push(run),
        }
    }
    let mut changes = CommittedChanges::default();
    let mut kept = Vec::with_capacity(repeatable.len());
    let mut left = repeatable.into_iter();
    while let Some(mut run) = left.next() {
        // SQLite counts the rows each statement changed, and nothing for one that
        // failed (it undoes its own partial writes): unchanged, nothing to undo.
        let before = conn.total_changes();
        let (keep, wrote) = run_work(conn, |tx| run(tx));
        still_in_transaction(conn)?;
        if keep {
            changes.extend(wrote);
            kept.push(run);
        } else if conn.total_changes() != before {
            conn.execute_batch("ROLLBACK")?;
            conn.execute_batch("BEGIN IMMEDIATE")?;
            changes = CommittedChanges::default();
            for mut run in kept.drain(..).chain(left.by_ref()) {
                changes.extend(run_guarded(conn, |tx| run(tx))?);
            }
        }
    }
    for run in once {
        changes.extend(run_guarded(conn, run)?);
    }
    Ok(changes)
}

/// Runs `work` inside a savepoint, rolled back unless the work is kept.
fn run_guarded(
    conn: &Connection,
    work: impl FnOnce(&mut dyn Tx) -> bool,
) -> Result<CommittedChanges, StoreError> {
    let began = conn
        .prepare_cached("SAVEPOINT request")
        .and_then(|mut s| s.execute([]));
    if began.is_err() {
        // Never run: its request is answered that the write failed.
        still_in_transaction(conn)?;
        return Ok(CommittedChanges::default());
    }
    let (keep, wrote) = run_work(conn, work);
    if !keep {
        let _ = conn.execute_batch("ROLLBACK TO request");
    }
    let _ = conn
        .prepare_cached("RELEASE request")
        .and_then(|mut s| s.execute([]));
    still_in_transaction(conn)?;
    Ok(wrote)
}

/// Runs `work`; says whether to keep it and, if so, what it changed. A panic
/// counts as a failure.
fn run_work(conn: &Connection, work: impl FnOnce(&mut dyn Tx) -> bool) -> (bool, CommittedChanges) {
    let mut tx = SqliteTx::new(conn);
    let keep = catch_unwind(AssertUnwindSafe(|| work(&mut tx))).unwrap_or_else(|_| {
        tracing::error!("a write panicked; its changes were rolled back");
        false
    });
    let wrote = if keep {
        tx.changes.take()
    } else {
        CommittedChanges::default()
    };
    (keep, wrote)
}

/// A full disk or an I/O error can make SQLite roll back the whole transaction,
/// not only the failing statement: then the earlier requests' writes are gone too,
/// and a later SAVEPOINT would start a transaction of its own. The whole group
/// fails instead.
fn still_in_transaction(conn: &Connection) -> Result<(), StoreError> {
    if conn.is_autocommit() {
        return Err(StoreError::Unavailable(
            "SQLite rolled the transaction back after an error (disk full or I/O); nothing of this group was written".into(),
        ));
    }
    Ok(())
}

struct SqliteTx<'c> {
    conn: &'c Connection,
    changes: ChangeLog,
}

impl<'c> SqliteTx<'c> {
    fn new(conn: &'c Connection) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            changes: ChangeLog::default(),
        }
    }
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn ts(value: i64) -> rusqlite::Result<Timestamp> {
    Timestamp::from_millisecond(value).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
    })
}

fn conversion(error: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
}

#[derive(Debug, thiserror::Error)]
#[error("unexpected value in the database: {0}")]
struct BadValue(String);

fn bad(value: impl Into<String>) -> rusqlite::Error {
    conversion(BadValue(value.into()))
}

/// SQLite reads a LIKE pattern up to its first NUL (so `a\0b` would match like
/// `a`); no stored name holds one, so a search for it matches nothing, as on
/// PostgreSQL.
fn matches_nothing(q: Option<&String>) -> bool {
    q.is_some_and(|q| q.contains('\0'))
}

fn like_pattern(q: &str) -> String {
    let escaped = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

const USER_COLUMNS: &str =
    "id, email, name, phone, date_of_birth, role, status, password_hash, created_at, updated_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    let role: String = row.get(5)?;
    let status: String = row.get(6)?;
    let date_of_birth: Option<String> = row.get(4)?;
    Ok(UserRecord {
        id: UserId::new(row.get::<_, String>(0)?),
        email: row.get(1)?,
        name: row.get(2)?,
        phone: row.get(3)?,
        date_of_birth: date_of_birth
            .map(|d| d.parse::<Date>().map_err(conversion))
            .transpose()?,
        role: Role::parse(&role).ok_or_else(|| bad(role))?,
        status: UserStatus::parse(&status).ok_or_else(|| bad(status))?,
        password_hash: row.get(7)?,
        created_at: ts(row.get(8)?)?,
        updated_at: ts(row.get(9)?)?,
    })
}

const APPOINTMENT_COLUMNS: &str = "a.id, a.doctor_id, a.patient_id, a.start_at, a.end_at, a.status, a.reason, \
     a.status_reason, a.created_by, a.created_at, a.updated_at, d.name, p.name, a.mode, a.video_room, \
     pay.id, pay.status, pay.method, pay.amount_minor, pay.currency, pay.checkout_url, pay.hold_until";

/// The appointment's latest payment, if any (columns 15-21 of [`APPOINTMENT_COLUMNS`]).
const LATEST_PAYMENT_JOIN: &str = "LEFT JOIN payments pay ON pay.id = (SELECT lp.id FROM payments lp \
     WHERE lp.appointment_id = a.id ORDER BY lp.created_at DESC, lp.id DESC LIMIT 1)";

fn appointment_from_row(row: &Row<'_>) -> rusqlite::Result<AppointmentView> {
    let status: String = row.get(5)?;
    Ok(AppointmentView {
        record: AppointmentRecord {
            id: AppointmentId::new(row.get::<_, String>(0)?),
            doctor_id: UserId::new(row.get::<_, String>(1)?),
            patient_id: UserId::new(row.get::<_, String>(2)?),
            slot: Interval::new(ts(row.get(3)?)?, ts(row.get(4)?)?)
                .ok_or_else(|| bad("empty slot"))?,
            status: AppointmentStatus::parse(&status).ok_or_else(|| bad(status))?,
            reason: row.get(6)?,
            status_reason: row.get(7)?,
            created_by: UserId::new(row.get::<_, String>(8)?),
            created_at: ts(row.get(9)?)?,
            updated_at: ts(row.get(10)?)?,
            mode: visit_mode(row.get(13)?)?,
            video_room: row.get(14)?,
        },
        doctor_name: row.get(11)?,
        patient_name: row.get(12)?,
        payment: payment_brief_from_row(row, 15)?,
    })
}

/// The latest payment's columns from `first` on, all NULL when there is none.
fn payment_brief_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Option<PaymentBrief>> {
    let Some(id) = row.get::<_, Option<String>>(first)? else {
        return Ok(None);
    };
    let status: String = row.get(first + 1)?;
    let method: String = row.get(first + 2)?;
    Ok(Some(PaymentBrief {
        id: PaymentId::new(id),
        status: PaymentStatus::parse(&status).ok_or_else(|| bad(status))?,
        method: PaymentMethod::parse(&method).ok_or_else(|| bad(method))?,
        amount_minor: row.get(first + 3)?,
        currency: row.get(first + 4)?,
        checkout_url: row.get(first + 5)?,
        hold_until: row.get::<_, Option<i64>>(first + 6)?.map(ts).transpose()?,
    }))
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

fn time_of_minute(minutes: i64) -> rusqlite::Result<Time> {
    let minutes = minutes % (24 * 60);
    Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0).map_err(conversion)
}

/// What the triggers of migration 16 say when they refuse a row: the database's
/// own guard against double booking on SQLite.
const OVERLAPS: [(&str, Conflict); 2] = [
    ("carebook:doctor-slot-taken", Conflict::DoctorSlotTaken),
    ("carebook:patient-busy", Conflict::PatientBusy),
];

/// A write of an appointment that its doctor's or its patient's live appointments
/// refuse is that conflict; anything else is as [`StoreError::from`] says.
fn on_overlap(error: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(e, Some(message)) = &error
        && e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_TRIGGER
        && let Some((_, conflict)) = OVERLAPS.iter().find(|(said, _)| said == message)
    {
        return StoreError::Conflict(*conflict);
    }
    error.into()
}

/// Appends `(key, id) > (?, ?)` (or `<` when descending) for keyset pagination.
fn push_cursor(
    clauses: &mut Vec<String>,
    values: &mut Vec<Value>,
    columns: (&str, &str),
    cursor: Option<&Cursor>,
    descending: bool,
    integer_key: bool,
) -> rusqlite::Result<()> {
    if let Some(cursor) = cursor {
        let op = if descending { "<" } else { ">" };
        clauses.push(format!("({}, {}) {op} (?, ?)", columns.0, columns.1));
        if integer_key {
            values.push(Value::Integer(
                cursor.key.parse().map_err(|_| bad("cursor"))?,
            ));
        } else {
            values.push(Value::Text(cursor.key.clone()));
        }
        values.push(Value::Text(cursor.id.clone()));
    }
    Ok(())
}

fn where_sql(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    }
}

/// A booking's row. `OR FAIL`, as the triggers' `RAISE(FAIL)`: every check runs
/// before the one row is written, so a refusal leaves nothing to undo, and SQLite
/// keeps no statement journal for it (migration 20).
const INSERT_APPOINTMENT: &str = "INSERT OR FAIL INTO appointments (id, doctor_id, patient_id, \
     start_at, end_at, status, reason, status_reason, created_by, created_at, updated_at, mode, \
     video_room) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
/// An appointment moved or changed status; `OR FAIL` as [`INSERT_APPOINTMENT`].
const UPDATE_APPOINTMENT: &str = "UPDATE OR FAIL appointments SET start_at = ?2, end_at = ?3, \
     status = ?4, reason = ?5, status_reason = ?6, updated_at = ?7, mode = ?8, video_room = ?9 \
     WHERE id = ?1";

/// What makes every instance drop what it holds of a doctor's availability.
const BUMP_AVAILABILITY_VERSION: &str =
    "UPDATE doctors SET availability_version = availability_version + 1 WHERE user_id = ?1";

fn availability_version(conn: &Connection, doctor: &UserId) -> StoreResult<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT availability_version FROM doctors WHERE user_id = ?1")?
        .query_row([doctor.as_str()], |row| row.get(0))
        .optional()?)
}

impl SqliteTx<'_> {
    /// Bumps `doctor`'s availability version once in this transaction.
    fn touch(&mut self, doctor: &UserId) -> StoreResult<Option<i64>> {
        let conn = self.conn;
        // Two statements rather than one with RETURNING: SQLite keeps RETURNING's rows
        // in a temporary B-tree that it creates and frees on every run, which costs
        // more than reading back the row just written (migration 17 has the story).
        changes::begin_change(&mut self.changes, doctor, || {
            let touched = conn
                .prepare_cached(BUMP_AVAILABILITY_VERSION)?
                .execute([doctor.as_str()])?;
            if touched == 0 {
                return Ok(None);
            }
            availability_version(conn, doctor)
        })
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

    fn doctor_details(&self, doctor: &mut DoctorRecord) -> StoreResult<()> {
        let mut hours = self.conn.prepare_cached(
            "SELECT day, start_minute, end_minute FROM doctor_weekly_hours WHERE doctor_id = ?1 ORDER BY day, start_minute",
        )?;
        let rows = hours.query_map([doctor.user_id.as_str()], |row| {
            let day: i64 = row.get(0)?;
            let day = Weekday::from_monday_one_offset(day as i8).map_err(conversion)?;
            Ok(WeeklyInterval {
                day,
                start: time_of_minute(row.get(1)?)?,
                end: time_of_minute(row.get(2)?)?,
            })
        })?;
        doctor.schedule.weekly_hours = rows.collect::<Result<_, _>>()?;
        let mut specialties = self
            .conn
            .prepare_cached("SELECT specialty_id FROM doctor_specialties WHERE doctor_id = ?1 ORDER BY specialty_id")?;
        doctor.specialty_ids = specialties
            .query_map([doctor.user_id.as_str()], |row| {
                Ok(SpecialtyId::new(row.get::<_, String>(0)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(())
    }
}

/// The SQL and values of a doctor search selecting `columns`, by name then id;
/// `None` when it can match nothing.
fn doctor_search(
    filter: &DoctorFilter,
    page: &PageRequest,
    columns: &str,
) -> StoreResult<Option<(String, Vec<Value>)>> {
    if matches_nothing(filter.q.as_ref()) {
        return Ok(None);
    }
    let mut clauses = vec!["u.role = 'doctor'".to_owned()];
    let mut values = Vec::new();
    if filter.only_active {
        clauses.push("u.status = 'active'".to_owned());
    }
    if let Some(q) = &filter.q {
        clauses.push("u.name LIKE ? ESCAPE '\\'".to_owned());
        values.push(Value::Text(like_pattern(q)));
    }
    // A specialty's few doctors are found through its index, not by testing every
    // doctor of the clinic in name order: without statistics SQLite prefers the
    // name order (no sort), so CROSS JOIN fixes the order (18x faster for one of
    // 40 specialties among 1,000 doctors).
    let mut from = "doctors d JOIN users u ON u.id = d.user_id";
    if let Some(specialty) = &filter.specialty_id {
        from = "doctor_specialties s CROSS JOIN doctors d ON d.user_id = s.doctor_id \
                CROSS JOIN users u ON u.id = d.user_id";
        clauses.push("s.specialty_id = ?".to_owned());
        values.push(Value::Text(specialty.as_str().to_owned()));
    }
    push_cursor(
        &mut clauses,
        &mut values,
        ("u.name", "u.id"),
        page.after.as_ref(),
        false,
        false,
    )?;
    values.push(Value::Integer(i64::from(page.limit)));
    let sql = format!(
        "SELECT {columns} FROM {from} {} ORDER BY u.name, u.id LIMIT ?",
        where_sql(&clauses)
    );
    Ok(Some((sql, values)))
}

const DOCTOR_COLUMNS: &str = "d.user_id, u.name, u.status, d.bio, d.qualifications, d.years_experience, d.languages, \
     d.fee_amount, d.fee_currency, d.time_zone, d.slot_minutes, d.min_notice_minutes, d.horizon_days, \
     d.auto_confirm, d.cancel_window_hours, d.visit_modes, d.payment_mode";

fn visit_mode(value: String) -> rusqlite::Result<VisitMode> {
    VisitMode::parse(&value).ok_or_else(|| bad(value))
}

fn visit_modes(value: &str) -> rusqlite::Result<Vec<VisitMode>> {
    serde_json::from_str(value).map_err(conversion)
}

fn doctor_from_row(row: &Row<'_>) -> rusqlite::Result<DoctorRecord> {
    let status: String = row.get(2)?;
    let languages: String = row.get(6)?;
    let fee_amount: Option<i64> = row.get(7)?;
    let fee_currency: Option<String> = row.get(8)?;
    let zone: String = row.get(9)?;
    Ok(DoctorRecord {
        user_id: UserId::new(row.get::<_, String>(0)?),
        name: row.get(1)?,
        status: UserStatus::parse(&status).ok_or_else(|| bad(status))?,
        bio: row.get(3)?,
        qualifications: row.get(4)?,
        years_experience: row.get(5)?,
        languages: serde_json::from_str(&languages).map_err(conversion)?,
        fee: fee_amount
            .zip(fee_currency)
            .map(|(amount, currency)| Fee { amount, currency }),
        schedule: Schedule {
            time_zone: TimeZone::get(&zone).map_err(conversion)?,
            slot_minutes: row.get(10)?,
            weekly_hours: Vec::new(),
            rules: BookingRules {
                min_notice_minutes: row.get(11)?,
                horizon_days: row.get(12)?,
                auto_confirm: row.get(13)?,
                cancel_window_hours: row.get(14)?,
            },
        },
        specialty_ids: Vec::new(),
        visit_modes: visit_modes(&row.get::<_, String>(15)?)?,
        payment_mode: PaymentMode::parse(&row.get::<_, String>(16)?)
            .ok_or_else(|| bad("doctors.payment_mode"))?,
    })
}

fn time_off_from_row(row: &Row<'_>) -> rusqlite::Result<TimeOffRecord> {
    Ok(TimeOffRecord {
        id: TimeOffId::new(row.get::<_, String>(0)?),
        doctor_id: UserId::new(row.get::<_, String>(1)?),
        period: Interval::new(ts(row.get(2)?)?, ts(row.get(3)?)?)
            .ok_or_else(|| bad("empty time off"))?,
        reason: row.get(4)?,
        created_at: ts(row.get(5)?)?,
    })
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<AppointmentEvent> {
    let status = |value: Option<String>| -> rusqlite::Result<Option<AppointmentStatus>> {
        value
            .map(|s| AppointmentStatus::parse(&s).ok_or_else(|| bad(s)))
            .transpose()
    };
    Ok(AppointmentEvent {
        appointment_id: AppointmentId::new(row.get::<_, String>(0)?),
        seq: row.get(1)?,
        at: ts(row.get(2)?)?,
        actor_id: row.get::<_, Option<String>>(3)?.map(UserId::new),
        action: row.get(4)?,
        from_status: status(row.get(5)?)?,
        to_status: status(Some(row.get(6)?))?.ok_or_else(|| bad("status"))?,
        from_start: row.get::<_, Option<i64>>(7)?.map(ts).transpose()?,
        to_start: row.get::<_, Option<i64>>(8)?.map(ts).transpose()?,
        reason: row.get(9)?,
    })
}

impl Tx for SqliteTx<'_> {
    fn insert_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ))?
            .execute(params![
                user.id.as_str(),
                user.email,
                user.name,
                user.phone,
                user.date_of_birth.map(|d| d.to_string()),
                user.role.as_str(),
                user.status.as_str(),
                user.password_hash,
                ms(user.created_at),
                ms(user.updated_at),
            ])
            .map_err(on_unique(Conflict::EmailTaken))?;
        Ok(())
    }

    fn update_user(&mut self, user: &UserRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE users SET email = ?2, name = ?3, phone = ?4, date_of_birth = ?5, role = ?6, status = ?7, \
                 password_hash = ?8, updated_at = ?9 WHERE id = ?1",
            )?
            .execute(params![
                user.id.as_str(),
                user.email,
                user.name,
                user.phone,
                user.date_of_birth.map(|d| d.to_string()),
                user.role.as_str(),
                user.status.as_str(),
                user.password_hash,
                ms(user.updated_at),
            ])
            .map_err(on_unique(Conflict::EmailTaken))?;
        // Also when the account was a doctor's and its role just changed.
        self.doctor_changed(&user.id)
    }

    fn find_user(&mut self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"))?
            .query_row([id.as_str()], user_from_row)
            .optional()?)
    }

    fn find_user_by_email(&mut self, email: &str) -> StoreResult<Option<UserRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE email = ?1"
            ))?
            .query_row([email], user_from_row)
            .optional()?)
    }

    fn list_users(
        &mut self,
        filter: &UserFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<UserRecord>> {
        if matches_nothing(filter.q.as_ref()) {
            return Ok(Vec::new());
        }
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if let Some(q) = &filter.q {
            clauses.push("(name LIKE ? ESCAPE '\\' OR email LIKE ? ESCAPE '\\')".to_owned());
            values.push(Value::Text(like_pattern(q)));
            values.push(Value::Text(like_pattern(q)));
        }
        if let Some(role) = filter.role {
            clauses.push("role = ?".to_owned());
            values.push(Value::Text(role.as_str().to_owned()));
        }
        if let Some(status) = filter.status {
            clauses.push("status = ?".to_owned());
            values.push(Value::Text(status.as_str().to_owned()));
        }
        push_cursor(
            &mut clauses,
            &mut values,
            ("name", "id"),
            page.after.as_ref(),
            false,
            false,
        )?;
        values.push(Value::Integer(i64::from(page.limit)));
        let sql = format!(
            "SELECT {USER_COLUMNS} FROM users {} ORDER BY name, id LIMIT ?",
            where_sql(&clauses)
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), user_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count_users(&mut self) -> StoreResult<i64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?)
    }

    fn insert_session(&mut self, session: &SessionRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                session.token_hash,
                session.user_id.as_str(),
                session.csrf_token,
                ms(session.created_at),
                ms(session.expires_at),
            ])?;
        Ok(())
    }

    fn find_session(&mut self, token_hash: &str) -> StoreResult<Option<SessionRecord>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT token_hash, user_id, csrf_token, created_at, expires_at FROM sessions WHERE token_hash = ?1",
            )?
            .query_row([token_hash], |row| {
                Ok(SessionRecord {
                    token_hash: row.get(0)?,
                    user_id: UserId::new(row.get::<_, String>(1)?),
                    csrf_token: row.get(2)?,
                    created_at: ts(row.get(3)?)?,
                    expires_at: ts(row.get(4)?)?,
                })
            })
            .optional()?)
    }

    fn delete_session(&mut self, token_hash: &str) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
            .execute([token_hash])?;
        Ok(())
    }

    fn delete_sessions_of(&mut self, user: &UserId) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM sessions WHERE user_id = ?1")?
            .execute([user.as_str()])?;
        Ok(())
    }

    fn delete_expired_sessions(&mut self, now: Timestamp) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
            .execute([ms(now)])?;
        Ok(())
    }

    fn record_login_attempt(&mut self, attempt: &LoginAttempt) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO login_attempts (email, client, at, succeeded) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                attempt.email,
                attempt.client,
                ms(attempt.at),
                attempt.succeeded
            ])?;
        Ok(())
    }

    fn count_failed_logins(&mut self, key: LoginKey<'_>, since: Timestamp) -> StoreResult<i64> {
        let (sql, value) = match key {
            LoginKey::Email(email) => (
                "SELECT COUNT(*) FROM login_attempts WHERE email = ?1 AND at >= ?2 AND succeeded = 0",
                email,
            ),
            LoginKey::Client(client) => (
                "SELECT COUNT(*) FROM login_attempts WHERE client = ?1 AND at >= ?2 AND succeeded = 0",
                client,
            ),
        };
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(params![value, ms(since)], |row| row.get(0))?)
    }

    fn last_login_success(&mut self, email: &str) -> StoreResult<Option<Timestamp>> {
        let at: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT MAX(at) FROM login_attempts WHERE email = ?1 AND succeeded = 1",
            )?
            .query_row([email], |row| row.get(0))?;
        Ok(at.map(ts).transpose()?)
    }

    fn insert_specialty(&mut self, specialty: &Specialty) -> StoreResult<()> {
        self.conn
            .prepare_cached("INSERT INTO specialties (id, name, slug) VALUES (?1, ?2, ?3)")?
            .execute(params![
                specialty.id.as_str(),
                specialty.name,
                specialty.slug
            ])
            .map_err(on_unique(Conflict::SpecialtyExists))?;
        Ok(())
    }

    fn list_specialties(&mut self) -> StoreResult<Vec<Specialty>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT id, name, slug FROM specialties ORDER BY name")?;
        let rows = statement.query_map([], |row| {
            Ok(Specialty {
                id: SpecialtyId::new(row.get::<_, String>(0)?),
                name: row.get(1)?,
                slug: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn find_specialty(&mut self, id_or_slug: &str) -> StoreResult<Option<Specialty>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name, slug FROM specialties WHERE id = ?1 OR slug = ?1")?
            .query_row([id_or_slug], |row| {
                Ok(Specialty {
                    id: SpecialtyId::new(row.get::<_, String>(0)?),
                    name: row.get(1)?,
                    slug: row.get(2)?,
                })
            })
            .optional()?)
    }

    fn upsert_doctor(&mut self, doctor: &DoctorRecord) -> StoreResult<()> {
        let schedule = &doctor.schedule;
        let zone = schedule.time_zone.iana_name().unwrap_or("UTC");
        self.conn
            .prepare_cached(
                "INSERT INTO doctors (user_id, bio, qualifications, years_experience, languages, fee_amount, \
                 fee_currency, time_zone, slot_minutes, min_notice_minutes, horizon_days, auto_confirm, \
                 cancel_window_hours, visit_modes, payment_mode) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
                 ON CONFLICT (user_id) DO UPDATE SET bio = excluded.bio, qualifications = excluded.qualifications, \
                 years_experience = excluded.years_experience, languages = excluded.languages, \
                 fee_amount = excluded.fee_amount, fee_currency = excluded.fee_currency, \
                 time_zone = excluded.time_zone, slot_minutes = excluded.slot_minutes, \
                 min_notice_minutes = excluded.min_notice_minutes, horizon_days = excluded.horizon_days, \
                 auto_confirm = excluded.auto_confirm, cancel_window_hours = excluded.cancel_window_hours, \
                 visit_modes = excluded.visit_modes, payment_mode = excluded.payment_mode",
            )?
            .execute(params![
                doctor.user_id.as_str(),
                doctor.bio,
                doctor.qualifications,
                doctor.years_experience,
                serde_json::to_string(&doctor.languages).map_err(internal)?,
                doctor.fee.as_ref().map(|f| f.amount),
                doctor.fee.as_ref().map(|f| f.currency.as_str()),
                zone,
                schedule.slot_minutes,
                schedule.rules.min_notice_minutes,
                schedule.rules.horizon_days,
                schedule.rules.auto_confirm,
                schedule.rules.cancel_window_hours,
                serde_json::to_string(&doctor.visit_modes).map_err(internal)?,
                doctor.payment_mode.as_str(),
            ])?;
        let id = doctor.user_id.as_str();
        self.conn
            .prepare_cached("DELETE FROM doctor_weekly_hours WHERE doctor_id = ?1")?
            .execute([id])?;
        let mut insert_hours = self.conn.prepare_cached(
            "INSERT INTO doctor_weekly_hours (doctor_id, day, start_minute, end_minute) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for interval in &schedule.weekly_hours {
            insert_hours.execute(params![
                id,
                weekday_number(interval.day),
                minute_of_day(interval.start, false),
                minute_of_day(interval.end, true),
            ])?;
        }
        self.conn
            .prepare_cached("DELETE FROM doctor_specialties WHERE doctor_id = ?1")?
            .execute([id])?;
        let mut insert_specialty = self.conn.prepare_cached(
            "INSERT OR IGNORE INTO doctor_specialties (doctor_id, specialty_id) VALUES (?1, ?2)",
        )?;
        for specialty in &doctor.specialty_ids {
            insert_specialty.execute(params![id, specialty.as_str()])?;
        }
        self.doctor_changed(&doctor.user_id)?;
        Ok(())
    }

    fn find_doctor(&mut self, id: &UserId) -> StoreResult<Option<DoctorRecord>> {
        let found = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DOCTOR_COLUMNS} FROM doctors d JOIN users u ON u.id = d.user_id WHERE d.user_id = ?1 AND u.role = 'doctor'"
            ))?
            .query_row([id.as_str()], doctor_from_row)
            .optional()?;
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
        let Some((sql, values)) = doctor_search(filter, page, DOCTOR_COLUMNS)? else {
            return Ok(Vec::new());
        };
        let mut doctors: Vec<DoctorRecord> = {
            let mut statement = self.conn.prepare_cached(&sql)?;
            let rows = statement.query_map(params_from_iter(values), doctor_from_row)?;
            rows.collect::<Result<_, _>>()?
        };
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
        let Some((sql, values)) = doctor_search(filter, page, "d.user_id, u.name")? else {
            return Ok(Vec::new());
        };
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok((UserId::new(row.get::<_, String>(0)?), row.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn list_doctor_directory(&mut self) -> StoreResult<Vec<ListedDoctor>> {
        let mut statement = self.conn.prepare_cached(DOCTOR_DIRECTORY)?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        ListedDoctor::fold(rows)
    }

    fn insert_time_off(&mut self, time_off: &TimeOffRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO time_off (id, doctor_id, start_at, end_at, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                time_off.id.as_str(),
                time_off.doctor_id.as_str(),
                ms(time_off.period.start),
                ms(time_off.period.end),
                time_off.reason,
                ms(time_off.created_at),
            ])?;
        self.doctor_changed(&time_off.doctor_id)?;
        Ok(())
    }

    fn delete_time_off(&mut self, doctor: &UserId, id: &TimeOffId) -> StoreResult<bool> {
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM time_off WHERE id = ?1 AND doctor_id = ?2")?
            .execute([id.as_str(), doctor.as_str()])?;
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
        let mut statement = self.conn.prepare_cached(
            "SELECT id, doctor_id, start_at, end_at, reason, created_at FROM time_off \
             WHERE doctor_id = ?1 AND start_at < ?3 AND end_at > ?2 ORDER BY start_at, id",
        )?;
        let rows = statement.query_map(
            params![doctor.as_str(), ms(window.start), ms(window.end)],
            time_off_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_appointment(&mut self, a: &AppointmentRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(INSERT_APPOINTMENT)?
            .execute(params![
                a.id.as_str(),
                a.doctor_id.as_str(),
                a.patient_id.as_str(),
                ms(a.slot.start),
                ms(a.slot.end),
                a.status.as_str(),
                a.reason,
                a.status_reason,
                a.created_by.as_str(),
                ms(a.created_at),
                ms(a.updated_at),
                a.mode.as_str(),
                a.video_room,
            ])
            .map_err(on_overlap)?;
        self.touch(&a.doctor_id)?;
        self.changes.appointment(a);
        Ok(())
    }

    fn update_appointment(&mut self, a: &AppointmentRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(UPDATE_APPOINTMENT)?
            .execute(params![
                a.id.as_str(),
                ms(a.slot.start),
                ms(a.slot.end),
                a.status.as_str(),
                a.reason,
                a.status_reason,
                ms(a.updated_at),
                a.mode.as_str(),
                a.video_room,
            ])
            .map_err(on_overlap)?;
        self.touch(&a.doctor_id)?;
        self.changes.appointment(a);
        Ok(())
    }

    fn find_appointment(&mut self, id: &AppointmentId) -> StoreResult<Option<AppointmentView>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {APPOINTMENT_COLUMNS} FROM appointments a JOIN users d ON d.id = a.doctor_id \
                 JOIN users p ON p.id = a.patient_id {LATEST_PAYMENT_JOIN} WHERE a.id = ?1"
            ))?
            .query_row([id.as_str()], appointment_from_row)
            .optional()?)
    }

    fn list_appointments(
        &mut self,
        filter: &AppointmentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<AppointmentView>> {
        if matches_nothing(filter.q.as_ref()) {
            return Ok(Vec::new());
        }
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        match &filter.scope {
            AppointmentScope::All => {}
            AppointmentScope::AsPatient(id) => {
                clauses.push("a.patient_id = ?".to_owned());
                values.push(Value::Text(id.as_str().to_owned()));
            }
            AppointmentScope::AsDoctor(id) => {
                clauses.push("a.doctor_id = ?".to_owned());
                values.push(Value::Text(id.as_str().to_owned()));
            }
        }
        if !filter.statuses.is_empty() {
            let marks = vec!["?"; filter.statuses.len()].join(", ");
            clauses.push(format!("a.status IN ({marks})"));
            values.extend(
                filter
                    .statuses
                    .iter()
                    .map(|s| Value::Text(s.as_str().to_owned())),
            );
        }
        if let Some(from) = filter.from {
            clauses.push("a.start_at >= ?".to_owned());
            values.push(Value::Integer(ms(from)));
        }
        if let Some(to) = filter.to {
            clauses.push("a.start_at < ?".to_owned());
            values.push(Value::Integer(ms(to)));
        }
        if let Some(doctor) = &filter.doctor_id {
            clauses.push("a.doctor_id = ?".to_owned());
            values.push(Value::Text(doctor.as_str().to_owned()));
        }
        if let Some(patient) = &filter.patient_id {
            clauses.push("a.patient_id = ?".to_owned());
            values.push(Value::Text(patient.as_str().to_owned()));
        }
        if let Some(q) = &filter.q {
            clauses.push("(d.name LIKE ? ESCAPE '\\' OR p.name LIKE ? ESCAPE '\\')".to_owned());
            values.push(Value::Text(like_pattern(q)));
            values.push(Value::Text(like_pattern(q)));
        }
        push_cursor(
            &mut clauses,
            &mut values,
            ("a.start_at", "a.id"),
            page.after.as_ref(),
            filter.newest_first,
            true,
        )?;
        values.push(Value::Integer(i64::from(page.limit)));
        let order = if filter.newest_first { "DESC" } else { "ASC" };
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments a JOIN users d ON d.id = a.doctor_id \
             JOIN users p ON p.id = a.patient_id {LATEST_PAYMENT_JOIN} {} ORDER BY a.start_at {order}, a.id {order} LIMIT ?",
            where_sql(&clauses)
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), appointment_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn busy_slots(&mut self, doctor: &UserId, window: Interval) -> StoreResult<Vec<BusySlot>> {
        // Appointments are at most a day long, so bounding start_at from below keeps
        // this an index range scan over the window instead of the doctor's history.
        let mut statement = self.conn.prepare_cached(
            "SELECT id, start_at, end_at FROM appointments WHERE doctor_id = ?1 AND start_at >= ?2 \
             AND start_at < ?3 AND end_at > ?4 AND status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in') \
             ORDER BY start_at",
        )?;
        let lookback = ms(window.start) - 24 * 3_600_000;
        let rows = statement.query_map(
            params![doctor.as_str(), lookback, ms(window.end), ms(window.start)],
            |row| {
                Ok(BusySlot {
                    appointment_id: AppointmentId::new(row.get::<_, String>(0)?),
                    slot: Interval::new(ts(row.get(1)?)?, ts(row.get(2)?)?)
                        .ok_or_else(|| bad("empty slot"))?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn begin_availability_change(&mut self, doctor: &UserId) -> StoreResult<Option<i64>> {
        self.touch(doctor)
    }

    fn availability_version(&mut self, doctor: &UserId) -> StoreResult<Option<i64>> {
        availability_version(self.conn, doctor)
    }

    fn have_met(&mut self, doctor: &UserId, patient: &UserId) -> StoreResult<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM appointments WHERE doctor_id = ?1 AND patient_id = ?2)")?
            .query_row([doctor.as_str(), patient.as_str()], |row| row.get(0))?)
    }

    fn append_appointment_event(&mut self, e: &AppointmentEvent) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO appointment_events (appointment_id, seq, at, actor_id, action, from_status, to_status, \
                 from_start, to_start, reason) VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM appointment_events \
                 WHERE appointment_id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                e.appointment_id.as_str(),
                ms(e.at),
                e.actor_id.as_ref().map(UserId::as_str),
                e.action,
                e.from_status.map(AppointmentStatus::as_str),
                e.to_status.as_str(),
                e.from_start.map(ms),
                e.to_start.map(ms),
                e.reason,
            ])?;
        Ok(())
    }

    fn appointment_events(&mut self, id: &AppointmentId) -> StoreResult<Vec<AppointmentEvent>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT appointment_id, seq, at, actor_id, action, from_status, to_status, from_start, to_start, reason \
             FROM appointment_events WHERE appointment_id = ?1 ORDER BY seq",
        )?;
        let rows = statement.query_map([id.as_str()], event_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn append_audit(&mut self, entry: &NewAuditEntry) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO audit_log (at, actor_id, action, subject_type, subject_id, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                ms(entry.at),
                entry.actor_id.as_ref().map(UserId::as_str),
                entry.action,
                entry.subject_type,
                entry.subject_id,
                entry.detail.to_string(),
            ])?;
        Ok(())
    }

    fn list_audit(
        &mut self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<AuditEntry>> {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if let Some(actor) = &filter.actor_id {
            clauses.push("actor_id = ?".to_owned());
            values.push(Value::Text(actor.as_str().to_owned()));
        }
        if let Some(subject) = &filter.subject_id {
            clauses.push("subject_id = ?".to_owned());
            values.push(Value::Text(subject.clone()));
        }
        if let Some(action) = &filter.action {
            clauses.push("action = ?".to_owned());
            values.push(Value::Text(action.clone()));
        }
        if let Some(from) = filter.from {
            clauses.push("at >= ?".to_owned());
            values.push(Value::Integer(ms(from)));
        }
        if let Some(to) = filter.to {
            clauses.push("at < ?".to_owned());
            values.push(Value::Integer(ms(to)));
        }
        if let Some(cursor) = &page.after {
            clauses.push("id < ?".to_owned());
            values.push(Value::Integer(
                cursor.id.parse().map_err(|_| bad("cursor"))?,
            ));
        }
        values.push(Value::Integer(i64::from(page.limit)));
        let sql = format!(
            "SELECT id, at, actor_id, action, subject_type, subject_id, detail FROM audit_log {} ORDER BY id DESC LIMIT ?",
            where_sql(&clauses)
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            let detail: String = row.get(6)?;
            Ok(AuditEntry {
                id: row.get(0)?,
                entry: NewAuditEntry {
                    at: ts(row.get(1)?)?,
                    actor_id: row.get::<_, Option<String>>(2)?.map(UserId::new),
                    action: row.get(3)?,
                    subject_type: row.get(4)?,
                    subject_id: row.get(5)?,
                    detail: serde_json::from_str(&detail).map_err(conversion)?,
                },
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn schema_is_current(&mut self) -> StoreResult<bool> {
        let latest = MIGRATIONS.last().map_or(0, |(version, _)| *version);
        let applied: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |row| row.get(0),
        )?;
        Ok(applied == latest)
    }

    fn export_rows(
        &mut self,
        table: &Table,
        after: Option<&[Cell]>,
        limit: u32,
    ) -> StoreResult<Vec<Vec<Cell>>> {
        let table = known_table(table)?;
        let mut values = Vec::new();
        let mut filter = String::new();
        if let Some(key) = after {
            table.check_key(key).map_err(internal)?;
            let marks = vec!["?"; key.len()].join(", ");
            filter = format!("WHERE ({}) > ({marks})", table.key_list());
            values.extend(key.iter().map(sqlite_value));
        }
        values.push(Value::Integer(i64::from(limit)));
        let sql = format!(
            "SELECT {} FROM {} {filter} ORDER BY {} LIMIT ?",
            table.column_list(),
            exported_rows(table),
            table.key_list()
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let mut rows = statement.query(params_from_iter(values))?;
        let mut exported = Vec::new();
        while let Some(row) = rows.next()? {
            let cells = table
                .columns
                .iter()
                .enumerate()
                .map(|(index, (column, kind))| {
                    cell_of(row.get_ref(index)?, *kind).ok_or_else(|| {
                        internal(format!(
                            "unexpected value in the database: {}.{column} is not {kind:?}",
                            table.name
                        ))
                    })
                })
                .collect::<StoreResult<Vec<Cell>>>()?;
            exported.push(cells);
        }
        Ok(exported)
    }

    fn import_rows(&mut self, table: &Table, rows: &[Vec<Cell>]) -> StoreResult<()> {
        let table = known_table(table)?;
        let marks = vec!["?"; table.columns.len()].join(", ");
        let mut statement = self.conn.prepare_cached(&format!(
            "INSERT INTO {} ({}) VALUES ({marks})",
            table.name,
            table.column_list()
        ))?;
        for row in rows {
            table.check_row(row).map_err(internal)?;
            statement
                .execute(params_from_iter(row.iter().map(sqlite_value)))
                .map_err(|e| internal(format!("cannot import a row of {}: {e}", table.name)))?;
        }
        self.changes.everything();
        Ok(())
    }

    fn count_rows(&mut self, table: &Table) -> StoreResult<i64> {
        let table = known_table(table)?;
        Ok(self
            .conn
            .query_row(&format!("SELECT COUNT(*) FROM {}", table.name), [], |row| {
                row.get(0)
            })?)
    }

    fn delete_all_rows(&mut self, table: &Table) -> StoreResult<()> {
        let table = known_table(table)?;
        self.conn
            .execute(&format!("DELETE FROM {}", table.name), [])?;
        if table.name == "live_events" {
            chat::delete_every_key(self.conn)?;
        }
        self.changes.everything();
        Ok(())
    }

    fn finish_import(&mut self) -> StoreResult<()> {
        // An explicit id larger than the sequence moves it on by itself; this also
        // brings it back down after `delete_all_rows`, so the next id follows the
        // largest one copied, as it would have in the source.
        for table in TABLES.iter().filter(|t| t.generated_id) {
            let id = table.columns[0].0;
            self.conn.execute(
                &format!(
                    "UPDATE sqlite_sequence SET seq = (SELECT COALESCE(MAX({id}), 0) FROM {name}) \
                     WHERE name = '{name}'",
                    name = table.name
                ),
                [],
            )?;
        }
        // The copied events are keyed at once: the writer only keys its own.
        chat::key_every_event(self.conn)?;
        Ok(())
    }

    fn database_identity(&mut self) -> StoreResult<String> {
        let file: String = self.conn.query_row(
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
            [],
            |row| row.get(0),
        )?;
        let path = std::fs::canonicalize(&file).unwrap_or_else(|_| PathBuf::from(&file));
        Ok(format!("sqlite:{}", path.display()))
    }
}

/// Where a copy reads `table`'s rows in key order: the live stream's key is a table
/// of its own (every event is keyed when the store opens).
fn exported_rows(table: &Table) -> &'static str {
    match table.name {
        "live_events" => chat::LIVE_EVENTS_IN_KEY_ORDER,
        _ => table.name,
    }
}

fn known_table(table: &Table) -> StoreResult<&'static Table> {
    tables::known(table).map_err(|e| internal(format!("{e}: {}", table.name)))
}

fn sqlite_value(cell: &Cell) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Integer(value) => Value::Integer(*value),
        Cell::Text(value) => Value::Text(value.clone()),
        Cell::Bool(value) => Value::Integer(i64::from(*value)),
    }
}

/// A stored value as a cell of `kind`; `None` when it is not one (a flag other than
/// 0 or 1, text that is not UTF-8, a REAL or a BLOB).
fn cell_of(value: ValueRef<'_>, kind: Kind) -> Option<Cell> {
    match (value, kind) {
        (ValueRef::Null, _) => Some(Cell::Null),
        (ValueRef::Integer(value), Kind::Integer) => Some(Cell::Integer(value)),
        (ValueRef::Integer(0), Kind::Bool) => Some(Cell::Bool(false)),
        (ValueRef::Integer(1), Kind::Bool) => Some(Cell::Bool(true)),
        (ValueRef::Text(bytes), Kind::Text) => std::str::from_utf8(bytes)
            .ok()
            .map(|text| Cell::Text(text.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wal_starts_over_under_a_steady_stream_of_commits_and_reads() {
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let mut writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        configure(&writer).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer
            .execute_batch("CREATE TABLE notes (body BLOB NOT NULL)")
            .unwrap();
        let progress = WalProgress::restarting_at(64);
        let _checkpointer = start_checkpointer(&path, progress.clone()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // Readers as busy as the pool under load: one or another is always reading.
        let reading: Vec<_> = (0..4)
            .map(|_| {
                let (path, stop) = (path.clone(), stop.clone());
                thread::spawn(move || {
                    let reader = Connection::open(path).unwrap();
                    while !stop.load(Ordering::Relaxed) {
                        // As a request reads: one row, then the next request.
                        let _: Option<i64> = reader
                            .query_row("SELECT max(rowid) FROM notes", [], |row| row.get(0))
                            .unwrap();
                        thread::sleep(Duration::from_micros(20));
                    }
                })
            })
            .collect();
        let mut restarts = WalRestarts::watch(&mut writer, progress);
        let wal = dir.path().join("wal.db-wal");
        let mut largest = 0;
        // Each commit writes three pages or so; 2,000 of them would make a WAL of
        // about 24 MiB if it never started over.
        for _ in 0..2_000 {
            writer.execute_batch("BEGIN IMMEDIATE").unwrap();
            writer
                .execute("INSERT INTO notes (body) VALUES (randomblob(8000))", [])
                .unwrap();
            writer.execute_batch("COMMIT").unwrap();
            restarts.after_commit(&writer);
            // The next group's work.
            thread::sleep(Duration::from_micros(500));
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        }
        stop.store(true, Ordering::Relaxed);
        for reader in reading {
            reader.join().unwrap();
        }
        assert!(largest < 8 * 1024 * 1024, "the WAL grew to {largest} bytes");
    }

    #[test]
    fn the_checkpointer_keeps_going_while_commits_come_and_rests_when_they_stop() {
        let pass = |in_wal, copied| Checkpoint {
            busy: false,
            in_wal,
            copied,
        };
        let next = |last: Option<Checkpoint>, now: Option<Checkpoint>| {
            next_checkpoint_after(last.as_ref(), now.as_ref(), false)
        };
        // Caught up, but the WAL grew (or started over) since the last pass.
        assert_eq!(
            next(Some(pass(100, 100)), Some(pass(900, 900))),
            CHECKPOINT_AGAIN
        );
        assert_eq!(
            next(Some(pass(900, 900)), Some(pass(40, 40))),
            CHECKPOINT_AGAIN
        );
        // Frames left behind (a reader of an older snapshot).
        assert_eq!(
            next(Some(pass(900, 900)), Some(pass(900, 300))),
            CHECKPOINT_AGAIN
        );
        // Nothing new: rest.
        assert_eq!(
            next(Some(pass(900, 900)), Some(pass(900, 900))),
            CHECKPOINT_EVERY
        );
        assert_eq!(next(None, Some(pass(0, 0))), CHECKPOINT_EVERY);
        assert_eq!(next(Some(pass(900, 900)), None), CHECKPOINT_EVERY);
        // The WAL is due to start over: again at once, whatever the pass found.
        for (last, now) in [
            (Some(pass(900, 900)), Some(pass(900, 900))),
            (Some(pass(900, 900)), Some(pass(1200, 300))),
            (None, Some(pass(0, 0))),
        ] {
            assert_eq!(
                next_checkpoint_after(last.as_ref(), now.as_ref(), true),
                CHECKPOINT_SOON
            );
        }
    }

    /// The store's writer keys the live stream by itself, in a batch once it has
    /// waited its interval, also when no more writes come.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_keys_the_live_stream_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.db");
        let store = SqliteStore::open(&path).unwrap();
        for n in 0..5 {
            let ids = store
                .write(move |tx| {
                    let (patient, doctor) = (UserId::new("p1"), UserId::new(format!("d{n}")));
                    tx.append_live_event(
                        &[&patient, &doctor],
                        "appointment",
                        "{}",
                        Timestamp::UNIX_EPOCH,
                    )
                })
                .await
                .unwrap();
            assert_eq!(ids[1], (UserId::new("p1"), n + 1));
        }
        let watcher = Connection::open(&path).unwrap();
        let keyed = || -> (i64, i64) {
            watcher
                .query_row(
                    "SELECT (SELECT through FROM live_events_keyed), (SELECT count(*) FROM live_event_keys)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap()
        };
        let waited = Instant::now();
        while keyed() != (10, 10) {
            assert!(
                waited.elapsed() < Duration::from_secs(20),
                "not keyed: {:?}",
                keyed()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let replayed = store
            .read(|tx| tx.live_events_after(&UserId::new("p1"), 2, 10))
            .await
            .unwrap();
        assert_eq!(replayed.iter().map(|e| e.id).collect::<Vec<_>>(), [3, 4, 5]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_checkpoint_leaves_every_commit_in_the_file_while_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fold.db");
        let store = Arc::new(SqliteStore::open(&path).unwrap());
        let insert = |store: Arc<SqliteStore>, n: usize| async move {
            let specialty = Specialty {
                id: SpecialtyId::new(format!("spc_{n}")),
                name: format!("Specialty {n}"),
                slug: format!("specialty-{n}"),
            };
            store
                .write(move |tx| tx.insert_specialty(&specialty))
                .await
                .unwrap();
        };
        for n in 0..300 {
            insert(store.clone(), n).await;
        }
        let writing = tokio::spawn({
            let store = store.clone();
            async move {
                for n in 300..600 {
                    insert(store.clone(), n).await;
                }
            }
        });
        store.checkpoint().await.unwrap();
        writing.await.unwrap();
        store.checkpoint().await.unwrap();

        let wal = WalFile::of(&path).path;
        assert_eq!(
            std::fs::metadata(&wal).unwrap().len(),
            0,
            "the WAL is empty"
        );
        let elsewhere = tempfile::tempdir().unwrap();
        let copy = elsewhere.path().join("fold.db");
        std::fs::copy(&path, &copy).unwrap();
        let in_file: i64 = Connection::open(&copy)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM specialties", [], |row| row.get(0))
            .unwrap();
        assert_eq!(in_file, 600, "the file alone holds every commit");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_is_answered_only_after_the_wal_is_flushed_behind_its_commit() {
        use std::sync::atomic::AtomicUsize;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.db");
        let (allow, allowed) = mpsc::channel::<()>();
        let flushes = Arc::new(AtomicUsize::new(0));
        let counted = flushes.clone();
        let mut wal = WalFile::of(&path);
        let store = Arc::new(
            SqliteStore::open_with_sync(&path, move || {
                allowed.recv().map_err(std::io::Error::other)?;
                wal.sync()?;
                counted.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap(),
        );
        let specialty = Specialty {
            id: SpecialtyId::new("spc_sync"),
            name: "Sync".into(),
            slug: "sync".into(),
        };
        let writing = tokio::spawn({
            let store = store.clone();
            async move { store.write(move |tx| tx.insert_specialty(&specialty)).await }
        });
        // The commit is visible to readers while the flush is held back...
        let deadline = Instant::now() + Duration::from_secs(10);
        while store
            .read(|tx| tx.find_specialty("sync"))
            .await
            .unwrap()
            .is_none()
        {
            assert!(Instant::now() < deadline, "the write never committed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // ...but its writer is not answered until the flush after it is done.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !writing.is_finished(),
            "answered before the WAL was flushed"
        );
        assert_eq!(flushes.load(Ordering::SeqCst), 0);
        allow.send(()).unwrap();
        writing.await.unwrap().unwrap();
        assert_eq!(flushes.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn one_flush_answers_every_group_committed_before_it() {
        let (committed, groups) = mpsc::channel::<Vec<Finish>>();
        let (answer, answers) = mpsc::channel::<(usize, bool)>();
        for group in 0..3 {
            let finishes: Vec<Finish> = (0..2)
                .map(|_| {
                    let answer = answer.clone();
                    Box::new(move |result: Result<(), StoreError>| {
                        answer.send((group, result.is_ok())).unwrap();
                    }) as Finish
                })
                .collect();
            committed.send(finishes).unwrap();
        }
        drop(committed);
        let mut flushes = 0;
        run_syncer(&groups, || {
            flushes += 1;
            Ok(())
        });
        assert_eq!(flushes, 1, "three groups waiting share one flush");
        let answered: Vec<_> = answers.try_iter().collect();
        assert_eq!(
            answered,
            [
                (0, true),
                (0, true),
                (1, true),
                (1, true),
                (2, true),
                (2, true)
            ],
            "every request answered, in commit order"
        );
    }

    /// How a test job's work ends.
    #[derive(Clone, Copy)]
    enum Ends {
        Kept,
        RefusedBeforeWriting,
        FailedAfterWriting,
        PanickedAfterWriting,
    }

    #[test]
    fn a_repeatable_write_that_fails_after_writing_undoes_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("group.db")).unwrap();
        migrate_with(&conn, MIGRATIONS).unwrap();
        let runs = Arc::new(Mutex::new(Vec::<&str>::new()));
        let job = |name: &'static str, ends: Ends, repeatable: bool| {
            let runs = runs.clone();
            let work = move |tx: &mut dyn Tx| {
                runs.lock().unwrap().push(name);
                if matches!(ends, Ends::RefusedBeforeWriting) {
                    return false;
                }
                tx.insert_specialty(&Specialty {
                    id: SpecialtyId::new(format!("spc_{name}")),
                    name: name.into(),
                    slug: name.into(),
                })
                .unwrap();
                match ends {
                    Ends::PanickedAfterWriting => panic!("a bug in {name}"),
                    ends => matches!(ends, Ends::Kept),
                }
            };
            WriteJob {
                run: if repeatable {
                    Work::Repeatable(Box::new(work))
                } else {
                    Work::Once(Box::new(work))
                },
                finish: Box::new(|_| {}),
            }
        };
        let group = vec![
            job("first", Ends::Kept, true),
            job("refused", Ends::RefusedBeforeWriting, true),
            job("once", Ends::Kept, false),
            job("failed", Ends::FailedAfterWriting, true),
            job("after", Ends::Kept, true),
            job("panicked", Ends::PanickedAfterWriting, true),
            job("last", Ends::Kept, true),
        ];
        let answers = commit_group(&conn, group, &Observers::default());
        assert_eq!(answers.map(|a| a.len()), Some(7), "the group committed");
        let mut stmt = conn
            .prepare("SELECT slug FROM specialties ORDER BY slug")
            .unwrap();
        let kept: Vec<String> = stmt
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(kept, ["after", "first", "last", "once"]);
        // Repeatable work first; after the failure, what was kept runs again, and
        // the refusal, which wrote nothing, stands.
        assert_eq!(
            *runs.lock().unwrap(),
            [
                "first", "refused", "failed", "first", "after", "panicked", "last", "once"
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_max_readers_read_at_once_and_the_rest_wait_their_turn() {
        use std::sync::atomic::AtomicUsize;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("readers.db")).unwrap());
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut reads = tokio::task::JoinSet::new();
        for _ in 0..5 * MAX_READERS {
            let (store, running, peak) = (store.clone(), running.clone(), peak.clone());
            reads.spawn(async move {
                store
                    .read(move |tx| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        let current = tx.schema_is_current();
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        current
                    })
                    .await
            });
        }
        while let Some(read) = reads.join_next().await {
            assert_eq!(read.unwrap(), Ok(true));
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!((2..=MAX_READERS).contains(&peak), "{peak} reads at once");
        assert!(store.readers.idle.lock().unwrap().len() <= MAX_READERS);
    }

    /// Migration 13 rebuilds `appointments` (a wider status CHECK): a database of
    /// version 12 keeps every appointment, and the rows that point at them still do.
    #[test]
    fn rebuilding_appointments_keeps_them_and_what_points_at_them() {
        let conn = migrated_through(12);
        conn.execute_batch(
            "INSERT INTO users (id, email, name, role, status, password_hash, created_at, updated_at) VALUES
                 ('d1', 'd@x', 'D', 'doctor', 'active', 'h', 0, 0),
                 ('p1', 'p@x', 'P', 'patient', 'active', 'h', 0, 0);
             INSERT INTO doctors (user_id, time_zone, slot_minutes, min_notice_minutes, horizon_days, auto_confirm,
                                  cancel_window_hours) VALUES ('d1', 'UTC', 30, 0, 60, 0, 24);
             INSERT INTO appointments (id, doctor_id, patient_id, start_at, end_at, status, created_by, created_at,
                                       updated_at, mode, video_room)
                 VALUES ('a1', 'd1', 'p1', 0, 1800000, 'confirmed', 'p1', 0, 0, 'video', 'room-1');
             INSERT INTO doctor_claims (doctor_id, unit_start, appointment_id) VALUES ('d1', 0, 'a1');
             INSERT INTO appointment_events (appointment_id, seq, at, action, to_status) VALUES ('a1', 1, 0, 'book', 'confirmed');",
        )
        .unwrap();
        // Up to the migration after which claims are gone (16).
        migrate_through(&conn, 15);
        let kept: (String, String, String) = conn
            .query_row(
                "SELECT status, mode, video_room FROM appointments WHERE id = 'a1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(kept, ("confirmed".into(), "video".into(), "room-1".into()));
        let broken: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(broken, 0);
        let keys_on: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(keys_on, 1, "foreign keys are on again");
        // The children still point at the rebuilt table, and the new status fits.
        assert!(
            conn.execute(
                "INSERT INTO doctor_claims VALUES ('d1', 300000, 'nope')",
                []
            )
            .is_err()
        );
        conn.execute(
            "UPDATE appointments SET status = 'awaiting_payment' WHERE id = 'a1'",
            [],
        )
        .unwrap();
        assert!(
            conn.execute(
                "UPDATE appointments SET status = 'lost' WHERE id = 'a1'",
                []
            )
            .is_err()
        );
        for index in [
            "appointments_doctor_start",
            "appointments_patient_start",
            "appointments_start",
        ] {
            let found: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?1",
                    [index],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(found, 1, "{index}");
        }

        conn.execute_batch(
            "INSERT INTO deliveries (id, idempotency_key, channel, kind, user_id, appointment_id, payload,
                                     status, due_at, attempts, created_at, updated_at)
                 VALUES ('dl1', 'k1', 'email', 'reminder', 'p1', 'a1', '{}', 'scheduled', 0, 0, 0, 0);",
        )
        .unwrap();
        // Migration 16 drops the claims and guards the slot with triggers: the live
        // appointment still holds it. Migration 17 rebuilds appointments and
        // deliveries again (checks by comparison): both keep their rows and checks.
        migrate_with(&conn, MIGRATIONS).unwrap();
        let delivery: (String, String, String) = conn
            .query_row(
                "SELECT channel, status, appointment_id FROM deliveries WHERE id = 'dl1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(delivery, ("email".into(), "scheduled".into(), "a1".into()));
        for (table, column, refused) in [
            ("deliveries", "channel", "fax"),
            ("deliveries", "status", "lost"),
            ("appointments", "status", "lost"),
        ] {
            let key = if table == "deliveries" { "dl1" } else { "a1" };
            assert!(
                conn.execute(
                    &format!("UPDATE {table} SET {column} = ?1 WHERE id = ?2"),
                    [refused, key]
                )
                .is_err(),
                "{table}.{column} = {refused}"
            );
        }
        let broken: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(broken, 0);
        let claims: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%claims%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(claims, 0);
        let refused = conn
            .execute(
                "INSERT INTO appointments (id, doctor_id, patient_id, start_at, end_at, status, created_by, \
                 created_at, updated_at) VALUES ('a2', 'd1', 'p1', 600000, 2400000, 'requested', 'p1', 0, 0)",
                [],
            )
            .map_err(on_overlap);
        assert!(
            matches!(
                refused,
                Err(StoreError::Conflict(Conflict::DoctorSlotTaken))
            ),
            "{refused:?}"
        );
    }

    /// A migrated database with doctors d1, d2 and patients p1, p2.
    fn two_doctors_two_patients() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        conn.execute_batch(
            "INSERT INTO users (id, email, name, role, status, password_hash, created_at, updated_at) VALUES
                 ('d1', 'd1@x', 'D1', 'doctor', 'active', 'h', 0, 0),
                 ('d2', 'd2@x', 'D2', 'doctor', 'active', 'h', 0, 0),
                 ('p1', 'p1@x', 'P1', 'patient', 'active', 'h', 0, 0),
                 ('p2', 'p2@x', 'P2', 'patient', 'active', 'h', 0, 0);",
        )
        .unwrap();
        conn
    }

    const MINUTE: i64 = 60_000;

    /// Inserts an appointment from `start` to `end` minutes; the trigger's refusal
    /// as the store reports it.
    fn book(
        conn: &Connection,
        id: &str,
        (doctor, patient): (&str, &str),
        (start, end): (i64, i64),
        status: AppointmentStatus,
    ) -> Result<(), StoreError> {
        conn.execute(
            "INSERT INTO appointments (id, doctor_id, patient_id, start_at, end_at, status, created_by, \
             created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?3, 0, 0)",
            params![id, doctor, patient, start * MINUTE, end * MINUTE, status.as_str()],
        )
        .map(|_| ())
        .map_err(on_overlap)
    }

    fn conflict(result: Result<(), StoreError>) -> Option<Conflict> {
        match result {
            Ok(()) => None,
            Err(StoreError::Conflict(conflict)) => Some(conflict),
            Err(other) => panic!("not a conflict: {other:?}"),
        }
    }

    /// The triggers' list of live statuses is `is_live`'s: a new appointment over a
    /// live one is refused exactly when both are live, for the doctor and for the
    /// patient, whatever the status of the one in the way.
    #[test]
    fn an_overlap_is_refused_exactly_between_live_appointments() {
        use AppointmentStatus as S;
        for held in S::ALL {
            for new in S::ALL {
                let conn = two_doctors_two_patients();
                book(&conn, "a1", ("d1", "p1"), (60, 90), held).unwrap();
                let both_live = held.is_live() && new.is_live();
                let same_doctor = book(&conn, "a2", ("d1", "p2"), (75, 105), new);
                let same_patient = book(&conn, "a3", ("d2", "p1"), (45, 65), new);
                assert_eq!(
                    conflict(same_doctor),
                    both_live.then_some(Conflict::DoctorSlotTaken),
                    "{held:?} then {new:?}, same doctor"
                );
                assert_eq!(
                    conflict(same_patient),
                    both_live.then_some(Conflict::PatientBusy),
                    "{held:?} then {new:?}, same patient"
                );
            }
        }
    }

    #[test]
    fn touching_slots_and_other_people_do_not_overlap_and_the_doctor_is_named_first() {
        use AppointmentStatus::Confirmed;
        let conn = two_doctors_two_patients();
        book(&conn, "a1", ("d1", "p1"), (60, 90), Confirmed).unwrap();
        book(&conn, "a2", ("d1", "p2"), (90, 120), Confirmed).unwrap();
        book(&conn, "a3", ("d1", "p2"), (30, 60), Confirmed).unwrap();
        book(&conn, "a4", ("d2", "p1"), (90, 100), Confirmed).unwrap();
        // Inside a longer one that started hours before: still found.
        book(&conn, "long", ("d2", "p2"), (600, 840), Confirmed).unwrap();
        assert_eq!(
            conflict(book(&conn, "a5", ("d2", "p1"), (830, 835), Confirmed)),
            Some(Conflict::DoctorSlotTaken)
        );
        // Both the doctor's and the patient's: the doctor's is named.
        assert_eq!(
            conflict(book(&conn, "a6", ("d1", "p1"), (65, 70), Confirmed)),
            Some(Conflict::DoctorSlotTaken)
        );
        let too_long = book(
            &conn,
            "a7",
            ("d2", "p1"),
            (2000, 2000 + 24 * 60 + 5),
            Confirmed,
        );
        assert!(
            matches!(too_long, Err(StoreError::Internal(_))),
            "{too_long:?}"
        );
        let count: i64 = conn
            .query_row("SELECT count(*) FROM appointments", [], |r| r.get(0))
            .unwrap();
        assert_eq!(count, 5, "refused rows are not written");
    }

    /// Moving, reviving or handing over a live appointment is checked like a new
    /// one, but never against itself; a move that keeps it where it was is not.
    #[test]
    fn an_update_is_refused_when_it_makes_an_overlap() {
        let conn = two_doctors_two_patients();
        let confirmed = AppointmentStatus::Confirmed;
        book(&conn, "a1", ("d1", "p1"), (60, 90), confirmed).unwrap();
        book(&conn, "a2", ("d1", "p2"), (120, 150), confirmed).unwrap();
        book(
            &conn,
            "gone",
            ("d1", "p2"),
            (60, 90),
            AppointmentStatus::Cancelled,
        )
        .unwrap();
        let update = |sql: &str| conn.execute(sql, []).map(|_| ()).map_err(on_overlap);
        let m = MINUTE;
        // Over its own old slot: fine.
        update(&format!(
            "UPDATE appointments SET start_at = {}, end_at = {} WHERE id = 'a1'",
            75 * m,
            105 * m
        ))
        .unwrap();
        assert_eq!(
            conflict(update(&format!(
                "UPDATE appointments SET start_at = {}, end_at = {} WHERE id = 'a1'",
                110 * m,
                140 * m
            ))),
            Some(Conflict::DoctorSlotTaken)
        );
        assert_eq!(
            conflict(update(
                "UPDATE appointments SET status = 'requested' WHERE id = 'gone'"
            )),
            Some(Conflict::DoctorSlotTaken),
            "a cancelled appointment revived over a live one"
        );
        assert_eq!(
            conflict(update(
                "UPDATE appointments SET patient_id = 'p2', doctor_id = 'd2' WHERE id = 'a1'"
            )),
            None,
        );
        book(&conn, "a3", ("d1", "p1"), (100, 110), confirmed).unwrap();
        assert_eq!(
            conflict(update(
                "UPDATE appointments SET patient_id = 'p1' WHERE id = 'a2'"
            )),
            None
        );
        assert_eq!(
            conflict(update(&format!(
                "UPDATE appointments SET start_at = {}, patient_id = 'p1' WHERE id = 'a1'",
                95 * m
            ))),
            Some(Conflict::PatientBusy)
        );
        update("UPDATE appointments SET status = 'checked_in', reason = 'r' WHERE id = 'a2'")
            .unwrap();
        update("UPDATE appointments SET status = 'cancelled' WHERE id = 'a2'").unwrap();
    }

    /// The check reads the index the new row changes anyway, without the table.
    #[test]
    fn the_overlap_check_reads_a_covering_index() {
        let conn = two_doctors_two_patients();
        for owner in ["doctor", "patient"] {
            let plan: Vec<String> = conn
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT 1 FROM appointments WHERE {owner}_id = ?1 \
                     AND start_at > ?2 AND start_at < ?3 AND end_at > ?4 \
                     AND (status = 'awaiting_payment' OR status = 'requested' \
                          OR status = 'confirmed' OR status = 'checked_in')"
                ))
                .unwrap()
                .query_map(params![0, 0, 0, 0], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            let expected = format!("COVERING INDEX appointments_{owner}_slot");
            assert!(plan.iter().any(|p| p.contains(&expected)), "{plan:?}");
        }
    }

    /// Migration 18 keeps every user's stream, their ids and the key, but lays the
    /// rows in the order they were written, so the JSON of a new event lands on the
    /// table's last page and only the key's entry on a random leaf.
    #[test]
    fn the_live_stream_is_kept_and_laid_out_in_arrival_order() {
        let conn = migrated_through(17);
        conn.execute_batch(
            "INSERT INTO users (id, email, name, role, status, password_hash, created_at, updated_at) VALUES
                 ('u1', 'u1@x', 'U1', 'patient', 'active', 'h', 0, 0),
                 ('u2', 'u2@x', 'U2', 'doctor', 'active', 'h', 0, 0);
             INSERT INTO live_events (user_id, id, kind, data, at) VALUES
                 ('u2', 1, 'appointment', '{\"n\":1}', 10),
                 ('u1', 1, 'appointment', '{\"n\":1}', 10),
                 ('u1', 2, 'message', '{\"n\":2}', 30),
                 ('u2', 2, 'receipt', '{\"n\":2}', 20);",
        )
        .unwrap();
        migrate_through(&conn, 18);

        let rows = |sql: &str| -> Vec<(String, i64, String, String, i64)> {
            conn.prepare(sql)
                .unwrap()
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let by_arrival = rows("SELECT user_id, id, kind, data, at FROM live_events ORDER BY rowid");
        let times: Vec<i64> = by_arrival.iter().map(|row| row.4).collect();
        assert_eq!(times, [10, 10, 20, 30], "rows lie in the order they came");
        assert_eq!(
            rows("SELECT user_id, id, kind, data, at FROM live_events ORDER BY user_id, id"),
            [
                ("u1".into(), 1, "appointment".into(), "{\"n\":1}".into(), 10),
                ("u1".into(), 2, "message".into(), "{\"n\":2}".into(), 30),
                ("u2".into(), 1, "appointment".into(), "{\"n\":1}".into(), 10),
                ("u2".into(), 2, "receipt".into(), "{\"n\":2}".into(), 20),
            ]
        );
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE name = 'live_events'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!sql.contains("WITHOUT ROWID"), "{sql}");
        // The key still holds: an id is never taken twice in a user's stream.
        assert!(
            conn.execute(
                "INSERT INTO live_events (user_id, id, kind, data, at) VALUES ('u1', 2, 'message', '{}', 40)",
                [],
            )
            .is_err()
        );
        assert!(
            conn.execute(
                "INSERT INTO live_events (user_id, id, kind, data, at) VALUES ('nobody', 1, 'message', '{}', 40)",
                [],
            )
            .is_err(),
            "the stream still belongs to a user"
        );
        // A replay and the next id read the key, not the whole table.
        assert_stream_queries_read_its_key(&conn);
    }

    /// Before migration 22, a replay and the next live-stream id searched the
    /// stream's key, the table's own.
    fn assert_stream_queries_read_its_key(conn: &Connection) {
        for query in [
            "SELECT user_id, id, kind, data, at FROM live_events WHERE user_id = ?1 AND id > ?2 \
             ORDER BY id LIMIT ?3",
            "SELECT COALESCE(MAX(id), 0) + 1 FROM live_events WHERE user_id = ?1",
        ] {
            let plan = query_plan(conn, query);
            assert!(
                plan.iter()
                    .any(|p| p.contains("USING") && p.contains("sqlite_autoindex_live_events_1")),
                "{query}: {plan:?}"
            );
        }
    }

    /// Migration 21: the rows a change leaves behind (history, notifications, outbox,
    /// live stream) keep their order, keys and indexes, and look up no parent.
    #[test]
    fn the_logs_keep_their_rows_and_indexes_and_reference_nothing() {
        const LOGS: [&str; 4] = [
            "appointment_events",
            "notifications",
            "deliveries",
            "live_events",
        ];
        let conn = migrated_through(20);
        conn.execute_batch(
            "INSERT INTO users (id, email, name, role, status, password_hash, created_at, updated_at) VALUES
                 ('u1', 'u1@x', 'U1', 'patient', 'active', 'h', 0, 0),
                 ('u2', 'u2@x', 'U2', 'doctor', 'active', 'h', 0, 0);
             INSERT INTO appointments (id, doctor_id, patient_id, start_at, end_at, status, created_by, created_at, updated_at)
                 VALUES ('a1', 'u2', 'u1', 100, 200, 'confirmed', 'u1', 0, 0);
             INSERT INTO appointment_events (appointment_id, seq, at, actor_id, action, to_status)
                 VALUES ('a1', 1, 5, 'u1', 'book', 'confirmed'), ('a1', 2, 6, 'u2', 'check_in', 'checked_in');
             INSERT INTO notifications (id, user_id, kind, title, body, link, created_at, read_at) VALUES
                 ('n2', 'u2', 'booked', 'T', 'B', '/', 20, NULL),
                 ('n1', 'u1', 'booked', 'T', 'B', '/', 10, 30);
             INSERT INTO deliveries (id, idempotency_key, channel, kind, user_id, payload, status, due_at, attempts, created_at, updated_at)
                 VALUES ('d2', 'k2', 'sms', 'booked', 'u1', '{}', 'scheduled', 20, 0, 20, 20),
                        ('d1', 'k1', 'email', 'booked', 'u2', '{}', 'sent', 10, 1, 10, 10);
             INSERT INTO live_events (user_id, id, kind, data, at) VALUES
                 ('u2', 1, 'appointment', '{}', 10), ('u1', 1, 'appointment', '{}', 10);",
        )
        .unwrap();
        let ordered = |sql: &str| first_column(&conn, sql);
        let contents = || {
            [
                "SELECT appointment_id || seq || at || actor_id || action FROM appointment_events",
                "SELECT id || user_id || created_at || coalesce(read_at, '-') FROM notifications ORDER BY rowid",
                "SELECT id || idempotency_key || user_id || status || due_at FROM deliveries ORDER BY rowid",
                "SELECT user_id || id || kind || at FROM live_events ORDER BY rowid",
            ]
            .map(ordered)
        };
        let indexes = |table: &str| {
            ordered(&format!(
                "SELECT name FROM pragma_index_list('{table}') ORDER BY name"
            ))
        };
        let kept = contents();
        let indexes_before = LOGS.map(indexes);

        migrate_through(&conn, 21);

        assert_eq!(contents(), kept, "rows, in the order they were written");
        assert_eq!(LOGS.map(indexes), indexes_before);
        for table in LOGS {
            assert_eq!(foreign_keys(&conn, table), 0, "{table} references nothing");
        }
        // Their keys still hold.
        for duplicate in [
            "INSERT INTO appointment_events (appointment_id, seq, at, action, to_status) VALUES ('a1', 2, 7, 'x', 'y')",
            "INSERT INTO notifications (id, user_id, kind, title, body, link, created_at) VALUES ('n1', 'u1', 'k', 'T', 'B', '/', 40)",
            "INSERT INTO deliveries (id, idempotency_key, channel, kind, payload, status, due_at, attempts, created_at, updated_at) \
             VALUES ('d3', 'k1', 'sms', 'k', '{}', 'scheduled', 1, 0, 1, 1)",
            "INSERT INTO live_events (user_id, id, kind, data, at) VALUES ('u1', 1, 'message', '{}', 40)",
        ] {
            assert!(conn.execute(duplicate, []).is_err(), "{duplicate}");
        }
        // A replay and the next id still read the live stream's key.
        assert_stream_queries_read_its_key(&conn);
    }

    /// Migration 22: the live stream's rows keep their order and ids; their key moves
    /// to a table of its own, complete up to the last event.
    #[test]
    fn the_live_streams_key_moves_to_a_table_of_its_own() {
        let conn = migrated_through(21);
        conn.execute_batch(
            "INSERT INTO live_events (user_id, id, kind, data, at) VALUES
                 ('u2', 1, 'appointment', '{}', 10), ('u1', 1, 'appointment', '{}', 10),
                 ('u1', 2, 'message', '{}', 20);",
        )
        .unwrap();
        let contents = "SELECT user_id || id || kind || at FROM live_events ORDER BY rowid";
        let kept = first_column(&conn, contents);
        migrate_through(&conn, 22);
        assert_eq!(first_column(&conn, contents), kept);
        assert_eq!(
            first_column(
                &conn,
                "SELECT k.user_id || k.id || '@' || e.at FROM live_event_keys AS k \
                 JOIN live_events AS e ON e.rowid = k.event AND e.user_id = k.user_id AND e.id = k.id"
            ),
            ["u11@10", "u12@20", "u21@10"]
        );
        assert_eq!(
            first_column(&conn, "SELECT CAST(through AS TEXT) FROM live_events_keyed"),
            ["3"]
        );
        assert!(
            first_column(&conn, "SELECT name FROM pragma_index_list('live_events')").is_empty(),
            "an event is written to the table alone"
        );
        // Reads and the next id search the key, and the events after it by rowid.
        chat::LiveKeys::start(&conn).unwrap();
        for (query, uses) in [
            (
                chat::KEYED_LIVE_EVENTS_AFTER,
                "USING PRIMARY KEY (user_id=? AND id>?)",
            ),
            (
                chat::UNKEYED_LIVE_EVENTS_AFTER,
                "USING INTEGER PRIMARY KEY (rowid>?)",
            ),
            (chat::NEXT_LIVE_EVENT_ID, "USING PRIMARY KEY (user_id=?)"),
        ] {
            let plan = query_plan(&conn, query);
            assert!(plan.iter().any(|p| p.contains(uses)), "{query}: {plan:?}");
            assert!(
                !plan
                    .iter()
                    .any(|p| p.starts_with("SCAN") && p != "SCAN CONSTANT ROW"),
                "{query}: {plan:?}"
            );
        }
        // A copy pages through the stream in key order without sorting it.
        let export = format!(
            "SELECT user_id, id, kind, data, at FROM {} WHERE (user_id, id) > (?1, ?2) \
             ORDER BY user_id, id LIMIT ?3",
            chat::LIVE_EVENTS_IN_KEY_ORDER
        );
        let plan = query_plan(&conn, &export);
        assert!(
            plan.iter()
                .any(|p| p.contains("SEARCH k USING PRIMARY KEY")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|p| p.contains("TEMP B-TREE")), "{plan:?}");
    }

    /// Appends an event for each of `users` in a transaction of its own, as the
    /// writer does; returns the ids.
    fn append_live_events(conn: &Connection, users: &[&str]) -> Vec<(String, i64)> {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let mut ids = Vec::new();
        for user in users {
            let user = UserId::new(*user);
            let appended = SqliteTx::new(conn)
                .append_live_event(&[&user], "message", "{}", Timestamp::UNIX_EPOCH)
                .unwrap();
            ids.extend(
                appended
                    .into_iter()
                    .map(|(u, id)| (u.as_str().to_owned(), id)),
            );
        }
        conn.execute_batch("COMMIT").unwrap();
        ids
    }

    /// Each user's stream as a replay reads it, and their last id.
    fn replayed(conn: &Connection, user: &str) -> (Vec<i64>, i64) {
        let mut tx = SqliteTx::new(conn);
        let user = UserId::new(user);
        let ids = tx
            .live_events_after(&user, 0, 100)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        (ids, tx.last_live_event_id(&user).unwrap())
    }

    #[test]
    fn the_live_streams_key_is_written_in_parts_and_every_read_sees_every_event_meanwhile() {
        let conn = migrated_through(22);
        chat::LiveKeys::start(&conn).unwrap();
        let users = ["u1", "u2", "u3"];
        let mut appended = Vec::new();
        for _ in 0..3 {
            appended.extend(append_live_events(&conn, &users));
        }
        appended.extend(append_live_events(&conn, &["u2"]));
        assert_eq!(
            appended
                .iter()
                .filter(|(u, _)| u == "u2")
                .map(|(_, id)| *id)
                .collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        let whole = || users.map(|user| replayed(&conn, user));
        let expected = [
            (vec![1, 2, 3], 3),
            (vec![1, 2, 3, 4], 4),
            (vec![1, 2, 3], 3),
        ];
        assert_eq!(whole(), expected, "before any key is written");
        assert!(first_column(&conn, "SELECT user_id FROM live_event_keys").is_empty());

        let through = 10;
        let mut parts = 0;
        loop {
            parts += 1;
            let finished = chat::key_part(&conn, through, 3).unwrap();
            assert_eq!(whole(), expected, "after part {parts}");
            let marked = first_column(&conn, "SELECT CAST(through AS TEXT) FROM live_events_keyed");
            assert_eq!(marked, [if finished { "10" } else { "0" }]);
            if finished {
                break;
            }
        }
        assert_eq!(parts, 4, "ten keys, three a part");
        assert_eq!(
            first_column(&conn, "SELECT user_id || id FROM live_event_keys"),
            [
                "u11", "u12", "u13", "u21", "u22", "u23", "u24", "u31", "u32", "u33"
            ],
            "in key order, each once"
        );
        assert!(first_column(&conn, "SELECT user_id FROM temp.live_pending").is_empty());

        // New events go on from the keyed ones; pruning takes keyed and pending
        // events alike and keeps each user's last.
        assert_eq!(
            append_live_events(&conn, &["u1", "u1"]),
            [("u1".to_owned(), 4), ("u1".to_owned(), 5)]
        );
        let mut tx = SqliteTx::new(&conn);
        let old = tx.live_events_to_prune(Timestamp::MAX, 100).unwrap();
        assert_eq!(old.len(), 9, "{old:?}");
        assert!(old.contains(&(UserId::new("u1"), 4)), "{old:?}");
        conn.execute_batch("BEGIN").unwrap();
        assert_eq!(SqliteTx::new(&conn).delete_live_events(&old).unwrap(), 9);
        conn.execute_batch("COMMIT").unwrap();
        assert_eq!(whole(), [(vec![5], 5), (vec![4], 4), (vec![3], 3)]);
        assert_eq!(
            first_column(&conn, "SELECT user_id || id FROM temp.live_pending"),
            ["u15"]
        );
        assert_eq!(append_live_events(&conn, &["u2"]), [("u2".to_owned(), 5)]);
        assert_eq!(append_live_events(&conn, &["u1"]), [("u1".to_owned(), 6)]);
    }

    #[test]
    fn a_request_rolled_back_leaves_no_gap_in_a_users_stream() {
        let conn = migrated_through(22);
        chat::LiveKeys::start(&conn).unwrap();
        let user = UserId::new("u1");
        let append = || {
            SqliteTx::new(&conn)
                .append_live_event(&[&user], "message", "{}", Timestamp::UNIX_EPOCH)
                .unwrap()[0]
                .1
        };
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        assert_eq!(append(), 1);
        conn.execute_batch("SAVEPOINT request").unwrap();
        assert_eq!(append(), 2);
        conn.execute_batch("ROLLBACK TO request; RELEASE request")
            .unwrap();
        assert_eq!(append(), 2, "the request's id is taken again");
        conn.execute_batch("COMMIT; BEGIN IMMEDIATE").unwrap();
        assert_eq!(append(), 3);
        conn.execute_batch("ROLLBACK; BEGIN IMMEDIATE").unwrap();
        assert_eq!(append(), 3, "and the whole group's");
        conn.execute_batch("COMMIT").unwrap();
        assert_eq!(replayed(&conn, "u1"), (vec![1, 2, 3], 3));
    }

    #[test]
    fn the_events_a_stop_left_unkeyed_are_keyed_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.db");
        let conn = open_and_migrate(&path).unwrap();
        chat::LiveKeys::start(&conn).unwrap();
        append_live_events(&conn, &["u1", "u2", "u1"]);
        chat::key_part(&conn, 2, 1).unwrap();
        // Killed mid-batch: the pending keys were the connection's own.
        drop(conn);

        let conn = open_and_migrate(&path).unwrap();
        chat::LiveKeys::start(&conn).unwrap();
        assert_eq!(
            first_column(
                &conn,
                "SELECT user_id || id || '=' || event FROM live_event_keys"
            ),
            ["u11=1", "u12=3", "u21=2"]
        );
        assert_eq!(
            first_column(&conn, "SELECT CAST(through AS TEXT) FROM live_events_keyed"),
            ["3"]
        );
        assert_eq!(append_live_events(&conn, &["u1"]), [("u1".to_owned(), 3)]);
        assert_eq!(replayed(&conn, "u1"), (vec![1, 2, 3], 3));
    }

    /// An in-memory database with foreign keys on, at schema version `last`.
    fn migrated_through(last: i64) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        migrate_through(&conn, last);
        conn
    }

    /// Applies the migrations up to and including version `last`.
    fn migrate_through(conn: &Connection, last: i64) {
        let through: Vec<(i64, &str)> = MIGRATIONS
            .iter()
            .copied()
            .filter(|(v, _)| *v <= last)
            .collect();
        migrate_with(conn, &through).unwrap();
    }

    /// The first column of every row `sql` gives, as text.
    fn first_column(conn: &Connection, sql: &str) -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// How many foreign keys `table` declares.
    fn foreign_keys(conn: &Connection, table: &str) -> i64 {
        conn.query_row(
            &format!("SELECT count(*) FROM pragma_foreign_key_list('{table}')"),
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// What `EXPLAIN QUERY PLAN` says of `sql`, one line per step.
    fn query_plan(conn: &Connection, sql: &str) -> Vec<String> {
        explained(conn, &format!("EXPLAIN QUERY PLAN {sql}"), 3)
    }

    /// A user's notifications have one index (migration 19): the count, "mark all
    /// read" and both parts of a page search it, none scans the table.
    #[test]
    fn every_read_of_a_users_notifications_searches_their_one_index() {
        let conn = two_doctors_two_patients();
        let indexes = first_column(
            &conn,
            "SELECT name FROM pragma_index_list('notifications') WHERE origin = 'c'",
        );
        assert_eq!(indexes, ["notifications_by_user"]);
        for query in [
            notifications::COUNT_UNREAD.to_owned(),
            notifications::MARK_ALL_READ.to_owned(),
            notifications::user_notifications(false).to_owned(),
            notifications::user_notifications(true).to_owned(),
        ] {
            let plan = query_plan(&conn, &query);
            let searches = plan
                .iter()
                .filter(|p| {
                    p.starts_with("SEARCH notifications USING")
                        && p.contains("INDEX notifications_by_user (user_id=? AND <expr>=?")
                })
                .count();
            let expected = if query.contains("UNION ALL") { 2 } else { 1 };
            assert_eq!(searches, expected, "{query}: {plan:?}");
            assert!(
                !plan.iter().any(|p| p.contains("SCAN notifications")),
                "{query}: {plan:?}"
            );
        }
    }

    /// SQLite keeps a statement journal for a statement that may write several rows
    /// (a table with triggers) and may abort halfway: an immediate foreign key, a
    /// trigger's `RAISE(ABORT)` or a constraint under `ABORT`. The booking's insert
    /// and update have none of the second kind (migration 20), and still every
    /// guard: an unknown account and an overlap are refused, and leave nothing.
    #[test]
    fn a_bookings_row_is_guarded_without_a_statement_journal() {
        let conn = two_doctors_two_patients();
        assert_eq!(
            foreign_keys(&conn, "appointments"),
            0,
            "no foreign key of appointments may abort the insert"
        );
        let triggers = first_column(
            &conn,
            "SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'appointments'",
        );
        assert_eq!(triggers.len(), 4, "{triggers:?}");
        for sql in &triggers {
            assert!(
                sql.contains("RAISE(FAIL,") && !sql.contains("ABORT"),
                "{sql}"
            );
        }
        for sql in [INSERT_APPOINTMENT, UPDATE_APPOINTMENT] {
            assert!(
                sql.starts_with("INSERT OR FAIL") || sql.starts_with("UPDATE OR FAIL"),
                "{sql}"
            );
        }

        let insert = |id: &str, doctor: &str, patient: &str, start: i64| {
            conn.execute(
                INSERT_APPOINTMENT,
                params![
                    id,
                    doctor,
                    patient,
                    start * MINUTE,
                    (start + 30) * MINUTE,
                    "confirmed",
                    None::<String>,
                    None::<String>,
                    patient,
                    0,
                    0,
                    "in_person",
                    None::<String>
                ],
            )
            .map(|_| ())
            .map_err(on_overlap)
        };
        conn.execute_batch("BEGIN").unwrap();
        insert("a1", "d1", "p1", 60).unwrap();
        for (id, doctor, patient) in [("a2", "nobody", "p2"), ("a3", "d2", "nobody")] {
            let refused = insert(id, doctor, patient, 120).unwrap_err();
            assert!(matches!(refused, StoreError::Internal(_)), "{refused:?}");
        }
        assert_eq!(
            conflict(insert("a4", "d1", "p2", 70)),
            Some(Conflict::DoctorSlotTaken)
        );
        assert_eq!(
            conflict(insert("a5", "d2", "p1", 75)),
            Some(Conflict::PatientBusy)
        );
        insert("a6", "d2", "p2", 60).unwrap();
        let moved = conn
            .execute(
                UPDATE_APPOINTMENT,
                params![
                    "a6",
                    65 * MINUTE,
                    95 * MINUTE,
                    "confirmed",
                    None::<String>,
                    None::<String>,
                    0,
                    "in_person",
                    None::<String>
                ],
            )
            .map(|_| ())
            .map_err(on_overlap);
        assert_eq!(conflict(moved), None);
        let onto_a1 = conn
            .execute(
                "UPDATE OR FAIL appointments SET patient_id = 'p1' WHERE id = 'a6'",
                [],
            )
            .map(|_| ())
            .map_err(on_overlap);
        assert_eq!(conflict(onto_a1), Some(Conflict::PatientBusy));
        conn.execute_batch("COMMIT").unwrap();
        let kept: Vec<(String, String, i64)> = conn
            .prepare("SELECT id, patient_id, start_at FROM appointments ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            kept,
            [
                ("a1".into(), "p1".into(), 60 * MINUTE),
                ("a6".into(), "p2".into(), 65 * MINUTE)
            ]
        );
    }

    /// The virtual machine's program for `sql`, one opcode per step.
    fn opcodes(conn: &Connection, sql: &str) -> Vec<String> {
        explained(conn, &format!("EXPLAIN {sql}"), 1)
    }

    /// Column `column` of every row an `EXPLAIN` statement gives, its parameters null.
    fn explained(conn: &Connection, explain: &str, column: usize) -> Vec<String> {
        let mut explain = conn.prepare(explain).unwrap();
        let count = explain.parameter_count();
        explain
            .query_map(params_from_iter(vec![Value::Null; count]), |r| {
                r.get::<_, String>(column)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// SQLite builds a temporary B-tree for `x IN (a, b, c)` (three or more
    /// constants) and for RETURNING every time the statement runs; the tables a
    /// booking writes, their checks and their triggers need none (migration 17).
    #[test]
    fn writing_a_booking_builds_no_temporary_btree() {
        let conn = two_doctors_two_patients();
        let mut statements = vec![
            "UPDATE appointments SET doctor_id = ?1, patient_id = ?2, start_at = ?3, \
             end_at = ?4, status = ?5, updated_at = ?6 WHERE id = ?7"
                .to_owned(),
            "UPDATE deliveries SET status = ?1, updated_at = ?2 WHERE id = ?3".to_owned(),
            BUMP_AVAILABILITY_VERSION.to_owned(),
            INSERT_APPOINTMENT.to_owned(),
            UPDATE_APPOINTMENT.to_owned(),
        ];
        for table in [
            "appointments",
            "appointment_events",
            "audit_log",
            "deliveries",
            "live_events",
            "notifications",
            "reminder_plan",
        ] {
            let columns = first_column(
                &conn,
                &format!("SELECT name FROM pragma_table_info('{table}')"),
            );
            assert!(!columns.is_empty(), "{table} is a table");
            let values = vec!["?"; columns.len()].join(", ");
            statements.push(format!(
                "INSERT INTO {table} ({}) VALUES ({values})",
                columns.join(", ")
            ));
        }
        for sql in statements {
            let program = opcodes(&conn, &sql);
            assert!(program.iter().any(|op| op == "Halt"), "{program:?}");
            assert!(
                !program.iter().any(|op| op == "OpenEphemeral"),
                "{sql} builds a temporary B-tree: {program:?}"
            );
        }
        // The test sees one when there is one.
        let program = opcodes(
            &conn,
            "UPDATE doctors SET availability_version = 1 WHERE user_id = ?1 \
             RETURNING availability_version",
        );
        assert!(program.iter().any(|op| op == "OpenEphemeral"));
    }

    #[test]
    fn urls_name_sqlite_files() {
        assert_eq!(
            path_from_url("sqlite://carebook.db").unwrap(),
            PathBuf::from("carebook.db")
        );
        assert_eq!(
            path_from_url("sqlite:///var/lib/c.db?mode=rwc").unwrap(),
            PathBuf::from("/var/lib/c.db")
        );
        assert!(path_from_url("postgres://localhost/x").is_err());
        assert!(path_from_url("sqlite::memory:").is_err());
    }
}
