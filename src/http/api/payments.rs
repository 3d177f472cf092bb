//! Payments: Stripe's webhook, payments taken at the desk, and the admin's list,
//! daily totals and CSV export (docs/PAYMENTS.md).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use carebook_domain::{PaymentMethod, PaymentStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::appointments::AppointmentResponse;
// The same window of days as the statistics, read by the same rule.
use super::stats::StatsQuery;
use super::{PageQuery, Paged};
use crate::app::{App, DayMoney, DeskPaymentInput, MoneyTotals, PaymentQuery, PaymentSummary};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser};
use crate::http::problem::{ApiError, Problem};
use crate::store::{AppointmentId, PaymentBrief, PaymentView};

/// An appointment's payment as the appointment shows it.
#[derive(Serialize, ToSchema)]
pub struct PaymentBody {
    pub id: String,
    /// `pending`, `paid`, `refund_pending`, `refunded`, `expired` or `cancelled`.
    #[schema(value_type = String, example = "pending")]
    pub status: PaymentStatus,
    /// `stripe`, `cash` or `card_terminal`.
    #[schema(value_type = String, example = "stripe")]
    pub method: PaymentMethod,
    /// Integer minor units (cents).
    pub amount_minor: i64,
    #[schema(example = "EUR")]
    pub currency: String,
    /// Where the patient pays, while the payment is pending: shown to the patient
    /// only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout_url: Option<String>,
    /// Until when the slot is held for the payment, while it is pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub hold_until: Option<Timestamp>,
}

impl From<PaymentBrief> for PaymentBody {
    fn from(p: PaymentBrief) -> Self {
        let pending = p.status == PaymentStatus::Pending;
        PaymentBody {
            id: p.id.to_string(),
            status: p.status,
            method: p.method,
            amount_minor: p.amount_minor,
            currency: p.currency,
            checkout_url: p.checkout_url.filter(|_| pending),
            hold_until: p.hold_until.filter(|_| pending),
        }
    }
}

/// Acknowledges a webhook call; Stripe shows it in its dashboard.
#[derive(Serialize, ToSchema)]
pub struct WebhookAnswer {
    pub received: bool,
    /// `paid`, `refunding`, `released`, `duplicate` or `ignored`.
    pub outcome: String,
}

/// Stripe's webhook: `checkout.session.completed` (and `async_payment_succeeded`)
/// records the payment and books the visit; `checkout.session.expired` (and
/// `async_payment_failed`) frees the held slot. The `Stripe-Signature` header must
/// be Stripe's HMAC of this exact body, made in the last five minutes; each event
/// is acted on once.
#[utoipa::path(post, path = "/payments/stripe/webhook", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "A Stripe event"),
    responses((status = 200, body = WebhookAnswer),
        (status = 400, description = "missing, malformed, stale or wrong signature", body = Problem),
        (status = 404, description = "online payment is not configured", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_stripe_event(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<WebhookAnswer>, ApiError> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|value| value.to_str().ok());
    let outcome = app.stripe_webhook(signature, &body).await?;
    Ok(Json(WebhookAnswer {
        received: true,
        outcome: outcome.as_str().to_owned(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeskPaymentRequest {
    /// `cash` or `card_terminal`.
    #[schema(example = "cash")]
    pub method: String,
    /// Default: the doctor's fee. With `currency`.
    pub amount_minor: Option<i64>,
    /// ISO 4217, e.g. `EUR`. With `amount_minor`.
    pub currency: Option<String>,
}

/// Record a payment taken at the desk (receptionists, admins). A visit waiting for
/// its online payment is booked by it, and its checkout called off.
#[utoipa::path(post, path = "/appointments/{id}/payments", tag = "payments", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = DeskPaymentRequest,
    responses((status = 201, body = AppointmentResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "paid already, or cancelled or rejected", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_desk_payment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<DeskPaymentRequest>,
) -> Result<(StatusCode, Json<AppointmentResponse>), ApiError> {
    let input = DeskPaymentInput {
        method: body.method,
        amount_minor: body.amount_minor,
        currency: body.currency,
    };
    let paid = app
        .record_desk_payment(&me.actor, AppointmentId::new(id), input)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AppointmentResponse::for_viewer(&app, &me.actor, paid)),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentListQuery {
    /// One status or several, comma-separated.
    pub status: Option<String>,
    /// One method or several, comma-separated.
    pub method: Option<String>,
    /// RFC 3339: created at or after.
    pub from: Option<String>,
    /// RFC 3339: created before.
    pub to: Option<String>,
    pub doctor_id: Option<String>,
    pub patient_id: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PaymentListQuery {
    fn query(&self) -> PaymentQuery {
        PaymentQuery {
            status: self.status.clone(),
            method: self.method.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            doctor_id: self.doctor_id.clone(),
            patient_id: self.patient_id.clone(),
        }
    }
}

/// A payment in the admin's list.
#[derive(Serialize, ToSchema)]
pub struct PaymentResponse {
    pub id: String,
    pub appointment_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub appointment_start: Timestamp,
    pub patient_id: String,
    pub patient_name: String,
    pub doctor_id: String,
    pub doctor_name: String,
    pub amount_minor: i64,
    pub currency: String,
    #[schema(value_type = String, example = "stripe")]
    pub method: PaymentMethod,
    #[schema(value_type = String, example = "paid")]
    pub status: PaymentStatus,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paid_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub refunded_at: Option<Timestamp>,
    pub refund_reason: Option<String>,
    /// Stripe's refund, once made.
    pub refund_id: Option<String>,
    /// Stripe's last refusal of a refund still owed (for the admin to act on).
    pub last_error: Option<String>,
    pub checkout_session_id: Option<String>,
    pub payment_intent: Option<String>,
    /// Who took a desk payment.
    pub recorded_by: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<PaymentView> for PaymentResponse {
    fn from(view: PaymentView) -> Self {
        let p = view.record;
        PaymentResponse {
            id: p.id.to_string(),
            appointment_id: p.appointment_id.to_string(),
            appointment_start: view.appointment_start,
            patient_id: p.patient_id.to_string(),
            patient_name: view.patient_name,
            doctor_id: p.doctor_id.to_string(),
            doctor_name: view.doctor_name,
            amount_minor: p.amount_minor,
            currency: p.currency,
            method: p.method,
            status: p.status,
            paid_at: p.paid_at,
            refunded_at: p.refunded_at,
            refund_reason: p.refund_reason,
            refund_id: p.refund_id,
            last_error: p.last_error,
            checkout_session_id: p.checkout_session_id,
            payment_intent: p.payment_intent,
            recorded_by: p.recorded_by.map(|u| u.to_string()),
            created_at: p.created_at,
        }
    }
}

/// The clinic's payments, newest first (admins).
#[utoipa::path(get, path = "/payments", tag = "payments", security(("bearer" = [])),
    params(PaymentListQuery),
    responses((status = 200, body = Paged<PaymentResponse>), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn list_payments(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<PaymentListQuery>,
) -> Result<Json<Paged<PaymentResponse>>, ApiError> {
    let page = PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    let page = app.list_payments(&me.actor, q.query(), page.into()).await?;
    Ok(Json(Paged::from_page(page, PaymentResponse::from)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentExportQuery {
    pub status: Option<String>,
    pub method: Option<String>,
    /// RFC 3339: created at or after.
    pub from: Option<String>,
    /// RFC 3339: created before.
    pub to: Option<String>,
    pub doctor_id: Option<String>,
    pub patient_id: Option<String>,
}

/// The list's payments as CSV (admins), every page, newest first.
#[utoipa::path(get, path = "/payments/export.csv", tag = "payments", security(("bearer" = [])),
    params(PaymentExportQuery),
    responses((status = 200, description = "CSV, one payment per line after a header", content_type = "text/csv", body = String),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn find_payments_csv(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<PaymentExportQuery>,
) -> Result<Response, ApiError> {
    let query = PaymentQuery {
        status: q.status,
        method: q.method,
        from: q.from,
        to: q.to,
        doctor_id: q.doctor_id,
        patient_id: q.patient_id,
    };
    let csv = app.export_payments_csv(&me.actor, query).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"payments.csv\"",
            ),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        csv,
    )
        .into_response())
}

/// Money that moved, in one currency.
#[derive(Serialize, ToSchema)]
pub struct MoneyBody {
    pub currency: String,
    pub paid_count: u64,
    pub paid_minor: i64,
    pub refunded_count: u64,
    pub refunded_minor: i64,
    /// paid − refunded.
    pub net_minor: i64,
}

impl From<MoneyTotals> for MoneyBody {
    fn from(t: MoneyTotals) -> Self {
        MoneyBody {
            net_minor: t.net_minor(),
            currency: t.currency,
            paid_count: t.paid_count,
            paid_minor: t.paid_minor,
            refunded_count: t.refunded_count,
            refunded_minor: t.refunded_minor,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DayMoneyBody {
    /// `YYYY-MM-DD` in the clinic's zone.
    #[schema(value_type = String, format = Date)]
    pub date: String,
    #[serde(flatten)]
    pub totals: MoneyBody,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentSummaryResponse {
    #[schema(value_type = String, format = Date)]
    pub from: String,
    #[schema(value_type = String, format = Date)]
    pub to: String,
    pub time_zone: String,
    /// Days on which money moved, oldest first, one row per currency.
    pub days: Vec<DayMoneyBody>,
    /// The whole window, per currency.
    pub totals: Vec<MoneyBody>,
}

impl From<PaymentSummary> for PaymentSummaryResponse {
    fn from(s: PaymentSummary) -> Self {
        PaymentSummaryResponse {
            from: s.from.to_string(),
            to: s.to.to_string(),
            time_zone: s.time_zone,
            days: s
                .days
                .into_iter()
                .map(|DayMoney { date, totals }| DayMoneyBody {
                    date: date.to_string(),
                    totals: totals.into(),
                })
                .collect(),
            totals: s.totals.into_iter().map(Into::into).collect(),
        }
    }
}

/// Daily totals of money paid and refunded, per currency (admins). A payment counts
/// on the day it was paid; its refund on the day it was refunded.
#[utoipa::path(get, path = "/payments/summary", tag = "payments", security(("bearer" = [])),
    params(StatsQuery),
    responses((status = 200, body = PaymentSummaryResponse), (status = 403, body = Problem),
        (status = 422, body = Problem)))]
pub async fn find_payment_summary(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(q): ApiQuery<StatsQuery>,
) -> Result<Json<PaymentSummaryResponse>, ApiError> {
    let summary = app
        .payment_summary(&me.actor, q.from.as_deref(), q.to.as_deref())
        .await?;
    Ok(Json(summary.into()))
}
