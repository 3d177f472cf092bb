//! The patient's clinical pages over HTTP: "My records" with every version of a
//! record, and the access history (who read their clinical data).

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
    async fn a_patient_reads_their_records_with_every_version_and_who_read_them() {
        let app = TestApp::spawn().await;
        let admin = app.admin().await;
        let doctor = app.create_doctor("Xaver Exe").await;
        let other_doctor = app.create_doctor("Yvonne Why").await;
        let rec = app.create_receptionist().await;
        let patient = app.register_patient("Alice Ay").await;
        let other = app.register_patient("Bob Bee").await;
        let start = app.slot_starts(&doctor.id, "2026-03-02", "2026-03-02").await[0].clone();
        let visit = app.booked(&patient, &doctor.id, &start).await;
        app.set_clock(EVENING);
        admin.act(&visit, "confirm").await.assert_status(200);
        admin.act(&visit, "check-in").await.assert_status(200);
        let record = doctor
            .post(
                &format!("/api/v1/appointments/{visit}/record"),
                &json!({ "diagnosis": "Common cold", "vitals": { "systolic_mmhg": 121, "diastolic_mmhg": 79 },
                         "follow_up_date": "2026-03-09" }),
            )
            .await
            .assert_status(201)
            .str("id")
            .to_owned();
        doctor
            .post(
                &format!("/api/v1/records/{record}/amendments"),
                &json!({ "base_version": 1, "reason": "Lab result", "diagnosis": "Influenza A" }),
            )
            .await
            .assert_status(201);

        let pages = signed_in(&app, &patient).await;
        let empty_log = pages.get("/access-history").await;
        empty_log.assert_status(200).assert_contains("Nobody has read your clinical data yet.");
        let list = pages.get("/records").await;
        list.assert_status(200)
            .assert_contains(&format!("href=\"/records/{record}\""))
            .assert_contains("Xaver Exe")
            .assert_contains("(amended)")
            .assert_lacks("Influenza");
        // "Download my data" is the API's export, which the session cookie opens.
        list.assert_contains("href=\"/api/v1/me/export\" download");
        let export = pages.get("/api/v1/me/export").await;
        export.assert_status(200).assert_contains(&record).assert_contains("Influenza A");
        assert!(export.headers[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"carebook-export-"));
        let page = pages.get(&format!("/records/{record}")).await;
        page.assert_status(200)
            .assert_contains("Current version (2)")
            .assert_contains("Influenza A")
            .assert_contains("Why: Lab result")
            .assert_contains("Version 1")
            .assert_contains("Common cold")
            .assert_contains("121/79 mmHg")
            .assert_contains(&format!("/book/{}?day=2026-03-09", doctor.id));

        admin
            .get(&format!("/api/v1/appointments/{visit}/record?break_glass_reason=Unconscious%20in%20ER"))
            .await
            .assert_status(200);
        let log = pages.get("/access-history").await;
        log.assert_status(200)
            .assert_contains("A visit record&#39;s history")
            .assert_contains("Alice Ay")
            .assert_contains("(admin)")
            .assert_contains("<strong>Yes</strong>: Unconscious in ER");

        // Nobody else opens them: another patient, a doctor without care, the desk.
        let stranger = signed_in(&app, &other).await;
        stranger.get(&format!("/records/{record}")).await.assert_status(404);
        stranger.get("/records").await.assert_status(200).assert_lacks(&record);
        let desk = signed_in(&app, &rec).await;
        desk.get(&format!("/records/{record}")).await.assert_status(403);
        desk.get("/records").await.assert_status(403);
        let outsider = signed_in(&app, &other_doctor).await;
        outsider.get(&format!("/records/{record}")).await.assert_status(404);
        // The treating doctor reads it (and it is logged).
        let treating = signed_in(&app, &doctor).await;
        treating.get(&format!("/records/{record}")).await.assert_status(200);
        let log = patient.get("/api/v1/me/access-log").await;
        assert_eq!(log.items()[0]["reader"]["name"], "Xaver Exe");
    }
}
