//! Timestamps printed as jiff prints them (`2026-12-08T07:00:00Z`), cheaply.
//!
//! A week of slots is a hundred timestamps. jiff's `Display` hands each to
//! serde_json a few characters at a time and serde_json escapes every piece on its
//! own: together 14 % of the server's time under the slots benchmark
//! (docs/BENCHMARKS.md, session 17). Here a timestamp is printed from its UTC day
//! (whose date is remembered between calls: a week of slots has seven) and second of
//! the day, and slots are written as JSON directly.

use jiff::Timestamp;
use jiff::tz::Offset;

const SECONDS_PER_DAY: i64 = 86_400;

/// Prints timestamps, remembering the date of the last day it printed.
#[derive(Default)]
pub struct UtcPrinter {
    last_day: Option<(i64, [u8; 10])>,
}

impl UtcPrinter {
    /// `YYYY-MM-DDTHH:MM:SSZ`, or `None` where jiff prints something else (a
    /// fraction of a second, a year outside 1..=9999).
    pub fn text(&mut self, timestamp: Timestamp) -> Option<[u8; 20]> {
        if timestamp.subsec_nanosecond() != 0 {
            return None;
        }
        let second = timestamp.as_second();
        let (day, of_day) = (
            second.div_euclid(SECONDS_PER_DAY),
            second.rem_euclid(SECONDS_PER_DAY),
        );
        let date = match self.last_day {
            Some((last, date)) if last == day => date,
            _ => {
                let date = date_text(timestamp)?;
                self.last_day = Some((day, date));
                date
            }
        };
        let mut text = *b"0000-00-00T00:00:00Z";
        text[..10].copy_from_slice(&date);
        put_digits(&mut text[11..13], of_day / 3600);
        put_digits(&mut text[14..16], of_day / 60 % 60);
        put_digits(&mut text[17..19], of_day % 60);
        Some(text)
    }

    /// Appends `timestamp` as jiff prints it.
    pub fn push(&mut self, out: &mut Vec<u8>, timestamp: Timestamp) {
        match self.text(timestamp) {
            Some(text) => out.extend_from_slice(&text),
            None => out.extend_from_slice(timestamp.to_string().as_bytes()),
        }
    }
}

fn date_text(timestamp: Timestamp) -> Option<[u8; 10]> {
    let civil = Offset::UTC.to_datetime(timestamp);
    let year = i64::from(civil.year());
    if !(1..=9999).contains(&year) {
        return None;
    }
    let mut date = *b"0000-00-00";
    put_digits(&mut date[..4], year);
    put_digits(&mut date[5..7], i64::from(civil.month()));
    put_digits(&mut date[8..10], i64::from(civil.day()));
    Some(date)
}

/// Writes `value` into `into` as decimal digits, zero-padded to its length.
fn put_digits(into: &mut [u8], mut value: i64) {
    for digit in into.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// The text of [`UtcPrinter::text`] (only ASCII digits and separators).
pub fn as_str(text: &[u8; 20]) -> &str {
    std::str::from_utf8(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 0001-01-01T00:00:00Z, and jiff's last timestamp (9999-12-30T22:00:00Z).
    const FIRST_SECOND: i64 = -62_135_596_800;
    const LAST_SECOND: i64 = 253_402_207_200;

    proptest! {
        #[test]
        fn timestamps_print_as_jiff_prints_them(
            seconds in proptest::collection::vec(FIRST_SECOND - 100_000..=LAST_SECOND, 1..8),
            steps in proptest::collection::vec(0..100_000i64, 1..40),
            nanos in prop_oneof![Just(0), 0..1_000_000_000i32],
        ) {
            // Runs of nearby timestamps (as slots are), so the remembered day is
            // used, left, and come back to.
            let mut printer = UtcPrinter::default();
            for start in seconds {
                let mut second = start;
                for step in &steps {
                    second = (second + step).min(LAST_SECOND);
                    let timestamp = Timestamp::new(second, nanos).unwrap();
                    let mut out = Vec::new();
                    printer.push(&mut out, timestamp);
                    prop_assert_eq!(String::from_utf8(out).unwrap(), timestamp.to_string());
                }
            }
        }
    }

    #[test]
    fn whole_seconds_in_four_digit_years_are_printed_here() {
        for text in [
            "0001-01-01T00:00:00Z",
            "2026-12-08T07:20:00Z",
            "9999-12-30T22:00:00Z",
        ] {
            let timestamp: Timestamp = text.parse().unwrap();
            let printed = UtcPrinter::default().text(timestamp).unwrap();
            assert_eq!(as_str(&printed), text);
        }
        let fraction: Timestamp = "2026-12-08T07:20:00.5Z".parse().unwrap();
        assert!(UtcPrinter::default().text(fraction).is_none());
        let before_year_one = Timestamp::from_second(FIRST_SECOND - 1).unwrap();
        assert!(UtcPrinter::default().text(before_year_one).is_none());
    }
}
