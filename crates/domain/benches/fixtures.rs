//! Deterministic fixtures for the domain-engine benchmarks (`benches/engine.rs`),
//! checked by `tests/bench_fixtures.rs` so that a broken fixture is caught by
//! `cargo test` instead of silently measuring the wrong thing.
//!
//! One clinic in Europe/Berlin, "now" = Monday 16 March 2026, 06:00 local. The
//! 30-day window crosses the spring-forward change of Sunday 29 March 2026.
//!
//! Busy time is what the store hands the engine: time off plus live appointments
//! overlapping the queried window. Appointments are booked per local day as a fixed
//! share of that day's open grid slots (shuffled by a seeded generator), so the busy
//! share of any window is what the fixture says whatever the seed.
#![allow(dead_code)] // Each of the bench and the test uses part of this module.

use carebook_domain::schedule::{ScheduleInput, WeeklyIntervalInput};
use carebook_domain::{Interval, Schedule};
use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

pub const ZONE: &str = "Europe/Berlin";
pub const SEED: u64 = 0x00C0_FFEE_CA5E_B00C;
/// The share of each working day's open slots that holds an appointment (one doctor).
pub const BOOKED_SHARE: f64 = 0.7;
/// Doctors in the specialty of the "next free slot" benchmark.
pub const SPECIALTY_DOCTORS: usize = 25;
/// What the app uses around a requested start to load busy time for `check_bookable`
/// (`CHECK_MARGIN_HOURS` in src/app/appointments.rs).
pub const CHECK_MARGIN_HOURS: i64 = 24;

/// Monday 16 March 2026, 06:00 in Berlin (CET, UTC+1).
pub fn now() -> Timestamp {
    "2026-03-16T05:00:00Z".parse().expect("now")
}

pub fn zone() -> TimeZone {
    TimeZone::get(ZONE).expect("zone")
}

/// The first local day of every window: Monday 16 March 2026.
pub fn first_day() -> Date {
    date(2026, 3, 16)
}

/// `days` whole local days in Berlin from `first` (00:00 to 00:00 local).
pub fn local_days(first: Date, days: i64) -> Interval {
    let tz = zone();
    let start = tz.to_timestamp(first.at(0, 0, 0, 0)).expect("start");
    let last = first
        .checked_add(jiff::Span::new().days(days))
        .expect("end");
    let end = tz.to_timestamp(last.at(0, 0, 0, 0)).expect("end");
    Interval::new(start, end).expect("window")
}

/// The 1-day window: Tuesday 17 March.
pub fn one_day() -> Interval {
    local_days(date(2026, 3, 17), 1)
}

/// The 7-day window: Monday 16 to Sunday 22 March.
pub fn seven_days() -> Interval {
    local_days(first_day(), 7)
}

/// The 30-day window: Monday 16 March to Tuesday 14 April, across the DST change.
pub fn thirty_days() -> Interval {
    local_days(first_day(), 30)
}

/// A schedule as a client sends it: `(day, start, end)` weekly intervals.
pub fn schedule_input(slot_minutes: i64, hours: &[(&str, &str, &str)]) -> ScheduleInput {
    ScheduleInput {
        time_zone: ZONE.to_owned(),
        slot_minutes,
        weekly_hours: hours
            .iter()
            .map(|&(day, start, end)| WeeklyIntervalInput {
                day: day.to_owned(),
                start: start.to_owned(),
                end: end.to_owned(),
            })
            .collect(),
        min_notice_minutes: 120,
        horizon_days: 60,
        auto_confirm: false,
        cancel_window_hours: 24,
    }
}

const WEEKDAYS: [&str; 5] = ["monday", "tuesday", "wednesday", "thursday", "friday"];

/// Monday to Friday 09:00–13:00 and 14:00–17:00, 15-minute slots: 28 slots a day.
pub fn standard_input() -> ScheduleInput {
    let hours: Vec<(&str, &str, &str)> = WEEKDAYS
        .iter()
        .flat_map(|&day| [(day, "09:00", "13:00"), (day, "14:00", "17:00")])
        .collect();
    schedule_input(15, &hours)
}

/// A doctor as the engine sees one: the schedule and the busy time the store holds.
#[derive(Debug, Clone)]
pub struct Doctor {
    pub schedule: Schedule,
    /// Sorted by start.
    pub time_off: Vec<Interval>,
    /// Sorted by start, disjoint, each at most `LONGEST_APPOINTMENT` long.
    pub appointments: Vec<Interval>,
}

/// Appointments are single slots, and no slot is longer than this.
const LONGEST_APPOINTMENT: SignedDuration = SignedDuration::from_hours(4);

impl Doctor {
    /// Time off and appointments overlapping `window`, as the store's query returns
    /// them (time off first). Appointments are found by binary search, standing in for
    /// an indexed query or an in-memory cache.
    pub fn busy(&self, window: Interval) -> Vec<Interval> {
        let mut busy: Vec<Interval> = self
            .time_off
            .iter()
            .filter(|t| t.overlaps(&window))
            .copied()
            .collect();
        let earliest = window.start - LONGEST_APPOINTMENT;
        let from = self.appointments.partition_point(|a| a.start < earliest);
        let to = self.appointments.partition_point(|a| a.start < window.end);
        busy.extend(
            self.appointments[from..to]
                .iter()
                .filter(|a| a.overlaps(&window)),
        );
        busy
    }

    /// The share of the grid slots in `window` that busy time blocks.
    pub fn busy_share(&self, window: Interval) -> f64 {
        let grid = self.schedule.grid_slots(window).len();
        let open = self.schedule.open_slots(window, &self.busy(window)).len();
        assert!(grid > 0, "no grid slots in {window:?}");
        (grid - open) as f64 / grid as f64
    }

    /// The first free slot at or after `from`, searched a week at a time up to the
    /// horizon: the loop of `next_free_slot` in src/app/doctors.rs, with busy time
    /// from [`Doctor::busy`] instead of the store.
    pub fn next_free_slot(&self, from: Timestamp, now: Timestamp) -> Option<Interval> {
        let bookable = self.schedule.bookable_window(now);
        let mut start = from.max(bookable.start);
        let limit = bookable.end + self.schedule.slot_length();
        while start < limit {
            let end = (start + SignedDuration::from_hours(24 * 7)).min(limit);
            let window = Interval::new(start, end)?;
            let busy = self.busy(window);
            if let Some(slot) = self.schedule.free_slots(window, &busy, now).first() {
                return Some(*slot);
            }
            start = end;
        }
        None
    }
}

/// The earliest free slot among `doctors` from `now`, with the doctor's index: what a
/// specialty search does (each doctor's next free slot, then the soonest).
pub fn earliest_free_slot(doctors: &[Doctor], now: Timestamp) -> Option<(usize, Interval)> {
    doctors
        .iter()
        .enumerate()
        .filter_map(|(index, doctor)| doctor.next_free_slot(now, now).map(|slot| (index, slot)))
        .min_by_key(|&(_, slot)| slot.start)
}

/// SplitMix64: a tiny seeded generator, so fixtures need no `rand`.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Days on which appointments are booked: two weeks before "now" to well past the
/// 60-day horizon.
const BOOKED_FROM: i64 = -14;
const BOOKED_DAYS: i64 = 80;

/// Books `share(day_index)` of each local day's grid slots that time off leaves open,
/// day 0 being [`first_day`].
fn book(
    schedule: &Schedule,
    time_off: &[Interval],
    share: impl Fn(i64) -> f64,
    rng: &mut Rng,
) -> Vec<Interval> {
    let mut appointments = Vec::new();
    for day in BOOKED_FROM..BOOKED_FROM + BOOKED_DAYS {
        let date = first_day()
            .checked_add(jiff::Span::new().days(day))
            .expect("date");
        let mut open: Vec<Interval> = schedule
            .grid_slots(local_days(date, 1))
            .into_iter()
            .filter(|slot| time_off.iter().all(|t| !t.overlaps(slot)))
            .collect();
        let wanted = (share(day) * open.len() as f64).round() as usize;
        // A partial Fisher–Yates shuffle: the first `wanted` are a uniform pick.
        for i in 0..wanted.min(open.len()) {
            let j = i + rng.below(open.len() - i);
            open.swap(i, j);
        }
        appointments.extend_from_slice(&open[..wanted.min(open.len())]);
    }
    appointments.sort();
    appointments
}

/// `[from, to)` in Berlin, each given as a local date and a whole hour.
fn local_span(from: (Date, i8), to: (Date, i8)) -> Interval {
    let tz = zone();
    let at = |(day, hour): (Date, i8)| tz.to_timestamp(day.at(hour, 0, 0, 0)).expect("local");
    Interval::new(at(from), at(to)).expect("span")
}

/// The one doctor of the free-slot and conflict-check benchmarks: the standard
/// schedule, [`BOOKED_SHARE`] of every working day booked, and time off on Friday
/// 27 March (the day before the DST weekend), Easter Monday 6 April and the morning
/// of Thursday 9 April.
pub fn one_doctor() -> Doctor {
    let schedule = Schedule::parse(&standard_input()).expect("standard schedule");
    let time_off = vec![
        local_span((date(2026, 3, 27), 0), (date(2026, 3, 28), 0)),
        local_span((date(2026, 4, 6), 0), (date(2026, 4, 7), 0)),
        local_span((date(2026, 4, 9), 9), (date(2026, 4, 9), 13)),
    ];
    let mut rng = Rng::new(SEED);
    let appointments = book(&schedule, &time_off, |_| BOOKED_SHARE, &mut rng);
    Doctor {
        schedule,
        time_off,
        appointments,
    }
}

/// The weekly hours of the specialty's doctors, by template.
fn specialty_input(template: usize) -> ScheduleInput {
    match template {
        // The standard week, 15-minute slots.
        0 => standard_input(),
        // Monday to Thursday 08:00–16:00, 20-minute slots.
        1 => {
            let hours: Vec<_> = WEEKDAYS[..4]
                .iter()
                .map(|&day| (day, "08:00", "16:00"))
                .collect();
            schedule_input(20, &hours)
        }
        // Tuesday and Thursday 10:00–18:00 and Saturday morning, 30-minute slots.
        2 => schedule_input(
            30,
            &[
                ("tuesday", "10:00", "18:00"),
                ("thursday", "10:00", "18:00"),
                ("saturday", "09:00", "12:00"),
            ],
        ),
        // Monday, Wednesday, Friday 07:30–12:30, 10-minute slots.
        3 => schedule_input(
            10,
            &[
                ("monday", "07:30", "12:30"),
                ("wednesday", "07:30", "12:30"),
                ("friday", "07:30", "12:30"),
            ],
        ),
        // Afternoons and evenings, Monday to Friday 13:00–19:00, 15-minute slots.
        _ => {
            let hours: Vec<_> = WEEKDAYS
                .iter()
                .map(|&day| (day, "13:00", "19:00"))
                .collect();
            schedule_input(15, &hours)
        }
    }
}

/// Days from [`first_day`] during which a "fully booked" doctor has no free slot.
pub const FULLY_BOOKED_DAYS: i64 = 10;

/// Whether specialty doctor `index` is fully booked for [`FULLY_BOOKED_DAYS`].
pub fn is_fully_booked(index: usize) -> bool {
    index % 5 == 4
}

/// The specialty of the "next free slot" benchmark: [`SPECIALTY_DOCTORS`] doctors on
/// five kinds of weekly hours, booked 60 % to 90 % (by doctor), every fifth one
/// fully booked for the first [`FULLY_BOOKED_DAYS`] days (so its search runs into a
/// second week), each with one day off in the first four weeks.
pub fn specialty() -> Vec<Doctor> {
    let mut rng = Rng::new(SEED ^ 0x5EC1_A17E);
    (0..SPECIALTY_DOCTORS)
        .map(|index| {
            let schedule = Schedule::parse(&specialty_input(index % 5)).expect("valid schedule");
            let day_off = first_day()
                .checked_add(jiff::Span::new().days(rng.below(28) as i64))
                .expect("day off");
            let next = day_off.tomorrow().expect("day after");
            let time_off = vec![local_span((day_off, 0), (next, 0))];
            let base = 0.6 + 0.1 * (index % 4) as f64;
            let full = is_fully_booked(index);
            let share = move |day: i64| {
                if full && (0..FULLY_BOOKED_DAYS).contains(&day) {
                    1.0
                } else {
                    base
                }
            };
            let appointments = book(&schedule, &time_off, share, &mut rng);
            Doctor {
                schedule,
                time_off,
                appointments,
            }
        })
        .collect()
}

/// A request to book `start` with the doctor's schedule: the busy time the app loads
/// around it ([`CHECK_MARGIN_HOURS`] either side).
pub fn around(start: Timestamp) -> Interval {
    let margin = SignedDuration::from_hours(CHECK_MARGIN_HOURS);
    Interval::new(start - margin, start + margin).expect("margin")
}

/// Wednesday 18 March: the first free slot and the first booked slot of the day.
pub fn booking_requests(doctor: &Doctor) -> (Timestamp, Timestamp) {
    let day = local_days(date(2026, 3, 18), 1);
    let busy = doctor.busy(day);
    let grid = doctor.schedule.grid_slots(day);
    let free = grid
        .iter()
        .find(|slot| busy.iter().all(|b| !b.overlaps(slot)))
        .expect("a free slot on 18 March");
    let taken = grid
        .iter()
        .find(|slot| busy.iter().any(|b| b.overlaps(slot)))
        .expect("a booked slot on 18 March");
    (free.start, taken.start)
}
