//! The store's side of notifications: preferences, the in-app list, and the outbox
//! of deliveries that the worker claims with a lease.

use jiff::Timestamp;

use super::{AppointmentId, PageRequest, StoreResult, UserId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationPreferences {
    pub user_id: UserId,
    pub email_enabled: bool,
    pub sms_enabled: bool,
    pub updated_at: Timestamp,
}

/// One entry of a user's in-app list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub id: String,
    pub user_id: UserId,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: String,
    pub appointment_id: Option<AppointmentId>,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Waiting for its time.
    Scheduled,
    /// Claimed by a worker whose lease has not run out.
    Sending,
    Sent,
    /// An attempt failed; the next one is due at `due_at`.
    Retrying,
    /// The channel refused it for good (a bad number, a 4xx).
    Failed,
    /// Every attempt failed.
    Dead,
    /// Its appointment was cancelled or moved before it was due.
    Cancelled,
    /// Not sent, on purpose: the appointment began already, the recipient turned
    /// the channel off.
    Skipped,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 8] = [
        DeliveryStatus::Scheduled,
        DeliveryStatus::Sending,
        DeliveryStatus::Sent,
        DeliveryStatus::Retrying,
        DeliveryStatus::Failed,
        DeliveryStatus::Dead,
        DeliveryStatus::Cancelled,
        DeliveryStatus::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Scheduled => "scheduled",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Cancelled => "cancelled",
            DeliveryStatus::Skipped => "skipped",
        }
    }

    pub fn parse(value: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// One message on one channel: a row of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: String,
    /// Unique: writing the same message twice writes it once. Also what the
    /// channel's own dedupe key (Message-ID, event id) is made from.
    pub idempotency_key: String,
    /// `email`, `sms`, `webhook`, `sns` or `in_app`.
    pub channel: String,
    /// The notice kind, e.g. `reminder`.
    pub kind: String,
    /// The person told (email, SMS, in-app); none for webhooks and SNS.
    pub user_id: Option<UserId>,
    pub appointment_id: Option<AppointmentId>,
    /// The webhook URL; none for the other channels (addresses are looked up when
    /// sending, so a changed one counts).
    pub target: Option<String>,
    /// The notice, as JSON.
    pub payload: String,
    pub status: DeliveryStatus,
    pub due_at: Timestamp,
    pub attempts: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// How an attempt ended, written only by the worker holding the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub status: DeliveryStatus,
    /// The next attempt's time, when retrying.
    pub due_at: Option<Timestamp>,
    pub last_error: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub statuses: Vec<DeliveryStatus>,
    pub channel: Option<String>,
    pub appointment_id: Option<AppointmentId>,
    pub user_id: Option<UserId>,
}

pub trait NotificationTx {
    fn find_notification_preferences(
        &mut self,
        user: &UserId,
    ) -> StoreResult<Option<NotificationPreferences>>;
    fn upsert_notification_preferences(
        &mut self,
        preferences: &NotificationPreferences,
    ) -> StoreResult<()>;

    fn insert_notification(&mut self, notification: &NotificationRecord) -> StoreResult<()>;
    /// Newest first; the cursor key is `created_at` in milliseconds.
    fn list_notifications(
        &mut self,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<NotificationRecord>>;
    fn count_unread_notifications(&mut self, user: &UserId) -> StoreResult<i64>;
    /// `false` when the user has no such notification. Reading twice keeps the
    /// first time.
    fn mark_notification_read(
        &mut self,
        user: &UserId,
        id: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
    fn mark_all_notifications_read(&mut self, user: &UserId, at: Timestamp) -> StoreResult<u64>;

    /// `false` when a delivery with the same idempotency key exists (and nothing
    /// was written).
    fn insert_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<bool>;
    /// Takes up to `limit` deliveries that are due (or whose lease ran out), oldest
    /// due first, marks them `sending` under `owner` until `lease_until` and counts
    /// the attempt. Rows another worker is claiming at the same moment are skipped,
    /// not waited for.
    fn claim_deliveries(
        &mut self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Records an attempt's end; `false` (and nothing written) when `owner` no
    /// longer holds the lease.
    fn finish_delivery(
        &mut self,
        id: &str,
        owner: &str,
        outcome: &DeliveryOutcome,
    ) -> StoreResult<bool>;
    /// Cancels the appointment's deliveries of `kind` that have not been sent.
    fn cancel_pending_deliveries(
        &mut self,
        appointment: &AppointmentId,
        kind: &str,
        at: Timestamp,
        why: &str,
    ) -> StoreResult<u64>;
    fn find_delivery(&mut self, id: &str) -> StoreResult<Option<DeliveryRecord>>;
    /// Newest first; the cursor key is `created_at` in milliseconds.
    fn list_deliveries(
        &mut self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Makes a failed or dead delivery due again at `at`, with a fresh count of
    /// attempts; `false` when it is in another state.
    fn requeue_delivery(&mut self, id: &str, at: Timestamp) -> StoreResult<bool>;
    /// When the next waiting delivery falls due, if any waits.
    fn next_delivery_due(&mut self) -> StoreResult<Option<Timestamp>>;
    /// How many deliveries are in each status (statuses with none are left out).
    fn count_deliveries_by_status(&mut self) -> StoreResult<Vec<(DeliveryStatus, i64)>>;

    /// How far reminders are planned: every reminder due before it is in the
    /// outbox; `None` before the first planning pass.
    fn reminders_planned_through(&mut self) -> StoreResult<Option<Timestamp>>;
    /// The same, for a planning pass: on PostgreSQL the row stays locked until
    /// commit, so passes of several workers follow one another.
    fn begin_reminder_plan(&mut self) -> StoreResult<Option<Timestamp>>;
    fn set_reminders_planned_through(&mut self, through: Timestamp) -> StoreResult<()>;
}
