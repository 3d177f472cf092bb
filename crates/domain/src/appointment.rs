//! The appointment lifecycle: which move leads where, and when in time it may be made.
//! *Who* may make a move is the policy's ([`crate::policy`]); this module asks it.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::policy::{Actor, Denied};
use crate::time::Interval;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Requested,
    Confirmed,
    CheckedIn,
    Completed,
    Rejected,
    Cancelled,
    NoShow,
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 7] = [
        AppointmentStatus::Requested,
        AppointmentStatus::Confirmed,
        AppointmentStatus::CheckedIn,
        AppointmentStatus::Completed,
        AppointmentStatus::Rejected,
        AppointmentStatus::Cancelled,
        AppointmentStatus::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Requested => "requested",
            AppointmentStatus::Confirmed => "confirmed",
            AppointmentStatus::CheckedIn => "checked_in",
            AppointmentStatus::Completed => "completed",
            AppointmentStatus::Rejected => "rejected",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::NoShow => "no_show",
        }
    }

    pub fn parse(value: &str) -> Option<AppointmentStatus> {
        AppointmentStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
    }

    /// A live appointment holds its slot: it blocks the doctor's time and the
    /// patient's, and holds claims in the store.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            AppointmentStatus::Requested
                | AppointmentStatus::Confirmed
                | AppointmentStatus::CheckedIn
        )
    }
}

/// A move in the lifecycle, as named in the API (`/appointments/{id}/<move>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Confirm,
    Reject,
    Cancel,
    Reschedule,
    CheckIn,
    Complete,
    NoShow,
}

impl Transition {
    pub const ALL: [Transition; 7] = [
        Transition::Confirm,
        Transition::Reject,
        Transition::Cancel,
        Transition::Reschedule,
        Transition::CheckIn,
        Transition::Complete,
        Transition::NoShow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Confirm => "confirm",
            Transition::Reject => "reject",
            Transition::Cancel => "cancel",
            Transition::Reschedule => "reschedule",
            Transition::CheckIn => "check_in",
            Transition::Complete => "complete",
            Transition::NoShow => "no_show",
        }
    }
}

/// What the lifecycle needs to know about one appointment.
#[derive(Debug, Clone)]
pub struct AppointmentFacts<'a> {
    pub status: AppointmentStatus,
    pub patient_id: &'a UserId,
    pub doctor_id: &'a UserId,
    /// The appointment's current slot.
    pub slot: Interval,
    /// The doctor's zone: check-in closes at the end of the appointment's local day.
    pub time_zone: &'a TimeZone,
    pub cancel_window_hours: i64,
    pub auto_confirm: bool,
}

/// How long before its start an appointment may be checked in.
pub const CHECK_IN_OPENS_MINUTES_BEFORE: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error(transparent)]
    Denied(#[from] Denied),
    #[error("an appointment that is {from} cannot be moved by {transition}", from = .from.as_str(), transition = .transition.as_str())]
    IllegalState {
        from: AppointmentStatus,
        transition: Transition,
    },
    #[error("patients cannot cancel or reschedule less than {hours} hours before the start")]
    CancelWindowClosed { hours: i64 },
    #[error("check-in opens {CHECK_IN_OPENS_MINUTES_BEFORE} minutes before the start")]
    CheckInNotOpen,
    #[error("check-in closed at the end of the appointment's day")]
    CheckInClosed,
    #[error("a no-show can only be recorded after the start time")]
    NotStartedYet,
}

/// Decides the status that `transition` by `actor` leads to at `now`, or why it is
/// refused. Order of checks: the policy (403), then the state (409), then time (409).
///
/// For `Reschedule` the returned status is the status the moved appointment has:
/// unchanged when staff or the doctor move it, back to `requested` when a patient
/// moves a confirmed appointment of a doctor who does not auto-confirm.
pub fn plan_transition(
    actor: &Actor,
    transition: Transition,
    facts: &AppointmentFacts<'_>,
    now: Timestamp,
) -> Result<AppointmentStatus, TransitionError> {
    todo!("{actor:?} {transition:?} {facts:?} {now}")
}

/// The status of a new booking.
pub fn initial_status(auto_confirm: bool) -> AppointmentStatus {
    if auto_confirm {
        AppointmentStatus::Confirmed
    } else {
        AppointmentStatus::Requested
    }
}
