//! The schedule editor (zone, slot length, booking rules, weekly hours) and time off.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use carebook_domain::schedule::{ScheduleInput, WeeklyIntervalInput};
use carebook_domain::{Schedule, TimeOffId};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::{Whose, whose, zone_name};
use crate::app::{App, AppError, TimeOffInput};
use crate::http::web::session::{Chrome, CsrfForm, Flash, WebResult, render, see_other};
use crate::http::web::view::{self, FieldErrors};

/// Zones offered in the select (jiff has no list of names); the doctor's current
/// zone is added when it is not one of them.
const ZONES: [&str; 56] = [
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Brussels",
    "Europe/Amsterdam",
    "Europe/Berlin",
    "Europe/Zurich",
    "Europe/Vienna",
    "Europe/Rome",
    "Europe/Madrid",
    "Europe/Copenhagen",
    "Europe/Oslo",
    "Europe/Stockholm",
    "Europe/Helsinki",
    "Europe/Warsaw",
    "Europe/Prague",
    "Europe/Budapest",
    "Europe/Bucharest",
    "Europe/Athens",
    "Europe/Istanbul",
    "Europe/Kyiv",
    "Europe/Moscow",
    "Africa/Casablanca",
    "Africa/Lagos",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "Africa/Nairobi",
    "Asia/Jerusalem",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Perth",
    "Australia/Adelaide",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Phoenix",
    "America/Denver",
    "America/Chicago",
    "America/Mexico_City",
    "America/New_York",
    "America/Bogota",
    "America/Halifax",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
];

const DAYS: [(&str, &str); 7] = [
    ("monday", "Monday"),
    ("tuesday", "Tuesday"),
    ("wednesday", "Wednesday"),
    ("thursday", "Thursday"),
    ("friday", "Friday"),
    ("saturday", "Saturday"),
    ("sunday", "Sunday"),
];

/// Intervals per day the form offers.
const INTERVALS_PER_DAY: usize = 3;

/// One start/end pair of a day, as typed, with its messages.
pub struct IntervalField {
    /// 1-based, for labels.
    pub number: usize,
    pub start_name: String,
    pub end_name: String,
    pub start: String,
    pub end: String,
    pub start_error: Option<String>,
    pub end_error: Option<String>,
}

pub struct DayField {
    pub label: &'static str,
    pub intervals: Vec<IntervalField>,
    pub invalid: bool,
}

/// The schedule form as typed (all strings, so a bad value is shown back).
#[derive(Default)]
pub struct ScheduleForm {
    pub time_zone: String,
    pub slot_minutes: String,
    pub min_notice_minutes: String,
    pub horizon_days: String,
    pub cancel_window_hours: String,
    pub auto_confirm: bool,
    /// `(day, interval index) -> (start, end)`.
    pub hours: Vec<(&'static str, usize, String, String)>,
}

impl ScheduleForm {
    fn from_schedule(schedule: &Schedule) -> ScheduleForm {
        let input = schedule.to_input();
        let mut hours = Vec::new();
        for (day, _) in DAYS {
            for (index, interval) in input
                .weekly_hours
                .iter()
                .filter(|i| i.day == day)
                .take(INTERVALS_PER_DAY)
                .enumerate()
            {
                // A time input cannot show 24:00; 00:00 as an end means midnight.
                let end = if interval.end == "24:00" {
                    "00:00".to_owned()
                } else {
                    interval.end.clone()
                };
                hours.push((day, index, interval.start.clone(), end));
            }
        }
        ScheduleForm {
            time_zone: input.time_zone,
            slot_minutes: input.slot_minutes.to_string(),
            min_notice_minutes: input.min_notice_minutes.to_string(),
            horizon_days: input.horizon_days.to_string(),
            cancel_window_hours: input.cancel_window_hours.to_string(),
            auto_confirm: input.auto_confirm,
            hours,
        }
    }

    fn from_pairs(pairs: &[(String, String)]) -> ScheduleForm {
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let mut hours = Vec::new();
        for (day, _) in DAYS {
            for index in 0..INTERVALS_PER_DAY {
                let (start_name, end_name) = interval_names(day, index);
                let (start, end) = (value(&start_name), value(&end_name));
                if !start.is_empty() || !end.is_empty() {
                    hours.push((day, index, start, end));
                }
            }
        }
        ScheduleForm {
            time_zone: value("time_zone"),
            slot_minutes: value("slot_minutes"),
            min_notice_minutes: value("min_notice_minutes"),
            horizon_days: value("horizon_days"),
            cancel_window_hours: value("cancel_window_hours"),
            auto_confirm: pairs
                .iter()
                .any(|(k, v)| k == "auto_confirm" && !v.is_empty()),
            hours,
        }
    }

    fn interval(&self, day: &str, index: usize) -> (String, String) {
        self.hours
            .iter()
            .find(|(d, i, ..)| *d == day && *i == index)
            .map(|(_, _, s, e)| (s.clone(), e.clone()))
            .unwrap_or_default()
    }

    /// The app's input, and messages for what is not even a number. Unreadable
    /// numbers are sent as -1, which every rule refuses, so the app still checks all
    /// the other fields; their messages are then replaced by ours.
    fn to_input(&self) -> (ScheduleInput, FieldErrors, Vec<(String, String)>) {
        let mut errors = FieldErrors::new();
        let mut number = |field: &str, value: &str| match value.parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                let message = if value.is_empty() {
                    "is required"
                } else {
                    "must be a whole number"
                };
                errors.add(field, message);
                -1
            }
        };
        let slot_minutes = number("slot_minutes", &self.slot_minutes);
        let min_notice_minutes = number("min_notice_minutes", &self.min_notice_minutes);
        let horizon_days = number("horizon_days", &self.horizon_days);
        let cancel_window_hours = number("cancel_window_hours", &self.cancel_window_hours);
        let mut names = Vec::new();
        let weekly_hours = self
            .hours
            .iter()
            .map(|(day, index, start, end)| {
                names.push(interval_names(day, *index));
                WeeklyIntervalInput {
                    day: (*day).to_owned(),
                    start: clock(start),
                    // A time input cannot say 24:00: an end of 00:00 is midnight.
                    end: match clock(end).as_str() {
                        "00:00" => "24:00".to_owned(),
                        other => other.to_owned(),
                    },
                }
            })
            .collect();
        let input = ScheduleInput {
            time_zone: self.time_zone.clone(),
            slot_minutes,
            weekly_hours,
            min_notice_minutes,
            horizon_days,
            auto_confirm: self.auto_confirm,
            cancel_window_hours,
        };
        (input, errors, names)
    }
}

/// `HH:MM` from a time input, which may add seconds (`09:00:00`).
fn clock(value: &str) -> String {
    match value.strip_suffix(":00") {
        Some(short) if value.len() == 8 => short.to_owned(),
        _ => value.to_owned(),
    }
}

fn interval_names(day: &str, index: usize) -> (String, String) {
    (
        format!("{day}_start_{}", index + 1),
        format!("{day}_end_{}", index + 1),
    )
}

/// The app's messages for the schedule, by the form's field names.
fn schedule_errors(
    ours: FieldErrors,
    names: &[(String, String)],
    raw: carebook_domain::ValidationErrors,
) -> FieldErrors {
    let mut errors = ours;
    for error in raw.errors {
        let field = match error.field.strip_prefix("weekly_hours[") {
            Some(rest) => {
                let (index, part) = rest.split_once("].").unwrap_or((rest, ""));
                let names = index.parse::<usize>().ok().and_then(|i| names.get(i));
                match (names, part) {
                    (Some((start, _)), "start") => start.clone(),
                    (Some((_, end)), _) => end.clone(),
                    (None, _) => "weekly_hours".to_owned(),
                }
            }
            None => error.field.clone(),
        };
        if errors.has(&field) {
            continue;
        }
        // The app names overlapping intervals by their index in its list.
        let message = if error.message.starts_with("overlaps") {
            "overlaps another interval of this day".to_owned()
        } else {
            error.message
        };
        errors.add(&field, &message);
    }
    errors
}

/// The time-off form as typed.
#[derive(Deserialize, Default)]
pub struct TimeOffForm {
    #[serde(default)]
    pub start_date: String,
    #[serde(default)]
    pub start_time: String,
    #[serde(default)]
    pub end_date: String,
    #[serde(default)]
    pub end_time: String,
    #[serde(default)]
    pub reason: String,
    pub doctor: Option<String>,
}

impl TimeOffForm {
    /// RFC 3339 start and end from local dates and times in `zone`. A blank start
    /// time is the start of the day, a blank end date the start date, a blank end
    /// time the end of the end date.
    fn to_input(&self, zone: &TimeZone) -> Result<TimeOffInput, FieldErrors> {
        let mut errors = FieldErrors::new();
        let date =
            |field: &str, value: &str, errors: &mut FieldErrors| match value.trim().parse::<Date>()
            {
                Ok(date) => Some(date),
                Err(_) if value.trim().is_empty() => {
                    errors.add(field, "is required");
                    None
                }
                Err(_) => {
                    errors.add(field, "must be a date such as 2026-03-10");
                    None
                }
            };
        let time = |field: &str, value: &str, errors: &mut FieldErrors| {
            let value = value.trim();
            if value.is_empty() {
                return Some(None);
            }
            match value.parse::<Time>() {
                Ok(time) => Some(Some(time)),
                Err(_) => {
                    errors.add(field, "must be a time such as 09:30");
                    None
                }
            }
        };
        let start_date = date("start_date", &self.start_date, &mut errors);
        let end_date = if self.end_date.trim().is_empty() {
            start_date
        } else {
            date("end_date", &self.end_date, &mut errors)
        };
        let start_time = time("start_time", &self.start_time, &mut errors);
        let end_time = time("end_time", &self.end_time, &mut errors);
        let (Some(start_date), Some(end_date), Some(start_time), Some(end_time)) =
            (start_date, end_date, start_time, end_time)
        else {
            return Err(errors);
        };
        let start = DateTime::from_parts(start_date, start_time.unwrap_or(Time::midnight()));
        let end = match end_time {
            Some(time) => Some(DateTime::from_parts(end_date, time)),
            None => end_date
                .tomorrow()
                .ok()
                .map(|next| DateTime::from_parts(next, Time::midnight())),
        };
        let instant = |local: Option<DateTime>| {
            local
                .and_then(|l| l.to_zoned_datetime(zone.clone()).ok())
                .map(|z| z.timestamp().to_string())
        };
        let (Some(start), Some(end)) = (instant(Some(start)), instant(end)) else {
            errors.add("end_date", "is out of range");
            return Err(errors);
        };
        Ok(TimeOffInput {
            start,
            end,
            reason: Some(self.reason.trim().to_owned()).filter(|r| !r.is_empty()),
        })
    }
}

pub struct TimeOffItem {
    pub id: String,
    pub from: String,
    pub until: String,
    pub reason: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/doctor/schedule.html")]
struct SchedulePage {
    chrome: Chrome,
    doctor_name: String,
    own: bool,
    doctor_field: Option<String>,
    zones: Vec<String>,
    form: ScheduleForm,
    days: Vec<DayField>,
    errors: FieldErrors,
    time_off: Vec<TimeOffItem>,
    off: TimeOffForm,
    off_errors: FieldErrors,
    zone: String,
}

impl SchedulePage {
    fn checked(&self) -> &'static str {
        if self.form.auto_confirm {
            " checked"
        } else {
            ""
        }
    }
}

/// Everything the page shows besides the two forms.
async fn schedule_page(
    app: &App,
    chrome: Chrome,
    whose: &Whose,
    form: ScheduleForm,
    errors: FieldErrors,
    off: TimeOffForm,
    off_errors: FieldErrors,
) -> WebResult<SchedulePage> {
    let profile = app
        .find_doctor(Some(&whose.actor), whose.doctor.clone())
        .await?;
    let zone = profile.doctor.schedule.time_zone.clone();
    let time_off = app
        .list_time_off(&whose.actor, whose.doctor.clone())
        .await?
        .into_iter()
        .map(|t| TimeOffItem {
            id: t.id.to_string(),
            from: view::date_time(t.period.start, &zone),
            until: view::date_time(t.period.end, &zone),
            reason: t.reason,
        })
        .collect();
    let mut zones: Vec<String> = ZONES.iter().map(|z| (*z).to_owned()).collect();
    for current in [zone_name(&zone), form.time_zone.clone()] {
        if !current.is_empty() && !zones.contains(&current) {
            zones.insert(0, current);
        }
    }
    let days = DAYS
        .iter()
        .map(|&(key, label)| {
            let intervals: Vec<IntervalField> = (0..INTERVALS_PER_DAY)
                .map(|index| {
                    let (start_name, end_name) = interval_names(key, index);
                    let (start, end) = form.interval(key, index);
                    IntervalField {
                        number: index + 1,
                        start_error: errors.get(&start_name).map(str::to_owned),
                        end_error: errors.get(&end_name).map(str::to_owned),
                        start_name,
                        end_name,
                        start,
                        end,
                    }
                })
                .collect();
            DayField {
                label,
                invalid: intervals
                    .iter()
                    .any(|i| i.start_error.is_some() || i.end_error.is_some()),
                intervals,
            }
        })
        .collect();
    Ok(SchedulePage {
        chrome,
        doctor_name: profile.doctor.name.clone(),
        own: whose.actor.user_id == whose.doctor,
        doctor_field: whose.field.clone(),
        zones,
        form,
        days,
        errors,
        time_off,
        off,
        off_errors,
        zone: zone_name(&zone),
    })
}

#[derive(Deserialize, Default)]
pub struct DoctorQuery {
    doctor: Option<String>,
}

/// `GET /doctor/schedule`: the editor, filled with the saved schedule.
pub async fn find_schedule(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<DoctorQuery>,
) -> WebResult {
    let whose = whose(&chrome, query.doctor.as_deref())?;
    let schedule = app
        .find_schedule(&whose.actor, whose.doctor.clone())
        .await?;
    let page = schedule_page(
        &app,
        chrome,
        &whose,
        ScheduleForm::from_schedule(&schedule),
        FieldErrors::new(),
        TimeOffForm::default(),
        FieldErrors::new(),
    )
    .await?;
    Ok(render(&page))
}

/// `GET /doctor/time-off`: time off lives on the schedule page.
pub async fn find_time_off(Query(query): Query<DoctorQuery>) -> Redirect {
    let query = query
        .doctor
        .map(|d| {
            format!(
                "?doctor={}",
                crate::http::web::session::form_urlencoded_component(&d)
            )
        })
        .unwrap_or_default();
    Redirect::to(&format!("/doctor/schedule{query}#time-off"))
}

/// `POST /doctor/schedule`: saves the whole schedule, or shows the form again with
/// a message next to each field at fault.
pub async fn update_schedule(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<Vec<(String, String)>>,
) -> WebResult {
    let doctor = form
        .iter()
        .find(|(k, _)| k == "doctor")
        .map(|(_, v)| v.as_str());
    let whose = whose(&chrome, doctor)?;
    let typed = ScheduleForm::from_pairs(&form);
    let (input, ours, names) = typed.to_input();
    let errors = match app
        .update_schedule(&whose.actor, whose.doctor.clone(), input)
        .await
    {
        Ok(_) => {
            return Ok(see_other(
                &app,
                &format!("/doctor/schedule{}", whose.query),
                Some(Flash::success(
                    "The schedule is saved. Booked appointments stay as they are.",
                )),
            ));
        }
        Err(AppError::Invalid(raw)) => schedule_errors(ours, &names, raw),
        Err(other) => return Err(other.into()),
    };
    let page = schedule_page(
        &app,
        chrome,
        &whose,
        typed,
        errors,
        TimeOffForm::default(),
        FieldErrors::new(),
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

/// `POST /doctor/time-off`: blocks a period given in the doctor's local time.
pub async fn create_time_off(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<TimeOffForm>,
) -> WebResult {
    let whose = whose(&chrome, form.doctor.as_deref())?;
    let schedule = app
        .find_schedule(&whose.actor, whose.doctor.clone())
        .await?;
    let errors = match form.to_input(&schedule.time_zone) {
        Err(errors) => errors,
        Ok(input) => match app
            .create_time_off(&whose.actor, whose.doctor.clone(), input)
            .await
        {
            Ok(created) => {
                let zone = &schedule.time_zone;
                let period = created.time_off.period;
                let what = format!(
                    "Time off from {} until {} is saved.",
                    view::date_time(period.start, zone),
                    view::date_time(period.end, zone)
                );
                let flash = match created.overlapping_appointments {
                    0 => Flash::success(what),
                    1 => Flash::info(format!(
                        "{what} 1 booked appointment falls inside it: it stays booked until you cancel or move it."
                    )),
                    n => Flash::info(format!(
                        "{what} {n} booked appointments fall inside it: they stay booked until you cancel or move them."
                    )),
                };
                return Ok(see_other(
                    &app,
                    &format!("/doctor/schedule{}#time-off", whose.query),
                    Some(flash),
                ));
            }
            Err(AppError::Invalid(raw)) => {
                let mut errors = FieldErrors::new();
                for error in raw.errors {
                    let field = match error.field.as_str() {
                        "start" => "start_date",
                        "end" => "end_date",
                        "reason" => "reason",
                        _ => "end_date",
                    };
                    errors.add(field, &error.message);
                }
                errors
            }
            Err(other) => return Err(other.into()),
        },
    };
    let page = schedule_page(
        &app,
        chrome,
        &whose,
        ScheduleForm::from_schedule(&schedule),
        FieldErrors::new(),
        form,
        errors,
    )
    .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)).into_response())
}

#[derive(Deserialize, Default)]
pub struct DeleteForm {
    doctor: Option<String>,
}

/// `POST /doctor/time-off/{id}/delete`.
pub async fn delete_time_off(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<DeleteForm>,
) -> WebResult {
    let whose = whose(&chrome, form.doctor.as_deref())?;
    app.delete_time_off(&whose.actor, whose.doctor.clone(), TimeOffId::new(id))
        .await?;
    Ok(see_other(
        &app,
        &format!("/doctor/schedule{}#time-off", whose.query),
        Some(Flash::success("The time off is removed.")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_inputs_become_app_clock_times() {
        assert_eq!(clock("09:00:00"), "09:00");
        assert_eq!(clock("09:30"), "09:30");
        assert_eq!(clock("9"), "9");
    }

    #[test]
    fn whole_days_of_time_off_run_to_the_next_midnight_in_the_zone() {
        let form = TimeOffForm {
            start_date: "2026-03-10".into(),
            end_date: "2026-03-12".into(),
            ..TimeOffForm::default()
        };
        let input = form.to_input(&view::zone("Europe/Berlin")).unwrap();
        assert_eq!(input.start, "2026-03-09T23:00:00Z");
        assert_eq!(input.end, "2026-03-12T23:00:00Z");
        let bad = TimeOffForm {
            start_date: "soon".into(),
            ..TimeOffForm::default()
        };
        assert!(bad.to_input(&TimeZone::UTC).unwrap_err().has("start_date"));
    }
}
