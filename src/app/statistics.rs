//! Clinic statistics for admins: appointments per day by status, each doctor's
//! utilisation, and the clinic's totals and rates over a window of whole days.
//!
//! Definitions (also in docs/API.md, "Statistics"):
//!
//! - **Window**: the local dates `from..=to` in the clinic's zone
//!   (`clinic_time_zone`), from `from`'s midnight to the midnight after `to`. Default:
//!   the 30 days ending today; at most 366 days.
//! - **An appointment is in the window** when its slot *starts* in it, whatever its
//!   status; it counts on the clinic-zone date of its start.
//! - **Held** appointments are those that kept their slot from being offered to
//!   anyone else: every status but `cancelled` and `rejected` (so `requested`,
//!   `confirmed`, `checked_in`, `completed` and `no_show`: a no-show's time was
//!   reserved and lost all the same).
//! - **Booked minutes** of a doctor: the length of their held appointments in the
//!   window.
//! - **Free minutes** of a doctor: the slots of the doctor's weekly hours wholly
//!   inside the window (the schedule engine's grid, past days included, whatever the
//!   booking rules) that overlap neither a held appointment nor time off. Time off is
//!   neither booked nor free. The doctor's *current* schedule is used for the whole
//!   window: past weekly hours are not kept.
//! - **Utilisation** = booked / (booked + free), as a percentage; null when both are 0.
//! - **No-show rate** = no_show / (completed + no_show): of the visits that were due
//!   and settled, the share the patient missed; null when there were none.
//! - **Cancellation rate** = cancelled / appointments, where appointments are all in
//!   the window in every status; null when there were none.
//!
//! Percentages are rounded to one decimal place.
//!
//! Doctors listed: every active doctor, and any other (pending, deactivated, or no
//! longer a doctor) with an appointment in the window; sorted by name.

use std::collections::BTreeMap;

use carebook_domain::policy::{Action, Actor, AppointmentScope, Subject, authorize};
use carebook_domain::{Interval, ValidationErrors};
use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::{App, AppError};
use crate::store::{
    AppointmentFilter, AppointmentRecord, AppointmentStatus, Cursor, DoctorFilter, PageRequest,
    StoreResult, Tx, UserId, UserStatus,
};

pub const DEFAULT_STATISTICS_DAYS: i64 = 30;
pub const MAX_STATISTICS_DAYS: i64 = 366;
/// Rows read per store query while walking the window.
const BATCH: u32 = 1000;

/// How many appointments are in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts {
    pub awaiting_payment: u64,
    pub requested: u64,
    pub confirmed: u64,
    pub checked_in: u64,
    pub completed: u64,
    pub rejected: u64,
    pub cancelled: u64,
    pub no_show: u64,
}

impl StatusCounts {
    pub fn get(&self, status: AppointmentStatus) -> u64 {
        match status {
            AppointmentStatus::AwaitingPayment => self.awaiting_payment,
            AppointmentStatus::Requested => self.requested,
            AppointmentStatus::Confirmed => self.confirmed,
            AppointmentStatus::CheckedIn => self.checked_in,
            AppointmentStatus::Completed => self.completed,
            AppointmentStatus::Rejected => self.rejected,
            AppointmentStatus::Cancelled => self.cancelled,
            AppointmentStatus::NoShow => self.no_show,
        }
    }

    fn add(&mut self, status: AppointmentStatus) {
        let count = match status {
            AppointmentStatus::AwaitingPayment => &mut self.awaiting_payment,
            AppointmentStatus::Requested => &mut self.requested,
            AppointmentStatus::Confirmed => &mut self.confirmed,
            AppointmentStatus::CheckedIn => &mut self.checked_in,
            AppointmentStatus::Completed => &mut self.completed,
            AppointmentStatus::Rejected => &mut self.rejected,
            AppointmentStatus::Cancelled => &mut self.cancelled,
            AppointmentStatus::NoShow => &mut self.no_show,
        };
        *count += 1;
    }

    /// Every appointment, in any status.
    pub fn total(&self) -> u64 {
        AppointmentStatus::ALL.iter().map(|&s| self.get(s)).sum()
    }
}

/// One local date of the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayStatistics {
    pub date: Date,
    pub counts: StatusCounts,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DoctorUtilisation {
    pub doctor_id: UserId,
    pub name: String,
    pub booked_minutes: i64,
    pub free_minutes: i64,
    /// booked / (booked + free) in percent; `None` when the doctor had neither.
    pub utilisation_percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatisticsTotals {
    pub counts: StatusCounts,
    /// no_show / (completed + no_show) in percent.
    pub no_show_rate_percent: Option<f64>,
    /// cancelled / appointments in percent.
    pub cancellation_rate_percent: Option<f64>,
}

impl StatisticsTotals {
    pub fn appointments(&self) -> u64 {
        self.counts.total()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClinicStatistics {
    /// First local date, inclusive.
    pub from: Date,
    /// Last local date, inclusive.
    pub to: Date,
    /// The clinic's IANA zone, in which the dates are.
    pub time_zone: String,
    /// Every date of the window, in order, zero-filled.
    pub days: Vec<DayStatistics>,
    pub doctors: Vec<DoctorUtilisation>,
    pub totals: StatisticsTotals,
}

/// `part / whole` in percent, rounded to one decimal; `None` when `whole` is 0.
pub fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// Whether an appointment in this status kept its slot from others (see the module).
pub fn holds_time(status: AppointmentStatus) -> bool {
    !matches!(
        status,
        AppointmentStatus::Cancelled | AppointmentStatus::Rejected
    )
}

fn parse_date(field: &str, value: Option<&str>) -> Result<Option<Date>, ValidationErrors> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(value) => value
            .parse::<Date>()
            .map(Some)
            .map_err(|_| ValidationErrors::single(field, "must be a date such as 2026-03-02")),
    }
}

/// The dates `from..=to` of a statistics window: defaults, order and length checked.
pub fn statistics_dates(
    from: Option<&str>,
    to: Option<&str>,
    today: Date,
) -> Result<(Date, Date), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    let from = errors.take(parse_date("from", from));
    let to = errors.take(parse_date("to", to));
    let (Some(from), Some(to)) = (from, to) else {
        return Err(errors);
    };
    let to = to.unwrap_or(today);
    let from = match from {
        Some(from) => from,
        None => to
            .checked_sub((DEFAULT_STATISTICS_DAYS - 1).days())
            .map_err(|_| ValidationErrors::single("to", "is out of range"))?,
    };
    if to < from {
        return Err(ValidationErrors::single("to", "must not be before from"));
    }
    let days = to
        .since(from)
        .map_err(|_| ValidationErrors::single("to", "is out of range"))?
        .get_days()
        + 1;
    if i64::from(days) > MAX_STATISTICS_DAYS {
        return Err(ValidationErrors::single(
            "to",
            format!("the window may span at most {MAX_STATISTICS_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// The instants from `from`'s first moment to the first moment after `to`, in `zone`.
pub(crate) fn window_of(
    from: Date,
    to: Date,
    zone: &TimeZone,
) -> Result<Interval, ValidationErrors> {
    let out_of_range = || ValidationErrors::single("to", "is out of range");
    let start = from
        .to_zoned_datetime(zone.clone())
        .map_err(|_| ValidationErrors::single("from", "is out of range"))?
        .timestamp();
    let end = to
        .tomorrow()
        .and_then(|d| d.to_zoned_datetime(zone.clone()))
        .map_err(|_| out_of_range())?
        .timestamp();
    Interval::new(start, end).ok_or_else(out_of_range)
}

/// Every appointment starting in `window`, a batch at a time in start order.
fn appointments_in(
    tx: &mut dyn Tx,
    window: Interval,
) -> StoreResult<Vec<(AppointmentRecord, String)>> {
    let filter = AppointmentFilter {
        scope: AppointmentScope::All,
        statuses: Vec::new(),
        from: Some(window.start),
        to: Some(window.end),
        doctor_id: None,
        patient_id: None,
        q: None,
        newest_first: false,
    };
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let batch = tx.list_appointments(
            &filter,
            &PageRequest {
                limit: BATCH,
                after: after.clone(),
            },
        )?;
        let done = batch.len() < BATCH as usize;
        after = batch.last().map(|a| Cursor {
            key: a.record.slot.start.as_millisecond().to_string(),
            id: a.record.id.to_string(),
        });
        all.extend(batch.into_iter().map(|a| (a.record, a.doctor_name)));
        if done {
            return Ok(all);
        }
    }
}

fn minutes(intervals: &[Interval]) -> i64 {
    intervals.iter().map(|i| i.duration().as_mins()).sum()
}

impl App {
    /// The clinic's statistics over the local dates `from..=to` (`YYYY-MM-DD` in the
    /// clinic's zone; blank means the default): admins only. See the module for what
    /// each number means. Reads in one transaction: the window's appointments in
    /// batches, the doctors, and each working doctor's time off.
    pub async fn clinic_statistics(
        &self,
        actor: &Actor,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<ClinicStatistics, AppError> {
        authorize(actor, Action::ViewStatistics, Subject::Clinic)?;
        let zone = TimeZone::get(&self.settings.clinic_time_zone).unwrap_or(TimeZone::UTC);
        let today = self.now().to_zoned_datetime(zone.clone()).date();
        let (from, to) = statistics_dates(from, to, today)?;
        let window = window_of(from, to, &zone)?;
        let time_zone = self.settings.clinic_time_zone.clone();
        self.store
            .read(move |tx| {
                let appointments = appointments_in(tx, window)?;

                let mut days: Vec<DayStatistics> = Vec::new();
                let mut date = from;
                while date <= to {
                    days.push(DayStatistics {
                        date,
                        counts: StatusCounts::default(),
                    });
                    match date.tomorrow() {
                        Ok(next) => date = next,
                        Err(_) => break,
                    }
                }
                let mut totals = StatusCounts::default();
                // Per doctor: the name the appointment shows and the held slots.
                let mut held: BTreeMap<UserId, (String, Vec<Interval>)> = BTreeMap::new();
                for (record, doctor_name) in &appointments {
                    totals.add(record.status);
                    let local = record.slot.start.to_zoned_datetime(zone.clone()).date();
                    let index = local.since(from).map(|span| span.get_days());
                    if let Some(day) = index
                        .ok()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| days.get_mut(i))
                    {
                        day.counts.add(record.status);
                    }
                    let entry = held
                        .entry(record.doctor_id.clone())
                        .or_insert_with(|| (doctor_name.clone(), Vec::new()));
                    if holds_time(record.status) {
                        entry.1.push(record.slot);
                    }
                }

                let mut doctors = Vec::new();
                let mut after: Option<Cursor> = None;
                loop {
                    let batch = tx.list_doctors(
                        &DoctorFilter::default(),
                        &PageRequest {
                            limit: BATCH,
                            after: after.clone(),
                        },
                    )?;
                    let done = batch.len() < BATCH as usize;
                    after = batch.last().map(|d| Cursor {
                        key: d.name.clone(),
                        id: d.user_id.to_string(),
                    });
                    for doctor in batch {
                        let booked = held.remove(&doctor.user_id);
                        if booked.is_none() && doctor.status != UserStatus::Active {
                            continue;
                        }
                        let booked = booked.map(|(_, slots)| slots).unwrap_or_default();
                        let free_minutes = if doctor.schedule.weekly_hours.is_empty() {
                            0
                        } else {
                            let mut busy: Vec<Interval> = tx
                                .list_time_off(&doctor.user_id, window)?
                                .into_iter()
                                .map(|t| t.period)
                                .collect();
                            busy.extend_from_slice(&booked);
                            minutes(&doctor.schedule.open_slots(window, &busy))
                        };
                        doctors.push(utilisation(
                            doctor.user_id,
                            doctor.name,
                            minutes(&booked),
                            free_minutes,
                        ));
                    }
                    if done {
                        break;
                    }
                }
                // Appointments of accounts that are no longer doctors.
                for (id, (name, slots)) in held {
                    doctors.push(utilisation(id, name, minutes(&slots), 0));
                }
                doctors.sort_by(|a, b| (&a.name, &a.doctor_id).cmp(&(&b.name, &b.doctor_id)));

                Ok(ClinicStatistics {
                    from,
                    to,
                    time_zone,
                    days,
                    doctors,
                    totals: StatisticsTotals {
                        counts: totals,
                        no_show_rate_percent: percent(
                            totals.no_show,
                            totals.completed + totals.no_show,
                        ),
                        cancellation_rate_percent: percent(totals.cancelled, totals.total()),
                    },
                })
            })
            .await
    }
}

fn utilisation(
    doctor_id: UserId,
    name: String,
    booked_minutes: i64,
    free_minutes: i64,
) -> DoctorUtilisation {
    DoctorUtilisation {
        doctor_id,
        name,
        booked_minutes,
        free_minutes,
        utilisation_percent: percent(
            booked_minutes.max(0) as u64,
            (booked_minutes + free_minutes).max(0) as u64,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use jiff::Timestamp;

    fn date(value: &str) -> Date {
        value.parse().unwrap()
    }

    #[test]
    fn the_default_window_is_the_30_days_ending_today() {
        let today = date("2026-03-02");
        assert_eq!(
            statistics_dates(None, None, today).unwrap(),
            (date("2026-02-01"), today)
        );
        assert_eq!(
            statistics_dates(Some(" "), Some(""), today).unwrap(),
            (date("2026-02-01"), today)
        );
        assert_eq!(
            statistics_dates(None, Some("2026-01-31"), today).unwrap(),
            (date("2026-01-02"), date("2026-01-31"))
        );
        assert_eq!(
            statistics_dates(Some("2026-03-02"), Some("2026-03-02"), today).unwrap(),
            (today, today)
        );
    }

    #[test]
    fn windows_are_checked_naming_the_field() {
        let today = date("2026-03-02");
        let fields = |from, to| -> Vec<String> {
            statistics_dates(from, to, today)
                .unwrap_err()
                .errors
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(
            fields(Some("yesterday"), Some("2026-13-01")),
            ["from", "to"]
        );
        assert_eq!(fields(Some("2026-03-03"), Some("2026-03-02")), ["to"]);
        // 366 days are fine (a leap year), 367 are not.
        assert!(statistics_dates(Some("2024-01-01"), Some("2024-12-31"), today).is_ok());
        assert_eq!(fields(Some("2024-01-01"), Some("2025-01-01")), ["to"]);
    }

    #[test]
    fn windows_run_from_midnight_to_midnight_in_the_zone() {
        let zone = TimeZone::get("Europe/Berlin").unwrap();
        let window = window_of(date("2026-03-29"), date("2026-03-29"), &zone).unwrap();
        // The spring-forward day is 23 hours long.
        assert_eq!(
            window.start,
            "2026-03-28T23:00:00Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(
            window.end,
            "2026-03-29T22:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    #[test]
    fn rates_are_percentages_with_one_decimal_and_none_without_a_base() {
        assert_eq!(percent(1, 3), Some(33.3));
        assert_eq!(percent(2, 3), Some(66.7));
        assert_eq!(percent(0, 5), Some(0.0));
        assert_eq!(percent(0, 0), None);
        assert!(holds_time(AppointmentStatus::NoShow));
        assert!(!holds_time(AppointmentStatus::Cancelled));
    }
}
