//! Chat between a patient and their doctor (issue 10): REST and the live WebSocket.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;
use crate::ws_client::Live;

/// A doctor, their patient with an appointment (Tuesday 09:00), and the pair's
/// conversation id.
async fn pair(app: &TestApp) -> (User, User, String) {
    let doctor = app.create_doctor("Dr Chat").await;
    let patient = app.register_patient("Pat Chat").await;
    app.booked(&patient, &doctor.id, TUE_0900).await;
    let res = patient
        .post("/api/v1/conversations", &json!({ "doctor_id": doctor.id }))
        .await;
    res.assert_status(200);
    let id = res.str("id").to_owned();
    (doctor, patient, id)
}

fn token(user: &User) -> &str {
    user.api.token.as_deref().expect("a token")
}

fn message(conversation: &str, client_id: &str, text: &str) -> Value {
    json!({ "type": "message", "conversation_id": conversation, "client_id": client_id, "text": text })
}

dual! {
#[tokio::test]
async fn only_the_patient_and_the_doctor_of_an_appointment_have_a_conversation() {
    let app = TestApp::spawn().await;
    let (doctor, patient, id) = pair(&app).await;
    let other = app.register_patient("Otto Other").await;
    let other_doctor = app.create_doctor("Dr Other").await;
    let receptionist = app.create_receptionist().await;
    let admin = app.admin().await;

    // Either side gets the same conversation.
    let res = doctor
        .post("/api/v1/conversations", &json!({ "patient_id": patient.id }))
        .await;
    res.assert_status(200);
    assert_eq!(res.str("id"), id);
    assert_eq!(res.body["closed"], false);
    assert_eq!(res.body["patient_name"], "Pat Chat");

    // Without an appointment between them: refused, whoever asks.
    other
        .post("/api/v1/conversations", &json!({ "doctor_id": doctor.id }))
        .await
        .assert_problem(403, "forbidden");
    other_doctor
        .post("/api/v1/conversations", &json!({ "patient_id": patient.id }))
        .await
        .assert_problem(403, "forbidden");
    for staff in [&receptionist, &admin] {
        staff
            .post("/api/v1/conversations", &json!({ "doctor_id": doctor.id }))
            .await
            .assert_problem(403, "forbidden");
    }
    // A patient names a doctor, a doctor a patient.
    patient
        .post("/api/v1/conversations", &json!({ "patient_id": patient.id }))
        .await
        .assert_invalid(&["doctor_id"]);

    // Nobody else reads or writes it: staff and admins neither.
    patient
        .post(
            &format!("/api/v1/conversations/{id}/messages"),
            &json!({ "client_id": "c1", "text": "Hello doctor" }),
        )
        .await
        .assert_status(201);
    for outsider in [&other, &other_doctor, &receptionist, &admin] {
        outsider
            .get(&format!("/api/v1/conversations/{id}/messages"))
            .await
            .assert_problem(404, "not-found");
        outsider
            .post(
                &format!("/api/v1/conversations/{id}/messages"),
                &json!({ "client_id": "x", "text": "let me in" }),
            )
            .await
            .assert_problem(404, "not-found");
        let list = outsider.get("/api/v1/conversations").await;
        list.assert_status(200);
        assert!(list.items().is_empty());
    }
    let res = doctor.get(&format!("/api/v1/conversations/{id}/messages")).await;
    res.assert_status(200);
    assert_eq!(res.items().len(), 1);
    assert_eq!(res.items()[0]["text"], "Hello doctor");
}
}

dual! {
#[tokio::test]
async fn messages_are_numbered_idempotent_bounded_and_counted_unread() {
    let app = TestApp::spawn_with(|s| s.chat_messages_per_minute = 5).await;
    let (doctor, patient, id) = pair(&app).await;
    let path = format!("/api/v1/conversations/{id}/messages");

    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        let res = patient
            .post(&path, &json!({ "client_id": format!("m{i}"), "text": text }))
            .await;
        res.assert_status(201);
        assert_eq!(res.body["seq"], i as i64 + 1);
    }
    // A resend with the same client id is the stored message, not a new one.
    let res = patient
        .post(&path, &json!({ "client_id": "m1", "text": "two (again)" }))
        .await;
    res.assert_status(200);
    assert_eq!(res.body["seq"], 2);
    assert_eq!(res.body["text"], "two");

    // Bad input names its field; nothing is stored.
    patient
        .post(&path, &json!({ "client_id": "m9", "text": "é".repeat(4001) }))
        .await
        .assert_invalid(&["text"]);
    patient
        .post(&path, &json!({ "client_id": "m9", "text": "   " }))
        .await
        .assert_invalid(&["text"]);
    patient
        .post(&path, &json!({ "client_id": "no spaces", "text": "hi" }))
        .await
        .assert_invalid(&["client_id"]);
    patient
        .post(&path, &json!({ "client_id": "x".repeat(65), "text": "hi" }))
        .await
        .assert_invalid(&["client_id"]);
    patient
        .get(&format!("{path}?after=-1"))
        .await
        .assert_invalid(&["after"]);

    // Unread counts, per conversation and in total; reading clears them.
    let list = doctor.get("/api/v1/conversations").await;
    list.assert_status(200);
    assert_eq!(list.items()[0]["unread"], 3);
    assert_eq!(list.body["unread_total"], 3);
    let res = doctor
        .post(&format!("/api/v1/conversations/{id}/read"), &json!({ "up_to_seq": 2 }))
        .await;
    res.assert_status(200);
    assert_eq!(res.body["read_seq"], 2);
    assert_eq!(doctor.get("/api/v1/conversations").await.body["unread_total"], 1);
    // Marks only move forward.
    let res = doctor
        .post(&format!("/api/v1/conversations/{id}/read"), &json!({ "up_to_seq": 1 }))
        .await;
    assert_eq!(res.body["read_seq"], 2);
    doctor
        .post_empty(&format!("/api/v1/conversations/{id}/read"))
        .await
        .assert_status(200);
    assert_eq!(doctor.get("/api/v1/conversations").await.body["unread_total"], 0);
    assert_eq!(patient.get("/api/v1/conversations").await.body["unread_total"], 0);

    // The page after a sequence number, with both receipts.
    let res = patient.get(&format!("{path}?after=1")).await;
    let seqs: Vec<i64> = res.items().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [2, 3]);
    let doctor_receipt = res.body["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["user_id"] == doctor.id.as_str())
        .unwrap()
        .clone();
    assert_eq!(doctor_receipt["read_seq"], 3);

    // Five a minute here: two more pass, the next is refused until a minute passed.
    for i in 3..5 {
        patient
            .post(&path, &json!({ "client_id": format!("m{i}"), "text": "more" }))
            .await
            .assert_status(201);
    }
    let res = patient
        .post(&path, &json!({ "client_id": "m5", "text": "too many" }))
        .await;
    res.assert_problem(429, "rate-limited");
    assert!(res.header(reqwest::header::RETRY_AFTER).is_some());
    // The doctor has a budget of their own.
    doctor
        .post(&path, &json!({ "client_id": "d0", "text": "slow down" }))
        .await
        .assert_status(201);
    app.advance_clock(jiff::SignedDuration::from_mins(1));
    patient
        .post(&path, &json!({ "client_id": "m5", "text": "later" }))
        .await
        .assert_status(201);
}
}

dual! {
#[tokio::test]
async fn the_doctor_closes_a_conversation_and_a_new_booking_reopens_it() {
    let app = TestApp::spawn().await;
    let (doctor, patient, id) = pair(&app).await;
    let path = format!("/api/v1/conversations/{id}/messages");
    patient
        .post_empty(&format!("/api/v1/conversations/{id}/close"))
        .await
        .assert_problem(403, "forbidden");
    let res = doctor
        .post_empty(&format!("/api/v1/conversations/{id}/close"))
        .await;
    res.assert_status(200);
    assert_eq!(res.body["closed"], true);
    for (user, client_id) in [(&patient, "p"), (&doctor, "d")] {
        user.post(&path, &json!({ "client_id": client_id, "text": "hello?" }))
            .await
            .assert_problem(409, "conversation-closed");
    }
    // The history stays readable.
    patient.get(&path).await.assert_status(200);

    app.advance_clock(jiff::SignedDuration::from_mins(1));
    app.booked(&patient, &doctor.id, WED_0900).await;
    let list = patient.get("/api/v1/conversations").await;
    assert_eq!(list.items()[0]["closed"], false);
    patient
        .post(&path, &json!({ "client_id": "p", "text": "booked again" }))
        .await
        .assert_status(201);
}
}

dual! {
#[tokio::test]
async fn two_live_clients_chat_in_order_with_receipts_and_typing_and_a_third_sees_nothing() {
    let app = TestApp::spawn().await;
    let (doctor, patient, id) = pair(&app).await;
    let other = app.register_patient("Otto Other").await;
    let (mut doctor_live, _) = Live::connect(&app.base, token(&doctor), None).await;
    let (mut patient_live, _) = Live::connect(&app.base, token(&patient), None).await;
    let (mut other_live, _) = Live::connect(&app.base, token(&other), None).await;

    for i in 1..=5 {
        patient_live.send(message(&id, &format!("m{i}"), &format!("message {i}"))).await;
        let ack = patient_live.next_of("ack").await;
        assert_eq!(ack["data"]["seq"], i);
    }
    // The doctor gets them in order, each once, with ids that follow each other.
    let mut last_id = None;
    for i in 1..=5 {
        let frame = doctor_live.next_of("message").await;
        assert_eq!(frame["data"]["seq"], i);
        assert_eq!(frame["data"]["text"], format!("message {i}"));
        assert_eq!(frame["data"]["sender_id"], patient.id.as_str());
        let id = frame["id"].as_i64().expect("a durable event has an id");
        if let Some(last) = last_id {
            assert!(id > last, "ids increase");
        }
        last_id = Some(id);
    }
    // The patient's socket shows the delivery: the doctor's client received them.
    loop {
        let receipt = patient_live.next_of("receipt").await;
        if receipt["data"]["user_id"] == doctor.id.as_str()
            && receipt["data"]["delivered_seq"] == 5
        {
            break;
        }
    }
    // Read receipt and typing, from the doctor.
    doctor_live
        .send(json!({ "type": "read", "conversation_id": id, "up_to_seq": 5 }))
        .await;
    loop {
        let receipt = patient_live.next_of("receipt").await;
        if receipt["data"]["user_id"] == doctor.id.as_str() && receipt["data"]["read_seq"] == 5 {
            break;
        }
    }
    doctor_live
        .send(json!({ "type": "typing", "conversation_id": id }))
        .await;
    let typing = patient_live.next_of("typing").await;
    assert_eq!(typing["data"]["user_id"], doctor.id.as_str());
    assert_eq!(typing["id"], Value::Null);

    // A third user may not join in: every frame about the conversation is refused.
    for frame in [
        json!({ "type": "typing", "conversation_id": id }),
        json!({ "type": "read", "conversation_id": id }),
        message(&id, "intruder", "let me in"),
    ] {
        other_live.send(frame).await;
        let error = other_live.next_of("error").await;
        assert_eq!(error["data"]["type"], "/problems/not-found");
    }
    patient_live.send(message(&id, "m6", "private")).await;
    doctor_live.next_of("message").await;
    let seen = other_live.drain(Duration::from_millis(500)).await;
    assert!(
        seen.iter().all(|f| f["type"] != "message" && f["type"] != "receipt" && f["type"] != "typing"),
        "{seen:?}"
    );
    // A bad frame is answered, not fatal.
    doctor_live.send(json!({ "type": "dance" })).await;
    let error = doctor_live.next_of("error").await;
    assert_eq!(error["data"]["type"], "/problems/malformed-request");
    doctor_live.send(message(&id, "d1", "still here")).await;
    assert_eq!(doctor_live.next_of("ack").await["data"]["seq"], 7);
}
}

dual! {
#[tokio::test]
async fn appointment_changes_and_notification_counts_reach_the_people_involved() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Dr Live").await;
    let patient = app.register_patient("Pat Live").await;
    let receptionist = app.create_receptionist().await;
    let (mut doctor_live, _) = Live::connect(&app.base, token(&doctor), None).await;
    let (mut patient_live, _) = Live::connect(&app.base, token(&patient), None).await;
    let (mut desk_live, _) = Live::connect(&app.base, token(&receptionist), None).await;

    let apt = app.booked(&patient, &doctor.id, TUE_0900).await;
    let request = doctor_live.next_of("appointment").await;
    assert_eq!(request["data"]["appointment_id"], apt.as_str());
    assert_eq!(request["data"]["status"], "requested");
    assert!(request["id"].is_i64());
    let counts = doctor_live.next_of("notifications").await;
    assert!(counts["data"]["unread"].as_i64().unwrap() >= 1, "{counts}");
    // The front desk sees it too, outside any stream of its own.
    let desk = desk_live.next_of("appointment").await;
    assert_eq!(desk["id"], Value::Null);

    doctor.act(&apt, "confirm").await.assert_status(200);
    loop {
        let frame = patient_live.next_of("appointment").await;
        if frame["data"]["status"] == "confirmed" {
            assert!(frame["id"].is_i64());
            break;
        }
    }
}
}

dual! {
#[tokio::test]
async fn the_live_socket_needs_a_session_a_websocket_and_an_allowed_origin() {
    let app = TestApp::spawn_with(|s| {
        s.live_allowed_origins = vec!["https://app.clinic.example".into()];
    })
    .await;
    let patient = app.register_patient("Pat Socket").await;
    assert_eq!(Live::try_connect(&app.base, None, None, None).await.err(), Some(401));
    assert_eq!(
        Live::try_connect(&app.base, Some("not-a-token"), None, None).await.err(),
        Some(401)
    );
    assert_eq!(
        Live::try_connect(&app.base, Some(token(&patient)), None, Some("https://evil.example"))
            .await
            .err(),
        Some(403)
    );
    // The pages of this very server (their Origin names the Host) are allowed too.
    for origin in [app.app.settings.public_url.as_str(), "https://app.clinic.example", app.base.as_str()] {
        assert!(
            Live::try_connect(&app.base, Some(token(&patient)), None, Some(origin))
                .await
                .is_ok(),
            "{origin}"
        );
    }
    // A plain GET is not a handshake.
    patient.get("/api/v1/live").await.assert_problem(426, "upgrade-required");
    patient
        .get("/api/v1/live?last_event_id=-1")
        .await
        .assert_invalid(&["last_event_id"]);
}
}

dual! {
#[tokio::test]
async fn a_client_reconnecting_with_its_last_event_id_gets_what_it_missed_once() {
    let app = TestApp::spawn().await;
    let (doctor, patient, id) = pair(&app).await;
    let path = format!("/api/v1/conversations/{id}/messages");
    let (mut doctor_live, _) = Live::connect(&app.base, token(&doctor), None).await;
    patient
        .post(&path, &json!({ "client_id": "a", "text": "first" }))
        .await
        .assert_status(201);
    let first = doctor_live.next_of("message").await;
    let last_id = first["id"].as_i64().unwrap();
    drop(doctor_live);

    for i in 0..3 {
        patient
            .post(&path, &json!({ "client_id": format!("b{i}"), "text": format!("missed {i}") }))
            .await
            .assert_status(201);
    }
    let (mut doctor_live, replayed) =
        Live::connect(&app.base, token(&doctor), Some(last_id)).await;
    let texts: Vec<&str> = replayed
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["missed 0", "missed 1", "missed 2"]);
    let ids: Vec<i64> = replayed.iter().filter_map(|f| f["id"].as_i64()).collect();
    assert!(ids.windows(2).all(|w| w[1] == w[0] + 1), "{ids:?}");
    assert_eq!(ids[0], last_id + 1);
    // Nothing comes twice afterwards.
    let later = doctor_live.drain(Duration::from_millis(300)).await;
    assert!(later.iter().all(|f| f["type"] != "message"), "{later:?}");
}
}

dual! {
#[tokio::test]
async fn old_live_events_are_pruned_and_a_client_further_behind_is_told_it_missed_some() {
    // Sessions outlive the 30 days of retention the test skips.
    let app = TestApp::spawn_with(|s| s.session_ttl_hours = 24 * 60).await;
    let (doctor, patient, id) = pair(&app).await;
    let path = format!("/api/v1/conversations/{id}/messages");
    let mut probe = Live::try_connect(&app.base, Some(token(&doctor)), None, None)
        .await
        .expect("the live socket opens");
    let before_old = probe.next_of("ready").await["data"]["last_event_id"]
        .as_i64()
        .unwrap();
    drop(probe);
    for i in 0..3 {
        patient
            .post(&path, &json!({ "client_id": format!("old{i}"), "text": format!("old {i}") }))
            .await
            .assert_status(201);
    }
    app.advance_clock(jiff::SignedDuration::from_hours(24 * 31));
    patient
        .post(&path, &json!({ "client_id": "new", "text": "new" }))
        .await
        .assert_status(201);

    let pruned = app.app.prune_live_events().await.expect("pruning runs");
    // The doctor's appointment event and the three old messages at least.
    assert!(pruned >= 4, "{pruned}");
    assert_eq!(app.app.prune_live_events().await.unwrap(), 0, "idempotent");

    // Back from before the old messages: told it missed some, then sent what is left.
    let mut behind = Live::try_connect(&app.base, Some(token(&doctor)), Some(before_old), None)
        .await
        .expect("the live socket opens");
    let ready = behind.next_of("ready").await;
    assert_eq!(ready["data"]["missed"], true, "{ready}");
    let mut replayed = Vec::new();
    loop {
        let frame = behind.next().await;
        if frame["type"] == "ready" {
            break;
        }
        replayed.push(frame);
    }
    let texts: Vec<&str> = replayed
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["data"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["new"]);
    let newest = replayed.last().unwrap()["id"].as_i64().unwrap();
    drop(behind);

    // The latest event was kept, so numbering goes on: no id is reused. (Receipts
    // of the replayed message may follow it.)
    let (mut current, _) = Live::connect(&app.base, token(&doctor), Some(newest)).await;
    patient
        .post(&path, &json!({ "client_id": "after", "text": "after" }))
        .await
        .assert_status(201);
    let after = current.next_of("message").await["id"].as_i64().unwrap();
    assert!(after > newest, "{after} after {newest}");
    let mut up_to_date = Live::try_connect(&app.base, Some(token(&doctor)), Some(after), None)
        .await
        .expect("the live socket opens");
    assert_eq!(up_to_date.next_of("ready").await["data"]["missed"], false);
}
}

dual! {
#[tokio::test]
async fn signing_out_ends_the_live_sockets_the_session_opened_at_the_next_ping() {
    let app = TestApp::spawn_with(|s| s.live_ping_seconds = 1).await;
    let (doctor, patient, id) = pair(&app).await;
    let (mut patient_live, _) = Live::connect(&app.base, token(&patient), None).await;
    let (mut doctor_live, _) = Live::connect(&app.base, token(&doctor), None).await;
    patient
        .post_empty("/api/v1/auth/logout")
        .await
        .assert_status(204);
    let mut closed = false;
    while let Some(frame) = patient_live.next_within(Duration::from_secs(4)).await {
        if frame.is_null() {
            closed = true;
            break;
        }
    }
    assert!(closed, "the signed-out session's socket is closed");
    // Pings answered, session current: the doctor's socket stays.
    doctor_live.drain(Duration::from_millis(2500)).await;
    doctor_live.send(message(&id, "still-here", "Still here")).await;
    assert_eq!(doctor_live.next_of("ack").await["data"]["client_id"], "still-here");
}
}

/// A client that does not read its socket is dropped instead of queueing without
/// bound; the others carry on. (SQLite only: it is about the connection, not the
/// store.)
#[tokio::test]
async fn a_client_that_does_not_read_is_dropped() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = TestApp::spawn_with(|s| s.chat_messages_per_minute = 0).await;
    let (doctor, patient, id) = pair(&app).await;
    // A tiny receive window: the server's buffers fill after a few frames.
    let address = app.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let stream = socket.connect(address).await.unwrap();
    let mut request = crate::ws_client::live_url(&app.base, None)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {}", token(&doctor)).parse().unwrap(),
    );
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    let (socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("the handshake");
    let mut slow = Live { socket };
    let (mut patient_live, _) = Live::connect(&app.base, token(&patient), None).await;

    // More than the socket buffers and the queue hold, sent by 16 callers at once:
    // ~40 MB, as the kernel may let a receive buffer grow to 32 MiB
    // (`net.ipv4.tcp_rmem`) however small a window the client asked for.
    let text = "x".repeat(4000);
    let sent: i64 = 10_000;
    // Meanwhile the patient's own socket is read as frames come: a client that
    // reads gets every message and stays connected.
    let reader = tokio::spawn(async move {
        let mut seen: i64 = 0;
        while seen < sent {
            match patient_live.next_within(Duration::from_secs(30)).await {
                Some(Value::Null) | None => break,
                Some(frame) if frame["type"] == "message" => seen += 1,
                Some(_) => {}
            }
        }
        (patient_live, seen)
    });
    let mut senders = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let patient = patient.clone();
        let (id, text) = (id.clone(), text.clone());
        senders.spawn(async move {
            for i in (worker..sent).step_by(16) {
                patient
                    .post(
                        &format!("/api/v1/conversations/{id}/messages"),
                        &json!({ "client_id": format!("m{i}"), "text": text }),
                    )
                    .await
                    .assert_status(201);
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.expect("a sender finished");
    }
    // The slow client now reads: what was in flight, then the end of the connection.
    let mut received = 0;
    let ended = loop {
        match slow.next_within(Duration::from_secs(15)).await {
            Some(Value::Null) => break true,
            Some(frame) => {
                if frame["type"] == "message" {
                    received += 1;
                }
            }
            None => break false,
        }
    };
    assert!(
        ended,
        "the slow client was dropped (it read {received} messages)"
    );
    assert!(
        received < sent,
        "it did not get everything live: {received}"
    );
    // The patient's own socket, read all along, is fine and up to date.
    let (mut patient_live, seen) = reader.await.expect("the reader finished");
    assert_eq!(seen, sent, "a client that reads gets every message");
    patient_live.send(message(&id, "last", "still here")).await;
    assert_eq!(patient_live.next_of("ack").await["data"]["seq"], sent + 1);
    // Reconnecting with its last id, the dropped client catches up from the stream.
    let (_, replayed) = Live::connect(&app.base, token(&doctor), Some(0)).await;
    let messages = replayed.iter().filter(|f| f["type"] == "message").count();
    assert_eq!(messages as i64, sent + 1);
}

/// A small but real PDF.
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";

async fn uploaded(user: &User, patient: &User, name: &str) -> String {
    let res = user
        .upload(
            &format!("/api/v1/patients/{}/attachments", patient.id),
            name,
            PDF,
        )
        .await;
    res.assert_status(201);
    res.str("id").to_owned()
}

dual! {
#[tokio::test]
async fn a_message_carries_the_senders_upload_and_the_recipient_downloads_it() {
    let app = TestApp::spawn().await;
    let (doctor, patient, id) = pair(&app).await;
    let other = app.register_patient("Otto Other").await;
    let messages = format!("/api/v1/conversations/{id}/messages");

    let report = uploaded(&patient, &patient, "blood test.pdf").await;
    let sent = patient
        .post(&messages, &json!({ "client_id": "f1", "text": "", "attachment_id": report }))
        .await;
    sent.assert_status(201);
    assert_eq!(sent.body["text"], "");
    assert_eq!(sent.body["attachment"]["id"], report.as_str());
    assert_eq!(sent.body["attachment"]["file_name"], "blood test.pdf");
    assert_eq!(sent.body["attachment"]["content_type"], "application/pdf");
    assert_eq!(sent.body["attachment"]["size"], PDF.len());
    // Resending is the same message, attachment included.
    let again = patient
        .post(&messages, &json!({ "client_id": "f1", "text": "", "attachment_id": report }))
        .await;
    again.assert_status(200);
    assert_eq!(again.body["attachment"]["id"], report.as_str());

    // The doctor sees it (REST and the replayed live frame) and downloads it.
    let listed = doctor.get(&messages).await;
    listed.assert_status(200);
    assert_eq!(listed.items()[0]["attachment"]["file_name"], "blood test.pdf");
    let (_live, replayed) = Live::connect(&app.base, token(&doctor), Some(0)).await;
    let frame = replayed
        .iter()
        .find(|f| f["type"] == "message")
        .unwrap_or_else(|| panic!("no message replayed: {replayed:?}"));
    assert_eq!(frame["data"]["attachment"]["id"], report.as_str());
    let (status, _, bytes) = doctor.download(&format!("/api/v1/attachments/{report}")).await;
    assert_eq!(status.as_u16(), 200);
    assert_eq!(bytes, PDF);

    // The doctor sends what they uploaded to the patient's file, with a note.
    let scan = uploaded(&doctor, &patient, "ecg.pdf").await;
    doctor
        .post(&messages, &json!({ "client_id": "d1", "text": "Your ECG", "attachment_id": scan }))
        .await
        .assert_status(201);

    // Anything else is refused on attachment_id, and nothing is stored: someone
    // else's upload (the doctor's, for the patient), another patient's file, a
    // deleted file, an unknown id.
    let others = uploaded(&other, &other, "not yours.pdf").await;
    let deleted = uploaded(&patient, &patient, "gone.pdf").await;
    patient
        .delete(&format!("/api/v1/attachments/{deleted}"))
        .await
        .assert_status(204);
    for (n, refused) in [scan.as_str(), others.as_str(), deleted.as_str(), "att_unknown"]
        .into_iter()
        .enumerate()
    {
        patient
            .post(
                &messages,
                &json!({ "client_id": format!("x{n}"), "text": "see attached", "attachment_id": refused }),
            )
            .await
            .assert_invalid(&["attachment_id"]);
    }
    // Without an attachment the text is required as before.
    patient
        .post(&messages, &json!({ "client_id": "x9", "text": " " }))
        .await
        .assert_invalid(&["text"]);
    let all = patient.get(&messages).await;
    assert_eq!(all.items().len(), 2, "{:#}", all.body);
}
}
