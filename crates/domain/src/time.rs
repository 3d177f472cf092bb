//! Instants, half-open intervals, and the one place where a local wall-clock time
//! becomes real instants.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

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
