//! The in-app list, notification preferences, manual reminders, and the delivery
//! log for admins.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PageQuery, nullable};
use crate::app::{App, DeliveryQuery, Preferences, PreferencesPatch};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser};
use crate::http::problem::{ApiError, Problem};
use crate::store::{AppointmentId, DeliveryRecord, NotificationRecord};

#[derive(Serialize, ToSchema)]
pub struct NotificationResponse {
    pub id: String,
    /// e.g. `appointment_confirmed`, `reminder`, `welcome`.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// Where the notification leads, e.g. the appointment's page.
    pub link: String,
    pub appointment_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<Timestamp>,
}

impl From<NotificationRecord> for NotificationResponse {
    fn from(n: NotificationRecord) -> Self {
        NotificationResponse {
            id: n.id,
            kind: n.kind,
            title: n.title,
            body: n.body,
            link: n.link,
            appointment_id: n.appointment_id.map(|a| a.to_string()),
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

/// A page of the caller's notifications, newest first.
#[derive(Serialize, ToSchema)]
pub struct NotificationList {
    pub items: Vec<NotificationResponse>,
    pub next_cursor: Option<String>,
    /// All unread notifications of the caller, not only this page's.
    pub unread_count: i64,
}

/// The caller's notifications, newest first, with the count of unread ones.
#[utoipa::path(get, path = "/notifications", tag = "notifications", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = NotificationList), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
pub async fn list_notifications(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<NotificationList>, ApiError> {
    let list = app.list_notifications(&me.actor, page.into()).await?;
    Ok(Json(NotificationList {
        items: list.page.items.into_iter().map(Into::into).collect(),
        next_cursor: list.page.next_cursor,
        unread_count: list.unread_count,
    }))
}

/// Mark one of the caller's notifications read (again is fine).
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn read_notification(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.mark_notification_read(&me.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct ReadAllResponse {
    /// How many were unread.
    pub marked: u64,
}

/// Mark all of the caller's notifications read.
#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = ReadAllResponse), (status = 401, body = Problem)))]
pub async fn read_all_notifications(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
) -> Result<Json<ReadAllResponse>, ApiError> {
    let marked = app.mark_all_notifications_read(&me.actor).await?;
    Ok(Json(ReadAllResponse { marked }))
}

#[derive(Serialize, ToSchema)]
pub struct PreferencesResponse {
    pub email_enabled: bool,
    pub sms_enabled: bool,
    /// E.164; texts need one.
    pub phone: Option<String>,
    /// Whether this clinic sends texts at all.
    pub sms_available: bool,
}

impl From<Preferences> for PreferencesResponse {
    fn from(p: Preferences) -> Self {
        PreferencesResponse {
            email_enabled: p.email_enabled,
            sms_enabled: p.sms_enabled,
            phone: p.phone,
            sms_available: p.sms_available,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesUpdate {
    pub email_enabled: Option<bool>,
    pub sms_enabled: Option<bool>,
    /// E.164 (`+` and 8 to 15 digits; spaces and dashes are dropped); `null` removes it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
}

/// Which channels the caller accepts (in-app is always on).
#[utoipa::path(get, path = "/me/notification-preferences", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = PreferencesResponse), (status = 401, body = Problem)))]
pub async fn find_my_notification_preferences(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
) -> Result<Json<PreferencesResponse>, ApiError> {
    Ok(Json(app.notification_preferences(&me.actor).await?.into()))
}

/// Change which channels the caller accepts, and their phone number for texts.
#[utoipa::path(patch, path = "/me/notification-preferences", tag = "notifications", security(("bearer" = [])),
    request_body = PreferencesUpdate,
    responses((status = 200, body = PreferencesResponse), (status = 401, body = Problem),
        (status = 422, body = Problem)))]
pub async fn update_my_notification_preferences(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<PreferencesUpdate>,
) -> Result<Json<PreferencesResponse>, ApiError> {
    let patch = PreferencesPatch {
        email_enabled: body.email_enabled,
        sms_enabled: body.sms_enabled,
        phone: body.phone,
    };
    Ok(Json(
        app.update_notification_preferences(&me.actor, patch)
            .await?
            .into(),
    ))
}

/// Send the patient a reminder now (the appointment's doctor, a receptionist, an
/// admin); at most one per ten minutes.
#[utoipa::path(post, path = "/appointments/{id}/remind", tag = "appointments", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 202, description = "the reminder is on its way"), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "the appointment is not live and ahead, or was reminded of in the last ten minutes", body = Problem)))]
pub async fn remind_appointment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.remind(&me.actor, AppointmentId::new(id)).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryResponse {
    pub id: String,
    /// `email`, `sms`, `webhook`, `sns` or `in_app`.
    pub channel: String,
    pub kind: String,
    /// `scheduled`, `sending`, `sent`, `retrying`, `failed`, `dead`, `cancelled` or `skipped`.
    pub status: String,
    pub user_id: Option<String>,
    pub appointment_id: Option<String>,
    /// The webhook URL.
    pub target: Option<String>,
    pub attempts: i64,
    /// When it is (or was) due: the next attempt's time while retrying.
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    /// The last failure, or why it was skipped or cancelled.
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<Timestamp>,
}

impl From<DeliveryRecord> for DeliveryResponse {
    fn from(d: DeliveryRecord) -> Self {
        DeliveryResponse {
            id: d.id,
            channel: d.channel,
            kind: d.kind,
            status: d.status.as_str().to_owned(),
            user_id: d.user_id.map(|u| u.to_string()),
            appointment_id: d.appointment_id.map(|a| a.to_string()),
            target: d.target,
            attempts: d.attempts,
            due_at: d.due_at,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
            sent_at: d.sent_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListQuery {
    /// One status or several, comma-separated.
    pub status: Option<String>,
    pub channel: Option<String>,
    pub appointment_id: Option<String>,
    pub user_id: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The delivery log of every channel, newest first (admins).
#[utoipa::path(get, path = "/notifications/deliveries", tag = "notifications", security(("bearer" = [])),
    params(DeliveryListQuery),
    responses((status = 200, body = super::Paged<DeliveryResponse>), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn list_deliveries(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<DeliveryListQuery>,
) -> Result<Json<super::Paged<DeliveryResponse>>, ApiError> {
    let query = DeliveryQuery {
        status: q.status,
        channel: q.channel,
        appointment_id: q.appointment_id,
        user_id: q.user_id,
    };
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor,
    };
    let page = app.list_deliveries(&me.actor, query, page.into()).await?;
    Ok(Json(super::Paged::from_page(page, DeliveryResponse::from)))
}

/// Send a failed or dead delivery again, now, with a fresh count of attempts (admins).
#[utoipa::path(post, path = "/notifications/deliveries/{id}/retry", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = DeliveryResponse), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn retry_delivery(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeliveryResponse>, ApiError> {
    Ok(Json(app.retry_delivery(&me.actor, id).await?.into()))
}
