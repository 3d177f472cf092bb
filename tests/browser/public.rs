//! Journeys through the public pages, as a visitor does them in a browser.

use carebook::testing::webdriver::{BrowserOptions, ENTER};
use serde_json::json;

use crate::harness::{open, seed_clinic, theme_of};
use crate::support::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_finds_a_cardiologist_and_sees_her_next_free_times() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app).await;
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };

    browser.goto("/").await;
    assert!(browser.title().await.starts_with("Find a doctor · "));
    assert_eq!(
        browser.texts(".doctor-card h3").await.len(),
        clinic.doctors.len()
    );
    browser.select("#f-specialty", "cardiology").await;
    browser.click("form[role=search] button[type=submit]").await;
    browser
        .wait_for_path("a cardiology search", |p| {
            p.contains("specialty=cardiology")
        })
        .await;
    assert_eq!(browser.text("#results-heading").await, "1 doctor found");
    assert_eq!(browser.texts(".doctor-card h3").await, ["Dora Keller"]);
    let card = browser.text(".doctor-card").await;
    assert!(card.contains("EUR 90.00"), "{card}");
    assert!(card.contains("English, German"), "{card}");
    // The search keeps what was chosen.
    let chosen = browser
        .execute(
            "return document.querySelector('#f-specialty').value",
            vec![],
        )
        .await;
    assert_eq!(chosen, json!("cardiology"));

    browser.click(".doctor-card h3 a").await;
    let path = browser
        .wait_for_path("the profile", |p| p.starts_with("/doctors/"))
        .await;
    assert_eq!(path, format!("/doctors/{}", clinic.keller.id));
    assert_eq!(browser.text("h1").await, "Dora Keller");
    assert!(
        browser
            .text(".profile .hint")
            .await
            .contains("Europe/Berlin")
    );
    // Monday 2 March, 07:00 in Berlin: the first free time is 09:00 today.
    assert_eq!(
        browser
            .texts(".profile h3")
            .await
            .first()
            .map(String::as_str),
        Some("Monday 2 March 2026")
    );
    let times = browser.texts(".slot-list .slot").await;
    assert_eq!(
        times.first().map(String::as_str),
        Some("09:00"),
        "{times:?}"
    );
    assert!(
        times.len() > 10,
        "several free times are offered: {times:?}"
    );
    let booking = browser.attribute(".slot-list a.slot", "href").await;
    assert_eq!(
        booking.as_deref(),
        Some(
            format!(
                "/book/{}/confirm?start=2026-03-02T08%3A00%3A00Z",
                clinic.keller.id
            )
            .as_str()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_registers_signs_out_and_signs_in_again() {
    let app = TestApp::spawn().await;
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };

    browser.goto("/").await;
    browser.click(".site-header a[href='/register']").await;
    browser.wait_for("#f-name").await;
    // Each field is found through its label.
    for (field, label) in [
        ("name", "Full name"),
        ("email", "Email"),
        ("password", "Password"),
    ] {
        let shown = browser.text(&format!("label[for='f-{field}']")).await;
        assert_eq!(shown, label);
    }
    browser.fill("#f-name", "Pia Patient").await;
    browser.fill("#f-email", "pia@example.com").await;
    browser.fill("#f-password", "short").await;
    browser
        .click("form[action='/register'] button[type=submit]")
        .await;
    // Too short: said next to the field, the other values kept.
    let error = browser.text("#e-password").await;
    assert!(error.contains("10"), "{error}");
    assert_eq!(
        browser
            .attribute("#f-password", "aria-invalid")
            .await
            .as_deref(),
        Some("true")
    );
    let kept = browser
        .execute(
            "return [document.querySelector('#f-name').value, document.querySelector('#f-email').value]",
            vec![],
        )
        .await;
    assert_eq!(kept, json!(["Pia Patient", "pia@example.com"]));

    browser.fill("#f-password", PASSWORD).await;
    browser
        .click("form[action='/register'] button[type=submit]")
        .await;
    browser
        .wait_for_path("the patient's visits", |p| p.starts_with("/visits"))
        .await;
    // Signed in: the header names her on every page. (Her visits page comes with the
    // patient pages; this journey can then check its welcome message there.)
    browser.goto("/").await;
    browser
        .wait_for_text(".site-header .who", "Pia Patient")
        .await;

    browser.click("form[action='/logout'] button").await;
    browser
        .wait_for_text(".flash", "You have signed out.")
        .await;
    assert_eq!(browser.current_path().await, "/");
    assert!(!browser.exists(".site-header .who").await);

    browser.click(".site-header a[href='/login']").await;
    browser.fill("#f-email", "pia@example.com").await;
    browser.fill("#f-password", "not my password").await;
    browser
        .click("form[action='/login'] button[type=submit]")
        .await;
    browser
        .wait_for_text(".form-errors[role=alert]", "Wrong email or password.")
        .await;
    assert!(!browser.exists(".site-header .who").await);
    let email = browser
        .execute("return document.querySelector('#f-email').value", vec![])
        .await;
    assert_eq!(email, json!("pia@example.com"), "the email is kept");

    browser.fill("#f-password", PASSWORD).await;
    // Enter in the password field submits the form, as it does for a person.
    browser.type_into("#f-password", &ENTER.to_string()).await;
    browser
        .wait_for_path("the patient's visits", |p| p.starts_with("/visits"))
        .await;
    browser.goto("/").await;
    browser
        .wait_for_text(".site-header .who", "Pia Patient")
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_theme_switch_works_at_once_and_is_remembered() {
    let app = TestApp::spawn().await;
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };

    browser.goto("/").await;
    // Nothing chosen yet: the system's choice (light in headless Chromium).
    assert_eq!(theme_of(&browser).await, None);
    browser
        .execute("window.sameDocument = true; return true", vec![])
        .await;

    browser.click("[data-theme-toggle]").await;
    browser
        .wait_until(
            "the page turns dark",
            "return document.documentElement.getAttribute('data-theme') === 'dark'",
        )
        .await;
    // The script switched it in place: no reload, no form post.
    assert_eq!(
        browser
            .execute("return window.sameDocument === true", vec![])
            .await,
        json!(true),
        "the theme switch reloaded the page"
    );
    assert_eq!(
        browser.text("[data-theme-toggle] .theme-label").await,
        "dark"
    );
    let background = browser
        .execute(
            "return getComputedStyle(document.body).backgroundColor",
            vec![],
        )
        .await;
    assert_eq!(
        browser.cookie("carebook_theme").await.as_deref(),
        Some("dark")
    );

    // The server reads the cookie: still dark after a reload and on other pages.
    browser.reload().await;
    assert_eq!(theme_of(&browser).await.as_deref(), Some("dark"));
    assert_eq!(
        browser
            .execute("return window.sameDocument === true", vec![])
            .await,
        json!(false)
    );
    browser.goto("/login").await;
    assert_eq!(theme_of(&browser).await.as_deref(), Some("dark"));
    let login_background = browser
        .execute(
            "return getComputedStyle(document.body).backgroundColor",
            vec![],
        )
        .await;
    assert_eq!(background, login_background);

    browser.click("[data-theme-toggle]").await;
    browser
        .wait_until(
            "the page turns light",
            "return document.documentElement.getAttribute('data-theme') === 'light'",
        )
        .await;
    let light_background = browser
        .execute(
            "return getComputedStyle(document.body).backgroundColor",
            vec![],
        )
        .await;
    assert_ne!(light_background, background, "the colours changed");
    browser.reload().await;
    assert_eq!(theme_of(&browser).await.as_deref(), Some("light"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_tab_shows_the_skip_link_which_jumps_to_the_content() {
    let app = TestApp::spawn().await;
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };

    browser.goto("/").await;
    let hidden_top = browser
        .execute(
            "return document.querySelector('.skip-link').getBoundingClientRect().bottom",
            vec![],
        )
        .await;
    assert!(
        hidden_top.as_f64().is_some_and(|bottom| bottom <= 0.0),
        "the skip link is out of sight until focused (bottom at {hidden_top})"
    );

    browser.press_tab().await;
    assert!(
        browser.focus_matches("a.skip-link").await,
        "the first Tab focuses the skip link, not {}",
        browser.focused().await
    );
    assert!(browser.is_displayed("a.skip-link").await);
    let shown = browser
        .execute(
            "var box = document.querySelector('.skip-link').getBoundingClientRect();\
             return box.top >= 0 && box.left >= 0 && box.bottom <= innerHeight && box.width > 0 && box.height > 0",
            vec![],
        )
        .await;
    assert_eq!(shown, json!(true), "the focused skip link is on screen");
    assert_eq!(browser.text("a.skip-link").await, "Skip to content");

    browser.press_key(ENTER).await;
    browser
        .wait_until(
            "the focus is on the main content",
            "return document.activeElement && document.activeElement.id === 'main'",
        )
        .await;
    assert!(browser.current_url().await.ends_with("#main"));
    // The next Tab goes on from the content, not back to the header.
    browser.press_tab().await;
    let next = browser
        .execute("return !!document.activeElement.closest('main')", vec![])
        .await;
    assert_eq!(
        next,
        json!(true),
        "focus after the skip: {}",
        browser.focused().await
    );
}
