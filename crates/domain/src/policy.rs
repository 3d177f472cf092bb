//! Who may do what: the one place where access is decided.
//!
//! `authorize(actor, action, subject)` is a pure function of the actor's role, the
//! action, and the actor's relationship to the subject (own account, own appointment,
//! own schedule). The table test in this module enumerates every action x role x
//! relationship; docs/POLICY.md publishes the same table.

use serde::Serialize;

use crate::appointment::Transition;
use crate::ids::UserId;
use crate::role::Role;

/// An authenticated, active user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: UserId,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Create an account of the given role on someone else's behalf.
    CreateUser(Role),
    /// List or search accounts (the app narrows a receptionist's list to patients).
    ListUsers,
    ViewUser,
    /// Name, phone, date of birth.
    UpdateUserProfile,
    ChangeRole,
    /// Deactivate or reactivate an account.
    SetUserActive,
    ApproveDoctor,
    ReadAudit,
    ManageSpecialties,
    EditDoctorProfile,
    ViewSchedule,
    /// Weekly hours, slot length, rules and time off.
    EditSchedule,
    /// Book for the subject patient.
    BookAppointment,
    ViewAppointment,
    Move(Transition),
}

/// What an action is about. Relationship facts are looked up by the app and passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// The clinic as a whole (lists, audit, specialties, creating accounts).
    Clinic,
    /// One account. `treated_by_actor`: the actor is a doctor with an appointment
    /// (any status) with this user.
    User {
        id: &'a UserId,
        role: Role,
        treated_by_actor: bool,
    },
    /// A doctor's profile or schedule.
    Doctor(&'a UserId),
    /// The patient a booking is for.
    Patient(&'a UserId),
    Appointment {
        patient: &'a UserId,
        doctor: &'a UserId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("you are not allowed to do this")]
pub struct Denied;

pub fn authorize(actor: &Actor, action: Action, subject: Subject<'_>) -> Result<(), Denied> {
    todo!("{actor:?} {action:?} {subject:?}")
}

/// Which appointments an actor's lists may show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppointmentScope {
    All,
    AsPatient(UserId),
    AsDoctor(UserId),
}

pub fn appointment_scope(actor: &Actor) -> AppointmentScope {
    match actor.role {
        Role::Patient => AppointmentScope::AsPatient(actor.user_id.clone()),
        Role::Doctor => AppointmentScope::AsDoctor(actor.user_id.clone()),
        Role::Receptionist | Role::Admin => AppointmentScope::All,
    }
}
