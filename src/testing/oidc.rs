//! A small OpenID Connect provider on a loopback port, for the sign-in tests: a
//! discovery document, a key set (two RSA test keys; it can rotate), an
//! authorization endpoint that sends the browser back with a code for the
//! configured person, and a token endpoint that checks the client's credentials,
//! the code (once), the redirect URI and the PKCE verifier, and answers an ID token
//! signed with the current test key. Knobs make the next ID token wrong in one
//! way (audience, expiry, signature, issuer, an earlier sign-in's nonce, `alg:
//! none`), or make the provider refuse.
//!
//! The keys (`oidc_test_key_*.pk8.der`, PKCS#8 DER) were made for these tests only
//! with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -outform DER`,
//! then `openssl pkcs8 -topk8 -nocrypt -inform DER -outform DER` (this OpenSSL
//! wrote the first as PKCS#1, which ring's `from_pkcs8` refuses).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};
use sha2::Digest;

use crate::app::{Clock, SystemClock};

const TEST_KEYS: [&[u8]; 2] = [
    include_bytes!("oidc_test_key_1.pk8.der"),
    include_bytes!("oidc_test_key_2.pk8.der"),
];

/// The person the provider signs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestIdentity {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}

impl TestIdentity {
    /// A person with a verified address.
    pub fn verified(subject: &str, email: &str, name: &str) -> TestIdentity {
        TestIdentity {
            subject: subject.to_owned(),
            email: email.to_owned(),
            email_verified: true,
            name: name.to_owned(),
        }
    }
}

/// What is wrong with the next ID token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// `aud` is another client.
    WrongAudience,
    /// `exp` an hour ago.
    Expired,
    /// One byte of the signature flipped.
    BadSignature,
    /// `iss` is another issuer.
    WrongIssuer,
    /// The nonce of the sign-in before this one (a token replayed from it).
    ReplayNonce,
    /// `alg: none` and no signature.
    AlgNone,
}

/// One token request as the provider saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `client_secret_basic` or `client_secret_post`.
    pub client_auth: String,
    pub code_verifier: Option<String>,
    /// What the provider answered.
    pub status: u16,
}

struct Grant {
    redirect_uri: String,
    code_challenge: String,
    nonce: String,
    identity: TestIdentity,
}

struct Provider {
    issuer: String,
    client_id: String,
    client_secret: String,
    keys: Vec<RsaKeyPair>,
    clock: Mutex<Arc<dyn Clock>>,
    state: Mutex<ProviderState>,
}

struct ProviderState {
    identity: TestIdentity,
    refusing: bool,
    tamper: Option<Tamper>,
    /// Index of the key that signs.
    signing: usize,
    /// Indexes of the keys in the key set.
    published: Vec<usize>,
    codes: HashMap<String, Grant>,
    /// Every nonce an authorization carried, in order.
    nonces: Vec<String>,
    token_requests: Vec<TokenRequest>,
    jwks_fetches: usize,
    authorizations: usize,
}

impl Provider {
    fn state(&self) -> MutexGuard<'_, ProviderState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> i64 {
        self.clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .now()
            .as_second()
    }
}

/// The running provider; stops when dropped.
pub struct OidcProvider {
    url: String,
    shared: Arc<Provider>,
    server: tokio::task::JoinHandle<()>,
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn kid(index: usize) -> String {
    format!("test-key-{}", index + 1)
}

impl OidcProvider {
    /// Listens on `127.0.0.1` on a free port, for one client. Needs a Tokio runtime.
    pub async fn start(client_id: &str, client_secret: &str) -> OidcProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let url = format!(
            "http://{}",
            listener.local_addr().expect("the listener has an address")
        );
        let keys = TEST_KEYS
            .iter()
            .map(|der| RsaKeyPair::from_pkcs8(der).expect("the test keys are PKCS#8 RSA keys"))
            .collect();
        let shared = Arc::new(Provider {
            issuer: url.clone(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            keys,
            clock: Mutex::new(Arc::new(SystemClock)),
            state: Mutex::new(ProviderState {
                identity: TestIdentity::verified("subject-1", "person@example.com", "Test Person"),
                refusing: false,
                tamper: None,
                signing: 0,
                published: vec![0],
                codes: HashMap::new(),
                nonces: Vec::new(),
                token_requests: Vec::new(),
                jwks_fetches: 0,
                authorizations: 0,
            }),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        OidcProvider {
            url,
            shared,
            server,
        }
    }

    /// The issuer: `http://127.0.0.1:PORT`.
    pub fn issuer(&self) -> String {
        self.url.clone()
    }

    /// Issues tokens by this clock (the app's manual clock in the API tests).
    pub fn use_clock(&self, clock: Arc<dyn Clock>) {
        *self.shared.clock.lock().unwrap_or_else(|e| e.into_inner()) = clock;
    }

    /// Who signs in from now on.
    pub fn set_identity(&self, identity: TestIdentity) {
        self.shared.state().identity = identity;
    }

    /// Sends the browser back with `error=access_denied` (the person said no).
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.state().refusing = refusing;
    }

    /// Makes the next ID token wrong in this way (once).
    pub fn tamper_next(&self, tamper: Tamper) {
        self.shared.state().tamper = Some(tamper);
    }

    /// Signs with the second key from now on and publishes only it, as a provider
    /// does some time after a rotation.
    pub fn rotate_keys(&self) {
        let mut state = self.shared.state();
        state.signing = 1;
        state.published = vec![1];
    }

    /// How often the key set was read.
    pub fn jwks_fetches(&self) -> usize {
        self.shared.state().jwks_fetches
    }

    /// How many authorizations were granted.
    pub fn authorizations(&self) -> usize {
        self.shared.state().authorizations
    }

    /// Every token request, in order.
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.shared.state().token_requests.clone()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn discovery(State(provider): State<Arc<Provider>>) -> Response {
    let issuer = &provider.issuer;
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

async fn jwks(State(provider): State<Arc<Provider>>) -> Response {
    let published = {
        let mut state = provider.state();
        state.jwks_fetches += 1;
        state.published.clone()
    };
    let keys: Vec<Value> = published
        .into_iter()
        .map(|index| {
            let public = RsaPublicKeyComponents::<Vec<u8>>::from(provider.keys[index].public());
            json!({
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": kid(index),
                "n": b64(&public.n),
                "e": b64(&public.e),
            })
        })
        .collect();
    axum::Json(json!({ "keys": keys })).into_response()
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_owned()).into_response()
}

async fn authorize(
    State(provider): State<Arc<Provider>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    if param("response_type") != "code" {
        return bad_request("response_type must be code");
    }
    if param("client_id") != provider.client_id {
        return bad_request("unknown client");
    }
    if !param("scope").split(' ').any(|s| s == "openid") {
        return bad_request("scope must include openid");
    }
    if param("code_challenge_method") != "S256" || param("code_challenge").len() < 43 {
        return bad_request("PKCE with S256 is required");
    }
    let (redirect_uri, state, nonce) = (param("redirect_uri"), param("state"), param("nonce"));
    if redirect_uri.is_empty() || state.is_empty() || nonce.is_empty() {
        return bad_request("redirect_uri, state and nonce are required");
    }
    let encode = |value: &str| {
        serde_urlencoded::to_string([("", value)])
            .map(|s| s.trim_start_matches('=').to_owned())
            .unwrap_or_default()
    };
    let mut shared = provider.state();
    if shared.refusing {
        return Redirect::to(&format!(
            "{redirect_uri}?error=access_denied&state={}",
            encode(&state)
        ))
        .into_response();
    }
    let code = b64(&crate::app::random_token().into_bytes()[..24]);
    let grant = Grant {
        redirect_uri: redirect_uri.clone(),
        code_challenge: param("code_challenge"),
        nonce: nonce.clone(),
        identity: shared.identity.clone(),
    };
    shared.codes.insert(code.clone(), grant);
    shared.nonces.push(nonce);
    shared.authorizations += 1;
    Redirect::to(&format!(
        "{redirect_uri}?code={}&state={}&scope=openid+email+profile",
        encode(&code),
        encode(&state)
    ))
    .into_response()
}

fn token_error(status: StatusCode, error: &str) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// `client_id:client_secret` from `Authorization: Basic`, each form-decoded.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let decode = |v: &str| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={v}"))
            .ok()
            .and_then(|mut pairs| pairs.pop())
            .map(|(_, v)| v)
    };
    Some((decode(id)?, decode(secret)?))
}

async fn token(
    State(provider): State<Arc<Provider>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (client_auth, credentials) = match basic_credentials(&headers) {
        Some(credentials) => ("client_secret_basic", Some(credentials)),
        None => (
            "client_secret_post",
            form.get("client_id")
                .cloned()
                .zip(form.get("client_secret").cloned()),
        ),
    };
    let code_verifier = form.get("code_verifier").cloned();
    let response = issue(&provider, &form, credentials);
    provider.state().token_requests.push(TokenRequest {
        client_auth: client_auth.to_owned(),
        code_verifier,
        status: response.status().as_u16(),
    });
    response
}

fn issue(
    provider: &Provider,
    form: &HashMap<String, String>,
    credentials: Option<(String, String)>,
) -> Response {
    if credentials != Some((provider.client_id.clone(), provider.client_secret.clone())) {
        return token_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let mut state = provider.state();
    // A code works once.
    let Some(grant) = form.get("code").and_then(|code| state.codes.remove(code)) else {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    if form.get("redirect_uri") != Some(&grant.redirect_uri) {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if b64(&sha2::Sha256::digest(verifier.as_bytes())) != grant.code_challenge {
        return token_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let tamper = state.tamper.take();
    let now = provider.now();
    let nonce = match tamper {
        Some(Tamper::ReplayNonce) => state
            .nonces
            .iter()
            .rev()
            .find(|n| **n != grant.nonce)
            .cloned()
            .unwrap_or_else(|| "a-nonce-never-sent".into()),
        _ => grant.nonce.clone(),
    };
    let mut claims = json!({
        "iss": provider.issuer,
        "sub": grant.identity.subject,
        "aud": provider.client_id,
        "iat": now,
        "exp": now + 3600,
        "nonce": nonce,
        "email": grant.identity.email,
        "email_verified": grant.identity.email_verified,
        "name": grant.identity.name,
    });
    match tamper {
        Some(Tamper::WrongAudience) => claims["aud"] = json!("another-client"),
        Some(Tamper::Expired) => {
            claims["iat"] = json!(now - 7200);
            claims["exp"] = json!(now - 3600);
        }
        Some(Tamper::WrongIssuer) => claims["iss"] = json!("https://issuer.invalid"),
        _ => {}
    }
    let signing = state.signing;
    drop(state);
    let id_token = if tamper == Some(Tamper::AlgNone) {
        let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
        format!("{header}.{}.", b64(claims.to_string().as_bytes()))
    } else {
        let header = json!({ "alg": "RS256", "typ": "JWT", "kid": kid(signing) });
        let message = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let key = &provider.keys[signing];
        let mut signature = vec![0; key.public().modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &SystemRandom::new(),
            message.as_bytes(),
            &mut signature,
        )
        .expect("the test key signs");
        if tamper == Some(Tamper::BadSignature) {
            signature[10] ^= 0x01;
        }
        format!("{message}.{}", b64(&signature))
    };
    axum::Json(json!({
        "access_token": b64(&crate::app::random_token().into_bytes()[..24]),
        "token_type": "Bearer",
        "expires_in": 3600,
        "id_token": id_token,
    }))
    .into_response()
}
