//! The patient area's pages over HTTP: visits, booking (for oneself and by the front
//! desk), the appointment page with its buttons, rescheduling, the profile and the
//! notifications.

use crate::pages::{PageRes, Pages};
use crate::support::*;

/// Every link on `page` that starts with `prefix`. askama writes `&` in attributes
/// as `&#38;`, which `PageRes::links` does not undo.
fn links(page: &PageRes, prefix: &str) -> Vec<String> {
    page.links(&prefix.replace('&', "&#38;"))
        .into_iter()
        .map(|link| link.replace("&#38;", "&"))
        .collect()
}

/// The first link on `page` that starts with `prefix`; panics when there is none.
#[track_caller]
fn first_link(page: &PageRes, prefix: &str) -> String {
    links(page, prefix)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no link starting with {prefix:?} on:\n{}", page.body))
}

/// The appointment id a booking redirect leads to.
#[track_caller]
fn appointment_of(res: &PageRes) -> String {
    let to = res.location();
    to.strip_prefix("/appointments/")
        .unwrap_or_else(|| panic!("not an appointment page: {to}"))
        .to_owned()
}

async fn signed_in(app: &TestApp, user: &User) -> Pages {
    let pages = app.pages();
    pages.sign_in_as(user).await;
    pages
}

/// The unread count in the header's bell.
fn unread_badge(page: &PageRes) -> String {
    let at = page.body.find("data-unread=\"").expect("the bell");
    let rest = &page.body[at + 13..];
    rest[..rest.find('"').unwrap()].to_owned()
}

dual! {
    #[tokio::test]
    async fn a_patient_books_a_free_time_through_the_calendar() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        let pages = signed_in(&app, &patient).await;

        pages
            .get("/visits")
            .await
            .assert_status(200)
            .assert_contains("You have no upcoming visits")
            .assert_contains("href=\"/\"");

        let month = pages.get(&format!("/book/{}", doctor.id)).await;
        month
            .assert_status(200)
            .assert_contains("<table class=\"calendar\">")
            .assert_contains("March 2026")
            .assert_contains("Europe/Berlin")
            // Tuesday: 09:00-13:00 and 14:00-17:00 in 30 minutes.
            .assert_contains("14 free<span class=\"visually-hidden\"> times</span>");
        let tuesday = first_link(
            &month,
            &format!("/book/{}?month=2026-03&day=2026-03-03", doctor.id),
        );
        // Saturday is plain text, not a link.
        assert!(links(&month, &format!("/book/{}?month=2026-03&day=2026-03-07", doctor.id)).is_empty());
        assert!(!links(&month, &format!("/book/{}?month=2026-04", doctor.id)).is_empty(), "next month");

        let day = pages.get(&tuesday).await;
        day.assert_status(200)
            .assert_contains("Free times on Tuesday 3 March 2026")
            .assert_contains(">09:00<");
        let confirm = first_link(&day, &format!("/book/{}/confirm?start=", doctor.id));
        assert!(confirm.ends_with("start=2026-03-03T08%3A00%3A00Z"), "{confirm}");

        let form = pages.get(&confirm).await;
        form.assert_status(200)
            .assert_contains("Tue 3 Mar 2026, 09:00")
            .assert_contains("<textarea id=\"f-reason\" name=\"reason\"");

        // A reason that is too long: the form again, the text kept.
        let long = "x".repeat(1001);
        let refused = pages
            .post(&format!("/book/{}", doctor.id), &[("start", TUE_0900), ("reason", &long)])
            .await;
        refused
            .assert_status(422)
            .assert_contains("aria-invalid=\"true\"")
            .assert_contains(&long);

        let booked = pages
            .post(&format!("/book/{}", doctor.id), &[("start", TUE_0900), ("reason", "Back pain")])
            .await;
        let id = appointment_of(&booked);
        let page = pages.follow(&booked).await;
        page.assert_status(200)
            .assert_contains("Back pain")
            .assert_contains("Requested")
            .assert_contains("Europe/Berlin");
        let flash = page.flash().expect("a flash");
        assert!(flash.contains("awaiting the doctor's confirmation"), "{flash}");
        assert!(flash.contains("Tue 3 Mar 2026, 09:00"), "{flash}");

        let api = patient.appointment(&id).await;
        api.assert_status(200);
        assert_eq!(api.str("start"), TUE_0900);
        assert_eq!(api.str("reason"), "Back pain");

        pages
            .get("/visits")
            .await
            .assert_contains(&format!("href=\"/appointments/{id}\""))
            .assert_contains("status-requested");
    }
}

dual! {
    #[tokio::test]
    async fn a_taken_time_is_refused_with_the_reason_and_booked_once() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let first = app.register_patient("Fast Fiona").await;
        let patient = app.register_patient("Pia Patient").await;
        let pages = signed_in(&app, &patient).await;
        // The patient opened the form while the time was free...
        pages
            .get(&format!("/book/{}/confirm?start={TUE_0900}", doctor.id))
            .await
            .assert_status(200);
        // ...and someone else took it meanwhile.
        app.booked(&first, &doctor.id, TUE_0900).await;

        let refused = pages
            .post(&format!("/book/{}", doctor.id), &[("start", TUE_0900), ("reason", "")])
            .await;
        refused.assert_redirect(&format!("/book/{}?month=2026-03&day=2026-03-03", doctor.id));
        let back = pages.follow(&refused).await;
        let flash = back.flash().expect("a flash");
        assert!(flash.contains("not free") || flash.contains("taken"), "{flash}");
        back.assert_contains("Free times on Tuesday 3 March 2026")
            .assert_lacks("start=2026-03-03T08%3A00%3A00Z");

        let admin = app.admin().await;
        let all = admin
            .get(&format!("/api/v1/appointments?doctor_id={}", doctor.id))
            .await;
        assert_eq!(all.items().len(), 1);
        assert_eq!(patient.get("/api/v1/appointments").await.items().len(), 0);
    }
}

dual! {
    #[tokio::test]
    async fn the_front_desk_books_for_a_patient_given_by_for() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        let desk = app.create_receptionist().await;
        let pages = signed_in(&app, &desk).await;

        let month = pages.get(&format!("/book/{}?for={}", doctor.id, patient.id)).await;
        month.assert_status(200).assert_contains("Booking for <strong>Pia Patient</strong>");
        let day = first_link(
            &month,
            &format!("/book/{}?month=2026-03&day=2026-03-04", doctor.id),
        );
        assert!(day.ends_with(&format!("&for={}", patient.id)), "{day}");
        let confirm = first_link(&pages.get(&day).await, &format!("/book/{}/confirm?start=", doctor.id));
        assert!(confirm.contains(&format!("for={}", patient.id)), "{confirm}");
        pages
            .get(&confirm)
            .await
            .assert_status(200)
            .assert_contains(&format!("name=\"for\" value=\"{}\"", patient.id));

        let booked = pages
            .post(
                &format!("/book/{}", doctor.id),
                &[("start", WED_0900), ("reason", "Check-up"), ("for", &patient.id)],
            )
            .await;
        let id = appointment_of(&booked);
        let page = pages.follow(&booked).await;
        let flash = page.flash().expect("a flash");
        assert!(flash.contains("for Pia Patient"), "{flash}");
        page.assert_contains("Pia Patient with Dora Keller");
        let api = patient.appointment(&id).await;
        api.assert_status(200);
        assert_eq!(api.str("created_by"), desk.id);

        // Without a patient the desk is told to choose one first.
        pages
            .get(&format!("/book/{}/confirm?start={WED_1000}", doctor.id))
            .await
            .assert_contains("Choose the patient first")
            .assert_lacks("Book this time");
    }
}

dual! {
    #[tokio::test]
    async fn who_may_open_the_patient_pages() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let anon = app.pages();
        anon.get(&format!("/book/{}", doctor.id))
            .await
            .assert_redirect(&format!("/login?next=%2Fbook%2F{}", doctor.id));
        for path in ["/visits", "/profile", "/notifications"] {
            let res = anon.get(path).await;
            assert_eq!(res.location(), format!("/login?next=%2F{}", &path[1..]));
        }
        // The login page takes the visitor back where they were headed.
        let patient = app.register_patient("Pia Patient").await;
        anon.get("/login").await;
        anon.post(
            "/login",
            &[("email", &patient.email), ("password", PASSWORD), ("next", &format!("/book/{}", doctor.id))],
        )
        .await
        .assert_redirect(&format!("/book/{}", doctor.id));

        let as_doctor = signed_in(&app, &doctor).await;
        as_doctor.get(&format!("/book/{}", doctor.id)).await.assert_status(403);
        as_doctor.get("/visits").await.assert_status(403);
        as_doctor.get("/profile").await.assert_status(200);
    }
}

dual! {
    #[tokio::test]
    async fn an_appointment_page_shows_to_its_people_only_with_their_buttons() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        let other = app.register_patient("Otto Other").await;
        let id = app.booked(&patient, &doctor.id, TUE_0900).await;
        let path = format!("/appointments/{id}");

        signed_in(&app, &other).await.get(&path).await.assert_status(404);
        signed_in(&app, &patient)
            .await
            .get(&path)
            .await
            .assert_status(200)
            .assert_contains("Your visit with Dora Keller")
            .assert_contains("Tue 3 Mar 2026, 09:00")
            .assert_contains(&format!("action=\"/appointments/{id}/cancel\""))
            .assert_contains("data-confirm=")
            .assert_contains(&format!("href=\"/appointments/{id}/reschedule\""))
            .assert_lacks(&format!("action=\"/appointments/{id}/confirm\""))
            .assert_contains("Booked");
        let as_doctor = signed_in(&app, &doctor).await;
        as_doctor
            .get(&path)
            .await
            .assert_status(200)
            .assert_contains(&format!("action=\"/appointments/{id}/confirm\""))
            .assert_contains(&format!("action=\"/appointments/{id}/reject\""))
            .assert_contains("The patient can cancel or move this visit online until");
        let confirmed = as_doctor
            .post(&format!("{path}/confirm"), &[("back", &path)])
            .await;
        confirmed.assert_redirect(&path);
        let page = as_doctor.follow(&confirmed).await;
        assert_eq!(page.flash().as_deref(), Some("The appointment is confirmed."));
        page.assert_contains("from Requested to Confirmed")
            .assert_lacks(&format!("action=\"/appointments/{id}/confirm\""));
    }
}

dual! {
    #[tokio::test]
    async fn patients_cancel_outside_the_window_and_are_told_to_call_inside_it() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        let later = app.booked(&patient, &doctor.id, WED_0900).await;
        let soon = app.booked(&patient, &doctor.id, TUE_0900).await;
        let pages = signed_in(&app, &patient).await;

        let page = pages.get(&format!("/appointments/{later}")).await;
        page.assert_contains("until <strong>Tue 3 Mar 2026, 09:00</strong>")
            .assert_contains("24 hours before it starts");
        let cancelled = pages
            .post(
                &format!("/appointments/{later}/cancel"),
                &[("reason", "Feeling better"), ("back", &format!("/appointments/{later}"))],
            )
            .await;
        let page = pages.follow(&cancelled).await;
        assert_eq!(page.flash().as_deref(), Some("The appointment is cancelled."));
        page.assert_contains("Feeling better").assert_contains("status-cancelled");
        assert_eq!(patient.appointment(&later).await.str("status"), "cancelled");

        // Monday 14:00: Tuesday 09:00 is 19 hours away, inside the 24-hour window.
        app.set_clock(MON_1400);
        let page = pages.get(&format!("/appointments/{soon}")).await;
        page.assert_contains("Online cancellation has closed")
            .assert_contains("Please call the clinic");
        let refused = pages
            .post(&format!("/appointments/{soon}/cancel"), &[("reason", "")])
            .await;
        refused.assert_redirect(&format!("/appointments/{soon}"));
        let page = pages.follow(&refused).await;
        let flash = page.flash().expect("a flash");
        assert!(flash.contains("less than 24 hours before the start"), "{flash}");
        assert_eq!(patient.appointment(&soon).await.str("status"), "requested");
    }
}

dual! {
    #[tokio::test]
    async fn rescheduling_picks_a_new_time_from_the_calendar() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        let other = app.register_patient("Otto Other").await;
        let id = app.booked(&patient, &doctor.id, TUE_0900).await;
        app.booked(&other, &doctor.id, WED_1000).await;
        let pages = signed_in(&app, &patient).await;

        let picker = pages.get(&format!("/appointments/{id}/reschedule")).await;
        picker.assert_status(200)
            .assert_contains("Now booked for <strong>Tue 3 Mar 2026, 09:00</strong>")
            .assert_contains("<table class=\"calendar\">");
        let wednesday = first_link(
            &picker,
            &format!("/appointments/{id}/reschedule?month=2026-03&day=2026-03-04"),
        );
        let day = pages.get(&wednesday).await;
        day.assert_status(200).assert_contains("Free times on Wednesday 4 March 2026");
        let choose = first_link(&day, &format!("/appointments/{id}/reschedule?month=2026-03&day=2026-03-04&start="));
        pages
            .get(&choose)
            .await
            .assert_contains("Move to Wed 4 Mar 2026, 09:00")
            .assert_contains(&format!("name=\"start\" value=\"{WED_0900}\""));

        // A taken time: back to that day's times with the explanation.
        let refused = pages
            .post(&format!("/appointments/{id}/reschedule"), &[("start", WED_1000), ("reason", "")])
            .await;
        refused.assert_redirect(&format!("/appointments/{id}/reschedule?month=2026-03&day=2026-03-04"));
        let flash = pages.follow(&refused).await.flash().expect("a flash");
        assert!(flash.contains("not free"), "{flash}");

        let moved = pages
            .post(&format!("/appointments/{id}/reschedule"), &[("start", WED_0900), ("reason", "Work")])
            .await;
        moved.assert_redirect(&format!("/appointments/{id}"));
        let page = pages.follow(&moved).await;
        let flash = page.flash().expect("a flash");
        assert!(flash.contains("moved to Wed 4 Mar 2026, 09:00"), "{flash}");
        page.assert_contains("Moved to another time").assert_contains("Work");
        assert_eq!(patient.appointment(&id).await.str("start"), WED_0900);
    }
}

dual! {
    #[tokio::test]
    async fn the_profile_keeps_values_on_errors_and_saves_preferences_and_password() {
        let app = TestApp::spawn().await;
        let patient = app.register_patient("Pia Patient").await;
        let pages = signed_in(&app, &patient).await;
        pages
            .get("/profile")
            .await
            .assert_status(200)
            .assert_contains("value=\"Pia Patient\"")
            .assert_contains(&patient.email);

        let bad = pages
            .post("/profile", &[("name", "Pia P."), ("phone", "12"), ("date_of_birth", "2999-01-01")])
            .await;
        bad.assert_status(422)
            .assert_contains("aria-describedby=\"e-phone")
            .assert_contains("aria-describedby=\"e-date_of_birth")
            .assert_contains("value=\"12\"")
            .assert_contains("value=\"2999-01-01\"")
            .assert_contains("value=\"Pia P.\"");

        let saved = pages
            .post(
                "/profile",
                &[("name", "Pia Parker"), ("phone", "+49 151 2345678"), ("date_of_birth", "1990-04-23")],
            )
            .await;
        saved.assert_redirect("/profile");
        let page = pages.follow(&saved).await;
        assert_eq!(page.flash().as_deref(), Some("Your details are saved."));
        page.assert_contains("value=\"Pia Parker\"").assert_contains("value=\"1990-04-23\"");

        // Notifications: email off, texts on.
        let prefs = pages
            .post("/profile/notifications", &[("sms", "on"), ("sms_phone", "+4915123456789")])
            .await;
        prefs.assert_redirect("/profile#notifications");
        let stored = patient.get("/api/v1/me/notification-preferences").await;
        assert_eq!(stored.body["email_enabled"], false);
        assert_eq!(stored.body["sms_enabled"], true);
        let bad = pages
            .post("/profile/notifications", &[("email", "on"), ("sms_phone", "12")])
            .await;
        bad.assert_status(422)
            .assert_contains("aria-describedby=\"e-sms_phone")
            .assert_contains("value=\"12\"");

        // The password: a wrong current one is refused next to the field.
        pages.get("/profile").await;
        pages
            .post(
                "/profile/password",
                &[("current_password", "not my password"), ("new_password", "a brand new secret")],
            )
            .await
            .assert_status(422)
            .assert_contains("e-current_password");
        let changed = pages
            .post(
                "/profile/password",
                &[("current_password", PASSWORD), ("new_password", "a brand new secret")],
            )
            .await;
        changed.assert_redirect("/profile");
        // This session stays; the API token from before is ended.
        let profile = pages.follow(&changed).await;
        profile.assert_status(200);
        assert!(profile.flash().unwrap().contains("Every other device was signed out"));
        patient.get("/api/v1/me").await.assert_problem(401, "unauthenticated");
        app.log_in(&patient.email, "a brand new secret").await;
    }
}

dual! {
    #[tokio::test]
    async fn notifications_are_listed_and_marked_read() {
        let app = TestApp::spawn().await;
        let doctor = app.create_doctor("Dora Keller").await;
        let patient = app.register_patient("Pia Patient").await;
        let id = app.booked(&patient, &doctor.id, TUE_0900).await;
        doctor.act(&id, "confirm").await.assert_status(200);
        let pages = signed_in(&app, &patient).await;

        let list = pages.get("/notifications").await;
        list.assert_status(200)
            .assert_contains("2 unread notifications")
            .assert_contains("notification-unread")
            .assert_contains("New<span class=\"visually-hidden\">:</span>")
            .assert_contains(&format!("href=\"/appointments/{id}\""));
        assert_eq!(unread_badge(&list), "2");

        let newest = patient.get("/api/v1/notifications").await.items()[0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let read = pages
            .post(&format!("/notifications/{newest}/read"), &[("back", "/notifications")])
            .await;
        read.assert_redirect("/notifications");
        let list = pages.follow(&read).await;
        assert_eq!(unread_badge(&list), "1");
        list.assert_contains("1 unread notification.");

        let all = pages.post("/notifications/read-all", &[("back", "/notifications")]).await;
        let list = pages.follow(&all).await;
        assert_eq!(list.flash().as_deref(), Some("1 notification marked as read."));
        assert_eq!(unread_badge(&list), "0");
        list.assert_contains("Nothing unread").assert_lacks("notification-unread");

        // Someone else's notification is not found.
        let other = signed_in(&app, &doctor).await;
        other.get("/notifications").await;
        other
            .post(&format!("/notifications/{newest}/read"), &[])
            .await
            .assert_status(404);
    }
}
