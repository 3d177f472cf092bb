//! Every public screen passes axe-core without serious or critical violations, in
//! the light and the dark theme, and fits a 360 px phone without sideways scrolling.

use carebook::testing::webdriver::BrowserOptions;

use crate::harness::{
    assert_accessible, assert_no_horizontal_scroll, open, public_screens, seed_clinic, set_theme,
    sign_in, theme_of, visit,
};
use crate::support::{PASSWORD, TestApp};

#[tokio::test(flavor = "multi_thread")]
async fn the_public_screens_pass_axe_in_light_and_dark() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app).await;
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };

    for theme in ["light", "dark"] {
        set_theme(&browser, theme).await;
        for screen in public_screens(&clinic) {
            visit(&browser, &screen).await;
            assert_accessible(&browser, &format!("{} ({theme})", screen.name)).await;
        }

        // Forms showing their errors, too.
        browser.goto("/register").await;
        browser.fill("#f-name", "Pia Patient").await;
        browser.fill("#f-email", "not an email").await;
        browser
            .click("form[action='/register'] button[type=submit]")
            .await;
        browser.wait_for("#e-email").await;
        assert_accessible(&browser, &format!("register with errors ({theme})")).await;

        browser.goto("/login").await;
        browser.fill("#f-email", "nobody@example.com").await;
        browser.fill("#f-password", "wrong password").await;
        browser
            .click("form[action='/login'] button[type=submit]")
            .await;
        browser.wait_for(".form-errors").await;
        assert_accessible(&browser, &format!("login with an error ({theme})")).await;
    }

    // The header of a signed-in person (notifications, sign-out) on the public pages.
    let patient = app.register_patient("Pia Patient").await;
    sign_in(&browser, &patient, PASSWORD).await;
    for theme in ["light", "dark"] {
        set_theme(&browser, theme).await;
        for screen in public_screens(&clinic) {
            if matches!(screen.name, "login" | "register") {
                continue; // a signed-in person is sent on from these
            }
            visit(&browser, &screen).await;
            assert_accessible(&browser, &format!("{}, signed in ({theme})", screen.name)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_public_screens_fit_a_phone_360_px_wide() {
    let app = TestApp::spawn().await;
    let clinic = seed_clinic(&app).await;
    let Some(browser) = open(&app, BrowserOptions::desktop().size(360, 780)).await else {
        return;
    };

    assert_eq!(browser.viewport().await, (360, 780));
    for screen in public_screens(&clinic) {
        visit(&browser, &screen).await;
        assert_no_horizontal_scroll(&browser, screen.name).await;
    }
}

/// Error pages are drawn with the visitor's theme and header, like every page.
#[tokio::test(flavor = "multi_thread")]
async fn the_not_found_page_keeps_the_theme_and_the_signed_in_header() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Pia Patient").await;
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };
    sign_in(&browser, &patient, PASSWORD).await;
    set_theme(&browser, "dark").await;
    browser.goto("/no/such/page").await;
    assert_eq!(theme_of(&browser).await.as_deref(), Some("dark"));
    browser
        .wait_for_text(".site-header .who", "Pia Patient")
        .await;
}
