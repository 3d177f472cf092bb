//! The store's contract: what every implementation must guarantee, whatever the app
//! layer above it does. (Run against SQLite here; a PostgreSQL store must pass it too.)

use carebook::store::{
    AppointmentId, AppointmentRecord, AppointmentStatus, Conflict, DoctorRecord, Interval, Role,
    Store, StoreError, UserId, UserRecord, UserStatus,
};
use jiff::{SignedDuration, Timestamp};

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
    (dir, store)
}

fn user(id: &str, role: Role) -> UserRecord {
    let now = at("2026-03-01T00:00:00Z");
    UserRecord {
        id: UserId::new(id),
        email: format!("{id}@clinic.test"),
        name: id.to_owned(),
        phone: None,
        date_of_birth: None,
        role,
        status: UserStatus::Active,
        password_hash: "x".into(),
        created_at: now,
        updated_at: now,
    }
}

fn appointment(
    id: &str,
    doctor: &str,
    patient: &str,
    start: &str,
    minutes: i64,
) -> AppointmentRecord {
    let start = at(start);
    AppointmentRecord {
        id: AppointmentId::new(id),
        doctor_id: UserId::new(doctor),
        patient_id: UserId::new(patient),
        slot: Interval::new(start, start + SignedDuration::from_mins(minutes)).unwrap(),
        status: AppointmentStatus::Requested,
        reason: None,
        status_reason: None,
        created_by: UserId::new(patient),
        created_at: start,
        updated_at: start,
    }
}

async fn seed(store: &Store) {
    store
        .write(|tx| {
            for (id, role) in [
                ("doc1", Role::Doctor),
                ("doc2", Role::Doctor),
                ("pat1", Role::Patient),
                ("pat2", Role::Patient),
            ] {
                let account = user(id, role);
                tx.insert_user(&account)?;
                if role == Role::Doctor {
                    tx.upsert_doctor(&DoctorRecord::new_for(&account, jiff::tz::TimeZone::UTC))?;
                }
            }
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap();
}

async fn insert(store: &Store, record: AppointmentRecord) -> Result<(), StoreError> {
    store.write(move |tx| tx.insert_appointment(&record)).await
}

#[tokio::test]
async fn overlapping_live_appointments_of_one_doctor_are_refused() {
    let (_dir, store) = open();
    seed(&store).await;
    insert(
        &store,
        appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30),
    )
    .await
    .unwrap();
    // Another patient, a 20-minute slot starting inside the first one.
    let clash = insert(
        &store,
        appointment("a2", "doc1", "pat2", "2026-03-02T09:20:00Z", 20),
    )
    .await;
    assert_eq!(clash, Err(StoreError::Conflict(Conflict::DoctorSlotTaken)));
    // Back to back is fine.
    insert(
        &store,
        appointment("a3", "doc1", "pat2", "2026-03-02T09:30:00Z", 30),
    )
    .await
    .unwrap();
    // The refused insert left nothing behind.
    let found = store
        .read(|tx| tx.find_appointment(&AppointmentId::new("a2")))
        .await
        .unwrap();
    assert!(found.is_none());
}

#[tokio::test]
async fn a_patient_cannot_hold_two_overlapping_live_appointments() {
    let (_dir, store) = open();
    seed(&store).await;
    insert(
        &store,
        appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30),
    )
    .await
    .unwrap();
    let clash = insert(
        &store,
        appointment("a2", "doc2", "pat1", "2026-03-02T09:15:00Z", 30),
    )
    .await;
    assert_eq!(clash, Err(StoreError::Conflict(Conflict::PatientBusy)));
}

#[tokio::test]
async fn ending_an_appointment_releases_its_time_and_moving_it_moves_the_claims() {
    let (_dir, store) = open();
    seed(&store).await;
    let mut first = appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30);
    insert(&store, first.clone()).await.unwrap();

    // Moving to 10:00 frees 09:00 and takes 10:00.
    first.slot = Interval::new(at("2026-03-02T10:00:00Z"), at("2026-03-02T10:30:00Z")).unwrap();
    let moved = first.clone();
    store
        .write(move |tx| tx.update_appointment(&moved))
        .await
        .unwrap();
    insert(
        &store,
        appointment("a2", "doc1", "pat2", "2026-03-02T09:00:00Z", 30),
    )
    .await
    .unwrap();
    let clash = insert(
        &store,
        appointment("a3", "doc1", "pat2", "2026-03-02T10:00:00Z", 30),
    )
    .await;
    assert_eq!(clash, Err(StoreError::Conflict(Conflict::DoctorSlotTaken)));

    // Cancelling frees 10:00.
    first.status = AppointmentStatus::Cancelled;
    store
        .write(move |tx| tx.update_appointment(&first))
        .await
        .unwrap();
    insert(
        &store,
        appointment("a3", "doc1", "pat2", "2026-03-02T10:00:00Z", 30),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn busy_slots_read_only_the_window_and_only_live_appointments() {
    let (_dir, store) = open();
    seed(&store).await;
    insert(
        &store,
        appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30),
    )
    .await
    .unwrap();
    insert(
        &store,
        appointment("a2", "doc1", "pat1", "2026-03-09T09:00:00Z", 30),
    )
    .await
    .unwrap();
    let mut cancelled = appointment("a3", "doc1", "pat2", "2026-03-02T11:00:00Z", 30);
    cancelled.status = AppointmentStatus::Cancelled;
    insert(&store, cancelled).await.unwrap();

    let week = Interval::new(at("2026-03-02T00:00:00Z"), at("2026-03-09T00:00:00Z")).unwrap();
    let busy = store
        .read(move |tx| tx.busy_slots(&UserId::new("doc1"), week))
        .await
        .unwrap();
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0].start, at("2026-03-02T09:00:00Z"));
}

#[tokio::test]
async fn racing_writers_for_one_slot_have_exactly_one_winner_and_the_rest_are_unharmed() {
    let (_dir, store) = open();
    seed(&store).await;
    let mut attempts = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        // Half race for 09:00 with doctor 1; the other half book distinct slots of doctor 2.
        let record = if i % 2 == 0 {
            appointment(
                &format!("race{i}"),
                "doc1",
                "pat1",
                "2026-03-02T09:00:00Z",
                30,
            )
        } else {
            let start = at("2026-03-03T08:00:00Z") + SignedDuration::from_mins(30 * i);
            let mut r = appointment(
                &format!("calm{i}"),
                "doc2",
                "pat2",
                "2026-03-03T08:00:00Z",
                30,
            );
            r.slot = Interval::new(start, start + SignedDuration::from_mins(30)).unwrap();
            r
        };
        attempts.push(tokio::spawn(async move { insert(&store, record).await }));
    }
    let mut race_wins = 0;
    let mut calm_wins = 0;
    for (i, attempt) in attempts.into_iter().enumerate() {
        match (i % 2, attempt.await.unwrap()) {
            (0, Ok(())) => race_wins += 1,
            (0, Err(e)) => assert_eq!(e, StoreError::Conflict(Conflict::DoctorSlotTaken)),
            (_, result) => {
                result.unwrap();
                calm_wins += 1;
            }
        }
    }
    assert_eq!(race_wins, 1);
    assert_eq!(calm_wins, 20);
}

#[tokio::test]
async fn emails_are_unique() {
    let (_dir, store) = open();
    seed(&store).await;
    let mut twin = user("pat3", Role::Patient);
    twin.email = "pat1@clinic.test".into();
    let result = store.write(move |tx| tx.insert_user(&twin)).await;
    assert_eq!(result, Err(StoreError::Conflict(Conflict::EmailTaken)));
}
