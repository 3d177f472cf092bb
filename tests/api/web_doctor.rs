//! The doctor's pages: the day, requests, the week, the schedule editor with time
//! off, and the profile.

use serde_json::json;

use crate::pages::PageRes;
use crate::support::*;

/// Where `needle` first occurs on the page; panics when it does not.
#[track_caller]
fn at(page: &PageRes, needle: &str) -> usize {
    page.body
        .find(needle)
        .unwrap_or_else(|| panic!("the page lacks {needle:?}:\n{}", page.body))
}

/// The form fields of a schedule: Europe/Berlin, default rules, these hours.
fn schedule_fields<'a>(
    slot_minutes: &'a str,
    hours: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("time_zone", "Europe/Berlin"),
        ("slot_minutes", slot_minutes),
        ("min_notice_minutes", "120"),
        ("horizon_days", "60"),
        ("cancel_window_hours", "24"),
    ];
    fields.extend_from_slice(hours);
    fields
}

dual! {
    #[tokio::test]
    async fn only_doctors_open_the_doctor_pages() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        let desk = app.create_receptionist().await;
        let admin = app.admin().await;
        let paths = ["/doctor/today", "/doctor/requests", "/doctor/week", "/doctor/schedule",
            "/doctor/profile"];

        let anonymous = app.pages();
        for path in paths {
            let res = anonymous.get(path).await;
            assert!(res.location().starts_with("/login?next="), "{path}: {}", res.location());
        }
        for user in [&patient, &desk] {
            let pages = app.pages();
            pages.sign_in_as(user).await;
            for path in paths {
                pages.get(path).await.assert_status(403).assert_contains("Not allowed");
            }
            // A page with this session's form token, so only the role can refuse.
            pages.get("/").await.assert_status(200);
            pages
                .post("/doctor/schedule", &schedule_fields("30", &[]))
                .await
                .assert_status(403)
                .assert_contains("Not allowed");
            pages
                .post("/doctor/time-off", &[("start_date", "2026-03-10")])
                .await
                .assert_status(403)
                .assert_contains("Not allowed");
        }

        let pages = app.pages();
        pages.sign_in_as(&doctor).await;
        for path in paths {
            pages.get(path).await.assert_status(200);
        }

        // An admin may edit a doctor's schedule, named in the address, but has no day.
        let pages = app.pages();
        pages.sign_in_as(&admin).await;
        pages.get("/doctor/today").await.assert_status(403);
        pages.get("/doctor/schedule").await.assert_status(404);
        pages
            .get(&format!("/doctor/schedule?doctor={}", doctor.id))
            .await
            .assert_status(200)
            .assert_contains("Schedule of Dora Keller")
            .assert_contains(&format!("name=\"doctor\" value=\"{}\"", doctor.id));
        let mut fields = schedule_fields("60", &[("saturday_start_1", "10:00"), ("saturday_end_1", "12:00")]);
        fields.push(("doctor", &doctor.id));
        pages
            .post("/doctor/schedule", &fields)
            .await
            .assert_redirect(&format!("/doctor/schedule?doctor={}", doctor.id));
        assert_eq!(
            app.slot_starts(&doctor.id, "2026-03-07", "2026-03-07").await,
            ["2026-03-07T09:00:00Z", "2026-03-07T10:00:00Z"]
        );
    }
}

dual! {
    #[tokio::test]
    async fn the_day_is_a_timeline_with_the_buttons_each_appointment_allows() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let ann = app.register_patient("Ann Early").await;
        let ben = app.register_patient("Ben Later").await;
        let cat = app.register_patient("Cat Cancelled").await;
        let later = app.booked(&ben, &doctor.id, TUE_1000).await;
        let early = app.booked(&ann, &doctor.id, TUE_0900).await;
        let gone = app.booked(&cat, &doctor.id, WED_0900).await;
        doctor.act(&later, "confirm").await.assert_status(200);
        cat.act(&gone, "cancel").await.assert_status(200);

        let pages = app.pages();
        pages.sign_in_as(&doctor).await;
        pages
            .get("/doctor/today")
            .await
            .assert_status(200)
            .assert_contains("Today, Monday 2 March 2026")
            .assert_contains("Europe/Berlin")
            .assert_contains("09:00–13:00, 14:00–17:00")
            .assert_contains("0 appointments");

        let day = "/doctor/today?date=2026-03-03";
        let page = pages.get(day).await;
        page.assert_status(200)
            .assert_contains("Tuesday 3 March 2026")
            .assert_contains("data-live")
            .assert_contains("2 appointments")
            .assert_contains("href=\"/doctor/today?date=2026-03-02\"")
            .assert_contains("href=\"/doctor/today?date=2026-03-04\"")
            .assert_contains(&format!("/appointments/{early}/confirm"))
            .assert_contains(&format!("/appointments/{early}/reject"))
            .assert_lacks(&format!("/appointments/{early}/check-in"))
            .assert_contains(&format!("/appointments/{later}/check-in"))
            .assert_contains(&format!("/appointments/{later}/no-show"))
            .assert_lacks(&format!("/appointments/{later}/confirm"))
            .assert_contains("name=\"back\" value=\"/doctor/today?date=2026-03-03\"");
        // In time order, with the free time between and after them.
        let ann_at = at(&page, "Ann Early");
        let free_at = at(&page, "09:30–10:00");
        let ben_at = at(&page, "Ben Later");
        assert!(ann_at < free_at && free_at < ben_at);
        assert!(at(&page, "10:30–13:00") > ben_at);
        // (The first 14:00–17:00 is in the working hours above the timeline.)
        assert!(page.body.rfind("14:00–17:00").unwrap() > ben_at);
        assert!(page.body.contains("Free · 30 min"));

        // A cancelled visit is listed apart, without buttons.
        pages
            .get("/doctor/today?date=2026-03-04")
            .await
            .assert_contains("Cancelled or rejected")
            .assert_contains("Cat Cancelled")
            .assert_lacks(&format!("/appointments/{gone}/"));

        let done = pages
            .post(&format!("/appointments/{early}/confirm"), &[("back", day)])
            .await;
        done.assert_redirect(day);
        let after = pages.follow(&done).await;
        assert_eq!(after.flash().as_deref(), Some("The appointment is confirmed."));
        after
            .assert_contains(&format!("/appointments/{early}/check-in"))
            .assert_lacks(&format!("/appointments/{early}/confirm"));
        assert_eq!(doctor.appointment(&early).await.str("status"), "confirmed");

        // Check-in is refused until an hour before the start: the page says why.
        let refused = pages
            .post(&format!("/appointments/{early}/check-in"), &[("back", day)])
            .await;
        let after = pages.follow(&refused).await;
        assert!(after.flash().unwrap().contains("Check-in opens"), "{:?}", after.flash());

        // On the day, the visit is checked in and then completed from the page.
        app.set_clock("2026-03-03T07:30:00Z");
        let doctor = app.log_in(&doctor.email, PASSWORD).await;
        let pages = app.pages();
        pages.sign_in_as(&doctor).await;
        pages.get("/doctor/today").await.assert_contains("Today, Tuesday 3 March 2026");
        pages
            .post(&format!("/appointments/{early}/check-in"), &[("back", "/doctor/today")])
            .await
            .assert_redirect("/doctor/today");
        pages
            .get("/doctor/today")
            .await
            .assert_contains(&format!("/appointments/{early}/complete"));
        pages
            .post(&format!("/appointments/{early}/complete"), &[("back", "/doctor/today")])
            .await;
        assert_eq!(doctor.appointment(&early).await.str("status"), "completed");
        let page = pages.get("/doctor/today").await;
        page.assert_contains("Completed").assert_lacks(&format!("/appointments/{early}/"));

        pages
            .get("/doctor/today?date=someday")
            .await
            .assert_status(200)
            .assert_contains("id=\"e-date\"")
            .assert_contains("Tuesday 3 March 2026");
    }
}

dual! {
    #[tokio::test]
    async fn requests_are_confirmed_or_rejected_with_a_reason() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let ann = app.register_patient("Ann Asks").await;
        let ben = app.register_patient("Ben Asks").await;
        let second = app.booked(&ben, &doctor.id, WED_0900).await;
        let first = app.booked(&ann, &doctor.id, TUE_0900).await;

        let pages = app.pages();
        pages.sign_in_as(&doctor).await;
        let page = pages.get("/doctor/requests").await;
        page.assert_status(200)
            .assert_contains("Tue 3 Mar 2026, 09:00")
            .assert_contains(&format!("/appointments/{first}/confirm"))
            .assert_contains(&format!("id=\"reason-{first}\""));
        assert!(at(&page, "Ann Asks") < at(&page, "Ben Asks"), "soonest first");

        let rejected = pages
            .post(
                &format!("/appointments/{first}/reject"),
                &[("back", "/doctor/requests"), ("reason", "Please see Dr Brandt instead")],
            )
            .await;
        rejected.assert_redirect("/doctor/requests");
        let page = pages.follow(&rejected).await;
        assert_eq!(page.flash().as_deref(), Some("The request was rejected."));
        page.assert_lacks("Ann Asks").assert_contains("Ben Asks");
        let record = ann.appointment(&first).await;
        assert_eq!(record.str("status"), "rejected");
        assert_eq!(record.str("status_reason"), "Please see Dr Brandt instead");

        pages
            .post(&format!("/appointments/{second}/confirm"), &[("back", "/doctor/requests")])
            .await
            .assert_redirect("/doctor/requests");
        pages
            .get("/doctor/requests")
            .await
            .assert_contains("No requests are waiting")
            .assert_lacks("Ben Asks");
    }
}

dual! {
    #[tokio::test]
    async fn the_week_puts_appointments_on_their_days() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let ann = app.register_patient("Ann Tuesday").await;
        let ben = app.register_patient("Ben Wednesday").await;
        app.booked(&ann, &doctor.id, TUE_0930).await;
        app.booked(&ben, &doctor.id, WED_1000).await;
        // Next week's Tuesday.
        app.booked(&ann, &doctor.id, "2026-03-10T08:00:00Z").await;

        let pages = app.pages();
        pages.sign_in_as(&doctor).await;
        // Any day of the week shows its Monday to Sunday.
        let page = pages.get("/doctor/week?start=2026-03-04").await;
        page.assert_status(200)
            .assert_contains("Week of 2–8 March 2026")
            .assert_contains("2 appointments")
            .assert_contains("href=\"/doctor/week?start=2026-02-23\"")
            .assert_contains("href=\"/doctor/week?start=2026-03-09\"")
            .assert_contains("Sunday 8 March");
        let tuesday = at(&page, "id=\"day-2026-03-03\"");
        let wednesday = at(&page, "id=\"day-2026-03-04\"");
        let thursday = at(&page, "id=\"day-2026-03-05\"");
        let ann_at = at(&page, "Ann Tuesday");
        let ben_at = at(&page, "Ben Wednesday");
        assert!(tuesday < ann_at && ann_at < wednesday, "Ann is on Tuesday");
        assert!(wednesday < ben_at && ben_at < thursday, "Ben is on Wednesday");
        assert!(page.body.contains("09:30–10:00") && page.body.contains("10:00–10:30"));

        let next = pages.get("/doctor/week?start=2026-03-09").await;
        next.assert_contains("1 appointment.").assert_lacks("Ben Wednesday");
        pages.get("/doctor/week").await.assert_contains("Week of 2–8 March 2026");
    }
}

dual! {
    #[tokio::test]
    async fn the_schedule_editor_changes_the_free_slots() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let pages = app.pages();
        pages.sign_in_as(&doctor).await;
        pages
            .get("/doctor/schedule")
            .await
            .assert_status(200)
            .assert_contains("<option value=\"Europe/Berlin\" selected>")
            .assert_contains("name=\"tuesday_start_2\" type=\"time\" step=\"300\" value=\"14:00\"")
            .assert_contains("value=\"120\"");

        // Saturday mornings only, in hour slots, with a second interval after a break.
        let fields = schedule_fields(
            "60",
            &[("saturday_start_1", "09:00"), ("saturday_end_1", "11:00"),
              ("saturday_start_2", "12:00:00"), ("saturday_end_2", "13:00:00"),
              ("auto_confirm", "on")],
        );
        let saved = pages.post("/doctor/schedule", &fields).await;
        saved.assert_redirect("/doctor/schedule");
        let page = pages.follow(&saved).await;
        assert!(page.flash().unwrap().contains("The schedule is saved"));
        page.assert_contains("name=\"saturday_start_2\" type=\"time\" step=\"300\" value=\"12:00\"")
            .assert_contains("name=\"tuesday_start_1\" type=\"time\" step=\"300\" value=\"\"")
            .assert_contains("name=\"auto_confirm\" type=\"checkbox\" value=\"on\" checked");
        assert_eq!(
            app.slot_starts(&doctor.id, "2026-03-07", "2026-03-07").await,
            ["2026-03-07T08:00:00Z", "2026-03-07T09:00:00Z", "2026-03-07T11:00:00Z"]
        );
        assert!(app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03").await.is_empty());

        // An end of 00:00 is midnight.
        let late = schedule_fields("60", &[("sunday_start_1", "22:00"), ("sunday_end_1", "00:00")]);
        pages.post("/doctor/schedule", &late).await.assert_redirect("/doctor/schedule");
        assert_eq!(
            app.slot_starts(&doctor.id, "2026-03-08", "2026-03-08").await,
            ["2026-03-08T21:00:00Z", "2026-03-08T22:00:00Z"]
        );
        pages
            .get("/doctor/schedule")
            .await
            .assert_contains("name=\"sunday_end_1\" type=\"time\" step=\"300\" value=\"00:00\"");
    }
}

dual! {
    #[tokio::test]
    async fn a_bad_schedule_is_shown_again_with_messages_next_to_the_fields() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let pages = app.pages();
        pages.sign_in_as(&doctor).await;
        pages.get("/doctor/schedule").await;
        let fields = schedule_fields(
            "7",
            &[("monday_start_1", "09:00"), ("monday_end_1", "12:00"),
              ("tuesday_start_1", "12:00"), ("tuesday_end_1", "10:00"),
              ("wednesday_start_1", "09:00"), ("wednesday_end_1", "12:00"),
              ("wednesday_start_2", "11:00"), ("wednesday_end_2", "13:00"),
              ("thursday_start_1", "09:00")],
        );
        let page = pages.post("/doctor/schedule", &fields).await;
        page.assert_status(422)
            .assert_contains("id=\"e-tuesday_end_1\"")
            .assert_contains("must be after the start")
            .assert_contains("name=\"tuesday_start_1\" type=\"time\" step=\"300\" value=\"12:00\">")
            .assert_contains("name=\"tuesday_end_1\" type=\"time\" step=\"300\" value=\"10:00\" aria-invalid=\"true\"")
            .assert_contains("id=\"e-wednesday_start_2\"")
            .assert_contains("overlaps another interval of this day")
            .assert_contains("id=\"e-thursday_end_1\"")
            .assert_contains("id=\"e-slot_minutes\"")
            .assert_contains("value=\"7\"")
            .assert_lacks("id=\"e-monday_end_1\"");
        let page = pages
            .post("/doctor/schedule", &schedule_fields("half an hour", &[]))
            .await;
        page.assert_status(422)
            .assert_contains("must be a whole number")
            .assert_contains("value=\"half an hour\"");
        // Nothing was saved.
        assert_eq!(
            app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03").await.len(),
            14
        );
    }
}

dual! {
    #[tokio::test]
    async fn time_off_is_added_in_local_time_and_removed() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        app.booked(&patient, &doctor.id, TUE_0900).await;
        let pages = app.pages();
        pages.sign_in_as(&doctor).await;
        pages
            .get("/doctor/schedule")
            .await
            .assert_contains("No time off planned");

        // The whole of Tuesday, which holds a booked visit.
        let added = pages
            .post("/doctor/time-off", &[("start_date", "2026-03-03"), ("start_time", ""),
                ("end_date", ""), ("end_time", ""), ("reason", "Training")])
            .await;
        added.assert_redirect("/doctor/schedule#time-off");
        let page = pages.follow(&added).await;
        let flash = page.flash().unwrap();
        assert!(flash.contains("1 booked appointment falls inside it"), "{flash}");
        assert!(flash.contains("Tue 3 Mar 2026, 00:00"), "{flash}");
        page.assert_contains("Training").assert_contains("Wed 4 Mar 2026, 00:00");
        assert!(app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03").await.is_empty());
        let day = pages.get("/doctor/today?date=2026-03-03").await;
        day.assert_contains("Time off · Training").assert_lacks("Free ·");

        // Wednesday afternoon, 14:00 to 15:30 Berlin.
        pages
            .post("/doctor/time-off", &[("start_date", "2026-03-04"), ("start_time", "14:00"),
                ("end_date", "2026-03-04"), ("end_time", "15:30"), ("reason", "")])
            .await
            .assert_redirect("/doctor/schedule#time-off");
        let wednesday = app.slot_starts(&doctor.id, "2026-03-04", "2026-03-04").await;
        assert!(!wednesday.contains(&"2026-03-04T13:00:00Z".to_owned()));
        assert!(!wednesday.contains(&"2026-03-04T14:00:00Z".to_owned()));
        assert!(wednesday.contains(&"2026-03-04T14:30:00Z".to_owned()));

        // Mistakes are shown next to the fields, with what was typed.
        let bad = pages
            .post("/doctor/time-off", &[("start_date", "2026-03-06"), ("end_date", "2026-03-05"),
                ("reason", "Backwards")])
            .await;
        bad.assert_status(422)
            .assert_contains("id=\"e-end_date\"")
            .assert_contains("value=\"2026-03-05\"")
            .assert_contains("value=\"Backwards\"");
        pages
            .post("/doctor/time-off", &[("start_date", "")])
            .await
            .assert_status(422)
            .assert_contains("id=\"e-start_date\"");

        let page = pages.get("/doctor/schedule").await;
        let forms: Vec<&str> = page
            .body
            .match_indices("action=\"/doctor/time-off/")
            .map(|(i, _)| {
                let rest = &page.body[i + 8..];
                &rest[..rest.find('"').unwrap()]
            })
            .collect();
        assert_eq!(forms.len(), 2, "{forms:?}");
        let removed = pages.post(forms[0], &[]).await;
        removed.assert_redirect("/doctor/schedule#time-off");
        let page = pages.follow(&removed).await;
        assert_eq!(page.flash().as_deref(), Some("The time off is removed."));
        page.assert_lacks("Training");
        assert_eq!(app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03").await.len(), 13);
        pages.post(forms[0], &[]).await.assert_status(404);
    }
}

dual! {
    #[tokio::test]
    async fn the_profile_is_saved_and_mistakes_are_shown_next_to_the_fields() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let admin = app.admin().await;
        let cardiology = admin
            .post("/api/v1/specialties", &json!({ "name": "Cardiology" }))
            .await;
        let cardiology = cardiology.str("id").to_owned();
        admin
            .post("/api/v1/specialties", &json!({ "name": "Dermatology" }))
            .await
            .assert_status(201);
        let pages = app.pages();
        pages.sign_in_as(&doctor).await;
        pages
            .get("/doctor/profile")
            .await
            .assert_status(200)
            .assert_contains("Cardiology")
            .assert_contains("Dermatology");

        let saved = pages
            .post("/doctor/profile", &[("bio", "I listen."), ("qualifications", "MD, Charité"),
                ("years_experience", "12"), ("languages", "English, German ,"),
                ("fee_amount", "60.5"), ("fee_currency", "eur"), ("specialty", &cardiology)])
            .await;
        saved.assert_redirect("/doctor/profile");
        let page = pages.follow(&saved).await;
        assert_eq!(page.flash().as_deref(), Some("Your profile is saved."));
        page.assert_contains("value=\"60.50\"")
            .assert_contains("value=\"English, German\"")
            .assert_contains(&format!("value=\"{cardiology}\" checked"))
            .assert_contains("I listen.");
        let api = app.anon().get(&format!("/api/v1/doctors/{}", doctor.id)).await;
        assert_eq!(api.body["fee"], json!({ "amount": 6050, "currency": "EUR" }));
        assert_eq!(api.body["languages"], json!(["English", "German"]));
        assert_eq!(api.body["years_experience"], json!(12));
        assert_eq!(api.body["specialties"][0]["name"], json!("Cardiology"));

        let bad = pages
            .post("/doctor/profile", &[("bio", "Changed"), ("years_experience", "lots"),
                ("languages", "English"), ("fee_amount", "60"), ("fee_currency", "EUR")])
            .await;
        bad.assert_status(422)
            .assert_contains("id=\"e-years_experience\"")
            .assert_contains("value=\"lots\"")
            .assert_contains(">Changed</textarea>");
        let bad = pages
            .post("/doctor/profile", &[("years_experience", "90"), ("fee_amount", "60"),
                ("fee_currency", "EURO")])
            .await;
        bad.assert_status(422)
            .assert_contains("id=\"e-years_experience\"")
            .assert_contains("id=\"e-fee_currency\"")
            .assert_contains("value=\"EURO\"");
        let api = app.anon().get(&format!("/api/v1/doctors/{}", doctor.id)).await;
        assert_eq!(api.body["bio"], json!("I listen."), "nothing saved on error");

        // Clearing the fee removes it.
        pages
            .post("/doctor/profile", &[("fee_amount", ""), ("fee_currency", "")])
            .await
            .assert_redirect("/doctor/profile");
        let api = app.anon().get(&format!("/api/v1/doctors/{}", doctor.id)).await;
        assert_eq!(api.body["fee"], json!(null));
    }
}
