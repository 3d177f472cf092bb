//! The chat pages (issue 10, docs/LIVE.md): `/messages` lists the caller's
//! conversations, `/messages/{id}` shows one with a send form that works without the
//! script (post/redirect/get; a fresh random `client_id` per form makes a double
//! submit one message). With the script, the same page talks over `/api/v1/live`.
//! Who may open, read, write and close is the app's: a refusal is shown as a page.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use carebook_domain::Role;
use serde::Deserialize;

use super::appointments::refusal_flash;
use super::files::{FileRow, done, refusal};
use super::session::{
    Chrome, CsrfForm, CsrfUpload, Flash, WebError, WebResult, render, see_other, unprocessable,
};
use super::view::{self, FieldErrors};
use crate::app::{App, AppError, AttachmentTarget, OpenConversationInput, random_token};

/// Messages a conversation page shows at once.
const PAGE_SIZE: i64 = 50;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/messages", get(list_conversations))
        .route("/messages/open", post(open_conversation))
        .route(
            "/messages/{id}",
            get(find_conversation).post(create_message),
        )
        .route("/messages/{id}/close", post(close_conversation))
        .route("/messages/{id}/file", post(create_file_message))
}

/// Chat is between a patient and their doctor; nobody else has a conversation page.
const CHAT_ROLES: &[Role] = &[Role::Patient, Role::Doctor];

struct ConversationRow {
    id: String,
    with: String,
    last_message: String,
    unread: i64,
    closed: bool,
}

#[derive(askama::Template)]
#[template(path = "web/chat/list.html")]
struct ConversationsPage {
    chrome: Chrome,
    items: Vec<ConversationRow>,
}

/// `GET /messages`: the caller's conversations, latest activity first.
async fn list_conversations(State(app): State<App>, chrome: Chrome) -> WebResult {
    let user = chrome.require_role(CHAT_ROLES)?;
    let list = app.list_conversations(&user.actor).await?;
    let zone = view::zone(&app.settings.clinic_time_zone);
    let is_patient = user.actor.role == Role::Patient;
    let items = list
        .items
        .into_iter()
        .map(|s| {
            let closed = s.conversation.is_closed();
            ConversationRow {
                with: if is_patient {
                    s.doctor_name
                } else {
                    s.patient_name
                },
                last_message: s
                    .conversation
                    .last_message_at
                    .map(|at| view::date_time(at, &zone))
                    .unwrap_or_default(),
                id: s.conversation.id,
                unread: s.unread,
                closed,
            }
        })
        .collect();
    Ok(render(&ConversationsPage {
        chrome: chrome.clone(),
        items,
    }))
}

#[derive(Deserialize)]
struct OpenForm {
    doctor_id: Option<String>,
    patient_id: Option<String>,
}

/// `POST /messages/open`: fields `_csrf` and `doctor_id` (a patient) or
/// `patient_id` (a doctor); leads to the pair's conversation, created if needed.
async fn open_conversation(
    State(app): State<App>,
    CsrfForm { chrome, form }: CsrfForm<OpenForm>,
) -> WebResult {
    let user = chrome.require_role(CHAT_ROLES)?;
    let summary = app
        .open_conversation(
            &user.actor,
            OpenConversationInput {
                doctor_id: form.doctor_id,
                patient_id: form.patient_id,
            },
        )
        .await?;
    Ok(see_other(
        &app,
        &format!("/messages/{}", summary.conversation.id),
        None,
    ))
}

#[derive(Deserialize, Default)]
struct PageQuery {
    /// Show the messages before this sequence number (older ones).
    before: Option<String>,
}

struct MessageRow {
    seq: i64,
    sender: String,
    mine: bool,
    when: String,
    text: String,
    /// The attached file: its id, name and "PDF, 120 KB".
    file: Option<(String, String, String)>,
    /// Under my own messages: "Read", "Delivered" or "Sent".
    mark: &'static str,
}

#[derive(askama::Template)]
#[template(path = "web/chat/show.html")]
struct ConversationPage {
    chrome: Chrome,
    id: String,
    /// Whose file a sent file goes into (the script uploads there first).
    patient_id: String,
    me: String,
    with: String,
    other_id: String,
    is_doctor: bool,
    closed: bool,
    messages: Vec<MessageRow>,
    older: Option<String>,
    paging: bool,
    client_id: String,
    /// The file form's own id: a file sent twice is one message.
    file_client_id: String,
    text: String,
    errors: FieldErrors,
    max_upload_mb: usize,
}

/// What the send form shows again after a refusal.
#[derive(Default)]
struct Draft {
    client_id: Option<String>,
    text: String,
    errors: FieldErrors,
}

/// `GET /messages/{id}`: the last 50 messages (or those before `?before=`), oldest
/// first. Opening the page marks the conversation read.
async fn find_conversation(
    State(app): State<App>,
    chrome: Chrome,
    Path(id): Path<String>,
    Query(query): Query<PageQuery>,
) -> WebResult {
    let before = match query.before.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(n)) if n >= 1 => Some(n),
        Some(_) => return Ok(see_other(&app, &format!("/messages/{id}"), None)),
    };
    conversation_page(&app, chrome, id, before, Draft::default()).await
}

async fn conversation_page(
    app: &App,
    mut chrome: Chrome,
    id: String,
    before: Option<i64>,
    draft: Draft,
) -> WebResult {
    let user = chrome.require_role(CHAT_ROLES)?.clone();
    let me = &user.actor.user_id;
    app.mark_conversation(&user.actor, id.clone(), None, true)
        .await?;
    // The chrome counted this conversation's unread messages before they were read.
    if let Ok((_, messages)) = app.unread_counts(me).await {
        chrome.unread_messages = u64::try_from(messages).unwrap_or(0);
    }
    let detail = app.find_conversation(&user.actor, id.clone()).await?;
    let c = &detail.conversation;
    let until = before.map_or(c.last_seq, |b| (b - 1).min(c.last_seq));
    let after = (until - PAGE_SIZE).max(0);
    let (messages, receipts) = if until > after {
        let limit = u32::try_from(until - after).unwrap_or(1);
        app.list_messages(&user.actor, id.clone(), Some(after), Some(limit))
            .await?
    } else {
        (Vec::new(), Vec::new())
    };
    let other = if c.patient_id == *me {
        &c.doctor_id
    } else {
        &c.patient_id
    };
    let theirs = receipts
        .iter()
        .find(|r| &r.user_id == other)
        .map(|r| r.state)
        .unwrap_or_default();
    let (my_name, other_name) = if user.actor.role == Role::Patient {
        (&detail.patient_name, &detail.doctor_name)
    } else {
        (&detail.doctor_name, &detail.patient_name)
    };
    let zone = view::zone(&app.settings.clinic_time_zone);
    let rows = messages
        .into_iter()
        .map(|message| {
            let m = message.record;
            let mine = &m.sender_id == me;
            MessageRow {
                seq: m.seq,
                sender: if mine { my_name } else { other_name }.clone(),
                mine,
                when: view::date_time(m.sent_at, &zone),
                text: m.body,
                file: message.attachment.map(|a| {
                    let (kind, size) = FileRow::describe(&a.content_type, a.size);
                    (a.id, a.file_name, format!("{kind}, {size}"))
                }),
                mark: if !mine {
                    ""
                } else if theirs.read_seq >= m.seq {
                    "Read"
                } else if theirs.delivered_seq >= m.seq {
                    "Delivered"
                } else {
                    "Sent"
                },
            }
        })
        .collect();
    let page = ConversationPage {
        id: c.id.clone(),
        patient_id: c.patient_id.to_string(),
        me: me.to_string(),
        with: other_name.clone(),
        other_id: other.to_string(),
        is_doctor: user.actor.role == Role::Doctor,
        closed: c.is_closed(),
        messages: rows,
        older: (after > 0).then(|| format!("/messages/{}?before={}", c.id, after + 1)),
        paging: before.is_some(),
        client_id: draft.client_id.unwrap_or_else(random_token),
        file_client_id: random_token(),
        text: draft.text,
        errors: draft.errors,
        max_upload_mb: app.settings.attachment_max_bytes / (1024 * 1024),
        chrome,
    };
    Ok(render(&page))
}

#[derive(Deserialize)]
struct MessageForm {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    text: String,
}

/// `POST /messages/{id}`: fields `_csrf`, `client_id`, `text`. Sending the same
/// form twice stores one message (same `client_id`).
async fn create_message(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form }: CsrfForm<MessageForm>,
) -> WebResult {
    let user = chrome.require_role(CHAT_ROLES)?;
    let here = format!("/messages/{id}");
    match app
        .send_message(&user.actor, id.clone(), &form.client_id, &form.text, None)
        .await
    {
        Ok(sent) => Ok(see_other(
            &app,
            &format!("{here}#m-{}", sent.message.record.seq),
            None,
        )),
        Err(AppError::Invalid(errors)) => {
            let draft = Draft {
                // A client id the server refused is replaced; a refused text keeps
                // its id, as nothing was stored under it.
                client_id: Some(form.client_id)
                    .filter(|_| !errors.errors.iter().any(|e| e.field == "client_id")),
                text: form.text,
                errors: errors.into(),
            };
            Ok(unprocessable(
                conversation_page(&app, chrome.clone(), id, None, draft).await?,
            ))
        }
        Err(error @ AppError::Conflict { .. }) => {
            Ok(see_other(&app, &here, Some(refusal_flash(error)?)))
        }
        Err(AppError::RateLimited { .. }) => Ok(see_other(
            &app,
            &here,
            Some(Flash::error(
                "You are sending messages too quickly. Please wait a minute and send it again.",
            )),
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(Deserialize)]
struct CloseForm {}

/// `POST /messages/{id}/close`: the doctor closes the conversation.
async fn close_conversation(
    State(app): State<App>,
    Path(id): Path<String>,
    CsrfForm { chrome, form: _ }: CsrfForm<CloseForm>,
) -> WebResult {
    let user = chrome.require_role(CHAT_ROLES)?;
    app.close_conversation(&user.actor, id.clone())
        .await
        .map_err(WebError::from)?;
    Ok(see_other(
        &app,
        &format!("/messages/{id}"),
        Some(Flash::success(
            "The conversation is closed. The patient's next booking reopens it.",
        )),
    ))
}

/// `POST /messages/{id}/file` (multipart): fields `_csrf`, `client_id`, optional
/// `text`, and `file`. The file goes into the patient's file first (the same upload
/// as everywhere), then the message that carries it. A file the store refuses (too
/// large, not a PDF/PNG/JPEG) is a message on the page, and nothing is sent.
async fn create_file_message(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    CsrfUpload { chrome, upload }: CsrfUpload,
) -> WebResult {
    let user = chrome.require_role(CHAT_ROLES)?;
    let here = format!("/messages/{id}");
    let detail = app.find_conversation(&user.actor, id.clone()).await?;
    if detail.conversation.is_closed() {
        return Ok(done(
            &app,
            &headers,
            &here,
            Flash::error("This conversation is closed: the file was not sent."),
        ));
    }
    let client_id = upload.field("client_id").unwrap_or_default().to_owned();
    let text = upload.field("text").unwrap_or_default().to_owned();
    let target = AttachmentTarget::Patient(detail.conversation.patient_id.clone());
    let file = match app
        .upload_attachment(&user.actor, target, &upload.file_name, upload.bytes)
        .await
    {
        Ok(file) => file,
        Err(error) => return Ok(done(&app, &headers, &here, refusal(error)?)),
    };
    match app
        .send_message(&user.actor, id, &client_id, &text, Some(&file.id))
        .await
    {
        Ok(sent) => Ok(done(
            &app,
            &headers,
            &format!("{here}#m-{}", sent.message.record.seq),
            Flash::success(format!("{} was sent.", file.file_name)),
        )),
        Err(AppError::Invalid(errors)) => Ok(done(
            &app,
            &headers,
            &here,
            Flash::error(format!(
                "The file was added to the patient's file but not sent: {}",
                FieldErrors::from(errors).summary()
            )),
        )),
        Err(error @ AppError::Conflict { .. }) => {
            Ok(done(&app, &headers, &here, refusal_flash(error)?))
        }
        Err(AppError::RateLimited { .. }) => Ok(done(
            &app,
            &headers,
            &here,
            Flash::error(
                "You are sending messages too quickly: the file was added to the patient's file but not sent.",
            ),
        )),
        Err(other) => Err(other.into()),
    }
}
