//! Attachments: uploads to a visit or a patient's file, downloads, deletion, and who
//! may do which.

use reqwest::StatusCode;
use reqwest::header;
use sha2::Digest;

use crate::support::{TUE_0900, TestApp, User, default_schedule};

/// A small but real PDF (a header, one empty page, a trailer).
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";
/// The first bytes of a PNG.
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
/// A Windows executable's first bytes.
const EXE: &[u8] = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0\xb8\0\0\0\0\0\0\0@\0";

fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every file in the file store, as (path, bytes).
pub(crate) fn stored_files(app: &TestApp) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                let bytes = std::fs::read(&path).expect("a readable stored file");
                out.push((path, bytes));
            }
        }
    }
    let mut files = Vec::new();
    walk(&app.mail_dir.path().join("files"), &mut files);
    files
}

struct Visit {
    patient: User,
    doctor: User,
    appointment: String,
}

/// A patient with a confirmed visit with a doctor next Tuesday: a live appointment,
/// so the doctor cares for them.
async fn confirmed_visit(app: &TestApp) -> Visit {
    let patient = app.register_patient("Ada Patient").await;
    let doctor = app.create_doctor("Dr Grace").await;
    app.set_schedule(&doctor, default_schedule()).await;
    let appointment = app.booked(&patient, &doctor.id, TUE_0900).await;
    doctor.act(&appointment, "confirm").await.assert_status(200);
    Visit {
        patient,
        doctor,
        appointment,
    }
}

dual! {
    #[tokio::test]
    async fn a_patient_uploads_a_lab_report_and_downloads_the_same_bytes() {
        let app = TestApp::spawn().await;
        let visit = confirmed_visit(&app).await;
        let path = format!("/api/v1/patients/{}/attachments", visit.patient.id);
        let created = visit.patient.upload(&path, "blood test.pdf", PDF).await;
        created.assert_status(201);
        assert_eq!(created.str("media_type"), "application/pdf");
        assert_eq!(created.str("file_name"), "blood test.pdf");
        assert_eq!(created.body["size_bytes"], PDF.len());
        assert_eq!(created.str("sha256"), sha256_hex(PDF));
        assert!(created.body["appointment_id"].is_null());
        let id = created.str("id").to_owned();

        let (status, headers, bytes) = visit.patient.download(&format!("/api/v1/attachments/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes, PDF);
        assert_eq!(sha256_hex(&bytes), created.str("sha256"));
        assert_eq!(headers[header::CONTENT_TYPE], "application/pdf");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
        assert!(disposition.starts_with("attachment;"), "{disposition}");
        assert!(disposition.contains("filename=\"blood test.pdf\""), "{disposition}");
        let digest = headers["repr-digest"].to_str().unwrap();
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(PDF));
        assert_eq!(digest, format!("sha-256=:{expected}:"));

        // The bytes are in the store once, under a random key, not under their name.
        let files = stored_files(&app);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].1, PDF);
        assert!(!files[0].0.to_string_lossy().contains("blood"));

        let list = visit.patient.get(&path).await;
        list.assert_status(200);
        assert_eq!(list.ids(), vec![id]);
    }
}

dual! {
    #[tokio::test]
    async fn the_doctor_and_the_patient_attach_files_to_a_visit() {
        let app = TestApp::spawn().await;
        let visit = confirmed_visit(&app).await;
        let path = format!("/api/v1/appointments/{}/attachments", visit.appointment);
        let scan = visit.doctor.upload(&path, "x-ray.png", PNG).await;
        scan.assert_status(201);
        assert_eq!(scan.str("media_type"), "image/png");
        assert_eq!(scan.str("appointment_id"), visit.appointment);
        assert_eq!(scan.str("uploaded_by"), visit.doctor.id);
        let report = visit.patient.upload(&path, "report.pdf", PDF).await;
        report.assert_status(201);

        let visit_files = visit.doctor.get(&path).await;
        visit_files.assert_status(200);
        assert_eq!(visit_files.items().len(), 2);
        // The patient's whole file holds the visit's files too.
        let all = visit.patient.get(&format!("/api/v1/patients/{}/attachments", visit.patient.id)).await;
        assert_eq!(all.items().len(), 2);
        let (status, _, bytes) = visit.patient.download(scan.str("download_url")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes, PNG);
    }
}

dual! {
    #[tokio::test]
    async fn a_file_over_the_limit_gets_413_and_leaves_nothing_stored() {
        let app = TestApp::spawn().await;
        assert_eq!(app.app.settings.attachment_max_bytes, 10_485_760);
        let visit = confirmed_visit(&app).await;
        let path = format!("/api/v1/patients/{}/attachments", visit.patient.id);
        // One byte over the default 10 MiB, and far over it.
        let mut big = PDF.to_vec();
        big.resize(10_485_761, b' ');
        visit.patient.upload(&path, "big.pdf", &big).await.assert_problem(413, "payload-too-large");
        big.resize(12 * 1024 * 1024, b' ');
        visit.patient.upload(&path, "bigger.pdf", &big).await.assert_problem(413, "payload-too-large");
        // Exactly at the limit is fine.
        big.truncate(10_485_760);
        visit.patient.upload(&path, "max.pdf", &big).await.assert_status(201);
        assert_eq!(stored_files(&app).len(), 1);
        assert_eq!(visit.patient.get(&path).await.items().len(), 1);
    }
}

dual! {
    #[tokio::test]
    async fn an_executable_renamed_to_pdf_is_refused() {
        let app = TestApp::spawn().await;
        let visit = confirmed_visit(&app).await;
        let path = format!("/api/v1/patients/{}/attachments", visit.patient.id);
        visit.patient.upload(&path, "results.pdf", EXE).await.assert_problem(415, "unsupported-file-type");
        visit.patient.upload(&path, "page.pdf", b"<html><script>alert(1)</script>").await
            .assert_problem(415, "unsupported-file-type");
        visit.patient.upload(&path, "empty.pdf", b"").await.assert_invalid(&["file"]);
        // The name follows the bytes: a PNG called .pdf is kept as a PNG.
        let png = visit.patient.upload(&path, "scan.pdf", PNG).await;
        png.assert_status(201);
        assert_eq!(png.str("media_type"), "image/png");
        assert_eq!(png.str("file_name"), "scan.pdf.png");
        assert_eq!(stored_files(&app).len(), 1);
        // Not multipart at all, or without the `file` field.
        visit.patient.post(&path, &serde_json::json!({"file": "x"})).await
            .assert_problem(415, "unsupported-media-type");
    }
}

dual! {
    #[tokio::test]
    async fn a_deleted_attachment_is_gone_from_the_store_too() {
        let app = TestApp::spawn().await;
        let visit = confirmed_visit(&app).await;
        let path = format!("/api/v1/patients/{}/attachments", visit.patient.id);
        let id = visit.patient.upload(&path, "a.pdf", PDF).await.str("id").to_owned();
        assert_eq!(stored_files(&app).len(), 1);
        // Only its uploader deletes it.
        visit.doctor.delete(&format!("/api/v1/attachments/{id}")).await.assert_problem(403, "forbidden");
        visit.patient.delete(&format!("/api/v1/attachments/{id}")).await.assert_status(204);
        assert!(stored_files(&app).is_empty());
        visit.patient.get(&format!("/api/v1/attachments/{id}")).await.assert_problem(404, "not-found");
        visit.patient.delete(&format!("/api/v1/attachments/{id}")).await.assert_problem(404, "not-found");
        assert!(visit.patient.get(&path).await.items().is_empty());
        // Nothing is left for the sweep either.
        assert_eq!(app.app.purge_deleted_attachments().await.unwrap(), 0);
    }
}

dual! {
    #[tokio::test]
    async fn only_the_patient_and_their_doctors_reach_the_files() {
        let app = TestApp::spawn().await;
        let visit = confirmed_visit(&app).await;
        let other_patient = app.register_patient("Bob Other").await;
        let stranger = app.create_doctor("Dr Stranger").await;
        let receptionist = app.create_receptionist().await;
        let admin = app.admin().await;
        let path = format!("/api/v1/patients/{}/attachments", visit.patient.id);
        let id = visit.patient.upload(&path, "a.pdf", PDF).await.str("id").to_owned();
        let file = format!("/api/v1/attachments/{id}");

        // Another patient and a doctor who never saw the patient: as if nothing were there.
        other_patient.get(&file).await.assert_problem(404, "not-found");
        stranger.get(&file).await.assert_problem(404, "not-found");
        other_patient.upload(&path, "b.pdf", PDF).await.assert_problem(404, "not-found");
        stranger.upload(&path, "b.pdf", PDF).await.assert_problem(404, "not-found");
        // Front desk and admins: no clinical content.
        receptionist.get(&file).await.assert_problem(403, "forbidden");
        receptionist.get(&path).await.assert_problem(403, "forbidden");
        receptionist.upload(&path, "b.pdf", PDF).await.assert_problem(403, "forbidden");
        admin.get(&file).await.assert_problem(403, "forbidden");
        admin.upload(&path, "b.pdf", PDF).await.assert_problem(403, "forbidden");
        // The treating doctor reads it.
        visit.doctor.get(&file).await.assert_status(200);
        assert_eq!(stored_files(&app).len(), 1);
    }
}

dual! {
    #[tokio::test]
    async fn every_download_is_in_the_patients_access_log() {
        let app = TestApp::spawn().await;
        let visit = confirmed_visit(&app).await;
        let admin = app.admin().await;
        let path = format!("/api/v1/patients/{}/attachments", visit.patient.id);
        let id = visit.patient.upload(&path, "a.pdf", PDF).await.str("id").to_owned();
        let file = format!("/api/v1/attachments/{id}");
        visit.doctor.get(&file).await.assert_status(200);
        admin.get(&format!("{file}?break_glass_reason=")).await.assert_status(422);
        admin.get(&format!("{file}?break_glass_reason=Patient%20unconscious%20in%20ER")).await.assert_status(200);

        let log = visit.patient.get("/api/v1/me/access-log").await;
        log.assert_status(200);
        let downloads: Vec<_> = log
            .items()
            .iter()
            .filter(|entry| entry["subject_kind"] == "attachment" && entry["subject_id"] == id.as_str())
            .collect();
        assert_eq!(downloads.len(), 2, "{:#}", log.body);
        assert!(downloads.iter().any(|e| e["reader"]["id"] == visit.doctor.id.as_str()));
        let glass = downloads
            .iter()
            .find(|e| e["reader"]["id"] == admin.id.as_str())
            .expect("the admin's read");
        assert_eq!(glass["break_glass_reason"], "Patient unconscious in ER");
    }
}
