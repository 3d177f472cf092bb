//! The chat page with the script: the patient and the doctor each have the
//! conversation open in their own browser; what one types appears on the other's
//! page without a reload, with the typing line and the read mark.

use carebook::testing::webdriver::BrowserOptions;
use serde_json::json;

use crate::harness::{assert_accessible, assert_no_horizontal_scroll, open, sign_in};
use crate::support::{PASSWORD, TUE_0900, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn a_message_typed_by_one_appears_on_the_others_page_without_a_reload() {
    let app = TestApp::spawn().await;
    let doctor_user = app.create_doctor("Dora Keller").await;
    let patient_user = app.register_patient("Pia Patient").await;
    let visit = app.booked(&patient_user, &doctor_user.id, TUE_0900).await;

    let Some(patient) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&patient, &patient_user, PASSWORD).await;
    patient.goto(&format!("/appointments/{visit}")).await;
    patient
        .click("form[action='/messages/open'] button[type=submit]")
        .await;
    let path = patient
        .wait_for_path("the conversation", |p| p.starts_with("/messages/cnv"))
        .await;
    let conversation = path.trim_start_matches("/messages/").to_owned();

    let Some(doctor) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&doctor, &doctor_user, PASSWORD).await;
    doctor.goto(&path).await;
    for browser in [&patient, &doctor] {
        browser
            .wait_until(
                "the live socket is open",
                "return document.documentElement.getAttribute('data-socket') === 'open'",
            )
            .await;
    }
    // Marks the doctor's page: a reload would lose it.
    doctor
        .execute("window.stillTheSamePage = true; return true", vec![])
        .await;

    // Typing shows on the other side; sending goes over the socket.
    patient.fill("#f-text", "Is my blood test back?").await;
    doctor
        .wait_for_text("[data-typing]", "Pia Patient is typing")
        .await;
    patient.click("[data-chat-form] button[type=submit]").await;
    doctor
        .wait_for_text(
            "[data-messages] .message:last-child .message-text",
            "Is my blood test back?",
        )
        .await;
    assert_eq!(
        doctor
            .execute("return window.stillTheSamePage === true", vec![])
            .await,
        json!(true),
        "the doctor's page was not reloaded"
    );
    // The patient's form is ready for the next message, which the doctor has read.
    patient.wait_for_text("[data-chat-status]", "Sent.").await;
    assert_eq!(
        patient
            .execute("return document.querySelector('#f-text').value", vec![])
            .await,
        json!("")
    );
    patient
        .wait_for_text(
            "[data-messages] .message-mine:last-child [data-mark]",
            "Read",
        )
        .await;

    // The doctor answers by form over the socket too, and over REST: both arrive.
    doctor.fill("#f-text", "Yes: all values are normal.").await;
    doctor.click("[data-chat-form] button[type=submit]").await;
    patient
        .wait_for_text(
            "[data-messages] .message:last-child .message-text",
            "Yes: all values are normal.",
        )
        .await;
    doctor_user
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &json!({ "client_id": "rest-1", "text": "See you on Tuesday." }),
        )
        .await
        .assert_status(201);
    patient
        .wait_for_text(
            "[data-messages] .message:last-child .message-text",
            "See you on Tuesday.",
        )
        .await;
    // The pages pass axe-core, and fit a phone.
    assert_accessible(&patient, "a conversation with messages").await;
    patient.goto("/messages").await;
    assert_accessible(&patient, "the conversation list").await;
    let Some(phone) = open(&app, BrowserOptions::phone()).await else {
        return;
    };
    sign_in(&phone, &doctor_user, PASSWORD).await;
    phone.goto(&path).await;
    assert_no_horizontal_scroll(&phone, "a conversation on a phone").await;

    // Stored once each, in order.
    let stored = patient_user
        .get(&format!("/api/v1/conversations/{conversation}/messages"))
        .await;
    let texts: Vec<&str> = stored
        .items()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Is my blood test back?",
            "Yes: all values are normal.",
            "See you on Tuesday."
        ]
    );
}

/// The doctor's day refreshes itself over the socket when a patient books, and the
/// navigation's unread-messages badge counts a message that arrives meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn the_doctors_day_and_the_messages_badge_follow_the_socket() {
    let app = TestApp::spawn().await;
    let doctor_user = app.create_doctor("Dora Keller").await;
    let patient_user = app.register_patient("Pia Patient").await;
    let Some(doctor) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&doctor, &doctor_user, PASSWORD).await;
    doctor.goto("/doctor/today").await;
    doctor
        .wait_until(
            "the live socket is open",
            "return document.documentElement.getAttribute('data-socket') === 'open'",
        )
        .await;
    assert!(!doctor.is_displayed("[data-messages-badge]").await);

    // A booking for today: the page reloads by itself and lists it.
    let today = app
        .slot_starts(&doctor_user.id, "2026-03-02", "2026-03-02")
        .await;
    let start = today.last().expect("a free slot today").clone();
    app.booked(&patient_user, &doctor_user.id, &start).await;
    doctor.wait_for_text("main", "Pia Patient").await;

    // A message: the badge beside "Messages" says 1, without a reload.
    doctor
        .wait_until(
            "the live socket is open again",
            "return document.documentElement.getAttribute('data-socket') === 'open'",
        )
        .await;
    doctor
        .execute("window.stillTheSamePage = true; return true", vec![])
        .await;
    let conversation = patient_user
        .post(
            "/api/v1/conversations",
            &json!({ "doctor_id": doctor_user.id }),
        )
        .await;
    conversation.assert_status(200);
    patient_user
        .post(
            &format!("/api/v1/conversations/{}/messages", conversation.str("id")),
            &json!({ "client_id": "m1", "text": "Thank you for fitting me in." }),
        )
        .await
        .assert_status(201);
    doctor
        .wait_for_text("[data-messages-badge] [data-count]", "1")
        .await;
    assert!(doctor.is_displayed("[data-messages-badge]").await);
    assert_eq!(
        doctor
            .execute("return window.stillTheSamePage === true", vec![])
            .await,
        json!(true)
    );
}

/// With the script, a file goes into the patient's file and out as a message
/// without leaving the page; the doctor's page shows the download link live.
#[tokio::test(flavor = "multi_thread")]
async fn a_file_sent_with_the_script_appears_on_the_doctors_page() {
    let app = TestApp::spawn().await;
    let doctor_user = app.create_doctor("Dora Keller").await;
    let patient_user = app.register_patient("Pia Patient").await;
    app.booked(&patient_user, &doctor_user.id, TUE_0900).await;
    let conversation = patient_user
        .post(
            "/api/v1/conversations",
            &json!({ "doctor_id": doctor_user.id }),
        )
        .await;
    conversation.assert_status(200);
    let path = format!("/messages/{}", conversation.str("id"));
    let folder = tempfile::tempdir().expect("a temporary folder");
    let report = folder.path().join("lab report.pdf");
    std::fs::write(&report, b"%PDF-1.4\n%%EOF\n").expect("the file is written");

    let Some(patient) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    let Some(doctor) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&patient, &patient_user, PASSWORD).await;
    sign_in(&doctor, &doctor_user, PASSWORD).await;
    for browser in [&patient, &doctor] {
        browser.goto(&path).await;
        browser
            .wait_until(
                "the live socket is open",
                "return document.documentElement.getAttribute('data-socket') === 'open'",
            )
            .await;
    }
    patient
        .execute("window.stillTheSamePage = true; return true", vec![])
        .await;
    patient
        .type_into("#f-chat-file", &report.display().to_string())
        .await;
    patient.fill("#f-file-text", "From the lab").await;
    patient
        .click("[data-chat-file-form] button[type=submit]")
        .await;
    doctor
        .wait_for_text(
            "[data-messages] .message:last-child .message-attachment a",
            "lab report.pdf",
        )
        .await;
    doctor
        .wait_for_text(
            "[data-messages] .message:last-child .message-text",
            "From the lab",
        )
        .await;
    patient
        .wait_for_text("[data-chat-file-status]", "lab report.pdf was sent.")
        .await;
    assert_eq!(
        patient
            .execute("return window.stillTheSamePage === true", vec![])
            .await,
        json!(true),
        "the patient's page was not reloaded"
    );
}
