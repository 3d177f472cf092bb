//! The appointment lifecycle: who may make which move, when, and what is recorded.

use serde_json::{Value, json};

use crate::support::{MON_1400, TUE_0900, TUE_0930, TestApp, User, WED_0900, WED_1000};

/// A doctor, a patient, a receptionist and the admin, in one fresh app.
struct Clinic {
    app: TestApp,
    admin: User,
    doctor: User,
    patient: User,
    receptionist: User,
}

async fn clinic() -> Clinic {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doctor = app.create_doctor("Liv Lifecycle").await;
    let patient = app.register_patient("Per Patient").await;
    let receptionist = app.create_receptionist().await;
    Clinic {
        app,
        admin,
        doctor,
        patient,
        receptionist,
    }
}

fn actions(history: &Value) -> Vec<(String, String)> {
    history
        .as_array()
        .expect("history")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

dual! {
#[tokio::test]
async fn confirm_check_in_from_an_hour_before_then_complete() {
    let Clinic {
        app,
        admin,
        doctor,
        patient,
        receptionist,
    } = clinic().await;
    let id = app.booked(&patient, &doctor.id, MON_1400).await;
    let late = app
        .booked(&patient, &doctor.id, "2026-03-02T15:30:00Z")
        .await;
    doctor.act(&late, "confirm").await.assert_status(200);

    patient
        .act(&id, "confirm")
        .await
        .assert_problem(403, "forbidden");
    let res = doctor.act(&id, "confirm").await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "confirmed");
    doctor
        .act(&id, "confirm")
        .await
        .assert_problem(409, "illegal-transition");

    // 61 minutes before the 14:00 start: not yet.
    app.set_clock("2026-03-02T11:59:00Z");
    receptionist
        .act(&id, "check-in")
        .await
        .assert_problem(409, "check-in-not-open");
    patient
        .act(&id, "check-in")
        .await
        .assert_problem(403, "forbidden");
    app.set_clock("2026-03-02T12:00:00Z");
    let res = receptionist.act(&id, "check-in").await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "checked_in");

    receptionist
        .act(&id, "complete")
        .await
        .assert_problem(403, "forbidden");
    let res = doctor.act(&id, "complete").await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "completed");
    // Check-in closes at the end of the appointment's local day (midnight in Berlin).
    app.set_clock("2026-03-02T22:59:59Z");
    receptionist.act(&late, "check-in").await.assert_status(200);
    // Completed is final.
    for action in ["confirm", "cancel", "check-in", "complete", "no-show"] {
        admin
            .act(&id, action)
            .await
            .assert_problem(409, "illegal-transition");
    }

    let detail = patient.appointment(&id).await;
    detail.assert_status(200);
    assert_eq!(
        actions(&detail.body["history"]),
        [
            ("book".to_owned(), patient.id.clone()),
            ("confirm".to_owned(), doctor.id.clone()),
            ("check_in".to_owned(), receptionist.id.clone()),
            ("complete".to_owned(), doctor.id.clone()),
        ]
    );
    let history = detail.body["history"].as_array().unwrap();
    assert_eq!(history[0]["to_status"], "requested");
    assert!(history[0]["from_status"].is_null());
    assert_eq!(history[2]["from_status"], "confirmed");
    assert_eq!(history[2]["to_status"], "checked_in");
    assert_eq!(history[2]["at"], "2026-03-02T12:00:00Z");

    // Every transition is in the audit log, with its actor.
    let audit = admin.get(&format!("/api/v1/audit?subject_id={id}")).await;
    audit.assert_status(200);
    let mut logged: Vec<(String, String)> = audit
        .items()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    logged.reverse(); // newest first
    assert_eq!(
        logged,
        [
            ("appointment.book".to_owned(), patient.id.clone()),
            ("appointment.confirm".to_owned(), doctor.id.clone()),
            ("appointment.check_in".to_owned(), receptionist.id.clone()),
            ("appointment.complete".to_owned(), doctor.id.clone()),
        ]
    );
    let check_in = &audit.items()[1];
    assert_eq!(check_in["detail"]["from"], "confirmed");
    assert_eq!(check_in["detail"]["to"], "checked_in");

    let missed = app
        .booked(&patient, &doctor.id, "2026-03-03T13:00:00Z")
        .await;
    doctor.act(&missed, "confirm").await.assert_status(200);
    app.set_clock("2026-03-03T23:00:00Z");
    let fresh = app
        .log_in(&receptionist.email, crate::support::PASSWORD)
        .await;
    fresh
        .act(&missed, "check-in")
        .await
        .assert_problem(409, "check-in-closed");
}
}

dual! {
#[tokio::test]
async fn moves_out_of_the_wrong_state_are_illegal_transitions() {
    let Clinic {
        app,
        admin,
        doctor,
        patient,
        ..
    } = clinic().await;
    let id = app.booked(&patient, &doctor.id, MON_1400).await;
    app.set_clock("2026-03-02T13:10:00Z");
    // A request must be confirmed before check-in, and checked in before completion.
    doctor
        .act(&id, "complete")
        .await
        .assert_problem(409, "illegal-transition");
    doctor
        .act(&id, "check-in")
        .await
        .assert_problem(409, "illegal-transition");
    admin
        .act(&id, "complete")
        .await
        .assert_problem(409, "illegal-transition");
    let detail = admin.appointment(&id).await;
    assert_eq!(detail.body["status"], "requested");
    assert_eq!(detail.body["history"].as_array().unwrap().len(), 1);
    admin
        .act("apt_nothing", "confirm")
        .await
        .assert_problem(404, "not-found");
    admin
        .act(&id, "teleport")
        .await
        .assert_problem(404, "not-found");
}
}

dual! {
#[tokio::test]
async fn no_show_only_after_the_start() {
    let Clinic {
        app,
        doctor,
        patient,
        receptionist,
        ..
    } = clinic().await;
    let id = app.booked(&patient, &doctor.id, MON_1400).await;
    doctor.act(&id, "confirm").await.assert_status(200);
    app.set_clock("2026-03-02T12:59:00Z");
    receptionist
        .act(&id, "no-show")
        .await
        .assert_problem(409, "not-started-yet");
    app.set_clock(MON_1400);
    patient
        .act(&id, "no-show")
        .await
        .assert_problem(403, "forbidden");
    let res = receptionist.act(&id, "no-show").await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "no_show");
    // The slot is released but in the past, so not offered.
    doctor
        .act(&id, "check-in")
        .await
        .assert_problem(409, "illegal-transition");
}
}

dual! {
#[tokio::test]
async fn patients_cancel_outside_the_window_and_the_slot_is_free_again() {
    let Clinic {
        app,
        doctor,
        patient,
        admin,
        ..
    } = clinic().await;
    let id = app.booked(&patient, &doctor.id, TUE_0900).await;
    assert!(
        !app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
            .await
            .contains(&TUE_0900.to_owned())
    );
    // Exactly 24 hours before is still outside the window.
    app.set_clock("2026-03-02T08:00:00Z");
    let res = patient
        .post(
            &format!("/api/v1/appointments/{id}/cancel"),
            &json!({ "reason": "Feeling better" }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "cancelled");
    assert_eq!(res.body["status_reason"], "Feeling better");
    assert!(
        app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
            .await
            .contains(&TUE_0900.to_owned())
    );
    patient
        .act(&id, "cancel")
        .await
        .assert_problem(409, "illegal-transition");

    // Both the doctor's and the patient's claims on that time are released: the
    // same patient can book it again.
    app.booked(&patient, &doctor.id, TUE_0900).await;

    let audit = admin
        .get(&format!(
            "/api/v1/audit?subject_id={id}&action=appointment.cancel"
        ))
        .await;
    assert_eq!(audit.items().len(), 1);
    assert_eq!(audit.items()[0]["actor_id"], patient.id.as_str());
    assert_eq!(audit.items()[0]["detail"]["reason"], "Feeling better");
}
}

dual! {
#[tokio::test]
async fn inside_the_window_only_staff_and_the_doctor_cancel() {
    let Clinic {
        app,
        doctor,
        patient,
        receptionist,
        ..
    } = clinic().await;
    let first = app.booked(&patient, &doctor.id, TUE_0900).await;
    let second = app.booked(&patient, &doctor.id, TUE_0930).await;
    app.set_clock("2026-03-02T08:00:01Z");
    patient
        .act(&first, "cancel")
        .await
        .assert_problem(409, "cancel-window-closed");
    patient
        .post(
            &format!("/api/v1/appointments/{first}/reschedule"),
            &json!({ "start": WED_0900 }),
        )
        .await
        .assert_problem(409, "cancel-window-closed");
    assert_eq!(
        patient.appointment(&first).await.body["status"],
        "requested"
    );

    let res = doctor
        .post(
            &format!("/api/v1/appointments/{first}/cancel"),
            &json!({ "reason": "Doctor is ill" }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "cancelled");
    assert_eq!(res.body["status_reason"], "Doctor is ill");
    receptionist.act(&second, "cancel").await.assert_status(200);
}
}

dual! {
#[tokio::test]
async fn rejection_keeps_its_reason_and_frees_the_slot() {
    let Clinic {
        app,
        doctor,
        patient,
        ..
    } = clinic().await;
    let id = app.booked(&patient, &doctor.id, TUE_0900).await;
    patient
        .post(
            &format!("/api/v1/appointments/{id}/reject"),
            &json!({ "reason": "no" }),
        )
        .await
        .assert_problem(403, "forbidden");
    doctor
        .post(
            &format!("/api/v1/appointments/{id}/reject"),
            &json!({ "reason": "x".repeat(1001) }),
        )
        .await
        .assert_invalid(&["reason"]);
    let res = doctor
        .post(
            &format!("/api/v1/appointments/{id}/reject"),
            &json!({ "reason": "Please see a dermatologist" }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "rejected");
    assert_eq!(res.body["status_reason"], "Please see a dermatologist");

    let detail = patient.appointment(&id).await;
    assert_eq!(detail.body["status_reason"], "Please see a dermatologist");
    let history = detail.body["history"].as_array().unwrap();
    assert_eq!(history[1]["action"], "reject");
    assert_eq!(history[1]["reason"], "Please see a dermatologist");
    assert!(
        app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
            .await
            .contains(&TUE_0900.to_owned())
    );
    // Rejected is final.
    doctor
        .act(&id, "confirm")
        .await
        .assert_problem(409, "illegal-transition");
}
}

dual! {
#[tokio::test]
async fn rescheduling_moves_the_appointment_and_keeps_its_id_and_history() {
    let Clinic {
        app,
        admin,
        doctor,
        patient,
        receptionist,
    } = clinic().await;
    let id = app.booked(&patient, &doctor.id, TUE_0900).await;
    doctor.act(&id, "confirm").await.assert_status(200);

    let res = receptionist
        .post(
            &format!("/api/v1/appointments/{id}/reschedule"),
            &json!({ "start": WED_0900, "reason": "Doctor in surgery" }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["id"], id.as_str());
    assert_eq!(res.body["start"], WED_0900);
    assert_eq!(res.body["end"], "2026-03-04T08:30:00Z");
    assert_eq!(
        res.body["status"], "confirmed",
        "staff moves keep the status"
    );

    let tuesday = app
        .slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
        .await;
    assert!(
        tuesday.contains(&TUE_0900.to_owned()),
        "the old slot is free"
    );
    let wednesday = app
        .slot_starts(&doctor.id, "2026-03-04", "2026-03-04")
        .await;
    assert!(!wednesday.contains(&WED_0900.to_owned()));

    // The patient moves it again: the doctor has to confirm the new time.
    let res = patient
        .post(
            &format!("/api/v1/appointments/{id}/reschedule"),
            &json!({ "start": WED_1000 }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["start"], WED_1000);
    assert_eq!(res.body["status"], "requested");
    assert!(
        app.slot_starts(&doctor.id, "2026-03-04", "2026-03-04")
            .await
            .contains(&WED_0900.to_owned())
    );

    let detail = patient.appointment(&id).await;
    detail.assert_status(200);
    assert_eq!(
        actions(&detail.body["history"]),
        [
            ("book".to_owned(), patient.id.clone()),
            ("confirm".to_owned(), doctor.id.clone()),
            ("reschedule".to_owned(), receptionist.id.clone()),
            ("reschedule".to_owned(), patient.id.clone()),
        ]
    );
    let history = detail.body["history"].as_array().unwrap();
    assert_eq!(history[2]["from_start"], TUE_0900);
    assert_eq!(history[2]["to_start"], WED_0900);
    assert_eq!(history[2]["reason"], "Doctor in surgery");
    assert_eq!(history[3]["from_start"], WED_0900);
    assert_eq!(history[3]["to_start"], WED_1000);
    assert_eq!(history[3]["from_status"], "confirmed");
    assert_eq!(history[3]["to_status"], "requested");
    let seqs: Vec<i64> = history.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);

    let audit = admin
        .get(&format!(
            "/api/v1/audit?subject_id={id}&action=appointment.reschedule"
        ))
        .await;
    assert_eq!(audit.items().len(), 2);
    assert_eq!(audit.items()[1]["detail"]["from_start"], TUE_0900);
    assert_eq!(audit.items()[1]["detail"]["to_start"], WED_0900);
}
}

dual! {
#[tokio::test]
async fn rescheduling_to_a_taken_or_invalid_slot_changes_nothing() {
    let Clinic {
        app,
        doctor,
        patient,
        receptionist,
        ..
    } = clinic().await;
    let other = app.register_patient("Otto Occupant").await;
    let id = app.booked(&patient, &doctor.id, TUE_0900).await;
    app.booked(&other, &doctor.id, WED_0900).await;
    let before = patient.appointment(&id).await.body;

    let path = format!("/api/v1/appointments/{id}/reschedule");
    receptionist
        .post(&path, &json!({ "start": WED_0900 }))
        .await
        .assert_problem(409, "slot-taken");
    receptionist
        .post(&path, &json!({ "start": "2026-03-04T08:10:00Z" }))
        .await
        .assert_invalid(&["start"]);
    receptionist
        .post(&path, &json!({ "start": "whenever" }))
        .await
        .assert_invalid(&["start"]);
    let res = receptionist.post(&path, &json!({})).await;
    assert!(matches!(res.status.as_u16(), 400 | 422), "{res:?}");
    assert_eq!(patient.appointment(&id).await.body, before);
    assert!(
        !app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
            .await
            .contains(&TUE_0900.to_owned()),
        "the appointment still holds its slot"
    );

    // Moving within its own time is allowed: 09:00 to 09:30 overlaps nothing else.
    receptionist
        .post(&path, &json!({ "start": TUE_0930 }))
        .await
        .assert_status(200);
    // A cancelled appointment cannot be moved.
    receptionist.act(&id, "cancel").await.assert_status(200);
    receptionist
        .post(&path, &json!({ "start": TUE_0900 }))
        .await
        .assert_problem(409, "illegal-transition");
}
}

dual! {
#[tokio::test]
async fn rescheduling_may_overlap_the_appointments_own_old_time() {
    let Clinic {
        app,
        doctor,
        patient,
        ..
    } = clinic().await;
    let id = app.booked(&patient, &doctor.id, TUE_0900).await;
    // The doctor switches to 20-minute slots; the booking keeps its 30 minutes.
    let mut schedule = crate::support::default_schedule();
    schedule["slot_minutes"] = json!(20);
    app.set_schedule(&doctor, schedule).await;
    assert_eq!(
        patient.appointment(&id).await.body["end"],
        "2026-03-03T08:30:00Z"
    );
    // 09:20-09:40 overlaps the appointment's own 09:00-09:30, which does not block it.
    let res = patient
        .post(
            &format!("/api/v1/appointments/{id}/reschedule"),
            &json!({ "start": "2026-03-03T08:20:00Z" }),
        )
        .await;
    res.assert_status(200);
    assert_eq!(res.body["end"], "2026-03-03T08:40:00Z");
    let starts = app
        .slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
        .await;
    assert_eq!(starts[..2], [TUE_0900, "2026-03-03T08:40:00Z"]);
}
}
