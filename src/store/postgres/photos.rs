//! [`PhotoTx`] on PostgreSQL.

use ::postgres::Row;

use super::{PgTx, any_ids, get, has_nul, ms, ts};
use crate::store::*;

fn photo_from_row(row: &Row) -> StoreResult<PhotoRecord> {
    Ok(PhotoRecord {
        user_id: UserId::new(get::<String>(row, 0)?),
        large_key: get(row, 1)?,
        small_key: get(row, 2)?,
        version: get(row, 3)?,
        updated_at: ts(get(row, 4)?)?,
    })
}

impl PhotoTx for PgTx<'_, '_> {
    fn find_photo(&mut self, user: &UserId) -> StoreResult<Option<PhotoRecord>> {
        if has_nul(user.as_str()) {
            return Ok(None);
        }
        self.query_opt(
            "SELECT user_id, large_key, small_key, version, updated_at FROM user_photos \
             WHERE user_id = $1",
            &[&user.as_str()],
        )?
        .as_ref()
        .map(photo_from_row)
        .transpose()
    }

    fn put_photo(&mut self, photo: &PhotoRecord) -> StoreResult<Option<PhotoRecord>> {
        // A doctor's photo is on their search card.
        self.doctor_changed(&photo.user_id)?;
        // Locks the row, so two uploads of one user each see the photo they replace.
        let previous = self
            .query_opt(
                "SELECT user_id, large_key, small_key, version, updated_at FROM user_photos \
                 WHERE user_id = $1 FOR UPDATE",
                &[&photo.user_id.as_str()],
            )?
            .as_ref()
            .map(photo_from_row)
            .transpose()?;
        self.execute(
            "INSERT INTO user_photos (user_id, large_key, small_key, version, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
             large_key = excluded.large_key, small_key = excluded.small_key, \
             version = excluded.version, updated_at = excluded.updated_at",
            &[
                &photo.user_id.as_str(),
                &photo.large_key,
                &photo.small_key,
                &photo.version,
                &ms(photo.updated_at),
            ],
        )?;
        Ok(previous)
    }

    fn delete_photo(&mut self, user: &UserId) -> StoreResult<Option<PhotoRecord>> {
        if has_nul(user.as_str()) {
            return Ok(None);
        }
        self.doctor_changed(user)?;
        self.query_opt(
            "DELETE FROM user_photos WHERE user_id = $1 \
             RETURNING user_id, large_key, small_key, version, updated_at",
            &[&user.as_str()],
        )?
        .as_ref()
        .map(photo_from_row)
        .transpose()
    }

    fn photo_versions(&mut self, users: &[UserId]) -> StoreResult<Vec<(UserId, String)>> {
        let ids = any_ids(users);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.query(
            "SELECT user_id, version FROM user_photos WHERE user_id = ANY($1)",
            &[&ids],
        )?
        .iter()
        .map(|row| Ok((UserId::new(get::<String>(row, 0)?), get(row, 1)?)))
        .collect()
    }
}
