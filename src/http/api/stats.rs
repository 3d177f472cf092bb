//! Clinic statistics (admins): appointments per day by status, doctors' utilisation,
//! totals and rates. What each number means is in `app::statistics` and docs/API.md.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::{App, ClinicStatistics, StatusCounts};
use crate::http::extract::{ApiQuery, CurrentUser};
use crate::http::problem::{ApiError, Problem};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First day (`YYYY-MM-DD`, the clinic's zone), inclusive. Default: 29 days
    /// before `to`.
    pub from: Option<String>,
    /// Last day, inclusive. Default: today. At most 366 days after `from`, counting both.
    pub to: Option<String>,
}

/// Appointments in each status.
#[derive(Serialize, ToSchema)]
pub struct StatusCountsBody {
    /// Booked with a doctor who takes the fee online, not paid yet.
    pub awaiting_payment: u64,
    pub requested: u64,
    pub confirmed: u64,
    pub checked_in: u64,
    pub completed: u64,
    pub rejected: u64,
    pub cancelled: u64,
    pub no_show: u64,
    /// Every status together.
    pub total: u64,
}

impl From<StatusCounts> for StatusCountsBody {
    fn from(c: StatusCounts) -> Self {
        StatusCountsBody {
            awaiting_payment: c.awaiting_payment,
            requested: c.requested,
            confirmed: c.confirmed,
            checked_in: c.checked_in,
            completed: c.completed,
            rejected: c.rejected,
            cancelled: c.cancelled,
            no_show: c.no_show,
            total: c.total(),
        }
    }
}

/// One day of the window: appointments starting that day, by status.
#[derive(Serialize, ToSchema)]
pub struct DayBody {
    /// `YYYY-MM-DD` in the clinic's zone.
    pub date: String,
    #[serde(flatten)]
    pub counts: StatusCountsBody,
}

#[derive(Serialize, ToSchema)]
pub struct DoctorUtilisationBody {
    pub doctor_id: String,
    pub name: String,
    /// Minutes of the doctor's appointments in the window that held their slot
    /// (every status but cancelled and rejected).
    pub booked_minutes: i64,
    /// Minutes of the doctor's weekly-hours slots in the window left unbooked
    /// (time off excluded).
    pub free_minutes: i64,
    /// booked / (booked + free), in percent with one decimal; null when both are 0.
    pub utilisation_percent: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct TotalsBody {
    /// Appointments starting in the window, in every status.
    pub appointments: u64,
    pub awaiting_payment: u64,
    pub requested: u64,
    pub confirmed: u64,
    pub checked_in: u64,
    pub completed: u64,
    pub rejected: u64,
    pub cancelled: u64,
    pub no_show: u64,
    /// no_show / (completed + no_show), in percent; null when both are 0.
    pub no_show_rate_percent: Option<f64>,
    /// cancelled / appointments, in percent; null without appointments.
    pub cancellation_rate_percent: Option<f64>,
}

#[derive(Serialize, ToSchema)]
pub struct StatsResponse {
    /// First day, inclusive.
    pub from: String,
    /// Last day, inclusive.
    pub to: String,
    /// The clinic's IANA zone, in which days are counted.
    pub time_zone: String,
    /// Every day of the window, in order, including days without appointments.
    pub days: Vec<DayBody>,
    /// Every active doctor and any other with appointments in the window, by name.
    pub doctors: Vec<DoctorUtilisationBody>,
    pub totals: TotalsBody,
}

impl From<ClinicStatistics> for StatsResponse {
    fn from(s: ClinicStatistics) -> Self {
        let c = s.totals.counts;
        StatsResponse {
            from: s.from.to_string(),
            to: s.to.to_string(),
            time_zone: s.time_zone,
            days: s
                .days
                .into_iter()
                .map(|d| DayBody {
                    date: d.date.to_string(),
                    counts: d.counts.into(),
                })
                .collect(),
            doctors: s
                .doctors
                .into_iter()
                .map(|d| DoctorUtilisationBody {
                    doctor_id: d.doctor_id.to_string(),
                    name: d.name,
                    booked_minutes: d.booked_minutes,
                    free_minutes: d.free_minutes,
                    utilisation_percent: d.utilisation_percent,
                })
                .collect(),
            totals: TotalsBody {
                appointments: c.total(),
                awaiting_payment: c.awaiting_payment,
                requested: c.requested,
                confirmed: c.confirmed,
                checked_in: c.checked_in,
                completed: c.completed,
                rejected: c.rejected,
                cancelled: c.cancelled,
                no_show: c.no_show,
                no_show_rate_percent: s.totals.no_show_rate_percent,
                cancellation_rate_percent: s.totals.cancellation_rate_percent,
            },
        }
    }
}

/// Clinic statistics over whole days (admins): appointments per day by status,
/// each doctor's booked and free minutes, totals, no-show and cancellation rates.
#[utoipa::path(get, path = "/stats", tag = "statistics", security(("bearer" = [])), params(StatsQuery),
    responses((status = 200, body = StatsResponse), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn find_stats(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(query): ApiQuery<StatsQuery>,
) -> Result<Json<StatsResponse>, ApiError> {
    let stats = app
        .clinic_statistics(&me.actor, query.from.as_deref(), query.to.as_deref())
        .await?;
    Ok(Json(stats.into()))
}
