//! Clinic statistics (`GET /api/v1/stats`, `App::clinic_statistics`): counts per day
//! and status, doctors' booked and free minutes, totals and rates, the window's
//! checks, and who may read them.

use carebook::store::UserId;
use serde_json::{Value, json};

use crate::support::{MON_1400, TUE_0900, TUE_0930, TUE_1000, TestApp, User, WED_0900};

/// A week with appointments in every settled status, over two working doctors and
/// one without hours. All times Berlin (UTC+1); the default schedule is Monday to
/// Friday 09:00-13:00 and 14:00-17:00 (7 h a day) in 30-minute slots.
///
/// | appointment | doctor | slot          | ends as   |
/// |-------------|--------|---------------|-----------|
/// | a1          | Amy    | Mon 2, 14:00  | completed |
/// | a2          | Amy    | Mon 2, 15:00  | no_show   |
/// | a3          | Amy    | Tue 3, 09:00  | cancelled |
/// | a4          | Amy    | Tue 3, 09:30  | rejected  |
/// | a5          | Amy    | Wed 4, 09:00  | requested |
/// | b1          | Ben    | Tue 3, 10:00  | confirmed |
///
/// Ben also takes Thursday morning off (09:00-13:00). The clock ends on Monday
/// 15:10, so most of the week is still ahead: the free minutes must not depend on it.
pub struct Week {
    pub app: TestApp,
    pub admin: User,
    pub amy: User,
    pub ben: User,
    pub receptionist: User,
    pub patient: User,
}

pub async fn week() -> Week {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let amy = app.create_doctor("Amy Able").await;
    let ben = app.create_doctor("Ben Busy").await;
    app.create_staff("Cleo Nohours", "doctor").await;
    let receptionist = app.create_receptionist().await;
    let p1 = app.register_patient("Pat One").await;
    let p2 = app.register_patient("Pia Two").await;

    let a1 = app.booked(&p1, &amy.id, MON_1400).await;
    let a2 = app.booked(&p2, &amy.id, "2026-03-02T14:00:00Z").await;
    let a3 = app.booked(&p1, &amy.id, TUE_0900).await;
    let a4 = app.booked(&p2, &amy.id, TUE_0930).await;
    app.booked(&p1, &amy.id, WED_0900).await;
    let b1 = app.booked(&p2, &ben.id, TUE_1000).await;
    ben.post(
        &format!("/api/v1/doctors/{}/time-off", ben.id),
        &json!({ "start": "2026-03-05T08:00:00Z", "end": "2026-03-05T12:00:00Z" }),
    )
    .await
    .assert_status(201);

    for id in [&a1, &a2] {
        amy.act(id, "confirm").await.assert_status(200);
    }
    ben.act(&b1, "confirm").await.assert_status(200);
    amy.act(&a3, "cancel").await.assert_status(200);
    amy.act(&a4, "reject").await.assert_status(200);
    // a1 starts at 14:00: check in and complete it; a2 starts at 15:00 and nobody came.
    app.set_clock("2026-03-02T13:00:00Z");
    receptionist.act(&a1, "check-in").await.assert_status(200);
    amy.act(&a1, "complete").await.assert_status(200);
    app.set_clock("2026-03-02T14:10:00Z");
    receptionist.act(&a2, "no-show").await.assert_status(200);

    Week {
        app,
        admin,
        amy,
        ben,
        receptionist,
        patient: p1,
    }
}

fn day<'a>(body: &'a Value, date: &str) -> &'a Value {
    body["days"]
        .as_array()
        .expect("days")
        .iter()
        .find(|d| d["date"] == date)
        .unwrap_or_else(|| panic!("no day {date} in {body:#}"))
}

fn doctor<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["doctors"]
        .as_array()
        .expect("doctors")
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no doctor {name} in {body:#}"))
}

dual! {
#[tokio::test]
async fn statistics_count_a_week_by_day_status_and_doctor() {
    let Week { app, admin, amy, ben, .. } = week().await;
    let res = admin.get("/api/v1/stats?from=2026-03-01&to=2026-03-07").await;
    res.assert_status(200);
    let body = &res.body;
    assert_eq!(body["from"], "2026-03-01");
    assert_eq!(body["to"], "2026-03-07");
    assert_eq!(body["time_zone"], "Europe/Berlin");

    // Every day of the window, in order, zero-filled.
    let dates: Vec<&str> = body["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(
        dates,
        ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07"]
    );
    let sunday = day(body, "2026-03-01");
    for status in ["requested", "confirmed", "checked_in", "completed", "rejected", "cancelled", "no_show", "total"] {
        assert_eq!(sunday[status], 0, "{status}");
    }
    let monday = day(body, "2026-03-02");
    assert_eq!((monday["completed"].as_u64(), monday["no_show"].as_u64(), monday["total"].as_u64()), (Some(1), Some(1), Some(2)));
    let tuesday = day(body, "2026-03-03");
    assert_eq!(tuesday["cancelled"], 1);
    assert_eq!(tuesday["rejected"], 1);
    assert_eq!(tuesday["confirmed"], 1);
    assert_eq!(tuesday["total"], 3);
    let wednesday = day(body, "2026-03-04");
    assert_eq!(wednesday["requested"], 1);
    assert_eq!(wednesday["total"], 1);
    assert_eq!(day(body, "2026-03-05")["total"], 0);

    let totals = &body["totals"];
    assert_eq!(totals["appointments"], 6);
    assert_eq!(totals["completed"], 1);
    assert_eq!(totals["no_show"], 1);
    assert_eq!(totals["cancelled"], 1);
    assert_eq!(totals["rejected"], 1);
    assert_eq!(totals["requested"], 1);
    assert_eq!(totals["confirmed"], 1);
    assert_eq!(totals["checked_in"], 0);
    // 1 no-show of 2 settled visits; 1 cancellation of 6 appointments.
    assert_eq!(totals["no_show_rate_percent"], 50.0);
    assert_eq!(totals["cancellation_rate_percent"], 16.7);

    // Amy holds a1, a2 (no-shows hold time) and a5: 90 minutes of 5 x 420.
    let amy_row = doctor(body, "Amy Able");
    assert_eq!(amy_row["doctor_id"], amy.id.as_str());
    assert_eq!(amy_row["booked_minutes"], 90);
    assert_eq!(amy_row["free_minutes"], 2100 - 90);
    assert_eq!(amy_row["utilisation_percent"], 4.3);
    // Ben holds b1; his Thursday morning off is neither booked nor free.
    let ben_row = doctor(body, "Ben Busy");
    assert_eq!(ben_row["doctor_id"], ben.id.as_str());
    assert_eq!(ben_row["booked_minutes"], 30);
    assert_eq!(ben_row["free_minutes"], 2100 - 30 - 240);
    assert_eq!(ben_row["utilisation_percent"], 1.6);
    // A doctor without weekly hours: nothing booked, nothing free, no percentage.
    let cleo = doctor(body, "Cleo Nohours");
    assert_eq!(cleo["booked_minutes"], 0);
    assert_eq!(cleo["free_minutes"], 0);
    assert!(cleo["utilisation_percent"].is_null());
    let names: Vec<&str> = body["doctors"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Amy Able", "Ben Busy", "Cleo Nohours"]);

    // The use case gives the JSON's numbers.
    let actor = carebook_domain::policy::Actor {
        user_id: UserId::new(admin.id.clone()),
        role: carebook_domain::Role::Admin,
    };
    let stats = app
        .app
        .clinic_statistics(&actor, Some("2026-03-01"), Some("2026-03-07"))
        .await
        .expect("statistics");
    assert_eq!(stats.days.len(), 7);
    assert_eq!(stats.totals.appointments(), 6);
    assert_eq!(stats.totals.counts.no_show, 1);
    assert_eq!(stats.totals.no_show_rate_percent, Some(50.0));
    assert_eq!(stats.doctors[0].booked_minutes, 90);
    assert_eq!(stats.doctors[1].free_minutes, 1830);

    // A window of one day counts that day only.
    let tuesday_only = admin.get("/api/v1/stats?from=2026-03-03&to=2026-03-03").await;
    tuesday_only.assert_status(200);
    assert_eq!(tuesday_only.body["days"].as_array().unwrap().len(), 1);
    assert_eq!(tuesday_only.body["totals"]["appointments"], 3);
    // Nothing settled that day: no no-show rate.
    assert!(tuesday_only.body["totals"]["no_show_rate_percent"].is_null());
    assert_eq!(doctor(&tuesday_only.body, "Amy Able")["booked_minutes"], 0);
    assert_eq!(doctor(&tuesday_only.body, "Amy Able")["free_minutes"], 420);
}
}

dual! {
#[tokio::test]
async fn the_default_window_is_the_last_30_days_in_the_clinic_zone() {
    // `app` keeps the server running.
    let Week { app: _app, admin, .. } = week().await;
    // The clock is at Monday 2 March 15:10 in Berlin.
    let res = admin.get("/api/v1/stats").await;
    res.assert_status(200);
    assert_eq!(res.body["from"], "2026-02-01");
    assert_eq!(res.body["to"], "2026-03-02");
    let days = res.body["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["date"], "2026-03-02");
    assert_eq!(days[29]["total"], 2);
    assert_eq!(res.body["totals"]["appointments"], 2);
    // Only `to`: the 30 days ending there.
    let res = admin.get("/api/v1/stats?to=2026-03-31").await;
    res.assert_status(200);
    assert_eq!(res.body["from"], "2026-03-02");
    assert_eq!(res.body["totals"]["appointments"], 6);
}
}

dual! {
#[tokio::test]
async fn bad_windows_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    admin.get("/api/v1/stats?from=yesterday").await.assert_invalid(&["from"]);
    admin.get("/api/v1/stats?from=2026-03-01&to=2026-02-30").await.assert_invalid(&["to"]);
    admin.get("/api/v1/stats?from=2026-03-07&to=2026-03-01").await.assert_invalid(&["to"]);
    admin.get("/api/v1/stats?from=2025-03-01&to=2026-03-02").await.assert_invalid(&["to"]);
    // 366 days, counting both ends, are fine.
    admin.get("/api/v1/stats?from=2025-03-02&to=2026-03-02").await.assert_status(200);
}
}

dual! {
#[tokio::test]
async fn only_admins_read_statistics() {
    let Week { app, amy, receptionist, patient, .. } = week().await;
    for user in [&amy, &receptionist, &patient] {
        user.get("/api/v1/stats").await.assert_problem(403, "forbidden");
    }
    app.anon().get("/api/v1/stats").await.assert_problem(401, "unauthenticated");
    // Refused before the window is even looked at.
    patient.get("/api/v1/stats?from=nonsense").await.assert_problem(403, "forbidden");
}
}
