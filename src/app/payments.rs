//! Fees (docs/PAYMENTS.md): a slot held for an online payment, Stripe Checkout,
//! Stripe's webhook, refunds, payments taken at the desk, and the admin's list,
//! daily totals and export.
//!
//! Every change to a payment runs while its transaction holds the doctor's
//! availability lock (`Tx::begin_availability_change`) and reads the payment
//! after taking it: on PostgreSQL two instances acting on one payment (the
//! webhook on one, the hold sweeper on another) take turns, and the second sees
//! what the first did. Calls to Stripe happen outside transactions, each with an
//! idempotency key named after the payment, so a repeated call (a retry, a second
//! instance) makes nothing twice.

use carebook_domain::appointment::initial_status;
use carebook_domain::payment::{
    DeskRefusal, OnCheckoutPaid, check_desk_payment, checkout_expires_at, on_checkout_paid,
    refund_on_end,
};
use carebook_domain::policy::{Action, Actor, AppointmentScope, Subject, authorize};
use carebook_domain::{
    AppointmentStatus, PaymentMethod, PaymentStatus, Role, Transition, ValidationErrors,
};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::appointments::{visible_appointment, zone_name};
use super::chat::append_appointment_event;
use super::doctors::{busy_intervals, parse_instant};
use super::notices::{AppointmentChange, KnownPeople};
use super::statistics::{statistics_dates, window_of};
use super::video::ensure_room;
use super::{
    App, AppError, ConflictKind, Event, LiveId, Page, PageParams, audit, new_id, paginate,
};
use crate::notify::NoticeKind;
use crate::notify::render::local_time;
use crate::store::{
    AppointmentEvent, AppointmentFilter, AppointmentId, AppointmentRecord, AppointmentView, Cursor,
    DoctorRecord, Fee, Interval, PageRequest, PaymentBrief, PaymentFilter, PaymentId,
    PaymentRecord, PaymentView, Tx, UserId,
};
use crate::stripe::{
    CheckoutRequest, RefundRequest, SIGNATURE_TOLERANCE, SignatureError, StripeClient, StripeError,
    WebhookEvent, parse_event, verify_signature,
};

/// Refund attempts after which the worker stops and leaves it to an admin.
const MAX_REFUND_ATTEMPTS: i64 = 8;
/// Payments looked at per pass of the hold sweeper and of the refund worker.
const BATCH: u32 = 50;
/// Rows an export holds at most (a year of a large clinic's payments).
const MAX_EXPORT_ROWS: usize = 200_000;

pub(crate) fn brief(payment: &PaymentRecord) -> PaymentBrief {
    PaymentBrief {
        id: payment.id.clone(),
        status: payment.status,
        method: payment.method,
        amount_minor: payment.amount_minor,
        currency: payment.currency.clone(),
        checkout_url: payment.checkout_url.clone(),
        hold_until: payment.hold_until,
    }
}

/// The pending online payment that holds a new booking's slot until `hold_until`.
pub(crate) fn hold_payment(
    tx: &mut dyn Tx,
    appointment: &AppointmentRecord,
    fee: &Fee,
    hold_until: Timestamp,
    now: Timestamp,
) -> Result<PaymentBrief, AppError> {
    let payment = PaymentRecord {
        id: PaymentId::new(new_id("pay")),
        appointment_id: appointment.id.clone(),
        patient_id: appointment.patient_id.clone(),
        doctor_id: appointment.doctor_id.clone(),
        amount_minor: fee.amount,
        currency: fee.currency.clone(),
        method: PaymentMethod::Stripe,
        status: PaymentStatus::Pending,
        checkout_session_id: None,
        checkout_url: None,
        payment_intent: None,
        hold_until: Some(hold_until),
        paid_at: None,
        refund_id: None,
        refund_reason: None,
        refunded_at: None,
        attempts: 0,
        next_attempt_at: None,
        last_error: None,
        recorded_by: None,
        created_at: now,
        updated_at: now,
    };
    tx.insert_payment(&payment)?;
    Ok(brief(&payment))
}

/// Marks the money owed back (the refund worker sends it) and audits why.
fn owe_refund(
    tx: &mut dyn Tx,
    payment: &mut PaymentRecord,
    reason: &str,
    now: Timestamp,
) -> Result<(), AppError> {
    payment.status = PaymentStatus::RefundPending;
    payment.refund_reason = Some(reason.to_owned());
    payment.attempts = 0;
    payment.next_attempt_at = Some(now);
    payment.last_error = None;
    payment.updated_at = now;
    tx.update_payment(payment)?;
    audit(
        tx,
        now,
        None,
        "payment.refund_owed",
        ("payment", Some(payment.id.as_str())),
        json!({ "appointment_id": payment.appointment_id.as_str(), "reason": reason }),
    )?;
    Ok(())
}

/// Settles the fee of an appointment that just ended (cancelled, rejected) in the
/// same transaction: an unpaid checkout is called off, and a fee paid online is
/// owed back when [`refund_on_end`] says so. Money taken at the desk is given back
/// at the desk, not here. Returns the payment as it now is.
pub(crate) fn settle_on_end(
    tx: &mut dyn Tx,
    appointment: &AppointmentRecord,
    ending: Transition,
    by_patient: bool,
    refund_window_hours: i64,
    now: Timestamp,
) -> Result<Option<PaymentBrief>, AppError> {
    let Some(mut payment) = tx.latest_payment(&appointment.id)? else {
        return Ok(None);
    };
    match payment.status {
        PaymentStatus::Pending => {
            payment.status = PaymentStatus::Cancelled;
            payment.updated_at = now;
            tx.update_payment(&payment)?;
        }
        PaymentStatus::Paid
            if payment.method == PaymentMethod::Stripe
                && refund_on_end(
                    ending,
                    by_patient,
                    appointment.slot.start,
                    now,
                    refund_window_hours,
                ) =>
        {
            let reason = match (ending, by_patient) {
                (Transition::Reject, _) => "the clinic could not accept the visit",
                (_, false) => "the visit was cancelled by the clinic",
                (_, true) => "you cancelled the visit in time",
            };
            owe_refund(tx, &mut payment, reason, now)?;
        }
        _ => {}
    }
    Ok(Some(brief(&payment)))
}

/// A step of an appointment's history that carebook made by itself (a hold that
/// ran out, a payment that arrived): no actor.
fn record_system_event(
    tx: &mut dyn Tx,
    action: &str,
    before: &AppointmentRecord,
    after: &AppointmentRecord,
    reason: Option<&str>,
) -> Result<(), AppError> {
    tx.append_appointment_event(&AppointmentEvent {
        appointment_id: after.id.clone(),
        seq: 0,
        at: after.updated_at,
        actor_id: None,
        action: action.to_owned(),
        from_status: Some(before.status),
        to_status: after.status,
        from_start: Some(before.slot.start),
        to_start: Some(after.slot.start),
        reason: reason.map(str::to_owned),
    })?;
    audit(
        tx,
        after.updated_at,
        None,
        &format!("appointment.{action}"),
        ("appointment", Some(after.id.as_str())),
        json!({
            "from": before.status.as_str(),
            "to": after.status.as_str(),
            "reason": reason,
        }),
    )?;
    Ok(())
}

/// The payment and its appointment and doctor, read after taking the doctor's
/// availability lock (see the module).
fn lock_payment(
    tx: &mut dyn Tx,
    id: &PaymentId,
) -> Result<Option<(PaymentRecord, AppointmentView, DoctorRecord)>, AppError> {
    let Some(payment) = tx.find_payment(id)? else {
        return Ok(None);
    };
    tx.begin_availability_change(&payment.doctor_id)?;
    let Some(payment) = tx.find_payment(id)? else {
        return Ok(None);
    };
    let view = tx
        .find_appointment(&payment.appointment_id)?
        .ok_or(AppError::NotFound("appointment"))?;
    let doctor = tx
        .find_doctor(&payment.doctor_id)?
        .ok_or(AppError::NotFound("doctor"))?;
    Ok(Some((payment, view, doctor)))
}

/// The patient, as the actor of what their payment sets off (the booking's
/// notices read "booked by the patient").
fn patient_actor(view: &AppointmentView) -> Actor {
    Actor {
        user_id: view.record.patient_id.clone(),
        role: Role::Patient,
    }
}

/// The payment arrived (online, or at the desk): it is audited (`payment.paid`
/// from the provider, `payment.recorded` by the desk); a visit still waiting for
/// it becomes a booking by its doctor's confirmation rule, told as one, with its
/// reminders; the patient gets the receipt. Returns the visit's live event ids.
fn accept_payment(
    tx: &mut dyn Tx,
    notifier: &super::Notifier,
    payment: &PaymentRecord,
    view: &mut AppointmentView,
    doctor: &DoctorRecord,
    now: Timestamp,
) -> Result<Vec<LiveId>, AppError> {
    let action = if payment.method.is_at_desk() {
        "payment.recorded"
    } else {
        "payment.paid"
    };
    audit(
        tx,
        now,
        payment.recorded_by.as_ref(),
        action,
        ("payment", Some(payment.id.as_str())),
        json!({
            "appointment_id": payment.appointment_id.as_str(),
            "amount_minor": payment.amount_minor,
            "currency": payment.currency,
            "method": payment.method.as_str(),
        }),
    )?;
    let zone = zone_name(&doctor.schedule).to_owned();
    let waiting = matches!(
        view.record.status,
        AppointmentStatus::AwaitingPayment | AppointmentStatus::Cancelled
    );
    if waiting {
        let before = view.record.clone();
        view.record.status = initial_status(doctor.schedule.rules.auto_confirm);
        view.record.status_reason = None;
        view.record.updated_at = now;
        ensure_room(&mut view.record);
        // Takes the slot again when the hold had run out (the database refuses it
        // if someone else took it meanwhile).
        tx.update_appointment(&view.record)?;
        record_system_event(tx, "pay", &before, &view.record, None)?;
        view.payment = Some(brief(payment));
        notifier.appointment_changed(
            tx,
            AppointmentChange {
                action: "book",
                actor: &patient_actor(view),
                view,
                before: None,
                time_zone: &zone,
                now,
                sequence: None,
                known: KnownPeople::default(),
            },
            None,
        )?;
    }
    view.payment = Some(brief(payment));
    notifier.payment_notice(tx, NoticeKind::PaymentReceived, view, payment, &zone, now)?;
    append_appointment_event(tx, "pay", view, now)
}

/// Whether a visit whose hold ran out can have its slot back now: the doctor's
/// time is still free and bookable, and the patient has nothing else then.
fn can_reclaim(
    tx: &mut dyn Tx,
    view: &AppointmentView,
    doctor: &DoctorRecord,
    now: Timestamp,
) -> Result<bool, AppError> {
    if view.record.status != AppointmentStatus::Cancelled {
        return Ok(false);
    }
    let slot = view.record.slot;
    let day = SignedDuration::from_hours(24);
    let Some(around) = Interval::new(slot.start - day, slot.end + day) else {
        return Ok(false);
    };
    let busy = busy_intervals(tx, &doctor.user_id, around)?;
    if doctor
        .schedule
        .check_bookable(slot.start, &busy, now)
        .is_err()
    {
        return Ok(false);
    }
    let theirs = tx.list_appointments(
        &AppointmentFilter {
            scope: AppointmentScope::AsPatient(view.record.patient_id.clone()),
            statuses: AppointmentStatus::ALL
                .into_iter()
                .filter(|s| s.is_live())
                .collect(),
            from: Some(slot.start - day),
            to: Some(slot.end),
            doctor_id: None,
            patient_id: None,
            q: None,
            newest_first: false,
        },
        &PageRequest {
            limit: 100,
            after: None,
        },
    )?;
    Ok(!theirs
        .iter()
        .any(|other| other.record.id != view.record.id && other.record.slot.overlaps(&slot)))
}

/// What a webhook call did, for the answer Stripe shows in its dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Not an event carebook acts on (or not about one of its payments).
    Ignored,
    /// This event was acted on before.
    Duplicate,
    /// The payment was recorded and the visit booked.
    Paid,
    /// The payment came when its visit could no longer be had: it goes back.
    Refunding,
    /// The checkout closed unpaid: the slot was freed.
    Released,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Paid => "paid",
            WebhookOutcome::Refunding => "refunding",
            WebhookOutcome::Released => "released",
        }
    }
}

/// A payment recorded at the desk.
#[derive(Debug, Clone, Default)]
pub struct DeskPaymentInput {
    /// `cash` or `card_terminal`.
    pub method: String,
    /// Default: the doctor's fee.
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
}

/// The admin's filters of the payments list and export.
#[derive(Debug, Clone, Default)]
pub struct PaymentQuery {
    /// Comma-separated statuses.
    pub status: Option<String>,
    /// Comma-separated methods.
    pub method: Option<String>,
    /// Created at or after (RFC 3339).
    pub from: Option<String>,
    /// Created before (RFC 3339).
    pub to: Option<String>,
    pub doctor_id: Option<String>,
    pub patient_id: Option<String>,
}

/// Money that moved on one local day (or in the whole window), in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoneyTotals {
    pub currency: String,
    pub paid_count: u64,
    pub paid_minor: i64,
    pub refunded_count: u64,
    pub refunded_minor: i64,
}

impl MoneyTotals {
    fn new(currency: &str) -> MoneyTotals {
        MoneyTotals {
            currency: currency.to_owned(),
            paid_count: 0,
            paid_minor: 0,
            refunded_count: 0,
            refunded_minor: 0,
        }
    }

    pub fn net_minor(&self) -> i64 {
        self.paid_minor - self.refunded_minor
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayMoney {
    pub date: jiff::civil::Date,
    pub totals: MoneyTotals,
}

/// Daily totals per currency over the local dates `from..=to` of the clinic's zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSummary {
    pub from: jiff::civil::Date,
    pub to: jiff::civil::Date,
    pub time_zone: String,
    /// Days with money moving only, oldest first, then by currency.
    pub days: Vec<DayMoney>,
    /// The whole window, by currency.
    pub totals: Vec<MoneyTotals>,
}

fn parse_list<T: Copy>(
    errors: &mut ValidationErrors,
    field: &str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    names: &str,
) -> Vec<T> {
    let mut out = Vec::new();
    for item in value
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        match parse(item) {
            Some(parsed) => out.push(parsed),
            None => errors.add(field, format!("must be one of {names}")),
        }
    }
    out
}

fn payment_filter(query: &PaymentQuery) -> Result<PaymentFilter, AppError> {
    let mut errors = ValidationErrors::new();
    let statuses = parse_list(
        &mut errors,
        "status",
        query.status.as_deref(),
        PaymentStatus::parse,
        "pending, paid, refund_pending, refunded, expired, cancelled",
    );
    let methods = parse_list(
        &mut errors,
        "method",
        query.method.as_deref(),
        PaymentMethod::parse,
        "stripe, cash, card_terminal",
    );
    let from = query.from.as_deref().map(|v| parse_instant("from", v));
    let from = from.and_then(|r| errors.take(r));
    let to = query.to.as_deref().map(|v| parse_instant("to", v));
    let to = to.and_then(|r| errors.take(r));
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let id = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(UserId::new)
    };
    Ok(PaymentFilter {
        statuses,
        methods,
        from,
        to,
        doctor_id: id(&query.doctor_id),
        patient_id: id(&query.patient_id),
    })
}

/// One CSV field: quoted when it must be, and a leading `=`, `+`, `-`, `@` (or a
/// tab or carriage return) defused, so a name cannot become a spreadsheet formula.
fn csv_field(value: &str) -> String {
    let defused = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

use crate::notify::decimal_amount as amount_decimal;

pub const PAYMENT_CSV_HEADER: &str = "payment_id,created_at,status,method,amount_minor,amount,currency,\
paid_at,refunded_at,refund_reason,appointment_id,appointment_start,patient_id,patient_name,\
doctor_id,doctor_name,checkout_session_id,payment_intent,refund_id";

fn csv_row(view: &PaymentView) -> String {
    let p = &view.record;
    let instant = |t: Option<Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
    let fields = [
        p.id.to_string(),
        p.created_at.to_string(),
        p.status.as_str().to_owned(),
        p.method.as_str().to_owned(),
        p.amount_minor.to_string(),
        amount_decimal(p.amount_minor, &p.currency),
        p.currency.clone(),
        instant(p.paid_at),
        instant(p.refunded_at),
        p.refund_reason.clone().unwrap_or_default(),
        p.appointment_id.to_string(),
        view.appointment_start.to_string(),
        p.patient_id.to_string(),
        view.patient_name.clone(),
        p.doctor_id.to_string(),
        view.doctor_name.clone(),
        p.checkout_session_id.clone().unwrap_or_default(),
        p.payment_intent.clone().unwrap_or_default(),
        p.refund_id.clone().unwrap_or_default(),
    ];
    let mut line = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

fn describe_signature_error(error: SignatureError) -> &'static str {
    match error {
        SignatureError::Malformed => "it is malformed",
        SignatureError::Mismatch => "it does not match the body",
        SignatureError::Stale => "its timestamp is more than five minutes away",
    }
}

impl App {
    /// The Stripe client, when online payment is configured.
    fn stripe(&self) -> Option<&StripeClient> {
        self.stripe.as_deref()
    }

    /// Makes the Checkout Session of a booking that waits for its payment and puts
    /// its URL on the booking. If Stripe cannot be reached the hold is let go at
    /// once (the slot must not stay blocked for a payment that cannot be made) and
    /// the booking fails with a 503.
    pub(crate) async fn open_checkout(
        &self,
        view: AppointmentView,
        time_zone: &str,
    ) -> Result<AppointmentView, AppError> {
        let payment = view
            .payment
            .clone()
            .ok_or_else(|| AppError::Internal("a held booking without its payment".into()))?;
        let Some(client) = self.stripe() else {
            self.release_hold(
                &payment.id,
                "online payment is not configured",
                PaymentStatus::Cancelled,
            )
            .await?;
            return Err(AppError::PaymentsNotConfigured);
        };
        let now = self.now();
        let hold_until = payment.hold_until.unwrap_or(now);
        let base = self.notifier.base_url().to_owned();
        let id = view.record.id.to_string();
        let request = CheckoutRequest {
            idempotency_key: format!("checkout-{}", payment.id),
            amount_minor: payment.amount_minor,
            currency: payment.currency.clone(),
            product_name: format!(
                "Visit with Dr {}, {}",
                view.doctor_name,
                local_time(view.record.slot.start, time_zone)
            ),
            success_url: format!("{base}/appointments/{id}?payment=done"),
            cancel_url: format!("{base}/appointments/{id}?payment=cancelled"),
            expires_at: checkout_expires_at(now, hold_until),
            client_reference_id: id.clone(),
            metadata: vec![
                ("payment_id".into(), payment.id.to_string()),
                ("appointment_id".into(), id),
            ],
        };
        let mut session = client.create_checkout_session(&request).await;
        // One quick retry with the same key: Stripe answers it with the same session.
        if matches!(session, Err(StripeError::Unavailable(_))) {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            session = client.create_checkout_session(&request).await;
        }
        let session = match session {
            Ok(session) => session,
            Err(error) => {
                self.release_hold(
                    &payment.id,
                    "the payment could not be started",
                    PaymentStatus::Cancelled,
                )
                .await?;
                return Err(AppError::PaymentProviderUnavailable(error.to_string()));
            }
        };
        let payment_id = payment.id.clone();
        let appointment_id = view.record.id.clone();
        let updated = self
            .store
            .write(move |tx| {
                if let Some(mut payment) = tx.find_payment(&payment_id)?
                    && payment.status == PaymentStatus::Pending
                {
                    payment.checkout_session_id = Some(session.id);
                    payment.checkout_url = Some(session.url);
                    payment.updated_at = now;
                    tx.update_payment(&payment)?;
                }
                tx.find_appointment(&appointment_id)?
                    .ok_or(AppError::NotFound("appointment"))
            })
            .await?;
        Ok(updated)
    }

    /// Lets a pending payment's hold go: the payment becomes `status` (expired, or
    /// cancelled) and a visit still waiting for it is cancelled, freeing its slot.
    /// `false` when the payment was no longer pending.
    async fn release_hold(
        &self,
        id: &PaymentId,
        why: &'static str,
        status: PaymentStatus,
    ) -> Result<bool, AppError> {
        let id = id.clone();
        let now = self.now();
        let released = self
            .store
            .write(move |tx| {
                let Some((mut payment, mut view, _)) = lock_payment(tx, &id)? else {
                    return Ok(None);
                };
                if payment.status != PaymentStatus::Pending {
                    return Ok(None);
                }
                payment.status = status;
                payment.updated_at = now;
                tx.update_payment(&payment)?;
                if view.record.status != AppointmentStatus::AwaitingPayment {
                    return Ok(None);
                }
                let before = view.record.clone();
                view.record.status = AppointmentStatus::Cancelled;
                view.record.status_reason = Some(why.to_owned());
                view.record.updated_at = now;
                tx.update_appointment(&view.record)?;
                let action = if status == PaymentStatus::Expired {
                    "expire"
                } else {
                    "cancel"
                };
                record_system_event(tx, action, &before, &view.record, Some(why))?;
                view.payment = Some(brief(&payment));
                let live = append_appointment_event(tx, action, &view, now)?;
                Ok::<_, AppError>(Some((view, live, action)))
            })
            .await?;
        let Some((view, live, action)) = released else {
            return Ok(false);
        };
        self.publish(Event::appointment_in_streams(action, &view, live))
            .await;
        Ok(true)
    }

    /// Frees the slots of holds whose time ran out, and closes their checkout
    /// pages at Stripe so they cannot be paid any more (a payment that still comes
    /// is handled as late). Run every few seconds by `serve`; returns how many.
    pub async fn expire_holds(&self) -> Result<usize, AppError> {
        let now = self.now();
        let due = self
            .store
            .read(move |tx| Ok::<_, AppError>(tx.expired_holds(now, BATCH)?))
            .await?;
        let mut released = 0;
        for payment in due {
            let why = "the payment did not arrive in time";
            if self
                .release_hold(&payment.id, why, PaymentStatus::Expired)
                .await?
            {
                released += 1;
                self.close_checkout(&payment).await;
            }
        }
        Ok(released)
    }

    /// Best effort: a checkout that stays open could still be paid, which then
    /// goes back as a late payment; closing it spares the patient that.
    async fn close_checkout(&self, payment: &PaymentRecord) {
        let (Some(client), Some(session)) = (self.stripe(), payment.checkout_session_id.as_deref())
        else {
            return;
        };
        let key = format!("expire-{}", payment.id);
        if let Err(error) = client.expire_checkout_session(session, &key).await
            && !error.is_checkout_session_not_open()
        {
            tracing::warn!(payment = %payment.id, error = %error, "could not close a checkout at Stripe");
        }
    }

    /// `POST /api/v1/payments/stripe/webhook`: checks the signature over the raw
    /// body, then acts on each event once (by its id).
    pub async fn stripe_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<WebhookOutcome, AppError> {
        let secret = self
            .settings
            .stripe_webhook_secret
            .as_ref()
            .ok_or(AppError::PaymentsNotConfigured)?;
        let header = signature.ok_or(AppError::InvalidSignature("it is missing"))?;
        verify_signature(
            header,
            body,
            secret.expose(),
            self.now(),
            SIGNATURE_TOLERANCE,
        )
        .map_err(|error| AppError::InvalidSignature(describe_signature_error(error)))?;
        let event =
            parse_event(body).map_err(|error| AppError::invalid("body", &error.to_string()))?;
        match event.kind.as_str() {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                self.checkout_paid(event).await
            }
            "checkout.session.expired" | "checkout.session.async_payment_failed" => {
                self.checkout_closed(event).await
            }
            _ => Ok(WebhookOutcome::Ignored),
        }
    }

    async fn checkout_paid(&self, event: WebhookEvent) -> Result<WebhookOutcome, AppError> {
        let Some(session) = event.checkout_session() else {
            return Ok(WebhookOutcome::Ignored);
        };
        // Some payment methods settle later: their own event brings the money.
        if session.payment_status.as_deref() != Some("paid") {
            return Ok(WebhookOutcome::Ignored);
        }
        let now = self.now();
        let notifier = self.notifier.clone();
        let event_id = event.id.clone();
        let kind = event.kind.clone();
        let outcome = self
            .store
            .write(move |tx| {
                if !tx.record_provider_event(&event_id, &kind, now)? {
                    return Ok((WebhookOutcome::Duplicate, None));
                }
                let found = match session.metadata.get("payment_id") {
                    Some(id) => tx.find_payment(&PaymentId::new(id))?,
                    None => tx.find_payment_by_checkout(&session.id)?,
                };
                let Some(found) = found.filter(|p| {
                    p.checkout_session_id.is_none()
                        || p.checkout_session_id.as_deref() == Some(session.id.as_str())
                }) else {
                    return Ok((WebhookOutcome::Ignored, None));
                };
                let Some((mut payment, mut view, doctor)) = lock_payment(tx, &found.id)? else {
                    return Ok((WebhookOutcome::Ignored, None));
                };
                if payment.payment_intent.is_none() {
                    payment.payment_intent = session.payment_intent.clone();
                }
                payment.checkout_session_id = Some(session.id.clone());
                let late_reason = match on_checkout_paid(payment.status) {
                    OnCheckoutPaid::AlreadyDone => return Ok((WebhookOutcome::Duplicate, None)),
                    OnCheckoutPaid::Accept => None,
                    OnCheckoutPaid::ReclaimOrRefund if can_reclaim(tx, &view, &doctor, now)? => {
                        None
                    }
                    OnCheckoutPaid::ReclaimOrRefund => Some(
                        "the payment arrived after the held time had run out, and the slot was no longer free",
                    ),
                    OnCheckoutPaid::Refund => Some(
                        "the visit had been cancelled or paid otherwise before the payment arrived",
                    ),
                };
                if let Some(reason) = late_reason {
                    owe_refund(tx, &mut payment, reason, now)?;
                    return Ok((WebhookOutcome::Refunding, None));
                }
                payment.status = PaymentStatus::Paid;
                payment.paid_at = Some(now);
                payment.updated_at = now;
                tx.update_payment(&payment)?;
                let live = accept_payment(tx, &notifier, &payment, &mut view, &doctor, now)?;
                Ok::<_, AppError>((WebhookOutcome::Paid, Some((view, live))))
            })
            .await?;
        let (outcome, changed) = outcome;
        self.ring_outbox();
        if let Some((view, live)) = changed {
            self.publish(Event::appointment_in_streams("pay", &view, live))
                .await;
        }
        if outcome == WebhookOutcome::Refunding {
            self.send_due_refunds().await?;
        }
        Ok(outcome)
    }

    async fn checkout_closed(&self, event: WebhookEvent) -> Result<WebhookOutcome, AppError> {
        let Some(session) = event.checkout_session() else {
            return Ok(WebhookOutcome::Ignored);
        };
        let found = self
            .store
            .read(move |tx| {
                let found = match session.metadata.get("payment_id") {
                    Some(id) => tx.find_payment(&PaymentId::new(id))?,
                    None => tx.find_payment_by_checkout(&session.id)?,
                };
                Ok::<_, AppError>(
                    found.filter(|p| p.checkout_session_id.as_deref() == Some(session.id.as_str())),
                )
            })
            .await?;
        let Some(payment) = found else {
            return Ok(WebhookOutcome::Ignored);
        };
        let why = "the payment page closed without a payment";
        if self
            .release_hold(&payment.id, why, PaymentStatus::Expired)
            .await?
        {
            Ok(WebhookOutcome::Released)
        } else {
            Ok(WebhookOutcome::Ignored)
        }
    }

    /// Sends the refunds that are owed and due to Stripe; run by `serve` every
    /// few seconds, and right after a refund is owed. Returns how many went
    /// through.
    pub async fn send_due_refunds(&self) -> Result<usize, AppError> {
        let Some(client) = self.stripe().cloned() else {
            return Ok(0);
        };
        let now = self.now();
        let due = self
            .store
            .read(move |tx| Ok::<_, AppError>(tx.due_refunds(now, BATCH)?))
            .await?;
        let mut sent = 0;
        for payment in due {
            let result = match payment.payment_intent.clone() {
                None => Err(StripeError::Invalid(
                    "the payment has no Stripe payment to refund".into(),
                )),
                Some(payment_intent) => {
                    client
                        .create_refund(&RefundRequest {
                            idempotency_key: format!("refund-{}", payment.id),
                            payment_intent,
                            metadata: vec![
                                ("payment_id".into(), payment.id.to_string()),
                                ("appointment_id".into(), payment.appointment_id.to_string()),
                            ],
                        })
                        .await
                }
            };
            let refunded = match result {
                Ok(refund) if matches!(refund.status.as_str(), "succeeded" | "pending") => {
                    Ok(Some(refund.id))
                }
                Ok(refund) => Err(StripeError::Invalid(format!(
                    "Stripe reports the refund as {}",
                    refund.status
                ))),
                Err(error) if error.code() == Some("charge_already_refunded") => Ok(None),
                Err(error) => Err(error),
            };
            if self.finish_refund(&payment.id, refunded).await? {
                sent += 1;
            }
        }
        self.ring_outbox();
        Ok(sent)
    }

    /// Records a refund's outcome: done (and the patient told), or another try
    /// later with a growing wait, until [`MAX_REFUND_ATTEMPTS`] leaves it to an
    /// admin.
    async fn finish_refund(
        &self,
        id: &PaymentId,
        outcome: Result<Option<String>, StripeError>,
    ) -> Result<bool, AppError> {
        let id = id.clone();
        let now = self.now();
        let notifier = self.notifier.clone();
        self.store
            .write(move |tx| {
                let Some((mut payment, mut view, doctor)) = lock_payment(tx, &id)? else {
                    return Ok(false);
                };
                if payment.status != PaymentStatus::RefundPending {
                    return Ok(false);
                }
                payment.updated_at = now;
                payment.attempts += 1;
                match outcome {
                    Ok(refund_id) => {
                        payment.status = PaymentStatus::Refunded;
                        payment.refund_id = refund_id;
                        payment.refunded_at = Some(now);
                        payment.next_attempt_at = None;
                        payment.last_error = None;
                        tx.update_payment(&payment)?;
                        audit(
                            tx,
                            now,
                            None,
                            "payment.refunded",
                            ("payment", Some(payment.id.as_str())),
                            json!({ "appointment_id": payment.appointment_id.as_str() }),
                        )?;
                        view.payment = Some(brief(&payment));
                        let zone = zone_name(&doctor.schedule).to_owned();
                        notifier.payment_notice(
                            tx,
                            NoticeKind::PaymentRefunded,
                            &view,
                            &payment,
                            &zone,
                            now,
                        )?;
                        Ok(true)
                    }
                    Err(error) => {
                        let retry = matches!(error, StripeError::Unavailable(_))
                            || payment.attempts < MAX_REFUND_ATTEMPTS;
                        let wait = SignedDuration::from_secs(30 * (1 << payment.attempts.min(7)));
                        payment.next_attempt_at = (retry && payment.attempts < 50)
                            .then(|| now + wait.min(SignedDuration::from_hours(1)));
                        let mut message = error.to_string();
                        message.truncate(400);
                        payment.last_error = Some(message);
                        tx.update_payment(&payment)?;
                        Ok::<_, AppError>(false)
                    }
                }
            })
            .await
    }

    /// `POST /api/v1/appointments/{id}/payments`: a payment taken at the desk. A
    /// visit still waiting for its online payment is booked by it (and its checkout
    /// called off).
    pub async fn record_desk_payment(
        &self,
        actor: &Actor,
        id: AppointmentId,
        input: DeskPaymentInput,
    ) -> Result<AppointmentView, AppError> {
        let mut errors = ValidationErrors::new();
        let method = match PaymentMethod::parse(input.method.trim()) {
            Some(method) if method.is_at_desk() => Some(method),
            Some(_) => {
                errors.add(
                    "method",
                    "stripe payments are taken online, through the checkout",
                );
                None
            }
            None => {
                errors.add("method", "must be cash or card_terminal");
                None
            }
        };
        if let Some(amount) = input.amount_minor
            && !(1..=100_000_000).contains(&amount)
        {
            errors.add("amount_minor", "must be between 1 and 100000000");
        }
        let currency = input.currency.as_deref().map(str::trim).map(str::to_owned);
        if let Some(currency) = &currency
            && !(currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()))
        {
            errors.add("currency", "must be an ISO 4217 code such as EUR");
        }
        if input.amount_minor.is_some() != currency.is_some() {
            errors.add("currency", "amount_minor and currency go together");
        }
        let Some(method) = method else {
            return Err(errors.into());
        };
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let actor = actor.clone();
        let now = self.now();
        let notifier = self.notifier.clone();
        let (view, live, called_off) = self
            .store
            .write(move |tx| {
                let view = visible_appointment(tx, &actor, &id)?;
                authorize(
                    &actor,
                    Action::RecordPayment,
                    Subject::Appointment {
                        patient: &view.record.patient_id,
                        doctor: &view.record.doctor_id,
                    },
                )?;
                tx.begin_availability_change(&view.record.doctor_id)?;
                let mut view = tx
                    .find_appointment(&view.record.id)?
                    .ok_or(AppError::NotFound("appointment"))?;
                let latest = tx.latest_payment(&view.record.id)?;
                check_desk_payment(view.record.status, latest.as_ref().map(|p| p.status)).map_err(
                    |refusal| match refusal {
                        DeskRefusal::NotPayable => AppError::conflict(
                            ConflictKind::NotPayable,
                            "a cancelled or rejected visit cannot be paid",
                        ),
                        DeskRefusal::AlreadyPaid => AppError::conflict(
                            ConflictKind::PaymentExists,
                            "this visit is paid already",
                        ),
                    },
                )?;
                let doctor = tx
                    .find_doctor(&view.record.doctor_id)?
                    .ok_or(AppError::NotFound("doctor"))?;
                let (amount_minor, currency) = match (input.amount_minor, currency, &doctor.fee) {
                    (Some(amount), Some(currency), _) => (amount, currency),
                    (_, _, Some(fee)) => (fee.amount, fee.currency.clone()),
                    _ => {
                        return Err(AppError::invalid(
                            "amount_minor",
                            "is required: the doctor has no fee set",
                        ));
                    }
                };
                // A checkout still open is called off: the desk took the money.
                let called_off = match latest {
                    Some(mut open) if open.status == PaymentStatus::Pending => {
                        open.status = PaymentStatus::Cancelled;
                        open.updated_at = now;
                        tx.update_payment(&open)?;
                        Some(open)
                    }
                    _ => None,
                };
                let payment = PaymentRecord {
                    id: PaymentId::new(new_id("pay")),
                    appointment_id: view.record.id.clone(),
                    patient_id: view.record.patient_id.clone(),
                    doctor_id: view.record.doctor_id.clone(),
                    amount_minor,
                    currency,
                    method,
                    status: PaymentStatus::Paid,
                    checkout_session_id: None,
                    checkout_url: None,
                    payment_intent: None,
                    hold_until: None,
                    paid_at: Some(now),
                    refund_id: None,
                    refund_reason: None,
                    refunded_at: None,
                    attempts: 0,
                    next_attempt_at: None,
                    last_error: None,
                    recorded_by: Some(actor.user_id.clone()),
                    created_at: now,
                    updated_at: now,
                };
                tx.insert_payment(&payment)?;
                let live = accept_payment(tx, &notifier, &payment, &mut view, &doctor, now)?;
                Ok::<_, AppError>((view, live, called_off))
            })
            .await?;
        self.ring_outbox();
        self.publish(Event::appointment_in_streams("pay", &view, live))
            .await;
        if let Some(payment) = called_off {
            self.close_checkout(&payment).await;
        }
        Ok(view)
    }

    /// After a cancellation or rejection committed: sends a refund it made owed
    /// now (the worker retries if Stripe is away), and closes an unpaid checkout.
    pub(crate) async fn after_appointment_ended(&self, view: &AppointmentView) {
        let Some(payment) = &view.payment else {
            return;
        };
        match payment.status {
            PaymentStatus::RefundPending => {
                if let Err(error) = self.send_due_refunds().await {
                    tracing::warn!(error = %error, "refunds wait for the next pass");
                }
            }
            PaymentStatus::Cancelled => {
                let id = payment.id.clone();
                let found = self
                    .store
                    .read(move |tx| Ok::<_, AppError>(tx.find_payment(&id)?))
                    .await;
                if let Ok(Some(record)) = found {
                    self.close_checkout(&record).await;
                }
            }
            _ => {}
        }
    }

    /// `GET /api/v1/payments` (admins): newest first.
    pub async fn list_payments(
        &self,
        actor: &Actor,
        query: PaymentQuery,
        page: PageParams,
    ) -> Result<Page<PaymentView>, AppError> {
        authorize(actor, Action::ViewPayments, Subject::Clinic)?;
        let filter = payment_filter(&query)?;
        let request = page.to_request()?;
        let rows = {
            let request = request.clone();
            self.store
                .read(move |tx| Ok::<_, AppError>(tx.list_payments(&filter, &request)?))
                .await?
        };
        Ok(paginate(rows, &request, |p| Cursor {
            key: p.record.created_at.as_millisecond().to_string(),
            id: p.record.id.to_string(),
        }))
    }

    /// `GET /api/v1/payments/export.csv` (admins): the list's rows, every page.
    pub async fn export_payments_csv(
        &self,
        actor: &Actor,
        query: PaymentQuery,
    ) -> Result<String, AppError> {
        authorize(actor, Action::ViewPayments, Subject::Clinic)?;
        let filter = payment_filter(&query)?;
        let rows = self
            .store
            .read(move |tx| {
                let mut rows = Vec::new();
                let mut after = None;
                loop {
                    let page = tx.list_payments(&filter, &PageRequest { limit: 1000, after })?;
                    let done = page.len() < 1000 || rows.len() + page.len() >= MAX_EXPORT_ROWS;
                    after = page.last().map(|p: &PaymentView| Cursor {
                        key: p.record.created_at.as_millisecond().to_string(),
                        id: p.record.id.to_string(),
                    });
                    rows.extend(page);
                    if done {
                        return Ok::<_, AppError>(rows);
                    }
                }
            })
            .await?;
        let mut csv = String::with_capacity(64 + rows.len() * 200);
        csv.push_str(PAYMENT_CSV_HEADER);
        csv.push_str("\r\n");
        for row in &rows {
            csv.push_str(&csv_row(row));
        }
        Ok(csv)
    }

    /// `GET /api/v1/payments/summary?from=&to=` (admins): money paid and refunded
    /// per local day of the clinic's zone and currency.
    pub async fn payment_summary(
        &self,
        actor: &Actor,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<PaymentSummary, AppError> {
        authorize(actor, Action::ViewPayments, Subject::Clinic)?;
        let zone_name = self.settings.clinic_time_zone.clone();
        let zone = self.clinic_zone();
        let today = zone.to_datetime(self.now()).date();
        let (from, to) = statistics_dates(from, to, today)?;
        let window = window_of(from, to, &zone)?;
        let payments = self
            .store
            .read(move |tx| {
                Ok::<_, AppError>(tx.payments_with_money_between(window.start, window.end)?)
            })
            .await?;
        let mut days: Vec<DayMoney> = Vec::new();
        let mut totals: Vec<MoneyTotals> = Vec::new();
        let mut add = |at: Timestamp, currency: &str, paid: bool, amount: i64| {
            if at < window.start || at >= window.end {
                return;
            }
            let date = zone.to_datetime(at).date();
            let day = match days
                .iter()
                .position(|d| d.date == date && d.totals.currency == currency)
            {
                Some(index) => &mut days[index].totals,
                None => {
                    days.push(DayMoney {
                        date,
                        totals: MoneyTotals::new(currency),
                    });
                    &mut days.last_mut().expect("just pushed").totals
                }
            };
            let total = match totals.iter().position(|t| t.currency == currency) {
                Some(index) => &mut totals[index],
                None => {
                    totals.push(MoneyTotals::new(currency));
                    totals.last_mut().expect("just pushed")
                }
            };
            for sum in [day, total] {
                if paid {
                    sum.paid_count += 1;
                    sum.paid_minor += amount;
                } else {
                    sum.refunded_count += 1;
                    sum.refunded_minor += amount;
                }
            }
        };
        for payment in &payments {
            if let Some(paid_at) = payment.paid_at {
                add(paid_at, &payment.currency, true, payment.amount_minor);
            }
            if let Some(refunded_at) = payment.refunded_at {
                add(refunded_at, &payment.currency, false, payment.amount_minor);
            }
        }
        days.sort_by(|a, b| (a.date, &a.totals.currency).cmp(&(b.date, &b.totals.currency)));
        totals.sort_by(|a, b| a.currency.cmp(&b.currency));
        Ok(PaymentSummary {
            from,
            to,
            time_zone: zone_name,
            days,
            totals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-5"), "'-5");
        assert_eq!(csv_field("@cmd"), "'@cmd");
    }

    #[test]
    fn amounts_follow_the_currencys_minor_unit() {
        assert_eq!(amount_decimal(5000, "EUR"), "50.00");
        assert_eq!(amount_decimal(5, "EUR"), "0.05");
        assert_eq!(amount_decimal(5000, "JPY"), "5000");
        assert_eq!(amount_decimal(5000, "KWD"), "5.000");
    }
}
