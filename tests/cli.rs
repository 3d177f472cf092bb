//! The `carebook` binary as an operator uses it: subcommands, the listening line,
//! clean shutdown on SIGTERM, and the first admin.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};

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

fn database(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("carebook.db").display())
}

fn run_with_stdin(mut command: Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("carebook starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("carebook finishes")
}

/// Starts `serve` and returns the child with the address it printed.
fn start_server(dir: &tempfile::TempDir, extra: &[&str]) -> (Child, String, Vec<String>) {
    start_server_with(dir, extra, &[])
}

fn start_server_with(
    dir: &tempfile::TempDir,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Child, String, Vec<String>) {
    let mut child = carebook()
        .env("CAREBOOK_MAIL_DIR", dir.path().join("mail"))
        .envs(env.iter().copied())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database(dir),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("carebook serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        if let Some(address) = line.strip_prefix("listening on http://") {
            return (child, address.to_owned(), seen);
        }
        seen.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("serve ended without printing its address; it printed {seen:?}");
}

fn http_get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

fn http_post_json(address: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

fn http_post_json_as(address: &str, token: &str, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).expect("connect");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
}

/// The string value of `"field":"…"` in a JSON answer.
fn json_field(answer: &str, field: &str) -> String {
    answer
        .split(&format!("\"{field}\":\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {field} in {answer}"))
        .to_owned()
}

/// Waits for the server's delivery worker to write an email with a link to `path`
/// into `mail_dir`; the link's token.
fn emailed_token(mail_dir: &std::path::Path, path: &str) -> String {
    let needle = format!("{path}?token=3D");
    for _ in 0..200 {
        for entry in std::fs::read_dir(mail_dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let text = text.replace("=\r\n", "");
            if let Some(at) = text.find(&needle) {
                return text[at + needle.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("no email with a {path} link in {}", mail_dir.display());
}

/// Registers a patient whose password is "a long enough secret".
fn register(address: &str, email: &str, name: &str) {
    let body =
        format!(r#"{{"email":"{email}","password":"a long enough secret","name":"{name}"}}"#);
    let registered = http_post_json(address, "/api/v1/auth/register", &body);
    assert!(registered.starts_with("HTTP/1.1 201"), "{registered}");
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    child.wait().expect("carebook exits")
}

#[test]
fn help_lists_the_subcommands() {
    let output = carebook().arg("--help").output().expect("runs");
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "demo", "check", "copy", "admin"] {
        assert!(text.contains(command), "--help lacks {command}: {text}");
    }
}

#[test]
fn serve_prints_its_address_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address, _) = start_server(&dir, &[]);
    let health = http_get(&address, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let ready = http_get(&address, "/readyz");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    let status = terminate(&mut child);
    assert_eq!(status.code(), Some(0), "serve should exit 0 on SIGTERM");
}

#[test]
fn serve_with_demo_loads_the_clinic_and_prints_the_logins() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address, printed) = start_server(&dir, &["--demo"]);
    let printed = printed.join("\n");
    assert!(printed.contains("loaded the demo clinic"), "{printed}");
    assert!(printed.contains("admin@demo.carebook.test"), "{printed}");
    assert!(
        printed.contains("written to"),
        "where the demo's email goes: {printed}"
    );
    let doctors = http_get(&address, "/api/v1/doctors?limit=100");
    assert!(
        doctors.contains("Anna Weber") && doctors.contains("Tanja Horvat"),
        "{doctors}"
    );
    assert_eq!(terminate(&mut child).code(), Some(0));
    // The demo has upcoming visits for the reminder planner; what waits in the
    // outbox is only the reminders it (or the loader) wrote for the next minutes.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (upcoming, waiting) = runtime.block_on(async {
        let store = carebook::store::Store::open(&database(&dir)).unwrap();
        store
            .read(move |tx| {
                let live = carebook::store::AppointmentFilter {
                    scope: carebook_domain::policy::AppointmentScope::All,
                    statuses: vec![
                        carebook_domain::AppointmentStatus::Requested,
                        carebook_domain::AppointmentStatus::Confirmed,
                    ],
                    from: Some(jiff::Timestamp::now()),
                    to: None,
                    doctor_id: None,
                    patient_id: None,
                    q: None,
                    newest_first: false,
                };
                let filter = carebook::store::DeliveryFilter {
                    statuses: vec![carebook::store::DeliveryStatus::Scheduled],
                    ..Default::default()
                };
                let page = carebook::store::PageRequest {
                    limit: 1000,
                    after: None,
                };
                Ok::<_, carebook::store::StoreError>((
                    tx.list_appointments(&live, &page)?,
                    tx.list_deliveries(&filter, &page)?,
                ))
            })
            .await
            .unwrap()
    });
    assert!(upcoming.len() > 20, "{} upcoming visits", upcoming.len());
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_mins(30);
    assert!(
        waiting
            .iter()
            .all(|d| d.kind == "reminder" && d.due_at < soon),
        "{waiting:?}"
    );

    // A second start finds the data and leaves it alone.
    let (mut child, _, printed) = start_server(&dir, &["--demo"]);
    assert!(printed.join("\n").contains("already holds data"));
    assert_eq!(terminate(&mut child).code(), Some(0));
}

#[test]
fn admin_create_reads_the_password_from_stdin_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let create = |email: &str, password: &str| {
        let mut command = carebook();
        command.args([
            "admin",
            "create",
            "--email",
            email,
            "--name",
            "Ada Admin",
            "--password-stdin",
            "--database",
            &database(&dir),
        ]);
        run_with_stdin(command, &format!("{password}\n"))
    };
    let created = create("ada@clinic.test", "a long enough secret");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    assert!(String::from_utf8_lossy(&created.stdout).contains("created admin ada@clinic.test"));

    let again = create("ADA@clinic.test", "a long enough secret");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let short = create("bo@clinic.test", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("password"));
}

#[test]
fn migrate_then_check_reports_a_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let migrate = carebook()
        .args(["migrate", "--database", &database(&dir)])
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );
    let check = carebook()
        .args(["check", "--database", &database(&dir)])
        .output()
        .unwrap();
    assert!(check.status.success());
    assert!(String::from_utf8_lossy(&check.stdout).contains("schema is current"));

    let bad = carebook()
        .args(["check", "--database", "mysql://nowhere/x"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

#[test]
fn a_bad_setting_is_named_and_stops_the_start() {
    let output = carebook()
        .args(["check"])
        .env("CAREBOOK_SESSION_TTL_HOURS", "forever")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("CAREBOOK_SESSION_TTL_HOURS"));
}

/// Copies `carebook.db` alone, as an operator might after stopping carebook, and
/// counts `sql`'s rows in the copy.
fn count_in_the_file_alone(dir: &tempfile::TempDir, sql: &str) -> i64 {
    let wal = dir.path().join("carebook.db-wal");
    let left_in_wal = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(left_in_wal, 0, "{} still holds commits", wal.display());
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("carebook.db");
    std::fs::copy(dir.path().join("carebook.db"), &copy).unwrap();
    let conn = rusqlite::Connection::open(&copy).unwrap();
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

#[test]
fn when_a_command_that_wrote_ends_the_database_file_alone_holds_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let demo = carebook()
        .env("CAREBOOK_MAIL_DIR", dir.path().join("mail"))
        .args(["demo", "--database", &database(&dir)])
        .output()
        .expect("demo runs");
    assert!(demo.status.success(), "{demo:?}");
    let demo_doctors = count_in_the_file_alone(
        &dir,
        "SELECT COUNT(*) FROM users WHERE email LIKE '%@demo.carebook.test' AND role = 'doctor'",
    );
    assert!(demo_doctors >= 5, "{demo_doctors} demo doctors in the file");

    let (mut child, address, _) = start_server(&dir, &[]);
    register(&address, "kim@clinic.test", "Kim");
    assert_eq!(terminate(&mut child).code(), Some(0));
    let kim = count_in_the_file_alone(
        &dir,
        "SELECT COUNT(*) FROM users WHERE email = 'kim@clinic.test'",
    );
    assert_eq!(
        kim, 1,
        "the patient registered while serving is in the file"
    );
}

#[test]
fn sigterm_ends_open_event_streams_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address, _) = start_server(&dir, &[]);
    register(&address, "sam@clinic.test", "Sam");
    let login = http_post_json(
        &address,
        "/api/v1/auth/login",
        r#"{"email":"sam@clinic.test","password":"a long enough secret"}"#,
    );
    let token = login
        .split("\"token\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a token")
        .to_owned();

    let mut stream = TcpStream::connect(&address).expect("connect");
    write!(
        stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("request");
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).expect("the stream answers");
    assert!(String::from_utf8_lossy(&head[..read]).starts_with("HTTP/1.1 200"));

    assert_eq!(
        terminate(&mut child).code(),
        Some(0),
        "an open stream must not block shutdown"
    );
}

#[test]
fn on_postgres_the_schema_changes_only_through_migrate() {
    let Some(database) = carebook::testing::TestDatabase::postgres() else {
        return;
    };
    let url = database.url();
    let run = |args: &[&str]| {
        carebook()
            .args(args)
            .args(["--database", &url])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("carebook runs")
    };
    let check = run(&["check"]);
    assert!(!check.status.success());
    assert!(String::from_utf8_lossy(&check.stderr).contains("carebook migrate"));
    let serve = run(&["serve", "--listen", "127.0.0.1:0"]);
    assert!(
        !serve.status.success(),
        "serve must refuse an unmigrated database"
    );
    assert!(String::from_utf8_lossy(&serve.stderr).contains("carebook migrate"));

    for _ in 0..2 {
        let migrate = run(&["migrate"]);
        assert!(
            migrate.status.success(),
            "{}",
            String::from_utf8_lossy(&migrate.stderr)
        );
    }
    let check = run(&["check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(out.contains("schema is current"), "{out}");
}

#[test]
fn logs_carry_no_password_token_or_patient_data() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = carebook()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database",
            &database(&dir),
        ])
        .env("CAREBOOK_LOG", "trace")
        .env("CAREBOOK_MAIL_DIR", dir.path().join("mail"))
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("carebook serve starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let address = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(address) = line.strip_prefix("listening on http://") {
                    break address.to_owned();
                }
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not start");
            }
        }
    };

    let (name, email, password, phone) = (
        "Zelda Quartermaine",
        "zelda.q@clinic.test",
        "zz-secret-passphrase-42",
        "+4915199887766",
    );
    let registered = http_post_json(
        &address,
        "/api/v1/auth/register",
        &format!(
            r#"{{"email":"{email}","password":"{password}","name":"{name}","phone":"{phone}"}}"#
        ),
    );
    assert!(registered.starts_with("HTTP/1.1 201"), "{registered}");
    let wrong = http_post_json(
        &address,
        "/api/v1/auth/login",
        &format!(r#"{{"email":"{email}","password":"{password}-wrong"}}"#),
    );
    assert!(wrong.starts_with("HTTP/1.1 401"));
    let login = http_post_json(
        &address,
        "/api/v1/auth/login",
        &format!(r#"{{"email":"{email}","password":"{password}"}}"#),
    );
    let token = login
        .split("\"token\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a token")
        .to_owned();
    let mut stream = TcpStream::connect(&address).expect("connect");
    write!(
        stream,
        "GET /api/v1/me HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut me = String::new();
    stream.read_to_string(&mut me).unwrap();
    assert!(me.contains(name), "{me}");
    let search = http_get(&address, "/api/v1/doctors?q=Zelda%20Quartermaine");
    assert!(search.starts_with("HTTP/1.1 200"));

    // Account security: a password reset by emailed link, then two-factor
    // authentication with its secret, a code and the recovery codes.
    let reset = http_post_json(
        &address,
        "/api/v1/auth/password-reset",
        &format!(r#"{{"email":"{email}"}}"#),
    );
    assert!(reset.starts_with("HTTP/1.1 202"), "{reset}");
    let reset_token = emailed_token(&dir.path().join("mail"), "/password-reset");
    let new_password = "yy-another-passphrase-77";
    let confirmed = http_post_json(
        &address,
        "/api/v1/auth/password-reset/confirm",
        &format!(r#"{{"token":"{reset_token}","new_password":"{new_password}"}}"#),
    );
    assert!(confirmed.starts_with("HTTP/1.1 204"), "{confirmed}");
    let login = http_post_json(
        &address,
        "/api/v1/auth/login",
        &format!(r#"{{"email":"{email}","password":"{new_password}"}}"#),
    );
    let second_token = json_field(&login, "token");
    let setup = http_post_json_as(&address, &second_token, "/api/v1/me/2fa/setup", "");
    assert!(setup.starts_with("HTTP/1.1 200"), "{setup}");
    let secret = json_field(&setup, "secret");
    let code = carebook::app::totp::code_at(&secret, jiff::Timestamp::now()).unwrap();
    let enabled = http_post_json_as(
        &address,
        &second_token,
        "/api/v1/me/2fa/confirm",
        &format!(r#"{{"otp":"{code}"}}"#),
    );
    assert!(enabled.starts_with("HTTP/1.1 200"), "{enabled}");
    let recovery = enabled
        .split(r#""recovery_codes":[""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("recovery codes")
        .to_owned();
    let with_recovery = http_post_json(
        &address,
        "/api/v1/auth/login",
        &format!(r#"{{"email":"{email}","password":"{new_password}","otp":"{recovery}"}}"#),
    );
    assert!(with_recovery.starts_with("HTTP/1.1 200"), "{with_recovery}");

    assert_eq!(terminate(&mut child).code(), Some(0));
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains("request"),
        "the journey was logged at all: {logged}"
    );
    for secret in [
        password,
        token.as_str(),
        name,
        "Quartermaine",
        email,
        phone,
        reset_token.as_str(),
        new_password,
        second_token.as_str(),
        secret.as_str(),
        recovery.as_str(),
    ] {
        assert!(!logged.contains(secret), "the log carries {secret:?}");
    }
}

#[test]
fn a_backup_taken_under_load_restores_with_every_table_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address, _) = start_server(&dir, &["--demo"]);
    // Registrations keep writing while the backup runs.
    let writer = {
        let address = address.clone();
        std::thread::spawn(move || {
            for i in 0..30 {
                register(
                    &address,
                    &format!("load{i}@clinic.test"),
                    &format!("Load {i}"),
                );
            }
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(150));
    let backup = dir.path().join("backup.db");
    let taken = carebook()
        .args(["backup", "--database", &database(&dir), "--out"])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    writer.join().unwrap();
    assert_eq!(terminate(&mut child).code(), Some(0));

    let again = carebook()
        .args(["backup", "--database", &database(&dir), "--out"])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing backup file is never overwritten"
    );

    let restored = format!("sqlite://{}", dir.path().join("restored.db").display());
    let restore = carebook()
        .args(["restore", "--database", &restored, "--from"])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let report = String::from_utf8_lossy(&restore.stdout);
    assert!(report.contains("counts and checksums match"), "{report}");
    for table in ["users", "appointments", "appointment_events", "audit_log"] {
        assert!(report.contains(table), "{report}");
    }
    let twice = carebook()
        .args(["restore", "--database", &restored, "--from"])
        .arg(&backup)
        .output()
        .unwrap();
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already holds data"));

    let postgres = carebook()
        .args([
            "backup",
            "--database",
            "postgres://nobody@127.0.0.1:1/x",
            "--out",
        ])
        .arg(dir.path().join("pg.dump"))
        .output()
        .unwrap();
    assert!(!postgres.status.success());
    assert!(String::from_utf8_lossy(&postgres.stderr).contains("pg_dump"));
}

#[test]
fn slow_clients_are_cut_off_and_oversized_headers_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, address, _) =
        start_server_with(&dir, &[], &[("CAREBOOK_HEADER_TIMEOUT_SECONDS", "1")]);

    // Slowloris: headers started but never finished.
    let mut slow = TcpStream::connect(&address).unwrap();
    write!(
        slow,
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nX-Slow: 1\r\n"
    )
    .unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = slow.read_to_end(&mut answer);
    assert!(
        read.is_ok(),
        "the server closed the connection instead of waiting: {read:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );

    // A head larger than the limit (16 KiB by default).
    let mut big = TcpStream::connect(&address).unwrap();
    let padding = "x".repeat(40 * 1024);
    write!(
        big,
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nX-Big: {padding}\r\n\r\n"
    )
    .ok();
    let mut answer = Vec::new();
    let _ = big.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        !answer.starts_with("HTTP/1.1 200"),
        "an oversized head was served: {answer}"
    );

    // Everyone else is still served.
    assert!(http_get(&address, "/healthz").starts_with("HTTP/1.1 200"));
    assert_eq!(terminate(&mut child).code(), Some(0));
}
