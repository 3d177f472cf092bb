//! Booking and the appointment lifecycle.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use carebook_domain::policy::Actor;
use carebook_domain::{AppointmentStatus, Transition, VisitMode};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PageQuery, Paged};
use crate::app::{App, AppointmentDetail, AppointmentQuery, BookInput};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser, OptionalJson};
use crate::http::problem::{ApiError, Problem};
use crate::store::{AppointmentEvent, AppointmentId, AppointmentView};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookRequest {
    pub doctor_id: String,
    /// RFC 3339: the start of one of the doctor's free slots.
    pub start: String,
    /// Required when a receptionist or admin books for a patient.
    pub patient_id: Option<String>,
    /// The reason for the visit, at most 1,000 characters.
    pub reason: Option<String>,
    /// `in_person` (default) or `video`: one of the doctor's `visit_modes`.
    #[schema(example = "video")]
    pub mode: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AppointmentResponse {
    pub id: String,
    #[schema(value_type = String, example = "confirmed")]
    pub status: AppointmentStatus,
    pub doctor_id: String,
    pub doctor_name: String,
    pub patient_id: String,
    pub patient_name: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub reason: Option<String>,
    /// Why it was rejected or cancelled.
    pub status_reason: Option<String>,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// `in_person` or `video`.
    #[schema(value_type = String, example = "video")]
    pub mode: VisitMode,
    /// The meeting link of a video visit. Present only to the appointment's patient
    /// and doctor, only while it is confirmed or checked in, and only from
    /// `video_link_opens_at` until the end.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "https://meet.jit.si/carebook-0123456789abcdef0123456789abcdef01234567")]
    pub video_url: Option<String>,
    /// When `video_url` appears (15 minutes before the start). Present to the
    /// appointment's patient and doctor for a confirmed or checked-in video visit,
    /// before, during and after the window; absent for everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub video_link_opens_at: Option<Timestamp>,
    /// The visit's latest payment, once its fee was asked for online or taken at
    /// the desk; null otherwise. A booking `awaiting_payment` has one `pending`,
    /// whose `checkout_url` (for the patient) is where to pay before `hold_until`.
    pub payment: Option<super::payments::PaymentBody>,
    /// Present on single-appointment reads: every move, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryEntry>>,
}

#[derive(Serialize, ToSchema)]
pub struct HistoryEntry {
    pub seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor_id: Option<String>,
    /// `book` or a move: `confirm`, `reject`, `cancel`, `reschedule`, `check_in`, `complete`, `no_show`.
    pub action: String,
    #[schema(value_type = Option<String>)]
    pub from_status: Option<AppointmentStatus>,
    #[schema(value_type = String)]
    pub to_status: AppointmentStatus,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from_start: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub to_start: Option<Timestamp>,
    pub reason: Option<String>,
}

impl From<AppointmentEvent> for HistoryEntry {
    fn from(e: AppointmentEvent) -> Self {
        HistoryEntry {
            seq: e.seq,
            at: e.at,
            actor_id: e.actor_id.map(|a| a.to_string()),
            action: e.action,
            from_status: e.from_status,
            to_status: e.to_status,
            from_start: e.from_start,
            to_start: e.to_start,
            reason: e.reason,
        }
    }
}

impl From<AppointmentView> for AppointmentResponse {
    fn from(view: AppointmentView) -> Self {
        let a = view.record;
        AppointmentResponse {
            id: a.id.to_string(),
            status: a.status,
            doctor_id: a.doctor_id.to_string(),
            doctor_name: view.doctor_name,
            patient_id: a.patient_id.to_string(),
            patient_name: view.patient_name,
            start: a.slot.start,
            end: a.slot.end,
            reason: a.reason,
            status_reason: a.status_reason,
            created_by: a.created_by.to_string(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            mode: a.mode,
            video_url: None,
            video_link_opens_at: None,
            payment: view.payment.map(Into::into),
            history: None,
        }
    }
}

impl AppointmentResponse {
    /// The response as `actor` may see it now: with the meeting link when the
    /// video rule (`carebook_domain::video`) lets them.
    pub fn for_viewer(app: &App, actor: &Actor, view: AppointmentView) -> AppointmentResponse {
        let link = app.video_link(actor, &view.record);
        let is_patient = actor.user_id == view.record.patient_id;
        let mut response: AppointmentResponse = view.into();
        // The checkout is the patient's to open; others see that a payment waits.
        if let Some(payment) = response.payment.as_mut().filter(|_| !is_patient) {
            payment.checkout_url = None;
        }
        AppointmentResponse {
            video_link_opens_at: link.opens_at(),
            video_url: link.url,
            ..response
        }
    }
}

impl From<AppointmentDetail> for AppointmentResponse {
    fn from(detail: AppointmentDetail) -> Self {
        AppointmentResponse {
            history: Some(detail.history.into_iter().map(Into::into).collect()),
            ..detail.appointment.into()
        }
    }
}

impl AppointmentResponse {
    fn detail_for_viewer(app: &App, actor: &Actor, detail: AppointmentDetail) -> Self {
        AppointmentResponse {
            history: Some(detail.history.into_iter().map(Into::into).collect()),
            ..AppointmentResponse::for_viewer(app, actor, detail.appointment)
        }
    }
}

/// Book a free slot: a patient for themself, or staff for a patient.
#[utoipa::path(post, path = "/appointments", tag = "appointments", security(("bearer" = [])), request_body = BookRequest,
    responses((status = 201, body = AppointmentResponse), (status = 403, body = Problem),
        (status = 409, description = "slot taken, or the patient is busy then", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_appointment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<BookRequest>,
) -> Result<(StatusCode, Json<AppointmentResponse>), ApiError> {
    let input = BookInput {
        doctor_id: body.doctor_id,
        start: body.start,
        patient_id: body.patient_id,
        reason: body.reason,
        mode: body.mode,
    };
    let booked = app.book(&me, input).await?;
    Ok((
        StatusCode::CREATED,
        Json(AppointmentResponse::for_viewer(&app, &me.actor, booked)),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AppointmentListQuery {
    /// One status or several, comma-separated.
    pub status: Option<String>,
    /// RFC 3339: appointments starting at or after.
    pub from: Option<String>,
    /// RFC 3339: appointments starting before.
    pub to: Option<String>,
    pub doctor_id: Option<String>,
    pub patient_id: Option<String>,
    /// Matches the doctor's or the patient's name.
    pub q: Option<String>,
    /// `start` (default) or `-start`.
    pub sort: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The appointments the caller may see: their own, their schedule's, or (staff) all.
#[utoipa::path(get, path = "/appointments", tag = "appointments", security(("bearer" = [])),
    params(AppointmentListQuery),
    responses((status = 200, body = Paged<AppointmentResponse>), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
pub async fn list_appointments(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<AppointmentListQuery>,
) -> Result<Json<Paged<AppointmentResponse>>, ApiError> {
    let query = AppointmentQuery {
        status: q.status,
        from: q.from,
        to: q.to,
        doctor_id: q.doctor_id,
        patient_id: q.patient_id,
        q: q.q,
        sort: q.sort,
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let page = app.list_appointments(&me.actor, query, page.into()).await?;
    Ok(Json(Paged::from_page(page, |view| {
        AppointmentResponse::for_viewer(&app, &me.actor, view)
    })))
}

/// One appointment with its full history.
#[utoipa::path(get, path = "/appointments/{id}", tag = "appointments", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = AppointmentResponse), (status = 404, body = Problem)))]
pub async fn find_appointment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AppointmentResponse>, ApiError> {
    let detail = app
        .find_appointment(&me.actor, AppointmentId::new(id))
        .await?;
    Ok(Json(AppointmentResponse::detail_for_viewer(
        &app, &me.actor, detail,
    )))
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: Option<String>,
}

async fn apply(
    app: App,
    me: CurrentUser,
    id: String,
    transition: Transition,
    body: Option<ReasonRequest>,
) -> Result<Json<AppointmentResponse>, ApiError> {
    let reason = body.unwrap_or_default().reason;
    let moved = app
        .move_appointment(&me.0.actor, AppointmentId::new(id), transition, reason)
        .await?;
    Ok(Json(AppointmentResponse::for_viewer(
        &app,
        &me.0.actor,
        moved,
    )))
}

macro_rules! lifecycle_move {
    ($name:ident, $path:literal, $transition:expr, $summary:literal) => {
        #[doc = $summary]
        #[utoipa::path(post, path = $path, tag = "appointments", security(("bearer" = [])),
            params(("id" = String, Path)), request_body(content = Option<ReasonRequest>),
            responses((status = 200, body = AppointmentResponse), (status = 403, body = Problem),
                (status = 404, body = Problem), (status = 409, body = Problem)))]
        pub async fn $name(
            State(app): State<App>,
            me: CurrentUser,
            ApiPath(id): ApiPath<String>,
            OptionalJson(body): OptionalJson<ReasonRequest>,
        ) -> Result<Json<AppointmentResponse>, ApiError> {
            apply(app, me, id, $transition, body).await
        }
    };
}

lifecycle_move!(
    confirm_appointment,
    "/appointments/{id}/confirm",
    Transition::Confirm,
    "Confirm a requested appointment (its doctor, a receptionist, an admin)."
);
lifecycle_move!(
    reject_appointment,
    "/appointments/{id}/reject",
    Transition::Reject,
    "Reject a requested appointment, with an optional reason."
);
lifecycle_move!(
    cancel_appointment,
    "/appointments/{id}/cancel",
    Transition::Cancel,
    "Cancel an appointment (patients only outside the cancellation window)."
);
lifecycle_move!(
    check_in_appointment,
    "/appointments/{id}/check-in",
    Transition::CheckIn,
    "Check the patient in (from 60 minutes before the start until the end of that day)."
);
lifecycle_move!(
    complete_appointment,
    "/appointments/{id}/complete",
    Transition::Complete,
    "Complete a checked-in appointment (its doctor or an admin)."
);
lifecycle_move!(
    no_show_appointment,
    "/appointments/{id}/no-show",
    Transition::NoShow,
    "Record that the patient did not come (after the start time)."
);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    /// RFC 3339: the start of another free slot of the same doctor.
    pub start: String,
    pub reason: Option<String>,
}

/// Move a requested or confirmed appointment to another free slot, keeping its id
/// and history.
#[utoipa::path(post, path = "/appointments/{id}/reschedule", tag = "appointments", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RescheduleRequest,
    responses((status = 200, body = AppointmentResponse), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn reschedule_appointment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RescheduleRequest>,
) -> Result<Json<AppointmentResponse>, ApiError> {
    let moved = app
        .reschedule(&me.actor, AppointmentId::new(id), &body.start, body.reason)
        .await?;
    Ok(Json(AppointmentResponse::for_viewer(
        &app, &me.actor, moved,
    )))
}
