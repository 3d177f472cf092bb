//! Attachments: files uploaded to a visit or to a patient's file.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use carebook_domain::{AppointmentId, UserId};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::clinical::BreakGlass;
use crate::app::{App, AttachmentTarget, Download};
use crate::http::extract::{ApiPath, ApiQuery, CurrentUser, FileUpload};
use crate::http::problem::{ApiError, Problem};
use crate::store::AttachmentRecord;

#[derive(Serialize, ToSchema)]
pub struct AttachmentResponse {
    pub id: String,
    pub patient_id: String,
    /// The visit it belongs to; null for the patient's general file.
    pub appointment_id: Option<String>,
    pub uploaded_by: String,
    /// The uploaded name, cleaned, ending in the extension of the file's real type.
    pub file_name: String,
    /// `application/pdf`, `image/png` or `image/jpeg`, read from the file's bytes.
    pub media_type: String,
    pub size_bytes: i64,
    /// SHA-256 of the bytes, lowercase hex; downloads carry it in `Repr-Digest`.
    pub sha256: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Where to download it (the same access rules apply).
    pub download_url: String,
}

impl From<AttachmentRecord> for AttachmentResponse {
    fn from(a: AttachmentRecord) -> Self {
        AttachmentResponse {
            download_url: format!("/api/v1/attachments/{}", a.id),
            id: a.id,
            patient_id: a.patient_id.to_string(),
            appointment_id: a.appointment_id.map(|id| id.to_string()),
            uploaded_by: a.uploaded_by.to_string(),
            file_name: a.file_name,
            media_type: a.media_type,
            size_bytes: a.size_bytes,
            sha256: a.sha256,
            created_at: a.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentList {
    pub items: Vec<AttachmentResponse>,
}

/// A `multipart/form-data` body with one file in the field `file`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// A PDF, PNG or JPEG file, at most `attachment_max_bytes` (10 MiB by default).
    #[schema(value_type = String, format = Binary, max_length = 10485760)]
    file: Vec<u8>,
}

/// An admin's reason for reading clinical data they could not otherwise read.
#[derive(Deserialize, IntoParams)]
pub struct BreakGlassQuery {
    /// Break-glass: an admin's stated reason (at most 500 characters); the read is
    /// flagged in the audit log and shown to the patient.
    #[param(max_length = 500)]
    pub break_glass_reason: Option<String>,
}

fn created(record: AttachmentRecord) -> (StatusCode, Json<AttachmentResponse>) {
    (StatusCode::CREATED, Json(record.into()))
}

fn listed(records: Vec<AttachmentRecord>) -> Json<AttachmentList> {
    Json(AttachmentList {
        items: records.into_iter().map(Into::into).collect(),
    })
}

/// Upload a file to a visit (its patient, or its doctor).
#[utoipa::path(post, path = "/appointments/{id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = AttachmentResponse), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn create_appointment_attachment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    upload: FileUpload,
) -> Result<(StatusCode, Json<AttachmentResponse>), ApiError> {
    let target = AttachmentTarget::Appointment(AppointmentId::new(id));
    let record = app
        .upload_attachment(&me.actor, target, &upload.file_name, upload.bytes)
        .await?;
    Ok(created(record))
}

/// A visit's files.
#[utoipa::path(get, path = "/appointments/{id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path), BreakGlassQuery),
    responses((status = 200, body = AttachmentList), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_appointment_attachments(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<BreakGlassQuery>,
) -> Result<Json<AttachmentList>, ApiError> {
    let target = AttachmentTarget::Appointment(AppointmentId::new(id));
    let records = app
        .list_attachments(&me.actor, target, BreakGlass(query.break_glass_reason))
        .await?;
    Ok(listed(records))
}

/// Upload a file to a patient's file (the patient, or a doctor caring for them).
#[utoipa::path(post, path = "/patients/{id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = AttachmentResponse), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem),
        (status = 415, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn create_patient_attachment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    upload: FileUpload,
) -> Result<(StatusCode, Json<AttachmentResponse>), ApiError> {
    let target = AttachmentTarget::Patient(UserId::new(id));
    let record = app
        .upload_attachment(&me.actor, target, &upload.file_name, upload.bytes)
        .await?;
    Ok(created(record))
}

/// A patient's files, of every visit and their general file.
#[utoipa::path(get, path = "/patients/{id}/attachments", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path), BreakGlassQuery),
    responses((status = 200, body = AttachmentList), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_patient_attachments(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<BreakGlassQuery>,
) -> Result<Json<AttachmentList>, ApiError> {
    let target = AttachmentTarget::Patient(UserId::new(id));
    let records = app
        .list_attachments(&me.actor, target, BreakGlass(query.break_glass_reason))
        .await?;
    Ok(listed(records))
}

/// Download a file. Always as an attachment, never rendered inline, with its
/// SHA-256 in `Repr-Digest`.
#[utoipa::path(get, path = "/attachments/{id}", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path), BreakGlassQuery),
    responses((status = 200, description = "The file's bytes", content(
            (Vec<u8> = "application/pdf"), (Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"))),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn find_attachment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<BreakGlassQuery>,
) -> Result<Response, ApiError> {
    let download = app
        .download_attachment(&me.actor, id, BreakGlass(query.break_glass_reason))
        .await?;
    Ok(file_response(download))
}

/// Delete a file (its uploader). It is gone from the file store; the record of who
/// uploaded and deleted it stays in the audit log.
#[utoipa::path(delete, path = "/attachments/{id}", tag = "attachments", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_attachment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    app.delete_attachment(&me.actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub fn file_response(download: Download) -> Response {
    let Download { attachment, bytes } = download;
    let digest = hex_to_base64(&attachment.sha256);
    let headers = [
        (header::CONTENT_TYPE, header_value(&attachment.media_type)),
        (
            header::CONTENT_DISPOSITION,
            content_disposition(&attachment.file_name),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("private, no-store"),
        ),
        (
            header::HeaderName::from_static("repr-digest"),
            header_value(&format!("sha-256=:{digest}:")),
        ),
    ];
    (headers, bytes).into_response()
}

/// `attachment`, with an ASCII fallback name and the exact name in RFC 5987 form.
fn content_disposition(file_name: &str) -> HeaderValue {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    header_value(&format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
}

fn header_value(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

fn hex_to_base64(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_offered_safely() {
        assert_eq!(
            content_disposition("lab report.pdf"),
            "attachment; filename=\"lab report.pdf\"; filename*=UTF-8''lab%20report.pdf"
        );
        assert_eq!(
            content_disposition("Röntgen.png"),
            "attachment; filename=\"R_ntgen.png\"; filename*=UTF-8''R%C3%B6ntgen.png"
        );
    }
}
