//! With JavaScript off, the pages still do their work: the script is an
//! enhancement, never a requirement (booking, cancelling, the theme switch).

use carebook::testing::webdriver::BrowserOptions;

use crate::harness::{open, seed_clinic, sign_in, theme_of};
use crate::support::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn a_patient_books_and_cancels_with_javascript_off() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app).await;
    let patient = app.register_patient("Pia Patient").await;
    let Some(browser) = open(&app, BrowserOptions::desktop().without_javascript()).await else {
        return;
    };
    sign_in(&browser, &patient, PASSWORD).await;
    // The script would have set this marker; it must stay unset.
    browser.goto("/").await;
    assert_eq!(
        browser.attribute("html", "data-script").await,
        None,
        "scripts ran although JavaScript is off"
    );

    // The theme switch is a form: it cycles system -> dark through the server.
    browser.click("[data-theme-toggle]").await;
    browser
        .wait_until(
            "the dark theme after the form",
            "return document.documentElement.getAttribute('data-theme') === 'dark'",
        )
        .await;
    assert_eq!(theme_of(&browser).await.as_deref(), Some("dark"));

    // Calendar -> day -> slot -> reason -> confirm, all links and forms.
    browser
        .goto(&format!("/book/{}?day=2026-03-04", clinic.keller.id))
        .await;
    browser.click("a.slot").await;
    browser
        .wait_for_path("the confirmation step", |p| p.contains("/confirm"))
        .await;
    browser.fill("#f-reason", "Check-up").await;
    browser
        .click(&format!(
            "form[action='/book/{}'] button[type=submit]",
            clinic.keller.id
        ))
        .await;
    let page = browser
        .wait_for_path("the appointment page", |p| p.starts_with("/appointments/"))
        .await;
    let appointment = page.trim_start_matches("/appointments/").to_owned();
    browser.wait_for_text(".flash", "Requested").await;

    // Two days ahead: outside the 24 h window, so the cancel goes through (and
    // without the script no "are you sure?" stands in the way).
    browser
        .click(&format!(
            "form[action='/appointments/{appointment}/cancel'] button[type=submit]"
        ))
        .await;
    browser.wait_for_text(".flash", "cancelled").await;
    assert_eq!(
        patient.appointment(&appointment).await.str("status"),
        "cancelled"
    );
}
