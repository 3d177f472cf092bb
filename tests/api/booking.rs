//! Booking: who may book, which starts are bookable, and the conflicts.

use jiff::SignedDuration;
use serde_json::json;

use crate::support::{TUE_0900, TUE_0930, TestApp, default_schedule};

dual! {
#[tokio::test]
async fn a_patient_books_a_free_slot_which_then_is_no_longer_offered() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Greta Grid").await;
    let patient = app.register_patient("Paula Booker").await;
    assert!(
        app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
            .await
            .contains(&TUE_0900.to_owned())
    );

    let res = patient
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": TUE_0900, "reason": "Check-up" }),
        )
        .await;
    res.assert_status(201);
    assert!(!res.str("id").is_empty());
    assert_eq!(res.body["status"], "requested");
    assert_eq!(res.body["doctor_id"], doctor.id.as_str());
    assert_eq!(res.body["patient_id"], patient.id.as_str());
    assert_eq!(res.body["start"], TUE_0900);
    assert_eq!(res.body["end"], TUE_0930);
    assert_eq!(res.body["reason"], "Check-up");
    assert_eq!(res.body["created_by"], patient.id.as_str());
    assert_eq!(res.body["doctor_name"], "Greta Grid");
    assert_eq!(res.body["patient_name"], "Paula Booker");

    let slots = app
        .slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
        .await;
    assert!(!slots.contains(&TUE_0900.to_owned()));
    assert_eq!(slots[0], TUE_0930);
    // The next free slot of today is still today's first one.
    let profile = app
        .anon()
        .get(&format!("/api/v1/doctors/{}", doctor.id))
        .await;
    assert_eq!(
        profile.body["next_free_slot"]["start"],
        "2026-03-02T08:00:00Z"
    );
}
}

dual! {
#[tokio::test]
async fn auto_confirming_doctors_get_confirmed_bookings() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Arno Auto").await;
    let mut schedule = default_schedule();
    schedule["auto_confirm"] = json!(true);
    app.set_schedule(&doctor, schedule).await;
    let patient = app.register_patient("Quick Patient").await;
    let res = app.book(&patient, &doctor.id, TUE_0900).await;
    res.assert_status(201);
    assert_eq!(res.body["status"], "confirmed");
}
}

dual! {
#[tokio::test]
async fn only_starts_on_the_grid_within_notice_and_horizon_are_bookable() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Nils Notice").await;
    let patient = app.register_patient("Olga Offgrid").await;

    for start in [
        "2026-03-03T08:10:00Z", // off the 30-minute grid
        "2026-03-03T12:00:00Z", // 13:00 Berlin: lunch
        "2026-03-07T09:00:00Z", // a Saturday
        "2026-05-04T08:00:00Z", // Monday 09:00, but 63 days ahead (horizon 60)
        "next tuesday",
        "2026-03-03T08:00:00", // no offset
    ] {
        let res = app.book(&patient, &doctor.id, start).await;
        res.assert_invalid(&["start"]);
    }
    // Today's 09:00 is exactly the two hours' notice away...
    app.advance_clock(SignedDuration::from_mins(1));
    // ...and a minute later it is too soon.
    app.book(&patient, &doctor.id, "2026-03-02T08:00:00Z")
        .await
        .assert_invalid(&["start"]);
    app.book(&patient, &doctor.id, "2026-03-02T08:30:00Z")
        .await
        .assert_status(201);

    app.book(&patient, "usr_nobody", TUE_0900)
        .await
        .assert_invalid(&["doctor_id"]);
    // A patient is not a doctor.
    app.book(&patient, &patient.id, TUE_0900)
        .await
        .assert_invalid(&["doctor_id"]);
    let res = patient
        .post("/api/v1/appointments", &json!({ "start": TUE_0900 }))
        .await;
    assert!(matches!(res.status.as_u16(), 400 | 422), "{res:?}");
    let res = patient
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": TUE_0900, "urgent": true }),
        )
        .await;
    assert!(matches!(res.status.as_u16(), 400 | 422), "{res:?}");
}
}

dual! {
#[tokio::test]
async fn the_minimum_notice_is_the_doctors_setting() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Mona Minutes").await;
    let mut schedule = default_schedule();
    schedule["min_notice_minutes"] = json!(30 * 60);
    app.set_schedule(&doctor, schedule).await;
    let patient = app.register_patient("Hasty Harry").await;
    // 30 hours from Monday 07:00 Berlin is Tuesday 13:00: today's afternoon and
    // tomorrow morning are too soon, tomorrow afternoon is not.
    app.book(&patient, &doctor.id, "2026-03-02T14:00:00Z")
        .await
        .assert_invalid(&["start"]);
    app.book(&patient, &doctor.id, TUE_0900)
        .await
        .assert_invalid(&["start"]);
    app.book(&patient, &doctor.id, "2026-03-03T13:00:00Z")
        .await
        .assert_status(201);
}
}

dual! {
#[tokio::test]
async fn a_taken_slot_is_a_conflict_and_so_is_a_busy_patient() {
    let app = TestApp::spawn().await;
    let first = app.create_doctor("Frida First").await;
    let second = app.create_doctor("Sepp Second").await;
    let twenty = app.create_doctor("Theo Twenty").await;
    let mut schedule = default_schedule();
    schedule["slot_minutes"] = json!(20);
    app.set_schedule(&twenty, schedule).await;
    let alice = app.register_patient("Alice Early").await;
    let bob = app.register_patient("Bob Late").await;

    app.booked(&alice, &first.id, TUE_0900).await;
    app.book(&bob, &first.id, TUE_0900)
        .await
        .assert_problem(409, "slot-taken");
    app.book(&alice, &first.id, TUE_0900)
        .await
        .assert_problem(409, "slot-taken");

    app.book(&alice, &second.id, TUE_0900)
        .await
        .assert_problem(409, "patient-busy");
    // 09:20-09:40 with the 20-minute doctor overlaps Alice's 09:00-09:30.
    app.book(&alice, &twenty.id, "2026-03-03T08:20:00Z")
        .await
        .assert_problem(409, "patient-busy");
    // Back to back is fine.
    app.booked(&alice, &second.id, TUE_0930).await;
    app.booked(&bob, &second.id, TUE_0900).await;

    let admin = app.admin().await;
    let live = admin
        .get(&format!(
            "/api/v1/appointments?patient_id={}&status=requested,confirmed",
            alice.id
        ))
        .await;
    assert_eq!(live.items().len(), 2);
}
}

dual! {
#[tokio::test]
async fn the_front_desk_books_for_patients_and_doctors_cannot_book() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doctor = app.create_doctor("Desk Doctor").await;
    let other_doctor = app.create_doctor("Other Doctor").await;
    let receptionist = app.create_receptionist().await;
    let patient = app.register_patient("Walter Walkin").await;
    let stranger = app.register_patient("Stella Stranger").await;

    let res = receptionist
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": TUE_0900, "patient_id": patient.id }),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res.body["patient_id"], patient.id.as_str());
    assert_eq!(res.body["created_by"], receptionist.id.as_str());
    // The patient sees it as theirs.
    patient.appointment(res.str("id")).await.assert_status(200);

    admin
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": TUE_0930, "patient_id": stranger.id }),
        )
        .await
        .assert_status(201);

    // Staff must say for whom, and it must be an active patient.
    receptionist
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": "2026-03-03T09:00:00Z" }),
        )
        .await
        .assert_invalid(&["patient_id"]);
    receptionist
        .post(
            "/api/v1/appointments",
            &json!({
                "doctor_id": doctor.id, "start": "2026-03-03T09:00:00Z",
                "patient_id": other_doctor.id,
            }),
        )
        .await
        .assert_invalid(&["patient_id"]);

    // Doctors don't book, neither for a patient nor for themselves.
    doctor
        .post(
            "/api/v1/appointments",
            &json!({
                "doctor_id": doctor.id, "start": "2026-03-03T09:00:00Z",
                "patient_id": patient.id,
            }),
        )
        .await
        .assert_problem(403, "forbidden");
    other_doctor
        .post(
            "/api/v1/appointments",
            &json!({
                "doctor_id": doctor.id, "start": "2026-03-03T09:00:00Z",
                "patient_id": other_doctor.id,
            }),
        )
        .await
        .assert_problem(403, "forbidden");

    // A patient books for themself only.
    stranger
        .post(
            "/api/v1/appointments",
            &json!({
                "doctor_id": doctor.id, "start": "2026-03-03T09:00:00Z",
                "patient_id": patient.id,
            }),
        )
        .await
        .assert_problem(403, "forbidden");
    app.anon()
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": "2026-03-03T09:00:00Z" }),
        )
        .await
        .assert_problem(401, "unauthenticated");

    // None of the refused attempts took the slot.
    assert!(
        app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
            .await
            .contains(&"2026-03-03T09:00:00Z".to_owned())
    );
}
}

dual! {
#[tokio::test]
async fn the_reason_for_the_visit_is_at_most_1000_characters() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Rhea Reason").await;
    let patient = app.register_patient("Verbose Vera").await;
    let too_long = "x".repeat(1001);
    patient
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": TUE_0900, "reason": too_long }),
        )
        .await
        .assert_invalid(&["reason"]);
    let longest = "ü".repeat(1000);
    let res = patient
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": TUE_0900, "reason": longest }),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res.body["reason"], longest.as_str());
}
}
