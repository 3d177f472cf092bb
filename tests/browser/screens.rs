//! Every main screen of every role, in a busy-enough clinic: axe-core finds no
//! serious or critical violation in the light or the dark theme, nothing scrolls
//! sideways on a 360 px phone, and each screen is photographed (light and dark,
//! desktop and phone) for docs/screenshots.

use carebook::testing::webdriver::{Browser, BrowserOptions};

use crate::harness::{
    Clinic, Screen, assert_accessible, assert_no_horizontal_scroll, open, screenshot, seed_clinic,
    set_theme, sign_in, visit,
};
use crate::support::{PASSWORD, TestApp, User};

/// The clinic of `seed_clinic`, plus a patient with a requested, a confirmed and a
/// completed visit (and so notifications), and a receptionist.
struct Busy {
    clinic: Clinic,
    patient: User,
    desk: User,
    requested: String,
    /// The completed visit: the doctor's record and prescription forms, the
    /// patient's rating form.
    done: String,
    /// A confirmed video visit on Wednesday: the mode, and when its link opens.
    video: String,
}

async fn busy_clinic(app: &TestApp) -> Busy {
    let clinic = seed_clinic(app).await;
    let patient = app.register_patient("Pia Patient").await;
    let other = app.register_patient("Paul Petersen").await;
    let keller = &clinic.keller;
    // Monday 2 March: 09:00 will be completed, 11:00 confirmed; Tuesday 10:00 requested.
    let done = app
        .booked(&patient, &keller.id, "2026-03-02T08:00:00Z")
        .await;
    let confirmed = app.booked(&other, &keller.id, "2026-03-02T10:00:00Z").await;
    let requested = app
        .booked(&patient, &keller.id, "2026-03-03T09:00:00Z")
        .await;
    keller
        .patch(
            &format!("/api/v1/doctors/{}", keller.id),
            &serde_json::json!({ "visit_modes": ["in_person", "video"] }),
        )
        .await
        .assert_status(200);
    let video = patient
        .post(
            "/api/v1/appointments",
            &serde_json::json!({ "doctor_id": keller.id, "start": "2026-03-04T09:00:00Z", "mode": "video" }),
        )
        .await;
    video.assert_status(201);
    let video = video.str("id").to_owned();
    for id in [&done, &confirmed, &video] {
        keller.act(id, "confirm").await.assert_status(200);
    }
    app.set_clock("2026-03-02T07:55:00Z");
    keller.act(&done, "check-in").await.assert_status(200);
    keller.act(&done, "complete").await.assert_status(200);
    let desk = app.create_receptionist().await;
    Busy {
        clinic,
        patient,
        desk,
        requested,
        done,
        video,
    }
}

fn screens_of(role: &str, busy: &Busy) -> Vec<Screen> {
    let screen = |name, path: String, ready| Screen { name, path, ready };
    match role {
        "patient" => vec![
            screen("visits", "/visits".into(), "h1"),
            screen(
                "booking",
                format!("/book/{}?day=2026-03-04", busy.clinic.keller.id),
                "a.slot",
            ),
            screen(
                "appointment",
                format!("/appointments/{}", busy.requested),
                ".status",
            ),
            screen("profile", "/profile".into(), "#f-name"),
            screen("two-factor", "/profile/two-factor".into(), "h1"),
            screen("notifications", "/notifications".into(), "h1"),
            screen(
                "completed-visit",
                format!("/appointments/{}", busy.done),
                ".status",
            ),
            screen("records", "/records".into(), "h1"),
            screen("prescriptions", "/prescriptions".into(), "h1"),
            screen("health-summary", "/health-summary".into(), "h1"),
            screen("files", "/files".into(), "h1"),
            screen("access-history", "/access-history".into(), "h1"),
            screen("messages", "/messages".into(), "h1"),
            screen(
                "video-visit",
                format!("/appointments/{}", busy.video),
                "#video-visit",
            ),
            screen(
                "booking-confirm",
                format!(
                    "/book/{}/confirm?start=2026-03-04T10:00:00Z",
                    busy.clinic.keller.id
                ),
                "input[name=mode]",
            ),
        ],
        "doctor" => vec![
            screen("doctor-today", "/doctor/today".into(), "h1"),
            screen("doctor-requests", "/doctor/requests".into(), "h1"),
            screen("doctor-week", "/doctor/week".into(), "h1"),
            screen("doctor-schedule", "/doctor/schedule".into(), "form"),
            screen("doctor-profile", "/doctor/profile".into(), "form"),
            screen(
                "doctor-visit",
                format!("/appointments/{}", busy.done),
                ".status",
            ),
            screen("doctor-messages", "/messages".into(), "h1"),
            screen(
                "doctor-video-visit",
                format!("/appointments/{}", busy.video),
                "#video-visit",
            ),
        ],
        "receptionist" => vec![
            screen("desk", "/desk".into(), "h1"),
            screen("desk-patients", "/desk/patients?q=pia".into(), "h1"),
            screen("desk-new-patient", "/desk/patients/new".into(), "#f-name"),
        ],
        _ => vec![
            screen("admin-users", "/admin/users".into(), "h1"),
            screen("admin-audit", "/admin/audit".into(), "h1"),
            screen(
                "admin-stats",
                "/admin/stats?from=2026-02-24&to=2026-03-08".into(),
                "svg.chart",
            ),
        ],
    }
}

/// Screens photographed for the README and docs/screenshots.
const PHOTOGRAPHED: &[&str] = &[
    "visits",
    "booking",
    "appointment",
    "doctor-today",
    "doctor-schedule",
    "desk",
    "admin-users",
    "admin-stats",
];

async fn check_screens(browser: &Browser, device: &str, screens: &[Screen]) {
    for theme in ["light", "dark"] {
        set_theme(browser, theme).await;
        for screen in screens {
            visit(browser, screen).await;
            if device == "desktop" {
                assert_accessible(browser, &format!("{} ({theme})", screen.name)).await;
            } else {
                assert_no_horizontal_scroll(browser, screen.name).await;
            }
            if PHOTOGRAPHED.contains(&screen.name) {
                screenshot(browser, &format!("{}-{theme}-{device}", screen.name)).await;
            }
        }
    }
}

async fn check_role(role: &str) {
    let app = TestApp::spawn().await;
    let busy = busy_clinic(&app).await;
    let user = match role {
        "patient" => busy.patient.clone(),
        "doctor" => busy.clinic.keller.clone(),
        "receptionist" => busy.desk.clone(),
        _ => app.admin().await,
    };
    let screens = screens_of(role, &busy);
    for (device, options) in [
        ("desktop", BrowserOptions::desktop()),
        ("phone", BrowserOptions::desktop().size(360, 780)),
    ] {
        let Some(browser) = open(&app, options).await else {
            return;
        };
        sign_in(&browser, &user, PASSWORD).await;
        check_screens(&browser, device, &screens).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_patients_screens_are_accessible_and_fit_a_phone() {
    check_role("patient").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_doctors_screens_are_accessible_and_fit_a_phone() {
    check_role("doctor").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_front_desks_screens_are_accessible_and_fit_a_phone() {
    check_role("receptionist").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admins_screens_are_accessible_and_fit_a_phone() {
    check_role("admin").await;
}
