//! A small HTTP server on a loopback port for the Twilio, webhook and SNS tests:
//! it records each request exactly and answers with scripted statuses.
//!
//! ```no_run
//! # async fn example() {
//! use carebook::testing::http_peer::HttpPeer;
//! let peer = HttpPeer::start().await;
//! peer.queue_responses(vec![(503, String::new()), (503, String::new())]);
//! peer.respond_with(201, "{}");
//! // … point a sender at peer.url() …
//! let requests = peer.wait_for(1, std::time::Duration::from_secs(5)).await;
//! assert_eq!(requests[0].method, "POST");
//! # }
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::Response;

/// One request as the peer received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// The path with the query, e.g. `/2010-04-01/Accounts/AC1/Messages.json`.
    pub path: String,
    /// In arrival order, names lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// Reads `request` whole (its body up to `limit` bytes) as it arrived.
    pub(crate) async fn read(request: Request<Body>, limit: usize) -> RecordedRequest {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, limit)
            .await
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default();
        RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
        }
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as `application/x-www-form-urlencoded` fields, decoded, in order.
    pub fn form(&self) -> Vec<(String, String)> {
        decode_form(&self.body)
    }

    /// The first form field called `name`.
    pub fn form_field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Default)]
struct State {
    requests: Vec<RecordedRequest>,
    queued: VecDeque<(u16, String)>,
    default: Option<(u16, String)>,
}

struct Shared {
    state: Mutex<State>,
    arrived: tokio::sync::Notify,
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

/// A loopback HTTP server that records requests and answers as scripted
/// (`200` with an empty body until told otherwise). Stops when dropped.
pub struct HttpPeer {
    url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl HttpPeer {
    /// Listens on `127.0.0.1` on a free port; any method and path is answered.
    /// Needs a Tokio runtime.
    pub async fn start() -> HttpPeer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let address = listener.local_addr().expect("the listener has an address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            arrived: tokio::sync::Notify::new(),
        });
        let handler_shared = shared.clone();
        let app = axum::Router::new().fallback(move |request: Request<Body>| {
            let shared = handler_shared.clone();
            async move { answer(&shared, request).await }
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        HttpPeer {
            url: format!("http://{address}"),
            shared,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Everything received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.state().requests.clone()
    }

    /// The answer once the queue is used up.
    pub fn respond_with(&self, status: u16, body: impl Into<String>) {
        self.shared.state().default = Some((status, body.into()));
    }

    /// Answers given in order, one per request, before the default.
    pub fn queue_responses(&self, responses: Vec<(u16, String)>) {
        self.shared.state().queued.extend(responses);
    }

    /// Waits until at least `count` requests arrived and returns them all; panics
    /// after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            {
                let state = self.shared.state();
                if state.requests.len() >= count {
                    return state.requests.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let got = self.shared.state().requests.len();
                panic!("the HTTP peer got {got} request(s), not {count}, within {timeout:?}");
            }
        }
    }
}

impl Drop for HttpPeer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(shared: &Shared, request: Request<Body>) -> Response {
    let recorded = RecordedRequest::read(request, usize::MAX).await;
    let (status, body) = {
        let mut state = shared.state();
        state.requests.push(recorded);
        state
            .queued
            .pop_front()
            .or_else(|| state.default.clone())
            .unwrap_or((200, String::new()))
    };
    shared.arrived.notify_waiters();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).expect("a valid status code");
    response
}

/// `application/x-www-form-urlencoded`: `+` is a space, `%XX` a byte.
fn decode_form(body: &[u8]) -> Vec<(String, String)> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut halves = pair.splitn(2, |&b| b == b'=');
            let key = decode_component(halves.next().unwrap_or_default());
            let value = decode_component(halves.next().unwrap_or_default());
            (key, value)
        })
        .collect()
}

fn decode_component(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < text.len() => {
                let hex = std::str::from_utf8(&text[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(byte) => {
                        out.push(byte);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode() {
        assert_eq!(
            decode_form(b"To=%2B15005550006&Body=Hello+there%21&Empty=&Bare&Bad=%zz%4"),
            vec![
                ("To".into(), "+15005550006".into()),
                ("Body".into(), "Hello there!".into()),
                ("Empty".into(), String::new()),
                ("Bare".into(), String::new()),
                ("Bad".into(), "%zz%4".into()),
            ]
        );
    }
}
