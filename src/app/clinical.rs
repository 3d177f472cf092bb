//! The ground every use case on clinical data stands on: the care relationship,
//! the clinical-read decision (normal or break-glass), and the audit of every read.
//!
//! A use case that shows clinical content (a record, the health summary, a
//! prescription, an attachment) runs in a *write* transaction, decides with
//! [`authorize_clinical_read`], and calls [`audit_clinical_read`] in that same
//! transaction, so a read that was answered is always in the log, and the log
//! never names a read that failed.

use carebook_domain::record::parse_required_reason;
use carebook_domain::{Action, Actor, Role, Subject, authorize};
use jiff::Timestamp;
use serde_json::json;

use super::{App, AppError, Page, PageParams, audit, paginate};
use crate::store::{ClinicalRead, Cursor, NewClinicalRead, StoreResult, Tx, UserId, UserRecord};

/// What was read: its kind (`record`, `record_versions`, `summary`, `prescription`,
/// `attachment`, ...) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicalSubject {
    pub kind: &'static str,
    pub id: String,
}

impl ClinicalSubject {
    pub fn new(kind: &'static str, id: impl Into<String>) -> ClinicalSubject {
        ClinicalSubject {
            kind,
            id: id.into(),
        }
    }
}

/// `?break_glass_reason=` as the client sent it; checked by [`BreakGlass::parse`].
#[derive(Debug, Clone, Default)]
pub struct BreakGlass(pub Option<String>);

impl BreakGlass {
    /// Present: trimmed, non-empty, at most 500 characters, no control characters.
    pub(crate) fn parse(self) -> Result<Option<String>, AppError> {
        self.0
            .map(|reason| parse_required_reason("break_glass_reason", &reason))
            .transpose()
            .map_err(AppError::from)
    }
}

/// Whether `actor` is a doctor with a care relationship with `patient` (an
/// appointment together that is live, checked in or completed).
pub(crate) fn has_care(tx: &mut dyn Tx, actor: &Actor, patient: &UserId) -> StoreResult<bool> {
    Ok(actor.role == Role::Doctor && tx.care_relationship(&actor.user_id, patient)?)
}

/// The patient account behind `/patients/{id}/...`, hidden (404) from those who may
/// not see it, as accounts are.
pub(crate) fn visible_patient(
    tx: &mut dyn Tx,
    actor: &Actor,
    id: &UserId,
) -> Result<UserRecord, AppError> {
    let user = tx.find_user(id)?.ok_or(AppError::NotFound("patient"))?;
    let treated_by_actor = actor.role == Role::Doctor
        && user.role == Role::Patient
        && tx.have_met(&actor.user_id, id)?;
    let subject = Subject::User {
        id: &user.id,
        role: user.role,
        treated_by_actor,
    };
    authorize(actor, Action::ViewUser, subject).map_err(|_| AppError::NotFound("patient"))?;
    if user.role != Role::Patient {
        return Err(AppError::NotFound("patient"));
    }
    Ok(user)
}

/// Decides a read of clinical content `subject` (a [`Subject::Chart`] or
/// [`Subject::Record`]). The normal right ([`Action::ReadClinical`]) comes first; a
/// `break_glass` reason counts only when it is missing, and only for admins.
/// `Ok(None)`: a normal read; `Ok(Some(reason))`: a break-glass read, to be audited
/// with its reason. `Err(Forbidden)` otherwise (the caller turns it into a 404 when
/// the actor may not even know the subject exists).
pub(crate) fn authorize_clinical_read(
    actor: &Actor,
    subject: Subject<'_>,
    break_glass: Option<&str>,
) -> Result<Option<String>, AppError> {
    if authorize(actor, Action::ReadClinical, subject).is_ok() {
        return Ok(None);
    }
    match break_glass {
        Some(reason) => {
            authorize(actor, Action::ReadClinicalBreakGlass, subject)?;
            Ok(Some(reason.to_owned()))
        }
        None => Err(AppError::Forbidden),
    }
}

/// Records one read of `patient`'s clinical data by `actor`, in the caller's
/// transaction. A break-glass read is also a flagged row of the general audit log
/// (action `clinical.break_glass`), with the reason and no clinical content.
pub(crate) fn audit_clinical_read(
    tx: &mut dyn Tx,
    at: Timestamp,
    actor: &Actor,
    patient: &UserId,
    subject: ClinicalSubject,
    break_glass: Option<&str>,
) -> StoreResult<()> {
    tx.insert_clinical_read(&NewClinicalRead {
        at,
        actor_id: actor.user_id.clone(),
        actor_role: actor.role,
        patient_id: patient.clone(),
        subject_kind: subject.kind.to_owned(),
        subject_id: subject.id.clone(),
        break_glass_reason: break_glass.map(str::to_owned),
    })?;
    if let Some(reason) = break_glass {
        audit(
            tx,
            at,
            Some(&actor.user_id),
            "clinical.break_glass",
            (subject.kind, Some(&subject.id)),
            json!({
                "break_glass": true,
                "patient_id": patient.as_str(),
                "reason": reason,
            }),
        )?;
    }
    Ok(())
}

impl App {
    /// Who read the caller's clinical data, newest first: every read, with the
    /// reader's name and role and, for a break-glass read, the stated reason.
    pub async fn list_access_log(
        &self,
        actor: &Actor,
        page: PageParams,
    ) -> Result<Page<ClinicalRead>, AppError> {
        let request = page.to_request()?;
        if let Some(cursor) = &request.after
            && cursor.id.parse::<i64>().is_err()
        {
            return Err(AppError::invalid(
                "cursor",
                "is not a cursor this server issued",
            ));
        }
        let me = actor.user_id.clone();
        let rows = {
            let request = request.clone();
            self.store
                .read(move |tx| Ok::<_, AppError>(tx.list_clinical_reads(&me, &request)?))
                .await?
        };
        Ok(paginate(rows, &request, |read| Cursor {
            key: String::new(),
            id: read.id.to_string(),
        }))
    }
}
