//! The live WebSocket across a server restart and across two instances (issue 10):
//! a client that reconnects with its last event id gets every missed message exactly
//! once, and a patient on one instance chats with a doctor on another.

#[path = "api/ws_client.rs"]
mod ws_client;

use std::sync::Arc;
use std::time::Duration;

use carebook::app::{App, RegisterInput, SystemClock};
use carebook::config::Settings;
use carebook::store::Store;
use carebook::testing::{Backend, fresh_database};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use ws_client::Live;

const PASSWORD: &str = "a long enough secret";

/// One carebook server in this process, over `url`.
struct Server {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<()>,
    _mail: tempfile::TempDir,
    app: App,
}

impl Server {
    async fn start(url: &str) -> Server {
        let mail = tempfile::tempdir().unwrap();
        let settings = Settings {
            mail_dir: mail.path().display().to_string(),
            rate_limit_per_token_per_minute: 0,
            rate_limit_per_address_per_minute: 0,
            rate_limit_auth_per_address_per_minute: 0,
            ..Settings::default()
        };
        let store = Store::open(url).expect("the database opens");
        let app = App::new(store, settings, Arc::new(SystemClock));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn({
            let app = app.clone();
            async move {
                carebook::http::serve(listener, app, async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            }
        });
        Server {
            base,
            stop: Some(stop),
            done,
            _mail: mail,
            app,
        }
    }

    /// Shuts down like `carebook serve` on SIGTERM: open sockets are closed.
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), &mut self.done)
            .await
            .expect("the server stops within 10 s")
            .unwrap();
    }
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let client = carebook::testing::http_client();
    let mut request = client.request(method, format!("{base}{path}"));
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

async fn login(base: &str, email: &str) -> String {
    let (status, body) = call(
        base,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A doctor and a patient with an appointment and their conversation; their tokens
/// and the conversation id.
struct Pair {
    doctor: String,
    patient: String,
    patient_id: String,
    conversation: String,
}

async fn pair(server: &Server) -> Pair {
    let base = &server.base;
    server
        .app
        .bootstrap_user(RegisterInput {
            email: "admin@clinic.test".into(),
            password: PASSWORD.into(),
            name: "Ada".into(),
            role: Some("admin".into()),
            ..RegisterInput::default()
        })
        .await
        .unwrap();
    let admin = login(base, "admin@clinic.test").await;
    let post = reqwest::Method::POST;
    let (status, doctor) = call(base, post.clone(), "/api/v1/users", Some(&admin),
        Some(json!({ "email": "doc@clinic.test", "password": PASSWORD, "name": "Dr Live", "role": "doctor" }))).await;
    assert_eq!(status, 201, "{doctor}");
    let doctor_id = doctor["id"].as_str().unwrap().to_owned();
    let doctor_token = login(base, "doc@clinic.test").await;
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
    let (status, body) = call(base, reqwest::Method::PUT, &format!("/api/v1/doctors/{doctor_id}/schedule"), Some(&doctor_token),
        Some(json!({
            "time_zone": "UTC", "slot_minutes": 30, "weekly_hours": every_day,
            "min_notice_minutes": 60, "horizon_days": 30, "auto_confirm": false, "cancel_window_hours": 0,
        }))).await;
    assert_eq!(status, 200, "{body}");
    let (status, patient) = call(
        base,
        post.clone(),
        "/api/v1/auth/register",
        None,
        Some(json!({ "email": "pat@clinic.test", "password": PASSWORD, "name": "Pat Live" })),
    )
    .await;
    assert_eq!(status, 201, "{patient}");
    let patient_id = patient["id"].as_str().unwrap().to_owned();
    let patient_token = login(base, "pat@clinic.test").await;
    let (_, slots) = call(
        base,
        reqwest::Method::GET,
        &format!("/api/v1/doctors/{doctor_id}/slots"),
        None,
        None,
    )
    .await;
    let start = slots["slots"][0]["start"]
        .as_str()
        .expect("a free slot")
        .to_owned();
    let (status, body) = call(
        base,
        post.clone(),
        "/api/v1/appointments",
        Some(&patient_token),
        Some(json!({ "doctor_id": doctor_id, "start": start })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, conversation) = call(
        base,
        post,
        "/api/v1/conversations",
        Some(&patient_token),
        Some(json!({ "doctor_id": doctor_id })),
    )
    .await;
    assert_eq!(status, 200, "{conversation}");
    Pair {
        doctor: doctor_token,
        patient: patient_token,
        patient_id,
        conversation: conversation["id"].as_str().unwrap().to_owned(),
    }
}

async fn send(base: &str, token: &str, conversation: &str, client_id: &str, text: &str) {
    let (status, body) = call(
        base,
        reqwest::Method::POST,
        &format!("/api/v1/conversations/{conversation}/messages"),
        Some(token),
        Some(json!({ "client_id": client_id, "text": text })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

async fn missed_messages_arrive_once_after_a_restart(backend: Backend) {
    let Some(database) = fresh_database(backend) else {
        return;
    };
    let url = database.url();
    let first = Server::start(&url).await;
    let pair = pair(&first).await;
    let (mut doctor_live, _) = Live::connect(&first.base, &pair.doctor, None).await;
    send(
        &first.base,
        &pair.patient,
        &pair.conversation,
        "a",
        "before the restart",
    )
    .await;
    let seen = doctor_live.next_of("message").await;
    assert_eq!(seen["data"]["text"], "before the restart");
    let last_id = seen["id"].as_i64().unwrap();

    // The server stops: the socket is closed, not left hanging.
    first.stop().await;
    let mut closed = false;
    for _ in 0..20 {
        match doctor_live.next_within(Duration::from_secs(5)).await {
            Some(Value::Null) => {
                closed = true;
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    assert!(closed, "the socket is closed at shutdown");

    // Another server over the same database; the patient writes while the doctor is
    // away (sessions live in the database).
    let second = Server::start(&url).await;
    for i in 0..3 {
        send(
            &second.base,
            &pair.patient,
            &pair.conversation,
            &format!("b{i}"),
            &format!("missed {i}"),
        )
        .await;
    }
    let (mut doctor_live, replayed) =
        Live::connect(&second.base, &pair.doctor, Some(last_id)).await;
    let messages: Vec<&Value> = replayed.iter().filter(|f| f["type"] == "message").collect();
    let texts: Vec<&str> = messages
        .iter()
        .map(|f| f["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["missed 0", "missed 1", "missed 2"], "{replayed:?}");
    // Every durable event after the last one seen (the messages, and the receipt
    // of the delivery that preceded the restart), each once, in order.
    let ids: Vec<i64> = replayed.iter().filter_map(|f| f["id"].as_i64()).collect();
    assert_eq!(ids[0], last_id + 1, "{replayed:?}");
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    // And nothing twice afterwards, while new ones still arrive live.
    send(
        &second.base,
        &pair.patient,
        &pair.conversation,
        "c",
        "after",
    )
    .await;
    let live = doctor_live.next_of("message").await;
    assert_eq!(live["data"]["text"], "after");
    assert!(live["id"].as_i64().unwrap() > *ids.last().unwrap());
    let later = doctor_live.drain(Duration::from_millis(300)).await;
    assert!(later.iter().all(|f| f["type"] != "message"), "{later:?}");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_missed_messages_arrive_once_after_a_restart() {
    missed_messages_arrive_once_after_a_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_missed_messages_arrive_once_after_a_restart() {
    missed_messages_arrive_once_after_a_restart(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_on_one_instance_chats_with_a_doctor_on_another() {
    let Some(database) = fresh_database(Backend::Postgres) else {
        return;
    };
    let url = database.url();
    let a = Server::start(&url).await;
    let b = Server::start(&url).await;
    let pair = pair(&a).await;
    let (mut patient_live, _) = Live::connect(&a.base, &pair.patient, None).await;
    let (mut doctor_live, _) = Live::connect(&b.base, &pair.doctor, None).await;
    let c = &pair.conversation;

    for i in 1..=3 {
        patient_live
            .send(json!({ "type": "message", "conversation_id": c, "client_id": format!("p{i}"), "text": format!("from A {i}") }))
            .await;
    }
    for i in 1..=3 {
        let frame = doctor_live.next_of("message").await;
        assert_eq!(frame["data"]["text"], format!("from A {i}"));
        assert_eq!(frame["data"]["sender_id"], pair.patient_id.as_str());
    }
    // The doctor's client on B received them: the receipt reaches A.
    loop {
        let receipt = patient_live.next_of("receipt").await;
        if receipt["data"]["user_id"] != pair.patient_id.as_str()
            && receipt["data"]["delivered_seq"] == 3
        {
            break;
        }
    }
    doctor_live
        .send(json!({ "type": "typing", "conversation_id": c }))
        .await;
    patient_live.next_of("typing").await;
    doctor_live
        .send(
            json!({ "type": "message", "conversation_id": c, "client_id": "d1", "text": "from B" }),
        )
        .await;
    loop {
        let frame = patient_live.next_of("message").await;
        if frame["data"]["text"] == "from B" {
            assert_eq!(frame["data"]["seq"], 4);
            break;
        }
    }
    a.stop().await;
    b.stop().await;
}
