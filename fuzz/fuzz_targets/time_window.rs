//! `parse_instant` and `parse_window` (the `from`/`to` of slot, search and list
//! queries): never a panic; a window has start < end and spans at most 31 days; an
//! instant re-parses from its own RFC 3339 form; every error names `from` or `to`.
#![no_main]

use carebook_domain::schedule::MAX_SLOT_WINDOW_DAYS;
use carebook_domain::time::{parse_instant, parse_window};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use libfuzzer_sys::fuzz_target;

const ZONES: &[&str] = &[
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
];

/// The input is three control bytes (zone, default length, which bounds are given)
/// and then the text of `from` and `to`, separated by a newline, so that the corpus
/// stays readable: `\x01\x06\x03 2026-03-02T09:00:00+01:00\n2026-03-05`.
fn check(data: &[u8]) -> Option<()> {
    let (control, text) = data.split_at_checked(3)?;
    let text = std::str::from_utf8(text).ok()?;
    let zone = TimeZone::get(ZONES[usize::from(control[0]) % ZONES.len()]).expect("a bundled zone");
    let default_days = 1 + i64::from(control[1]) % MAX_SLOT_WINDOW_DAYS;
    let now: Timestamp = "2026-03-01T06:00:00Z".parse().expect("an instant");
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));
    let from = (control[2] & 1 == 1).then(|| first.to_owned());
    let to = (control[2] & 2 == 2).then(|| second.to_owned());

    for value in [&from, &to].into_iter().flatten() {
        if let Ok(instant) = parse_instant("from", value) {
            let again = parse_instant("from", &instant.to_string()).expect("re-parses");
            assert_eq!(again, instant, "{value:?}");
        }
    }
    match parse_window(from.as_deref(), to.as_deref(), &zone, now, default_days) {
        Ok(window) => {
            assert!(window.start < window.end, "{from:?} {to:?}: {window:?}");
            assert!(
                window.duration() <= SignedDuration::from_hours(24 * MAX_SLOT_WINDOW_DAYS),
                "{from:?} {to:?}: {window:?}"
            );
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for error in &errors.errors {
                assert!(error.field == "from" || error.field == "to", "{error:?}");
            }
        }
    }
    Some(())
}

fuzz_target!(|data: &[u8]| {
    let _ = check(data);
});
