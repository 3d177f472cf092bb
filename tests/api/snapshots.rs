//! Snapshots of the documents clients parse: an appointment and the problems.

use serde_json::json;

use crate::support::{TUE_0900, TestApp};

/// Both backends must produce the very same documents, so both runs of a test
/// compare against one snapshot file named after the snapshot alone.
fn shared_snapshots() -> impl Drop {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind_to_scope()
}

dual! {
#[tokio::test]
async fn a_booked_appointment() {
    let _snapshots = shared_snapshots();
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Sam Snapshot").await;
    let patient = app.register_patient("Pia Snapshot").await;
    let res = patient
        .post(
            "/api/v1/appointments",
            &json!({ "doctor_id": doctor.id, "start": TUE_0900, "reason": "Annual check-up" }),
        )
        .await;
    res.assert_status(201);
    insta::assert_json_snapshot!("a_booked_appointment", res.body, {
        ".id" => "[id]",
        ".doctor_id" => "[doctor id]",
        ".patient_id" => "[patient id]",
        ".created_by" => "[patient id]",
        ".created_at" => "[ts]",
        ".updated_at" => "[ts]",
    });

    doctor
        .act(res.str("id"), "confirm")
        .await
        .assert_status(200);
    let detail = patient.appointment(res.str("id")).await;
    insta::assert_json_snapshot!("appointment_with_history", detail.body, {
        ".id" => "[id]",
        ".doctor_id" => "[doctor id]",
        ".patient_id" => "[patient id]",
        ".created_by" => "[patient id]",
        ".created_at" => "[ts]",
        ".updated_at" => "[ts]",
        ".history[].actor_id" => "[user id]",
        ".history[].at" => "[ts]",
    });
}
}

dual! {
#[tokio::test]
async fn a_validation_problem() {
    let _snapshots = shared_snapshots();
    let app = TestApp::spawn().await;
    let res = app
        .register(json!({
            "email": "not an email",
            "password": "short",
            "name": "",
            "phone": "12",
            "date_of_birth": "1990-02-30",
        }))
        .await;
    res.assert_invalid(&["email", "password", "name", "phone", "date_of_birth"]);
    insta::assert_json_snapshot!("a_validation_problem", res.body);

    let doctor = app.create_doctor("Val Validation").await;
    let res = doctor
        .put(
            &format!("/api/v1/doctors/{}/schedule", doctor.id),
            &json!({
                "time_zone": "Europe/Berlin",
                "slot_minutes": 30,
                "weekly_hours": [
                    { "day": "monday", "start": "09:00", "end": "12:00" },
                    { "day": "monday", "start": "11:00", "end": "13:00" },
                ],
                "min_notice_minutes": 120,
                "horizon_days": 60,
                "auto_confirm": false,
                "cancel_window_hours": 24,
            }),
        )
        .await;
    insta::assert_json_snapshot!("overlapping_weekly_hours", res.body);
}
}

dual! {
#[tokio::test]
async fn a_slot_taken_problem() {
    let _snapshots = shared_snapshots();
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Tina Taken").await;
    let first = app.register_patient("First Come").await;
    let second = app.register_patient("Second Late").await;
    app.booked(&first, &doctor.id, TUE_0900).await;
    let res = app.book(&second, &doctor.id, TUE_0900).await;
    res.assert_problem(409, "slot-taken");
    insta::assert_json_snapshot!("a_slot_taken_problem", res.body);

    let res = app.login(&second.email, "wrong password").await;
    insta::assert_json_snapshot!("wrong_password", res.body);
}
}
