//! Prescriptions: issuing (the appointment's doctor, once the patient is checked
//! in), reading (the patient; a doctor with a care relationship; an admin with a
//! break-glass reason), the PDF, revoking (the issuing doctor), and the public
//! verification of a code.
//!
//! Every read of a prescription, of its PDF or of a patient's list is a clinical read,
//! recorded with the foundation's `audit_clinical_read` (the patient's access log;
//! break-glass reads also in the audit log) in the same transaction as the read, so
//! a read that is served is a read that is recorded.

use base64::Engine;
use carebook_domain::policy::{Action, Actor, Subject, authorize};
use carebook_domain::prescription::{
    CODE_RANDOM_BYTES, MedicationLineInput, PrescriptionStatus, completes_at,
    format_verification_code, may_issue_for, normalize_verification_code, parse_prescription,
    parse_revoke_reason,
};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde_json::json;

use super::appointments::visible_appointment;
use super::clinical::{
    BreakGlass, ClinicalSubject, audit_clinical_read, authorize_clinical_read, has_care,
    visible_patient,
};
use super::{App, AppError, ConflictKind, Page, PageParams, audit, new_id, paginate, sha256_hex};
use crate::pdf::{Document, Font};
use crate::store::{
    AppointmentId, Cursor, PrescriptionId, PrescriptionRecord, PrescriptionView, Tx, UserId,
};

#[derive(Debug, Clone, Default)]
pub struct PrescriptionInput {
    pub lines: Vec<MedicationLineInput>,
    pub notes: Option<String>,
}

/// A prescription as its readers see it, with its status now.
#[derive(Debug, Clone)]
pub struct Prescription {
    pub view: PrescriptionView,
    pub status: PrescriptionStatus,
}

/// A prescription just issued: the only answer that carries the verification code
/// outside the PDF (the store keeps only its hash).
#[derive(Debug, Clone)]
pub struct IssuedPrescription {
    pub prescription: Prescription,
    pub verification_code: String,
    pub verify_url: String,
}

/// What the public verification tells: existence, status, date; never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub status: PrescriptionStatus,
    pub issued_at: Timestamp,
}

impl Verification {
    /// Valid: issued by carebook, not revoked and not yet completed.
    pub fn valid(&self) -> bool {
        self.status == PrescriptionStatus::Active
    }
}

/// Decides a clinical read of a prescription (R's foundation: [`authorize_clinical_read`]
/// on [`Subject::Record`], the prescriber as author). Refusals tell nothing to those
/// who may not see its appointment (404); the others (the front desk, an admin
/// without a break-glass reason) get 403.
fn decide_prescription_read(
    tx: &mut dyn Tx,
    actor: &Actor,
    record: &PrescriptionRecord,
    break_glass: Option<&str>,
) -> Result<Option<String>, AppError> {
    let care = has_care(tx, actor, &record.patient_id)?;
    let subject = Subject::Record {
        patient: &record.patient_id,
        author: &record.doctor_id,
        care,
    };
    authorize_clinical_read(actor, subject, break_glass).map_err(|_| {
        let appointment = Subject::Appointment {
            patient: &record.patient_id,
            doctor: &record.doctor_id,
        };
        if authorize(actor, Action::ViewAppointment, appointment).is_ok() {
            AppError::Forbidden
        } else {
            AppError::NotFound("prescription")
        }
    })
}

pub(crate) fn with_status(view: PrescriptionView, now: Timestamp) -> Prescription {
    let status = PrescriptionStatus::at(
        view.record.revoked_at.is_some(),
        view.record.completes_at,
        now,
    );
    Prescription { view, status }
}

/// The facts printed on a prescription.
struct PdfFacts<'a> {
    clinic_name: &'a str,
    zone: &'a TimeZone,
    view: &'a PrescriptionView,
    code: &'a str,
    verify_url: &'a str,
}

fn render_pdf(facts: &PdfFacts<'_>) -> Vec<u8> {
    let r = &facts.view.record;
    let issued = r.issued_at.to_zoned_datetime(facts.zone.clone());
    let mut doc = Document::new("Prescription");
    doc.text(facts.clinic_name, Font::Bold, 16.0, 0.0);
    doc.text("Prescription", Font::Regular, 13.0, 0.0);
    doc.rule();
    doc.gap(4.0);
    doc.text(
        &format!("Doctor: {}", facts.view.doctor_name),
        Font::Regular,
        11.0,
        0.0,
    );
    doc.text(
        &format!("Patient: {}", facts.view.patient_name),
        Font::Regular,
        11.0,
        0.0,
    );
    doc.text(
        &format!("Date: {}", issued.strftime("%Y-%m-%d %H:%M %Z")),
        Font::Regular,
        11.0,
        0.0,
    );
    doc.text(&format!("Reference: {}", r.id), Font::Regular, 9.0, 0.0);
    doc.gap(10.0);
    doc.text("Medication", Font::Bold, 12.0, 0.0);
    for (i, line) in r.lines.iter().enumerate() {
        doc.gap(4.0);
        let title = match &line.strength {
            Some(strength) => format!("{}. {} {}", i + 1, line.name, strength),
            None => format!("{}. {}", i + 1, line.name),
        };
        doc.text(&title, Font::Bold, 11.0, 0.0);
        let mut how = vec![format!("Dose: {}", line.dose)];
        if let Some(route) = &line.route {
            how.push(format!("Route: {route}"));
        }
        how.push(format!("Frequency: {}", line.frequency));
        let days = if line.duration_days == 1 {
            "day"
        } else {
            "days"
        };
        how.push(format!("Duration: {} {days}", line.duration_days));
        if let Some(quantity) = &line.quantity {
            how.push(format!("Quantity: {quantity}"));
        }
        doc.text(&how.join("; "), Font::Regular, 10.5, 14.0);
        if let Some(instructions) = &line.instructions {
            doc.text(
                &format!("Instructions: {instructions}"),
                Font::Regular,
                10.5,
                14.0,
            );
        }
    }
    if let Some(notes) = &r.notes {
        doc.gap(10.0);
        doc.text("Notes", Font::Bold, 12.0, 0.0);
        for paragraph in notes.lines() {
            doc.text(paragraph, Font::Regular, 10.5, 0.0);
        }
    }
    doc.gap(16.0);
    doc.rule();
    doc.text(
        &format!("Verification code: {}", facts.code),
        Font::Bold,
        11.0,
        0.0,
    );
    doc.text(
        &format!(
            "Check that this prescription is valid at {}",
            facts.verify_url
        ),
        Font::Regular,
        9.5,
        0.0,
    );
    doc.finish()
}

impl App {
    /// The public address that verifies `code`.
    pub fn verify_url(&self, code: &str) -> String {
        format!(
            "{}/verify/{code}",
            self.settings.public_url.trim_end_matches('/')
        )
    }

    pub async fn issue_prescription(
        &self,
        actor: &Actor,
        appointment: AppointmentId,
        input: PrescriptionInput,
    ) -> Result<IssuedPrescription, AppError> {
        let content = parse_prescription(&input.lines, input.notes.as_deref())?;
        let code = format_verification_code(&super::random_bytes::<CODE_RANDOM_BYTES>());
        let verify_hash =
            sha256_hex(&normalize_verification_code(&code).expect("a code we made reads back"));
        let verify_url = self.verify_url(&code);
        let (actor, now) = (actor.clone(), self.now());
        let clinic_name = self.settings.clinic_name.clone();
        let zone = TimeZone::get(&self.settings.clinic_time_zone).unwrap_or(TimeZone::UTC);
        let (code_out, url_out) = (code.clone(), verify_url.clone());
        let notifier = self.notifier.clone();
        let view = self
            .store
            .write(move |tx| {
                let appointment = visible_appointment(tx, &actor, &appointment)?;
                let a = &appointment.record;
                authorize(
                    &actor,
                    Action::IssuePrescription,
                    Subject::Appointment {
                        patient: &a.patient_id,
                        doctor: &a.doctor_id,
                    },
                )?;
                if !may_issue_for(a.status) {
                    return Err(AppError::conflict(
                        ConflictKind::VisitNotStarted,
                        "a prescription needs the patient checked in, or the visit completed",
                    ));
                }
                let record = PrescriptionRecord {
                    id: PrescriptionId::new(new_id("rx")),
                    appointment_id: a.id.clone(),
                    patient_id: a.patient_id.clone(),
                    doctor_id: a.doctor_id.clone(),
                    completes_at: completes_at(now, &content.lines),
                    lines: content.lines,
                    notes: content.notes,
                    issued_at: now,
                    verify_hash,
                    revoked_at: None,
                    revoked_reason: None,
                };
                let view = PrescriptionView {
                    record,
                    doctor_name: appointment.doctor_name.clone(),
                    patient_name: appointment.patient_name.clone(),
                };
                let pdf = render_pdf(&PdfFacts {
                    clinic_name: &clinic_name,
                    zone: &zone,
                    view: &view,
                    code: &code,
                    verify_url: &verify_url,
                });
                let pdf = base64::engine::general_purpose::STANDARD.encode(pdf);
                tx.insert_prescription(&view.record, &pdf)?;
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "prescription.issued",
                    ("prescription", Some(view.record.id.as_str())),
                    json!({
                        "appointment_id": view.record.appointment_id,
                        "patient_id": view.record.patient_id,
                        "lines": view.record.lines.len(),
                    }),
                )?;
                let doctor_zone = tx
                    .find_doctor(&a.doctor_id)?
                    .and_then(|d| d.schedule.time_zone.iana_name().map(str::to_owned))
                    .unwrap_or_else(|| zone.iana_name().unwrap_or("UTC").to_owned());
                notifier.prescription_issued(tx, &actor, &appointment, &doctor_zone, now)?;
                Ok::<_, AppError>(view)
            })
            .await?;
        Ok(IssuedPrescription {
            prescription: with_status(view, now),
            verification_code: code_out,
            verify_url: url_out,
        })
    }

    /// One prescription; a clinical read, audited.
    pub async fn find_prescription(
        &self,
        actor: &Actor,
        id: PrescriptionId,
        break_glass: BreakGlass,
    ) -> Result<Prescription, AppError> {
        let break_glass = break_glass.parse()?;
        let (actor, now) = (actor.clone(), self.now());
        let view = self
            .store
            .write(move |tx| {
                let view = tx
                    .find_prescription(&id)?
                    .ok_or(AppError::NotFound("prescription"))?;
                let grant =
                    decide_prescription_read(tx, &actor, &view.record, break_glass.as_deref())?;
                audit_clinical_read(
                    tx,
                    now,
                    &actor,
                    &view.record.patient_id,
                    ClinicalSubject::new("prescription", id.as_str()),
                    grant.as_deref(),
                )?;
                Ok::<_, AppError>(view)
            })
            .await?;
        Ok(with_status(view, now))
    }

    /// The PDF as issued; a clinical read, audited.
    pub async fn prescription_pdf(
        &self,
        actor: &Actor,
        id: PrescriptionId,
        break_glass: BreakGlass,
    ) -> Result<Vec<u8>, AppError> {
        let break_glass = break_glass.parse()?;
        let (actor, now) = (actor.clone(), self.now());
        let pdf = self
            .store
            .write(move |tx| {
                let view = tx
                    .find_prescription(&id)?
                    .ok_or(AppError::NotFound("prescription"))?;
                let grant =
                    decide_prescription_read(tx, &actor, &view.record, break_glass.as_deref())?;
                let pdf = tx
                    .prescription_pdf(&id)?
                    .ok_or(AppError::NotFound("prescription"))?;
                audit_clinical_read(
                    tx,
                    now,
                    &actor,
                    &view.record.patient_id,
                    ClinicalSubject::new("prescription_pdf", id.as_str()),
                    grant.as_deref(),
                )?;
                Ok::<_, AppError>(pdf)
            })
            .await?;
        base64::engine::general_purpose::STANDARD
            .decode(pdf)
            .map_err(|_| AppError::Internal("a stored prescription PDF is not base64".into()))
    }

    /// A patient's prescriptions, newest first; a clinical read, audited once per
    /// page.
    pub async fn list_prescriptions(
        &self,
        actor: &Actor,
        patient: UserId,
        break_glass: BreakGlass,
        page: PageParams,
    ) -> Result<Page<Prescription>, AppError> {
        let request = page.to_request()?;
        let break_glass = break_glass.parse()?;
        let (actor, now) = (actor.clone(), self.now());
        let rows = {
            let request = request.clone();
            self.store
                .write(move |tx| {
                    visible_patient(tx, &actor, &patient)?;
                    let care = has_care(tx, &actor, &patient)?;
                    let chart = Subject::Chart {
                        patient: &patient,
                        care,
                    };
                    let grant = authorize_clinical_read(&actor, chart, break_glass.as_deref())?;
                    let rows = tx.list_prescriptions(&patient, &request)?;
                    audit_clinical_read(
                        tx,
                        now,
                        &actor,
                        &patient,
                        ClinicalSubject::new("prescription_list", patient.as_str()),
                        grant.as_deref(),
                    )?;
                    Ok::<_, AppError>(rows)
                })
                .await?
        };
        let page = paginate(rows, &request, |v| Cursor {
            key: v.record.issued_at.as_millisecond().to_string(),
            id: v.record.id.to_string(),
        });
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|v| with_status(v, now))
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Revokes a prescription (the issuing doctor), keeping it and the reason.
    pub async fn revoke_prescription(
        &self,
        actor: &Actor,
        id: PrescriptionId,
        reason: Option<String>,
    ) -> Result<Prescription, AppError> {
        let reason = parse_revoke_reason(reason.as_deref())?;
        let (actor, now) = (actor.clone(), self.now());
        let view = self
            .store
            .write(move |tx| {
                let view = tx
                    .find_prescription(&id)?
                    .ok_or(AppError::NotFound("prescription"))?;
                let r = &view.record;
                let care = has_care(tx, &actor, &r.patient_id)?;
                let subject = Subject::Record {
                    patient: &r.patient_id,
                    author: &r.doctor_id,
                    care,
                };
                if authorize(&actor, Action::RevokePrescription, subject).is_err() {
                    // Those who may read it (or see its visit) learn they may not
                    // revoke it; others learn nothing.
                    decide_prescription_read(tx, &actor, r, None)?;
                    return Err(AppError::Forbidden);
                }
                if !tx.revoke_prescription(&id, now, &reason)? {
                    return Err(AppError::conflict(
                        ConflictKind::AlreadyRevoked,
                        "this prescription is revoked already",
                    ));
                }
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "prescription.revoked",
                    ("prescription", Some(id.as_str())),
                    json!({ "patient_id": r.patient_id }),
                )?;
                let view = tx
                    .find_prescription(&id)?
                    .ok_or(AppError::NotFound("prescription"))?;
                Ok::<_, AppError>(view)
            })
            .await?;
        Ok(with_status(view, now))
    }

    /// The public check of a verification code: `None` when no prescription has it
    /// (or it cannot be a code).
    pub async fn verify_prescription(&self, code: &str) -> Result<Option<Verification>, AppError> {
        let Some(normalized) = normalize_verification_code(code) else {
            return Ok(None);
        };
        let hash = sha256_hex(&normalized);
        let now = self.now();
        let found = self
            .store
            .read(move |tx| Ok::<_, AppError>(tx.find_prescription_by_code(&hash)?))
            .await?;
        Ok(found.map(|r| Verification {
            status: PrescriptionStatus::at(r.revoked_at.is_some(), r.completes_at, now),
            issued_at: r.issued_at,
        }))
    }
}
