//! The patient's export (`GET /api/v1/me/export`): everything carebook holds about
//! them, nothing of anyone else's, refused to staff and strangers, and audited as a
//! clinical read.

use reqwest::header;
use serde_json::{Value, json};

use crate::support::*;

/// 22:00 in Berlin on the day of `NOW`: today's slots have started and check-in is
/// still open.
const EVENING: &str = "2026-03-02T21:00:00Z";

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";

/// The ids of everything one patient's visit produced.
struct Traces {
    appointment: String,
    record: String,
    prescription: String,
    visit_file: String,
    own_file: String,
    feedback: String,
    conversation: String,
}

/// `patient`'s visit with `doctor` at `start` today: checked in, a record (amended
/// once), a prescription, a file on the visit and one in their own file, completed,
/// rated with a comment the doctor answers, a summary, and a chat. Every text
/// carries `tag`, so that another patient's export can be searched for it.
async fn visit_with_everything(
    app: &TestApp,
    doctor: &User,
    patient: &User,
    start: &str,
    tag: &str,
) -> Traces {
    app.set_clock(NOW);
    let appointment = app.booked(patient, &doctor.id, start).await;
    app.set_clock(EVENING);
    doctor.act(&appointment, "confirm").await.assert_status(200);
    doctor
        .act(&appointment, "check-in")
        .await
        .assert_status(200);
    let record = doctor
        .post(
            &format!("/api/v1/appointments/{appointment}/record"),
            &json!({ "diagnosis": format!("{tag} diagnosis"), "vitals": { "pulse_per_min": 70 } }),
        )
        .await;
    record.assert_status(201);
    let record = record.str("id").to_owned();
    doctor
        .post(
            &format!("/api/v1/records/{record}/amendments"),
            &json!({ "base_version": 1, "reason": format!("{tag} correction"),
                     "notes": format!("{tag} notes") }),
        )
        .await
        .assert_status(201);
    let prescription = doctor
        .post(
            &format!("/api/v1/appointments/{appointment}/prescriptions"),
            &json!({ "lines": [{ "name": format!("{tag} medicine"), "dose": "1 tablet",
                                 "frequency": "daily", "duration_days": 5 }] }),
        )
        .await;
    prescription.assert_status(201);
    let prescription = prescription.str("id").to_owned();
    let visit_file = doctor
        .upload(
            &format!("/api/v1/appointments/{appointment}/attachments"),
            &format!("{tag} scan.pdf"),
            PDF,
        )
        .await;
    visit_file.assert_status(201);
    let own_file = patient
        .upload(
            &format!("/api/v1/patients/{}/attachments", patient.id),
            &format!("{tag} lab.pdf"),
            PDF,
        )
        .await;
    own_file.assert_status(201);
    doctor
        .act(&appointment, "complete")
        .await
        .assert_status(200);
    let feedback = patient
        .post(
            &format!("/api/v1/appointments/{appointment}/feedback"),
            &json!({ "rating": 4, "comment": format!("{tag} comment") }),
        )
        .await;
    feedback.assert_status(201);
    let feedback = feedback.str("id").to_owned();
    doctor
        .post(
            &format!("/api/v1/feedback/{feedback}/reply"),
            &json!({ "reply": format!("{tag} reply") }),
        )
        .await
        .assert_status(200);
    patient
        .put(
            &format!("/api/v1/patients/{}/summary", patient.id),
            &json!({ "allergies": [format!("{tag} allergy")], "blood_group": "A+" }),
        )
        .await
        .assert_status(200);
    let conversation = patient
        .post("/api/v1/conversations", &json!({ "doctor_id": doctor.id }))
        .await;
    assert!(conversation.status.is_success(), "{:?}", conversation.body);
    let conversation = conversation.str("id").to_owned();
    patient
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            &json!({ "client_id": "m1", "text": format!("{tag} message") }),
        )
        .await
        .assert_status(201);
    Traces {
        appointment,
        record,
        prescription,
        visit_file: visit_file.str("id").to_owned(),
        own_file: own_file.str("id").to_owned(),
        feedback,
        conversation,
    }
}

fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| item["id"].as_str().expect("an id"))
        .collect()
}

/// Every object key in `value`, at any depth.
fn keys(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                into.push(key.clone());
                keys(inner, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| keys(item, into)),
        _ => {}
    }
}

dual! {
#[tokio::test]
async fn the_export_holds_exactly_the_patients_own_data() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let receptionist = app.create_receptionist().await;
    let doctor = app.create_doctor("Dora Shared").await;
    let ann = app.register_patient("Ann Exporter").await;
    let ben = app.register_patient("Ben Bystander").await;
    let starts = app.slot_starts(&doctor.id, "2026-03-02", "2026-03-02").await;
    let mine = visit_with_everything(&app, &doctor, &ann, &starts[0], "Annish").await;
    let theirs = visit_with_everything(&app, &doctor, &ben, &starts[1], "Benish").await;

    let res = ann.get("/api/v1/me/export").await;
    res.assert_status(200);
    assert_eq!(
        res.header(header::CONTENT_DISPOSITION),
        Some("attachment; filename=\"carebook-export-2026-03-02.json\"")
    );
    assert!(res.header(header::CONTENT_TYPE).is_some_and(|t| t.starts_with("application/json")));
    let export = &res.body;
    assert_eq!(export["account"]["id"], ann.id.as_str());
    assert_eq!(export["account"]["email"], ann.email.as_str());
    assert_eq!(export["account"]["name"], "Ann Exporter");

    // Each part holds the patient's own, complete.
    assert_eq!(ids(&export["appointments"]), [mine.appointment.as_str()]);
    let appointment = &export["appointments"][0];
    let moves: Vec<&str> = appointment["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(moves, ["book", "confirm", "check_in", "complete"]);
    assert_eq!(appointment["feedback"]["id"], mine.feedback.as_str());
    assert_eq!(appointment["feedback"]["comment"], "Annish comment");
    assert_eq!(appointment["feedback"]["reply"], "Annish reply");

    assert_eq!(ids(&export["records"]), [mine.record.as_str()]);
    let versions = export["records"][0]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["diagnosis"], "Annish diagnosis");
    assert_eq!(versions[0]["vitals"]["pulse_per_min"], 70);
    assert_eq!(versions[1]["reason"], "Annish correction");
    assert_eq!(versions[1]["notes"], "Annish notes");

    let summary = export["health_summary"].as_array().unwrap();
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["allergies"], json!(["Annish allergy"]));
    assert_eq!(summary[0]["kind"], "stated");

    assert_eq!(ids(&export["prescriptions"]), [mine.prescription.as_str()]);
    assert_eq!(export["prescriptions"][0]["status"], "active");
    assert_eq!(export["prescriptions"][0]["lines"][0]["name"], "Annish medicine");

    let mut files = ids(&export["attachments"]);
    files.sort_unstable();
    let mut expected = vec![mine.visit_file.as_str(), mine.own_file.as_str()];
    expected.sort_unstable();
    assert_eq!(files, expected);
    assert!(export["attachments"][0]["sha256"].is_string());

    assert_eq!(ids(&export["conversations"]), [mine.conversation.as_str()]);
    assert_eq!(export["conversations"][0]["messages"][0]["text"], "Annish message");

    // Nothing of the other patient: no id, no name, no text.
    let text = export.to_string();
    for trace in [
        ben.id.as_str(),
        ben.email.as_str(),
        "Ben Bystander",
        "Benish",
        &theirs.appointment,
        &theirs.record,
        &theirs.prescription,
        &theirs.visit_file,
        &theirs.own_file,
        &theirs.feedback,
        &theirs.conversation,
    ] {
        assert!(!text.contains(trace), "the export of Ann holds {trace:?}");
    }
    // Nor any secret: no password hash, token, two-factor secret or verification code.
    let mut all_keys = Vec::new();
    keys(export, &mut all_keys);
    for secret in ["password", "password_hash", "token", "totp_secret", "verification_code",
                   "verify_url", "verify_hash", "object_key"] {
        assert!(!all_keys.iter().any(|k| k == secret), "the export has a {secret:?} field");
    }
    assert!(!text.contains("$argon2"), "a password hash in the export");

    // The export is a clinical read of the patient's data, in their access history.
    let log = ann.get("/api/v1/me/access-log").await;
    log.assert_status(200);
    let first = &log.items()[0];
    assert_eq!(first["subject_kind"], "export");
    assert_eq!(first["reader"]["id"], ann.id.as_str());
    assert_eq!(first["break_glass"], false);
    // Ben did not export: his log has no such row.
    let ben_log = ben.get("/api/v1/me/access-log").await;
    assert!(ben_log.items().iter().all(|r| r["subject_kind"] != "export"));

    // Staff have no chart to export; strangers are asked to sign in.
    for staff in [&doctor, &receptionist, &admin] {
        staff.get("/api/v1/me/export").await.assert_problem(403, "forbidden");
    }
    app.anon().get("/api/v1/me/export").await.assert_problem(401, "unauthenticated");
    let staff_reads = ann.get("/api/v1/me/access-log").await;
    assert_eq!(
        staff_reads.items().iter().filter(|r| r["subject_kind"] == "export").count(),
        1,
        "refused exports are not logged as reads"
    );
}
}
