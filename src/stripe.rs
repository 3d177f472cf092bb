//! Stripe, for paid appointments: Checkout Sessions to take a payment, refunds to
//! give it back, and the check of the webhooks Stripe sends when a session is paid
//! or expires.
//!
//! Only the few calls carebook makes are here, over plain form-encoded HTTPS, so no
//! SDK (and its second HTTP and TLS stack) is pulled in. Every call carries an
//! idempotency key chosen by the caller: a call that timed out may still have
//! happened at Stripe, and sending it again with the same key answers the first
//! result instead of charging or refunding twice. That is also why this client never
//! retries by itself: [`StripeError::Unavailable`] tells the caller that the same
//! call, with the same key, is worth trying again later.
//!
//! The secret key is a bearer credential for the clinic's money. It leaves this
//! module only in the `Authorization` header (marked sensitive), and messages built
//! here never carry it, a URL or a request body (which holds the patient's
//! appointment): Stripe's own error message is kept, since it says what was wrong,
//! but with the key cut out should Stripe echo it.
//!
//! Webhook bodies are trusted only after [`verify_signature`], over the raw bytes
//! as received, before they are parsed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

/// Stripe's default tolerance for a webhook's timestamp.
pub const SIGNATURE_TOLERANCE: SignedDuration = SignedDuration::from_mins(5);

/// Error answers are read only this far: the code sits at their start, and a
/// misbehaving peer must not make us buffer megabytes.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// A Checkout Session or Refund is a few KiB; more than this is not Stripe.
const ANSWER_BODY_LIMIT: usize = 1024 * 1024;
/// Stripe's documented limit.
const IDEMPOTENCY_KEY_MAX: usize = 255;
/// Stripe's documented limit for a metadata key.
const METADATA_KEY_MAX: usize = 40;
/// Stripe's messages are a sentence or two; a longer one is cut here.
const MESSAGE_MAX_CHARS: usize = 300;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a call to Stripe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// Worth retrying, with the same idempotency key: no answer, a timeout, 408,
    /// 409 (the same key is still being worked on), 429, 5xx. The call may or may
    /// not have happened at Stripe.
    #[error("stripe is unavailable: {0}")]
    Unavailable(String),
    /// Stripe refused the request (a 4xx other than 408, 409 and 429): retrying the
    /// same will not help. `code` is Stripe's `error.code` (e.g. `card_declined`,
    /// `resource_missing`, `checkout_session_not_open`), `message` says which call
    /// and Stripe's `error.message`.
    #[error("stripe refused the request (HTTP {status}{}): {message}", code_part(.code))]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// The answer could not be read as expected, or the configuration or the
    /// request is wrong (a bad URL, an empty key, a bad idempotency key); nothing
    /// was sent in the latter case.
    #[error("stripe: {0}")]
    Invalid(String),
}

fn code_part(code: &Option<String>) -> String {
    code.as_deref()
        .map(|code| format!(", {code}"))
        .unwrap_or_default()
}

impl StripeError {
    /// Stripe's `error.code` of a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            StripeError::Rejected { code, .. } => code.as_deref(),
            _ => None,
        }
    }

    /// `true` when [`StripeClient::expire_checkout_session`] was refused because
    /// the session is no longer open: expired already, or **completed** (paid; its
    /// `checkout.session.completed` webhook brings the payment). Other refusals
    /// (an unknown session, a bad key) are not this.
    pub fn is_checkout_session_not_open(&self) -> bool {
        match self {
            StripeError::Rejected {
                status: 400,
                code,
                message,
            } => {
                code.as_deref() == Some("checkout_session_not_open")
                    // Stripe's wording when it gives no code.
                    || message.contains("Only Checkout Sessions with a status in [\"open\"]")
            }
            _ => false,
        }
    }
}

/// A new Checkout Session: one line item, paid once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    /// Sent as `Idempotency-Key`; at most 255 visible ASCII characters.
    pub idempotency_key: String,
    pub amount_minor: i64,
    /// ISO 4217; sent lowercase.
    pub currency: String,
    /// The line item's name, shown on Stripe's page, e.g.
    /// "Consultation with Dr Ana Li, 3 Dec 2026 09:00".
    pub product_name: String,
    pub success_url: String,
    pub cancel_url: String,
    /// Stripe takes 30 minutes to 24 hours ahead.
    pub expires_at: Timestamp,
    /// The appointment's id.
    pub client_reference_id: String,
    /// Set on the session and on its payment intent. Keys: at most 40 characters,
    /// no `[` or `]`.
    pub metadata: Vec<(String, String)>,
}

/// The created session: where to send the patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

/// A full refund of a payment intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub idempotency_key: String,
    pub payment_intent: String,
    pub metadata: Vec<(String, String)>,
}

/// A created refund; `status` is Stripe's (`succeeded`, `pending`, `requires_action`,
/// `failed`, `canceled`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub status: String,
}

/// Stripe's REST API, at a configurable base (tests point it at
/// [`crate::testing::stripe::FakeStripe`]). Cheap to clone.
#[derive(Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    /// Without a trailing slash; endpoints are appended (`/v1/...`).
    base: String,
    /// `scheme://host[:port]`, for `Debug`.
    origin: String,
    /// `Bearer <key>`, marked sensitive.
    authorization: HeaderValue,
    /// Kept only to cut it out of Stripe's messages.
    secret_key: String,
}

impl std::fmt::Debug for StripeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeClient")
            .field("api_base", &self.origin)
            .finish_non_exhaustive()
    }
}

impl StripeClient {
    /// `api_base` like `https://api.stripe.com` (a trailing slash is fine). Plain
    /// `http` is allowed only to this machine (tests), since the key rides in every
    /// request. Errors on a bad URL or an empty or unusable key.
    pub fn new(api_base: &str, secret_key: &str) -> Result<StripeClient, StripeError> {
        let url = reqwest::Url::parse(api_base.trim())
            .map_err(|_| StripeError::Invalid("the API base is not a valid URL".into()))?;
        if url.host_str().is_none_or(str::is_empty) || url.cannot_be_a_base() {
            return Err(StripeError::Invalid("the API base has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(StripeError::Invalid(
                "the API base must not carry a user or password".into(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(StripeError::Invalid(
                "the API base must not have a query or fragment".into(),
            ));
        }
        let origin = origin(&url);
        if !transport_allowed(&url) {
            return Err(StripeError::Invalid(format!(
                "the API base {origin} is not https (plain http only to this machine)"
            )));
        }
        // Keys are often read from files that end in a newline.
        let secret_key = secret_key.trim();
        if secret_key.is_empty() {
            return Err(StripeError::Invalid("the secret key is empty".into()));
        }
        if secret_key.starts_with("pk_") {
            return Err(StripeError::Invalid(
                "a publishable key (pk_…) was given where the secret key belongs".into(),
            ));
        }
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {secret_key}")).map_err(|_| {
                StripeError::Invalid("the secret key has characters a header cannot carry".into())
            })?;
        authorization.set_sensitive(true);
        crate::notify::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // Stripe does not redirect its API; following one would hand the key on.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("carebook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| StripeError::Invalid("the HTTP client cannot be built".into()))?;
        Ok(StripeClient {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
            origin,
            authorization,
            secret_key: secret_key.to_owned(),
        })
    }

    /// `POST /v1/checkout/sessions`: a payment-mode session for one line item.
    pub async fn create_checkout_session(
        &self,
        request: &CheckoutRequest,
    ) -> Result<CheckoutSession, StripeError> {
        const WHAT: &str = "create checkout session";
        let mut form = vec![
            field("mode", "payment"),
            field("client_reference_id", &request.client_reference_id),
            field("success_url", &request.success_url),
            field("cancel_url", &request.cancel_url),
            field("expires_at", &request.expires_at.as_second().to_string()),
            field("line_items[0][quantity]", "1"),
            field(
                "line_items[0][price_data][currency]",
                &request.currency.to_ascii_lowercase(),
            ),
            field(
                "line_items[0][price_data][unit_amount]",
                &request.amount_minor.to_string(),
            ),
            field(
                "line_items[0][price_data][product_data][name]",
                &request.product_name,
            ),
        ];
        push_metadata(&mut form, "metadata", &request.metadata)?;
        // The payment intent carries them too: refunds and disputes in Stripe's
        // dashboard are seen from the payment, not the session.
        push_metadata(
            &mut form,
            "payment_intent_data[metadata]",
            &request.metadata,
        )?;
        let answer = self
            .post(
                WHAT,
                "/v1/checkout/sessions",
                &request.idempotency_key,
                &form,
            )
            .await?;
        #[derive(Deserialize)]
        struct Answer {
            id: String,
            url: Option<String>,
        }
        let answer: Answer = read_json(WHAT, &answer)?;
        let url = answer.url.filter(|url| !url.is_empty()).ok_or_else(|| {
            StripeError::Invalid(format!(
                "{WHAT}: the session has no url to send the patient to"
            ))
        })?;
        Ok(CheckoutSession { id: answer.id, url })
    }

    /// `POST /v1/refunds`: refunds the whole payment intent.
    pub async fn create_refund(&self, request: &RefundRequest) -> Result<Refund, StripeError> {
        const WHAT: &str = "create refund";
        let mut form = vec![field("payment_intent", &request.payment_intent)];
        push_metadata(&mut form, "metadata", &request.metadata)?;
        let answer = self
            .post(WHAT, "/v1/refunds", &request.idempotency_key, &form)
            .await?;
        #[derive(Deserialize)]
        struct Answer {
            id: String,
            status: String,
        }
        let answer: Answer = read_json(WHAT, &answer)?;
        Ok(Refund {
            id: answer.id,
            status: answer.status,
        })
    }

    /// `POST /v1/checkout/sessions/{id}/expire`, so a session whose hold ended
    /// cannot be paid any more. A session that is no longer open is refused
    /// ([`StripeError::is_checkout_session_not_open`]): it expired already, or it
    /// was paid in the meantime, and then its completed event must still be acted on.
    pub async fn expire_checkout_session(
        &self,
        session_id: &str,
        idempotency_key: &str,
    ) -> Result<(), StripeError> {
        const WHAT: &str = "expire checkout session";
        // The id goes into the path: only Stripe's id alphabet, so no other
        // endpoint can be reached through it.
        if session_id.is_empty()
            || session_id.len() > 255
            || !session_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(StripeError::Invalid(format!(
                "{WHAT}: the session id is not a Stripe id"
            )));
        }
        self.post(
            WHAT,
            &format!("/v1/checkout/sessions/{session_id}/expire"),
            idempotency_key,
            &[],
        )
        .await?;
        Ok(())
    }

    /// POSTs `form` to `path` and returns the body of a 2xx answer.
    async fn post(
        &self,
        what: &'static str,
        path: &str,
        idempotency_key: &str,
        form: &[(String, String)],
    ) -> Result<Vec<u8>, StripeError> {
        let key = idempotency_key_header(what, idempotency_key)?;
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.authorization.clone())
            .header("Idempotency-Key", key)
            // Sets `Content-Type: application/x-www-form-urlencoded`.
            .form(form)
            .send()
            .await
            .map_err(|error| {
                if error.is_builder() {
                    StripeError::Invalid(format!("{what}: the request cannot be built"))
                } else {
                    StripeError::Unavailable(format!("{what}: {}", describe_send_error(&error)))
                }
            })?;
        let status = response.status();
        if status.is_success() {
            let (body, read) = read_body_capped(response, ANSWER_BODY_LIMIT).await;
            return match read {
                Read::Whole => Ok(body),
                // The call happened; the same key fetches its answer again.
                Read::BrokeOff => Err(StripeError::Unavailable(format!(
                    "{what}: the answer broke off"
                ))),
                Read::TooLong => Err(StripeError::Invalid(format!(
                    "{what}: the answer is longer than {ANSWER_BODY_LIMIT} bytes"
                ))),
            };
        }
        let status = status.as_u16();
        let (body, _) = read_body_capped(response, ERROR_BODY_LIMIT).await;
        let (code, message) = error_details(&body);
        let code = code.filter(|code| is_plain_code(code) && !code.contains(&self.secret_key));
        Err(match status {
            // 409: the same idempotency key is still being worked on.
            408 | 409 | 429 | 500..=599 => {
                StripeError::Unavailable(format!("{what}: HTTP {status}{}", code_part(&code)))
            }
            400..=499 => StripeError::Rejected {
                status,
                code,
                message: match message {
                    Some(message) => format!("{what}: {}", self.scrub(&message)),
                    None => format!("{what}: no reason given"),
                },
            },
            // Redirects are not followed: the base URL is wrong.
            _ => StripeError::Invalid(format!("{what}: unexpected HTTP {status}")),
        })
    }

    /// Stripe's `message`, fit for a log: one line, not too long, without the key
    /// (Stripe masks it in "Invalid API Key provided", but that is its choice).
    fn scrub(&self, message: &str) -> String {
        let one_line: String = message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let scrubbed = one_line.replace(&self.secret_key, "[redacted]");
        match scrubbed.char_indices().nth(MESSAGE_MAX_CHARS) {
            Some((cut, _)) => format!("{}…", &scrubbed[..cut]),
            None => scrubbed,
        }
    }
}

fn field(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

/// `prefix[KEY]=VALUE` for each pair. A bracket in a key would reach into other
/// fields of the form, so such keys are refused before anything is sent.
fn push_metadata(
    form: &mut Vec<(String, String)>,
    prefix: &str,
    metadata: &[(String, String)],
) -> Result<(), StripeError> {
    for (key, value) in metadata {
        if key.is_empty()
            || key.chars().count() > METADATA_KEY_MAX
            || key.contains(['[', ']'])
            || key.chars().any(char::is_control)
        {
            return Err(StripeError::Invalid(format!(
                "metadata key {key:?} is not one Stripe takes (1 to {METADATA_KEY_MAX} characters, no brackets)"
            )));
        }
        form.push((format!("{prefix}[{key}]"), value.clone()));
    }
    Ok(())
}

fn idempotency_key_header(what: &str, key: &str) -> Result<HeaderValue, StripeError> {
    // Without a key a retried call could charge twice; with a bad one it would
    // not reach Stripe anyway.
    if key.is_empty()
        || key.len() > IDEMPOTENCY_KEY_MAX
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(StripeError::Invalid(format!(
            "{what}: the idempotency key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"
        )));
    }
    HeaderValue::from_str(key).map_err(|_| {
        StripeError::Invalid(format!("{what}: the idempotency key cannot be a header"))
    })
}

fn read_json<T: serde::de::DeserializeOwned>(what: &str, body: &[u8]) -> Result<T, StripeError> {
    // serde's message may quote the answer, which may quote the request: not shown.
    serde_json::from_slice(body)
        .map_err(|_| StripeError::Invalid(format!("{what}: the answer is not the expected JSON")))
}

/// `error.code` and `error.message` of a Stripe error answer, when it is one.
fn error_details(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let error = value.get("error");
    let text = |name: &str| {
        error
            .and_then(|error| error.get(name))
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    (text("code"), text("message"))
}

/// Stripe's codes are `snake_case`; anything else is not let into a message whole.
fn is_plain_code(code: &str) -> bool {
    code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// HTTPS, or plain HTTP to loopback (the fake in tests): the key rides in every
/// request.
fn transport_allowed(url: &reqwest::Url) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => url.host_str().is_some_and(|host| {
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            host.eq_ignore_ascii_case("localhost")
                || bare
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }),
        _ => false,
    }
}

/// `scheme://host[:port]`, never the path.
fn origin(url: &reqwest::Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        let _ = write!(shown, ":{port}");
    }
    shown
}

/// Why a request got no answer, without the URL reqwest would print.
fn describe_send_error(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else if error.is_body() || error.is_decode() {
        "the answer broke off"
    } else {
        "the request failed"
    }
}

enum Read {
    Whole,
    BrokeOff,
    TooLong,
}

/// The first `limit` bytes of the answer's body and whether that was all of it.
async fn read_body_capped(mut response: reqwest::Response, limit: usize) -> (Vec<u8>, Read) {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return (body, Read::TooLong);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return (body, Read::Whole),
            Err(_) => return (body, Read::BrokeOff),
        }
    }
}

/// Why [`verify_signature`] refused a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`.
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    /// No `v1` is the HMAC of this body with this secret: forged, altered, or
    /// signed with another endpoint's secret.
    #[error("the Stripe-Signature does not match")]
    Mismatch,
    /// Signed by Stripe, but at a time further from `now` than the tolerance: a
    /// replay, or a clock that is off.
    #[error("the Stripe-Signature's timestamp is outside the tolerance")]
    Stale,
}

/// Checks a `Stripe-Signature` header, `t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`,
/// against the raw `body` as received. Valid when any `v1` equals
/// HMAC-SHA256(`secret`, `"{t}.{body}"`) (compared in constant time) and
/// |`now` − `t`| ≤ `tolerance` (Stripe uses [`SIGNATURE_TOLERANCE`]). Several `v1`
/// are there while Stripe rolls the endpoint's secret; `v0` and unknown schemes are
/// ignored.
///
/// Errors come in this order: [`Malformed`](SignatureError::Malformed), then
/// [`Mismatch`](SignatureError::Mismatch), then [`Stale`](SignatureError::Stale),
/// as Stripe's own libraries do: so `Stale` only ever says that a genuine event came
/// at the wrong time (worth a look at the clock), never that a forgery was old.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &str,
    now: Timestamp,
    tolerance: SignedDuration,
) -> Result<(), SignatureError> {
    let mut timestamp: Option<&str> = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match name {
            // Two timestamps: which one was signed is anyone's guess.
            "t" if timestamp.is_some() => return Err(SignatureError::Malformed),
            "t" => timestamp = Some(value),
            "v1" => candidates.push(unhex(value).ok_or(SignatureError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    // Digits only; and the HMAC covers `t` as written, so `05` does not pass for `5`.
    if timestamp.is_empty()
        || timestamp.len() > 18
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::Malformed);
    }
    let seconds: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let expected = signing_mac(secret, timestamp, body);
    if !candidates
        .iter()
        .any(|candidate| expected.clone().verify_slice(candidate).is_ok())
    {
        return Err(SignatureError::Mismatch);
    }
    let distance = now.as_second().saturating_sub(seconds).saturating_abs();
    if distance > tolerance.as_secs().saturating_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// HMAC-SHA256 keyed with `secret` over `"{timestamp}.{body}"`, as Stripe signs.
fn signing_mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `v1` signature of `body` at `timestamp` (unix seconds): lowercase hex.
pub(crate) fn v1_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let bytes = signing_mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// The bytes of lowercase or uppercase hex, `None` when it is not hex.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The parts of a Stripe event carebook acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookEvent {
    /// `evt_...`: the same on every delivery of one event, so repeats are dropped by it.
    pub id: String,
    /// The event's `type`, e.g. `checkout.session.completed`.
    pub kind: String,
    /// `data.object`: the object as it was when the event happened.
    pub object: Value,
}

/// Why [`parse_event`] refused a body. Its message never quotes the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the webhook body is not a Stripe event: {0}")]
pub struct EventError(String);

/// Reads a webhook body (after [`verify_signature`]).
pub fn parse_event(body: &[u8]) -> Result<WebhookEvent, EventError> {
    #[derive(Deserialize)]
    struct Raw {
        id: String,
        #[serde(rename = "type")]
        kind: String,
        data: RawData,
    }
    #[derive(Deserialize)]
    struct RawData {
        object: Value,
    }
    // serde's messages may quote the body (a patient's appointment): only where.
    let raw: Raw = serde_json::from_slice(body).map_err(|error| {
        EventError(if error.is_data() {
            "it lacks id, type or data.object".to_owned()
        } else {
            format!(
                "not JSON (line {}, column {})",
                error.line(),
                error.column()
            )
        })
    })?;
    if raw.id.is_empty() || raw.kind.is_empty() {
        return Err(EventError("its id or type is empty".into()));
    }
    if !raw.data.object.is_object() {
        return Err(EventError("data.object is not an object".into()));
    }
    Ok(WebhookEvent {
        id: raw.id,
        kind: raw.kind,
        object: raw.data.object,
    })
}

/// A Checkout Session as found in `data.object` of `checkout.session.*` events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSessionObject {
    pub id: String,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: Option<String>,
    /// `pi_...`, once there is a payment.
    pub payment_intent: Option<String>,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub amount_total: Option<i64>,
    /// Lowercase, as Stripe writes it.
    pub currency: Option<String>,
}

impl WebhookEvent {
    /// The Checkout Session this event is about; `None` when `data.object` is not
    /// one (`object` is not `checkout.session`, or it has no id).
    pub fn checkout_session(&self) -> Option<CheckoutSessionObject> {
        let object = &self.object;
        if object.get("object").and_then(Value::as_str) != Some("checkout.session") {
            return None;
        }
        let text = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let id = text("id").filter(|id| !id.is_empty())?;
        // An id, or the whole object when the payment intent was expanded.
        let payment_intent = match object.get("payment_intent") {
            Some(Value::String(id)) => Some(id.clone()),
            Some(Value::Object(expanded)) => expanded
                .get("id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        // Stripe's metadata values are strings; anything else is not ours.
        let metadata = object
            .get("metadata")
            .and_then(Value::as_object)
            .map(|pairs| {
                pairs
                    .iter()
                    .filter_map(|(key, value)| Some((key.clone(), value.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Some(CheckoutSessionObject {
            id,
            payment_status: text("payment_status"),
            payment_intent,
            client_reference_id: text("client_reference_id"),
            metadata,
            amount_total: object.get("amount_total").and_then(Value::as_i64),
            currency: text("currency"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::http_peer::HttpPeer;
    use crate::testing::stripe::{FakeStripe, sign};

    const KEY: &str = "sk_test_51SecretKeyThatMustNotLeak";

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn verify(header: &str, body: &[u8], secret: &str, now: i64) -> Result<(), SignatureError> {
        verify_signature(header, body, secret, at(now), SIGNATURE_TOLERANCE)
    }

    const BODY: &[u8] = br#"{"id":"evt_1"}"#;
    // Computed apart:
    // printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_test
    const OPENSSL_V1: &str = "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925";

    #[test]
    fn a_signature_computed_apart_is_valid() {
        assert_eq!(v1_signature("whsec_test", 1_700_000_000, BODY), OPENSSL_V1);
        let header = format!("t=1700000000,v1={OPENSSL_V1}");
        assert_eq!(verify(&header, BODY, "whsec_test", 1_700_000_000), Ok(()));
        // Upper-case hex and a v0 (Stripe's test-mode legacy scheme) are fine.
        let header = format!(
            "t=1700000000,v1={},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
            OPENSSL_V1.to_ascii_uppercase()
        );
        assert_eq!(verify(&header, BODY, "whsec_test", 1_700_000_000), Ok(()));
        assert_eq!(
            sign(r#"{"id":"evt_1"}"#, "whsec_test", at(1_700_000_000)),
            format!("t=1700000000,v1={OPENSSL_V1}")
        );
    }

    #[test]
    fn a_wrong_secret_or_an_altered_body_does_not_match() {
        let header = format!("t=1700000000,v1={OPENSSL_V1}");
        // A signature from another secret, computed apart:
        // printf '1700000000.{"id":"evt_1"}' | openssl dgst -sha256 -hmac whsec_other
        let other =
            "t=1700000000,v1=d8d091c76b586cff4dbd317fc47ebddff4b86de3ce18d3c03753c3c1901d475a";
        assert_eq!(verify(other, BODY, "whsec_other", 1_700_000_000), Ok(()));
        assert_eq!(
            verify(other, BODY, "whsec_test", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, BODY, "whsec_other", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&header, br#"{"id":"evt_2"}"#, "whsec_test", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        // The timestamp is signed too: moved, it no longer matches.
        let moved = format!("t=1700000001,v1={OPENSSL_V1}");
        assert_eq!(
            verify(&moved, BODY, "whsec_test", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        // `t` is signed as written: `01700000000` is not `1700000000`.
        let padded = format!("t=01700000000,v1={OPENSSL_V1}");
        assert_eq!(
            verify(&padded, BODY, "whsec_test", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        let short = "t=1700000000,v1=c89214";
        assert_eq!(
            verify(short, BODY, "whsec_test", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_further_than_the_tolerance_are_stale() {
        let header = format!("t=1700000000,v1={OPENSSL_V1}");
        for now in [1_700_000_000 - 300, 1_700_000_000 + 300] {
            assert_eq!(verify(&header, BODY, "whsec_test", now), Ok(()), "{now}");
        }
        // Too old (a replay), and too far in the future (a clock that is off).
        for now in [1_700_000_301, 1_699_999_699, 1_800_000_000, 0] {
            assert_eq!(
                verify(&header, BODY, "whsec_test", now),
                Err(SignatureError::Stale),
                "{now}"
            );
        }
        let tight = SignedDuration::from_secs(10);
        assert_eq!(
            verify_signature(&header, BODY, "whsec_test", at(1_700_000_011), tight),
            Err(SignatureError::Stale)
        );
        // A forgery is a mismatch however old: Stale means a genuine event.
        let forged = format!("t=1600000000,v1={OPENSSL_V1}");
        assert_eq!(
            verify(&forged, BODY, "whsec_test", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_of_several_v1_may_match() {
        let wrong = "00".repeat(32);
        let header = format!("t=1700000000,v1={wrong},v1={OPENSSL_V1}");
        assert_eq!(verify(&header, BODY, "whsec_test", 1_700_000_000), Ok(()));
        let header = format!("t=1700000000, v1={wrong}, v1={wrong}");
        assert_eq!(
            verify(&header, BODY, "whsec_test", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_malformed() {
        let v1 = OPENSSL_V1;
        for bad in [
            String::new(),
            format!("v1={v1}"),
            "t=1700000000".to_owned(),
            format!("t=1700000000,v0={v1}"),
            format!("t=abc,v1={v1}"),
            format!("t=,v1={v1}"),
            format!("t=+1700000000,v1={v1}"),
            format!("t=-1700000000,v1={v1}"),
            format!("t=99999999999999999999,v1={v1}"),
            "t=1700000000,v1=zz".to_owned(),
            "t=1700000000,v1=abc".to_owned(),
            "t=1700000000,v1=".to_owned(),
            format!("t=1700000000,v1={v1},garbage"),
            format!("t=1700000000,t=1700000000,v1={v1}"),
        ] {
            assert_eq!(
                verify(&bad, BODY, "whsec_test", 1_700_000_000),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }

    fn checkout_request(key: &str) -> CheckoutRequest {
        CheckoutRequest {
            idempotency_key: key.to_owned(),
            amount_minor: 4500,
            currency: "EUR".to_owned(),
            product_name: "Consultation with Dr Ana Li, 3 Dec 2026 09:00 & more".to_owned(),
            success_url: "https://clinic.example/payments/done?session={CHECKOUT_SESSION_ID}"
                .to_owned(),
            cancel_url: "https://clinic.example/appointments/apt_1".to_owned(),
            expires_at: at(1_796_300_000),
            client_reference_id: "apt_1".to_owned(),
            metadata: vec![
                ("payment_id".to_owned(), "pay_1".to_owned()),
                ("appointment_id".to_owned(), "apt_1".to_owned()),
            ],
        }
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[tokio::test]
    async fn a_checkout_session_is_created_with_stripes_fields() {
        let fake = FakeStripe::start().await;
        let client = StripeClient::new(&format!("{}/", fake.url()), KEY).unwrap();
        let session = client
            .create_checkout_session(&checkout_request("checkout-pay_1"))
            .await
            .unwrap();
        assert_eq!(session.id, "cs_test_1");
        assert_eq!(session.url, format!("{}/checkout/cs_test_1", fake.url()));

        let requests = fake.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/v1/checkout/sessions");
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(request.header("idempotency-key"), Some("checkout-pay_1"));
        assert_eq!(
            request.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(request.header("stripe-version"), None);
        assert_eq!(
            request.form(),
            pairs(&[
                ("mode", "payment"),
                ("client_reference_id", "apt_1"),
                (
                    "success_url",
                    "https://clinic.example/payments/done?session={CHECKOUT_SESSION_ID}"
                ),
                ("cancel_url", "https://clinic.example/appointments/apt_1"),
                ("expires_at", "1796300000"),
                ("line_items[0][quantity]", "1"),
                ("line_items[0][price_data][currency]", "eur"),
                ("line_items[0][price_data][unit_amount]", "4500"),
                (
                    "line_items[0][price_data][product_data][name]",
                    "Consultation with Dr Ana Li, 3 Dec 2026 09:00 & more"
                ),
                ("metadata[payment_id]", "pay_1"),
                ("metadata[appointment_id]", "apt_1"),
                ("payment_intent_data[metadata][payment_id]", "pay_1"),
                ("payment_intent_data[metadata][appointment_id]", "apt_1"),
            ])
        );

        // The same key again: the same session, none created.
        let again = client
            .create_checkout_session(&checkout_request("checkout-pay_1"))
            .await
            .unwrap();
        assert_eq!(again, session);
        let other = client
            .create_checkout_session(&checkout_request("checkout-pay_2"))
            .await
            .unwrap();
        assert_eq!(other.id, "cs_test_2");

        // The page a browser lands on.
        let page = crate::testing::http_client()
            .get(&session.url)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let page = page.text().await.unwrap();
        assert!(page.contains("Fake Stripe Checkout"), "{page}");
        assert!(page.contains("09:00 &amp; more"), "{page}");
    }

    #[tokio::test]
    async fn a_refund_is_created_for_a_paid_session() {
        let fake = FakeStripe::start().await;
        let client = StripeClient::new(&fake.url(), KEY).unwrap();
        let session = client
            .create_checkout_session(&checkout_request("checkout-pay_1"))
            .await
            .unwrap();
        let paid = parse_event(fake.completed_event(&session.id).as_bytes()).unwrap();
        let payment_intent = paid.checkout_session().unwrap().payment_intent.unwrap();
        let request = RefundRequest {
            idempotency_key: "refund-pay_1".to_owned(),
            payment_intent: payment_intent.clone(),
            metadata: vec![("payment_id".to_owned(), "pay_1".to_owned())],
        };
        let refund = client.create_refund(&request).await.unwrap();
        assert_eq!(
            refund,
            Refund {
                id: "re_test_1".to_owned(),
                status: "succeeded".to_owned()
            }
        );
        let sent = fake.requests().pop().unwrap();
        assert_eq!(sent.method, "POST");
        assert_eq!(sent.path, "/v1/refunds");
        assert_eq!(
            sent.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert_eq!(sent.header("idempotency-key"), Some("refund-pay_1"));
        assert_eq!(
            sent.form(),
            pairs(&[
                ("payment_intent", payment_intent.as_str()),
                ("metadata[payment_id]", "pay_1"),
            ])
        );
        // A retry with the same key is the same refund; a new key is refused.
        assert_eq!(client.create_refund(&request).await.unwrap(), refund);
        let twice = RefundRequest {
            idempotency_key: "refund-pay_1-again".to_owned(),
            ..request.clone()
        };
        let error = client.create_refund(&twice).await.unwrap_err();
        assert_eq!(error.code(), Some("charge_already_refunded"), "{error}");
        // The key reused for another request is Stripe's idempotency_error.
        let reused = RefundRequest {
            payment_intent: "pi_other".to_owned(),
            ..request
        };
        let error = client.create_refund(&reused).await.unwrap_err();
        assert!(
            matches!(error, StripeError::Rejected { status: 400, .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn sessions_expire_once_and_paid_ones_not_at_all() {
        let fake = FakeStripe::start().await;
        let client = StripeClient::new(&fake.url(), KEY).unwrap();
        let first = client
            .create_checkout_session(&checkout_request("checkout-1"))
            .await
            .unwrap();
        client
            .expire_checkout_session(&first.id, "expire-1")
            .await
            .unwrap();
        let sent = fake.requests().pop().unwrap();
        assert_eq!(
            sent.path,
            format!("/v1/checkout/sessions/{}/expire", first.id)
        );
        assert_eq!(sent.header("idempotency-key"), Some("expire-1"));
        assert!(sent.body.is_empty());
        assert_eq!(fake.session_status(&first.id).as_deref(), Some("expired"));
        // The same key: the same answer.
        client
            .expire_checkout_session(&first.id, "expire-1")
            .await
            .unwrap();
        // Another key: not open any more.
        let error = client
            .expire_checkout_session(&first.id, "expire-1b")
            .await
            .unwrap_err();
        assert!(error.is_checkout_session_not_open(), "{error:?}");

        let second = client
            .create_checkout_session(&checkout_request("checkout-2"))
            .await
            .unwrap();
        fake.completed_event(&second.id);
        let error = client
            .expire_checkout_session(&second.id, "expire-2")
            .await
            .unwrap_err();
        assert!(error.is_checkout_session_not_open(), "{error:?}");
        assert!(error.to_string().contains("complete"), "{error}");

        let error = client
            .expire_checkout_session("cs_test_404", "expire-3")
            .await
            .unwrap_err();
        assert!(!error.is_checkout_session_not_open(), "{error:?}");
        assert_eq!(error.code(), Some("resource_missing"));

        // An id that would reach another endpoint is not sent.
        let before = fake.requests().len();
        for bad in ["", "../../refunds", "cs_1/expire?x=1", "cs 1"] {
            let error = client
                .expire_checkout_session(bad, "expire-4")
                .await
                .unwrap_err();
            assert!(matches!(error, StripeError::Invalid(_)), "{bad}: {error:?}");
        }
        assert_eq!(fake.requests().len(), before);
    }

    #[tokio::test]
    async fn failures_map_to_unavailable_or_rejected() {
        let fake = FakeStripe::start().await;
        let client = StripeClient::new(&fake.url(), KEY).unwrap();
        let request = checkout_request("checkout-1");
        for status in [500, 503, 429, 409, 408] {
            fake.fail_next(1, status);
            let error = client.create_checkout_session(&request).await.unwrap_err();
            assert!(
                matches!(error, StripeError::Unavailable(_)),
                "{status}: {error:?}"
            );
            assert!(error.to_string().contains(&status.to_string()), "{error}");
        }
        fake.fail_next(1, 402);
        let error = client.create_checkout_session(&request).await.unwrap_err();
        assert_eq!(
            error,
            StripeError::Rejected {
                status: 402,
                code: Some("card_declined".to_owned()),
                message: "create checkout session: a failure the test asked for (fail_next)"
                    .to_owned(),
            }
        );
        fake.fail_next(2, 400);
        for _ in 0..2 {
            let error = client.create_checkout_session(&request).await.unwrap_err();
            assert!(
                matches!(&error, StripeError::Rejected { status: 400, code: Some(code), .. } if code == "parameter_invalid"),
                "{error:?}"
            );
        }
        // The failures are used up; the same key is then carried out.
        let session = client.create_checkout_session(&request).await.unwrap();
        assert_eq!(session.id, "cs_test_1");

        // Nobody listening (a port just freed): worth retrying.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let none = StripeClient::new(&format!("http://127.0.0.1:{port}"), KEY).unwrap();
        let error = none.create_checkout_session(&request).await.unwrap_err();
        assert!(matches!(error, StripeError::Unavailable(_)), "{error:?}");
        assert!(!error.to_string().contains(&port.to_string()), "{error}");
    }

    #[tokio::test]
    async fn the_secret_key_stays_out_of_errors_and_debug() {
        let peer = HttpPeer::start().await;
        let base = format!("{}/", peer.url());
        let client = StripeClient::new(&base, KEY).unwrap();
        let debug = format!("{client:?}");
        assert!(!debug.contains(KEY), "{debug}");
        assert!(debug.contains("127.0.0.1"), "{debug}");

        // Stripe masks a bad key in its message; a peer that does not is cut.
        peer.queue_responses(vec![
            (
                401,
                format!(
                    r#"{{"error":{{"type":"invalid_request_error","message":"Invalid API Key provided: {KEY}\nagain {KEY}"}}}}"#
                ),
            ),
            (503, format!(r#"{{"error":{{"code":"{KEY}","message":"{KEY}"}}}}"#)),
            (400, format!("not json {KEY}")),
            (302, String::new()),
            (200, format!("{{\"id\": \"{KEY}\"")),
        ]);
        let request = checkout_request("checkout-1");
        let mut errors = Vec::new();
        for _ in 0..5 {
            errors.push(client.create_checkout_session(&request).await.unwrap_err());
        }
        assert_eq!(
            errors[0],
            StripeError::Rejected {
                status: 401,
                code: None,
                message:
                    "create checkout session: Invalid API Key provided: [redacted] again [redacted]"
                        .to_owned(),
            }
        );
        assert_eq!(
            errors[1],
            StripeError::Unavailable("create checkout session: HTTP 503".to_owned())
        );
        assert_eq!(
            errors[2],
            StripeError::Rejected {
                status: 400,
                code: None,
                message: "create checkout session: no reason given".to_owned(),
            }
        );
        assert!(
            matches!(errors[3], StripeError::Invalid(_)),
            "{:?}",
            errors[3]
        );
        assert!(
            matches!(errors[4], StripeError::Invalid(_)),
            "{:?}",
            errors[4]
        );
        for error in &errors {
            for shown in [error.to_string(), format!("{error:?}")] {
                assert!(!shown.contains(KEY), "{shown}");
                assert!(!shown.contains("sk_test"), "{shown}");
                assert!(!shown.contains("clinic.example"), "{shown}");
                assert!(!shown.contains(&peer.url()), "{shown}");
            }
        }
        // The header was sent, and only there.
        for sent in peer.requests() {
            assert_eq!(
                sent.header("authorization"),
                Some(format!("Bearer {KEY}").as_str())
            );
            assert!(!sent.body_text().contains(KEY));
        }
    }

    #[tokio::test]
    async fn requests_without_a_key_are_refused_by_the_fake() {
        let fake = FakeStripe::start().await;
        let answer = crate::testing::http_client()
            .post(format!("{}/v1/refunds", fake.url()))
            .form(&[("payment_intent", "pi_1")])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }

    #[tokio::test]
    async fn the_fake_checks_fields_and_replays_keys_as_stripe_does() {
        let fake = FakeStripe::start().await;
        let http = crate::testing::http_client();
        let post = |form: Vec<(&'static str, &'static str)>, key: &'static str| {
            http.post(format!("{}/v1/checkout/sessions", fake.url()))
                .bearer_auth("sk_test_x")
                .header("Idempotency-Key", key)
                .form(&form)
                .send()
        };
        let answer = post(vec![("mode", "payment")], "k1").await.unwrap();
        assert_eq!(answer.status(), 400);
        let body: Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "parameter_missing");
        let full = vec![
            ("mode", "payment"),
            ("success_url", "https://clinic.example/ok"),
            ("line_items[0][quantity]", "1"),
            ("line_items[0][price_data][currency]", "eur"),
            ("line_items[0][price_data][unit_amount]", "100"),
            ("line_items[0][price_data][product_data][name]", "Visit"),
        ];
        // The refusal was not remembered: the key goes on to work.
        let first = post(full.clone(), "k1").await.unwrap();
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers().get("idempotent-replayed"), None);
        let first = first.text().await.unwrap();
        let replay = post(full, "k1").await.unwrap();
        assert_eq!(
            replay
                .headers()
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        assert_eq!(replay.text().await.unwrap(), first);
        assert_eq!(fake.session_status("cs_test_1").as_deref(), Some("open"));
        assert_eq!(fake.session_status("cs_test_2"), None);

        // fail_next is for the API only: the checkout page still shows.
        fake.fail_next(5, 503);
        let page = http
            .get(format!("{}/checkout/cs_test_1", fake.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let missing = http
            .get(format!("{}/checkout/cs_test_9", fake.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    }

    #[test]
    fn bad_configuration_is_refused() {
        for base in [
            "",
            "api.stripe.com",
            "ftp://api.stripe.com",
            "http://api.stripe.com",
            "https://user:pw@api.stripe.com",
            "https://api.stripe.com/?x=1",
            "mailto:a@example.com",
        ] {
            let error = StripeClient::new(base, KEY).unwrap_err();
            assert!(
                matches!(error, StripeError::Invalid(_)),
                "{base}: {error:?}"
            );
        }
        for key in ["", "  \n", "pk_test_123", "sk_test_\u{7f}x"] {
            let error = StripeClient::new("https://api.stripe.com", key).unwrap_err();
            assert!(
                matches!(error, StripeError::Invalid(_)),
                "{key:?}: {error:?}"
            );
        }
        let client = StripeClient::new("https://api.stripe.com/", "sk_live_x\n").unwrap();
        assert_eq!(client.base, "https://api.stripe.com");
        assert_eq!(client.authorization.to_str().unwrap(), "Bearer sk_live_x");
        assert!(client.authorization.is_sensitive());
        let client = StripeClient::new("http://localhost:12111", KEY).unwrap();
        assert_eq!(client.base, "http://localhost:12111");
        let client = StripeClient::new("https://proxy.example/stripe/", KEY).unwrap();
        assert_eq!(client.base, "https://proxy.example/stripe");
    }

    #[tokio::test]
    async fn bad_keys_and_metadata_are_not_sent() {
        let fake = FakeStripe::start().await;
        let client = StripeClient::new(&fake.url(), KEY).unwrap();
        let long = "k".repeat(256);
        for key in ["", "two words", "é", long.as_str()] {
            let error = client
                .create_checkout_session(&checkout_request(key))
                .await
                .unwrap_err();
            assert!(matches!(error, StripeError::Invalid(_)), "{key}: {error:?}");
        }
        for metadata_key in ["", "a]b", "x][y", &"m".repeat(41)] {
            let mut request = checkout_request("checkout-1");
            request
                .metadata
                .push((metadata_key.to_owned(), "v".to_owned()));
            let error = client.create_checkout_session(&request).await.unwrap_err();
            assert!(
                matches!(error, StripeError::Invalid(_)),
                "{metadata_key}: {error:?}"
            );
        }
        assert!(fake.requests().is_empty());
    }

    #[tokio::test]
    async fn the_fakes_events_parse_into_sessions() {
        let fake = FakeStripe::start().await;
        let client = StripeClient::new(&fake.url(), KEY).unwrap();
        let created = client
            .create_checkout_session(&checkout_request("checkout-1"))
            .await
            .unwrap();
        let body = fake.completed_event(&created.id);
        // Signed as Stripe would, and checked as the route will.
        let now = Timestamp::now();
        let header = sign(&body, "whsec_test", now);
        assert_eq!(
            verify_signature(
                &header,
                body.as_bytes(),
                "whsec_test",
                now,
                SIGNATURE_TOLERANCE
            ),
            Ok(())
        );
        let event = parse_event(body.as_bytes()).unwrap();
        assert!(event.id.starts_with("evt_"), "{}", event.id);
        assert_eq!(event.kind, "checkout.session.completed");
        let session = event.checkout_session().unwrap();
        let payment_intent = session.payment_intent.clone().unwrap();
        assert!(payment_intent.starts_with("pi_"), "{payment_intent}");
        assert_eq!(
            session,
            CheckoutSessionObject {
                id: created.id.clone(),
                payment_status: Some("paid".to_owned()),
                payment_intent: Some(payment_intent.clone()),
                client_reference_id: Some("apt_1".to_owned()),
                metadata: BTreeMap::from([
                    ("appointment_id".to_owned(), "apt_1".to_owned()),
                    ("payment_id".to_owned(), "pay_1".to_owned()),
                ]),
                amount_total: Some(4500),
                currency: Some("eur".to_owned()),
            }
        );
        // Delivered again later: a fresh event id, the same payment.
        let again = parse_event(fake.completed_event(&created.id).as_bytes()).unwrap();
        assert_ne!(again.id, event.id);
        assert_eq!(
            again.checkout_session().unwrap().payment_intent,
            Some(payment_intent)
        );

        let other = client
            .create_checkout_session(&checkout_request("checkout-2"))
            .await
            .unwrap();
        let expired = parse_event(fake.expired_event(&other.id).as_bytes()).unwrap();
        assert_eq!(expired.kind, "checkout.session.expired");
        let session = expired.checkout_session().unwrap();
        assert_eq!(session.id, other.id);
        assert_eq!(session.payment_status.as_deref(), Some("unpaid"));
        assert_eq!(session.payment_intent, None);
        assert_eq!(fake.session_status(&other.id).as_deref(), Some("expired"));
    }

    #[test]
    fn events_are_read_leniently_but_not_blindly() {
        let event = parse_event(
            br#"{"id":"evt_9","type":"charge.refunded","data":{"object":{"object":"charge","id":"ch_1"}}}"#,
        )
        .unwrap();
        assert_eq!(event.kind, "charge.refunded");
        assert_eq!(event.checkout_session(), None);

        let expanded = parse_event(
            br#"{"id":"evt_8","type":"checkout.session.completed","data":{"object":{
                "object":"checkout.session","id":"cs_1","payment_intent":{"id":"pi_9"},
                "metadata":{"a":"1","n":2},"amount_total":null}}}"#,
        )
        .unwrap()
        .checkout_session()
        .unwrap();
        assert_eq!(expanded.payment_intent.as_deref(), Some("pi_9"));
        assert_eq!(
            expanded.metadata,
            BTreeMap::from([("a".to_owned(), "1".to_owned())])
        );
        assert_eq!(expanded.amount_total, None);
        assert_eq!(expanded.client_reference_id, None);

        for bad in [
            &b"not json, patient Jane Doe"[..],
            br#"{"id":"evt_1","type":"x"}"#,
            br#"{"id":"evt_1","type":"x","data":{"object":"Jane Doe"}}"#,
            br#"{"id":"","type":"x","data":{"object":{}}}"#,
            br#"{"id":7,"type":"x","data":{"object":{}}}"#,
        ] {
            let error = parse_event(bad).unwrap_err();
            assert!(!error.to_string().contains("Jane"), "{error}");
        }
    }
}
