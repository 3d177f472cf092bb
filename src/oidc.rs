//! The OpenID Connect relying party: the provider's discovery document, the
//! authorization request (code flow with PKCE), the code exchange at the token
//! endpoint and the ID token's verification (RS256 against the provider's JWKS).
//!
//! It speaks the protocol and knows nothing of accounts: `app::oidc` decides what a
//! verified identity means for carebook. Nothing here logs a token, a code or a
//! claim's value; errors carry only what went wrong, for the operator's log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use jiff::Timestamp;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde::Deserialize;
use sha2::Digest;

use crate::config::{Secret, Settings};

/// How long a discovery document is trusted before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// Clock skew tolerated between the provider and this server.
pub const LEEWAY_SECONDS: i64 = 60;
/// Larger answers from a provider are refused (a discovery document, a key set and
/// a token answer are a few kilobytes).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// The scopes asked for: the identity, the e-mail address (and whether the
/// provider verified it), the name.
pub const SCOPE: &str = "openid email profile";

/// What went wrong talking to the provider, for the operator's log (never shown).
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider cannot be reached, or its discovery document or key set is
    /// unusable.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// The token endpoint refused the code (used, expired, wrong verifier, ...).
    #[error("the token endpoint refused the code: {0}")]
    Refused(String),
    /// The ID token failed a check; the reason names the check, not the token.
    #[error("the ID token is not valid: {0}")]
    InvalidToken(&'static str),
}

/// The provider's endpoints, from `{issuer}/.well-known/openid-configuration`.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

/// The claims carebook uses from a verified ID token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityClaims {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

/// A claim that is a string or a list of strings (`aud`).
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Some providers send `email_verified` as the string `"true"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

#[derive(Deserialize)]
struct Payload {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<OneOrMany>,
    azp: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    nonce: Option<String>,
    email: Option<String>,
    email_verified: Option<Flag>,
    name: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// An RSA public key: modulus and exponent, big-endian.
#[derive(Clone)]
struct RsaKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct TokenError {
    error: Option<String>,
}

/// One configured provider, with its discovery document and signing keys cached.
pub struct Provider {
    issuer: String,
    client_id: String,
    client_secret: Option<Secret>,
    redirect_uri: String,
    http: reqwest::Client,
    discovery: Mutex<Option<(Discovery, Instant)>>,
    /// Signing keys by `kid` (a key without one is kept under "").
    keys: Mutex<HashMap<String, RsaKey>>,
}

fn b64url_decode(value: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .ok()
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE `code_challenge` of a verifier (S256: base64url of its SHA-256).
pub fn pkce_challenge(verifier: &str) -> String {
    b64url(&sha2::Sha256::digest(verifier.as_bytes()))
}

/// One component of a query string, form-encoded.
fn encode(value: &str) -> String {
    serde_urlencoded::to_string([("", value)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

/// Endpoints the provider names must be as safe as the issuer itself.
fn acceptable_endpoint(url: &str) -> bool {
    crate::config::is_secure_url(url)
}

impl Provider {
    /// The provider of `settings`, when sign-in with OpenID Connect is configured.
    pub fn from_settings(settings: &Settings) -> Option<Provider> {
        let client_id = settings.oidc_client_id.clone()?;
        crate::notify::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(15))
            // A provider that redirects its own endpoints is misconfigured; following
            // could send the code or the secret elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("carebook/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client's settings are valid");
        Some(Provider {
            issuer: settings.oidc_issuer().to_owned(),
            client_id,
            client_secret: settings.oidc_client_secret.clone(),
            redirect_uri: settings.oidc_redirect_uri(),
            http,
            discovery: Mutex::new(None),
            keys: Mutex::new(HashMap::new()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// What the sign-in button calls the provider: "Google", or the issuer's host.
    pub fn display_name(&self) -> String {
        display_name(&self.issuer)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("GET {url}: {}", without_url(&e))))?;
        if !response.status().is_success() {
            return Err(OidcError::Unavailable(format!(
                "GET {url} answered {}",
                response.status()
            )));
        }
        let bytes = read_limited(response).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| OidcError::Unavailable(format!("GET {url}: not the expected JSON: {e}")))
    }

    /// The discovery document, read at most once an hour.
    pub async fn discovery(&self) -> Result<Discovery, OidcError> {
        if let Some((discovery, at)) = &*lock(&self.discovery)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(discovery.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self.get_json(&url).await?;
        // The document must be the issuer's own (OpenID Connect Discovery 1.0, 4.3),
        // and must not send the browser or the code anywhere less safe.
        if discovery.issuer != self.issuer {
            return Err(OidcError::Unavailable(
                "the discovery document names another issuer".into(),
            ));
        }
        for endpoint in [
            &discovery.authorization_endpoint,
            &discovery.token_endpoint,
            &discovery.jwks_uri,
        ] {
            if !acceptable_endpoint(endpoint) {
                return Err(OidcError::Unavailable(
                    "the discovery document names an endpoint that is not https".into(),
                ));
            }
        }
        *lock(&self.discovery) = Some((discovery.clone(), Instant::now()));
        Ok(discovery)
    }

    /// Where to send the browser: the authorization endpoint with the code flow's
    /// parameters, the PKCE challenge (S256), `state` and `nonce`.
    pub async fn authorization_url(
        &self,
        state: &str,
        nonce: &str,
        code_verifier: &str,
    ) -> Result<String, OidcError> {
        let discovery = self.discovery().await?;
        let separator = if discovery.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!(
            "{}{separator}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
            discovery.authorization_endpoint,
            encode(&self.client_id),
            encode(&self.redirect_uri),
            encode(SCOPE),
            encode(state),
            encode(nonce),
            encode(&pkce_challenge(code_verifier)),
        ))
    }

    /// Trades the authorization code for the ID token (the access token is not
    /// kept: carebook calls no API of the provider).
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
    ) -> Result<String, OidcError> {
        let discovery = self.discovery().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", code_verifier),
        ];
        let methods = &discovery.token_endpoint_auth_methods_supported;
        // client_secret_basic is the default when the provider does not say.
        let basic = methods.is_empty() || methods.iter().any(|m| m == "client_secret_basic");
        let mut request = self.http.post(&discovery.token_endpoint);
        match &self.client_secret {
            Some(secret) if basic => {
                // RFC 6749 2.3.1: both are form-encoded before they are joined.
                request =
                    request.basic_auth(encode(&self.client_id), Some(encode(secret.expose())));
            }
            Some(secret) => {
                form.push(("client_id", self.client_id.as_str()));
                form.push(("client_secret", secret.expose()));
            }
            None => form.push(("client_id", self.client_id.as_str())),
        }
        let response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {}", without_url(&e))))?;
        let status = response.status();
        let bytes = read_limited(response).await?;
        if !status.is_success() {
            let error = serde_json::from_slice::<TokenError>(&bytes)
                .ok()
                .and_then(|e| e.error)
                .filter(|e| e.len() <= 64 && e.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or_else(|| "no error code".into());
            return Err(if status.is_server_error() {
                OidcError::Unavailable(format!("token endpoint answered {status}"))
            } else {
                OidcError::Refused(format!("{status}, {error}"))
            });
        }
        let answer: TokenAnswer = serde_json::from_slice(&bytes)
            .map_err(|_| OidcError::Refused("the token answer is not JSON".into()))?;
        answer
            .id_token
            .ok_or_else(|| OidcError::Refused("the token answer has no id_token".into()))
    }

    async fn fetch_keys(&self) -> Result<(), OidcError> {
        let discovery = self.discovery().await?;
        let jwks: Jwks = self.get_json(&discovery.jwks_uri).await?;
        let mut keys = HashMap::new();
        for jwk in jwks.keys {
            let usable = jwk.kty == "RSA"
                && jwk.usage.as_deref().is_none_or(|u| u == "sig")
                && jwk.alg.as_deref().is_none_or(|a| a == "RS256");
            if !usable {
                continue;
            }
            let (Some(n), Some(e)) = (
                jwk.n.as_deref().and_then(b64url_decode),
                jwk.e.as_deref().and_then(b64url_decode),
            ) else {
                continue;
            };
            keys.insert(jwk.kid.unwrap_or_default(), RsaKey { n, e });
        }
        *lock(&self.keys) = keys;
        Ok(())
    }

    fn cached_key(&self, kid: Option<&str>) -> Option<RsaKey> {
        let keys = lock(&self.keys);
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            // Without a `kid` only a provider with a single key is unambiguous.
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    /// The key that signed a token: from the cache, or, for a `kid` not seen
    /// before (the provider rotated its keys), from the key set read once more.
    async fn key_for(&self, kid: Option<&str>) -> Result<RsaKey, OidcError> {
        if let Some(key) = self.cached_key(kid) {
            return Ok(key);
        }
        self.fetch_keys().await?;
        self.cached_key(kid).ok_or(OidcError::InvalidToken(
            "signed with a key the provider does not publish",
        ))
    }

    /// Checks an ID token (OpenID Connect Core 3.1.3.7): RS256 signature by one of
    /// the provider's keys, `iss`, `aud` (and `azp`), `exp` and `iat` against `now`
    /// with [`LEEWAY_SECONDS`], and `nonce`.
    pub async fn verify_id_token(
        &self,
        token: &str,
        expected_nonce: &str,
        now: Timestamp,
    ) -> Result<IdentityClaims, OidcError> {
        let invalid = OidcError::InvalidToken;
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a signed JWT"));
        };
        let header: Header = b64url_decode(header_b64)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(invalid("unreadable header"))?;
        // Only RS256: `none` would need no signature at all, and HS256 would let
        // anyone who knows the client secret sign tokens.
        if header.alg != "RS256" {
            return Err(invalid("algorithm other than RS256"));
        }
        let signature = b64url_decode(signature_b64).ok_or(invalid("unreadable signature"))?;
        let key = self.key_for(header.kid.as_deref()).await?;
        let message = &token[..header_b64.len() + 1 + payload_b64.len()];
        RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message.as_bytes(), &signature)
        .map_err(|_| invalid("bad signature"))?;

        let payload: Payload = b64url_decode(payload_b64)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(invalid("unreadable claims"))?;
        if payload.iss.as_deref() != Some(self.issuer.as_str()) {
            return Err(invalid("issued by another issuer"));
        }
        let audiences = match payload.aud {
            Some(OneOrMany::One(aud)) => vec![aud],
            Some(OneOrMany::Many(list)) => list,
            None => Vec::new(),
        };
        if !audiences.contains(&self.client_id) {
            return Err(invalid("issued for another client"));
        }
        match payload.azp.as_deref() {
            Some(azp) if azp != self.client_id => {
                return Err(invalid("authorized party is another client"));
            }
            None if audiences.len() > 1 => {
                return Err(invalid("several audiences and no authorized party"));
            }
            _ => {}
        }
        let now = now.as_second();
        let exp = payload.exp.ok_or(invalid("no expiry"))?;
        if now > exp.saturating_add(LEEWAY_SECONDS) {
            return Err(invalid("expired"));
        }
        if payload
            .iat
            .is_some_and(|iat| iat > now.saturating_add(LEEWAY_SECONDS))
        {
            return Err(invalid("issued in the future"));
        }
        if payload.nonce.as_deref() != Some(expected_nonce) {
            return Err(invalid("nonce of another sign-in"));
        }
        let subject = payload
            .sub
            .filter(|s| !s.is_empty() && s.len() <= 255 && !s.chars().any(char::is_control))
            .ok_or(invalid("no usable subject"))?;
        let email_verified = match payload.email_verified {
            Some(Flag::Bool(flag)) => flag,
            Some(Flag::Text(text)) => text == "true",
            None => false,
        };
        let name = payload.name.filter(|n| !n.trim().is_empty()).or_else(|| {
            let joined = [payload.given_name, payload.family_name]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            Some(joined).filter(|n| !n.trim().is_empty())
        });
        Ok(IdentityClaims {
            issuer: self.issuer.clone(),
            subject,
            email: payload.email,
            email_verified,
            name,
        })
    }
}

/// "Google" for Google's issuer; otherwise the issuer's host (and port).
pub fn display_name(issuer: &str) -> String {
    if issuer.trim_end_matches('/') == crate::config::GOOGLE_ISSUER {
        return "Google".into();
    }
    issuer
        .split_once("://")
        .map_or(issuer, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or(issuer)
        .to_owned()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// reqwest's errors name the URL, which for the token endpoint is harmless but
/// for consistency is dropped: the caller says which endpoint it was.
fn without_url(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    kind.to_owned()
}

async fn read_limited(mut response: reqwest::Response) -> Result<Vec<u8>, OidcError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| OidcError::Unavailable(without_url(&e)))?
    {
        if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(OidcError::Unavailable(
                "the provider's answer is too large".into(),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_the_rfc_7636_example() {
        // RFC 7636, Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_button_names_google_or_the_issuers_host() {
        assert_eq!(display_name("https://accounts.google.com"), "Google");
        assert_eq!(
            display_name("https://login.clinic.example/realms/x"),
            "login.clinic.example"
        );
        assert_eq!(display_name("http://127.0.0.1:5556"), "127.0.0.1:5556");
    }
}
