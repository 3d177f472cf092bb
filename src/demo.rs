//! The demo clinic: specialties, twenty doctors with varied hours, fifty patients,
//! a receptionist, an admin, and a few hundred appointments over the past and next
//! three weeks in every status. Deterministic, so screenshots and walk-throughs
//! stay comparable.

pub mod large;

use std::collections::HashSet;

use carebook_domain::schedule::{BookingRules, ScheduleInput, WeeklyIntervalInput};
use carebook_domain::validation::Password;
use carebook_domain::{AppointmentStatus, Interval, Role, Schedule, UserStatus, VisitMode};
use jiff::{SignedDuration, Timestamp};

use crate::app::{App, AppError, hash_password, new_id};
use crate::store::{
    AppointmentEvent, AppointmentId, AppointmentRecord, AppointmentView, DoctorRecord, Fee,
    NewAuditEntry, Specialty, SpecialtyId, TimeOffId, TimeOffRecord, UserId, UserRecord,
};

pub const PASSWORD: &str = "carebook-demo";

pub const LOGINS: &str = "demo logins (password for all: carebook-demo)
  admin         admin@demo.carebook.test
  receptionist  desk@demo.carebook.test
  doctor        anna.weber@demo.carebook.test   (and 19 more doctors)
  patient       patient01@demo.carebook.test    (.. patient50)";

pub enum Outcome {
    Loaded,
    AlreadyHasData,
}

const SPECIALTIES: [&str; 8] = [
    "General Practice",
    "Cardiology",
    "Dermatology",
    "Pediatrics",
    "Orthopedics",
    "Neurology",
    "Gynecology",
    "Ophthalmology",
];

const DOCTORS: [(&str, usize); 20] = [
    ("Anna Weber", 0),
    ("Ben Okafor", 0),
    ("Clara Jensen", 1),
    ("David Cohen", 1),
    ("Elif Yilmaz", 2),
    ("Farid Haddad", 2),
    ("Greta Lindqvist", 3),
    ("Hiro Tanaka", 3),
    ("Isabel Moreno", 4),
    ("Jonas Becker", 4),
    ("Katarzyna Nowak", 5),
    ("Luca Romano", 5),
    ("Maya Patel", 6),
    ("Nora Schmidt", 6),
    ("Omar Farouk", 7),
    ("Paula Costa", 7),
    ("Quentin Laurent", 0),
    ("Rosa Fischer", 3),
    ("Samuel Adeyemi", 1),
    ("Tanja Horvat", 2),
];

const FIRST_NAMES: [&str; 25] = [
    "Lena", "Max", "Sofia", "Noah", "Emma", "Elias", "Mia", "Paul", "Hannah", "Leon", "Amira",
    "Jakob", "Zoe", "Finn", "Leila", "Mateo", "Ida", "Yusuf", "Nina", "Oskar", "Aylin", "Theo",
    "Marta", "Kofi", "Lara",
];
const LAST_NAMES: [&str; 10] = [
    "Müller", "Schulz", "Kaya", "Novak", "Brown", "Rossi", "Dubois", "Kowalski", "Nguyen", "Santos",
];

/// Weekly hour patterns (day, start, end), picked per doctor.
const PATTERNS: [&[(&str, &str, &str)]; 5] = [
    &[
        ("monday", "09:00", "13:00"),
        ("monday", "14:00", "17:00"),
        ("tuesday", "09:00", "13:00"),
        ("tuesday", "14:00", "17:00"),
        ("wednesday", "09:00", "13:00"),
        ("thursday", "09:00", "13:00"),
        ("thursday", "14:00", "17:00"),
        ("friday", "09:00", "13:00"),
    ],
    &[
        ("monday", "08:00", "12:00"),
        ("wednesday", "08:00", "12:00"),
        ("friday", "08:00", "12:00"),
    ],
    &[
        ("tuesday", "10:00", "18:00"),
        ("thursday", "10:00", "18:00"),
        ("saturday", "09:00", "12:00"),
    ],
    &[
        ("monday", "12:00", "19:00"),
        ("tuesday", "12:00", "19:00"),
        ("wednesday", "12:00", "19:00"),
        ("thursday", "12:00", "19:00"),
    ],
    &[
        ("monday", "07:30", "11:30"),
        ("tuesday", "07:30", "11:30"),
        ("wednesday", "07:30", "11:30"),
        ("thursday", "07:30", "11:30"),
        ("friday", "07:30", "11:30"),
    ],
];

/// xorshift64*: small, deterministic, good enough for demo data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn email_of(name: &str) -> String {
    let ascii: String = name
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'ü' => 'u',
            'ö' => 'o',
            'ä' => 'a',
            ' ' => '.',
            c => c,
        })
        .collect();
    format!("{ascii}@demo.carebook.test")
}

fn user(name: &str, email: String, role: Role, hash: &str, now: Timestamp) -> UserRecord {
    UserRecord {
        id: UserId::new(new_id("usr")),
        email,
        name: name.to_owned(),
        phone: None,
        date_of_birth: None,
        role,
        status: UserStatus::Active,
        password_hash: hash.to_owned(),
        created_at: now,
        updated_at: now,
    }
}

fn schedule_for(index: usize, zone: &str) -> Result<Schedule, AppError> {
    let pattern = PATTERNS[index % PATTERNS.len()];
    let input = ScheduleInput {
        time_zone: zone.to_owned(),
        slot_minutes: [30, 20, 15, 30][index % 4],
        weekly_hours: pattern
            .iter()
            .map(|(day, start, end)| WeeklyIntervalInput {
                day: (*day).to_owned(),
                start: (*start).to_owned(),
                end: (*end).to_owned(),
            })
            .collect(),
        min_notice_minutes: BookingRules::default().min_notice_minutes,
        horizon_days: 60,
        auto_confirm: index.is_multiple_of(3),
        cancel_window_hours: 24,
    };
    Ok(Schedule::parse(&input)?)
}

/// The status a demo appointment has, given when it is relative to now.
fn pick_status(rng: &mut Rng, slot: Interval, now: Timestamp) -> AppointmentStatus {
    use AppointmentStatus::*;
    if slot.end <= now {
        match rng.below(100) {
            0..70 => Completed,
            70..80 => NoShow,
            80..92 => Cancelled,
            _ => Rejected,
        }
    } else if slot.start <= now + SignedDuration::from_mins(30)
        && slot.start >= now - SignedDuration::from_hours(2)
    {
        CheckedIn
    } else {
        match rng.below(100) {
            0..55 => Confirmed,
            55..85 => Requested,
            _ => Cancelled,
        }
    }
}

/// The moves that lead from a booking to `status`, for the appointment's history.
fn moves_to(status: AppointmentStatus) -> &'static [(&'static str, AppointmentStatus)] {
    use AppointmentStatus::*;
    match status {
        AwaitingPayment | Requested => &[],
        Confirmed => &[("confirm", Confirmed)],
        CheckedIn => &[("confirm", Confirmed), ("check_in", CheckedIn)],
        Completed => &[
            ("confirm", Confirmed),
            ("check_in", CheckedIn),
            ("complete", Completed),
        ],
        NoShow => &[("confirm", Confirmed), ("no_show", NoShow)],
        Cancelled => &[("cancel", Cancelled)],
        Rejected => &[("reject", Rejected)],
    }
}

pub async fn load(app: &App) -> Result<Outcome, AppError> {
    let has_data = app
        .store
        .read(|tx| Ok::<_, AppError>(tx.count_users()? > 0))
        .await?;
    if has_data {
        return Ok(Outcome::AlreadyHasData);
    }
    let password = Password::parse("password", PASSWORD, None)?;
    let hash = hash_password(password).await?;
    let now = app.now();
    let zone = app.settings.clinic_time_zone.clone();

    let specialties: Vec<Specialty> = SPECIALTIES
        .iter()
        .map(|name| Specialty {
            id: SpecialtyId::new(new_id("spc")),
            name: (*name).to_owned(),
            slug: name.to_lowercase().replace(' ', "-"),
        })
        .collect();
    let admin = user(
        "Ada Admin",
        "admin@demo.carebook.test".into(),
        Role::Admin,
        &hash,
        now,
    );
    let desk = user(
        "Rita Reception",
        "desk@demo.carebook.test".into(),
        Role::Receptionist,
        &hash,
        now,
    );
    let mut doctors = Vec::new();
    for (index, (name, specialty)) in DOCTORS.iter().enumerate() {
        let account = user(name, email_of(name), Role::Doctor, &hash, now);
        let mut profile = DoctorRecord::new_for(&account, jiff::tz::TimeZone::UTC);
        profile.schedule = schedule_for(index, &zone)?;
        profile.specialty_ids = vec![specialties[*specialty].id.clone()];
        if index % 5 == 0 {
            profile
                .specialty_ids
                .push(specialties[(specialty + 3) % specialties.len()].id.clone());
        }
        profile.bio = Some(format!(
            "{name} has cared for patients in {} for many years.",
            SPECIALTIES[*specialty]
        ));
        profile.qualifications = Some("MD".into());
        profile.years_experience = Some(3 + (index as i64 * 7) % 30);
        profile.languages = match index % 3 {
            0 => vec!["English".into(), "German".into()],
            1 => vec!["English".into()],
            _ => vec!["German".into(), "Turkish".into(), "English".into()],
        };
        profile.fee = Some(Fee {
            amount: 4_000 + (index as i64 % 6) * 1_500,
            currency: "EUR".into(),
        });
        // Every third doctor also sees patients by video.
        if index % 3 == 0 {
            profile.visit_modes = vec![VisitMode::InPerson, VisitMode::Video];
        }
        doctors.push((account, profile));
    }
    let mut patients = Vec::new();
    for i in 0..50 {
        let name = format!(
            "{} {}",
            FIRST_NAMES[i % FIRST_NAMES.len()],
            LAST_NAMES[(i * 7) % LAST_NAMES.len()]
        );
        let mut patient = user(
            &name,
            format!("patient{:02}@demo.carebook.test", i + 1),
            Role::Patient,
            &hash,
            now,
        );
        patient.phone = Some(format!("+4915100000{:03}", i + 1));
        patient.date_of_birth = format!(
            "{}-{:02}-{:02}",
            1950 + (i * 13) % 60,
            1 + i % 12,
            1 + (i * 5) % 28
        )
        .parse()
        .ok();
        patients.push(patient);
    }

    let notifier = app.notifier();
    app.store
        .write(move |tx| {
            for specialty in &specialties {
                tx.insert_specialty(specialty)?;
            }
            for account in [&admin, &desk].into_iter().chain(patients.iter()) {
                tx.insert_user(account)?;
            }
            let mut rng = Rng(0x5eed_cafe_f00d_1234);
            let mut patient_busy: HashSet<(usize, i64)> = HashSet::new();
            for (index, (account, profile)) in doctors.iter().enumerate() {
                tx.insert_user(account)?;
                tx.upsert_doctor(profile)?;
                let profile_zone = profile
                    .schedule
                    .time_zone
                    .iana_name()
                    .unwrap_or("UTC")
                    .to_owned();
                if index % 4 == 1 {
                    // A week's holiday two weeks ahead.
                    let start = now + SignedDuration::from_hours(24 * 14);
                    tx.insert_time_off(&TimeOffRecord {
                        id: TimeOffId::new(new_id("off")),
                        doctor_id: account.id.clone(),
                        period: Interval::new(start, start + SignedDuration::from_hours(24 * 7))
                            .expect("a week"),
                        reason: Some("Annual leave".into()),
                        created_at: now,
                    })?;
                }
                let window = Interval::new(
                    now - SignedDuration::from_hours(24 * 21),
                    now + SignedDuration::from_hours(24 * 21),
                )
                .expect("six weeks");
                for slot in profile.schedule.grid_slots(window) {
                    if !rng.chance(12) {
                        continue;
                    }
                    let status = pick_status(&mut rng, slot, now);
                    let patient_index = rng.below(patients.len() as u64) as usize;
                    let units = (slot.start.as_second() / 300..slot.end.as_second() / 300)
                        .collect::<Vec<_>>();
                    if status.is_live()
                        && units
                            .iter()
                            .any(|u| patient_busy.contains(&(patient_index, *u)))
                    {
                        continue;
                    }
                    if status.is_live() {
                        patient_busy.extend(units.iter().map(|u| (patient_index, *u)));
                    }
                    let patient = &patients[patient_index];
                    let booked_at = (slot.start
                        - SignedDuration::from_hours(24 * (2 + rng.below(10) as i64)))
                    .min(now);
                    let mut record = AppointmentRecord {
                        id: AppointmentId::new(new_id("apt")),
                        doctor_id: account.id.clone(),
                        patient_id: patient.id.clone(),
                        slot,
                        status,
                        reason: [
                            "Check-up",
                            "Follow-up visit",
                            "Persistent cough",
                            "Back pain",
                            "Skin rash",
                            "Headaches",
                        ]
                        .get(rng.below(8) as usize)
                        .map(|r| (*r).to_owned()),
                        status_reason: match status {
                            AppointmentStatus::Cancelled => Some("Cannot make it".into()),
                            AppointmentStatus::Rejected => {
                                Some("Please see a specialist instead".into())
                            }
                            _ => None,
                        },
                        created_by: patient.id.clone(),
                        created_at: booked_at,
                        updated_at: booked_at,
                        // Some of a video doctor's patients chose a video visit
                        // (picked by the slot, not the generator, so the rest of the
                        // demo clinic stays as it was).
                        mode: if profile.visit_modes.contains(&VisitMode::Video)
                            && slot.start.as_second().div_euclid(1800) % 3 == 0
                        {
                            VisitMode::Video
                        } else {
                            VisitMode::InPerson
                        },
                        video_room: None,
                    };
                    crate::app::ensure_room(&mut record);
                    tx.insert_appointment(&record)?;
                    let mut event = AppointmentEvent {
                        appointment_id: record.id.clone(),
                        seq: 0,
                        at: booked_at,
                        actor_id: Some(patient.id.clone()),
                        action: "book".into(),
                        from_status: None,
                        to_status: AppointmentStatus::Requested,
                        from_start: None,
                        to_start: Some(slot.start),
                        reason: None,
                    };
                    tx.append_appointment_event(&event)?;
                    for (action, to) in moves_to(status) {
                        event.from_status = Some(event.to_status);
                        event.to_status = *to;
                        event.action = (*action).to_owned();
                        event.actor_id = Some(match *action {
                            "cancel" => patient.id.clone(),
                            "check_in" => desk.id.clone(),
                            _ => account.id.clone(),
                        });
                        event.at = match *action {
                            "confirm" | "reject" | "cancel" => {
                                booked_at + SignedDuration::from_hours(3)
                            }
                            _ => slot.start.min(now),
                        };
                        event.from_start = Some(slot.start);
                        event.reason = record
                            .status_reason
                            .clone()
                            .filter(|_| matches!(*action, "cancel" | "reject"));
                        tx.append_appointment_event(&event)?;
                    }
                    let view = AppointmentView {
                        record,
                        doctor_name: account.name.clone(),
                        patient_name: patient.name.clone(),
                        payment: None,
                    };
                    notifier.schedule_reminders_for(tx, &view, &profile_zone, now)?;
                }
            }
            tx.append_audit(&NewAuditEntry {
                at: now,
                actor_id: None,
                action: "demo.loaded".into(),
                subject_type: "clinic".into(),
                subject_id: None,
                detail: serde_json::json!({ "doctors": doctors.len(), "patients": patients.len() }),
            })?;
            Ok::<_, AppError>(())
        })
        .await?;
    Ok(Outcome::Loaded)
}
