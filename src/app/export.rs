//! The patient's copy of everything carebook holds about them (`GET /me/export`):
//! account, appointments with their history, visit records with every version,
//! health summary versions, prescriptions, attachments' metadata, the feedback they
//! gave and their conversations. See docs/RECORDS.md.
//!
//! The content is read from one snapshot (a read transaction, so a large export
//! does not hold the single writer), then the read is written to the clinical
//! access log; only once that row is committed is the export handed out, so an
//! answered export is always in the patient's access history.

use carebook_domain::record::{HealthSummary, RecordContent};
use carebook_domain::{Action, Actor, Role, Subject, authorize};
use jiff::Timestamp;

use super::clinical::{ClinicalSubject, audit_clinical_read};
use super::{App, AppError, Prescription};
use crate::store::{
    AppointmentEvent, AppointmentFilter, AppointmentView, AttachmentRecord, AttachmentScope,
    ConversationSummary, Cursor, FeedbackRecord, MessageRecord, NotificationPreferences,
    PageRequest, RecordEntry, RecordVersionView, SummaryVersion, Tx, UserId, UserRecord,
};
use carebook_domain::policy::AppointmentScope;

/// Rows read per store call while collecting an export; the export itself has no
/// page limit (it is everything).
const BATCH: u32 = 500;

/// One appointment with every move it went through, and the patient's feedback on it.
#[derive(Debug, Clone)]
pub struct ExportedAppointment {
    pub appointment: AppointmentView,
    pub history: Vec<AppointmentEvent>,
    pub feedback: Option<FeedbackRecord>,
}

/// One visit record with every version, oldest first.
#[derive(Debug, Clone)]
pub struct ExportedRecord {
    pub entry: RecordEntry,
    pub versions: Vec<(RecordVersionView, RecordContent)>,
}

/// One conversation with every message, oldest first.
#[derive(Debug, Clone)]
pub struct ExportedConversation {
    pub conversation: ConversationSummary,
    pub messages: Vec<super::chat::Message>,
}

/// Everything carebook holds about one patient.
#[derive(Debug, Clone)]
pub struct PatientExport {
    pub exported_at: Timestamp,
    pub account: UserRecord,
    pub notification_preferences: Option<NotificationPreferences>,
    /// Oldest first.
    pub appointments: Vec<ExportedAppointment>,
    /// Newest visit first.
    pub records: Vec<ExportedRecord>,
    /// Oldest first: every version ever stated, confirmed or corrected.
    pub health_summary: Vec<(SummaryVersion, HealthSummary)>,
    /// Newest first.
    pub prescriptions: Vec<Prescription>,
    /// Live attachments (deleted ones are gone for the patient too), newest first.
    pub attachments: Vec<AttachmentRecord>,
    pub conversations: Vec<ExportedConversation>,
}

fn parse<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, AppError> {
    serde_json::from_str(json).map_err(|e| AppError::Internal(format!("{what}: {e}")))
}

/// Reads pages of `BATCH` rows until a short page, each after the last row's cursor.
fn read_all<T>(
    mut read: impl FnMut(&PageRequest) -> Result<Vec<T>, AppError>,
    position: impl Fn(&T) -> Cursor,
) -> Result<Vec<T>, AppError> {
    let mut all = Vec::new();
    let mut request = PageRequest {
        limit: BATCH,
        after: None,
    };
    loop {
        let rows = read(&request)?;
        let full = rows.len() == BATCH as usize;
        request.after = rows.last().map(&position);
        all.extend(rows);
        if !full {
            return Ok(all);
        }
    }
}

fn collect(tx: &mut dyn Tx, me: &UserId, now: Timestamp) -> Result<PatientExport, AppError> {
    let account = tx.find_user(me)?.ok_or(AppError::NotFound("patient"))?;
    let notification_preferences = tx.find_notification_preferences(me)?;

    let filter = AppointmentFilter {
        scope: AppointmentScope::AsPatient(me.clone()),
        statuses: Vec::new(),
        from: None,
        to: None,
        doctor_id: None,
        patient_id: Some(me.clone()),
        q: None,
        newest_first: false,
    };
    let views = read_all(
        |page| Ok(tx.list_appointments(&filter, page)?),
        |a| Cursor {
            key: a.record.slot.start.as_millisecond().to_string(),
            id: a.record.id.to_string(),
        },
    )?;
    let mut appointments = Vec::with_capacity(views.len());
    for appointment in views {
        let history = tx.appointment_events(&appointment.record.id)?;
        let feedback = tx
            .find_feedback_of_appointment(&appointment.record.id)?
            .filter(|f| &f.patient_id == me);
        appointments.push(ExportedAppointment {
            appointment,
            history,
            feedback,
        });
    }

    let entries = read_all(
        |page| Ok(tx.list_patient_records(me, page)?),
        |e| Cursor {
            key: e.visit_start.as_millisecond().to_string(),
            id: e.record.id.clone(),
        },
    )?;
    let mut records = Vec::with_capacity(entries.len());
    for entry in entries {
        let versions = tx
            .record_versions(&entry.record.id)?
            .into_iter()
            .map(|v| {
                let content = parse(&v.version.content, "record content")?;
                Ok((v, content))
            })
            .collect::<Result<_, AppError>>()?;
        records.push(ExportedRecord { entry, versions });
    }

    let health_summary = tx
        .summary_versions(me)?
        .into_iter()
        .map(|v| {
            let summary = parse(&v.content, "summary content")?;
            Ok((v, summary))
        })
        .collect::<Result<_, AppError>>()?;

    let prescriptions = read_all(
        |page| Ok(tx.list_prescriptions(me, page)?),
        |p| Cursor {
            key: p.record.issued_at.as_millisecond().to_string(),
            id: p.record.id.to_string(),
        },
    )?
    .into_iter()
    .map(|view| super::prescriptions::with_status(view, now))
    .collect();

    let attachments = tx.list_attachments(AttachmentScope::Patient(me))?;

    let mut conversations = Vec::new();
    for conversation in tx.list_conversations(me, u32::MAX)? {
        let mut messages = Vec::new();
        loop {
            let after = messages.last().map_or(0, |m: &MessageRecord| m.seq);
            let batch = tx.list_messages(&conversation.conversation.id, after, BATCH)?;
            let full = batch.len() == BATCH as usize;
            messages.extend(batch);
            if !full {
                break;
            }
        }
        let messages = messages
            .into_iter()
            .map(|record| super::chat::with_attachment(tx, record))
            .collect::<Result<_, _>>()?;
        conversations.push(ExportedConversation {
            conversation,
            messages,
        });
    }

    Ok(PatientExport {
        exported_at: now,
        account,
        notification_preferences,
        appointments,
        records,
        health_summary,
        prescriptions,
        attachments,
        conversations,
    })
}

impl App {
    /// The caller's own data, whole. Only patients have a chart to export: staff
    /// are refused (403), whatever they may read of others through other routes.
    /// The export is a clinical read of the caller's own data and is audited as
    /// one (`export`), so it shows in their access history.
    pub async fn export_my_data(&self, actor: &Actor) -> Result<PatientExport, AppError> {
        // Only a patient has a chart. A staff account's "own data" would be the
        // patients' records it wrote or read, which are theirs, not its own.
        if actor.role != Role::Patient {
            return Err(AppError::Forbidden);
        }
        let me = actor.user_id.clone();
        let subject = Subject::Chart {
            patient: &me,
            care: false,
        };
        authorize(actor, Action::ReadClinical, subject)?;
        let now = self.now();
        let export = {
            let me = me.clone();
            self.store.read(move |tx| collect(tx, &me, now)).await?
        };
        let actor = actor.clone();
        self.store
            .write(move |tx| {
                audit_clinical_read(
                    tx,
                    now,
                    &actor,
                    &me,
                    ClinicalSubject::new("export", me.as_str()),
                    None,
                )?;
                Ok::<_, AppError>(())
            })
            .await?;
        Ok(export)
    }
}
