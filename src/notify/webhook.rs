//! Webhooks: each event POSTed as JSON to the clinic's endpoints, signed with
//! HMAC-SHA256 over the timestamp and the body.
//!
//! # What a receiver gets
//!
//! ```text
//! POST <endpoint>
//! Content-Type: application/json
//! Carebook-Event-Id: <event id>
//! Carebook-Signature: t=<unix seconds>,v1=<hex>
//!
//! <the event as JSON>
//! ```
//!
//! `v1` is the lowercase hex HMAC-SHA256, keyed with the shared secret, of the
//! timestamp, a `.`, and the body exactly as received (bytes, before any JSON
//! parsing): `HMAC-SHA256(secret, "<t>.<body>")`. A receiver recomputes it, compares
//! in constant time, and rejects timestamps far from its own clock so a captured
//! request cannot be replayed later; [`verify`] does all three. The event id is
//! the same on every retry of one event, so receivers drop repeats by it.
//!
//! Without a configured secret the calls carry no `Carebook-Signature`.

use hmac::{Hmac, KeyInit, Mac};
use jiff::{SignedDuration, Timestamp};
use sha2::Sha256;

use super::DeliveryError;
use super::http_call::{
    ERROR_BODY_LIMIT, describe_send_error, hex, origin, read_body_capped, unhex,
};
use crate::config::WebhookSettings;

/// The header with the event's id.
pub const EVENT_ID_HEADER: &str = "Carebook-Event-Id";
/// The header with `t=<unix seconds>,v1=<hex signature>`.
pub const SIGNATURE_HEADER: &str = "Carebook-Signature";

pub struct WebhookSender {
    client: reqwest::Client,
    secret: Option<String>,
}

impl WebhookSender {
    /// `None` when no endpoint is configured.
    pub fn from_settings(
        settings: &WebhookSettings,
        client: reqwest::Client,
    ) -> Option<WebhookSender> {
        if settings.urls.is_empty() {
            return None;
        }
        Some(WebhookSender {
            client,
            secret: settings.secret.clone(),
        })
    }

    /// POSTs `body` (the event as JSON) to `url`, signed with the timestamp `now`.
    pub async fn send(
        &self,
        url: &str,
        event_id: &str,
        body: &[u8],
        now: Timestamp,
    ) -> Result<(), DeliveryError> {
        let url = reqwest::Url::parse(url)
            .map_err(|_| DeliveryError::permanent("a webhook URL is not a valid URL"))?;
        let shown = origin(&url);
        if !transport_allowed(&url) {
            return Err(DeliveryError::permanent(format!(
                "webhook {shown}: only https, or http to this machine, is allowed"
            )));
        }
        let mut request = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, event_id)
            .body(body.to_vec());
        if let Some(secret) = &self.secret {
            request = request.header(SIGNATURE_HEADER, signature_header(secret, now, body));
        }
        let response = request.send().await.map_err(|error| {
            DeliveryError::retryable(format!("webhook {shown}: {}", describe_send_error(&error)))
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        // Drain a little of the answer so the connection may be reused; its
        // content is the receiver's business and never shown.
        let _ = read_body_capped(response, ERROR_BODY_LIMIT).await;
        let message = format!("webhook {shown} answered {}", status.as_u16());
        let retryable = status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        Err(if retryable {
            DeliveryError::retryable(message)
        } else {
            // 410 Gone and the other 4xx: the endpoint will not take it however
            // often it is sent; a 3xx is a misconfigured URL (redirects are not
            // followed, so the signature is not handed on).
            DeliveryError::permanent(message)
        })
    }
}

/// HTTPS, or plain HTTP to loopback (development): the body tells who sees which
/// doctor when, so it does not cross a network in the clear.
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

/// The full `Carebook-Signature` value for `body` sent at `now`.
pub fn signature_header(secret: &str, now: Timestamp, body: &[u8]) -> String {
    let timestamp = now.as_second();
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

/// The `v1` part of the signature: lowercase hex HMAC-SHA256 keyed with `secret`
/// over `"<timestamp>.<body>"`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex(&signed_mac(secret, timestamp, body).finalize().into_bytes())
}

fn signed_mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why [`verify`] rejected a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance")]
    Expired,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks a received webhook call, for receivers: `header_value` is the
/// `Carebook-Signature` header, `body` the raw bytes received, `now` the
/// receiver's clock. Rejects a timestamp more than `tolerance` away from `now`
/// (either way: clocks drift), then compares the HMAC in constant time. Several
/// `v1=` entries are accepted (any may match), so a secret can be rotated.
///
/// ```
/// use carebook::notify::webhook::{signature_header, verify};
/// use jiff::{SignedDuration, Timestamp};
///
/// let now = Timestamp::from_second(1_700_000_000).unwrap();
/// let header = signature_header("s3cret", now, b"{\"id\":1}");
/// assert!(verify("s3cret", &header, b"{\"id\":1}", now, SignedDuration::from_mins(5)).is_ok());
/// assert!(verify("s3cret", &header, b"{\"id\":2}", now, SignedDuration::from_mins(5)).is_err());
/// ```
pub fn verify(
    secret: &str,
    header_value: &str,
    body: &[u8],
    now: Timestamp,
    tolerance: SignedDuration,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header_value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => {
                timestamp = Some(value.parse::<i64>().map_err(|_| VerifyError::Malformed)?);
            }
            Some(("v1", value)) => candidates.push(unhex(value).ok_or(VerifyError::Malformed)?),
            // Other schemes a later version may add are not ours to judge.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if candidates.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let age = now.as_second().saturating_sub(timestamp).saturating_abs();
    if age > tolerance.as_secs().saturating_abs() {
        return Err(VerifyError::Expired);
    }
    let expected = signed_mac(secret, timestamp, body);
    if candidates
        .iter()
        .any(|candidate| expected.clone().verify_slice(candidate).is_ok())
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // Computed apart: `printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec`
        assert_eq!(
            signature("whsec", 1_700_000_000, b"{}"),
            "7d44587dddbaf4c7f70fef20f48cd594834ffea1641e3ac227b84408298738af"
        );
        assert_eq!(signature("whsec", 1, b"x").len(), 64);
        assert_ne!(signature("whsec", 1, b"x"), signature("whsec", 2, b"x"));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let allowed = |url: &str| transport_allowed(&reqwest::Url::parse(url).unwrap());
        assert!(allowed("https://hooks.example.org/in"));
        assert!(allowed("http://127.0.0.1:8080/in"));
        assert!(allowed("http://[::1]/in"));
        assert!(allowed("http://localhost/in"));
        assert!(!allowed("http://hooks.example.org/in"));
        assert!(!allowed("http://10.0.0.1/in"));
        assert!(!allowed("ftp://hooks.example.org/in"));
    }

    #[test]
    fn verify_accepts_its_own_and_rejects_the_rest() {
        let tolerance = SignedDuration::from_mins(5);
        let header = signature_header("k", at(1000), b"body");
        assert_eq!(verify("k", &header, b"body", at(1000), tolerance), Ok(()));
        assert_eq!(verify("k", &header, b"body", at(1299), tolerance), Ok(()));
        assert_eq!(
            verify("k", &header, b"body", at(1301), tolerance),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            verify("k", &header, b"body", at(600), tolerance),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            verify("k", &header, b"bodY", at(1000), tolerance),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("other", &header, b"body", at(1000), tolerance),
            Err(VerifyError::Mismatch)
        );
        let rotated = format!("{header},v1={}", "00".repeat(32));
        assert_eq!(verify("k", &rotated, b"body", at(1000), tolerance), Ok(()));
        for bad in ["", "t=1000", "v1=00", "t=x,v1=00", "t=1000,v1=zz"] {
            assert_eq!(
                verify("k", bad, b"body", at(1000), tolerance),
                Err(VerifyError::Malformed),
                "{bad}"
            );
        }
    }
}
