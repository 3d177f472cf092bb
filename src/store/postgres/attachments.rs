//! [`AttachmentTx`] on PostgreSQL.

use ::postgres::Row;

use super::{PgTx, get, has_nul, ms, ts};
use crate::store::*;

const COLUMNS: &str = "id, patient_id, appointment_id, uploaded_by, file_name, media_type, size_bytes, \
     sha256, object_key, created_at, deleted_at, deleted_by";

fn attachment_from_row(row: &Row) -> StoreResult<AttachmentRecord> {
    Ok(AttachmentRecord {
        id: get(row, 0)?,
        patient_id: UserId::new(get::<String>(row, 1)?),
        appointment_id: get::<Option<String>>(row, 2)?.map(AppointmentId::new),
        uploaded_by: UserId::new(get::<String>(row, 3)?),
        file_name: get(row, 4)?,
        media_type: get(row, 5)?,
        size_bytes: get(row, 6)?,
        sha256: get(row, 7)?,
        object_key: get(row, 8)?,
        created_at: ts(get(row, 9)?)?,
        deleted_at: get::<Option<i64>>(row, 10)?.map(ts).transpose()?,
        deleted_by: get::<Option<String>>(row, 11)?.map(UserId::new),
    })
}

impl AttachmentTx for PgTx<'_, '_> {
    fn insert_attachment(&mut self, a: &AttachmentRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO attachments (id, patient_id, appointment_id, uploaded_by, file_name, media_type, \
             size_bytes, sha256, object_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            &[
                &a.id,
                &a.patient_id.as_str(),
                &a.appointment_id.as_ref().map(AppointmentId::as_str),
                &a.uploaded_by.as_str(),
                &a.file_name,
                &a.media_type,
                &a.size_bytes,
                &a.sha256,
                &a.object_key,
                &ms(a.created_at),
            ],
        )?;
        Ok(())
    }

    fn find_attachment(&mut self, id: &str) -> StoreResult<Option<AttachmentRecord>> {
        if has_nul(id) {
            return Ok(None);
        }
        self.query_opt(
            &format!("SELECT {COLUMNS} FROM attachments WHERE id = $1"),
            &[&id],
        )?
        .as_ref()
        .map(attachment_from_row)
        .transpose()
    }

    fn list_attachments(
        &mut self,
        scope: AttachmentScope<'_>,
    ) -> StoreResult<Vec<AttachmentRecord>> {
        let (filter, key) = match scope {
            AttachmentScope::Patient(patient) => ("patient_id", patient.as_str()),
            AttachmentScope::Appointment(appointment) => ("appointment_id", appointment.as_str()),
        };
        if has_nul(key) {
            return Ok(Vec::new());
        }
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM attachments WHERE {filter} = $1 AND deleted_at IS NULL \
                 ORDER BY created_at DESC, id DESC"
            ),
            &[&key],
        )?
        .iter()
        .map(attachment_from_row)
        .collect()
    }

    fn mark_attachment_deleted(
        &mut self,
        id: &str,
        by: &UserId,
        at: Timestamp,
    ) -> StoreResult<bool> {
        if has_nul(id) {
            return Ok(false);
        }
        let changed = self.execute(
            "UPDATE attachments SET deleted_at = $2, deleted_by = $3 WHERE id = $1 AND deleted_at IS NULL",
            &[&id, &ms(at), &by.as_str()],
        )?;
        Ok(changed > 0)
    }

    fn attachments_to_purge(&mut self, limit: u32) -> StoreResult<Vec<AttachmentRecord>> {
        self.query(
            &format!(
                "SELECT {COLUMNS} FROM attachments WHERE deleted_at IS NOT NULL AND purged_at IS NULL \
                 ORDER BY deleted_at LIMIT $1"
            ),
            &[&i64::from(limit)],
        )?
        .iter()
        .map(attachment_from_row)
        .collect()
    }

    fn mark_attachment_purged(&mut self, id: &str, at: Timestamp) -> StoreResult<()> {
        self.execute(
            "UPDATE attachments SET purged_at = $2 WHERE id = $1",
            &[&id, &ms(at)],
        )?;
        Ok(())
    }
}
