//! Specialties, doctor profiles, search, schedules, time off and free slots.

use serde_json::{Value, json};

use crate::support::{MON_1400, TUE_0900, TUE_0930, TUE_1000, TestApp, User, default_schedule};

dual! {
#[tokio::test]
async fn admins_manage_specialties_and_anyone_lists_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let res = admin
        .post(
            "/api/v1/specialties",
            &json!({ "name": "Ear, Nose & Throat" }),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res.body["name"], "Ear, Nose & Throat");
    assert_eq!(res.body["slug"], "ear-nose-throat");
    assert!(!res.str("id").is_empty());
    admin
        .post("/api/v1/specialties", &json!({ "name": "Cardiology" }))
        .await
        .assert_status(201);
    admin
        .post("/api/v1/specialties", &json!({ "name": "Cardiology" }))
        .await
        .assert_problem(409, "specialty-exists");
    admin
        .post("/api/v1/specialties", &json!({ "name": "  " }))
        .await
        .assert_invalid(&["name"]);

    let patient = app.register_patient("Spec Patient").await;
    patient
        .post("/api/v1/specialties", &json!({ "name": "Quackery" }))
        .await
        .assert_problem(403, "forbidden");
    app.anon()
        .post("/api/v1/specialties", &json!({ "name": "Quackery" }))
        .await
        .assert_problem(401, "unauthenticated");

    let list = app.anon().get("/api/v1/specialties").await;
    list.assert_status(200);
    let slugs: Vec<&str> = list
        .items()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["cardiology", "ear-nose-throat"]);
    assert!(list.body["next_cursor"].is_null());
}
}

async fn specialty(app: &TestApp, name: &str) -> (String, String) {
    let res = app
        .admin()
        .await
        .post("/api/v1/specialties", &json!({ "name": name }))
        .await;
    res.assert_status(201);
    (res.str("id").to_owned(), res.str("slug").to_owned())
}

dual! {
#[tokio::test]
async fn doctors_are_searched_by_name_and_specialty_id_or_slug() {
    let app = TestApp::spawn().await;
    let (cardio_id, cardio_slug) = specialty(&app, "Cardiology").await;
    let (derma_id, _) = specialty(&app, "Dermatology").await;
    let heart = app.create_doctor("Hanna Hartmann").await;
    let skin = app.create_doctor("Sven Skinner").await;

    // The doctor edits their own profile, naming specialties by slug or id.
    let res = heart
        .patch(
            &format!("/api/v1/doctors/{}", heart.id),
            &json!({
                "specialty_ids": [cardio_slug, derma_id],
                "bio": "Hearts.",
                "languages": ["de", "en"],
                "fee": { "amount": 8000, "currency": "eur" },
                "years_experience": 12,
            }),
        )
        .await;
    res.assert_status(200);
    let names: Vec<&str> = res.body["specialties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"cardiology") && names.contains(&"dermatology"));
    assert_eq!(
        res.body["fee"],
        json!({ "amount": 8000, "currency": "EUR" })
    );
    skin.patch(
        &format!("/api/v1/doctors/{}", skin.id),
        &json!({ "specialty_ids": [derma_id] }),
    )
    .await
    .assert_status(200);

    // Not someone else's profile, and not with unknown specialties.
    skin.patch(
        &format!("/api/v1/doctors/{}", heart.id),
        &json!({ "bio": "Hacked." }),
    )
    .await
    .assert_problem(403, "forbidden");
    heart
        .patch(
            &format!("/api/v1/doctors/{}", heart.id),
            &json!({ "specialty_ids": [cardio_id, "no-such-specialty"] }),
        )
        .await
        .assert_invalid(&["specialty_ids[1]"]);

    let anon = app.anon();
    let by_name = anon.get("/api/v1/doctors?q=hartm").await;
    by_name.assert_status(200);
    assert_eq!(by_name.ids(), vec![heart.id.clone()]);

    let by_id = anon
        .get(&format!("/api/v1/doctors?specialty={cardio_id}"))
        .await;
    assert_eq!(by_id.ids(), vec![heart.id.clone()]);
    let by_slug = anon
        .get(&format!("/api/v1/doctors?specialty={cardio_slug}"))
        .await;
    assert_eq!(by_slug.ids(), vec![heart.id.clone()]);
    let both = anon.get("/api/v1/doctors?specialty=dermatology").await;
    assert_eq!(both.ids(), vec![heart.id.clone(), skin.id.clone()]);
    let narrowed = anon
        .get("/api/v1/doctors?specialty=dermatology&q=Sven")
        .await;
    assert_eq!(narrowed.ids(), vec![skin.id.clone()]);
    anon.get("/api/v1/doctors?specialty=astrology")
        .await
        .assert_invalid(&["specialty"]);

    // Each result carries its next free slot: today's 09:00 Berlin, exactly the
    // minimum notice after 07:00.
    let first = &by_name.items()[0];
    assert_eq!(
        first["next_free_slot"],
        json!({ "start": "2026-03-02T08:00:00Z", "end": "2026-03-02T08:30:00Z" })
    );
    let profile = anon.get(&format!("/api/v1/doctors/{}", heart.id)).await;
    profile.assert_status(200);
    assert_eq!(profile.body["bio"], "Hearts.");
    assert_eq!(profile.body["time_zone"], "Europe/Berlin");
    assert_eq!(profile.body["slot_minutes"], 30);
    assert_eq!(
        profile.body["next_free_slot"]["start"],
        "2026-03-02T08:00:00Z"
    );
    anon.get("/api/v1/doctors/usr_nobody")
        .await
        .assert_problem(404, "not-found");
}
}

dual! {
#[tokio::test]
async fn search_by_availability_leaves_out_doctors_on_time_off() {
    let app = TestApp::spawn().await;
    let present = app.create_doctor("Anna Present").await;
    let away = app.create_doctor("Bert Away").await;
    let idle = app.create_staff("Carl Nohours", "doctor").await;
    let res = away
        .post(
            &format!("/api/v1/doctors/{}/time-off", away.id),
            &json!({
                "start": "2026-03-09T00:00:00Z",
                "end": "2026-03-14T00:00:00Z",
                "reason": "Holiday",
            }),
        )
        .await;
    res.assert_status(201);
    assert_eq!(res.body["reason"], "Holiday");

    let anon = app.anon();
    let all = anon.get("/api/v1/doctors").await;
    assert_eq!(
        all.ids(),
        vec![present.id.clone(), away.id.clone(), idle.id.clone()]
    );
    // A doctor without hours has no free slot.
    assert!(all.items()[2]["next_free_slot"].is_null());

    let range = anon
        .get("/api/v1/doctors?available_from=2026-03-10&available_to=2026-03-10")
        .await;
    range.assert_status(200);
    assert_eq!(range.ids(), vec![present.id.clone()]);
    assert_eq!(
        range.items()[0]["next_free_slot"]["start"],
        "2026-03-10T08:00:00Z"
    );

    let instants = anon
        .get(
            "/api/v1/doctors?available_from=2026-03-16T08:00:00Z&available_to=2026-03-16T09:00:00Z",
        )
        .await;
    assert_eq!(instants.ids(), vec![present.id.clone(), away.id.clone()]);

    // A weekend has nothing free for anyone.
    let weekend = anon
        .get("/api/v1/doctors?available_from=2026-03-07&available_to=2026-03-08")
        .await;
    assert!(weekend.items().is_empty());
    anon.get("/api/v1/doctors?available_from=someday")
        .await
        .assert_invalid(&["from"]);
}
}

dual! {
#[tokio::test]
async fn search_follows_every_change_to_a_doctor_at_once() {
    // Search lists its candidates from a directory held in memory after the first
    // search, and each card from the doctor's held copy: every change below must
    // show in the very next search.
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let patient = app.register_patient("Pia Patient").await;
    let (cardiology, _) = specialty(&app, "Cardiology").await;
    let join = |doctor: &User, specialties: Value| {
        let (api, path) = (doctor.api.clone(), format!("/api/v1/doctors/{}", doctor.id));
        async move {
            api.patch(&path, &json!({ "specialty_ids": specialties }))
                .await
                .assert_status(200);
        }
    };
    let bravo = app.create_doctor("Dr Bravo").await;
    let charlie = app.create_doctor("Dr Charlie").await;
    join(&bravo, json!([cardiology])).await;
    join(&charlie, json!([cardiology])).await;
    let search = |who: &User| {
        let api = who.api.clone();
        async move {
            let found = api.get("/api/v1/doctors?specialty=cardiology").await;
            found.assert_status(200);
            found.body["items"].as_array().unwrap().clone()
        }
    };
    let names = |items: &[Value]| -> Vec<String> {
        items.iter().map(|d| d["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&search(&patient).await), ["Dr Bravo", "Dr Charlie"]);

    // A rename moves the doctor in the order.
    charlie
        .patch(&format!("/api/v1/doctors/{}", charlie.id), &json!({ "name": "Dr Able" }))
        .await
        .assert_status(200);
    assert_eq!(names(&search(&patient).await), ["Dr Able", "Dr Bravo"]);

    // A new doctor of the specialty is listed; one who leaves it is not.
    let delta = app.create_doctor("Dr Delta").await;
    join(&delta, json!([cardiology])).await;
    assert_eq!(names(&search(&patient).await), ["Dr Able", "Dr Bravo", "Dr Delta"]);
    join(&delta, json!([])).await;
    assert_eq!(names(&search(&patient).await), ["Dr Able", "Dr Bravo"]);

    // A rating and a photo show on the card.
    let visit = app.booked(&patient, &charlie.id, MON_1400).await;
    app.set_clock("2026-03-02T12:50:00Z");
    for action in ["confirm", "check-in", "complete"] {
        charlie.act(&visit, action).await.assert_status(200);
    }
    patient
        .post(&format!("/api/v1/appointments/{visit}/feedback"), &json!({ "rating": 4 }))
        .await
        .assert_status(201);
    let cards = search(&patient).await;
    assert_eq!(cards[0]["rating"], json!({ "average": 4.0, "count": 1 }));
    assert!(cards[0].get("photo_url").is_none());
    charlie
        .api
        .upload_with(
            reqwest::Method::PUT,
            "/api/v1/me/photo",
            "me.png",
            &crate::photos::png(80, 80),
        )
        .await
        .assert_status(200);
    let cards = search(&patient).await;
    assert!(cards[0]["photo_url"].as_str().unwrap().contains(&charlie.id));
    charlie.delete("/api/v1/me/photo").await.assert_status(204);
    assert!(search(&patient).await[0].get("photo_url").is_none());

    // A deactivated doctor leaves public search; staff still find them.
    admin
        .patch(&format!("/api/v1/users/{}", bravo.id), &json!({ "active": false }))
        .await
        .assert_status(200);
    assert_eq!(names(&search(&patient).await), ["Dr Able"]);
    assert_eq!(names(&search(&admin).await), ["Dr Able", "Dr Bravo"]);

    // A doctor made a receptionist is no doctor any more, in search or profile.
    admin
        .patch(&format!("/api/v1/users/{}", charlie.id), &json!({ "role": "receptionist" }))
        .await
        .assert_status(200);
    assert_eq!(names(&search(&admin).await), ["Dr Bravo"]);
    app.anon()
        .get(&format!("/api/v1/doctors/{}", charlie.id))
        .await
        .assert_problem(404, "not-found");
}
}

dual! {
#[tokio::test]
async fn doctor_search_pages_through_every_result_once() {
    let app = TestApp::spawn().await;
    let mut expected = Vec::new();
    for name in ["Dr Alpha", "Dr Bravo", "Dr Charlie", "Dr Delta"] {
        expected.push(app.create_doctor(name).await.id);
    }
    for query in ["", "&available_from=2026-03-03&available_to=2026-03-04"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/v1/doctors?limit=1{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = app.anon().get(&path).await;
            page.assert_status(200);
            assert_eq!(page.items().len(), 1);
            seen.extend(page.ids());
            pages += 1;
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages < 10, "pagination must end");
        }
        assert_eq!(seen, expected, "query {query:?}");
    }
    app.anon()
        .get("/api/v1/doctors?limit=0")
        .await
        .assert_invalid(&["limit"]);
    app.anon()
        .get("/api/v1/doctors?limit=101")
        .await
        .assert_invalid(&["limit"]);
    app.anon()
        .get("/api/v1/doctors?cursor=forged")
        .await
        .assert_invalid(&["cursor"]);
}
}

dual! {
#[tokio::test]
async fn schedules_are_read_and_written_by_their_doctor_and_admins_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doctor = app.create_doctor("Sally Schedule").await;
    let other = app.create_doctor("Otto Other").await;
    let patient = app.register_patient("Pia Patient").await;
    let receptionist = app.create_receptionist().await;
    let path = format!("/api/v1/doctors/{}/schedule", doctor.id);

    let own = doctor.get(&path).await;
    own.assert_status(200);
    assert_eq!(own.body, default_schedule(), "what was put is what is read");
    receptionist.get(&path).await.assert_status(200);
    admin.get(&path).await.assert_status(200);
    other.get(&path).await.assert_problem(403, "forbidden");
    patient.get(&path).await.assert_problem(403, "forbidden");
    app.anon()
        .get(&path)
        .await
        .assert_problem(401, "unauthenticated");

    let mut changed = default_schedule();
    changed["slot_minutes"] = json!(20);
    changed["auto_confirm"] = json!(true);
    other
        .put(&path, &changed)
        .await
        .assert_problem(403, "forbidden");
    patient
        .put(&path, &changed)
        .await
        .assert_problem(403, "forbidden");
    receptionist
        .put(&path, &changed)
        .await
        .assert_problem(403, "forbidden");
    let res = admin.put(&path, &changed).await;
    res.assert_status(200);
    assert_eq!(res.body, changed);
    let profile = app
        .anon()
        .get(&format!("/api/v1/doctors/{}", doctor.id))
        .await;
    assert_eq!(profile.body["slot_minutes"], 20);
    assert_eq!(profile.body["auto_confirm"], true);
}
}

dual! {
#[tokio::test]
async fn invalid_schedules_name_every_field_at_fault() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Ivy Invalid").await;
    let path = format!("/api/v1/doctors/{}/schedule", doctor.id);
    let bad = json!({
        "time_zone": "Mars/Olympus_Mons",
        "slot_minutes": 7,
        "weekly_hours": [
            { "day": "monday", "start": "09:00", "end": "12:00" },
            { "day": "monday", "start": "11:00", "end": "13:00" },
            { "day": "tuesday", "start": "9:00", "end": "25:00" },
            { "day": "someday", "start": "09:00", "end": "10:00" },
        ],
        "min_notice_minutes": -1,
        "horizon_days": 0,
        "auto_confirm": false,
        "cancel_window_hours": 24,
    });
    let res = doctor.put(&path, &bad).await;
    res.assert_invalid(&[
        "time_zone",
        "slot_minutes",
        "weekly_hours[1].start",
        "weekly_hours[2].start",
        "weekly_hours[2].end",
        "weekly_hours[3].day",
        "min_notice_minutes",
        "horizon_days",
    ]);
    assert!(
        !res.error_fields()
            .contains(&"weekly_hours[0].start".to_owned()),
        "the first of two overlapping intervals is fine"
    );

    // Each fault on its own is enough.
    let mut overlap = default_schedule();
    overlap["weekly_hours"] = json!([
        { "day": "friday", "start": "09:00", "end": "13:00" },
        { "day": "friday", "start": "12:30", "end": "14:00" },
    ]);
    let res = doctor.put(&path, &overlap).await;
    res.assert_invalid(&["weekly_hours[1].start"]);
    assert_eq!(res.error_fields().len(), 1);
    let mut zone = default_schedule();
    zone["time_zone"] = json!("+01:00");
    doctor
        .put(&path, &zone)
        .await
        .assert_invalid(&["time_zone"]);

    // A missing field or a wrong type is refused too, never a 500.
    let mut missing = default_schedule();
    missing.as_object_mut().unwrap().remove("slot_minutes");
    let res = doctor.put(&path, &missing).await;
    assert!(matches!(res.status.as_u16(), 400 | 422), "{res:?}");
    let mut typed = default_schedule();
    typed["slot_minutes"] = json!("thirty");
    let res = doctor.put(&path, &typed).await;
    assert!(matches!(res.status.as_u16(), 400 | 422), "{res:?}");

    // Nothing changed.
    assert_eq!(doctor.get(&path).await.body, default_schedule());
}
}

dual! {
#[tokio::test]
async fn slots_for_a_plain_date_are_that_local_day() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Dana Dates").await;
    let starts = app
        .slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
        .await;
    // 09:00-13:00 and 14:00-17:00 in Berlin (UTC+1 in winter), 30 minutes each.
    let mut expected = Vec::new();
    for (h, m) in [
        (8, 0),
        (8, 30),
        (9, 0),
        (9, 30),
        (10, 0),
        (10, 30),
        (11, 0),
        (11, 30),
    ] {
        expected.push(format!("2026-03-03T{h:02}:{m:02}:00Z"));
    }
    for (h, m) in [(13, 0), (13, 30), (14, 0), (14, 30), (15, 0), (15, 30)] {
        expected.push(format!("2026-03-03T{h:02}:{m:02}:00Z"));
    }
    assert_eq!(starts, expected);

    let res = app
        .anon()
        .get(&format!(
            "/api/v1/doctors/{}/slots?from=2026-03-03&to=2026-03-03",
            doctor.id
        ))
        .await;
    assert_eq!(res.body["time_zone"], "Europe/Berlin");
    assert_eq!(
        res.body["slots"][0],
        json!({ "start": "2026-03-03T08:00:00Z", "end": "2026-03-03T08:30:00Z" })
    );

    // The date is the doctor's: Tokyo's 3 March starts at 15:00Z on 2 March, so its
    // 08:00 JST slots are on the 2nd in UTC.
    let tokyo = app.create_doctor("Taro Tokyo").await;
    app.set_schedule(&tokyo, daily("Asia/Tokyo", "08:00", "09:00"))
        .await;
    assert_eq!(
        app.slot_starts(&tokyo.id, "2026-03-03", "2026-03-03").await,
        ["2026-03-02T23:00:00Z", "2026-03-02T23:30:00Z"]
    );

    // Instants work as well, and a window is capped at 31 days.
    let instants = app
        .slot_starts(&doctor.id, "2026-03-03T08:00:00Z", "2026-03-03T09:00:00Z")
        .await;
    assert_eq!(instants, [TUE_0900, TUE_0930]);
    let path =
        |from: &str, to: &str| format!("/api/v1/doctors/{}/slots?from={from}&to={to}", doctor.id);
    app.anon()
        .get(&path("2026-03-02", "2026-04-05"))
        .await
        .assert_invalid(&["to"]);
    app.anon()
        .get(&path("2026-03-02", "2026-04-01"))
        .await
        .assert_status(200);
    app.anon()
        .get(&path("2026-03-05", "2026-03-04"))
        .await
        .assert_invalid(&["to"]);
    app.anon()
        .get(&path("tomorrow", "2026-03-04"))
        .await
        .assert_invalid(&["from"]);

    // Without a window: from now, a week. Today's first slot is exactly the notice away.
    let default = app
        .anon()
        .get(&format!("/api/v1/doctors/{}/slots", doctor.id))
        .await;
    let slots = default.body["slots"].as_array().unwrap();
    assert_eq!(slots[0]["start"], "2026-03-02T08:00:00Z");
    assert_eq!(slots.len(), 5 * 14, "five working days of 14 slots");
}
}

dual! {
#[tokio::test]
async fn time_off_removes_slots_and_deleting_it_restores_them() {
    let app = TestApp::spawn().await;
    let doctor = app.create_doctor("Toni Timeoff").await;
    let other = app.create_doctor("Ulla Unrelated").await;
    let before = app
        .slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
        .await;
    assert!(before.contains(&TUE_0900.to_owned()));

    let path = format!("/api/v1/doctors/{}/time-off", doctor.id);
    let body = json!({ "start": TUE_0900, "end": TUE_1000, "reason": "Training" });
    other
        .post(&path, &body)
        .await
        .assert_problem(403, "forbidden");
    doctor
        .post(&path, &json!({ "start": TUE_1000, "end": TUE_0900 }))
        .await
        .assert_invalid(&["end"]);
    doctor
        .post(&path, &json!({ "start": "soon", "end": TUE_0900 }))
        .await
        .assert_invalid(&["start"]);
    let created = doctor.post(&path, &body).await;
    created.assert_status(201);
    let time_off_id = created.str("id").to_owned();

    let during = app
        .slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
        .await;
    assert_eq!(during.len(), before.len() - 2);
    assert!(!during.contains(&TUE_0900.to_owned()));
    assert!(!during.contains(&TUE_0930.to_owned()));
    assert_eq!(during[0], TUE_1000);
    // Nor can it be booked.
    let patient = app.register_patient("Bea Blocked").await;
    app.book(&patient, &doctor.id, TUE_0900)
        .await
        .assert_problem(409, "slot-taken");

    let listed = doctor.get(&path).await;
    listed.assert_status(200);
    assert_eq!(listed.ids(), vec![time_off_id.clone()]);

    let delete_path = format!("{path}/{time_off_id}");
    other
        .delete(&format!(
            "/api/v1/doctors/{}/time-off/{time_off_id}",
            other.id
        ))
        .await
        .assert_problem(404, "not-found");
    other
        .delete(&delete_path)
        .await
        .assert_problem(403, "forbidden");
    doctor.delete(&delete_path).await.assert_status(204);
    doctor
        .delete(&delete_path)
        .await
        .assert_problem(404, "not-found");
    let after = app
        .slot_starts(&doctor.id, "2026-03-03", "2026-03-03")
        .await;
    assert_eq!(after, before);
}
}

fn daily(zone: &str, start: &str, end: &str) -> Value {
    let days = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    json!({
        "time_zone": zone,
        "slot_minutes": 30,
        "weekly_hours": days
            .iter()
            .map(|day| json!({ "day": day, "start": start, "end": end }))
            .collect::<Vec<_>>(),
        "min_notice_minutes": 120,
        "horizon_days": 60,
        "auto_confirm": false,
        "cancel_window_hours": 24,
    })
}

dual! {
#[tokio::test]
async fn wall_clock_slots_survive_daylight_saving_changes() {
    let app = TestApp::spawn().await;
    let berlin = app.create_doctor("Bernd Berlin").await;
    app.set_schedule(&berlin, daily("Europe/Berlin", "09:00", "10:00"))
        .await;
    // Berlin springs forward on Sunday 2026-03-29: 09:00 is 08:00Z before, 07:00Z after.
    let starts = app
        .slot_starts(&berlin.id, "2026-03-27", "2026-03-30")
        .await;
    assert_eq!(
        starts,
        [
            "2026-03-27T08:00:00Z",
            "2026-03-27T08:30:00Z",
            "2026-03-28T08:00:00Z",
            "2026-03-28T08:30:00Z",
            "2026-03-29T07:00:00Z",
            "2026-03-29T07:30:00Z",
            "2026-03-30T07:00:00Z",
            "2026-03-30T07:30:00Z",
        ]
    );
    // Booking follows the same grid: the summer-time 09:00 is bookable, the
    // winter-time instant (10:00 local by then) is not.
    let patient = app.register_patient("Dietmar Dst").await;
    let res = app.book(&patient, &berlin.id, "2026-03-30T07:00:00Z").await;
    res.assert_status(201);
    assert_eq!(res.body["end"], "2026-03-30T07:30:00Z");
    app.book(&patient, &berlin.id, "2026-03-31T08:00:00Z")
        .await
        .assert_invalid(&["start"]);
    // An offset other than Z names the same instant.
    app.book(&patient, &berlin.id, "2026-03-31T09:00:00+02:00")
        .await
        .assert_status(201);

    // New York springs forward on 2026-03-08 and Berlin's autumn change is in October.
    let new_york = app.create_doctor("Nora NewYork").await;
    app.set_schedule(&new_york, daily("America/New_York", "09:00", "09:30"))
        .await;
    let starts = app
        .slot_starts(&new_york.id, "2026-03-06", "2026-03-09")
        .await;
    assert_eq!(
        starts,
        [
            "2026-03-06T14:00:00Z",
            "2026-03-07T14:00:00Z",
            "2026-03-08T13:00:00Z",
            "2026-03-09T13:00:00Z",
        ]
    );
    let res = app
        .anon()
        .get(&format!(
            "/api/v1/doctors/{}/slots?from=2026-03-08&to=2026-03-08",
            new_york.id
        ))
        .await;
    assert_eq!(res.body["time_zone"], "America/New_York");

    app.set_clock("2026-10-20T06:00:00Z");
    let autumn = app
        .slot_starts(&berlin.id, "2026-10-24", "2026-10-26")
        .await;
    assert_eq!(
        autumn,
        [
            "2026-10-24T07:00:00Z",
            "2026-10-24T07:30:00Z",
            "2026-10-25T08:00:00Z",
            "2026-10-25T08:30:00Z",
            "2026-10-26T08:00:00Z",
            "2026-10-26T08:30:00Z",
        ]
    );
}
}

dual! {
#[tokio::test]
async fn free_slots_are_held_in_memory_and_follow_every_change() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doctor = app.create_doctor("Dr Memory").await;
    let patient = app.register_patient("Mia Memory").await;
    let tuesday = || app.slot_starts(&doctor.id, "2026-03-03", "2026-03-03");
    let all_day = tuesday().await;
    assert!(all_day.contains(&TUE_0900.to_owned()));
    let metrics = app.anon().get("/metrics").await;
    let metrics = metrics.body.as_str().expect("text metrics");
    assert!(
        metrics.contains("carebook_availability_doctors 1"),
        "the doctor's availability is held after the first read: {metrics}"
    );

    // A booking takes its slot; a reschedule moves it; a cancellation frees it.
    let id = app.booked(&patient, &doctor.id, TUE_0900).await;
    assert!(!tuesday().await.contains(&TUE_0900.to_owned()));
    patient
        .post(
            &format!("/api/v1/appointments/{id}/reschedule"),
            &json!({ "start": TUE_1000 }),
        )
        .await
        .assert_status(200);
    let moved = tuesday().await;
    assert!(moved.contains(&TUE_0900.to_owned()));
    assert!(!moved.contains(&TUE_1000.to_owned()));
    patient.act(&id, "cancel").await.assert_status(200);
    assert_eq!(tuesday().await, all_day);

    // New hours: Tuesday mornings only.
    let mut schedule = default_schedule();
    schedule["weekly_hours"] = json!([{ "day": "tuesday", "start": "09:00", "end": "10:00" }]);
    app.set_schedule(&doctor, schedule).await;
    assert_eq!(tuesday().await, vec![TUE_0900.to_owned(), TUE_0930.to_owned()]);

    // A deactivated doctor has no public slots at all.
    admin
        .patch(&format!("/api/v1/users/{}", doctor.id), &json!({ "active": false }))
        .await
        .assert_status(200);
    app.anon()
        .get(&format!("/api/v1/doctors/{}/slots?from=2026-03-03&to=2026-03-03", doctor.id))
        .await
        .assert_problem(404, "not-found");
}
}
