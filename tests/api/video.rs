//! Video visits (docs/VIDEO.md): the doctor's visit modes, booking a mode, the
//! meeting room of a confirmed video visit, who sees its link and when, and where
//! the link travels (the confirmation email and its invitation) and where it never
//! does (texts, webhooks, in-app entries, the delivery log).

use std::collections::BTreeMap;
use std::time::Duration;

use carebook::notify::ical;
use carebook::testing::http_peer::HttpPeer;
use carebook::testing::smtp::{ReceivedMessage, SmtpServer};
use serde_json::{Value, json};

use crate::pages::Pages;
use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);
const TEMPLATE: &str = "https://video.clinic.test/rooms/{room}?lang=en";
/// Tuesday 09:00 Berlin minus 15 minutes, and the instants around it.
const TUE_0844: &str = "2026-03-03T07:44:59Z";
const TUE_0845: &str = "2026-03-03T07:45:00Z";
const TUE_0850: &str = "2026-03-03T07:50:00Z";
const TUE_0930_END: &str = "2026-03-03T08:30:00Z";
const TUE_0931: &str = "2026-03-03T08:31:00Z";

/// A server with the test template, and sessions that outlive the two days the
/// tests move the clock through.
async fn video_app(configure: impl FnOnce(&mut carebook::config::Settings)) -> TestApp {
    TestApp::spawn_with(|s| {
        s.video_url_template = TEMPLATE.into();
        s.session_ttl_hours = 24 * 7;
        configure(s);
    })
    .await
}

/// A doctor (default schedule) who offers `modes`.
async fn doctor_offering(app: &TestApp, name: &str, modes: Value) -> User {
    let doctor = app.create_doctor(name).await;
    let res = doctor
        .patch(
            &format!("/api/v1/doctors/{}", doctor.id),
            &json!({ "visit_modes": modes }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["visit_modes"], modes);
    doctor
}

async fn book_mode(user: &User, doctor: &User, start: &str, mode: &str) -> Value {
    let res = user
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": start, "mode": mode }),
        )
        .await;
    res.assert_status(201);
    res.body.clone()
}

/// The room name at the end of a link made from [`TEMPLATE`]; checks its shape:
/// `carebook-` and 40 lower-case hex digits (160 random bits).
#[track_caller]
fn room_of(url: &str) -> String {
    let room = url
        .strip_prefix("https://video.clinic.test/rooms/")
        .and_then(|rest| rest.strip_suffix("?lang=en"))
        .unwrap_or_else(|| panic!("not made from the template: {url}"));
    let digits = room.strip_prefix("carebook-").expect("carebook- prefix");
    assert_eq!(digits.len(), 40, "{room}");
    assert!(
        digits
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{room}"
    );
    room.to_owned()
}

/// `video_url` of an appointment as `user` reads it (`None` when absent).
async fn link_seen_by(user: &User, id: &str) -> Option<String> {
    let res = user.appointment(id).await;
    res.assert_status(200);
    res.body["video_url"].as_str().map(str::to_owned)
}

dual! {
    #[tokio::test]
    async fn a_confirmed_video_visit_has_a_room_its_two_people_see_in_the_window() {
        let app = video_app(|_| {}).await;
        let doctor = doctor_offering(&app, "Vera Video", json!(["in_person", "video"])).await;
        let public = app.anon().get(&format!("/api/v1/doctors/{}", doctor.id)).await;
        assert_eq!(public.body["visit_modes"], json!(["in_person", "video"]));
        let patient = app.register_patient("Paula Patient").await;
        let desk = app.create_receptionist().await;
        let admin = app.admin().await;
        let other_patient = app.register_patient("Otto Other").await;
        let other_doctor = app.create_doctor("Olga Other").await;

        // Requested: a video visit, but no meeting yet.
        let booked = book_mode(&patient, &doctor, TUE_0900, "video").await;
        let id = booked["id"].as_str().unwrap().to_owned();
        assert_eq!(booked["mode"], "video");
        assert_eq!(booked["status"], "requested");
        assert!(booked.get("video_url").is_none() && booked.get("video_link_opens_at").is_none());

        // Confirmed: the patient and the doctor learn when the link opens; it is not
        // shown yet.
        let confirmed = doctor.act(&id, "confirm").await;
        confirmed.assert_status(200);
        assert_eq!(confirmed.body["video_link_opens_at"], TUE_0845);
        assert!(confirmed.body.get("video_url").is_none());
        assert_eq!(patient.appointment(&id).await.body["video_link_opens_at"], TUE_0845);
        assert_eq!(link_seen_by(&patient, &id).await, None);

        app.set_clock(TUE_0844);
        assert_eq!(link_seen_by(&patient, &id).await, None, "one second early");
        app.set_clock(TUE_0845);
        let url = link_seen_by(&patient, &id).await.expect("open at start - 15 min");
        let room = room_of(&url);
        assert_eq!(link_seen_by(&doctor, &id).await.as_deref(), Some(url.as_str()));

        // Lists show it to the two as well, never to staff.
        let mine = patient.get("/api/v1/appointments").await;
        assert_eq!(mine.items()[0]["video_url"], url.as_str());
        for staff in [&desk, &admin] {
            let res = staff.appointment(&id).await;
            res.assert_status(200);
            assert_eq!(res.body["mode"], "video");
            assert!(res.body.get("video_url").is_none(), "{}", res.body);
            assert!(res.body.get("video_link_opens_at").is_none(), "{}", res.body);
            let list = staff.get("/api/v1/appointments").await;
            assert!(!list.body.to_string().contains(&room), "{}", list.body);
        }
        // Strangers cannot see the appointment at all.
        for stranger in [&other_patient, &other_doctor] {
            stranger.appointment(&id).await.assert_problem(404, "not-found");
        }

        // Checked in: still there; after the end: gone, but the patient still
        // learns when it opened.
        app.set_clock(TUE_0850);
        desk.act(&id, "check-in").await.assert_status(200);
        assert_eq!(link_seen_by(&patient, &id).await.as_deref(), Some(url.as_str()));
        app.set_clock(TUE_0930_END);
        assert_eq!(link_seen_by(&doctor, &id).await.as_deref(), Some(url.as_str()));
        app.set_clock(TUE_0931);
        assert_eq!(link_seen_by(&patient, &id).await, None);
        assert_eq!(patient.appointment(&id).await.body["video_link_opens_at"], TUE_0845);
        // Completed: over, no link.
        doctor.act(&id, "complete").await.assert_status(200);
        let done = patient.appointment(&id).await;
        assert!(done.body.get("video_url").is_none() && done.body.get("video_link_opens_at").is_none());
    }
}

dual! {
    #[tokio::test]
    async fn each_visit_has_its_own_room_kept_across_a_reschedule_and_gone_when_cancelled() {
        let app = video_app(|_| {}).await;
        let doctor = doctor_offering(&app, "Vera Video", json!(["in_person", "video"])).await;
        let first = app.register_patient("Fiona First").await;
        let second = app.register_patient("Sam Second").await;
        let third = app.register_patient("Ina InPerson").await;

        let a = book_mode(&first, &doctor, TUE_0900, "video").await["id"].as_str().unwrap().to_owned();
        let b = book_mode(&second, &doctor, TUE_0930, "video").await["id"].as_str().unwrap().to_owned();
        let c = app.booked(&third, &doctor.id, TUE_1000).await;
        for id in [&a, &b, &c] {
            doctor.act(id, "confirm").await.assert_status(200);
        }
        let in_person = third.appointment(&c).await;
        assert_eq!(in_person.body["mode"], "in_person");
        assert!(in_person.body.get("video_link_opens_at").is_none());

        app.set_clock(TUE_0850);
        let room_a = room_of(&link_seen_by(&first, &a).await.unwrap());
        app.set_clock("2026-03-03T08:20:00Z");
        let room_b = room_of(&link_seen_by(&second, &b).await.unwrap());
        assert_ne!(room_a, room_b, "two visits, two rooms");
        app.set_clock("2026-03-03T08:50:00Z");
        assert_eq!(link_seen_by(&third, &c).await, None, "in person: no link ever");

        // The doctor moves the first visit to Wednesday: same mode, same room.
        app.set_clock(NOW);
        let moved = doctor
            .post(&format!("/api/v1/appointments/{a}/reschedule"), &json!({ "start": WED_0900 }))
            .await;
        moved.assert_status(200);
        assert_eq!(moved.body["mode"], "video");
        assert_eq!(moved.body["status"], "confirmed");
        assert_eq!(moved.body["video_link_opens_at"], "2026-03-04T07:45:00Z");
        app.set_clock("2026-03-04T07:50:00Z");
        assert_eq!(room_of(&link_seen_by(&first, &a).await.unwrap()), room_a);

        // Cancelled: no link, not even inside the window.
        app.set_clock(NOW);
        doctor.act(&b, "cancel").await.assert_status(200);
        app.set_clock("2026-03-03T08:20:00Z");
        let cancelled = second.appointment(&b).await;
        assert!(cancelled.body.get("video_url").is_none());
        assert!(cancelled.body.get("video_link_opens_at").is_none());
    }
}

dual! {
    #[tokio::test]
    async fn auto_confirmed_video_visits_get_their_room_at_booking() {
        let app = video_app(|_| {}).await;
        let doctor = doctor_offering(&app, "Vera Video", json!(["video"])).await;
        let mut schedule = default_schedule();
        schedule["auto_confirm"] = json!(true);
        app.set_schedule(&doctor, schedule).await;
        let patient = app.register_patient("Paula Patient").await;

        let booked = book_mode(&patient, &doctor, TUE_0900, "video").await;
        assert_eq!(booked["status"], "confirmed");
        assert_eq!(booked["video_link_opens_at"], TUE_0845);
        let id = booked["id"].as_str().unwrap();
        app.set_clock(TUE_0850);
        room_of(&link_seen_by(&patient, id).await.unwrap());
    }
}

dual! {
    #[tokio::test]
    async fn modes_are_checked_and_a_refusal_changes_nothing() {
        let app = video_app(|_| {}).await;
        let in_person = app.create_doctor("Ivo InPerson").await;
        let fresh = app.anon().get(&format!("/api/v1/doctors/{}", in_person.id)).await;
        assert_eq!(fresh.body["visit_modes"], json!(["in_person"]), "the default");
        let video_only = doctor_offering(&app, "Vic VideoOnly", json!(["video"])).await;
        let patient = app.register_patient("Paula Patient").await;

        let book = |doctor: &User, mode: Value| {
            let body = json!({ "doctor_id": doctor.id, "start": TUE_0900, "mode": mode });
            let patient = patient.clone();
            async move { patient.post("/api/v1/appointments", &body).await }
        };
        book(&in_person, json!("video")).await.assert_invalid(&["mode"]);
        book(&in_person, json!("phone")).await.assert_invalid(&["mode"]);
        book(&video_only, json!("in_person")).await.assert_invalid(&["mode"]);
        // No mode means in person, which this doctor does not offer.
        patient
            .post("/api/v1/appointments", &json!({ "doctor_id": video_only.id, "start": TUE_0900 }))
            .await
            .assert_invalid(&["mode"]);
        assert!(patient.get("/api/v1/appointments").await.items().is_empty(), "nothing booked");
        // A mode that is not a string is a malformed body.
        let wrong_type = book(&in_person, json!(3)).await;
        assert!(
            matches!(wrong_type.status.as_u16(), 400 | 422),
            "{}",
            wrong_type.status
        );

        let path = format!("/api/v1/doctors/{}", video_only.id);
        video_only.patch(&path, &json!({ "visit_modes": [] })).await.assert_invalid(&["visit_modes"]);
        video_only
            .patch(&path, &json!({ "visit_modes": ["in_person", "zoom"] }))
            .await
            .assert_invalid(&["visit_modes[1]"]);
        assert_eq!(app.anon().get(&path).await.body["visit_modes"], json!(["video"]), "unchanged");
        // Repeats collapse, the order is fixed.
        let both = video_only.patch(&path, &json!({ "visit_modes": ["video", "in_person", "video"] })).await;
        both.assert_status(200);
        assert_eq!(both.body["visit_modes"], json!(["in_person", "video"]));
        // Only the doctor (or an admin) edits them.
        patient.patch(&path, &json!({ "visit_modes": ["video"] })).await.assert_status(403);
    }
}

/// Messages by envelope recipient.
fn by_recipient(messages: &[ReceivedMessage]) -> BTreeMap<String, Vec<ReceivedMessage>> {
    let mut map: BTreeMap<String, Vec<ReceivedMessage>> = BTreeMap::new();
    for message in messages {
        for rcpt in &message.rcpt_to {
            map.entry(rcpt.clone()).or_default().push(message.clone());
        }
    }
    map
}

/// The properties of a message's `text/calendar` part.
fn calendar_of(message: &ReceivedMessage) -> BTreeMap<String, String> {
    let part = message.part("text/calendar").expect("an invitation");
    ical::parse(&part.body)
        .expect("the calendar parses")
        .into_iter()
        .map(|(name, value)| (name.split(';').next().unwrap_or("").to_owned(), value))
        .filter(|(name, _)| name != "BEGIN" && name != "END")
        .collect()
}

dual! {
    #[tokio::test]
    async fn the_link_travels_by_email_and_invitation_only() {
        let smtp = SmtpServer::start().await;
        let twilio = HttpPeer::start().await;
        twilio.respond_with(201, r#"{"sid":"SM1"}"#);
        let hooks = HttpPeer::start().await;
        hooks.respond_with(200, "ok");
        let (smtp_port, twilio_url, hook_url) = (smtp.port(), twilio.url(), format!("{}/hook", hooks.url()));
        let app = video_app(|s| {
            s.smtp.host = Some("127.0.0.1".into());
            s.smtp.port = Some(smtp_port);
            s.smtp.tls = carebook::config::SmtpTls::None;
            s.smtp.from = "Clinic <clinic@example.test>".into();
            s.smtp.timeout_seconds = 5;
            s.public_url = "https://clinic.example.test".into();
            s.twilio.account_sid = Some("AC0123".into());
            s.twilio.auth_token = Some("twilio-token".into());
            s.twilio.from = Some("+15550001111".into());
            s.twilio.base_url = twilio_url;
            s.webhook.urls = vec![hook_url];
            s.webhook.secret = Some("hook-secret".into());
        })
        .await;
        let doctor = doctor_offering(&app, "Vera Video", json!(["in_person", "video"])).await;
        let email = app.email_for("Tina Text");
        app.register(json!({ "email": email, "password": PASSWORD, "name": "Tina Text", "phone": "+49 151 2345 6789" }))
            .await
            .assert_status(201);
        let patient = app.log_in(&email, PASSWORD).await;
        let desk = app.create_receptionist().await;
        app.deliver().await;
        let welcomes = smtp.messages().len();

        let booked = book_mode(&patient, &doctor, TUE_0900, "video").await;
        let id = booked["id"].as_str().unwrap().to_owned();
        // The front desk confirms: the patient and the doctor are both told.
        let confirmed = desk.act(&id, "confirm").await;
        confirmed.assert_status(200);
        assert!(confirmed.body.get("video_url").is_none());
        app.deliver().await;
        let texts = twilio.wait_for(1, WAIT).await;

        app.set_clock(TUE_0850);
        let url = link_seen_by(&patient, &id).await.unwrap();
        let room = room_of(&url);

        // The request (to the doctor) and the two confirmations.
        let messages = smtp.wait_for(welcomes + 3, WAIT).await;
        assert_eq!(messages.len(), welcomes + 3);
        let mail = by_recipient(&messages[welcomes..]);
        for address in [&patient.email, &doctor.email] {
            let confirmation = mail[address]
                .iter()
                .find(|m| m.part("text/calendar").is_some())
                .unwrap_or_else(|| panic!("{address} gets the confirmation with an invitation"));
            let text = confirmation.part("text/plain").unwrap().body;
            let html = confirmation.part("text/html").unwrap().body;
            assert!(text.contains(&url), "{address}: {text}");
            assert!(html.contains(&url) && html.contains("join it here"), "{address}: {html}");
            let calendar = calendar_of(confirmation);
            assert_eq!(calendar["LOCATION"], url);
            assert_eq!(calendar["URL"], url);
            assert_eq!(calendar["METHOD"], "REQUEST");
        }
        // The request that went to the doctor before the confirmation has no room.
        let request = mail[&doctor.email].iter().find(|m| m.part("text/calendar").is_none()).unwrap();
        assert!(!request.data.contains(&room));

        // Never in a text, a webhook, an in-app entry or the delivery log.
        assert!(!texts.is_empty());
        for text in &texts {
            let body = text.form_field("Body").unwrap();
            assert!(!body.contains(&room) && !body.contains("video.clinic.test"), "{body}");
        }
        let calls = hooks.wait_for(1, WAIT).await;
        for call in &calls {
            assert!(!String::from_utf8_lossy(&call.body).contains(&room));
        }
        for user in [&patient, &doctor] {
            let inbox = user.get("/api/v1/notifications").await;
            inbox.assert_status(200);
            assert!(!inbox.body.to_string().contains(&room), "{}", inbox.body);
        }
        let log = app.admin().await.get("/api/v1/notifications/deliveries?limit=100").await;
        log.assert_status(200);
        assert!(!log.body.to_string().contains(&room), "{}", log.body);
        let events = patient.get("/api/v1/me/export").await;
        assert!(!events.body.to_string().contains(&room));
    }
}

async fn signed_in(app: &TestApp, user: &User) -> Pages {
    let pages = app.pages();
    pages.sign_in_as(user).await;
    pages
}

dual! {
    #[tokio::test]
    async fn pages_book_a_video_visit_and_show_the_join_link_only_in_its_window() {
        let app = video_app(|_| {}).await;
        let doctor = app.create_doctor("Vera Video").await;
        let patient = app.register_patient("Paula Patient").await;
        let desk = app.create_receptionist().await;

        // The doctor offers video on the profile form; an empty set is refused.
        let doctor_pages = signed_in(&app, &doctor).await;
        doctor_pages
            .get("/doctor/profile")
            .await
            .assert_status(200)
            .assert_contains("How you see patients")
            .assert_contains(r#"value="in_person" checked"#);
        doctor_pages
            .post("/doctor/profile", &[("visit_modes_shown", "1")])
            .await
            .assert_status(422)
            .assert_contains("must offer at least one");
        doctor_pages.get("/doctor/profile").await;
        doctor_pages
            .post(
                "/doctor/profile",
                &[("visit_modes_shown", "1"), ("visit_mode", "in_person"), ("visit_mode", "video")],
            )
            .await
            .assert_redirect("/doctor/profile");
        let public = app.pages().get(&format!("/doctors/{}", doctor.id)).await;
        public.assert_status(200).assert_contains("In person, Video visits");

        // The patient chooses video on the confirm page.
        let pages = signed_in(&app, &patient).await;
        pages
            .get(&format!("/book/{}/confirm?start={TUE_0900}", doctor.id))
            .await
            .assert_status(200)
            .assert_contains("How would you like to see the doctor?")
            .assert_contains(r#"type="radio" name="mode" value="video""#);
        let booked = pages
            .post(&format!("/book/{}", doctor.id), &[("start", TUE_0900), ("mode", "video")])
            .await;
        let id = booked
            .location()
            .strip_prefix("/appointments/")
            .expect("the appointment page")
            .to_owned();
        doctor.act(&id, "confirm").await.assert_status(200);

        let page = format!("/appointments/{id}");
        pages
            .get(&page)
            .await
            .assert_status(200)
            .assert_contains("Video visit")
            .assert_contains("The link opens 15 minutes before the start")
            .assert_lacks("Join video visit");
        // The patient's visits, the desk's day and the doctor's day mark it.
        pages
            .get("/visits")
            .await
            .assert_status(200)
            .assert_contains("visit-mode-video");
        let desk_pages = signed_in(&app, &desk).await;
        desk_pages
            .get("/desk?date=2026-03-03")
            .await
            .assert_status(200)
            .assert_contains("visit-mode-video");
        doctor_pages
            .get("/doctor/today?date=2026-03-03")
            .await
            .assert_status(200)
            .assert_contains("visit-mode-video");

        app.set_clock(TUE_0850);
        let open = pages.get(&page).await;
        open.assert_status(200).assert_contains("Join video visit");
        let url = link_seen_by(&patient, &id).await.unwrap();
        let room = room_of(&url);
        assert!(open.body.contains(&room));
        assert!(open.body.contains(r#"target="_blank" rel="noopener noreferrer""#), "{}", open.body);
        // The front desk sees the visit, never the link.
        let desk_page = desk_pages.get(&page).await;
        desk_page.assert_status(200).assert_contains("Video visit").assert_lacks("Join video visit");
        assert!(!desk_page.body.contains(&room));

        app.set_clock(TUE_0931);
        pages.get(&page).await.assert_lacks("Join video visit").assert_contains("has closed");
    }
}

dual! {
    #[tokio::test]
    async fn the_openapi_document_describes_the_new_fields() {
        let app = TestApp::spawn().await;
        let doc = app.anon().get("/api/openapi.json").await;
        doc.assert_status(200);
        let schemas = &doc.body["components"]["schemas"];
        for (schema, field) in [
            ("AppointmentResponse", "mode"),
            ("AppointmentResponse", "video_url"),
            ("AppointmentResponse", "video_link_opens_at"),
            ("BookRequest", "mode"),
            ("DoctorResponse", "visit_modes"),
            ("DoctorUpdate", "visit_modes"),
        ] {
            let property = &schemas[schema]["properties"][field];
            assert!(property.is_object(), "{schema}.{field}: {}", schemas[schema]);
        }
        let required = schemas["AppointmentResponse"]["required"].as_array().unwrap();
        assert!(required.contains(&json!("mode")));
        assert!(!required.contains(&json!("video_url")), "present only to some viewers");
    }
}

dual! {
    #[tokio::test]
    async fn a_video_only_doctor_books_video_and_a_forged_mode_is_refused_on_the_page() {
        let app = video_app(|_| {}).await;
        let doctor = doctor_offering(&app, "Vic VideoOnly", json!(["video"])).await;
        let patient = app.register_patient("Paula Patient").await;
        let pages = signed_in(&app, &patient).await;
        pages
            .get(&format!("/book/{}/confirm?start={TUE_0900}", doctor.id))
            .await
            .assert_status(200)
            .assert_contains("<dt>Visit</dt><dd>Video visit</dd>")
            .assert_contains(r#"<input type="hidden" name="mode" value="video">"#)
            .assert_lacks("How would you like to see the doctor?");
        pages
            .post(&format!("/book/{}", doctor.id), &[("start", TUE_0900), ("mode", "in_person")])
            .await
            .assert_status(422)
            .assert_contains("this doctor sees patients by video only");
        assert!(patient.get("/api/v1/appointments").await.items().is_empty());
        let booked = pages
            .post(&format!("/book/{}", doctor.id), &[("start", TUE_0900), ("mode", "video")])
            .await;
        let id = booked.location().strip_prefix("/appointments/").unwrap().to_owned();
        assert_eq!(patient.appointment(&id).await.body["mode"], "video");
    }
}
