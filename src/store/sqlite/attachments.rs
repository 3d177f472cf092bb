//! [`AttachmentTx`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, ms, ts};
use crate::store::*;

const COLUMNS: &str = "id, patient_id, appointment_id, uploaded_by, file_name, media_type, size_bytes, \
     sha256, object_key, created_at, deleted_at, deleted_by";

fn attachment_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AttachmentRecord> {
    Ok(AttachmentRecord {
        id: row.get(0)?,
        patient_id: UserId::new(row.get::<_, String>(1)?),
        appointment_id: row.get::<_, Option<String>>(2)?.map(AppointmentId::new),
        uploaded_by: UserId::new(row.get::<_, String>(3)?),
        file_name: row.get(4)?,
        media_type: row.get(5)?,
        size_bytes: row.get(6)?,
        sha256: row.get(7)?,
        object_key: row.get(8)?,
        created_at: ts(row.get(9)?)?,
        deleted_at: row.get::<_, Option<i64>>(10)?.map(ts).transpose()?,
        deleted_by: row.get::<_, Option<String>>(11)?.map(UserId::new),
    })
}

impl AttachmentTx for SqliteTx<'_> {
    fn insert_attachment(&mut self, a: &AttachmentRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO attachments (id, patient_id, appointment_id, uploaded_by, file_name, media_type, \
                 size_bytes, sha256, object_key, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                a.id,
                a.patient_id.as_str(),
                a.appointment_id.as_ref().map(AppointmentId::as_str),
                a.uploaded_by.as_str(),
                a.file_name,
                a.media_type,
                a.size_bytes,
                a.sha256,
                a.object_key,
                ms(a.created_at),
            ])?;
        Ok(())
    }

    fn find_attachment(&mut self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM attachments WHERE id = ?1"))?
            .query_row([id], attachment_from_row)
            .optional()?)
    }

    fn list_attachments(
        &mut self,
        scope: AttachmentScope<'_>,
    ) -> StoreResult<Vec<AttachmentRecord>> {
        let (filter, key) = match scope {
            AttachmentScope::Patient(patient) => ("patient_id", patient.as_str()),
            AttachmentScope::Appointment(appointment) => ("appointment_id", appointment.as_str()),
        };
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM attachments WHERE {filter} = ?1 AND deleted_at IS NULL \
             ORDER BY created_at DESC, id DESC"
        ))?;
        let rows = statement.query_map([key], attachment_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn mark_attachment_deleted(
        &mut self,
        id: &str,
        by: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE attachments SET deleted_at = ?2, deleted_by = ?3 WHERE id = ?1 AND deleted_at IS NULL",
            )?
            .execute(params![id, ms(at), by.as_str()])?;
        Ok(changed > 0)
    }

    fn attachments_to_purge(&mut self, limit: u32) -> StoreResult<Vec<AttachmentRecord>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM attachments WHERE deleted_at IS NOT NULL AND purged_at IS NULL \
             ORDER BY deleted_at LIMIT ?1"
        ))?;
        let rows = statement.query_map([limit], attachment_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn mark_attachment_purged(&mut self, id: &str, at: Timestamp) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE attachments SET purged_at = ?2 WHERE id = ?1")?
            .execute(params![id, ms(at)])?;
        Ok(())
    }
}
