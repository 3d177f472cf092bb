//! [`PrescriptionTx`] on PostgreSQL. Every conditional change (revoke, reply, hide,
//! the one feedback per appointment) is a single statement whose condition decides,
//! so two instances racing cannot both win; rating totals change by increments.

use ::postgres::Row;

use super::{PgTx, any_ids, bad, get, has_nul, ms, storable, ts};
use crate::store::*;

const PRESCRIPTION_COLUMNS: &str = "r.id, r.appointment_id, r.patient_id, r.doctor_id, r.lines, \
     r.notes, r.issued_at, r.completes_at, r.verify_hash, r.revoked_at, r.revoked_reason";

fn opt_ts(row: &Row, index: usize) -> StoreResult<Option<jiff::Timestamp>> {
    get::<Option<i64>>(row, index)?.map(ts).transpose()
}

fn prescription_from_row(row: &Row) -> StoreResult<PrescriptionRecord> {
    let lines: String = get(row, 4)?;
    Ok(PrescriptionRecord {
        id: PrescriptionId::new(get::<String>(row, 0)?),
        appointment_id: AppointmentId::new(get::<String>(row, 1)?),
        patient_id: UserId::new(get::<String>(row, 2)?),
        doctor_id: UserId::new(get::<String>(row, 3)?),
        lines: serde_json::from_str(&lines).map_err(|_| bad("prescriptions.lines"))?,
        notes: get(row, 5)?,
        issued_at: ts(get(row, 6)?)?,
        completes_at: ts(get(row, 7)?)?,
        verify_hash: get(row, 8)?,
        revoked_at: opt_ts(row, 9)?,
        revoked_reason: get(row, 10)?,
    })
}

fn prescription_view_from_row(row: &Row) -> StoreResult<PrescriptionView> {
    Ok(PrescriptionView {
        record: prescription_from_row(row)?,
        doctor_name: get(row, 11)?,
        patient_name: get(row, 12)?,
    })
}

const FEEDBACK_COLUMNS: &str = "id, appointment_id, patient_id, doctor_id, rating, comment, \
     created_at, updated_at, reply, replied_at, hidden_at, hidden_by, hidden_reason";

fn feedback_from_row(row: &Row) -> StoreResult<FeedbackRecord> {
    Ok(FeedbackRecord {
        id: FeedbackId::new(get::<String>(row, 0)?),
        appointment_id: AppointmentId::new(get::<String>(row, 1)?),
        patient_id: UserId::new(get::<String>(row, 2)?),
        doctor_id: UserId::new(get::<String>(row, 3)?),
        rating: get(row, 4)?,
        comment: get(row, 5)?,
        created_at: ts(get(row, 6)?)?,
        updated_at: ts(get(row, 7)?)?,
        reply: get(row, 8)?,
        replied_at: opt_ts(row, 9)?,
        hidden_at: opt_ts(row, 10)?,
        hidden_by: get::<Option<String>>(row, 11)?.map(UserId::new),
        hidden_reason: get(row, 12)?,
    })
}

/// `(key_ms, id)` of a newest-first cursor.
fn cursor_position(page: &PageRequest) -> StoreResult<Option<(i64, String)>> {
    page.after
        .as_ref()
        .map(|c| {
            c.key
                .parse::<i64>()
                .map(|key| (key, storable(&c.id).into_owned()))
                .map_err(|_| bad("cursor"))
        })
        .transpose()
}

impl PrescriptionTx for PgTx<'_, '_> {
    fn insert_prescription(&mut self, r: &PrescriptionRecord, pdf: &str) -> StoreResult<()> {
        let lines =
            serde_json::to_string(&r.lines).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.execute(
            "INSERT INTO prescriptions (id, appointment_id, patient_id, doctor_id, lines, notes, \
             issued_at, completes_at, verify_hash, pdf, revoked_at, revoked_reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                &r.id.as_str(),
                &r.appointment_id.as_str(),
                &r.patient_id.as_str(),
                &r.doctor_id.as_str(),
                &lines,
                &r.notes,
                &ms(r.issued_at),
                &ms(r.completes_at),
                &r.verify_hash,
                &pdf,
                &r.revoked_at.map(ms),
                &r.revoked_reason,
            ],
        )?;
        Ok(())
    }

    fn find_prescription(&mut self, id: &PrescriptionId) -> StoreResult<Option<PrescriptionView>> {
        if has_nul(id.as_str()) {
            return Ok(None);
        }
        self.query_opt(
            &format!(
                "SELECT {PRESCRIPTION_COLUMNS}, d.name, p.name FROM prescriptions r \
                 JOIN users d ON d.id = r.doctor_id JOIN users p ON p.id = r.patient_id \
                 WHERE r.id = $1"
            ),
            &[&id.as_str()],
        )?
        .as_ref()
        .map(prescription_view_from_row)
        .transpose()
    }

    fn find_prescription_by_code(
        &mut self,
        verify_hash: &str,
    ) -> StoreResult<Option<PrescriptionRecord>> {
        if has_nul(verify_hash) {
            return Ok(None);
        }
        self.query_opt(
            &format!("SELECT {PRESCRIPTION_COLUMNS} FROM prescriptions r WHERE r.verify_hash = $1"),
            &[&verify_hash],
        )?
        .as_ref()
        .map(prescription_from_row)
        .transpose()
    }

    fn prescription_pdf(&mut self, id: &PrescriptionId) -> StoreResult<Option<String>> {
        if has_nul(id.as_str()) {
            return Ok(None);
        }
        self.query_opt(
            "SELECT pdf FROM prescriptions WHERE id = $1",
            &[&id.as_str()],
        )?
        .as_ref()
        .map(|row| get(row, 0))
        .transpose()
    }

    fn list_prescriptions(
        &mut self,
        patient: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<PrescriptionView>> {
        if has_nul(patient.as_str()) {
            return Ok(Vec::new());
        }
        let limit = i64::from(page.limit);
        let rows = match cursor_position(page)? {
            Some((key, id)) => self.query(
                &format!(
                    "SELECT {PRESCRIPTION_COLUMNS}, d.name, p.name FROM prescriptions r \
                     JOIN users d ON d.id = r.doctor_id JOIN users p ON p.id = r.patient_id \
                     WHERE r.patient_id = $1 AND (r.issued_at < $2 OR (r.issued_at = $2 AND r.id < $3)) \
                     ORDER BY r.issued_at DESC, r.id DESC LIMIT $4"
                ),
                &[&patient.as_str(), &key, &id, &limit],
            )?,
            None => self.query(
                &format!(
                    "SELECT {PRESCRIPTION_COLUMNS}, d.name, p.name FROM prescriptions r \
                     JOIN users d ON d.id = r.doctor_id JOIN users p ON p.id = r.patient_id \
                     WHERE r.patient_id = $1 ORDER BY r.issued_at DESC, r.id DESC LIMIT $2"
                ),
                &[&patient.as_str(), &limit],
            )?,
        };
        rows.iter().map(prescription_view_from_row).collect()
    }

    fn revoke_prescription(
        &mut self,
        id: &PrescriptionId,
        at: jiff::Timestamp,
        reason: &str,
    ) -> StoreResult<bool> {
        if has_nul(id.as_str()) {
            return Ok(false);
        }
        let changed = self.execute(
            "UPDATE prescriptions SET revoked_at = $2, revoked_reason = $3 \
             WHERE id = $1 AND revoked_at IS NULL",
            &[&id.as_str(), &ms(at), &reason],
        )?;
        Ok(changed == 1)
    }

    fn insert_feedback(&mut self, f: &FeedbackRecord) -> StoreResult<bool> {
        let inserted = self.execute(
            &format!(
                "INSERT INTO feedback ({FEEDBACK_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                 ON CONFLICT (appointment_id) DO NOTHING"
            ),
            &[
                &f.id.as_str(),
                &f.appointment_id.as_str(),
                &f.patient_id.as_str(),
                &f.doctor_id.as_str(),
                &f.rating,
                &f.comment,
                &ms(f.created_at),
                &ms(f.updated_at),
                &f.reply,
                &f.replied_at.map(ms),
                &f.hidden_at.map(ms),
                &f.hidden_by.as_ref().map(UserId::as_str),
                &f.hidden_reason,
            ],
        )?;
        Ok(inserted == 1)
    }

    fn find_feedback_of_appointment(
        &mut self,
        appointment: &AppointmentId,
    ) -> StoreResult<Option<FeedbackRecord>> {
        if has_nul(appointment.as_str()) {
            return Ok(None);
        }
        let lock = if self.locking { " FOR UPDATE" } else { "" };
        self.query_opt(
            &format!("SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE appointment_id = $1{lock}"),
            &[&appointment.as_str()],
        )?
        .as_ref()
        .map(feedback_from_row)
        .transpose()
    }

    fn find_feedback(&mut self, id: &FeedbackId) -> StoreResult<Option<FeedbackRecord>> {
        if has_nul(id.as_str()) {
            return Ok(None);
        }
        self.query_opt(
            &format!("SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE id = $1"),
            &[&id.as_str()],
        )?
        .as_ref()
        .map(feedback_from_row)
        .transpose()
    }

    fn update_feedback(&mut self, f: &FeedbackRecord) -> StoreResult<()> {
        self.execute(
            "UPDATE feedback SET rating = $2, comment = $3, updated_at = $4 WHERE id = $1",
            &[&f.id.as_str(), &f.rating, &f.comment, &ms(f.updated_at)],
        )?;
        Ok(())
    }

    fn reply_to_feedback(
        &mut self,
        id: &FeedbackId,
        reply: &str,
        at: jiff::Timestamp,
    ) -> StoreResult<bool> {
        if has_nul(id.as_str()) {
            return Ok(false);
        }
        let changed = self.execute(
            "UPDATE feedback SET reply = $2, replied_at = $3 WHERE id = $1 AND reply IS NULL",
            &[&id.as_str(), &reply, &ms(at)],
        )?;
        Ok(changed == 1)
    }

    fn hide_feedback(
        &mut self,
        id: &FeedbackId,
        by: &UserId,
        reason: &str,
        at: jiff::Timestamp,
    ) -> StoreResult<bool> {
        if has_nul(id.as_str()) {
            return Ok(false);
        }
        let changed = self.execute(
            "UPDATE feedback SET hidden_at = $2, hidden_by = $3, hidden_reason = $4 \
             WHERE id = $1 AND hidden_at IS NULL",
            &[&id.as_str(), &ms(at), &by.as_str(), &reason],
        )?;
        Ok(changed == 1)
    }

    fn list_feedback_of_doctor(
        &mut self,
        doctor: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<FeedbackRecord>> {
        if has_nul(doctor.as_str()) {
            return Ok(Vec::new());
        }
        let limit = i64::from(page.limit);
        let rows = match cursor_position(page)? {
            Some((key, id)) => self.query(
                &format!(
                    "SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE doctor_id = $1 \
                     AND (created_at < $2 OR (created_at = $2 AND id < $3)) \
                     ORDER BY created_at DESC, id DESC LIMIT $4"
                ),
                &[&doctor.as_str(), &key, &id, &limit],
            )?,
            None => self.query(
                &format!(
                    "SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE doctor_id = $1 \
                     ORDER BY created_at DESC, id DESC LIMIT $2"
                ),
                &[&doctor.as_str(), &limit],
            )?,
        };
        rows.iter().map(feedback_from_row).collect()
    }

    fn add_to_rating(&mut self, doctor: &UserId, count: i64, sum: i64) -> StoreResult<()> {
        self.doctor_changed(doctor)?;
        self.execute(
            "INSERT INTO doctor_ratings (doctor_id, rating_count, rating_sum) VALUES ($1, $2, $3) \
             ON CONFLICT (doctor_id) DO UPDATE SET \
             rating_count = doctor_ratings.rating_count + excluded.rating_count, \
             rating_sum = doctor_ratings.rating_sum + excluded.rating_sum",
            &[&doctor.as_str(), &count, &sum],
        )?;
        Ok(())
    }

    fn rating_totals(&mut self, doctors: &[UserId]) -> StoreResult<Vec<(UserId, RatingTotals)>> {
        let ids = any_ids(doctors);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.query(
            "SELECT doctor_id, rating_count, rating_sum FROM doctor_ratings WHERE doctor_id = ANY($1)",
            &[&ids],
        )?
        .iter()
        .map(|row| {
            Ok((
                UserId::new(get::<String>(row, 0)?),
                RatingTotals {
                    count: get(row, 1)?,
                    sum: get(row, 2)?,
                },
            ))
        })
        .collect()
    }
}
