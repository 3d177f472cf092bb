//! The store's contract: what every implementation must guarantee, whatever the app
//! layer above it does. Every test body runs twice, against SQLite (`sqlite::name`)
//! and against PostgreSQL (`postgres::name`, each on a fresh database; skipped with
//! a loud note when PostgreSQL is unreachable, a failure under `CI=true`).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carebook::store::{
    AppointmentEvent, AppointmentFilter, AppointmentId, AppointmentRecord, AppointmentStatus,
    AuditFilter, AvailabilityChange, BusyChange, CommittedChanges, Conflict, Cursor,
    DeliveryOutcome, DeliveryRecord, DeliveryStatus, DoctorFilter, DoctorRecord, Fee, Interval,
    ListedDoctor, LoginAttempt, LoginKey, NewAuditEntry, PageRequest, PhotoRecord, RecordRow,
    RecordVersion, Role, SessionRecord, Specialty, SpecialtyId, Store, StoreError, TimeOffId,
    TimeOffRecord, UserFilter, UserId, UserRecord, UserStatus,
};
use carebook::testing::{Backend, open_store};
use carebook_domain::VisitMode;
use carebook_domain::policy::AppointmentScope;
use carebook_domain::schedule::WeeklyInterval;
use jiff::civil::{Time, Weekday};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

/// Defines each contract test once and runs it on both backends:
/// `#[test] async fn name(store: Store, url: String) { ... }` (`#[test(flavor = ...)]`
/// passes its arguments on to `#[tokio::test]`).
macro_rules! contract {
    ($(
        $(#[doc = $doc:literal])*
        #[test $(( $($args:tt)* ))?]
        async fn $name:ident($store:ident: Store, $url:ident: String) $body:block
    )*) => {
        $(
            $(#[doc = $doc])*
            #[allow(unused_variables)]
            async fn $name($store: Store, $url: String) $body
        )*

        mod sqlite {
            $(
                #[tokio::test $(( $($args)* ))?]
                async fn $name() {
                    super::run(carebook::testing::Backend::Sqlite, super::$name).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test $(( $($args)* ))?]
                async fn $name() {
                    super::run(carebook::testing::Backend::Postgres, super::$name).await;
                }
            )*
        }
    };
}

/// Runs `test` over a fresh, migrated store of `backend` (or skips it when
/// PostgreSQL is unreachable outside CI).
async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Store, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some((store, guard)) = open_store(backend) else {
        return;
    };
    assert_eq!(store.backend(), backend.name());
    test(store, guard.url()).await;
    drop(guard);
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
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

fn named(id: &str, name: &str, role: Role) -> UserRecord {
    UserRecord {
        name: name.to_owned(),
        ..user(id, role)
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
        mode: VisitMode::InPerson,
        video_room: None,
    }
}

fn page(limit: u32) -> PageRequest {
    PageRequest { limit, after: None }
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

async fn users(store: &Store, filter: UserFilter) -> Vec<String> {
    store
        .read(move |tx| tx.list_users(&filter, &page(100)))
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id.as_str().to_owned())
        .collect()
}

fn search(q: &str) -> UserFilter {
    UserFilter {
        q: Some(q.to_owned()),
        ..UserFilter::default()
    }
}

fn all_appointments() -> AppointmentFilter {
    AppointmentFilter {
        scope: AppointmentScope::All,
        statuses: Vec::new(),
        from: None,
        to: None,
        doctor_id: None,
        patient_id: None,
        q: None,
        newest_first: false,
    }
}

async fn appointment_ids(store: &Store, filter: AppointmentFilter) -> Vec<String> {
    store
        .read(move |tx| tx.list_appointments(&filter, &page(100)))
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.record.id.as_str().to_owned())
        .collect()
}

contract! {
    #[test]
    async fn overlapping_live_appointments_of_one_doctor_are_refused(store: Store, url: String) {
        seed(&store).await;
        insert(&store, appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30))
            .await
            .unwrap();
        // Another patient, a 20-minute slot starting inside the first one.
        let clash = insert(&store, appointment("a2", "doc1", "pat2", "2026-03-02T09:20:00Z", 20)).await;
        assert_eq!(clash, Err(StoreError::Conflict(Conflict::DoctorSlotTaken)));
        // Back to back is fine.
        insert(&store, appointment("a3", "doc1", "pat2", "2026-03-02T09:30:00Z", 30))
            .await
            .unwrap();
        // The refused insert left nothing behind.
        let found = store
            .read(|tx| tx.find_appointment(&AppointmentId::new("a2")))
            .await
            .unwrap();
        assert!(found.is_none());
    }

    #[test]
    async fn a_patient_cannot_hold_two_overlapping_live_appointments(store: Store, url: String) {
        seed(&store).await;
        insert(&store, appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30))
            .await
            .unwrap();
        let clash = insert(&store, appointment("a2", "doc2", "pat1", "2026-03-02T09:15:00Z", 30)).await;
        assert_eq!(clash, Err(StoreError::Conflict(Conflict::PatientBusy)));
    }

    #[test]
    async fn ending_an_appointment_releases_its_time_and_moving_it_moves_the_claims(store: Store, url: String) {
        seed(&store).await;
        let mut first = appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30);
        insert(&store, first.clone()).await.unwrap();

        // Moving to 10:00 frees 09:00 and takes 10:00.
        first.slot = Interval::new(at("2026-03-02T10:00:00Z"), at("2026-03-02T10:30:00Z")).unwrap();
        let moved = first.clone();
        store.write(move |tx| tx.update_appointment(&moved)).await.unwrap();
        insert(&store, appointment("a2", "doc1", "pat2", "2026-03-02T09:00:00Z", 30))
            .await
            .unwrap();
        let clash = insert(&store, appointment("a3", "doc1", "pat2", "2026-03-02T10:00:00Z", 30)).await;
        assert_eq!(clash, Err(StoreError::Conflict(Conflict::DoctorSlotTaken)));

        // Cancelling frees 10:00.
        first.status = AppointmentStatus::Cancelled;
        store.write(move |tx| tx.update_appointment(&first)).await.unwrap();
        insert(&store, appointment("a3", "doc1", "pat2", "2026-03-02T10:00:00Z", 30))
            .await
            .unwrap();
    }

    #[test]
    async fn a_move_between_live_states_keeps_the_claims_and_an_overlapping_move_frees_only_what_it_left(store: Store, url: String) {
        seed(&store).await;
        let mut first = appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30);
        insert(&store, first.clone()).await.unwrap();

        // Approved: the slot stays taken for the doctor and the patient.
        first.status = AppointmentStatus::Confirmed;
        let approved = first.clone();
        store.write(move |tx| tx.update_appointment(&approved)).await.unwrap();
        let clash = insert(&store, appointment("a2", "doc1", "pat2", "2026-03-02T09:20:00Z", 10)).await;
        assert_eq!(clash, Err(StoreError::Conflict(Conflict::DoctorSlotTaken)));
        let clash = insert(&store, appointment("a2", "doc2", "pat1", "2026-03-02T09:00:00Z", 5)).await;
        assert_eq!(clash, Err(StoreError::Conflict(Conflict::PatientBusy)));

        // Moved by 15 minutes: 09:00-09:15 is free for both, 09:15-09:45 is held.
        first.slot = Interval::new(at("2026-03-02T09:15:00Z"), at("2026-03-02T09:45:00Z")).unwrap();
        let moved = first.clone();
        store.write(move |tx| tx.update_appointment(&moved)).await.unwrap();
        insert(&store, appointment("a2", "doc1", "pat2", "2026-03-02T09:00:00Z", 15))
            .await
            .unwrap();
        insert(&store, appointment("a3", "doc2", "pat1", "2026-03-02T09:00:00Z", 15))
            .await
            .unwrap();
        let clash = insert(&store, appointment("a4", "doc1", "pat2", "2026-03-02T09:40:00Z", 5)).await;
        assert_eq!(clash, Err(StoreError::Conflict(Conflict::DoctorSlotTaken)));
        let clash = insert(&store, appointment("a4", "doc2", "pat1", "2026-03-02T09:15:00Z", 5)).await;
        assert_eq!(clash, Err(StoreError::Conflict(Conflict::PatientBusy)));

        // Another appointment's claims are never released by this one's move.
        first.status = AppointmentStatus::Cancelled;
        store.write(move |tx| tx.update_appointment(&first)).await.unwrap();
        let clash = insert(&store, appointment("a4", "doc1", "pat2", "2026-03-02T09:10:00Z", 5)).await;
        assert_eq!(clash, Err(StoreError::Conflict(Conflict::DoctorSlotTaken)));
        insert(&store, appointment("a4", "doc1", "pat2", "2026-03-02T09:15:00Z", 30))
            .await
            .unwrap();
    }

    #[test]
    async fn busy_slots_read_only_the_window_and_only_live_appointments(store: Store, url: String) {
        seed(&store).await;
        insert(&store, appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30))
            .await
            .unwrap();
        insert(&store, appointment("a2", "doc1", "pat1", "2026-03-09T09:00:00Z", 30))
            .await
            .unwrap();
        let mut cancelled = appointment("a3", "doc1", "pat2", "2026-03-02T11:00:00Z", 30);
        cancelled.status = AppointmentStatus::Cancelled;
        insert(&store, cancelled).await.unwrap();
        // Ends exactly when the window starts: not busy in it.
        insert(&store, appointment("a4", "doc1", "pat2", "2026-03-01T23:30:00Z", 30))
            .await
            .unwrap();

        let week = Interval::new(at("2026-03-02T00:00:00Z"), at("2026-03-09T00:00:00Z")).unwrap();
        let busy = store
            .read(move |tx| tx.busy_slots(&UserId::new("doc1"), week))
            .await
            .unwrap();
        assert_eq!(busy.len(), 1);
        assert_eq!(busy[0].slot.start, at("2026-03-02T09:00:00Z"));
        assert_eq!(busy[0].appointment_id.as_str(), "a1");
    }

    #[test]
    async fn every_committed_change_of_a_doctor_is_reported_once_under_its_next_version(store: Store, url: String) {
        seed(&store).await;
        let seen = Arc::new(Mutex::new(Vec::<CommittedChanges>::new()));
        let sink = seen.clone();
        store.observe(Arc::new(move |changes| sink.lock().unwrap().push(changes.clone())));
        let doc1 = UserId::new("doc1");
        let version = || {
            let (store, doc1) = (store.clone(), doc1.clone());
            async move { store.read(move |tx| tx.availability_version(&doc1)).await.unwrap().unwrap() }
        };
        let v0 = version().await;
        let first = appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30);
        let second = appointment("a2", "doc1", "pat2", "2026-03-02T10:00:00Z", 30);

        insert(&store, first.clone()).await.unwrap();
        // Two changes in one transaction: one version.
        let (mut cancelled, added) = (first.clone(), second.clone());
        cancelled.status = AppointmentStatus::Cancelled;
        store
            .write(move |tx| {
                tx.update_appointment(&cancelled)?;
                tx.insert_appointment(&added)
            })
            .await
            .unwrap();
        // A refused write changes nothing and reports nothing.
        let clash = insert(&store, appointment("a3", "doc1", "pat1", "2026-03-02T10:00:00Z", 30)).await;
        assert_eq!(clash, Err(StoreError::Conflict(Conflict::DoctorSlotTaken)));
        assert_eq!(version().await, v0 + 2);
        // Time off and the doctor's account: reload; a patient's account: nothing.
        let time_off = TimeOffRecord {
            id: TimeOffId::new("off1"),
            doctor_id: doc1.clone(),
            period: Interval::new(at("2026-03-05T00:00:00Z"), at("2026-03-06T00:00:00Z")).unwrap(),
            reason: None,
            created_at: at("2026-03-01T00:00:00Z"),
        };
        store.write(move |tx| tx.insert_time_off(&time_off)).await.unwrap();
        store
            .write(|tx| {
                tx.update_user(&named("doc1", "Dr One", Role::Doctor))?;
                tx.update_user(&named("pat1", "Pat One", Role::Patient))
            })
            .await
            .unwrap();
        // A rating and a photo show on the doctor's search card: reload. A patient's
        // photo: nothing. A doctor who becomes a receptionist: reload (no longer listed).
        let photo = |user: &str| PhotoRecord {
            user_id: UserId::new(user),
            large_key: format!("{user}-large"),
            small_key: format!("{user}-small"),
            version: "v1".into(),
            updated_at: at("2026-03-01T00:00:00Z"),
        };
        store.write(|tx| tx.add_to_rating(&UserId::new("doc1"), 1, 5)).await.unwrap();
        store
            .write(move |tx| {
                tx.put_photo(&photo("doc1"))?;
                tx.put_photo(&photo("pat1"))
            })
            .await
            .unwrap();
        store.write(|tx| tx.delete_photo(&UserId::new("doc1"))).await.unwrap();
        store
            .write(|tx| tx.update_user(&named("doc1", "Dr One", Role::Receptionist)))
            .await
            .unwrap();
        assert_eq!(
            store.write(|tx| tx.begin_availability_change(&UserId::new("nobody"))).await.unwrap(),
            None
        );
        let window = first.slot;
        store.read(move |tx| tx.busy_slots(&UserId::new("doc1"), window)).await.unwrap();

        let change = |version, appointments| CommittedChanges {
            everything: false,
            doctors: vec![AvailabilityChange {
                doctor_id: UserId::new("doc1"),
                version,
                appointments,
            }],
        };
        let busy = |record: &AppointmentRecord, live: bool| BusyChange {
            appointment_id: record.id.clone(),
            slot: live.then_some(record.slot),
        };
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                change(v0 + 1, Some(vec![busy(&first, true)])),
                change(v0 + 2, Some(vec![busy(&first, false), busy(&second, true)])),
                change(v0 + 3, None),
                change(v0 + 4, None),
                change(v0 + 5, None),
                change(v0 + 6, None),
                change(v0 + 7, None),
                change(v0 + 8, None),
            ]
        );
        assert_eq!(version().await, v0 + 8);
    }

    #[test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_writers_for_one_slot_have_exactly_one_winner_and_the_rest_are_unharmed(store: Store, url: String) {
        seed(&store).await;
        let mut attempts = Vec::new();
        for i in 0..40 {
            let store = store.clone();
            // Half race for 09:00 with doctor 1; the other half book distinct slots of doctor 2.
            let record = if i % 2 == 0 {
                appointment(&format!("race{i}"), "doc1", "pat1", "2026-03-02T09:00:00Z", 30)
            } else {
                let start = at("2026-03-03T08:00:00Z") + SignedDuration::from_mins(30 * i);
                let mut r = appointment(&format!("calm{i}"), "doc2", "pat2", "2026-03-03T08:00:00Z", 30);
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
        let live = appointment_ids(&store, all_appointments()).await;
        assert_eq!(live.len(), 21);
    }

    #[test]
    async fn emails_are_unique(store: Store, url: String) {
        seed(&store).await;
        let mut twin = user("pat3", Role::Patient);
        twin.email = "pat1@clinic.test".into();
        let result = store.write(move |tx| tx.insert_user(&twin)).await;
        assert_eq!(result, Err(StoreError::Conflict(Conflict::EmailTaken)));
        // Taking another account's email by an update is refused the same way.
        let mut renamed = user("pat2", Role::Patient);
        renamed.email = "pat1@clinic.test".into();
        let result = store.write(move |tx| tx.update_user(&renamed)).await;
        assert_eq!(result, Err(StoreError::Conflict(Conflict::EmailTaken)));
    }

    #[test]
    async fn users_round_trip_and_are_counted(store: Store, url: String) {
        let mut alice = named("usr_a", "Alice Adams", Role::Patient);
        alice.phone = Some("+49 30 1234567".into());
        alice.date_of_birth = Some("1990-02-28".parse().unwrap());
        alice.status = UserStatus::Pending;
        alice.updated_at = at("2026-03-01T12:34:56.789Z");
        let saved = alice.clone();
        store.write(move |tx| tx.insert_user(&saved)).await.unwrap();
        let found = store.read(|tx| tx.find_user(&UserId::new("usr_a"))).await.unwrap();
        assert_eq!(found.as_ref(), Some(&alice));
        let by_email = store
            .read(|tx| tx.find_user_by_email("usr_a@clinic.test"))
            .await
            .unwrap();
        assert_eq!(by_email.as_ref(), Some(&alice));
        assert_eq!(store.read(|tx| tx.count_users()).await.unwrap(), 1);

        alice.status = UserStatus::Active;
        alice.role = Role::Receptionist;
        alice.phone = None;
        let saved = alice.clone();
        store.write(move |tx| tx.update_user(&saved)).await.unwrap();
        let found = store.read(|tx| tx.find_user(&UserId::new("usr_a"))).await.unwrap();
        assert_eq!(found, Some(alice));
        assert!(store.read(|tx| tx.find_user(&UserId::new("nobody"))).await.unwrap().is_none());
        assert!(store.read(|tx| tx.find_user_by_email("nobody@x")).await.unwrap().is_none());
    }

    #[test]
    async fn user_search_is_case_insensitive_and_takes_wildcards_literally(store: Store, url: String) {
        store
            .write(|tx| {
                tx.insert_user(&named("u1", "Alice Smith", Role::Patient))?;
                tx.insert_user(&named("u2", "BOB JONES", Role::Doctor))?;
                tx.insert_user(&named("u3", "carol_x", Role::Patient))?;
                tx.insert_user(&named("u4", "100% Real", Role::Admin))?;
                tx.insert_user(&named("u5", "back\\slash", Role::Patient))?;
                let mut dave = named("u6", "Dave", Role::Patient);
                dave.email = "dave.smith@Example.test".to_lowercase();
                dave.status = UserStatus::Deactivated;
                tx.insert_user(&dave)
            })
            .await
            .unwrap();
        assert_eq!(users(&store, search("alice")).await, ["u1"]);
        assert_eq!(users(&store, search("SMITH")).await, ["u1", "u6"]);
        assert_eq!(users(&store, search("bob")).await, ["u2"]);
        assert_eq!(users(&store, search("jOnEs")).await, ["u2"]);
        // The email matches too.
        assert_eq!(users(&store, search("EXAMPLE.TEST")).await, ["u6"]);
        // `_`, `%` and `\` match themselves only.
        assert_eq!(users(&store, search("_")).await, ["u3"]);
        assert_eq!(users(&store, search("%")).await, ["u4"]);
        assert_eq!(users(&store, search("\\")).await, ["u5"]);
        assert!(users(&store, search("zzz")).await.is_empty());
        // Role and status filters combine with the search.
        let doctors = UserFilter {
            role: Some(Role::Doctor),
            ..UserFilter::default()
        };
        assert_eq!(users(&store, doctors).await, ["u2"]);
        let deactivated_smiths = UserFilter {
            q: Some("smith".into()),
            status: Some(UserStatus::Deactivated),
            ..UserFilter::default()
        };
        assert_eq!(users(&store, deactivated_smiths).await, ["u6"]);
    }

    #[test]
    async fn user_pages_follow_name_then_id_byte_order_and_cursors_resume(store: Store, url: String) {
        let names = [
            ("u07", "adam"),
            ("u03", "Zed"),
            ("u05", "Émile"),
            ("u01", "adam"),
            ("u02", "Bea"),
            ("u09", "bea"),
            ("u04", "Adam"),
            ("u08", "_under"),
            ("u06", "zed"),
        ];
        store
            .write(move |tx| {
                for (id, name) in names {
                    tx.insert_user(&named(id, name, Role::Patient))?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        // The order SQLite gives (BINARY collation): bytes of the name, then the id.
        let mut expected: Vec<(String, String)> = names
            .iter()
            .map(|(id, name)| (name.to_string(), id.to_string()))
            .collect();
        expected.sort();
        let expected: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let request = PageRequest { limit: 2, after: after.clone() };
            let batch = store
                .read(move |tx| tx.list_users(&UserFilter::default(), &request))
                .await
                .unwrap();
            assert!(batch.len() <= 2);
            let Some(last) = batch.last() else { break };
            after = Some(Cursor {
                key: last.name.clone(),
                id: last.id.as_str().to_owned(),
            });
            seen.extend(batch.iter().map(|u| u.id.as_str().to_owned()));
        }
        assert_eq!(seen, expected);
    }

    #[test]
    async fn login_attempts_are_counted_per_email_and_client_within_the_window(store: Store, url: String) {
        let attempts = [
            ("a@x.test", "10.0.0.1", "2026-03-02T08:00:00Z", false),
            ("a@x.test", "10.0.0.1", "2026-03-02T08:05:00Z", false),
            ("a@x.test", "10.0.0.2", "2026-03-02T08:10:00Z", true),
            ("a@x.test", "10.0.0.2", "2026-03-02T08:20:00Z", false),
            ("b@x.test", "10.0.0.1", "2026-03-02T08:30:00Z", false),
            ("b@x.test", "10.0.0.1", "2026-03-02T08:31:00Z", true),
            ("a@x.test", "10.0.0.1", "2026-03-02T07:00:00Z", false),
        ];
        store
            .write(move |tx| {
                for (email, client, when, succeeded) in attempts {
                    tx.record_login_attempt(&LoginAttempt {
                        email: email.into(),
                        client: client.into(),
                        at: at(when),
                        succeeded,
                    })?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let counts = store
            .read(|tx| {
                let since = at("2026-03-02T08:00:00Z");
                Ok::<_, StoreError>((
                    tx.count_failed_logins(LoginKey::Email("a@x.test"), since)?,
                    tx.count_failed_logins(LoginKey::Email("b@x.test"), since)?,
                    tx.count_failed_logins(LoginKey::Client("10.0.0.1"), since)?,
                    tx.count_failed_logins(LoginKey::Client("10.0.0.2"), since)?,
                    tx.count_failed_logins(LoginKey::Email("a@x.test"), at("2026-03-02T08:10:00Z"))?,
                    tx.count_failed_logins(LoginKey::Email("nobody@x.test"), since)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(counts, (3, 1, 3, 1, 1, 0));
        let last = store
            .read(|tx| {
                Ok::<_, StoreError>((
                    tx.last_login_success("a@x.test")?,
                    tx.last_login_success("b@x.test")?,
                    tx.last_login_success("nobody@x.test")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            last,
            (
                Some(at("2026-03-02T08:10:00Z")),
                Some(at("2026-03-02T08:31:00Z")),
                None
            )
        );
    }

    #[test]
    async fn sessions_are_found_deleted_and_expired(store: Store, url: String) {
        seed(&store).await;
        let session = |hash: &str, user: &str, expires: &str| SessionRecord {
            token_hash: hash.into(),
            user_id: UserId::new(user),
            csrf_token: (hash == "h1").then(|| "csrf".to_owned()),
            created_at: at("2026-03-02T08:00:00Z"),
            expires_at: at(expires),
        };
        let sessions = [
            session("h1", "pat1", "2026-03-03T08:00:00Z"),
            session("h2", "pat1", "2026-03-03T09:00:00Z"),
            session("h3", "pat2", "2026-03-02T09:00:00Z"),
            session("h4", "pat2", "2026-03-04T09:00:00Z"),
        ];
        let first = sessions[0].clone();
        store
            .write(move |tx| {
                for s in &sessions {
                    tx.insert_session(s)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let found = store.read(|tx| tx.find_session("h1")).await.unwrap();
        assert_eq!(found, Some(first));
        assert!(store.read(|tx| tx.find_session("nope")).await.unwrap().is_none());

        store.write(|tx| tx.delete_session("h1")).await.unwrap();
        assert!(store.read(|tx| tx.find_session("h1")).await.unwrap().is_none());
        assert!(store.read(|tx| tx.find_session("h2")).await.unwrap().is_some());

        store.write(|tx| tx.delete_sessions_of(&UserId::new("pat1"))).await.unwrap();
        assert!(store.read(|tx| tx.find_session("h2")).await.unwrap().is_none());

        // Expiry is inclusive: a session expiring exactly now is gone.
        store
            .write(|tx| tx.delete_expired_sessions(at("2026-03-02T09:00:00Z")))
            .await
            .unwrap();
        assert!(store.read(|tx| tx.find_session("h3")).await.unwrap().is_none());
        assert!(store.read(|tx| tx.find_session("h4")).await.unwrap().is_some());
    }

    #[test]
    async fn audit_lists_newest_first_with_filters_and_a_cursor(store: Store, url: String) {
        let entries = [
            ("2026-03-02T08:00:00Z", Some("adm"), "user.created", "user", Some("u1")),
            ("2026-03-02T08:01:00Z", Some("adm"), "user.deactivated", "user", Some("u1")),
            ("2026-03-02T08:02:00Z", None, "login.failed", "user", None),
            ("2026-03-02T08:03:00Z", Some("rec"), "user.created", "user", Some("u2")),
            ("2026-03-02T08:04:00Z", Some("adm"), "appointment.booked", "appointment", Some("a1")),
        ];
        store
            .write(move |tx| {
                for (i, (when, actor, action, subject_type, subject)) in entries.into_iter().enumerate() {
                    tx.append_audit(&NewAuditEntry {
                        at: at(when),
                        actor_id: actor.map(UserId::new),
                        action: action.into(),
                        subject_type: subject_type.into(),
                        subject_id: subject.map(str::to_owned),
                        detail: json!({ "n": i, "note": "ünïcode ✓" }),
                    })?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let list = |filter: AuditFilter, request: PageRequest| {
            let store = store.clone();
            async move {
                store
                    .read(move |tx| tx.list_audit(&filter, &request))
                    .await
                    .unwrap()
            }
        };
        let all = list(AuditFilter::default(), page(10)).await;
        let actions: Vec<&str> = all.iter().map(|e| e.entry.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "appointment.booked",
                "user.created",
                "login.failed",
                "user.deactivated",
                "user.created"
            ]
        );
        assert!(all.windows(2).all(|w| w[0].id > w[1].id));
        assert_eq!(all[4].entry.detail, json!({ "n": 0, "note": "ünïcode ✓" }));
        assert_eq!(all[2].entry.actor_id, None);
        assert_eq!(all[2].entry.subject_id, None);
        assert_eq!(all[0].entry.at, at("2026-03-02T08:04:00Z"));

        let by_actor = list(
            AuditFilter { actor_id: Some(UserId::new("adm")), ..AuditFilter::default() },
            page(10),
        )
        .await;
        assert_eq!(by_actor.len(), 3);
        let by_subject = list(
            AuditFilter { subject_id: Some("u1".into()), ..AuditFilter::default() },
            page(10),
        )
        .await;
        assert_eq!(by_subject.len(), 2);
        let by_action = list(
            AuditFilter { action: Some("user.created".into()), ..AuditFilter::default() },
            page(10),
        )
        .await;
        assert_eq!(by_action.len(), 2);
        // `from` is inclusive, `to` exclusive.
        let window = list(
            AuditFilter {
                from: Some(at("2026-03-02T08:01:00Z")),
                to: Some(at("2026-03-02T08:03:00Z")),
                ..AuditFilter::default()
            },
            page(10),
        )
        .await;
        let actions: Vec<&str> = window.iter().map(|e| e.entry.action.as_str()).collect();
        assert_eq!(actions, ["login.failed", "user.deactivated"]);

        // Pages of two, resumed after the last id seen.
        let first = list(AuditFilter::default(), page(2)).await;
        let second = list(
            AuditFilter::default(),
            PageRequest {
                limit: 2,
                after: Some(Cursor { key: String::new(), id: first[1].id.to_string() }),
            },
        )
        .await;
        let ids: Vec<i64> = first.iter().chain(&second).map(|e| e.id).collect();
        let expected: Vec<i64> = all.iter().take(4).map(|e| e.id).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    async fn time_off_is_listed_by_overlap_with_the_window_and_deleted_by_its_doctor(store: Store, url: String) {
        seed(&store).await;
        let off = |id: &str, doctor: &str, start: &str, end: &str| TimeOffRecord {
            id: TimeOffId::new(id),
            doctor_id: UserId::new(doctor),
            period: Interval::new(at(start), at(end)).unwrap(),
            reason: (id == "t2").then(|| "Congress".to_owned()),
            created_at: at("2026-03-01T00:00:00Z"),
        };
        let records = [
            off("t1", "doc1", "2026-03-01T00:00:00Z", "2026-03-02T00:00:00Z"),
            off("t2", "doc1", "2026-03-02T12:00:00Z", "2026-03-02T14:00:00Z"),
            off("t3", "doc1", "2026-03-05T00:00:00Z", "2026-03-10T00:00:00Z"),
            off("t4", "doc1", "2026-03-09T00:00:00Z", "2026-03-11T00:00:00Z"),
            off("t5", "doc2", "2026-03-03T00:00:00Z", "2026-03-04T00:00:00Z"),
        ];
        let second = records[1].clone();
        store
            .write(move |tx| {
                for r in &records {
                    tx.insert_time_off(r)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let week = Interval::new(at("2026-03-02T00:00:00Z"), at("2026-03-09T00:00:00Z")).unwrap();
        let listed = store
            .read(move |tx| tx.list_time_off(&UserId::new("doc1"), week))
            .await
            .unwrap();
        // t1 ends when the window starts and t4 starts when it ends: neither overlaps.
        let ids: Vec<&str> = listed.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t2", "t3"]);
        assert_eq!(listed[0], second);

        // Another doctor's time off cannot be deleted through this one.
        let wrong = store
            .write(|tx| tx.delete_time_off(&UserId::new("doc2"), &TimeOffId::new("t2")))
            .await
            .unwrap();
        assert!(!wrong);
        let deleted = store
            .write(|tx| tx.delete_time_off(&UserId::new("doc1"), &TimeOffId::new("t2")))
            .await
            .unwrap();
        assert!(deleted);
        let again = store
            .write(|tx| tx.delete_time_off(&UserId::new("doc1"), &TimeOffId::new("t2")))
            .await
            .unwrap();
        assert!(!again);
    }

    #[test]
    async fn appointment_lists_filter_sort_and_page_both_ways(store: Store, url: String) {
        store
            .write(|tx| {
                for (id, name, role) in [
                    ("doc1", "Dr. Hannah Weber", Role::Doctor),
                    ("doc2", "Dr. Omar Haddad", Role::Doctor),
                    ("pat1", "Paula Schmidt", Role::Patient),
                    ("pat2", "Peter Novak", Role::Patient),
                ] {
                    let account = named(id, name, role);
                    tx.insert_user(&account)?;
                    if role == Role::Doctor {
                        tx.upsert_doctor(&DoctorRecord::new_for(&account, jiff::tz::TimeZone::UTC))?;
                    }
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let mut records = vec![
            appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30),
            appointment("a2", "doc2", "pat1", "2026-03-03T09:00:00Z", 30),
            appointment("a3", "doc1", "pat2", "2026-03-04T09:00:00Z", 30),
            appointment("a4", "doc2", "pat2", "2026-03-05T09:00:00Z", 30),
            // Same start as a4 (another doctor and patient): the id breaks the tie.
            appointment("a0", "doc1", "pat1", "2026-03-05T09:00:00Z", 30),
        ];
        records[1].status = AppointmentStatus::Confirmed;
        records[2].status = AppointmentStatus::Cancelled;
        store
            .write(move |tx| {
                for r in &records {
                    tx.insert_appointment(r)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();

        assert_eq!(appointment_ids(&store, all_appointments()).await, ["a1", "a2", "a3", "a0", "a4"]);
        let newest = AppointmentFilter { newest_first: true, ..all_appointments() };
        assert_eq!(appointment_ids(&store, newest).await, ["a4", "a0", "a3", "a2", "a1"]);

        let as_patient = AppointmentFilter {
            scope: AppointmentScope::AsPatient(UserId::new("pat1")),
            ..all_appointments()
        };
        assert_eq!(appointment_ids(&store, as_patient).await, ["a1", "a2", "a0"]);
        let as_doctor = AppointmentFilter {
            scope: AppointmentScope::AsDoctor(UserId::new("doc2")),
            ..all_appointments()
        };
        assert_eq!(appointment_ids(&store, as_doctor).await, ["a2", "a4"]);
        let statuses = AppointmentFilter {
            statuses: vec![AppointmentStatus::Confirmed, AppointmentStatus::Cancelled],
            ..all_appointments()
        };
        assert_eq!(appointment_ids(&store, statuses).await, ["a2", "a3"]);
        let window = AppointmentFilter {
            from: Some(at("2026-03-03T09:00:00Z")),
            to: Some(at("2026-03-05T09:00:00Z")),
            ..all_appointments()
        };
        assert_eq!(appointment_ids(&store, window).await, ["a2", "a3"]);
        let doctor_and_patient = AppointmentFilter {
            doctor_id: Some(UserId::new("doc1")),
            patient_id: Some(UserId::new("pat2")),
            ..all_appointments()
        };
        assert_eq!(appointment_ids(&store, doctor_and_patient).await, ["a3"]);
        // The search matches the doctor's or the patient's name, in any case.
        let by_doctor_name = AppointmentFilter { q: Some("HADDAD".into()), ..all_appointments() };
        assert_eq!(appointment_ids(&store, by_doctor_name).await, ["a2", "a4"]);
        let by_patient_name = AppointmentFilter { q: Some("novak".into()), ..all_appointments() };
        assert_eq!(appointment_ids(&store, by_patient_name).await, ["a3", "a4"]);

        let view = store
            .read(|tx| tx.find_appointment(&AppointmentId::new("a2")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(view.doctor_name, "Dr. Omar Haddad");
        assert_eq!(view.patient_name, "Paula Schmidt");
        assert_eq!(view.record.status, AppointmentStatus::Confirmed);

        // Pages of two in both directions, resumed by (start, id) cursors.
        for newest_first in [false, true] {
            let filter = AppointmentFilter { newest_first, ..all_appointments() };
            let expected = appointment_ids(&store, filter.clone()).await;
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let request = PageRequest { limit: 2, after: after.clone() };
                let filter = filter.clone();
                let batch = store
                    .read(move |tx| tx.list_appointments(&filter, &request))
                    .await
                    .unwrap();
                let Some(last) = batch.last() else { break };
                after = Some(Cursor {
                    key: last.record.slot.start.as_millisecond().to_string(),
                    id: last.record.id.as_str().to_owned(),
                });
                seen.extend(batch.iter().map(|a| a.record.id.as_str().to_owned()));
            }
            assert_eq!(seen, expected, "newest_first = {newest_first}");
        }
    }

    #[test]
    async fn specialties_are_found_by_id_or_slug_and_are_unique(store: Store, url: String) {
        let specialty = |id: &str, name: &str, slug: &str| Specialty {
            id: SpecialtyId::new(id),
            name: name.into(),
            slug: slug.into(),
        };
        let cardiology = specialty("spc_1", "Cardiology", "cardiology");
        let saved = cardiology.clone();
        store
            .write(move |tx| {
                tx.insert_specialty(&saved)?;
                tx.insert_specialty(&specialty("spc_2", "Allergology", "allergology"))
            })
            .await
            .unwrap();
        let by_id = store.read(|tx| tx.find_specialty("spc_1")).await.unwrap();
        assert_eq!(by_id.as_ref(), Some(&cardiology));
        let by_slug = store.read(|tx| tx.find_specialty("cardiology")).await.unwrap();
        assert_eq!(by_slug, Some(cardiology));
        assert!(store.read(|tx| tx.find_specialty("Cardiology")).await.unwrap().is_none());
        let names: Vec<String> = store
            .read(|tx| tx.list_specialties())
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["Allergology", "Cardiology"]);

        let same_name = store
            .write(move |tx| tx.insert_specialty(&specialty("spc_3", "Cardiology", "cardio-2")))
            .await;
        assert_eq!(same_name, Err(StoreError::Conflict(Conflict::SpecialtyExists)));
        let same_slug = store
            .write(move |tx| tx.insert_specialty(&specialty("spc_4", "Heart", "cardiology")))
            .await;
        assert_eq!(same_slug, Err(StoreError::Conflict(Conflict::SpecialtyExists)));
    }

    #[test]
    async fn a_doctor_profile_round_trips_and_lists_filter_by_name_specialty_and_status(store: Store, url: String) {
        let interval = |day: Weekday, start: (i8, i8), end: (i8, i8)| WeeklyInterval {
            day,
            start: Time::new(start.0, start.1, 0, 0).unwrap(),
            end: Time::new(end.0, end.1, 0, 0).unwrap(),
        };
        let account = named("doc1", "Dr. Hannah Weber", Role::Doctor);
        let mut doctor = DoctorRecord::new_for(&account, jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        doctor.bio = Some("Cardiologist.".into());
        doctor.qualifications = Some("MD, FESC".into());
        doctor.years_experience = Some(12);
        doctor.languages = vec!["de".into(), "en".into(), "tr".into()];
        doctor.fee = Some(Fee { amount: 8500, currency: "EUR".into() });
        doctor.schedule.slot_minutes = 20;
        doctor.schedule.rules.auto_confirm = true;
        doctor.schedule.rules.min_notice_minutes = 45;
        doctor.schedule.rules.horizon_days = 90;
        doctor.schedule.rules.cancel_window_hours = 12;
        doctor.schedule.weekly_hours = vec![
            interval(Weekday::Monday, (8, 0), (12, 30)),
            interval(Weekday::Monday, (14, 0), (18, 0)),
            // Ends at 24:00 (midnight that ends the day).
            interval(Weekday::Friday, (20, 0), (0, 0)),
            interval(Weekday::Sunday, (0, 0), (6, 5)),
        ];
        doctor.specialty_ids = vec![SpecialtyId::new("spc_a"), SpecialtyId::new("spc_b")];
        let other = named("doc2", "Dr. Omar Haddad", Role::Doctor);
        let mut inactive = named("doc3", "Dr. Ida Weber", Role::Doctor);
        inactive.status = UserStatus::Deactivated;
        let saved = doctor.clone();
        store
            .write(move |tx| {
                for (id, name) in [("spc_a", "Cardiology"), ("spc_b", "Internal medicine")] {
                    tx.insert_specialty(&Specialty {
                        id: SpecialtyId::new(id),
                        name: name.into(),
                        slug: id.into(),
                    })?;
                }
                tx.insert_user(&account)?;
                tx.upsert_doctor(&saved)?;
                for account in [&other, &inactive] {
                    tx.insert_user(account)?;
                    let mut profile = DoctorRecord::new_for(account, jiff::tz::TimeZone::UTC);
                    profile.specialty_ids = vec![SpecialtyId::new("spc_b")];
                    tx.upsert_doctor(&profile)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        let found = store
            .read(|tx| tx.find_doctor(&UserId::new("doc1")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, doctor);
        assert!(store.read(|tx| tx.find_doctor(&UserId::new("nobody"))).await.unwrap().is_none());

        // An upsert replaces hours, languages and specialties; no fee is stored as none.
        let mut changed = doctor.clone();
        changed.fee = None;
        changed.languages.clear();
        changed.years_experience = None;
        changed.schedule.weekly_hours.truncate(1);
        changed.specialty_ids = vec![SpecialtyId::new("spc_b")];
        changed.schedule.time_zone = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let saved = changed.clone();
        store.write(move |tx| tx.upsert_doctor(&saved)).await.unwrap();
        let found = store
            .read(|tx| tx.find_doctor(&UserId::new("doc1")))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, changed);

        let list = |filter: DoctorFilter| {
            let store = store.clone();
            async move {
                store
                    .read(move |tx| tx.list_doctors(&filter, &page(10)))
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|d| d.user_id.as_str().to_owned())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(list(DoctorFilter::default()).await, ["doc1", "doc3", "doc2"]);
        assert_eq!(
            list(DoctorFilter { only_active: true, ..DoctorFilter::default() }).await,
            ["doc1", "doc2"]
        );
        assert_eq!(
            list(DoctorFilter { q: Some("weber".into()), ..DoctorFilter::default() }).await,
            ["doc1", "doc3"]
        );
        assert_eq!(
            list(DoctorFilter { specialty_id: Some(SpecialtyId::new("spc_a")), ..DoctorFilter::default() }).await,
            Vec::<String>::new()
        );
        assert_eq!(
            list(DoctorFilter {
                specialty_id: Some(SpecialtyId::new("spc_b")),
                only_active: true,
                ..DoctorFilter::default()
            })
            .await,
            ["doc1", "doc2"]
        );
        let second_page = store
            .read(|tx| {
                tx.list_doctors(
                    &DoctorFilter::default(),
                    &PageRequest {
                        limit: 5,
                        after: Some(Cursor { key: "Dr. Hannah Weber".into(), id: "doc1".into() }),
                    },
                )
            })
            .await
            .unwrap();
        let ids: Vec<&str> = second_page.iter().map(|d| d.user_id.as_str()).collect();
        assert_eq!(ids, ["doc3", "doc2"]);
        // A listed doctor carries hours and specialties too.
        assert_eq!(second_page[1].specialty_ids, [SpecialtyId::new("spc_b")]);
        assert_eq!(second_page[1].status, UserStatus::Active);

        // What search lists from: ids and names in the same order, and the directory
        // of every doctor with status and specialties.
        let names = store
            .read(|tx| {
                tx.list_doctor_names(
                    &DoctorFilter { q: Some("weber".into()), ..DoctorFilter::default() },
                    &page(10),
                )
            })
            .await
            .unwrap();
        assert_eq!(
            names,
            [
                (UserId::new("doc1"), "Dr. Hannah Weber".to_owned()),
                (UserId::new("doc3"), "Dr. Ida Weber".to_owned())
            ]
        );
        let both = SpecialtyId::new("spc_a");
        store
            .write(move |tx| {
                let mut doctor = tx.find_doctor(&UserId::new("doc2"))?.unwrap();
                doctor.specialty_ids = vec![both, SpecialtyId::new("spc_b")];
                tx.upsert_doctor(&doctor)?;
                tx.insert_user(&named("pat9", "A patient", Role::Patient))
            })
            .await
            .unwrap();
        let listed = |id: &str, name: &str, status, specialties: &[&str]| ListedDoctor {
            id: UserId::new(id),
            name: name.into(),
            status,
            specialty_ids: specialties.iter().map(|s| SpecialtyId::new(*s)).collect(),
        };
        assert_eq!(
            store.read(|tx| tx.list_doctor_directory()).await.unwrap(),
            [
                listed("doc1", "Dr. Hannah Weber", UserStatus::Active, &["spc_b"]),
                listed("doc3", "Dr. Ida Weber", UserStatus::Deactivated, &["spc_b"]),
                listed("doc2", "Dr. Omar Haddad", UserStatus::Active, &["spc_a", "spc_b"]),
            ]
        );
    }

    #[test]
    async fn events_are_numbered_per_appointment_and_meetings_are_known(store: Store, url: String) {
        seed(&store).await;
        insert(&store, appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30))
            .await
            .unwrap();
        insert(&store, appointment("a2", "doc2", "pat2", "2026-03-02T09:00:00Z", 30))
            .await
            .unwrap();
        let event = |id: &str, action: &str, from: Option<AppointmentStatus>, to: AppointmentStatus| AppointmentEvent {
            appointment_id: AppointmentId::new(id),
            seq: 0,
            at: at("2026-03-01T10:00:00Z"),
            actor_id: Some(UserId::new("pat1")),
            action: action.into(),
            from_status: from,
            to_status: to,
            from_start: from.map(|_| at("2026-03-02T09:00:00Z")),
            to_start: Some(at("2026-03-02T09:00:00Z")),
            reason: (action == "cancel").then(|| "ill".to_owned()),
        };
        store
            .write(move |tx| {
                tx.append_appointment_event(&event("a1", "book", None, AppointmentStatus::Requested))?;
                tx.append_appointment_event(&event("a2", "book", None, AppointmentStatus::Requested))?;
                tx.append_appointment_event(&event(
                    "a1",
                    "confirm",
                    Some(AppointmentStatus::Requested),
                    AppointmentStatus::Confirmed,
                ))
            })
            .await
            .unwrap();
        store
            .write(move |tx| {
                tx.append_appointment_event(&event(
                    "a1",
                    "cancel",
                    Some(AppointmentStatus::Confirmed),
                    AppointmentStatus::Cancelled,
                ))
            })
            .await
            .unwrap();
        let history = store
            .read(|tx| tx.appointment_events(&AppointmentId::new("a1")))
            .await
            .unwrap();
        let steps: Vec<(i64, &str)> = history.iter().map(|e| (e.seq, e.action.as_str())).collect();
        assert_eq!(steps, [(1, "book"), (2, "confirm"), (3, "cancel")]);
        assert_eq!(history[2].reason.as_deref(), Some("ill"));
        assert_eq!(history[2].from_status, Some(AppointmentStatus::Confirmed));
        assert_eq!(history[0].from_start, None);
        let other = store
            .read(|tx| tx.appointment_events(&AppointmentId::new("a2")))
            .await
            .unwrap();
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].seq, 1);

        let met = store
            .read(|tx| {
                Ok::<_, StoreError>((
                    tx.have_met(&UserId::new("doc1"), &UserId::new("pat1"))?,
                    tx.have_met(&UserId::new("doc1"), &UserId::new("pat2"))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(met, (true, false));
    }

    /// Live and treated appointments make a care relationship; rejected, cancelled
    /// and no-show ones alone do not (`have_met` counts them all).
    #[test]
    async fn a_care_relationship_follows_the_appointment_status(store: Store, url: String) {
        seed(&store).await;
        for (i, status) in AppointmentStatus::ALL.into_iter().enumerate() {
            let id = format!("care{i}");
            let mut record = appointment(&id, "doc1", "pat1", "2026-03-10T08:00:00Z", 30);
            record.slot = Interval::new(
                record.slot.start + SignedDuration::from_hours(i as i64),
                record.slot.end + SignedDuration::from_hours(i as i64),
            )
            .unwrap();
            insert(&store, record.clone()).await.unwrap();
            let (care, met) = store
                .write(move |tx| {
                    record.status = status;
                    tx.update_appointment(&record)?;
                    let care = tx.care_relationship(&UserId::new("doc1"), &UserId::new("pat1"))?;
                    let met = tx.have_met(&UserId::new("doc1"), &UserId::new("pat1"))?;
                    // Undo, so the next status is judged alone.
                    record.status = AppointmentStatus::Cancelled;
                    tx.update_appointment(&record)?;
                    Ok::<_, StoreError>((care, met))
                })
                .await
                .unwrap();
            assert!(met, "{status:?}");
            assert_eq!(care, status.makes_care_relationship(), "{status:?}");
        }
        let odd = store
            .read(|tx| tx.care_relationship(&UserId::new("doc1\0"), &UserId::new("pat1")))
            .await
            .unwrap();
        assert!(!odd);
    }

    /// Of two new versions built on the same one, the second is refused and writes
    /// nothing; a second record for one appointment is refused.
    #[test]
    async fn record_versions_are_never_overwritten(store: Store, url: String) {
        seed(&store).await;
        insert(&store, appointment("apt1", "doc1", "pat1", "2026-03-10T08:00:00Z", 30))
            .await
            .unwrap();
        let now = at("2026-03-10T09:00:00Z");
        let row = RecordRow {
            id: "rec1".into(),
            appointment_id: AppointmentId::new("apt1"),
            patient_id: UserId::new("pat1"),
            author_id: UserId::new("doc1"),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let version = |n: i64, content: &str| RecordVersion {
            record_id: "rec1".into(),
            version: n,
            at: now,
            author_id: UserId::new("doc1"),
            reason: (n > 1).then(|| format!("amendment {n}")),
            content: content.into(),
        };
        let (first, again) = (version(1, "{}"), version(1, "{}"));
        let twice = RecordRow {
            id: "rec2".into(),
            ..row.clone()
        };
        store
            .write(move |tx| tx.insert_record(&row, &first))
            .await
            .unwrap();
        let refused = store
            .write(move |tx| tx.insert_record(&twice, &again))
            .await;
        assert_eq!(refused, Err(StoreError::Conflict(Conflict::RecordExists)));
        let (v2, stale) = (version(2, r#"{"a":1}"#), version(2, r#"{"a":2}"#));
        store
            .write(move |tx| tx.append_record_version(&v2))
            .await
            .unwrap();
        let refused = store
            .write(move |tx| tx.append_record_version(&stale))
            .await;
        assert_eq!(refused, Err(StoreError::Conflict(Conflict::StaleVersion)));
        let (record, versions) = store
            .read(|tx| {
                Ok::<_, StoreError>((tx.find_record("rec1")?, tx.record_versions("rec1")?))
            })
            .await
            .unwrap();
        assert_eq!(record.unwrap().version, 2);
        let contents: Vec<_> = versions.iter().map(|v| v.version.content.as_str()).collect();
        assert_eq!(contents, ["{}", r#"{"a":1}"#]);
        assert_eq!(versions[1].author_name, "doc1");
    }

    #[test]
    async fn a_failed_or_panicking_write_leaves_nothing_and_the_store_goes_on(store: Store, url: String) {
        let failed = store
            .write(|tx| {
                tx.insert_user(&user("u1", Role::Patient))?;
                Err::<(), _>(StoreError::Internal("changed my mind".into()))
            })
            .await;
        assert_eq!(failed, Err(StoreError::Internal("changed my mind".into())));
        let panicked = store
            .write(|tx| -> Result<(), StoreError> {
                tx.insert_user(&user("u2", Role::Patient))?;
                panic!("a bug in a use case (expected by this test)");
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Internal(_))));
        assert_eq!(store.read(|tx| tx.count_users()).await.unwrap(), 0);
        // Reads cannot write.
        let written = store.read(|tx| tx.insert_user(&user("u3", Role::Patient))).await;
        assert!(matches!(written, Err(StoreError::Internal(_))), "{written:?}");
        // And the store still works.
        store.write(|tx| tx.insert_user(&user("u4", Role::Patient))).await.unwrap();
        assert_eq!(store.read(|tx| tx.count_users()).await.unwrap(), 1);
    }

    #[test]
    async fn keys_and_filters_holding_a_nul_match_nothing_and_odd_text_is_recorded(store: Store, url: String) {
        // PostgreSQL's TEXT cannot hold NUL; SQLite's can. Either way a lookup by such
        // a key finds nothing, rather than failing.
        seed(&store).await;
        let odd = "pat1\0";
        let found = store
            .read(move |tx| {
                Ok::<_, StoreError>((
                    tx.find_user(&UserId::new(odd))?.is_none(),
                    tx.find_user_by_email(odd)?.is_none(),
                    tx.find_session(odd)?.is_none(),
                    tx.find_specialty(odd)?.is_none(),
                    tx.find_doctor(&UserId::new("doc1\0"))?.is_none(),
                    tx.find_appointment(&AppointmentId::new(odd))?.is_none(),
                    tx.appointment_events(&AppointmentId::new(odd))?.is_empty(),
                    tx.have_met(&UserId::new("doc1\0"), &UserId::new(odd))?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(found, (true, true, true, true, true, true, true, false));
        assert!(users(&store, search("\0")).await.is_empty());
        let by_name = AppointmentFilter { q: Some("\0".into()), ..all_appointments() };
        assert!(appointment_ids(&store, by_name).await.is_empty());
        let doctors = store
            .read(|tx| {
                tx.list_doctors(
                    &DoctorFilter { q: Some("d\0".into()), ..DoctorFilter::default() },
                    &page(10),
                )
            })
            .await
            .unwrap();
        assert!(doctors.is_empty());
        let week = Interval::new(at("2026-03-02T00:00:00Z"), at("2026-03-09T00:00:00Z")).unwrap();
        let busy = store
            .read(move |tx| tx.busy_slots(&UserId::new("doc1\0"), week))
            .await
            .unwrap();
        assert!(busy.is_empty());
        store
            .write(move |tx| {
                tx.delete_session(odd)?;
                tx.delete_sessions_of(&UserId::new(odd))?;
                assert!(!tx.delete_time_off(&UserId::new("doc1\0"), &TimeOffId::new(odd))?);
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();

        // Unvalidated text that is recorded as given (a login attempt's email and
        // client, an audit entry's keys) is stored and counted all the same.
        store
            .write(move |tx| {
                for _ in 0..2 {
                    tx.record_login_attempt(&LoginAttempt {
                        email: odd.into(),
                        client: "10.0.0.1\0".into(),
                        at: at("2026-03-02T08:00:00Z"),
                        succeeded: false,
                    })?;
                }
                tx.append_audit(&NewAuditEntry {
                    at: at("2026-03-02T08:00:00Z"),
                    actor_id: None,
                    action: "login.failed\0".into(),
                    subject_type: "user".into(),
                    subject_id: Some(odd.into()),
                    detail: json!({ "email": odd }),
                })
            })
            .await
            .unwrap();
        let counts = store
            .read(move |tx| {
                let since = at("2026-03-02T00:00:00Z");
                Ok::<_, StoreError>((
                    tx.count_failed_logins(LoginKey::Email(odd), since)?,
                    tx.count_failed_logins(LoginKey::Client("10.0.0.1\0"), since)?,
                    tx.count_failed_logins(LoginKey::Email("pat1"), since)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(counts, (2, 2, 0));
        let audit = store
            .read(|tx| tx.list_audit(&AuditFilter::default(), &page(10)))
            .await
            .unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].entry.detail, json!({ "email": odd }));
    }

    #[test]
    async fn migrating_again_changes_nothing_and_the_schema_is_current(store: Store, url: String) {
        seed(&store).await;
        assert!(store.read(|tx| tx.schema_is_current()).await.unwrap());
        Store::migrate(&url).unwrap();
        Store::migrate(&url).unwrap();
        assert!(store.read(|tx| tx.schema_is_current()).await.unwrap());
        assert_eq!(store.read(|tx| tx.count_users()).await.unwrap(), 4);
        // A second handle on the same database sees the same data.
        let again = Store::open(&url).unwrap();
        assert_eq!(again.read(|tx| tx.count_users()).await.unwrap(), 4);
    }

    #[test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_read_modify_writes_of_one_row_lose_nothing(store: Store, url: String) {
        seed(&store).await;
        insert(&store, appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30))
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..12 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .write(move |tx| {
                        // Appointment: read, change, write back, record history.
                        let id = AppointmentId::new("a1");
                        let mut view = tx.find_appointment(&id)?.expect("a1 exists");
                        std::thread::sleep(Duration::from_millis(2));
                        let mut reason = view.record.reason.unwrap_or_default();
                        reason.push_str(&format!("[{i}]"));
                        view.record.reason = Some(reason);
                        tx.update_appointment(&view.record)?;
                        tx.append_appointment_event(&AppointmentEvent {
                            appointment_id: id,
                            seq: 0,
                            at: at("2026-03-01T10:00:00Z"),
                            actor_id: None,
                            action: "note".into(),
                            from_status: Some(view.record.status),
                            to_status: view.record.status,
                            from_start: None,
                            to_start: None,
                            reason: None,
                        })?;
                        // Account: the same.
                        let mut account = tx.find_user(&UserId::new("pat2"))?.expect("pat2 exists");
                        std::thread::sleep(Duration::from_millis(2));
                        account.name.push('+');
                        tx.update_user(&account)?;
                        // Doctor profile: the same.
                        let mut doctor = tx.find_doctor(&UserId::new("doc2"))?.expect("doc2 exists");
                        std::thread::sleep(Duration::from_millis(2));
                        doctor.languages.push(format!("l{i}"));
                        tx.upsert_doctor(&doctor)?;
                        Ok::<_, StoreError>(())
                    })
                    .await
            }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        let (view, events, account, doctor) = store
            .read(|tx| {
                Ok::<_, StoreError>((
                    tx.find_appointment(&AppointmentId::new("a1"))?.unwrap(),
                    tx.appointment_events(&AppointmentId::new("a1"))?,
                    tx.find_user(&UserId::new("pat2"))?.unwrap(),
                    tx.find_doctor(&UserId::new("doc2"))?.unwrap(),
                ))
            })
            .await
            .unwrap();
        assert_eq!(view.record.reason.unwrap().matches('[').count(), 12);
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=12).collect::<Vec<i64>>());
        assert_eq!(account.name, format!("pat2{}", "+".repeat(12)));
        assert_eq!(doctor.languages.len(), 12);
    }
}

/// What only PostgreSQL has: migrations run by hand, LISTEN/NOTIFY, connections
/// that can be lost.
mod postgres_only {
    use super::*;
    use carebook::testing::TestDatabase;

    fn terminate_connections(database: &TestDatabase) {
        let name = database.name().to_owned();
        let admin = std::env::var(carebook::testing::POSTGRES_URL_ENV)
            .unwrap_or_else(|_| carebook::testing::DEFAULT_POSTGRES_URL.to_owned());
        std::thread::spawn(move || {
            let mut client = ::postgres::Client::connect(&admin, ::postgres::NoTls).unwrap();
            client
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name],
                )
                .unwrap();
        })
        .join()
        .unwrap();
    }

    #[tokio::test]
    async fn open_refuses_an_unmigrated_database_and_concurrent_migrations_are_safe() {
        let Some(database) = TestDatabase::postgres() else {
            return;
        };
        let url = database.url();
        let refused = Store::open(&url)
            .err()
            .expect("an unmigrated database is refused");
        assert!(
            refused.to_string().contains("carebook migrate"),
            "{refused}"
        );
        let migrations: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || Store::migrate(&url))
            })
            .collect();
        for migration in migrations {
            migration.join().unwrap().unwrap();
        }
        let store = Store::open(&url).unwrap();
        assert_eq!(store.backend(), "postgres");
        assert!(store.read(|tx| tx.schema_is_current()).await.unwrap());

        // A newer release's migration does not make this one's schema outdated
        // (rolling upgrades); a missing one of its own does.
        let sql = |statement: &'static str| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut client = ::postgres::Client::connect(&url, ::postgres::NoTls).unwrap();
                client.batch_execute(statement).unwrap();
            })
            .join()
            .unwrap();
        };
        sql("INSERT INTO schema_migrations (version, applied_at) VALUES (999999, 0)");
        assert!(store.read(|tx| tx.schema_is_current()).await.unwrap());
        Store::open(&url).unwrap();
        sql("DELETE FROM schema_migrations WHERE version = 1");
        assert!(!store.read(|tx| tx.schema_is_current()).await.unwrap());
        assert!(Store::open(&url).is_err());
    }

    #[tokio::test]
    async fn an_unreachable_server_is_an_error_naming_the_url_without_its_password() {
        let error = Store::open("postgres://carebook:s3cret@127.0.0.1:1/clinic")
            .err()
            .expect("nothing listens on port 1");
        let text = error.to_string();
        assert!(text.contains("carebook@127.0.0.1:1/clinic"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        let error = Store::migrate("postgres://carebook:s3cret@127.0.0.1:1/clinic")
            .expect_err("nothing listens on port 1");
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn notifications_reach_listeners_of_other_stores() {
        let Some((store, guard)) = open_store(Backend::Postgres) else {
            return;
        };
        let other = Store::open(&guard.url()).unwrap();
        let mut events = other.listen("carebook_events").unwrap();
        let mut direct =
            carebook::store::postgres::listen(&guard.url(), "carebook_events").unwrap();
        store
            .notify("carebook_events", "{\"kind\":\"booked\"}")
            .await
            .unwrap();
        store.notify("other_channel", "not for us").await.unwrap();
        store.notify("carebook_events", "second").await.unwrap();
        for receiver in [&mut events, &mut direct] {
            let first = tokio::time::timeout(Duration::from_secs(10), receiver.recv())
                .await
                .unwrap();
            assert_eq!(first.as_deref(), Some("{\"kind\":\"booked\"}"));
            let second = tokio::time::timeout(Duration::from_secs(10), receiver.recv())
                .await
                .unwrap();
            assert_eq!(second.as_deref(), Some("second"));
        }
        // On SQLite there is nothing to listen to, and notifying is a no-op.
        let (sqlite, _dir) = open_store(Backend::Sqlite).unwrap();
        sqlite.notify("carebook_events", "x").await.unwrap();
        assert!(sqlite.listen("carebook_events").is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lost_connections_are_replaced_and_listeners_resubscribe() {
        let Some(database) = TestDatabase::postgres() else {
            return;
        };
        let url = database.url();
        Store::migrate(&url).unwrap();
        let store = Store::open(&url).unwrap();
        seed(&store).await;
        let mut events = store.listen("carebook_events").unwrap();

        terminate_connections(&database);
        // The pool's connection died while idle: the next transactions still work.
        for _ in 0..3 {
            assert_eq!(store.read(|tx| tx.count_users()).await.unwrap(), 4);
        }
        store
            .write(|tx| tx.insert_user(&user("pat3", Role::Patient)))
            .await
            .unwrap();

        // The listener reconnects on its own, says that it may have missed
        // notifications, then hears again; notify until it does.
        let heard = async {
            let mut gap = false;
            loop {
                store.notify("carebook_events", "after").await.unwrap();
                if let Ok(Some(payload)) =
                    tokio::time::timeout(Duration::from_millis(300), events.recv()).await
                {
                    if payload == carebook::store::postgres::LISTEN_GAP {
                        gap = true;
                        continue;
                    }
                    return (gap, payload);
                }
            }
        };
        let (gap, payload) = tokio::time::timeout(Duration::from_secs(20), heard)
            .await
            .unwrap();
        assert!(gap, "the reconnection is announced before what follows");
        assert_eq!(payload, "after");
        drop(store);
    }
}

/// The outbox: leases, idempotency keys, concurrent claimers.
mod outbox {
    use super::*;

    fn delivery(id: &str, key: &str, due: &str) -> DeliveryRecord {
        DeliveryRecord {
            id: id.to_owned(),
            idempotency_key: key.to_owned(),
            channel: "email".to_owned(),
            kind: "welcome".to_owned(),
            user_id: None,
            appointment_id: None,
            target: None,
            payload: "{}".to_owned(),
            status: DeliveryStatus::Scheduled,
            due_at: at(due),
            attempts: 0,
            lease_owner: None,
            lease_until: None,
            last_error: None,
            created_at: at("2026-03-02T08:00:00Z"),
            updated_at: at("2026-03-02T08:00:00Z"),
            sent_at: None,
        }
    }

    async fn claim(store: &Store, owner: &str, now: &str, limit: u32) -> Vec<String> {
        let (owner, now) = (owner.to_owned(), at(now));
        let lease = now + jiff::SignedDuration::from_secs(60);
        store
            .write(move |tx| tx.claim_deliveries(&owner, now, lease, limit))
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect()
    }

    contract! {
        #[test]
        async fn the_outbox_hands_each_due_delivery_to_one_claimer_under_a_lease(store: Store, url: String) {
            for n in 0..6 {
                let due = if n < 5 { "2026-03-02T09:00:00Z" } else { "2026-03-02T12:00:00Z" };
                let inserted = store
                    .write(move |tx| tx.insert_delivery(&delivery(&format!("d{n}"), &format!("k{n}"), due)))
                    .await
                    .unwrap();
                assert!(inserted);
            }
            // The same key again writes nothing.
            let again = store
                .write(|tx| tx.insert_delivery(&delivery("other", "k0", "2026-03-02T09:00:00Z")))
                .await
                .unwrap();
            assert!(!again);

            let first = claim(&store, "w1", "2026-03-02T10:00:00Z", 3).await;
            let second = claim(&store, "w2", "2026-03-02T10:00:00Z", 10).await;
            assert_eq!(first.len(), 3);
            assert_eq!(second.len(), 2, "the rest of what is due, not the 12:00 one");
            assert!(first.iter().all(|id| !second.contains(id)));

            // w1 dies: when its lease runs out, its deliveries are claimed again, and
            // w1 can no longer record an outcome for them.
            let after_lease = claim(&store, "w3", "2026-03-02T10:01:01Z", 10).await;
            let mut expected = first.clone();
            expected.extend(second.clone());
            expected.sort();
            let mut got = after_lease.clone();
            got.sort();
            assert_eq!(got, expected, "every lease ran out");
            let outcome = DeliveryOutcome {
                status: DeliveryStatus::Sent,
                due_at: None,
                last_error: None,
                at: at("2026-03-02T10:01:02Z"),
            };
            let stale = {
                let (id, outcome) = (first[0].clone(), outcome.clone());
                store.write(move |tx| tx.finish_delivery(&id, "w1", &outcome)).await.unwrap()
            };
            assert!(!stale, "a lost lease records nothing");
            let fresh = {
                let id = first[0].clone();
                store.write(move |tx| tx.finish_delivery(&id, "w3", &outcome)).await.unwrap()
            };
            assert!(fresh);
            let id = first[0].clone();
            let done = store.read(move |tx| tx.find_delivery(&id)).await.unwrap().unwrap();
            assert_eq!(done.status, DeliveryStatus::Sent);
            assert_eq!(done.attempts, 2, "both claims count as attempts");
            assert_eq!(done.sent_at, Some(at("2026-03-02T10:01:02Z")));
            assert_eq!(done.lease_owner, None);
        }

        #[test(flavor = "multi_thread", worker_threads = 4)]
        async fn concurrent_claimers_never_share_a_delivery(store: Store, url: String) {
            let rows: Vec<DeliveryRecord> = (0..200)
                .map(|n| delivery(&format!("d{n:03}"), &format!("k{n}"), "2026-03-02T09:00:00Z"))
                .collect();
            store
                .write(move |tx| {
                    for row in &rows {
                        tx.insert_delivery(row)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await
                .unwrap();
            let mut claimers = tokio::task::JoinSet::new();
            for w in 0..8 {
                let store = store.clone();
                claimers.spawn(async move {
                    let mut mine = Vec::new();
                    loop {
                        let batch = claim(&store, &format!("w{w}"), "2026-03-02T10:00:00Z", 7).await;
                        if batch.is_empty() {
                            return mine;
                        }
                        mine.extend(batch);
                    }
                });
            }
            let mut all = Vec::new();
            while let Some(mine) = claimers.join_next().await {
                all.extend(mine.unwrap());
            }
            let distinct: std::collections::BTreeSet<&String> = all.iter().collect();
            assert_eq!(all.len(), 200, "every delivery claimed once");
            assert_eq!(distinct.len(), 200);
        }
    }
}

/// Payments: one pending-or-paid payment per appointment, the latest shown with the
/// appointment, the sweeper's and the refund worker's queues, provider events once.
mod payments {
    use carebook::store::{PaymentFilter, PaymentId, PaymentRecord, PaymentStatus};
    use carebook_domain::PaymentMethod;

    use super::*;

    fn payment(id: &str, appointment: &str, status: PaymentStatus, created: &str) -> PaymentRecord {
        let created = at(created);
        PaymentRecord {
            id: PaymentId::new(id),
            appointment_id: AppointmentId::new(appointment),
            patient_id: UserId::new("pat1"),
            doctor_id: UserId::new("doc1"),
            amount_minor: 5000,
            currency: "EUR".into(),
            method: PaymentMethod::Stripe,
            status,
            checkout_session_id: Some(format!("cs_{id}")),
            checkout_url: Some(format!("https://pay.test/{id}")),
            payment_intent: None,
            hold_until: Some(created + SignedDuration::from_mins(15)),
            paid_at: None,
            refund_id: None,
            refund_reason: None,
            refunded_at: None,
            attempts: 0,
            next_attempt_at: None,
            last_error: None,
            recorded_by: None,
            created_at: created,
            updated_at: created,
        }
    }

    contract! {
        #[test]
        async fn an_appointment_has_one_live_payment_and_shows_its_latest(store: Store, url: String) {
            seed(&store).await;
            insert(&store, appointment("a1", "doc1", "pat1", "2026-03-02T09:00:00Z", 30)).await.unwrap();
            let first = payment("p1", "a1", PaymentStatus::Pending, "2026-03-01T08:00:00Z");
            let stored = first.clone();
            store.write(move |tx| tx.insert_payment(&stored)).await.unwrap();
            let second = payment("p2", "a1", PaymentStatus::Paid, "2026-03-01T08:05:00Z");
            let refused = second.clone();
            let error = store.write(move |tx| tx.insert_payment(&refused)).await.unwrap_err();
            assert_eq!(error, StoreError::Conflict(Conflict::PaymentExists));
            // Once the first is called off, the second may be taken.
            let mut cancelled = first.clone();
            cancelled.status = PaymentStatus::Cancelled;
            store.write(move |tx| tx.update_payment(&cancelled)).await.unwrap();
            let taken = second.clone();
            store.write(move |tx| tx.insert_payment(&taken)).await.unwrap();

            let (found, latest, by_session, view) = store
                .read(|tx| {
                    Ok::<_, StoreError>((
                        tx.find_payment(&PaymentId::new("p1"))?,
                        tx.latest_payment(&AppointmentId::new("a1"))?,
                        tx.find_payment_by_checkout("cs_p2")?,
                        tx.find_appointment(&AppointmentId::new("a1"))?,
                    ))
                })
                .await
                .unwrap();
            assert_eq!(found.unwrap().status, PaymentStatus::Cancelled);
            assert_eq!(latest.unwrap(), second);
            assert_eq!(by_session.unwrap().id.as_str(), "p2");
            let brief = view.unwrap().payment.expect("the latest payment");
            assert_eq!((brief.id.as_str(), brief.status), ("p2", PaymentStatus::Paid));
        }

        #[test]
        async fn holds_and_refunds_come_due_and_events_count_once(store: Store, url: String) {
            seed(&store).await;
            for (n, start) in ["2026-03-02T09:00:00Z", "2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z"].iter().enumerate() {
                insert(&store, appointment(&format!("a{n}"), "doc1", "pat1", start, 30)).await.unwrap();
            }
            let early = payment("p0", "a0", PaymentStatus::Pending, "2026-03-01T08:00:00Z");
            let late = payment("p1", "a1", PaymentStatus::Pending, "2026-03-01T08:30:00Z");
            let mut owed = payment("p2", "a2", PaymentStatus::RefundPending, "2026-03-01T07:00:00Z");
            owed.paid_at = Some(at("2026-03-01T07:01:00Z"));
            owed.next_attempt_at = Some(at("2026-03-01T08:20:00Z"));
            store
                .write(move |tx| {
                    for p in [&early, &late, &owed] {
                        tx.insert_payment(p)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await
                .unwrap();
            let (holds, refunds) = store
                .read(|tx| {
                    let now = at("2026-03-01T08:20:00Z");
                    Ok::<_, StoreError>((tx.expired_holds(now, 10)?, tx.due_refunds(now, 10)?))
                })
                .await
                .unwrap();
            assert_eq!(holds.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["p0"]);
            assert_eq!(refunds.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["p2"]);

            let listed = store
                .read(|tx| {
                    let pending = PaymentFilter { statuses: vec![PaymentStatus::Pending], ..PaymentFilter::default() };
                    let all = tx.list_payments(&PaymentFilter::default(), &page(2))?;
                    let after = Cursor {
                        key: all[1].record.created_at.as_millisecond().to_string(),
                        id: all[1].record.id.to_string(),
                    };
                    let rest = tx.list_payments(&PaymentFilter::default(), &PageRequest { limit: 10, after: Some(after) })?;
                    let money = tx.payments_with_money_between(at("2026-03-01T07:00:00Z"), at("2026-03-01T08:00:00Z"))?;
                    Ok::<_, StoreError>((tx.list_payments(&pending, &page(10))?, all, rest, money))
                })
                .await
                .unwrap();
            let (pending, first_page, rest, money) = listed;
            assert_eq!(pending.len(), 2);
            let order: Vec<&str> = first_page.iter().chain(&rest).map(|p| p.record.id.as_str()).collect();
            assert_eq!(order, ["p1", "p0", "p2"], "newest first, across pages");
            assert_eq!(first_page[0].patient_name, "pat1");
            assert_eq!(first_page[0].appointment_start, at("2026-03-02T10:00:00Z"));
            assert_eq!(money.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), ["p2"]);

            let now = at("2026-03-01T08:00:00Z");
            let first = store.write(move |tx| tx.record_provider_event("evt_1", "checkout.session.completed", now)).await.unwrap();
            let again = store.write(move |tx| tx.record_provider_event("evt_1", "checkout.session.completed", now)).await.unwrap();
            assert!(first && !again);
        }
    }
}

mod reminder_plan {
    use super::*;

    contract! {
        #[test]
        async fn the_reminder_plan_starts_unset_and_moves_only_with_a_committed_pass(store: Store, url: String) {
            assert_eq!(store.read(|tx| tx.reminders_planned_through()).await.unwrap(), None);
            let through = at("2026-03-02T06:15:00Z");
            let begun = store
                .write(move |tx| {
                    let before = tx.begin_reminder_plan()?;
                    tx.set_reminders_planned_through(through)?;
                    Ok::<_, StoreError>(before)
                })
                .await
                .unwrap();
            assert_eq!(begun, None);
            assert_eq!(store.read(|tx| tx.reminders_planned_through()).await.unwrap(), Some(through));
            // A pass that fails leaves the plan where it was.
            let failed = store
                .write(|tx| {
                    tx.set_reminders_planned_through(at("2026-03-02T07:00:00Z"))?;
                    Err::<(), _>(StoreError::Internal("the pass failed".into()))
                })
                .await;
            assert!(failed.is_err());
            assert_eq!(store.write(|tx| tx.begin_reminder_plan()).await.unwrap(), Some(through));
        }
    }
}
