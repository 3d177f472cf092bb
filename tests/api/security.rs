//! Account security (issue 8, "Access"): password reset by emailed link, password
//! change, email verification, and two-factor authentication (TOTP and recovery
//! codes), on both stores. The TOTP algorithm's RFC 6238 vectors are unit tests in
//! `src/app/totp.rs`.

use std::collections::BTreeSet;

use carebook::app::totp;
use jiff::{SignedDuration, Timestamp};
use reqwest::header;
use serde_json::{Value, json};

use crate::support::{PASSWORD, TUE_0900, TestApp, User};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// Undoes quoted-printable: soft line breaks and `=XX` escapes.
fn unquote(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every email in the test's mail folder addressed to `to`, decoded.
pub fn mails_to(app: &TestApp, to: &str) -> Vec<String> {
    let mut mails = Vec::new();
    for entry in std::fs::read_dir(app.mail_dir.path()).expect("the mail folder") {
        let raw = std::fs::read_to_string(entry.expect("an entry").path()).expect("an email");
        if raw.lines().any(|l| l.starts_with("To:") && l.contains(to)) {
            mails.push(unquote(&raw));
        }
    }
    mails
}

/// The tokens of every link to `path` (`/password-reset`, `/verify-email`) emailed
/// to `to` so far.
pub fn tokens_sent(app: &TestApp, to: &str, path: &str) -> BTreeSet<String> {
    let needle = format!("{path}?token=");
    let mut tokens = BTreeSet::new();
    for mail in mails_to(app, to) {
        for (at, _) in mail.match_indices(&needle) {
            let token: String = mail[at + needle.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            tokens.insert(token);
        }
    }
    tokens
}

/// Delivers what is due and returns the one token newly emailed to `to`.
pub async fn new_token(app: &TestApp, to: &str, path: &str, before: &BTreeSet<String>) -> String {
    app.deliver().await;
    let now = tokens_sent(app, to, path);
    let fresh: Vec<&String> = now.difference(before).collect();
    assert_eq!(fresh.len(), 1, "one new {path} link for {to}: {fresh:?}");
    fresh[0].clone()
}

async fn request_reset(app: &TestApp, email: &str) -> Value {
    let res = app
        .anon()
        .post("/api/v1/auth/password-reset", &json!({ "email": email }))
        .await;
    res.assert_status(202);
    res.body.clone()
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> crate::support::Res {
    app.anon()
        .post(
            "/api/v1/auth/password-reset/confirm",
            &json!({ "token": token, "new_password": password }),
        )
        .await
}

pub async fn audit_actions(app: &TestApp, subject: &str) -> Vec<Value> {
    let res = app
        .admin()
        .await
        .get(&format!("/api/v1/audit?subject_id={subject}&limit=100"))
        .await;
    res.assert_status(200);
    res.items().clone()
}

dual! {
#[tokio::test]
async fn a_reset_link_works_once_within_the_hour_and_ends_every_session() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Rosa Reset").await;
    let second = app.log_in(&patient.email, PASSWORD).await;

    // Known or not, the answer is the same.
    let known = request_reset(&app, &patient.email).await;
    let unknown = request_reset(&app, "nobody.here@example.com").await;
    assert_eq!(known, unknown);
    app.anon()
        .post("/api/v1/auth/password-reset", &json!({ "email": "not an address" }))
        .await
        .assert_invalid(&["email"]);
    let token = new_token(&app, &patient.email, "/password-reset", &BTreeSet::new()).await;
    let link = mails_to(&app, &patient.email)
        .into_iter()
        .find(|m| m.contains(&token))
        .expect("the reset email");
    assert!(link.contains(&format!("{}/password-reset?token={token}", app.app.settings.public_url)));

    // A bad password is refused without using the token up.
    confirm_reset(&app, &token, "short").await.assert_invalid(&["new_password"]);
    confirm_reset(&app, &token, &patient.email).await.assert_invalid(&["new_password"]);
    confirm_reset(&app, "made-up-token", NEW_PASSWORD).await.assert_invalid(&["token"]);
    patient.get("/api/v1/me").await.assert_status(200);

    confirm_reset(&app, &token, NEW_PASSWORD).await.assert_status(204);
    patient.get("/api/v1/me").await.assert_problem(401, "unauthenticated");
    second.get("/api/v1/me").await.assert_problem(401, "unauthenticated");
    app.login(&patient.email, PASSWORD).await.assert_problem(401, "invalid-credentials");
    app.log_in(&patient.email, NEW_PASSWORD).await;
    // Once only.
    confirm_reset(&app, &token, "yet another passphrase").await.assert_invalid(&["token"]);

    // A newer request supersedes the older link.
    let mut seen = tokens_sent(&app, &patient.email, "/password-reset");
    request_reset(&app, &patient.email).await;
    let older = new_token(&app, &patient.email, "/password-reset", &seen).await;
    seen.insert(older.clone());
    request_reset(&app, &patient.email).await;
    let newer = new_token(&app, &patient.email, "/password-reset", &seen).await;
    seen.insert(newer.clone());
    confirm_reset(&app, &older, "superseded passphrase").await.assert_invalid(&["token"]);

    // After an hour the newer one has expired as well.
    app.advance_clock(SignedDuration::from_mins(61));
    confirm_reset(&app, &newer, "too late passphrase").await.assert_invalid(&["token"]);
    app.log_in(&patient.email, NEW_PASSWORD).await;

    // Within the hour it works.
    request_reset(&app, &patient.email).await;
    let timely = new_token(&app, &patient.email, "/password-reset", &seen).await;
    app.advance_clock(SignedDuration::from_mins(59));
    confirm_reset(&app, &timely, PASSWORD).await.assert_status(204);
    app.log_in(&patient.email, PASSWORD).await;

    // Only known, active accounts get mail; the audit trail names no secret.
    let deliveries = app
        .admin()
        .await
        .get("/api/v1/notifications/deliveries?limit=100")
        .await;
    let resets: Vec<&Value> = deliveries
        .items()
        .iter()
        .filter(|d| d["kind"] == "password_reset")
        .collect();
    assert_eq!(resets.len(), 4, "one per request for the known address");
    assert!(resets.iter().all(|d| d["user_id"] == patient.id.as_str() && d["channel"] == "email"));
    // Once sent, the outbox keeps no copy of the link.
    for reset in &resets {
        assert_eq!(reset["status"], "sent");
        let id = reset["id"].as_str().unwrap().to_owned();
        let stored = app
            .app
            .store
            .read(move |tx| tx.find_delivery(&id))
            .await
            .unwrap()
            .expect("the delivery");
        assert!(!stored.payload.contains("token="), "{}", stored.payload);
    }
    let audit = audit_actions(&app, &patient.id).await;
    let actions: Vec<&str> = audit.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "user.password_reset_requested").count(), 4);
    assert_eq!(actions.iter().filter(|a| **a == "user.password_reset").count(), 2);
    let text = serde_json::to_string(&audit).unwrap();
    for secret in [&token, &older, &newer, &timely] {
        assert!(!text.contains(secret.as_str()));
    }
}
}

dual! {
#[tokio::test]
async fn reset_requests_are_throttled_like_logins_whether_or_not_the_address_is_known() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Theo Throttle").await;
    for email in [patient.email.as_str(), "ghost@example.com"] {
        for _ in 0..5 {
            request_reset(&app, email).await;
        }
        let refused = app
            .anon()
            .post("/api/v1/auth/password-reset", &json!({ "email": email }))
            .await;
        refused.assert_problem(429, "too-many-attempts");
        assert!(refused.header(header::RETRY_AFTER).is_some());
    }
    app.advance_clock(SignedDuration::from_mins(16));
    request_reset(&app, &patient.email).await;
}
}

dual! {
#[tokio::test]
async fn an_unverified_patient_signs_in_but_books_only_after_the_link_is_used_once() {
    let app = TestApp::spawn_with(|s| s.email_verification = true).await;
    let doctor = app.create_doctor("Dora Doctor").await;
    let patient = app.register_patient("Vera Verify").await;
    let security = patient.get("/api/v1/me/security").await;
    security.assert_status(200);
    assert_eq!(security.body["email_verified"], false);

    app.book(&patient, &doctor.id, TUE_0900)
        .await
        .assert_problem(403, "email-unverified");
    // The front desk may book for them.
    let desk = app.create_receptionist().await;
    desk.post(
        "/api/v1/appointments",
        &json!({ "doctor_id": doctor.id, "start": TUE_0900, "patient_id": patient.id }),
    )
    .await
    .assert_status(201);

    let first = new_token(&app, &patient.email, "/verify-email", &BTreeSet::new()).await;
    // A new link replaces the first.
    patient
        .post_empty("/api/v1/me/email-verification")
        .await
        .assert_status(202);
    let mut seen = BTreeSet::from([first.clone()]);
    let second = new_token(&app, &patient.email, "/verify-email", &seen).await;
    seen.insert(second.clone());
    let verify = |token: String| {
        let api = app.anon();
        async move {
            api.post("/api/v1/auth/email-verification/confirm", &json!({ "token": token }))
                .await
        }
    };
    verify(first).await.assert_invalid(&["token"]);
    verify(second.clone()).await.assert_status(204);
    verify(second).await.assert_invalid(&["token"]);

    assert_eq!(patient.get("/api/v1/me/security").await.body["email_verified"], true);
    app.book(&patient, &doctor.id, "2026-03-03T09:00:00Z").await.assert_status(201);
    patient
        .post_empty("/api/v1/me/email-verification")
        .await
        .assert_problem(409, "nothing-to-verify");
    let audit = audit_actions(&app, &patient.id).await;
    assert!(audit.iter().any(|e| e["action"] == "user.email_verified"));

    // Links expire after 48 hours.
    let late = app.register_patient("Lars Late").await;
    let token = new_token(&app, &late.email, "/verify-email", &BTreeSet::new()).await;
    app.advance_clock(SignedDuration::from_hours(49));
    verify(token).await.assert_invalid(&["token"]);

    // Staff accounts and doctors who register themselves get no link.
    assert!(tokens_sent(&app, &desk.email, "/verify-email").is_empty());
    assert!(tokens_sent(&app, &doctor.email, "/verify-email").is_empty());
}
}

dual! {
#[tokio::test]
async fn without_the_setting_nobody_is_asked_to_verify() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Dora Doctor").await;
    let patient = app.register_patient("Nina Noverify").await;
    assert_eq!(patient.get("/api/v1/me/security").await.body["email_verified"], true);
    app.book(&patient, &doctor.id, TUE_0900).await.assert_status(201);
    app.deliver().await;
    assert!(tokens_sent(&app, &patient.email, "/verify-email").is_empty());
}
}

/// Logs in with a second factor, as it answers.
async fn login_with(app: &TestApp, email: &str, otp: &str) -> crate::support::Res {
    app.anon()
        .post(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": PASSWORD, "otp": otp }),
        )
        .await
}

pub fn code(secret: &str, at: Timestamp) -> String {
    totp::code_at(secret, at).expect("a valid secret")
}

/// Sets up and confirms two-factor authentication; the secret and recovery codes.
pub async fn turn_on_two_factor(app: &TestApp, user: &User) -> (String, Vec<String>) {
    let setup = user.post_empty("/api/v1/me/2fa/setup").await;
    setup.assert_status(200);
    let secret = setup.str("secret").to_owned();
    let confirmed = user
        .post(
            "/api/v1/me/2fa/confirm",
            &json!({ "otp": code(&secret, app.app.now()) }),
        )
        .await;
    confirmed.assert_status(200);
    let codes = confirmed.body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes)
}

dual! {
#[tokio::test]
async fn two_factor_codes_are_checked_at_login_never_twice_and_recovery_codes_once() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Tom Totp").await;

    let setup = patient.post_empty("/api/v1/me/2fa/setup").await;
    setup.assert_status(200);
    let secret = setup.str("secret").to_owned();
    assert_eq!(totp::base32_decode(&secret).unwrap().len(), 20);
    let uri = setup.str("otpauth_uri");
    assert!(uri.starts_with("otpauth://totp/") && uri.contains(&format!("secret={secret}")), "{uri}");
    let status = patient.get("/api/v1/me/security").await;
    assert_eq!(status.body["two_factor_enabled"], false);
    assert_eq!(status.body["two_factor_pending_confirmation"], true);
    // Not on until confirmed: login needs no code yet.
    app.log_in(&patient.email, PASSWORD).await;

    let now = app.app.now();
    let wrong = if code(&secret, now) == "123456" { "654321" } else { "123456" };
    patient
        .post("/api/v1/me/2fa/confirm", &json!({ "otp": wrong }))
        .await
        .assert_invalid(&["otp"]);
    let confirmed = patient
        .post("/api/v1/me/2fa/confirm", &json!({ "otp": code(&secret, now) }))
        .await;
    confirmed.assert_status(200);
    let recovery: Vec<String> = confirmed.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    assert_eq!(recovery.iter().collect::<BTreeSet<_>>().len(), 10);
    patient
        .post_empty("/api/v1/me/2fa/setup")
        .await
        .assert_problem(409, "two-factor-enabled");

    app.login(&patient.email, PASSWORD).await.assert_problem(401, "otp-required");
    login_with(&app, &patient.email, wrong).await.assert_problem(401, "invalid-otp");
    // The wrong password with a right code says nothing about the second factor.
    app.anon()
        .post(
            "/api/v1/auth/login",
            &json!({ "email": patient.email, "password": "not the password", "otp": code(&secret, now) }),
        )
        .await
        .assert_problem(401, "invalid-credentials");
    // The code that confirmed the setup was used: not again.
    login_with(&app, &patient.email, &code(&secret, now)).await.assert_problem(401, "invalid-otp");
    app.advance_clock(SignedDuration::from_secs(30));
    let now = app.app.now();
    login_with(&app, &patient.email, &code(&secret, now)).await.assert_status(200);
    login_with(&app, &patient.email, &code(&secret, now)).await.assert_problem(401, "invalid-otp");
    // One step of drift either way is accepted, once.
    app.advance_clock(SignedDuration::from_secs(60));
    let now = app.app.now();
    login_with(&app, &patient.email, &code(&secret, now + SignedDuration::from_secs(30)))
        .await
        .assert_status(200);
    app.advance_clock(SignedDuration::from_secs(120));
    let now = app.app.now();
    login_with(&app, &patient.email, &code(&secret, now - SignedDuration::from_secs(60)))
        .await
        .assert_problem(401, "invalid-otp");

    // A recovery code stands in for the app, once; typed in any case.
    login_with(&app, &patient.email, &recovery[0].to_uppercase()).await.assert_status(200);
    login_with(&app, &patient.email, &recovery[0]).await.assert_problem(401, "invalid-otp");
    assert_eq!(patient.get("/api/v1/me/security").await.body["recovery_codes_left"], 9);

    // Turning it off needs the password and a current code.
    app.advance_clock(SignedDuration::from_secs(30));
    let now = app.app.now();
    patient
        .post("/api/v1/me/2fa/disable", &json!({ "password": "not the password", "otp": code(&secret, now) }))
        .await
        .assert_invalid(&["password"]);
    patient
        .post("/api/v1/me/2fa/disable", &json!({ "password": PASSWORD, "otp": recovery[0] }))
        .await
        .assert_invalid(&["otp"]);
    patient
        .post("/api/v1/me/2fa/disable", &json!({ "password": PASSWORD, "otp": code(&secret, now) }))
        .await
        .assert_status(204);
    app.log_in(&patient.email, PASSWORD).await;
    patient
        .post("/api/v1/me/2fa/disable", &json!({ "password": PASSWORD, "otp": code(&secret, now) }))
        .await
        .assert_problem(409, "two-factor-not-enabled");

    let audit = audit_actions(&app, &patient.id).await;
    let actions: BTreeSet<&str> = audit.iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["user.two_factor_setup_started", "user.two_factor_enabled", "user.two_factor_disabled"] {
        assert!(actions.contains(action), "{action} in {actions:?}");
    }
    let text = serde_json::to_string(&audit).unwrap();
    assert!(!text.contains(&secret));
    assert!(recovery.iter().all(|c| !text.contains(c.as_str())));
}
}

dual! {
#[tokio::test]
async fn missing_and_wrong_codes_count_toward_login_throttling() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Otto Otp").await;
    let (secret, _) = turn_on_two_factor(&app, &patient).await;
    app.login(&patient.email, PASSWORD).await.assert_problem(401, "otp-required");
    for _ in 0..4 {
        login_with(&app, &patient.email, "000000").await;
    }
    app.advance_clock(SignedDuration::from_secs(30));
    let right = code(&secret, app.app.now());
    login_with(&app, &patient.email, &right).await.assert_problem(429, "too-many-attempts");
}
}

dual! {
#[tokio::test]
async fn staff_required_to_use_two_factor_can_only_set_it_up_until_they_do() {
    let app = TestApp::spawn_with(|s| s.require_staff_2fa = true).await;
    // The admin is staff too: they turn it on first, then create the doctor.
    let admin = app.admin().await;
    admin
        .get("/api/v1/users")
        .await
        .assert_problem(403, "two-factor-required");
    turn_on_two_factor(&app, &admin).await;
    admin.get("/api/v1/users").await.assert_status(200);
    let doctor = app.create_staff("Sam Staff", "doctor").await;
    let patient = app.register_patient("Pia Patient").await;

    doctor
        .get("/api/v1/appointments")
        .await
        .assert_problem(403, "two-factor-required");
    doctor
        .put(&format!("/api/v1/doctors/{}/schedule", doctor.id), &crate::support::default_schedule())
        .await
        .assert_problem(403, "two-factor-required");
    doctor.get("/api/v1/me").await.assert_status(200);
    let status = doctor.get("/api/v1/me/security").await;
    assert_eq!(status.body["two_factor_required"], true);
    assert_eq!(status.body["two_factor_enabled"], false);
    // Patients are not bound.
    patient.get("/api/v1/appointments").await.assert_status(200);
    assert_eq!(patient.get("/api/v1/me/security").await.body["two_factor_required"], false);

    turn_on_two_factor(&app, &doctor).await;
    doctor.get("/api/v1/appointments").await.assert_status(200);
    doctor.post_empty("/api/v1/auth/logout").await.assert_status(204);
}
}
