//! Instants, half-open intervals, and the one place where a local wall-clock time
//! becomes real instants.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::schedule::MAX_SLOT_WINDOW_DAYS;
use crate::validation::ValidationErrors;

/// A half-open span of real time, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Interval {
    pub start: Timestamp,
    pub end: Timestamp,
}

impl Interval {
    /// `None` unless `start < end`.
    pub fn new(start: Timestamp, end: Timestamp) -> Option<Interval> {
        (start < end).then_some(Interval { start, end })
    }

    pub fn starting_at(start: Timestamp, length: SignedDuration) -> Option<Interval> {
        start
            .checked_add(length)
            .ok()
            .and_then(|end| Interval::new(start, end))
    }

    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn contains(&self, other: &Interval) -> bool {
        self.start <= other.start && other.end <= self.end
    }

    pub fn duration(&self) -> SignedDuration {
        self.end.duration_since(self.start)
    }
}

/// The real instants at which the wall clock in `tz` shows `date` `time`.
///
/// A time that does not exist (the clock jumps over it, spring forward) yields none;
/// a time that occurs twice (the clock falls back over it) yields both, earlier
/// first; any other time yields exactly one.
pub fn resolve_local(tz: &TimeZone, date: Date, time: Time) -> Vec<Timestamp> {
    let local = DateTime::from_parts(date, time);
    let ambiguous = tz.to_ambiguous_timestamp(local);
    let at = |offset: jiff::tz::Offset| offset.to_timestamp(local).ok();
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { offset } => at(offset).into_iter().collect(),
        AmbiguousOffset::Gap { .. } => Vec::new(),
        AmbiguousOffset::Fold { before, after } => {
            let mut instants: Vec<Timestamp> =
                [at(before), at(after)].into_iter().flatten().collect();
            instants.sort();
            instants
        }
    }
}

/// The instant at which the local wall-clock `date` `time` is reached or passed: a
/// time in a gap maps to the first instant after the gap, a time in a fold to its
/// first occurrence. Used for the *ends* of local intervals, which bound slots but
/// are never offered themselves.
pub fn local_boundary(tz: &TimeZone, date: Date, time: Time) -> Option<Timestamp> {
    let local = DateTime::from_parts(date, time);
    match tz.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
        // Both offsets map the missing local time past the gap; the later one of the
        // two instants is the first one on or after the jump.
        AmbiguousOffset::Gap { before, after } => {
            let a = before.to_timestamp(local).ok()?;
            let b = after.to_timestamp(local).ok()?;
            Some(a.max(b))
        }
        AmbiguousOffset::Fold { before, after } => {
            let a = before.to_timestamp(local).ok()?;
            let b = after.to_timestamp(local).ok()?;
            Some(a.min(b))
        }
    }
}

/// Parses an RFC 3339 instant (with offset), naming the field on failure.
pub fn parse_instant(field: &str, value: &str) -> Result<Timestamp, ValidationErrors> {
    value.trim().parse::<Timestamp>().map_err(|_| {
        ValidationErrors::single(
            field,
            "must be an RFC 3339 date-time with offset, such as 2026-03-02T09:00:00+01:00",
        )
    })
}

/// A `from`/`to` bound: an RFC 3339 instant, or a plain date meaning that day in the
/// doctor's zone (`from` = its first instant, `to` = the first instant after it).
fn parse_bound(
    field: &str,
    value: &str,
    zone: &TimeZone,
    is_end: bool,
) -> Result<Timestamp, ValidationErrors> {
    if let Ok(date) = value.trim().parse::<Date>() {
        let day = if is_end {
            date.tomorrow().ok()
        } else {
            Some(date)
        };
        return day
            .and_then(|d| d.to_zoned_datetime(zone.clone()).ok())
            .map(|z| z.timestamp())
            .ok_or_else(|| ValidationErrors::single(field, "is out of range"));
    }
    parse_instant(field, value).map_err(|_| {
        ValidationErrors::single(
            field,
            "must be an RFC 3339 date-time with offset or a date such as 2026-03-02",
        )
    })
}

/// A `from`/`to` query window: each bound an RFC 3339 instant or a plain date in
/// `zone`; `from` defaults to `now`, `to` to `default_days` after `from`; at most
/// [`MAX_SLOT_WINDOW_DAYS`] long. Every error names its field.
pub fn parse_window(
    from: Option<&str>,
    to: Option<&str>,
    zone: &TimeZone,
    now: Timestamp,
    default_days: i64,
) -> Result<Interval, ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let start = match from {
        Some(from) => errors.take(parse_bound("from", from, zone, false)),
        None => Some(now),
    };
    let end = match (to, start) {
        (Some(to), _) => errors.take(parse_bound("to", to, zone, true)),
        // `from` may be the last instant there is: adding days must not overflow.
        (None, Some(start)) => {
            match start.checked_add(SignedDuration::from_hours(24 * default_days)) {
                Ok(end) => Some(end),
                Err(_) => {
                    errors.add("from", "is out of range");
                    None
                }
            }
        }
        (None, None) => None,
    };
    let (Some(start), Some(end)) = (start, end) else {
        return Err(errors);
    };
    let Some(window) = Interval::new(start, end) else {
        return Err(ValidationErrors::single("to", "must be after from"));
    };
    if window.duration() > SignedDuration::from_hours(24 * MAX_SLOT_WINDOW_DAYS) {
        return Err(ValidationErrors::single(
            "to",
            "the window may span at most 31 days",
        ));
    }
    Ok(window)
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn windows_accept_dates_in_the_doctor_zone_and_cap_at_31_days() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let now = "2026-03-01T00:00:00Z".parse().unwrap();
        let day = parse_window(Some("2026-03-02"), Some("2026-03-02"), &zone, now, 7).unwrap();
        assert_eq!(day.start.to_string(), "2026-03-01T23:00:00Z");
        assert_eq!(day.end.to_string(), "2026-03-02T23:00:00Z");
        let error =
            parse_window(Some("2026-03-01"), Some("2026-04-02"), &zone, now, 7).unwrap_err();
        assert_eq!(error.errors[0].field, "to");
        assert!(parse_window(Some("yesterday"), None, &zone, now, 7).is_err());
    }

    #[test]
    fn a_window_at_the_end_of_time_is_an_error_not_a_panic() {
        // Found by the `time_window` fuzz target: `from` near the largest instant
        // without `to` overflowed when the default length was added.
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let now = "2026-03-01T00:00:00Z".parse().unwrap();
        let error = parse_window(Some("9999-12-30T00:00:00Z"), None, &zone, now, 7).unwrap_err();
        assert_eq!(error.errors[0].field, "from");
        let error = parse_window(Some("9999-12-31"), None, &zone, now, 7).unwrap_err();
        assert_eq!(error.errors[0].field, "from");
        assert!(parse_window(Some("9999-12-31"), Some("9999-12-31"), &zone, now, 7).is_err());
        let edge = parse_window(Some("9999-12-20T00:00:00Z"), None, &zone, now, 7).unwrap();
        assert!(edge.start < edge.end);
    }
}
