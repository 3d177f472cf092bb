//! Clinical records (issue 9): visit records and their amendments, the health
//! summary, who may read what (care relationship, break-glass), and the audit of
//! every clinical read in the patient's access log. The access matrix of every route
//! is in `matrix.rs`; here are the relationships and the histories.

use serde_json::{Value, json};

use crate::support::*;

/// 22:00 in Berlin on the day of `NOW`: today's early slots have started and check-in
/// is still open.
const EVENING: &str = "2026-03-02T21:00:00Z";

struct Clinic {
    app: TestApp,
    admin: User,
    rec: User,
    /// The treating doctor.
    x: User,
    /// Another doctor.
    y: User,
    /// The patient.
    a: User,
    /// Another patient.
    b: User,
    /// A's visit with X today, checked in (the clock is at `EVENING`).
    visit: String,
}

impl Clinic {
    async fn new() -> Clinic {
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        let rec = app.create_receptionist().await;
        let x = app.create_doctor("Xaver Exe").await;
        let y = app.create_doctor("Yvonne Why").await;
        let a = app.register_patient("Alice Ay").await;
        let b = app.register_patient("Bob Bee").await;
        let start = app.slot_starts(&x.id, "2026-03-02", "2026-03-02").await[0].clone();
        let visit = app.booked(&a, &x.id, &start).await;
        // Not yet treated: no record.
        x.post(&record_path(&visit), &json!({ "diagnosis": "Too early" }))
            .await
            .assert_problem(409, "not-treated");
        app.set_clock(EVENING);
        admin.act(&visit, "confirm").await.assert_status(200);
        admin.act(&visit, "check-in").await.assert_status(200);
        Clinic {
            app,
            admin,
            rec,
            x,
            y,
            a,
            b,
            visit,
        }
    }

    /// X writes the visit's record; its id.
    async fn write_record(&self) -> String {
        self.x
            .post(
                &record_path(&self.visit),
                &json!({
                    "symptoms": "Sore throat, fever since Saturday",
                    "diagnosis": "Acute upper respiratory infection",
                    "icd10_code": "j06.9",
                    "notes": "No antibiotics needed.",
                    "vitals": { "systolic_mmhg": 120, "diastolic_mmhg": 80, "pulse_per_min": 72,
                                "temperature_c": 38.2, "weight_kg": 64.5, "height_cm": 170 },
                    "follow_up_advice": "Come back if the fever lasts",
                    "follow_up_date": "2026-03-09",
                }),
            )
            .await
            .assert_status(201)
            .str("id")
            .to_owned()
    }

    /// A fresh appointment of `patient` with `doctor` next week, requested.
    async fn book_later(&self, patient: &User, doctor: &User) -> String {
        self.app.set_clock(NOW);
        let start = self
            .app
            .slot_starts(&doctor.id, "2026-03-10", "2026-03-10")
            .await[0]
            .clone();
        let id = self.app.booked(patient, &doctor.id, &start).await;
        self.app.set_clock(EVENING);
        id
    }
}

fn record_path(appointment: &str) -> String {
    format!("/api/v1/appointments/{appointment}/record")
}

fn amend(base_version: i64, reason: &str, changes: Value) -> Value {
    let mut body = changes;
    body["base_version"] = json!(base_version);
    body["reason"] = json!(reason);
    body
}

dual! {
#[tokio::test]
async fn the_treating_doctor_writes_the_record_once_and_values_are_checked() {
    let c = Clinic::new().await;
    let path = record_path(&c.visit);
    // Vitals outside their ranges, a malformed ICD-10 code, an empty record: 422.
    c.x.post(&path, &json!({
        "vitals": { "systolic_mmhg": 261, "diastolic_mmhg": 29, "pulse_per_min": 19,
                    "temperature_c": 45.5, "weight_kg": 0.1, "height_cm": 251 },
        "icd10_code": "J6.9",
    }))
    .await
    .assert_invalid(&[
        "icd10_code",
        "vitals.systolic_mmhg",
        "vitals.diastolic_mmhg",
        "vitals.pulse_per_min",
        "vitals.temperature_c",
        "vitals.weight_kg",
        "vitals.height_cm",
    ]);
    c.x.post(&path, &json!({})).await.assert_invalid(&["diagnosis"]);
    c.x.post(&path, &json!({ "diagnosis": "x", "follow_up_date": "2026-03-01" }))
        .await
        .assert_invalid(&["follow_up_date"]);
    // Nobody but the appointment's doctor writes it.
    c.y.post(&path, &json!({ "diagnosis": "x" })).await.assert_status(404);
    c.a.post(&path, &json!({ "diagnosis": "x" })).await.assert_status(403);
    c.rec.post(&path, &json!({ "diagnosis": "x" })).await.assert_status(403);
    c.admin.post(&path, &json!({ "diagnosis": "x" })).await.assert_status(403);

    c.write_record().await;
    let res = c.a.get(&path).await;
    res.assert_status(200);
    let record = &res.body;
    assert_eq!(record["version"], 1);
    assert_eq!(record["icd10_code"], "J06.9");
    assert_eq!(record["vitals"]["temperature_c"], 38.2);
    assert_eq!(record["doctor"]["id"], c.x.id.as_str());
    assert_eq!(record["version_author"]["name"], "Xaver Exe");
    assert_eq!(record["amendment_reason"], Value::Null);
    assert_eq!(record["break_glass"], false);
    assert_eq!(record["follow_up"]["date"], "2026-03-09");
    assert_eq!(
        record["follow_up"]["booking_url"],
        format!("/book/{}?day=2026-03-09", c.x.id)
    );
    // The link leads to the doctor's free slots that day.
    c.app.set_clock(NOW);
    let slots = c.a.get(record["follow_up"]["slots_url"].as_str().unwrap()).await;
    slots.assert_status(200);
    assert!(!slots.body["slots"].as_array().unwrap().is_empty());
    c.app.set_clock(EVENING);

    // Never overwritten: a second record is refused; amend instead.
    c.x.post(&path, &json!({ "diagnosis": "Something else" }))
        .await
        .assert_problem(409, "record-exists");
    // The visit completed: still one record, still readable.
    c.x.act(&c.visit, "complete").await.assert_status(200);
    c.x.get(&path).await.assert_status(200);
}
}

dual! {
#[tokio::test]
async fn only_the_patient_and_doctors_with_care_read_clinical_data() {
    let c = Clinic::new().await;
    c.write_record().await;
    let path = record_path(&c.visit);
    let records = format!("/api/v1/patients/{}/records", c.a.id);
    let summary = format!("/api/v1/patients/{}/summary", c.a.id);
    c.a.get(&path).await.assert_status(200);
    c.x.get(&path).await.assert_status(200);
    // Another patient, and a doctor who never saw A: hidden.
    c.b.get(&path).await.assert_status(404);
    c.y.get(&path).await.assert_status(404);
    c.y.get(&records).await.assert_status(404);
    c.y.get(&summary).await.assert_status(404);
    // The front desk and admins may see the visit, not its clinical content.
    c.rec.get(&path).await.assert_problem(403, "forbidden");
    c.admin.get(&path).await.assert_problem(403, "forbidden");
    c.rec.get(&summary).await.assert_status(403);
    c.admin.get(&summary).await.assert_status(403);

    // A cancelled booking makes no care relationship: Y may see A's account (they
    // met), but not A's clinical data.
    let cancelled = c.book_later(&c.a, &c.y).await;
    c.y.act(&cancelled, "cancel").await.assert_status(200);
    c.y.get(&format!("/api/v1/users/{}", c.a.id)).await.assert_status(200);
    c.y.get(&records).await.assert_status(403);
    c.y.get(&summary).await.assert_status(403);
    c.y.put(&summary, &json!({ "allergies": ["Latex"] })).await.assert_status(403);

    // A live booking makes one: Y now reads the record X wrote, but may not amend it.
    c.book_later(&c.a, &c.y).await;
    let res = c.y.get(&path).await;
    res.assert_status(200);
    let record_id = res.str("id").to_owned();
    c.y.get(&records).await.assert_status(200);
    c.y.get(&summary).await.assert_status(200);
    c.y.post(
        &format!("/api/v1/records/{record_id}/amendments"),
        &amend(1, "second opinion", json!({ "diagnosis": "Flu" })),
    )
    .await
    .assert_problem(403, "forbidden");

    // The record list: dates and authors for the front desk, no clinical field.
    let list = c.rec.get(&records).await;
    list.assert_status(200);
    let entry = &list.items()[0];
    assert_eq!(entry["id"], record_id.as_str());
    assert_eq!(entry["author"]["name"], "Xaver Exe");
    assert_eq!(entry["appointment_id"], c.visit.as_str());
    let mut keys: Vec<&str> = entry.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["appointment_id", "author", "created_at", "id", "updated_at", "version", "visit_start"]
    );
    assert!(!list.body.to_string().contains("respiratory"));
    c.admin.get(&records).await.assert_status(200);
    c.a.get(&records).await.assert_status(200);
    c.b.get(&records).await.assert_status(404);
}
}

dual! {
#[tokio::test]
async fn amendments_keep_every_version_with_who_when_and_why() {
    let c = Clinic::new().await;
    let id = c.write_record().await;
    let amendments = format!("/api/v1/records/{id}/amendments");
    // A reason is required; an amendment must change something; values are checked.
    c.x.post(&amendments, &amend(1, "  ", json!({ "diagnosis": "Flu" })))
        .await
        .assert_invalid(&["reason"]);
    c.x.post(&amendments, &amend(1, "nothing", json!({ "notes": "No antibiotics needed." })))
        .await
        .assert_invalid(&["reason"]);
    c.x.post(&amendments, &amend(1, "typo", json!({ "vitals": { "pulse_per_min": 300 } })))
        .await
        .assert_invalid(&["vitals.pulse_per_min"]);
    // Only the author amends.
    c.a.post(&amendments, &amend(1, "mine", json!({ "notes": "x" })))
        .await
        .assert_status(403);
    c.b.post(&amendments, &amend(1, "mine", json!({ "notes": "x" })))
        .await
        .assert_status(404);
    c.admin.post(&amendments, &amend(1, "admin", json!({ "notes": "x" })))
        .await
        .assert_status(403);

    c.app.advance_clock(jiff::SignedDuration::from_mins(5));
    let res = c.x.post(&amendments, &amend(1, "Lab result came back", json!({
        "diagnosis": "Influenza A", "icd10_code": "J10.1", "notes": null,
    }))).await;
    res.assert_status(201);
    assert_eq!(res.body["version"], 2);
    assert_eq!(res.body["amendment_reason"], "Lab result came back");
    assert_eq!(res.body["diagnosis"], "Influenza A");
    assert_eq!(res.body["notes"], Value::Null);
    // Unchanged fields carry over.
    assert_eq!(res.body["symptoms"], "Sore throat, fever since Saturday");
    assert_eq!(res.body["vitals"]["pulse_per_min"], 72);

    // An amendment of a version that is no longer the latest: 409, nothing written.
    c.x.post(&amendments, &amend(1, "late", json!({ "diagnosis": "Cold" })))
        .await
        .assert_problem(409, "stale-version");
    c.x.post(&amendments, &amend(2, "Advice", json!({ "follow_up_date": null })))
        .await
        .assert_status(201);

    let versions = c.a.get(&format!("/api/v1/records/{id}/versions")).await;
    versions.assert_status(200);
    let list = versions.body["versions"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["version"], 1);
    assert_eq!(list[0]["reason"], Value::Null);
    assert_eq!(list[0]["diagnosis"], "Acute upper respiratory infection");
    assert_eq!(list[0]["notes"], "No antibiotics needed.");
    assert_eq!(list[0]["at"], EVENING);
    assert_eq!(list[1]["reason"], "Lab result came back");
    assert_eq!(list[1]["author"]["id"], c.x.id.as_str());
    assert_eq!(list[1]["at"], "2026-03-02T21:05:00Z");
    assert_eq!(list[1]["diagnosis"], "Influenza A");
    assert_eq!(list[2]["follow_up"], Value::Null);
    assert_eq!(list[2]["diagnosis"], "Influenza A");
    assert_eq!(c.a.get(&record_path(&c.visit)).await.body["version"], 3);
}
}

dual! {
#[tokio::test]
async fn concurrent_amendments_of_one_version_one_wins_the_others_get_409() {
    let c = Clinic::new().await;
    let id = c.write_record().await;
    let amendments = format!("/api/v1/records/{id}/amendments");
    for round in 1..=3_i64 {
        let bodies: Vec<Value> = (0..4)
            .map(|i| amend(round, &format!("writer {i}"), json!({ "notes": format!("round {round} by {i}") })))
            .collect();
        let (r0, r1, r2, r3) = tokio::join!(
            c.x.post(&amendments, &bodies[0]),
            c.x.post(&amendments, &bodies[1]),
            c.x.post(&amendments, &bodies[2]),
            c.x.post(&amendments, &bodies[3]),
        );
        let answers = [r0, r1, r2, r3];
        let won: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
        let lost = answers
            .iter()
            .filter(|r| r.status == 409 && r.body["type"] == "/problems/stale-version")
            .count();
        assert_eq!(won.len(), 1, "round {round}: {answers:?}");
        assert_eq!(lost, 3, "round {round}: {answers:?}");
        assert_eq!(won[0].body["version"], round + 1);
    }
    let versions = c.x.get(&format!("/api/v1/records/{id}/versions")).await;
    let list = versions.body["versions"].as_array().unwrap();
    assert_eq!(list.len(), 4, "no lost update, no extra version");
    for (i, v) in list.iter().enumerate() {
        assert_eq!(v["version"], i as i64 + 1);
    }
}
}

dual! {
#[tokio::test]
async fn the_health_summary_is_stated_confirmed_and_corrected_with_every_version_kept() {
    let c = Clinic::new().await;
    let path = format!("/api/v1/patients/{}/summary", c.a.id);
    let empty = c.a.get(&path).await;
    empty.assert_status(200);
    assert_eq!(empty.body["current"], Value::Null);
    c.a.put(&path, &json!({ "blood_group": "C+", "allergies": ["x".repeat(201)] }))
        .await
        .assert_invalid(&["allergies[0]", "blood_group"]);
    let stated = c.a.put(&path, &json!({
        "base_version": 0,
        "allergies": ["Penicillin"], "chronic_conditions": ["Asthma"],
        "current_medications": ["Salbutamol inhaler"], "blood_group": "a+",
    })).await;
    stated.assert_status(200);
    assert_eq!(stated.body["kind"], "stated");
    assert_eq!(stated.body["version"], 1);
    assert_eq!(stated.body["blood_group"], "A+");
    // The doctor confirms it unchanged, then corrects it.
    let confirmed = c.x.put(&path, &json!({
        "base_version": 1,
        "allergies": ["Penicillin"], "chronic_conditions": ["Asthma"],
        "current_medications": ["Salbutamol inhaler"], "blood_group": "A+",
    })).await;
    confirmed.assert_status(200);
    assert_eq!(confirmed.body["kind"], "confirmed");
    assert_eq!(confirmed.body["author_role"], "doctor");
    let corrected = c.x.put(&path, &json!({
        "base_version": 2,
        "allergies": ["Penicillin", "Ibuprofen"], "chronic_conditions": ["Asthma"],
        "current_medications": [], "blood_group": "A+", "note": "Stopped the inhaler",
    })).await;
    corrected.assert_status(200);
    assert_eq!(corrected.body["kind"], "corrected");
    // A stale base version writes nothing.
    c.a.put(&path, &json!({ "base_version": 2, "allergies": [] }))
        .await
        .assert_problem(409, "stale-version");
    // Nobody else edits it.
    c.rec.put(&path, &json!({ "allergies": [] })).await.assert_status(403);
    c.admin.put(&path, &json!({ "allergies": [] })).await.assert_status(403);
    c.y.put(&path, &json!({ "allergies": [] })).await.assert_status(404);
    c.b.put(&path, &json!({ "allergies": [] })).await.assert_status(404);

    let res = c.a.get(&path).await;
    res.assert_status(200);
    assert_eq!(res.body["current"]["version"], 3);
    assert_eq!(res.body["current"]["allergies"], json!(["Penicillin", "Ibuprofen"]));
    assert_eq!(res.body["current"]["note"], "Stopped the inhaler");
    let kinds: Vec<&str> = res.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["corrected", "confirmed", "stated"]);
    assert_eq!(res.body["versions"][2]["current_medications"], json!(["Salbutamol inhaler"]));
}
}

dual! {
#[tokio::test]
async fn every_clinical_read_is_audited_and_shown_in_the_access_log() {
    let c = Clinic::new().await;
    let id = c.write_record().await;
    let path = record_path(&c.visit);
    let summary = format!("/api/v1/patients/{}/summary", c.a.id);
    let versions = format!("/api/v1/records/{id}/versions");

    // Writing and listing are not reads of clinical content; refusals read nothing.
    c.rec.get(&format!("/api/v1/patients/{}/records", c.a.id)).await.assert_status(200);
    c.rec.get(&path).await.assert_status(403);
    c.y.get(&path).await.assert_status(404);
    let log = c.a.get("/api/v1/me/access-log").await;
    log.assert_status(200);
    assert!(log.items().is_empty(), "{:?}", log.body);

    c.a.get(&path).await.assert_status(200);
    c.x.get(&versions).await.assert_status(200);
    c.x.get(&summary).await.assert_status(200);
    // Break-glass: the reason is required and bounded, and counts only for admins.
    c.admin.get(&format!("{path}?break_glass_reason=")).await.assert_invalid(&["break_glass_reason"]);
    c.admin
        .get(&format!("{path}?break_glass_reason={}", "x".repeat(501)))
        .await
        .assert_invalid(&["break_glass_reason"]);
    c.rec.get(&format!("{path}?break_glass_reason=curious")).await.assert_status(403);
    c.b.get(&format!("{path}?break_glass_reason=curious")).await.assert_status(404);
    let glass = c.admin
        .get(&format!("{path}?break_glass_reason=Patient%20unconscious%20in%20ER"))
        .await;
    glass.assert_status(200);
    assert_eq!(glass.body["break_glass"], true);
    assert_eq!(glass.body["diagnosis"], "Acute upper respiratory infection");
    c.admin.get(&format!("{summary}?break_glass_reason=ER")).await.assert_status(200);
    c.admin.get(&format!("{versions}?break_glass_reason=ER")).await.assert_status(200);

    let log = c.a.get("/api/v1/me/access-log").await;
    log.assert_status(200);
    let rows: Vec<(String, String, String, Value)> = log
        .items()
        .iter()
        .map(|r| {
            (
                r["reader"]["name"].as_str().unwrap().to_owned(),
                r["reader_role"].as_str().unwrap().to_owned(),
                r["subject_kind"].as_str().unwrap().to_owned(),
                r["break_glass_reason"].clone(),
            )
        })
        .collect();
    let admin_name = c.admin.name.clone();
    let row = |name: &str, role: &str, kind: &str, reason: Value| {
        (name.to_owned(), role.to_owned(), kind.to_owned(), reason)
    };
    assert_eq!(
        rows,
        [
            row(&admin_name, "admin", "record_versions", json!("ER")),
            row(&admin_name, "admin", "summary", json!("ER")),
            row(&admin_name, "admin", "record", json!("Patient unconscious in ER")),
            row("Xaver Exe", "doctor", "summary", Value::Null),
            row("Xaver Exe", "doctor", "record_versions", Value::Null),
            row("Alice Ay", "patient", "record", Value::Null),
        ]
    );
    assert_eq!(log.items()[2]["break_glass"], true);
    assert_eq!(log.items()[2]["subject_id"], id.as_str());
    assert_eq!(log.items()[2]["at"], EVENING);
    // Paginated like every list.
    let first = c.a.get("/api/v1/me/access-log?limit=4").await;
    assert_eq!(first.items().len(), 4);
    let cursor = first.str("next_cursor").to_owned();
    let rest = c.a.get(&format!("/api/v1/me/access-log?limit=4&cursor={cursor}")).await;
    rest.assert_status(200);
    assert_eq!(rest.items().len(), 2);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    // Another patient's log holds none of it.
    assert!(c.b.get("/api/v1/me/access-log").await.items().is_empty());

    // Break-glass reads are flagged in the audit log, without clinical content.
    let audit = c.admin.get("/api/v1/audit?action=clinical.break_glass").await;
    audit.assert_status(200);
    assert_eq!(audit.items().len(), 3);
    let flagged = audit.items().iter().find(|e| e["subject_type"] == "record").unwrap();
    assert_eq!(flagged["detail"]["break_glass"], true);
    assert_eq!(flagged["detail"]["reason"], "Patient unconscious in ER");
    assert_eq!(flagged["detail"]["patient_id"], c.a.id.as_str());
    assert!(!audit.body.to_string().contains("respiratory"));
}
}
