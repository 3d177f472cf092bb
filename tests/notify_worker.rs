//! A delivery worker killed mid-batch (SIGKILL, no chance to clean up) and started
//! again: every message arrives, and any message sent twice carries the same
//! Message-ID, so the receiving side drops the repeat. Real processes, a real SMTP
//! conversation, on SQLite and on PostgreSQL.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carebook::store::{DeliveryFilter, DeliveryStatus, PageRequest, Store};
use carebook::testing::smtp::SmtpServer;
use carebook::testing::{Backend, fresh_database};
use serde_json::json;

const PATIENTS: usize = 12;

/// A carebook process, killed (SIGKILL) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `carebook <args>` and waits for the line starting with `ready`; returns
/// the process and the rest of that line.
fn start(args: &[&str], smtp_port: u16, worker: bool, ready: &str) -> (Process, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_carebook"))
        .args(args)
        .env("CAREBOOK_CONFIG", "/nonexistent/carebook.toml")
        .env("CAREBOOK_LOG", "warn")
        .env("CAREBOOK_SMTP_HOST", "127.0.0.1")
        .env("CAREBOOK_SMTP_PORT", smtp_port.to_string())
        .env("CAREBOOK_SMTP_TLS", "none")
        .env("CAREBOOK_SMTP_FROM", "Clinic <clinic@example.test>")
        .env("CAREBOOK_PUBLIC_URL", "https://clinic.example.test")
        .env("CAREBOOK_OUTBOX_WORKER", worker.to_string())
        // A killed worker's claims come free again after two seconds.
        .env("CAREBOOK_OUTBOX_LEASE_SECONDS", "2")
        .env("CAREBOOK_OUTBOX_POLL_INTERVAL_MS", "100")
        .env("CAREBOOK_OUTBOX_BATCH_SIZE", "4")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("carebook starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    while let Some(Ok(line)) = lines.next() {
        if let Some(rest) = line.strip_prefix(ready) {
            return (Process(child), rest.trim().to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("carebook {args:?} did not start");
}

async fn register_patients(base: &str) -> Vec<String> {
    let client = carebook::testing::http_client();
    let mut emails = Vec::new();
    for n in 0..PATIENTS {
        let email = format!("patient{n}@example.test");
        let response = client
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({ "email": email, "password": "a long enough secret", "name": format!("Patient {n}") }))
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status().as_u16(), 201);
        emails.push(email);
    }
    emails
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn killed_mid_batch_nothing_lost_nothing_doubled(backend: Backend) {
    let Some(database) = fresh_database(backend) else {
        return;
    };
    let url = database.url();
    let smtp = SmtpServer::start().await;
    // Each message takes a while to be accepted, so the kill lands mid-batch.
    smtp.set_delay(Duration::from_millis(300));

    // The clinic's server, with its own worker off: the welcomes wait in the outbox.
    let serve = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--database",
        url.as_str(),
    ];
    let (server, base) = start(&serve, smtp.port(), false, "listening on ");
    let emails = register_patients(&base).await;
    drop(server);
    assert!(
        smtp.messages().is_empty(),
        "nothing is sent without a worker"
    );

    // A worker of its own, killed once some messages went out.
    let work = ["worker", "--database", url.as_str()];
    let (worker, _) = start(&work, smtp.port(), true, "delivering notifications");
    wait_until("a few messages arrived", Duration::from_secs(30), || {
        smtp.messages().len() >= 3
    })
    .await;
    drop(worker);
    let at_kill = smtp.messages().len();
    assert!(
        at_kill < PATIENTS,
        "the kill came mid-batch ({at_kill} sent)"
    );

    // Started again: it takes over the killed one's claims once their lease is out.
    let (worker, _) = start(&work, smtp.port(), true, "delivering notifications");
    wait_until("every patient got mail", Duration::from_secs(60), || {
        let got: BTreeSet<String> = smtp
            .messages()
            .iter()
            .flat_map(|m| m.rcpt_to.clone())
            .collect();
        got.len() == PATIENTS
    })
    .await;
    // Let it record the last outcomes, then look at the outbox.
    let store = Store::open(&url).expect("the database opens");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let statuses: Vec<DeliveryStatus> = store
            .read(|tx| {
                let page = PageRequest {
                    limit: 1000,
                    after: None,
                };
                tx.list_deliveries(&DeliveryFilter::default(), &page)
            })
            .await
            .expect("the outbox reads")
            .into_iter()
            .map(|d| d.status)
            .collect();
        assert_eq!(statuses.len(), PATIENTS, "one welcome email each");
        if statuses.iter().all(|s| *s == DeliveryStatus::Sent) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries left unsent: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(worker);

    // Every patient got their welcome; a message that came twice (sent by the
    // killed worker, its outcome never recorded) came with the same Message-ID.
    let mut ids_by_recipient: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for message in smtp.messages() {
        let id = message.header("Message-ID").expect("a Message-ID");
        for rcpt in message.rcpt_to {
            ids_by_recipient.entry(rcpt).or_default().insert(id.clone());
        }
    }
    let recipients: BTreeSet<&String> = ids_by_recipient.keys().collect();
    assert_eq!(recipients, emails.iter().collect());
    for (recipient, ids) in &ids_by_recipient {
        assert_eq!(ids.len(), 1, "{recipient} got distinct messages: {ids:?}");
    }
    let all_ids: BTreeSet<&String> = ids_by_recipient.values().flatten().collect();
    assert_eq!(all_ids.len(), PATIENTS, "one Message-ID per welcome");
    assert!(
        smtp.messages().len() <= PATIENTS + 4,
        "at most the killed batch is sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing_and_doubles_nothing_on_sqlite() {
    killed_mid_batch_nothing_lost_nothing_doubled(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing_and_doubles_nothing_on_postgres() {
    killed_mid_batch_nothing_lost_nothing_doubled(Backend::Postgres).await;
}
