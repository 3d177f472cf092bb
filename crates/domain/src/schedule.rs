//! A doctor's schedule and the free-slot engine.
//!
//! Weekly hours are local wall-clock intervals in the doctor's IANA zone, so a 09:00
//! slot stays 09:00 across a DST change. Free slots are computed by interval
//! arithmetic over the slot grid: weekly hours, minus time off and live appointments
//! (the caller's `busy` intervals), minus what the booking rules forbid.

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::time::Interval;
use crate::validation::ValidationErrors;

/// Claims and the slot grid are aligned to this many minutes; slot lengths and the
/// bounds of weekly hours must be multiples of it.
pub const GRID_UNIT_MINUTES: i64 = 5;
/// The longest window a free-slot query may span.
pub const MAX_SLOT_WINDOW_DAYS: i64 = 31;
pub const MAX_WEEKLY_INTERVALS: usize = 70;

/// One local interval of weekly hours, e.g. Monday 09:00–13:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyInterval {
    pub day: Weekday,
    pub start: Time,
    pub end: Time,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingRules {
    /// A booking must start at least this long after "now".
    pub min_notice_minutes: i64,
    /// A booking must start within this many days of "now".
    pub horizon_days: i64,
    /// New bookings go straight to `confirmed`.
    pub auto_confirm: bool,
    /// Patients cannot cancel or reschedule less than this many hours before the start.
    pub cancel_window_hours: i64,
}

impl Default for BookingRules {
    fn default() -> Self {
        BookingRules {
            min_notice_minutes: 120,
            horizon_days: 60,
            auto_confirm: false,
            cancel_window_hours: 24,
        }
    }
}

/// A validated schedule: construct it with [`Schedule::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub time_zone: TimeZone,
    pub slot_minutes: i64,
    /// Sorted by day then start; intervals of one day never overlap.
    pub weekly_hours: Vec<WeeklyInterval>,
    pub rules: BookingRules,
}

/// What a client sends to set a schedule; every field is checked by [`Schedule::parse`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScheduleInput {
    pub time_zone: String,
    pub slot_minutes: i64,
    pub weekly_hours: Vec<WeeklyIntervalInput>,
    pub min_notice_minutes: i64,
    pub horizon_days: i64,
    pub auto_confirm: bool,
    pub cancel_window_hours: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WeeklyIntervalInput {
    /// "monday" .. "sunday"
    pub day: String,
    /// "HH:MM"
    pub start: String,
    /// "HH:MM"
    pub end: String,
}

/// Why a requested start cannot be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotRefusal {
    #[error("the start is not on the doctor's slot grid")]
    NotOnGrid,
    #[error("the start is sooner than the doctor's minimum notice")]
    TooSoon,
    #[error("the start is beyond the doctor's booking horizon")]
    BeyondHorizon,
    #[error("the slot is taken or blocked")]
    Taken,
}

impl Schedule {
    /// Validates a client's schedule, naming every field at fault.
    pub fn parse(input: &ScheduleInput) -> Result<Schedule, ValidationErrors> {
        todo!("schedule parse: {input:?}")
    }

    /// The inverse of [`Schedule::parse`], for showing a schedule to a client.
    pub fn to_input(&self) -> ScheduleInput {
        todo!()
    }

    pub fn slot_length(&self) -> SignedDuration {
        SignedDuration::from_mins(self.slot_minutes)
    }

    /// Every slot of the grid (weekly hours only, ignoring busy time and rules) that
    /// lies wholly inside `window`, sorted by start, each real instant once.
    pub fn grid_slots(&self, window: Interval) -> Vec<Interval> {
        todo!("grid {window:?}")
    }

    /// The free slots wholly inside `window`: the grid minus `busy` (time off and live
    /// appointments, in any order, possibly overlapping), minus slots starting before
    /// `now + min_notice` or after `now + horizon`. Sorted by start.
    pub fn free_slots(&self, window: Interval, busy: &[Interval], now: Timestamp) -> Vec<Interval> {
        todo!("free {window:?} {busy:?} {now}")
    }

    /// The slot that starts at `start`, if a patient may book it now.
    pub fn check_bookable(
        &self,
        start: Timestamp,
        busy: &[Interval],
        now: Timestamp,
    ) -> Result<Interval, SlotRefusal> {
        todo!("bookable {start} {busy:?} {now}")
    }

    /// The window in which a booking made at `now` may start: from now plus the
    /// minimum notice to now plus the horizon.
    pub fn bookable_window(&self, now: Timestamp) -> Interval {
        todo!("{now}")
    }
}
