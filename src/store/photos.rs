//! Profile photos: which renditions a user's photo has in the [`FileStore`].
//!
//! [`FileStore`]: super::FileStore

use jiff::Timestamp;

use super::{StoreResult, UserId};

#[derive(Debug, Clone, PartialEq)]
pub struct PhotoRecord {
    pub user_id: UserId,
    /// The 256 px square.
    pub large_key: String,
    /// The 64 px square.
    pub small_key: String,
    /// Random per upload: names this photo in URLs (`?v=`) and ETags.
    pub version: String,
    pub updated_at: Timestamp,
}

pub trait PhotoTx {
    fn find_photo(&mut self, user: &UserId) -> StoreResult<Option<PhotoRecord>>;
    /// Sets the user's photo, returning the one it replaced.
    fn put_photo(&mut self, photo: &PhotoRecord) -> StoreResult<Option<PhotoRecord>>;
    /// Removes the user's photo, returning it.
    fn delete_photo(&mut self, user: &UserId) -> StoreResult<Option<PhotoRecord>>;
    /// The photo versions of those of `users` who have a photo.
    fn photo_versions(&mut self, users: &[UserId]) -> StoreResult<Vec<(UserId, String)>>;
}
