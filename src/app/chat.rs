//! Chat between a patient and a doctor who share an appointment (issue 10), and the
//! per-user live stream that the WebSocket serves (see docs/LIVE.md).
//!
//! Every durable event (a message, a receipt, an appointment change for the people
//! involved) is appended to its recipients' streams in the same transaction as the
//! change, and published on the event bus after the commit. A connection that sees a
//! gap in a user's ids reads the stream from the database, so a client gets every
//! event exactly once, in order, across reconnects, restarts and instances.

use carebook_domain::policy::{Action, Actor, Subject, authorize};
use carebook_domain::validation::{parse_client_id, parse_message_text};
use carebook_domain::{Role, UserStatus, ValidationErrors};
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::{App, AppError, Authenticated, ConflictKind, Event, LiveId, new_id};
use crate::store::{
    AttachmentRecord, ConversationRecord, ConversationSummary, LiveEventRecord, MessageRecord,
    ReadState, Tx, UserId,
};

/// Largest page of messages or live events.
pub const MAX_CHAT_PAGE: u32 = 100;
/// Conversations a list shows (latest activity first).
pub const MAX_CONVERSATIONS: u32 = 200;
/// Largest event data carried in a NOTIFY payload (PostgreSQL's limit is 8000 bytes).
const MAX_INLINE_DATA_BYTES: usize = 6000;
/// Live events deleted per write transaction when pruning.
const PRUNE_BATCH: u32 = 1000;

/// With whom to open a conversation: a patient names the doctor, a doctor the patient.
#[derive(Debug, Clone, Default)]
pub struct OpenConversationInput {
    pub doctor_id: Option<String>,
    pub patient_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ConversationList {
    pub items: Vec<ConversationSummary>,
    /// Unread messages over all conversations.
    pub unread_total: i64,
}

/// One conversation with both participants' names, for its page.
#[derive(Debug, Clone)]
pub struct ConversationDetail {
    pub conversation: ConversationRecord,
    pub patient_name: String,
    pub doctor_name: String,
}

/// What a message shows of its attachment (the file itself is downloaded by the
/// attachment rules: its patient, or a doctor with care).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttachment {
    pub id: String,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
}

impl From<&AttachmentRecord> for MessageAttachment {
    fn from(file: &AttachmentRecord) -> Self {
        MessageAttachment {
            id: file.id.clone(),
            file_name: file.file_name.clone(),
            content_type: file.media_type.clone(),
            size: file.size_bytes,
        }
    }
}

/// A stored message with its attachment's details.
#[derive(Debug, Clone)]
pub struct Message {
    pub record: MessageRecord,
    pub attachment: Option<MessageAttachment>,
}

/// A message as sent: `created` is false when the client id was seen before.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub message: Message,
    pub created: bool,
}

/// The message with its attachment's details, read from the store.
pub(crate) fn with_attachment(tx: &mut dyn Tx, record: MessageRecord) -> Result<Message, AppError> {
    let attachment = match &record.attachment_id {
        Some(id) => tx
            .find_attachment(id)?
            .as_ref()
            .map(MessageAttachment::from),
        None => None,
    };
    Ok(Message { record, attachment })
}

/// Both participants' read state of a conversation.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub conversation_id: String,
    pub user_id: UserId,
    pub state: ReadState,
}

pub fn message_data(message: &Message) -> serde_json::Value {
    let m = &message.record;
    json!({
        "conversation_id": m.conversation_id,
        "seq": m.seq,
        "sender_id": m.sender_id.as_str(),
        "client_id": m.client_id,
        "text": m.body,
        "sent_at": m.sent_at,
        "attachment": message.attachment.as_ref().map(|a| json!({
            "id": a.id,
            "file_name": a.file_name,
            "content_type": a.content_type,
            "size": a.size,
        })),
    })
}

fn receipt_data(r: &Receipt) -> serde_json::Value {
    json!({
        "conversation_id": r.conversation_id,
        "user_id": r.user_id.as_str(),
        "delivered_seq": r.state.delivered_seq,
        "read_seq": r.state.read_seq,
    })
}

fn subject(c: &ConversationRecord) -> Subject<'_> {
    Subject::Conversation {
        patient: &c.patient_id,
        doctor: &c.doctor_id,
        have_appointment: c.last_booked_at.is_some(),
    }
}

/// The conversation if `actor` may use it; anyone else is told it does not exist.
fn usable_conversation(
    tx: &mut dyn Tx,
    actor: &Actor,
    id: &str,
) -> Result<ConversationRecord, AppError> {
    let conversation = tx
        .find_conversation(id)?
        .ok_or(AppError::NotFound("conversation"))?;
    authorize(actor, Action::UseConversation, subject(&conversation))
        .map_err(|_| AppError::NotFound("conversation"))?;
    Ok(conversation)
}

fn other_party<'c>(c: &'c ConversationRecord, me: &UserId) -> &'c UserId {
    if c.patient_id == *me {
        &c.doctor_id
    } else {
        &c.patient_id
    }
}

/// Appends a durable event to the users' streams (last in the transaction) and
/// returns the bus event to publish after the commit.
pub(crate) fn append_chat_event(
    tx: &mut dyn Tx,
    users: &[&UserId],
    kind: &str,
    data: serde_json::Value,
    at: Timestamp,
) -> Result<Event, AppError> {
    let text = data.to_string();
    let ids = tx.append_live_event(users, kind, &text, at)?;
    let inline = (text.len() <= MAX_INLINE_DATA_BYTES).then_some(data);
    Ok(Event::Chat {
        kind: kind.to_owned(),
        live: LiveId::of(ids),
        data: inline,
    })
}

/// Appends an appointment change to the patient's and the doctor's streams: one
/// insert per person, in the change's own transaction (see docs/LIVE.md).
pub(crate) fn append_appointment_event(
    tx: &mut dyn Tx,
    action: &str,
    view: &crate::store::AppointmentView,
    at: Timestamp,
) -> Result<Vec<LiveId>, AppError> {
    let data = Event::appointment_data(action, view);
    let r = &view.record;
    let ids = tx.append_live_event(&[&r.patient_id, &r.doctor_id], "appointment", &data, at)?;
    Ok(LiveId::of(ids))
}

fn parse_after(after: Option<i64>) -> Result<i64, AppError> {
    match after {
        None => Ok(0),
        Some(n) if n >= 0 => Ok(n),
        Some(_) => Err(AppError::invalid("after", "must be 0 or more")),
    }
}

fn parse_limit(limit: Option<u32>, default: u32) -> Result<u32, AppError> {
    let limit = limit.unwrap_or(default);
    if (1..=MAX_CHAT_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(AppError::invalid("limit", "must be between 1 and 100"))
    }
}

impl App {
    /// The conversation of the caller and the person named, created if needed.
    /// Allowed when the two share an appointment (any status).
    pub async fn open_conversation(
        &self,
        actor: &Actor,
        input: OpenConversationInput,
    ) -> Result<ConversationSummary, AppError> {
        let trimmed = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let (patient_id, doctor_id) = match (
            actor.role,
            trimmed(input.doctor_id),
            trimmed(input.patient_id),
        ) {
            (Role::Patient, Some(doctor), None) => (actor.user_id.clone(), UserId::new(doctor)),
            (Role::Doctor, None, Some(patient)) => (UserId::new(patient), actor.user_id.clone()),
            (Role::Patient, _, _) => {
                return Err(AppError::invalid("doctor_id", "is required (and alone)"));
            }
            (Role::Doctor, _, _) => {
                return Err(AppError::invalid("patient_id", "is required (and alone)"));
            }
            _ => return Err(AppError::Forbidden),
        };
        if doctor_id.as_str().len() > 64 || patient_id.as_str().len() > 64 {
            return Err(AppError::Forbidden);
        }
        let actor = actor.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let last_booked = tx.last_booked_between(&patient_id, &doctor_id)?;
                let have_appointment = last_booked.is_some();
                authorize(
                    &actor,
                    Action::OpenConversation,
                    Subject::Conversation {
                        patient: &patient_id,
                        doctor: &doctor_id,
                        have_appointment,
                    },
                )?;
                if tx.find_conversation_of(&patient_id, &doctor_id)?.is_none() {
                    tx.insert_conversation(&ConversationRecord {
                        id: new_id("cnv"),
                        patient_id: patient_id.clone(),
                        doctor_id: doctor_id.clone(),
                        created_at: now,
                        closed_at: None,
                        last_seq: 0,
                        last_message_at: None,
                        last_booked_at: None,
                    })?;
                }
                let summary = tx
                    .list_conversations(&actor.user_id, MAX_CONVERSATIONS)?
                    .into_iter()
                    .find(|s| {
                        s.conversation.patient_id == patient_id
                            && s.conversation.doctor_id == doctor_id
                    })
                    .ok_or_else(|| AppError::Internal("a conversation vanished".into()))?;
                Ok(summary)
            })
            .await
    }

    pub async fn list_conversations(&self, actor: &Actor) -> Result<ConversationList, AppError> {
        let me = actor.user_id.clone();
        self.store
            .read(move |tx| {
                let items = tx.list_conversations(&me, MAX_CONVERSATIONS)?;
                let unread_total = tx.unread_messages(&me)?;
                Ok(ConversationList {
                    items,
                    unread_total,
                })
            })
            .await
    }

    /// One conversation the caller may use (anyone else: not found).
    pub async fn find_conversation(
        &self,
        actor: &Actor,
        id: String,
    ) -> Result<ConversationDetail, AppError> {
        let actor = actor.clone();
        self.store
            .read(move |tx| {
                let conversation = usable_conversation(tx, &actor, &id)?;
                let mut name = |user: &UserId| -> Result<String, AppError> {
                    Ok(tx.find_user(user)?.map(|u| u.name).unwrap_or_default())
                };
                let patient_name = name(&conversation.patient_id)?;
                let doctor_name = name(&conversation.doctor_id)?;
                Ok(ConversationDetail {
                    conversation,
                    patient_name,
                    doctor_name,
                })
            })
            .await
    }

    /// Messages after `after` (a sequence number), oldest first, with both
    /// participants' read state.
    pub async fn list_messages(
        &self,
        actor: &Actor,
        id: String,
        after: Option<i64>,
        limit: Option<u32>,
    ) -> Result<(Vec<Message>, Vec<Receipt>), AppError> {
        let after = parse_after(after)?;
        let limit = parse_limit(limit, 50)?;
        let actor = actor.clone();
        self.store
            .read(move |tx| {
                let c = usable_conversation(tx, &actor, &id)?;
                let messages = tx
                    .list_messages(&c.id, after, limit)?
                    .into_iter()
                    .map(|m| with_attachment(tx, m))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut receipts = Vec::new();
                for user in [&c.patient_id, &c.doctor_id] {
                    receipts.push(Receipt {
                        conversation_id: c.id.clone(),
                        user_id: user.clone(),
                        state: tx.read_state(&c.id, user)?,
                    });
                }
                Ok((messages, receipts))
            })
            .await
    }

    /// Stores a message (durably, before answering) and tells both participants.
    /// Sending again with the same `client_id` returns the stored message. An
    /// attachment must be a file of the conversation's patient's file that the
    /// sender uploaded and did not delete; the text may then be empty.
    pub async fn send_message(
        &self,
        actor: &Actor,
        id: String,
        client_id: &str,
        text: &str,
        attachment_id: Option<&str>,
    ) -> Result<SentMessage, AppError> {
        let mut errors = ValidationErrors::new();
        let client_id = errors.take(parse_client_id("client_id", client_id));
        let attachment_id = match attachment_id.map(str::trim) {
            None => None,
            Some(a) if a.is_empty() || a.len() > 64 || a.contains('\0') => {
                errors.add("attachment_id", "is not a file you can attach here");
                None
            }
            Some(a) => Some(a.to_owned()),
        };
        let text = if attachment_id.is_some() && text.trim().is_empty() {
            Some(String::new())
        } else {
            errors.take(parse_message_text("text", text))
        };
        let (Some(client_id), Some(text), true) = (client_id, text, errors.is_empty()) else {
            return Err(errors.into());
        };
        let actor = actor.clone();
        let now = self.now();
        let per_minute = i64::from(self.settings.chat_messages_per_minute);
        let (sent, event) = self
            .store
            .write(move |tx| {
                let c = usable_conversation(tx, &actor, &id)?;
                if let Some(message) =
                    tx.find_message_by_client_id(&c.id, &actor.user_id, &client_id)?
                {
                    return Ok((
                        SentMessage {
                            message: with_attachment(tx, message)?,
                            created: false,
                        },
                        None,
                    ));
                }
                if c.is_closed() {
                    return Err(AppError::conflict(
                        ConflictKind::ConversationClosed,
                        "the doctor closed this conversation; a new booking reopens it",
                    ));
                }
                // The last 60 s, this instant included.
                if per_minute > 0
                    && tx.count_messages_since(
                        &actor.user_id,
                        now - SignedDuration::from_millis(59_999),
                    )? >= per_minute
                {
                    return Err(AppError::RateLimited {
                        retry_after_seconds: 60,
                    });
                }
                let attachment = match &attachment_id {
                    None => None,
                    Some(file) => Some(
                        tx.find_attachment(file)?
                            .filter(|f| {
                                f.deleted_at.is_none()
                                    && f.patient_id == c.patient_id
                                    && f.uploaded_by == actor.user_id
                            })
                            .map(|f| MessageAttachment::from(&f))
                            .ok_or_else(|| {
                                AppError::invalid(
                                    "attachment_id",
                                    "must be a file you uploaded to this patient's file",
                                )
                            })?,
                    ),
                };
                let seq = tx.next_message_seq(&c.id, now)?;
                let record = MessageRecord {
                    conversation_id: c.id.clone(),
                    seq,
                    sender_id: actor.user_id.clone(),
                    client_id,
                    body: text,
                    sent_at: now,
                    attachment_id,
                };
                tx.insert_message(&record)?;
                let message = Message { record, attachment };
                // The sender has seen their own message.
                let mut mine = tx.read_state(&c.id, &actor.user_id)?;
                mine.delivered_seq = seq;
                mine.read_seq = seq;
                tx.save_read_state(&c.id, &actor.user_id, mine)?;
                let event = append_chat_event(
                    tx,
                    &[&c.patient_id, &c.doctor_id],
                    "message",
                    message_data(&message),
                    now,
                )?;
                Ok::<_, AppError>((
                    SentMessage {
                        message,
                        created: true,
                    },
                    Some(event),
                ))
            })
            .await?;
        if let Some(event) = event {
            self.publish(event).await;
        }
        Ok(sent)
    }

    /// Marks the conversation read (`read`) or received (`delivered`) up to a
    /// sequence number; marks only move forward. Tells both participants when a
    /// mark moved.
    pub async fn mark_conversation(
        &self,
        actor: &Actor,
        id: String,
        up_to_seq: Option<i64>,
        read: bool,
    ) -> Result<Receipt, AppError> {
        if up_to_seq.is_some_and(|n| n < 0) {
            return Err(AppError::invalid("up_to_seq", "must be 0 or more"));
        }
        let actor = actor.clone();
        let now = self.now();
        let (receipt, event) = self
            .store
            .write(move |tx| {
                let c = usable_conversation(tx, &actor, &id)?;
                let up_to = up_to_seq.unwrap_or(c.last_seq).min(c.last_seq);
                let before = tx.read_state(&c.id, &actor.user_id)?;
                let mut state = before;
                state.delivered_seq = state.delivered_seq.max(up_to);
                if read {
                    state.read_seq = state.read_seq.max(up_to);
                }
                let receipt = Receipt {
                    conversation_id: c.id.clone(),
                    user_id: actor.user_id.clone(),
                    state,
                };
                if state == before {
                    return Ok((receipt, None));
                }
                tx.save_read_state(&c.id, &actor.user_id, state)?;
                let event = append_chat_event(
                    tx,
                    &[&c.patient_id, &c.doctor_id],
                    "receipt",
                    receipt_data(&receipt),
                    now,
                )?;
                Ok::<_, AppError>((receipt, Some(event)))
            })
            .await?;
        if let Some(event) = event {
            self.publish(event).await;
        }
        Ok(receipt)
    }

    /// The doctor closes the conversation: nobody writes in it until the pair's
    /// next booking.
    pub async fn close_conversation(
        &self,
        actor: &Actor,
        id: String,
    ) -> Result<ConversationSummary, AppError> {
        let actor = actor.clone();
        let now = self.now();
        self.store
            .write(move |tx| {
                let c = usable_conversation(tx, &actor, &id)?;
                authorize(&actor, Action::CloseConversation, subject(&c))?;
                // Strictly after the latest booking, so that booking does not count
                // as a reopening.
                let at = match c.last_booked_at {
                    Some(booked) if booked >= now => booked + SignedDuration::from_millis(1),
                    _ => now,
                };
                tx.close_conversation(&c.id, at)?;
                tx.list_conversations(&actor.user_id, MAX_CONVERSATIONS)?
                    .into_iter()
                    .find(|s| s.conversation.id == c.id)
                    .ok_or_else(|| AppError::Internal("a conversation vanished".into()))
            })
            .await
    }

    /// Tells the other participant that the caller is typing (not stored).
    pub async fn typing(&self, actor: &Actor, id: String) -> Result<(), AppError> {
        let actor_for_tx = actor.clone();
        let c = self
            .store
            .read(move |tx| usable_conversation(tx, &actor_for_tx, &id))
            .await?;
        let to = other_party(&c, &actor.user_id).to_string();
        self.publish(Event::Typing {
            conversation_id: c.id,
            user_id: actor.user_id.to_string(),
            to,
        })
        .await;
        Ok(())
    }

    /// The user's live events after `after`, oldest first.
    pub async fn live_events_after(
        &self,
        user: &UserId,
        after: i64,
        limit: u32,
    ) -> Result<Vec<LiveEventRecord>, AppError> {
        let user = user.clone();
        self.store
            .read(move |tx| Ok(tx.live_events_after(&user, after, limit)?))
            .await
    }

    /// Deletes live events older than `live_event_retention_days`, each user's latest
    /// excepted, in small batches so that no write transaction holds the database
    /// for long; returns how many went. Idempotent: every instance may run it.
    pub async fn prune_live_events(&self) -> Result<u64, AppError> {
        let days = self.settings.live_event_retention_days;
        if days == 0 {
            return Ok(0);
        }
        let before = self.now() - SignedDuration::from_hours(24 * i64::from(days));
        let mut pruned = 0;
        loop {
            // Found under a read transaction (no writer waits for the scan), deleted
            // by key: a user's latest event stays the latest, as ids only grow.
            let batch = self
                .store
                .read(move |tx| Ok::<_, AppError>(tx.live_events_to_prune(before, PRUNE_BATCH)?))
                .await?;
            let full = batch.len() == PRUNE_BATCH as usize;
            if batch.is_empty() {
                return Ok(pruned);
            }
            pruned += self
                .store
                .write(move |tx| Ok::<_, AppError>(tx.delete_live_events(&batch)?))
                .await?;
            if !full {
                return Ok(pruned);
            }
        }
    }

    pub async fn last_live_event_id(&self, user: &UserId) -> Result<i64, AppError> {
        let user = user.clone();
        self.store
            .read(move |tx| Ok(tx.last_live_event_id(&user)?))
            .await
    }

    /// Unread in-app notifications and chat messages of a user: the badges on every
    /// page and in the live channel.
    pub async fn unread_counts(&self, user: &UserId) -> Result<(i64, i64), AppError> {
        let user = user.clone();
        self.store
            .read(move |tx| {
                let notifications = tx.count_unread_notifications(&user)?;
                let messages = tx.unread_messages(&user)?;
                Ok((notifications, messages))
            })
            .await
    }

    /// Whether the account may still use the live channel (active).
    /// Whether the session a long-lived connection was opened with still
    /// authenticates: not signed out, not expired, its account still active.
    pub async fn session_is_current(&self, opened: &Authenticated) -> Result<bool, AppError> {
        let hash = opened.session.token_hash.clone();
        let now = self.now();
        self.store
            .read(move |tx| {
                let Some(session) = tx.find_session(&hash)? else {
                    return Ok(false);
                };
                Ok(session.expires_at > now
                    && tx
                        .find_user(&session.user_id)?
                        .is_some_and(|u| u.status == UserStatus::Active))
            })
            .await
    }
}
