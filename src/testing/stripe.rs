//! A fake Stripe on a loopback port, for the payment tests: Checkout Sessions,
//! their expiry, refunds, and the webhook bodies Stripe would send, with Stripe's
//! answers and refusals in Stripe's shapes.
//!
//! It keeps what the tests lean on honest: it checks the form fields a real session
//! needs (and answers 400 `parameter_missing` like Stripe when one is missing),
//! replays a repeated `Idempotency-Key` with the very same answer (and refuses the
//! key reused for a different request), refuses to expire a session that is not
//! open, and refunds only a payment it took, once.
//!
//! ```no_run
//! # async fn example() {
//! use carebook::stripe::StripeClient;
//! use carebook::testing::stripe::{FakeStripe, sign};
//! let fake = FakeStripe::start().await;
//! let client = StripeClient::new(&fake.url(), "sk_test_fake").unwrap();
//! // … create a session through the app, then pay it:
//! let body = fake.completed_event("cs_test_1");
//! let header = sign(&body, "whsec_test", jiff::Timestamp::now());
//! // … POST body with `Stripe-Signature: header` to the app's webhook route …
//! # let _ = (client, header);
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

pub use super::http_peer::RecordedRequest;

/// A `Stripe-Signature` header for `body` signed with `secret` at `at`.
pub fn sign(body: &str, secret: &str, at: jiff::Timestamp) -> String {
    let t = at.as_second();
    format!(
        "t={t},v1={}",
        crate::stripe::v1_signature(secret, t, body.as_bytes())
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionStatus {
    Open,
    Expired,
    Complete,
}

impl SessionStatus {
    fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Expired => "expired",
            SessionStatus::Complete => "complete",
        }
    }
}

struct Session {
    id: String,
    status: SessionStatus,
    amount_total: i64,
    currency: String,
    product_name: String,
    client_reference_id: Option<String>,
    success_url: String,
    cancel_url: String,
    expires_at: Option<i64>,
    metadata: BTreeMap<String, String>,
    payment_intent: Option<String>,
}

struct Payment {
    session: String,
    refunded: bool,
}

/// A remembered answer to an idempotency key, and what it was for.
struct Replay {
    request: (String, Vec<u8>),
    status: u16,
    body: String,
}

#[derive(Default)]
struct State {
    requests: Vec<RecordedRequest>,
    failures: Option<(usize, u16)>,
    sessions: Vec<Session>,
    payments: HashMap<String, Payment>,
    refunds: usize,
    events: usize,
    replays: HashMap<String, Replay>,
}

impl State {
    fn session_mut(&mut self, id: &str) -> Option<&mut Session> {
        self.sessions.iter_mut().find(|session| session.id == id)
    }
}

struct Shared {
    base: String,
    state: Mutex<State>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; the
        // records stay readable for the others.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running fake; stops when dropped.
pub struct FakeStripe {
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeStripe {
    /// Listens on `127.0.0.1` on a free port. Needs a Tokio runtime.
    pub async fn start() -> FakeStripe {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let address = listener.local_addr().expect("the listener has an address");
        let shared = Arc::new(Shared {
            base: format!("http://{address}"),
            state: Mutex::new(State::default()),
        });
        let handler_shared = shared.clone();
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let shared = handler_shared.clone();
            async move { answer(&shared, request).await }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeStripe { shared, server }
    }

    /// The API base to configure: `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.shared.base.clone()
    }

    /// Everything received so far, in order (refused requests and checkout page
    /// visits too).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// Makes the next `n` API requests (`/v1/...`) fail with this status and a
    /// Stripe error body (`card_declined` for 402, `rate_limit` for 429,
    /// `parameter_invalid` for 400, `resource_missing` for 404, `api_error` with no
    /// code for 5xx). Replaces an earlier call's failures. The failed requests
    /// happen before the idempotency layer, as an overloaded Stripe's do: a retry
    /// with the same key is then carried out.
    pub fn fail_next(&self, n: usize, status: u16) {
        assert!(
            StatusCode::from_u16(status).is_ok(),
            "fail_next: {status} is not an HTTP status"
        );
        self.shared.state().failures = (n > 0).then_some((n, status));
    }

    /// `open`, `expired` or `complete`; `None` for a session never created.
    pub fn session_status(&self, session_id: &str) -> Option<String> {
        self.shared
            .state()
            .session_mut(session_id)
            .map(|session| session.status.as_str().to_owned())
    }

    /// The webhook body Stripe sends when the session was paid:
    /// `checkout.session.completed` with a fresh event id, `payment_status: "paid"`,
    /// a payment intent (`pi_test_<n>`, the same on later calls for the session), and
    /// what the session was created with. The session is complete from now on (it
    /// cannot be expired, its payment intent can be refunded). Panics for an unknown
    /// or expired session: the test is wrong.
    pub fn completed_event(&self, session_id: &str) -> String {
        let mut state = self.shared.state();
        let payments = state.payments.len();
        let session = state
            .session_mut(session_id)
            .unwrap_or_else(|| panic!("the fake Stripe has no session {session_id}"));
        assert_ne!(
            session.status,
            SessionStatus::Expired,
            "session {session_id} expired: it cannot be paid"
        );
        session.status = SessionStatus::Complete;
        let payment_intent = session
            .payment_intent
            .get_or_insert_with(|| format!("pi_test_{}", payments + 1))
            .clone();
        let object = session_json(&self.shared.base, session);
        state.payments.entry(payment_intent).or_insert(Payment {
            session: session_id.to_owned(),
            refunded: false,
        });
        event(&mut state, "checkout.session.completed", object)
    }

    /// The webhook body of `checkout.session.expired` for the session (Stripe sends
    /// it when `expires_at` passed, or after an expire call). The session is expired
    /// from now on. Panics for an unknown or completed session.
    pub fn expired_event(&self, session_id: &str) -> String {
        let mut state = self.shared.state();
        let session = state
            .session_mut(session_id)
            .unwrap_or_else(|| panic!("the fake Stripe has no session {session_id}"));
        assert_ne!(
            session.status,
            SessionStatus::Complete,
            "session {session_id} was paid: it does not expire"
        );
        session.status = SessionStatus::Expired;
        let object = session_json(&self.shared.base, session);
        event(&mut state, "checkout.session.expired", object)
    }
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn event(state: &mut State, kind: &str, object: Value) -> String {
    state.events += 1;
    json!({
        "id": format!("evt_test_{}", state.events),
        "object": "event",
        "created": jiff::Timestamp::now().as_second(),
        "livemode": false,
        "pending_webhooks": 1,
        "type": kind,
        "data": { "object": object },
    })
    .to_string()
}

fn session_json(base: &str, session: &Session) -> Value {
    let open = session.status == SessionStatus::Open;
    json!({
        "id": session.id,
        "object": "checkout.session",
        "amount_subtotal": session.amount_total,
        "amount_total": session.amount_total,
        "cancel_url": session.cancel_url,
        "client_reference_id": session.client_reference_id,
        "currency": session.currency,
        "expires_at": session.expires_at,
        "livemode": false,
        "metadata": session.metadata,
        "mode": "payment",
        "payment_intent": session.payment_intent,
        "payment_status": if session.status == SessionStatus::Complete { "paid" } else { "unpaid" },
        "status": session.status.as_str(),
        "success_url": session.success_url,
        // Stripe drops the page's address once the session is over.
        "url": open.then(|| format!("{base}/checkout/{}", session.id)),
    })
}

/// Stripe's error shape.
fn stripe_error(status: u16, kind: &str, code: Option<&str>, message: &str) -> (u16, String) {
    let mut error = json!({ "type": kind, "message": message });
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    (status, json!({ "error": error }).to_string())
}

fn failure(status: u16) -> (u16, String) {
    let message = "a failure the test asked for (fail_next)";
    match status {
        400 => stripe_error(
            status,
            "invalid_request_error",
            Some("parameter_invalid"),
            message,
        ),
        402 => stripe_error(status, "card_error", Some("card_declined"), message),
        404 => stripe_error(
            status,
            "invalid_request_error",
            Some("resource_missing"),
            message,
        ),
        429 => stripe_error(status, "invalid_request_error", Some("rate_limit"), message),
        500..=599 => stripe_error(status, "api_error", None, message),
        _ => stripe_error(status, "invalid_request_error", None, message),
    }
}

async fn answer(shared: &Shared, request: Request<Body>) -> Response {
    let recorded = RecordedRequest::read(request, 1024 * 1024).await;
    let mut state = shared.state();
    state.requests.push(recorded.clone());
    let path = recorded.path.split('?').next().unwrap_or_default();
    if let Some(id) = path.strip_prefix("/checkout/") {
        return checkout_page(&state, id);
    }
    let (status, body, replayed) = api(shared, &mut state, &recorded, path);
    drop(state);
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            header::HeaderValue::from_static("true"),
        );
    }
    response
}

/// The answer to an API request: status, JSON body, and whether it is a replay.
fn api(
    shared: &Shared,
    state: &mut State,
    request: &RecordedRequest,
    path: &str,
) -> (u16, String, bool) {
    if let Some((left, status)) = state.failures
        && path.starts_with("/v1/")
    {
        state.failures = (left > 1).then_some((left - 1, status));
        let (status, body) = failure(status);
        return (status, body, false);
    }
    let authorized = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|key| !key.trim().is_empty());
    if !authorized {
        let (status, body) = stripe_error(
            401,
            "invalid_request_error",
            None,
            "You did not provide an API key. You need to provide your API key in the \
             Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        );
        return (status, body, false);
    }
    let idempotency_key = match request.method.as_str() {
        "POST" => request.header("idempotency-key").map(str::to_owned),
        _ => None,
    };
    let fingerprint = (path.to_owned(), request.body.clone());
    if let Some(key) = &idempotency_key
        && let Some(replay) = state.replays.get(key)
    {
        if replay.request == fingerprint {
            return (replay.status, replay.body.clone(), true);
        }
        let (status, body) = stripe_error(
            400,
            "idempotency_error",
            None,
            &format!(
                "Keys for idempotent requests can only be used with the same parameters they \
                 were first used with. Try using a key other than '{key}' if you meant to \
                 execute a different request."
            ),
        );
        return (status, body, false);
    }
    let form = request.form();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (status, body) = match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "checkout", "sessions"]) => create_session(shared, state, &form),
        ("GET", ["v1", "checkout", "sessions", id]) => match state.session_mut(id) {
            Some(session) => (200, session_json(&shared.base, session).to_string()),
            None => no_such("checkout.session", id),
        },
        ("POST", ["v1", "checkout", "sessions", id, "expire"]) => expire_session(shared, state, id),
        ("POST", ["v1", "refunds"]) => create_refund(state, &form),
        _ => stripe_error(
            404,
            "invalid_request_error",
            None,
            &format!(
                "Unrecognized request URL ({}: {path}).",
                request.method.as_str()
            ),
        ),
    };
    // Stripe remembers what an endpoint carried out; refusals of the request
    // itself are not remembered here, so a corrected test can go on.
    if let Some(key) = idempotency_key
        && (200..300).contains(&status)
    {
        state.replays.insert(
            key,
            Replay {
                request: fingerprint,
                status,
                body: body.clone(),
            },
        );
    }
    (status, body, false)
}

fn no_such(kind: &str, id: &str) -> (u16, String) {
    stripe_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such {kind}: '{id}'"),
    )
}

fn missing(param: &str) -> (u16, String) {
    stripe_error(
        400,
        "invalid_request_error",
        Some("parameter_missing"),
        &format!("Missing required param: {param}."),
    )
}

fn invalid(param: &str, message: &str) -> (u16, String) {
    stripe_error(
        400,
        "invalid_request_error",
        Some("parameter_invalid"),
        &format!("Invalid {param}: {message}"),
    )
}

fn form_value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `prefix[KEY]=VALUE` fields as a map.
fn nested(form: &[(String, String)], prefix: &str) -> BTreeMap<String, String> {
    form.iter()
        .filter_map(|(name, value)| {
            let key = name
                .strip_prefix(prefix)?
                .strip_prefix('[')?
                .strip_suffix(']')?;
            (!key.contains(['[', ']'])).then(|| (key.to_owned(), value.clone()))
        })
        .collect()
}

fn create_session(shared: &Shared, state: &mut State, form: &[(String, String)]) -> (u16, String) {
    const PRICE: &str = "line_items[0][price_data]";
    let Some(mode) = form_value(form, "mode") else {
        return missing("mode");
    };
    if mode != "payment" {
        return invalid("mode", "the fake takes only `payment`");
    }
    let Some(success_url) = form_value(form, "success_url") else {
        return missing("success_url");
    };
    let cancel_url = form_value(form, "cancel_url").unwrap_or_default();
    let Some(quantity) = form_value(form, "line_items[0][quantity]") else {
        return missing("line_items[0][quantity]");
    };
    let Some(quantity) = quantity.parse::<i64>().ok().filter(|q| *q >= 1) else {
        return invalid("line_items[0][quantity]", "not a positive integer");
    };
    let Some(currency) = form_value(form, &format!("{PRICE}[currency]")) else {
        return missing(&format!("{PRICE}[currency]"));
    };
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_lowercase()) {
        return invalid(&format!("{PRICE}[currency]"), "not a lowercase ISO code");
    }
    let Some(unit_amount) = form_value(form, &format!("{PRICE}[unit_amount]")) else {
        return missing(&format!("{PRICE}[unit_amount]"));
    };
    let Some(unit_amount) = unit_amount.parse::<i64>().ok().filter(|a| *a >= 0) else {
        return invalid(
            &format!("{PRICE}[unit_amount]"),
            "not a non-negative integer",
        );
    };
    let Some(product_name) =
        form_value(form, &format!("{PRICE}[product_data][name]")).filter(|name| !name.is_empty())
    else {
        return missing(&format!("{PRICE}[product_data][name]"));
    };
    let expires_at = match form_value(form, "expires_at") {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(seconds) => Some(seconds),
            Err(_) => return invalid("expires_at", "not an integer"),
        },
    };
    let session = Session {
        id: format!("cs_test_{}", state.sessions.len() + 1),
        status: SessionStatus::Open,
        amount_total: unit_amount.saturating_mul(quantity),
        currency: currency.to_owned(),
        product_name: product_name.to_owned(),
        client_reference_id: form_value(form, "client_reference_id").map(str::to_owned),
        success_url: success_url.to_owned(),
        cancel_url: cancel_url.to_owned(),
        expires_at,
        metadata: nested(form, "metadata"),
        payment_intent: None,
    };
    let body = session_json(&shared.base, &session).to_string();
    state.sessions.push(session);
    (200, body)
}

fn expire_session(shared: &Shared, state: &mut State, id: &str) -> (u16, String) {
    let Some(session) = state.session_mut(id) else {
        return no_such("checkout.session", id);
    };
    if session.status != SessionStatus::Open {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("checkout_session_not_open"),
            &format!(
                "Only Checkout Sessions with a status in [\"open\"] can be expired. This \
                 Checkout Session has a status of `{}`.",
                session.status.as_str()
            ),
        );
    }
    session.status = SessionStatus::Expired;
    (200, session_json(&shared.base, session).to_string())
}

fn create_refund(state: &mut State, form: &[(String, String)]) -> (u16, String) {
    let Some(payment_intent) = form_value(form, "payment_intent") else {
        return missing("payment_intent");
    };
    let Some(payment) = state.payments.get_mut(payment_intent) else {
        return no_such("payment_intent", payment_intent);
    };
    if payment.refunded {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("charge_already_refunded"),
            &format!("Charge for {payment_intent} has already been refunded."),
        );
    }
    payment.refunded = true;
    let session = payment.session.clone();
    let (amount, currency) = state
        .session_mut(&session)
        .map(|s| (s.amount_total, s.currency.clone()))
        .unwrap_or_default();
    state.refunds += 1;
    let body = json!({
        "id": format!("re_test_{}", state.refunds),
        "object": "refund",
        "amount": amount,
        "currency": currency,
        "metadata": nested(form, "metadata"),
        "payment_intent": payment_intent,
        "status": "succeeded",
    });
    (200, body.to_string())
}

/// A page a browser test can land on.
fn checkout_page(state: &State, id: &str) -> Response {
    let session = state.sessions.iter().find(|session| session.id == id);
    let (status, main) = match session {
        Some(session) => (
            StatusCode::OK,
            format!(
                "<h1>Fake Stripe Checkout</h1>\n<p id=\"product\">{}</p>\n\
                 <p id=\"amount\">{} {}</p>\n<p id=\"status\">{}</p>",
                escape_html(&session.product_name),
                session.amount_total,
                escape_html(&session.currency.to_ascii_uppercase()),
                session.status.as_str(),
            ),
        ),
        None => (
            StatusCode::NOT_FOUND,
            "<h1>Fake Stripe Checkout</h1>\n<p>No such session.</p>".to_owned(),
        ),
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Fake Stripe Checkout</title></head>\n<body>\n{main}\n</body></html>\n"
    );
    let mut response = Response::new(Body::from(page));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
