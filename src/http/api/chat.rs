//! Chat between a patient and their doctor (issue 10): conversations, messages,
//! read receipts. The same events reach the live WebSocket (`GET /live`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::{App, Message, OpenConversationInput, Receipt, SentMessage};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery, CurrentUser, OptionalJson};
use crate::http::problem::{ApiError, Problem};
use crate::store::ConversationSummary;

#[derive(Serialize, ToSchema)]
pub struct ConversationResponse {
    pub id: String,
    pub patient_id: String,
    pub patient_name: String,
    pub doctor_id: String,
    pub doctor_name: String,
    /// Closed by the doctor; the pair's next booking reopens it.
    pub closed: bool,
    /// The sequence number of the latest message (0: none yet).
    pub last_seq: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_message_at: Option<Timestamp>,
    /// The other participant's messages the caller has not read.
    pub unread: i64,
}

impl From<ConversationSummary> for ConversationResponse {
    fn from(s: ConversationSummary) -> Self {
        let closed = s.conversation.is_closed();
        let c = s.conversation;
        ConversationResponse {
            id: c.id,
            patient_id: c.patient_id.to_string(),
            patient_name: s.patient_name,
            doctor_id: c.doctor_id.to_string(),
            doctor_name: s.doctor_name,
            closed,
            last_seq: c.last_seq,
            last_message_at: c.last_message_at,
            unread: s.unread,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    /// Latest activity first, at most 200.
    #[schema(max_items = 200)]
    pub items: Vec<ConversationResponse>,
    /// Unread messages over all of the caller's conversations.
    pub unread_total: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenConversation {
    /// A patient names the doctor.
    #[schema(max_length = 64)]
    pub doctor_id: Option<String>,
    /// A doctor names the patient.
    #[schema(max_length = 64)]
    pub patient_id: Option<String>,
}

/// The caller's conversation with a doctor (`doctor_id`, by a patient) or a patient
/// (`patient_id`, by a doctor), created if needed. Only a pair who share an
/// appointment (any status) has one; nobody else may read it, staff neither.
#[utoipa::path(post, path = "/conversations", tag = "chat", security(("bearer" = [])),
    request_body = OpenConversation,
    responses((status = 200, body = ConversationResponse), (status = 401, body = Problem),
        (status = 403, description = "no appointment between the two, or not a patient or doctor", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create_conversation(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiJson(body): ApiJson<OpenConversation>,
) -> Result<Json<ConversationResponse>, ApiError> {
    let input = OpenConversationInput {
        doctor_id: body.doctor_id,
        patient_id: body.patient_id,
    };
    Ok(Json(app.open_conversation(&me.actor, input).await?.into()))
}

/// The caller's conversations with unread counts, and the total unread.
#[utoipa::path(get, path = "/conversations", tag = "chat", security(("bearer" = [])),
    responses((status = 200, body = ConversationList), (status = 401, body = Problem)))]
pub async fn list_conversations(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
) -> Result<Json<ConversationList>, ApiError> {
    let list = app.list_conversations(&me.actor).await?;
    Ok(Json(ConversationList {
        items: list.items.into_iter().map(Into::into).collect(),
        unread_total: list.unread_total,
    }))
}

/// Close a conversation (its doctor): nobody writes in it until the pair's next
/// booking reopens it. Closing again is fine.
#[utoipa::path(post, path = "/conversations/{id}/close", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = ConversationResponse), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn close_conversation(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConversationResponse>, ApiError> {
    Ok(Json(app.close_conversation(&me.actor, id).await?.into()))
}

#[derive(Serialize, ToSchema)]
pub struct MessageAttachmentResponse {
    /// Download it at `GET /api/v1/attachments/{id}` (its patient, or a doctor with
    /// care; audited).
    pub id: String,
    pub file_name: String,
    /// `application/pdf`, `image/png` or `image/jpeg`.
    pub content_type: String,
    /// In bytes.
    pub size: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    pub conversation_id: String,
    /// Assigned by the server: 1, 2, 3... per conversation.
    pub seq: i64,
    pub sender_id: String,
    pub client_id: String,
    /// Empty when the message is an attachment alone.
    pub text: String,
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: Timestamp,
    pub attachment: Option<MessageAttachmentResponse>,
}

impl From<Message> for MessageResponse {
    fn from(message: Message) -> Self {
        let m = message.record;
        MessageResponse {
            conversation_id: m.conversation_id,
            seq: m.seq,
            sender_id: m.sender_id.to_string(),
            client_id: m.client_id,
            text: m.body,
            sent_at: m.sent_at,
            attachment: message.attachment.map(|a| MessageAttachmentResponse {
                id: a.id,
                file_name: a.file_name,
                content_type: a.content_type,
                size: a.size,
            }),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ReceiptResponse {
    pub conversation_id: String,
    pub user_id: String,
    /// Messages up to this sequence number reached this participant.
    pub delivered_seq: i64,
    /// Messages up to this sequence number were read by this participant.
    pub read_seq: i64,
}

impl From<Receipt> for ReceiptResponse {
    fn from(r: Receipt) -> Self {
        ReceiptResponse {
            conversation_id: r.conversation_id,
            user_id: r.user_id.to_string(),
            delivered_seq: r.state.delivered_seq,
            read_seq: r.state.read_seq,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    /// Oldest first.
    #[schema(max_items = 100)]
    pub items: Vec<MessageResponse>,
    /// Both participants' receipts.
    #[schema(max_items = 2)]
    pub receipts: Vec<ReceiptResponse>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Only messages with a greater sequence number (default 0: from the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// 1 to 100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

/// Messages of a conversation after a sequence number, oldest first.
#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path), MessageQuery),
    responses((status = 200, body = MessageList), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_messages(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<MessageQuery>,
) -> Result<Json<MessageList>, ApiError> {
    let (messages, receipts) = app
        .list_messages(&me.actor, id, query.after, query.limit)
        .await?;
    Ok(Json(MessageList {
        items: messages.into_iter().map(Into::into).collect(),
        receipts: receipts.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    /// The client's own id for this message (`A-Z a-z 0-9 - _ . :`): sending
    /// again with the same one returns the stored message instead of a second.
    #[schema(max_length = 64)]
    pub client_id: String,
    /// 1 to 4,000 characters; may be empty (or left out) with an attachment.
    #[serde(default)]
    #[schema(max_length = 4000)]
    pub text: String,
    /// A file the sender uploaded to the conversation's patient's file
    /// (`POST /patients/{id}/attachments`) and did not delete; anything else is 422.
    #[schema(max_length = 64)]
    pub attachment_id: Option<String>,
}

/// Send a message. It is stored before the answer (201; 200 when this
/// `client_id` was sent before), and reaches both participants' live streams.
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body = NewMessage,
    responses((status = 201, body = MessageResponse), (status = 200, description = "sent before with this client_id", body = MessageResponse),
        (status = 401, body = Problem), (status = 404, body = Problem),
        (status = 409, description = "the conversation is closed (`/problems/conversation-closed`)", body = Problem),
        (status = 422, body = Problem),
        (status = 429, description = "over `chat_messages_per_minute` (`/problems/rate-limited`)", body = Problem)))]
pub async fn create_message(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<NewMessage>,
) -> Result<(StatusCode, Json<MessageResponse>), ApiError> {
    let SentMessage { message, created } = app
        .send_message(
            &me.actor,
            id,
            &body.client_id,
            &body.text,
            body.attachment_id.as_deref(),
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Read up to this sequence number; default: the latest message.
    #[schema(minimum = 0)]
    pub up_to_seq: Option<i64>,
}

/// Mark the conversation read up to a message (marks only move forward).
#[utoipa::path(post, path = "/conversations/{id}/read", tag = "chat", security(("bearer" = [])),
    params(("id" = String, Path)),
    request_body(content = Option<MarkRead>),
    responses((status = 200, body = ReceiptResponse), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn read_conversation(
    State(app): State<App>,
    CurrentUser(me): CurrentUser,
    ApiPath(id): ApiPath<String>,
    OptionalJson(body): OptionalJson<MarkRead>,
) -> Result<Json<ReceiptResponse>, ApiError> {
    let up_to = body.and_then(|b| b.up_to_seq);
    Ok(Json(
        app.mark_conversation(&me.actor, id, up_to, true)
            .await?
            .into(),
    ))
}
