//! The front desk pages: the day's arrivals and check-in, patient search, a
//! patient's visits, registering a patient at the counter, and who may open them.

use crate::support::*;

/// Monday 2 March 2026, 09:00 and 10:00 in Berlin: bookable from [`NOW`].
const MON_0900: &str = "2026-03-02T08:00:00Z";
const MON_1000: &str = "2026-03-02T09:00:00Z";

dual! {
    #[tokio::test]
    async fn the_desk_lists_todays_arrivals_and_checks_a_patient_in() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let pia = app.register_patient("Pia Patient").await;
        let max = app.register_patient("Max Mustermann").await;
        let early = app.booked(&pia, &doctor.id, MON_0900).await;
        let later = app.booked(&max, &doctor.id, MON_1000).await;
        doctor.act(&early, "confirm").await.assert_status(200);
        doctor.act(&later, "confirm").await.assert_status(200);
        // Tomorrow's visit is not on today's desk.
        app.booked(&max, &doctor.id, TUE_0900).await;

        let desk = app.create_receptionist().await;
        let pages = app.pages();
        pages.sign_in_as(&desk).await;
        let today = pages.get("/desk").await;
        today
            .assert_status(200)
            .assert_contains("Monday 2 March 2026")
            .assert_contains("Europe/Berlin")
            .assert_contains("data-live")
            .assert_contains("Dora Keller");
        let pia_at = today.body.find("Pia Patient").unwrap();
        let max_at = today.body.find("Max Mustermann").unwrap();
        assert!(pia_at < max_at, "arrivals are in time order");
        assert_eq!(
            today.links(&format!("/appointments/{early}")).len(),
            1,
            "the time links to the appointment"
        );
        assert!(today.body.contains(&format!("action=\"/appointments/{early}/check-in\"")));
        // Two expected, nobody checked in yet.
        assert!(today.body.contains("<dt>Still expected</dt><dd>2</dd>"), "{}", today.body);
        assert!(today.body.contains("<dt>Checked in</dt><dd>0</dd>"));

        // 08:30 in Berlin: check-in for the 09:00 visit is open.
        app.set_clock("2026-03-02T07:30:00Z");
        pages.get("/desk?date=2026-03-02").await;
        let done = pages
            .post(
                &format!("/appointments/{early}/check-in"),
                &[("back", "/desk?date=2026-03-02")],
            )
            .await;
        done.assert_redirect("/desk?date=2026-03-02");
        let after = pages.follow(&done).await;
        assert_eq!(after.flash().as_deref(), Some("The patient is checked in."));
        assert!(after.body.contains("<dt>Checked in</dt><dd>1</dd>"));
        assert!(after.body.contains("<dt>Still expected</dt><dd>1</dd>"));
        assert!(!after.body.contains(&format!("action=\"/appointments/{early}/check-in\"")));
        assert_eq!(desk.appointment(&early).await.str("status"), "checked_in");

        // Too early for the 10:00 visit: the refusal is explained, nothing changes.
        let early_try = pages
            .post(&format!("/appointments/{later}/check-in"), &[("back", "/desk")])
            .await;
        let refused = pages.follow(&early_try).await;
        assert!(refused.flash().unwrap().to_lowercase().contains("check-in opens"));
        assert_eq!(desk.appointment(&later).await.str("status"), "confirmed");

        // The search narrows the list to one patient; other days have their own list.
        pages
            .get("/desk?date=2026-03-02&q=muster")
            .await
            .assert_contains("Max Mustermann")
            .assert_lacks("Pia Patient");
        let tuesday = pages.get("/desk?date=2026-03-03").await;
        tuesday
            .assert_contains("Tuesday 3 March 2026")
            .assert_contains("Max Mustermann")
            .assert_lacks("Pia Patient");
        assert!(!tuesday.links("/desk?date=2026-03-02").is_empty(), "previous day");
        pages
            .get("/desk?date=2026-03-07")
            .await
            .assert_contains("No visits are booked for this day.");
        pages
            .get("/desk?date=soon")
            .await
            .assert_status(200)
            .assert_contains("aria-invalid=\"true\"")
            .assert_contains("Monday 2 March 2026");
    }
}

dual! {
    #[tokio::test]
    async fn the_desk_finds_a_patient_and_shows_their_visits() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let pia = app.register_patient("Pia Patient").await;
        app.register_patient("Max Mustermann").await;
        let visit = app.booked(&pia, &doctor.id, TUE_0900).await;
        let desk = app.create_receptionist().await;
        let pages = app.pages();
        pages.sign_in_as(&desk).await;

        let all = pages.get("/desk/patients").await;
        all.assert_status(200)
            .assert_contains("Pia Patient")
            .assert_contains("Max Mustermann")
            // Only patients are listed.
            .assert_lacks("Dora Keller");
        let found = pages.get("/desk/patients?q=pia").await;
        found.assert_contains("Pia Patient").assert_lacks("Max Mustermann");
        assert_eq!(found.links(&format!("/?for={}", pia.id)).len(), 1);
        pages
            .get("/desk/patients?q=nobody-like-this")
            .await
            .assert_contains("No patient matches");

        let page = pages.get(&format!("/desk/patients/{}", pia.id)).await;
        page.assert_status(200)
            .assert_contains(&pia.email)
            .assert_contains("Tue 3 Mar 2026, 09:00")
            .assert_contains("Dora Keller")
            .assert_contains("Book for this patient");
        assert_eq!(page.links(&format!("/appointments/{visit}")).len(), 1);
        // A doctor's account is not a patient's page.
        pages
            .get(&format!("/desk/patients/{}", doctor.id))
            .await
            .assert_status(404);
    }
}

dual! {
    #[tokio::test]
    async fn the_desk_registers_a_patient_who_can_then_sign_in() {
        let app = TestApp::spawn().await;
        let desk = app.create_receptionist().await;
        let pages = app.pages();
        pages.sign_in_as(&desk).await;
        pages.get("/desk/patients/new").await.assert_status(200);
        let bad = pages
            .post(
                "/desk/patients",
                &[("name", "Nora New"), ("email", "nora@"), ("password", "short"),
                  ("phone", "+49 151 2345678"), ("date_of_birth", "1985-06-01")],
            )
            .await;
        bad.assert_status(422)
            .assert_contains("id=\"e-email\"")
            .assert_contains("id=\"e-password\"")
            .assert_contains("value=\"Nora New\"")
            .assert_contains("value=\"1985-06-01\"");
        assert!(!bad.body.contains("value=\"short\""), "a password is never echoed");

        let done = pages
            .post(
                "/desk/patients",
                &[("name", "Nora New"), ("email", "nora@example.com"), ("password", PASSWORD),
                  ("phone", "+49 151 2345678"), ("date_of_birth", "1985-06-01")],
            )
            .await;
        let to = done.location().to_owned();
        assert!(to.starts_with("/desk/patients/usr_"), "{to}");
        let page = pages.follow(&done).await;
        assert!(page.flash().unwrap().contains("Nora New is registered"));
        page.assert_contains("Book for this patient")
            .assert_contains("151");
        let nora = app.log_in("nora@example.com", PASSWORD).await;
        assert_eq!(nora.role, "patient");
        assert_eq!(to, format!("/desk/patients/{}", nora.id));

        // The same email again: the error sits next to the email, values kept.
        pages.get("/desk/patients/new").await;
        let twice = pages
            .post(
                "/desk/patients",
                &[("name", "Nora Again"), ("email", "nora@example.com"), ("password", PASSWORD),
                  ("phone", ""), ("date_of_birth", "")],
            )
            .await;
        twice
            .assert_status(422)
            .assert_contains("id=\"e-email\"")
            .assert_contains("value=\"nora@example.com\"")
            .assert_contains("value=\"Nora Again\"");
    }
}

dual! {
    #[tokio::test]
    async fn only_the_front_desk_and_admins_open_the_desk() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Pia Patient").await;
        let doctor = app.create_doctor("Dora Keller").await;
        let admin = app.admin().await;

        let anonymous = app.pages();
        anonymous
            .get("/desk?date=2026-03-02")
            .await
            .assert_redirect("/login?next=%2Fdesk%3Fdate%3D2026-03-02");
        anonymous
            .get("/desk/patients")
            .await
            .assert_redirect("/login?next=%2Fdesk%2Fpatients");

        for user in [&patient, &doctor] {
            let pages = app.pages();
            pages.sign_in_as(user).await;
            for path in ["/desk", "/desk/patients", "/desk/patients/new"] {
                pages.get(path).await.assert_status(403);
            }
            pages
                .get(&format!("/desk/patients/{}", patient.id))
                .await
                .assert_status(403);
        }
        // A patient cannot register patients through the form either.
        let pages = app.pages();
        pages.sign_in_as(&patient).await;
        pages.get("/").await;
        pages
            .post(
                "/desk/patients",
                &[("name", "Sneaky"), ("email", "sneaky@example.com"), ("password", PASSWORD)],
            )
            .await
            .assert_status(403);
        assert_eq!(app.login("sneaky@example.com", PASSWORD).await.status, 401);

        let as_admin = app.pages();
        as_admin.sign_in_as(&admin).await;
        as_admin.get("/desk").await.assert_status(200);
        as_admin.get("/desk/patients").await.assert_status(200);
    }
}
