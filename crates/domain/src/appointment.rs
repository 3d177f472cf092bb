//! The appointment lifecycle: which move leads where, and when in time it may be made.
//! *Who* may make a move is the policy's ([`crate::policy`]); this module asks it.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::ids::UserId;
use crate::policy::{Action, Actor, Denied, Subject, authorize};
use crate::role::Role;
use crate::time::Interval;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// Booked with a doctor who takes the fee online, and not paid yet: the slot is
    /// held until the payment arrives or the hold runs out (see [`crate::payment`]).
    AwaitingPayment,
    Requested,
    Confirmed,
    CheckedIn,
    Completed,
    Rejected,
    Cancelled,
    NoShow,
}

impl AppointmentStatus {
    pub const ALL: [AppointmentStatus; 8] = [
        AppointmentStatus::AwaitingPayment,
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
            AppointmentStatus::AwaitingPayment => "awaiting_payment",
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
    /// patient's, and holds claims in the store. A visit awaiting payment is live:
    /// its hold counts for the no-double-booking guarantee like any booking.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            AppointmentStatus::AwaitingPayment
                | AppointmentStatus::Requested
                | AppointmentStatus::Confirmed
                | AppointmentStatus::CheckedIn
        )
    }

    /// An appointment in this status makes a care relationship between its doctor
    /// and its patient: it is live, or the visit took place (checked in, completed).
    /// Rejected, cancelled and no-show appointments alone make none, and neither
    /// does an unpaid hold: the doctor has not even been told of it yet.
    pub fn makes_care_relationship(self) -> bool {
        (self.is_live() && self != AppointmentStatus::AwaitingPayment)
            || self == AppointmentStatus::Completed
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
    let subject = Subject::Appointment {
        patient: facts.patient_id,
        doctor: facts.doctor_id,
    };
    authorize(actor, Action::Move(transition), subject)?;

    let by_patient = moves_as_patient(actor, facts);
    let to = next_status(facts.status, transition, by_patient, facts.auto_confirm).ok_or(
        TransitionError::IllegalState {
            from: facts.status,
            transition,
        },
    )?;

    check_time(transition, by_patient, facts, now)?;
    Ok(to)
}

/// Where `transition` leads from `from`, or `None` if it is not a move from there.
/// Terminal states (completed, rejected, cancelled, no-show) have no moves.
///
/// `by_patient`: the move is the appointment's patient's (see [`moves_as_patient`]).
pub fn next_status(
    from: AppointmentStatus,
    transition: Transition,
    by_patient: bool,
    auto_confirm: bool,
) -> Option<AppointmentStatus> {
    use AppointmentStatus as S;
    match (transition, from) {
        (Transition::Confirm, S::Requested) => Some(S::Confirmed),
        (Transition::Reject, S::Requested) => Some(S::Rejected),
        // An unpaid hold can only be let go; the payment (or its running out) moves
        // it on, outside these moves (see `crate::payment`).
        (Transition::Cancel, S::AwaitingPayment | S::Requested | S::Confirmed) => {
            Some(S::Cancelled)
        }
        // The doctor has not agreed to the new time a patient picked, unless they
        // auto-confirm. A request stays a request whoever moves it.
        (Transition::Reschedule, S::Confirmed) if by_patient && !auto_confirm => Some(S::Requested),
        (Transition::Reschedule, S::Requested | S::Confirmed) => Some(from),
        // An unconfirmed request must be confirmed before the patient is checked in.
        (Transition::CheckIn, S::Confirmed) => Some(S::CheckedIn),
        (Transition::Complete, S::CheckedIn) => Some(S::Completed),
        (Transition::NoShow, S::Requested | S::Confirmed) => Some(S::NoShow),
        _ => None,
    }
}

/// Whether `actor` makes a move as the appointment's patient, and so is bound by
/// the patient's rules (the cancel window, a reschedule going back to `requested`).
/// Staff and the appointment's doctor are not, even on an appointment they are the
/// patient of.
pub fn moves_as_patient(actor: &Actor, facts: &AppointmentFacts<'_>) -> bool {
    let is_the_doctor = actor.role == Role::Doctor && actor.user_id == *facts.doctor_id;
    actor.user_id == *facts.patient_id && !actor.role.is_staff() && !is_the_doctor
}

fn check_time(
    transition: Transition,
    by_patient: bool,
    facts: &AppointmentFacts<'_>,
    now: Timestamp,
) -> Result<(), TransitionError> {
    let start = facts.slot.start;
    match transition {
        Transition::Cancel | Transition::Reschedule if by_patient => {
            // Exactly N hours before the start is still allowed. A negative window
            // counts as zero: patients never cancel after the start.
            let hours = facts.cancel_window_hours;
            let deadline = SignedDuration::try_from_hours(hours.max(0))
                .and_then(|window| start.checked_sub(window).ok())
                .unwrap_or(Timestamp::MIN);
            if now > deadline {
                return Err(TransitionError::CancelWindowClosed { hours });
            }
        }
        Transition::CheckIn => {
            let (opens, closes) = check_in_window(facts.slot, facts.time_zone);
            if now < opens {
                return Err(TransitionError::CheckInNotOpen);
            }
            if now >= closes {
                return Err(TransitionError::CheckInClosed);
            }
        }
        Transition::NoShow => {
            if now < start {
                return Err(TransitionError::NotStartedYet);
            }
        }
        Transition::Cancel
        | Transition::Reschedule
        | Transition::Confirm
        | Transition::Reject
        | Transition::Complete => {}
    }
    Ok(())
}

/// When check-in for `slot` is open, `[opens, closes)`: from
/// [`CHECK_IN_OPENS_MINUTES_BEFORE`] minutes before the start until the end of the
/// start's local day in `tz`, i.e. the first instant of the next local date (a day
/// may be 23 or 25 hours long, and may even start at 01:00 when midnight is skipped).
pub fn check_in_window(slot: Interval, tz: &TimeZone) -> (Timestamp, Timestamp) {
    let opens = slot
        .start
        .checked_sub(SignedDuration::from_mins(CHECK_IN_OPENS_MINUTES_BEFORE))
        .unwrap_or(Timestamp::MIN);
    (opens, start_of_next_local_day(slot.start, tz))
}

fn start_of_next_local_day(instant: Timestamp, tz: &TimeZone) -> Timestamp {
    tz.to_datetime(instant)
        .date()
        .tomorrow()
        .ok()
        // `to_timestamp` resolves a midnight in a gap to the first instant after it
        // and a midnight in a fold to its first occurrence: the start of the day.
        .and_then(|next| tz.to_timestamp(next.to_datetime(Time::midnight())).ok())
        // Only at the very end of representable time: the day never ends.
        .unwrap_or(Timestamp::MAX)
}

/// The status of a new booking.
pub fn initial_status(auto_confirm: bool) -> AppointmentStatus {
    if auto_confirm {
        AppointmentStatus::Confirmed
    } else {
        AppointmentStatus::Requested
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn live_and_treated_appointments_make_a_care_relationship() {
        use AppointmentStatus::*;
        for status in AppointmentStatus::ALL {
            let expected = matches!(status, Requested | Confirmed | CheckedIn | Completed);
            // AwaitingPayment: live (it holds the slot), but no care yet.
            assert_eq!(status.makes_care_relationship(), expected, "{status:?}");
        }
    }

    use jiff::civil::date;

    use super::*;

    use AppointmentStatus as S;
    use Transition as T;

    struct World {
        patient: UserId,
        doctor: UserId,
        tz: TimeZone,
    }

    impl World {
        fn berlin() -> World {
            World::in_zone("Europe/Berlin")
        }

        fn in_zone(name: &str) -> World {
            World {
                patient: UserId::new("pat"),
                doctor: UserId::new("doc"),
                tz: TimeZone::get(name).unwrap(),
            }
        }

        /// The instant the local wall clock shows the given time (first one, if twice).
        fn local(&self, y: i16, mo: i8, d: i8, h: i8, mi: i8, s: i8) -> Timestamp {
            self.tz
                .to_timestamp(date(y, mo, d).at(h, mi, s, 0))
                .unwrap()
        }

        /// A 30-minute appointment starting at `start`, 24h cancel window, no
        /// auto-confirm.
        fn facts(&self, status: AppointmentStatus, start: Timestamp) -> AppointmentFacts<'_> {
            AppointmentFacts {
                status,
                patient_id: &self.patient,
                doctor_id: &self.doctor,
                slot: Interval::starting_at(start, SignedDuration::from_mins(30)).unwrap(),
                time_zone: &self.tz,
                cancel_window_hours: 24,
                auto_confirm: false,
            }
        }

        fn patient(&self) -> Actor {
            actor("pat", Role::Patient)
        }

        fn doctor(&self) -> Actor {
            actor("doc", Role::Doctor)
        }
    }

    fn actor(id: &str, role: Role) -> Actor {
        Actor {
            user_id: UserId::new(id),
            role,
        }
    }

    fn admin() -> Actor {
        actor("adm", Role::Admin)
    }

    fn receptionist() -> Actor {
        actor("rec", Role::Receptionist)
    }

    fn secs(s: i64) -> SignedDuration {
        SignedDuration::from_secs(s)
    }

    fn mins(m: i64) -> SignedDuration {
        SignedDuration::from_mins(m)
    }

    fn hours(h: i64) -> SignedDuration {
        SignedDuration::from_hours(h)
    }

    #[test]
    fn lifecycle_table() {
        // As the admin (who passes the policy), 10 minutes after the start: inside
        // the check-in window and late enough for a no-show.
        let w = World::berlin();
        let start = w.local(2025, 6, 12, 10, 0, 0);
        let now = start + mins(10);
        // Resulting status, or `ill` for IllegalState.
        let ill: Option<AppointmentStatus> = None;
        let (req, conf, chkd, done) = (
            Some(S::Requested),
            Some(S::Confirmed),
            Some(S::CheckedIn),
            Some(S::Completed),
        );
        let (rej, canc, nosh) = (Some(S::Rejected), Some(S::Cancelled), Some(S::NoShow));
        #[rustfmt::skip]
        let table: [(AppointmentStatus, [Option<AppointmentStatus>; 7]); 8] = [
            // from         confirm     reject      cancel      reschedule  check_in    complete    no_show
            (S::AwaitingPayment, [ill,  ill,        canc,       ill,        ill,        ill,        ill]),
            (S::Requested, [conf,       rej,        canc,       req,        ill,        ill,        nosh]),
            (S::Confirmed, [ill,        ill,        canc,       conf,       chkd,       ill,        nosh]),
            (S::CheckedIn, [ill,        ill,        ill,        ill,        ill,        done,       ill]),
            (S::Completed, [ill,        ill,        ill,        ill,        ill,        ill,        ill]),
            (S::Rejected,  [ill,        ill,        ill,        ill,        ill,        ill,        ill]),
            (S::Cancelled, [ill,        ill,        ill,        ill,        ill,        ill,        ill]),
            (S::NoShow,    [ill,        ill,        ill,        ill,        ill,        ill,        ill]),
        ];
        assert_eq!(
            table.map(|(from, _)| from),
            AppointmentStatus::ALL,
            "one row per status"
        );
        let columns = [
            T::Confirm,
            T::Reject,
            T::Cancel,
            T::Reschedule,
            T::CheckIn,
            T::Complete,
            T::NoShow,
        ];
        assert_eq!(columns, Transition::ALL, "one column per transition");

        let mut mismatches = Vec::new();
        for (from, row) in table {
            for (transition, expected) in columns.into_iter().zip(row) {
                let expected = expected.ok_or(TransitionError::IllegalState { from, transition });
                let got = plan_transition(&admin(), transition, &w.facts(from, start), now);
                if got != expected {
                    mismatches.push(format!(
                        "{from:?} --{transition:?}--> expected {expected:?}, got {got:?}"
                    ));
                }
            }
        }
        assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
    }

    #[test]
    fn policy_is_checked_before_state_and_state_before_time() {
        let w = World::berlin();
        let start = w.local(2025, 6, 12, 10, 0, 0);
        // An unrelated patient, on a terminal appointment: denied, not 409.
        let stranger = actor("pat2", Role::Patient);
        assert_eq!(
            plan_transition(&stranger, T::Cancel, &w.facts(S::Completed, start), start),
            Err(TransitionError::Denied(Denied))
        );
        // A patient may not confirm, whatever the state.
        assert_eq!(
            plan_transition(
                &w.patient(),
                T::Confirm,
                &w.facts(S::Cancelled, start),
                start
            ),
            Err(TransitionError::Denied(Denied))
        );
        // The patient, inside the window, on a cancelled appointment: state first.
        assert_eq!(
            plan_transition(
                &w.patient(),
                T::Cancel,
                &w.facts(S::Cancelled, start),
                start
            ),
            Err(TransitionError::IllegalState {
                from: S::Cancelled,
                transition: T::Cancel
            })
        );
        // Check-in from requested long before the start: state first.
        assert_eq!(
            plan_transition(
                &admin(),
                T::CheckIn,
                &w.facts(S::Requested, start),
                start - hours(5)
            ),
            Err(TransitionError::IllegalState {
                from: S::Requested,
                transition: T::CheckIn
            })
        );
    }

    #[test]
    fn patient_cancel_window() {
        let w = World::berlin();
        let start = w.local(2025, 6, 12, 10, 0, 0);
        let facts = w.facts(S::Confirmed, start);
        let edge = start - hours(24);
        let closed = Err(TransitionError::CancelWindowClosed { hours: 24 });

        assert_eq!(
            plan_transition(&w.patient(), T::Cancel, &facts, edge - secs(1)),
            Ok(S::Cancelled)
        );
        assert_eq!(
            plan_transition(&w.patient(), T::Cancel, &facts, edge),
            Ok(S::Cancelled)
        );
        assert_eq!(
            plan_transition(&w.patient(), T::Cancel, &facts, edge + secs(1)),
            closed
        );
        assert_eq!(
            plan_transition(&w.patient(), T::Reschedule, &facts, edge),
            Ok(S::Requested)
        );
        assert_eq!(
            plan_transition(&w.patient(), T::Reschedule, &facts, edge + secs(1)),
            closed
        );
        // After the start, too.
        assert_eq!(
            plan_transition(&w.patient(), T::Cancel, &facts, start + hours(1)),
            closed
        );

        // Staff and the doctor are exempt, up to (and past) the start.
        for staff in [w.doctor(), receptionist(), admin()] {
            let late = start - secs(1);
            assert_eq!(
                plan_transition(&staff, T::Cancel, &facts, late),
                Ok(S::Cancelled),
                "{staff:?}"
            );
            assert_eq!(
                plan_transition(&staff, T::Reschedule, &facts, late),
                Ok(S::Confirmed),
                "{staff:?}"
            );
        }

        // The window is the doctor's setting; zero means "until the start".
        let zero = AppointmentFacts {
            cancel_window_hours: 0,
            ..w.facts(S::Requested, start)
        };
        assert_eq!(
            plan_transition(&w.patient(), T::Cancel, &zero, start),
            Ok(S::Cancelled)
        );
        assert_eq!(
            plan_transition(&w.patient(), T::Cancel, &zero, start + secs(1)),
            Err(TransitionError::CancelWindowClosed { hours: 0 })
        );
    }

    #[test]
    fn reschedule_status_depends_on_who_moves_it() {
        let w = World::berlin();
        let start = w.local(2025, 6, 12, 10, 0, 0);
        let now = start - hours(72);
        let confirmed = w.facts(S::Confirmed, start);
        let requested = w.facts(S::Requested, start);
        let auto = AppointmentFacts {
            auto_confirm: true,
            ..w.facts(S::Confirmed, start)
        };
        let auto_requested = AppointmentFacts {
            auto_confirm: true,
            ..w.facts(S::Requested, start)
        };

        // The doctor has not agreed to the patient's new time.
        assert_eq!(
            plan_transition(&w.patient(), T::Reschedule, &confirmed, now),
            Ok(S::Requested)
        );
        // Staff and the doctor keep the status.
        assert_eq!(
            plan_transition(&w.doctor(), T::Reschedule, &confirmed, now),
            Ok(S::Confirmed)
        );
        assert_eq!(
            plan_transition(&receptionist(), T::Reschedule, &confirmed, now),
            Ok(S::Confirmed)
        );
        assert_eq!(
            plan_transition(&admin(), T::Reschedule, &confirmed, now),
            Ok(S::Confirmed)
        );
        // An auto-confirming doctor agrees in advance.
        assert_eq!(
            plan_transition(&w.patient(), T::Reschedule, &auto, now),
            Ok(S::Confirmed)
        );
        // A request stays a request, auto-confirm or not.
        assert_eq!(
            plan_transition(&w.patient(), T::Reschedule, &requested, now),
            Ok(S::Requested)
        );
        assert_eq!(
            plan_transition(&w.patient(), T::Reschedule, &auto_requested, now),
            Ok(S::Requested)
        );
        assert_eq!(
            plan_transition(&w.doctor(), T::Reschedule, &requested, now),
            Ok(S::Requested)
        );
    }

    #[test]
    fn moves_as_patient_only_for_the_patient_without_other_hats() {
        let w = World::berlin();
        let facts = w.facts(S::Confirmed, w.local(2025, 6, 12, 10, 0, 0));
        assert!(moves_as_patient(&w.patient(), &facts));
        assert!(!moves_as_patient(&w.doctor(), &facts));
        assert!(!moves_as_patient(&actor("pat", Role::Receptionist), &facts));
        // A patient later made a doctor is still bound as this appointment's patient.
        assert!(moves_as_patient(&actor("pat", Role::Doctor), &facts));
    }

    fn check_in(
        w: &World,
        start: Timestamp,
        now: Timestamp,
    ) -> Result<AppointmentStatus, TransitionError> {
        plan_transition(
            &receptionist(),
            T::CheckIn,
            &w.facts(S::Confirmed, start),
            now,
        )
    }

    #[test]
    fn check_in_window_in_berlin() {
        let w = World::berlin();
        let start = w.local(2025, 6, 12, 10, 0, 0);
        assert_eq!(
            check_in(&w, start, start - mins(61)),
            Err(TransitionError::CheckInNotOpen)
        );
        assert_eq!(
            check_in(&w, start, start - mins(60) - secs(1)),
            Err(TransitionError::CheckInNotOpen)
        );
        assert_eq!(check_in(&w, start, start - mins(60)), Ok(S::CheckedIn));
        assert_eq!(check_in(&w, start, start + hours(3)), Ok(S::CheckedIn));
        assert_eq!(
            check_in(&w, start, w.local(2025, 6, 12, 23, 59, 0)),
            Ok(S::CheckedIn)
        );
        assert_eq!(
            check_in(&w, start, w.local(2025, 6, 12, 23, 59, 59)),
            Ok(S::CheckedIn)
        );
        assert_eq!(
            check_in(&w, start, w.local(2025, 6, 13, 0, 0, 0)),
            Err(TransitionError::CheckInClosed)
        );
        // Local midnight, not UTC midnight (02:00 in Berlin in summer).
        assert_eq!(
            w.local(2025, 6, 13, 0, 0, 0).to_string(),
            "2025-06-12T22:00:00Z"
        );
    }

    #[test]
    fn check_in_window_on_dst_days_in_berlin() {
        let w = World::berlin();
        // 2025-03-30: clocks jump 02:00 -> 03:00, the day has 23 hours.
        let start = w.local(2025, 3, 30, 10, 0, 0);
        let midnight = w.local(2025, 3, 31, 0, 0, 0);
        assert_eq!(
            midnight.duration_since(w.local(2025, 3, 30, 0, 0, 0)),
            SignedDuration::from_hours(23)
        );
        assert_eq!(check_in(&w, start, start - mins(60)), Ok(S::CheckedIn));
        assert_eq!(
            check_in(&w, start, w.local(2025, 3, 30, 23, 59, 0)),
            Ok(S::CheckedIn)
        );
        assert_eq!(check_in(&w, start, midnight - secs(1)), Ok(S::CheckedIn));
        assert_eq!(
            check_in(&w, start, midnight),
            Err(TransitionError::CheckInClosed)
        );

        // A 01:30 appointment on the spring-forward day: check-in opens at 00:30.
        let early = w.local(2025, 3, 30, 1, 30, 0);
        assert_eq!(
            check_in(&w, early, w.local(2025, 3, 30, 0, 29, 59)),
            Err(TransitionError::CheckInNotOpen)
        );
        assert_eq!(
            check_in(&w, early, w.local(2025, 3, 30, 0, 30, 0)),
            Ok(S::CheckedIn)
        );
        assert_eq!(
            check_in(&w, early, midnight),
            Err(TransitionError::CheckInClosed)
        );

        // 2025-10-26: clocks fall back 03:00 -> 02:00, the day has 25 hours.
        let start = w.local(2025, 10, 26, 10, 0, 0);
        let midnight = w.local(2025, 10, 27, 0, 0, 0);
        assert_eq!(
            midnight.duration_since(w.local(2025, 10, 26, 0, 0, 0)),
            SignedDuration::from_hours(25)
        );
        // 24 hours after the local day's start is still that day (23:00).
        assert_eq!(
            check_in(&w, start, w.local(2025, 10, 26, 23, 0, 0)),
            Ok(S::CheckedIn)
        );
        assert_eq!(
            check_in(&w, start, w.local(2025, 10, 26, 23, 59, 0)),
            Ok(S::CheckedIn)
        );
        assert_eq!(
            check_in(&w, start, midnight),
            Err(TransitionError::CheckInClosed)
        );
    }

    #[test]
    fn check_in_closes_when_the_next_day_starts_after_a_skipped_midnight() {
        // São Paulo, 2018-11-04: clocks jumped from 00:00 to 01:00, so that day
        // started at 01:00 local (03:00 UTC).
        let w = World::in_zone("America/Sao_Paulo");
        let start = w.local(2018, 11, 3, 15, 0, 0);
        let next_day: Timestamp = "2018-11-04T03:00:00Z".parse().unwrap();
        assert_eq!(
            check_in_window(w.facts(S::Confirmed, start).slot, &w.tz).1,
            next_day
        );
        assert_eq!(check_in(&w, start, next_day - secs(1)), Ok(S::CheckedIn));
        assert_eq!(
            check_in(&w, start, next_day),
            Err(TransitionError::CheckInClosed)
        );
    }

    #[test]
    fn no_show_only_from_the_start() {
        let w = World::berlin();
        let start = w.local(2025, 6, 12, 10, 0, 0);
        for status in [S::Requested, S::Confirmed] {
            let facts = w.facts(status, start);
            assert_eq!(
                plan_transition(&w.doctor(), T::NoShow, &facts, start - secs(1)),
                Err(TransitionError::NotStartedYet)
            );
            assert_eq!(
                plan_transition(&w.doctor(), T::NoShow, &facts, start),
                Ok(S::NoShow)
            );
            assert_eq!(
                plan_transition(&receptionist(), T::NoShow, &facts, start + hours(48)),
                Ok(S::NoShow)
            );
        }
    }

    #[test]
    fn confirm_reject_complete_have_no_time_rule() {
        let w = World::berlin();
        let start = w.local(2025, 6, 12, 10, 0, 0);
        for now in [start - hours(720), start, start + hours(720)] {
            let requested = w.facts(S::Requested, start);
            let checked_in = w.facts(S::CheckedIn, start);
            assert_eq!(
                plan_transition(&w.doctor(), T::Confirm, &requested, now),
                Ok(S::Confirmed)
            );
            assert_eq!(
                plan_transition(&w.doctor(), T::Reject, &requested, now),
                Ok(S::Rejected)
            );
            assert_eq!(
                plan_transition(&w.doctor(), T::Complete, &checked_in, now),
                Ok(S::Completed)
            );
        }
    }

    #[test]
    fn statuses_round_trip_and_initial_status() {
        for status in AppointmentStatus::ALL {
            assert_eq!(AppointmentStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(initial_status(true), S::Confirmed);
        assert_eq!(initial_status(false), S::Requested);
    }
}
