//! carebook-load: HTTP load scenarios against a running carebook server, on loopback
//! only, each bounded in time, at a fixed number of keep-alive HTTP/1.1 connections.
//!
//! Scenarios: `hello` (GET /healthz, the server's ceiling in the same run), `slots`,
//! `search`, `book`, `contested` (many clients racing for a few slots, then a check
//! for double bookings) and `mixed`. Setup (reading doctors, logging patients in,
//! listing free slots) is never timed.
#![forbid(unsafe_code)]

pub mod chat;
pub mod client;
pub mod cpu;
pub mod report;
pub mod rss;
mod scenarios;
pub mod setup;
pub mod stats;
pub mod verify;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;

use crate::client::{Conn, Target};
use crate::cpu::CpuUse;
use crate::rss::Memory;
use crate::setup::{Doctor, Patient};
use crate::stats::Latency;

/// The small demo's patients (`carebook demo`): patient01 .. patient50.
pub const DEMO_PATIENT_EMAIL: &str = "patient{n:02}@demo.carebook.test";
pub const DEMO_ADMIN_EMAIL: &str = "admin@demo.carebook.test";
pub const DEMO_PASSWORD: &str = "carebook-demo";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Hello,
    Slots,
    Search,
    Book,
    Contested,
    Mixed,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Hello,
        Scenario::Slots,
        Scenario::Search,
        Scenario::Book,
        Scenario::Contested,
        Scenario::Mixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Hello => "hello",
            Scenario::Slots => "slots",
            Scenario::Search => "search",
            Scenario::Book => "book",
            Scenario::Contested => "contested",
            Scenario::Mixed => "mixed",
        }
    }

    /// Whether the scenario needs patients' tokens.
    pub fn books(self) -> bool {
        matches!(self, Scenario::Book | Scenario::Contested | Scenario::Mixed)
    }
}

impl FromStr for Scenario {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scenario::ALL
            .into_iter()
            .find(|scenario| scenario.name() == s.trim())
            .ok_or_else(|| {
                format!("unknown scenario {s:?} (hello, slots, search, book, contested, mixed)")
            })
    }
}

/// What to run, against what.
#[derive(Clone, Debug)]
pub struct Config {
    /// `http://HOST:PORT` on loopback.
    pub url: String,
    pub scenarios: Vec<Scenario>,
    /// Each scenario (but `contested`) runs once per count.
    pub connections: Vec<usize>,
    pub duration: Duration,
    /// How many patients to log in (numbered from 1 into `patient_email`).
    pub patients: usize,
    /// `{n}` or `{n:0W}` stands for the patient's number.
    pub patient_email: String,
    pub password: String,
    /// An admin, to read appointments back after `contested`; `None` skips that.
    pub admin_email: Option<String>,
    /// The server's database, to count double bookings in SQL after `contested`.
    pub database: Option<String>,
    /// The server's process, to sample its memory.
    pub server_pid: Option<u32>,
    /// Slots and search windows start within this many days from tomorrow (7..=31).
    pub days_ahead: i64,
    /// Bookings take free slots within this many days from tomorrow (keep it within
    /// the doctors' booking horizon: 60 days in the demo).
    pub booking_days: i64,
    pub contested_clients: usize,
    pub contested_slots: usize,
    pub seed: u64,
    /// Passes over the whole list of scenarios, one after the other (hello, slots,
    /// hello, slots, ...): on a machine whose speed drifts, each round's slots/hello
    /// ratio compares two runs taken seconds apart.
    pub rounds: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            url: "http://127.0.0.1:8080".into(),
            scenarios: Scenario::ALL.to_vec(),
            connections: vec![16],
            duration: Duration::from_secs(10),
            patients: 50,
            patient_email: DEMO_PATIENT_EMAIL.into(),
            password: DEMO_PASSWORD.into(),
            admin_email: Some(DEMO_ADMIN_EMAIL.into()),
            database: None,
            server_pid: None,
            days_ahead: 28,
            booking_days: 56,
            contested_clients: 64,
            contested_slots: 4,
            seed: 1,
            rounds: 1,
        }
    }
}

/// The contested scenario's own findings.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Contested {
    pub clients: usize,
    pub slots_per_round: usize,
    pub rounds: usize,
    /// 201 answers: at most one per slot if all is well.
    pub created: u64,
    pub conflicts: u64,
    /// Slots that more than one client was told it had booked.
    pub slots_won_twice: u64,
    /// Overlapping live appointments of the raced doctors, read through the API.
    pub double_bookings_api: Option<u64>,
    /// The same, counted in SQL (with `--database`).
    pub double_bookings_database: Option<u64>,
}

impl Contested {
    /// No double booking seen by any check that ran, and at least one check ran.
    pub fn clean(&self) -> bool {
        let checked = self.double_bookings_api.is_some() || self.double_bookings_database.is_some();
        checked
            && self.slots_won_twice == 0
            && self.double_bookings_api.unwrap_or(0) == 0
            && self.double_bookings_database.unwrap_or(0) == 0
    }
}

/// One scenario at one connection count.
#[derive(Serialize, Debug, Clone)]
pub struct RunReport {
    pub scenario: Scenario,
    /// Which pass over the scenarios (from 1; see [`Config::rounds`]).
    pub round: usize,
    pub connections: usize,
    pub seconds: f64,
    /// Answered requests, whatever their status.
    pub requests: u64,
    pub ok: u64,
    pub requests_per_second: f64,
    pub ok_per_second: f64,
    pub latency: Option<Latency>,
    /// 409s (slot taken, patient busy): reported apart from errors.
    pub conflicts: u64,
    /// Other non-2xx answers by status.
    pub errors_by_status: BTreeMap<String, u64>,
    pub transport_errors: u64,
    pub first_transport_error: Option<String>,
    pub memory: Option<Memory>,
    /// Where the CPU went during the timed part (with `--server-pid`, on Linux).
    pub cpu: Option<CpuUse>,
    /// Book and mixed: how many distinct free slots were prepared.
    pub prepared_bookings: Option<usize>,
    /// Book and mixed: every prepared slot was used before the time was up.
    pub ran_out_of_slots: bool,
    pub contested: Option<Contested>,
}

impl RunReport {
    pub fn errors(&self) -> u64 {
        self.errors_by_status.values().sum::<u64>() + self.transport_errors
    }
}

#[derive(Serialize, Debug, Clone)]
pub struct Report {
    pub target: String,
    pub started_at: String,
    pub duration_seconds: f64,
    pub rounds: usize,
    pub doctors: usize,
    pub specialties: usize,
    pub patients: usize,
    pub runs: Vec<RunReport>,
    pub notes: Vec<String>,
}

impl Report {
    /// Every contested run found no double booking (true when there was none).
    pub fn no_double_bookings(&self) -> bool {
        self.runs
            .iter()
            .filter_map(|r| r.contested.as_ref())
            .all(Contested::clean)
    }
}

/// What every run shares.
pub(crate) struct Context {
    pub config: Config,
    pub target: Target,
    pub doctors: Vec<Doctor>,
    pub specialties: Vec<String>,
    pub patients: Vec<Patient>,
    /// Each patient's busy times (existing appointments and the tool's attempts).
    pub busy: Mutex<Vec<Vec<(i64, i64)>>>,
    pub admin_token: Option<String>,
    pub tomorrow: Date,
}

/// Prepares, then runs every scenario at every connection count.
pub async fn run(config: Config) -> Result<Report, String> {
    if !(1..=100).contains(&config.rounds) {
        return Err("--rounds must be within 1..=100".into());
    }
    if config.connections.is_empty() || config.connections.contains(&0) {
        return Err("--connections: give one or more counts above zero".into());
    }
    if !(7..=31).contains(&config.days_ahead) {
        return Err("--days-ahead must be within 7..=31".into());
    }
    if !(1..=366).contains(&config.booking_days) {
        return Err("--booking-days must be within 1..=366".into());
    }
    let target = Target::parse(&config.url).await?;
    let started_at = Timestamp::now();
    let mut notes = Vec::new();
    let (doctors, specialties) = setup::catalog(&target).await?;
    eprintln!(
        "carebook-load: {} doctors, {} specialties at {}",
        doctors.len(),
        specialties.len(),
        config.url
    );
    if doctors.is_empty() || specialties.is_empty() {
        return Err("the server lists no doctors or no specialties: load a demo first".into());
    }
    let needs_patients = config.scenarios.iter().any(|s| s.books());
    let (patients, busy, admin_token) = if needs_patients {
        if config.patients == 0 {
            return Err(
                "the book, contested and mixed scenarios need --patients-from-demo N > 0".into(),
            );
        }
        let emails = (1..=config.patients)
            .map(|n| setup::email_for(&config.patient_email, n))
            .collect::<Result<Vec<_>, _>>()?;
        eprintln!("carebook-load: logging {} patients in", emails.len());
        let patients = setup::patients(&target, emails, &config.password).await?;
        let busy = setup::busy_times(&target, &patients).await?;
        let admin_token = match &config.admin_email {
            Some(email) if config.scenarios.contains(&Scenario::Contested) => {
                match setup::login(&mut Conn::new(&target), email, &config.password).await {
                    Ok(token) => Some(token),
                    Err(error) => {
                        notes.push(format!(
                            "no admin ({error}): contested is not read back through the API"
                        ));
                        None
                    }
                }
            }
            _ => None,
        };
        (patients, busy, admin_token)
    } else {
        (Vec::new(), Vec::new(), None)
    };
    let today = started_at.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let tomorrow = today.tomorrow().map_err(|e| e.to_string())?;
    let context = std::sync::Arc::new(Context {
        target,
        doctors,
        specialties,
        patients,
        busy: Mutex::new(busy),
        admin_token,
        tomorrow,
        config: config.clone(),
    });
    let mut runs = Vec::new();
    for round in 1..=config.rounds {
        for (index, scenario) in config.scenarios.iter().copied().enumerate() {
            let counts = if scenario == Scenario::Contested {
                vec![config.contested_clients]
            } else {
                config.connections.clone()
            };
            for connections in counts {
                eprintln!(
                    "carebook-load: {} at {connections} connections for {:?} (round {round} of {})",
                    scenario.name(),
                    config.duration,
                    config.rounds
                );
                let seed = config.seed
                    ^ ((round as u64) << 48)
                    ^ ((index as u64) << 32)
                    ^ connections as u64;
                let mut report =
                    scenarios::run(context.clone(), scenario, connections, seed).await?;
                report.round = round;
                runs.push(report);
            }
        }
    }
    Ok(Report {
        target: config.url.clone(),
        started_at: started_at.to_string(),
        duration_seconds: config.duration.as_secs_f64(),
        rounds: config.rounds,
        doctors: context.doctors.len(),
        specialties: context.specialties.len(),
        patients: context.patients.len(),
        runs,
        notes,
    })
}
