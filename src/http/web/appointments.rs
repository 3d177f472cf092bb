//! Pages of one appointment, shared by every role, and the lifecycle buttons that
//! every screen uses: `POST /appointments/{id}/{action}` with `action` one of
//! `confirm`, `reject`, `cancel`, `check-in`, `complete`, `no-show`; form fields
//! `_csrf`, optional `reason`, optional `back` (a local path to return to, else the
//! appointment's page). The outcome is a flash message on the page returned to.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use serde::Deserialize;

use super::session::{CsrfForm, Flash, WebError, WebResult, local_path, see_other};
use crate::app::{App, AppError};
use crate::store::AppointmentId;
use carebook_domain::Transition;

pub fn routes() -> Router<App> {
    Router::new().route(
        "/appointments/{id}/{action}",
        post(update_appointment_status),
    )
}

#[derive(Deserialize, Default)]
pub struct TransitionForm {
    pub reason: Option<String>,
    pub back: Option<String>,
}

fn transition_of(action: &str) -> Option<Transition> {
    Some(match action {
        "confirm" => Transition::Confirm,
        "reject" => Transition::Reject,
        "cancel" => Transition::Cancel,
        "check-in" => Transition::CheckIn,
        "complete" => Transition::Complete,
        "no-show" => Transition::NoShow,
        _ => return None,
    })
}

fn done_message(transition: Transition) -> &'static str {
    match transition {
        Transition::Confirm => "The appointment is confirmed.",
        Transition::Reject => "The request was rejected.",
        Transition::Cancel => "The appointment is cancelled.",
        Transition::CheckIn => "The patient is checked in.",
        Transition::Complete => "The visit is completed.",
        Transition::NoShow => "Recorded as a no-show.",
        Transition::Reschedule => "The appointment was moved.",
    }
}

/// A refusal the user can act on becomes a flash message on the page they came
/// from; anything else is an error page.
pub fn refusal_flash(error: AppError) -> Result<Flash, WebError> {
    match error {
        AppError::Conflict { detail, .. } => Ok(Flash::error(capitalized(&detail))),
        AppError::Invalid(errors) => Ok(Flash::error(
            super::view::FieldErrors::from(errors).summary(),
        )),
        other => Err(other.into()),
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.extend(chars);
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

/// `POST /appointments/{id}/{action}`.
async fn update_appointment_status(
    State(app): State<App>,
    Path((id, action)): Path<(String, String)>,
    CsrfForm { chrome, form }: CsrfForm<TransitionForm>,
) -> WebResult {
    let user = chrome.require()?;
    let transition = transition_of(&action).ok_or(WebError::NotFound)?;
    let here = format!("/appointments/{id}");
    let back = local_path(form.back.as_deref(), &here);
    let reason = form.reason.filter(|r| !r.trim().is_empty());
    let flash = match app
        .move_appointment(&user.actor, AppointmentId::new(id), transition, reason)
        .await
    {
        Ok(_) => Flash::success(done_message(transition)),
        Err(error) => refusal_flash(error)?,
    };
    Ok(see_other(&app, &back, Some(flash)))
}
