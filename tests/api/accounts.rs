//! Registration, login, sessions, throttling, cookies and admin user management.

use reqwest::Method;
use reqwest::header;
use serde_json::json;

use crate::support::{PASSWORD, TUE_0900, TestApp, default_schedule};

dual! {
#[tokio::test]
async fn a_patient_registers_logs_in_sees_themself_and_logs_out() {
    let app = TestApp::spawn().await;
    let res = app
        .register(json!({
            "email": "Pat.Patient@Example.com",
            "password": PASSWORD,
            "name": "Pat Patient",
            "phone": "+49 151 1234 5678",
            "date_of_birth": "1990-04-23",
        }))
        .await;
    res.assert_status(201);
    assert!(res.str("id").len() > 4);
    assert_eq!(res.body["email"], "pat.patient@example.com");
    assert_eq!(res.body["name"], "Pat Patient");
    assert_eq!(res.body["role"], "patient");
    assert!(res.body.get("password").is_none() && res.body.get("password_hash").is_none());
    let id = res.str("id").to_owned();

    // The email is case-insensitive at login too.
    let login = app.login("PAT.patient@example.COM", PASSWORD).await;
    login.assert_status(200);
    let token = login.str("token").to_owned();
    assert!(login.body["expires_at"].as_str().unwrap() > "2026-03-02T06:00:00Z");
    assert_eq!(login.body["user"]["id"], id.as_str());
    assert_eq!(login.body["user"]["role"], "patient");

    let me = app.with_token(&token).get("/api/v1/me").await;
    me.assert_status(200);
    assert_eq!(me.body["id"], id.as_str());
    assert_eq!(me.body["email"], "pat.patient@example.com");

    app.with_token(&token)
        .post_empty("/api/v1/auth/logout")
        .await
        .assert_status(204);
    app.with_token(&token)
        .get("/api/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
}
}

dual! {
#[tokio::test]
async fn registration_refuses_bad_input_without_a_server_error() {
    let app = TestApp::spawn().await;
    app.register(json!({ "email": "taken@example.com", "password": PASSWORD, "name": "First" }))
        .await
        .assert_status(201);

    // The same address in another case is the same account.
    app.register(json!({ "email": "TAKEN@Example.com", "password": PASSWORD, "name": "Second" }))
        .await
        .assert_problem(409, "email-taken");

    app.register(json!({ "email": "short@example.com", "password": "123456789", "name": "Short" }))
        .await
        .assert_invalid(&["password"]);
    app.register(json!({
        "email": "same.as.email@example.com",
        "password": "Same.As.Email@example.com",
        "name": "Same",
    }))
    .await
    .assert_invalid(&["password"]);
    app.register(json!({ "email": "not-an-email", "password": "123", "name": "" }))
        .await
        .assert_invalid(&["email", "password", "name"]);

    // An unknown field, or a wrong type: a client error, never a 500.
    let unknown = app
        .register(json!({
            "email": "extra@example.com", "password": PASSWORD, "name": "Extra", "is_admin": true,
        }))
        .await;
    assert!(
        matches!(unknown.status.as_u16(), 400 | 422),
        "{:?}",
        unknown
    );
    assert_eq!(
        unknown.header(header::CONTENT_TYPE),
        Some("application/problem+json")
    );
    let wrong_type = app
        .register(json!({ "email": 42, "password": PASSWORD, "name": "Typed" }))
        .await;
    assert!(matches!(wrong_type.status.as_u16(), 400 | 422));

    // Self-registration cannot make staff.
    app.register(json!({
        "email": "sneaky@example.com", "password": PASSWORD, "name": "Sneaky", "role": "admin",
    }))
    .await
    .assert_invalid(&["role"]);

    let malformed = app
        .anon()
        .request(Method::POST, "/api/v1/auth/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\"email\": ")
        .send()
        .await;
    crate::support::Res::from(malformed)
        .await
        .assert_problem(400, "malformed-request");
}
}

dual! {
#[tokio::test]
async fn wrong_passwords_are_401_and_the_sixth_attempt_is_throttled_even_when_right() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Tess Throttle").await;
    app.login(&patient.email, "not the password")
        .await
        .assert_problem(401, "invalid-credentials");
    app.login("nobody@example.com", PASSWORD)
        .await
        .assert_problem(401, "invalid-credentials");
    for _ in 0..4 {
        app.login(&patient.email, "still not it!")
            .await
            .assert_status(401);
    }
    let throttled = app.login(&patient.email, PASSWORD).await;
    throttled.assert_problem(429, "too-many-attempts");
    let retry_after: i64 = throttled
        .header(header::RETRY_AFTER)
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!(retry_after > 0);

    // Failed logins are audited.
    let admin = app.admin().await;
    let audit = admin
        .get(&format!(
            "/api/v1/audit?action=login.failed&subject_id={}",
            patient.id
        ))
        .await;
    audit.assert_status(200);
    assert_eq!(audit.items().len(), 5);

    // Once the window has passed the right password works again.
    app.advance_clock(jiff::SignedDuration::from_mins(16));
    app.login(&patient.email, PASSWORD).await.assert_status(200);
}
}

dual! {
#[tokio::test]
async fn twenty_failures_from_one_address_throttle_every_account() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Innocent Bystander").await;
    for i in 0..20 {
        app.login(&format!("guess{i}@example.com"), "password123")
            .await
            .assert_problem(401, "invalid-credentials");
    }
    let res = app.login(&patient.email, PASSWORD).await;
    res.assert_problem(429, "too-many-attempts");
    assert!(res.header(header::RETRY_AFTER).is_some());
    // Existing sessions are not affected.
    patient.get("/api/v1/me").await.assert_status(200);
}
}

dual! {
#[tokio::test]
async fn a_self_registered_doctor_waits_for_approval() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let res = app
        .register(json!({
            "email": "dora.pending@example.com",
            "password": PASSWORD,
            "name": "Dora Pending",
            "role": "doctor",
        }))
        .await;
    res.assert_status(201);
    assert_eq!(res.body["role"], "doctor");
    let id = res.str("id").to_owned();

    app.login("dora.pending@example.com", PASSWORD)
        .await
        .assert_problem(403, "account-inactive");
    let search = app.anon().get("/api/v1/doctors?q=Dora").await;
    search.assert_status(200);
    assert!(search.items().is_empty(), "pending doctors are not found");
    app.anon()
        .get(&format!("/api/v1/doctors/{id}"))
        .await
        .assert_status(404);
    app.anon()
        .get(&format!("/api/v1/doctors/{id}/slots"))
        .await
        .assert_status(404);

    // Even with hours set by the admin, a pending doctor takes no bookings.
    admin
        .put(
            &format!("/api/v1/doctors/{id}/schedule"),
            &default_schedule(),
        )
        .await
        .assert_status(200);
    let patient = app.register_patient("Early Bird").await;
    patient
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": id, "start": TUE_0900 }),
        )
        .await
        .assert_invalid(&["doctor_id"]);
    // Staff can see the pending doctor, with no free slots.
    let staff_view = admin.get(&format!("/api/v1/doctors/{id}/slots")).await;
    staff_view.assert_status(200);
    assert_eq!(staff_view.body["slots"], json!([]));
    let pending = admin.get("/api/v1/users?status=pending").await;
    assert_eq!(pending.ids(), vec![id.clone()]);
    // Reactivating does not skip the approval.
    admin
        .patch(&format!("/api/v1/users/{id}"), &json!({ "active": true }))
        .await
        .assert_status(200);
    app.login("dora.pending@example.com", PASSWORD)
        .await
        .assert_problem(403, "account-inactive");

    let approved = admin
        .post_empty(&format!("/api/v1/users/{id}/approve"))
        .await;
    approved.assert_status(200);
    assert_eq!(approved.body["status"], "active");
    // Approving twice is a conflict, not a silent success; so is approving a patient.
    admin
        .post_empty(&format!("/api/v1/users/{id}/approve"))
        .await
        .assert_problem(409, "not-pending");
    let patient = app.register_patient("Pat Notadoctor").await;
    admin
        .post_empty(&format!("/api/v1/users/{}/approve", patient.id))
        .await
        .assert_problem(409, "not-pending");

    let doctor = app.log_in("dora.pending@example.com", PASSWORD).await;
    assert_eq!(doctor.role, "doctor");
    let search = app.anon().get("/api/v1/doctors?q=Dora").await;
    assert_eq!(search.ids(), vec![id.clone()]);
    assert_eq!(
        search.items()[0]["next_free_slot"]["start"],
        "2026-03-02T08:00:00Z"
    );
    app.book(&patient, &id, TUE_0900).await.assert_status(201);
    let audit = admin
        .get(&format!(
            "/api/v1/audit?action=doctor.approved&subject_id={id}"
        ))
        .await;
    assert_eq!(audit.items().len(), 1);
}
}

dual! {
#[tokio::test]
async fn only_admins_approve_doctors() {
    let app = TestApp::spawn().await;
    let receptionist = app.create_receptionist().await;
    let res = app
        .register(json!({
            "email": "dan.pending@example.com", "password": PASSWORD, "name": "Dan Pending",
            "role": "doctor",
        }))
        .await;
    let id = res.str("id").to_owned();
    receptionist
        .post_empty(&format!("/api/v1/users/{id}/approve"))
        .await
        .assert_problem(403, "forbidden");
    app.login("dan.pending@example.com", PASSWORD)
        .await
        .assert_problem(403, "account-inactive");
}
}

dual! {
#[tokio::test]
async fn staff_created_by_an_admin_are_active_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let res = admin
        .post(
            "/api/v1/users",
            &json!({
                "email": "doc.direct@example.com", "password": PASSWORD,
                "name": "Doc Direct", "role": "doctor",
            }),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res.body["status"], "active");
    let doctor = app.log_in("doc.direct@example.com", PASSWORD).await;
    assert_eq!(doctor.role, "doctor");
    let search = app.anon().get("/api/v1/doctors?q=Direct").await;
    assert_eq!(search.ids(), vec![doctor.id.clone()]);

    let receptionist = app.create_receptionist().await;
    assert_eq!(receptionist.role, "receptionist");
    receptionist.get("/api/v1/me").await.assert_status(200);

    // The front desk registers patients but cannot create staff.
    receptionist
        .post(
            "/api/v1/users",
            &json!({
                "email": "walk.in@example.com", "password": PASSWORD,
                "name": "Walk In", "role": "patient",
            }),
        )
        .await
        .assert_status(201);
    receptionist
        .post(
            "/api/v1/users",
            &json!({
                "email": "fake.doc@example.com", "password": PASSWORD,
                "name": "Fake Doc", "role": "doctor",
            }),
        )
        .await
        .assert_problem(403, "forbidden");
}
}

dual! {
#[tokio::test]
async fn deactivation_ends_sessions_at_once_and_blocks_login() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let patient = app.register_patient("Deac Tivated").await;
    patient.get("/api/v1/me").await.assert_status(200);

    let res = admin
        .patch(
            &format!("/api/v1/users/{}", patient.id),
            &json!({ "active": false }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "deactivated");

    patient
        .get("/api/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    let login = app.login(&patient.email, PASSWORD).await;
    login.assert_problem(403, "account-inactive");
    assert!(login.body.get("token").is_none());

    // The history stays: the account is still there for the admin.
    let found = admin.get(&format!("/api/v1/users/{}", patient.id)).await;
    found.assert_status(200);
    assert_eq!(found.body["status"], "deactivated");
    let audit = admin
        .get(&format!(
            "/api/v1/audit?action=user.deactivated&subject_id={}",
            patient.id
        ))
        .await;
    assert_eq!(audit.items().len(), 1);
    assert_eq!(audit.items()[0]["actor_id"], admin.id.as_str());

    // An admin cannot deactivate themself.
    admin
        .patch(
            &format!("/api/v1/users/{}", admin.id),
            &json!({ "active": false }),
        )
        .await
        .assert_problem(403, "forbidden");
}
}

dual! {
#[tokio::test]
async fn role_changes_are_admin_only_and_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let patient = app.register_patient("Ross Role").await;
    let receptionist = app.create_receptionist().await;

    receptionist
        .patch(
            &format!("/api/v1/users/{}", patient.id),
            &json!({ "role": "receptionist" }),
        )
        .await
        .assert_problem(403, "forbidden");
    patient
        .patch(
            &format!("/api/v1/users/{}", patient.id),
            &json!({ "role": "admin" }),
        )
        .await
        .assert_problem(403, "forbidden");

    let res = admin
        .patch(
            &format!("/api/v1/users/{}", patient.id),
            &json!({ "role": "receptionist" }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["role"], "receptionist");
    // The existing token now acts with the new role.
    let me = patient.get("/api/v1/me").await;
    assert_eq!(me.body["role"], "receptionist");
    patient.get("/api/v1/users").await.assert_status(200);

    let by_action = admin.get("/api/v1/audit?action=user.role_changed").await;
    by_action.assert_status(200);
    let entries = by_action.items();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["subject_id"], patient.id.as_str());
    assert_eq!(entries[0]["actor_id"], admin.id.as_str());
    assert_eq!(entries[0]["detail"]["from"], "patient");
    assert_eq!(entries[0]["detail"]["to"], "receptionist");

    let by_subject = admin
        .get(&format!("/api/v1/audit?subject_id={}", patient.id))
        .await;
    let actions: Vec<&str> = by_subject
        .items()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"user.role_changed"), "{actions:?}");
    assert!(actions.contains(&"user.registered"), "{actions:?}");
    assert!(actions.contains(&"login.succeeded"), "{actions:?}");

    let by_actor = admin
        .get(&format!(
            "/api/v1/audit?actor_id={}&action=user.role_changed",
            admin.id
        ))
        .await;
    assert_eq!(by_actor.items().len(), 1);
    let later = admin
        .get("/api/v1/audit?action=user.role_changed&from=2026-03-03T00:00:00Z")
        .await;
    assert!(later.items().is_empty(), "the time filter applies");
}
}

dual! {
#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_for_unsafe_requests() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Coco Cookie").await;
    let res = app
        .anon()
        .post(
            "/api/v1/auth/login",
            &json!({ "email": patient.email, "password": PASSWORD, "cookie": true }),
        )
        .await;
    res.assert_status(200);
    let set_cookie = res
        .header(header::SET_COOKIE)
        .expect("a session cookie")
        .to_owned();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let csrf = res.str("csrf_token").to_owned();

    let anon = app.anon();
    let me = crate::support::Res::from(
        anon.request(Method::GET, "/api/v1/me")
            .header(header::COOKIE, &cookie)
            .send()
            .await,
    )
    .await;
    me.assert_status(200);
    assert_eq!(me.body["id"], patient.id.as_str());

    let path = format!("/api/v1/users/{}", patient.id);
    let without = crate::support::Res::from(
        anon.request(Method::PATCH, &path)
            .header(header::COOKIE, &cookie)
            .json(&json!({ "name": "Coco Renamed" }))
            .send()
            .await,
    )
    .await;
    without.assert_problem(403, "csrf");
    let wrong = crate::support::Res::from(
        anon.request(Method::PATCH, &path)
            .header(header::COOKIE, &cookie)
            .header("X-CSRF-Token", "not-the-token")
            .json(&json!({ "name": "Coco Renamed" }))
            .send()
            .await,
    )
    .await;
    wrong.assert_problem(403, "csrf");
    let with = crate::support::Res::from(
        anon.request(Method::PATCH, &path)
            .header(header::COOKIE, &cookie)
            .header("X-CSRF-Token", &csrf)
            .json(&json!({ "name": "Coco Renamed" }))
            .send()
            .await,
    )
    .await;
    with.assert_status(200);
    assert_eq!(with.body["name"], "Coco Renamed");

    // A bearer login carries no CSRF token and needs none.
    assert!(app.login(&patient.email, PASSWORD).await.body["csrf_token"].is_null());
}
}

dual! {
#[tokio::test]
async fn changing_the_password_keeps_this_session_and_revokes_the_others() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Paul Password").await;
    let second = app.log_in(&patient.email, PASSWORD).await;

    patient
        .post(
            "/api/v1/me/password",
            &json!({ "current_password": "wrong password", "new_password": "a brand new secret" }),
        )
        .await
        .assert_invalid(&["current_password"]);
    patient
        .post(
            "/api/v1/me/password",
            &json!({ "current_password": PASSWORD, "new_password": "short" }),
        )
        .await
        .assert_invalid(&["new_password"]);
    patient.get("/api/v1/me").await.assert_status(200);

    patient
        .post(
            "/api/v1/me/password",
            &json!({ "current_password": PASSWORD, "new_password": "a brand new secret" }),
        )
        .await
        .assert_status(204);
    patient.get("/api/v1/me").await.assert_status(200);
    second.get("/api/v1/me").await.assert_problem(401, "unauthenticated");
    app.login(&patient.email, PASSWORD).await.assert_status(401);
    app.log_in(&patient.email, "a brand new secret").await;
}
}

dual! {
#[tokio::test]
async fn tokens_expire() {
    let app = TestApp::spawn().await;
    let patient = app.register_patient("Eve Expiry").await;
    patient.get("/api/v1/me").await.assert_status(200);
    app.advance_clock(jiff::SignedDuration::from_hours(25));
    patient
        .get("/api/v1/me")
        .await
        .assert_problem(401, "unauthenticated");
    app.anon()
        .request(Method::GET, "/api/v1/me")
        .bearer_auth("garbage")
        .send()
        .await
        .map(|r| assert_eq!(r.status().as_u16(), 401))
        .expect("an answer");
}
}
