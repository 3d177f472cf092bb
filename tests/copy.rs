//! `carebook copy`: a clinic filled through the API on SQLite is copied to another
//! store with the real binary, and a real server on the copy answers exactly as the
//! original did. Also the refusals (a target with data, the same database, a missing
//! source) and the verification, which must catch a single changed value.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use carebook::copy::{CopyError, verify};
use carebook::store::tables::{Cell, TABLES};
use carebook::store::{LoginAttempt, NewAuditEntry, Role, Store, UserId, UserRecord, UserStatus};
use carebook::testing::{Backend, TestDir, fresh_database, postgres_available};
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::{Value, json};

const ADMIN: &str = "admin@demo.carebook.test";
const DEMO_PASSWORD: &str = "carebook-demo";
const PASSWORD: &str = "a long enough secret";

fn carebook() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_carebook"));
    command
        .env("CAREBOOK_CONFIG", "/nonexistent/carebook.toml")
        .env("CAREBOOK_LOG", "warn")
        // Email without SMTP goes to files: not into the source tree.
        .env(
            "CAREBOOK_MAIL_DIR",
            std::env::temp_dir().join("carebook-test-mail"),
        );
    command
}

fn run_copy(from: &str, to: &str, force: bool) -> Output {
    let mut command = carebook();
    command.args(["copy", "--from", from, "--to", to]);
    if force {
        command.arg("--force");
    }
    command.output().expect("carebook copy runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(database: &str, extra: &[&str]) -> Server {
        let mut child = carebook()
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("carebook serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(address) = line.strip_prefix("listening on ") {
                return Server {
                    child,
                    base: format!("{address}/api/v1"),
                };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("carebook serve ended without listening");
    }

    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        assert_eq!(self.child.wait().expect("serve exits").code(), Some(0));
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &Server) -> Api {
        Api {
            client: carebook::testing::http_client(),
            base: server.base.clone(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Value {
        let (status, body) = self.call(reqwest::Method::GET, path, token, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn login(&self, email: &str, password: &str) -> (u16, Value) {
        self.post(
            "/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    async fn token(&self, email: &str, password: &str) -> String {
        let (status, body) = self.login(email, password).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("a token").to_owned()
    }

    /// Every item of a paged list, following `next_cursor`.
    async fn all_pages(&self, path: &str, token: Option<&str>) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let separator = if path.contains('?') { '&' } else { '?' };
            let page_path = match &cursor {
                Some(cursor) => format!("{path}{separator}cursor={cursor}"),
                None => path.to_owned(),
            };
            let page = self.get(&page_path, token).await;
            items.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
    }
}

/// What the test did on the original server, to look at again on the copy.
struct Lived {
    admin: String,
    patient: String,
    doctor_id: String,
    cancelled_id: String,
    /// `YYYY-MM-DD` days of a week well inside every horizon.
    week: (String, String),
}

/// The demo clinic plus a few things people do: a failed login, a new patient with
/// and without optional fields, a booking that is cancelled and one that stays,
/// and time off.
async fn live_a_little(api: &Api) -> Lived {
    let admin = api.token(ADMIN, DEMO_PASSWORD).await;
    let (status, _) = api.login("patient01@demo.carebook.test", "not it").await;
    assert_eq!(status, 401);

    let (status, body) = api
        .post(
            "/auth/register",
            None,
            json!({ "email": "mover@clinic.test", "password": PASSWORD, "name": "Mo Mover",
                    "phone": "+49 30 1234567", "date_of_birth": "1990-04-01" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .post(
            "/auth/register",
            None,
            json!({ "email": "plain@clinic.test", "password": PASSWORD, "name": "Pia Plain" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let patient = api.token("mover@clinic.test", PASSWORD).await;

    let doctors = api.get("/doctors?q=Anna", None).await;
    let doctor_id = doctors["items"][0]["id"]
        .as_str()
        .expect("Anna Weber")
        .to_owned();
    let today = Timestamp::now()
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date();
    let week = (
        (today + 4.days()).to_string(),
        (today + 10.days()).to_string(),
    );
    let slots = api
        .get(
            &format!("/doctors/{doctor_id}/slots?from={}&to={}", week.0, week.1),
            None,
        )
        .await;
    let starts: Vec<String> = slots["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .map(|slot| slot["start"].as_str().unwrap().to_owned())
        .collect();
    assert!(starts.len() >= 2, "{slots}");

    let (status, cancelled) = api
        .post(
            "/appointments",
            Some(&patient),
            json!({ "doctor_id": doctor_id, "start": starts[0], "reason": "checkup" }),
        )
        .await;
    assert_eq!(status, 201, "{cancelled}");
    let cancelled_id = cancelled["id"].as_str().unwrap().to_owned();
    let (status, body) = api
        .post(
            &format!("/appointments/{cancelled_id}/cancel"),
            Some(&patient),
            json!({ "reason": "moving house" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .post(
            "/appointments",
            Some(&patient),
            json!({ "doctor_id": doctor_id, "start": starts[1] }),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let off_start = format!("{}T12:00:00Z", week.1);
    let off_end = format!("{}T13:00:00Z", week.1);
    let (status, body) = api
        .post(
            &format!("/doctors/{doctor_id}/time-off"),
            Some(&admin),
            json!({ "start": off_start, "end": off_end, "reason": "training" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    Lived {
        admin,
        patient,
        doctor_id,
        cancelled_id,
        week,
    }
}

/// Everything the API shows about the clinic, as the admin and the patient see it.
/// `next_free_slot` is left out: it moves with the clock, not with the data.
async fn look_around(api: &Api, lived: &Lived) -> Vec<(&'static str, Value)> {
    let admin = Some(lived.admin.as_str());
    let mut doctors = api.all_pages("/doctors?limit=100", None).await;
    for doctor in &mut doctors {
        doctor
            .as_object_mut()
            .expect("a doctor")
            .remove("next_free_slot");
    }
    let appointments = api
        .all_pages("/appointments?limit=100&sort=-start", admin)
        .await;
    let first_demo_appointment = appointments
        .iter()
        .rev()
        .find(|a| a["id"] != lived.cancelled_id.as_str())
        .expect("demo appointments")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let doctor = &lived.doctor_id;
    let (from, to) = &lived.week;
    vec![
        ("doctors", Value::Array(doctors)),
        ("specialties", api.get("/specialties", None).await),
        (
            "users",
            Value::Array(api.all_pages("/users?limit=100", admin).await),
        ),
        ("appointments", Value::Array(appointments)),
        (
            "appointments ascending, first page",
            api.get("/appointments?limit=50", admin).await,
        ),
        (
            "the cancelled appointment",
            api.get(&format!("/appointments/{}", lived.cancelled_id), admin)
                .await,
        ),
        (
            "a demo appointment",
            api.get(&format!("/appointments/{first_demo_appointment}"), admin)
                .await,
        ),
        (
            "the patient's appointments",
            api.get("/appointments", Some(&lived.patient)).await,
        ),
        ("the patient", api.get("/me", Some(&lived.patient)).await),
        ("audit", api.get("/audit?limit=100", admin).await),
        (
            "slots",
            api.get(
                &format!("/doctors/{doctor}/slots?from={from}&to={to}"),
                None,
            )
            .await,
        ),
        (
            "schedule",
            api.get(&format!("/doctors/{doctor}/schedule"), admin).await,
        ),
        (
            "time off",
            api.get(&format!("/doctors/{doctor}/time-off"), admin).await,
        ),
    ]
}

fn assert_same_view(original: &[(&str, Value)], copy: &[(&str, Value)]) {
    assert_eq!(original.len(), copy.len());
    for ((name, before), (_, after)) in original.iter().zip(copy) {
        assert_eq!(before, after, "{name} differs after the copy");
    }
}

/// Fills `source` (SQLite) through the API, copies it to `target` with the binary,
/// and checks the copy through the API; then the refusals and `--force`.
async fn move_a_clinic(source: &str, target: &str, target_with_secret: &str) {
    let started = Instant::now();
    let server = Server::start(source, &["--demo"]);
    let api = Api::new(&server);
    let lived = live_a_little(&api).await;
    let original = look_around(&api, &lived).await;
    let part = |name: &str| &original.iter().find(|(n, _)| *n == name).unwrap().1;
    let length = |name: &str| part(name).as_array().map_or(0, Vec::len);
    assert_eq!(length("doctors"), 20, "the demo's doctors");
    assert!(length("users") >= 74, "the demo's people and ours");
    assert!(length("appointments") > 300, "the demo's appointments");
    assert!(
        part("the cancelled appointment")["history"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    );
    assert_eq!(part("the cancelled appointment")["status"], "cancelled");
    assert!(!part("slots")["slots"].as_array().unwrap().is_empty());
    assert_eq!(part("time off")["items"].as_array().unwrap().len(), 1);
    let top_audit_id = original
        .iter()
        .find(|(name, _)| *name == "audit")
        .unwrap()
        .1["items"][0]["id"]
        .as_i64()
        .unwrap();
    server.stop();
    eprintln!("filled through the API in {:?}", started.elapsed());

    let copying = Instant::now();
    let copied = run_copy(source, target, false);
    let (out, err) = (text(&copied.stdout), text(&copied.stderr));
    assert!(copied.status.success(), "copy failed: {err}\n{out}");
    eprintln!("copied in {:?}", copying.elapsed());
    for table in TABLES {
        assert!(
            out.lines().any(|line| line.starts_with(table.name)),
            "the report lacks {}: {out}",
            table.name
        );
    }
    assert!(out.contains("tables; counts and checksums match"), "{out}");
    assert!(
        err.contains("copied appointments:") && err.contains("verified audit_log:"),
        "without a terminal, one line per table: {err}"
    );

    // The copy answers as the original did; sessions came along, so the same
    // tokens work and nobody has to log in again (which would add to the audit).
    let server = Server::start(target, &[]);
    let api = Api::new(&server);
    let copy = look_around(&api, &lived).await;
    assert_same_view(&original, &copy);

    // Passwords came along as hashes, and new rows get fresh ids after the copied
    // ones.
    let admin = api.token(ADMIN, DEMO_PASSWORD).await;
    let audit = api.get("/audit?limit=1", Some(&admin)).await;
    assert_eq!(audit["items"][0]["action"], "login.succeeded");
    assert!(audit["items"][0]["id"].as_i64().unwrap() > top_audit_id);
    let (status, _) = api.login(ADMIN, "wrong password").await;
    assert_eq!(status, 401);
    server.stop();

    // A target with data is refused; --force replaces it (and no password is shown).
    let again = run_copy(source, target, false);
    assert!(!again.status.success());
    let err = text(&again.stderr);
    assert!(
        err.contains("the target already holds data (") && err.contains("pass --force"),
        "{err}"
    );
    let forced = run_copy(source, target_with_secret, true);
    let (out, err) = (text(&forced.stdout), text(&forced.stderr));
    assert!(forced.status.success(), "{err}");
    assert!(out.contains("counts and checksums match"), "{out}");
    assert!(err.contains("replaced"), "{err}");
    assert!(
        !out.contains("s3cret-pw") && !err.contains("s3cret-pw"),
        "a password was printed: {err}"
    );

    // The replaced copy is the original again: the login above is gone.
    let server = Server::start(target, &[]);
    let api = Api::new(&server);
    let copy = look_around(&api, &lived).await;
    assert_same_view(&original, &copy);
    server.stop();
    eprintln!("the whole move took {:?}", started.elapsed());
}

fn sqlite_url(dir: &TestDir, name: &str) -> String {
    format!("sqlite://{}", dir.path().join(name).display())
}

/// `url` with a password in its user info (where it has none): trust authentication
/// ignores it, and the output must not show it.
fn with_password(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            match authority.split_once('@') {
                Some((user, host)) if !user.contains(':') => {
                    format!("{scheme}://{user}:s3cret-pw@{host}/{path}")
                }
                _ => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinic_moves_from_sqlite_to_postgres_unchanged() {
    if !postgres_available() {
        return;
    }
    let Some(target) = fresh_database(Backend::Postgres) else {
        return;
    };
    let dir = TestDir::new();
    let source = sqlite_url(&dir, "clinic.db");
    let url = target.url();
    move_a_clinic(&source, &url, &with_password(&url)).await;
    drop(target);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clinic_moves_from_sqlite_to_sqlite_unchanged() {
    let dir = TestDir::new();
    let source = sqlite_url(&dir, "clinic.db");
    // The target does not exist yet: copy creates and migrates it.
    let target = sqlite_url(&dir, "moved/clinic.db");
    move_a_clinic(&source, &target, &target).await;
}

#[test]
fn copy_refuses_a_missing_source_and_the_same_database() {
    let dir = TestDir::new();
    let source = sqlite_url(&dir, "clinic.db");
    let missing = run_copy(&source, &sqlite_url(&dir, "target.db"), false);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("does not exist"),
        "{}",
        text(&missing.stderr)
    );
    assert!(
        !dir.path().join("clinic.db").exists() && !dir.path().join("target.db").exists(),
        "nothing is created for a missing source"
    );

    let migrate = carebook()
        .args(["migrate", "--database", &source])
        .output()
        .unwrap();
    assert!(migrate.status.success());
    // The same file, spelled another way, even with --force.
    let other_spelling = format!(
        "sqlite:{}",
        dir.path().join(".").join("clinic.db").display()
    );
    let same = run_copy(&source, &other_spelling, true);
    assert!(!same.status.success());
    assert!(
        text(&same.stderr).contains("same database"),
        "{}",
        text(&same.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_refuses_the_same_postgres_database_under_another_name() {
    let Some(database) = fresh_database(Backend::Postgres) else {
        return;
    };
    let url = database.url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let other = format!("{url}{separator}application_name=another-spelling");
    let output = run_copy(&url, &other, true);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("same database"),
        "{}",
        text(&output.stderr)
    );
    drop(database);
}

fn user(id: &str, phone: Option<&str>) -> UserRecord {
    let now: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
    UserRecord {
        id: UserId::new(id),
        email: format!("{id}@clinic.test"),
        name: format!("User {id}"),
        phone: phone.map(str::to_owned),
        date_of_birth: None,
        role: Role::Patient,
        status: UserStatus::Active,
        password_hash: "hash".into(),
        created_at: now,
        updated_at: now,
    }
}

/// A source with more rows than a page in the tables with generated ids.
async fn fill_store(store: &Store) {
    store
        .write(|tx| {
            for i in 0..30 {
                let phone = (i % 2 == 0).then_some("+1 555 0100");
                tx.insert_user(&user(&format!("u{i:02}"), phone))?;
            }
            let start: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
            for i in 0..2_500_i64 {
                tx.record_login_attempt(&LoginAttempt {
                    email: format!("u{:02}@clinic.test", i % 30),
                    client: format!("10.0.0.{}", i % 7),
                    at: start + SignedDuration::from_secs(i),
                    succeeded: i % 3 == 0,
                })?;
                tx.append_audit(&NewAuditEntry {
                    at: start + SignedDuration::from_secs(i),
                    actor_id: (i % 2 == 0).then(|| UserId::new(format!("u{:02}", i % 30))),
                    action: "login.failed".into(),
                    subject_type: "user".into(),
                    subject_id: None,
                    detail: json!({ "n": i }),
                })?;
            }
            Ok::<_, carebook::store::StoreError>(())
        })
        .await
        .unwrap();
}

fn mismatched_tables(error: CopyError) -> Vec<&'static str> {
    match error {
        CopyError::Mismatch(mismatches) => mismatches.iter().map(|m| m.table).collect(),
        other => panic!("expected a mismatch, got {other}"),
    }
}

/// The library's copy and verification, on a SQLite source and a target of
/// `backend`: paging over many rows, then a single changed value in the target (a
/// NULL that became '', a flag flipped) makes verification fail naming the table.
async fn verification_catches_one_changed_value(backend: Backend) {
    let Some(source_db) = fresh_database(Backend::Sqlite) else {
        return;
    };
    let Some(target_db) = fresh_database(backend) else {
        return;
    };
    let source = Store::open(&source_db.url()).unwrap();
    fill_store(&source).await;

    let mut seen = Vec::new();
    let report = carebook::copy::copy(&source_db.url(), &target_db.url(), false, |p| {
        if p.table_finished {
            seen.push((p.phase, p.table, p.table_done));
        }
    })
    .await
    .expect("the copy succeeds");
    assert_eq!(report.tables.len(), TABLES.len());
    let attempts = report
        .tables
        .iter()
        .find(|t| t.table == "login_attempts")
        .unwrap();
    assert_eq!(attempts.rows, 2_500);
    assert_eq!(report.rows, 30 + 2 * 2_500);
    assert_eq!(seen.len(), 2 * TABLES.len(), "{seen:?}");

    let target = Store::open(&target_db.url()).unwrap();
    assert_eq!(target.backend(), backend.name());
    verify(&source, &target, |_| {}).await.expect("equal");

    // Small pages give the same rows as one big one, on both sides.
    for store in [&source, &target] {
        for table in TABLES {
            let (whole, paged) = store
                .read(move |tx| {
                    let whole = tx.export_rows(table, None, 100_000)?;
                    let mut paged: Vec<Vec<Cell>> = Vec::new();
                    loop {
                        let after = paged.last().map(|row| table.key_of(row).to_vec());
                        let page = tx.export_rows(table, after.as_deref(), 7)?;
                        if page.is_empty() {
                            break;
                        }
                        paged.extend(page);
                    }
                    Ok::<_, carebook::store::StoreError>((whole, paged))
                })
                .await
                .unwrap();
            assert_eq!(whole, paged, "{} on {}", table.name, store.backend());
        }
    }

    // A NULL phone becomes '' in the target: only users differs.
    let id = UserId::new("u01");
    let changed = id.clone();
    target
        .write(move |tx| {
            let mut user = tx.find_user(&changed)?.unwrap();
            assert_eq!(user.phone, None);
            user.phone = Some(String::new());
            tx.update_user(&user)
        })
        .await
        .unwrap();
    let error = verify(&source, &target, |_| {}).await.unwrap_err();
    assert!(error.to_string().contains("table users"), "{error}");
    assert_eq!(mismatched_tables(error), vec!["users"]);

    // Put back, equal again: the checksum is of the data, not of when it was written.
    target
        .write(move |tx| {
            let mut user = tx.find_user(&id)?.unwrap();
            user.phone = None;
            tx.update_user(&user)
        })
        .await
        .unwrap();
    verify(&source, &target, |_| {}).await.expect("equal again");

    // One login attempt's flag flipped (re-imported through the bulk operations).
    let attempts_table = TABLES.iter().find(|t| t.name == "login_attempts").unwrap();
    target
        .write(move |tx| {
            let mut rows = tx.export_rows(attempts_table, None, 100_000)?;
            let Cell::Bool(flag) = rows[1234][4] else {
                panic!("flags are Bool on every backend: {:?}", rows[1234][4]);
            };
            rows[1234][4] = Cell::Bool(!flag);
            tx.delete_all_rows(attempts_table)?;
            tx.import_rows(attempts_table, &rows)?;
            tx.finish_import()
        })
        .await
        .unwrap();
    let error = verify(&source, &target, |_| {}).await.unwrap_err();
    assert_eq!(mismatched_tables(error), vec!["login_attempts"]);

    if backend == Backend::Postgres {
        // PostgreSQL's TEXT cannot hold NUL: such a row is refused with a clear
        // message (which does not repeat the value).
        let specialties = TABLES.iter().find(|t| t.name == "specialties").unwrap();
        let row = vec![
            Cell::Text("spc-nul".into()),
            Cell::Text("Secret\0name".into()),
            Cell::Text("nul".into()),
        ];
        let error = target
            .write(move |tx| tx.import_rows(specialties, &[row]))
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("specialties") && message.contains("NUL"),
            "{message}"
        );
        assert!(!message.contains("Secret"), "{message}");
    }

    drop((source, target));
    drop((source_db, target_db));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_catches_one_changed_value_on_sqlite() {
    verification_catches_one_changed_value(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_catches_one_changed_value_on_postgres() {
    verification_catches_one_changed_value(Backend::Postgres).await;
}
