//! The account security pages over HTTP: forgot password and the reset page, the
//! one-time-code field on sign-in, the two-factor settings, the email verification
//! landing page, and staff held at the two-factor page while the clinic requires it.

use std::collections::BTreeSet;

use jiff::SignedDuration;

use crate::security::{code, new_token};
use crate::support::*;

/// The text between `start` and the next `end` on a page.
fn between<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} on the page"))
        + start.len();
    let len = body[from..].find(end).expect("the end marker");
    &body[from..from + len]
}

dual! {
    #[tokio::test]
    async fn a_forgotten_password_is_reset_through_the_emailed_link() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Fritz Forgot").await;
        let pages = app.pages();
        pages
            .get("/login")
            .await
            .assert_contains("href=\"/password-reset\"");
        pages.get("/password-reset").await.assert_status(200).assert_contains("Email me a link");
        pages
            .post("/password-reset", &[("email", "no email")])
            .await
            .assert_status(422)
            .assert_contains("e-email");
        let sent = pages.post("/password-reset", &[("email", &patient.email)]).await;
        sent.assert_redirect("/login");
        let said = pages.follow(&sent).await.flash();
        let unknown = pages.post("/password-reset", &[("email", "who@example.com")]).await;
        unknown.assert_redirect("/login");
        assert!(said.is_some());
        assert_eq!(said, pages.follow(&unknown).await.flash(), "the same words either way");

        let token = new_token(&app, &patient.email, "/password-reset", &BTreeSet::new()).await;
        let form = pages.get(&format!("/password-reset?token={token}")).await;
        form.assert_status(200).assert_contains(&format!("value=\"{token}\""));
        pages
            .post("/password-reset/confirm", &[("token", &token), ("new_password", "short")])
            .await
            .assert_status(422)
            .assert_contains("e-new_password");
        let done = pages
            .post("/password-reset/confirm", &[("token", &token), ("new_password", "a fresh passphrase")])
            .await;
        done.assert_redirect("/login");
        assert!(pages.follow(&done).await.flash().unwrap().contains("signed out everywhere"));
        patient.get("/api/v1/me").await.assert_problem(401, "unauthenticated");
        app.pages().sign_in(&patient.email, "a fresh passphrase").await;
        // Used: the page says so next to the form.
        pages
            .post("/password-reset/confirm", &[("token", &token), ("new_password", "another passphrase")])
            .await
            .assert_status(422)
            .assert_contains("not valid");
    }
}

dual! {
    #[tokio::test]
    async fn two_factor_is_set_up_on_the_profile_and_asked_for_at_sign_in() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Tara Twofactor").await;
        let pages = app.pages();
        pages.sign_in_as(&patient).await;
        pages
            .get("/profile")
            .await
            .assert_status(200)
            .assert_contains("Set up two-factor authentication");
        pages.get("/profile/two-factor").await.assert_status(200);
        pages
            .post("/profile/two-factor/setup", &[])
            .await
            .assert_redirect("/profile/two-factor");
        let setup = pages.get("/profile/two-factor").await;
        setup.assert_status(200).assert_contains("otpauth://totp/");
        let secret = between(&setup.body, "<dt>Key</dt><dd><code>", "</code>").to_owned();
        assert_eq!(secret.len(), 32);
        pages
            .post("/profile/two-factor/confirm", &[("otp", "12345")])
            .await
            .assert_status(422)
            .assert_contains("e-otp");
        let on = pages
            .post("/profile/two-factor/confirm", &[("otp", &code(&secret, app.app.now()))])
            .await;
        on.assert_status(200).assert_contains("not shown again");
        assert_eq!(on.body.matches("<li><code>").count(), 10);
        assert_eq!(
            on.headers.get("cache-control").and_then(|v| v.to_str().ok()),
            Some("no-store")
        );

        // Signing in now asks for the code.
        let other = app.pages();
        other.get("/login").await.assert_lacks("f-otp");
        let asked = other
            .post("/login", &[("email", &patient.email), ("password", PASSWORD)])
            .await;
        asked.assert_status(401).assert_contains("id=\"f-otp\"");
        other
            .post("/login", &[("email", &patient.email), ("password", PASSWORD), ("otp", "000000")])
            .await
            .assert_status(401)
            .assert_contains("not valid");
        app.advance_clock(SignedDuration::from_secs(30));
        let now = app.app.now();
        other
            .post("/login", &[("email", &patient.email), ("password", PASSWORD), ("otp", &code(&secret, now))])
            .await
            .assert_redirect("/visits");

        // Turning it off takes the password and a code.
        app.advance_clock(SignedDuration::from_secs(30));
        let now = app.app.now();
        pages.get("/profile/two-factor").await.assert_contains("Turn off");
        pages
            .post("/profile/two-factor/disable", &[("password", "wrong password"), ("otp", &code(&secret, now))])
            .await
            .assert_status(422)
            .assert_contains("e-password");
        pages
            .post("/profile/two-factor/disable", &[("password", PASSWORD), ("otp", &code(&secret, now))])
            .await
            .assert_redirect("/profile/two-factor");
        app.pages().sign_in_as(&patient).await;
    }
}

dual! {
    #[tokio::test]
    async fn the_verification_link_opens_a_page_whose_button_works_once() {
        let app = TestApp::spawn_with(|s| s.email_verification = true).await;
        let patient = app.register_patient("Vic Verify").await;
        let pages = app.pages();
        pages.sign_in_as(&patient).await;
        pages
            .get("/profile")
            .await
            .assert_contains("Confirm your email address");
        let token = new_token(&app, &patient.email, "/verify-email", &BTreeSet::new()).await;
        let landing = pages.get(&format!("/verify-email?token={token}")).await;
        landing
            .assert_status(200)
            .assert_contains("Confirm my email address");
        let done = pages.post("/verify-email", &[("token", &token)]).await;
        done.assert_redirect("/visits");
        assert!(pages.follow(&done).await.flash().unwrap().contains("confirmed"));
        pages
            .post("/verify-email", &[("token", &token)])
            .await
            .assert_status(422)
            .assert_contains("not valid");
        pages
            .get("/profile")
            .await
            .assert_lacks("Send me a new link");
    }
}

dual! {
    #[tokio::test]
    async fn staff_who_must_use_two_factor_are_sent_to_its_page() {
        let app = TestApp::spawn_with(|s| s.require_staff_2fa = true).await;
        let admin = app.admin().await;
        let pages = app.pages();
        let signed_in = pages.sign_in(&admin.email, PASSWORD).await;
        signed_in.assert_redirect("/admin/users");
        pages
            .follow(&signed_in)
            .await
            .assert_redirect("/profile/two-factor");
        pages.get("/profile").await.assert_redirect("/profile/two-factor");
        pages.get("/desk").await.assert_redirect("/profile/two-factor");
        pages
            .get("/profile/two-factor")
            .await
            .assert_status(200)
            .assert_contains("requires two-factor authentication");
        pages.post("/profile/two-factor/setup", &[]).await.assert_redirect("/profile/two-factor");
        let setup = pages.get("/profile/two-factor").await;
        let secret = between(&setup.body, "<dt>Key</dt><dd><code>", "</code>").to_owned();
        pages
            .post("/profile/two-factor/confirm", &[("otp", &code(&secret, app.app.now()))])
            .await
            .assert_status(200);
        pages.get("/admin/users").await.assert_status(200);
    }
}
