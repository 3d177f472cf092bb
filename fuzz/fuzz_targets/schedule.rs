//! `Schedule::parse` (the body of `PUT /doctors/{id}/schedule`): never a panic; a
//! parsed schedule re-serialises (`to_input`) and re-parses to the same value; its
//! weekly hours are sorted and never overlap; the slot grid of any week lies inside
//! the window, in order, with start < end.
#![no_main]

use carebook_domain::Interval;
use carebook_domain::Schedule;
use carebook_domain::schedule::{ScheduleInput, WeeklyIntervalInput};
use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const ZONES: &[&str] = &[
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Apia",
    "America/St_Johns",
    "UTC",
];
const DAYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Mostly plausible values (so the fuzzer gets past validation), sometimes anything.
fn pick(u: &mut Unstructured, choices: &[&str]) -> Result<String> {
    if u.ratio(7, 8)? {
        Ok((*u.choose(choices)?).to_owned())
    } else {
        u.arbitrary()
    }
}

fn hhmm(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=7)? {
        0 => u.arbitrary()?,
        1 => format!("{}:{}", u.int_in_range(0..=99)?, u.int_in_range(0..=99)?),
        _ => format!(
            "{:02}:{:02}",
            u.int_in_range(0..=24)?,
            5 * u.int_in_range(0..=11)?
        ),
    })
}

fn number(u: &mut Unstructured, plausible: std::ops::RangeInclusive<i64>) -> Result<i64> {
    if u.ratio(7, 8)? {
        u.int_in_range(plausible)
    } else {
        u.arbitrary()
    }
}

fn input(u: &mut Unstructured) -> Result<ScheduleInput> {
    let count = u.int_in_range(0..=12)?;
    let mut weekly_hours = Vec::with_capacity(count);
    for _ in 0..count {
        weekly_hours.push(WeeklyIntervalInput {
            day: pick(u, DAYS)?,
            start: hhmm(u)?,
            end: hhmm(u)?,
        });
    }
    Ok(ScheduleInput {
        time_zone: pick(u, ZONES)?,
        slot_minutes: number(u, 0..=50)?.wrapping_mul(5),
        weekly_hours,
        min_notice_minutes: number(u, 0..=10_000)?,
        horizon_days: number(u, 0..=400)?,
        auto_confirm: u.arbitrary()?,
        cancel_window_hours: number(u, 0..=200)?,
    })
}

fn check(u: &mut Unstructured) -> Result<()> {
    let input = input(u)?;
    let schedule = match Schedule::parse(&input) {
        Ok(schedule) => schedule,
        Err(errors) => {
            assert!(!errors.is_empty());
            return Ok(());
        }
    };
    let again = Schedule::parse(&schedule.to_input()).expect("to_input re-parses");
    assert_eq!(again, schedule, "{input:?}");

    for pair in schedule.weekly_hours.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let key = |i: &carebook_domain::WeeklyInterval| (i.day.to_monday_zero_offset(), i.start);
        assert!(key(&a) < key(&b), "sorted: {:?}", schedule.weekly_hours);
        if a.day == b.day {
            assert!(a.end_minute() <= i64::from(b.start.hour()) * 60 + i64::from(b.start.minute()));
        }
    }

    // A week (or less) of the slot grid from anywhere between 2000 and 2100.
    let start =
        Timestamp::from_second(u.int_in_range(946_684_800..=4_102_444_800)?).expect("in range");
    let length = SignedDuration::from_mins(u.int_in_range(1..=7 * 24 * 60)?);
    let window = Interval::new(start, start + length).expect("positive length");
    let slots = schedule.grid_slots(window);
    for slot in &slots {
        assert!(slot.start < slot.end, "{slot:?}");
        assert!(window.contains(slot), "{slot:?} outside {window:?}");
    }
    for pair in slots.windows(2) {
        assert!(pair[0].start < pair[1].start, "in order: {pair:?}");
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = check(&mut Unstructured::new(data));
});
