//! The doctor's day as a timeline, the pending requests, and the week.

use axum::extract::{Query, State};
use carebook_domain::{AppointmentStatus, Interval};
use jiff::Span;
use jiff::civil::Date;
use serde::Deserialize;

use super::{
    Visit, all_appointments, day_bounds, doctor, hours_label, pick_date, time_range, withdrawn,
    working_hours, zone_name,
};
use crate::app::{App, AppointmentQuery, PageParams};
use crate::http::web::session::{Chrome, WebResult, render};
use crate::http::web::view;

#[derive(Deserialize, Default)]
pub struct DayQuery {
    date: Option<String>,
}

/// One row of the day: an appointment, free time, or time off.
pub struct Row {
    pub time: String,
    /// `visit`, `free` or `off`.
    pub kind: &'static str,
    pub visit: Option<Visit>,
    pub note: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/doctor/today.html")]
struct DayPage {
    chrome: Chrome,
    /// `Tuesday 3 March 2026`.
    title: String,
    date: String,
    is_today: bool,
    date_error: Option<String>,
    prev: String,
    next: String,
    zone: String,
    hours: String,
    rows: Vec<Row>,
    booked: usize,
    withdrawn: Vec<Visit>,
}

/// Pieces of `span` not covered by `cuts` (sorted or not).
fn subtract(span: Interval, cuts: &[Interval]) -> Vec<Interval> {
    let mut cuts: Vec<Interval> = cuts.iter().copied().filter(|c| c.overlaps(&span)).collect();
    cuts.sort();
    let mut free = Vec::new();
    let mut at = span.start;
    for cut in cuts {
        if cut.start > at {
            free.extend(Interval::new(at, cut.start));
        }
        at = at.max(cut.end);
    }
    free.extend(Interval::new(at, span.end));
    free
}

/// `GET /doctor/today?date=YYYY-MM-DD`: the day's working hours, appointments in
/// time order with their buttons, free gaps and time off.
pub async fn find_day(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<DayQuery>,
) -> WebResult {
    let actor = doctor(&chrome)?;
    let schedule = app.find_schedule(&actor, actor.user_id.clone()).await?;
    let zone = schedule.time_zone.clone();
    let today = app.now().to_zoned_datetime(zone.clone()).date();
    let (date, date_error) = pick_date(query.date.as_deref(), today);
    let (day_start, day_end) = day_bounds(date, &zone);
    let appointments = all_appointments(
        &app,
        &actor,
        AppointmentQuery {
            from: Some(day_start.to_string()),
            to: Some(day_end.to_string()),
            sort: Some("start".into()),
            ..AppointmentQuery::default()
        },
    )
    .await?;
    let hours = working_hours(&schedule, date);
    let day = Interval::new(day_start, day_end);
    // Time off touching this day, clipped to it, with its reason.
    let time_off: Vec<(Interval, Option<String>)> = app
        .list_time_off(&actor, actor.user_id.clone())
        .await?
        .into_iter()
        .filter_map(|off| {
            let day = day?;
            Interval::new(off.period.start.max(day.start), off.period.end.min(day.end))
                .map(|clipped| (clipped, off.reason))
        })
        .collect();

    let (kept, gone): (Vec<_>, Vec<_>) = appointments
        .iter()
        .partition(|a| !withdrawn(a.record.status));
    let taken: Vec<Interval> = kept.iter().map(|a| a.record.slot).collect();
    let mut rows: Vec<(Interval, u8, Row)> = kept
        .iter()
        .map(|a| {
            let visit = Visit::new(a, &zone);
            let row = Row {
                time: visit.time.clone(),
                kind: "visit",
                visit: Some(visit),
                note: None,
            };
            (a.record.slot, 0, row)
        })
        .collect();
    for span in &hours {
        for (off, reason) in &time_off {
            let Some(off) = Interval::new(off.start.max(span.start), off.end.min(span.end)) else {
                continue;
            };
            let note = match reason {
                Some(reason) => format!("Time off · {reason}"),
                None => "Time off".to_owned(),
            };
            rows.push((
                off,
                1,
                Row {
                    time: time_range(off, &zone, day_end),
                    kind: "off",
                    visit: None,
                    note: Some(note),
                },
            ));
        }
        let mut busy = taken.clone();
        busy.extend(time_off.iter().map(|(off, _)| *off));
        for free in subtract(*span, &busy) {
            let minutes = free.duration().as_mins();
            let length = match (minutes / 60, minutes % 60) {
                (0, m) => format!("{m} min"),
                (h, 0) => format!("{h} h"),
                (h, m) => format!("{h} h {m} min"),
            };
            rows.push((
                free,
                2,
                Row {
                    time: time_range(free, &zone, day_end),
                    kind: "free",
                    visit: None,
                    note: Some(format!("Free · {length}")),
                },
            ));
        }
    }
    rows.sort_by_key(|(span, order, _)| (span.start, *order));

    let shift = |days: i64| {
        date.checked_add(Span::new().days(days))
            .unwrap_or(date)
            .to_string()
    };
    Ok(render(&DayPage {
        title: view::long_date(date),
        date: date.to_string(),
        is_today: date == today,
        date_error,
        prev: shift(-1),
        next: shift(1),
        zone: zone_name(&zone),
        hours: hours_label(&hours, &zone, day_end),
        booked: kept.len(),
        rows: rows.into_iter().map(|(_, _, row)| row).collect(),
        withdrawn: gone.into_iter().map(|a| Visit::new(a, &zone)).collect(),
        chrome,
    }))
}

#[derive(Deserialize, Default)]
pub struct RequestsQuery {
    cursor: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/doctor/requests.html")]
struct RequestsPage {
    chrome: Chrome,
    zone: String,
    requests: Vec<Visit>,
    next_page: Option<String>,
}

/// `GET /doctor/requests`: requests waiting for an answer, soonest first.
pub async fn list_requests(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<RequestsQuery>,
) -> WebResult {
    let actor = doctor(&chrome)?;
    let schedule = app.find_schedule(&actor, actor.user_id.clone()).await?;
    let zone = schedule.time_zone;
    let page = app
        .list_appointments(
            &actor,
            AppointmentQuery {
                status: Some(AppointmentStatus::Requested.as_str().into()),
                sort: Some("start".into()),
                ..AppointmentQuery::default()
            },
            PageParams {
                limit: Some(50),
                cursor: query.cursor,
            },
        )
        .await?;
    Ok(render(&RequestsPage {
        zone: zone_name(&zone),
        requests: page.items.iter().map(|a| Visit::new(a, &zone)).collect(),
        next_page: page.next_cursor.map(|c| {
            format!(
                "/doctor/requests?cursor={}",
                crate::http::web::session::form_urlencoded_component(&c)
            )
        }),
        chrome,
    }))
}

#[derive(Deserialize, Default)]
pub struct WeekQuery {
    start: Option<String>,
}

/// One day of the week view.
pub struct WeekDay {
    /// `Monday 2 March`.
    pub label: String,
    pub date: String,
    pub is_today: bool,
    pub hours: String,
    pub visits: Vec<Visit>,
}

#[derive(askama::Template)]
#[template(path = "web/doctor/week.html")]
struct WeekPage {
    chrome: Chrome,
    title: String,
    start_error: Option<String>,
    start: String,
    prev: String,
    next: String,
    zone: String,
    days: Vec<WeekDay>,
    total: usize,
}

/// `GET /doctor/week?start=YYYY-MM-DD`: Monday to Sunday of the week holding `start`.
pub async fn find_week(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<WeekQuery>,
) -> WebResult {
    let actor = doctor(&chrome)?;
    let schedule = app.find_schedule(&actor, actor.user_id.clone()).await?;
    let zone = schedule.time_zone.clone();
    let today = app.now().to_zoned_datetime(zone.clone()).date();
    let (picked, start_error) = pick_date(query.start.as_deref(), today);
    let add = |date: Date, days: i64| date.checked_add(Span::new().days(days)).unwrap_or(date);
    let monday = add(picked, -i64::from(picked.weekday().to_monday_zero_offset()));
    let sunday = add(monday, 6);
    let (from, _) = day_bounds(monday, &zone);
    let (_, to) = day_bounds(sunday, &zone);
    let appointments = all_appointments(
        &app,
        &actor,
        AppointmentQuery {
            from: Some(from.to_string()),
            to: Some(to.to_string()),
            sort: Some("start".into()),
            ..AppointmentQuery::default()
        },
    )
    .await?;
    let mut total = 0;
    let days = (0..7)
        .map(|offset| {
            let date = add(monday, offset);
            let (_, day_end) = day_bounds(date, &zone);
            let visits: Vec<Visit> = appointments
                .iter()
                .filter(|a| !withdrawn(a.record.status))
                .filter(|a| a.record.slot.start.to_zoned_datetime(zone.clone()).date() == date)
                .map(|a| Visit::new(a, &zone))
                .collect();
            total += visits.len();
            WeekDay {
                label: date.strftime("%A %-d %B").to_string(),
                date: date.to_string(),
                is_today: date == today,
                hours: hours_label(&working_hours(&schedule, date), &zone, day_end),
                visits,
            }
        })
        .collect();
    let title = if monday.month() == sunday.month() {
        format!(
            "{}–{}",
            monday.strftime("%-d"),
            sunday.strftime("%-d %B %Y")
        )
    } else if monday.year() == sunday.year() {
        format!(
            "{} – {}",
            monday.strftime("%-d %B"),
            sunday.strftime("%-d %B %Y")
        )
    } else {
        format!(
            "{} – {}",
            monday.strftime("%-d %B %Y"),
            sunday.strftime("%-d %B %Y")
        )
    };
    Ok(render(&WeekPage {
        title,
        start_error,
        start: monday.to_string(),
        prev: add(monday, -7).to_string(),
        next: add(monday, 7).to_string(),
        zone: zone_name(&zone),
        days,
        total,
        chrome,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: &str, end: &str) -> Interval {
        Interval::new(start.parse().unwrap(), end.parse().unwrap()).unwrap()
    }

    #[test]
    fn free_time_is_what_no_appointment_or_time_off_covers() {
        let hours = span("2026-03-03T08:00:00Z", "2026-03-03T12:00:00Z");
        let busy = [
            span("2026-03-03T09:00:00Z", "2026-03-03T09:30:00Z"),
            span("2026-03-03T07:00:00Z", "2026-03-03T08:30:00Z"),
            span("2026-03-03T09:15:00Z", "2026-03-03T10:00:00Z"),
        ];
        assert_eq!(
            subtract(hours, &busy),
            vec![
                span("2026-03-03T08:30:00Z", "2026-03-03T09:00:00Z"),
                span("2026-03-03T10:00:00Z", "2026-03-03T12:00:00Z"),
            ]
        );
        assert_eq!(subtract(hours, &[]), vec![hours]);
    }
}
