//! Feedback on visits and doctors' reviews.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{PageQuery, Paged, nullable};
use crate::app::{App, FeedbackInput, FeedbackPatch, RatingSummary};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser, MaybeUser};
use crate::http::problem::{ApiError, Problem};
use crate::store::{AppointmentId, FeedbackId, FeedbackRecord, UserId};

/// A doctor's average rating (two decimals; null without ratings) and count.
#[derive(Serialize, ToSchema)]
pub struct RatingResponse {
    pub average: Option<f64>,
    pub count: i64,
}

impl From<RatingSummary> for RatingResponse {
    fn from(r: RatingSummary) -> Self {
        RatingResponse {
            average: r.average,
            count: r.count,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FeedbackResponse {
    pub id: String,
    pub appointment_id: String,
    pub doctor_id: String,
    /// 1 to 5 stars.
    pub rating: i64,
    /// Null when there is none, or when an admin hid it (then `hidden` is true).
    pub comment: Option<String>,
    /// An admin hid the comment as abusive; the rating still counts.
    pub hidden: bool,
    pub reply: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub replied_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<FeedbackRecord> for FeedbackResponse {
    fn from(f: FeedbackRecord) -> Self {
        let hidden = f.hidden_at.is_some();
        FeedbackResponse {
            id: f.id.to_string(),
            appointment_id: f.appointment_id.to_string(),
            doctor_id: f.doctor_id.to_string(),
            rating: f.rating,
            comment: if hidden { None } else { f.comment },
            hidden,
            reply: f.reply,
            replied_at: f.replied_at,
            created_at: f.created_at,
            updated_at: f.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRequest {
    /// 1 to 5 stars.
    #[schema(minimum = 1, maximum = 5)]
    pub rating: i64,
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackPatchRequest {
    #[schema(minimum = 1, maximum = 5)]
    pub rating: Option<i64>,
    /// `null` removes the comment.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(max_length = 2000, value_type = Option<String>)]
    pub comment: Option<Option<String>>,
}

/// Rate a completed visit: its patient, once.
#[utoipa::path(post, path = "/appointments/{id}/feedback", tag = "feedback",
    security(("bearer" = [])), params(("id" = String, Path)), request_body = FeedbackRequest,
    responses((status = 201, body = FeedbackResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "the visit is not completed (`/problems/visit-not-completed`) or is rated already (`/problems/feedback-exists`)", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_feedback(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<FeedbackRequest>,
) -> Result<(StatusCode, Json<FeedbackResponse>), ApiError> {
    let input = FeedbackInput {
        rating: body.rating,
        comment: body.comment,
    };
    let created = app
        .create_feedback(&me.actor, AppointmentId::new(id), input)
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Edit the rating or comment of a visit, within 14 days of rating it.
#[utoipa::path(patch, path = "/appointments/{id}/feedback", tag = "feedback",
    security(("bearer" = [])), params(("id" = String, Path)), request_body = FeedbackPatchRequest,
    responses((status = 200, body = FeedbackResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "more than 14 days after rating (`/problems/edit-window-closed`)", body = Problem),
        (status = 422, body = Problem)))]
pub async fn update_feedback(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<FeedbackPatchRequest>,
) -> Result<Json<FeedbackResponse>, ApiError> {
    let patch = FeedbackPatch {
        rating: body.rating,
        comment: body.comment,
    };
    let updated = app
        .update_feedback(&me.actor, AppointmentId::new(id), patch)
        .await?;
    Ok(Json(updated.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyRequest {
    #[schema(max_length = 2000)]
    pub reply: Option<String>,
}

/// The doctor's one reply to the feedback on their visit.
#[utoipa::path(post, path = "/feedback/{id}/reply", tag = "feedback",
    security(("bearer" = [])), params(("id" = String, Path)), request_body = ReplyRequest,
    responses((status = 200, body = FeedbackResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "replied already (`/problems/already-replied`)", body = Problem),
        (status = 422, body = Problem)))]
pub async fn reply_to_feedback(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ReplyRequest>,
) -> Result<Json<FeedbackResponse>, ApiError> {
    let replied = app
        .reply_to_feedback(&me.actor, FeedbackId::new(id), body.reply)
        .await?;
    Ok(Json(replied.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HideRequest {
    /// Why the comment is hidden (required); kept with it.
    #[schema(max_length = 1000)]
    pub reason: Option<String>,
}

/// Hide an abusive comment (admins). It is kept with the reason; the rating still
/// counts.
#[utoipa::path(post, path = "/feedback/{id}/hide", tag = "feedback",
    security(("bearer" = [])), params(("id" = String, Path)), request_body = HideRequest,
    responses((status = 200, body = FeedbackResponse), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, description = "hidden already (`/problems/already-hidden`)", body = Problem),
        (status = 422, body = Problem)))]
pub async fn hide_feedback(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<HideRequest>,
) -> Result<Json<FeedbackResponse>, ApiError> {
    let hidden = app
        .hide_feedback(&me.actor, FeedbackId::new(id), body.reason)
        .await?;
    Ok(Json(hidden.into()))
}

#[derive(Serialize, ToSchema)]
pub struct ReviewsResponse {
    pub rating: RatingResponse,
    pub items: Vec<FeedbackResponse>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReviewsQuery {
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    #[param(max_length = 1000)]
    pub cursor: Option<String>,
}

/// A doctor's reviews, newest first, with the average rating. Public; reviewers are
/// not named, and hidden comments are not shown.
#[utoipa::path(get, path = "/doctors/{id}/reviews", tag = "feedback",
    security((), ("bearer" = [])), params(("id" = String, Path), ReviewsQuery),
    responses((status = 200, body = ReviewsResponse), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
pub async fn list_reviews(
    State(app): State<App>,
    MaybeUser(me): MaybeUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ReviewsQuery>,
) -> Result<Json<ReviewsResponse>, ApiError> {
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let actor = me.as_ref().map(|m| &m.actor);
    let (rating, page) = app
        .list_reviews(actor, UserId::new(id), page.into())
        .await?;
    let page = Paged::from_page(page, FeedbackResponse::from);
    Ok(Json(ReviewsResponse {
        rating: rating.into(),
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
