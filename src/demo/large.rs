//! The large clinic, for benchmarks: `carebook demo --scale large`. By default
//! 1,000 doctors in 40 specialties (varied weekly hours, slot lengths and time off),
//! 100,000 patients and 1,000,000 appointments from four months back to two months
//! ahead, in every status a past or future appointment has.
//!
//! * Deterministic: the same [`Scale`], seed and "now" give the same rows, ids
//!   included (ids are the seed's tag and a counter, so they also insert in order).
//!   Only the password hash differs between runs (its salt is random).
//! * Appointments lie on each doctor's slot grid, outside time off, so a doctor is
//!   never double-booked; a live appointment's patient is drawn again until free,
//!   so no patient holds two overlapping live appointments. The database checks
//!   both anyway: every row goes through the store's guard against double booking
//!   (SQLite's triggers, PostgreSQL's claims, written as its import claims them).
//! * Fast: rows go in through [`crate::store::Tx::import_rows`] (the path of
//!   `carebook copy`: prepared statements on SQLite, multi-row `INSERT`s on
//!   PostgreSQL), [`BATCH_APPOINTMENTS`] appointments with their history
//!   per transaction, the next batch generated while one is written. The password
//!   is hashed once and the hash shared by every account.
//! * Left out for the bulk data: reminders and notifications (the outbox), and
//!   audit entries (one `demo.loaded` entry records the load).

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use carebook_domain::schedule::{BookingRules, ScheduleInput, WeeklyIntervalInput};
use carebook_domain::validation::Password;
use carebook_domain::{AppointmentStatus, Interval, Role, Schedule, UserStatus};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use super::{FIRST_NAMES, LAST_NAMES, PASSWORD, moves_to};
use crate::app::{App, AppError, hash_password};
use crate::store::tables::{Cell, TABLES, Table};
use crate::store::{
    DoctorRecord, Fee, NewAuditEntry, Specialty, SpecialtyId, TimeOffId, TimeOffRecord, UserId,
    UserRecord,
};

/// How big a clinic to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub doctors: usize,
    pub specialties: usize,
    pub patients: usize,
    pub appointments: usize,
    /// Appointments start this many days before today (in the clinic's zone)...
    pub days_back: i64,
    /// ...and end this many days after it.
    pub days_ahead: i64,
}

impl Scale {
    pub const LARGE: Scale = Scale {
        doctors: 1_000,
        specialties: 40,
        patients: 100_000,
        appointments: 1_000_000,
        days_back: 122,
        days_ahead: 61,
    };
}

pub const DEFAULT_SEED: u64 = 20_260_101;

/// Appointments per write transaction.
pub const BATCH_APPOINTMENTS: usize = 5_000;
/// Users per write transaction.
const BATCH_USERS: usize = 10_000;

/// What a load wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub specialties: usize,
    pub doctors: usize,
    pub patients: usize,
    pub time_off: usize,
    pub appointments: usize,
    /// Appointments that are requested or confirmed (they hold their slot).
    pub live: usize,
    pub events: usize,
    pub elapsed: Duration,
}

pub enum Outcome {
    Loaded(Summary),
    AlreadyHasData,
}

/// The logins of a clinic of `scale`, for the operator.
pub fn logins(scale: &Scale) -> String {
    let (d, p) = (digits(scale.doctors), digits(scale.patients));
    format!(
        "large clinic logins (password for all: {PASSWORD})
  admin         admin@demo.carebook.test
  receptionist  desk@demo.carebook.test
  doctor        {} .. {}
  patient       {} .. {}",
        doctor_email(1, d),
        doctor_email(scale.doctors, d),
        patient_email(1, p),
        patient_email(scale.patients, p)
    )
}

fn digits(n: usize) -> usize {
    n.max(1).to_string().len().max(2)
}

fn doctor_email(n: usize, width: usize) -> String {
    format!("doctor{n:0width$}@demo.carebook.test")
}

fn patient_email(n: usize, width: usize) -> String {
    format!("patient{n:0width$}@demo.carebook.test")
}

/// splitmix64: tiny, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` (multiply-shift; the bias is below 2^-40 here).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Ids shaped like the app's (`apt_` and 24 hex digits): the seed's tag, then a
/// counter, so B-tree indexes on ids are filled in order.
struct Ids {
    tag: u64,
    next: u32,
}

impl Ids {
    fn make(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_{:016x}{:08x}", self.tag, self.next)
    }
}

const SPECIALTIES: [&str; 40] = [
    "General Practice",
    "Cardiology",
    "Dermatology",
    "Pediatrics",
    "Orthopedics",
    "Neurology",
    "Gynecology",
    "Ophthalmology",
    "Endocrinology",
    "Gastroenterology",
    "Pulmonology",
    "Nephrology",
    "Urology",
    "Rheumatology",
    "Oncology",
    "Hematology",
    "Psychiatry",
    "Psychotherapy",
    "Otolaryngology",
    "Allergy and Immunology",
    "Infectious Diseases",
    "Geriatrics",
    "Sports Medicine",
    "Physiotherapy",
    "Radiology",
    "Pain Medicine",
    "Plastic Surgery",
    "General Surgery",
    "Vascular Surgery",
    "Neurosurgery",
    "Dentistry",
    "Orthodontics",
    "Nutrition",
    "Obstetrics",
    "Occupational Medicine",
    "Travel Medicine",
    "Sleep Medicine",
    "Podiatry",
    "Audiology",
    "Speech Therapy",
];

const MON_FRI: &[&str] = &["monday", "tuesday", "wednesday", "thursday", "friday"];

/// Weekly hour patterns: (days, start, end). 20 to 40 hours a week.
const PATTERNS: [&[(&[&str], &str, &str)]; 8] = [
    &[(MON_FRI, "08:00", "12:00"), (MON_FRI, "13:00", "17:00")],
    &[(MON_FRI, "09:00", "13:00")],
    &[(
        &["monday", "tuesday", "wednesday", "thursday"],
        "13:00",
        "19:00",
    )],
    &[
        (&["monday", "wednesday", "friday"], "08:00", "12:00"),
        (&["monday", "wednesday", "friday"], "13:00", "16:00"),
    ],
    &[
        (&["tuesday", "thursday"], "09:00", "17:00"),
        (&["saturday"], "09:00", "13:00"),
    ],
    &[
        (MON_FRI, "07:30", "11:30"),
        (&["wednesday"], "14:00", "18:00"),
    ],
    &[
        (&["monday", "tuesday", "thursday"], "08:00", "16:00"),
        (&["saturday"], "08:00", "12:00"),
    ],
    &[(MON_FRI, "10:00", "14:00"), (MON_FRI, "15:00", "18:00")],
];

const SLOT_MINUTES: [i64; 5] = [15, 20, 20, 30, 30];
const OTHER_ZONES: [&str; 3] = ["Europe/London", "Europe/Lisbon", "Europe/Helsinki"];
const REASONS: [&str; 10] = [
    "Check-up",
    "Follow-up visit",
    "Persistent cough",
    "Back pain",
    "Skin rash",
    "Headaches",
    "Vaccination",
    "Test results",
    "Knee pain",
    "Prescription renewal",
];

fn table(name: &str) -> &'static Table {
    TABLES
        .iter()
        .find(|t| t.name == name)
        .expect("a table of the schema")
}

fn text(value: &str) -> Cell {
    Cell::Text(value.to_owned())
}

fn opt_text(value: Option<&str>) -> Cell {
    value.map_or(Cell::Null, text)
}

fn ms(at: Timestamp) -> i64 {
    at.as_millisecond()
}

/// The 5-minute units of a slot: a patient's busy time, as the generator tracks it.
const UNIT_MS: i64 = 5 * 60_000;

fn units(start: i64, end: i64) -> impl Iterator<Item = i64> {
    let first = start.div_euclid(UNIT_MS) * UNIT_MS;
    (first..end).step_by(UNIT_MS as usize)
}

/// Rows of one write transaction, in an order that satisfies every reference.
#[derive(Default)]
struct Batch {
    appointments: Vec<Vec<Cell>>,
    events: Vec<Vec<Cell>>,
}

impl Batch {
    async fn write(self, app: App) -> Result<(), AppError> {
        // Without a savepoint: inside one, SQLite keeps every page the batch changes
        // in its statement journal and walks that journal at the end of each insert
        // of an appointment (its triggers make each insert a statement that may
        // abort), which made the load ten times slower.
        app.store
            .write_repeatable(move |tx| {
                for (name, rows) in [
                    ("appointments", &self.appointments),
                    ("appointment_events", &self.events),
                ] {
                    if !rows.is_empty() {
                        tx.import_rows(table(name), rows)?;
                    }
                }
                Ok::<_, AppError>(())
            })
            .await
    }
}

/// A `\r`-redrawn line on stderr: counts, rate and time left.
pub struct Progress {
    enabled: bool,
    started: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress {
            enabled,
            started: Instant::now(),
            last_draw: None,
        }
    }

    fn show(&mut self, what: &str, done: usize, total: usize) {
        if !self.enabled {
            return;
        }
        let finished = done >= total;
        if !finished
            && self
                .last_draw
                .is_some_and(|at| at.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / seconds;
        let left = if rate > 0.0 {
            (total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{what}: {done}/{total} ({percent}%)  {rate:.0}/s  {:.0} s elapsed, ETA {:.0} s\x1b[K",
            seconds, left
        );
        if finished {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }

    fn restart(&mut self) {
        self.started = Instant::now();
        self.last_draw = None;
    }
}

struct Doctor {
    id: String,
    slot_ms: i64,
    /// Starts (unix ms) of the open grid slots in the window, outside time off.
    slots: Vec<i64>,
    quota: usize,
    /// Index of the next slot to consider.
    cursor: usize,
}

/// Loads the large clinic into an empty database (any user counts as data).
pub async fn load(
    app: &App,
    scale: &Scale,
    seed: u64,
    progress: &mut Progress,
) -> Result<Outcome, AppError> {
    let started = Instant::now();
    let has_data = app
        .store
        .read(|tx| Ok::<_, AppError>(tx.count_users()? > 0))
        .await?;
    if has_data {
        return Ok(Outcome::AlreadyHasData);
    }
    let hash = hash_password(Password::parse("password", PASSWORD, None)?).await?;
    let now = app.now();
    let now_ms = ms(now);
    let clinic_zone = app.settings.clinic_time_zone.clone();
    let tz = TimeZone::get(&clinic_zone)
        .map_err(|e| AppError::Internal(format!("clinic_time_zone {clinic_zone}: {e}")))?;
    let today = now.to_zoned_datetime(tz.clone()).date();
    let day_start = |offset: i64| -> Result<Timestamp, AppError> {
        today
            .checked_add(offset.days())
            .and_then(|d| d.to_zoned_datetime(tz.clone()))
            .map(|z| z.timestamp())
            .map_err(|e| AppError::Internal(e.to_string()))
    };
    let window = Interval::new(
        day_start(-scale.days_back)?,
        day_start(scale.days_ahead + 1)?,
    )
    .ok_or_else(|| AppError::Internal("an empty window".into()))?;

    let mut rng = Rng::new(seed);
    let mut ids = Ids {
        tag: Rng::new(seed ^ 0x1d5_7a6).next_u64(),
        next: 0,
    };
    let mut summary = Summary {
        specialties: scale.specialties,
        doctors: scale.doctors,
        patients: scale.patients,
        time_off: 0,
        appointments: 0,
        live: 0,
        events: 0,
        elapsed: Duration::ZERO,
    };

    // Specialties, the staff, the doctors' accounts.
    let specialties: Vec<Specialty> = (0..scale.specialties)
        .map(|i| {
            let name = SPECIALTIES
                .get(i)
                .map_or_else(|| format!("Specialty {}", i + 1), |s| (*s).to_owned());
            Specialty {
                id: SpecialtyId::new(ids.make("spc")),
                slug: name.to_lowercase().replace(' ', "-"),
                name,
            }
        })
        .collect();
    let user_row = |id: &str,
                    email: String,
                    name: String,
                    phone: Option<String>,
                    dob: Option<String>,
                    role: Role| {
        vec![
            text(id),
            Cell::Text(email),
            Cell::Text(name),
            phone.map_or(Cell::Null, Cell::Text),
            dob.map_or(Cell::Null, Cell::Text),
            text(role.as_str()),
            text(UserStatus::Active.as_str()),
            text(&hash),
            Cell::Integer(now_ms),
            Cell::Integer(now_ms),
        ]
    };
    let desk_id = ids.make("usr");
    let admin_id = ids.make("usr");
    let mut staff = vec![
        user_row(
            &admin_id,
            "admin@demo.carebook.test".into(),
            "Ada Admin".into(),
            None,
            None,
            Role::Admin,
        ),
        user_row(
            &desk_id,
            "desk@demo.carebook.test".into(),
            "Rita Reception".into(),
            None,
            None,
            Role::Receptionist,
        ),
    ];

    let doctor_digits = digits(scale.doctors);
    let mut doctors = Vec::with_capacity(scale.doctors);
    let mut profiles = Vec::with_capacity(scale.doctors);
    let mut time_off = Vec::new();
    for index in 0..scale.doctors {
        let id = ids.make("usr");
        let name = format!("{} {}", rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
        let email = doctor_email(index + 1, doctor_digits);
        staff.push(user_row(
            &id,
            email.clone(),
            name.clone(),
            None,
            None,
            Role::Doctor,
        ));
        let zone = if rng.chance(5) {
            (*rng.pick(&OTHER_ZONES)).to_owned()
        } else {
            clinic_zone.clone()
        };
        let pattern = *rng.pick(&PATTERNS);
        let slot_minutes = *rng.pick(&SLOT_MINUTES);
        let input = ScheduleInput {
            time_zone: zone.clone(),
            slot_minutes,
            weekly_hours: pattern
                .iter()
                .flat_map(|(days, start, end)| {
                    days.iter().map(move |day| WeeklyIntervalInput {
                        day: (*day).to_owned(),
                        start: (*start).to_owned(),
                        end: (*end).to_owned(),
                    })
                })
                .collect(),
            min_notice_minutes: BookingRules::default().min_notice_minutes,
            horizon_days: 90,
            auto_confirm: rng.chance(33),
            cancel_window_hours: 24,
        };
        let schedule = Schedule::parse(&input)?;
        let account = UserRecord {
            id: UserId::new(id.clone()),
            email,
            name: name.clone(),
            phone: None,
            date_of_birth: None,
            role: Role::Doctor,
            status: UserStatus::Active,
            password_hash: hash.clone(),
            created_at: now,
            updated_at: now,
        };
        let mut profile = DoctorRecord::new_for(&account, TimeZone::UTC);
        profile.schedule = schedule;
        let specialty = index % scale.specialties.max(1);
        profile.specialty_ids = specialties
            .get(specialty)
            .map(|s| s.id.clone())
            .into_iter()
            .collect();
        if rng.chance(10) && scale.specialties > 1 {
            let other = (specialty + 1 + rng.below(scale.specialties as u64 - 1) as usize)
                % scale.specialties;
            profile.specialty_ids.push(specialties[other].id.clone());
        }
        profile.bio = Some(format!("{name} sees patients at the clinic."));
        profile.qualifications = Some("MD".into());
        profile.years_experience = Some(1 + rng.below(35) as i64);
        profile.languages = match rng.below(3) {
            0 => vec!["English".into(), "German".into()],
            1 => vec!["English".into()],
            _ => vec![
                "German".into(),
                "English".into(),
                rng.pick(&["Turkish", "French", "Spanish", "Polish"])
                    .to_string(),
            ],
        };
        profile.fee = Some(Fee {
            amount: 4_000 + rng.below(8) as i64 * 1_000,
            currency: "EUR".into(),
        });

        // Time off: whole local days, some past, some ahead.
        let mut off: Vec<Interval> = Vec::new();
        let span = scale.days_back + scale.days_ahead;
        for (percent, length, reason) in [
            (40, 5 + rng.below(6) as i64, "Annual leave"),
            (30, 3 + rng.below(10) as i64, "Annual leave"),
            (15, 1, "Sick leave"),
        ] {
            if !rng.chance(percent) || span <= 0 {
                continue;
            }
            let first = -scale.days_back + rng.below(span as u64) as i64;
            let period = Interval::new(day_start(first)?, day_start(first + length)?)
                .ok_or_else(|| AppError::Internal("an empty time off".into()))?;
            if off.iter().any(|o| o.overlaps(&period)) {
                continue;
            }
            off.push(period);
            time_off.push(TimeOffRecord {
                id: TimeOffId::new(ids.make("off")),
                doctor_id: account.id.clone(),
                period,
                reason: Some(reason.into()),
                created_at: now,
            });
        }
        let slots: Vec<i64> = profile
            .schedule
            .grid_slots(window)
            .into_iter()
            .filter(|slot| !off.iter().any(|o| o.overlaps(slot)))
            .map(|slot| ms(slot.start))
            .collect();
        doctors.push(Doctor {
            id,
            slot_ms: slot_minutes * 60_000,
            slots,
            quota: 0,
            cursor: 0,
        });
        profiles.push(profile);
    }
    summary.time_off = time_off.len();

    // Each doctor's share of the appointments, by open slots.
    let capacity: usize = doctors.iter().map(|d| d.slots.len()).sum();
    if capacity < scale.appointments {
        return Err(AppError::Internal(format!(
            "{} appointments do not fit into the doctors' {capacity} open slots",
            scale.appointments
        )));
    }
    let mut assigned = 0;
    for doctor in &mut doctors {
        doctor.quota = (scale.appointments as u128 * doctor.slots.len() as u128
            / capacity.max(1) as u128) as usize;
        assigned += doctor.quota;
    }
    // Rounding left fewer than one per doctor: the first doctors with room take them.
    let mut short = scale.appointments - assigned;
    for doctor in &mut doctors {
        if short == 0 {
            break;
        }
        if doctor.quota < doctor.slots.len() {
            doctor.quota += 1;
            short -= 1;
        }
    }
    if short > 0 {
        return Err(AppError::Internal(format!(
            "{} appointments do not fit into the doctors' {capacity} open slots",
            scale.appointments
        )));
    }

    let staff_count = staff.len();
    app.store
        .write(move |tx| {
            for specialty in &specialties {
                tx.insert_specialty(specialty)?;
            }
            tx.import_rows(table("users"), &staff)?;
            for profile in &profiles {
                tx.upsert_doctor(profile)?;
            }
            for off in &time_off {
                tx.insert_time_off(off)?;
            }
            Ok::<_, AppError>(())
        })
        .await?;
    progress.show("staff and doctors", staff_count, staff_count);

    // Patients.
    let patient_digits = digits(scale.patients);
    let mut patient_ids = Vec::with_capacity(scale.patients);
    let mut rows = Vec::with_capacity(BATCH_USERS);
    progress.restart();
    for i in 0..scale.patients {
        let id = ids.make("usr");
        let name = format!("{} {}", rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
        let phone = rng
            .chance(80)
            .then(|| format!("+49151{:08}", rng.below(100_000_000)));
        let dob = rng.chance(90).then(|| {
            format!(
                "{}-{:02}-{:02}",
                1930 + rng.below(90),
                1 + rng.below(12),
                1 + rng.below(28)
            )
        });
        rows.push(user_row(
            &id,
            patient_email(i + 1, patient_digits),
            name,
            phone,
            dob,
            Role::Patient,
        ));
        patient_ids.push(id);
        if rows.len() == BATCH_USERS || i + 1 == scale.patients {
            let batch = std::mem::replace(&mut rows, Vec::with_capacity(BATCH_USERS));
            app.store
                .write(move |tx| {
                    tx.import_rows(table("users"), &batch)?;
                    Ok::<_, AppError>(())
                })
                .await?;
            progress.show("patients", i + 1, scale.patients);
        }
    }

    // Appointments, a week of every doctor's at a time (indexes by time and by
    // doctor then grow at their ends), written while the next batch is made.
    progress.restart();
    let week_ms = 7 * 24 * 3_600_000;
    let mut busy: HashSet<(u32, i64)> = HashSet::new();
    let mut batch = Batch::default();
    let mut pending: Option<tokio::task::JoinHandle<Result<(), AppError>>> = None;
    let mut written = 0;
    let mut week_end = ms(window.start);
    while week_end < ms(window.end) {
        week_end += week_ms;
        for doctor in &mut doctors {
            while doctor.cursor < doctor.slots.len() && doctor.slots[doctor.cursor] < week_end {
                let remaining = (doctor.slots.len() - doctor.cursor) as u64;
                let start = doctor.slots[doctor.cursor];
                doctor.cursor += 1;
                // Selection sampling: exactly `quota` of the doctor's slots, spread evenly.
                if rng.below(remaining) >= doctor.quota as u64 {
                    continue;
                }
                doctor.quota -= 1;
                let end = start + doctor.slot_ms;
                let status = pick_status(&mut rng, end <= now_ms);
                let live = status.is_live();
                let mut tries = 0;
                let patient = loop {
                    let candidate = rng.below(scale.patients as u64) as u32;
                    if !live || units(start, end).all(|u| !busy.contains(&(candidate, u))) {
                        break candidate;
                    }
                    tries += 1;
                    if tries > 10_000 {
                        return Err(AppError::Internal(
                            "too few patients for the live appointments".into(),
                        ));
                    }
                };
                let patient_id = &patient_ids[patient as usize];
                let id = ids.make("apt");
                summary.appointments += 1;
                if live {
                    summary.live += 1;
                    for unit in units(start, end) {
                        busy.insert((patient, unit));
                    }
                }
                let booked_at = (start
                    - (1 + rng.below(28) as i64) * 24 * 3_600_000
                    - rng.below(12) as i64 * 3_600_000)
                    .min(now_ms);
                let decided_at = (booked_at + (1 + rng.below(24) as i64) * 3_600_000).min(now_ms);
                let status_reason = match status {
                    AppointmentStatus::Cancelled => Some("Cannot make it"),
                    AppointmentStatus::Rejected => Some("Please see a specialist instead"),
                    _ => None,
                };
                // The history: booked, then each move to the status.
                let mut seq = 0;
                let mut at = booked_at;
                let mut from = None::<AppointmentStatus>;
                let mut to = AppointmentStatus::Requested;
                let mut action = "book";
                let mut actor = patient_id.as_str();
                loop {
                    batch.events.push(vec![
                        text(&id),
                        Cell::Integer(seq),
                        Cell::Integer(at),
                        text(actor),
                        text(action),
                        opt_text(from.map(|s| s.as_str())),
                        text(to.as_str()),
                        if seq == 0 {
                            Cell::Null
                        } else {
                            Cell::Integer(start)
                        },
                        Cell::Integer(start),
                        opt_text(status_reason.filter(|_| matches!(action, "cancel" | "reject"))),
                    ]);
                    summary.events += 1;
                    let Some((next_action, next)) = moves_to(status).get(seq as usize) else {
                        break;
                    };
                    seq += 1;
                    from = Some(to);
                    to = *next;
                    action = next_action;
                    actor = match action {
                        "cancel" => patient_id.as_str(),
                        "check_in" => desk_id.as_str(),
                        _ => doctor.id.as_str(),
                    };
                    at = match action {
                        "confirm" | "reject" | "cancel" => decided_at,
                        _ => start.min(now_ms),
                    };
                }
                batch.appointments.push(vec![
                    text(&id),
                    text(&doctor.id),
                    text(patient_id),
                    Cell::Integer(start),
                    Cell::Integer(end),
                    text(status.as_str()),
                    opt_text(rng.chance(85).then(|| *rng.pick(&REASONS))),
                    opt_text(status_reason),
                    text(patient_id),
                    Cell::Integer(booked_at),
                    Cell::Integer(at),
                    // The benchmark clinic's visits are all in person (mode,
                    // video_room): video changes no busy time, so nothing to measure.
                    text("in_person"),
                    Cell::Null,
                ]);
            }
            if batch.appointments.len() >= BATCH_APPOINTMENTS {
                written += batch.appointments.len();
                let full = std::mem::take(&mut batch);
                if let Some(previous) = pending.take() {
                    join(previous).await?;
                    progress.show(
                        "appointments",
                        written - full.appointments.len(),
                        scale.appointments,
                    );
                }
                pending = Some(tokio::spawn(full.write(app.clone())));
            }
        }
    }
    if let Some(previous) = pending.take() {
        join(previous).await?;
    }
    if !batch.appointments.is_empty() {
        batch.write(app.clone()).await?;
    }
    progress.show("appointments", summary.appointments, scale.appointments);

    summary.elapsed = started.elapsed();
    let detail = serde_json::json!({
        "scale": "large",
        "seed": seed,
        "doctors": summary.doctors,
        "patients": summary.patients,
        "appointments": summary.appointments,
    });
    app.store
        .write(move |tx| {
            tx.append_audit(&NewAuditEntry {
                at: now,
                actor_id: None,
                action: "demo.loaded".into(),
                subject_type: "clinic".into(),
                subject_id: None,
                detail,
            })?;
            Ok::<_, AppError>(())
        })
        .await?;
    Ok(Outcome::Loaded(summary))
}

async fn join(task: tokio::task::JoinHandle<Result<(), AppError>>) -> Result<(), AppError> {
    task.await
        .map_err(|e| AppError::Internal(format!("a write failed: {e}")))?
}

/// A past appointment was completed, missed, cancelled or rejected; a future one is
/// requested, confirmed or cancelled.
fn pick_status(rng: &mut Rng, past: bool) -> AppointmentStatus {
    use AppointmentStatus::*;
    let roll = rng.below(100);
    if past {
        match roll {
            0..75 => Completed,
            75..83 => NoShow,
            83..95 => Cancelled,
            _ => Rejected,
        }
    } else {
        match roll {
            0..55 => Confirmed,
            55..85 => Requested,
            _ => Cancelled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rng_is_deterministic_and_spreads() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let drawn: Vec<u64> = (0..1000).map(|_| a.below(10)).collect();
        assert_eq!(drawn, (0..1000).map(|_| b.below(10)).collect::<Vec<_>>());
        for digit in 0..10 {
            let count = drawn.iter().filter(|d| **d == digit).count();
            assert!((60..140).contains(&count), "{digit}: {count}");
        }
        assert_ne!(Rng::new(8).next_u64(), Rng::new(7).next_u64());
    }

    #[test]
    fn units_cover_the_slot_and_the_unit_it_ends_in() {
        let start = 1_800_000_000_000;
        assert_eq!(units(start, start + 20 * 60_000).count(), 4);
        assert_eq!(units(start, start + 21 * 60_000).count(), 5);
    }

    #[test]
    fn logins_name_the_first_and_last_accounts() {
        let text = logins(&Scale::LARGE);
        assert!(text.contains("doctor0001@demo.carebook.test .. doctor1000@"));
        assert!(text.contains("patient000001@demo.carebook.test .. patient100000@"));
    }

    #[test]
    fn every_pattern_parses_with_every_slot_length() {
        for pattern in PATTERNS {
            for minutes in SLOT_MINUTES {
                let input = ScheduleInput {
                    time_zone: "Europe/Berlin".into(),
                    slot_minutes: minutes,
                    weekly_hours: pattern
                        .iter()
                        .flat_map(|(days, start, end)| {
                            days.iter().map(move |day| WeeklyIntervalInput {
                                day: (*day).to_owned(),
                                start: (*start).to_owned(),
                                end: (*end).to_owned(),
                            })
                        })
                        .collect(),
                    min_notice_minutes: 60,
                    horizon_days: 90,
                    auto_confirm: false,
                    cancel_window_hours: 24,
                };
                assert!(Schedule::parse(&input).is_ok());
            }
        }
    }
}
