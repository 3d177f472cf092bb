//! [`PhotoTx`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, ms, ts};
use crate::store::*;

fn photo_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PhotoRecord> {
    Ok(PhotoRecord {
        user_id: UserId::new(row.get::<_, String>(0)?),
        large_key: row.get(1)?,
        small_key: row.get(2)?,
        version: row.get(3)?,
        updated_at: ts(row.get(4)?)?,
    })
}

impl PhotoTx for SqliteTx<'_> {
    fn find_photo(&mut self, user: &UserId) -> StoreResult<Option<PhotoRecord>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT user_id, large_key, small_key, version, updated_at FROM user_photos \
                 WHERE user_id = ?1",
            )?
            .query_row([user.as_str()], photo_from_row)
            .optional()?)
    }

    fn put_photo(&mut self, photo: &PhotoRecord) -> StoreResult<Option<PhotoRecord>> {
        // A doctor's photo is on their search card.
        self.doctor_changed(&photo.user_id)?;
        let previous = self.find_photo(&photo.user_id)?;
        self.conn
            .prepare_cached(
                "INSERT INTO user_photos (user_id, large_key, small_key, version, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id) DO UPDATE SET \
                 large_key = excluded.large_key, small_key = excluded.small_key, \
                 version = excluded.version, updated_at = excluded.updated_at",
            )?
            .execute(params![
                photo.user_id.as_str(),
                photo.large_key,
                photo.small_key,
                photo.version,
                ms(photo.updated_at),
            ])?;
        Ok(previous)
    }

    fn delete_photo(&mut self, user: &UserId) -> StoreResult<Option<PhotoRecord>> {
        self.doctor_changed(user)?;
        let previous = self.find_photo(user)?;
        self.conn
            .prepare_cached("DELETE FROM user_photos WHERE user_id = ?1")?
            .execute([user.as_str()])?;
        Ok(previous)
    }

    fn photo_versions(&mut self, users: &[UserId]) -> StoreResult<Vec<(UserId, String)>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT version FROM user_photos WHERE user_id = ?1")?;
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            if let Some(version) = statement
                .query_row([user.as_str()], |row| row.get::<_, String>(0))
                .optional()?
            {
                out.push((user.clone(), version));
            }
        }
        Ok(out)
    }
}
