//! Live events as a Server-Sent Events stream.

use std::convert::Infallible;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream::unfold;

use crate::app::{App, Delivery, Event};
use crate::http::extract::CurrentUser;
use crate::http::problem::Problem;

/// A Server-Sent Events stream of what changes for the caller, on any instance:
/// `appointment` events for their own appointments (the front desk hears all), and a
/// `skipped` event when they fell behind and should reload. Ends at server shutdown;
/// clients reconnect.
#[utoipa::path(get, path = "/events", tag = "events", security(("bearer" = [])),
    responses((status = 200, content_type = "text/event-stream", body = String,
        description = "`event: appointment` with JSON `data`"),
        (status = 401, body = Problem)))]
pub async fn list_events(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let subscription = app.events.subscribe(me.user.id, me.actor.role);
    let stream = unfold(subscription, |mut subscription| async move {
        let frame = loop {
            match subscription.next().await? {
                // Chat travels on the live WebSocket only (`GET /live`).
                Delivery::Event(Event::Appointment {
                    appointment_id,
                    action,
                    status,
                    doctor_id,
                    patient_id,
                    start,
                    ..
                }) => {
                    let event = Event::Appointment {
                        appointment_id,
                        action,
                        status,
                        doctor_id,
                        patient_id,
                        start,
                        live: Vec::new(),
                    };
                    break SseEvent::default()
                        .event(event.kind())
                        .data(serde_json::to_string(&event).unwrap_or_default());
                }
                Delivery::Event(_) => continue,
                Delivery::Skipped(count) => {
                    break SseEvent::default().event("skipped").data(count.to_string());
                }
            }
        };
        Some((Ok(frame), subscription))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
