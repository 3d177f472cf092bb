//! A small client of the live WebSocket (`GET /api/v1/live`) for tests: frames as
//! JSON, bounded waits so that a missing frame fails instead of hanging.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error, Message};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub struct Live {
    pub socket: Socket,
}

/// `base` is `http://host:port`.
pub fn live_url(base: &str, last_event_id: Option<i64>) -> String {
    let ws = base.replacen("http://", "ws://", 1);
    match last_event_id {
        Some(id) => format!("{ws}/api/v1/live?last_event_id={id}"),
        None => format!("{ws}/api/v1/live"),
    }
}

impl Live {
    /// Opens the socket; the HTTP status when the server refuses the handshake.
    pub async fn try_connect(
        base: &str,
        token: Option<&str>,
        last_event_id: Option<i64>,
        origin: Option<&str>,
    ) -> Result<Live, u16> {
        let mut request = live_url(base, last_event_id)
            .into_client_request()
            .expect("a WebSocket URL");
        if let Some(token) = token {
            request.headers_mut().insert(
                "authorization",
                HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
            );
        }
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", HeaderValue::from_str(origin).unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, _)) => Ok(Live { socket }),
            Err(Error::Http(response)) => Err(response.status().as_u16()),
            Err(other) => panic!("the handshake failed: {other}"),
        }
    }

    /// Opens the socket and waits until the server has sent what was missed
    /// (`ready` with `caught_up`); returns the frames sent before that.
    pub async fn connect(
        base: &str,
        token: &str,
        last_event_id: Option<i64>,
    ) -> (Live, Vec<Value>) {
        let mut live = Live::try_connect(base, Some(token), last_event_id, None)
            .await
            .expect("the live socket opens");
        let mut replayed = Vec::new();
        loop {
            let frame = live.next().await;
            if frame["type"] == "ready" && frame["data"]["caught_up"] == true {
                return (live, replayed);
            }
            if frame["type"] != "ready" {
                replayed.push(frame);
            }
        }
    }

    /// The next JSON frame (pings and pongs skipped), within 10 s.
    pub async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(10))
            .await
            .expect("a frame within 10 s")
    }

    /// The next JSON frame within `wait`, if any; `Value::Null` once closed.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()?;
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Some(serde_json::from_str(text.as_str()).expect("a JSON frame"));
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Some(Value::Null),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame of type `kind`, skipping others, within 10 s.
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            let frame = self.next().await;
            assert!(
                !frame.is_null(),
                "the socket closed while waiting for {kind}"
            );
            if frame["type"] == kind {
                return frame;
            }
        }
    }

    /// Every frame that arrives within `wait`.
    pub async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut frames = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while let Some(frame) = self
            .next_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            if frame.is_null() {
                break;
            }
            frames.push(frame);
        }
        frames
    }

    pub async fn send(&mut self, frame: Value) {
        self.socket
            .send(Message::Text(frame.to_string().into()))
            .await
            .expect("the frame is sent");
    }
}
