//! Criterion micro-benchmarks of the domain engine: what the app computes per request
//! once a doctor's schedule and busy time are in hand (store time is not measured).
//!
//! Run with `scripts/bench-domain.sh` or `cargo bench -p carebook-domain`; the fixtures
//! are in `fixtures.rs` and checked by `tests/bench_fixtures.rs`.
#![forbid(unsafe_code)]

mod fixtures;

use std::hint::black_box;
use std::time::Duration;

use carebook_domain::Schedule;
use criterion::{Criterion, criterion_group, criterion_main};
use jiff::tz::TimeZone;

use fixtures::Doctor;

/// `free_slots` of one doctor over 1, 7 and 30 days, with the busy time the store
/// would return for each window; plus the bare grid of a week (no busy time, no
/// rules) to show what the subtraction costs.
fn free_slots(c: &mut Criterion) {
    let doctor = fixtures::one_doctor();
    let now = fixtures::now();
    let mut group = c.benchmark_group("free_slots");
    for (name, window) in [
        ("1_day", fixtures::one_day()),
        ("7_days", fixtures::seven_days()),
        ("30_days_dst", fixtures::thirty_days()),
    ] {
        let busy = doctor.busy(window);
        group.bench_function(name, |b| {
            b.iter(|| {
                doctor
                    .schedule
                    .free_slots(black_box(window), black_box(&busy), black_box(now))
            })
        });
    }
    let week = fixtures::seven_days();
    group.bench_function("grid_only_7_days", |b| {
        b.iter(|| doctor.schedule.grid_slots(black_box(week)))
    });
    group.finish();
}

/// The earliest free slot among the doctors of a specialty, from now: each doctor's
/// next free slot (a week at a time, as the app does), then the soonest. Busy time is
/// looked up in memory by binary search, standing in for the store.
fn next_free_slot(c: &mut Criterion) {
    let doctors: Vec<Doctor> = fixtures::specialty();
    let now = fixtures::now();
    let mut group = c.benchmark_group("next_free_slot");
    group.bench_function("specialty_25_doctors", |b| {
        b.iter(|| fixtures::earliest_free_slot(black_box(&doctors), black_box(now)))
    });
    let one = &doctors[0];
    group.bench_function("one_doctor", |b| {
        b.iter(|| one.next_free_slot(black_box(now), black_box(now)))
    });
    let full = &doctors[4];
    group.bench_function("one_doctor_fully_booked_10_days", |b| {
        b.iter(|| full.next_free_slot(black_box(now), black_box(now)))
    });
    group.finish();
}

/// `Schedule::check_bookable`, what booking (and rescheduling) asks of the engine
/// inside the write transaction, with the busy time of 24 hours either side.
fn check_bookable(c: &mut Criterion) {
    let doctor = fixtures::one_doctor();
    let now = fixtures::now();
    let (free, taken) = fixtures::booking_requests(&doctor);
    let mut group = c.benchmark_group("check_bookable");
    for (name, start) in [("free", free), ("taken", taken)] {
        let busy = doctor.busy(fixtures::around(start));
        group.bench_function(name, |b| {
            b.iter(|| {
                doctor
                    .schedule
                    .check_bookable(black_box(start), black_box(&busy), black_box(now))
            })
        });
    }
    let off_grid = free + jiff::SignedDuration::from_mins(5);
    let busy = doctor.busy(fixtures::around(off_grid));
    group.bench_function("off_grid", |b| {
        b.iter(|| {
            doctor
                .schedule
                .check_bookable(black_box(off_grid), black_box(&busy), black_box(now))
        })
    });
    group.finish();
}

/// Other per-request work: validating a schedule a doctor saves, and resolving the
/// zone name that the store does for every doctor row it reads.
fn per_request(c: &mut Criterion) {
    let input = fixtures::standard_input();
    let mut group = c.benchmark_group("per_request");
    group.bench_function("schedule_parse", |b| {
        b.iter(|| Schedule::parse(black_box(&input)))
    });
    group.bench_function("time_zone_get", |b| {
        b.iter(|| TimeZone::get(black_box(fixtures::ZONE)))
    });
    group.finish();
}

/// Short runs (a couple of minutes in all); command-line flags such as
/// `--measurement-time` still override these.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = engine;
    config = config();
    targets = free_slots, next_free_slot, check_bookable, per_request
}
criterion_main!(engine);
