//! Prescriptions on the pages: the patient's list (`/prescriptions`, each with its
//! PDF), and on a visit's page the doctor's form to issue one and to revoke one
//! they issued. The rules are the app's (`App::issue_prescription`,
//! `App::revoke_prescription`); reading a list is an audited clinical read, as in
//! the API.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use carebook_domain::Role;
use carebook_domain::ValidationErrors;
use carebook_domain::prescription::{MedicationLine, MedicationLineInput, PrescriptionStatus};
use serde::Deserialize;

use super::appointments::{SentBack, appointment_page};
use super::session::{
    Chrome, CsrfForm, Flash, WebResult, form_urlencoded_component, local_path, render, see_other,
};
use super::view::{self, FieldErrors, optional};
use crate::app::clinical::BreakGlass;
use crate::app::{App, AppError, PageParams, Prescription, PrescriptionInput};
use crate::store::{AppointmentId, PrescriptionId};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/prescriptions", get(list_prescriptions))
        .route(
            "/appointments/{id}/prescriptions",
            post(create_prescription),
        )
        .route("/prescriptions/{id}/revoke", post(create_revocation))
}

/// Empty line groups the issue form shows without JavaScript.
pub const FORM_LINES: usize = 3;

/// The parts of a medication line, as the form names them (`line1_name`, ...).
pub const LINE_PARTS: [&str; 8] = [
    "name",
    "strength",
    "dose",
    "route",
    "frequency",
    "duration_days",
    "quantity",
    "instructions",
];

/// One prescription as pages list it.
pub struct PrescriptionRow {
    pub id: String,
    pub issued: String,
    pub doctor: String,
    pub status: &'static str,
    pub status_class: &'static str,
    /// "Amoxicillin 500 mg, 1 capsule, 3 times a day for 7 days" per line.
    pub lines: Vec<String>,
    pub notes: Option<String>,
    pub revoked_reason: Option<String>,
    pub appointment_id: String,
    /// The viewer issued it and it is not revoked: they may revoke it.
    pub revocable: bool,
}

fn line_summary(line: &MedicationLine) -> String {
    let mut text = line.name.clone();
    if let Some(strength) = &line.strength {
        text.push(' ');
        text.push_str(strength);
    }
    text.push_str(&format!(", {}", line.dose));
    if let Some(route) = &line.route {
        text.push_str(&format!(" ({route})"));
    }
    text.push_str(&format!(
        ", {} for {} day{}",
        line.frequency,
        line.duration_days,
        if line.duration_days == 1 { "" } else { "s" }
    ));
    if let Some(quantity) = &line.quantity {
        text.push_str(&format!("; {quantity}"));
    }
    if let Some(instructions) = &line.instructions {
        text.push_str(&format!(". {instructions}"));
    }
    text
}

impl PrescriptionRow {
    pub fn new(p: Prescription, viewer: &crate::store::UserId, zone: &jiff::tz::TimeZone) -> Self {
        let r = p.view.record;
        let (status, status_class) = match p.status {
            PrescriptionStatus::Active => ("Active", "status-confirmed"),
            PrescriptionStatus::Completed => ("Completed", "status-completed"),
            PrescriptionStatus::Revoked => ("Revoked", "status-cancelled"),
        };
        PrescriptionRow {
            id: r.id.to_string(),
            issued: view::date_time(r.issued_at, zone),
            doctor: p.view.doctor_name,
            status,
            status_class,
            lines: r.lines.iter().map(line_summary).collect(),
            notes: r.notes,
            revocable: &r.doctor_id == viewer && r.revoked_at.is_none(),
            revoked_reason: r.revoked_reason,
            appointment_id: r.appointment_id.to_string(),
        }
    }
}

#[derive(Deserialize, Default)]
struct CursorQuery {
    cursor: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/prescriptions/list.html")]
struct PrescriptionsPage {
    chrome: Chrome,
    items: Vec<PrescriptionRow>,
    older: Option<String>,
    paging: bool,
}

/// `GET /prescriptions`: the patient's prescriptions, newest first (audited).
async fn list_prescriptions(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<CursorQuery>,
) -> WebResult {
    let user = chrome.require_role(&[Role::Patient])?;
    let page = match app
        .list_prescriptions(
            &user.actor,
            user.actor.user_id.clone(),
            BreakGlass::default(),
            PageParams {
                limit: Some(20),
                cursor: query.cursor.clone(),
            },
        )
        .await
    {
        Ok(page) => page,
        Err(AppError::Invalid(_)) => return Ok(see_other(&app, "/prescriptions", None)),
        Err(other) => return Err(other.into()),
    };
    let zone = view::zone(&app.settings.clinic_time_zone);
    let items = page
        .items
        .into_iter()
        .map(|p| PrescriptionRow::new(p, &user.actor.user_id, &zone))
        .collect();
    let page = PrescriptionsPage {
        items,
        older: page
            .next_cursor
            .map(|c| format!("/prescriptions?cursor={}", form_urlencoded_component(&c))),
        paging: query.cursor.is_some(),
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}

/// The issue form as sent back after a refusal: every group's values by field name
/// (`line1_name`, ..., `notes`) and the errors by the same names.
#[derive(Default)]
pub struct PrescriptionForm {
    pub values: HashMap<String, String>,
    pub errors: FieldErrors,
}

/// One input of a line group.
pub struct LineField {
    pub name: String,
    pub label: &'static str,
    pub kind: &'static str,
    pub value: String,
    pub attrs: &'static str,
    pub error: Option<String>,
}

/// One line group of the issue form.
pub struct LineGroup {
    pub number: usize,
    pub fields: Vec<LineField>,
}

fn part_input(part: &str) -> (&'static str, &'static str, &'static str) {
    match part {
        "name" => ("Medicine", "text", "maxlength=\"200\" autocomplete=\"off\""),
        "strength" => (
            "Strength (e.g. 500 mg)",
            "text",
            "maxlength=\"100\" autocomplete=\"off\"",
        ),
        "dose" => (
            "Dose (e.g. 1 tablet)",
            "text",
            "maxlength=\"100\" autocomplete=\"off\"",
        ),
        "route" => (
            "Route (e.g. oral)",
            "text",
            "maxlength=\"50\" autocomplete=\"off\"",
        ),
        "frequency" => (
            "How often",
            "text",
            "maxlength=\"100\" autocomplete=\"off\"",
        ),
        "duration_days" => (
            "For how many days",
            "number",
            "min=\"1\" max=\"365\" inputmode=\"numeric\"",
        ),
        "quantity" => (
            "Quantity (e.g. 21 capsules)",
            "text",
            "maxlength=\"100\" autocomplete=\"off\"",
        ),
        _ => (
            "Instructions",
            "text",
            "maxlength=\"1000\" autocomplete=\"off\"",
        ),
    }
}

impl PrescriptionForm {
    /// The groups to show: at least [`FORM_LINES`], and every group sent.
    pub fn groups(&self) -> Vec<LineGroup> {
        let sent = (1..=20)
            .rev()
            .find(|n| {
                LINE_PARTS.iter().any(|part| {
                    self.values
                        .get(&format!("line{n}_{part}"))
                        .is_some_and(|v| !v.trim().is_empty())
                })
            })
            .unwrap_or(0);
        (1..=sent.max(FORM_LINES))
            .map(|number| LineGroup {
                number,
                fields: LINE_PARTS
                    .iter()
                    .map(|part| {
                        let name = format!("line{number}_{part}");
                        let (label, kind, attrs) = part_input(part);
                        LineField {
                            value: self.values.get(&name).cloned().unwrap_or_default(),
                            error: self.errors.get(&name).map(str::to_owned),
                            name,
                            label,
                            kind,
                            attrs,
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    pub fn notes(&self) -> &str {
        self.values.get("notes").map_or("", String::as_str)
    }
}

/// The lines the form states: groups left wholly empty are ignored. Each line
/// kept remembers its group's number, to put the app's errors (`lines[0].dose`)
/// next to the right fields (`line2_dose`).
fn parse_lines(
    values: &HashMap<String, String>,
) -> (Vec<MedicationLineInput>, Vec<usize>, FieldErrors) {
    let mut lines = Vec::new();
    let mut numbers = Vec::new();
    let mut errors = FieldErrors::new();
    for number in 1..=20 {
        let get = |part: &str| {
            values
                .get(&format!("line{number}_{part}"))
                .map_or("", |v| v.trim())
                .to_owned()
        };
        if LINE_PARTS.iter().all(|part| get(part).is_empty()) {
            continue;
        }
        let duration = get("duration_days");
        let duration_days = if duration.is_empty() {
            0
        } else {
            match duration.parse::<i64>() {
                Ok(days) => days,
                Err(_) => {
                    errors.add(
                        &format!("line{number}_duration_days"),
                        "must be a whole number of days",
                    );
                    0
                }
            }
        };
        lines.push(MedicationLineInput {
            name: get("name"),
            strength: optional(&get("strength")),
            dose: get("dose"),
            route: optional(&get("route")),
            frequency: get("frequency"),
            duration_days,
            quantity: optional(&get("quantity")),
            instructions: optional(&get("instructions")),
        });
        numbers.push(number);
    }
    (lines, numbers, errors)
}

/// `lines[0].dose` → `line{numbers[0]}_dose`; `lines` (none at all) → `line1_name`.
fn form_errors(errors: ValidationErrors, numbers: &[usize]) -> FieldErrors {
    let mut out = FieldErrors::new();
    for error in errors.errors {
        let field = error.field.as_str();
        let mapped = field
            .strip_prefix("lines[")
            .and_then(|rest| rest.split_once("]."))
            .and_then(|(index, part)| {
                let number = numbers.get(index.parse::<usize>().ok()?)?;
                Some(format!("line{number}_{part}"))
            });
        match mapped {
            Some(name) => out.add(&name, &error.message),
            None if field == "lines" => out.add("line1_name", &error.message),
            None => out.add(field, &error.message),
        }
    }
    out
}

/// `POST /appointments/{id}/prescriptions`: the visit's doctor issues a
/// prescription. Fields `line{n}_{part}` for n in 1..=20 and `notes`.
async fn create_prescription(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<HashMap<String, String>>,
) -> WebResult {
    let user = chrome.require()?;
    let (lines, numbers, errors) = parse_lines(&form);
    let sent_back = |errors: FieldErrors| SentBack {
        prescription: Some(PrescriptionForm {
            values: form.clone(),
            errors,
        }),
        ..SentBack::default()
    };
    if !errors.is_empty() {
        let mut page = appointment_page(&app, &chrome, &id, sent_back(errors)).await?;
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(page);
    }
    let input = PrescriptionInput {
        lines,
        notes: form.get("notes").and_then(|n| optional(n)),
    };
    match app
        .issue_prescription(&user.actor, AppointmentId::new(&id), input)
        .await
    {
        Ok(issued) => Ok(see_other(
            &app,
            &format!("/appointments/{id}#prescriptions"),
            Some(Flash::success(format!(
                "The prescription is issued ({} line{}). The patient can download it.",
                issued.prescription.view.record.lines.len(),
                if issued.prescription.view.record.lines.len() == 1 {
                    ""
                } else {
                    "s"
                }
            ))),
        )),
        Err(AppError::Invalid(errors)) => {
            let errors = form_errors(errors, &numbers);
            let mut page = appointment_page(&app, &chrome, &id, sent_back(errors)).await?;
            *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Err(conflict @ AppError::Conflict { .. }) => Ok(see_other(
            &app,
            &format!("/appointments/{id}"),
            Some(super::appointments::refusal_flash(conflict)?),
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize, Default)]
struct RevokeForm {
    #[serde(default)]
    reason: String,
    back: Option<String>,
}

/// `POST /prescriptions/{id}/revoke`: the issuing doctor revokes it, with a reason
/// (the prescription is kept). Fields `_csrf`, `reason`, optional `back`.
async fn create_revocation(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<RevokeForm>,
) -> WebResult {
    let user = chrome.require()?;
    let back = local_path(form.back.as_deref(), "/");
    let flash = match app
        .revoke_prescription(&user.actor, PrescriptionId::new(id), Some(form.reason))
        .await
    {
        Ok(_) => Flash::success("The prescription is revoked. It stays on file, with your reason."),
        Err(AppError::Invalid(_)) => {
            Flash::error("Nothing was revoked: please give a reason (at most 1,000 characters).")
        }
        Err(error) => super::appointments::refusal_flash(error)?,
    };
    Ok(see_other(&app, &back, Some(flash)))
}
