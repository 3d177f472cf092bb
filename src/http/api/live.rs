//! The live WebSocket, `GET /api/v1/live` (issue 10; see docs/LIVE.md).
//!
//! Server frames are JSON text `{id, type, data}`. Durable events (`message`,
//! `receipt`, `appointment` for the people involved) carry the id of the user's
//! live stream (1, 2, 3... per user); a client that reconnects with
//! `?last_event_id=N` is sent every later one from the database, then live ones.
//! Ephemeral frames (`typing`, `notifications` counts, `ready`, `ack`, `error`, and
//! appointment changes that staff see but are not part of) have `id: null`.
//!
//! Per connection: one task reads the client and the event bus and puts frames on
//! a bounded queue; another writes the queue to the socket. A client that does not
//! read fills the queue and is dropped (close code 1008). A ping goes out every 30 s;
//! a connection that did not answer the previous one is closed.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use utoipa::IntoParams;

use crate::app::{App, Authenticated, Delivery, Event};
use crate::http::extract::{ApiQuery, CurrentUser};
use crate::http::problem::{ApiError, Problem};
use crate::store::UserId;

/// Frames waiting for a slow client before it is dropped.
pub const QUEUE_FRAMES: usize = 256;
/// Largest client frame, in bytes (a 4,000-character message fits).
const MAX_CLIENT_FRAME: usize = 32 * 1024;
/// Bytes read from a socket at a time. Client frames are small and rare; the
/// default (128 KiB, allocated per connection) would make an idle socket cost about
/// 130 KiB (docs/BENCHMARKS.md, live channel).
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// Replay reads the stream in pages of this many events.
const REPLAY_PAGE: u32 = 100;
/// How long one write to the socket may take before the client counts as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LiveQuery {
    /// The id of the last event the client received: every later one is sent
    /// first (from the database). Without it, only new events are sent.
    #[param(minimum = 0)]
    pub last_event_id: Option<i64>,
}

/// The `Origin` header, when a browser sent one, must be the host the request was
/// sent to, the configured `public_url` or one of `live_allowed_origins`.
fn origin_allowed(app: &App, parts: &Parts) -> bool {
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    let of_url = |url: &str| {
        // scheme://host[:port] of a URL.
        let url = url.trim_end_matches('/');
        match url.find("://") {
            Some(i) => {
                let rest = &url[i + 3..];
                let end = rest.find('/').map_or(url.len(), |j| i + 3 + j);
                url[..end].to_ascii_lowercase()
            }
            None => url.to_ascii_lowercase(),
        }
    };
    let origin = origin.to_ascii_lowercase();
    // A page of the host the request was sent to: same-origin, as for the pages'
    // forms (a proxy that rewrites `Host` is what `public_url` is for). Another
    // site's page names its own host, and a rebound name carries no session cookie.
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase);
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    if origin_host.is_some() && origin_host == host.as_deref() {
        return true;
    }
    origin == of_url(&app.settings.public_url)
        || app
            .settings
            .live_allowed_origins
            .iter()
            .any(|allowed| origin == of_url(allowed))
}

/// The live channel: a WebSocket (send `Connection: Upgrade`, `Upgrade: websocket`)
/// authenticated by a bearer token or the session cookie. Carries the caller's chat
/// messages, receipts and typing, the appointment changes of the people involved
/// (the front desk sees all, without ids), and notification counts. Client frames:
/// `{"type":"message","conversation_id","client_id","text"}`,
/// `{"type":"typing","conversation_id"}`, `{"type":"read","conversation_id","up_to_seq"}`.
#[utoipa::path(get, path = "/live", tag = "events", security(("bearer" = [])),
    params(LiveQuery),
    responses((status = 101, description = "switching to the WebSocket protocol; frames are JSON `{id, type, data}`"),
        (status = 401, body = Problem),
        (status = 403, description = "an Origin that is not `public_url` nor in `live_allowed_origins` (`/problems/origin-not-allowed`)", body = Problem),
        (status = 426, description = "not a WebSocket handshake (`/problems/upgrade-required`)", body = Problem)))]
pub async fn open_live(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(query): ApiQuery<LiveQuery>,
    request: axum::extract::Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    if !origin_allowed(&app, &parts) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "origin-not-allowed",
            "this page's origin may not open the live channel",
        )
        .into_response();
    }
    if query.last_event_id.is_some_and(|n| n < 0) {
        return ApiError::from(crate::app::AppError::invalid(
            "last_event_id",
            "must be 0 or more",
        ))
        .into_response();
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &app).await {
        Ok(upgrade) => upgrade,
        Err(_) => {
            return ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "upgrade-required",
                "open this address as a WebSocket",
            )
            .into_response();
        }
    };
    let last_event_id = query.last_event_id;
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_CLIENT_FRAME)
        .max_frame_size(MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| serve(socket, app, me, last_event_id))
}

/// Why a connection ends early.
#[derive(Debug)]
enum End {
    /// The client's queue is full: it does not read.
    SlowReader,
    /// The writer is gone (the client went away).
    Gone,
}

struct Session {
    app: App,
    me: Authenticated,
    out: mpsc::Sender<Message>,
    /// The id of the last durable event sent.
    last_sent: i64,
    /// The client came back with `last_event_id`.
    resumed: bool,
}

fn frame(id: Option<i64>, kind: &str, data: Value) -> Message {
    Message::Text(
        json!({ "id": id, "type": kind, "data": data })
            .to_string()
            .into(),
    )
}

impl Session {
    fn user(&self) -> &UserId {
        &self.me.user.id
    }

    fn push(&self, message: Message) -> Result<(), End> {
        self.out.try_send(message).map_err(|error| match error {
            mpsc::error::TrySendError::Full(_) => End::SlowReader,
            mpsc::error::TrySendError::Closed(_) => End::Gone,
        })
    }

    /// Queues a frame, waiting while the queue is full (a replay from the database
    /// may be longer than the queue); a client that does not make room within the
    /// write timeout is a slow reader.
    async fn push_waiting(&self, message: Message) -> Result<(), End> {
        match tokio::time::timeout(WRITE_TIMEOUT, self.out.send(message)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => Err(End::SlowReader),
        }
    }

    /// Sends one durable event (waiting for room when `wait`, as a replay does), and
    /// does what its arrival implies.
    async fn send_durable(
        &mut self,
        id: i64,
        kind: &str,
        data: Value,
        wait: bool,
    ) -> Result<(), End> {
        let message = frame(Some(id), kind, data.clone());
        if wait {
            self.push_waiting(message).await?;
        } else {
            self.push(message)?;
        }
        self.last_sent = id;
        match kind {
            // A message from the other side reached this client: a delivery receipt.
            "message" if data["sender_id"].as_str() != Some(self.user().as_str()) => {
                if let (Some(conversation), Some(seq)) =
                    (data["conversation_id"].as_str(), data["seq"].as_i64())
                {
                    let app = self.app.clone();
                    let actor = self.me.actor.clone();
                    let conversation = conversation.to_owned();
                    tokio::spawn(async move {
                        let _ = app
                            .mark_conversation(&actor, conversation, Some(seq), false)
                            .await;
                    });
                }
                // The pages' unread badge; a replay sends the counts once at its end.
                if !wait {
                    self.spawn_counts();
                }
            }
            // This user read a conversation (here or in another tab): fewer unread.
            "receipt" if !wait && data["user_id"].as_str() == Some(self.user().as_str()) => {
                self.spawn_counts();
            }
            "appointment" => self.spawn_counts(),
            _ => {}
        }
        Ok(())
    }

    /// Sends the stream from the database after `last_sent`, up to its end.
    /// Whether events after the client's last id were pruned before it came back
    /// (`live_event_retention_days`): it cannot replay them, so it reloads.
    async fn missed_pruned_events(&self) -> bool {
        match self
            .app
            .live_events_after(self.user(), self.last_sent, 1)
            .await
        {
            Ok(next) => next.first().is_some_and(|e| e.id > self.last_sent + 1),
            Err(_) => false,
        }
    }

    async fn catch_up(&mut self) -> Result<(), End> {
        loop {
            let events = match self
                .app
                .live_events_after(self.user(), self.last_sent, REPLAY_PAGE)
                .await
            {
                Ok(events) => events,
                Err(error) => {
                    tracing::warn!(error = %error, "live: could not read the stream");
                    return Ok(());
                }
            };
            let full = events.len() == REPLAY_PAGE as usize;
            let chatted = events.iter().any(|e| e.kind != "appointment");
            for event in events {
                let data = serde_json::from_str(&event.data).unwrap_or(Value::Null);
                self.send_durable(event.id, &event.kind, data, true).await?;
            }
            if chatted {
                self.spawn_counts();
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Sends the unread counts (notifications and messages), read in the background.
    fn spawn_counts(&self) {
        let app = self.app.clone();
        let user = self.user().clone();
        let out = self.out.clone();
        tokio::spawn(async move {
            if let Ok((notifications, messages)) = app.unread_counts(&user).await {
                let _ = out.try_send(frame(
                    None,
                    "notifications",
                    json!({ "unread": notifications, "unread_messages": messages }),
                ));
            }
        });
    }

    async fn on_event(&mut self, event: Event) -> Result<(), End> {
        if let Some(id) = event.live_id_for(self.user()) {
            if id <= self.last_sent {
                return Ok(());
            }
            let inline = match &event {
                Event::Chat {
                    kind,
                    data: Some(data),
                    ..
                } => Some((kind.clone(), data.clone())),
                Event::Appointment { .. } => {
                    Some(("appointment".to_owned(), appointment_data(&event)))
                }
                _ => None,
            };
            match inline {
                Some((kind, data)) if id == self.last_sent + 1 => {
                    self.send_durable(id, &kind, data, false).await
                }
                // A gap (events committed elsewhere arrive out of order) or data too
                // large for the bus: the database has them in order.
                _ => self.catch_up().await,
            }
        } else {
            match &event {
                Event::Typing {
                    conversation_id,
                    user_id,
                    ..
                } => self.push(frame(
                    None,
                    "typing",
                    json!({ "conversation_id": conversation_id, "user_id": user_id }),
                )),
                // Staff see every appointment change, outside their stream.
                Event::Appointment { .. } => {
                    self.push(frame(None, "appointment", appointment_data(&event)))
                }
                Event::Chat { .. } => Ok(()),
            }
        }
    }

    async fn on_client_frame(&mut self, text: &str) -> Result<(), End> {
        let request: ClientFrame = match serde_json::from_str(text) {
            Ok(request) => request,
            Err(_) => {
                return self.push(error_frame(
                    None,
                    "malformed-request",
                    "frames are JSON objects with a known type",
                ));
            }
        };
        let app = self.app.clone();
        let actor = self.me.actor.clone();
        match request {
            ClientFrame::Message {
                conversation_id,
                client_id,
                text,
                attachment_id,
            } => match app
                .send_message(
                    &actor,
                    conversation_id,
                    &client_id,
                    &text,
                    attachment_id.as_deref(),
                )
                .await
            {
                Ok(sent) => self.push(frame(
                    None,
                    "ack",
                    json!({
                        "client_id": sent.message.record.client_id,
                        "conversation_id": sent.message.record.conversation_id,
                        "seq": sent.message.record.seq,
                    }),
                )),
                Err(error) => self.push(problem_frame(Some(client_id), error)),
            },
            ClientFrame::Typing { conversation_id } => {
                match app.typing(&actor, conversation_id).await {
                    Ok(()) => Ok(()),
                    Err(error) => self.push(problem_frame(None, error)),
                }
            }
            ClientFrame::Read {
                conversation_id,
                up_to_seq,
            } => match app
                .mark_conversation(&actor, conversation_id, up_to_seq, true)
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => self.push(problem_frame(None, error)),
            },
        }
    }
}

fn appointment_data(event: &Event) -> Value {
    match event {
        Event::Appointment {
            appointment_id,
            action,
            status,
            doctor_id,
            patient_id,
            start,
            ..
        } => json!({
            "appointment_id": appointment_id,
            "action": action,
            "status": status,
            "doctor_id": doctor_id,
            "patient_id": patient_id,
            "start": start,
        }),
        _ => Value::Null,
    }
}

fn error_frame(client_id: Option<String>, kind: &str, detail: &str) -> Message {
    frame(
        None,
        "error",
        json!({ "type": format!("/problems/{kind}"), "detail": detail, "client_id": client_id }),
    )
}

/// An app error as an `error` frame: the same problem type and detail the REST
/// route would answer, never internals.
fn problem_frame(client_id: Option<String>, error: crate::app::AppError) -> Message {
    let problem = ApiError::from(error).problem();
    let mut data = serde_json::to_value(&problem).unwrap_or(Value::Null);
    data["client_id"] = json!(client_id);
    frame(None, "error", data)
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientFrame {
    Message {
        conversation_id: String,
        client_id: String,
        #[serde(default)]
        text: String,
        #[serde(default)]
        attachment_id: Option<String>,
    },
    Typing {
        conversation_id: String,
    },
    Read {
        conversation_id: String,
        up_to_seq: Option<i64>,
    },
}

async fn serve(socket: WebSocket, app: App, me: Authenticated, last_event_id: Option<i64>) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut queue) = mpsc::channel::<Message>(QUEUE_FRAMES);
    let writer = tokio::spawn(async move {
        while let Some(message) = queue.recv().await {
            let closing = matches!(message, Message::Close(_));
            match tokio::time::timeout(WRITE_TIMEOUT, sink.send(message)).await {
                Ok(Ok(())) if !closing => {}
                _ => break,
            }
        }
        let _ = sink.close().await;
    });

    // Subscribe before reading the stream: nothing committed in between is missed
    // (an event seen twice is skipped by its id).
    let mut subscription = app.events.subscribe(me.user.id.clone(), me.actor.role);
    let start = match last_event_id {
        Some(n) => Ok(n),
        None => app.last_live_event_id(&me.user.id).await,
    };
    let Ok(start) = start else {
        let _ = out.try_send(close(1011, "try again"));
        drop(out);
        let _ = writer.await;
        return;
    };
    let mut session = Session {
        app,
        me,
        out,
        last_sent: start,
        resumed: last_event_id.is_some(),
    };
    let ended = run(&mut session, &mut subscription, &mut stream).await;
    let code = match ended {
        Err(End::SlowReader) => {
            tracing::info!("live: dropped a client that does not read");
            // The queue is full: make room for the close frame.
            Some(close(1008, "not reading"))
        }
        Err(End::Gone) => None,
        Ok(reason) => reason,
    };
    if let Some(code) = code {
        // Full queue: the writer is stuck on a client that does not read; end it.
        if session.out.try_send(code).is_err() {
            writer.abort();
        }
    }
    drop(session);
    let _ = writer.await;
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// The connection's loop; `Ok` with the close frame to send, if any.
async fn run(
    session: &mut Session,
    subscription: &mut crate::app::Subscription,
    stream: &mut futures_util::stream::SplitStream<WebSocket>,
) -> Result<Option<Message>, End> {
    let mut ready = json!({ "last_event_id": session.last_sent });
    if session.resumed {
        ready["missed"] = session.missed_pruned_events().await.into();
    }
    session.push(frame(None, "ready", ready))?;
    session.catch_up().await?;
    session.push(frame(
        None,
        "ready",
        json!({ "last_event_id": session.last_sent, "caught_up": true }),
    ))?;
    session.spawn_counts();
    // A connection that missed one pong is closed at the next ping.
    let every = Duration::from_secs(session.app.settings.live_ping_seconds);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut answered = true;
    loop {
        tokio::select! {
            delivery = subscription.next() => match delivery {
                Some(Delivery::Event(event)) => session.on_event(event).await?,
                // Fell behind the bus: the durable events are in the database.
                Some(Delivery::Skipped(_)) => session.catch_up().await?,
                // The server is shutting down: clients reconnect with their last id.
                None => return Ok(Some(close(1012, "restarting"))),
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => session.on_client_frame(text.as_str()).await?,
                Some(Ok(Message::Pong(_))) => answered = true,
                Some(Ok(Message::Ping(_))) => {} // axum answers pings itself
                Some(Ok(Message::Binary(_))) => {
                    session.push(error_frame(None, "malformed-request", "frames are JSON text"))?;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Ok(None),
            },
            _ = ping.tick() => {
                if !answered {
                    return Ok(Some(close(1001, "no pong")));
                }
                // A session that ended (sign-out, expiry, password change, a
                // deactivated account) loses the channel it opened.
                if matches!(session.app.session_is_current(&session.me).await, Ok(false)) {
                    return Ok(Some(close(1008, "session ended")));
                }
                answered = false;
                session.push(Message::Ping(Vec::new().into()))?;
            }
        }
    }
}
