//! Fees: how a doctor takes theirs, what a payment goes through, when it goes back.
//!
//! A doctor who takes the fee online has each booking made by a patient wait for the
//! payment: the appointment is `awaiting_payment` and holds its slot (its claims are
//! the same as any live appointment's) until `hold_until`. The payment provider's
//! word that it was paid moves the appointment on by the doctor's confirmation rule;
//! a hold that runs out frees the slot. A payment that arrives after that is kept
//! only if the slot can still be had; otherwise it goes back.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::appointment::{AppointmentStatus, Transition, initial_status};

/// How a doctor takes the fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMode {
    /// At the desk, on the day (the default): booking never waits for money.
    #[default]
    AtClinic,
    /// Online when booking: a patient's booking waits for the payment.
    Online,
}

impl PaymentMode {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMode::AtClinic => "at_clinic",
            PaymentMode::Online => "online",
        }
    }

    pub fn parse(value: &str) -> Option<PaymentMode> {
        [PaymentMode::AtClinic, PaymentMode::Online]
            .into_iter()
            .find(|m| m.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Stripe Checkout, online.
    Stripe,
    /// Taken at the desk.
    Cash,
    /// Taken at the desk.
    CardTerminal,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 3] = [
        PaymentMethod::Stripe,
        PaymentMethod::Cash,
        PaymentMethod::CardTerminal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Stripe => "stripe",
            PaymentMethod::Cash => "cash",
            PaymentMethod::CardTerminal => "card_terminal",
        }
    }

    pub fn parse(value: &str) -> Option<PaymentMethod> {
        PaymentMethod::ALL.into_iter().find(|m| m.as_str() == value)
    }

    /// Taken at the desk: carebook only records it, and cannot give it back.
    pub fn is_at_desk(self) -> bool {
        self != PaymentMethod::Stripe
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Waiting for the patient at the provider's checkout.
    Pending,
    Paid,
    /// Owed back; the refund worker is sending it to the provider.
    RefundPending,
    Refunded,
    /// The hold ran out before the payment came.
    Expired,
    /// The visit ended (cancelled, paid at the desk instead) before the payment came.
    Cancelled,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Pending,
        PaymentStatus::Paid,
        PaymentStatus::RefundPending,
        PaymentStatus::Refunded,
        PaymentStatus::Expired,
        PaymentStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Paid => "paid",
            PaymentStatus::RefundPending => "refund_pending",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(value: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// Money was taken (it may since have gone back).
    pub fn money_taken(self) -> bool {
        matches!(
            self,
            PaymentStatus::Paid | PaymentStatus::RefundPending | PaymentStatus::Refunded
        )
    }
}

/// How long a booking waits for its online payment unless the clinic says otherwise.
pub const DEFAULT_HOLD_MINUTES: i64 = 15;

/// How long before the start a patient must cancel to have a paid fee back, unless
/// the clinic says otherwise.
pub const DEFAULT_REFUND_WINDOW_HOURS: i64 = 24;

/// Stripe refuses a Checkout Session that expires sooner than this after it is made.
pub const CHECKOUT_MIN_LIFETIME: SignedDuration = SignedDuration::from_mins(30);

/// Whether a booking made by `booked_by_patient` with a doctor of `mode` waits for
/// an online payment. Bookings made by the front desk do not: the desk takes the
/// fee in person, and a patient on the phone has no checkout page to go to.
pub fn waits_for_payment(mode: PaymentMode, booked_by_patient: bool, has_fee: bool) -> bool {
    mode == PaymentMode::Online && booked_by_patient && has_fee
}

/// The status a new booking starts in.
pub fn booking_status(waits_for_payment: bool, auto_confirm: bool) -> AppointmentStatus {
    if waits_for_payment {
        AppointmentStatus::AwaitingPayment
    } else {
        initial_status(auto_confirm)
    }
}

/// When the provider's checkout page stops taking the payment: the end of the hold,
/// or the provider's shortest lifetime when the hold is shorter. A payment made
/// after the hold ran out is the "late payment" of [`on_checkout_paid`].
pub fn checkout_expires_at(now: Timestamp, hold_until: Timestamp) -> Timestamp {
    // A minute more than the minimum: the request takes time to reach the provider.
    let earliest = now + CHECKOUT_MIN_LIFETIME + SignedDuration::from_mins(1);
    hold_until.max(earliest)
}

/// What to do when the provider says a checkout was paid, by the payment's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCheckoutPaid {
    /// The hold is still there: the visit goes ahead.
    Accept,
    /// The hold ran out: the visit goes ahead if its slot can still be had,
    /// otherwise the money goes back.
    ReclaimOrRefund,
    /// The visit ended before the payment came (cancelled, paid at the desk):
    /// the money goes back.
    Refund,
    /// Already seen (the provider sends an event more than once): nothing to do.
    AlreadyDone,
}

pub fn on_checkout_paid(status: PaymentStatus) -> OnCheckoutPaid {
    match status {
        PaymentStatus::Pending => OnCheckoutPaid::Accept,
        PaymentStatus::Expired => OnCheckoutPaid::ReclaimOrRefund,
        PaymentStatus::Cancelled => OnCheckoutPaid::Refund,
        PaymentStatus::Paid | PaymentStatus::RefundPending | PaymentStatus::Refunded => {
            OnCheckoutPaid::AlreadyDone
        }
    }
}

/// Why the desk may not take a visit's fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskRefusal {
    /// The visit was cancelled or rejected.
    NotPayable,
    /// Its latest payment holds the money already (or owes it back).
    AlreadyPaid,
}

/// Whether the desk may record a payment for a visit in `appointment` status whose
/// latest payment is `latest`. A pending online checkout does not stand in the way:
/// the desk payment calls it off.
pub fn check_desk_payment(
    appointment: AppointmentStatus,
    latest: Option<PaymentStatus>,
) -> Result<(), DeskRefusal> {
    if matches!(
        appointment,
        AppointmentStatus::Cancelled | AppointmentStatus::Rejected
    ) {
        return Err(DeskRefusal::NotPayable);
    }
    if matches!(
        latest,
        Some(PaymentStatus::Paid | PaymentStatus::RefundPending)
    ) {
        return Err(DeskRefusal::AlreadyPaid);
    }
    Ok(())
}

/// Whether a fee paid online goes back when the visit ends by `ending` without
/// taking place. The clinic's rejection or cancellation always refunds; a patient's
/// own cancellation refunds when made at least `refund_window_hours` before the
/// start (exactly then still counts), and a later one keeps the fee. A no-show or a
/// visit that took place keeps it.
pub fn refund_on_end(
    ending: Transition,
    by_patient: bool,
    start: Timestamp,
    now: Timestamp,
    refund_window_hours: i64,
) -> bool {
    match ending {
        Transition::Reject => true,
        Transition::Cancel if !by_patient => true,
        Transition::Cancel => {
            let window = SignedDuration::from_hours(refund_window_hours.clamp(0, 24 * 365));
            start
                .checked_sub(window)
                .is_ok_and(|deadline| now <= deadline)
        }
        Transition::Confirm
        | Transition::Reschedule
        | Transition::CheckIn
        | Transition::Complete
        | Transition::NoShow => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_hours(1_000_000 + hours)
    }

    #[test]
    fn names_round_trip() {
        for status in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(status.as_str()), Some(status));
        }
        for method in PaymentMethod::ALL {
            assert_eq!(PaymentMethod::parse(method.as_str()), Some(method));
        }
        for mode in [PaymentMode::AtClinic, PaymentMode::Online] {
            assert_eq!(PaymentMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(PaymentMode::parse("later"), None);
        assert_eq!(PaymentMode::default(), PaymentMode::AtClinic);
    }

    #[test]
    fn only_a_patients_own_booking_with_an_online_doctor_and_a_fee_waits() {
        assert!(waits_for_payment(PaymentMode::Online, true, true));
        assert!(!waits_for_payment(PaymentMode::Online, false, true));
        assert!(!waits_for_payment(PaymentMode::Online, true, false));
        assert!(!waits_for_payment(PaymentMode::AtClinic, true, true));
        assert_eq!(
            booking_status(true, true),
            AppointmentStatus::AwaitingPayment
        );
        assert_eq!(booking_status(false, true), AppointmentStatus::Confirmed);
        assert_eq!(booking_status(false, false), AppointmentStatus::Requested);
    }

    #[test]
    fn the_checkout_lives_at_least_as_long_as_the_provider_demands() {
        let now = at(0);
        let short_hold = now + SignedDuration::from_mins(15);
        assert_eq!(
            checkout_expires_at(now, short_hold),
            now + SignedDuration::from_mins(31)
        );
        let long_hold = now + SignedDuration::from_hours(2);
        assert_eq!(checkout_expires_at(now, long_hold), long_hold);
    }

    #[test]
    fn a_late_or_repeated_payment_is_not_taken_twice() {
        use OnCheckoutPaid::*;
        use PaymentStatus::*;
        let table = [
            (Pending, Accept),
            (Paid, AlreadyDone),
            (RefundPending, AlreadyDone),
            (Refunded, AlreadyDone),
            (Expired, ReclaimOrRefund),
            (Cancelled, Refund),
        ];
        assert_eq!(table.map(|(s, _)| s), PaymentStatus::ALL);
        for (status, expected) in table {
            assert_eq!(on_checkout_paid(status), expected, "{status:?}");
        }
    }

    #[test]
    fn the_desk_takes_a_fee_once_and_never_for_an_ended_visit() {
        use AppointmentStatus as A;
        use PaymentStatus as P;
        assert_eq!(check_desk_payment(A::Requested, None), Ok(()));
        assert_eq!(
            check_desk_payment(A::AwaitingPayment, Some(P::Pending)),
            Ok(())
        );
        assert_eq!(check_desk_payment(A::Completed, Some(P::Expired)), Ok(()));
        for ended in [A::Cancelled, A::Rejected] {
            assert_eq!(
                check_desk_payment(ended, None),
                Err(DeskRefusal::NotPayable)
            );
        }
        for paid in [P::Paid, P::RefundPending] {
            assert_eq!(
                check_desk_payment(A::Confirmed, Some(paid)),
                Err(DeskRefusal::AlreadyPaid)
            );
        }
    }

    #[test]
    fn refunds_follow_who_ended_the_visit_and_when() {
        let start = at(48);
        // The clinic's decisions refund whenever they are made.
        assert!(refund_on_end(Transition::Reject, false, start, at(47), 24));
        assert!(refund_on_end(Transition::Cancel, false, start, at(47), 24));
        // The patient: up to and including the window's edge.
        assert!(refund_on_end(Transition::Cancel, true, start, at(0), 24));
        assert!(refund_on_end(Transition::Cancel, true, start, at(24), 24));
        assert!(!refund_on_end(
            Transition::Cancel,
            true,
            start,
            at(24) + SignedDuration::from_secs(1),
            24
        ));
        // A window of zero refunds any cancellation before the start.
        assert!(refund_on_end(Transition::Cancel, true, start, at(47), 0));
        // Visits that took place, or were missed, keep the fee.
        for kept in [
            Transition::NoShow,
            Transition::Complete,
            Transition::CheckIn,
        ] {
            assert!(!refund_on_end(kept, false, start, at(49), 24), "{kept:?}");
        }
    }
}
