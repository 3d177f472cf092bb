//! The test harness: a real carebook server on a random port over a fresh database
//! (SQLite or PostgreSQL), a manual clock, and helpers named after what users do.
//!
//! Every test builds its own [`TestApp`]; nothing is shared between tests but code.
//! Each test body runs twice, once per backend, through [`dual!`](crate::dual).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use carebook::app::{App, ManualClock, RegisterInput};
use carebook::config::Settings;
use carebook::notify::worker::{Senders, Worker};
use carebook::store::Store;
use carebook::testing::{Backend, TestDatabaseGuard, fresh_database, postgres_available};
use jiff::{SignedDuration, Timestamp};
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::{OnceCell, oneshot};

/// Monday 2026-03-02, 07:00 in Berlin (CET, UTC+1): with the default schedule the
/// first bookable slot is today's 09:00 local (08:00Z), exactly the minimum notice away.
pub const NOW: &str = "2026-03-02T06:00:00Z";
/// Monday 2026-03-02 14:00 Berlin: later today, so tokens from `NOW` (valid 24 h)
/// still work when the clock is moved to its start.
pub const MON_1400: &str = "2026-03-02T13:00:00Z";
/// Tuesday 2026-03-03 09:00 Berlin.
pub const TUE_0900: &str = "2026-03-03T08:00:00Z";
pub const TUE_0930: &str = "2026-03-03T08:30:00Z";
pub const TUE_1000: &str = "2026-03-03T09:00:00Z";
/// Wednesday 2026-03-04 09:00 and 10:00 Berlin.
pub const WED_0900: &str = "2026-03-04T08:00:00Z";
pub const WED_1000: &str = "2026-03-04T09:00:00Z";

pub const PASSWORD: &str = "correct horse battery";

pub fn ts(value: &str) -> Timestamp {
    value.parse().expect("an RFC 3339 instant")
}

/// A running server and the handles to drive it.
pub struct TestApp {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub base: String,
    client: reqwest::Client,
    admin: OnceCell<User>,
    counter: AtomicUsize,
    shutdown: Option<oneshot::Sender<()>>,
    worker: OnceCell<Arc<Worker>>,
    /// Where email goes without SMTP.
    pub mail_dir: tempfile::TempDir,
    // Dropped last: the database lives in it.
    _database: TestDatabaseGuard,
}

tokio::task_local! {
    /// The backend the running test body was started for.
    static BACKEND: Backend;
}

/// Runs one test body against `backend`. Without a reachable PostgreSQL the
/// PostgreSQL run returns at once after a loud banner (and fails under `CI=true`).
pub async fn on_backend(backend: Backend, test: impl std::future::Future<Output = ()>) {
    if backend == Backend::Postgres && !postgres_available() {
        return;
    }
    BACKEND.scope(backend, test).await
}

/// The backend of the running test body (SQLite outside [`on_backend`]).
pub fn backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(|_| {}).await
    }

    /// A server whose settings `configure` changed first (SMTP, webhooks, ...).
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
        TestApp::spawn_with_base(|settings, _| configure(settings)).await
    }

    /// Like [`TestApp::spawn_with`], and `configure` also learns the server's
    /// address (`http://127.0.0.1:PORT`) before it starts, e.g. for `public_url`.
    pub async fn spawn_with_base(configure: impl FnOnce(&mut Settings, &str)) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let addr = listener.local_addr().expect("the bound address");
        let database = fresh_database(backend()).expect("a test database");
        let store = Store::open(&database.url()).expect("the database opens");
        let clock = Arc::new(ManualClock::default());
        clock.set(ts(NOW));
        let mail_dir = tempfile::tempdir().expect("a temporary folder");
        // Every test client is 127.0.0.1: rate limits are off here, and on in the
        // tests of the limits themselves (`limits.rs`).
        let mut settings = Settings {
            mail_dir: mail_dir.path().display().to_string(),
            attachment_store: mail_dir.path().join("files").display().to_string(),
            rate_limit_per_token_per_minute: 0,
            rate_limit_per_address_per_minute: 0,
            rate_limit_auth_per_address_per_minute: 0,
            ..Settings::default()
        };
        configure(&mut settings, &format!("http://{addr}"));
        let app = App::new(store, settings, clock.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(carebook::http::serve(listener, app.clone(), async move {
            let _ = stopped.await;
        }));
        TestApp {
            app,
            clock,
            base: format!("http://{addr}"),
            client: carebook::testing::http_client(),
            admin: OnceCell::new(),
            counter: AtomicUsize::new(0),
            shutdown: Some(stop),
            worker: OnceCell::new(),
            mail_dir,
            _database: database,
        }
    }

    /// A caller without credentials.
    pub fn anon(&self) -> Api {
        Api {
            client: self.client.clone(),
            base: self.base.clone(),
            token: None,
        }
    }

    /// A caller with this bearer token.
    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: Some(token.to_owned()),
            ..self.anon()
        }
    }

    /// Runs the delivery worker until nothing is due at the test clock's now; the
    /// number of attempts made.
    pub async fn deliver(&self) -> usize {
        let worker = self
            .worker
            .get_or_init(|| async {
                let senders = Senders::from_settings(&self.app.settings).expect("the senders");
                Worker::new(self.app.clone(), senders)
            })
            .await;
        worker.drain().await.expect("the worker runs")
    }

    pub fn set_clock(&self, instant: &str) {
        self.clock.set(ts(instant));
    }

    pub fn advance_clock(&self, by: SignedDuration) {
        self.clock.advance(by);
    }

    /// A unique email for `name` within this app.
    pub fn email_for(&self, name: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let local: String = name
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '.' })
            .collect();
        format!("{local}.{n}@example.com")
    }

    /// The clinic's admin, made like the operator does (`carebook admin create`) and
    /// logged in through the API. One per app; later calls return the same one.
    pub async fn admin(&self) -> User {
        self.admin
            .get_or_init(|| async {
                let email = self.email_for("Ada Admin");
                self.app
                    .bootstrap_user(RegisterInput {
                        email: email.clone(),
                        password: PASSWORD.to_owned(),
                        name: "Ada Admin".to_owned(),
                        role: Some("admin".to_owned()),
                        ..RegisterInput::default()
                    })
                    .await
                    .expect("the admin is created");
                self.log_in(&email, PASSWORD).await
            })
            .await
            .clone()
    }

    /// `POST /auth/login`, as it answers.
    pub async fn login(&self, email: &str, password: &str) -> Res {
        self.anon()
            .post(
                "/api/v1/auth/login",
                &json!({ "email": email, "password": password }),
            )
            .await
    }

    /// Logs in and panics unless it works.
    pub async fn log_in(&self, email: &str, password: &str) -> User {
        let res = self.login(email, password).await;
        res.assert_status(200);
        let user = &res.body["user"];
        User {
            id: user["id"].as_str().expect("user.id").to_owned(),
            email: email.to_owned(),
            name: user["name"].as_str().expect("user.name").to_owned(),
            role: user["role"].as_str().expect("user.role").to_owned(),
            api: self.with_token(res.body["token"].as_str().expect("token")),
        }
    }

    /// `POST /auth/register` as a patient, as it answers.
    pub async fn register(&self, body: Value) -> Res {
        self.anon().post("/api/v1/auth/register", &body).await
    }

    /// A self-registered, logged-in patient.
    pub async fn register_patient(&self, name: &str) -> User {
        let email = self.email_for(name);
        self.register(json!({ "email": email, "password": PASSWORD, "name": name }))
            .await
            .assert_status(201);
        self.log_in(&email, PASSWORD).await
    }

    /// An account created by the admin (`POST /users`), logged in.
    pub async fn create_staff(&self, name: &str, role: &str) -> User {
        let email = self.email_for(name);
        self.admin()
            .await
            .post(
                "/api/v1/users",
                &json!({ "email": email, "password": PASSWORD, "name": name, "role": role }),
            )
            .await
            .assert_status(201);
        self.log_in(&email, PASSWORD).await
    }

    /// A doctor created by the admin, with [`default_schedule`], logged in.
    pub async fn create_doctor(&self, name: &str) -> User {
        let doctor = self.create_staff(name, "doctor").await;
        self.set_schedule(&doctor, default_schedule()).await;
        doctor
    }

    pub async fn create_receptionist(&self) -> User {
        self.create_staff("Rita Reception", "receptionist").await
    }

    /// The doctor sets their own schedule; panics unless it is accepted.
    pub async fn set_schedule(&self, doctor: &User, schedule: Value) {
        doctor
            .put(
                &format!("/api/v1/doctors/{}/schedule", doctor.id),
                &schedule,
            )
            .await
            .assert_status(200);
    }

    /// Books `start` with `doctor_id` as `user` (a patient for themself).
    pub async fn book(&self, user: &User, doctor_id: &str, start: &str) -> Res {
        user.post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor_id, "start": start }),
        )
        .await
    }

    /// Books and returns the appointment's id; panics unless it is created.
    pub async fn booked(&self, user: &User, doctor_id: &str, start: &str) -> String {
        let res = self.book(user, doctor_id, start).await;
        res.assert_status(201);
        res.str("id").to_owned()
    }

    /// The start instants of a doctor's free slots in `[from, to]` (dates or instants).
    pub async fn slot_starts(&self, doctor_id: &str, from: &str, to: &str) -> Vec<String> {
        let res = self
            .anon()
            .get(&format!(
                "/api/v1/doctors/{doctor_id}/slots?from={from}&to={to}"
            ))
            .await;
        res.assert_status(200);
        res.body["slots"]
            .as_array()
            .expect("slots")
            .iter()
            .map(|s| s["start"].as_str().expect("slot start").to_owned())
            .collect()
    }
}

/// Europe/Berlin, 30-minute slots, Monday to Friday 09:00-13:00 and 14:00-17:00,
/// two hours' notice, 60 days ahead, no auto-confirm, 24 h cancellation window.
pub fn default_schedule() -> Value {
    let mut hours = Vec::new();
    for day in ["monday", "tuesday", "wednesday", "thursday", "friday"] {
        hours.push(json!({ "day": day, "start": "09:00", "end": "13:00" }));
        hours.push(json!({ "day": day, "start": "14:00", "end": "17:00" }));
    }
    json!({
        "time_zone": "Europe/Berlin",
        "slot_minutes": 30,
        "weekly_hours": hours,
        "min_notice_minutes": 120,
        "horizon_days": 60,
        "auto_confirm": false,
        "cancel_window_hours": 24,
    })
}

/// A logged-in user; derefs to an [`Api`] carrying their token.
#[derive(Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub api: Api,
}

impl std::ops::Deref for User {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Sends requests to the server, with or without a bearer token.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    pub token: Option<String>,
}

impl Api {
    /// A request builder for anything the helpers below do not cover.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    pub async fn get(&self, path: &str) -> Res {
        Res::from(self.request(Method::GET, path).send().await).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Res {
        Res::from(self.request(Method::POST, path).json(body).send().await).await
    }

    /// A POST without a body (lifecycle moves without a reason, logout, approve).
    pub async fn post_empty(&self, path: &str) -> Res {
        Res::from(self.request(Method::POST, path).send().await).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Res {
        Res::from(self.request(Method::PATCH, path).json(body).send().await).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Res {
        Res::from(self.request(Method::PUT, path).json(body).send().await).await
    }

    pub async fn delete(&self, path: &str) -> Res {
        Res::from(self.request(Method::DELETE, path).send().await).await
    }

    /// Uploads `bytes` as the multipart field `file` named `file_name`.
    pub async fn upload(&self, path: &str, file_name: &str, bytes: &[u8]) -> Res {
        self.upload_with(Method::POST, path, file_name, bytes).await
    }

    /// A multipart upload of one file in the field `file`, with this method.
    pub async fn upload_with(
        &self,
        method: Method,
        path: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Res {
        let boundary = "carebook-test-boundary-7f3a";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let sent = self
            .request(method, path)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await;
        Res::from(sent).await
    }

    /// A GET whose answer is kept as bytes (downloads).
    pub async fn download(&self, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
        let response = self
            .request(Method::GET, path)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a readable body").to_vec();
        (status, headers, bytes)
    }

    /// `POST /appointments/{id}/{action}` without a body.
    pub async fn act(&self, appointment: &str, action: &str) -> Res {
        self.post_empty(&format!("/api/v1/appointments/{appointment}/{action}"))
            .await
    }

    pub async fn appointment(&self, id: &str) -> Res {
        self.get(&format!("/api/v1/appointments/{id}")).await
    }
}

/// An answer: status, headers and the body as JSON (`Value::String` of the text when
/// it is not JSON, `Null` when empty).
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Res {
    pub async fn from(sent: reqwest::Result<reqwest::Response>) -> Res {
        let response = sent.expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Res {
            status,
            headers,
            body,
        }
    }

    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Res {
        assert_eq!(
            self.status.as_u16(),
            expected,
            "unexpected status; body: {:#}",
            self.body
        );
        self
    }

    /// A string field of the body.
    #[track_caller]
    pub fn str(&self, field: &str) -> &str {
        self.body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no string {field:?} in {:#}", self.body))
    }

    /// The `items` of a list answer.
    #[track_caller]
    pub fn items(&self) -> &Vec<Value> {
        self.body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("no items in {:#}", self.body))
    }

    /// The `id`s of a list answer's items.
    #[track_caller]
    pub fn ids(&self) -> Vec<String> {
        self.items()
            .iter()
            .map(|item| item["id"].as_str().expect("item id").to_owned())
            .collect()
    }

    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem: status, content type and `type` = `/problems/<slug>`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, slug: &str) -> &Res {
        self.assert_status(status);
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some("application/problem+json"),
            "problems are application/problem+json; body: {:#}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("/problems/{slug}"),
            "problem type; body: {:#}",
            self.body
        );
        assert_eq!(self.body["status"], status, "problem status member");
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "a problem has a human detail: {:#}",
            self.body
        );
        self
    }

    /// The fields named in a validation problem's `errors`.
    #[track_caller]
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors in {:#}", self.body))
            .iter()
            .map(|e| e["field"].as_str().expect("errors[].field").to_owned())
            .collect()
    }

    /// Asserts a 422 validation problem naming (at least) `fields`.
    #[track_caller]
    pub fn assert_invalid(&self, fields: &[&str]) -> &Res {
        self.assert_problem(422, "validation");
        let named = self.error_fields();
        for field in fields {
            assert!(
                named.iter().any(|n| n == field),
                "expected an error for {field:?}, got {named:?}"
            );
        }
        self
    }
}
