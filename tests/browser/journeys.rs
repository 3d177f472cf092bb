//! The journeys of the issue, end to end in a real browser, each person in their
//! own browser: a patient registers, searches and books; the doctor confirms; the
//! receptionist checks the patient in; the doctor completes the visit; the patient
//! sees it completed. A cancellation inside the window is refused with the reason.
//! An admin approves a doctor who registered and looks at the clinic's charts.

use carebook::testing::webdriver::{Browser, BrowserOptions};
use serde_json::json;

use crate::harness::{open, seed_clinic, sign_in};
use crate::support::{PASSWORD, TestApp};

/// Destructive buttons ask "are you sure?" (`data-confirm`); answer yes.
async fn answer_yes_to_confirmations(browser: &Browser) {
    browser
        .execute(
            "window.confirm = function () { return true; }; return true",
            vec![],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visit_from_registration_to_completion() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app).await;
    let keller = &clinic.keller;
    let desk = app.create_receptionist().await;

    // The patient registers, searches for a cardiologist and books today at 14:00
    // (Monday 2 March; it is 07:00 in Berlin).
    let Some(patient) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    patient.goto("/register").await;
    assert_eq!(
        patient.attribute("html", "data-script").await.as_deref(),
        Some("on"),
        "the page's script runs"
    );
    patient.fill("#f-name", "Pia Patient").await;
    patient.fill("#f-email", "pia@example.com").await;
    patient.fill("#f-password", PASSWORD).await;
    patient
        .click("form[action='/register'] button[type=submit]")
        .await;
    patient
        .wait_for_path("the visits page", |p| p == "/visits")
        .await;
    patient
        .wait_for_text(".flash", "Your account is ready")
        .await;

    patient.goto("/").await;
    patient.select("#f-specialty", "cardiology").await;
    patient.click("form[role=search] button[type=submit]").await;
    patient
        .wait_for_path("the search", |p| p.contains("specialty=cardiology"))
        .await;
    patient
        .click(&format!(".doctor-card a[href^='/book/{}']", keller.id))
        .await;
    patient
        .wait_for_path("the booking calendar", |p| p.starts_with("/book/"))
        .await;
    // Days with free times are links in the calendar; today is chosen at first.
    assert!(patient.exists("a.cal-day.cal-free").await);
    patient
        .wait_until(
            "today's 14:00 in the list",
            "return Array.from(document.querySelectorAll('a.slot')).some(a => a.textContent.trim() === '14:00')",
        )
        .await;
    patient
        .execute(
            "Array.from(document.querySelectorAll('a.slot')).find(a => a.textContent.trim() === '14:00').click(); return true",
            vec![],
        )
        .await;
    patient
        .wait_for_path("the confirmation step", |p| p.contains("/confirm"))
        .await;
    patient
        .fill("#f-reason", "Chest feels tight after climbing stairs")
        .await;
    patient
        .click(&format!(
            "form[action='/book/{}'] button[type=submit]",
            keller.id
        ))
        .await;
    let page = patient
        .wait_for_path("the appointment page", |p| p.starts_with("/appointments/"))
        .await;
    let appointment = page.trim_start_matches("/appointments/").to_owned();
    patient
        .wait_for_text(".flash", "awaiting the doctor's confirmation")
        .await;
    assert!(patient.text(".status").await.contains("Requested"));

    // The doctor confirms the request.
    let Some(doctor) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&doctor, keller, PASSWORD).await;
    doctor.goto("/doctor/requests").await;
    assert!(doctor.text("main").await.contains("Pia Patient"));
    doctor
        .click(&format!(
            "form[action='/appointments/{appointment}/confirm'] button"
        ))
        .await;
    doctor.wait_for_text(".flash", "confirmed").await;

    // 13:30 in Berlin: the patient arrives and the front desk checks her in.
    app.set_clock("2026-03-02T12:30:00Z");
    let Some(front) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&front, &desk, PASSWORD).await;
    front.goto("/desk").await;
    assert!(front.text("main").await.contains("Pia Patient"));
    front
        .click(&format!(
            "form[action='/appointments/{appointment}/check-in'] button"
        ))
        .await;
    front.wait_for_text(".flash", "checked in").await;

    // 14:25: the doctor completes the visit from her day.
    app.set_clock("2026-03-02T13:25:00Z");
    doctor.goto("/doctor/today").await;
    doctor
        .click(&format!(
            "form[action='/appointments/{appointment}/complete'] button"
        ))
        .await;
    doctor.wait_for_text(".flash", "completed").await;

    // The patient sees the completed visit among her visits.
    patient.goto("/visits").await;
    let visits = patient.text("main").await;
    assert!(visits.contains("Dora Keller"), "{visits}");
    assert!(visits.contains("Completed"), "{visits}");
    assert_eq!(
        app.admin()
            .await
            .appointment(&appointment)
            .await
            .str("status"),
        "completed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancellation_inside_the_window_is_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app).await;
    let patient = app.register_patient("Pia Patient").await;
    // Today 14:00 Berlin: inside Dr Keller's 24-hour cancellation window.
    let appointment = app
        .booked(&patient, &clinic.keller.id, "2026-03-02T13:00:00Z")
        .await;
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&browser, &patient, PASSWORD).await;
    browser.goto(&format!("/appointments/{appointment}")).await;
    let explained = browser.text("main").await;
    assert!(
        explained.contains("24"),
        "the window is explained up front: {explained}"
    );
    answer_yes_to_confirmations(&browser).await;
    browser
        .click(&format!(
            "form[action='/appointments/{appointment}/cancel'] button[type=submit]"
        ))
        .await;
    let refusal = browser.wait_for_text(".flash-error", "24").await;
    assert!(refusal.to_lowercase().contains("cancel"), "{refusal}");
    assert_eq!(
        patient.appointment(&appointment).await.str("status"),
        "requested"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_approves_a_doctor_and_reads_the_charts() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app).await;
    let patient = app.register_patient("Pia Patient").await;
    app.booked(&patient, &clinic.keller.id, "2026-03-03T08:00:00Z")
        .await;
    app.register(json!({
        "email": "nora@example.com", "password": PASSWORD, "name": "Nora Neu", "role": "doctor"
    }))
    .await
    .assert_status(201);
    let admin = app.admin().await;
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&browser, &admin, PASSWORD).await;
    browser.goto("/admin/users").await;
    assert!(browser.text("main").await.contains("Nora Neu"));
    browser
        .click("form[action$='/approve'] button[type=submit]")
        .await;
    browser.wait_for_text(".flash", "Nora Neu").await;
    app.log_in("nora@example.com", PASSWORD).await;

    browser
        .goto("/admin/stats?from=2026-03-01&to=2026-03-07")
        .await;
    browser.wait_for("svg.chart[role=img]").await;
    let titles = browser.texts("svg.chart title").await;
    assert_eq!(titles.len(), 2, "two charts: {titles:?}");
    let table = browser
        .execute("return document.querySelector('main').textContent", vec![])
        .await;
    assert!(table.as_str().unwrap_or("").contains("Dora Keller"));
}
