//! Live events over Server-Sent Events: the people involved hear of a change, others
//! do not.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::support::*;

/// An open `GET /api/v1/events` stream, read frame by frame.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(user: &User) -> EventStream {
        let response = user
            .request(Method::GET, "/api/v1/events")
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next `(event, data)` frame, skipping keep-alive comments. Bounded so a
    /// missing event fails the test instead of hanging it.
    async fn next(&mut self) -> (String, Value) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let frame: String = self.buffer.drain(..end + 2).collect();
                    let field = |name: &str| {
                        frame
                            .lines()
                            .find_map(|l| l.strip_prefix(name))
                            .map(str::trim)
                            .map(str::to_owned)
                    };
                    if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                        return (event, serde_json::from_str(&data).expect("JSON data"));
                    }
                    continue;
                }
                let chunk = self.response.chunk().await.expect("stream readable");
                let chunk = chunk.expect("the stream stays open");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an event arrives within 10 s")
    }
}

dual! {
#[tokio::test]
async fn the_people_involved_hear_of_a_booking_and_its_confirmation_and_others_do_not() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Dr Live").await;
    let patient = app.register_patient("Liv Listener").await;
    let other = app.register_patient("Otto Other").await;

    let mut doctor_stream = EventStream::open(&doctor).await;
    let mut patient_stream = EventStream::open(&patient).await;
    let mut other_stream = EventStream::open(&other).await;

    let id = app.booked(&patient, &doctor.id, TUE_0900).await;
    let (kind, data) = doctor_stream.next().await;
    assert_eq!(kind, "appointment");
    assert_eq!(data["appointment_id"], id.as_str());
    assert_eq!(data["action"], "book");
    assert_eq!(data["status"], "requested");
    assert_eq!(data["start"], TUE_0900);

    doctor.act(&id, "confirm").await.assert_status(200);
    let (_, booked) = patient_stream.next().await;
    assert_eq!(booked["action"], "book");
    let (_, confirmed) = patient_stream.next().await;
    assert_eq!(confirmed["action"], "confirm");
    assert_eq!(confirmed["status"], "confirmed");

    // The unrelated patient's first event is their own booking, not the others'.
    let own = app.booked(&other, &doctor.id, TUE_1000).await;
    let (_, first) = other_stream.next().await;
    assert_eq!(first["appointment_id"], own.as_str());
}
}

dual! {
#[tokio::test]
async fn the_stream_needs_a_login() {
    let app = TestApp::spawn().await;
    app.anon()
        .get("/api/v1/events")
        .await
        .assert_problem(401, "unauthenticated");
}
}
