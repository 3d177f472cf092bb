//! The attachment store on an S3-compatible service: `carebook serve` configured
//! with `CAREBOOK_ATTACHMENT_STORE=s3://bucket/prefix` and the usual `AWS_*`
//! variables, against moto's S3 server on loopback (a real S3 protocol, signed
//! requests included). Uploaded bytes land in the bucket under the prefix and a
//! random key, come back whole, and leave the bucket when deleted.
//!
//! moto comes from PyPI, pinned, in the venv of `scripts/ensure-python-tools.sh`.
//! Without it this test prints a loud banner and passes, except under `CI=true`.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carebook::testing::{capability_missing, http_client, python_tool};
use serde_json::{Value, json};

const BUCKET: &str = "carebook-test";
const PREFIX: &str = "clinic-a";
const PDF: &[u8] = b"%PDF-1.4\n% a lab report\ntrailer<<>>\n%%EOF\n";

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

fn start_moto() -> Option<(Running, String)> {
    let moto = python_tool("moto_server");
    if !moto.is_file() {
        capability_missing(
            "the S3 attachment store test",
            &format!("moto_server is not at {}", moto.display()),
            "Run scripts/ensure-python-tools.sh",
        );
        return None;
    }
    let port = free_port();
    let child = Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let running = Running(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((running, format!("http://127.0.0.1:{port}")))
}

fn start_carebook(database: &str, s3: &str, mail: &std::path::Path) -> (Running, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_carebook"))
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--database",
            database,
        ])
        .env("CAREBOOK_CONFIG", "/nonexistent/carebook.toml")
        .env("CAREBOOK_LOG", "warn")
        .env("CAREBOOK_MAIL_DIR", mail)
        .env(
            "CAREBOOK_ATTACHMENT_STORE",
            format!("s3://{BUCKET}/{PREFIX}"),
        )
        .env("AWS_ENDPOINT", s3)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "carebook-test")
        .env("AWS_SECRET_ACCESS_KEY", "carebook-test-secret")
        .env("AWS_REGION", "us-east-1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("carebook serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let running = Running(child);
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line of output");
        if let Some(address) = line.strip_prefix("listening on ") {
            return (running, address.to_owned());
        }
    }
    panic!("carebook serve stopped before listening");
}

/// The keys in the bucket, by moto's (unsigned) ListObjectsV2.
async fn bucket_keys(client: &reqwest::Client, s3: &str) -> Vec<String> {
    let listing = client
        .get(format!("{s3}/{BUCKET}?list-type=2"))
        .send()
        .await
        .expect("moto answers")
        .text()
        .await
        .expect("a listing");
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</Key>").map(|(key, _)| key.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_go_to_an_s3_compatible_bucket_and_leave_it_when_deleted() {
    let Some((_moto, s3)) = start_moto() else {
        return;
    };
    let client = http_client();
    let created = client
        .put(format!("{s3}/{BUCKET}"))
        .send()
        .await
        .expect("moto answers");
    assert!(
        created.status().is_success(),
        "the bucket: {}",
        created.status()
    );

    let dir = tempfile::tempdir().expect("a temporary folder");
    let database = format!("sqlite://{}", dir.path().join("carebook.db").display());
    let (_server, base) = start_carebook(&database, &s3, &dir.path().join("mail"));

    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "patient01@demo.carebook.test", "password": "carebook-demo"}))
        .send()
        .await
        .expect("login answers")
        .json()
        .await
        .expect("a session");
    let token = login["token"].as_str().expect("a token").to_owned();
    let me: Value = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me answers")
        .json()
        .await
        .expect("my account");
    let patient = me["id"].as_str().expect("my id");

    let boundary = "s3-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"labs.pdf\"\r\n\
         Content-Type: application/pdf\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(PDF);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let uploaded = client
        .post(format!("{base}/api/v1/patients/{patient}/attachments"))
        .bearer_auth(&token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("the upload answers");
    assert_eq!(uploaded.status(), 201);
    let uploaded: Value = uploaded.json().await.expect("the attachment");

    let keys = bucket_keys(&client, &s3).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(
        keys[0].starts_with(&format!("{PREFIX}/attachments/")),
        "{keys:?}"
    );
    assert!(
        !keys[0].contains("labs"),
        "the key is random, not the name: {keys:?}"
    );

    let url = format!(
        "{base}{}",
        uploaded["download_url"].as_str().expect("a url")
    );
    let downloaded = client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("the download answers");
    assert_eq!(downloaded.status(), 200);
    assert_eq!(&downloaded.bytes().await.expect("bytes")[..], PDF);

    let deleted = client
        .delete(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("the delete answers");
    assert_eq!(deleted.status(), 204);
    assert!(bucket_keys(&client, &s3).await.is_empty());
}
