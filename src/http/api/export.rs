//! `GET /me/export`: everything carebook holds about the calling patient, as one
//! JSON document to download. See docs/RECORDS.md.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use super::accounts::UserResponse;
use super::appointments::AppointmentResponse;
use super::attachments::AttachmentResponse;
use super::chat::{ConversationResponse, MessageResponse};
use super::feedback::FeedbackResponse;
use super::prescriptions::PrescriptionResponse;
use super::records::{
    PersonRef, RecordEntryResponse, RecordVersionResponse, SummaryVersionResponse, content_response,
};
use crate::app::{
    App, AppointmentDetail, ExportedAppointment, ExportedConversation, ExportedRecord,
    PatientExport, SummaryEntry,
};
use crate::http::extract::CurrentUser;
use crate::http::problem::{ApiError, Problem};
use crate::store::NotificationPreferences;

/// The channels the patient accepts notifications on.
#[derive(Serialize, ToSchema)]
pub struct ExportedPreferences {
    pub email_enabled: bool,
    pub sms_enabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<NotificationPreferences> for ExportedPreferences {
    fn from(p: NotificationPreferences) -> Self {
        ExportedPreferences {
            email_enabled: p.email_enabled,
            sms_enabled: p.sms_enabled,
            updated_at: p.updated_at,
        }
    }
}

/// An appointment with its history (every move) and the feedback on it.
#[derive(Serialize, ToSchema)]
pub struct ExportedAppointmentResponse {
    #[serde(flatten)]
    pub appointment: AppointmentResponse,
    /// The patient's rating of the visit with the doctor's reply. Their own comment
    /// is included even when an admin hid it from the public (`hidden`).
    pub feedback: Option<FeedbackResponse>,
}

impl From<ExportedAppointment> for ExportedAppointmentResponse {
    fn from(e: ExportedAppointment) -> Self {
        let feedback = e.feedback.map(|f| {
            let own_comment = f.comment.clone();
            FeedbackResponse {
                comment: own_comment,
                ..f.into()
            }
        });
        ExportedAppointmentResponse {
            appointment: AppointmentDetail {
                appointment: e.appointment,
                history: e.history,
            }
            .into(),
            feedback,
        }
    }
}

/// A visit record with every version, oldest first.
#[derive(Serialize, ToSchema)]
pub struct ExportedRecordResponse {
    #[serde(flatten)]
    pub record: RecordEntryResponse,
    pub versions: Vec<RecordVersionResponse>,
}

impl From<ExportedRecord> for ExportedRecordResponse {
    fn from(r: ExportedRecord) -> Self {
        let doctor = r.entry.record.author_id.clone();
        ExportedRecordResponse {
            versions: r
                .versions
                .into_iter()
                .map(|(v, content)| RecordVersionResponse {
                    version: v.version.version,
                    at: v.version.at,
                    author: PersonRef {
                        id: v.version.author_id.to_string(),
                        name: v.author_name,
                    },
                    reason: v.version.reason,
                    content: content_response(content, &doctor),
                })
                .collect(),
            record: r.entry.into(),
        }
    }
}

/// A conversation with every message, oldest first.
#[derive(Serialize, ToSchema)]
pub struct ExportedConversationResponse {
    #[serde(flatten)]
    pub conversation: ConversationResponse,
    pub messages: Vec<MessageResponse>,
}

impl From<ExportedConversation> for ExportedConversationResponse {
    fn from(c: ExportedConversation) -> Self {
        ExportedConversationResponse {
            conversation: c.conversation.into(),
            messages: c.messages.into_iter().map(Into::into).collect(),
        }
    }
}

/// Everything carebook holds about the patient. Never a password hash, a token, a
/// two-factor secret or a prescription's verification code (carebook keeps only its
/// hash); attachments are described, their bytes are downloaded one by one from
/// their `download_url`.
#[derive(Serialize, ToSchema)]
pub struct ExportResponse {
    #[schema(value_type = String, format = DateTime)]
    pub exported_at: Timestamp,
    pub account: UserResponse,
    /// `null` while the patient never changed the defaults.
    pub notification_preferences: Option<ExportedPreferences>,
    /// Oldest first, each with its history.
    pub appointments: Vec<ExportedAppointmentResponse>,
    /// Newest visit first, each with every version.
    pub records: Vec<ExportedRecordResponse>,
    /// Every version of the health summary, oldest first.
    pub health_summary: Vec<SummaryVersionResponse>,
    /// Newest first.
    pub prescriptions: Vec<PrescriptionResponse>,
    /// Newest first; metadata only.
    pub attachments: Vec<AttachmentResponse>,
    pub conversations: Vec<ExportedConversationResponse>,
}

impl From<PatientExport> for ExportResponse {
    fn from(e: PatientExport) -> Self {
        ExportResponse {
            exported_at: e.exported_at,
            account: e.account.into(),
            notification_preferences: e.notification_preferences.map(Into::into),
            appointments: e.appointments.into_iter().map(Into::into).collect(),
            records: e.records.into_iter().map(Into::into).collect(),
            health_summary: e
                .health_summary
                .into_iter()
                .map(|(version, summary)| SummaryEntry { version, summary }.into())
                .collect(),
            prescriptions: e.prescriptions.into_iter().map(Into::into).collect(),
            attachments: e.attachments.into_iter().map(Into::into).collect(),
            conversations: e.conversations.into_iter().map(Into::into).collect(),
        }
    }
}

/// Everything carebook holds about the calling patient, as one JSON file to keep
/// (`Content-Disposition: attachment`). Patients only: staff accounts have no chart
/// to export (403). The export is a clinical read and appears in the caller's
/// access log (`subject_kind` `export`).
#[utoipa::path(get, path = "/me/export", tag = "records", security(("bearer" = [])),
    responses((status = 200, body = ExportResponse,
            headers(("content-disposition" = String, description = "attachment; filename=\"carebook-export-YYYY-MM-DD.json\""))),
        (status = 403, body = Problem)))]
pub async fn find_my_export(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
) -> Result<Response, ApiError> {
    let export = app.export_my_data(&me.actor).await?;
    let zone =
        jiff::tz::TimeZone::get(&app.settings.clinic_time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let day = zone.to_datetime(export.exported_at).date();
    let body: ExportResponse = export.into();
    Ok((
        [
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"carebook-export-{day}.json\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        Json(body),
    )
        .into_response())
}
