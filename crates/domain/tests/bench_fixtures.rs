//! The benchmark fixtures are what `benches/fixtures.rs` says they are, so a broken
//! fixture fails `cargo test` instead of quietly measuring something else. (The
//! benchmarks themselves never run in `cargo test`.)
#![forbid(unsafe_code)]

#[path = "../benches/fixtures.rs"]
mod fixtures;

mod bench_fixtures {
    use super::fixtures;

    #[test]
    fn fixtures_are_what_the_benchmarks_claim() {
        let doctor = fixtures::one_doctor();
        let now = fixtures::now();
        let tz = fixtures::zone();

        // One doctor: 28 slots a working day, 60–80 % busy in every benchmark window.
        let (day, week, month) = (
            fixtures::one_day(),
            fixtures::seven_days(),
            fixtures::thirty_days(),
        );
        assert_eq!(doctor.schedule.grid_slots(day).len(), 28);
        assert_eq!(doctor.schedule.grid_slots(week).len(), 5 * 28);
        assert_eq!(doctor.schedule.grid_slots(month).len(), 22 * 28);
        for window in [day, week, month] {
            let share = doctor.busy_share(window);
            assert!((0.6..=0.8).contains(&share), "{window:?}: busy {share}");
            assert!(!doctor.busy(window).is_empty());
        }
        // Free slots exist, fewer than the grid, all bookable now.
        for window in [day, week, month] {
            let free = doctor
                .schedule
                .free_slots(window, &doctor.busy(window), now);
            let grid = doctor.schedule.grid_slots(window);
            assert!(
                !free.is_empty() && free.len() < grid.len() / 2,
                "{window:?}"
            );
        }
        // The month crosses the spring-forward change, and slots on both sides of it
        // keep their local 09:00 start.
        let change = tz.following(month.start).next().expect("a transition");
        assert!(month.start < change.timestamp() && change.timestamp() < month.end);
        let first_hours = |slots: Vec<carebook_domain::Interval>| {
            let mut hours: Vec<i8> = slots
                .iter()
                .map(|s| tz.to_datetime(s.start).hour())
                .collect();
            hours.dedup();
            hours[0]
        };
        let before = fixtures::local_days(jiff::civil::date(2026, 3, 23), 1);
        let after = fixtures::local_days(jiff::civil::date(2026, 3, 30), 1);
        assert_eq!(first_hours(doctor.schedule.grid_slots(before)), 9);
        assert_eq!(first_hours(doctor.schedule.grid_slots(after)), 9);

        // The conflict check's requests: one free, one taken.
        let (free, taken) = fixtures::booking_requests(&doctor);
        let check = |start| {
            doctor
                .schedule
                .check_bookable(start, &doctor.busy(fixtures::around(start)), now)
        };
        assert!(check(free).is_ok());
        assert_eq!(
            check(taken),
            Err(carebook_domain::SlotRefusal::Taken),
            "{taken}"
        );

        // The specialty: 25 doctors, each with a free slot; the fully booked ones find
        // theirs only after the fully booked days, so their search spans two weeks.
        let doctors = fixtures::specialty();
        assert_eq!(doctors.len(), fixtures::SPECIALTY_DOCTORS);
        let full_until =
            fixtures::local_days(fixtures::first_day(), fixtures::FULLY_BOOKED_DAYS).end;
        for (index, doctor) in doctors.iter().enumerate() {
            let slot = doctor.next_free_slot(now, now).expect("a free slot");
            assert!(slot.start >= now, "doctor {index}");
            let share = doctor.busy_share(week);
            if fixtures::is_fully_booked(index) {
                assert!(slot.start >= full_until, "doctor {index}: {slot:?}");
                assert_eq!(share, 1.0, "doctor {index}");
            } else {
                assert!((0.5..1.0).contains(&share), "doctor {index}: busy {share}");
            }
        }
        let (_, earliest) = fixtures::earliest_free_slot(&doctors, now).expect("earliest");
        let each: Vec<_> = doctors
            .iter()
            .filter_map(|d| d.next_free_slot(now, now))
            .collect();
        assert_eq!(Some(earliest.start), each.iter().map(|s| s.start).min());

        // Deterministic: building again gives the same fixtures.
        assert_eq!(fixtures::one_doctor().appointments, doctor.appointments);
    }
}
