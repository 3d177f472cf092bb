//! Visit records (one per appointment, every version kept) and the patient's health
//! summary (every version kept). Reads of clinical content are audited through
//! [`super::clinical`]; see docs/RECORDS.md.

use carebook_domain::record::{HealthSummary, RecordContent, Vitals, parse_required_reason};
use carebook_domain::validation::{MAX_REASON_CHARS, parse_text};
use carebook_domain::{Action, Actor, AppointmentStatus, Subject, authorize};
use jiff::civil::Date;
use serde_json::json;

use super::clinical::{
    BreakGlass, ClinicalSubject, audit_clinical_read, authorize_clinical_read, has_care,
    visible_patient,
};
use super::{App, AppError, ConflictKind, Page, PageParams, audit, new_id, paginate};
use crate::store::{
    AppointmentId, AppointmentView, Cursor, RecordEntry, RecordRow, RecordVersion,
    RecordVersionView, SummaryVersion, Tx, UserId,
};

/// A record keeps at most this many versions (the first and 99 amendments), so
/// its history is a bounded list.
pub const MAX_RECORD_VERSIONS: i64 = 100;
/// The health summary's history shows at most this many versions (the newest);
/// older ones stay stored.
pub const MAX_SUMMARY_VERSIONS_SHOWN: usize = 100;

/// A record as its readers see it: the latest version's content.
#[derive(Debug, Clone)]
pub struct RecordDetail {
    pub record: RecordRow,
    pub appointment: AppointmentView,
    pub author_name: String,
    pub latest: RecordVersionView,
    pub content: RecordContent,
    /// Read by an admin breaking the glass.
    pub break_glass: bool,
}

/// Every version of a record, oldest first, each with its content.
#[derive(Debug, Clone)]
pub struct RecordHistory {
    pub record: RecordRow,
    pub appointment: AppointmentView,
    pub versions: Vec<(RecordVersionView, RecordContent)>,
    pub break_glass: bool,
}

/// An amendment: the changes over `base_version`, which must still be the latest.
/// A field left `None` is unchanged; `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct RecordAmendment {
    pub base_version: i64,
    pub reason: String,
    pub symptoms: Option<Option<String>>,
    pub diagnosis: Option<Option<String>>,
    pub icd10_code: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    /// Replaces the vitals as a whole.
    pub vitals: Option<Option<Vitals>>,
    pub follow_up_advice: Option<Option<String>>,
    pub follow_up_date: Option<Option<Date>>,
}

impl RecordAmendment {
    fn apply(&self, base: &RecordContent) -> RecordContent {
        fn pick<T: Clone>(change: &Option<Option<T>>, old: &Option<T>) -> Option<T> {
            match change {
                Some(new) => new.clone(),
                None => old.clone(),
            }
        }
        RecordContent {
            symptoms: pick(&self.symptoms, &base.symptoms),
            diagnosis: pick(&self.diagnosis, &base.diagnosis),
            icd10_code: pick(&self.icd10_code, &base.icd10_code),
            notes: pick(&self.notes, &base.notes),
            vitals: match &self.vitals {
                Some(new) => new.clone().unwrap_or_default(),
                None => base.vitals.clone(),
            },
            follow_up_advice: pick(&self.follow_up_advice, &base.follow_up_advice),
            follow_up_date: pick(&self.follow_up_date, &base.follow_up_date),
        }
    }
}

/// One version of the health summary with its content.
#[derive(Debug, Clone)]
pub struct SummaryEntry {
    pub version: SummaryVersion,
    pub summary: HealthSummary,
}

/// The health summary: the latest version (none yet: `None`) and the history,
/// newest first.
#[derive(Debug, Clone)]
pub struct SummaryDetail {
    pub patient_id: UserId,
    pub current: Option<SummaryEntry>,
    pub versions: Vec<SummaryEntry>,
    pub break_glass: bool,
}

/// A new version of the summary; `base_version` (0: there is none yet), when given,
/// must be the latest.
#[derive(Debug, Clone, Default)]
pub struct SummaryUpdate {
    pub base_version: Option<i64>,
    pub summary: HealthSummary,
    pub note: Option<String>,
}

fn content_of(json: &str) -> Result<RecordContent, AppError> {
    serde_json::from_str(json).map_err(|e| AppError::Internal(format!("record content: {e}")))
}

fn summary_of(json: &str) -> Result<HealthSummary, AppError> {
    serde_json::from_str(json).map_err(|e| AppError::Internal(format!("summary content: {e}")))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, AppError> {
    serde_json::to_string(value).map_err(|e| AppError::Internal(e.to_string()))
}

fn may_view_appointment(actor: &Actor, appointment: &AppointmentView) -> bool {
    let subject = Subject::Appointment {
        patient: &appointment.record.patient_id,
        doctor: &appointment.record.doctor_id,
    };
    authorize(actor, Action::ViewAppointment, subject).is_ok()
}

/// A refusal that tells nothing to someone who may not see the appointment.
fn refuse(actor: &Actor, appointment: &AppointmentView, what: &'static str) -> AppError {
    if may_view_appointment(actor, appointment) {
        AppError::Forbidden
    } else {
        AppError::NotFound(what)
    }
}

/// Decides a clinical read of `appointment`'s record (written by `author`).
fn decide_record_read(
    tx: &mut dyn Tx,
    actor: &Actor,
    appointment: &AppointmentView,
    author: &UserId,
    break_glass: Option<&str>,
    what: &'static str,
) -> Result<Option<String>, AppError> {
    let patient = &appointment.record.patient_id;
    let care = has_care(tx, actor, patient)?;
    let subject = Subject::Record {
        patient,
        author,
        care,
    };
    authorize_clinical_read(actor, subject, break_glass)
        .map_err(|_| refuse(actor, appointment, what))
}

fn detail(
    tx: &mut dyn Tx,
    record: RecordRow,
    appointment: AppointmentView,
    break_glass: bool,
) -> Result<RecordDetail, AppError> {
    let latest = tx
        .record_versions(&record.id)?
        .pop()
        .ok_or_else(|| AppError::Internal("a record without versions".into()))?;
    let content = content_of(&latest.version.content)?;
    Ok(RecordDetail {
        author_name: latest.author_name.clone(),
        record,
        appointment,
        latest,
        content,
        break_glass,
    })
}

/// The follow-up date may not be before the visit's day (UTC).
fn check_follow_up(content: &RecordContent, appointment: &AppointmentView) -> Result<(), AppError> {
    if let Some(date) = content.follow_up_date {
        let visit_day = jiff::tz::TimeZone::UTC
            .to_datetime(appointment.record.slot.start)
            .date();
        if date < visit_day {
            return Err(AppError::invalid(
                "follow_up_date",
                "must not be before the visit",
            ));
        }
    }
    Ok(())
}

impl App {
    /// The appointment's doctor writes its visit record, once the patient checked in
    /// (or the visit is completed). A second record for one appointment is a 409:
    /// amend the first.
    pub async fn write_record(
        &self,
        actor: &Actor,
        appointment_id: AppointmentId,
        content: RecordContent,
    ) -> Result<RecordDetail, AppError> {
        let content = content.validate()?;
        let actor = actor.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let appointment = tx
                    .find_appointment(&appointment_id)?
                    .ok_or(AppError::NotFound("appointment"))?;
                if !may_view_appointment(&actor, &appointment) {
                    return Err(AppError::NotFound("appointment"));
                }
                let subject = Subject::Appointment {
                    patient: &appointment.record.patient_id,
                    doctor: &appointment.record.doctor_id,
                };
                authorize(&actor, Action::WriteRecord, subject)?;
                if !matches!(
                    appointment.record.status,
                    AppointmentStatus::CheckedIn | AppointmentStatus::Completed
                ) {
                    return Err(AppError::conflict(
                        ConflictKind::NotTreated,
                        "a record is written once the patient has checked in",
                    ));
                }
                check_follow_up(&content, &appointment)?;
                let record = RecordRow {
                    id: new_id("rec"),
                    appointment_id: appointment_id.clone(),
                    patient_id: appointment.record.patient_id.clone(),
                    author_id: actor.user_id.clone(),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                let first = RecordVersion {
                    record_id: record.id.clone(),
                    version: 1,
                    at: now,
                    author_id: actor.user_id.clone(),
                    reason: None,
                    content: to_json(&content)?,
                };
                tx.insert_record(&record, &first)?;
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "record.write",
                    ("record", Some(&record.id)),
                    json!({
                        "appointment_id": appointment_id.as_str(),
                        "patient_id": record.patient_id.as_str(),
                        "version": 1,
                    }),
                )?;
                detail(tx, record, appointment, false)
            })
            .await
    }

    /// The visit record of an appointment (audited).
    pub async fn find_record_of_appointment(
        &self,
        actor: &Actor,
        appointment_id: AppointmentId,
        break_glass: BreakGlass,
    ) -> Result<RecordDetail, AppError> {
        let break_glass = break_glass.parse()?;
        let actor = actor.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let appointment = tx
                    .find_appointment(&appointment_id)?
                    .ok_or(AppError::NotFound("appointment"))?;
                let record = tx.find_record_of_appointment(&appointment_id)?;
                let author = record
                    .as_ref()
                    .map_or(&appointment.record.doctor_id, |r| &r.author_id)
                    .clone();
                let reason = decide_record_read(
                    tx,
                    &actor,
                    &appointment,
                    &author,
                    break_glass.as_deref(),
                    "appointment",
                )?;
                let record = record.ok_or(AppError::NotFound("record"))?;
                audit_clinical_read(
                    tx,
                    now,
                    &actor,
                    &record.patient_id,
                    ClinicalSubject::new("record", &record.id),
                    reason.as_deref(),
                )?;
                detail(tx, record, appointment, reason.is_some())
            })
            .await
    }

    /// Every version of a record, oldest first (audited).
    pub async fn record_history(
        &self,
        actor: &Actor,
        record_id: String,
        break_glass: BreakGlass,
    ) -> Result<RecordHistory, AppError> {
        let break_glass = break_glass.parse()?;
        let actor = actor.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let record = tx
                    .find_record(&record_id)?
                    .ok_or(AppError::NotFound("record"))?;
                let appointment = tx
                    .find_appointment(&record.appointment_id)?
                    .ok_or_else(|| AppError::Internal("a record without its appointment".into()))?;
                let reason = decide_record_read(
                    tx,
                    &actor,
                    &appointment,
                    &record.author_id,
                    break_glass.as_deref(),
                    "record",
                )?;
                audit_clinical_read(
                    tx,
                    now,
                    &actor,
                    &record.patient_id,
                    ClinicalSubject::new("record_versions", &record.id),
                    reason.as_deref(),
                )?;
                let versions = tx
                    .record_versions(&record.id)?
                    .into_iter()
                    .map(|v| {
                        let content = content_of(&v.version.content)?;
                        Ok((v, content))
                    })
                    .collect::<Result<_, AppError>>()?;
                Ok(RecordHistory {
                    record,
                    appointment,
                    versions,
                    break_glass: reason.is_some(),
                })
            })
            .await
    }

    /// Every version of an appointment's record, oldest first (audited like
    /// [`App::record_history`]); `NotFound("record")` when it has none yet, told
    /// only to those who may read it.
    pub async fn record_history_of_appointment(
        &self,
        actor: &Actor,
        appointment_id: AppointmentId,
    ) -> Result<RecordHistory, AppError> {
        let actor = actor.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let appointment = tx
                    .find_appointment(&appointment_id)?
                    .ok_or(AppError::NotFound("appointment"))?;
                let record = tx.find_record_of_appointment(&appointment_id)?;
                let author = record
                    .as_ref()
                    .map_or(&appointment.record.doctor_id, |r| &r.author_id)
                    .clone();
                decide_record_read(tx, &actor, &appointment, &author, None, "appointment")?;
                let record = record.ok_or(AppError::NotFound("record"))?;
                audit_clinical_read(
                    tx,
                    now,
                    &actor,
                    &record.patient_id,
                    ClinicalSubject::new("record_versions", &record.id),
                    None,
                )?;
                let versions = tx
                    .record_versions(&record.id)?
                    .into_iter()
                    .map(|v| {
                        let content = content_of(&v.version.content)?;
                        Ok((v, content))
                    })
                    .collect::<Result<_, AppError>>()?;
                Ok(RecordHistory {
                    record,
                    appointment,
                    versions,
                    break_glass: false,
                })
            })
            .await
    }

    /// Whether an appointment has a record, and its id, version and author: no
    /// clinical field, so not a clinical read (like the record list). `None` when it
    /// has none or the caller may not list the patient's record entries.
    pub async fn find_record_entry_of_appointment(
        &self,
        actor: &Actor,
        appointment_id: AppointmentId,
    ) -> Result<Option<RecordRow>, AppError> {
        let actor = actor.clone();
        self.store
            .read(move |tx| {
                let appointment = tx
                    .find_appointment(&appointment_id)?
                    .ok_or(AppError::NotFound("appointment"))?;
                if !may_view_appointment(&actor, &appointment) {
                    return Err(AppError::NotFound("appointment"));
                }
                let patient = &appointment.record.patient_id;
                let care = has_care(tx, &actor, patient)?;
                let subject = Subject::Chart { patient, care };
                if authorize(&actor, Action::ListRecordEntries, subject).is_err() {
                    return Ok(None);
                }
                Ok(tx.find_record_of_appointment(&appointment_id)?)
            })
            .await
    }

    /// The author amends a record: a new version over `base_version`, with a reason.
    /// If `base_version` is no longer the latest, nothing is written (409).
    pub async fn amend_record(
        &self,
        actor: &Actor,
        record_id: String,
        amendment: RecordAmendment,
    ) -> Result<RecordDetail, AppError> {
        let reason = parse_required_reason("reason", &amendment.reason)?;
        if amendment.base_version < 1 {
            return Err(AppError::invalid("base_version", "must be 1 or more"));
        }
        // The changed fields are checked before anything is looked up.
        amendment
            .apply(&RecordContent::default())
            .validate_fields()?;
        let actor = actor.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let record = tx
                    .find_record(&record_id)?
                    .ok_or(AppError::NotFound("record"))?;
                let appointment = tx
                    .find_appointment(&record.appointment_id)?
                    .ok_or_else(|| AppError::Internal("a record without its appointment".into()))?;
                let care = has_care(tx, &actor, &record.patient_id)?;
                let subject = Subject::Record {
                    patient: &record.patient_id,
                    author: &record.author_id,
                    care,
                };
                if authorize(&actor, Action::AmendRecord, subject).is_err() {
                    let may_know = authorize(&actor, Action::ReadClinical, subject).is_ok()
                        || may_view_appointment(&actor, &appointment);
                    return Err(if may_know {
                        AppError::Forbidden
                    } else {
                        AppError::NotFound("record")
                    });
                }
                if amendment.base_version != record.version {
                    return Err(AppError::conflict(
                        ConflictKind::StaleVersion,
                        format!(
                            "version {} is not the latest (it is {}); read the record again",
                            amendment.base_version, record.version
                        ),
                    ));
                }
                if record.version >= MAX_RECORD_VERSIONS {
                    return Err(AppError::invalid(
                        "base_version",
                        "this record has reached 100 versions",
                    ));
                }
                let latest = tx
                    .record_versions(&record.id)?
                    .pop()
                    .ok_or_else(|| AppError::Internal("a record without versions".into()))?;
                let base = content_of(&latest.version.content)?;
                let content = amendment.apply(&base).validate()?;
                check_follow_up(&content, &appointment)?;
                if content == base {
                    return Err(AppError::invalid("reason", "the amendment changes nothing"));
                }
                let version = RecordVersion {
                    record_id: record.id.clone(),
                    version: record.version + 1,
                    at: now,
                    author_id: actor.user_id.clone(),
                    reason: Some(reason.clone()),
                    content: to_json(&content)?,
                };
                tx.append_record_version(&version)?;
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "record.amend",
                    ("record", Some(&record.id)),
                    json!({
                        "patient_id": record.patient_id.as_str(),
                        "version": version.version,
                    }),
                )?;
                let record = RecordRow {
                    version: version.version,
                    updated_at: now,
                    ..record
                };
                detail(tx, record, appointment, false)
            })
            .await
    }

    /// A patient's record entries, newest visit first: dates and authors, never a
    /// clinical field, so this list is not a clinical read.
    pub async fn list_patient_records(
        &self,
        actor: &Actor,
        patient: UserId,
        page: PageParams,
    ) -> Result<Page<RecordEntry>, AppError> {
        let request = page.to_request()?;
        if let Some(cursor) = &request.after
            && cursor.key.parse::<i64>().is_err()
        {
            return Err(AppError::invalid(
                "cursor",
                "is not a cursor this server issued",
            ));
        }
        let actor = actor.clone();
        let rows = {
            let request = request.clone();
            self.store
                .read(move |tx| {
                    let user = visible_patient(tx, &actor, &patient)?;
                    let care = has_care(tx, &actor, &user.id)?;
                    let subject = Subject::Chart {
                        patient: &user.id,
                        care,
                    };
                    authorize(&actor, Action::ListRecordEntries, subject)?;
                    Ok::<_, AppError>(tx.list_patient_records(&user.id, &request)?)
                })
                .await?
        };
        Ok(paginate(rows, &request, |entry| Cursor {
            key: entry.visit_start.as_millisecond().to_string(),
            id: entry.record.id.clone(),
        }))
    }

    /// The patient's health summary with its history (audited).
    pub async fn find_health_summary(
        &self,
        actor: &Actor,
        patient: UserId,
        break_glass: BreakGlass,
    ) -> Result<SummaryDetail, AppError> {
        let break_glass = break_glass.parse()?;
        let actor = actor.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let user = visible_patient(tx, &actor, &patient)?;
                let care = has_care(tx, &actor, &user.id)?;
                let subject = Subject::Chart {
                    patient: &user.id,
                    care,
                };
                let reason = authorize_clinical_read(&actor, subject, break_glass.as_deref())?;
                audit_clinical_read(
                    tx,
                    now,
                    &actor,
                    &user.id,
                    ClinicalSubject::new("summary", user.id.as_str()),
                    reason.as_deref(),
                )?;
                let mut versions = tx
                    .summary_versions(&user.id)?
                    .into_iter()
                    .rev()
                    .take(MAX_SUMMARY_VERSIONS_SHOWN)
                    .map(|version| {
                        let summary = summary_of(&version.content)?;
                        Ok(SummaryEntry { version, summary })
                    })
                    .collect::<Result<Vec<_>, AppError>>()?;
                let current = versions.first().cloned();
                versions.shrink_to_fit();
                Ok(SummaryDetail {
                    patient_id: user.id,
                    current,
                    versions,
                    break_glass: reason.is_some(),
                })
            })
            .await
    }

    /// The patient states their summary; a doctor with a care relationship confirms
    /// it (same content) or corrects it. Every version is kept.
    pub async fn update_health_summary(
        &self,
        actor: &Actor,
        patient: UserId,
        update: SummaryUpdate,
    ) -> Result<SummaryEntry, AppError> {
        let summary = update.summary.validate()?;
        let note = parse_text("note", update.note.as_deref(), MAX_REASON_CHARS)?;
        if update.base_version.is_some_and(|v| v < 0) {
            return Err(AppError::invalid("base_version", "must be 0 or more"));
        }
        let actor = actor.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let user = visible_patient(tx, &actor, &patient)?;
                let care = has_care(tx, &actor, &user.id)?;
                let subject = Subject::Chart {
                    patient: &user.id,
                    care,
                };
                authorize(&actor, Action::EditHealthSummary, subject)?;
                let latest = tx.summary_versions(&user.id)?.pop();
                let latest_number = latest.as_ref().map_or(0, |v| v.version);
                if let Some(base) = update.base_version
                    && base != latest_number
                {
                    return Err(AppError::conflict(
                        ConflictKind::StaleVersion,
                        format!(
                            "version {base} is not the latest (it is {latest_number}); read the summary again"
                        ),
                    ));
                }
                let kind = if actor.user_id == user.id {
                    "stated"
                } else {
                    let same = match &latest {
                        Some(latest) => summary_of(&latest.content)? == summary,
                        None => false,
                    };
                    if same { "confirmed" } else { "corrected" }
                };
                let version = SummaryVersion {
                    patient_id: user.id.clone(),
                    version: latest_number + 1,
                    at: now,
                    author_id: actor.user_id.clone(),
                    author_role: actor.role,
                    kind: kind.to_owned(),
                    note,
                    content: to_json(&summary)?,
                    author_name: String::new(),
                };
                tx.insert_summary_version(&version)?;
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "summary.update",
                    ("user", Some(user.id.as_str())),
                    json!({ "version": version.version, "kind": kind }),
                )?;
                let author = tx
                    .find_user(&actor.user_id)?
                    .map(|u| u.name)
                    .unwrap_or_default();
                Ok(SummaryEntry {
                    version: SummaryVersion {
                        author_name: author,
                        ..version
                    },
                    summary,
                })
            })
            .await
    }
}
