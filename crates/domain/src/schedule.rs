//! A doctor's schedule and the free-slot engine.
//!
//! Weekly hours are local wall-clock intervals in the doctor's IANA zone, so a 09:00
//! slot stays 09:00 across a DST change. Free slots are computed by interval
//! arithmetic over the slot grid: weekly hours, minus time off and live appointments
//! (the caller's `busy` intervals), minus what the booking rules forbid.

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::day_index::DayIndex;
use crate::time::{Interval, local_boundary, resolve_local};
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
    /// Exclusive. 00:00 means the end of `day` ("24:00" in [`WeeklyIntervalInput`]),
    /// since no interval can end at the midnight that starts it.
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
    ///
    /// Times are "HH:MM" (24h, two-digit hour and minute) on the 5-minute grid; an
    /// interval may end at "24:00", the end of its day, which is stored as an `end`
    /// of 00:00 (see [`WeeklyInterval`]); "00:00" itself is refused as an end.
    pub fn parse(input: &ScheduleInput) -> Result<Schedule, ValidationErrors> {
        let mut errors = ValidationErrors::new();

        let time_zone = match parse_time_zone(&input.time_zone) {
            Ok(tz) => Some(tz),
            Err(message) => {
                errors.add("time_zone", message);
                None
            }
        };

        let slot_minutes = input.slot_minutes;
        let slot_ok = (GRID_UNIT_MINUTES..=MAX_SLOT_MINUTES).contains(&slot_minutes)
            && slot_minutes % GRID_UNIT_MINUTES == 0;
        if !slot_ok {
            errors.add(
                "slot_minutes",
                format!(
                    "must be a multiple of {GRID_UNIT_MINUTES} between {GRID_UNIT_MINUTES} and {MAX_SLOT_MINUTES}"
                ),
            );
        }

        let weekly_hours = parse_weekly_hours(
            &input.weekly_hours,
            slot_ok.then_some(slot_minutes),
            &mut errors,
        );

        if !(0..=MAX_MIN_NOTICE_MINUTES).contains(&input.min_notice_minutes) {
            errors.add(
                "min_notice_minutes",
                format!("must be between 0 and {MAX_MIN_NOTICE_MINUTES}"),
            );
        }
        let horizon_ok = (1..=MAX_HORIZON_DAYS).contains(&input.horizon_days);
        if !horizon_ok {
            errors.add(
                "horizon_days",
                format!("must be between 1 and {MAX_HORIZON_DAYS}"),
            );
        } else if input.min_notice_minutes > input.horizon_days * 24 * 60 {
            // Nothing could ever be booked: the notice would end after the horizon.
            errors.add(
                "min_notice_minutes",
                "must not be longer than the booking horizon",
            );
        }
        if !(0..=MAX_CANCEL_WINDOW_HOURS).contains(&input.cancel_window_hours) {
            errors.add(
                "cancel_window_hours",
                format!("must be between 0 and {MAX_CANCEL_WINDOW_HOURS}"),
            );
        }

        match time_zone {
            Some(time_zone) if errors.is_empty() => Ok(Schedule {
                time_zone,
                slot_minutes,
                weekly_hours,
                rules: BookingRules {
                    min_notice_minutes: input.min_notice_minutes,
                    horizon_days: input.horizon_days,
                    auto_confirm: input.auto_confirm,
                    cancel_window_hours: input.cancel_window_hours,
                },
            }),
            _ => Err(errors),
        }
    }

    /// The inverse of [`Schedule::parse`], for showing a schedule to a client.
    ///
    /// A zone without an IANA name (only possible for a `Schedule` built by hand, not
    /// by `parse`) is shown as "", which `parse` refuses.
    pub fn to_input(&self) -> ScheduleInput {
        ScheduleInput {
            time_zone: self.time_zone.iana_name().unwrap_or_default().to_owned(),
            slot_minutes: self.slot_minutes,
            weekly_hours: self
                .weekly_hours
                .iter()
                .map(|interval| WeeklyIntervalInput {
                    day: weekday_name(interval.day).to_owned(),
                    start: format_minutes(minute_of_day(interval.start)),
                    end: format_minutes(interval.end_minute()),
                })
                .collect(),
            min_notice_minutes: self.rules.min_notice_minutes,
            horizon_days: self.rules.horizon_days,
            auto_confirm: self.rules.auto_confirm,
            cancel_window_hours: self.rules.cancel_window_hours,
        }
    }

    pub fn slot_length(&self) -> SignedDuration {
        SignedDuration::from_mins(self.slot_minutes)
    }

    /// Every slot of the grid (weekly hours only, ignoring busy time and rules) that
    /// lies wholly inside `window`, sorted by start, each real instant once.
    ///
    /// The grid of one weekly interval on one local date is the wall-clock times
    /// `start, start + slot, ...` whose slot still ends by the interval's end, each
    /// resolved to real instants: a wall time skipped by a spring-forward gap yields
    /// no slot, one repeated by a fall-back fold yields a slot at each occurrence. A
    /// slot lasts `slot_minutes` of real time and must end by the interval's real end,
    /// which is the *last* instant showing the end's wall time (so an interval with a
    /// fold inside lasts the repeated time longer and holds both occurrences of its
    /// folded slots), or the first instant after the gap if the end's wall time does
    /// not exist.
    ///
    /// Across a transition two candidates can overlap (e.g. a 45-minute slot before a
    /// gap and the first slot after it); then the later one is dropped. Whether a
    /// candidate is dropped depends only on the candidates that start less than one
    /// slot before it, never on `window`, so every query (and `check_bookable`) sees
    /// the same grid.
    pub fn grid_slots(&self, window: Interval) -> Vec<Interval> {
        let length = self.slot_length();
        if window.start >= window.end || self.slot_minutes <= 0 || self.weekly_hours.is_empty() {
            return Vec::new();
        }
        // Every candidate that ends inside the window or could overlap (and so knock
        // out) one that does starts in [window.start - slot, window.end). A candidate
        // of local date `d` starts at an instant whose wall clock shows date `d`; a day
        // of margin on each side covers folds that move the wall clock back across
        // midnight.
        let earliest = window.start.checked_sub(length).unwrap_or(Timestamp::MIN);
        let first = self.local_date(earliest).yesterday().unwrap_or(Date::MIN);
        let last = self.local_date(window.end).tomorrow().unwrap_or(Date::MAX);

        let mut candidates = Vec::new();
        let mut date = first;
        loop {
            self.day_candidates(date, &mut candidates);
            match date.tomorrow() {
                Ok(next) if next <= last => date = next,
                _ => break,
            }
        }
        candidates.sort();
        candidates.dedup();

        let mut slots = Vec::new();
        let mut latest_end: Option<Timestamp> = None;
        for candidate in candidates {
            let clear = latest_end.is_none_or(|end| end <= candidate.start);
            latest_end = latest_end.max(Some(candidate.end));
            if clear && window.contains(&candidate) {
                slots.push(candidate);
            }
        }
        slots
    }

    /// The free slots wholly inside `window`: the grid minus `busy` (time off and live
    /// appointments, in any order, possibly overlapping), minus slots starting before
    /// `now + min_notice` or after `now + horizon`. Sorted by start.
    ///
    /// Busy intervals that are empty or inverted (`start >= end`) block nothing.
    pub fn free_slots(&self, window: Interval, busy: &[Interval], now: Timestamp) -> Vec<Interval> {
        let bookable = self.bookable_window(now);
        // Only slots starting in [bookable.start, bookable.end] can be free, so they
        // end by bookable.end + slot: ask the grid for no more than that.
        let latest_end = bookable
            .end
            .checked_add(self.slot_length())
            .unwrap_or(Timestamp::MAX);
        let narrowed = Interval {
            start: window.start.max(bookable.start),
            end: window.end.min(latest_end),
        };
        if narrowed.start >= narrowed.end {
            return Vec::new();
        }

        let mut slots = self.grid_slots(narrowed);
        slots.retain(|slot| slot.start >= bookable.start && slot.start <= bookable.end);
        without_busy(slots, busy)
    }

    /// The slot grid over `span`, computed once to answer many windows inside it (see
    /// [`SlotGrid`]).
    pub fn slot_grid(&self, span: Interval) -> SlotGrid {
        let slots = self.grid_slots(span);
        // Slots are kept as whole seconds; a grid with a fractional start (a zone
        // offset with sub-second parts, which no real zone has) covers nothing, so
        // every query falls back to `free_slots`.
        let exact = slots
            .iter()
            .all(|s| s.start.subsec_nanosecond() == 0 && s.end - s.start == self.slot_length());
        let starts: Vec<i64> = if exact {
            slots.iter().map(|s| s.start.as_second()).collect()
        } else {
            Vec::new()
        };
        SlotGrid {
            span,
            slot_minutes: self.slot_minutes,
            exact,
            days: DayIndex::new(starts.iter().copied(), SECONDS_PER_DAY),
            starts,
        }
    }

    /// [`Schedule::free_slots`]`(window, busy, now)`, read from `grid` (which must
    /// have been built by this schedule) when it covers what the window can hold;
    /// otherwise computed by `free_slots`.
    pub fn free_slots_from(
        &self,
        grid: &SlotGrid,
        window: Interval,
        busy: &[Interval],
        now: Timestamp,
    ) -> Vec<Interval> {
        match self.grid_candidates(grid, window, now) {
            Some(candidates) => {
                let blocked = merge_busy(busy);
                candidates.filter(unblocked(&blocked)).collect()
            }
            None => self.free_slots(window, busy, now),
        }
    }

    /// The first of [`Schedule::free_slots`]`(window, busy, now)`, read from `grid`
    /// (which must have been built by this schedule) when it covers what the window
    /// can hold, stopping at the first free slot; otherwise computed by `free_slots`.
    pub fn first_free_slot(
        &self,
        grid: &SlotGrid,
        window: Interval,
        busy: &[Interval],
        now: Timestamp,
    ) -> Option<Interval> {
        let Some(mut candidates) = self.grid_candidates(grid, window, now) else {
            return self.free_slots(window, busy, now).into_iter().next();
        };
        let blocked = merge_busy(busy);
        candidates.find(unblocked(&blocked))
    }

    /// The slots `free_slots(window, ..)` starts from before it takes out busy time,
    /// in order, read from `grid`; `None` when the grid does not cover them.
    fn grid_candidates<'g>(
        &self,
        grid: &'g SlotGrid,
        window: Interval,
        now: Timestamp,
    ) -> Option<impl Iterator<Item = Interval> + 'g> {
        let bookable = self.bookable_window(now);
        let length = self.slot_length();
        let latest_end = bookable.end.checked_add(length).unwrap_or(Timestamp::MAX);
        let narrowed = Interval {
            start: window.start.max(bookable.start),
            end: window.end.min(latest_end),
        };
        let from = if narrowed.start >= narrowed.end {
            grid.starts.len()
        } else if !grid.covers(narrowed) || grid.slot_minutes != self.slot_minutes {
            return None;
        } else {
            // The first whole second at or after the window's start.
            let from =
                narrowed.start.as_second() + i64::from(narrowed.start.subsec_nanosecond() > 0);
            grid.days.partition_point(&grid.starts, from, |&s| s)
        };
        // The grid is the same whatever window asks (see `grid_slots`), so the slots
        // `free_slots` starts from are the grid's slots wholly inside `narrowed`; all
        // have one length, so once one ends past it, all later ones do.
        Some(
            grid.starts[from..]
                .iter()
                .map_while(move |&second| {
                    Timestamp::from_second(second)
                        .ok()
                        .and_then(|start| Interval::starting_at(start, length))
                })
                .take_while(move |slot| slot.end <= narrowed.end)
                .filter(move |slot| slot.start >= bookable.start && slot.start <= bookable.end),
        )
    }

    /// The slots of the grid wholly inside `window` that no `busy` interval touches,
    /// whatever "now" and the booking rules say: the doctor's open time, past or
    /// future (what clinic statistics count as unused capacity). Sorted by start.
    ///
    /// [`Schedule::free_slots`] is this, narrowed to what may still be booked.
    pub fn open_slots(&self, window: Interval, busy: &[Interval]) -> Vec<Interval> {
        without_busy(self.grid_slots(window), busy)
    }

    /// The slot that starts at `start`, if a patient may book it now.
    ///
    /// Refusals are checked in the order: not on the grid, too soon, beyond the
    /// horizon, taken.
    pub fn check_bookable(
        &self,
        start: Timestamp,
        busy: &[Interval],
        now: Timestamp,
    ) -> Result<Interval, SlotRefusal> {
        // The only grid slot wholly inside [start, start + slot) is the one starting
        // at `start`, if there is one.
        let probe =
            Interval::starting_at(start, self.slot_length()).ok_or(SlotRefusal::NotOnGrid)?;
        let slot = self
            .grid_slots(probe)
            .into_iter()
            .find(|slot| slot.start == start)
            .ok_or(SlotRefusal::NotOnGrid)?;
        self.check_slot(slot, busy, now)
    }

    /// [`Schedule::check_bookable`], finding the slot in `grid` (which must have
    /// been built by this schedule) when it covers the slot's place; otherwise as
    /// `check_bookable` does, from the weekly hours.
    pub fn check_bookable_from(
        &self,
        grid: &SlotGrid,
        start: Timestamp,
        busy: &[Interval],
        now: Timestamp,
    ) -> Result<Interval, SlotRefusal> {
        let probe =
            Interval::starting_at(start, self.slot_length()).ok_or(SlotRefusal::NotOnGrid)?;
        if !grid.covers(probe)
            || grid.slot_minutes != self.slot_minutes
            || start.subsec_nanosecond() != 0
        {
            return self.check_bookable(start, busy, now);
        }
        if !grid.starts_at(start.as_second()) {
            return Err(SlotRefusal::NotOnGrid);
        }
        self.check_slot(probe, busy, now)
    }

    /// The checks after the slot is found on the grid: notice, horizon, busy time.
    fn check_slot(
        &self,
        slot: Interval,
        busy: &[Interval],
        now: Timestamp,
    ) -> Result<Interval, SlotRefusal> {
        let bookable = self.bookable_window(now);
        if slot.start < bookable.start {
            return Err(SlotRefusal::TooSoon);
        }
        if slot.start > bookable.end {
            return Err(SlotRefusal::BeyondHorizon);
        }
        if busy
            .iter()
            .any(|block| block.start < block.end && block.overlaps(&slot))
        {
            return Err(SlotRefusal::Taken);
        }
        Ok(slot)
    }

    /// The window in which a booking made at `now` may start: from now plus the
    /// minimum notice to now plus the horizon.
    ///
    /// Both ends are inclusive for a slot's *start*: a slot starting exactly at
    /// `now + min_notice` is bookable (so with no notice, one starting at `now` is),
    /// and so is one starting exactly at `now + horizon_days * 24h`. (Unlike most
    /// `Interval`s this one is therefore read as closed; with a notice as long as the
    /// horizon it is a single instant, `start == end`.) The horizon is counted in
    /// real 24-hour days, not calendar days of the doctor's zone.
    pub fn bookable_window(&self, now: Timestamp) -> Interval {
        let after = |seconds: i64| {
            now.checked_add(SignedDuration::from_secs(seconds))
                .unwrap_or(if seconds < 0 {
                    Timestamp::MIN
                } else {
                    Timestamp::MAX
                })
        };
        Interval {
            start: after(self.rules.min_notice_minutes.saturating_mul(60)),
            end: after(self.rules.horizon_days.saturating_mul(24 * 60 * 60)),
        }
    }

    fn local_date(&self, instant: Timestamp) -> Date {
        self.time_zone.to_datetime(instant).date()
    }

    /// Pushes the candidate slots of every weekly interval on local `date`.
    fn day_candidates(&self, date: Date, out: &mut Vec<Interval>) {
        let length = self.slot_length();
        let tz = &self.time_zone;
        let weekday = date.weekday();
        for interval in self.weekly_hours.iter().filter(|i| i.day == weekday) {
            let Some(real_end) = self.real_end(date, interval) else {
                continue;
            };
            let start = minute_of_day(interval.start);
            let end = interval.end_minute();

            // The usual case: the start exists once and the offset does not change
            // before the real end, so wall-clock and real arithmetic agree and the
            // grid is the start plus whole slots. (A wall time of the interval cannot
            // recur outside it: a fold repeating one would move the real end past
            // the transition.)
            if let [first] = resolve_local(tz, date, interval.start)[..]
                && tz
                    .following(first)
                    .next()
                    .is_none_or(|transition| transition.timestamp() >= real_end)
            {
                let mut slot_start = Some(first);
                for _ in 0..(end - start) / self.slot_minutes {
                    let Some(slot) = slot_start.and_then(|at| Interval::starting_at(at, length))
                    else {
                        break;
                    };
                    if slot.end <= real_end {
                        out.push(slot);
                    }
                    slot_start = Some(slot.end);
                }
                continue;
            }

            // Around a transition: resolve every grid time on the wall clock.
            let mut minute = start;
            while minute + self.slot_minutes <= end {
                for instant in resolve_local(tz, date, time_of_minute(minute)) {
                    if let Some(slot) = Interval::starting_at(instant, length)
                        && slot.end <= real_end
                    {
                        out.push(slot);
                    }
                }
                minute += self.slot_minutes;
            }
        }
    }

    /// The real end of `interval` on local `date`: the last instant at which the wall
    /// clock shows its end (the later one in a fold), or the first instant after the
    /// gap if that wall time is skipped.
    fn real_end(&self, date: Date, interval: &WeeklyInterval) -> Option<Timestamp> {
        let (date, time) = if interval.end_minute() == MINUTES_PER_DAY {
            (date.tomorrow().ok()?, Time::midnight())
        } else {
            (date, interval.end)
        };
        match resolve_local(&self.time_zone, date, time).last() {
            Some(&latest) => Some(latest),
            None => local_boundary(&self.time_zone, date, time),
        }
    }
}

/// A schedule's slot grid over a span: the slots of [`Schedule::grid_slots`]`(span)`,
/// kept as start seconds. Resolving weekly hours in the zone is most of what free
/// slots cost, and it depends only on the schedule, so a doctor's grid is built once
/// and every window inside its span is answered from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotGrid {
    span: Interval,
    slot_minutes: i64,
    /// `false`: some slot could not be kept as whole seconds; the grid covers nothing.
    exact: bool,
    /// Slot starts in seconds since the Unix epoch, sorted.
    starts: Vec<i64>,
    days: DayIndex,
}

impl SlotGrid {
    /// Whether every grid slot wholly inside `window` is held.
    pub fn covers(&self, window: Interval) -> bool {
        self.exact && self.span.contains(&window)
    }

    /// Whether a slot starts at `second` (since the Unix epoch).
    fn starts_at(&self, second: i64) -> bool {
        let at = self
            .days
            .partition_point(&self.starts, second, |&start| start);
        self.starts.get(at) == Some(&second)
    }

    /// How many slots are held (for memory accounting).
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

impl WeeklyInterval {
    /// The end as minutes after the day's midnight: an `end` of 00:00 means the end
    /// of the day, 1440.
    pub fn end_minute(&self) -> i64 {
        match minute_of_day(self.end) {
            0 => MINUTES_PER_DAY,
            minute => minute,
        }
    }
}

const MINUTES_PER_DAY: i64 = 24 * 60;
const SECONDS_PER_DAY: i64 = MINUTES_PER_DAY * 60;
const MAX_SLOT_MINUTES: i64 = 240;
const MAX_MIN_NOTICE_MINUTES: i64 = 30 * 24 * 60;
const MAX_HORIZON_DAYS: i64 = 365;
const MAX_CANCEL_WINDOW_HOURS: i64 = 720;

fn parse_time_zone(name: &str) -> Result<TimeZone, &'static str> {
    if name.trim().is_empty() {
        return Err("is required");
    }
    // Only names from the time zone database: no fixed offsets, no POSIX strings,
    // and not `Etc/Unknown`, which jiff resolves but which has no IANA name.
    match TimeZone::get(name) {
        Ok(tz) if tz.iana_name().is_some() => Ok(tz),
        _ => Err("must be an IANA time zone name such as \"Europe/Berlin\""),
    }
}

fn parse_weekly_hours(
    inputs: &[WeeklyIntervalInput],
    slot_minutes: Option<i64>,
    errors: &mut ValidationErrors,
) -> Vec<WeeklyInterval> {
    if inputs.len() > MAX_WEEKLY_INTERVALS {
        errors.add(
            "weekly_hours",
            format!("must have at most {MAX_WEEKLY_INTERVALS} intervals"),
        );
    }
    // (input index, interval, start minute, end minute)
    let mut parsed: Vec<(usize, WeeklyInterval, i64, i64)> = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let field = |name: &str| format!("weekly_hours[{index}].{name}");
        let day = parse_weekday(&input.day);
        if day.is_none() {
            errors.add(field("day"), "must be a day of the week such as \"monday\"");
        }
        let start = parse_clock(&input.start, false)
            .map_err(|message| errors.add(field("start"), message))
            .ok();
        let end = parse_clock(&input.end, true)
            .map_err(|message| errors.add(field("end"), message))
            .ok();
        let (Some(day), Some(start), Some(end)) = (day, start, end) else {
            continue;
        };
        if start >= end {
            let message = if end == 0 {
                "must be after the start (use \"24:00\" for the end of the day)"
            } else {
                "must be after the start"
            };
            errors.add(field("end"), message);
            continue;
        }
        if slot_minutes.is_some_and(|slot| end - start < slot) {
            errors.add(field("end"), "is shorter than one slot");
            continue;
        }
        let interval = WeeklyInterval {
            day,
            start: time_of_minute(start),
            end: time_of_minute(end % MINUTES_PER_DAY),
        };
        parsed.push((index, interval, start, end));
    }

    parsed.sort_by_key(|&(index, interval, start, _)| {
        (interval.day.to_monday_zero_offset(), start, index)
    });
    // Within a day, sorted by start: an interval overlaps an earlier one exactly
    // when it starts before the latest end seen so far that day.
    let mut latest: Option<(Weekday, i64, usize)> = None;
    for &(index, interval, start, end) in &parsed {
        match latest {
            Some((day, latest_end, other)) if day == interval.day && start < latest_end => {
                errors.add(
                    format!("weekly_hours[{index}].start"),
                    format!("overlaps weekly_hours[{other}] on the same day"),
                );
                if end > latest_end {
                    latest = Some((day, end, index));
                }
            }
            _ => latest = Some((interval.day, end, index)),
        }
    }
    parsed
        .into_iter()
        .map(|(_, interval, _, _)| interval)
        .collect()
}

/// Parses "HH:MM" into minutes after midnight; "24:00" (1440) only if `is_end`.
fn parse_clock(value: &str, is_end: bool) -> Result<i64, String> {
    let bytes = value.as_bytes();
    let well_formed = bytes.len() == 5
        && bytes[2] == b':'
        && [0, 1, 3, 4].iter().all(|&i| bytes[i].is_ascii_digit());
    if !well_formed {
        return Err("must be a time such as \"09:30\"".to_owned());
    }
    let digit = |i: usize| i64::from(bytes[i] - b'0');
    let hour = digit(0) * 10 + digit(1);
    let minute = digit(3) * 10 + digit(4);
    if is_end && hour == 24 && minute == 0 {
        return Ok(MINUTES_PER_DAY);
    }
    if hour > 23 || minute > 59 {
        return Err(if is_end {
            "must be a time between 00:00 and 24:00".to_owned()
        } else {
            "must be a time between 00:00 and 23:59".to_owned()
        });
    }
    if minute % GRID_UNIT_MINUTES != 0 {
        return Err(format!(
            "must be on the {GRID_UNIT_MINUTES}-minute grid (minutes a multiple of {GRID_UNIT_MINUTES})"
        ));
    }
    Ok(hour * 60 + minute)
}

fn parse_weekday(value: &str) -> Option<Weekday> {
    WEEKDAYS
        .into_iter()
        .find(|&day| weekday_name(day).eq_ignore_ascii_case(value))
}

const WEEKDAYS: [Weekday; 7] = [
    Weekday::Monday,
    Weekday::Tuesday,
    Weekday::Wednesday,
    Weekday::Thursday,
    Weekday::Friday,
    Weekday::Saturday,
    Weekday::Sunday,
];

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "monday",
        Weekday::Tuesday => "tuesday",
        Weekday::Wednesday => "wednesday",
        Weekday::Thursday => "thursday",
        Weekday::Friday => "friday",
        Weekday::Saturday => "saturday",
        Weekday::Sunday => "sunday",
    }
}

fn minute_of_day(time: Time) -> i64 {
    i64::from(time.hour()) * 60 + i64::from(time.minute())
}

/// `minute` must be in 0..1440.
fn time_of_minute(minute: i64) -> Time {
    let hour = i8::try_from(minute / 60).expect("minute of day");
    let minute = i8::try_from(minute % 60).expect("minute of day");
    Time::new(hour, minute, 0, 0).expect("minute of day")
}

/// "HH:MM"; 1440 is "24:00".
fn format_minutes(minute: i64) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The non-empty intervals of `busy`, sorted and merged into disjoint runs.
/// `slots` (sorted by start, all of one length, as the grid gives them) minus those
/// that overlap any of `busy`.
fn without_busy(mut slots: Vec<Interval>, busy: &[Interval]) -> Vec<Interval> {
    let blocked = merge_busy(busy);
    slots.retain(unblocked(&blocked));
    slots
}

/// Whether a slot touches none of `blocked` (merged busy time, sorted), asked of
/// slots in order of start.
fn unblocked(blocked: &[Interval]) -> impl FnMut(&Interval) -> bool {
    let mut next = 0;
    move |slot| {
        // Slots come sorted by start and all have the same length, so their ends are
        // sorted too: a blocked interval ending by this slot's start cannot touch any
        // later slot.
        while next < blocked.len() && blocked[next].end <= slot.start {
            next += 1;
        }
        blocked
            .get(next)
            .is_none_or(|block| block.start >= slot.end)
    }
}

fn merge_busy(busy: &[Interval]) -> Vec<Interval> {
    let mut sorted: Vec<Interval> = busy.iter().copied().filter(|b| b.start < b.end).collect();
    sorted.sort_unstable();
    let mut merged: Vec<Interval> = Vec::with_capacity(sorted.len());
    for block in sorted {
        match merged.last_mut() {
            Some(last) if block.start <= last.end => last.end = last.end.max(block.end),
            _ => merged.push(block),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(value: &str) -> Timestamp {
        value.parse().expect("timestamp")
    }

    fn span(start: &str, end: &str) -> Interval {
        Interval::new(ts(start), ts(end)).expect("interval")
    }

    fn hours(day: &str, start: &str, end: &str) -> WeeklyIntervalInput {
        WeeklyIntervalInput {
            day: day.to_owned(),
            start: start.to_owned(),
            end: end.to_owned(),
        }
    }

    /// Berlin, 30-minute slots, Monday 09:00–12:00 and 13:00–17:00, Wednesday
    /// 08:00–10:00; 2h notice, 60-day horizon. In May Berlin is UTC+2.
    fn input() -> ScheduleInput {
        ScheduleInput {
            time_zone: "Europe/Berlin".to_owned(),
            slot_minutes: 30,
            weekly_hours: vec![
                hours("wednesday", "08:00", "10:00"),
                hours("monday", "13:00", "17:00"),
                hours("Monday", "09:00", "12:00"),
            ],
            min_notice_minutes: 120,
            horizon_days: 60,
            auto_confirm: false,
            cancel_window_hours: 24,
        }
    }

    fn schedule() -> Schedule {
        Schedule::parse(&input()).expect("valid schedule")
    }

    fn fields(input: &ScheduleInput) -> Vec<String> {
        let errors = Schedule::parse(input).expect_err("should be refused");
        errors.errors.into_iter().map(|e| e.field).collect()
    }

    fn starts(slots: &[Interval]) -> Vec<String> {
        slots.iter().map(|s| s.start.to_string()).collect()
    }

    #[test]
    fn parse_accepts_a_valid_schedule_and_sorts_its_hours() {
        let mut input = input();
        input.weekly_hours.push(hours("SUNDAY", "20:00", "24:00"));
        input.time_zone = "europe/berlin".to_owned();
        let schedule = Schedule::parse(&input).unwrap();
        assert_eq!(schedule.time_zone.iana_name(), Some("Europe/Berlin"));
        assert_eq!(schedule.slot_minutes, 30);
        let t = |h, m| Time::new(h, m, 0, 0).unwrap();
        assert_eq!(
            schedule.weekly_hours,
            vec![
                WeeklyInterval {
                    day: Weekday::Monday,
                    start: t(9, 0),
                    end: t(12, 0)
                },
                WeeklyInterval {
                    day: Weekday::Monday,
                    start: t(13, 0),
                    end: t(17, 0)
                },
                WeeklyInterval {
                    day: Weekday::Wednesday,
                    start: t(8, 0),
                    end: t(10, 0)
                },
                WeeklyInterval {
                    day: Weekday::Sunday,
                    start: t(20, 0),
                    end: Time::midnight()
                },
            ]
        );
        assert_eq!(schedule.weekly_hours[3].end_minute(), 24 * 60);
        assert_eq!(
            schedule.rules,
            BookingRules {
                min_notice_minutes: 120,
                horizon_days: 60,
                auto_confirm: false,
                cancel_window_hours: 24,
            }
        );
    }

    #[test]
    fn parse_accepts_the_bounds_of_every_number() {
        for (slot, notice, horizon, cancel) in
            [(5, 0, 1, 0), (240, 43_200, 365, 720), (20, 1440, 1, 0)]
        {
            let input = ScheduleInput {
                slot_minutes: slot,
                min_notice_minutes: notice,
                horizon_days: horizon,
                cancel_window_hours: cancel,
                weekly_hours: vec![hours("friday", "00:00", "24:00")],
                ..input()
            };
            assert!(
                Schedule::parse(&input).is_ok(),
                "{slot} {notice} {horizon} {cancel}"
            );
        }
        let utc = ScheduleInput {
            time_zone: "UTC".to_owned(),
            weekly_hours: vec![],
            ..input()
        };
        assert_eq!(
            Schedule::parse(&utc).unwrap().time_zone.iana_name(),
            Some("UTC")
        );
    }

    #[test]
    fn parse_round_trips_through_to_input() {
        let mut input = input();
        input.weekly_hours.push(hours("sunday", "22:05", "24:00"));
        input.weekly_hours.push(hours("saturday", "00:00", "01:00"));
        input.auto_confirm = true;
        let schedule = Schedule::parse(&input).unwrap();
        let shown = schedule.to_input();
        assert_eq!(shown.time_zone, "Europe/Berlin");
        let shown_hours: Vec<(&str, &str, &str)> = shown
            .weekly_hours
            .iter()
            .map(|w| (w.day.as_str(), w.start.as_str(), w.end.as_str()))
            .collect();
        assert_eq!(
            shown_hours,
            vec![
                ("monday", "09:00", "12:00"),
                ("monday", "13:00", "17:00"),
                ("wednesday", "08:00", "10:00"),
                ("saturday", "00:00", "01:00"),
                ("sunday", "22:05", "24:00"),
            ]
        );
        assert!(shown.auto_confirm);
        assert_eq!(Schedule::parse(&shown).unwrap(), schedule);
    }

    #[test]
    fn parse_refuses_unknown_time_zones() {
        for zone in [
            "",
            "  ",
            "Mars/Olympus_Mons",
            "+02:00",
            "UTC+2",
            "GMT+02:00",
            "Etc/Unknown",
            "EST5EDT,M3.2.0,M11.1.0",
        ] {
            let input = ScheduleInput {
                time_zone: zone.to_owned(),
                ..input()
            };
            assert_eq!(fields(&input), vec!["time_zone"], "{zone:?}");
        }
    }

    #[test]
    fn parse_refuses_bad_slot_lengths() {
        for slot in [-5, 0, 3, 7, 31, 245, 300] {
            let input = ScheduleInput {
                slot_minutes: slot,
                ..input()
            };
            assert_eq!(fields(&input), vec!["slot_minutes"], "{slot}");
        }
    }

    #[test]
    fn parse_refuses_bad_weekly_interval_fields() {
        let cases = [
            (hours("mon", "09:00", "10:00"), "weekly_hours[3].day"),
            (hours("", "09:00", "10:00"), "weekly_hours[3].day"),
            (hours("funday", "09:00", "10:00"), "weekly_hours[3].day"),
            (hours("friday", "9:00", "10:00"), "weekly_hours[3].start"),
            (hours("friday", "09:0", "10:00"), "weekly_hours[3].start"),
            (hours("friday", "09-00", "10:00"), "weekly_hours[3].start"),
            (hours("friday", " 09:00", "10:00"), "weekly_hours[3].start"),
            (hours("friday", "+9:00", "10:00"), "weekly_hours[3].start"),
            (hours("friday", "24:00", "24:00"), "weekly_hours[3].start"),
            (hours("friday", "23:60", "24:00"), "weekly_hours[3].start"),
            (hours("friday", "09:07", "10:00"), "weekly_hours[3].start"),
            (hours("friday", "09:00", "10:01"), "weekly_hours[3].end"),
            (hours("friday", "09:00", "24:05"), "weekly_hours[3].end"),
            (hours("friday", "09:00", "25:00"), "weekly_hours[3].end"),
            (hours("friday", "09:00", "9:30"), "weekly_hours[3].end"),
            (hours("friday", "10:00", "10:00"), "weekly_hours[3].end"),
            (hours("friday", "10:00", "09:00"), "weekly_hours[3].end"),
            (hours("friday", "22:00", "00:00"), "weekly_hours[3].end"),
            (hours("friday", "09:00", "09:25"), "weekly_hours[3].end"),
        ];
        for (bad, field) in cases {
            let mut input = input();
            let shown = format!("{bad:?}");
            input.weekly_hours.push(bad);
            assert_eq!(fields(&input), vec![field], "{shown}");
        }
        let mut input = input();
        input.weekly_hours.push(hours("friday", "09:00", "09:25"));
        let errors = Schedule::parse(&input).unwrap_err();
        assert_eq!(errors.errors[0].message, "is shorter than one slot");
    }

    #[test]
    fn parse_refuses_overlapping_intervals_on_the_later_one() {
        let mut input = input();
        // Index 3 starts inside index 2 (Monday 09:00–12:00).
        input.weekly_hours.push(hours("monday", "11:30", "13:00"));
        assert_eq!(fields(&input), vec!["weekly_hours[3].start"]);

        // The later one by start, whatever the input order; a contained one too.
        let input = ScheduleInput {
            weekly_hours: vec![
                hours("tuesday", "12:00", "14:00"),
                hours("tuesday", "08:00", "18:00"),
                hours("tuesday", "18:00", "19:00"),
                hours("wednesday", "08:00", "18:00"),
            ],
            ..input
        };
        assert_eq!(fields(&input), vec!["weekly_hours[0].start"]);

        // Touching intervals and equal hours on different days are fine.
        let input = ScheduleInput {
            weekly_hours: vec![
                hours("tuesday", "08:00", "12:00"),
                hours("tuesday", "12:00", "13:00"),
                hours("thursday", "08:00", "12:00"),
            ],
            ..input
        };
        assert!(Schedule::parse(&input).is_ok());
    }

    #[test]
    fn parse_refuses_too_many_intervals() {
        let weekly_hours: Vec<WeeklyIntervalInput> = (0..=MAX_WEEKLY_INTERVALS)
            .map(|i| {
                let day = weekday_name(WEEKDAYS[i % 7]);
                let hour = i / 7;
                hours(day, &format!("{hour:02}:00"), &format!("{hour:02}:30"))
            })
            .collect();
        let mut input = ScheduleInput {
            weekly_hours,
            ..input()
        };
        assert_eq!(fields(&input), vec!["weekly_hours"]);
        input.weekly_hours.pop();
        assert!(Schedule::parse(&input).is_ok());
    }

    #[test]
    fn parse_refuses_rules_out_of_range() {
        type Change = fn(&mut ScheduleInput);
        let cases: [(Change, &str); 7] = [
            (|i| i.min_notice_minutes = -1, "min_notice_minutes"),
            (|i| i.min_notice_minutes = 43_201, "min_notice_minutes"),
            (|i| i.horizon_days = 0, "horizon_days"),
            (|i| i.horizon_days = 366, "horizon_days"),
            (|i| i.cancel_window_hours = -1, "cancel_window_hours"),
            (|i| i.cancel_window_hours = 721, "cancel_window_hours"),
            (
                |i| {
                    i.horizon_days = 1;
                    i.min_notice_minutes = 1445;
                },
                "min_notice_minutes",
            ),
        ];
        for (change, field) in cases {
            let mut input = input();
            change(&mut input);
            assert_eq!(fields(&input), vec![field]);
        }
    }

    #[test]
    fn parse_reports_every_field_at_fault() {
        let input = ScheduleInput {
            time_zone: "Nowhere/Special".to_owned(),
            slot_minutes: 7,
            weekly_hours: vec![
                hours("monday", "09:00", "12:00"),
                hours("someday", "9", "12:00"),
                hours("monday", "10:00", "11:00"),
            ],
            min_notice_minutes: -5,
            horizon_days: 0,
            auto_confirm: true,
            cancel_window_hours: 1000,
        };
        assert_eq!(
            fields(&input),
            vec![
                "time_zone",
                "slot_minutes",
                "weekly_hours[1].day",
                "weekly_hours[1].start",
                "weekly_hours[2].start",
                "min_notice_minutes",
                "horizon_days",
                "cancel_window_hours",
            ]
        );
    }

    #[test]
    fn bookable_window_is_now_plus_notice_to_now_plus_horizon() {
        let schedule = schedule();
        let now = ts("2026-05-04T08:10:30Z");
        assert_eq!(
            schedule.bookable_window(now),
            Interval {
                start: ts("2026-05-04T10:10:30Z"),
                end: ts("2026-07-03T08:10:30Z"),
            }
        );
        let mut schedule = schedule;
        schedule.rules.min_notice_minutes = 0;
        assert_eq!(schedule.bookable_window(now).start, now);
    }

    #[test]
    fn grid_is_the_weekly_hours_in_local_time() {
        let schedule = schedule();
        let monday = span("2026-05-04T00:00:00Z", "2026-05-05T00:00:00Z");
        assert_eq!(
            starts(&schedule.grid_slots(monday)),
            [
                "07:00", "07:30", "08:00", "08:30", "09:00", "09:30", "11:00", "11:30", "12:00",
                "12:30", "13:00", "13:30", "14:00", "14:30",
            ]
            .map(|t| format!("2026-05-04T{t}:00Z"))
        );
        // Only slots wholly inside the window.
        let part = span("2026-05-04T07:10:00Z", "2026-05-04T08:30:00Z");
        assert_eq!(
            starts(&schedule.grid_slots(part)),
            ["2026-05-04T07:30:00Z", "2026-05-04T08:00:00Z"]
        );
        // An empty or inverted window has no slots.
        let t = ts("2026-05-04T07:00:00Z");
        assert!(
            schedule
                .grid_slots(Interval { start: t, end: t })
                .is_empty()
        );
        // A whole week: Monday's 14 and Wednesday's 4.
        let week = span("2026-05-03T22:00:00Z", "2026-05-10T22:00:00Z");
        assert_eq!(schedule.grid_slots(week).len(), 18);
    }

    #[test]
    fn free_slots_subtract_time_off_appointments_and_overlaps() {
        let schedule = schedule();
        let now = ts("2026-05-01T00:00:00Z");
        let monday = span("2026-05-04T00:00:00Z", "2026-05-05T00:00:00Z");
        let busy = [
            // Overlapping busy intervals, not on the grid: 10:15–10:45 and 10:40–11:10.
            span("2026-05-04T08:40:00Z", "2026-05-04T09:10:00Z"),
            // Time off 13:00–15:00 local.
            span("2026-05-04T11:00:00Z", "2026-05-04T13:00:00Z"),
            span("2026-05-04T08:15:00Z", "2026-05-04T08:45:00Z"),
            // An appointment 09:30–10:00 local.
            span("2026-05-04T07:30:00Z", "2026-05-04T08:00:00Z"),
            // Ends exactly when the 09:00 slot starts: blocks nothing.
            span("2026-05-04T06:00:00Z", "2026-05-04T07:00:00Z"),
            // Inverted: blocks nothing.
            Interval {
                start: ts("2026-05-04T15:00:00Z"),
                end: ts("2026-05-04T13:00:00Z"),
            },
        ];
        assert_eq!(
            starts(&schedule.free_slots(monday, &busy, now)),
            ["07:00", "09:30", "13:00", "13:30", "14:00", "14:30"]
                .map(|t| format!("2026-05-04T{t}:00Z"))
        );
        assert_eq!(schedule.free_slots(monday, &[], now).len(), 14);
        // Busy time covering the whole day.
        let all_day = [span("2026-05-03T00:00:00Z", "2026-05-06T00:00:00Z")];
        assert!(schedule.free_slots(monday, &all_day, now).is_empty());
    }

    #[test]
    fn free_slots_respect_min_notice_and_horizon() {
        let mut schedule = schedule();
        schedule.rules.horizon_days = 7;
        // Monday 11:00 local: bookable from 13:00 local today (inclusive) up to
        // 11:00 local next Monday (inclusive).
        let now = ts("2026-05-04T09:00:00Z");
        let window = span("2026-05-04T00:00:00Z", "2026-05-12T00:00:00Z");
        assert_eq!(
            starts(&schedule.free_slots(window, &[], now)),
            [
                "2026-05-04T11:00:00Z",
                "2026-05-04T11:30:00Z",
                "2026-05-04T12:00:00Z",
                "2026-05-04T12:30:00Z",
                "2026-05-04T13:00:00Z",
                "2026-05-04T13:30:00Z",
                "2026-05-04T14:00:00Z",
                "2026-05-04T14:30:00Z",
                "2026-05-06T06:00:00Z",
                "2026-05-06T06:30:00Z",
                "2026-05-06T07:00:00Z",
                "2026-05-06T07:30:00Z",
                "2026-05-11T07:00:00Z",
                "2026-05-11T07:30:00Z",
                "2026-05-11T08:00:00Z",
                "2026-05-11T08:30:00Z",
                "2026-05-11T09:00:00Z",
            ]
        );
        // One second later both ends move past a slot.
        let later = ts("2026-05-04T09:00:01Z");
        let slots = schedule.free_slots(window, &[], later);
        assert_eq!(slots.first().unwrap().start, ts("2026-05-04T11:30:00Z"));
        assert_eq!(slots.last().unwrap().start, ts("2026-05-11T09:00:00Z"));
        // Nothing is bookable in the past.
        let past = span("2026-04-27T00:00:00Z", "2026-04-28T00:00:00Z");
        assert!(schedule.free_slots(past, &[], now).is_empty());
    }

    #[test]
    fn open_slots_ignore_now_and_the_booking_rules() {
        let schedule = schedule();
        // Monday 4 May, long past: free_slots offers nothing, open_slots the day's grid.
        let now = ts("2026-06-01T00:00:00Z");
        let monday = span("2026-05-04T00:00:00Z", "2026-05-05T00:00:00Z");
        assert!(schedule.free_slots(monday, &[], now).is_empty());
        assert_eq!(
            schedule.open_slots(monday, &[]),
            schedule.grid_slots(monday)
        );
        assert_eq!(schedule.open_slots(monday, &[]).len(), 14);
        // An appointment 09:30–10:00 local and time off 13:00–15:00 local, unsorted,
        // and one that ends as the 09:00 slot starts (blocks nothing).
        let busy = [
            span("2026-05-04T11:00:00Z", "2026-05-04T13:00:00Z"),
            span("2026-05-04T07:30:00Z", "2026-05-04T08:00:00Z"),
            span("2026-05-04T06:00:00Z", "2026-05-04T07:00:00Z"),
        ];
        let open = schedule.open_slots(monday, &busy);
        assert_eq!(open.len(), 14 - 1 - 4);
        assert!(
            open.iter()
                .all(|slot| busy.iter().all(|b| !b.overlaps(slot)))
        );
        // A window on Tuesday, when the doctor does not work.
        let tuesday = span("2026-05-05T00:00:00Z", "2026-05-06T00:00:00Z");
        assert!(schedule.open_slots(tuesday, &[]).is_empty());
    }

    #[test]
    fn check_bookable_refuses_in_order() {
        use SlotRefusal::*;
        let schedule = schedule();
        let now = ts("2026-05-01T00:00:00Z");
        let at = ts("2026-05-04T07:00:00Z");
        assert_eq!(
            schedule.check_bookable(at, &[], now),
            Ok(span("2026-05-04T07:00:00Z", "2026-05-04T07:30:00Z"))
        );
        for off_grid in [
            "2026-05-04T07:10:00Z",
            "2026-05-04T07:00:01Z",
            "2026-05-04T06:30:00Z",
            "2026-05-04T10:00:00Z",
            "2026-05-04T15:00:00Z",
            "2026-05-05T07:00:00Z",
        ] {
            assert_eq!(
                schedule.check_bookable(ts(off_grid), &[], now),
                Err(NotOnGrid),
                "{off_grid}"
            );
        }

        let soon = ts("2026-05-04T05:30:00Z");
        assert_eq!(
            schedule.check_bookable(ts("2026-05-04T07:00:00Z"), &[], soon),
            Err(TooSoon)
        );
        assert!(
            schedule
                .check_bookable(ts("2026-05-04T07:30:00Z"), &[], soon)
                .is_ok()
        );
        assert_eq!(
            schedule.check_bookable(ts("2026-07-06T07:00:00Z"), &[], now),
            Err(BeyondHorizon)
        );
        assert!(
            schedule
                .check_bookable(ts("2026-06-29T07:00:00Z"), &[], now)
                .is_ok()
        );

        let busy = [span("2026-05-04T07:20:00Z", "2026-05-04T07:40:00Z")];
        assert_eq!(schedule.check_bookable(at, &busy, now), Err(Taken));
        assert_eq!(
            schedule.check_bookable(ts("2026-05-04T07:30:00Z"), &busy, now),
            Err(Taken)
        );
        assert!(
            schedule
                .check_bookable(ts("2026-05-04T08:00:00Z"), &busy, now)
                .is_ok()
        );

        // Order: off the grid before too soon, too soon before taken, beyond the
        // horizon before taken.
        assert_eq!(
            schedule.check_bookable(ts("2026-05-04T07:10:00Z"), &busy, soon),
            Err(NotOnGrid)
        );
        assert_eq!(schedule.check_bookable(at, &busy, soon), Err(TooSoon));
        let far = [span("2026-07-06T07:00:00Z", "2026-07-06T08:00:00Z")];
        assert_eq!(
            schedule.check_bookable(ts("2026-07-06T07:00:00Z"), &far, now),
            Err(BeyondHorizon)
        );
    }
}
