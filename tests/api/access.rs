//! Access control through the API: the denials as much as the grants.

use reqwest::Method;
use serde_json::json;

use crate::support::{PASSWORD, Res, TUE_0900, TUE_0930, TestApp, WED_0900, default_schedule};

dual! {
#[tokio::test]
async fn a_patient_never_sees_or_moves_another_patients_appointment() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Paul Private").await;
    let alice = app.register_patient("Alice Owner").await;
    let bob = app.register_patient("Bob Nosy").await;
    let alices = app.booked(&alice, &doctor.id, TUE_0900).await;
    let bobs = app.booked(&bob, &doctor.id, TUE_0930).await;

    alice.appointment(&alices).await.assert_status(200);
    bob.appointment(&alices)
        .await
        .assert_problem(404, "not-found");
    bob.act(&alices, "cancel")
        .await
        .assert_problem(404, "not-found");
    bob.post(
        &format!("/api/v1/appointments/{alices}/reschedule"),
        &json!({ "start": WED_0900 }),
    )
    .await
    .assert_problem(404, "not-found");
    // Whether an id exists or not, the answer is the same.
    let missing = bob.appointment("apt_000000000000000000000000").await;
    missing.assert_problem(404, "not-found");
    assert_eq!(
        missing.body["detail"],
        bob.appointment(&alices).await.body["detail"]
    );

    let list = bob.get("/api/v1/appointments").await;
    list.assert_status(200);
    assert_eq!(list.ids(), vec![bobs.clone()]);
    // Filters cannot widen the scope.
    let widened = bob
        .get(&format!("/api/v1/appointments?patient_id={}", alice.id))
        .await;
    assert!(widened.items().is_empty());
    let by_doctor = bob
        .get(&format!("/api/v1/appointments?doctor_id={}", doctor.id))
        .await;
    assert_eq!(by_doctor.ids(), vec![bobs]);
    assert_eq!(alice.appointment(&alices).await.body["status"], "requested");
}
}

dual! {
#[tokio::test]
async fn a_doctor_acts_only_on_their_own_appointments_and_schedule() {
    let app = TestApp::spawn().await;
    let xaver = app.create_doctor("Xaver Own").await;
    let yvonne = app.create_doctor("Yvonne Foreign").await;
    let patient = app.register_patient("Pat Shared").await;
    let id = app.booked(&patient, &xaver.id, TUE_0900).await;

    xaver.appointment(&id).await.assert_status(200);
    yvonne
        .appointment(&id)
        .await
        .assert_problem(404, "not-found");
    for action in ["confirm", "reject", "cancel", "no-show"] {
        yvonne
            .act(&id, action)
            .await
            .assert_problem(404, "not-found");
    }
    let list = yvonne.get("/api/v1/appointments").await;
    assert!(list.items().is_empty());
    let widened = yvonne
        .get(&format!("/api/v1/appointments?doctor_id={}", xaver.id))
        .await;
    assert!(widened.items().is_empty());
    assert_eq!(
        xaver.get("/api/v1/appointments").await.ids(),
        vec![id.clone()]
    );

    let schedule = format!("/api/v1/doctors/{}/schedule", xaver.id);
    yvonne
        .put(&schedule, &default_schedule())
        .await
        .assert_problem(403, "forbidden");
    yvonne
        .post(
            &format!("/api/v1/doctors/{}/time-off", xaver.id),
            &json!({ "start": TUE_0900, "end": WED_0900 }),
        )
        .await
        .assert_problem(403, "forbidden");
    yvonne
        .get(&format!("/api/v1/doctors/{}/time-off", xaver.id))
        .await
        .assert_problem(403, "forbidden");
    // Nothing happened to Xaver's appointment or slots.
    assert_eq!(xaver.appointment(&id).await.body["status"], "requested");
    assert_eq!(
        app.slot_starts(&xaver.id, "2026-03-03", "2026-03-03")
            .await
            .len(),
        13
    );
    xaver.act(&id, "confirm").await.assert_status(200);
}
}

dual! {
#[tokio::test]
async fn patients_and_doctors_cannot_administer() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let patient = app.register_patient("Norbert Normal").await;
    let doctor = app.create_doctor("Doris Doctor").await;
    let receptionist = app.create_receptionist().await;

    for user in [&patient, &doctor] {
        user.get("/api/v1/users")
            .await
            .assert_problem(403, "forbidden");
        user.post(
            "/api/v1/users",
            &json!({ "email": "x@example.com", "password": PASSWORD, "name": "X", "role": "patient" }),
        )
        .await
        .assert_problem(403, "forbidden");
    }
    for user in [&patient, &doctor, &receptionist] {
        user.get("/api/v1/audit")
            .await
            .assert_problem(403, "forbidden");
        user.post("/api/v1/specialties", &json!({ "name": "Anything" }))
            .await
            .assert_problem(403, "forbidden");
        user.patch(
            &format!("/api/v1/users/{}", admin.id),
            &json!({ "active": false }),
        )
        .await
        .assert_status(404);
    }
    admin.get("/api/v1/audit").await.assert_status(200);
    // A patient cannot promote themself or reactivate anything.
    patient
        .patch(
            &format!("/api/v1/users/{}", patient.id),
            &json!({ "role": "admin" }),
        )
        .await
        .assert_problem(403, "forbidden");
    patient
        .patch(
            &format!("/api/v1/users/{}", patient.id),
            &json!({ "name": "Norbert Renamed" }),
        )
        .await
        .assert_status(200);
    assert_eq!(patient.get("/api/v1/me").await.body["role"], "patient");
}
}

dual! {
#[tokio::test]
async fn the_front_desk_lists_patients_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let receptionist = app.create_receptionist().await;
    let doctor = app.create_doctor("Dieter Listed").await;
    let anna = app.register_patient("Anna Listed").await;
    let bert = app.register_patient("Bert Listed").await;

    for query in ["", "?role=admin", "?role=doctor", "?q=Listed"] {
        let list = receptionist.get(&format!("/api/v1/users{query}")).await;
        list.assert_status(200);
        for item in list.items() {
            assert_eq!(item["role"], "patient", "query {query:?}: {item}");
        }
    }
    let listed = receptionist.get("/api/v1/users?q=Listed").await;
    assert_eq!(listed.ids(), vec![anna.id.clone(), bert.id.clone()]);
    receptionist
        .get(&format!("/api/v1/users/{}", anna.id))
        .await
        .assert_status(200);
    receptionist
        .get(&format!("/api/v1/users/{}", doctor.id))
        .await
        .assert_problem(404, "not-found");
    receptionist
        .get(&format!("/api/v1/users/{}", admin.id))
        .await
        .assert_problem(404, "not-found");

    // The admin sees everyone and can filter.
    let all = admin.get("/api/v1/users").await;
    assert_eq!(all.items().len(), 5);
    let doctors = admin.get("/api/v1/users?role=doctor").await;
    assert_eq!(doctors.ids(), vec![doctor.id.clone()]);
    let found = admin.get("/api/v1/users?q=bert").await;
    assert_eq!(found.ids(), vec![bert.id.clone()]);
    admin
        .get("/api/v1/users?role=wizard")
        .await
        .assert_invalid(&["role"]);
    // Paged like every list.
    let first = admin.get("/api/v1/users?limit=2").await;
    assert_eq!(first.items().len(), 2);
    let cursor = first.str("next_cursor").to_owned();
    let second = admin
        .get(&format!("/api/v1/users?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(second.items().len(), 2);
    assert!(second.ids().iter().all(|id| !first.ids().contains(id)));
}
}

dual! {
#[tokio::test]
async fn anonymous_callers_reach_public_routes_only() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Public Doctor").await;
    let patient = app.register_patient("Anon Target").await;
    let id = app.booked(&patient, &doctor.id, TUE_0900).await;
    let anon = app.anon();

    let d = &doctor.id;
    let protected = [
        (Method::GET, "/api/v1/me".to_owned()),
        (Method::POST, "/api/v1/auth/logout".to_owned()),
        (Method::POST, "/api/v1/me/password".to_owned()),
        (Method::GET, "/api/v1/users".to_owned()),
        (Method::POST, "/api/v1/users".to_owned()),
        (Method::GET, format!("/api/v1/users/{}", patient.id)),
        (Method::PATCH, format!("/api/v1/users/{}", patient.id)),
        (
            Method::POST,
            format!("/api/v1/users/{}/approve", patient.id),
        ),
        (Method::GET, "/api/v1/audit".to_owned()),
        (Method::POST, "/api/v1/specialties".to_owned()),
        (Method::PATCH, format!("/api/v1/doctors/{d}")),
        (Method::GET, format!("/api/v1/doctors/{d}/schedule")),
        (Method::PUT, format!("/api/v1/doctors/{d}/schedule")),
        (Method::POST, format!("/api/v1/doctors/{d}/time-off")),
        (
            Method::DELETE,
            format!("/api/v1/doctors/{d}/time-off/off_x"),
        ),
        (Method::GET, "/api/v1/appointments".to_owned()),
        (Method::POST, "/api/v1/appointments".to_owned()),
        (Method::GET, format!("/api/v1/appointments/{id}")),
        (Method::POST, format!("/api/v1/appointments/{id}/confirm")),
        (Method::POST, format!("/api/v1/appointments/{id}/reject")),
        (Method::POST, format!("/api/v1/appointments/{id}/cancel")),
        (
            Method::POST,
            format!("/api/v1/appointments/{id}/reschedule"),
        ),
        (Method::POST, format!("/api/v1/appointments/{id}/check-in")),
        (Method::POST, format!("/api/v1/appointments/{id}/complete")),
        (Method::POST, format!("/api/v1/appointments/{id}/no-show")),
    ];
    for (method, path) in protected {
        let res = Res::from(
            anon.request(method.clone(), &path)
                .json(&json!({}))
                .send()
                .await,
        )
        .await;
        assert_eq!(res.status.as_u16(), 401, "{method} {path}: {:#}", res.body);
        res.assert_problem(401, "unauthenticated");
        // A bad token is no better than none.
        let res = Res::from(
            anon.request(method.clone(), &path)
                .bearer_auth("not-a-token")
                .json(&json!({}))
                .send()
                .await,
        )
        .await;
        assert_eq!(res.status.as_u16(), 401, "{method} {path} with a bad token");
    }

    for path in [
        "/api/v1/doctors".to_owned(),
        "/api/v1/doctors?q=Public".to_owned(),
        format!("/api/v1/doctors/{d}"),
        format!("/api/v1/doctors/{d}/slots?from=2026-03-03&to=2026-03-03"),
        "/api/v1/specialties".to_owned(),
    ] {
        anon.get(&path).await.assert_status(200);
    }
    assert_eq!(patient.appointment(&id).await.body["status"], "requested");
}
}

dual! {
#[tokio::test]
async fn who_may_see_whose_account() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let treating = app.create_doctor("Theresa Treating").await;
    let stranger_doctor = app.create_doctor("Stefan Stranger").await;
    let treated = app.register_patient("Tom Treated").await;
    let untreated = app.register_patient("Ulf Untreated").await;
    let id = app.booked(&treated, &treating.id, TUE_0900).await;
    // Even a cancelled appointment makes them the doctor's patient.
    treated.act(&id, "cancel").await.assert_status(200);

    treated
        .get(&format!("/api/v1/users/{}", treated.id))
        .await
        .assert_status(200);
    treated
        .get(&format!("/api/v1/users/{}", untreated.id))
        .await
        .assert_problem(404, "not-found");
    treated
        .get(&format!("/api/v1/users/{}", treating.id))
        .await
        .assert_problem(404, "not-found");
    treated
        .patch(
            &format!("/api/v1/users/{}", untreated.id),
            &json!({ "name": "Hijacked" }),
        )
        .await
        .assert_problem(404, "not-found");

    let seen = treating.get(&format!("/api/v1/users/{}", treated.id)).await;
    seen.assert_status(200);
    assert_eq!(seen.body["name"], treated.name.as_str());
    treating
        .get(&format!("/api/v1/users/{}", untreated.id))
        .await
        .assert_problem(404, "not-found");
    stranger_doctor
        .get(&format!("/api/v1/users/{}", treated.id))
        .await
        .assert_problem(404, "not-found");
    treating
        .get(&format!("/api/v1/users/{}", stranger_doctor.id))
        .await
        .assert_problem(404, "not-found");
    // Seeing is not editing.
    treating
        .patch(
            &format!("/api/v1/users/{}", treated.id),
            &json!({ "name": "Renamed By Doctor" }),
        )
        .await
        .assert_problem(403, "forbidden");

    for user in [&treated, &untreated, &treating, &stranger_doctor] {
        admin
            .get(&format!("/api/v1/users/{}", user.id))
            .await
            .assert_status(200);
    }
    admin
        .get("/api/v1/users/usr_nobody")
        .await
        .assert_problem(404, "not-found");
}
}
