//! The health summary page: the patient states their allergies, chronic
//! conditions, medications and blood group (`/health-summary`); a doctor with a
//! care relationship reads it and confirms or corrects it
//! (`/patients/{id}/health-summary`, linked from the appointment's page). Every
//! version is kept and shown. Reading it is an audited clinical read
//! (`App::find_health_summary`); saving is `App::update_health_summary`, which
//! decides who may and whether a doctor's save confirms or corrects.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use carebook_domain::record::{BLOOD_GROUPS, HealthSummary};
use carebook_domain::{Role, ValidationErrors};
use serde::Deserialize;

use super::session::{Chrome, CsrfForm, Flash, WebResult, render, see_other};
use super::view::{self, FieldErrors, optional};
use crate::app::clinical::BreakGlass;
use crate::app::{App, AppError, SummaryDetail, SummaryUpdate};
use crate::store::UserId;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/health-summary", get(find_own).post(update_own))
        .route(
            "/patients/{id}/health-summary",
            get(find_patients).post(update_patients),
        )
}

/// The form: one entry per line in each list.
#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub struct SummaryFields {
    allergies: String,
    chronic_conditions: String,
    current_medications: String,
    blood_group: String,
    note: String,
    /// The version the form was filled over (0: none yet).
    base_version: String,
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl SummaryFields {
    fn of(summary: &HealthSummary, base_version: i64) -> SummaryFields {
        SummaryFields {
            allergies: summary.allergies.join("\n"),
            chronic_conditions: summary.chronic_conditions.join("\n"),
            current_medications: summary.current_medications.join("\n"),
            blood_group: summary.blood_group.clone().unwrap_or_default(),
            note: String::new(),
            base_version: base_version.to_string(),
        }
    }

    fn update(&self) -> SummaryUpdate {
        SummaryUpdate {
            base_version: Some(self.base_version.trim().parse().unwrap_or(0)),
            summary: HealthSummary {
                allergies: lines(&self.allergies),
                chronic_conditions: lines(&self.chronic_conditions),
                current_medications: lines(&self.current_medications),
                blood_group: optional(&self.blood_group),
            },
            note: optional(&self.note),
        }
    }
}

/// `allergies[2]` → `allergies`, saying which line.
fn form_errors(errors: ValidationErrors) -> FieldErrors {
    let mut out = FieldErrors::new();
    for error in errors.errors {
        match error.field.split_once('[') {
            Some((field, rest)) => {
                let line = rest
                    .trim_end_matches(']')
                    .parse::<usize>()
                    .map_or(0, |i| i + 1);
                out.add(field, &format!("line {line} {}", error.message));
            }
            None => out.add(&error.field, &error.message),
        }
    }
    out
}

struct SummaryVersionView {
    version: i64,
    when: String,
    author: String,
    kind: &'static str,
    note: Option<String>,
    allergies: Vec<String>,
    chronic_conditions: Vec<String>,
    current_medications: Vec<String>,
    blood_group: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/records/summary.html")]
struct SummaryPage {
    chrome: Chrome,
    /// Where the form posts.
    action: String,
    /// The viewer is the patient (else a doctor confirming or correcting).
    own: bool,
    patient_name: String,
    /// Newest first; the first is the current one.
    versions: Vec<SummaryVersionView>,
    fields: SummaryFields,
    errors: FieldErrors,
    problem: Option<String>,
    blood_groups: [&'static str; 8],
}

fn kind_label(kind: &str) -> &'static str {
    match kind {
        "stated" => "stated by the patient",
        "confirmed" => "confirmed by a doctor",
        _ => "corrected by a doctor",
    }
}

/// Whose summary a path names, and the page's form address.
fn target(chrome: &Chrome, id: Option<String>) -> WebResult<(UserId, String, bool)> {
    let user = chrome.require()?;
    Ok(match id {
        None => {
            chrome.require_role(&[Role::Patient])?;
            (
                user.actor.user_id.clone(),
                "/health-summary".to_owned(),
                true,
            )
        }
        Some(id) => {
            let own = id == user.actor.user_id.as_str();
            let action = format!("/patients/{id}/health-summary");
            (UserId::new(id), action, own)
        }
    })
}

async fn page(
    app: &App,
    chrome: &Chrome,
    id: Option<String>,
    sent_back: Option<(SummaryFields, FieldErrors, Option<String>)>,
) -> WebResult {
    let (patient, action, own) = target(chrome, id)?;
    let user = chrome.require()?;
    let detail: SummaryDetail = app
        .find_health_summary(&user.actor, patient.clone(), BreakGlass::default())
        .await?;
    let patient_name = if own {
        user.user.name.clone()
    } else {
        app.find_user(&user.actor, patient)
            .await
            .map(|u| u.name)
            .unwrap_or_default()
    };
    let zone = view::zone(&app.settings.clinic_time_zone);
    let latest = detail.current.as_ref().map_or(0, |c| c.version.version);
    let (fields, errors, problem) = match sent_back {
        Some((mut fields, errors, problem)) => {
            if problem.is_some() {
                fields.base_version = latest.to_string();
            }
            (fields, errors, problem)
        }
        None => {
            let fields = detail.current.as_ref().map_or_else(
                || SummaryFields {
                    base_version: "0".into(),
                    ..SummaryFields::default()
                },
                |c| SummaryFields::of(&c.summary, latest),
            );
            (fields, FieldErrors::new(), None)
        }
    };
    let versions = detail
        .versions
        .into_iter()
        .map(|e| SummaryVersionView {
            version: e.version.version,
            when: view::date_time(e.version.at, &zone),
            author: e.version.author_name,
            kind: kind_label(&e.version.kind),
            note: e.version.note,
            allergies: e.summary.allergies,
            chronic_conditions: e.summary.chronic_conditions,
            current_medications: e.summary.current_medications,
            blood_group: e.summary.blood_group,
        })
        .collect();
    let invalid = !errors.is_empty() || problem.is_some();
    let conflict = problem.is_some();
    let page = SummaryPage {
        action,
        own,
        patient_name,
        versions,
        fields,
        errors,
        problem,
        blood_groups: BLOOD_GROUPS,
        chrome: chrome.clone(),
    };
    let mut response = render(&page);
    if conflict {
        *response.status_mut() = StatusCode::CONFLICT;
    } else if invalid {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

async fn save(app: &App, chrome: &Chrome, id: Option<String>, form: SummaryFields) -> WebResult {
    let (patient, action, own) = target(chrome, id.clone())?;
    let user = chrome.require()?;
    match app
        .update_health_summary(&user.actor, patient, form.update())
        .await
    {
        Ok(saved) => {
            let message = match (own, saved.version.kind.as_str()) {
                (true, _) => "Your health summary is saved.",
                (false, "confirmed") => "The health summary is confirmed as it was.",
                (false, _) => "The health summary is corrected.",
            };
            Ok(see_other(app, &action, Some(Flash::success(message))))
        }
        Err(AppError::Invalid(errors)) => {
            page(app, chrome, id, Some((form, form_errors(errors), None))).await
        }
        Err(AppError::Conflict { .. }) => {
            let problem = "The summary was changed while you were editing it, so your \
                version was not saved. The current one is shown below; your entries are \
                still in the form: check them against it and save again."
                .to_owned();
            page(
                app,
                chrome,
                id,
                Some((form, FieldErrors::new(), Some(problem))),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /health-summary`: the patient's own.
async fn find_own(State(app): State<App>, chrome: Chrome) -> WebResult {
    page(&app, &chrome, None, None).await
}

/// `POST /health-summary`: the patient states it.
async fn update_own(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<SummaryFields>,
) -> WebResult {
    save(&app, &chrome, None, form).await
}

/// `GET /patients/{id}/health-summary`: a doctor with a care relationship (or the
/// patient themself).
async fn find_patients(
    State(app): State<App>,
    chrome: Chrome,
    Path(id): Path<String>,
) -> WebResult {
    page(&app, &chrome, Some(id), None).await
}

/// `POST /patients/{id}/health-summary`: the doctor confirms (unchanged) or
/// corrects it.
async fn update_patients(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<SummaryFields>,
) -> WebResult {
    save(&app, &chrome, Some(id), form).await
}
