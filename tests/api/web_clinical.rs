//! The clinical forms on the appointment's page: the doctor writes and amends the
//! visit record (field errors and stale versions shown on the page, nothing
//! written), the patient reads it, nobody else touches it.

use serde_json::json;

use crate::pages::Pages;
use crate::support::*;

/// 22:00 in Berlin on the day of `NOW`: check-in is open for today's early slots.
const EVENING: &str = "2026-03-02T21:00:00Z";

async fn signed_in(app: &TestApp, user: &User) -> Pages {
    let pages = app.pages();
    pages.sign_in_as(user).await;
    pages
}

dual! {
    #[tokio::test]
    async fn the_doctor_writes_and_amends_the_record_on_the_appointment_page() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Xaver Exe").await;
        let other_doctor = app.create_doctor("Yvonne Why").await;
        let patient = app.register_patient("Alice Ay").await;
        let start = app.slot_starts(&doctor.id, "2026-03-02", "2026-03-02").await[0].clone();
        let visit = app.booked(&patient, &doctor.id, &start).await;
        app.set_clock(EVENING);
        doctor.act(&visit, "confirm").await.assert_status(200);
        let page_path = format!("/appointments/{visit}");
        let write = format!("/appointments/{visit}/record");
        let amend = format!("/appointments/{visit}/record/amend");
        let api_record = format!("/api/v1/appointments/{visit}/record");

        let pages = signed_in(&app, &doctor).await;
        // Before check-in there is nothing to write.
        pages.get(&page_path).await.assert_status(200).assert_lacks("Write the record");
        doctor.act(&visit, "check-in").await.assert_status(200);
        pages
            .get(&page_path)
            .await
            .assert_status(200)
            .assert_contains("Write the record")
            .assert_contains(&format!("action=\"{write}\""));

        // Field errors come back next to the fields, values kept, nothing written.
        let bad = pages
            .post(&write, &[("diagnosis", "Influenza A"), ("temperature_c", "warm")])
            .await;
        bad.assert_status(422)
            .assert_contains("must be a number")
            .assert_contains("id=\"f-temperature_c\" name=\"temperature_c\" type=\"text\" value=\"warm\"")
            .assert_contains("aria-invalid=\"true\" aria-describedby=\"e-temperature_c\"")
            .assert_contains(">Influenza A</textarea>");
        let bad = pages
            .post(&write, &[("diagnosis", "Influenza A"), ("pulse_per_min", "300")])
            .await;
        bad.assert_status(422)
            .assert_contains("aria-invalid=\"true\" aria-describedby=\"e-pulse_per_min\"")
            .assert_contains("value=\"300\"");
        let empty = pages.post(&write, &[("symptoms", "  ")]).await;
        empty.assert_status(422).assert_contains("a record needs at least one field");
        doctor.get(&api_record).await.assert_status(404);

        let saved = pages
            .post(
                &write,
                &[
                    ("symptoms", "Fever, aches"),
                    ("diagnosis", "Influenza A"),
                    ("icd10_code", "j10.1"),
                    ("systolic_mmhg", "121"),
                    ("diastolic_mmhg", "79"),
                    ("temperature_c", "38,4"),
                    ("follow_up_date", "2026-03-09"),
                ],
            )
            .await;
        saved.assert_redirect(&format!("{page_path}#record"));
        let record = doctor.get(&api_record).await;
        record.assert_status(200);
        assert_eq!(record.body["diagnosis"], "Influenza A");
        assert_eq!(record.body["icd10_code"], "J10.1");
        assert_eq!(record.body["vitals"]["temperature_c"], 38.4);
        assert!(record.body["notes"].is_null());
        let record_id = record.str("id").to_owned();

        let page = pages.get(&page_path).await;
        page.assert_status(200)
            .assert_contains("Current version (1)")
            .assert_contains("121/79 mmHg")
            .assert_contains("Amend the record")
            .assert_contains(&format!("action=\"{amend}\""))
            .assert_contains("name=\"base_version\" value=\"1\"")
            .assert_contains(">Influenza A</textarea>");

        // An amendment needs a reason; without one nothing is written.
        let no_reason = pages
            .post(&amend, &[("base_version", "1"), ("diagnosis", "Influenza B"), ("reason", "")])
            .await;
        no_reason
            .assert_status(422)
            .assert_contains("aria-invalid=\"true\" aria-describedby=\"e-reason")
            .assert_contains(">Influenza B</textarea>");
        let versions = doctor.get(&format!("/api/v1/records/{record_id}/versions")).await;
        assert_eq!(versions.body["versions"].as_array().unwrap().len(), 1);

        // Someone else's amendment got in first: a clear message, the doctor's
        // values kept, nothing written, the form now over the version shown.
        doctor
            .post(
                &format!("/api/v1/records/{record_id}/amendments"),
                &json!({ "base_version": 1, "reason": "Lab result", "notes": "Rapid test positive" }),
            )
            .await
            .assert_status(201);
        let stale = pages
            .post(
                &amend,
                &[("base_version", "1"), ("diagnosis", "Influenza B"), ("reason", "Typo")],
            )
            .await;
        stale
            .assert_status(409)
            .assert_contains("Someone amended this record while you were editing it")
            .assert_contains(">Influenza B</textarea>")
            .assert_contains("name=\"base_version\" value=\"2\"")
            .assert_contains("Rapid test positive");
        let versions = doctor.get(&format!("/api/v1/records/{record_id}/versions")).await;
        assert_eq!(versions.body["versions"].as_array().unwrap().len(), 2);

        let amended = pages
            .post(
                &amend,
                &[
                    ("base_version", "2"),
                    ("symptoms", "Fever, aches"),
                    ("diagnosis", "Influenza B"),
                    ("icd10_code", "J10.1"),
                    ("notes", "Rapid test positive"),
                    ("reason", "Lab typed the strain"),
                ],
            )
            .await;
        amended.assert_redirect(&format!("{page_path}#record"));
        let versions = doctor.get(&format!("/api/v1/records/{record_id}/versions")).await;
        let versions = versions.body["versions"].as_array().unwrap().clone();
        assert_eq!(versions.len(), 3);
        assert_eq!(versions[2]["diagnosis"], "Influenza B");
        assert_eq!(versions[2]["reason"], "Lab typed the strain");
        // Fields emptied on the form are cleared by the amendment.
        assert!(versions[2]["vitals"]["systolic_mmhg"].is_null());
        assert!(versions[2]["follow_up"].is_null());

        // The patient reads it (a link to the record's page) and cannot write.
        let own = signed_in(&app, &patient).await;
        own.get(&page_path)
            .await
            .assert_status(200)
            .assert_contains(&format!("href=\"/records/{record_id}\""))
            .assert_lacks("Amend the record")
            .assert_lacks("Influenza");
        own.post(&write, &[("diagnosis", "Healthy")]).await.assert_status(403);
        own.post(&amend, &[("base_version", "3"), ("diagnosis", "Healthy"), ("reason", "x")])
            .await
            .assert_status(403);
        // Another doctor does not even see the visit.
        let stranger = signed_in(&app, &other_doctor).await;
        stranger.get("/").await.assert_status(200);
        stranger.post(&write, &[("diagnosis", "Healthy")]).await.assert_status(404);
        stranger
            .post(&amend, &[("base_version", "3"), ("diagnosis", "Healthy"), ("reason", "x")])
            .await
            .assert_status(404);
        let versions = doctor.get(&format!("/api/v1/records/{record_id}/versions")).await;
        assert_eq!(versions.body["versions"].as_array().unwrap().len(), 3);
    }
}

dual! {
    #[tokio::test]
    async fn the_doctor_issues_and_revokes_prescriptions_and_the_patient_downloads_them() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Xaver Exe").await;
        let patient = app.register_patient("Alice Ay").await;
        let other = app.register_patient("Bob Bee").await;
        let receptionist = app.create_receptionist().await;
        let start = app.slot_starts(&doctor.id, "2026-03-02", "2026-03-02").await[0].clone();
        let visit = app.booked(&patient, &doctor.id, &start).await;
        app.set_clock(EVENING);
        doctor.act(&visit, "confirm").await.assert_status(200);
        let page_path = format!("/appointments/{visit}");
        let issue = format!("/appointments/{visit}/prescriptions");
        let api_list = format!("/api/v1/patients/{}/prescriptions", patient.id);

        let pages = signed_in(&app, &doctor).await;
        pages.get(&page_path).await.assert_status(200).assert_lacks("Issue a prescription");
        doctor.act(&visit, "check-in").await.assert_status(200);
        pages
            .get(&page_path)
            .await
            .assert_status(200)
            .assert_contains("Issue a prescription")
            .assert_contains("name=\"line3_name\"")
            .assert_lacks("name=\"line4_name\"");

        // Bad lines come back next to their fields, values kept; nothing is issued.
        let bad = pages
            .post(
                &issue,
                &[
                    ("line1_name", "Amoxicillin"),
                    ("line1_dose", "1 capsule"),
                    ("line1_frequency", "3 times a day"),
                    ("line1_duration_days", "a week"),
                ],
            )
            .await;
        bad.assert_status(422)
            .assert_contains("must be a whole number of days")
            .assert_contains("aria-invalid=\"true\" aria-describedby=\"e-line1_duration_days\"")
            .assert_contains("value=\"Amoxicillin\"");
        // Group 2 left empty is ignored; group 3 lacks its dose: named as line 3's.
        let bad = pages
            .post(
                &issue,
                &[
                    ("line1_name", "Amoxicillin"),
                    ("line1_dose", "1 capsule"),
                    ("line1_frequency", "3 times a day"),
                    ("line1_duration_days", "7"),
                    ("line3_name", "Ibuprofen"),
                    ("line3_frequency", "when needed"),
                    ("line3_duration_days", "3"),
                    ("notes", "Drink plenty"),
                ],
            )
            .await;
        bad.assert_status(422)
            .assert_contains("aria-invalid=\"true\" aria-describedby=\"e-line3_dose\"")
            .assert_contains("value=\"Ibuprofen\"")
            .assert_contains(">Drink plenty</textarea>");
        let none = pages.post(&issue, &[("notes", "Nothing else")]).await;
        none.assert_status(422).assert_contains("aria-describedby=\"e-line1_name\"");
        assert!(doctor.get(&api_list).await.items().is_empty());

        let issued = pages
            .post(
                &issue,
                &[
                    ("line1_name", "Amoxicillin"),
                    ("line1_strength", "500 mg"),
                    ("line1_dose", "1 capsule"),
                    ("line1_frequency", "3 times a day"),
                    ("line1_duration_days", "7"),
                    ("line3_name", "Ibuprofen"),
                    ("line3_dose", "1 tablet"),
                    ("line3_frequency", "when needed"),
                    ("line3_duration_days", "3"),
                ],
            )
            .await;
        issued.assert_redirect(&format!("{page_path}#prescriptions"));
        let list = doctor.get(&api_list).await;
        assert_eq!(list.items().len(), 1);
        let id = list.items()[0]["id"].as_str().unwrap().to_owned();
        let names: Vec<&str> = list.items()[0]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Amoxicillin", "Ibuprofen"]);
        pages
            .get(&page_path)
            .await
            .assert_contains("Amoxicillin 500 mg, 1 capsule, 3 times a day for 7 days")
            .assert_contains(&format!("action=\"/prescriptions/{id}/revoke\""));

        // The patient's list, with the PDF through the session cookie.
        let own = signed_in(&app, &patient).await;
        let mine = own.get("/prescriptions").await;
        mine.assert_status(200)
            .assert_contains("href=\"/prescriptions\"")
            .assert_contains("Amoxicillin 500 mg")
            .assert_contains("Active")
            .assert_contains(&format!("href=\"/api/v1/prescriptions/{id}/pdf\""))
            .assert_lacks("Revoke the prescription");
        let pdf = own.get(&format!("/api/v1/prescriptions/{id}/pdf")).await;
        pdf.assert_status(200);
        assert_eq!(pdf.headers[reqwest::header::CONTENT_TYPE], "application/pdf");
        assert!(pdf.body.starts_with("%PDF-"));
        own.post(&issue, &[("line1_name", "Sweets"), ("line1_dose", "1"),
                          ("line1_frequency", "daily"), ("line1_duration_days", "1")])
            .await
            .assert_status(403);
        own.post(&format!("/prescriptions/{id}/revoke"), &[("reason", "I feel better")])
            .await
            .assert_status(403);
        // Nobody else's list shows it; staff have no such page.
        let stranger = signed_in(&app, &other).await;
        stranger.get("/prescriptions").await.assert_status(200).assert_lacks("Amoxicillin");
        pages.get("/prescriptions").await.assert_status(403);
        let desk = signed_in(&app, &receptionist).await;
        desk.get("/prescriptions").await.assert_status(403);

        // Revoking needs a reason; without one nothing changes.
        let revoke = format!("/prescriptions/{id}/revoke");
        pages.get(&page_path).await;
        let refused = pages
            .post(&revoke, &[("reason", " "), ("back", &format!("{page_path}#prescriptions"))])
            .await;
        refused.assert_redirect(&format!("{page_path}#prescriptions"));
        let shown = pages.follow(&refused).await;
        assert!(shown.flash().unwrap_or_default().contains("give a reason"), "{:?}", shown.flash());
        assert_eq!(doctor.get(&format!("/api/v1/prescriptions/{id}")).await.str("status"), "active");
        let revoked = pages
            .post(&revoke, &[("reason", "Allergy reported"), ("back", &format!("{page_path}#prescriptions"))])
            .await;
        revoked.assert_redirect(&format!("{page_path}#prescriptions"));
        assert_eq!(doctor.get(&format!("/api/v1/prescriptions/{id}")).await.str("status"), "revoked");
        own.get("/prescriptions")
            .await
            .assert_contains("Revoked")
            .assert_contains("Allergy reported");
    }
}

dual! {
    #[tokio::test]
    async fn the_patient_states_the_health_summary_and_their_doctor_confirms_or_corrects_it() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Xaver Exe").await;
        let stranger_doctor = app.create_doctor("Yvonne Why").await;
        let receptionist = app.create_receptionist().await;
        let patient = app.register_patient("Alice Ay").await;
        let other = app.register_patient("Bob Bee").await;
        let visit = app.booked(&patient, &doctor.id, TUE_0900).await;
        doctor.act(&visit, "confirm").await.assert_status(200);
        let api = format!("/api/v1/patients/{}/summary", patient.id);
        let doctors_page = format!("/patients/{}/health-summary", patient.id);

        let own = signed_in(&app, &patient).await;
        own.get("/records").await.assert_contains("href=\"/health-summary\"");
        own.get("/health-summary").await.assert_status(200).assert_contains("Nothing stated yet.");
        // A bad entry comes back next to its field, values kept; nothing is saved.
        let long = "x".repeat(201);
        let bad = own
            .post("/health-summary", &[("base_version", "0"), ("allergies", &format!("Latex\n{long}")),
                                        ("blood_group", "A+")])
            .await;
        bad.assert_status(422)
            .assert_contains("aria-invalid=\"true\" aria-describedby=\"e-allergies")
            .assert_contains("line 2")
            .assert_contains("<option value=\"A+\" selected>");
        assert!(patient.get(&api).await.body["current"].is_null());
        let saved = own
            .post("/health-summary", &[("base_version", "0"), ("allergies", "Penicillin\r\nLatex"),
                                        ("current_medications", "Salbutamol"), ("blood_group", "A+")])
            .await;
        saved.assert_redirect("/health-summary");
        own.get("/health-summary")
            .await
            .assert_contains("Penicillin, Latex")
            .assert_contains("stated by the patient");

        // The treating doctor reaches it from the visit, confirms, then corrects.
        let pages = signed_in(&app, &doctor).await;
        pages
            .get(&format!("/appointments/{visit}"))
            .await
            .assert_contains(&format!("href=\"{doctors_page}\""));
        let shown = pages.get(&doctors_page).await;
        shown.assert_status(200).assert_contains("Health summary of Alice Ay").assert_contains("Salbutamol");
        let confirm = pages
            .post(&doctors_page, &[("base_version", "1"), ("allergies", "Penicillin\nLatex"),
                                   ("current_medications", "Salbutamol"), ("blood_group", "A+")])
            .await;
        confirm.assert_redirect(&doctors_page);
        assert_eq!(patient.get(&api).await.body["current"]["kind"], "confirmed");
        let correct = pages
            .post(&doctors_page, &[("base_version", "2"), ("allergies", "Penicillin\nLatex"),
                                   ("current_medications", "Salbutamol"), ("blood_group", "O+"),
                                   ("note", "Lab typed the blood")])
            .await;
        correct.assert_redirect(&doctors_page);
        let summary = patient.get(&api).await;
        assert_eq!(summary.body["current"]["kind"], "corrected");
        assert_eq!(summary.body["current"]["blood_group"], "O+");

        // A stale form: a clear message, the entries kept, nothing saved.
        let stale = own
            .post("/health-summary", &[("base_version", "1"), ("allergies", "Pollen")])
            .await;
        stale
            .assert_status(409)
            .assert_contains("The summary was changed while you were editing it")
            .assert_contains(">Pollen</textarea>")
            .assert_contains("name=\"base_version\" value=\"3\"")
            .assert_contains("corrected by a doctor");
        assert_eq!(patient.get(&api).await.body["versions"].as_array().unwrap().len(), 3);

        // Nobody else reads or writes it.
        let outsider = signed_in(&app, &stranger_doctor).await;
        outsider.get(&doctors_page).await.assert_status(404);
        outsider.get("/").await;
        outsider
            .post(&doctors_page, &[("base_version", "3"), ("allergies", "None")])
            .await
            .assert_status(404);
        let desk = signed_in(&app, &receptionist).await;
        desk.get(&doctors_page).await.assert_status(403);
        let bob = signed_in(&app, &other).await;
        bob.get(&doctors_page).await.assert_status(404);
        bob.get("/health-summary").await.assert_status(200).assert_lacks("Salbutamol").assert_lacks("Latex");
        pages.get("/health-summary").await.assert_status(403);
        assert_eq!(patient.get(&api).await.body["versions"].as_array().unwrap().len(), 3);
    }
}

dual! {
    #[tokio::test]
    async fn the_patient_rates_a_completed_visit_and_the_doctor_replies_on_its_page() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Rhea Rated").await;
        let patient = app.register_patient("Pia Patient").await;
        let other = app.register_patient("Sol Second").await;
        let visit = app.booked(&patient, &doctor.id, MON_1400).await;
        let page_path = format!("/appointments/{visit}");
        let reviews = format!("/api/v1/doctors/{}/reviews", doctor.id);
        doctor.act(&visit, "confirm").await.assert_status(200);
        app.set_clock("2026-03-02T13:45:00Z");
        doctor.act(&visit, "check-in").await.assert_status(200);

        let own = signed_in(&app, &patient).await;
        own.get(&page_path).await.assert_lacks("How was your visit?");
        doctor.act(&visit, "complete").await.assert_status(200);
        own.get(&page_path)
            .await
            .assert_contains("How was your visit?")
            .assert_contains("type=\"radio\" name=\"rating\" value=\"5\"");

        // No stars chosen: a message, nothing saved.
        let rate = format!("{page_path}/feedback");
        let none = own.post(&rate, &[("comment", "Great")]).await;
        none.assert_redirect(&format!("{page_path}#feedback"));
        let shown = own.follow(&none).await;
        assert!(shown.flash().unwrap_or_default().contains("Nothing was saved"), "{:?}", shown.flash());
        assert_eq!(app.anon().get(&reviews).await.body["rating"]["count"], 0);

        own.post(&rate, &[("rating", "4"), ("comment", "Kind and thorough")])
            .await
            .assert_redirect(&format!("{page_path}#feedback"));
        let page = own.get(&page_path).await;
        page.assert_contains("4 of 5 stars")
            .assert_contains("Kind and thorough")
            .assert_contains(&format!("action=\"{page_path}/feedback/edit\""))
            .assert_contains("value=\"4\" required checked");
        own.post(&format!("{page_path}/feedback/edit"), &[("rating", "5"), ("comment", "Kind and thorough")])
            .await
            .assert_redirect(&format!("{page_path}#feedback"));
        assert_eq!(app.anon().get(&reviews).await.body["rating"]["average"], 5.0);

        // After 14 days the rating stands.
        app.advance_clock(jiff::SignedDuration::from_hours(15 * 24));
        let own = signed_in(&app, &patient).await;
        own.get(&page_path).await.assert_contains("5 of 5 stars").assert_lacks("/feedback/edit");
        let late = own
            .post(&format!("{page_path}/feedback/edit"), &[("rating", "1"), ("comment", "")])
            .await;
        let shown = own.follow(&late).await;
        assert!(shown.flash().is_some_and(|f| f.contains("14 days") || f.contains("edit")), "{:?}", shown.flash());
        assert_eq!(app.anon().get(&reviews).await.body["rating"]["average"], 5.0);

        // The doctor reads it and replies once.
        let pages = signed_in(&app, &doctor).await;
        let page = pages.get(&page_path).await;
        page.assert_contains("The patient's rating")
            .assert_contains("Kind and thorough")
            .assert_contains("Publish the reply");
        pages.post(&rate, &[("rating", "5")]).await.assert_status(403);
        let feedback_id = app.anon().get(&reviews).await.items()[0]["id"].as_str().unwrap().to_owned();
        pages
            .post(&format!("{page_path}/feedback/reply"), &[("feedback_id", &feedback_id), ("reply", "Thank you!")])
            .await
            .assert_redirect(&format!("{page_path}#feedback"));
        assert_eq!(app.anon().get(&reviews).await.items()[0]["reply"], "Thank you!");
        pages.get(&page_path).await.assert_lacks("Publish the reply").assert_contains("Thank you!");
        own.get(&page_path).await.assert_contains("The doctor replied:");

        // Another patient cannot rate someone else's visit.
        let stranger = signed_in(&app, &other).await;
        stranger.get("/").await;
        stranger.post(&rate, &[("rating", "1")]).await.assert_status(404);
        assert_eq!(app.anon().get(&reviews).await.body["rating"]["count"], 1);
    }
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";

dual! {
    #[tokio::test]
    async fn the_patient_keeps_files_in_their_own_file() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dr Grace").await;
        let patient = app.register_patient("Ada Patient").await;
        let other = app.register_patient("Bob Bee").await;
        let visit = app.booked(&patient, &doctor.id, TUE_0900).await;
        doctor.act(&visit, "confirm").await.assert_status(200);
        let scan = doctor
            .upload(&format!("/api/v1/appointments/{visit}/attachments"), "x-ray.pdf", PDF)
            .await;
        scan.assert_status(201);
        let api = format!("/api/v1/patients/{}/attachments", patient.id);

        let own = signed_in(&app, &patient).await;
        own.get("/records").await.assert_contains("href=\"/files\"");
        let empty = own.get("/files").await;
        empty.assert_status(200)
            .assert_contains("x-ray.pdf")
            .assert_contains(&format!("href=\"/appointments/{visit}#files\""))
            .assert_lacks("Delete<span");

        let added = own.upload("/files", "blood test.pdf", PDF).await;
        added.assert_redirect("/files");
        let shown = own.follow(&added).await;
        assert_eq!(shown.flash().as_deref(), Some("blood test.pdf was added."));
        shown.assert_contains("blood test.pdf").assert_contains("Delete<span");
        let list = patient.get(&api).await;
        assert_eq!(list.items().len(), 2);
        let id = list
            .items()
            .iter()
            .find(|f| f["file_name"] == "blood test.pdf")
            .expect("the uploaded file")["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(list.items().iter().any(|f| f["id"] == id.as_str() && f["appointment_id"].is_null()));

        // Not a PDF, PNG or JPEG: a message, nothing stored.
        let refused = own.upload("/files", "results.pdf", b"MZ\x90\0\x03\0\0\0").await;
        let shown = own.follow(&refused).await;
        assert!(shown.flash().unwrap_or_default().contains("not accepted"), "{:?}", shown.flash());
        assert_eq!(patient.get(&api).await.items().len(), 2);

        // Others have no such page and do not see it.
        let stranger = signed_in(&app, &other).await;
        stranger.get("/files").await.assert_status(200).assert_lacks("blood test.pdf");
        let pages = signed_in(&app, &doctor).await;
        pages.get("/files").await.assert_status(403);

        own.post(&format!("/files/{id}/delete"), &[("back", "/files")])
            .await
            .assert_redirect("/files");
        own.get("/files").await.assert_lacks("blood test.pdf").assert_contains("x-ray.pdf");
        assert_eq!(patient.get(&api).await.items().len(), 1);
    }
}
