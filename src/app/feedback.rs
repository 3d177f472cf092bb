//! Feedback on visits: the patient rates a completed visit once and may edit it for
//! 14 days; the doctor replies once; an admin hides an abusive comment (kept, with
//! the reason). Each doctor's rating totals (`doctor_ratings`) change in the same
//! transaction as the rating, so profiles and search read one row per doctor.

use carebook_domain::feedback::{
    average, may_edit, may_rate, parse_comment, parse_hide_reason, parse_rating, parse_reply,
};
use carebook_domain::policy::{Action, Actor, Subject, authorize};
use carebook_domain::{Role, UserStatus, ValidationErrors};
use serde_json::json;

use super::appointments::visible_appointment;
use super::{App, AppError, ConflictKind, Page, PageParams, audit, new_id, paginate};
use crate::store::{AppointmentId, Cursor, FeedbackId, FeedbackRecord, RatingTotals, UserId};

#[derive(Debug, Clone, Default)]
pub struct FeedbackInput {
    pub rating: i64,
    pub comment: Option<String>,
}

/// A PATCH: a missing field is left alone, `Some(None)` clears the comment.
#[derive(Debug, Clone, Default)]
pub struct FeedbackPatch {
    pub rating: Option<i64>,
    pub comment: Option<Option<String>>,
}

/// A doctor's average rating and how many ratings it is made of.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RatingSummary {
    pub average: Option<f64>,
    pub count: i64,
}

impl From<RatingTotals> for RatingSummary {
    fn from(t: RatingTotals) -> Self {
        RatingSummary {
            average: average(t.count, t.sum),
            count: t.count,
        }
    }
}

/// Refuses `action` on the appointment: 403 if the actor may see it.
fn authorize_on_appointment(
    actor: &Actor,
    action: Action,
    patient: &UserId,
    doctor: &UserId,
) -> Result<(), AppError> {
    authorize(actor, action, Subject::Appointment { patient, doctor })?;
    Ok(())
}

impl App {
    /// The feedback on a visit, for the two people it concerns: its patient (who
    /// gave it) and its doctor. `None` for anyone else who may see the visit, and
    /// when there is none yet.
    pub async fn find_feedback_of_visit(
        &self,
        actor: &Actor,
        appointment: AppointmentId,
    ) -> Result<Option<FeedbackRecord>, AppError> {
        let actor = actor.clone();
        self.store
            .read(move |tx| {
                let view = visible_appointment(tx, &actor, &appointment)?;
                let a = &view.record;
                if actor.user_id != a.patient_id && actor.user_id != a.doctor_id {
                    return Ok(None);
                }
                Ok(tx.find_feedback_of_appointment(&a.id)?)
            })
            .await
    }

    pub async fn create_feedback(
        &self,
        actor: &Actor,
        appointment: AppointmentId,
        input: FeedbackInput,
    ) -> Result<FeedbackRecord, AppError> {
        let mut errors = ValidationErrors::new();
        let rating = errors.take(parse_rating(input.rating));
        let comment = errors.take(parse_comment(input.comment.as_deref()));
        let (Some(rating), Some(comment)) = (rating, comment) else {
            return Err(errors.into());
        };
        let (actor, now) = (actor.clone(), self.now());
        self.store
            .write(move |tx| {
                let view = visible_appointment(tx, &actor, &appointment)?;
                let a = &view.record;
                authorize_on_appointment(&actor, Action::RateVisit, &a.patient_id, &a.doctor_id)?;
                if !may_rate(a.status) {
                    return Err(AppError::conflict(
                        ConflictKind::VisitNotCompleted,
                        "only a completed visit can be rated",
                    ));
                }
                let feedback = FeedbackRecord {
                    id: FeedbackId::new(new_id("fbk")),
                    appointment_id: a.id.clone(),
                    patient_id: a.patient_id.clone(),
                    doctor_id: a.doctor_id.clone(),
                    rating,
                    comment,
                    created_at: now,
                    updated_at: now,
                    reply: None,
                    replied_at: None,
                    hidden_at: None,
                    hidden_by: None,
                    hidden_reason: None,
                };
                if !tx.insert_feedback(&feedback)? {
                    return Err(AppError::conflict(
                        ConflictKind::FeedbackExists,
                        "this visit is rated already; edit the rating instead",
                    ));
                }
                tx.add_to_rating(&feedback.doctor_id, 1, feedback.rating)?;
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "feedback.created",
                    ("feedback", Some(feedback.id.as_str())),
                    json!({ "appointment_id": feedback.appointment_id, "rating": rating }),
                )?;
                Ok(feedback)
            })
            .await
    }

    pub async fn update_feedback(
        &self,
        actor: &Actor,
        appointment: AppointmentId,
        patch: FeedbackPatch,
    ) -> Result<FeedbackRecord, AppError> {
        let mut errors = ValidationErrors::new();
        let rating = match patch.rating {
            Some(r) => errors.take(parse_rating(r)).map(Some),
            None => Some(None),
        };
        let comment = match &patch.comment {
            Some(c) => errors.take(parse_comment(c.as_deref())).map(Some),
            None => Some(None),
        };
        let (Some(rating), Some(comment)) = (rating, comment) else {
            return Err(errors.into());
        };
        let (actor, now) = (actor.clone(), self.now());
        self.store
            .write(move |tx| {
                // Reading the appointment locks it (PostgreSQL): edits of one visit's
                // rating are serialised, so the totals stay exact.
                let view = visible_appointment(tx, &actor, &appointment)?;
                let a = &view.record;
                authorize_on_appointment(&actor, Action::RateVisit, &a.patient_id, &a.doctor_id)?;
                let mut feedback = tx
                    .find_feedback_of_appointment(&a.id)?
                    .ok_or(AppError::NotFound("feedback"))?;
                if !may_edit(feedback.created_at, now) {
                    return Err(AppError::conflict(
                        ConflictKind::EditWindowClosed,
                        "feedback can be edited for 14 days after it was given",
                    ));
                }
                let before = feedback.rating;
                if let Some(rating) = rating {
                    feedback.rating = rating;
                }
                if let Some(comment) = comment {
                    feedback.comment = comment;
                }
                feedback.updated_at = now;
                tx.update_feedback(&feedback)?;
                if feedback.rating != before {
                    tx.add_to_rating(&feedback.doctor_id, 0, feedback.rating - before)?;
                }
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "feedback.updated",
                    ("feedback", Some(feedback.id.as_str())),
                    json!({ "rating": feedback.rating }),
                )?;
                Ok(feedback)
            })
            .await
    }

    pub async fn reply_to_feedback(
        &self,
        actor: &Actor,
        id: FeedbackId,
        reply: Option<String>,
    ) -> Result<FeedbackRecord, AppError> {
        let reply = parse_reply(reply.as_deref())?;
        let (actor, now) = (actor.clone(), self.now());
        self.store
            .write(move |tx| {
                let feedback = tx
                    .find_feedback(&id)?
                    .ok_or(AppError::NotFound("feedback"))?;
                authorize_on_appointment(
                    &actor,
                    Action::ReplyToFeedback,
                    &feedback.patient_id,
                    &feedback.doctor_id,
                )?;
                if !tx.reply_to_feedback(&id, &reply, now)? {
                    return Err(AppError::conflict(
                        ConflictKind::AlreadyReplied,
                        "this feedback has a reply already",
                    ));
                }
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "feedback.replied",
                    ("feedback", Some(id.as_str())),
                    json!({}),
                )?;
                tx.find_feedback(&id)?.ok_or(AppError::NotFound("feedback"))
            })
            .await
    }

    pub async fn hide_feedback(
        &self,
        actor: &Actor,
        id: FeedbackId,
        reason: Option<String>,
    ) -> Result<FeedbackRecord, AppError> {
        authorize(actor, Action::HideFeedback, Subject::Clinic)?;
        let reason = parse_hide_reason(reason.as_deref())?;
        let (actor, now) = (actor.clone(), self.now());
        self.store
            .write(move |tx| {
                if tx.find_feedback(&id)?.is_none() {
                    return Err(AppError::NotFound("feedback"));
                }
                if !tx.hide_feedback(&id, &actor.user_id, &reason, now)? {
                    return Err(AppError::conflict(
                        ConflictKind::AlreadyHidden,
                        "this comment is hidden already",
                    ));
                }
                audit(
                    tx,
                    now,
                    Some(&actor.user_id),
                    "feedback.hidden",
                    ("feedback", Some(id.as_str())),
                    json!({ "reason": reason }),
                )?;
                tx.find_feedback(&id)?.ok_or(AppError::NotFound("feedback"))
            })
            .await
    }

    /// A doctor's reviews, newest first, for anyone. Hidden comments come back with
    /// `hidden_at` set; adapters show them as hidden, never their text.
    pub async fn list_reviews(
        &self,
        actor: Option<&Actor>,
        doctor: UserId,
        page: PageParams,
    ) -> Result<(RatingSummary, Page<FeedbackRecord>), AppError> {
        let request = page.to_request()?;
        let staff = actor.is_some_and(|a| a.role.is_staff() || a.user_id == doctor);
        let (totals, rows) = {
            let request = request.clone();
            self.store
                .read(move |tx| {
                    let visible = tx.find_user(&doctor)?.is_some_and(|u| {
                        u.role == Role::Doctor && (u.status == UserStatus::Active || staff)
                    });
                    if !visible {
                        return Err(AppError::NotFound("doctor"));
                    }
                    let totals = tx
                        .rating_totals(std::slice::from_ref(&doctor))?
                        .pop()
                        .map(|(_, t)| t)
                        .unwrap_or_default();
                    Ok((totals, tx.list_feedback_of_doctor(&doctor, &request)?))
                })
                .await?
        };
        let page = paginate(rows, &request, |f| Cursor {
            key: f.created_at.as_millisecond().to_string(),
            id: f.id.to_string(),
        });
        Ok((totals.into(), page))
    }

    /// The rating summaries of these doctors (one indexed row each).
    pub async fn ratings_of(
        &self,
        doctors: Vec<UserId>,
    ) -> Result<Vec<(UserId, RatingSummary)>, AppError> {
        self.store
            .read(move |tx| {
                Ok::<_, AppError>(
                    tx.rating_totals(&doctors)?
                        .into_iter()
                        .map(|(id, t)| (id, t.into()))
                        .collect(),
                )
            })
            .await
    }
}
