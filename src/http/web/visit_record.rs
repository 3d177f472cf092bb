//! The visit record on the appointment's page: the doctor's form to write it, its
//! versions and the amendment form; the patient's link to it. The rules (who, when,
//! which values, stale versions) are the app's: `App::write_record`,
//! `App::amend_record`. A refusal the doctor can act on comes back on the page with
//! their values kept: field errors (422) next to the fields, a stale version (409)
//! as a message above the form.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use carebook_domain::ValidationErrors;
use carebook_domain::record::{RecordContent, Vitals};
use jiff::civil::Date;
use serde::Deserialize;

use super::appointments::{RecordForm, SentBack, appointment_page};
use super::session::{CsrfForm, Flash, WebResult, see_other};
use super::view::{FieldErrors, optional};
use crate::app::{App, AppError, RecordAmendment};
use crate::store::AppointmentId;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/appointments/{id}/record", post(create_record))
        .route("/appointments/{id}/record/amend", post(create_amendment))
}

/// The record's fields as the form sends them (every one text, blank for none).
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct RecordFields {
    pub symptoms: String,
    pub diagnosis: String,
    pub icd10_code: String,
    pub notes: String,
    pub systolic_mmhg: String,
    pub diastolic_mmhg: String,
    pub pulse_per_min: String,
    pub temperature_c: String,
    pub weight_kg: String,
    pub height_cm: String,
    pub follow_up_advice: String,
    pub follow_up_date: String,
    /// Amendments only.
    pub reason: String,
    /// Amendments only: the version the form was filled over.
    pub base_version: String,
}

fn number_text<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

impl RecordFields {
    /// The form filled with a version's content, to amend it.
    pub fn from_content(content: &RecordContent, base_version: i64) -> RecordFields {
        let v = &content.vitals;
        RecordFields {
            symptoms: content.symptoms.clone().unwrap_or_default(),
            diagnosis: content.diagnosis.clone().unwrap_or_default(),
            icd10_code: content.icd10_code.clone().unwrap_or_default(),
            notes: content.notes.clone().unwrap_or_default(),
            systolic_mmhg: number_text(v.systolic_mmhg),
            diastolic_mmhg: number_text(v.diastolic_mmhg),
            pulse_per_min: number_text(v.pulse_per_min),
            temperature_c: number_text(v.temperature_c),
            weight_kg: number_text(v.weight_kg),
            height_cm: number_text(v.height_cm),
            follow_up_advice: content.follow_up_advice.clone().unwrap_or_default(),
            follow_up_date: number_text(content.follow_up_date),
            reason: String::new(),
            base_version: base_version.to_string(),
        }
    }

    /// The content the form states; values that are not numbers or dates are
    /// named in the errors (the app checks the ranges).
    fn content(&self) -> Result<RecordContent, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut whole = |name: &str, text: &str| -> Option<i64> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            text.parse().ok().or_else(|| {
                errors.add(name, "must be a whole number");
                None
            })
        };
        let systolic_mmhg = whole("systolic_mmhg", &self.systolic_mmhg);
        let diastolic_mmhg = whole("diastolic_mmhg", &self.diastolic_mmhg);
        let pulse_per_min = whole("pulse_per_min", &self.pulse_per_min);
        let mut decimal = |name: &str, text: &str| -> Option<f64> {
            // A decimal comma is how much of the world writes 38,5.
            let text = text.trim().replace(',', ".");
            if text.is_empty() {
                return None;
            }
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .or_else(|| {
                    errors.add(name, "must be a number");
                    None
                })
        };
        let temperature_c = decimal("temperature_c", &self.temperature_c);
        let weight_kg = decimal("weight_kg", &self.weight_kg);
        let height_cm = decimal("height_cm", &self.height_cm);
        let follow_up_date = match optional(&self.follow_up_date) {
            None => None,
            Some(text) => text.parse::<Date>().ok().or_else(|| {
                errors.add("follow_up_date", "must be a date (YYYY-MM-DD)");
                None
            }),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RecordContent {
            symptoms: optional(&self.symptoms),
            diagnosis: optional(&self.diagnosis),
            icd10_code: optional(&self.icd10_code),
            notes: optional(&self.notes),
            vitals: Vitals {
                systolic_mmhg,
                diastolic_mmhg,
                pulse_per_min,
                temperature_c,
                weight_kg,
                height_cm,
            },
            follow_up_advice: optional(&self.follow_up_advice),
            follow_up_date,
        })
    }
}

/// The app names vitals `vitals.pulse_per_min`; the form calls them `pulse_per_min`.
fn form_errors(errors: ValidationErrors) -> FieldErrors {
    let mut out = FieldErrors::new();
    for error in errors.errors {
        let field = error.field.strip_prefix("vitals.").unwrap_or(&error.field);
        out.add(field, &error.message);
    }
    out
}

/// The appointment's page again, with the form as sent and what is wrong with it.
async fn again(
    app: &App,
    chrome: &super::session::Chrome,
    id: &str,
    form: RecordForm,
    status: StatusCode,
) -> WebResult {
    let sent_back = SentBack {
        record: Some(form),
        ..SentBack::default()
    };
    let mut response = appointment_page(app, chrome, id, sent_back).await?;
    *response.status_mut() = status;
    Ok(response)
}

/// `POST /appointments/{id}/record`: the visit's doctor writes its record.
async fn create_record(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<RecordFields>,
) -> WebResult {
    let user = chrome.require()?;
    let refused = |errors: FieldErrors| RecordForm {
        fields: form.clone(),
        errors,
        problem: None,
    };
    let content = match form.content() {
        Ok(content) => content,
        Err(errors) => {
            let form = refused(errors);
            return again(&app, &chrome, &id, form, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    match app
        .write_record(&user.actor, AppointmentId::new(&id), content)
        .await
    {
        Ok(_) => Ok(see_other(
            &app,
            &format!("/appointments/{id}#record"),
            Some(Flash::success("The visit record is saved.")),
        )),
        Err(AppError::Invalid(errors)) => {
            let form = refused(form_errors(errors));
            again(&app, &chrome, &id, form, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(AppError::Conflict { detail, .. }) => {
            let form = RecordForm {
                problem: Some(detail),
                ..refused(FieldErrors::new())
            };
            again(&app, &chrome, &id, form, StatusCode::CONFLICT).await
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /appointments/{id}/record/amend`: the record's author amends it over the
/// version the form was filled with (`base_version`), with a reason. Every field
/// is sent, so a field emptied on the form is cleared.
async fn create_amendment(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<RecordFields>,
) -> WebResult {
    let user = chrome.require()?;
    let refused = |errors: FieldErrors, problem: Option<String>| RecordForm {
        fields: form.clone(),
        errors,
        problem,
    };
    let Some(record) = app
        .find_record_entry_of_appointment(&user.actor, AppointmentId::new(&id))
        .await?
    else {
        return Ok(see_other(
            &app,
            &format!("/appointments/{id}"),
            Some(Flash::error("This visit has no record to amend yet.")),
        ));
    };
    let base_version = form.base_version.trim().parse::<i64>().unwrap_or(0);
    let content = match form.content() {
        Ok(content) => content,
        Err(errors) => {
            let form = refused(errors, None);
            return again(&app, &chrome, &id, form, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    let amendment = RecordAmendment {
        base_version,
        reason: form.reason.clone(),
        symptoms: Some(content.symptoms),
        diagnosis: Some(content.diagnosis),
        icd10_code: Some(content.icd10_code),
        notes: Some(content.notes),
        vitals: Some(Some(content.vitals)),
        follow_up_advice: Some(content.follow_up_advice),
        follow_up_date: Some(content.follow_up_date),
    };
    match app.amend_record(&user.actor, record.id, amendment).await {
        Ok(amended) => Ok(see_other(
            &app,
            &format!("/appointments/{id}#record"),
            Some(Flash::success(format!(
                "The record is amended: version {} is the current one.",
                amended.record.version
            ))),
        )),
        Err(AppError::Invalid(errors)) => {
            let form = refused(form_errors(errors), None);
            again(&app, &chrome, &id, form, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(AppError::Conflict { .. }) => {
            let problem = "Someone amended this record while you were editing it, so your \
                amendment was not saved. The current version is shown above; your changes \
                are still in the form: check them against it and send them again."
                .to_owned();
            let form = refused(FieldErrors::new(), Some(problem));
            again(&app, &chrome, &id, form, StatusCode::CONFLICT).await
        }
        Err(other) => Err(other.into()),
    }
}
