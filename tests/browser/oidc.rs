//! "Sign in with …" in a real browser: through the test OpenID Connect provider
//! (`carebook::testing::oidc`) and back, following real redirects and cookies.

use carebook::config::Secret;
use carebook::testing::oidc::{OidcProvider, TestIdentity};
use carebook::testing::webdriver::BrowserOptions;

use crate::harness::open;
use crate::support::TestApp;

#[tokio::test(flavor = "multi_thread")]
async fn a_visitor_signs_in_with_the_provider_and_lands_as_a_new_patient() {
    let provider = OidcProvider::start("carebook-browser", "browser-secret").await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_with_base(|settings, base| {
        // The redirect URI must lead back to this very server.
        settings.public_url = base.to_owned();
        settings.oidc_issuer = Some(issuer);
        settings.oidc_client_id = Some("carebook-browser".into());
        settings.oidc_client_secret = Some(Secret("browser-secret".into()));
    })
    .await;
    provider.use_clock(app.clock.clone());
    provider.set_identity(TestIdentity::verified(
        "browser-subject",
        "bea.browser@example.com",
        "Bea Browser",
    ));
    let Some(browser) = open(&app, BrowserOptions::desktop()).await else {
        return;
    };

    browser.goto("/login").await;
    let button = browser.text("a[href^='/auth/oidc/start']").await;
    assert!(button.starts_with("Sign in with 127.0.0.1:"), "{button}");
    browser.click("a[href^='/auth/oidc/start']").await;
    browser
        .wait_for_path("the new patient's visits", |p| p.starts_with("/visits"))
        .await;
    assert!(browser.cookie("carebook_session").await.is_some());
    assert!(
        browser.cookie("carebook_oidc").await.is_none(),
        "the sign-in's cookie is used up"
    );
    assert_eq!(provider.authorizations(), 1);
    let page = browser.text("body").await;
    assert!(page.contains("Welcome, Bea Browser."), "{page}");
}
