//! The large-clinic generator (`carebook demo --scale large`) at a tiny scale, on
//! SQLite and PostgreSQL: the counts, no doctor or patient with overlapping live
//! appointments, claims matching the live appointments, statuses that fit the time,
//! working logins, and the same rows from the same seed on either backend. Then the
//! binary itself, once, on SQLite.

use std::process::Command;
use std::sync::Arc;

use carebook::app::{App, LoginInput, ManualClock};
use carebook::config::Settings;
use carebook::demo::large::{self, Outcome, Progress, Scale};
use carebook::store::Store;
use carebook::store::tables::{Cell, TABLES};
use carebook::testing::{Backend, TestDir, fresh_database};
use jiff::Timestamp;

const TINY: Scale = Scale {
    doctors: 5,
    specialties: 3,
    patients: 50,
    appointments: 500,
    days_back: 30,
    days_ahead: 14,
};
const NOW: &str = "2026-03-10T10:17:00Z";
const LIVE: &str = "('requested', 'confirmed', 'checked_in')";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Every row of every table (the shared password hash blanked: its salt is random).
type Dump = Vec<(&'static str, Vec<Vec<Cell>>)>;

/// Loads the tiny clinic into a fresh database of `backend`; checks what the app
/// sees of it; returns the database's URL (kept alive by the guard) and its rows.
fn load(
    backend: Backend,
    seed: u64,
) -> Option<(carebook::testing::TestDatabaseGuard, large::Summary, Dump)> {
    let database = fresh_database(backend)?;
    let url = database.url();
    let (summary, dump) = runtime().block_on(async move {
        let store = Store::open(&url).expect("the database opens");
        let clock = Arc::new(ManualClock::default());
        clock.set(NOW.parse().expect("an instant"));
        let app = App::new(store.clone(), Settings::default(), clock);
        let Outcome::Loaded(summary) = large::load(&app, &TINY, seed, &mut Progress::new(false))
            .await
            .expect("the clinic loads")
        else {
            panic!("a fresh database is empty");
        };
        // A second load is refused: the database holds data now.
        assert!(matches!(
            large::load(&app, &TINY, seed, &mut Progress::new(false)).await,
            Ok(Outcome::AlreadyHasData)
        ));
        for email in [
            "admin@demo.carebook.test",
            "desk@demo.carebook.test",
            "doctor01@demo.carebook.test",
            "doctor05@demo.carebook.test",
            "patient01@demo.carebook.test",
            "patient50@demo.carebook.test",
        ] {
            let outcome = app
                .login(LoginInput {
                    email: email.into(),
                    password: "carebook-demo".into(),
                    client: "127.0.0.1".into(),
                    cookie: false,
                    otp: None,
                })
                .await
                .unwrap_or_else(|e| panic!("{email} logs in: {e}"));
            assert_eq!(outcome.user.email, email);
        }
        let dump = store
            .read(|tx| {
                let mut dump = Vec::new();
                for table in TABLES {
                    // Logins above wrote sessions and attempts: not the generator's.
                    if matches!(table.name, "sessions" | "login_attempts") {
                        continue;
                    }
                    let mut rows = tx.export_rows(table, None, u32::MAX)?;
                    if table.name == "users" {
                        for row in &mut rows {
                            row[7] = Cell::Null;
                        }
                    }
                    dump.push((table.name, rows));
                }
                Ok::<_, carebook::store::StoreError>(dump)
            })
            .await
            .expect("the rows read back");
        (summary, dump)
    });
    Some((database, summary, dump))
}

/// One integer from `sql`, straight from the database.
fn scalar(url: &str, sql: &str) -> i64 {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let conn = rusqlite::Connection::open(path).expect("the file opens");
        return conn
            .query_row(sql, [], |row| row.get(0))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connects");
        client
            .query_one(sql.as_str(), &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get::<_, i64>(0)
    })
    .join()
    .expect("the query thread")
}

fn rows_of<'d>(dump: &'d Dump, table: &str) -> &'d [Vec<Cell>] {
    &dump
        .iter()
        .find(|(name, _)| *name == table)
        .expect("a table")
        .1
}

#[test]
fn a_tiny_large_clinic_is_consistent_and_the_same_from_the_same_seed_on_both_backends() {
    let mut dumps = Vec::new();
    for backend in Backend::ALL {
        let Some((database, summary, dump)) = load(backend, 7) else {
            continue;
        };
        let url = database.url();
        let name = backend.name();
        assert_eq!(rows_of(&dump, "users").len(), 2 + 5 + 50, "{name}");
        assert_eq!(rows_of(&dump, "doctors").len(), 5, "{name}");
        assert_eq!(rows_of(&dump, "specialties").len(), 3, "{name}");
        assert_eq!(rows_of(&dump, "appointments").len(), 500, "{name}");
        assert_eq!(summary.appointments, 500);
        assert_eq!(rows_of(&dump, "appointment_events").len(), summary.events);
        assert!(summary.live > 0 && summary.live < 500, "{summary:?}");
        assert!(rows_of(&dump, "doctor_weekly_hours").len() >= 5);

        for owner in ["doctor_id", "patient_id"] {
            let overlaps = scalar(
                &url,
                &format!(
                    "SELECT COUNT(*) FROM appointments a JOIN appointments b \
                     ON a.{owner} = b.{owner} AND a.id < b.id \
                     AND a.start_at < b.end_at AND b.start_at < a.end_at \
                     WHERE a.status IN {LIVE} AND b.status IN {LIVE}"
                ),
            );
            assert_eq!(overlaps, 0, "{name}: live appointments overlap by {owner}");
        }
        let any_overlap = scalar(
            &url,
            "SELECT COUNT(*) FROM appointments a JOIN appointments b \
             ON a.doctor_id = b.doctor_id AND a.id < b.id \
             AND a.start_at < b.end_at AND b.start_at < a.end_at",
        );
        assert_eq!(
            any_overlap, 0,
            "{name}: one slot, one appointment, whatever the status"
        );
        let units = scalar(
            &url,
            &format!(
                "SELECT CAST(COALESCE(SUM((end_at - start_at) / 300000), 0) AS BIGINT) \
                 FROM appointments WHERE status IN {LIVE}"
            ),
        );
        // PostgreSQL's guard: its import claimed every live slot (SQLite's triggers
        // checked each row as it went in, and keep no rows of their own).
        if backend == Backend::Postgres {
            assert_eq!(scalar(&url, "SELECT COUNT(*) FROM doctor_claims"), units);
            assert_eq!(scalar(&url, "SELECT COUNT(*) FROM patient_claims"), units);
        }
        let during_time_off = scalar(
            &url,
            "SELECT COUNT(*) FROM appointments a JOIN time_off t ON t.doctor_id = a.doctor_id \
             AND a.start_at < t.end_at AND t.start_at < a.end_at",
        );
        assert_eq!(during_time_off, 0, "{name}");
        let now = NOW
            .parse::<Timestamp>()
            .expect("an instant")
            .as_millisecond();
        let misfits = scalar(
            &url,
            &format!(
                "SELECT COUNT(*) FROM appointments WHERE \
                 (end_at <= {now} AND status NOT IN ('completed', 'no_show', 'cancelled', 'rejected')) \
                 OR (end_at > {now} AND status NOT IN ('requested', 'confirmed', 'cancelled'))"
            ),
        );
        assert_eq!(misfits, 0, "{name}: statuses fit past and future");
        let future = scalar(
            &url,
            &format!("SELECT COUNT(*) FROM appointments WHERE start_at > {now}"),
        );
        assert!(future > 50 && future < 400, "{name}: {future} ahead");
        let unreferenced_history = scalar(
            &url,
            "SELECT COUNT(*) FROM appointments a WHERE NOT EXISTS \
             (SELECT 1 FROM appointment_events e WHERE e.appointment_id = a.id AND e.seq = 0)",
        );
        assert_eq!(
            unreferenced_history, 0,
            "{name}: every appointment was booked"
        );
        dumps.push((name, dump));
    }

    // The same seed gives the same rows, ids included: again on SQLite, and on
    // PostgreSQL (when it ran); another seed gives another clinic.
    let (_, first) = &dumps[0];
    let (_database, _, again) = load(Backend::Sqlite, 7).expect("SQLite is always there");
    assert!(first == &again, "the same seed, the same rows");
    for (name, dump) in &dumps[1..] {
        assert!(first == dump, "sqlite and {name} hold the same rows");
    }
    let (_database, _, other) = load(Backend::Sqlite, 8).expect("SQLite is always there");
    assert!(
        rows_of(first, "appointments") != rows_of(&other, "appointments"),
        "another seed, another clinic"
    );
}

#[test]
fn the_command_loads_a_small_large_clinic_once_and_refuses_misplaced_options() {
    let dir = TestDir::new();
    let database = format!("sqlite://{}", dir.path().join("large.db").display());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_carebook"))
            .env("CAREBOOK_CONFIG", "/nonexistent/carebook.toml")
            .env("CAREBOOK_LOG", "warn")
            .arg("demo")
            .args(args)
            .args(["--database", &database])
            .output()
            .expect("carebook demo runs")
    };
    let large = [
        "--scale",
        "large",
        "--doctors",
        "3",
        "--patients",
        "20",
        "--appointments",
        "100",
        "--seed",
        "3",
    ];
    let loaded = run(&large);
    let stdout = String::from_utf8_lossy(&loaded.stdout);
    assert!(loaded.status.success(), "{loaded:?}");
    assert!(
        stdout.contains("loaded the large clinic (seed 3)"),
        "{stdout}"
    );
    assert!(stdout.contains("100 appointments"), "{stdout}");
    assert!(
        stdout.contains("patient01@demo.carebook.test .. patient20@"),
        "{stdout}"
    );
    // Not a terminal: no progress bar.
    assert!(!String::from_utf8_lossy(&loaded.stderr).contains('\r'));

    let again = run(&large);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds data"),
        "{again:?}"
    );
    let misplaced = run(&["--seed", "3"]);
    assert!(!misplaced.status.success());
    assert!(String::from_utf8_lossy(&misplaced.stderr).contains("apply to --scale large"));
}
