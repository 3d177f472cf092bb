//! The patient's clinical pages: "My records" (each visit record with every
//! version) and the access history (who read their clinical data). Reading a record
//! here is a clinical read like the API's, and is audited the same way.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use carebook_domain::Role;
use carebook_domain::record::RecordContent;
use jiff::tz::TimeZone;
use serde::Deserialize;

use super::session::{Chrome, WebResult, form_urlencoded_component, render, see_other};
use super::view;
use crate::app::clinical::BreakGlass;
use crate::app::{App, AppError, PageParams};
use crate::store::RecordVersionView;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/records", get(list_records))
        .route("/records/{id}", get(find_record))
        .route("/access-history", get(list_access_history))
}

#[derive(Deserialize, Default)]
struct CursorQuery {
    cursor: Option<String>,
}

struct RecordRow {
    id: String,
    when: String,
    doctor: String,
    version: i64,
}

#[derive(askama::Template)]
#[template(path = "web/records/list.html")]
struct RecordsPage {
    chrome: Chrome,
    items: Vec<RecordRow>,
    older: Option<String>,
    paging: bool,
}

/// `GET /records`: the patient's visit records, newest visit first.
async fn list_records(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<CursorQuery>,
) -> WebResult {
    let user = chrome.require_role(&[Role::Patient])?;
    let page = match app
        .list_patient_records(
            &user.actor,
            user.actor.user_id.clone(),
            PageParams {
                limit: Some(20),
                cursor: query.cursor.clone(),
            },
        )
        .await
    {
        Ok(page) => page,
        Err(AppError::Invalid(_)) => return Ok(see_other(&app, "/records", None)),
        Err(other) => return Err(other.into()),
    };
    let zone = view::zone(&app.settings.clinic_time_zone);
    let items = page
        .items
        .into_iter()
        .map(|e| RecordRow {
            id: e.record.id,
            when: view::date_time(e.visit_start, &zone),
            doctor: e.author_name,
            version: e.record.version,
        })
        .collect();
    let page = RecordsPage {
        items,
        older: page
            .next_cursor
            .map(|c| format!("/records?cursor={}", form_urlencoded_component(&c))),
        paging: query.cursor.is_some(),
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}

/// One version of a record as pages show it.
pub struct VersionView {
    pub version: i64,
    pub when: String,
    pub author: String,
    pub reason: Option<String>,
    pub symptoms: Option<String>,
    pub diagnosis: Option<String>,
    pub icd10_code: Option<String>,
    pub notes: Option<String>,
    pub vitals: Vec<(&'static str, String)>,
    pub follow_up_advice: Option<String>,
    pub follow_up_date: Option<String>,
}

pub fn version_view(v: RecordVersionView, c: RecordContent, zone: &TimeZone) -> VersionView {
    let vitals = [
        (
            "Blood pressure",
            match (c.vitals.systolic_mmhg, c.vitals.diastolic_mmhg) {
                (Some(s), Some(d)) => Some(format!("{s}/{d} mmHg")),
                (Some(s), None) => Some(format!("{s} mmHg systolic")),
                (None, Some(d)) => Some(format!("{d} mmHg diastolic")),
                (None, None) => None,
            },
        ),
        ("Pulse", c.vitals.pulse_per_min.map(|p| format!("{p} /min"))),
        (
            "Temperature",
            c.vitals.temperature_c.map(|t| format!("{t} °C")),
        ),
        ("Weight", c.vitals.weight_kg.map(|w| format!("{w} kg"))),
        ("Height", c.vitals.height_cm.map(|h| format!("{h} cm"))),
    ]
    .into_iter()
    .filter_map(|(label, value)| value.map(|value| (label, value)))
    .collect();
    VersionView {
        version: v.version.version,
        when: view::date_time(v.version.at, zone),
        author: v.author_name,
        reason: v.version.reason,
        symptoms: c.symptoms,
        diagnosis: c.diagnosis,
        icd10_code: c.icd10_code,
        notes: c.notes,
        vitals,
        follow_up_advice: c.follow_up_advice,
        follow_up_date: c.follow_up_date.map(|d| d.to_string()),
    }
}

#[derive(askama::Template)]
#[template(path = "web/records/record.html")]
struct RecordPage {
    chrome: Chrome,
    visit: String,
    appointment_id: String,
    doctor: String,
    doctor_id: String,
    /// The latest version first.
    versions: Vec<VersionView>,
}

/// `GET /records/{id}`: one record, its latest version and every earlier one
/// (the patient; a doctor with a care relationship). Audited.
async fn find_record(State(app): State<App>, chrome: Chrome, Path(id): Path<String>) -> WebResult {
    let user = chrome.require()?;
    let history = app
        .record_history(&user.actor, id, BreakGlass::default())
        .await?;
    let zone = view::zone(&app.settings.clinic_time_zone);
    let versions = history
        .versions
        .into_iter()
        .rev()
        .map(|(v, c)| version_view(v, c, &zone))
        .collect();
    let page = RecordPage {
        visit: view::date_time(history.appointment.record.slot.start, &zone),
        appointment_id: history.appointment.record.id.to_string(),
        doctor: history.appointment.doctor_name,
        doctor_id: history.appointment.record.doctor_id.to_string(),
        versions,
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}

struct AccessRow {
    when: String,
    reader: String,
    role: &'static str,
    what: &'static str,
    break_glass_reason: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "web/records/access.html")]
struct AccessPage {
    chrome: Chrome,
    items: Vec<AccessRow>,
    older: Option<String>,
    paging: bool,
}

fn what(kind: &str) -> &'static str {
    match kind {
        "record" => "A visit record",
        "record_versions" => "A visit record's history",
        "summary" => "Your health summary",
        "prescription" => "A prescription",
        "attachment" => "A file",
        "export" => "A download of all your data",
        _ => "Your clinical data",
    }
}

/// `GET /access-history`: who read the caller's clinical data, newest first.
async fn list_access_history(
    State(app): State<App>,
    chrome: Chrome,
    Query(query): Query<CursorQuery>,
) -> WebResult {
    let user = chrome.require()?;
    let page = match app
        .list_access_log(
            &user.actor,
            PageParams {
                limit: Some(20),
                cursor: query.cursor.clone(),
            },
        )
        .await
    {
        Ok(page) => page,
        Err(AppError::Invalid(_)) => return Ok(see_other(&app, "/access-history", None)),
        Err(other) => return Err(other.into()),
    };
    let zone = view::zone(&app.settings.clinic_time_zone);
    let items = page
        .items
        .into_iter()
        .map(|r| AccessRow {
            when: view::date_time(r.read.at, &zone),
            reader: r.actor_name,
            role: r.read.actor_role.as_str(),
            what: what(&r.read.subject_kind),
            break_glass_reason: r.read.break_glass_reason,
        })
        .collect();
    let page = AccessPage {
        items,
        older: page
            .next_cursor
            .map(|c| format!("/access-history?cursor={}", form_urlencoded_component(&c))),
        paging: query.cursor.is_some(),
        chrome: chrome.clone(),
    };
    Ok(render(&page))
}
