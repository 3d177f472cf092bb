//! Visit records, their amendments and versions, the patient's record list and
//! health summary, and the caller's access log (who read their clinical data).
//! See docs/RECORDS.md.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use carebook_domain::record::{HealthSummary, RecordContent, Vitals};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PageQuery, Paged, nullable};
use crate::app::clinical::BreakGlass;
use crate::app::{
    App, RecordAmendment, RecordDetail, RecordHistory, SummaryDetail, SummaryEntry, SummaryUpdate,
};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser};
use crate::http::problem::{ApiError, Problem};
use crate::store::{AppointmentId, ClinicalRead, RecordEntry, UserId};

/// Vital signs; each optional. Outside its range a value is refused (422).
#[derive(Serialize, Deserialize, ToSchema, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct VitalsBody {
    /// mmHg, 50 to 260; above the diastolic pressure.
    #[schema(minimum = 50, maximum = 260)]
    pub systolic_mmhg: Option<i64>,
    /// mmHg, 30 to 160.
    #[schema(minimum = 30, maximum = 160)]
    pub diastolic_mmhg: Option<i64>,
    /// Beats per minute, 20 to 250.
    #[schema(minimum = 20, maximum = 250)]
    pub pulse_per_min: Option<i64>,
    /// °C, 30 to 45.
    #[schema(minimum = 30, maximum = 45)]
    pub temperature_c: Option<f64>,
    /// kg, 0.2 to 400.
    #[schema(minimum = 0.2, maximum = 400)]
    pub weight_kg: Option<f64>,
    /// cm, 20 to 250.
    #[schema(minimum = 20, maximum = 250)]
    pub height_cm: Option<f64>,
}

impl From<VitalsBody> for Vitals {
    fn from(v: VitalsBody) -> Self {
        Vitals {
            systolic_mmhg: v.systolic_mmhg,
            diastolic_mmhg: v.diastolic_mmhg,
            pulse_per_min: v.pulse_per_min,
            temperature_c: v.temperature_c,
            weight_kg: v.weight_kg,
            height_cm: v.height_cm,
        }
    }
}

impl From<Vitals> for VitalsBody {
    fn from(v: Vitals) -> Self {
        VitalsBody {
            systolic_mmhg: v.systolic_mmhg,
            diastolic_mmhg: v.diastolic_mmhg,
            pulse_per_min: v.pulse_per_min,
            temperature_c: v.temperature_c,
            weight_kg: v.weight_kg,
            height_cm: v.height_cm,
        }
    }
}

/// A visit record. At least one field must be given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRequest {
    #[schema(max_length = 4000)]
    pub symptoms: Option<String>,
    /// Free text.
    #[schema(max_length = 4000)]
    pub diagnosis: Option<String>,
    /// ICD-10 code: a letter, two digits, optionally a dot and 1 to 4 letters or
    /// digits (`J06.9`).
    #[schema(max_length = 16)]
    pub icd10_code: Option<String>,
    #[schema(max_length = 4000)]
    pub notes: Option<String>,
    pub vitals: Option<VitalsBody>,
    #[schema(max_length = 4000)]
    pub follow_up_advice: Option<String>,
    /// `YYYY-MM-DD`, not before the visit: the record then offers a booking link.
    #[schema(value_type = Option<String>, format = Date, max_length = 10)]
    pub follow_up_date: Option<Date>,
}

/// An amendment: `base_version` (the version it changes, which must still be the
/// latest), a reason, and the fields that change. A field left out is unchanged;
/// `null` clears it; `vitals` is replaced as a whole.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendmentRequest {
    #[schema(minimum = 1)]
    pub base_version: i64,
    /// Why the record is amended (required, at most 500 characters).
    #[schema(max_length = 500)]
    pub reason: String,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub symptoms: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub diagnosis: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 16)]
    pub icd10_code: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub notes: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<VitalsBody>)]
    pub vitals: Option<Option<VitalsBody>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub follow_up_advice: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = Date, max_length = 10)]
    pub follow_up_date: Option<Option<Date>>,
}

#[derive(Serialize, ToSchema)]
pub struct PersonRef {
    pub id: String,
    pub name: String,
}

/// Where to book the follow-up visit with the same doctor.
#[derive(Serialize, ToSchema)]
pub struct FollowUp {
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// The booking page of the doctor, opened on that day.
    pub booking_url: String,
    /// The doctor's free slots from that day (JSON).
    pub slots_url: String,
}

/// A record's clinical content (one version).
#[derive(Serialize, ToSchema)]
pub struct RecordContentResponse {
    pub symptoms: Option<String>,
    pub diagnosis: Option<String>,
    pub icd10_code: Option<String>,
    pub notes: Option<String>,
    pub vitals: VitalsBody,
    pub follow_up_advice: Option<String>,
    pub follow_up: Option<FollowUp>,
}

pub(super) fn content_response(content: RecordContent, doctor: &UserId) -> RecordContentResponse {
    let follow_up = content.follow_up_date.map(|date| FollowUp {
        date,
        booking_url: format!("/book/{doctor}?day={date}"),
        slots_url: format!("/api/v1/doctors/{doctor}/slots?from={date}"),
    });
    RecordContentResponse {
        symptoms: content.symptoms,
        diagnosis: content.diagnosis,
        icd10_code: content.icd10_code,
        notes: content.notes,
        vitals: content.vitals.into(),
        follow_up_advice: content.follow_up_advice,
        follow_up,
    }
}

/// A visit record: its latest version.
#[derive(Serialize, ToSchema)]
pub struct RecordResponse {
    pub id: String,
    pub appointment_id: String,
    pub patient_id: String,
    pub doctor: PersonRef,
    #[schema(value_type = String, format = DateTime)]
    pub visit_start: Timestamp,
    /// The latest version's number (the first is 1).
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// Who wrote the latest version, and why it was amended (`null` for version 1).
    pub version_author: PersonRef,
    pub amendment_reason: Option<String>,
    /// This read was an admin's break-glass read (it is in the patient's access log).
    pub break_glass: bool,
    #[serde(flatten)]
    pub content: RecordContentResponse,
}

impl From<RecordDetail> for RecordResponse {
    fn from(d: RecordDetail) -> Self {
        let doctor = d.appointment.record.doctor_id.clone();
        RecordResponse {
            id: d.record.id,
            appointment_id: d.record.appointment_id.to_string(),
            patient_id: d.record.patient_id.to_string(),
            doctor: PersonRef {
                id: doctor.to_string(),
                name: d.appointment.doctor_name.clone(),
            },
            visit_start: d.appointment.record.slot.start,
            version: d.record.version,
            created_at: d.record.created_at,
            updated_at: d.record.updated_at,
            version_author: PersonRef {
                id: d.latest.version.author_id.to_string(),
                name: d.author_name,
            },
            amendment_reason: d.latest.version.reason,
            break_glass: d.break_glass,
            content: content_response(d.content, &doctor),
        }
    }
}

/// One version of a record: who, when, why, and its content.
#[derive(Serialize, ToSchema)]
pub struct RecordVersionResponse {
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub author: PersonRef,
    /// Why it was amended; `null` for the first version.
    pub reason: Option<String>,
    #[serde(flatten)]
    pub content: RecordContentResponse,
}

#[derive(Serialize, ToSchema)]
pub struct RecordVersionsResponse {
    pub record_id: String,
    pub appointment_id: String,
    pub patient_id: String,
    pub break_glass: bool,
    /// Oldest first; a record has at most 100 versions.
    #[schema(max_items = 100)]
    pub versions: Vec<RecordVersionResponse>,
}

impl From<RecordHistory> for RecordVersionsResponse {
    fn from(h: RecordHistory) -> Self {
        let doctor = h.appointment.record.doctor_id.clone();
        RecordVersionsResponse {
            record_id: h.record.id,
            appointment_id: h.record.appointment_id.to_string(),
            patient_id: h.record.patient_id.to_string(),
            break_glass: h.break_glass,
            versions: h
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
        }
    }
}

/// A record as lists show it: dates and authors, no clinical field.
#[derive(Serialize, ToSchema)]
pub struct RecordEntryResponse {
    pub id: String,
    pub appointment_id: String,
    #[schema(value_type = String, format = DateTime)]
    pub visit_start: Timestamp,
    pub author: PersonRef,
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<RecordEntry> for RecordEntryResponse {
    fn from(e: RecordEntry) -> Self {
        RecordEntryResponse {
            id: e.record.id,
            appointment_id: e.record.appointment_id.to_string(),
            visit_start: e.visit_start,
            author: PersonRef {
                id: e.record.author_id.to_string(),
                name: e.author_name,
            },
            version: e.record.version,
            created_at: e.record.created_at,
            updated_at: e.record.updated_at,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BreakGlassQuery {
    /// Admins only: why clinical data must be read (1 to 500 characters). The read is
    /// flagged in the audit log and shown to the patient in their access log.
    #[param(max_length = 500)]
    pub break_glass_reason: Option<String>,
}

impl From<BreakGlassQuery> for BreakGlass {
    fn from(q: BreakGlassQuery) -> Self {
        BreakGlass(q.break_glass_reason)
    }
}

/// Write the visit record of an appointment (its doctor, once the patient checked in).
#[utoipa::path(post, path = "/appointments/{id}/record", tag = "records", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RecordRequest,
    responses((status = 201, body = RecordResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "the appointment has a record already (`record-exists`) or is not checked in or completed (`not-treated`)", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_record(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RecordRequest>,
) -> Result<(StatusCode, Json<RecordResponse>), ApiError> {
    let content = RecordContent {
        symptoms: body.symptoms,
        diagnosis: body.diagnosis,
        icd10_code: body.icd10_code,
        notes: body.notes,
        vitals: body.vitals.map(Into::into).unwrap_or_default(),
        follow_up_advice: body.follow_up_advice,
        follow_up_date: body.follow_up_date,
    };
    let detail = app
        .write_record(&me.actor, AppointmentId::new(id), content)
        .await?;
    Ok((StatusCode::CREATED, Json(detail.into())))
}

/// The visit record of an appointment, latest version (the patient; a doctor with a
/// care relationship; an admin with `break_glass_reason`). Every read is audited.
#[utoipa::path(get, path = "/appointments/{id}/record", tag = "records", security(("bearer" = [])),
    params(("id" = String, Path), BreakGlassQuery),
    responses((status = 200, body = RecordResponse), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn find_record(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<BreakGlassQuery>,
) -> Result<Json<RecordResponse>, ApiError> {
    let detail = app
        .find_record_of_appointment(&me.actor, AppointmentId::new(id), query.into())
        .await?;
    Ok(Json(detail.into()))
}

/// Amend a record (its author): a new version; `base_version` must be the latest.
#[utoipa::path(post, path = "/records/{id}/amendments", tag = "records", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AmendmentRequest,
    responses((status = 201, body = RecordResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`base_version` is no longer the latest (`stale-version`): nothing was written", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_amendment(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AmendmentRequest>,
) -> Result<(StatusCode, Json<RecordResponse>), ApiError> {
    let amendment = RecordAmendment {
        base_version: body.base_version,
        reason: body.reason,
        symptoms: body.symptoms,
        diagnosis: body.diagnosis,
        icd10_code: body.icd10_code,
        notes: body.notes,
        vitals: body.vitals.map(|v| v.map(Into::into)),
        follow_up_advice: body.follow_up_advice,
        follow_up_date: body.follow_up_date,
    };
    let detail = app.amend_record(&me.actor, id, amendment).await?;
    Ok((StatusCode::CREATED, Json(detail.into())))
}

/// Every version of a record, oldest first: who, when, why. Audited.
#[utoipa::path(get, path = "/records/{id}/versions", tag = "records", security(("bearer" = [])),
    params(("id" = String, Path), BreakGlassQuery),
    responses((status = 200, body = RecordVersionsResponse), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_record_versions(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<BreakGlassQuery>,
) -> Result<Json<RecordVersionsResponse>, ApiError> {
    let history = app.record_history(&me.actor, id, query.into()).await?;
    Ok(Json(history.into()))
}

/// A patient's records, newest visit first: dates and authors only, no clinical
/// field (the patient, a doctor with a care relationship, the front desk, admins).
#[utoipa::path(get, path = "/patients/{id}/records", tag = "records", security(("bearer" = [])),
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = Paged<RecordEntryResponse>), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_patient_records(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Paged<RecordEntryResponse>>, ApiError> {
    let page = app
        .list_patient_records(&me.actor, UserId::new(id), page.into())
        .await?;
    Ok(Json(Paged::from_page(page, Into::into)))
}

/// The health summary's content.
#[derive(Serialize, Deserialize, ToSchema, Clone)]
pub struct HealthSummaryBody {
    #[schema(max_items = 50, max_length = 200)]
    pub allergies: Vec<String>,
    #[schema(max_items = 50, max_length = 200)]
    pub chronic_conditions: Vec<String>,
    #[schema(max_items = 50, max_length = 200)]
    pub current_medications: Vec<String>,
    /// `A+`, `A-`, `B+`, `B-`, `AB+`, `AB-`, `O+` or `O-`.
    #[schema(max_length = 3)]
    pub blood_group: Option<String>,
}

impl From<HealthSummary> for HealthSummaryBody {
    fn from(s: HealthSummary) -> Self {
        HealthSummaryBody {
            allergies: s.allergies,
            chronic_conditions: s.chronic_conditions,
            current_medications: s.current_medications,
            blood_group: s.blood_group,
        }
    }
}

/// A new version of the summary. The patient states it; a doctor with a care
/// relationship confirms (same content) or corrects it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryRequest {
    /// The version this one replaces (0 when there is none yet); when given and no
    /// longer the latest, nothing is written (409).
    #[schema(minimum = 0)]
    pub base_version: Option<i64>,
    #[serde(default)]
    #[schema(max_items = 50, max_length = 200)]
    pub allergies: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 50, max_length = 200)]
    pub chronic_conditions: Vec<String>,
    #[serde(default)]
    #[schema(max_items = 50, max_length = 200)]
    pub current_medications: Vec<String>,
    #[schema(max_length = 3)]
    pub blood_group: Option<String>,
    /// A note on this version (at most 1000 characters).
    #[schema(max_length = 1000)]
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SummaryVersionResponse {
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub author: PersonRef,
    /// `patient`, `doctor`.
    pub author_role: String,
    /// `stated` (by the patient), `confirmed` (a doctor, unchanged) or `corrected`.
    pub kind: String,
    pub note: Option<String>,
    #[serde(flatten)]
    pub summary: HealthSummaryBody,
}

impl From<SummaryEntry> for SummaryVersionResponse {
    fn from(e: SummaryEntry) -> Self {
        SummaryVersionResponse {
            version: e.version.version,
            at: e.version.at,
            author: PersonRef {
                id: e.version.author_id.to_string(),
                name: e.version.author_name,
            },
            author_role: e.version.author_role.as_str().to_owned(),
            kind: e.version.kind,
            note: e.version.note,
            summary: e.summary.into(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SummaryResponse {
    pub patient_id: String,
    /// The latest version; `null` while nothing was stated.
    pub current: Option<SummaryVersionResponse>,
    /// Newest first, at most the 100 newest.
    #[schema(max_items = 100)]
    pub versions: Vec<SummaryVersionResponse>,
    pub break_glass: bool,
}

impl From<SummaryDetail> for SummaryResponse {
    fn from(d: SummaryDetail) -> Self {
        SummaryResponse {
            patient_id: d.patient_id.to_string(),
            current: d.current.map(Into::into),
            versions: d.versions.into_iter().map(Into::into).collect(),
            break_glass: d.break_glass,
        }
    }
}

/// The patient's health summary with every version (the patient; a doctor with a
/// care relationship; an admin with `break_glass_reason`). Every read is audited.
#[utoipa::path(get, path = "/patients/{id}/summary", tag = "records", security(("bearer" = [])),
    params(("id" = String, Path), BreakGlassQuery),
    responses((status = 200, body = SummaryResponse), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn find_summary(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<BreakGlassQuery>,
) -> Result<Json<SummaryResponse>, ApiError> {
    let detail = app
        .find_health_summary(&me.actor, UserId::new(id), query.into())
        .await?;
    Ok(Json(detail.into()))
}

/// State (patient), confirm or correct (doctor with a care relationship) the health
/// summary: a new version; the old ones are kept.
#[utoipa::path(put, path = "/patients/{id}/summary", tag = "records", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = SummaryRequest,
    responses((status = 200, body = SummaryVersionResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "`base_version` is no longer the latest (`stale-version`)", body = Problem),
        (status = 422, body = Problem)))]
pub async fn update_summary(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<SummaryRequest>,
) -> Result<Json<SummaryVersionResponse>, ApiError> {
    let update = SummaryUpdate {
        base_version: body.base_version,
        summary: HealthSummary {
            allergies: body.allergies,
            chronic_conditions: body.chronic_conditions,
            current_medications: body.current_medications,
            blood_group: body.blood_group,
        },
        note: body.note,
    };
    let entry = app
        .update_health_summary(&me.actor, UserId::new(id), update)
        .await?;
    Ok(Json(entry.into()))
}

/// One read of the caller's clinical data.
#[derive(Serialize, ToSchema)]
pub struct AccessLogEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Who read it.
    pub reader: PersonRef,
    /// Their role when they read it.
    pub reader_role: String,
    /// What was read: `record`, `record_versions`, `summary`, `prescription`, `attachment`,
    /// `export` (the patient's download of all their data), ...
    pub subject_kind: String,
    pub subject_id: String,
    /// An admin's break-glass read, and the reason they gave.
    pub break_glass: bool,
    pub break_glass_reason: Option<String>,
}

impl From<ClinicalRead> for AccessLogEntry {
    fn from(r: ClinicalRead) -> Self {
        AccessLogEntry {
            at: r.read.at,
            reader: PersonRef {
                id: r.read.actor_id.to_string(),
                name: r.actor_name,
            },
            reader_role: r.read.actor_role.as_str().to_owned(),
            subject_kind: r.read.subject_kind,
            subject_id: r.read.subject_id,
            break_glass: r.read.break_glass_reason.is_some(),
            break_glass_reason: r.read.break_glass_reason,
        }
    }
}

/// Who read the caller's clinical data, newest first.
#[utoipa::path(get, path = "/me/access-log", tag = "records", security(("bearer" = [])),
    params(PageQuery),
    responses((status = 200, body = Paged<AccessLogEntry>), (status = 422, body = Problem)))]
pub async fn list_access_log(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<Paged<AccessLogEntry>>, ApiError> {
    let page = app.list_access_log(&me.actor, page.into()).await?;
    Ok(Json(Paged::from_page(page, Into::into)))
}
