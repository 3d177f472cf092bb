//! Attachments: lab reports and scans uploaded to a patient's file or to one visit.
//!
//! Bytes go to the file store under a random key before the metadata row is
//! written, so a row always points at bytes; an upload whose row cannot be written
//! removes its bytes again. A deletion keeps the row (who deleted what, when) and
//! removes the bytes after the commit; a sweep retries removals that failed.

use axum::body::Bytes;
use carebook_domain::attachment::{UploadRefusal, check_upload, clean_file_name};
use carebook_domain::{Action, Actor, AppointmentId, Subject, UserId, authorize};

use super::clinical::{
    BreakGlass, ClinicalSubject, audit_clinical_read, authorize_clinical_read, has_care,
    visible_patient,
};
use super::{App, AppError, audit, hex, new_id, random_bytes, sha256_hex_bytes};
use crate::store::{AttachmentRecord, AttachmentScope, FileStore, Role, Tx};

/// Where an upload goes, and whose file a list shows.
#[derive(Debug, Clone)]
pub enum AttachmentTarget {
    /// One visit of its patient.
    Appointment(AppointmentId),
    /// The patient's general file.
    Patient(UserId),
}

/// A downloaded file: its metadata and its bytes, checked against the stored
/// checksum.
pub struct Download {
    pub attachment: AttachmentRecord,
    pub bytes: Bytes,
}

/// Deletions whose bytes are removed per sweep.
const PURGE_BATCH: u32 = 100;

impl App {
    /// The file store, opened on first use (so that a test or tool that never
    /// touches a file never creates its folder). `serve` opens it at start, so a
    /// broken setting stops the start instead of the first upload.
    pub fn files(&self) -> Result<&FileStore, AppError> {
        self.files
            .get_or_init(|| {
                FileStore::open(&self.settings.attachment_location()).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|message| AppError::FileStoreUnavailable(message.clone()))
    }

    pub async fn upload_attachment(
        &self,
        actor: &Actor,
        target: AttachmentTarget,
        file_name: &str,
        bytes: Bytes,
    ) -> Result<AttachmentRecord, AppError> {
        let file_type = match check_upload(&bytes, self.settings.attachment_max_bytes) {
            Ok(file_type) => file_type,
            Err(UploadRefusal::TooLarge { max_bytes }) => {
                return Err(AppError::TooLarge { max_bytes });
            }
            Err(UploadRefusal::UnsupportedType) => return Err(AppError::UnsupportedFileType),
            Err(UploadRefusal::Invalid(errors)) => return Err(errors.into()),
        };
        // Who may upload where is decided before any byte is stored.
        let actor_for_check = actor.clone();
        let target_for_check = target.clone();
        let (patient, appointment) = self
            .store
            .read(move |tx| upload_destination(tx, &actor_for_check, &target_for_check))
            .await?;
        let files = self.files()?;
        let record = AttachmentRecord {
            id: new_id("att"),
            patient_id: patient,
            appointment_id: appointment,
            uploaded_by: actor.user_id.clone(),
            file_name: clean_file_name(file_name, file_type),
            media_type: file_type.media_type().to_owned(),
            size_bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            sha256: sha256_hex_bytes(&bytes),
            object_key: object_key(),
            created_at: self.now(),
            deleted_at: None,
            deleted_by: None,
        };
        files
            .put(&record.object_key, bytes)
            .await
            .map_err(|e| AppError::FileStoreUnavailable(e.to_string()))?;
        let actor = actor.clone();
        let row = record.clone();
        let now = record.created_at;
        let written = self
            .store
            .write(move |tx| {
                // Checked again inside the transaction: the care relationship or
                // the account may have changed while the bytes travelled.
                let target = match &row.appointment_id {
                    Some(id) => AttachmentTarget::Appointment(id.clone()),
                    None => AttachmentTarget::Patient(row.patient_id.clone()),
                };
                upload_destination(tx, &actor, &target)?;
                tx.insert_attachment(&row)?;
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "attachment.upload",
                    ("attachment", Some(&row.id)),
                    serde_json::json!({
                        "patient_id": row.patient_id.as_str(),
                        "size_bytes": row.size_bytes,
                        "media_type": row.media_type,
                    }),
                )?;
                Ok::<_, AppError>(())
            })
            .await;
        if let Err(error) = written {
            if let Err(cleanup) = files.delete(&record.object_key).await {
                tracing::warn!(error = %cleanup, "an upload's bytes could not be removed after its row was refused");
            }
            return Err(error);
        }
        Ok(record)
    }

    pub async fn list_attachments(
        &self,
        actor: &Actor,
        target: AttachmentTarget,
        break_glass: BreakGlass,
    ) -> Result<Vec<AttachmentRecord>, AppError> {
        let actor = actor.clone();
        let break_glass = break_glass.parse()?;
        let now = self.now();
        self.store
            .write(move |tx| {
                let (patient, appointment) = match &target {
                    AttachmentTarget::Patient(patient) => {
                        (visible_patient(tx, &actor, patient)?.id, None)
                    }
                    AttachmentTarget::Appointment(id) => {
                        let view = super::appointments::visible_appointment(tx, &actor, id)?;
                        (view.record.patient_id.clone(), Some(id.clone()))
                    }
                };
                let reason = clinical_read(tx, &actor, &patient, break_glass.as_deref())?;
                let scope = match &appointment {
                    Some(id) => AttachmentScope::Appointment(id),
                    None => AttachmentScope::Patient(&patient),
                };
                let list = tx.list_attachments(scope)?;
                let subject = match &appointment {
                    Some(id) => ClinicalSubject::new("appointment_attachments", id.as_str()),
                    None => ClinicalSubject::new("attachments", patient.as_str()),
                };
                audit_clinical_read(tx, now, &actor, &patient, subject, reason.as_deref())?;
                Ok(list)
            })
            .await
    }

    /// The file, for those who may read the patient's clinical data; every
    /// download is a clinical read in the audit. Bytes that no longer match their
    /// checksum are refused rather than served.
    pub async fn download_attachment(
        &self,
        actor: &Actor,
        id: String,
        break_glass: BreakGlass,
    ) -> Result<Download, AppError> {
        let actor = actor.clone();
        let break_glass = break_glass.parse()?;
        let now = self.now();
        let attachment = self
            .store
            .write(move |tx| {
                let attachment = live_attachment(tx, &id)?;
                let reason =
                    clinical_read(tx, &actor, &attachment.patient_id, break_glass.as_deref())?;
                let subject = ClinicalSubject::new("attachment", attachment.id.clone());
                audit_clinical_read(
                    tx,
                    now,
                    &actor,
                    &attachment.patient_id,
                    subject,
                    reason.as_deref(),
                )?;
                Ok::<_, AppError>(attachment)
            })
            .await?;
        let bytes = self
            .files()?
            .get(&attachment.object_key)
            .await
            .map_err(|e| AppError::FileStoreUnavailable(e.to_string()))?;
        if sha256_hex_bytes(&bytes) != attachment.sha256 {
            return Err(AppError::Internal(format!(
                "attachment {} does not match its checksum",
                attachment.id
            )));
        }
        Ok(Download { attachment, bytes })
    }

    /// Deletes an attachment: its uploader may (a doctor only while caring for the
    /// patient). The row stays, marked; the bytes go.
    pub async fn delete_attachment(&self, actor: &Actor, id: String) -> Result<(), AppError> {
        let actor = actor.clone();
        let now = self.now();
        let attachment = self
            .store
            .write(move |tx| {
                let attachment = live_attachment(tx, &id)?;
                clinical_read(tx, &actor, &attachment.patient_id, None)?;
                let care = has_care(tx, &actor, &attachment.patient_id)?;
                let subject = Subject::Record {
                    patient: &attachment.patient_id,
                    author: &attachment.uploaded_by,
                    care,
                };
                authorize(&actor, Action::DeleteAttachment, subject)
                    .map_err(|_| AppError::Forbidden)?;
                tx.mark_attachment_deleted(&attachment.id, &actor.user_id, now)?;
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "attachment.delete",
                    ("attachment", Some(&attachment.id)),
                    serde_json::json!({ "patient_id": attachment.patient_id.as_str() }),
                )?;
                Ok::<_, AppError>(attachment)
            })
            .await?;
        self.purge_attachment(&attachment).await;
        Ok(())
    }

    /// Removes the bytes of deleted attachments that are still in the file store
    /// (a removal that failed earlier, or a crash between commit and removal).
    /// Returns how many were removed.
    pub async fn purge_deleted_attachments(&self) -> Result<usize, AppError> {
        let pending = self
            .store
            .read(|tx| tx.attachments_to_purge(PURGE_BATCH))
            .await?;
        let mut purged = 0;
        for attachment in &pending {
            if self.purge_attachment(attachment).await {
                purged += 1;
            }
        }
        Ok(purged)
    }

    async fn purge_attachment(&self, attachment: &AttachmentRecord) -> bool {
        let Ok(files) = self.files() else {
            return false;
        };
        if let Err(error) = files.delete(&attachment.object_key).await {
            tracing::warn!(error = %error, "a deleted attachment's bytes could not be removed yet");
            return false;
        }
        let id = attachment.id.clone();
        let now = self.now();
        self.store
            .write(move |tx| tx.mark_attachment_purged(&id, now))
            .await
            .is_ok()
    }
}

/// The patient and visit an upload goes to, if the actor may put it there: the
/// patient themself, or a doctor caring for them (for a visit: its own doctor).
fn upload_destination(
    tx: &mut dyn Tx,
    actor: &Actor,
    target: &AttachmentTarget,
) -> Result<(UserId, Option<AppointmentId>), AppError> {
    let (patient, appointment) = match target {
        AttachmentTarget::Patient(patient) => (visible_patient(tx, actor, patient)?.id, None),
        AttachmentTarget::Appointment(id) => {
            let view = super::appointments::visible_appointment(tx, actor, id)?;
            (view.record.patient_id.clone(), Some(view.record))
        }
    };
    let care = match &appointment {
        // A visit takes files from its own doctor only.
        Some(record) => record.doctor_id == actor.user_id && actor.role == Role::Doctor,
        None => has_care(tx, actor, &patient)?,
    };
    let subject = Subject::Chart {
        patient: &patient,
        care,
    };
    let may_know = actor.role.is_staff() || authorize(actor, Action::ReadClinical, subject).is_ok();
    if appointment.is_none() && !may_know {
        return Err(AppError::NotFound("patient"));
    }
    authorize(actor, Action::UploadAttachment, subject).map_err(|_| AppError::Forbidden)?;
    Ok((patient, appointment.map(|record| record.id)))
}

fn live_attachment(tx: &mut dyn Tx, id: &str) -> Result<AttachmentRecord, AppError> {
    tx.find_attachment(id)?
        .filter(|a| a.deleted_at.is_none())
        .ok_or(AppError::NotFound("attachment"))
}

/// Decides a read of `patient`'s files: `Ok(break-glass reason)` when allowed. A
/// caller who may not even know the patient (another patient, a doctor who never
/// saw them) is told nothing is there; staff, who may know the patient, get 403.
fn clinical_read(
    tx: &mut dyn Tx,
    actor: &Actor,
    patient: &UserId,
    break_glass: Option<&str>,
) -> Result<Option<String>, AppError> {
    let care = has_care(tx, actor, patient)?;
    let subject = Subject::Chart { patient, care };
    authorize_clinical_read(actor, subject, break_glass).map_err(|error| match error {
        AppError::Forbidden if !actor.role.is_staff() => AppError::NotFound("attachment"),
        other => other,
    })
}

/// 128 random bits in two levels, so no folder of a local store grows too large.
fn object_key() -> String {
    let key = hex(&random_bytes::<16>());
    format!("attachments/{}/{}", &key[..2], key)
}
