//! Feedback on visits: rate once after a completed visit, edit for 14 days, one reply
//! by the doctor, an admin hides an abusive comment, and the doctor's average on the
//! profile, in search and in the reviews.

use jiff::SignedDuration;
use serde_json::json;

use crate::support::{MON_1400, PASSWORD, TestApp, User};

/// Confirms, checks in and completes a visit (the clock must be within its
/// check-in window).
async fn complete(doctor: &User, id: &str) {
    doctor.act(id, "confirm").await.assert_status(200);
    doctor.act(id, "check-in").await.assert_status(200);
    doctor.act(id, "complete").await.assert_status(200);
}

dual! {
#[tokio::test]
async fn patients_rate_completed_visits_once_doctors_reply_once_admins_hide_comments() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doctor = app.create_doctor("Rhea Rated").await;
    let other_doctor = app.create_doctor("Otto Other").await;
    let patient = app.register_patient("Pia Patient").await;
    let second = app.register_patient("Sol Second").await;
    let receptionist = app.create_receptionist().await;

    // Not before the visit is completed.
    let first = app.booked(&patient, &doctor.id, MON_1400).await;
    let visit_two = app.booked(&second, &doctor.id, "2026-03-02T14:30:00Z").await;
    let feedback = format!("/api/v1/appointments/{first}/feedback");
    patient
        .post(&feedback, &json!({ "rating": 4 }))
        .await
        .assert_problem(409, "visit-not-completed");
    doctor.act(&first, "confirm").await.assert_status(200);
    app.set_clock("2026-03-02T13:45:00Z");
    doctor.act(&first, "check-in").await.assert_status(200);
    doctor.act(&first, "complete").await.assert_status(200);
    complete(&doctor, &visit_two).await;

    // Only the visit's patient rates it, with valid values.
    for caller in [&doctor, &receptionist, &admin] {
        caller
            .post(&feedback, &json!({ "rating": 4 }))
            .await
            .assert_problem(403, "forbidden");
    }
    second
        .post(&feedback, &json!({ "rating": 4 }))
        .await
        .assert_problem(404, "not-found");
    patient
        .post(&feedback, &json!({ "rating": 6, "comment": "c".repeat(2001) }))
        .await
        .assert_invalid(&["rating", "comment"]);
    let res = patient
        .post(&feedback, &json!({ "rating": 4, "comment": "Kind and clear." }))
        .await;
    res.assert_status(201);
    let first_id = res.str("id").to_owned();
    patient
        .post(&feedback, &json!({ "rating": 5 }))
        .await
        .assert_problem(409, "feedback-exists");

    let profile = app.anon().get(&format!("/api/v1/doctors/{}", doctor.id)).await;
    assert_eq!(profile.body["rating"], json!({ "average": 4.0, "count": 1 }));
    // Edits change the average, not the count.
    let res = patient.patch(&feedback, &json!({ "rating": 2 })).await;
    res.assert_status(200);
    assert_eq!(res.body["comment"], "Kind and clear.");
    app.advance_clock(SignedDuration::from_mins(1));
    let res = second
        .post(
            &format!("/api/v1/appointments/{visit_two}/feedback"),
            &json!({ "rating": 5, "comment": "You are all idiots" }),
        )
        .await;
    res.assert_status(201);
    let second_id = res.str("id").to_owned();
    let search = app.anon().get("/api/v1/doctors?q=Rhea").await;
    assert_eq!(search.items()[0]["rating"], json!({ "average": 3.5, "count": 2 }));
    let other = app.anon().get(&format!("/api/v1/doctors/{}", other_doctor.id)).await;
    assert_eq!(other.body["rating"], json!({ "average": null, "count": 0 }));

    // The doctor replies once; nobody else.
    let reply = format!("/api/v1/feedback/{first_id}/reply");
    patient
        .post(&reply, &json!({ "reply": "me" }))
        .await
        .assert_problem(403, "forbidden");
    other_doctor
        .post(&reply, &json!({ "reply": "me" }))
        .await
        .assert_problem(403, "forbidden");
    doctor.post(&reply, &json!({})).await.assert_invalid(&["reply"]);
    let res = doctor.post(&reply, &json!({ "reply": "Thank you!" })).await;
    res.assert_status(200);
    assert_eq!(res.body["reply"], "Thank you!");
    doctor
        .post(&reply, &json!({ "reply": "again" }))
        .await
        .assert_problem(409, "already-replied");

    // An admin hides the abusive comment: kept, not shown, the rating still counts.
    let hide = format!("/api/v1/feedback/{second_id}/hide");
    doctor
        .post(&hide, &json!({ "reason": "abuse" }))
        .await
        .assert_problem(403, "forbidden");
    admin.post(&hide, &json!({})).await.assert_invalid(&["reason"]);
    let res = admin.post(&hide, &json!({ "reason": "Insults" })).await;
    res.assert_status(200);
    assert_eq!(res.body["hidden"], true);
    assert!(res.body["comment"].is_null());
    admin
        .post(&hide, &json!({ "reason": "again" }))
        .await
        .assert_problem(409, "already-hidden");
    admin
        .post("/api/v1/feedback/fbk_nothing/hide", &json!({ "reason": "x" }))
        .await
        .assert_problem(404, "not-found");

    let reviews = app.anon().get(&format!("/api/v1/doctors/{}/reviews", doctor.id)).await;
    reviews.assert_status(200);
    assert_eq!(reviews.body["rating"], json!({ "average": 3.5, "count": 2 }));
    let items = reviews.items();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["rating"], 5);
    assert_eq!(items[0]["hidden"], true);
    assert!(items[0]["comment"].is_null());
    assert!(!reviews.body.to_string().contains("idiots"));
    assert_eq!(items[1]["comment"], "Kind and clear.");
    assert_eq!(items[1]["reply"], "Thank you!");
    // Reviewers are not named.
    assert!(!reviews.body.to_string().contains(&patient.id));
    assert!(!reviews.body.to_string().contains("Pia"));
    app.anon()
        .get("/api/v1/doctors/usr_nobody/reviews")
        .await
        .assert_problem(404, "not-found");
    // The profile page shows the average and the latest reviews, never a hidden
    // comment; search results show the average.
    let page = app.anon().get(&format!("/doctors/{}", doctor.id)).await;
    page.assert_status(200);
    let html = page.body.as_str().expect("a page");
    for expected in [
        "3.5 of 5 (2 ratings)",
        "Kind and clear.",
        "Thank you!",
        "This comment was hidden by the clinic.",
    ] {
        assert!(html.contains(expected), "{expected:?} not on the profile");
    }
    assert!(!html.contains("idiots"));
    let results = app.anon().get("/?q=Rhea").await;
    assert!(results.body.as_str().unwrap().contains("3.5 of 5 (2 ratings)"));

    // Fourteen days after rating, edits are closed (sessions last a day: sign in).
    app.set_clock("2026-03-16T13:45:00Z");
    app.advance_clock(-SignedDuration::from_millis(1));
    let patient = app.log_in(&patient.email, PASSWORD).await;
    patient
        .patch(&feedback, &json!({ "comment": null }))
        .await
        .assert_status(200);
    app.advance_clock(SignedDuration::from_millis(1));
    patient
        .patch(&feedback, &json!({ "rating": 5 }))
        .await
        .assert_problem(409, "edit-window-closed");
    let profile = app.anon().get(&format!("/api/v1/doctors/{}", doctor.id)).await;
    assert_eq!(profile.body["rating"], json!({ "average": 3.5, "count": 2 }));
}
}
