//! Property-based fuzzing of the whole JSON API from its own OpenAPI document with
//! schemathesis, against the real `carebook serve` on loopback over the demo clinic.
//!
//! Each caller (anonymous, patient, doctor, receptionist, admin) gets a server and a
//! database of its own, so nothing one run does (an admin deactivating the doctor
//! another run logged in as, a booking that fills a slot) changes another's ground.
//! The runs are bounded: a fixed seed and [`MAX_EXAMPLES`] examples per operation and
//! phase. What is checked, and the few narrow exceptions, is in
//! `tests/schemathesis.toml`; docs/RELIABILITY.md has the figures.
//!
//! schemathesis comes from PyPI, pinned, in a venv outside the clone
//! (`scripts/ensure-python-tools.sh`; `$CAREBOOK_VENV`, default
//! `~/.cache/carebook-venv`). Without it this test prints a loud banner and passes,
//! except under `CI=true`, where it fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carebook::testing::{Backend, TestDatabaseGuard, fresh_database};
use serde_json::Value;

/// Examples per operation (and per phase): enough to find what the runs below found,
/// small enough that all of it stays near two minutes on two cores.
const MAX_EXAMPLES: u32 = 20;
const SEED: u32 = 20_260_302;
/// A whole schemathesis run that takes longer than this is a hang.
const RUN_LIMIT: Duration = Duration::from_secs(600);
const DEMO_PASSWORD: &str = "carebook-demo";

#[derive(Clone, Copy, Debug)]
enum Caller {
    Anonymous,
    Patient,
    Doctor,
    Receptionist,
    Admin,
}

impl Caller {
    fn email(self) -> Option<&'static str> {
        match self {
            Caller::Anonymous => None,
            Caller::Patient => Some("patient01@demo.carebook.test"),
            Caller::Doctor => Some("anna.weber@demo.carebook.test"),
            Caller::Receptionist => Some("desk@demo.carebook.test"),
            Caller::Admin => Some("admin@demo.carebook.test"),
        }
    }
}

/// The schemathesis executable, or `None` after a loud banner (a failure under CI).
fn schemathesis() -> Option<PathBuf> {
    let path = carebook::testing::python_tool("schemathesis");
    if path.is_file() {
        return Some(path);
    }
    if carebook::testing::under_ci() {
        panic!(
            "schemathesis is required under CI=true and is not at {}: run scripts/ensure-python-tools.sh",
            path.display()
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
         !!! schemathesis is not at {}: the API fuzz run was SKIPPED !!!\n\
         !!! Run scripts/ensure-python-tools.sh; under CI=true this is a failure.\n\
         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
        path.display()
    );
    None
}

/// A `carebook serve --demo` of its own, stopped when dropped.
struct Server {
    child: Child,
    address: String,
    _mail: tempfile::TempDir,
}

impl Server {
    fn start(database: &TestDatabaseGuard) -> Server {
        let mail = tempfile::tempdir().expect("a temporary folder");
        let mut child = Command::new(env!("CARGO_BIN_EXE_carebook"))
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--database"])
            .arg(database.url())
            .env("CAREBOOK_CONFIG", "/nonexistent/carebook.toml")
            .env("CAREBOOK_LOG", "warn")
            // Rate limits would answer most generated requests with 429 before
            // they reach a handler (they have tests of their own).
            .env("CAREBOOK_RATE_LIMIT_PER_TOKEN_PER_MINUTE", "0")
            .env("CAREBOOK_RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "0")
            .env("CAREBOOK_RATE_LIMIT_AUTH_PER_ADDRESS_PER_MINUTE", "0")
            .env("CAREBOOK_MAIL_DIR", mail.path())
            // Uploaded files: not into the source tree (PostgreSQL has no folder of its own).
            .env("CAREBOOK_ATTACHMENT_STORE", mail.path().join("files"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("carebook serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut seen = Vec::new();
        while let Some(Ok(line)) = lines.next() {
            if let Some(address) = line.strip_prefix("listening on http://") {
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines {});
                return Server {
                    child,
                    address: address.to_owned(),
                    _mail: mail,
                };
            }
            seen.push(line);
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("serve ended without printing its address; it printed {seen:?}");
    }

    /// One HTTP/1.1 request with `Connection: close`: (status, JSON body).
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.address
        );
        if let Some(token) = token {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            request.push_str("Content-Type: application/json\r\n");
        }
        request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let text = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, serde_json::from_str(text).unwrap_or(Value::Null))
    }

    fn login(&self, email: &str) -> String {
        let body = serde_json::json!({ "email": email, "password": DEMO_PASSWORD }).to_string();
        let (status, answer) = self.call("POST", "/api/v1/auth/login", None, Some(&body));
        assert_eq!(status, 200, "{email} logs in: {answer}");
        answer["token"].as_str().expect("a token").to_owned()
    }

    /// Ids the caller can see, so that operations on `/{id}` reach real objects some
    /// of the time instead of only 404s.
    fn known_ids(&self, token: Option<&str>) -> Vec<String> {
        let mut ids = Vec::new();
        let mut take = |path: &str, limit: usize| {
            let (status, body) = self.call("GET", path, token, None);
            if status == 200 {
                let items = body["items"].as_array().cloned().unwrap_or_default();
                ids.extend(
                    items
                        .iter()
                        .filter_map(|item| item["id"].as_str().map(str::to_owned))
                        .take(limit),
                );
                if let Some(id) = body["id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
        };
        take("/api/v1/doctors?limit=3", 3);
        take("/api/v1/me", 1);
        take("/api/v1/appointments?limit=10&sort=-start", 10);
        take("/api/v1/appointments?limit=10", 10);
        take("/api/v1/users?limit=5", 5);
        take("/api/v1/notifications?limit=3", 3);
        take("/api/v1/notifications/deliveries?limit=3", 3);
        ids.sort();
        ids.dedup();
        ids
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn toml_string(value: &str) -> String {
    serde_json::to_string(value).expect("a string")
}

/// tests/schemathesis.toml plus this run's dictionary of real ids.
fn run_config(dir: &Path, ids: &[String]) -> PathBuf {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis.toml");
    let mut config = std::fs::read_to_string(&base).expect("tests/schemathesis.toml");
    if !ids.is_empty() {
        let values: Vec<String> = ids.iter().map(|id| toml_string(id)).collect();
        config.push_str(&format!(
            "\n[dictionaries.ids]\nvalues = [{}]\n\n[parameters]\n\
             \"path.id\" = {{ dictionary = \"ids\", probability = 0.5 }}\n",
            values.join(", ")
        ));
    }
    let path = dir.join("schemathesis.toml");
    std::fs::write(&path, config).expect("write the run's config");
    path
}

/// Runs schemathesis for one caller against a server of its own; returns the failures
/// (empty when the run passed).
fn fuzz(tool: &Path, backend: Backend, caller: Caller) -> Option<String> {
    let database = fresh_database(backend)?;
    let server = Server::start(&database);
    let token = caller.email().map(|email| server.login(email));
    let ids = server.known_ids(token.as_deref());
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = run_config(dir.path(), &ids);

    let mut command = Command::new(tool);
    command
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("http://{}/api/openapi.json", server.address))
        .args(["--seed", &SEED.to_string()])
        .args(["--max-examples", &MAX_EXAMPLES.to_string()])
        .args(["--workers", "1", "--no-color"])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(token) = &token {
        // Logging out would revoke the token the rest of the run relies on; the
        // anonymous run still covers the operation (a 401).
        command
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--exclude-path", "/api/v1/auth/logout"]);
    }
    let started = Instant::now();
    let mut child = command.spawn().expect("schemathesis starts");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for schemathesis") {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    let label = format!("{caller:?} on {}", backend.name());
    // The summary goes to the log of every run (cargo test shows stderr of passing
    // tests with --nocapture only, and CI keeps it).
    let summary = output
        .split_once("SUMMARY")
        .map_or("", |(_, rest)| rest)
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('='))
        .collect::<Vec<_>>()
        .join("\n");
    let _ = writeln!(
        std::io::stderr(),
        "schemathesis {label}: {} ids known, {:.0} s\n{summary}",
        ids.len(),
        started.elapsed().as_secs_f64()
    );

    // The caller's token still works: the run did not lock itself out.
    if let Some(token) = &token {
        let (status, body) = server.call("GET", "/api/v1/me", Some(token), None);
        assert_eq!(status, 200, "{label}: the token stopped working: {body}");
    }
    match status {
        None => Some(format!(
            "{label}: schemathesis did not finish within {RUN_LIMIT:?} (a hang)\n{output}"
        )),
        Some(status) if status.success() => None,
        Some(status) => Some(format!(
            "{label}: schemathesis failed ({status}):\n{output}"
        )),
    }
}

fn fuzz_all(backend: Backend, callers: &[Caller]) {
    let Some(tool) = schemathesis() else {
        return;
    };
    let failures: Vec<String> = callers
        .iter()
        .filter_map(|&caller| fuzz(&tool, backend, caller))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every caller on SQLite.
#[test]
fn schemathesis_finds_nothing_on_sqlite() {
    fuzz_all(
        Backend::Sqlite,
        &[
            Caller::Anonymous,
            Caller::Patient,
            Caller::Doctor,
            Caller::Receptionist,
            Caller::Admin,
        ],
    );
}

/// On PostgreSQL (stricter about text and numbers than SQLite): the admin, who reaches
/// every operation, and a patient, the most restricted caller with a token.
#[test]
fn schemathesis_finds_nothing_on_postgres() {
    fuzz_all(Backend::Postgres, &[Caller::Admin, Caller::Patient]);
}
