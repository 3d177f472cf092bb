//! Notifications: who is told what, over a real SMTP conversation and local HTTP
//! peers; reminders across reschedule, cancel and downtime with the test clock;
//! retries, dead deliveries and the admin's retry; the in-app list and preferences.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use carebook::notify::ical;
use carebook::testing::http_peer::HttpPeer;
use carebook::testing::smtp::{ReceivedMessage, SmtpServer};
use jiff::SignedDuration;
use serde_json::{Value, json};

use crate::support::*;

const WAIT: Duration = Duration::from_secs(10);

/// A server whose email goes to `smtp` (plain, with a login).
async fn with_smtp(smtp: &SmtpServer) -> TestApp {
    smtp.require_auth("carebook", "mail-secret");
    let port = smtp.port();
    TestApp::spawn_with(|settings| {
        settings.smtp.host = Some("127.0.0.1".into());
        settings.smtp.port = Some(port);
        settings.smtp.tls = carebook::config::SmtpTls::None;
        settings.smtp.username = Some("carebook".into());
        settings.smtp.password = Some("mail-secret".into());
        settings.smtp.from = "Clinic <clinic@example.test>".into();
        settings.smtp.timeout_seconds = 5;
        settings.public_url = "https://clinic.example.test".into();
    })
    .await
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
    let part = message
        .part("text/calendar")
        .expect("the message carries a calendar");
    ical::parse(&part.body)
        .expect("the calendar parses")
        .into_iter()
        .map(|(name, value)| (name.split(';').next().unwrap_or("").to_owned(), value))
        .filter(|(name, _)| name != "BEGIN" && name != "END")
        .collect()
}

/// A patient registered with the mobile number +49 151 2345 6789, logged in.
async fn patient_with_phone(app: &TestApp, name: &str) -> User {
    let email = app.email_for(name);
    app.register(
        json!({ "email": email, "password": PASSWORD, "name": name, "phone": "+49 151 2345 6789" }),
    )
    .await
    .assert_status(201);
    app.log_in(&email, PASSWORD).await
}

async fn deliveries(app: &TestApp, query: &str) -> Vec<Value> {
    let res = app
        .admin()
        .await
        .get(&format!(
            "/api/v1/notifications/deliveries?limit=100{query}"
        ))
        .await;
    res.assert_status(200);
    res.items().clone()
}

fn statuses(items: &[Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for item in items {
        *counts
            .entry(format!(
                "{}/{}/{}",
                item["kind"].as_str().unwrap(),
                item["channel"].as_str().unwrap(),
                item["status"].as_str().unwrap()
            ))
            .or_insert(0) += 1;
    }
    counts
}

dual! {
    #[tokio::test]
    async fn each_change_tells_the_right_people_with_calendar_parts() {
        let smtp = SmtpServer::start().await;
        let app = with_smtp(&smtp).await;
        let doctor = app.create_doctor("Greta Green").await;
        let patient = app.register_patient("Paul Patient").await;
        app.deliver().await;
        let welcomed = smtp.wait_for(2, WAIT).await;
        assert_eq!(welcomed.len(), 2, "the doctor and the patient are welcomed");
        for message in &welcomed {
            assert_eq!(
                message.auth,
                Some(("carebook".to_owned(), "mail-secret".to_owned()))
            );
            assert_eq!(message.mail_from, "clinic@example.test");
        }

        let booked = patient
            .post(
                "/api/v1/appointments",
                &json!({ "doctor_id": doctor.id, "start": TUE_0900, "reason": "a very private complaint" }),
            )
            .await;
        booked.assert_status(201);
        let id = booked.str("id").to_owned();
        app.deliver().await;
        let request = smtp.wait_for(3, WAIT).await;
        assert_eq!(request.len(), 3);
        let to_doctor = &request[2];
        assert_eq!(to_doctor.rcpt_to, vec![doctor.email.clone()]);
        assert!(to_doctor.header("Subject").unwrap().contains("Paul Patient"));
        assert!(to_doctor.part("text/calendar").is_none(), "a request is no invitation");

        doctor.act(&id, "confirm").await.assert_status(200);
        patient
            .post(
                &format!("/api/v1/appointments/{id}/reschedule"),
                &json!({ "start": TUE_1000 }),
            )
            .await
            .assert_status(200);
        patient.act(&id, "cancel").await.assert_status(200);
        app.deliver().await;
        let all = smtp.wait_for(8, WAIT).await;
        assert_eq!(all.len(), 8, "confirm: patient; reschedule: both; cancel: both");
        for message in &all {
            assert!(!message.data.contains("private complaint"), "no clinical detail in email");
            let id_header = message.header("Message-ID").expect("a Message-ID");
            assert!(id_header.ends_with("@clinic.example.test>"), "{id_header}");
        }
        let mail = by_recipient(&all[3..]);
        let mut to_patient = mail[&patient.email].clone();
        let to_doctor = &mail[&doctor.email];
        assert_eq!(to_patient.len(), 3, "confirmed, rescheduled, cancelled");
        assert_eq!(to_doctor.len(), 2, "the doctor made the confirmation themself");
        // Sent in parallel, so in any order: SEQUENCE orders them.
        let sequence = |c: &BTreeMap<String, String>| c["SEQUENCE"].parse::<u32>().unwrap();
        to_patient.sort_by_key(|m| sequence(&calendar_of(m)));

        let confirmed = calendar_of(&to_patient[0]);
        let rescheduled = calendar_of(&to_patient[1]);
        let cancelled = calendar_of(&to_patient[2]);
        assert_eq!(confirmed["METHOD"], "REQUEST");
        assert_eq!(rescheduled["METHOD"], "REQUEST");
        assert_eq!(cancelled["METHOD"], "CANCEL");
        let uid = format!("{id}@clinic.example.test");
        for calendar in [&confirmed, &rescheduled, &cancelled] {
            assert_eq!(calendar["UID"], uid, "one UID per appointment");
        }
        assert!(sequence(&confirmed) < sequence(&rescheduled));
        assert!(sequence(&rescheduled) < sequence(&cancelled));
        assert_eq!(confirmed["DTSTART"], "20260303T080000Z");
        assert_eq!(rescheduled["DTSTART"], "20260303T090000Z");
        let text = to_patient[1].part("text/plain").expect("a text part").body;
        assert!(text.contains("Greta Green"), "{text}");
        assert!(text.contains("10:00"), "the new local time: {text}");
        assert!(to_patient[1].part("text/html").is_some());

        // In-app: the doctor's list, newest first, all unread.
        let list = doctor.get("/api/v1/notifications").await;
        list.assert_status(200);
        let kinds: Vec<&str> = list.items().iter().map(|n| n["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["appointment_cancelled", "appointment_rescheduled", "appointment_requested", "welcome"]
        );
        assert_eq!(list.body["unread_count"], 4);
        assert!(list.items()[0]["link"].as_str().unwrap().ends_with(&format!("/appointments/{id}")));
    }
}

dual! {
    #[tokio::test]
    async fn reminders_are_planned_before_they_fall_due_and_follow_moves_cancels_and_downtime() {
        // Sessions that outlast the days the clock jumps over.
        let app = TestApp::spawn_with(|s| s.session_ttl_hours = 24 * 30).await;
        let doctor = app.create_doctor("Rita Remind").await;
        let patient = app.register_patient("Olaf Often").await;
        let reminders = |log: &[Value]| -> BTreeMap<(String, String), String> {
            log.iter()
                .filter(|d| d["kind"] == "reminder")
                .map(|d| {
                    let key = (d["channel"].as_str().unwrap().to_owned(), d["due_at"].as_str().unwrap().to_owned());
                    (key, d["status"].as_str().unwrap().to_owned())
                })
                .collect()
        };
        let entry = |channel: &str, due: &str| (channel.to_owned(), due.to_owned());

        // Tuesday 09:00 Berlin (08:00Z): reminders due Monday 08:00Z and Tuesday
        // 07:00Z, two hours and a day away: the booking writes neither, and the
        // planner writes none while neither is within a quarter of an hour.
        let id = app.booked(&patient, &doctor.id, TUE_0900).await;
        app.deliver().await;
        assert!(reminders(&deliveries(&app, &format!("&appointment_id={id}")).await).is_empty());

        // Ten minutes before the first falls due, it waits in the outbox.
        app.set_clock("2026-03-02T07:50:00Z");
        app.deliver().await;
        let planned = reminders(&deliveries(&app, &format!("&appointment_id={id}")).await);
        let expected: BTreeMap<_, _> = [
            (entry("email", "2026-03-02T08:00:00Z"), "scheduled".to_owned()),
            (entry("in_app", "2026-03-02T08:00:00Z"), "scheduled".to_owned()),
        ]
        .into_iter()
        .collect();
        assert_eq!(planned, expected);

        // Moved to Wednesday 09:00: the planned reminders are cancelled; the new ones
        // are a day away, so none is written yet.
        patient
            .post(&format!("/api/v1/appointments/{id}/reschedule"), &json!({ "start": WED_0900 }))
            .await
            .assert_status(200);
        let counts = statuses(&deliveries(&app, &format!("&appointment_id={id}")).await);
        assert_eq!(counts["reminder/email/cancelled"], 1);
        assert_eq!(counts["reminder/in_app/cancelled"], 1);
        assert_eq!(counts.get("reminder/email/scheduled"), None);

        // Down from Monday until Wednesday 07:30Z (08:30 Berlin): both reminders
        // fell due meanwhile; the appointment is still ahead, so the later one goes,
        // late, and the earlier one, replaced by it, is never written.
        app.set_clock("2026-03-04T07:30:00Z");
        app.deliver().await;
        let log = reminders(&deliveries(&app, &format!("&appointment_id={id}")).await);
        assert_eq!(log[&entry("email", "2026-03-04T07:00:00Z")], "sent");
        assert_eq!(log[&entry("in_app", "2026-03-04T07:00:00Z")], "sent");
        assert_eq!(log.get(&entry("email", "2026-03-03T08:00:00Z")), None, "{log:?}");
        let eml: Vec<_> = std::fs::read_dir(app.mail_dir.path()).unwrap().collect();
        assert!(!eml.is_empty(), "without SMTP, email lands in the mail folder");
        let inbox = patient.get("/api/v1/notifications").await;
        assert_eq!(inbox.items()[0]["kind"], "reminder");

        // A reminder that falls due only after the start is never sent.
        app.set_clock(NOW);
        let late = app.booked(&patient, &doctor.id, "2026-03-05T08:00:00Z").await;
        app.set_clock("2026-03-05T08:30:00Z");
        app.deliver().await;
        assert!(reminders(&deliveries(&app, &format!("&appointment_id={late}")).await).is_empty());

        // A cancelled appointment gets none; one booked beside it does.
        app.set_clock(NOW);
        let gone = app.booked(&patient, &doctor.id, "2026-03-10T08:00:00Z").await;
        let kept = app.booked(&patient, &doctor.id, "2026-03-10T09:00:00Z").await;
        patient.act(&gone, "cancel").await.assert_status(200);
        app.set_clock("2026-03-09T08:55:00Z");
        app.deliver().await;
        assert!(reminders(&deliveries(&app, &format!("&appointment_id={gone}")).await).is_empty());
        let counts = statuses(&deliveries(&app, &format!("&appointment_id={kept}")).await);
        assert_eq!(counts["reminder/email/scheduled"], 1);
        assert_eq!(counts["reminder/in_app/scheduled"], 1);
    }
}

dual! {
    #[tokio::test]
    async fn a_reminder_due_before_the_next_plan_is_written_by_the_booking_itself() {
        // 125 minutes ahead: just past the doctor's 120 minutes of notice.
        let app = TestApp::spawn_with(|s| s.reminders.offsets_minutes = vec![24 * 60, 125]).await;
        let doctor = app.create_doctor("Nora Near").await;
        let patient = app.register_patient("Paul Prompt").await;
        app.deliver().await;
        // Monday 06:50Z; the visit at 09:00Z: its reminder is due at 06:55Z, before
        // the planner's next pass, so the booking writes it; the day-ahead one fell
        // due yesterday and is not written at all.
        app.set_clock("2026-03-02T06:50:00Z");
        let id = app.booked(&patient, &doctor.id, "2026-03-02T09:00:00Z").await;
        let log = deliveries(&app, &format!("&appointment_id={id}")).await;
        let due: BTreeSet<(&str, &str)> = log
            .iter()
            .filter(|d| d["kind"] == "reminder")
            .map(|d| (d["channel"].as_str().unwrap(), d["due_at"].as_str().unwrap()))
            .collect();
        assert_eq!(
            due,
            [("email", "2026-03-02T06:55:00Z"), ("in_app", "2026-03-02T06:55:00Z")].into_iter().collect()
        );
        // The planner's pass over the same window adds nothing.
        app.set_clock("2026-03-02T06:52:00Z");
        app.deliver().await;
        let again = deliveries(&app, &format!("&appointment_id={id}")).await;
        assert_eq!(again.iter().filter(|d| d["kind"] == "reminder").count(), 2);
    }
}

dual! {
    #[tokio::test]
    async fn a_refusing_mail_server_delays_messages_but_each_arrives_exactly_once() {
        let smtp = SmtpServer::start().await;
        let app = with_smtp(&smtp).await;
        smtp.set_refusing(true);
        let doctor = app.create_doctor("Ines Inbox").await;
        let patients = [
            app.register_patient("Anna One").await,
            app.register_patient("Bert Two").await,
        ];
        for (patient, start) in patients.iter().zip([TUE_0900, TUE_1000]) {
            app.booked(patient, &doctor.id, start).await;
        }
        app.deliver().await;
        let not_reminders = |log: Vec<Value>| -> Vec<Value> {
            log.into_iter().filter(|d| d["kind"] != "reminder").collect()
        };
        let log = not_reminders(deliveries(&app, "&channel=email").await);
        assert_eq!(log.len(), 5, "three welcomes, two requests");
        for delivery in &log {
            assert_eq!(delivery["status"], "retrying");
            assert_eq!(delivery["attempts"], 1);
            assert!(delivery["last_error"].as_str().unwrap().contains("451"));
            let due = ts(delivery["due_at"].as_str().unwrap());
            let wait = due.duration_since(ts(NOW));
            assert!(wait <= SignedDuration::from_secs(30) && wait > SignedDuration::ZERO, "{wait}");
        }

        // Still refusing at the second attempt, accepting by the third.
        app.advance_clock(SignedDuration::from_secs(31));
        app.deliver().await;
        let log = not_reminders(deliveries(&app, "&channel=email").await);
        assert!(log.iter().all(|d| d["attempts"] == 2));
        smtp.set_refusing(false);
        app.advance_clock(SignedDuration::from_mins(5));
        app.deliver().await;
        let log = not_reminders(deliveries(&app, "&channel=email").await);
        assert!(log.iter().all(|d| d["status"] == "sent" && d["attempts"] == 3), "{log:#?}");
        let received = smtp.wait_for(5, WAIT).await;
        assert_eq!(received.len(), 5);
        let ids: BTreeSet<String> = received.iter().map(|m| m.header("Message-ID").unwrap()).collect();
        assert_eq!(ids.len(), 5, "no message twice");
        // (Before the first reminder falls due, two hours after NOW.)
        app.advance_clock(SignedDuration::from_hours(1));
        app.deliver().await;
        assert_eq!(smtp.messages().len(), 5, "nothing more is sent");
    }
}

#[tokio::test]
async fn deliveries_that_keep_failing_die_and_an_admin_can_retry_them() {
    let smtp = SmtpServer::start().await;
    smtp.require_auth("carebook", "mail-secret");
    let port = smtp.port();
    let app = TestApp::spawn_with(|settings| {
        settings.smtp.host = Some("127.0.0.1".into());
        settings.smtp.port = Some(port);
        settings.smtp.tls = carebook::config::SmtpTls::None;
        settings.smtp.username = Some("carebook".into());
        settings.smtp.password = Some("mail-secret".into());
        settings.outbox.max_attempts = 2;
    })
    .await;
    smtp.set_refusing(true);
    app.register_patient("Dora Dead").await;
    app.deliver().await;
    app.advance_clock(SignedDuration::from_mins(1));
    app.deliver().await;
    let dead = deliveries(&app, "&status=dead").await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0]["attempts"], 2);
    let id = dead[0]["id"].as_str().unwrap().to_owned();
    let metrics = app.anon().get("/metrics").await;
    let text = metrics.body.as_str().expect("text metrics");
    assert!(
        text.contains("carebook_outbox_deliveries{status=\"dead\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("carebook_outbox_deliveries{status=\"sent\"} 0"),
        "{text}"
    );
    app.advance_clock(SignedDuration::from_hours(5));
    app.deliver().await;
    assert!(smtp.messages().is_empty(), "a dead delivery stays dead");

    smtp.set_refusing(false);
    let admin = app.admin().await;
    let retried = admin
        .post_empty(&format!("/api/v1/notifications/deliveries/{id}/retry"))
        .await;
    retried.assert_status(200);
    assert_eq!(retried.body["status"], "scheduled");
    assert_eq!(retried.body["attempts"], 0);
    admin
        .post_empty(&format!("/api/v1/notifications/deliveries/{id}/retry"))
        .await
        .assert_problem(409, "not-retryable");
    app.deliver().await;
    assert_eq!(smtp.wait_for(1, WAIT).await.len(), 1);
    assert_eq!(deliveries(&app, "&status=sent").await.len(), 1);
    let audit = admin.get("/api/v1/audit?action=delivery.retried").await;
    assert_eq!(audit.items().len(), 1);

    // A permanent refusal fails at once, without retries.
    smtp.refuse_permanently_next(1);
    app.register_patient("Fritz Failed").await;
    app.deliver().await;
    let failed = deliveries(&app, "&status=failed").await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["last_error"].as_str().unwrap().contains("550"));
}

dual! {
    #[tokio::test]
    async fn texts_webhooks_and_sns_carry_the_exact_signed_requests() {
        let twilio = HttpPeer::start().await;
        twilio.respond_with(201, r#"{"sid":"SM1"}"#);
        let hooks = HttpPeer::start().await;
        hooks.queue_responses(vec![(503, "busy".into())]);
        let sns = HttpPeer::start().await;
        sns.respond_with(200, "<PublishResponse><PublishResult><MessageId>m1</MessageId></PublishResult></PublishResponse>");
        let (twilio_url, hook_url, sns_url) = (twilio.url(), format!("{}/hooks/carebook?token=t0p", hooks.url()), sns.url());
        let app = TestApp::spawn_with(|s| {
            s.twilio.account_sid = Some("AC0123".into());
            s.twilio.auth_token = Some("twilio-token".into());
            s.twilio.from = Some("+15550001111".into());
            s.twilio.base_url = twilio_url;
            s.webhook.urls = vec![hook_url];
            s.webhook.secret = Some("hook-secret".into());
            s.sns.topic_arn = Some("arn:aws:sns:eu-central-1:123456789012:carebook".into());
            s.sns.region = Some("eu-central-1".into());
            s.sns.access_key_id = Some("AKIDEXAMPLE".into());
            s.sns.secret_access_key = Some("sns-secret".into());
            s.sns.endpoint = Some(sns_url);
        })
        .await;
        let doctor = app.create_doctor("Sven Sender").await;
        let patient = patient_with_phone(&app, "Tina Text").await;
        let id = app.booked(&patient, &doctor.id, TUE_0900).await;
        doctor.act(&id, "confirm").await.assert_status(200);
        app.deliver().await;

        // One text: the confirmation (welcomes and requests go by email only).
        let texts = twilio.wait_for(1, WAIT).await;
        assert_eq!(texts.len(), 1);
        let text = &texts[0];
        assert_eq!(text.method, "POST");
        assert_eq!(text.path, "/2010-04-01/Accounts/AC0123/Messages.json");
        let form: BTreeMap<String, String> = text.form().into_iter().collect();
        assert_eq!(form["To"], "+4915123456789");
        assert_eq!(form["From"], "+15550001111");
        assert!(form["Body"].contains("Sven Sender"), "{}", form["Body"]);
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode("AC0123:twilio-token");
        assert_eq!(text.header("authorization"), Some(format!("Basic {basic}").as_str()));

        // Webhooks: every event (two welcomes, request, confirmation) once, signed;
        // the first call got a 503 and was retried with the same event id.
        app.advance_clock(SignedDuration::from_mins(1));
        app.deliver().await;
        let calls = hooks.wait_for(5, WAIT).await;
        assert_eq!(calls.len(), 5, "four events, one of them twice");
        let mut events: BTreeMap<String, (String, usize)> = BTreeMap::new();
        for call in &calls {
            assert_eq!(call.path, "/hooks/carebook?token=t0p");
            let signature = call.header("carebook-signature").expect("signed");
            carebook::notify::webhook::verify(
                "hook-secret",
                signature,
                &call.body,
                app.app.now(),
                SignedDuration::from_mins(10),
            )
            .expect("the signature verifies");
            let body: Value = serde_json::from_slice(&call.body).unwrap();
            assert_eq!(Some(body["id"].as_str().unwrap()), call.header("carebook-event-id"));
            let event = events
                .entry(body["id"].as_str().unwrap().to_owned())
                .or_insert((body["type"].as_str().unwrap().to_owned(), 0));
            event.1 += 1;
            assert!(!String::from_utf8_lossy(&call.body).contains("Tina"), "ids, not names");
        }
        let mut types: Vec<&str> = events.values().map(|(t, _)| t.as_str()).collect();
        types.sort_unstable();
        assert_eq!(
            types,
            ["appointment.confirmed", "appointment.requested", "user.registered", "user.registered"]
        );
        let repeats: Vec<usize> = events.values().map(|(_, n)| *n).filter(|n| *n > 1).collect();
        assert_eq!(repeats, [2], "the refused call came again with the same event id");
        let tampered = carebook::notify::webhook::verify(
            "hook-secret",
            calls[0].header("carebook-signature").unwrap(),
            b"{}",
            app.app.now(),
            SignedDuration::from_mins(10),
        );
        assert!(tampered.is_err());

        // SNS: one publish per event, signed for the region.
        let published = sns.wait_for(4, WAIT).await;
        assert_eq!(published.len(), 4);
        for call in &published {
            let form: BTreeMap<String, String> = call.form().into_iter().collect();
            assert_eq!(form["Action"], "Publish");
            assert_eq!(form["TopicArn"], "arn:aws:sns:eu-central-1:123456789012:carebook");
            let auth = call.header("authorization").unwrap();
            assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), "{auth}");
            assert!(auth.contains("/eu-central-1/sns/aws4_request"), "{auth}");
        }
        let log = deliveries(&app, "").await;
        assert!(log.iter().all(|d| d["status"] == "sent" || d["kind"] == "reminder"), "{log:#?}");
    }
}

dual! {
    // A booking tells its patient and doctor from what it read itself (the patient's
    // account, the doctor found active): the same messages as when they are looked up.
    #[tokio::test]
    async fn a_booking_confirmed_at_once_texts_its_patient_and_tells_both_in_the_app() {
        let twilio = HttpPeer::start().await;
        twilio.respond_with(201, r#"{"sid":"SM1"}"#);
        let twilio_url = twilio.url();
        let app = TestApp::spawn_with(|s| {
            s.twilio.account_sid = Some("AC0123".into());
            s.twilio.auth_token = Some("twilio-token".into());
            s.twilio.from = Some("+15550001111".into());
            s.twilio.base_url = twilio_url;
        })
        .await;
        let doctor = app.create_doctor("Anke Auto").await;
        let mut schedule = default_schedule();
        schedule["auto_confirm"] = json!(true);
        app.set_schedule(&doctor, schedule).await;
        let patient = patient_with_phone(&app, "Pia Phone").await;

        let booked = app.book(&patient, &doctor.id, TUE_0900).await;
        booked.assert_status(201);
        assert_eq!(booked.body["status"], "confirmed");
        app.deliver().await;
        let texts = twilio.wait_for(1, WAIT).await;
        assert_eq!(texts.len(), 1, "the confirmation, to the patient only");
        let form: BTreeMap<String, String> = texts[0].form().into_iter().collect();
        assert_eq!(form["To"], "+4915123456789");
        assert!(form["Body"].contains("Anke Auto"), "{}", form["Body"]);
        for (who, other) in [(&patient, "Anke Auto"), (&doctor, "Pia Phone")] {
            let list = who.get("/api/v1/notifications").await;
            let newest = &list.items()[0];
            assert_eq!(newest["kind"], "appointment_confirmed");
            assert_eq!(newest["appointment_id"], booked.body["id"]);
            let text = format!("{} {}", newest["title"], newest["body"]);
            assert!(text.contains(other), "{text}");
        }
        let to_doctor = deliveries(&app, &format!("&user_id={}&channel=email", doctor.id)).await;
        assert!(
            to_doctor.iter().any(|d| d["kind"] == "appointment_confirmed"),
            "{to_doctor:?}"
        );
    }
}

dual! {
    #[tokio::test]
    async fn the_in_app_list_pages_counts_and_marks_read() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Nina Notes").await;
        let patient = app.register_patient("Max Many").await;
        for start in [TUE_0900, TUE_0930, TUE_1000] {
            let id = app.booked(&patient, &doctor.id, start).await;
            doctor.act(&id, "confirm").await.assert_status(200);
        }
        let first = patient.get("/api/v1/notifications?limit=2").await;
        first.assert_status(200);
        assert_eq!(first.items().len(), 2);
        assert_eq!(first.body["unread_count"], 4, "a welcome and three confirmations");
        let cursor = first.str("next_cursor").to_owned();
        let rest = patient.get(&format!("/api/v1/notifications?limit=2&cursor={cursor}")).await;
        assert_eq!(rest.items().len(), 2);
        assert!(rest.body["next_cursor"].is_null());
        assert_eq!(rest.items()[1]["kind"], "welcome");

        let newest = first.items()[0]["id"].as_str().unwrap().to_owned();
        patient.post_empty(&format!("/api/v1/notifications/{newest}/read")).await.assert_status(204);
        patient.post_empty(&format!("/api/v1/notifications/{newest}/read")).await.assert_status(204);
        doctor
            .post_empty(&format!("/api/v1/notifications/{newest}/read"))
            .await
            .assert_problem(404, "not-found");
        let after = patient.get("/api/v1/notifications").await;
        assert_eq!(after.body["unread_count"], 3);
        assert!(after.items()[0]["read_at"].is_string());
        // Read and unread ones interleave: the pages keep the newest-first order.
        let third = rest.items()[0]["id"].as_str().unwrap().to_owned();
        patient.post_empty(&format!("/api/v1/notifications/{third}/read")).await.assert_status(204);
        let everything: Vec<Value> = [first.items().as_slice(), rest.items()].concat();
        let mut paged = Vec::new();
        let mut query = "/api/v1/notifications?limit=1".to_owned();
        loop {
            let page = patient.get(&query).await;
            paged.extend(page.items().iter().map(|n| n["id"].clone()));
            let Some(cursor) = page.body["next_cursor"].as_str() else { break };
            query = format!("/api/v1/notifications?limit=1&cursor={cursor}");
        }
        let ids: Vec<Value> = everything.iter().map(|n| n["id"].clone()).collect();
        assert_eq!(paged, ids);
        assert_eq!(patient.get("/api/v1/notifications").await.body["unread_count"], 2);
        let all = patient.post_empty("/api/v1/notifications/read-all").await;
        assert_eq!(all.body["marked"], 2);
        assert_eq!(patient.get("/api/v1/notifications").await.body["unread_count"], 0);
        assert_eq!(doctor.get("/api/v1/notifications").await.body["unread_count"], 4);
    }
}

dual! {
    #[tokio::test]
    async fn preferences_choose_the_channels_and_are_checked_again_when_sending() {
        let app = TestApp::spawn_with(|s| s.session_ttl_hours = 24 * 30).await;
        let doctor = app.create_doctor("Paula Prefs").await;
        let patient = app.register_patient("Quiet Quinn").await;
        let prefs = patient.get("/api/v1/me/notification-preferences").await;
        prefs.assert_status(200);
        assert_eq!(prefs.body["email_enabled"], true);
        assert_eq!(prefs.body["sms_available"], false);
        patient
            .patch("/api/v1/me/notification-preferences", &json!({ "phone": "12" }))
            .await
            .assert_invalid(&["phone"]);
        patient
            .patch("/api/v1/me/notification-preferences", &json!({ "email_enabled": "yes" }))
            .await
            .assert_status(422);
        let id = app.booked(&patient, &doctor.id, TUE_0900).await;
        // The day-ahead reminder is written ten minutes before it falls due.
        app.set_clock("2026-03-02T07:50:00Z");
        app.deliver().await;
        let changed = patient
            .patch(
                "/api/v1/me/notification-preferences",
                &json!({ "email_enabled": false, "phone": "+49 30 1234567" }),
            )
            .await;
        changed.assert_status(200);
        assert_eq!(changed.body["email_enabled"], false);
        assert_eq!(changed.body["phone"], "+49301234567");

        // New notices skip email at once; the waiting reminder is skipped when due.
        doctor.act(&id, "confirm").await.assert_status(200);
        let confirmation = deliveries(
            &app,
            &format!("&appointment_id={id}&channel=email&user_id={}", patient.id),
        )
        .await;
        assert!(confirmation.iter().all(|d| d["kind"] == "reminder"), "{confirmation:#?}");
        assert_eq!(confirmation.len(), 1, "{confirmation:#?}");
        app.set_clock("2026-03-02T08:00:00Z");
        app.deliver().await;
        let counts = statuses(&deliveries(&app, &format!("&appointment_id={id}")).await);
        assert_eq!(counts["reminder/email/skipped"], 1);
        assert_eq!(counts["reminder/in_app/sent"], 1, "in-app cannot be turned off");
    }
}

dual! {
    #[tokio::test]
    async fn staff_remind_a_patient_by_hand_at_most_every_ten_minutes() {
        let smtp = SmtpServer::start().await;
        let app = with_smtp(&smtp).await;
        let doctor = app.create_doctor("Hanna Hand").await;
        let patient = app.register_patient("Ivo Idle").await;
        let receptionist = app.create_receptionist().await;
        let id = app.booked(&patient, &doctor.id, TUE_0900).await;
        app.deliver().await;
        let before = smtp.messages().len();

        doctor.post_empty(&format!("/api/v1/appointments/{id}/remind")).await.assert_status(202);
        receptionist
            .post_empty(&format!("/api/v1/appointments/{id}/remind"))
            .await
            .assert_problem(409, "reminder-recently-sent");
        patient
            .post_empty(&format!("/api/v1/appointments/{id}/remind"))
            .await
            .assert_problem(403, "forbidden");
        app.deliver().await;
        let received = smtp.wait_for(before + 1, WAIT).await;
        assert_eq!(received.len(), before + 1);
        let reminder = received.last().unwrap();
        assert_eq!(reminder.rcpt_to, vec![patient.email.clone()]);
        assert!(reminder.header("Subject").unwrap().to_lowercase().contains("reminder"));

        app.advance_clock(SignedDuration::from_mins(11));
        receptionist.post_empty(&format!("/api/v1/appointments/{id}/remind")).await.assert_status(202);
        patient.act(&id, "cancel").await.assert_status(200);
        doctor
            .post_empty(&format!("/api/v1/appointments/{id}/remind"))
            .await
            .assert_problem(409, "not-remindable");
        let audit = app.admin().await.get("/api/v1/audit?action=appointment.reminded").await;
        assert_eq!(audit.items().len(), 2);
    }
}

dual! {
    #[tokio::test]
    async fn a_refused_change_writes_no_notification() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Olga Once").await;
        let first = app.register_patient("Fast Fiona").await;
        let second = app.register_patient("Slow Sam").await;
        app.booked(&first, &doctor.id, TUE_0900).await;
        let before = deliveries(&app, "").await.len();
        let unread = doctor.get("/api/v1/notifications").await.body["unread_count"].clone();
        app.book(&second, &doctor.id, TUE_0900).await.assert_problem(409, "slot-taken");
        assert_eq!(deliveries(&app, "").await.len(), before);
        assert_eq!(doctor.get("/api/v1/notifications").await.body["unread_count"], unread);
    }
}

dual! {
    #[tokio::test]
    async fn a_booking_tells_the_same_whether_its_notice_was_rendered_before_the_write_or_in_it() {
        // With the doctor's availability held in memory the booking's notice is
        // rendered before the write; with the cache off, inside it. Same names,
        // same slot: the same words, to the same people, on the same channels.
        async fn told(cache_seconds: u64) -> (Vec<(String, String)>, BTreeMap<String, usize>) {
            let app = TestApp::spawn_with(|s| s.availability_cache_seconds = cache_seconds).await;
            let doctor = app.create_doctor("Hana Held").await;
            let patient = app.register_patient("Rolf Render").await;
            // Reading the slots is what loads the doctor's copy when the cache is on.
            let free = app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03").await;
            assert!(free.contains(&TUE_0900.to_owned()));
            let id = app.booked(&patient, &doctor.id, TUE_0900).await;
            let list = doctor.get("/api/v1/notifications").await;
            list.assert_status(200);
            let texts = list
                .items()
                .iter()
                .filter(|n| n["kind"] == "appointment_requested")
                .map(|n| {
                    assert!(n["link"].as_str().unwrap().ends_with(&format!("/appointments/{id}")));
                    (n["title"].as_str().unwrap().to_owned(), n["body"].as_str().unwrap().to_owned())
                })
                .collect();
            let requested: Vec<Value> = deliveries(&app, "")
                .await
                .into_iter()
                .filter(|d| d["kind"] == "appointment_requested")
                .collect();
            let outbox = statuses(&requested);
            (texts, outbox)
        }
        let (ahead, ahead_outbox) = told(60).await;
        let (in_write, in_write_outbox) = told(0).await;
        assert_eq!(ahead.len(), 1, "the doctor hears of the request once: {ahead:?}");
        assert!(ahead[0].1.contains("Rolf Render"), "{ahead:?}");
        assert_eq!(ahead, in_write);
        assert_eq!(ahead_outbox, in_write_outbox);
        assert_eq!(ahead_outbox.values().sum::<usize>(), 1, "one email to the doctor: {ahead_outbox:?}");
    }
}
