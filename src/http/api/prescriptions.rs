//! Prescriptions: issue, read, PDF, list, revoke. Reads are clinical reads, audited
//! by the app; an admin reads only with `?break_glass_reason=`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use carebook_domain::prescription::{MedicationLine, MedicationLineInput, PrescriptionStatus};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PageQuery, Paged};
use crate::app::clinical::BreakGlass;
use crate::app::{App, IssuedPrescription, Prescription, PrescriptionInput};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser};
use crate::http::problem::{ApiError, Problem};
use crate::store::{AppointmentId, PrescriptionId, UserId};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MedicationLineBody {
    /// The medicine, e.g. `Amoxicillin`.
    #[schema(max_length = 200)]
    pub name: String,
    /// e.g. `500 mg`.
    #[schema(max_length = 100)]
    pub strength: Option<String>,
    /// e.g. `1 capsule`.
    #[schema(max_length = 100)]
    pub dose: String,
    /// e.g. `oral`.
    #[schema(max_length = 50)]
    pub route: Option<String>,
    /// e.g. `3 times a day`.
    #[schema(max_length = 100)]
    pub frequency: String,
    /// 1 to 365 days. The prescription is `completed` once its longest line's
    /// duration has elapsed.
    #[schema(minimum = 1, maximum = 365)]
    pub duration_days: i64,
    /// e.g. `21 capsules`.
    #[schema(max_length = 100)]
    pub quantity: Option<String>,
    #[schema(max_length = 1000)]
    pub instructions: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrescribeRequest {
    /// 1 to 20 medication lines.
    #[schema(min_items = 1, max_items = 20)]
    pub lines: Vec<MedicationLineBody>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct MedicationLineResponse {
    pub name: String,
    pub strength: Option<String>,
    pub dose: String,
    pub route: Option<String>,
    pub frequency: String,
    pub duration_days: i64,
    pub quantity: Option<String>,
    pub instructions: Option<String>,
}

impl From<MedicationLine> for MedicationLineResponse {
    fn from(l: MedicationLine) -> Self {
        MedicationLineResponse {
            name: l.name,
            strength: l.strength,
            dose: l.dose,
            route: l.route,
            frequency: l.frequency,
            duration_days: l.duration_days,
            quantity: l.quantity,
            instructions: l.instructions,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PrescriptionResponse {
    pub id: String,
    pub appointment_id: String,
    pub patient_id: String,
    pub patient_name: String,
    pub doctor_id: String,
    pub doctor_name: String,
    /// `active`, `completed` (the longest line's duration has elapsed) or `revoked`.
    #[schema(value_type = String, example = "active")]
    pub status: PrescriptionStatus,
    pub lines: Vec<MedicationLineResponse>,
    pub notes: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub issued_at: Timestamp,
    /// When it becomes `completed` unless revoked first.
    #[schema(value_type = String, format = DateTime)]
    pub completes_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    pub revoked_reason: Option<String>,
    /// Only in the answer to issuing it: the code printed on the PDF. carebook keeps
    /// only its hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_code: Option<String>,
    /// Only in the answer to issuing it: the public address that checks the code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_url: Option<String>,
}

impl From<Prescription> for PrescriptionResponse {
    fn from(p: Prescription) -> Self {
        let r = p.view.record;
        PrescriptionResponse {
            id: r.id.to_string(),
            appointment_id: r.appointment_id.to_string(),
            patient_id: r.patient_id.to_string(),
            patient_name: p.view.patient_name,
            doctor_id: r.doctor_id.to_string(),
            doctor_name: p.view.doctor_name,
            status: p.status,
            lines: r.lines.into_iter().map(Into::into).collect(),
            notes: r.notes,
            issued_at: r.issued_at,
            completes_at: r.completes_at,
            revoked_at: r.revoked_at,
            revoked_reason: r.revoked_reason,
            verification_code: None,
            verify_url: None,
        }
    }
}

impl From<IssuedPrescription> for PrescriptionResponse {
    fn from(issued: IssuedPrescription) -> Self {
        PrescriptionResponse {
            verification_code: Some(issued.verification_code),
            verify_url: Some(issued.verify_url),
            ..issued.prescription.into()
        }
    }
}

/// Issue a prescription for a visit: the appointment's doctor, once the patient is
/// checked in (or after the visit).
#[utoipa::path(post, path = "/appointments/{id}/prescriptions", tag = "prescriptions",
    security(("bearer" = [])), params(("id" = String, Path)), request_body = PrescribeRequest,
    responses((status = 201, body = PrescriptionResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "the patient is not checked in and the visit not completed (`/problems/visit-not-started`)", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_prescription(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PrescribeRequest>,
) -> Result<(StatusCode, Json<PrescriptionResponse>), ApiError> {
    let input = PrescriptionInput {
        lines: body
            .lines
            .into_iter()
            .map(|l| MedicationLineInput {
                name: l.name,
                strength: l.strength,
                dose: l.dose,
                route: l.route,
                frequency: l.frequency,
                duration_days: l.duration_days,
                quantity: l.quantity,
                instructions: l.instructions,
            })
            .collect(),
        notes: body.notes,
    };
    let issued = app
        .issue_prescription(&me.actor, AppointmentId::new(id), input)
        .await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClinicalReadQuery {
    /// Admins only: the reason for an emergency read. It is recorded and shown to
    /// the patient.
    #[param(max_length = 500)]
    pub break_glass_reason: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrescriptionListQuery {
    /// Admins only: the reason for an emergency read.
    #[param(max_length = 500)]
    pub break_glass_reason: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    #[param(max_length = 1000)]
    pub cursor: Option<String>,
}

/// A patient's prescriptions, newest first: the patient, a doctor caring for them,
/// or an admin with a break-glass reason. Every read is audited.
#[utoipa::path(get, path = "/patients/{id}/prescriptions", tag = "prescriptions",
    security(("bearer" = [])), params(("id" = String, Path), PrescriptionListQuery),
    responses((status = 200, body = Paged<PrescriptionResponse>), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_prescriptions(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PrescriptionListQuery>,
) -> Result<Json<Paged<PrescriptionResponse>>, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let page = app
        .list_prescriptions(
            &me.actor,
            UserId::new(id),
            BreakGlass(query.break_glass_reason),
            page.into(),
        )
        .await?;
    Ok(Json(Paged::from_page(page, PrescriptionResponse::from)))
}

/// One prescription (an audited clinical read).
#[utoipa::path(get, path = "/prescriptions/{id}", tag = "prescriptions",
    security(("bearer" = [])), params(("id" = String, Path), ClinicalReadQuery),
    responses((status = 200, body = PrescriptionResponse), (status = 403, body = Problem),
        (status = 404, body = Problem)))]
pub async fn find_prescription(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ClinicalReadQuery>,
) -> Result<Json<PrescriptionResponse>, ApiError> {
    let found = app
        .find_prescription(
            &me.actor,
            PrescriptionId::new(id),
            BreakGlass(query.break_glass_reason),
        )
        .await?;
    Ok(Json(found.into()))
}

/// The prescription as a PDF, as carebook rendered it when it was issued (an audited
/// clinical read).
#[utoipa::path(get, path = "/prescriptions/{id}/pdf", tag = "prescriptions",
    security(("bearer" = [])), params(("id" = String, Path), ClinicalReadQuery),
    responses((status = 200, description = "The PDF document", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn find_prescription_pdf(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ClinicalReadQuery>,
) -> Result<Response, ApiError> {
    let file_name = format!(
        "prescription-{}.pdf",
        id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
    );
    let pdf = app
        .prescription_pdf(
            &me.actor,
            PrescriptionId::new(id),
            BreakGlass(query.break_glass_reason),
        )
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        pdf,
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Why it is revoked (required).
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// Revoke a prescription: only the doctor who issued it. It is kept, with the reason;
/// its verification answers `revoked` from now on.
#[utoipa::path(post, path = "/prescriptions/{id}/revoke", tag = "prescriptions",
    security(("bearer" = [])), params(("id" = String, Path)), request_body = RevokeRequest,
    responses((status = 200, body = PrescriptionResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "revoked already (`/problems/already-revoked`)", body = Problem),
        (status = 422, body = Problem)))]
pub async fn revoke_prescription(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<Json<PrescriptionResponse>, ApiError> {
    let revoked = app
        .revoke_prescription(&me.actor, PrescriptionId::new(id), body.reason)
        .await?;
    Ok(Json(revoked.into()))
}
