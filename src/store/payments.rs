//! Payments: the fee of an appointment, asked for online or taken at the desk, and
//! the provider's events already acted on.

use jiff::Timestamp;

use super::{
    AppointmentId, PageRequest, PaymentId, PaymentMethod, PaymentStatus, StoreResult, UserId,
};

#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRecord {
    pub id: PaymentId,
    pub appointment_id: AppointmentId,
    pub patient_id: UserId,
    pub doctor_id: UserId,
    /// Integer minor units (cents).
    pub amount_minor: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    pub method: PaymentMethod,
    pub status: PaymentStatus,
    /// The provider's Checkout Session, once made.
    pub checkout_session_id: Option<String>,
    pub checkout_url: Option<String>,
    /// The provider's payment, once paid: what a refund names.
    pub payment_intent: Option<String>,
    /// Until when the appointment's slot is held for this payment.
    pub hold_until: Option<Timestamp>,
    pub paid_at: Option<Timestamp>,
    pub refund_id: Option<String>,
    /// Why the money goes back, in words for the admin's list.
    pub refund_reason: Option<String>,
    pub refunded_at: Option<Timestamp>,
    /// Calls to the provider made for the refund so far.
    pub attempts: i64,
    /// When the refund worker tries next (only while `refund_pending`).
    pub next_attempt_at: Option<Timestamp>,
    /// The provider's last refusal, for the admin (never a secret or a card detail).
    pub last_error: Option<String>,
    /// Who took a desk payment.
    pub recorded_by: Option<UserId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A payment with the names and the visit time an admin's list shows.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentView {
    pub record: PaymentRecord,
    pub patient_name: String,
    pub doctor_name: String,
    pub appointment_start: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct PaymentFilter {
    /// Any of these (all when empty).
    pub statuses: Vec<PaymentStatus>,
    pub methods: Vec<PaymentMethod>,
    /// Created at or after.
    pub from: Option<Timestamp>,
    /// Created before.
    pub to: Option<Timestamp>,
    pub doctor_id: Option<UserId>,
    pub patient_id: Option<UserId>,
}

pub trait PaymentTx {
    /// A second payment of an appointment that is pending or holds money is a
    /// [`super::Conflict::PaymentExists`].
    fn insert_payment(&mut self, payment: &PaymentRecord) -> StoreResult<()>;
    fn update_payment(&mut self, payment: &PaymentRecord) -> StoreResult<()>;
    fn find_payment(&mut self, id: &PaymentId) -> StoreResult<Option<PaymentRecord>>;
    fn find_payment_by_checkout(&mut self, session_id: &str) -> StoreResult<Option<PaymentRecord>>;
    /// The appointment's latest payment.
    fn latest_payment(&mut self, appointment: &AppointmentId)
    -> StoreResult<Option<PaymentRecord>>;
    /// Newest first; the cursor is (`created_at` in ms, id).
    fn list_payments(
        &mut self,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<PaymentView>>;
    /// Payments whose money moved in `[from, to)`: paid or refunded then.
    fn payments_with_money_between(
        &mut self,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<PaymentRecord>>;
    /// Pending payments whose hold ran out at or before `now`, oldest hold first.
    fn expired_holds(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<PaymentRecord>>;
    /// Refunds owed whose next attempt is due at or before `now`.
    fn due_refunds(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<PaymentRecord>>;
    /// Notes that the provider's event was acted on; `false` when it was before.
    fn record_provider_event(
        &mut self,
        event_id: &str,
        kind: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
}
