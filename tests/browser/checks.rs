//! The checks themselves catch what they are for: a page with known faults fails
//! [`assert_accessible`] and [`assert_no_horizontal_scroll`] with a useful message.

use std::future::Future;

use carebook::testing::webdriver::{Browser, BrowserOptions, require_axe_core};

use crate::harness::{assert_accessible, assert_no_horizontal_scroll, open};
use crate::support::TestApp;

/// A page without a language, with an image without a text alternative, grey on
/// white text, and a box wider than a phone.
const FAULTY_PAGE: &str = "data:text/html;charset=utf-8,<!doctype html><title>Faulty</title>\
    <main><h1>Faulty</h1><img src='x.png'>\
    <p style='color:%23bbb;background:%23fff'>faint text</p>\
    <div id='wide' style='width:600px;height:10px'></div></main>";

/// Runs `check` on its own task and returns its panic message (panics if it passed).
async fn failure_of(check: impl Future<Output = ()> + Send + 'static) -> String {
    let outcome = tokio::spawn(check).await;
    let Err(error) = outcome else {
        panic!("the check passed on a faulty page");
    };
    let payload = error.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

async fn faulty(app: &TestApp, options: BrowserOptions) -> Option<Browser> {
    let browser = open(app, options).await?;
    browser.goto(FAULTY_PAGE).await;
    browser.wait_for("#wide").await;
    Some(browser)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_accessibility_check_lists_serious_violations() {
    let app = TestApp::spawn().await;
    let Some(browser) = faulty(&app, BrowserOptions::desktop()).await else {
        return;
    };
    if require_axe_core().is_none() {
        return;
    }
    let message =
        failure_of(async move { assert_accessible(&browser, "the faulty page").await }).await;
    for expected in [
        "on the faulty page",
        "image-alt [critical]",
        "html-has-lang [serious]",
        "color-contrast [serious]",
        "at `img`",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} is missing from:\n{message}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_width_check_names_what_sticks_out() {
    let app = TestApp::spawn().await;
    let Some(browser) = faulty(&app, BrowserOptions::desktop().size(360, 700)).await else {
        return;
    };
    let message =
        failure_of(async move { assert_no_horizontal_scroll(&browser, "the faulty page").await })
            .await;
    assert!(message.contains("scrolls sideways at 360 px"), "{message}");
    assert!(message.contains("div#wide"), "{message}");
}
