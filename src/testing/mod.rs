//! Test support shared by the store contract tests and the API tests: a fresh,
//! migrated database of either backend per test, removed again when the test ends.
//!
//! PostgreSQL is found at `CAREBOOK_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`), an account that may create databases.
//! Each [`TestDatabase`] is a database of its own, `carebook_test_<unix seconds>_<hex>`
//! (with an ICU `en-US` default collation where the server supports it, else the
//! server's default), dropped (`WITH (FORCE)`) when the value is dropped; databases of this kind left
//! behind by killed runs are dropped after a day. When PostgreSQL cannot be reached,
//! [`TestDatabase::postgres`] says so loudly on stderr once per process and returns
//! `None` (the caller skips its PostgreSQL half), except under `CI=true` (or `1`),
//! where it panics.
//!
//! Everything here that talks to PostgreSQL does it on a plain thread of its own,
//! so it may be called from async tests.
//!
//! [`webdriver`] drives headless Chromium for the browser tests (`tests/browser`),
//! with the same rule: a missing browser is a loud skip, and a failure under `CI=true`.

pub mod http_peer;
pub mod oidc;
pub mod smtp;
pub mod stripe;
pub mod webdriver;

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Once, OnceLock};
use std::time::Duration;

use crate::store::postgres::describe;
use crate::store::{Store, redact_url};

/// Where the tests find PostgreSQL.
pub const POSTGRES_URL_ENV: &str = "CAREBOOK_TEST_POSTGRES_URL";
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

const DATABASE_PREFIX: &str = "carebook_test_";
/// Leftover test databases older than this are dropped.
const STALE_AFTER_SECONDS: u64 = 24 * 3600;

/// The database kind a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub const ALL: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

    /// `"sqlite"` or `"postgres"`, as [`Store::backend`] says.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A fresh, empty PostgreSQL database, dropped with this value.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

/// The outcome of the one connection attempt per process (see [`postgres_available`]).
static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
static BANNER: Once = Once::new();

fn admin_url() -> String {
    std::env::var(POSTGRES_URL_ENV)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}

/// For a test that needs something of the machine (root, a file system feature, a
/// tool): prints a loud "SKIPPED" banner to stderr with `remedy` and returns, or
/// panics under `CI=true`.
pub fn capability_missing(test: &str, why: &str, remedy: &str) {
    if under_ci() {
        panic!("{test} cannot run here, and under CI=true that is a failure: {why}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! {test} was SKIPPED: {why}\n\
         !!! {remedy}; under CI=true this is a failure.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
    );
}

/// Where `scripts/ensure-python-tools.sh` installs the Python tools the tests use:
/// `$CAREBOOK_VENV/bin/NAME`, by default under `~/.cache/carebook-venv`.
pub fn python_tool(name: &str) -> std::path::PathBuf {
    use std::path::PathBuf;
    let venv = std::env::var_os("CAREBOOK_VENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"))
                .join("carebook-venv")
        });
    venv.join("bin").join(name)
}

pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| {
        let value = value.trim();
        value.eq_ignore_ascii_case("true") || value == "1"
    })
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).expect("the operating system's random source is available");
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    let mut result = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// Runs `f` on a plain thread with a client connected to the admin database.
fn with_admin<T: Send + 'static>(
    admin_url: &str,
    f: impl FnOnce(&mut postgres::Client) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let admin_url = admin_url.to_owned();
    std::thread::spawn(move || {
        let mut config: postgres::Config = admin_url.parse().map_err(|e| describe(&e))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let mut client = config.connect(postgres::NoTls).map_err(|e| describe(&e))?;
        f(&mut client)
    })
    .join()
    .unwrap_or_else(|_| Err("the PostgreSQL helper thread panicked".into()))
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Drops test databases that earlier, killed runs left behind.
fn sweep_stale(client: &mut postgres::Client) {
    let Ok(rows) = client.query(
        "SELECT datname::TEXT FROM pg_database WHERE datname LIKE 'carebook\\_test\\_%'",
        &[],
    ) else {
        return;
    };
    let now = unix_seconds();
    for row in rows {
        let name: String = row.get(0);
        let created = name
            .strip_prefix(DATABASE_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|created| now.saturating_sub(created) > STALE_AFTER_SECONDS) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote(&name)
            ));
        }
    }
}

/// Says loudly that the PostgreSQL half is skipped (once per process), or panics
/// under `CI=true`.
fn unavailable(admin_url: &str, error: &str) {
    let shown = redact_url(admin_url);
    if under_ci() {
        panic!("PostgreSQL is required under CI=true: cannot use {shown}: {error}");
    }
    BANNER.call_once(|| {
        // Straight to the process's stderr: the test harness captures `eprintln!`
        // of passing tests, and this must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! PostgreSQL at {shown} is not reachable: the PostgreSQL half of the tests was SKIPPED !!!\n\
             !!! ({error})\n\
             !!! Start PostgreSQL or set {POSTGRES_URL_ENV}; under CI=true this is a failure.\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    });
}

/// `true` when PostgreSQL is reachable at the admin URL. Tried once per process
/// (which also drops stale test databases); when it is not reachable this prints
/// the loud "SKIPPED" banner once, or panics under `CI=true`.
pub fn postgres_available() -> bool {
    let admin_url = admin_url();
    let probe = PROBE.get_or_init(|| {
        with_admin(&admin_url, |client| {
            sweep_stale(client);
            Ok(())
        })
    });
    match probe {
        Ok(()) => true,
        Err(error) => {
            unavailable(&admin_url, error);
            false
        }
    }
}

impl TestDatabase {
    /// Creates a fresh database, or returns `None` (after a loud note on stderr,
    /// once per process) when PostgreSQL is not reachable. Panics instead under
    /// `CI=true`.
    pub fn postgres() -> Option<TestDatabase> {
        if !postgres_available() {
            return None;
        }
        let admin_url = admin_url();
        let name = format!("{DATABASE_PREFIX}{}_{}", unix_seconds(), random_hex(6));
        // Where the server has ICU, the database's default collation is en-US (as
        // on many production servers), not C: the contract tests then show that the
        // schema's byte-wise ordering does not depend on the database's default.
        let create_icu = format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' \
             LOCALE_PROVIDER icu ICU_LOCALE 'en-US'",
            quote(&name)
        );
        let create = format!("CREATE DATABASE {}", quote(&name));
        let created = with_admin(&admin_url, move |client| {
            client
                .batch_execute(&create_icu)
                .or_else(|_| client.batch_execute(&create))
                .map_err(|e| describe(&e))
        });
        match created {
            Ok(()) => {
                let url = with_database(&admin_url, &name);
                Some(TestDatabase {
                    admin_url,
                    name,
                    url,
                })
            }
            Err(error) => panic!(
                "PostgreSQL at {} is reachable but a test database cannot be created: {error}",
                redact_url(&admin_url)
            ),
        }
    }

    /// The URL of this database (`postgres://…/carebook_test_…`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let drop_it = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote(&self.name));
        let dropped = with_admin(&self.admin_url, move |client| {
            client.batch_execute(&drop_it).map_err(|e| describe(&e))
        });
        if let Err(error) = dropped {
            let _ = writeln!(
                std::io::stderr(),
                "warning: could not drop test database {}: {error}",
                self.name
            );
        }
    }
}

/// A temporary directory, removed with this value.
pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    pub fn new() -> TestDir {
        let path = std::env::temp_dir().join(format!("carebook-test-{}", random_hex(8)));
        std::fs::create_dir_all(&path).expect("a temporary directory");
        TestDir { path }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Default for TestDir {
    fn default() -> Self {
        TestDir::new()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Keeps a test's database alive: the SQLite file's directory or the PostgreSQL
/// database. Drop it after everything that uses the database.
pub struct TestDatabaseGuard {
    backend: Backend,
    url: String,
    place: Place,
}

enum Place {
    Sqlite(TestDir),
    Postgres(TestDatabase),
}

impl TestDatabaseGuard {
    /// The database URL, for `Store::open` or `carebook --database`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The PostgreSQL database, when that is the backend.
    pub fn postgres(&self) -> Option<&TestDatabase> {
        match &self.place {
            Place::Postgres(database) => Some(database),
            Place::Sqlite(_) => None,
        }
    }

    /// The SQLite database's directory, when that is the backend.
    pub fn sqlite_dir(&self) -> Option<&std::path::Path> {
        match &self.place {
            Place::Sqlite(dir) => Some(dir.path()),
            Place::Postgres(_) => None,
        }
    }
}

/// A fresh database of `backend` with the schema applied, not yet opened; `None`
/// when PostgreSQL is wanted but not reachable (see [`TestDatabase::postgres`]).
pub fn fresh_database(backend: Backend) -> Option<TestDatabaseGuard> {
    let (url, place) = match backend {
        Backend::Sqlite => {
            let dir = TestDir::new();
            let url = format!("sqlite://{}", dir.path().join("carebook.db").display());
            (url, Place::Sqlite(dir))
        }
        Backend::Postgres => {
            let database = TestDatabase::postgres()?;
            (database.url(), Place::Postgres(database))
        }
    };
    Store::migrate(&url).expect("the test database migrates");
    Some(TestDatabaseGuard {
        backend,
        url,
        place,
    })
}

/// A [`Store`] over a fresh, migrated database of `backend`, and the guard that
/// keeps that database alive (drop the store first). `None` when PostgreSQL is
/// wanted but not reachable.
pub fn open_store(backend: Backend) -> Option<(Store, TestDatabaseGuard)> {
    let guard = fresh_database(backend)?;
    let store = Store::open(&guard.url()).expect("the test database opens");
    Some((store, guard))
}

/// A plain HTTP client for tests (rustls needs its crypto provider chosen first).
pub fn http_client() -> reqwest::Client {
    crate::notify::install_crypto_provider();
    reqwest::Client::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_are_rewritten() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "x"), "postgresql://h/x");
    }
}
