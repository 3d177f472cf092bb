//! [`PrescriptionTx`] on SQLite. Every conditional change (revoke, reply, hide, the
//! one feedback per appointment) is a single statement whose condition decides.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use super::{SqliteTx, bad, conversion, ms, ts};
use crate::store::*;

const PRESCRIPTION_COLUMNS: &str = "r.id, r.appointment_id, r.patient_id, r.doctor_id, r.lines, \
     r.notes, r.issued_at, r.completes_at, r.verify_hash, r.revoked_at, r.revoked_reason";

fn prescription_from_row(row: &Row<'_>) -> rusqlite::Result<PrescriptionRecord> {
    let lines: String = row.get(4)?;
    Ok(PrescriptionRecord {
        id: PrescriptionId::new(row.get::<_, String>(0)?),
        appointment_id: AppointmentId::new(row.get::<_, String>(1)?),
        patient_id: UserId::new(row.get::<_, String>(2)?),
        doctor_id: UserId::new(row.get::<_, String>(3)?),
        lines: serde_json::from_str(&lines).map_err(conversion)?,
        notes: row.get(5)?,
        issued_at: ts(row.get(6)?)?,
        completes_at: ts(row.get(7)?)?,
        verify_hash: row.get(8)?,
        revoked_at: row.get::<_, Option<i64>>(9)?.map(ts).transpose()?,
        revoked_reason: row.get(10)?,
    })
}

fn prescription_view_from_row(row: &Row<'_>) -> rusqlite::Result<PrescriptionView> {
    Ok(PrescriptionView {
        record: prescription_from_row(row)?,
        doctor_name: row.get(11)?,
        patient_name: row.get(12)?,
    })
}

const FEEDBACK_COLUMNS: &str = "id, appointment_id, patient_id, doctor_id, rating, comment, \
     created_at, updated_at, reply, replied_at, hidden_at, hidden_by, hidden_reason";

fn feedback_from_row(row: &Row<'_>) -> rusqlite::Result<FeedbackRecord> {
    let opt_ts = |i: usize| -> rusqlite::Result<Option<jiff::Timestamp>> {
        row.get::<_, Option<i64>>(i)?.map(ts).transpose()
    };
    Ok(FeedbackRecord {
        id: FeedbackId::new(row.get::<_, String>(0)?),
        appointment_id: AppointmentId::new(row.get::<_, String>(1)?),
        patient_id: UserId::new(row.get::<_, String>(2)?),
        doctor_id: UserId::new(row.get::<_, String>(3)?),
        rating: row.get(4)?,
        comment: row.get(5)?,
        created_at: ts(row.get(6)?)?,
        updated_at: ts(row.get(7)?)?,
        reply: row.get(8)?,
        replied_at: opt_ts(9)?,
        hidden_at: opt_ts(10)?,
        hidden_by: row.get::<_, Option<String>>(11)?.map(UserId::new),
        hidden_reason: row.get(12)?,
    })
}

/// `(key_ms, id)` of a newest-first cursor.
fn cursor_position(page: &PageRequest) -> rusqlite::Result<Option<(i64, String)>> {
    page.after
        .as_ref()
        .map(|c| {
            c.key
                .parse::<i64>()
                .map(|key| (key, c.id.clone()))
                .map_err(|_| bad("cursor"))
        })
        .transpose()
}

impl PrescriptionTx for SqliteTx<'_> {
    fn insert_prescription(&mut self, r: &PrescriptionRecord, pdf: &str) -> StoreResult<()> {
        let lines =
            serde_json::to_string(&r.lines).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.conn
            .prepare_cached(
                "INSERT INTO prescriptions (id, appointment_id, patient_id, doctor_id, lines, notes, \
                 issued_at, completes_at, verify_hash, pdf, revoked_at, revoked_reason) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                r.id.as_str(),
                r.appointment_id.as_str(),
                r.patient_id.as_str(),
                r.doctor_id.as_str(),
                lines,
                r.notes,
                ms(r.issued_at),
                ms(r.completes_at),
                r.verify_hash,
                pdf,
                r.revoked_at.map(ms),
                r.revoked_reason,
            ])?;
        Ok(())
    }

    fn find_prescription(&mut self, id: &PrescriptionId) -> StoreResult<Option<PrescriptionView>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {PRESCRIPTION_COLUMNS}, d.name, p.name FROM prescriptions r \
                 JOIN users d ON d.id = r.doctor_id JOIN users p ON p.id = r.patient_id \
                 WHERE r.id = ?1"
            ))?
            .query_row([id.as_str()], prescription_view_from_row)
            .optional()?)
    }

    fn find_prescription_by_code(
        &mut self,
        verify_hash: &str,
    ) -> StoreResult<Option<PrescriptionRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {PRESCRIPTION_COLUMNS} FROM prescriptions r WHERE r.verify_hash = ?1"
            ))?
            .query_row([verify_hash], prescription_from_row)
            .optional()?)
    }

    fn prescription_pdf(&mut self, id: &PrescriptionId) -> StoreResult<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT pdf FROM prescriptions WHERE id = ?1")?
            .query_row([id.as_str()], |row| row.get(0))
            .optional()?)
    }

    fn list_prescriptions(
        &mut self,
        patient: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<PrescriptionView>> {
        let mut values = vec![Value::Text(patient.as_str().to_owned())];
        let mut after = String::new();
        if let Some((key, id)) = cursor_position(page)? {
            after = " AND (r.issued_at < ? OR (r.issued_at = ? AND r.id < ?))".to_owned();
            values.extend([Value::Integer(key), Value::Integer(key), Value::Text(id)]);
        }
        values.push(Value::Integer(i64::from(page.limit)));
        let sql = format!(
            "SELECT {PRESCRIPTION_COLUMNS}, d.name, p.name FROM prescriptions r \
             JOIN users d ON d.id = r.doctor_id JOIN users p ON p.id = r.patient_id \
             WHERE r.patient_id = ?{after} ORDER BY r.issued_at DESC, r.id DESC LIMIT ?"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), prescription_view_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn revoke_prescription(
        &mut self,
        id: &PrescriptionId,
        at: jiff::Timestamp,
        reason: &str,
    ) -> StoreResult<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE prescriptions SET revoked_at = ?2, revoked_reason = ?3 \
                 WHERE id = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![id.as_str(), ms(at), reason])?;
        Ok(changed == 1)
    }

    fn insert_feedback(&mut self, f: &FeedbackRecord) -> StoreResult<bool> {
        let inserted = self
            .conn
            .prepare_cached(&format!(
                "INSERT INTO feedback ({FEEDBACK_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT (appointment_id) DO NOTHING"
            ))?
            .execute(params![
                f.id.as_str(),
                f.appointment_id.as_str(),
                f.patient_id.as_str(),
                f.doctor_id.as_str(),
                f.rating,
                f.comment,
                ms(f.created_at),
                ms(f.updated_at),
                f.reply,
                f.replied_at.map(ms),
                f.hidden_at.map(ms),
                f.hidden_by.as_ref().map(UserId::as_str),
                f.hidden_reason,
            ])?;
        Ok(inserted == 1)
    }

    fn find_feedback_of_appointment(
        &mut self,
        appointment: &AppointmentId,
    ) -> StoreResult<Option<FeedbackRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE appointment_id = ?1"
            ))?
            .query_row([appointment.as_str()], feedback_from_row)
            .optional()?)
    }

    fn find_feedback(&mut self, id: &FeedbackId) -> StoreResult<Option<FeedbackRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE id = ?1"
            ))?
            .query_row([id.as_str()], feedback_from_row)
            .optional()?)
    }

    fn update_feedback(&mut self, f: &FeedbackRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE feedback SET rating = ?2, comment = ?3, updated_at = ?4 WHERE id = ?1",
            )?
            .execute(params![
                f.id.as_str(),
                f.rating,
                f.comment,
                ms(f.updated_at)
            ])?;
        Ok(())
    }

    fn reply_to_feedback(
        &mut self,
        id: &FeedbackId,
        reply: &str,
        at: jiff::Timestamp,
    ) -> StoreResult<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE feedback SET reply = ?2, replied_at = ?3 WHERE id = ?1 AND reply IS NULL",
            )?
            .execute(params![id.as_str(), reply, ms(at)])?;
        Ok(changed == 1)
    }

    fn hide_feedback(
        &mut self,
        id: &FeedbackId,
        by: &UserId,
        reason: &str,
        at: jiff::Timestamp,
    ) -> StoreResult<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE feedback SET hidden_at = ?2, hidden_by = ?3, hidden_reason = ?4 \
                 WHERE id = ?1 AND hidden_at IS NULL",
            )?
            .execute(params![id.as_str(), ms(at), by.as_str(), reason])?;
        Ok(changed == 1)
    }

    fn list_feedback_of_doctor(
        &mut self,
        doctor: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<FeedbackRecord>> {
        let mut values = vec![Value::Text(doctor.as_str().to_owned())];
        let mut after = String::new();
        if let Some((key, id)) = cursor_position(page)? {
            after = " AND (created_at < ? OR (created_at = ? AND id < ?))".to_owned();
            values.extend([Value::Integer(key), Value::Integer(key), Value::Text(id)]);
        }
        values.push(Value::Integer(i64::from(page.limit)));
        let sql = format!(
            "SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE doctor_id = ?{after} \
             ORDER BY created_at DESC, id DESC LIMIT ?"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), feedback_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn add_to_rating(&mut self, doctor: &UserId, count: i64, sum: i64) -> StoreResult<()> {
        self.doctor_changed(doctor)?;
        self.conn
            .prepare_cached(
                "INSERT INTO doctor_ratings (doctor_id, rating_count, rating_sum) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (doctor_id) DO UPDATE SET \
                 rating_count = rating_count + excluded.rating_count, \
                 rating_sum = rating_sum + excluded.rating_sum",
            )?
            .execute(params![doctor.as_str(), count, sum])?;
        Ok(())
    }

    fn rating_totals(&mut self, doctors: &[UserId]) -> StoreResult<Vec<(UserId, RatingTotals)>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT rating_count, rating_sum FROM doctor_ratings WHERE doctor_id = ?1",
        )?;
        let mut out = Vec::with_capacity(doctors.len());
        for doctor in doctors {
            if let Some(totals) = statement
                .query_row([doctor.as_str()], |row| {
                    Ok(RatingTotals {
                        count: row.get(0)?,
                        sum: row.get(1)?,
                    })
                })
                .optional()?
            {
                out.push((doctor.clone(), totals));
            }
        }
        Ok(out)
    }
}
