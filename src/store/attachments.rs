//! What carebook keeps about uploaded files (their bytes are in the [`FileStore`]).
//!
//! [`FileStore`]: super::FileStore

use jiff::Timestamp;

use super::{AppointmentId, StoreResult, UserId};

#[derive(Debug, Clone, PartialEq)]
pub struct AttachmentRecord {
    pub id: String,
    pub patient_id: UserId,
    /// The visit it belongs to; `None` for the patient's general file.
    pub appointment_id: Option<AppointmentId>,
    pub uploaded_by: UserId,
    pub file_name: String,
    pub media_type: String,
    pub size_bytes: i64,
    /// Lowercase hex.
    pub sha256: String,
    pub object_key: String,
    pub created_at: Timestamp,
    pub deleted_at: Option<Timestamp>,
    pub deleted_by: Option<UserId>,
}

/// Which attachments a list shows: a patient's whole file, or one visit's.
#[derive(Debug, Clone, Copy)]
pub enum AttachmentScope<'a> {
    Patient(&'a UserId),
    Appointment(&'a AppointmentId),
}

pub trait AttachmentTx {
    fn insert_attachment(&mut self, attachment: &AttachmentRecord) -> StoreResult<()>;
    /// Deleted ones too: the caller decides what a deleted attachment means.
    fn find_attachment(&mut self, id: &str) -> StoreResult<Option<AttachmentRecord>>;
    /// Live attachments only, newest first.
    fn list_attachments(
        &mut self,
        scope: AttachmentScope<'_>,
    ) -> StoreResult<Vec<AttachmentRecord>>;
    /// Marks it deleted; `false` when it was already deleted or does not exist.
    fn mark_attachment_deleted(
        &mut self,
        id: &str,
        by: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Deleted attachments whose bytes may still be in the file store.
    fn attachments_to_purge(&mut self, limit: u32) -> StoreResult<Vec<AttachmentRecord>>;
    fn mark_attachment_purged(&mut self, id: &str, at: Timestamp) -> StoreResult<()>;
}
