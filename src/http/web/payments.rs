//! Payments on the pages: the fee box of an appointment (the patient's "Pay" button
//! while the slot is held), the desk's "Record payment" form, and the admin's list
//! with its totals and CSV (docs/PAYMENTS.md). Every action is the API's `app` call.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use carebook_domain::payment::check_desk_payment;
use carebook_domain::policy::{Action, Actor, Subject, authorize};
use carebook_domain::{PaymentMethod, PaymentStatus, Role};
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::appointments::refusal_flash;
use super::session::{Chrome, CsrfForm, Flash, WebResult, render, see_other};
use super::view::{self, FieldErrors, clinic_zone, optional};
use crate::app::{App, AppError, DeskPaymentInput, PageParams, PaymentQuery};
use crate::notify::money_text;
use crate::store::{AppointmentId, AppointmentStatus, AppointmentView, Fee, PaymentView};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/appointments/{id}/payments", post(create_desk_payment))
        .route("/admin/payments", get(list_payments))
}

pub fn status_label(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Pending => "Waiting for payment",
        PaymentStatus::Paid => "Paid",
        PaymentStatus::RefundPending => "Refund on its way",
        PaymentStatus::Refunded => "Refunded",
        PaymentStatus::Expired => "Not paid in time",
        PaymentStatus::Cancelled => "Called off",
    }
}

pub fn method_label(method: PaymentMethod) -> &'static str {
    match method {
        PaymentMethod::Stripe => "Online (card)",
        PaymentMethod::Cash => "Cash at the desk",
        PaymentMethod::CardTerminal => "Card at the desk",
    }
}

/// The fee box of an appointment's page.
pub struct PaymentSection {
    /// `EUR 50.00`.
    pub amount: String,
    pub status_label: &'static str,
    pub method_label: &'static str,
    /// The slot is held for an online payment.
    pub waiting: bool,
    /// Where to pay: for the patient, while the slot is held.
    pub checkout_url: Option<String>,
    /// Until when the slot is held, in the doctor's zone.
    pub hold_until: Option<String>,
    /// What the patient came back from Stripe with (`?payment=`).
    pub returned: Option<&'static str>,
}

impl PaymentSection {
    pub fn new(
        actor: &Actor,
        view: &AppointmentView,
        zone: &TimeZone,
        returned: Option<&str>,
    ) -> Option<PaymentSection> {
        let payment = view.payment.as_ref()?;
        let waiting = payment.status == PaymentStatus::Pending
            && view.record.status == AppointmentStatus::AwaitingPayment;
        let is_patient = actor.user_id == view.record.patient_id;
        Some(PaymentSection {
            amount: money_text(payment.amount_minor, &payment.currency),
            status_label: status_label(payment.status),
            method_label: method_label(payment.method),
            waiting,
            checkout_url: payment
                .checkout_url
                .clone()
                .filter(|_| waiting && is_patient),
            hold_until: payment
                .hold_until
                .filter(|_| waiting)
                .map(|at| view::date_time(at, zone)),
            returned: match (returned, payment.status) {
                (_, PaymentStatus::Paid) if is_patient && returned.is_some() => {
                    Some("Thank you: your payment has arrived.")
                }
                (Some("done"), PaymentStatus::Pending) if is_patient => Some(
                    "Thank you. We are waiting for the payment provider to confirm your payment; this page shows it as soon as it does.",
                ),
                (Some("cancelled"), PaymentStatus::Pending) if is_patient => Some(
                    "The payment was not completed. You can still pay until the time shown; after that the slot is freed.",
                ),
                _ => None,
            },
        })
    }
}

/// The desk's "Record payment" form, offered where the policy and the domain's
/// desk rule would accept it. The doctor's fee is the default amount.
pub fn desk_payment(actor: &Actor, view: &AppointmentView, fee: Option<&Fee>) -> Option<String> {
    let subject = Subject::Appointment {
        patient: &view.record.patient_id,
        doctor: &view.record.doctor_id,
    };
    let allowed = authorize(actor, Action::RecordPayment, subject).is_ok()
        && check_desk_payment(view.record.status, view.payment.as_ref().map(|p| p.status)).is_ok();
    allowed.then(|| fee.map(view::money).unwrap_or_default())
}

#[derive(Deserialize, Default)]
struct DeskPaymentForm {
    #[serde(default)]
    method: String,
}

/// `POST /appointments/{id}/payments`: the desk records a payment.
async fn create_desk_payment(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<DeskPaymentForm>,
) -> WebResult {
    let user = chrome.require()?;
    let input = DeskPaymentInput {
        method: form.method,
        ..DeskPaymentInput::default()
    };
    let here = format!("/appointments/{id}");
    let flash = match app
        .record_desk_payment(&user.actor, AppointmentId::new(id), input)
        .await
    {
        Ok(paid) => Flash::success(match &paid.payment {
            Some(p) => format!(
                "Payment of {} recorded; the patient gets a receipt.",
                money_text(p.amount_minor, &p.currency)
            ),
            None => "Payment recorded.".to_owned(),
        }),
        Err(AppError::Invalid(errors)) => Flash::error(FieldErrors::from(errors).summary()),
        Err(error) => refusal_flash(error)?,
    };
    Ok(see_other(&app, &here, Some(flash)))
}

#[derive(Deserialize, Default)]
struct PaymentsQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    method: String,
    cursor: Option<String>,
}

struct PaymentRow {
    created: String,
    appointment_href: String,
    visit: String,
    patient: String,
    doctor: String,
    amount: String,
    method: &'static str,
    status: &'static str,
    refund_reason: Option<String>,
    last_error: Option<String>,
}

impl PaymentRow {
    fn new(view: &PaymentView, zone: &TimeZone) -> PaymentRow {
        let p = &view.record;
        PaymentRow {
            created: view::date_time(p.created_at, zone),
            appointment_href: format!("/appointments/{}", p.appointment_id),
            visit: view::date_time(view.appointment_start, zone),
            patient: view.patient_name.clone(),
            doctor: view.doctor_name.clone(),
            amount: money_text(p.amount_minor, &p.currency),
            method: method_label(p.method),
            status: status_label(p.status),
            refund_reason: p.refund_reason.clone(),
            last_error: p.last_error.clone(),
        }
    }
}

struct TotalRow {
    currency: String,
    paid: String,
    paid_count: u64,
    refunded: String,
    refunded_count: u64,
    net: String,
}

struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(askama::Template)]
#[template(path = "web/admin/payments.html")]
struct PaymentsPage {
    chrome: Chrome,
    zone: String,
    rows: Vec<PaymentRow>,
    next: Option<String>,
    statuses: Vec<Choice>,
    methods: Vec<Choice>,
    filtered: bool,
    /// The last 30 days' totals per currency.
    totals: Vec<TotalRow>,
    csv: String,
    errors: FieldErrors,
}

/// `GET /admin/payments`: the payments, newest first, the last 30 days' totals and
/// the CSV of what the filters select.
async fn list_payments(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<PaymentsQuery>,
) -> WebResult {
    let me = chrome.require_role(&[Role::Admin])?;
    let actor = me.actor.clone();
    let zone = clinic_zone(&app);
    let filters = PaymentQuery {
        status: optional(&query.status),
        method: optional(&query.method),
        ..PaymentQuery::default()
    };
    let mut errors = FieldErrors::new();
    let (rows, next_cursor) = match app
        .list_payments(
            &actor,
            filters.clone(),
            PageParams {
                limit: Some(50),
                cursor: query.cursor.clone(),
            },
        )
        .await
    {
        Ok(page) => (page.items, page.next_cursor),
        Err(AppError::Invalid(invalid)) => {
            errors = invalid.into();
            (Vec::new(), None)
        }
        Err(other) => return Err(other.into()),
    };
    let summary = app.payment_summary(&actor, None, None).await?;
    let mut carried = Vec::new();
    for (name, value) in [("status", &query.status), ("method", &query.method)] {
        if !value.trim().is_empty() {
            carried.push(format!(
                "{name}={}",
                super::session::form_urlencoded_component(value.trim())
            ));
        }
    }
    let with = |extra: Option<String>| {
        let mut parts = carried.clone();
        parts.extend(extra);
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    };
    let page = PaymentsPage {
        zone: summary.time_zone.clone(),
        rows: rows.iter().map(|p| PaymentRow::new(p, &zone)).collect(),
        next: next_cursor.map(|cursor| {
            format!(
                "/admin/payments{}",
                with(Some(format!(
                    "cursor={}",
                    super::session::form_urlencoded_component(&cursor)
                )))
            )
        }),
        statuses: PaymentStatus::ALL
            .into_iter()
            .map(|s| Choice {
                value: s.as_str(),
                label: status_label(s),
                selected: query.status.trim() == s.as_str(),
            })
            .collect(),
        methods: PaymentMethod::ALL
            .into_iter()
            .map(|m| Choice {
                value: m.as_str(),
                label: method_label(m),
                selected: query.method.trim() == m.as_str(),
            })
            .collect(),
        filtered: !carried.is_empty(),
        totals: summary
            .totals
            .iter()
            .map(|t| TotalRow {
                currency: t.currency.clone(),
                paid: money_text(t.paid_minor, &t.currency),
                paid_count: t.paid_count,
                refunded: money_text(t.refunded_minor, &t.currency),
                refunded_count: t.refunded_count,
                net: money_text(t.net_minor(), &t.currency),
            })
            .collect(),
        csv: format!("/api/v1/payments/export.csv{}", with(None)),
        errors,
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}
