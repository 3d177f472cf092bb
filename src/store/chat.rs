//! The store's side of chat (issue 10): conversations, messages with a server
//! sequence per conversation, read state per participant, and the per-user log of
//! live events that a reconnecting client replays (see docs/LIVE.md).

use jiff::Timestamp;

use super::{StoreResult, UserId};

/// One patient's conversation with one doctor (at most one per pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationRecord {
    pub id: String,
    pub patient_id: UserId,
    pub doctor_id: UserId,
    pub created_at: Timestamp,
    /// When the doctor last closed it. It is closed while no appointment between the
    /// pair was booked after this instant: a new booking reopens it without a write.
    pub closed_at: Option<Timestamp>,
    /// The sequence number of the last message (0: none yet).
    pub last_seq: i64,
    pub last_message_at: Option<Timestamp>,
    /// When the pair's latest appointment was booked (`None`: they never had one).
    /// Read with the row, not stored in it.
    pub last_booked_at: Option<Timestamp>,
}

impl ConversationRecord {
    pub fn is_closed(&self) -> bool {
        match (self.closed_at, self.last_booked_at) {
            (Some(closed), Some(booked)) => booked <= closed,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }
}

/// A conversation as one participant's list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    pub conversation: ConversationRecord,
    pub patient_name: String,
    pub doctor_name: String,
    /// Messages of the other participant after this user's read mark.
    pub unread: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub conversation_id: String,
    pub seq: i64,
    pub sender_id: UserId,
    pub client_id: String,
    /// Text, empty when an attachment is the whole message.
    pub body: String,
    pub sent_at: Timestamp,
    /// A file of the conversation's patient's file that the sender uploaded.
    pub attachment_id: Option<String>,
}

/// How far one participant has received and read a conversation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadState {
    pub delivered_seq: i64,
    pub read_seq: i64,
}

/// One entry of a user's live stream: `id` increases by one per user, in commit
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEventRecord {
    pub user_id: UserId,
    pub id: i64,
    pub kind: String,
    /// JSON text.
    pub data: String,
    pub at: Timestamp,
}

pub trait ChatTx {
    /// Inside a write on PostgreSQL, locks the row until commit (messages of one
    /// conversation are numbered one at a time).
    fn find_conversation(&mut self, id: &str) -> StoreResult<Option<ConversationRecord>>;
    fn find_conversation_of(
        &mut self,
        patient: &UserId,
        doctor: &UserId,
    ) -> StoreResult<Option<ConversationRecord>>;
    /// Inserts the conversation unless the pair has one already (then nothing).
    fn insert_conversation(&mut self, conversation: &ConversationRecord) -> StoreResult<()>;
    fn close_conversation(&mut self, id: &str, at: Timestamp) -> StoreResult<()>;
    /// The user's conversations, latest activity first, at most `limit`.
    fn list_conversations(
        &mut self,
        user: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>>;
    /// Unread messages over all of the user's conversations.
    fn unread_messages(&mut self, user: &UserId) -> StoreResult<i64>;
    /// When the pair's latest appointment (any status) was booked.
    fn last_booked_between(
        &mut self,
        patient: &UserId,
        doctor: &UserId,
    ) -> StoreResult<Option<Timestamp>>;

    fn find_message_by_client_id(
        &mut self,
        conversation: &str,
        sender: &UserId,
        client_id: &str,
    ) -> StoreResult<Option<MessageRecord>>;
    /// Takes the conversation's next sequence number and records the activity.
    fn next_message_seq(&mut self, conversation: &str, at: Timestamp) -> StoreResult<i64>;
    fn insert_message(&mut self, message: &MessageRecord) -> StoreResult<()>;
    /// Messages with `seq > after`, oldest first, at most `limit`.
    fn list_messages(
        &mut self,
        conversation: &str,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>>;
    fn count_messages_since(&mut self, sender: &UserId, since: Timestamp) -> StoreResult<i64>;
    fn read_state(&mut self, conversation: &str, user: &UserId) -> StoreResult<ReadState>;
    fn save_read_state(
        &mut self,
        conversation: &str,
        user: &UserId,
        state: ReadState,
    ) -> StoreResult<()>;

    /// Appends one event to each user's live stream and returns each user's new
    /// id. Call it last in a transaction: on PostgreSQL it takes a per-user lock
    /// (held to commit, taken in user-id order) so that ids are committed in order.
    fn append_live_event(
        &mut self,
        users: &[&UserId],
        kind: &str,
        data: &str,
        at: Timestamp,
    ) -> StoreResult<Vec<(UserId, i64)>>;
    /// The user's events with `id > after`, oldest first, at most `limit`.
    fn live_events_after(
        &mut self,
        user: &UserId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<LiveEventRecord>>;
    /// The id of the user's latest event (0: none).
    fn last_live_event_id(&mut self, user: &UserId) -> StoreResult<i64>;
    /// Up to `limit` events recorded before `before`, as `(user, id)`, never a
    /// user's latest one: it carries the user's numbering on, so ids are not reused.
    fn live_events_to_prune(
        &mut self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(UserId, i64)>>;
    /// Deletes these events; returns how many were still there.
    fn delete_live_events(&mut self, events: &[(UserId, i64)]) -> StoreResult<u64>;
}

/// The users of `users` once each, in id order (the order locks are taken in).
pub(crate) fn sorted_users<'u>(users: &[&'u UserId]) -> Vec<&'u UserId> {
    let mut sorted = users.to_vec();
    sorted.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    sorted.dedup();
    sorted
}
