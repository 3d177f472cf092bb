//! Feedback on a completed visit, on the appointment's page: the patient rates it
//! (1 to 5 stars as radio buttons, an optional comment) and may edit it for 14
//! days; the doctor replies once. The rules are the app's (`App::create_feedback`,
//! `App::update_feedback`, `App::reply_to_feedback`); a refusal is a message on
//! the page and changes nothing.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use carebook_domain::feedback::may_edit;
use jiff::Timestamp;
use serde::Deserialize;

use super::appointments::refusal_flash;
use super::session::{CsrfForm, Flash, WebResult, see_other};
use super::view::{self, optional};
use crate::app::{App, AppError, FeedbackInput, FeedbackPatch};
use crate::store::{AppointmentId, FeedbackId, FeedbackRecord, UserId};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/appointments/{id}/feedback", post(create_feedback))
        .route("/appointments/{id}/feedback/edit", post(update_feedback))
        .route("/appointments/{id}/feedback/reply", post(create_reply))
}

/// What the appointment's page shows of the visit's feedback.
pub struct FeedbackSection {
    /// The viewer is the visit's patient (else its doctor).
    pub patient: bool,
    pub id: Option<String>,
    pub rating: i64,
    pub comment: String,
    pub hidden: bool,
    pub reply: Option<String>,
    pub when: String,
    /// The patient may rate now (completed, not rated yet) or still edit.
    pub may_rate: bool,
    pub may_edit: bool,
    /// Until when the rating may be edited.
    pub edit_until: String,
    /// The doctor may reply (rated, no reply yet).
    pub may_reply: bool,
}

impl FeedbackSection {
    /// `None` when there is nothing to show or do for this viewer.
    pub fn new(
        feedback: Option<FeedbackRecord>,
        viewer: &UserId,
        patient: &UserId,
        completed: bool,
        now: Timestamp,
        zone: &jiff::tz::TimeZone,
    ) -> Option<FeedbackSection> {
        let is_patient = viewer == patient;
        match feedback {
            None if is_patient && completed => Some(FeedbackSection {
                patient: true,
                id: None,
                rating: 0,
                comment: String::new(),
                hidden: false,
                reply: None,
                when: String::new(),
                may_rate: true,
                may_edit: false,
                edit_until: String::new(),
                may_reply: false,
            }),
            None => None,
            Some(f) => {
                let until = f.created_at
                    + jiff::SignedDuration::from_hours(
                        carebook_domain::feedback::EDIT_WINDOW_DAYS * 24,
                    );
                Some(FeedbackSection {
                    patient: is_patient,
                    id: Some(f.id.to_string()),
                    rating: f.rating,
                    // The patient's own words stay theirs to see and edit; the
                    // doctor does not read a comment an admin hid.
                    comment: if is_patient || f.hidden_at.is_none() {
                        f.comment.clone().unwrap_or_default()
                    } else {
                        String::new()
                    },
                    hidden: f.hidden_at.is_some(),
                    may_reply: !is_patient && f.reply.is_none(),
                    reply: f.reply,
                    when: view::date_time(f.created_at, zone),
                    may_rate: false,
                    may_edit: is_patient && may_edit(f.created_at, now),
                    edit_until: view::date_time(until, zone),
                })
            }
        }
    }

    /// `★★★☆☆`, for sighted readers; the page says the number too.
    pub fn stars(&self) -> String {
        (1..=5)
            .map(|i| if i <= self.rating { '★' } else { '☆' })
            .collect()
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RatingForm {
    rating: String,
    comment: String,
}

fn rating_of(text: &str) -> i64 {
    // Anything but 1 to 5 is refused by the app with its own message.
    text.trim().parse().unwrap_or(0)
}

fn back(id: &str) -> String {
    format!("/appointments/{id}#feedback")
}

fn refused(error: AppError) -> WebResult<Flash> {
    match error {
        AppError::Invalid(errors) => Ok(Flash::error(format!(
            "Nothing was saved: {}.",
            view::FieldErrors::from(errors).summary()
        ))),
        other => Ok(refusal_flash(other)?),
    }
}

/// `POST /appointments/{id}/feedback`: fields `rating` (1-5), `comment`.
async fn create_feedback(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<RatingForm>,
) -> WebResult {
    let user = chrome.require()?;
    let input = FeedbackInput {
        rating: rating_of(&form.rating),
        comment: optional(&form.comment),
    };
    let flash = match app
        .create_feedback(&user.actor, AppointmentId::new(&id), input)
        .await
    {
        Ok(_) => Flash::success("Thank you: your rating is saved."),
        Err(error) => refused(error)?,
    };
    Ok(see_other(&app, &back(&id), Some(flash)))
}

/// `POST /appointments/{id}/feedback/edit`: the same fields; an empty comment
/// removes it.
async fn update_feedback(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<RatingForm>,
) -> WebResult {
    let user = chrome.require()?;
    let patch = FeedbackPatch {
        rating: Some(rating_of(&form.rating)),
        comment: Some(optional(&form.comment)),
    };
    let flash = match app
        .update_feedback(&user.actor, AppointmentId::new(&id), patch)
        .await
    {
        Ok(_) => Flash::success("Your rating is updated."),
        Err(error) => refused(error)?,
    };
    Ok(see_other(&app, &back(&id), Some(flash)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ReplyForm {
    feedback_id: String,
    reply: String,
}

/// `POST /appointments/{id}/feedback/reply`: fields `feedback_id`, `reply`.
async fn create_reply(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<ReplyForm>,
) -> WebResult {
    let user = chrome.require()?;
    let flash = match app
        .reply_to_feedback(
            &user.actor,
            FeedbackId::new(form.feedback_id),
            Some(form.reply),
        )
        .await
    {
        Ok(_) => Flash::success("Your reply is published with the review."),
        Err(error) => refused(error)?,
    };
    Ok(see_other(&app, &back(&id), Some(flash)))
}
