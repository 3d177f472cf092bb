//! Double booking is impossible, even when many requests race through HTTP.

use std::sync::Arc;

use carebook::app::{AppointmentQuery, PageParams};
use carebook::store::{AppointmentFilter, PageRequest, UserId};
use carebook_domain::policy::AppointmentScope;
use serde_json::json;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::support::{PASSWORD, Res, TUE_0900, TestApp, ts};

const RACERS: usize = 60;

/// Registers and logs in `n` patients concurrently; returns their tokens.
async fn patients(app: &TestApp, n: usize) -> Vec<String> {
    let mut tasks = JoinSet::new();
    for i in 0..n {
        let anon = app.anon();
        let email = app.email_for(&format!("Racer {i}"));
        tasks.spawn(async move {
            anon.post(
                "/api/v1/auth/register",
                &json!({ "email": email, "password": PASSWORD, "name": format!("Racer {i}") }),
            )
            .await
            .assert_status(201);
            let login = anon
                .post(
                    "/api/v1/auth/login",
                    &json!({ "email": email, "password": PASSWORD }),
                )
                .await;
            login.assert_status(200);
            login.str("token").to_owned()
        });
    }
    tasks.join_all().await
}

dual! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_patients_racing_for_one_slot_get_exactly_one_booking() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let doctor = app.create_doctor("Rosa Race").await;
    let tokens = patients(&app, RACERS).await;

    // Everyone waits at the barrier, then all requests go out at once.
    let barrier = Arc::new(Barrier::new(tokens.len()));
    let mut tasks = JoinSet::new();
    for token in tokens {
        let api = app.with_token(&token);
        let barrier = barrier.clone();
        let doctor_id = doctor.id.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            api.post(
                "/api/v1/appointments",
                &json!({ "doctor_id": doctor_id, "start": TUE_0900 }),
            )
            .await
        });
    }
    let answers: Vec<Res> = tasks.join_all().await;
    assert_eq!(answers.len(), RACERS);
    let created: Vec<&Res> = answers.iter().filter(|r| r.status == 201).collect();
    assert_eq!(created.len(), 1, "exactly one booking succeeds");
    for refused in answers.iter().filter(|r| r.status != 201) {
        refused.assert_problem(409, "slot-taken");
    }
    let winner = created[0].str("id").to_owned();

    // Through the API: one live appointment for that doctor, at that slot.
    let live = admin
        .get(&format!(
            "/api/v1/appointments?doctor_id={}&status=requested,confirmed,checked_in",
            doctor.id
        ))
        .await;
    assert_eq!(live.ids(), vec![winner.clone()]);
    assert_eq!(live.items()[0]["start"], TUE_0900);
    // No refused attempt left a row behind, in any status.
    let all = admin
        .get(&format!("/api/v1/appointments?doctor_id={}", doctor.id))
        .await;
    assert_eq!(all.ids(), vec![winner.clone()]);

    // And in the store itself.
    let doctor_id = UserId::new(doctor.id.clone());
    let rows = app
        .app
        .store
        .read(move |tx| {
            tx.list_appointments(
                &AppointmentFilter {
                    scope: AppointmentScope::All,
                    statuses: Vec::new(),
                    from: None,
                    to: None,
                    doctor_id: Some(doctor_id.clone()),
                    patient_id: None,
                    q: None,
                    newest_first: false,
                },
                &PageRequest {
                    limit: 1000,
                    after: None,
                },
            )
        })
        .await
        .expect("the store reads");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].record.id.to_string(), winner);
    assert_eq!(rows[0].record.slot.start, ts(TUE_0900));
    let doctor_id = UserId::new(doctor.id.clone());
    let window = carebook::store::Interval::new(ts(TUE_0900), ts("2026-03-03T09:00:00Z")).unwrap();
    let busy = app
        .app
        .store
        .read(move |tx| tx.busy_slots(&doctor_id, window))
        .await
        .expect("the store reads");
    assert_eq!(busy.len(), 1);

    // The use case agrees with the HTTP layer.
    let admin_actor = carebook_domain::policy::Actor {
        user_id: UserId::new(admin.id.clone()),
        role: carebook_domain::Role::Admin,
    };
    let page = app
        .app
        .list_appointments(
            &admin_actor,
            AppointmentQuery {
                doctor_id: Some(doctor.id.clone()),
                ..AppointmentQuery::default()
            },
            PageParams::default(),
        )
        .await
        .expect("the list");
    assert_eq!(page.items.len(), 1);
}
}

dual! {
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_patient_racing_for_several_doctors_at_once_gets_one_booking() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let mut doctors = Vec::new();
    for name in ["Ada One", "Bea Two", "Cai Three", "Dan Four", "Eva Five"] {
        doctors.push(app.create_doctor(name).await.id);
    }
    let patient = app.register_patient("Greedy Gus").await;

    for round in 0..3 {
        // Monday to Wednesday 14:00 Berlin.
        let start = format!("2026-03-0{}T13:00:00Z", 2 + round);
        let barrier = Arc::new(Barrier::new(doctors.len()));
        let mut tasks = JoinSet::new();
        for doctor_id in &doctors {
            let (api, barrier, doctor_id, start) = (
                patient.api.clone(),
                barrier.clone(),
                doctor_id.clone(),
                start.clone(),
            );
            tasks.spawn(async move {
                barrier.wait().await;
                api.post(
                    "/api/v1/appointments",
                    &json!({ "doctor_id": doctor_id, "start": start }),
                )
                .await
            });
        }
        let answers = tasks.join_all().await;
        let created = answers.iter().filter(|r| r.status == 201).count();
        assert_eq!(created, 1, "round {round}: {answers:#?}");
        for refused in answers.iter().filter(|r| r.status != 201) {
            refused.assert_problem(409, "patient-busy");
        }
        let live = admin
            .get(&format!(
                "/api/v1/appointments?patient_id={}&status=requested,confirmed&from={start}&to=2026-03-0{}T14:00:00Z",
                patient.id,
                2 + round
            ))
            .await;
        assert_eq!(live.items().len(), 1, "round {round}");
    }
    // Every doctor whose booking was refused still has that slot free.
    let mut free = 0;
    for doctor_id in &doctors {
        let starts = app.slot_starts(doctor_id, "2026-03-02", "2026-03-04").await;
        free += [
            "2026-03-02T13:00:00Z",
            "2026-03-03T13:00:00Z",
            "2026-03-04T13:00:00Z",
        ]
        .iter()
        .filter(|s| starts.contains(&s.to_string()))
        .count();
    }
    assert_eq!(free, doctors.len() * 3 - 3);
}
}
