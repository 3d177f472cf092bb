//! What the HTTP channels share: how a failed call is described, and how much of
//! an answer is read.
//!
//! Messages built here end up in `DeliveryError::message`, stored and shown to
//! admins, so they never carry a URL's path or query (tokens ride there), a
//! credential or a request body.

use std::fmt::Write as _;

/// Error answers are read only this far: the codes sit at their start, and a
/// misbehaving peer must not make the worker buffer megabytes.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Why a request got no answer, without the URL reqwest would print.
pub(crate) fn describe_send_error(error: &reqwest::Error) -> &'static str {
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

/// The first `limit` bytes of the answer's body; a body that breaks off counts as
/// what arrived so far, since only an error code is looked for in it.
pub(crate) async fn read_body_capped(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// `scheme://host[:port]` of `url`: enough to tell endpoints apart, without the
/// path or query that may carry a token (or the user info that may carry a
/// password).
pub(crate) fn origin(url: &reqwest::Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        let _ = write!(shown, ":{port}");
    }
    shown
}

/// Lowercase hex, as signatures are written.
pub(crate) use crate::app::hex;

/// The bytes of lowercase or uppercase hex, `None` when it is not hex.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_drop_path_query_and_user_info() {
        let url = reqwest::Url::parse("https://user:pw@hooks.example.org/in?token=s3cret").unwrap();
        assert_eq!(origin(&url), "https://hooks.example.org");
        let url = reqwest::Url::parse("http://127.0.0.1:8080/x").unwrap();
        assert_eq!(origin(&url), "http://127.0.0.1:8080");
        let url = reqwest::Url::parse("https://example.org:443/x").unwrap();
        assert_eq!(origin(&url), "https://example.org");
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(unhex("00abFF"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
    }
}
