//! SQLite storage faults on the real binary: a disk that fills up, and a database
//! file that cannot be written (while serving, and at start). Requests get a clear
//! 503 problem, service resumes by itself once the fault is gone, the start says
//! what is wrong, and the file passes `PRAGMA integrity_check` afterwards.
//!
//! Techniques that work as root (where `chmod` does not stop writes): the full disk
//! is a small tmpfs mounted for the test (needs CAP_SYS_ADMIN), filled to the last
//! byte; the read-only file is `chattr +i` (immutable: refused even to root and even
//! through descriptors already open; needs CAP_LINUX_IMMUTABLE and a file system
//! with the flag, e.g. ext4 or xfs). Where either is missing the test prints a loud
//! banner and returns, and under `CI=true` it fails.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use carebook::testing::capability_missing;

const STORAGE_REMEDY: &str = "Run it as root on a Linux file system with chattr and tmpfs";
use serde_json::{Value, json};

const PASSWORD: &str = "a long enough secret";

fn carebook() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_carebook"));
    command
        .env("CAREBOOK_CONFIG", "/nonexistent/carebook.toml")
        .env("CAREBOOK_LOG", "error")
        .env("CAREBOOK_OUTBOX_WORKER", "false")
        .env(
            "CAREBOOK_MAIL_DIR",
            std::env::temp_dir().join("carebook-test-mail"),
        );
    command
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(database: &str) -> Server {
        let mut child = carebook()
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("carebook serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(address) = line.strip_prefix("listening on ") {
                return Server {
                    child,
                    base: address.to_owned(),
                };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("carebook serve did not start");
    }

    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        assert_eq!(self.child.wait().expect("exits").code(), Some(0));
    }
}

fn create_admin(database: &str) {
    let mut create = carebook()
        .args([
            "admin",
            "create",
            "--email",
            "admin@clinic.test",
            "--name",
            "Ada",
        ])
        .args(["--password-stdin", "--database", database])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("admin create runs");
    writeln!(create.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
    assert!(create.wait().expect("admin create ends").success());
}

async fn admin_token(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": "admin@clinic.test", "password": PASSWORD }))
        .send()
        .await
        .expect("login answers");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["token"].as_str().expect("token").to_owned()
}

/// `POST /specialties`: a cheap write (no password hashing) with an audit row.
async fn add_specialty(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    name: &str,
) -> (u16, Value, Option<String>) {
    let response = client
        .post(format!("{base}/api/v1/specialties"))
        .bearer_auth(token)
        .json(&json!({ "name": name }))
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "{body}");
    }
    (status, body, retry_after)
}

async fn specialty_names(client: &reqwest::Client, base: &str) -> Vec<String> {
    let body: Value = client
        .get(format!("{base}/api/v1/specialties"))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    body.as_array()
        .or_else(|| body["items"].as_array())
        .expect("a list")
        .iter()
        .map(|s| s["name"].as_str().expect("name").to_owned())
        .collect()
}

fn integrity_ok(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("the database opens");
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .expect("integrity_check");
    assert_eq!(verdict, "ok");
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let at_str = at.to_str().ok_or("a UTF-8 path")?;
        run(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                at_str,
            ],
        )?;
        Ok(Tmpfs(at.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Some(at) = self.0.to_str() {
            let _ = run("umount", &["-l", at]);
        }
    }
}

/// Files made immutable for one test, made mutable again when dropped.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn set(files: &[&Path]) -> Result<Immutable, String> {
        let mut done = Immutable(Vec::new());
        for file in files {
            run("chattr", &["+i", file.to_str().ok_or("a UTF-8 path")?])?;
            done.0.push(file.to_path_buf());
        }
        Ok(done)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for file in &self.0 {
            if let Some(file) = file.to_str() {
                let _ = run("chattr", &["-i", file]);
            }
        }
    }
}

/// Fills the file system of `dir` to the last byte, then gives `headroom` bytes
/// back; the filler file.
fn fill(dir: &Path, headroom: u64) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).expect("the filler");
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let small = vec![0u8; 512];
    while file.write_all(&small).is_ok() {}
    while file.write_all(&[0u8]).is_ok() {}
    let length = file.metadata().expect("metadata").len();
    file.set_len(length.saturating_sub(headroom))
        .expect("truncate");
    let _ = file.sync_all();
    filler
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_changes_nothing_and_recovers() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let mount_point = dir.path().join("disk");
    let disk = match Tmpfs::mount(&mount_point, "16m") {
        Ok(disk) => disk,
        Err(why) => {
            capability_missing(
                "the disk-full test",
                &format!("cannot mount a tmpfs ({why})"),
                STORAGE_REMEDY,
            );
            return;
        }
    };
    let path = disk.0.join("carebook.db");
    let database = format!("sqlite://{}", path.display());
    let server = Server::start(&database);
    create_admin(&database);
    let client = carebook::testing::http_client();
    let token = admin_token(&client, &server.base).await;
    let (status, body, _) = add_specialty(&client, &server.base, &token, "Before").await;
    assert_eq!(status, 201, "{body}");

    let filler = fill(&disk.0, 256 * 1024);
    let mut stored = vec!["Before".to_owned()];
    let mut refused = None;
    for i in 0..3000 {
        let name = format!("Specialty {i:04} {}", "x".repeat(150));
        let (status, body, retry_after) = add_specialty(&client, &server.base, &token, &name).await;
        match status {
            201 => stored.push(name),
            503 => {
                assert_eq!(body["type"], "/problems/unavailable", "{body}");
                assert!(retry_after.is_some(), "503 says when to retry");
                let detail = body["detail"].as_str().unwrap_or("");
                assert!(!detail.contains("SQLITE") && !detail.contains(&*path.to_string_lossy()));
                refused = Some(name);
                break;
            }
            other => panic!("a full disk answered {other}: {body}"),
        }
    }
    let refused = refused.expect("the disk filled up and a write was refused");
    eprintln!(
        "disk full after {} writes into the last 256 KiB of a 16 MiB tmpfs",
        stored.len() - 1
    );
    // Reads still work, and the refused write left nothing behind.
    let names = specialty_names(&client, &server.base).await;
    assert!(!names.contains(&refused));
    assert!(stored.iter().all(|s| names.contains(s)));
    let ready = client
        .get(format!("{}/readyz", server.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200, "reads are still served");

    // Space again: service resumes without a restart.
    std::fs::remove_file(&filler).expect("the filler goes");
    let (status, body, _) = add_specialty(&client, &server.base, &token, "After").await;
    assert_eq!(status, 201, "{body}");
    stored.push("After".to_owned());
    server.stop();
    integrity_ok(&path);
    let conn = rusqlite::Connection::open(&path).expect("opens");
    let count: i64 = conn
        .query_row(
            "SELECT count(*) FROM specialties WHERE name = ?1",
            [&refused],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(count, 0, "the refused write is not in the file");
    let audited: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'specialty.created'",
            [],
            |row| row.get(0),
        )
        .expect("count");
    assert_eq!(
        audited as usize,
        stored.len(),
        "one audit row per stored specialty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_database_answers_503_recovers_and_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("carebook.db");
    let wal = dir.path().join("carebook.db-wal");
    let database = format!("sqlite://{}", path.display());
    let server = Server::start(&database);
    create_admin(&database);
    let client = carebook::testing::http_client();
    let token = admin_token(&client, &server.base).await;
    let (status, body, _) = add_specialty(&client, &server.base, &token, "Before").await;
    assert_eq!(status, 201, "{body}");

    // While serving: the database file and its write-ahead log become read-only.
    let locked = match Immutable::set(&[&path, &wal]) {
        Ok(locked) => locked,
        Err(why) => {
            capability_missing(
                "the read-only database test",
                &format!("cannot make a file immutable ({why})"),
                STORAGE_REMEDY,
            );
            return;
        }
    };
    let (status, body, retry_after) = add_specialty(&client, &server.base, &token, "During").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "/problems/unavailable", "{body}");
    assert!(retry_after.is_some());
    let names = specialty_names(&client, &server.base).await;
    assert_eq!(names, ["Before"], "reads still work; nothing was added");
    drop(locked);
    let (status, body, _) = add_specialty(&client, &server.base, &token, "After").await;
    assert_eq!(status, 201, "writable again, without a restart: {body}");
    server.stop();
    integrity_ok(&path);

    // At start: a clear message and a failing exit, not a server that 503s.
    let locked = Immutable::set(&[&path]).expect("chattr worked a moment ago");
    let output = carebook()
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database])
        .output()
        .expect("serve runs");
    drop(locked);
    assert!(
        !output.status.success(),
        "serve started on a read-only file"
    );
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("read-only"), "{said}");
    assert!(
        said.contains(&*path.to_string_lossy()),
        "names the file: {said}"
    );
    integrity_ok(&path);
    let conn = rusqlite::Connection::open(&path).expect("opens");
    let names: Vec<String> = conn
        .prepare("SELECT name FROM specialties ORDER BY name")
        .expect("prepare")
        .query_map([], |row| row.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("names");
    assert_eq!(names, ["After", "Before"]);
}
