//! Pages of the doctor area: the day as a timeline, pending requests, the week, the
//! schedule editor with time off, and the profile. Every page needs the doctor
//! role; an admin may open a doctor's schedule and time off with `?doctor=<id>`.

mod day;
mod profile;
mod schedule;

pub(super) use crate::http::web::view::day_bounds;
use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};
use carebook_domain::appointment::next_status;
use carebook_domain::policy::Actor;
use carebook_domain::time::local_boundary;
use carebook_domain::{AppointmentStatus, Interval, Schedule, Transition};
use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

use super::session::{Chrome, WebError, WebResult};
use super::view;
use crate::app::{App, AppError, AppointmentQuery, PageParams};
use crate::store::{AppointmentView, Role, UserId, VisitMode};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/doctor", get(|| async { Redirect::to("/doctor/today") }))
        .route("/doctor/today", get(day::find_day))
        .route("/doctor/requests", get(day::list_requests))
        .route("/doctor/week", get(day::find_week))
        .route(
            "/doctor/schedule",
            get(schedule::find_schedule).post(schedule::update_schedule),
        )
        .route(
            "/doctor/time-off",
            get(schedule::find_time_off).post(schedule::create_time_off),
        )
        .route(
            "/doctor/time-off/{id}/delete",
            post(schedule::delete_time_off),
        )
        .route(
            "/doctor/profile",
            get(profile::find_profile).post(profile::update_profile),
        )
}

/// The signed-in doctor.
fn doctor(chrome: &Chrome) -> WebResult<Actor> {
    Ok(chrome.require_role(&[Role::Doctor])?.actor.clone())
}

/// Whose schedule a page edits: the signed-in doctor's own, or, for an admin, the
/// doctor named by `?doctor=` (carried along in a hidden field and the redirects).
struct Whose {
    actor: Actor,
    doctor: UserId,
    /// `?doctor=usr_…` for an admin, else empty.
    query: String,
    /// The `doctor` field forms carry for an admin.
    field: Option<String>,
}

fn whose(chrome: &Chrome, doctor: Option<&str>) -> WebResult<Whose> {
    let user = chrome.require_role(&[Role::Doctor, Role::Admin])?;
    let actor = user.actor.clone();
    if actor.role == Role::Doctor {
        return Ok(Whose {
            doctor: actor.user_id.clone(),
            actor,
            query: String::new(),
            field: None,
        });
    }
    let id = doctor
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .ok_or(WebError::NotFound)?;
    Ok(Whose {
        actor,
        doctor: UserId::new(id),
        query: format!("?doctor={}", super::session::form_urlencoded_component(id)),
        field: Some(id.to_owned()),
    })
}

/// The most pages of 100 one view reads (a day or a week never holds more).
const MAX_PAGES: usize = 10;

/// Every appointment matching `query` that the actor may see, page after page.
async fn all_appointments(
    app: &App,
    actor: &Actor,
    query: AppointmentQuery,
) -> Result<Vec<AppointmentView>, AppError> {
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page = app
            .list_appointments(
                actor,
                query.clone(),
                PageParams {
                    limit: Some(100),
                    cursor,
                },
            )
            .await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(all)
}

/// The weekly hours of `date` as real instants, in order.
fn working_hours(schedule: &Schedule, date: Date) -> Vec<Interval> {
    let zone = &schedule.time_zone;
    schedule
        .weekly_hours
        .iter()
        .filter(|hours| hours.day == date.weekday())
        .filter_map(|hours| {
            let start = local_boundary(zone, date, hours.start)?;
            // An end of 00:00 is the end of the day.
            let end = if hours.end == Time::midnight() {
                local_boundary(zone, date.tomorrow().ok()?, Time::midnight())?
            } else {
                local_boundary(zone, date, hours.end)?
            };
            Interval::new(start, end)
        })
        .collect()
}

/// `09:00–13:00, 14:00–17:00`, or `Closed`.
fn hours_label(hours: &[Interval], zone: &TimeZone, day_end: Timestamp) -> String {
    if hours.is_empty() {
        return "Closed".into();
    }
    hours
        .iter()
        .map(|h| time_range(*h, zone, day_end))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `09:00–09:30`; an end at the close of the day prints as 24:00.
fn time_range(span: Interval, zone: &TimeZone, day_end: Timestamp) -> String {
    let end = if span.end == day_end {
        "24:00".to_owned()
    } else {
        view::clock_time(span.end, zone)
    };
    format!("{}–{end}", view::clock_time(span.start, zone))
}

/// Parses `?date=`; a bad value falls back to `fallback` with a message.
fn pick_date(value: Option<&str>, fallback: Date) -> (Date, Option<String>) {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (fallback, None),
        Some(text) => match text.parse::<Date>() {
            Ok(date) => (date, None),
            Err(_) => (
                fallback,
                Some(format!(
                    "\u{201c}{text}\u{201d} is not a date such as {fallback}; showing {fallback}"
                )),
            ),
        },
    }
}

/// A button that moves an appointment (`POST /appointments/{id}/{action}`).
pub struct Button {
    pub action: &'static str,
    pub label: &'static str,
    pub class: &'static str,
}

/// The moves a doctor makes from a page, in the order they are offered. Reject has
/// its own form (with a reason); no-show is offered once a visit is confirmed.
const DOCTOR_MOVES: [(Transition, &str, &str, &str); 4] = [
    (
        Transition::Confirm,
        "confirm",
        "Confirm",
        "button button-small",
    ),
    (
        Transition::CheckIn,
        "check-in",
        "Check in",
        "button button-small",
    ),
    (
        Transition::Complete,
        "complete",
        "Complete",
        "button button-small",
    ),
    (
        Transition::NoShow,
        "no-show",
        "No-show",
        "button button-quiet button-small",
    ),
];

/// An appointment as the doctor's pages print it.
pub struct Visit {
    pub id: String,
    /// `Tue 3 Mar 2026, 09:00`.
    pub starts: String,
    /// `09:00–09:30`.
    pub time: String,
    pub patient: String,
    pub reason: Option<String>,
    pub status_reason: Option<String>,
    pub status: &'static str,
    pub status_class: String,
    pub buttons: Vec<Button>,
    pub can_reject: bool,
    /// `Requested Mon 2 Mar 2026, 07:00`.
    pub requested: String,
    /// A video visit: marked on the doctor's day, week and requests.
    pub video: bool,
}

impl Visit {
    fn new(view: &AppointmentView, zone: &TimeZone) -> Visit {
        let record = &view.record;
        let status = record.status;
        // The lifecycle decides which moves exist from this status.
        let allowed = |t: Transition| next_status(status, t, false, false).is_some();
        let buttons = DOCTOR_MOVES
            .iter()
            .filter(|(t, ..)| allowed(*t))
            .filter(|(t, ..)| !(*t == Transition::NoShow && status == AppointmentStatus::Requested))
            .map(|&(_, action, label, class)| Button {
                action,
                label,
                class,
            })
            .collect();
        let (_, day_end) = day_bounds(
            record.slot.start.to_zoned_datetime(zone.clone()).date(),
            zone,
        );
        Visit {
            id: record.id.to_string(),
            starts: view::date_time(record.slot.start, zone),
            time: time_range(record.slot, zone, day_end),
            patient: view.patient_name.clone(),
            reason: record.reason.clone().filter(|r| !r.trim().is_empty()),
            status_reason: record.status_reason.clone(),
            status: view::status_label(status),
            status_class: view::status_class(status),
            buttons,
            can_reject: allowed(Transition::Reject),
            requested: format!("Requested {}", view::date_time(record.created_at, zone)),
            video: record.mode == VisitMode::Video,
        }
    }
}

/// Cancelled and rejected appointments no longer hold their time.
fn withdrawn(status: AppointmentStatus) -> bool {
    matches!(
        status,
        AppointmentStatus::Cancelled | AppointmentStatus::Rejected
    )
}

fn zone_name(zone: &TimeZone) -> String {
    zone.iana_name().unwrap_or("UTC").to_owned()
}
