//! `GET /verify/{code}`: the public check of a prescription's verification code.
//! Anyone holding the code (a pharmacist reading the paper) learns whether carebook
//! issued it and whether it is still valid, never what it prescribes nor for whom.
//! HTML by default; JSON `{valid, status, issued_at}` when `Accept` prefers
//! `application/json`. An unknown code is a 404 in either form.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::session::{Chrome, WebResult, render};
use crate::app::{App, Verification};

pub fn routes() -> Router<App> {
    Router::new().route("/verify/{code}", get(find_verification))
}

/// Whether the client asked for JSON rather than a page.
fn wants_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut json_q = None;
    let mut html_q = None;
    for part in accept.split(',') {
        let mut pieces = part.split(';');
        let media = pieces.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = pieces
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        match media.as_str() {
            "application/json" => json_q = Some(q),
            "text/html" => html_q = Some(q),
            _ => {}
        }
    }
    match (json_q, html_q) {
        (Some(json), Some(html)) => json > 0.0 && json > html,
        (Some(json), None) => json > 0.0,
        _ => false,
    }
}

#[derive(askama::Template)]
#[template(path = "web/verify.html")]
struct VerifyPage {
    chrome: Chrome,
    code: String,
    found: bool,
    valid: bool,
    status: &'static str,
    issued_on: String,
}

async fn find_verification(
    State(app): State<App>,
    Path(code): Path<String>,
    headers: HeaderMap,
    chrome: Chrome,
) -> WebResult {
    let found: Option<Verification> = app.verify_prescription(&code).await?;
    let status = if found.is_some() {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    if wants_json(&headers) {
        let body = match &found {
            Some(v) => json!({
                "valid": v.valid(),
                "status": v.status.as_str(),
                "issued_at": v.issued_at.to_string(),
            }),
            None => json!({ "valid": false, "status": null, "issued_at": null }),
        };
        let mut response = (status, Json(body)).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, "no-store".parse().expect("a header"));
        return Ok(response);
    }
    let zone =
        jiff::tz::TimeZone::get(&app.settings.clinic_time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
    let page = VerifyPage {
        code: code.chars().take(64).collect(),
        found: found.is_some(),
        valid: found.as_ref().is_some_and(Verification::valid),
        status: found.as_ref().map_or("unknown", |v| v.status.as_str()),
        issued_on: found.as_ref().map_or(String::new(), |v| {
            v.issued_at.to_zoned_datetime(zone).date().to_string()
        }),
        chrome,
    };
    let mut response = render(&page);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("a header"));
    Ok(response)
}
