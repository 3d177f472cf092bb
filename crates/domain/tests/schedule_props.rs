//! Property tests of the free-slot engine: random weekly hours, zones with and without
//! daylight saving (including Lord Howe's half-hour shift), busy time, "now" and
//! windows of up to 31 days across 2026, with its transitions.
//!
//! The tests live in a module named after the file so that
//! `cargo test -p carebook-domain schedule` selects them.

mod schedule_props {
    use carebook_domain::schedule::{ScheduleInput, SlotRefusal, WeeklyIntervalInput};
    use carebook_domain::time::{local_boundary, resolve_local};
    use carebook_domain::{Interval, Schedule, WeeklyInterval};
    use jiff::civil::{Date, Time};
    use jiff::{RoundMode, SignedDuration, Timestamp, TimestampRound, Unit};
    use proptest::prelude::*;

    const ZONES: [&str; 5] = [
        "Europe/Berlin",
        "America/New_York",
        "Asia/Kolkata",
        "Australia/Lord_Howe",
        "UTC",
    ];
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    /// The 2026 transitions of the zones above, as UTC instants.
    const TRANSITIONS: [&str; 6] = [
        "2026-03-29T01:00:00Z", // Berlin forward
        "2026-10-25T01:00:00Z", // Berlin back
        "2026-03-08T07:00:00Z", // New York forward
        "2026-11-01T06:00:00Z", // New York back
        "2026-04-04T15:00:00Z", // Lord Howe back (30 minutes)
        "2026-10-03T15:30:00Z", // Lord Howe forward (30 minutes)
    ];
    const DAY_SECS: i64 = 24 * 60 * 60;

    fn ts(value: &str) -> Timestamp {
        value.parse().expect("timestamp")
    }

    fn secs(seconds: i64) -> SignedDuration {
        SignedDuration::from_secs(seconds)
    }

    fn clock(minute: i64) -> String {
        format!("{:02}:{:02}", minute / 60, minute % 60)
    }

    /// Per day, a sorted set of 5-minute grid points (0..=288, 288 being 24:00)
    /// paired up into disjoint intervals; those shorter than one slot are left out.
    fn weekly_hours(days: &[Vec<i64>], slot_minutes: i64) -> Vec<WeeklyIntervalInput> {
        let mut hours = Vec::new();
        for (day, points) in days.iter().enumerate() {
            for pair in points.chunks_exact(2) {
                let (start, end) = (pair[0] * 5, pair[1] * 5);
                if end - start >= slot_minutes {
                    hours.push(WeeklyIntervalInput {
                        day: DAYS[day].to_owned(),
                        start: clock(start),
                        end: clock(end),
                    });
                }
            }
        }
        hours
    }

    #[derive(Debug, Clone)]
    struct Scenario {
        input: ScheduleInput,
        window: Interval,
        now: Timestamp,
        busy: Vec<Interval>,
        probes: Vec<Timestamp>,
    }

    fn anchor() -> impl Strategy<Value = Timestamp> {
        let year_start = ts("2026-01-01T00:00:00Z");
        prop_oneof![
            (0..365 * DAY_SECS).prop_map(move |s| year_start + secs(s)),
            // On the hour, where slots start.
            (0..365 * 24i64).prop_map(move |h| year_start + secs(h * 3600)),
            (
                prop::sample::select(TRANSITIONS.to_vec()),
                -4 * DAY_SECS..DAY_SECS
            )
                .prop_map(|(t, s)| ts(t) + secs(s)),
        ]
    }

    fn scenario() -> impl Strategy<Value = Scenario> {
        (
            prop::sample::select(ZONES.to_vec()),
            prop::sample::select(vec![15i64, 20, 30]),
            prop::collection::vec(
                prop::collection::btree_set(0i64..=288, 0..=6)
                    .prop_map(|set| set.into_iter().collect::<Vec<i64>>()),
                7,
            ),
            0i64..=1440,
            1i64..=60,
            anchor(),
            // Window length: a minute to 31 days, in seconds.
            60..=31 * DAY_SECS,
            // How long before the window starts "now" is (negative: after).
            -3 * DAY_SECS..=45 * DAY_SECS,
            prop::collection::vec((0.0f64..1.0, 60i64..=10 * 60 * 60), 0..8),
            prop::collection::vec(0.0f64..1.0, 0..6),
        )
            .prop_map(
                |(zone, slot, days, notice, horizon, start, length, lead, busy, probes)| {
                    // A third of the windows start between two seconds.
                    let offset = SignedDuration::from_nanos(
                        i64::from(length % 3 == 0) * (length * 104_729 % 999_999_937),
                    );
                    let window = Interval::new(start + offset, start + secs(length)).unwrap();
                    let around = |f: f64| {
                        // Somewhere from a day before the window to a day after it, on
                        // the minute.
                        let span = length + 2 * DAY_SECS;
                        let at = start - secs(DAY_SECS) + secs((f * span as f64) as i64);
                        at.round(Unit::Minute).unwrap()
                    };
                    Scenario {
                        input: ScheduleInput {
                            time_zone: zone.to_owned(),
                            slot_minutes: slot,
                            weekly_hours: weekly_hours(&days, slot),
                            min_notice_minutes: notice,
                            horizon_days: horizon,
                            auto_confirm: false,
                            cancel_window_hours: 24,
                        },
                        window,
                        // Half the time a "now" between two seconds, as a clock's is.
                        now: start
                            - secs(lead)
                            - SignedDuration::from_nanos((lead % 2) * (lead * 7_919 % 999_999_937)),
                        busy: busy
                            .into_iter()
                            .map(|(f, len)| {
                                let at = around(f) + secs((f * 1e6) as i64 % 60);
                                Interval::new(at, at + secs(len)).unwrap()
                            })
                            .collect(),
                        probes: probes.into_iter().map(around).collect(),
                    }
                },
            )
    }

    fn minute_of_day(time: Time) -> i64 {
        i64::from(time.hour()) * 60 + i64::from(time.minute())
    }

    /// The weekly interval of which local `date` `time` is a grid time (a start of one
    /// of its slots on the wall clock), if any.
    fn grid_interval(schedule: &Schedule, date: Date, time: Time) -> Option<&WeeklyInterval> {
        if time.second() != 0 || time.subsec_nanosecond() != 0 {
            return None;
        }
        let minute = minute_of_day(time);
        schedule.weekly_hours.iter().find(|interval| {
            let start = minute_of_day(interval.start);
            interval.day == date.weekday()
                && start <= minute
                && (minute - start) % schedule.slot_minutes == 0
                && minute + schedule.slot_minutes <= interval.end_minute()
        })
    }

    /// An independent grid: every 5-minute instant from a slot before the window to its
    /// end, read on the wall clock (the reverse of how the engine works), kept if that
    /// wall time is a grid time whose slot ends by the interval's real end (the last
    /// instant showing its end, or the end of the gap hiding it); then the candidates
    /// overlapping an earlier one are dropped and those inside the window kept.
    fn oracle_grid(schedule: &Schedule, window: Interval) -> Vec<Interval> {
        let length = schedule.slot_length();
        let tz = &schedule.time_zone;
        let five = SignedDuration::from_mins(5);
        let first = (window.start - length)
            .round(
                TimestampRound::new()
                    .smallest(Unit::Minute)
                    .increment(5)
                    .mode(RoundMode::Ceil),
            )
            .unwrap();
        let mut candidates: Vec<Interval> = Vec::new();
        let mut at = first;
        while at < window.end {
            let wall = tz.to_datetime(at);
            let slot = Interval::starting_at(at, length).unwrap();
            if let Some(interval) = grid_interval(schedule, wall.date(), wall.time()) {
                let (end_date, end_time) = if interval.end_minute() == 24 * 60 {
                    (wall.date().tomorrow().unwrap(), Time::midnight())
                } else {
                    (wall.date(), interval.end)
                };
                let real_end = resolve_local(tz, end_date, end_time)
                    .last()
                    .copied()
                    .or_else(|| local_boundary(tz, end_date, end_time))
                    .unwrap();
                if slot.end <= real_end {
                    candidates.push(slot);
                }
            }
            at += five;
        }
        let mut kept = Vec::new();
        for (i, slot) in candidates.iter().enumerate() {
            let overlapped = candidates[..i]
                .iter()
                .rev()
                .take_while(|earlier| earlier.start > slot.start - length)
                .any(|earlier| earlier.overlaps(slot));
            if !overlapped && window.contains(slot) {
                kept.push(*slot);
            }
        }
        kept
    }

    fn near_transition(at: Timestamp) -> bool {
        TRANSITIONS
            .iter()
            .any(|t| (at - ts(t)).abs() <= SignedDuration::from_hours(48))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn free_slots_obey_every_rule(s in scenario()) {
            let schedule = Schedule::parse(&s.input).expect("generated input is valid");
            prop_assert_eq!(&Schedule::parse(&schedule.to_input()).unwrap(), &schedule);
            let length = schedule.slot_length();
            let bookable = schedule.bookable_window(s.now);
            let notice = SignedDuration::from_mins(schedule.rules.min_notice_minutes);
            let horizon = SignedDuration::from_hours(24 * schedule.rules.horizon_days);
            prop_assert_eq!(bookable.start, s.now + notice);
            prop_assert_eq!(bookable.end, s.now + horizon);

            let grid = schedule.grid_slots(s.window);
            for pair in grid.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start, "overlap or unsorted: {:?}", pair);
            }
            for slot in &grid {
                prop_assert!(s.window.contains(slot));
                prop_assert_eq!(slot.duration(), length);
                let wall = schedule.time_zone.to_datetime(slot.start);
                let interval = grid_interval(&schedule, wall.date(), wall.time());
                prop_assert!(interval.is_some(), "off-grid wall time {}", wall);
            }

            let free = schedule.free_slots(s.window, &s.busy, s.now);
            for pair in free.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start, "overlap or unsorted: {:?}", pair);
            }
            for slot in &free {
                prop_assert!(s.window.contains(slot));
                prop_assert_eq!(slot.duration(), length);
                prop_assert!(s.busy.iter().all(|b| !b.overlaps(slot)));
                prop_assert!(slot.start >= bookable.start);
                prop_assert!(slot.start <= bookable.end);
                let checked = schedule.check_bookable(slot.start, &s.busy, s.now);
                prop_assert_eq!(checked, Ok(*slot));
            }

            // Exactly the grid slots that no rule removes, and the others are refused
            // for the right reason.
            let expected: Vec<Interval> = grid
                .iter()
                .copied()
                .filter(|slot| {
                    slot.start >= bookable.start
                        && slot.start <= bookable.end
                        && s.busy.iter().all(|b| !b.overlaps(slot))
                })
                .collect();
            prop_assert_eq!(&free, &expected);
            // (A sample of them, to keep the suite fast in debug builds: every slot
            // within two days of a transition and every eighth other one.)
            let refused = grid.iter().enumerate().filter(|(i, slot)| {
                free.binary_search(slot).is_err() && (i % 8 == 0 || near_transition(slot.start))
            });
            for (_, slot) in refused {
                let refusal = schedule.check_bookable(slot.start, &s.busy, s.now);
                let reason = if slot.start < bookable.start {
                    SlotRefusal::TooSoon
                } else if slot.start > bookable.end {
                    SlotRefusal::BeyondHorizon
                } else {
                    SlotRefusal::Taken
                };
                prop_assert_eq!(refusal, Err(reason));
            }

            // check_bookable knows the grid of every instant, not just listed ones.
            for &probe in &s.probes {
                let day = secs(DAY_SECS);
                let around = Interval::new(probe - day, probe + day).unwrap();
                let grid = schedule.grid_slots(around);
                let listed = grid.into_iter().find(|slot| slot.start == probe);
                let checked = schedule.check_bookable(probe, &[], probe - day * 30);
                match listed {
                    Some(slot) => prop_assert!(
                        matches!(checked, Ok(found) if found == slot)
                            || checked == Err(SlotRefusal::TooSoon)
                            || checked == Err(SlotRefusal::BeyondHorizon),
                        "{} listed but {:?}", probe, checked
                    ),
                    None => prop_assert_eq!(checked, Err(SlotRefusal::NotOnGrid)),
                }
            }
        }

        #[test]
        fn free_slots_from_a_grid_are_free_slots_and_the_first_is_first_free_slot(
            s in scenario(),
            before in 0..3 * DAY_SECS,
            after in 0..3 * DAY_SECS,
            cut in 0.0f64..1.0,
        ) {
            let schedule = Schedule::parse(&s.input).expect("generated input is valid");
            let free = schedule.free_slots(s.window, &s.busy, s.now);
            let expected = free.first().copied();
            // A grid around the window, as wide as the margins say.
            let around = Interval::new(s.window.start - secs(before), s.window.end + secs(after))
                .unwrap();
            let grid = schedule.slot_grid(around);
            prop_assert!(grid.covers(s.window));
            prop_assert_eq!(&schedule.free_slots_from(&grid, s.window, &s.busy, s.now), &free);
            prop_assert_eq!(schedule.first_free_slot(&grid, s.window, &s.busy, s.now), expected);
            prop_assert_eq!(
                schedule.first_free_slot(&grid, s.window, &s.busy, s.now).is_some(),
                !free.is_empty()
            );
            // The span a copy of the app holds: two days before now to three past the
            // horizon (the window may lie outside it: then `free_slots` answers).
            let held = Interval::new(
                s.now - secs(2 * DAY_SECS),
                s.now + secs((schedule.rules.horizon_days + 3) * DAY_SECS),
            )
            .unwrap();
            let grid = schedule.slot_grid(held);
            prop_assert_eq!(&schedule.free_slots_from(&grid, s.window, &s.busy, s.now), &free);
            prop_assert_eq!(schedule.first_free_slot(&grid, s.window, &s.busy, s.now), expected);
            // A grid covering only part of the window: never a wrong answer either.
            let length = (s.window.end - s.window.start).as_secs();
            let part = Interval::new(
                s.window.start,
                s.window.start + secs(((length as f64 * cut) as i64).max(1)),
            )
            .unwrap();
            let grid = schedule.slot_grid(part);
            prop_assert_eq!(&schedule.free_slots_from(&grid, s.window, &s.busy, s.now), &free);
            prop_assert_eq!(schedule.first_free_slot(&grid, s.window, &s.busy, s.now), expected);
        }

        #[test]
        fn a_booking_checked_on_a_grid_is_checked_as_without_one(
            s in scenario(),
            before in 0..3 * DAY_SECS,
            after in 0..3 * DAY_SECS,
        ) {
            let schedule = Schedule::parse(&s.input).expect("generated input is valid");
            let around = Interval::new(s.window.start - secs(before), s.window.end + secs(after))
                .unwrap();
            let held = Interval::new(
                s.now - secs(2 * DAY_SECS),
                s.now + secs((schedule.rules.horizon_days + 3) * DAY_SECS),
            )
            .unwrap();
            let free = schedule.free_slots(s.window, &[], s.now);
            let starts: Vec<Timestamp> = s
                .probes
                .iter()
                .copied()
                .chain(free.iter().map(|slot| slot.start))
                .chain(free.iter().map(|slot| slot.start + secs(60)))
                .collect();
            for span in [around, held] {
                let grid = schedule.slot_grid(span);
                for &start in &starts {
                    prop_assert_eq!(
                        schedule.check_bookable_from(&grid, start, &s.busy, s.now),
                        schedule.check_bookable(start, &s.busy, s.now),
                        "start {} on a grid over {:?}", start, span
                    );
                }
            }
        }

        #[test]
        fn grid_matches_a_wall_clock_oracle(s in scenario()) {
            let schedule = Schedule::parse(&s.input).expect("generated input is valid");
            prop_assert_eq!(schedule.grid_slots(s.window), oracle_grid(&schedule, s.window));
        }
    }
}
