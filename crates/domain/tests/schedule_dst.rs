//! The slot grid across daylight-saving transitions, with every expected local time
//! and UTC instant written out.
//!
//! The tests live in a module named after the file so that
//! `cargo test -p carebook-domain schedule` selects them.

mod schedule_dst {
    use carebook_domain::schedule::{ScheduleInput, SlotRefusal, WeeklyIntervalInput};
    use carebook_domain::{BookingRules, Interval, Schedule, WeeklyInterval};
    use jiff::civil::{Time, Weekday};
    use jiff::tz::TimeZone;
    use jiff::{SignedDuration, Timestamp};

    fn ts(value: &str) -> Timestamp {
        value.parse().expect("timestamp")
    }

    fn span(start: &str, end: &str) -> Interval {
        Interval::new(ts(start), ts(end)).expect("interval")
    }

    /// A schedule with no notice and a year's horizon, so that with `NOW` every slot of
    /// 2026 is bookable.
    fn schedule(zone: &str, slot_minutes: i64, hours: &[(&str, &str, &str)]) -> Schedule {
        let input = ScheduleInput {
            time_zone: zone.to_owned(),
            slot_minutes,
            weekly_hours: hours
                .iter()
                .map(|&(day, start, end)| WeeklyIntervalInput {
                    day: day.to_owned(),
                    start: start.to_owned(),
                    end: end.to_owned(),
                })
                .collect(),
            min_notice_minutes: 0,
            horizon_days: 365,
            auto_confirm: false,
            cancel_window_hours: 24,
        };
        Schedule::parse(&input).expect("valid schedule")
    }

    const NOW: &str = "2026-01-01T00:00:00Z";

    /// "2026-03-29 03:00 CEST" for a slot's start in the schedule's zone.
    fn local(schedule: &Schedule, slot: &Interval) -> String {
        slot.start
            .to_zoned_datetime(schedule.time_zone.clone())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    struct Case {
        name: &'static str,
        zone: &'static str,
        slot_minutes: i64,
        hours: &'static [(&'static str, &'static str, &'static str)],
        window: (&'static str, &'static str),
        /// (local start, UTC start) of every slot, in order.
        expected: &'static [(&'static str, &'static str)],
    }

    const CASES: &[Case] = &[
        Case {
            name: "Berlin spring forward: 02:00-03:00 does not exist",
            zone: "Europe/Berlin",
            slot_minutes: 30,
            hours: &[("sunday", "01:00", "04:00")],
            window: ("2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
            expected: &[
                ("2026-03-29 01:00 CET", "2026-03-29T00:00:00Z"),
                ("2026-03-29 01:30 CET", "2026-03-29T00:30:00Z"),
                ("2026-03-29 03:00 CEST", "2026-03-29T01:00:00Z"),
                ("2026-03-29 03:30 CEST", "2026-03-29T01:30:00Z"),
            ],
        },
        Case {
            name: "Berlin fall back: 02:00-03:00 happens twice",
            zone: "Europe/Berlin",
            slot_minutes: 30,
            hours: &[("sunday", "01:00", "04:00")],
            window: ("2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
            expected: &[
                ("2026-10-25 01:00 CEST", "2026-10-24T23:00:00Z"),
                ("2026-10-25 01:30 CEST", "2026-10-24T23:30:00Z"),
                ("2026-10-25 02:00 CEST", "2026-10-25T00:00:00Z"),
                ("2026-10-25 02:30 CEST", "2026-10-25T00:30:00Z"),
                ("2026-10-25 02:00 CET", "2026-10-25T01:00:00Z"),
                ("2026-10-25 02:30 CET", "2026-10-25T01:30:00Z"),
                ("2026-10-25 03:00 CET", "2026-10-25T02:00:00Z"),
                ("2026-10-25 03:30 CET", "2026-10-25T02:30:00Z"),
            ],
        },
        Case {
            name: "New York spring forward: 02:00-03:00 does not exist",
            zone: "America/New_York",
            slot_minutes: 30,
            hours: &[("sunday", "00:00", "04:00")],
            window: ("2026-03-08T00:00:00Z", "2026-03-09T00:00:00Z"),
            expected: &[
                ("2026-03-08 00:00 EST", "2026-03-08T05:00:00Z"),
                ("2026-03-08 00:30 EST", "2026-03-08T05:30:00Z"),
                ("2026-03-08 01:00 EST", "2026-03-08T06:00:00Z"),
                ("2026-03-08 01:30 EST", "2026-03-08T06:30:00Z"),
                ("2026-03-08 03:00 EDT", "2026-03-08T07:00:00Z"),
                ("2026-03-08 03:30 EDT", "2026-03-08T07:30:00Z"),
            ],
        },
        Case {
            name: "New York fall back: 01:00-02:00 happens twice",
            zone: "America/New_York",
            slot_minutes: 30,
            hours: &[("sunday", "00:00", "03:00")],
            window: ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            expected: &[
                ("2026-11-01 00:00 EDT", "2026-11-01T04:00:00Z"),
                ("2026-11-01 00:30 EDT", "2026-11-01T04:30:00Z"),
                ("2026-11-01 01:00 EDT", "2026-11-01T05:00:00Z"),
                ("2026-11-01 01:30 EDT", "2026-11-01T05:30:00Z"),
                ("2026-11-01 01:00 EST", "2026-11-01T06:00:00Z"),
                ("2026-11-01 01:30 EST", "2026-11-01T06:30:00Z"),
                ("2026-11-01 02:00 EST", "2026-11-01T07:00:00Z"),
                ("2026-11-01 02:30 EST", "2026-11-01T07:30:00Z"),
            ],
        },
        Case {
            name: "New York: an interval wholly inside the fold",
            zone: "America/New_York",
            slot_minutes: 30,
            hours: &[("sunday", "01:00", "02:00")],
            window: ("2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
            expected: &[
                ("2026-11-01 01:00 EDT", "2026-11-01T05:00:00Z"),
                ("2026-11-01 01:30 EDT", "2026-11-01T05:30:00Z"),
                ("2026-11-01 01:00 EST", "2026-11-01T06:00:00Z"),
                ("2026-11-01 01:30 EST", "2026-11-01T06:30:00Z"),
            ],
        },
        Case {
            name: "Berlin: an interval wholly inside the gap has no slots",
            zone: "Europe/Berlin",
            slot_minutes: 30,
            hours: &[("sunday", "02:00", "03:00")],
            window: ("2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
            expected: &[],
        },
        Case {
            name: "Berlin: an interval ending in the gap ends when the gap does",
            zone: "Europe/Berlin",
            slot_minutes: 60,
            hours: &[("sunday", "00:00", "02:30")],
            window: ("2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
            expected: &[
                ("2026-03-29 00:00 CET", "2026-03-28T23:00:00Z"),
                ("2026-03-29 01:00 CET", "2026-03-29T00:00:00Z"),
            ],
        },
        Case {
            name: "Berlin: a slot running past an interval's end across the gap is dropped",
            zone: "Europe/Berlin",
            slot_minutes: 60,
            // 01:30 CET + 1h is 03:30 CEST, after the 03:15 end.
            hours: &[("sunday", "01:30", "03:15")],
            window: ("2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
            expected: &[],
        },
        Case {
            name: "Berlin: an interval ending in the fold ends at its second occurrence",
            zone: "Europe/Berlin",
            slot_minutes: 30,
            hours: &[("sunday", "01:00", "02:30")],
            window: ("2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z"),
            expected: &[
                ("2026-10-25 01:00 CEST", "2026-10-24T23:00:00Z"),
                ("2026-10-25 01:30 CEST", "2026-10-24T23:30:00Z"),
                ("2026-10-25 02:00 CEST", "2026-10-25T00:00:00Z"),
                ("2026-10-25 02:00 CET", "2026-10-25T01:00:00Z"),
            ],
        },
        Case {
            name: "Berlin: 45-minute slots, the one overlapping its predecessor across the gap is dropped",
            zone: "Europe/Berlin",
            slot_minutes: 45,
            // Grid 01:00, 01:45, (02:30 missing), 03:15; 01:45 CET lasts until 03:30 CEST.
            hours: &[("sunday", "01:00", "04:00")],
            window: ("2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z"),
            expected: &[
                ("2026-03-29 01:00 CET", "2026-03-29T00:00:00Z"),
                ("2026-03-29 01:45 CET", "2026-03-29T00:45:00Z"),
            ],
        },
        Case {
            name: "Lord Howe fall back by 30 minutes: 01:30-02:00 happens twice",
            zone: "Australia/Lord_Howe",
            slot_minutes: 20,
            hours: &[("sunday", "01:00", "03:00")],
            window: ("2026-04-04T00:00:00Z", "2026-04-05T00:00:00Z"),
            expected: &[
                ("2026-04-05 01:00 +11", "2026-04-04T14:00:00Z"),
                ("2026-04-05 01:20 +11", "2026-04-04T14:20:00Z"),
                ("2026-04-05 01:40 +11", "2026-04-04T14:40:00Z"),
                ("2026-04-05 01:40 +1030", "2026-04-04T15:10:00Z"),
                ("2026-04-05 02:00 +1030", "2026-04-04T15:30:00Z"),
                ("2026-04-05 02:20 +1030", "2026-04-04T15:50:00Z"),
                ("2026-04-05 02:40 +1030", "2026-04-04T16:10:00Z"),
            ],
        },
        Case {
            name: "Lord Howe spring forward by 30 minutes: 02:00-02:30 does not exist",
            zone: "Australia/Lord_Howe",
            slot_minutes: 20,
            hours: &[("sunday", "01:00", "04:00")],
            window: ("2026-10-03T00:00:00Z", "2026-10-04T00:00:00Z"),
            expected: &[
                ("2026-10-04 01:00 +1030", "2026-10-03T14:30:00Z"),
                ("2026-10-04 01:20 +1030", "2026-10-03T14:50:00Z"),
                ("2026-10-04 01:40 +1030", "2026-10-03T15:10:00Z"),
                ("2026-10-04 02:40 +11", "2026-10-03T15:40:00Z"),
                ("2026-10-04 03:00 +11", "2026-10-03T16:00:00Z"),
                ("2026-10-04 03:20 +11", "2026-10-03T16:20:00Z"),
                ("2026-10-04 03:40 +11", "2026-10-03T16:40:00Z"),
            ],
        },
        Case {
            name: "Santiago spring forward at midnight: 24:00 ends when the gap does",
            zone: "America/Santiago",
            slot_minutes: 30,
            hours: &[("saturday", "22:00", "24:00"), ("sunday", "00:00", "02:00")],
            window: ("2026-09-05T12:00:00Z", "2026-09-06T12:00:00Z"),
            expected: &[
                ("2026-09-05 22:00 -04", "2026-09-06T02:00:00Z"),
                ("2026-09-05 22:30 -04", "2026-09-06T02:30:00Z"),
                ("2026-09-05 23:00 -04", "2026-09-06T03:00:00Z"),
                ("2026-09-05 23:30 -04", "2026-09-06T03:30:00Z"),
                ("2026-09-06 01:00 -03", "2026-09-06T04:00:00Z"),
                ("2026-09-06 01:30 -03", "2026-09-06T04:30:00Z"),
            ],
        },
        Case {
            name: "Santiago fall back at midnight: Saturday 23:00-24:00 happens twice",
            zone: "America/Santiago",
            slot_minutes: 30,
            hours: &[("saturday", "22:00", "24:00"), ("sunday", "00:00", "01:00")],
            window: ("2026-04-04T12:00:00Z", "2026-04-05T12:00:00Z"),
            expected: &[
                ("2026-04-04 22:00 -03", "2026-04-05T01:00:00Z"),
                ("2026-04-04 22:30 -03", "2026-04-05T01:30:00Z"),
                ("2026-04-04 23:00 -03", "2026-04-05T02:00:00Z"),
                ("2026-04-04 23:30 -03", "2026-04-05T02:30:00Z"),
                ("2026-04-04 23:00 -04", "2026-04-05T03:00:00Z"),
                ("2026-04-04 23:30 -04", "2026-04-05T03:30:00Z"),
                ("2026-04-05 00:00 -04", "2026-04-05T04:00:00Z"),
                ("2026-04-05 00:30 -04", "2026-04-05T04:30:00Z"),
            ],
        },
    ];

    #[test]
    fn grid_across_dst_transitions() {
        for case in CASES {
            let schedule = schedule(case.zone, case.slot_minutes, case.hours);
            let window = span(case.window.0, case.window.1);
            let slots = schedule.grid_slots(window);
            let got: Vec<(String, String)> = slots
                .iter()
                .map(|slot| (local(&schedule, slot), slot.start.to_string()))
                .collect();
            let expected: Vec<(String, String)> = case
                .expected
                .iter()
                .map(|&(local, utc)| (local.to_owned(), utc.to_owned()))
                .collect();
            assert_eq!(got, expected, "{}", case.name);

            for slot in &slots {
                assert_eq!(slot.duration(), schedule.slot_length(), "{}", case.name);
                assert_eq!(
                    schedule.check_bookable(slot.start, &[], ts(NOW)),
                    Ok(*slot),
                    "{}: {}",
                    case.name,
                    local(&schedule, slot)
                );
            }
            // The same slots, each once, whatever window asks for them.
            let wide = span("2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z");
            let in_wide: Vec<Interval> = schedule
                .grid_slots(wide)
                .into_iter()
                .filter(|slot| window.contains(slot))
                .collect();
            assert_eq!(in_wide, slots, "{}", case.name);
            assert_eq!(
                schedule.free_slots(window, &[], ts(NOW)),
                slots,
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn weekly_nine_oclock_stays_nine_oclock_across_dst() {
        // (zone, Monday before, Monday after, 09:00 before in UTC, 09:00 after in UTC)
        let cases = [
            (
                "Europe/Berlin",
                "2026-03-23",
                "2026-03-30",
                "2026-03-23T08:00:00Z",
                "2026-03-30T07:00:00Z",
            ),
            (
                "Europe/Berlin",
                "2026-10-19",
                "2026-10-26",
                "2026-10-19T07:00:00Z",
                "2026-10-26T08:00:00Z",
            ),
            (
                "America/New_York",
                "2026-03-02",
                "2026-03-09",
                "2026-03-02T14:00:00Z",
                "2026-03-09T13:00:00Z",
            ),
            (
                "America/New_York",
                "2026-10-26",
                "2026-11-02",
                "2026-10-26T13:00:00Z",
                "2026-11-02T14:00:00Z",
            ),
        ];
        for (zone, before, after, utc_before, utc_after) in cases {
            let schedule = schedule(zone, 30, &[("monday", "09:00", "09:30")]);
            let window = span(
                &format!("{before}T00:00:00Z"),
                &format!("{after}T23:59:00Z"),
            );
            let slots = schedule.grid_slots(window);
            let starts: Vec<String> = slots.iter().map(|s| s.start.to_string()).collect();
            assert_eq!(starts, [utc_before, utc_after], "{zone}");
            for slot in &slots {
                let wall = schedule.time_zone.to_datetime(slot.start);
                assert_eq!(wall.time().to_string(), "09:00:00", "{zone}");
                assert_eq!(schedule.check_bookable(slot.start, &[], ts(NOW)), Ok(*slot));
            }
            // The UTC instant shifts by the hour the clocks moved.
            let shift =
                slots[1].start.duration_since(slots[0].start) - SignedDuration::from_hours(7 * 24);
            assert_eq!(shift.abs(), SignedDuration::from_hours(1), "{zone}");
        }
    }

    #[test]
    fn nonexistent_local_times_are_never_offered_or_accepted() {
        // Sunday 02:00–03:00 in Berlin, a time that does not exist on 2026-03-29.
        let schedule = schedule("Europe/Berlin", 30, &[("sunday", "02:00", "03:00")]);
        let now = ts(NOW);
        let day = span("2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z");
        assert!(schedule.grid_slots(day).is_empty());
        assert!(schedule.free_slots(day, &[], now).is_empty());
        // Whichever offset one reads 02:00 or 02:30 with, the instant is refused: it is
        // 01:xx CET or 03:xx CEST on the wall clock, not on the grid.
        for instant in [
            "2026-03-29T00:00:00Z", // 02:00 read as CEST = 01:00 CET
            "2026-03-29T00:30:00Z", // 02:30 read as CEST = 01:30 CET
            "2026-03-29T01:00:00Z", // 02:00 read as CET = 03:00 CEST
            "2026-03-29T01:30:00Z", // 02:30 read as CET = 03:30 CEST
        ] {
            assert_eq!(
                schedule.check_bookable(ts(instant), &[], now),
                Err(SlotRefusal::NotOnGrid),
                "{instant}"
            );
        }
        // The week before and after, the same hours exist.
        for instant in [
            "2026-03-22T01:00:00Z",
            "2026-03-22T01:30:00Z",
            "2026-04-05T00:00:00Z",
            "2026-04-05T00:30:00Z",
        ] {
            assert!(
                schedule.check_bookable(ts(instant), &[], now).is_ok(),
                "{instant}"
            );
        }

        // With hours around the gap, no offered slot shows a wall time in it.
        let schedule = schedule_around_gap();
        for slot in schedule.grid_slots(day) {
            let wall = schedule.time_zone.to_datetime(slot.start);
            assert_ne!(wall.hour(), 2, "{slot:?}");
        }
    }

    fn schedule_around_gap() -> Schedule {
        schedule("Europe/Berlin", 15, &[("sunday", "00:00", "06:00")])
    }

    #[test]
    fn folded_hour_offers_each_real_instant_exactly_once() {
        let schedule = schedule("Europe/Berlin", 15, &[("sunday", "02:00", "03:00")]);
        let now = ts(NOW);
        let day = span("2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z");
        let expected: Vec<Timestamp> = (0..8)
            .map(|i| ts("2026-10-25T00:00:00Z") + SignedDuration::from_mins(15 * i))
            .collect();
        let slots = schedule.grid_slots(day);
        let starts: Vec<Timestamp> = slots.iter().map(|s| s.start).collect();
        assert_eq!(starts, expected);
        assert_eq!(schedule.free_slots(day, &[], now), slots);
        for slot in &slots {
            assert_eq!(schedule.check_bookable(slot.start, &[], now), Ok(*slot));
        }
        // Asking for either occurrence alone gives exactly that occurrence.
        let first = span("2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z");
        let second = span("2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z");
        assert_eq!(schedule.grid_slots(first), slots[..4]);
        assert_eq!(schedule.grid_slots(second), slots[4..]);
        // Booking the first 02:00 leaves the second one free.
        let taken = [slots[0]];
        let free = schedule.free_slots(day, &taken, now);
        assert_eq!(free, slots[1..]);
        assert_eq!(
            schedule.check_bookable(slots[0].start, &taken, now),
            Err(SlotRefusal::Taken)
        );
        assert!(schedule.check_bookable(slots[4].start, &taken, now).is_ok());
    }

    #[test]
    fn fold_moving_the_clock_back_across_midnight() {
        // No IANA zone does this in 2026, so a POSIX rule: UTC+2, summer time UTC+3
        // ending on the last Sunday of October at 00:30, when the clock goes back to
        // Saturday 23:30. Saturday 23:30–24:00 then happens twice, the second time
        // after the wall clock has shown Sunday.
        let schedule = Schedule {
            time_zone: TimeZone::posix("XST-2XDT,M3.5.0/2,M10.5.0/0:30").unwrap(),
            slot_minutes: 30,
            weekly_hours: vec![WeeklyInterval {
                day: Weekday::Saturday,
                start: Time::new(23, 30, 0, 0).unwrap(),
                end: Time::midnight(),
            }],
            rules: BookingRules {
                min_notice_minutes: 0,
                horizon_days: 365,
                ..BookingRules::default()
            },
        };
        let night = span("2026-10-24T18:00:00Z", "2026-10-25T06:00:00Z");
        let both = [
            span("2026-10-24T20:30:00Z", "2026-10-24T21:00:00Z"), // 23:30 +03
            span("2026-10-24T21:30:00Z", "2026-10-24T22:00:00Z"), // 23:30 +02
        ];
        assert_eq!(schedule.grid_slots(night), both);
        // A window starting on Sunday 00:10 (+03) still finds the Saturday slot that
        // starts after it.
        let after_midnight = span("2026-10-24T21:10:00Z", "2026-10-24T23:00:00Z");
        assert_eq!(schedule.grid_slots(after_midnight), both[1..]);
        for slot in both {
            assert_eq!(schedule.check_bookable(slot.start, &[], ts(NOW)), Ok(slot));
        }
    }
}
