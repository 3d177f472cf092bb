//! Several carebook processes over one PostgreSQL database behave as one clinic
//! system: one winner per slot across instances, shared sessions and throttling,
//! and live events that cross instances.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use carebook::testing::{Backend, fresh_database};
use serde_json::{Value, json};

struct Instance {
    child: Child,
    base: String,
    /// Where its email goes (no SMTP here).
    _mail: tempfile::TempDir,
}

impl Instance {
    fn start(database: &str) -> Instance {
        let mail = tempfile::tempdir().expect("a temporary folder");
        let mut child = Command::new(env!("CARGO_BIN_EXE_carebook"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database", database])
            .env("CAREBOOK_MAIL_DIR", mail.path())
            // Uploaded files: not into the source tree (PostgreSQL has no folder of its own).
            .env("CAREBOOK_ATTACHMENT_STORE", mail.path().join("files"))
            .env("CAREBOOK_CONFIG", "/nonexistent/carebook.toml")
            .env("CAREBOOK_LOG", "warn")
            // 100 patients register and log in from 127.0.0.1 within seconds.
            .env("CAREBOOK_RATE_LIMIT_AUTH_PER_ADDRESS_PER_MINUTE", "0")
            .env("CAREBOOK_RATE_LIMIT_PER_ADDRESS_PER_MINUTE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("carebook serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(address) = line.strip_prefix("listening on ") {
                return Instance {
                    child,
                    base: address.to_owned(),
                    _mail: mail,
                };
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("an instance failed to start");
    }

    fn stop(mut self) -> Option<i32> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        self.child.wait().expect("the instance exits").code()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the instance answers");
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

async fn login(client: &reqwest::Client, base: &str, email: &str, password: &str) -> (u16, Value) {
    call(
        client,
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({ "email": email, "password": password })),
    )
    .await
}

async fn token(client: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let (status, body) = login(client, base, email, password).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("a token").to_owned()
}

const PASSWORD: &str = "a long enough secret";

/// The starts of a doctor's free slots over the default window, as one instance says.
async fn slot_starts(
    client: &reqwest::Client,
    base: &str,
    doctor_id: &str,
) -> Vec<jiff::Timestamp> {
    let (status, body) = call(
        client,
        reqwest::Method::GET,
        format!("{base}/api/v1/doctors/{doctor_id}/slots"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["slots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["start"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Waits (up to 5 s) until `condition` holds: what one instance commits reaches the
/// other over LISTEN/NOTIFY within milliseconds, not at once.
async fn until<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !condition().await {
        assert!(
            std::time::Instant::now() < deadline,
            "the other instance did not follow within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_over_one_postgres_behave_as_one_system() {
    let Some(database) = fresh_database(Backend::Postgres) else {
        return;
    };
    let url = database.url();
    let mut admin_create = Command::new(env!("CARGO_BIN_EXE_carebook"))
        .args([
            "admin",
            "create",
            "--email",
            "admin@clinic.test",
            "--name",
            "Ada",
        ])
        .args(["--password-stdin", "--database", &url])
        .env("CAREBOOK_CONFIG", "/nonexistent/carebook.toml")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("admin create runs");
    writeln!(admin_create.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(admin_create.wait().unwrap().success());

    let a = Instance::start(&url);
    let b = Instance::start(&url);
    let (a_base, b_base) = (a.base.clone(), b.base.clone());
    let client = carebook::testing::http_client();
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    // The admin (on A) creates a doctor, who sets their hours on B.
    let admin = token(&client, &a_base, "admin@clinic.test", PASSWORD).await;
    let (status, doctor) = call(
        &client,
        post.clone(),
        format!("{a_base}/api/v1/users"),
        Some(&admin),
        Some(json!({ "email": "doc@clinic.test", "password": PASSWORD, "name": "Dr Shared", "role": "doctor" })),
    )
    .await;
    assert_eq!(status, 201, "{doctor}");
    let doctor_id = doctor["id"].as_str().unwrap().to_owned();
    let doctor_token = token(&client, &b_base, "doc@clinic.test", PASSWORD).await;
    let every_day: Vec<Value> = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    .iter()
    .map(|day| json!({ "day": day, "start": "00:00", "end": "24:00" }))
    .collect();
    let (status, body) = call(
        &client,
        reqwest::Method::PUT,
        format!("{b_base}/api/v1/doctors/{doctor_id}/schedule"),
        Some(&doctor_token),
        Some(json!({
            "time_zone": "UTC", "slot_minutes": 30, "weekly_hours": every_day,
            "min_notice_minutes": 60, "horizon_days": 30, "auto_confirm": false, "cancel_window_hours": 0,
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (_, slots) = call(
        &client,
        get.clone(),
        format!("{a_base}/api/v1/doctors/{doctor_id}/slots"),
        None,
        None,
    )
    .await;
    let start = slots["slots"][0]["start"]
        .as_str()
        .expect("a free slot")
        .to_owned();
    // B reads them too, so that both instances now hold the doctor's availability
    // in memory.
    let first_start: jiff::Timestamp = start.parse().unwrap();
    assert!(
        slot_starts(&client, &b_base, &doctor_id)
            .await
            .contains(&first_start)
    );

    // 100 patients, registered and logged in half on each instance.
    let mut patients = Vec::new();
    for i in 0..100 {
        let base = if i % 2 == 0 { &a_base } else { &b_base };
        let email = format!("patient{i}@clinic.test");
        let (status, _) = call(
            &client,
            post.clone(),
            format!("{base}/api/v1/auth/register"),
            None,
            Some(json!({ "email": email, "password": PASSWORD, "name": format!("Patient {i}") })),
        )
        .await;
        assert_eq!(status, 201);
        patients.push((base.clone(), token(&client, base, &email, PASSWORD).await));
    }

    // Everyone races for the same slot, through both instances at once.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(patients.len()));
    let mut attempts = Vec::new();
    for (base, patient_token) in patients.clone() {
        let (client, barrier, doctor_id, start) = (
            client.clone(),
            barrier.clone(),
            doctor_id.clone(),
            start.clone(),
        );
        attempts.push(tokio::spawn(async move {
            barrier.wait().await;
            call(
                &client,
                reqwest::Method::POST,
                format!("{base}/api/v1/appointments"),
                Some(&patient_token),
                Some(json!({ "doctor_id": doctor_id, "start": start })),
            )
            .await
        }));
    }
    let mut winners = Vec::new();
    for (i, attempt) in attempts.into_iter().enumerate() {
        let (status, body) = attempt.await.unwrap();
        match status {
            201 => winners.push((i, body["id"].as_str().unwrap().to_owned())),
            409 => assert_eq!(body["type"], "/problems/slot-taken"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one booking wins across both instances"
    );
    let (winner, appointment_id) = winners.pop().unwrap();
    let (_, live) = call(
        &client,
        get.clone(),
        format!("{b_base}/api/v1/appointments?doctor_id={doctor_id}&status=requested,confirmed,checked_in"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(live["items"].as_array().unwrap().len(), 1, "{live}");

    // Both instances' copies follow the booking, wherever it was made; then a day
    // off taken on A disappears from B's slots.
    for base in [&a_base, &b_base] {
        until(|| async {
            !slot_starts(&client, base, &doctor_id)
                .await
                .contains(&first_start)
        })
        .await;
    }
    let day_after = first_start + jiff::SignedDuration::from_hours(24);
    let (status, body) = call(
        &client,
        post.clone(),
        format!("{a_base}/api/v1/doctors/{doctor_id}/time-off"),
        Some(&doctor_token),
        Some(json!({ "start": day_after.to_string(), "end": (day_after + jiff::SignedDuration::from_hours(2)).to_string() })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    until(|| async {
        !slot_starts(&client, &b_base, &doctor_id)
            .await
            .contains(&day_after)
    })
    .await;

    // An event raised on A reaches a live subscriber on B.
    let winner_token = patients[winner].1.clone();
    let mut stream = client
        .get(format!("{b_base}/api/v1/events"))
        .bearer_auth(&winner_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let (status, _) = call(
        &client,
        post.clone(),
        format!("{a_base}/api/v1/appointments/{appointment_id}/confirm"),
        Some(&doctor_token),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let mut seen = String::new();
    let heard = tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("\"action\":\"confirm\"") {
            let chunk = stream
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(
        heard.is_ok(),
        "B's subscriber did not hear A's event; it saw {seen:?}"
    );
    drop(stream);

    // A token issued by A works on B; logging out on A revokes it on B.
    let on_a = token(&client, &a_base, "patient0@clinic.test", PASSWORD).await;
    let (status, _) = call(
        &client,
        get.clone(),
        format!("{b_base}/api/v1/me"),
        Some(&on_a),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &client,
        post.clone(),
        format!("{a_base}/api/v1/auth/logout"),
        Some(&on_a),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = call(
        &client,
        get.clone(),
        format!("{b_base}/api/v1/me"),
        Some(&on_a),
        None,
    )
    .await;
    assert_eq!(status, 401);

    // Failed logins on A and on B count together: 3 + 2 = 5, then even the right
    // password is throttled, on either instance.
    for base in [&a_base, &a_base, &a_base, &b_base, &b_base] {
        let (status, _) = login(&client, base, "patient1@clinic.test", "not the password").await;
        assert_eq!(status, 401);
    }
    let (status, _) = login(&client, &a_base, "patient1@clinic.test", PASSWORD).await;
    assert_eq!(status, 429);

    // A holds the specialties in memory once it has searched; one added on B and
    // given to the doctor there is found and named by A's search and profile at once.
    let (status, body) = call(
        &client,
        get.clone(),
        format!("{a_base}/api/v1/doctors"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        &client,
        post.clone(),
        format!("{b_base}/api/v1/specialties"),
        Some(&admin),
        Some(json!({ "name": "Dermatology" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &client,
        reqwest::Method::PATCH,
        format!("{b_base}/api/v1/doctors/{doctor_id}"),
        Some(&doctor_token),
        Some(json!({ "specialty_ids": ["dermatology"] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let named_on_a = |body: &Value| body["specialties"][0]["name"] == "Dermatology";
    // (A's copy of the doctor's profile follows B's change over LISTEN/NOTIFY.)
    until(|| {
        let (client, url) = (
            client.clone(),
            format!("{a_base}/api/v1/doctors?specialty=dermatology"),
        );
        let doctor_id = doctor_id.clone();
        async move {
            let (status, found) = call(&client, reqwest::Method::GET, url, None, None).await;
            assert_eq!(status, 200, "{found}");
            found["items"][0]["id"] == doctor_id.as_str() && named_on_a(&found["items"][0])
        }
    })
    .await;
    let (status, profile) = call(
        &client,
        get.clone(),
        format!("{a_base}/api/v1/doctors/{doctor_id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{profile}");
    assert!(named_on_a(&profile), "{profile}");

    // A's searches list doctors from a directory held in memory; a doctor created on
    // B joins it (A drops it when it hears of the change).
    let (status, body) = call(
        &client,
        post.clone(),
        format!("{b_base}/api/v1/users"),
        Some(&admin),
        Some(json!({ "email": "second@clinic.test", "password": PASSWORD, "name": "Aaron Second", "role": "doctor" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    until(|| {
        let (client, url) = (client.clone(), format!("{a_base}/api/v1/doctors"));
        async move {
            let (status, found) = call(&client, reqwest::Method::GET, url, None, None).await;
            assert_eq!(status, 200, "{found}");
            found["items"][0]["name"] == "Aaron Second"
        }
    })
    .await;

    assert_eq!(a.stop(), Some(0));
    assert_eq!(b.stop(), Some(0));
    drop(database);
}

/// A TCP relay to PostgreSQL that can be cut and restored, to play a database
/// outage without touching the real server other tests use.
struct Relay {
    address: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(address: std::net::SocketAddr) -> Relay {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .expect("relay port");
        let address = listener.local_addr().unwrap();
        let connections = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let tracked = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let relay = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect("127.0.0.1:5432").await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tracked.lock().unwrap().push(relay);
            }
        });
        Relay {
            address,
            task: Some(task),
            connections,
        }
    }

    /// Refuses new connections and drops the open ones.
    fn cut(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_database_is_away_requests_fail_fast_with_503_and_service_resumes_by_itself() {
    use std::sync::Arc;

    use carebook::app::{App, SystemClock};
    use carebook::config::Settings;
    use carebook::store::Store;

    let Some(database) = fresh_database(Backend::Postgres) else {
        return;
    };
    let mut relay = Relay::start("127.0.0.1:0".parse().unwrap()).await;
    let url = database
        .url()
        .replacen("127.0.0.1:5432", &relay.address.to_string(), 1);
    assert!(url.contains(&relay.address.to_string()), "{url}");
    let store = Store::open(&url).expect("the store opens through the relay");
    let app = App::new(store, Settings::default(), Arc::new(SystemClock));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(carebook::http::serve(listener, app, std::future::pending()));
    let client = carebook::testing::http_client();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    assert_eq!(get("/api/v1/specialties").await.unwrap().status(), 200);
    assert_eq!(get("/readyz").await.unwrap().status(), 200);

    relay.cut();
    let started = std::time::Instant::now();
    let away = get("/api/v1/specialties").await.unwrap();
    assert_eq!(away.status(), 503);
    assert_eq!(away.headers()["content-type"], "application/problem+json");
    assert!(away.headers().contains_key("retry-after"));
    let body: Value = away.json().await.unwrap();
    assert_eq!(body["type"], "/problems/unavailable");
    assert!(started.elapsed() < Duration::from_secs(10), "fails fast");
    assert_eq!(get("/readyz").await.unwrap().status(), 503);

    // The database comes back on the same address: no restart needed.
    let _relay = Relay::start(relay.address).await;
    let mut recovered = false;
    for _ in 0..50 {
        if get("/api/v1/specialties").await.unwrap().status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "service resumes once the database is back");
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    drop(database);
}
