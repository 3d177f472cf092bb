//! `GET /admin/stats`: the clinic's statistics for admins, with server-drawn SVG
//! charts (see [`super::charts`]) and the same numbers in tables. The numbers and
//! who may see them are `App::clinic_statistics`'s, as on `GET /api/v1/stats`.

use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use serde::Deserialize;

use super::charts::{self, Pattern, Series, SplitBar, StackedBars};
use super::session::{Chrome, WebResult, render};
use super::view::{self, FieldErrors};
use crate::app::{App, AppError, ClinicStatistics};
use crate::store::AppointmentStatus;

pub fn routes() -> Router<App> {
    Router::new().route("/admin/stats", get(find_stats))
}

#[derive(Deserialize, Default)]
pub struct StatsForm {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
}

/// The statuses in stacking order (settled visits at the bottom), each with its
/// pattern: the chart tells them apart without colour.
const SERIES: [(AppointmentStatus, Pattern); 7] = [
    (AppointmentStatus::Completed, Pattern::Solid),
    (AppointmentStatus::CheckedIn, Pattern::Horizontal),
    (AppointmentStatus::Confirmed, Pattern::Diagonal),
    (AppointmentStatus::Requested, Pattern::Dots),
    (AppointmentStatus::NoShow, Pattern::Cross),
    (AppointmentStatus::Cancelled, Pattern::BackDiagonal),
    (AppointmentStatus::Rejected, Pattern::Vertical),
];

pub struct SummaryCard {
    pub label: &'static str,
    pub value: String,
    pub hint: &'static str,
}

pub struct DayRow {
    pub label: String,
    pub counts: Vec<u64>,
    pub total: u64,
}

pub struct DoctorRow {
    pub name: String,
    pub booked: String,
    pub free: String,
    pub utilisation: String,
}

pub struct StatsView {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub cards: Vec<SummaryCard>,
    pub status_labels: Vec<&'static str>,
    pub days: Vec<DayRow>,
    pub day_totals: Vec<u64>,
    pub appointments: u64,
    pub doctors: Vec<DoctorRow>,
    pub day_chart: String,
    pub doctor_chart: String,
}

#[derive(askama::Template)]
#[template(path = "web/admin/stats.html")]
struct StatsPage {
    chrome: Chrome,
    form: StatsForm,
    errors: FieldErrors,
    stats: Option<StatsView>,
}

/// `GET /admin/stats?from=&to=`: the window's numbers, or the form with its errors.
async fn find_stats(
    State(app): State<App>,
    chrome: Chrome,
    Query(form): Query<StatsForm>,
) -> WebResult {
    let actor = chrome.require()?.actor.clone();
    let result = app
        .clinic_statistics(&actor, Some(&form.from), Some(&form.to))
        .await;
    let (stats, errors) = match result {
        Ok(stats) => (Some(stats_view(stats)), FieldErrors::new()),
        Err(AppError::Invalid(errors)) => (None, errors.into()),
        Err(other) => return Err(other.into()),
    };
    // The form shows the window it shows, defaults included.
    let form = match &stats {
        Some(view) => StatsForm {
            from: view.from.clone(),
            to: view.to.clone(),
        },
        None => form,
    };
    Ok(render(&StatsPage {
        chrome,
        form,
        errors,
        stats,
    }))
}

/// `90` -> `1 h 30 min`.
pub fn duration(minutes: i64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

fn rate(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}%"))
}

fn stats_view(stats: ClinicStatistics) -> StatsView {
    let totals = &stats.totals;
    let counts = totals.counts;
    let cards = vec![
        SummaryCard {
            label: "Appointments",
            value: counts.total().to_string(),
            hint: "starting in the window, any status",
        },
        SummaryCard {
            label: "Completed",
            value: counts.completed.to_string(),
            hint: "visits that took place",
        },
        SummaryCard {
            label: "No-shows",
            value: counts.no_show.to_string(),
            hint: "patients who did not come",
        },
        SummaryCard {
            label: "No-show rate",
            value: rate(totals.no_show_rate_percent),
            hint: "no-shows ÷ (completed + no-shows)",
        },
        SummaryCard {
            label: "Cancelled",
            value: counts.cancelled.to_string(),
            hint: "by the patient or the clinic",
        },
        SummaryCard {
            label: "Cancellation rate",
            value: rate(totals.cancellation_rate_percent),
            hint: "cancelled ÷ all appointments",
        },
        SummaryCard {
            label: "Rejected",
            value: counts.rejected.to_string(),
            hint: "requests the clinic declined",
        },
    ];

    let series: Vec<Series> = SERIES
        .iter()
        .map(|&(status, pattern)| Series {
            key: status.as_str().replace('_', "-"),
            label: view::status_label(status).to_owned(),
            pattern,
        })
        .collect();
    let days: Vec<DayRow> = stats
        .days
        .iter()
        .map(|day| DayRow {
            label: day.date.strftime("%a %-d %b %Y").to_string(),
            counts: SERIES.iter().map(|&(s, _)| day.counts.get(s)).collect(),
            total: day.counts.total(),
        })
        .collect();
    let busiest = stats
        .days
        .iter()
        .max_by_key(|d| d.counts.total())
        .filter(|d| d.counts.total() > 0);
    let range = format!(
        "{} to {}",
        stats.from.strftime("%-d %B %Y"),
        stats.to.strftime("%-d %B %Y")
    );
    let day_chart = charts::stacked_bar_chart(&StackedBars {
        id: "chart-days".into(),
        title: format!("Appointments per day, {range}"),
        desc: format!(
            "Stacked bars, one per day, of appointments by status: {} in all{}. The table below lists every number.",
            counts.total(),
            busiest.map_or_else(String::new, |d| format!(
                "; the busiest day was {} with {}",
                d.date.strftime("%a %-d %b"),
                d.counts.total()
            )),
        ),
        series,
        bars: stats
            .days
            .iter()
            .map(|day| {
                (
                    day.date.strftime("%-d %b").to_string(),
                    SERIES.iter().map(|&(s, _)| day.counts.get(s)).collect(),
                )
            })
            .collect(),
        y_label: "Appointments".into(),
    });

    let doctor_chart = charts::split_bar_chart(
        "chart-doctors",
        &format!("Utilisation per doctor, {range}"),
        &format!(
            "Horizontal bars, one per doctor, of booked time then free time in their weekly hours, with the share booked printed: {} doctors. The table below lists every number.",
            stats.doctors.len()
        ),
        &Series {
            key: "booked".into(),
            label: "Booked".into(),
            pattern: Pattern::Solid,
        },
        &Series {
            key: "free".into(),
            label: "Free".into(),
            pattern: Pattern::Diagonal,
        },
        &stats
            .doctors
            .iter()
            .map(|d| SplitBar {
                label: d.name.clone(),
                used: d.booked_minutes,
                unused: d.free_minutes,
                note: d
                    .utilisation_percent
                    .map_or_else(|| "no hours".to_owned(), |v| format!("{v:.1}%")),
            })
            .collect::<Vec<_>>(),
    );

    StatsView {
        from: stats.from.to_string(),
        to: stats.to.to_string(),
        time_zone: stats.time_zone.clone(),
        cards,
        status_labels: SERIES.iter().map(|&(s, _)| view::status_label(s)).collect(),
        day_totals: SERIES.iter().map(|&(s, _)| counts.get(s)).collect(),
        appointments: counts.total(),
        days,
        doctors: stats
            .doctors
            .iter()
            .map(|d| DoctorRow {
                name: d.name.clone(),
                booked: duration(d.booked_minutes),
                free: duration(d.free_minutes),
                utilisation: rate(d.utilisation_percent),
            })
            .collect(),
        day_chart,
        doctor_chart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_hours_and_minutes() {
        assert_eq!(duration(0), "0 min");
        assert_eq!(duration(45), "45 min");
        assert_eq!(duration(120), "2 h");
        assert_eq!(duration(150), "2 h 30 min");
        assert_eq!(rate(None), "–");
        assert_eq!(rate(Some(12.0)), "12.0%");
    }
}
