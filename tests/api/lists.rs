//! Listing appointments: scoped by role, filtered, sorted and paged.

use std::collections::BTreeSet;

use crate::support::{Api, TestApp, User};

/// Two doctors, two patients and seven appointments over three days, two of them at
/// the same instant (so the pages must break ties by id).
struct Fixture {
    app: TestApp,
    admin: User,
    xaver: User,
    yvonne: User,
    anton: User,
    berta: User,
    /// (id, start), in booking order.
    booked: Vec<(String, String)>,
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let xaver = app.create_doctor("Xaver Xylophon").await;
    let yvonne = app.create_doctor("Yvonne Yellow").await;
    let anton = app.register_patient("Anton Apfel").await;
    let berta = app.register_patient("Berta Birne").await;
    let mut booked = Vec::new();
    for (patient, doctor, start) in [
        (&anton, &xaver, "2026-03-03T08:00:00Z"),
        (&berta, &yvonne, "2026-03-03T08:00:00Z"),
        (&berta, &xaver, "2026-03-03T08:30:00Z"),
        (&anton, &xaver, "2026-03-03T09:00:00Z"),
        (&anton, &yvonne, "2026-03-04T08:00:00Z"),
        (&berta, &yvonne, "2026-03-04T09:00:00Z"),
        (&anton, &xaver, "2026-03-05T08:00:00Z"),
    ] {
        let id = app.booked(patient, &doctor.id, start).await;
        booked.push((id, start.to_owned()));
    }
    // Statuses at the end: 0 requested, 1 confirmed, 2 cancelled, 3 requested,
    // 4 confirmed, 5 rejected, 6 requested, plus a cancelled one at 3's time.
    xaver.act(&booked[3].0, "confirm").await.assert_status(200);
    yvonne.act(&booked[1].0, "confirm").await.assert_status(200);
    berta.act(&booked[2].0, "cancel").await.assert_status(200);
    yvonne.act(&booked[4].0, "confirm").await.assert_status(200);
    yvonne.act(&booked[5].0, "reject").await.assert_status(200);
    xaver.act(&booked[3].0, "cancel").await.assert_status(200);
    // 3 is now cancelled too; book it again to have a requested one there.
    let again = app.booked(&anton, &xaver.id, "2026-03-03T09:00:00Z").await;
    booked[3] = (again, "2026-03-03T09:00:00Z".to_owned());
    Fixture {
        app,
        admin,
        xaver,
        yvonne,
        anton,
        berta,
        booked,
    }
}

/// Every id of a list, following `next_cursor` with pages of `limit`.
async fn walk(api: &Api, query: &str, limit: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut path = format!("/api/v1/appointments?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = api.get(&path).await;
        page.assert_status(200);
        assert!(page.items().len() <= limit as usize);
        ids.extend(page.ids());
        match page.body["next_cursor"].as_str() {
            Some(next) => {
                assert_eq!(
                    page.items().len(),
                    limit as usize,
                    "only the last page is short"
                );
                cursor = Some(next.to_owned());
            }
            None => return ids,
        }
    }
    panic!("pagination did not end");
}

impl Fixture {
    fn ids(&self, indexes: &[usize]) -> Vec<String> {
        indexes.iter().map(|&i| self.booked[i].0.clone()).collect()
    }

    /// Ids in start order, ties by id.
    fn sorted(&self, indexes: &[usize]) -> Vec<String> {
        let mut chosen: Vec<&(String, String)> = indexes.iter().map(|&i| &self.booked[i]).collect();
        chosen.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        chosen.into_iter().map(|(id, _)| id.clone()).collect()
    }
}

dual! {
#[tokio::test]
async fn lists_are_scoped_by_role() {
    let f = fixture().await;
    let all = f.sorted(&[0, 1, 2, 3, 4, 5, 6]);
    let everything = f.admin.get("/api/v1/appointments?limit=100").await;
    // The first booking at 2026-03-03T09:00 was cancelled and stays listed.
    assert_eq!(everything.items().len(), 8);

    let receptionist = f.app.create_receptionist().await;
    let seen = receptionist.get("/api/v1/appointments?limit=100").await;
    assert_eq!(seen.ids(), everything.ids());

    let anton: BTreeSet<String> = f
        .anton
        .get("/api/v1/appointments")
        .await
        .ids()
        .into_iter()
        .collect();
    for item in f.anton.get("/api/v1/appointments").await.items() {
        assert_eq!(item["patient_id"], f.anton.id.as_str());
    }
    assert!(f.ids(&[0, 3, 4, 6]).iter().all(|id| anton.contains(id)));
    assert!(f.ids(&[1, 2, 5]).iter().all(|id| !anton.contains(id)));

    let berta = f.berta.get("/api/v1/appointments").await.ids();
    assert_eq!(berta, f.sorted(&[1, 2, 5]));

    for item in f.xaver.get("/api/v1/appointments").await.items() {
        assert_eq!(item["doctor_id"], f.xaver.id.as_str());
    }
    let yvonne = f.yvonne.get("/api/v1/appointments").await.ids();
    assert_eq!(yvonne, f.sorted(&[1, 4, 5]));
    assert!(all.iter().all(|id| everything.ids().contains(id)));
}
}

dual! {
#[tokio::test]
async fn lists_filter_by_status_time_doctor_patient_and_name() {
    let f = fixture().await;
    let admin = &f.admin;

    let live = admin
        .get("/api/v1/appointments?status=requested,confirmed")
        .await;
    assert_eq!(live.ids(), f.sorted(&[0, 1, 3, 4, 6]));
    for item in live.items() {
        assert!(matches!(
            item["status"].as_str(),
            Some("requested" | "confirmed")
        ));
    }
    let rejected = admin.get("/api/v1/appointments?status=rejected").await;
    assert_eq!(rejected.ids(), f.ids(&[5]));

    // `from` is inclusive, `to` exclusive, on the start.
    let tuesday = admin
        .get("/api/v1/appointments?from=2026-03-03T08:00:00Z&to=2026-03-03T09:00:00Z")
        .await;
    assert_eq!(tuesday.ids(), f.sorted(&[0, 1, 2]));
    let later = admin
        .get("/api/v1/appointments?from=2026-03-04T00:00:00Z")
        .await;
    assert_eq!(later.ids(), f.sorted(&[4, 5, 6]));

    let by_doctor = admin
        .get(&format!(
            "/api/v1/appointments?doctor_id={}&status=requested,confirmed",
            f.yvonne.id
        ))
        .await;
    assert_eq!(by_doctor.ids(), f.sorted(&[1, 4]));
    let by_patient = admin
        .get(&format!(
            "/api/v1/appointments?patient_id={}&status=cancelled",
            f.berta.id
        ))
        .await;
    assert_eq!(by_patient.ids(), f.ids(&[2]));

    // A name search matches the patient's name or the doctor's.
    let birne = admin
        .get("/api/v1/appointments?q=birne&status=requested,confirmed,rejected")
        .await;
    assert_eq!(birne.ids(), f.sorted(&[1, 5]));
    let yellow = admin.get("/api/v1/appointments?q=Yellow").await;
    assert_eq!(yellow.ids(), f.sorted(&[1, 4, 5]));
    let nobody = admin.get("/api/v1/appointments?q=Zebra").await;
    assert!(nobody.items().is_empty());
    // Within a doctor's own scope too.
    let own = f.xaver.get("/api/v1/appointments?q=Birne").await;
    assert_eq!(own.ids(), f.ids(&[2]));

    admin
        .get("/api/v1/appointments?status=requested,lost")
        .await
        .assert_invalid(&["status"]);
    admin
        .get("/api/v1/appointments?from=yesterday")
        .await
        .assert_invalid(&["from"]);
    admin
        .get("/api/v1/appointments?sort=doctor")
        .await
        .assert_invalid(&["sort"]);
    admin
        .get("/api/v1/appointments?limit=1000")
        .await
        .assert_invalid(&["limit"]);
    let res = admin.get("/api/v1/appointments?limit=-1").await;
    assert!(matches!(res.status.as_u16(), 400 | 422), "{res:?}");
}
}

dual! {
#[tokio::test]
async fn pages_cover_every_appointment_once_in_either_order() {
    let f = fixture().await;
    let admin = &f.admin;
    let ascending = admin.get("/api/v1/appointments?limit=100").await.ids();
    assert_eq!(ascending.len(), 8);
    let starts: Vec<String> = admin
        .get("/api/v1/appointments?limit=100")
        .await
        .items()
        .iter()
        .map(|a| a["start"].as_str().unwrap().to_owned())
        .collect();
    let mut sorted_starts = starts.clone();
    sorted_starts.sort();
    assert_eq!(starts, sorted_starts, "soonest first by default");

    let descending = admin
        .get("/api/v1/appointments?limit=100&sort=-start")
        .await
        .ids();
    let mut reversed = ascending.clone();
    reversed.reverse();
    assert_eq!(descending, reversed, "-start is the exact reverse");

    for limit in [1, 2, 3] {
        assert_eq!(walk(admin, "", limit).await, ascending, "limit {limit}");
        assert_eq!(
            walk(admin, "&sort=-start", limit).await,
            descending,
            "limit {limit}, newest first"
        );
    }
    let live = admin
        .get("/api/v1/appointments?limit=100&status=requested,confirmed")
        .await
        .ids();
    assert_eq!(walk(admin, "&status=requested,confirmed", 2).await, live);
    let anton = f.anton.get("/api/v1/appointments?limit=100").await.ids();
    assert_eq!(walk(&f.anton, "&sort=-start", 1).await.len(), anton.len());

    admin
        .get("/api/v1/appointments?cursor=bm9wZQ")
        .await
        .assert_invalid(&["cursor"]);
}
}
