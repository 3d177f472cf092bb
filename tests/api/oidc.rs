//! Sign-in with an OpenID Connect provider, against the small provider of
//! `carebook::testing::oidc`: new patients, linking an existing account by its
//! password, refused tokens and callbacks, key rotation, and the staff rules.

use carebook::config::Secret;
use carebook::testing::oidc::{OidcProvider, Tamper, TestIdentity};
use jiff::SignedDuration;
use reqwest::header;
use serde_json::{Value, json};

use crate::pages::{PageRes, Pages};
use crate::security::{audit_actions, code, turn_on_two_factor};
use crate::support::*;

const CLIENT_ID: &str = "carebook-test-client";
const CLIENT_SECRET: &str = "carebook-test-client-secret";

/// A provider and a carebook that trusts it (staff allowed or not).
async fn spawn(staff_allowed: bool, require_staff_2fa: bool) -> (TestApp, OidcProvider) {
    let provider = OidcProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_with_base(|settings, base| {
        settings.public_url = base.to_owned();
        settings.oidc_issuer = Some(issuer);
        settings.oidc_client_id = Some(CLIENT_ID.into());
        settings.oidc_client_secret = Some(Secret(CLIENT_SECRET.into()));
        settings.oidc_staff_allowed = staff_allowed;
        settings.require_staff_2fa = require_staff_2fa;
        // On, so that "the provider verified the address" is seen to count.
        settings.email_verification = true;
    })
    .await;
    provider.use_clock(app.clock.clone());
    (app, provider)
}

/// Starts a sign-in in `pages` and goes through the provider like a browser:
/// the callback path (with code and state) the provider sent it back to.
async fn to_provider_and_back(pages: &Pages, start: &str) -> String {
    let started = pages.get(start).await;
    started.assert_status(303);
    let authorize = started.location().to_owned();
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let at_provider = browser.get(&authorize).send().await.unwrap();
    assert!(
        at_provider.status().is_redirection(),
        "the provider refused the authorization request {authorize}: {}",
        at_provider.status()
    );
    let back = at_provider.headers()[header::LOCATION].to_str().unwrap();
    // The redirect URI is `public_url` (this server) + `/auth/oidc/callback`.
    let path = back
        .strip_prefix(pages.base())
        .unwrap_or_else(|| panic!("back to the redirect URI: {back}"));
    assert!(path.starts_with("/auth/oidc/callback?"), "{path}");
    path.to_owned()
}

/// A whole round trip: what the callback answered.
async fn sign_in_with_provider(pages: &Pages) -> PageRes {
    let callback = to_provider_and_back(pages, "/auth/oidc/start").await;
    pages.get(&callback).await
}

/// Asserts the answer went back to the login page with an error containing
/// `message`, and that the browser holds no session.
#[track_caller]
fn assert_refused(pages: &Pages, res: &PageRes, message: &str) {
    res.assert_redirect("/login");
    assert!(
        pages.cookie("carebook_session").is_none(),
        "nobody is signed in"
    );
    let flash = res
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("carebook_flash="))
        .expect("a flash message");
    let value = flash
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("carebook_flash=");
    let text = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, value).unwrap(),
    )
    .unwrap();
    assert!(text.contains(message), "flash {text:?} lacks {message:?}");
}

async fn users_with_email(app: &TestApp, email: &str) -> Vec<Value> {
    let res = app
        .admin()
        .await
        .get(&format!("/api/v1/users?q={}", email.replace('@', "%40")))
        .await;
    res.assert_status(200);
    res.items()
        .iter()
        .filter(|u| u["email"] == email)
        .cloned()
        .collect()
}

async fn identities_of(app: &TestApp, user: &str) -> usize {
    app.app
        .oidc_identities_of(&carebook::store::UserId::new(user.to_owned()))
        .await
        .unwrap()
        .len()
}

dual! {
#[tokio::test]
async fn a_new_person_signs_in_with_the_provider_and_becomes_a_patient() {
    let (app, provider) = spawn(false, false).await;
    let email = "new.person@example.com";
    provider.set_identity(TestIdentity::verified("google-123", email, "Nora Newcomer"));
    let pages = app.pages();
    let login = pages.get("/login?next=/profile").await;
    login
        .assert_status(200)
        .assert_contains(&format!(
            "Sign in with {}",
            provider.issuer().trim_start_matches("http://")
        ));
    assert_eq!(login.links("/auth/oidc/start"), ["/auth/oidc/start?next=%2Fprofile"]);

    let callback = to_provider_and_back(&pages, "/auth/oidc/start?next=/profile").await;
    let res = pages.get(&callback).await;
    res.assert_redirect("/profile");
    assert!(pages.cookie("carebook_session").is_some());
    assert!(pages.cookie("carebook_oidc").is_none(), "the sign-in's cookie is used up");
    pages.get("/profile").await.assert_status(200).assert_contains("Nora Newcomer");

    // PKCE: the verifier went to the token endpoint (which checked it against the
    // challenge), with the client's credentials in the Basic header.
    let requests = provider.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].client_auth, "client_secret_basic");
    assert!(requests[0].code_verifier.as_deref().is_some_and(|v| v.len() >= 43));
    assert_eq!(requests[0].status, 200);

    let users = users_with_email(&app, email).await;
    assert_eq!(users.len(), 1);
    assert_eq!(users[0]["role"], "patient");
    assert_eq!(users[0]["name"], "Nora Newcomer");
    let id = users[0]["id"].as_str().unwrap();
    assert_eq!(identities_of(&app, id).await, 1);
    // No password works until a reset.
    app.login(email, PASSWORD).await.assert_problem(401, "invalid-credentials");
    // The address counts as verified (the provider vouched for it).
    let session = pages.cookie("carebook_session").unwrap();
    let security = app.with_token(&session).get("/api/v1/me/security").await;
    security.assert_status(200);
    assert_eq!(security.body["email_verified"], true);

    let actions = audit_actions(&app, id).await;
    let registered = actions.iter().find(|a| a["action"] == "user.registered").unwrap();
    assert_eq!(registered["detail"]["method"], "oidc");
    let signed_in = actions.iter().find(|a| a["action"] == "login.succeeded").unwrap();
    assert_eq!(signed_in["detail"]["method"], "oidc");
    for entry in &actions {
        assert!(!entry.to_string().contains(email), "no e-mail in audit details");
    }

    // The next sign-in finds the same account.
    let again = app.pages();
    sign_in_with_provider(&again).await.assert_redirect("/visits");
    assert_eq!(users_with_email(&app, email).await.len(), 1);
}
}

dual! {
#[tokio::test]
async fn an_existing_patient_links_only_with_their_password_then_signs_in_directly() {
    let (app, provider) = spawn(false, false).await;
    let patient = app.register_patient("Lena Linked").await;
    provider.set_identity(TestIdentity::verified("sub-lena", &patient.email, "Lena L."));
    let pages = app.pages();
    let res = sign_in_with_provider(&pages).await;
    res.assert_redirect("/auth/oidc/link");
    assert!(pages.cookie("carebook_session").is_none());
    pages
        .get("/auth/oidc/link")
        .await
        .assert_status(200)
        .assert_contains("Enter its password once");

    // A wrong password, on the page and through the API: refused, nothing linked.
    pages
        .post("/auth/oidc/link", &[("password", "not the password")])
        .await
        .assert_status(401)
        .assert_contains("That password is not right");
    let step = pages.cookie("carebook_oidc_step").expect("the step's cookie");
    let api = |password: &str| {
        let client = carebook::testing::http_client();
        let url = format!("{}/api/v1/auth/oidc/link", app.base);
        let body = json!({ "password": password });
        let step = step.clone();
        async move {
            Res::from(
                client
                    .post(url)
                    .header(header::COOKIE, format!("carebook_oidc_step={step}"))
                    .json(&body)
                    .send()
                    .await,
            )
            .await
        }
    };
    api("still not the password").await.assert_problem(401, "invalid-credentials");
    assert_eq!(identities_of(&app, &patient.id).await, 0);
    // Without the step's cookie there is nothing to link.
    app.anon()
        .post("/api/v1/auth/oidc/link", &json!({ "password": PASSWORD }))
        .await
        .assert_problem(401, "oidc-step-expired");
    assert_eq!(identities_of(&app, &patient.id).await, 0);

    let linked = api(PASSWORD).await;
    linked.assert_status(200);
    assert_eq!(linked.body["user"]["id"], patient.id.as_str());
    let token = linked.str("token").to_owned();
    app.with_token(&token).get("/api/v1/me").await.assert_status(200);
    // Her address was waiting for its link: the provider and her password settle it.
    let security = app.with_token(&token).get("/api/v1/me/security").await;
    assert_eq!(security.body["email_verified"], true);
    assert_eq!(identities_of(&app, &patient.id).await, 1);
    // The step is used up.
    api(PASSWORD).await.assert_problem(401, "oidc-step-expired");
    let actions = audit_actions(&app, &patient.id).await;
    assert!(actions.iter().any(|a| a["action"] == "user.oidc_linked"));
    assert!(actions.iter().any(|a| a["action"] == "login.failed" && a["detail"]["method"] == "oidc_link"));

    // From now on the provider alone signs her in, in any browser.
    let other = app.pages();
    sign_in_with_provider(&other).await.assert_redirect("/visits");
    assert!(other.cookie("carebook_session").is_some());
    // Her password still works too.
    app.log_in(&patient.email, PASSWORD).await;
}
}

dual! {
#[tokio::test]
async fn the_link_form_signs_in_and_wrong_passwords_are_throttled_like_logins() {
    let (app, provider) = spawn(false, false).await;
    let patient = app.register_patient("Tom Throttled").await;
    provider.set_identity(TestIdentity::verified("sub-tom", &patient.email, "Tom"));
    let pages = app.pages();
    sign_in_with_provider(&pages).await.assert_redirect("/auth/oidc/link");
    pages.get("/auth/oidc/link").await.assert_status(200);
    for _ in 0..5 {
        pages
            .post("/auth/oidc/link", &[("password", "a wrong password")])
            .await
            .assert_status(401);
    }
    // The sixth try is throttled, even with the right password.
    pages
        .post("/auth/oidc/link", &[("password", PASSWORD)])
        .await
        .assert_status(429);
    assert_eq!(identities_of(&app, &patient.id).await, 0);
    app.advance_clock(SignedDuration::from_mins(9));
    let res = pages.post("/auth/oidc/link", &[("password", PASSWORD)]).await;
    // The window (15 minutes) is not over yet.
    res.assert_status(429);

    // A fresh round trip after the window: the form links and signs in.
    app.advance_clock(SignedDuration::from_mins(7));
    let again = app.pages();
    sign_in_with_provider(&again).await.assert_redirect("/auth/oidc/link");
    again.get("/auth/oidc/link").await.assert_status(200);
    again
        .post("/auth/oidc/link", &[("password", PASSWORD)])
        .await
        .assert_redirect("/visits");
    assert!(again.cookie("carebook_session").is_some());
    assert_eq!(identities_of(&app, &patient.id).await, 1);
}
}

dual! {
#[tokio::test]
async fn refused_tokens_sign_nobody_in_and_change_nothing() {
    let (app, provider) = spawn(false, false).await;
    // One good sign-in first, so that an earlier nonce exists to replay.
    provider.set_identity(TestIdentity::verified("sub-first", "first@example.com", "First"));
    sign_in_with_provider(&app.pages()).await.assert_redirect("/visits");
    let email = "tampered@example.com";
    provider.set_identity(TestIdentity::verified("sub-tampered", email, "Tampered"));
    for tamper in [
        Tamper::WrongAudience,
        Tamper::Expired,
        Tamper::BadSignature,
        Tamper::WrongIssuer,
        Tamper::ReplayNonce,
        Tamper::AlgNone,
    ] {
        provider.tamper_next(tamper);
        let pages = app.pages();
        let res = sign_in_with_provider(&pages).await;
        assert_refused(&pages, &res, "could not be verified");
        assert!(users_with_email(&app, email).await.is_empty(), "{tamper:?} created nobody");
    }
    // Untampered, the same person gets in.
    let pages = app.pages();
    sign_in_with_provider(&pages).await.assert_redirect("/visits");
    assert_eq!(users_with_email(&app, email).await.len(), 1);
}
}

dual! {
#[tokio::test]
async fn a_callback_works_once_in_its_own_browser_and_in_time() {
    let (app, provider) = spawn(false, false).await;
    provider.set_identity(TestIdentity::verified("sub-cb", "callback@example.com", "Cal Back"));

    // Another browser cannot finish a sign-in this one started.
    let mine = app.pages();
    let callback = to_provider_and_back(&mine, "/auth/oidc/start").await;
    let theirs = app.pages();
    let res = theirs.get(&callback).await;
    assert_refused(&theirs, &res, "started in another browser");
    assert!(users_with_email(&app, "callback@example.com").await.is_empty());

    // A callback works once: replayed (even with the cookie kept), it is refused.
    let pages = app.pages();
    let callback = to_provider_and_back(&pages, "/auth/oidc/start").await;
    let browser_cookie = pages.cookie("carebook_oidc").unwrap();
    pages.get(&callback).await.assert_redirect("/visits");
    let replay = app.pages();
    replay.set_cookie("carebook_oidc", &browser_cookie);
    let res = replay.get(&callback).await;
    assert_refused(&replay, &res, "used already");

    // An unknown state, and no state at all.
    let pages = app.pages();
    pages.get("/login").await;
    let res = pages.get("/auth/oidc/callback?code=abc&state=made-up").await;
    assert_refused(&pages, &res, "not valid here");
    let res = pages.get("/auth/oidc/callback?code=abc").await;
    assert_refused(&pages, &res, "not valid here");

    // Too slow: the sign-in expires after ten minutes.
    let slow = app.pages();
    let callback = to_provider_and_back(&slow, "/auth/oidc/start").await;
    app.advance_clock(SignedDuration::from_mins(11));
    let res = slow.get(&callback).await;
    assert_refused(&slow, &res, "expired");

    // The person says no at the provider.
    provider.set_refusing(true);
    let refusing = app.pages();
    let callback = to_provider_and_back(&refusing, "/auth/oidc/start").await;
    assert!(callback.contains("error=access_denied"));
    let res = refusing.get(&callback).await;
    assert_refused(&refusing, &res, "cancelled or refused");
    assert_eq!(users_with_email(&app, "callback@example.com").await.len(), 1);
}
}

dual! {
#[tokio::test]
async fn rotated_keys_are_fetched_once_when_an_unknown_key_signs() {
    let (app, provider) = spawn(false, false).await;
    provider.set_identity(TestIdentity::verified("sub-rot", "rotation@example.com", "Rota"));
    sign_in_with_provider(&app.pages()).await.assert_redirect("/visits");
    assert_eq!(provider.jwks_fetches(), 1);
    sign_in_with_provider(&app.pages()).await.assert_redirect("/visits");
    assert_eq!(provider.jwks_fetches(), 1, "the keys are cached");
    provider.rotate_keys();
    sign_in_with_provider(&app.pages()).await.assert_redirect("/visits");
    assert_eq!(provider.jwks_fetches(), 2, "an unknown key id reads the key set again");
    sign_in_with_provider(&app.pages()).await.assert_redirect("/visits");
    assert_eq!(provider.jwks_fetches(), 2);
}
}

dual! {
#[tokio::test]
async fn an_unverified_address_neither_links_nor_creates() {
    let (app, provider) = spawn(false, false).await;
    let patient = app.register_patient("Una Verified").await;
    for email in [patient.email.as_str(), "someone.new@example.com"] {
        provider.set_identity(TestIdentity {
            email_verified: false,
            ..TestIdentity::verified("sub-unverified", email, "Una")
        });
        let pages = app.pages();
        let res = sign_in_with_provider(&pages).await;
        assert_refused(&pages, &res, "has not verified your e-mail address");
    }
    assert_eq!(identities_of(&app, &patient.id).await, 0);
    assert!(users_with_email(&app, "someone.new@example.com").await.is_empty());
}
}

dual! {
#[tokio::test]
async fn staff_sign_in_with_the_provider_only_when_allowed() {
    let (app, provider) = spawn(false, false).await;
    let doctor = app.create_doctor("Dora Doctor").await;
    provider.set_identity(TestIdentity::verified("sub-dora", &doctor.email, "Dora"));
    let pages = app.pages();
    let res = sign_in_with_provider(&pages).await;
    assert_refused(&pages, &res, "sign in with their password");
    assert_eq!(identities_of(&app, &doctor.id).await, 0);
}
}

dual! {
#[tokio::test]
async fn allowed_staff_with_two_factor_still_give_their_code() {
    let (app, provider) = spawn(true, false).await;
    let doctor = app.create_doctor("Dora Doctor").await;
    let (secret, _) = turn_on_two_factor(&app, &doctor).await;
    provider.set_identity(TestIdentity::verified("sub-dora", &doctor.email, "Dora"));

    // Linking: the password alone is not enough, the code is asked.
    let pages = app.pages();
    sign_in_with_provider(&pages).await.assert_redirect("/auth/oidc/link");
    pages.get("/auth/oidc/link").await.assert_status(200);
    pages
        .post("/auth/oidc/link", &[("password", PASSWORD)])
        .await
        .assert_status(401)
        .assert_contains("id=\"f-otp\"");
    assert_eq!(identities_of(&app, &doctor.id).await, 0);
    app.advance_clock(SignedDuration::from_secs(30));
    let otp = code(&secret, app.app.now());
    pages
        .post("/auth/oidc/link", &[("password", PASSWORD), ("otp", &otp)])
        .await
        .assert_redirect("/doctor/today");
    assert_eq!(identities_of(&app, &doctor.id).await, 1);

    // Linked: the provider, then the code (no session before it).
    let next = app.pages();
    sign_in_with_provider(&next).await.assert_redirect("/auth/oidc/code");
    assert!(next.cookie("carebook_session").is_none());
    next.get("/auth/oidc/code").await.assert_status(200).assert_contains("id=\"f-otp\"");
    next.post("/auth/oidc/code", &[("otp", "000000")])
        .await
        .assert_status(401)
        .assert_contains("not valid");
    assert!(next.cookie("carebook_session").is_none());
    app.advance_clock(SignedDuration::from_secs(30));
    let otp = code(&secret, app.app.now());
    next.post("/auth/oidc/code", &[("otp", &otp)])
        .await
        .assert_redirect("/doctor/today");
    assert!(next.cookie("carebook_session").is_some());
    // The code step is used up.
    next.get("/auth/oidc/code").await.assert_redirect("/login");
}
}

dual! {
#[tokio::test]
async fn staff_who_must_set_up_two_factor_get_only_the_setup() {
    let (app, provider) = spawn(true, true).await;
    // Made like the operator makes accounts: the admin's own API calls would need
    // their two-factor set-up first.
    let email = app.email_for("Rita Reception");
    app.app
        .bootstrap_user(carebook::app::RegisterInput {
            email: email.clone(),
            password: PASSWORD.to_owned(),
            name: "Rita Reception".to_owned(),
            role: Some("receptionist".to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    provider.set_identity(TestIdentity::verified("sub-rita", &email, "Rita"));
    let pages = app.pages();
    sign_in_with_provider(&pages).await.assert_redirect("/auth/oidc/link");
    pages.get("/auth/oidc/link").await;
    pages
        .post("/auth/oidc/link", &[("password", PASSWORD)])
        .await
        .assert_redirect("/desk");
    pages.get("/desk").await.assert_redirect("/profile/two-factor");
}
}

dual! {
#[tokio::test]
async fn without_a_client_id_there_is_no_provider_sign_in() {
    let app = TestApp::spawn().await;
    let pages = app.pages();
    pages.get("/login").await.assert_status(200).assert_lacks("Sign in with");
    pages.get("/auth/oidc/start").await.assert_status(404);
}
}

dual! {
#[tokio::test]
async fn an_unreachable_provider_is_said_so_on_the_login_page() {
    // Nothing listens on port 9 of the loopback (discard): the connection is refused.
    let app = TestApp::spawn_with(|settings| {
        settings.oidc_issuer = Some("http://127.0.0.1:9".into());
        settings.oidc_client_id = Some(CLIENT_ID.into());
    })
    .await;
    let pages = app.pages();
    pages
        .get("/login")
        .await
        .assert_contains("Sign in with 127.0.0.1:9");
    let res = pages.get("/auth/oidc/start").await;
    assert_refused(&pages, &res, "cannot be reached");
    assert!(pages.cookie("carebook_oidc").is_none());
}
}

/// How many "new sign-in" e-mails went to `to`.
fn new_sign_in_mails(app: &TestApp, to: &str) -> usize {
    crate::security::mails_to(app, to)
        .iter()
        .filter(|mail| mail.contains("New sign-in to your"))
        .count()
}

/// A password login from `address` (the test server trusts 127.0.0.1 as a proxy).
async fn log_in_from(app: &TestApp, email: &str, address: &str) {
    let res = Res::from(
        app.anon()
            .request(reqwest::Method::POST, "/api/v1/auth/login")
            .header("x-forwarded-for", address)
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await,
    )
    .await;
    res.assert_status(200);
}

dual! {
#[tokio::test]
async fn a_sign_in_from_a_new_address_is_told_by_email_when_the_clinic_asks() {
    let provider = OidcProvider::start(CLIENT_ID, CLIENT_SECRET).await;
    let issuer = provider.issuer();
    let app = TestApp::spawn_with_base(|settings, base| {
        settings.public_url = base.to_owned();
        settings.oidc_issuer = Some(issuer);
        settings.oidc_client_id = Some(CLIENT_ID.into());
        settings.oidc_client_secret = Some(Secret(CLIENT_SECRET.into()));
        settings.trusted_proxies = vec!["127.0.0.1".into()];
        settings.new_sign_in_email = true;
    })
    .await;
    provider.use_clock(app.clock.clone());

    // The first sign-in ever (right after registering) tells nobody; the same
    // address again neither.
    let patient = app.register_patient("Nell Newaddress").await;
    app.log_in(&patient.email, PASSWORD).await;
    app.deliver().await;
    assert_eq!(new_sign_in_mails(&app, &patient.email), 0);
    // Another address: one e-mail, with the way to a new password; then it is known.
    log_in_from(&app, &patient.email, "198.51.100.7").await;
    log_in_from(&app, &patient.email, "198.51.100.7").await;
    app.deliver().await;
    assert_eq!(new_sign_in_mails(&app, &patient.email), 1);
    let mail = crate::security::mails_to(&app, &patient.email)
        .into_iter()
        .find(|m| m.contains("New sign-in to your"))
        .unwrap();
    assert!(mail.contains(&format!("{}/password-reset", app.base)), "{mail}");
    assert!(!mail.contains("198.51.100.7"), "the address is not in the e-mail");

    // Through the provider: a new person's first sign-in tells nobody, later ones
    // from the same address neither.
    provider.set_identity(TestIdentity::verified("sub-nell", "nell.provider@example.com", "Nell"));
    sign_in_with_provider(&app.pages()).await.assert_redirect("/visits");
    sign_in_with_provider(&app.pages()).await.assert_redirect("/visits");
    app.deliver().await;
    assert_eq!(new_sign_in_mails(&app, "nell.provider@example.com"), 0);
}
}

dual! {
#[tokio::test]
async fn without_the_setting_no_sign_in_is_told() {
    let app = TestApp::spawn_with(|settings| {
        settings.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let patient = app.register_patient("Otto Off").await;
    log_in_from(&app, &patient.email, "198.51.100.8").await;
    app.deliver().await;
    assert_eq!(new_sign_in_mails(&app, &patient.email), 0);
}
}
