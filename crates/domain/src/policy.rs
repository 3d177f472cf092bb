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
    /// Send the patient a reminder of the appointment now.
    SendReminder,
    /// Read the delivery log of every channel and retry failed deliveries.
    ManageDeliveries,
    /// Clinic statistics: appointments by day and status, doctors' utilisation.
    ViewStatistics,
    /// Write the visit record of an appointment (its doctor).
    WriteRecord,
    /// Amend a visit record: a new version (its author only).
    AmendRecord,
    /// Read clinical content: a record, its versions, the health summary, a
    /// prescription, an attachment (the patient; a doctor with a care relationship).
    ReadClinical,
    /// Read clinical content with a stated reason, flagged in the audit log and in
    /// the patient's access history (admins only).
    ReadClinicalBreakGlass,
    /// List a patient's record entries: dates and authors, no clinical field.
    ListRecordEntries,
    /// State (patient) or confirm / correct (doctor with care) the health summary.
    EditHealthSummary,
    /// Issue a prescription for the subject appointment (its doctor).
    IssuePrescription,
    /// Revoke a prescription ([`Subject::Record`], its author): only the doctor who
    /// issued it.
    RevokePrescription,
    /// Rate a completed visit and edit that rating (its patient).
    RateVisit,
    /// Reply to the feedback on a visit (its doctor).
    ReplyToFeedback,
    /// Hide an abusive feedback comment; it is kept (admins).
    HideFeedback,
    // --- chat (issue 10) ---
    /// Get or create the conversation of a patient and a doctor.
    OpenConversation,
    /// Read a conversation, write in it, mark it read, show typing.
    UseConversation,
    /// Mark a conversation closed (a new booking between the pair reopens it).
    CloseConversation,
    /// Upload a file (lab report, scan) to a patient's file or visit: the patient;
    /// a doctor with a care relationship.
    UploadAttachment,
    /// Delete an uploaded file: its uploader (the `author` of a [`Subject::Record`]),
    /// while they may still read the patient's data.
    DeleteAttachment,
    /// See a user's profile photo ([`Subject::User`], `treated_by_actor` meaning a
    /// care relationship). A doctor's photo is public, as their profile is (the app
    /// shows it to visitors without an account too); a patient's only to themself,
    /// the front desk, admins and doctors caring for them; a staff member's to
    /// themself and staff.
    ViewPhoto,
    // --- payments (issue 11) ---
    /// Record a payment taken at the desk (cash, card terminal) for an appointment.
    RecordPayment,
    /// The clinic's payments: the list, the daily totals, the CSV export.
    ViewPayments,
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
    /// A patient's clinical data as a whole. `care`: the actor is a doctor with a
    /// care relationship with this patient (see [`AppointmentStatus::makes_care_relationship`]).
    ///
    /// [`AppointmentStatus::makes_care_relationship`]: crate::AppointmentStatus::makes_care_relationship
    Chart { patient: &'a UserId, care: bool },
    /// One clinical item (a visit record, a prescription) of `patient`, written by
    /// `author`. `care` as for [`Subject::Chart`].
    Record {
        patient: &'a UserId,
        author: &'a UserId,
        care: bool,
    },
    /// The conversation of a patient and a doctor. `have_appointment`: the two share
    /// an appointment, past or live, of any status.
    Conversation {
        patient: &'a UserId,
        doctor: &'a UserId,
        have_appointment: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("you are not allowed to do this")]
pub struct Denied;

/// Decides whether `actor` may do `action` to `subject`. Everything not granted here
/// is denied, including every (action, subject) pairing that makes no sense (a move
/// on the clinic, a schedule edit on a patient).
///
/// Relationships are derived by comparing ids. Those that carry clinical authority
/// ("the appointment's doctor", "that doctor", "a patient they treat") also require
/// the actor's role to be `Doctor`, so an account whose role was changed away from
/// doctor loses them. Being "self" or "the appointment's patient" needs only the id.
pub fn authorize(actor: &Actor, action: Action, subject: Subject<'_>) -> Result<(), Denied> {
    if allows(actor, action, subject) {
        Ok(())
    } else {
        Err(Denied)
    }
}

fn allows(actor: &Actor, action: Action, subject: Subject<'_>) -> bool {
    let role = actor.role;
    let is_admin = role == Role::Admin;
    let is_receptionist = role == Role::Receptionist;
    match (action, subject) {
        // Admins create any account; the front desk registers patients.
        (Action::CreateUser(new_role), Subject::Clinic) => {
            is_admin || (is_receptionist && new_role == Role::Patient)
        }
        (Action::ListUsers, Subject::Clinic) => role.is_staff(),
        (
            Action::ViewUser,
            Subject::User {
                id,
                role: subject_role,
                treated_by_actor,
            },
        ) => {
            is_self(actor, id)
                || match role {
                    Role::Admin => true,
                    Role::Receptionist => subject_role == Role::Patient,
                    Role::Doctor => treated_by_actor && subject_role == Role::Patient,
                    Role::Patient => false,
                }
        }
        (
            Action::UpdateUserProfile,
            Subject::User {
                id,
                role: subject_role,
                ..
            },
        ) => is_self(actor, id) || is_admin || (is_receptionist && subject_role == Role::Patient),
        // An admin must not lock themselves out.
        (Action::ChangeRole | Action::SetUserActive, Subject::User { id, .. }) => {
            is_admin && !is_self(actor, id)
        }
        (
            Action::ApproveDoctor,
            Subject::User {
                role: Role::Doctor, ..
            }
            | Subject::Doctor(_),
        ) => is_admin,
        (
            Action::ReadAudit
            | Action::ManageSpecialties
            | Action::ManageDeliveries
            | Action::ViewStatistics
            | Action::ViewPayments,
            Subject::Clinic,
        ) => is_admin,
        // Money is the front desk's: a doctor does not take fees.
        (Action::RecordPayment, Subject::Appointment { .. }) => role.is_staff(),
        (Action::EditDoctorProfile | Action::EditSchedule, Subject::Doctor(doctor)) => {
            is_admin || is_that_doctor(actor, doctor)
        }
        (Action::ViewSchedule, Subject::Doctor(doctor)) => {
            role.is_staff() || is_that_doctor(actor, doctor)
        }
        // Doctors don't book: the front desk does it for them.
        (Action::BookAppointment, Subject::Patient(patient)) => {
            role.is_staff() || (role == Role::Patient && is_self(actor, patient))
        }
        (Action::ViewAppointment, Subject::Appointment { patient, doctor }) => {
            role.is_staff() || is_self(actor, patient) || is_that_doctor(actor, doctor)
        }
        (Action::Move(transition), Subject::Appointment { patient, doctor }) => {
            let by_staff = match transition {
                Transition::Complete => is_admin,
                Transition::Confirm
                | Transition::Reject
                | Transition::Cancel
                | Transition::Reschedule
                | Transition::CheckIn
                | Transition::NoShow => role.is_staff(),
            };
            let by_patient = matches!(transition, Transition::Cancel | Transition::Reschedule)
                && is_self(actor, patient);
            // The appointment's doctor may make every move.
            by_staff || by_patient || is_that_doctor(actor, doctor)
        }
        (Action::SendReminder, Subject::Appointment { doctor, .. }) => {
            role.is_staff() || is_that_doctor(actor, doctor)
        }
        // Clinical data. The front desk and admins never read it in the normal way;
        // an admin may break the glass, with a reason the app records.
        (Action::WriteRecord, Subject::Appointment { doctor, .. }) => is_that_doctor(actor, doctor),
        (Action::AmendRecord, Subject::Record { author, .. }) => is_that_doctor(actor, author),
        (
            Action::ReadClinical,
            Subject::Chart { patient, care } | Subject::Record { patient, care, .. },
        ) => is_self(actor, patient) || has_care(actor, care),
        (Action::ReadClinicalBreakGlass, Subject::Chart { .. } | Subject::Record { .. }) => {
            is_admin
        }
        (Action::ListRecordEntries, Subject::Chart { patient, care }) => {
            role.is_staff() || is_self(actor, patient) || has_care(actor, care)
        }
        (Action::EditHealthSummary, Subject::Chart { patient, care }) => {
            is_self(actor, patient) || has_care(actor, care)
        }
        (Action::IssuePrescription, Subject::Appointment { doctor, .. }) => {
            is_that_doctor(actor, doctor)
        }
        (Action::RevokePrescription, Subject::Record { author, .. }) => {
            is_that_doctor(actor, author)
        }
        // Feedback: the visit's patient rates it, its doctor replies, an admin hides.
        (Action::RateVisit, Subject::Appointment { patient, .. }) => is_self(actor, patient),
        (Action::ReplyToFeedback, Subject::Appointment { doctor, .. }) => {
            is_that_doctor(actor, doctor)
        }
        (Action::HideFeedback, Subject::Clinic) => is_admin,
        // --- chat (issue 10): only the two people of the conversation, and only
        // when they share an appointment (any status). Staff and admins never read
        // it.
        (
            Action::OpenConversation | Action::UseConversation,
            Subject::Conversation {
                patient,
                doctor,
                have_appointment,
            },
        ) => have_appointment && (is_self(actor, patient) || is_that_doctor(actor, doctor)),
        (
            Action::CloseConversation,
            Subject::Conversation {
                doctor,
                have_appointment,
                ..
            },
        ) => have_appointment && is_that_doctor(actor, doctor),
        (Action::UploadAttachment, Subject::Chart { patient, care }) => {
            (role == Role::Patient && is_self(actor, patient)) || has_care(actor, care)
        }
        (
            Action::DeleteAttachment,
            Subject::Record {
                patient,
                author,
                care,
            },
        ) => is_self(actor, author) && (is_self(actor, patient) || has_care(actor, care)),
        (
            Action::ViewPhoto,
            Subject::User {
                id,
                role: subject_role,
                treated_by_actor,
            },
        ) => {
            is_self(actor, id)
                || subject_role == Role::Doctor
                || role.is_staff()
                || (subject_role == Role::Patient && has_care(actor, treated_by_actor))
        }
        _ => false,
    }
}

fn is_self(actor: &Actor, id: &UserId) -> bool {
    actor.user_id == *id
}

fn is_that_doctor(actor: &Actor, doctor: &UserId) -> bool {
    actor.role == Role::Doctor && actor.user_id == *doctor
}

/// A care relationship carries clinical authority only while the actor is a doctor.
fn has_care(actor: &Actor, care: bool) -> bool {
    actor.role == Role::Doctor && care
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The actors of the table, one column each:
    ///
    /// | column | id     | role         | relationship to the fixtures below              |
    /// |--------|--------|--------------|--------------------------------------------------|
    /// | `P`    | `pat`  | patient      | the appointment's patient; treated by `doc`      |
    /// | `P2`   | `pat2` | patient      | an unrelated patient                             |
    /// | `D`    | `doc`  | doctor       | the appointment's doctor; owns `Doctor(doc)`     |
    /// | `D2`   | `doc2` | doctor       | an unrelated doctor                              |
    /// | `R`    | `rec`  | receptionist |                                                  |
    /// | `A`    | `adm`  | admin        |                                                  |
    const COLUMNS: [(&str, Role); 6] = [
        ("pat", Role::Patient),
        ("pat2", Role::Patient),
        ("doc", Role::Doctor),
        ("doc2", Role::Doctor),
        ("rec", Role::Receptionist),
        ("adm", Role::Admin),
    ];

    /// The subjects of the table.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Subj {
        Clinic,
        /// Patient `pat`; `treated_by_actor` is true for `doc` (and only `doc`).
        UserPat,
        /// Doctor `doc`.
        UserDoc,
        /// Doctor `doc2`, with `treated_by_actor` true for `doc`: "treated" counts only
        /// for patients.
        UserDoc2,
        /// Receptionist `rec`.
        UserRec,
        /// Another receptionist.
        UserRec2,
        /// Admin `adm`.
        UserAdm,
        /// Another admin.
        UserAdm2,
        /// `Subject::Doctor(doc)`.
        DoctorDoc,
        /// `Subject::Patient(pat)`.
        PatientPat,
        /// The appointment of patient `pat` with doctor `doc`.
        Appt,
        /// Patient `pat`'s clinical data; `doc` (only) has a care relationship.
        ChartPat,
        /// A visit record of `pat` written by `doc`; `doc` (only) has care.
        RecordDoc,
        /// A visit record of `pat` written by `doc2`, who no longer has care (the
        /// author's right to amend does not depend on it); `doc` has care.
        RecordDoc2,
        /// The conversation of `pat` and `doc`, who share an appointment.
        Conv,
        /// A conversation of `pat` and `doc` without an appointment between them.
        ConvNoAppt,
        /// A file of `pat` uploaded by `pat` themself; `doc` (only) has care.
        RecordPat,
    }

    impl Subj {
        const ALL: [Subj; 17] = [
            Subj::Clinic,
            Subj::UserPat,
            Subj::UserDoc,
            Subj::UserDoc2,
            Subj::UserRec,
            Subj::UserRec2,
            Subj::UserAdm,
            Subj::UserAdm2,
            Subj::DoctorDoc,
            Subj::PatientPat,
            Subj::Appt,
            Subj::ChartPat,
            Subj::RecordDoc,
            Subj::RecordDoc2,
            Subj::Conv,
            Subj::ConvNoAppt,
            Subj::RecordPat,
        ];
    }

    struct Ids {
        pat: UserId,
        doc: UserId,
        doc2: UserId,
        rec: UserId,
        rec2: UserId,
        adm: UserId,
        adm2: UserId,
    }

    impl Ids {
        fn new() -> Ids {
            Ids {
                pat: UserId::new("pat"),
                doc: UserId::new("doc"),
                doc2: UserId::new("doc2"),
                rec: UserId::new("rec"),
                rec2: UserId::new("rec2"),
                adm: UserId::new("adm"),
                adm2: UserId::new("adm2"),
            }
        }

        fn subject<'a>(&'a self, subj: Subj, actor: &Actor) -> Subject<'a> {
            let by_doc = actor.user_id == self.doc;
            let user = |id: &'a UserId, role: Role, treated_by_actor: bool| Subject::User {
                id,
                role,
                treated_by_actor,
            };
            match subj {
                Subj::Clinic => Subject::Clinic,
                Subj::UserPat => user(&self.pat, Role::Patient, by_doc),
                Subj::UserDoc => user(&self.doc, Role::Doctor, false),
                Subj::UserDoc2 => user(&self.doc2, Role::Doctor, by_doc),
                Subj::UserRec => user(&self.rec, Role::Receptionist, false),
                Subj::UserRec2 => user(&self.rec2, Role::Receptionist, false),
                Subj::UserAdm => user(&self.adm, Role::Admin, false),
                Subj::UserAdm2 => user(&self.adm2, Role::Admin, false),
                Subj::DoctorDoc => Subject::Doctor(&self.doc),
                Subj::PatientPat => Subject::Patient(&self.pat),
                Subj::Appt => Subject::Appointment {
                    patient: &self.pat,
                    doctor: &self.doc,
                },
                Subj::ChartPat => Subject::Chart {
                    patient: &self.pat,
                    care: by_doc,
                },
                Subj::RecordDoc => Subject::Record {
                    patient: &self.pat,
                    author: &self.doc,
                    care: by_doc,
                },
                Subj::RecordDoc2 => Subject::Record {
                    patient: &self.pat,
                    author: &self.doc2,
                    care: by_doc,
                },
                Subj::Conv => Subject::Conversation {
                    patient: &self.pat,
                    doctor: &self.doc,
                    have_appointment: true,
                },
                Subj::ConvNoAppt => Subject::Conversation {
                    patient: &self.pat,
                    doctor: &self.doc,
                    have_appointment: false,
                },
                Subj::RecordPat => Subject::Record {
                    patient: &self.pat,
                    author: &self.pat,
                    care: by_doc,
                },
            }
        }
    }

    type Rows = &'static [(Subj, &'static str)];

    /// Declares the table once and derives from it both the list of actions the tests
    /// walk and `expected_rows`, a `match` without a wildcard: adding an `Action`, a
    /// `Role` or a `Transition` stops this module compiling until the table has a row
    /// for it, and an action with a row is necessarily walked.
    macro_rules! policy_table {
        ($( $action:ident $(($arg:path))? => [$($subj:ident : $cells:literal),* $(,)?] ),* $(,)?) => {
            const ACTIONS: &[Action] = &[$(Action::$action $(($arg))?),*];

            fn expected_rows(action: Action) -> Rows {
                match action {
                    $(Action::$action $(($arg))? => &[$((Subj::$subj, $cells)),*],)*
                }
            }
        };
    }

    // `Y` allowed, `.` denied. Any (action, subject) pair without a row is denied to
    // everyone (`pairs_without_a_row_are_denied_to_everyone`).
    policy_table! {
        //                                              P  P2 D  D2 R  A
        CreateUser(Role::Patient)      => [Clinic:     ".  .  .  .  Y  Y"],
        CreateUser(Role::Doctor)       => [Clinic:     ".  .  .  .  .  Y"],
        CreateUser(Role::Receptionist) => [Clinic:     ".  .  .  .  .  Y"],
        CreateUser(Role::Admin)        => [Clinic:     ".  .  .  .  .  Y"],
        ListUsers                      => [Clinic:     ".  .  .  .  Y  Y"],
        ViewUser                       => [
                                           UserPat:    "Y  .  Y  .  Y  Y",
                                           UserDoc:    ".  .  Y  .  .  Y",
                                           UserDoc2:   ".  .  .  Y  .  Y",
                                           UserRec:    ".  .  .  .  Y  Y",
                                           UserRec2:   ".  .  .  .  .  Y",
                                           UserAdm:    ".  .  .  .  .  Y",
                                           UserAdm2:   ".  .  .  .  .  Y",
                                          ],
        UpdateUserProfile              => [
                                           UserPat:    "Y  .  .  .  Y  Y",
                                           UserDoc:    ".  .  Y  .  .  Y",
                                           UserDoc2:   ".  .  .  Y  .  Y",
                                           UserRec:    ".  .  .  .  Y  Y",
                                           UserRec2:   ".  .  .  .  .  Y",
                                           UserAdm:    ".  .  .  .  .  Y",
                                           UserAdm2:   ".  .  .  .  .  Y",
                                          ],
        ChangeRole                     => [
                                           UserPat:    ".  .  .  .  .  Y",
                                           UserDoc:    ".  .  .  .  .  Y",
                                           UserDoc2:   ".  .  .  .  .  Y",
                                           UserRec:    ".  .  .  .  .  Y",
                                           UserRec2:   ".  .  .  .  .  Y",
                                           UserAdm:    ".  .  .  .  .  .",
                                           UserAdm2:   ".  .  .  .  .  Y",
                                          ],
        SetUserActive                  => [
                                           UserPat:    ".  .  .  .  .  Y",
                                           UserDoc:    ".  .  .  .  .  Y",
                                           UserDoc2:   ".  .  .  .  .  Y",
                                           UserRec:    ".  .  .  .  .  Y",
                                           UserRec2:   ".  .  .  .  .  Y",
                                           UserAdm:    ".  .  .  .  .  .",
                                           UserAdm2:   ".  .  .  .  .  Y",
                                          ],
        ApproveDoctor                  => [
                                           UserDoc:    ".  .  .  .  .  Y",
                                           UserDoc2:   ".  .  .  .  .  Y",
                                           DoctorDoc:  ".  .  .  .  .  Y",
                                          ],
        ReadAudit                      => [Clinic:     ".  .  .  .  .  Y"],
        ManageSpecialties              => [Clinic:     ".  .  .  .  .  Y"],
        ManageDeliveries               => [Clinic:     ".  .  .  .  .  Y"],
        ViewStatistics                 => [Clinic:     ".  .  .  .  .  Y"],
        ViewPayments                   => [Clinic:     ".  .  .  .  .  Y"],
        RecordPayment                  => [Appt:       ".  .  .  .  Y  Y"],
        SendReminder                   => [Appt:       ".  .  Y  .  Y  Y"],
        EditDoctorProfile              => [DoctorDoc:  ".  .  Y  .  .  Y"],
        ViewSchedule                   => [DoctorDoc:  ".  .  Y  .  Y  Y"],
        EditSchedule                   => [DoctorDoc:  ".  .  Y  .  .  Y"],
        BookAppointment                => [PatientPat: "Y  .  .  .  Y  Y"],
        ViewAppointment                => [Appt:       "Y  .  Y  .  Y  Y"],
        Move(Transition::Confirm)      => [Appt:       ".  .  Y  .  Y  Y"],
        Move(Transition::Reject)       => [Appt:       ".  .  Y  .  Y  Y"],
        Move(Transition::Cancel)       => [Appt:       "Y  .  Y  .  Y  Y"],
        Move(Transition::Reschedule)   => [Appt:       "Y  .  Y  .  Y  Y"],
        Move(Transition::CheckIn)      => [Appt:       ".  .  Y  .  Y  Y"],
        Move(Transition::Complete)     => [Appt:       ".  .  Y  .  .  Y"],
        Move(Transition::NoShow)       => [Appt:       ".  .  Y  .  Y  Y"],
        WriteRecord                    => [Appt:       ".  .  Y  .  .  ."],
        AmendRecord                    => [
                                           RecordDoc:  ".  .  Y  .  .  .",
                                           RecordDoc2: ".  .  .  Y  .  .",
                                          ],
        ReadClinical                   => [
                                           ChartPat:   "Y  .  Y  .  .  .",
                                           RecordDoc:  "Y  .  Y  .  .  .",
                                           RecordDoc2: "Y  .  Y  .  .  .",
                                           RecordPat:  "Y  .  Y  .  .  .",
                                          ],
        ReadClinicalBreakGlass         => [
                                           ChartPat:   ".  .  .  .  .  Y",
                                           RecordDoc:  ".  .  .  .  .  Y",
                                           RecordDoc2: ".  .  .  .  .  Y",
                                           RecordPat:  ".  .  .  .  .  Y",
                                          ],
        ListRecordEntries              => [ChartPat:   "Y  .  Y  .  Y  Y"],
        EditHealthSummary              => [ChartPat:   "Y  .  Y  .  .  ."],
        IssuePrescription              => [Appt:       ".  .  Y  .  .  ."],
        RevokePrescription             => [
                                           RecordDoc:  ".  .  Y  .  .  .",
                                           RecordDoc2: ".  .  .  Y  .  .",
                                          ],
        RateVisit                      => [Appt:       "Y  .  .  .  .  ."],
        ReplyToFeedback                => [Appt:       ".  .  Y  .  .  ."],
        HideFeedback                   => [Clinic:     ".  .  .  .  .  Y"],
        // chat (issue 10)
        OpenConversation               => [
                                           Conv:       "Y  .  Y  .  .  .",
                                           ConvNoAppt: ".  .  .  .  .  .",
                                          ],
        UseConversation                => [
                                           Conv:       "Y  .  Y  .  .  .",
                                           ConvNoAppt: ".  .  .  .  .  .",
                                          ],
        CloseConversation              => [
                                           Conv:       ".  .  Y  .  .  .",
                                           ConvNoAppt: ".  .  .  .  .  .",
                                          ],
        UploadAttachment               => [ChartPat:   "Y  .  Y  .  .  ."],
        DeleteAttachment               => [
                                           RecordDoc:  ".  .  Y  .  .  .",
                                           RecordDoc2: ".  .  .  .  .  .",
                                           RecordPat:  "Y  .  .  .  .  ."],
        ViewPhoto                      => [
                                           UserPat:    "Y  .  Y  .  Y  Y",
                                           UserDoc:    "Y  Y  Y  Y  Y  Y",
                                           UserDoc2:   "Y  Y  Y  Y  Y  Y",
                                           UserRec:    ".  .  .  .  Y  Y",
                                           UserRec2:   ".  .  .  .  Y  Y",
                                           UserAdm:    ".  .  .  .  Y  Y",
                                           UserAdm2:   ".  .  .  .  Y  Y",
                                          ],
    }

    fn actor(id: &str, role: Role) -> Actor {
        Actor {
            user_id: UserId::new(id),
            role,
        }
    }

    fn parse_cells(cells: &str) -> Vec<bool> {
        cells
            .split_whitespace()
            .map(|cell| match cell {
                "Y" => true,
                "." => false,
                other => panic!("bad cell {other:?} in {cells:?}"),
            })
            .collect()
    }

    /// Compares one row against `authorize`, returning a line per mismatching cell.
    fn check_row(ids: &Ids, action: Action, subj: Subj, expected: &[bool]) -> Vec<String> {
        assert_eq!(expected.len(), COLUMNS.len(), "{action:?} on {subj:?}");
        COLUMNS
            .iter()
            .zip(expected)
            .filter_map(|(&(id, role), &want)| {
                let actor = actor(id, role);
                let got = authorize(&actor, action, ids.subject(subj, &actor)).is_ok();
                (got != want).then(|| {
                    format!("{action:?} on {subj:?} by {id} ({role:?}): expected {want}, got {got}")
                })
            })
            .collect()
    }

    #[test]
    fn authorize_matches_the_table() {
        let ids = Ids::new();
        let mut mismatches = Vec::new();
        for &action in ACTIONS {
            for &(subj, cells) in expected_rows(action) {
                mismatches.extend(check_row(&ids, action, subj, &parse_cells(cells)));
            }
        }
        assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
    }

    #[test]
    fn pairs_without_a_row_are_denied_to_everyone() {
        let ids = Ids::new();
        let nobody = [false; COLUMNS.len()];
        let mut mismatches = Vec::new();
        for &action in ACTIONS {
            let rows = expected_rows(action);
            for subj in Subj::ALL {
                if rows.iter().all(|&(listed, _)| listed != subj) {
                    mismatches.extend(check_row(&ids, action, subj, &nobody));
                }
            }
        }
        assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
    }

    #[test]
    fn the_table_covers_every_action_once() {
        // Exhaustiveness is the compiler's (see `policy_table!`); this checks the
        // parameterised variants are walked for every value and nothing twice.
        let expected = Role::ALL.len() + 28 + 3 + 2 + 2 + Transition::ALL.len();
        assert_eq!(ACTIONS.len(), expected);
        for (i, a) in ACTIONS.iter().enumerate() {
            assert!(!ACTIONS[..i].contains(a), "{a:?} listed twice");
        }
        for role in Role::ALL {
            assert!(ACTIONS.contains(&Action::CreateUser(role)));
        }
        for transition in Transition::ALL {
            assert!(ACTIONS.contains(&Action::Move(transition)));
        }
        for &action in ACTIONS {
            let rows = expected_rows(action);
            assert!(!rows.is_empty(), "{action:?} has no row");
            for (i, (subj, _)) in rows.iter().enumerate() {
                assert!(
                    !rows[..i].iter().any(|(s, _)| s == subj),
                    "{action:?} on {subj:?} listed twice"
                );
            }
        }
    }

    #[test]
    fn doctor_relationships_need_the_doctor_role() {
        // An account whose role was changed from doctor keeps its id on old
        // appointments and its schedule, but loses the doctor's rights over them.
        let ids = Ids::new();
        let former_doctor = actor("doc", Role::Patient);
        let appt = ids.subject(Subj::Appt, &former_doctor);
        for transition in Transition::ALL {
            assert_eq!(
                authorize(&former_doctor, Action::Move(transition), appt),
                Err(Denied),
                "{transition:?}"
            );
        }
        assert_eq!(
            authorize(&former_doctor, Action::ViewAppointment, appt),
            Err(Denied)
        );
        for action in [
            Action::ViewSchedule,
            Action::EditSchedule,
            Action::EditDoctorProfile,
        ] {
            assert_eq!(
                authorize(&former_doctor, action, Subject::Doctor(&ids.doc)),
                Err(Denied),
                "{action:?}"
            );
        }
    }

    #[test]
    fn a_care_relationship_counts_only_for_doctors() {
        // `care` is the app's fact about the actor's appointments; it carries
        // clinical authority only while the actor is a doctor.
        let ids = Ids::new();
        let chart = Subject::Chart {
            patient: &ids.pat,
            care: true,
        };
        for role in [Role::Patient, Role::Receptionist, Role::Admin] {
            let other = actor("doc", role);
            for action in [Action::ReadClinical, Action::EditHealthSummary] {
                assert_eq!(authorize(&other, action, chart), Err(Denied), "{role:?}");
            }
        }
        assert_eq!(
            authorize(&actor("doc2", Role::Doctor), Action::ReadClinical, chart),
            Ok(())
        );
        // Without care, no doctor reads or edits, and the front desk lists but never
        // reads.
        let no_care = Subject::Chart {
            patient: &ids.pat,
            care: false,
        };
        let doc = actor("doc", Role::Doctor);
        assert_eq!(authorize(&doc, Action::ReadClinical, no_care), Err(Denied));
        assert_eq!(
            authorize(&doc, Action::ListRecordEntries, no_care),
            Err(Denied)
        );
        // A former doctor loses the right to amend what they wrote.
        let record = Subject::Record {
            patient: &ids.pat,
            author: &ids.doc,
            care: true,
        };
        assert_eq!(
            authorize(&actor("doc", Role::Admin), Action::AmendRecord, record),
            Err(Denied)
        );
    }

    #[test]
    fn prescribing_and_replying_need_the_doctor_role() {
        // A former doctor may no longer issue, revoke or reply.
        let ids = Ids::new();
        let former = actor("doc", Role::Patient);
        let appt = ids.subject(Subj::Appt, &former);
        let rx = ids.subject(Subj::RecordDoc, &former);
        assert_eq!(
            authorize(&former, Action::IssuePrescription, appt),
            Err(Denied)
        );
        assert_eq!(
            authorize(&former, Action::RevokePrescription, rx),
            Err(Denied)
        );
        assert_eq!(
            authorize(&former, Action::ReplyToFeedback, appt),
            Err(Denied)
        );
    }

    #[test]
    fn treated_by_actor_only_counts_for_doctors() {
        let ids = Ids::new();
        let treated = Subject::User {
            id: &ids.pat,
            role: Role::Patient,
            treated_by_actor: true,
        };
        assert_eq!(
            authorize(&actor("pat2", Role::Patient), Action::ViewUser, treated),
            Err(Denied)
        );
        assert_eq!(
            authorize(&actor("doc2", Role::Doctor), Action::ViewUser, treated),
            Ok(())
        );
        // Treating a patient does not let a doctor edit their profile.
        assert_eq!(
            authorize(
                &actor("doc2", Role::Doctor),
                Action::UpdateUserProfile,
                treated
            ),
            Err(Denied)
        );
    }

    #[test]
    fn the_patient_of_an_appointment_keeps_patient_rights_whatever_the_role() {
        // A patient later made a doctor may still see and cancel their own booking.
        let ids = Ids::new();
        let promoted = actor("pat", Role::Doctor);
        let appt = ids.subject(Subj::Appt, &promoted);
        assert_eq!(authorize(&promoted, Action::ViewAppointment, appt), Ok(()));
        assert_eq!(
            authorize(&promoted, Action::Move(Transition::Cancel), appt),
            Ok(())
        );
        assert_eq!(
            authorize(&promoted, Action::Move(Transition::Confirm), appt),
            Err(Denied)
        );
        // ...but may no longer book: only patients book for themselves.
        assert_eq!(
            authorize(
                &promoted,
                Action::BookAppointment,
                Subject::Patient(&ids.pat)
            ),
            Err(Denied)
        );
    }

    #[test]
    fn only_a_doctor_speaks_for_the_conversation_doctor() {
        // An account whose role was changed away from doctor loses its
        // conversations as the doctor.
        let ids = Ids::new();
        let former_doctor = actor("doc", Role::Patient);
        let conv = ids.subject(Subj::Conv, &former_doctor);
        for action in [
            Action::OpenConversation,
            Action::UseConversation,
            Action::CloseConversation,
        ] {
            assert_eq!(authorize(&former_doctor, action, conv), Err(Denied));
        }
    }

    #[test]
    fn appointment_scope_follows_the_role() {
        let scope = |id: &str, role| appointment_scope(&actor(id, role));
        assert_eq!(
            scope("pat", Role::Patient),
            AppointmentScope::AsPatient(UserId::new("pat"))
        );
        assert_eq!(
            scope("doc", Role::Doctor),
            AppointmentScope::AsDoctor(UserId::new("doc"))
        );
        assert_eq!(scope("rec", Role::Receptionist), AppointmentScope::All);
        assert_eq!(scope("adm", Role::Admin), AppointmentScope::All);
    }
}
