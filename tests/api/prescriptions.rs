//! Prescriptions: issuing, reading, the PDF (read back with poppler's `pdftotext`),
//! revoking, the public verification, the derived status, and who may see what,
//! with every clinical read in the audit log.

use jiff::SignedDuration;
use reqwest::{Method, header};
use serde_json::{Value, json};

use crate::support::{MON_1400, PASSWORD, Res, TestApp, User};

/// A doctor, their checked-in patient (visit at 14:00 Berlin, clock at 13:00), a
/// receptionist and the admin.
struct Visit {
    app: TestApp,
    admin: User,
    doctor: User,
    patient: User,
    receptionist: User,
    appointment: String,
}

async fn checked_in_visit() -> Visit {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doctor = app.create_doctor("Dora Prescriber").await;
    let patient = app.register_patient("Paul Patient").await;
    let receptionist = app.create_receptionist().await;
    let appointment = app.booked(&patient, &doctor.id, MON_1400).await;
    doctor.act(&appointment, "confirm").await.assert_status(200);
    app.set_clock("2026-03-02T12:00:00Z");
    doctor
        .act(&appointment, "check-in")
        .await
        .assert_status(200);
    Visit {
        app,
        admin,
        doctor,
        patient,
        receptionist,
        appointment,
    }
}

fn amoxicillin() -> Value {
    json!({
        "name": "Amoxicillin (trihydrate)",
        "strength": "500 mg",
        "dose": "1 capsule",
        "route": "oral",
        "frequency": "3 times a day",
        "duration_days": 7,
        "quantity": "21 capsules",
        "instructions": "Take after meals; finish the course."
    })
}

fn paracetamol() -> Value {
    json!({
        "name": "Paracétamol",
        "strength": "1 g",
        "dose": "1 tablet",
        "frequency": "up to 4 times a day",
        "duration_days": 3
    })
}

async fn prescribe(doctor: &User, appointment: &str, body: &Value) -> Res {
    doctor
        .post(
            &format!("/api/v1/appointments/{appointment}/prescriptions"),
            body,
        )
        .await
}

async fn issued(doctor: &User, appointment: &str) -> Value {
    let res = prescribe(
        doctor,
        appointment,
        &json!({ "lines": [amoxicillin(), paracetamol()], "notes": "Come back if the fever lasts." }),
    )
    .await;
    res.assert_status(201);
    res.body.clone()
}

/// The text of a PDF as poppler reads it, or `None` (said loudly) when `pdftotext`
/// is not installed; under CI it must be.
fn pdf_text(pdf: &[u8]) -> Option<String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("prescription.pdf");
    std::fs::write(&path, pdf).expect("write the PDF");
    let out = match std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
    {
        Ok(out) => out,
        Err(error) => {
            let message = format!(
                "pdftotext (poppler-utils) is not installed ({error}): the prescription PDF \
                 was NOT read back; run scripts/ensure-pdf-tools.sh"
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}");
            }
            eprintln!("WARNING: {message}");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "pdftotext could not read the PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("pdftotext writes UTF-8"))
}

async fn get_bytes(api: &User, path: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let res = api.request(Method::GET, path).send().await.expect("answer");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    (status, headers, res.bytes().await.expect("body").to_vec())
}

async fn verify(app: &TestApp, code: &str, accept: &str) -> Res {
    Res::from(
        app.anon()
            .request(Method::GET, &format!("/verify/{code}"))
            .header(header::ACCEPT, accept)
            .send()
            .await,
    )
    .await
}

dual! {
#[tokio::test]
async fn the_doctor_prescribes_the_patient_gets_the_pdf_and_the_code_verifies_until_revoked() {
    let Visit { app, admin: _, doctor, patient, receptionist, appointment } =
        checked_in_visit().await;

    // Validation names each field at fault.
    prescribe(&doctor, &appointment, &json!({ "lines": [] }))
        .await
        .assert_invalid(&["lines"]);
    let mut bad = amoxicillin();
    bad["duration_days"] = json!(0);
    bad["dose"] = json!(" ");
    prescribe(&doctor, &appointment, &json!({ "lines": [amoxicillin(), bad] }))
        .await
        .assert_invalid(&["lines[1].dose", "lines[1].duration_days"]);
    let many: Vec<Value> = (0..21).map(|_| amoxicillin()).collect();
    prescribe(&doctor, &appointment, &json!({ "lines": many }))
        .await
        .assert_invalid(&["lines"]);
    // Only the appointment's doctor prescribes.
    prescribe(&receptionist, &appointment, &json!({ "lines": [amoxicillin()] }))
        .await
        .assert_problem(403, "forbidden");
    prescribe(&patient, &appointment, &json!({ "lines": [amoxicillin()] }))
        .await
        .assert_problem(403, "forbidden");

    let rx = issued(&doctor, &appointment).await;
    let id = rx["id"].as_str().unwrap().to_owned();
    assert_eq!(rx["status"], "active");
    assert_eq!(rx["lines"].as_array().unwrap().len(), 2);
    assert_eq!(rx["patient_id"], patient.id.as_str());
    assert_eq!(rx["doctor_name"], "Dora Prescriber");
    // Completed once the longest line (7 days) has run.
    assert_eq!(rx["completes_at"], "2026-03-09T12:00:00Z");
    let code = rx["verification_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 23, "{code}");
    assert_eq!(code.matches('-').count(), 3, "{code}");
    let verify_url = rx["verify_url"].as_str().unwrap().to_owned();
    assert!(verify_url.ends_with(&format!("/verify/{code}")), "{verify_url}");

    // The patient reads it; the code is not repeated outside the issue answer.
    let res = patient.get(&format!("/api/v1/prescriptions/{id}")).await;
    res.assert_status(200);
    assert_eq!(res.body["lines"][0]["name"], "Amoxicillin (trihydrate)");
    assert!(res.body.get("verification_code").is_none());

    // The PDF opens, and holds every line, the people, the clinic, the code and URL.
    let (status, headers, pdf) =
        get_bytes(&patient, &format!("/api/v1/prescriptions/{id}/pdf")).await;
    assert_eq!(status, 200);
    assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
    assert!(headers[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert!(pdf.starts_with(b"%PDF-1.4"));
    if let Some(text) = pdf_text(&pdf) {
        for expected in [
            "Amoxicillin (trihydrate) 500 mg",
            "Dose: 1 capsule; Route: oral; Frequency: 3 times a day; Duration: 7 days; Quantity: 21 capsules",
            "Instructions: Take after meals; finish the course.",
            "Paracétamol 1 g",
            "Frequency: up to 4 times a day; Duration: 3 days",
            "Come back if the fever lasts.",
            "Doctor: Dora Prescriber",
            "Patient: Paul Patient",
            "Date: 2026-03-02",
            code.as_str(),
            verify_url.as_str(),
        ] {
            assert!(text.contains(expected), "{expected:?} not in the PDF text:\n{text}");
        }
    }

    // Anyone with the code learns it is valid, and nothing of its content.
    let res = verify(&app, &code, "application/json").await;
    res.assert_status(200);
    assert_eq!(
        res.body,
        json!({ "valid": true, "status": "active", "issued_at": "2026-03-02T12:00:00Z" })
    );
    let typed = code.replace('-', " ").to_lowercase();
    let res = verify(&app, &typed, "application/json").await;
    assert_eq!(res.body["valid"], true);
    let page = verify(&app, &code, "text/html").await;
    page.assert_status(200);
    let html = page.body.as_str().unwrap();
    assert!(html.contains("data-verification=\"valid\""), "{html}");
    assert!(!html.contains("Amoxicillin") && !html.contains("Paul Patient"));

    // Revoking: only the issuing doctor, with a reason, once; the prescription stays.
    let revoke = format!("/api/v1/prescriptions/{id}/revoke");
    patient
        .post(&revoke, &json!({ "reason": "no" }))
        .await
        .assert_problem(403, "forbidden");
    receptionist
        .post(&revoke, &json!({ "reason": "no" }))
        .await
        .assert_problem(403, "forbidden");
    doctor.post(&revoke, &json!({})).await.assert_invalid(&["reason"]);
    let res = doctor.post(&revoke, &json!({ "reason": "Wrong dose" })).await;
    res.assert_status(200);
    assert_eq!(res.body["status"], "revoked");
    assert_eq!(res.body["revoked_reason"], "Wrong dose");
    doctor
        .post(&revoke, &json!({ "reason": "again" }))
        .await
        .assert_problem(409, "already-revoked");
    let res = patient.get(&format!("/api/v1/prescriptions/{id}")).await;
    assert_eq!(res.body["status"], "revoked");
    assert_eq!(res.body["lines"].as_array().unwrap().len(), 2);

    let res = verify(&app, &code, "application/json").await;
    res.assert_status(200);
    assert_eq!(res.body["valid"], false);
    assert_eq!(res.body["status"], "revoked");
    let html = verify(&app, &code, "text/html").await;
    assert!(html.body.as_str().unwrap().contains("data-verification=\"revoked\""));

    // A code nobody holds, or one that cannot be a code.
    let res = verify(&app, "00000-00000-00000-00000", "application/json").await;
    res.assert_status(404);
    assert_eq!(res.body["valid"], false);
    verify(&app, "not-a-code", "text/html").await.assert_status(404);
}
}

dual! {
#[tokio::test]
async fn a_prescription_needs_a_checked_in_or_completed_visit_and_completes_after_its_longest_line() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Dora Prescriber").await;
    let patient = app.register_patient("Paul Patient").await;
    let appointment = app.booked(&patient, &doctor.id, MON_1400).await;
    // Requested, then confirmed: not yet.
    prescribe(&doctor, &appointment, &json!({ "lines": [amoxicillin()] }))
        .await
        .assert_problem(409, "visit-not-started");
    doctor.act(&appointment, "confirm").await.assert_status(200);
    prescribe(&doctor, &appointment, &json!({ "lines": [amoxicillin()] }))
        .await
        .assert_problem(409, "visit-not-started");
    app.set_clock("2026-03-02T12:00:00Z");
    doctor.act(&appointment, "check-in").await.assert_status(200);
    doctor.act(&appointment, "complete").await.assert_status(200);
    // After the visit: still possible.
    let res = prescribe(&doctor, &appointment, &json!({ "lines": [paracetamol()] })).await;
    res.assert_status(201);
    let id = res.str("id").to_owned();
    let code = res.str("verification_code").to_owned();

    // 3 days later, to the millisecond: completed, and no longer valid. (Sessions
    // last 24 hours: sign in again.)
    app.advance_clock(SignedDuration::from_hours(72) - SignedDuration::from_millis(1));
    let patient = app.log_in(&patient.email, PASSWORD).await;
    let doctor = app.log_in(&doctor.email, PASSWORD).await;
    let res = patient.get(&format!("/api/v1/prescriptions/{id}")).await;
    assert_eq!(res.body["status"], "active");
    app.advance_clock(SignedDuration::from_millis(1));
    let res = patient.get(&format!("/api/v1/prescriptions/{id}")).await;
    assert_eq!(res.body["status"], "completed");
    let res = verify(&app, &code, "application/json").await;
    assert_eq!(res.body["valid"], false);
    assert_eq!(res.body["status"], "completed");
    // A completed prescription can still be revoked (e.g. issued in error).
    doctor
        .post(&format!("/api/v1/prescriptions/{id}/revoke"), &json!({ "reason": "error" }))
        .await
        .assert_status(200);
}
}

/// The patient's access history (`GET /me/access-log`), oldest first:
/// `(reader, what, break_glass reason)`.
async fn access_log(patient: &User) -> Vec<(String, String, Option<String>)> {
    let res = patient.get("/api/v1/me/access-log?limit=100").await;
    res.assert_status(200);
    let mut rows: Vec<_> = res
        .items()
        .iter()
        .map(|e| {
            assert_eq!(e["break_glass"], e["break_glass_reason"].is_string());
            (
                e["reader"]["id"].as_str().unwrap().to_owned(),
                e["subject_kind"].as_str().unwrap().to_owned(),
                e["break_glass_reason"].as_str().map(str::to_owned),
            )
        })
        .collect();
    rows.reverse();
    rows
}

dual! {
#[tokio::test]
async fn only_the_patient_and_caring_doctors_read_prescriptions_and_every_read_is_audited() {
    let Visit { app, admin, doctor, patient, receptionist, appointment } =
        checked_in_visit().await;
    let rx = issued(&doctor, &appointment).await;
    let id = rx["id"].as_str().unwrap().to_owned();
    let one = format!("/api/v1/prescriptions/{id}");
    let pdf = format!("/api/v1/prescriptions/{id}/pdf");
    let list = format!("/api/v1/patients/{}/prescriptions", patient.id);
    let other_patient = app.register_patient("Olga Other").await;
    let stranger = app.create_doctor("Sam Stranger").await;

    // The patient and the treating doctor.
    patient.get(&one).await.assert_status(200);
    patient.get(&pdf).await.assert_status(200);
    let res = patient.get(&list).await;
    res.assert_status(200);
    assert_eq!(res.ids(), std::slice::from_ref(&id));
    doctor.get(&one).await.assert_status(200);
    doctor.get(&list).await.assert_status(200);

    // Another patient and a doctor who never saw this patient learn nothing.
    other_patient.get(&one).await.assert_problem(404, "not-found");
    other_patient.get(&pdf).await.assert_problem(404, "not-found");
    other_patient.get(&list).await.assert_problem(404, "not-found");
    stranger.get(&one).await.assert_problem(404, "not-found");
    stranger.get(&list).await.assert_problem(404, "not-found");
    // Front desk: no clinical content.
    receptionist.get(&one).await.assert_problem(403, "forbidden");
    receptionist.get(&pdf).await.assert_problem(403, "forbidden");
    receptionist.get(&list).await.assert_problem(403, "forbidden");
    // Admin: only with a stated reason (break-glass).
    admin.get(&one).await.assert_problem(403, "forbidden");
    admin.get(&list).await.assert_problem(403, "forbidden");
    admin
        .get(&format!("{one}?break_glass_reason="))
        .await
        .assert_invalid(&["break_glass_reason"]);
    admin
        .get(&format!("{one}?break_glass_reason={}", "x".repeat(501)))
        .await
        .assert_invalid(&["break_glass_reason"]);
    admin
        .get(&format!("{one}?break_glass_reason=Patient%20unconscious%20in%20ER"))
        .await
        .assert_status(200);
    admin
        .get(&format!("{list}?break_glass_reason=ER"))
        .await
        .assert_status(200);
    // A break-glass reason changes nothing for others.
    receptionist
        .get(&format!("{one}?break_glass_reason=please"))
        .await
        .assert_problem(403, "forbidden");

    // A live appointment makes a care relationship; cancelling it ends it.
    let booking = app.booked(&patient, &stranger.id, "2026-03-04T08:00:00Z").await;
    stranger.get(&one).await.assert_status(200);
    stranger.get(&list).await.assert_status(200);
    patient.act(&booking, "cancel").await.assert_status(200);
    stranger.get(&one).await.assert_problem(404, "not-found");

    // Every read that was served is in the patient's access history, with the
    // break-glass reason; refused ones are not.
    let reads = access_log(&patient).await;
    let normal = |who: &User, what: &str| (who.id.clone(), what.to_owned(), None);
    let expected = vec![
        normal(&patient, "prescription"),
        normal(&patient, "prescription_pdf"),
        normal(&patient, "prescription_list"),
        normal(&doctor, "prescription"),
        normal(&doctor, "prescription_list"),
        (
            admin.id.clone(),
            "prescription".to_owned(),
            Some("Patient unconscious in ER".to_owned()),
        ),
        (admin.id.clone(), "prescription_list".to_owned(), Some("ER".to_owned())),
        normal(&stranger, "prescription"),
        normal(&stranger, "prescription_list"),
    ];
    assert_eq!(reads, expected);
    // Break-glass reads are flagged in the clinic's audit log too.
    let res = admin
        .get("/api/v1/audit?action=clinical.break_glass")
        .await;
    assert_eq!(res.items().len(), 2);
    // Nobody else's data shows up in another patient's list.
    let res = other_patient
        .get(&format!("/api/v1/patients/{}/prescriptions", other_patient.id))
        .await;
    res.assert_status(200);
    assert!(res.items().is_empty());
}
}

dual! {
#[tokio::test]
async fn the_patient_is_told_of_a_new_prescription_without_its_content() {
    let visit = checked_in_visit().await;
    let before = visit.doctor.get("/api/v1/notifications").await;
    issued(&visit.doctor, &visit.appointment).await;

    let inbox = visit.patient.get("/api/v1/notifications").await;
    inbox.assert_status(200);
    let notice = &inbox.items()[0];
    assert_eq!(notice["kind"], "prescription_issued");
    assert_eq!(notice["title"], "New prescription");
    let body = notice["body"].as_str().unwrap();
    assert!(body.contains("Dr Dora Prescriber issued you a prescription"), "{body}");
    assert!(notice["link"].as_str().unwrap().ends_with("/prescriptions"), "{notice}");
    // The doctor is not told of their own act.
    let after = visit.doctor.get("/api/v1/notifications").await;
    assert_eq!(after.items().len(), before.items().len());

    visit.app.deliver().await;
    let mails = crate::security::mails_to(&visit.app, &visit.patient.email);
    let mail = mails
        .iter()
        .find(|m| m.contains("issued you a prescription"))
        .unwrap_or_else(|| panic!("an email about the prescription among {mails:?}"));
    assert!(mail.contains("/prescriptions"), "{mail}");
    // Email and in-app previews are not a secure channel: no medicine, no dose.
    for text in [body, mail.as_str()] {
        for secret in ["Amoxicillin", "Paracétamol", "Paracetamol", "capsule", "fever"] {
            assert!(!text.contains(secret), "{secret:?} in {text}");
        }
    }
}
}
