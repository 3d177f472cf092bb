//! [`ClinicalTx`] on SQLite. An amendment is a conditional update of the record's
//! latest version number and the insert of the next version under the
//! `(record_id, version)` primary key, so a stale amendment writes nothing.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use super::{SqliteTx, bad, is_unique_violation, ms, push_cursor, ts, where_sql};
use crate::store::*;
use carebook_domain::AppointmentStatus;

const RECORD_COLUMNS: &str =
    "r.id, r.appointment_id, r.patient_id, r.author_id, r.version, r.created_at, r.updated_at";

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<RecordRow> {
    Ok(RecordRow {
        id: row.get(0)?,
        appointment_id: AppointmentId::new(row.get::<_, String>(1)?),
        patient_id: UserId::new(row.get::<_, String>(2)?),
        author_id: UserId::new(row.get::<_, String>(3)?),
        version: row.get(4)?,
        created_at: ts(row.get(5)?)?,
        updated_at: ts(row.get(6)?)?,
    })
}

fn role(value: String) -> rusqlite::Result<Role> {
    Role::parse(&value).ok_or_else(|| bad(value))
}

/// The statuses that make a care relationship, as an SQL list.
pub(super) fn care_statuses_sql() -> String {
    AppointmentStatus::ALL
        .into_iter()
        .filter(|s| s.makes_care_relationship())
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn stale_or(error: rusqlite::Error, conflict: Conflict) -> StoreError {
    if is_unique_violation(&error) {
        StoreError::Conflict(conflict)
    } else {
        error.into()
    }
}

impl ClinicalTx for SqliteTx<'_> {
    fn care_relationship(&mut self, doctor: &UserId, patient: &UserId) -> StoreResult<bool> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM appointments WHERE doctor_id = ?1 AND patient_id = ?2 \
             AND status IN ({}))",
            care_statuses_sql()
        );
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([doctor.as_str(), patient.as_str()], |row| row.get(0))?)
    }

    fn insert_clinical_read(&mut self, read: &NewClinicalRead) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO clinical_reads (at, actor_id, actor_role, patient_id, subject_kind, \
                 subject_id, break_glass_reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                ms(read.at),
                read.actor_id.as_str(),
                read.actor_role.as_str(),
                read.patient_id.as_str(),
                read.subject_kind,
                read.subject_id,
                read.break_glass_reason,
            ])?;
        Ok(())
    }

    fn list_clinical_reads(
        &mut self,
        patient: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<ClinicalRead>> {
        let mut clauses = vec!["c.patient_id = ?".to_owned()];
        let mut values = vec![Value::Text(patient.as_str().to_owned())];
        if let Some(cursor) = &page.after {
            clauses.push("c.id < ?".to_owned());
            values.push(Value::Integer(
                cursor.id.parse().map_err(|_| bad("cursor"))?,
            ));
        }
        values.push(Value::Integer(i64::from(page.limit)));
        let sql = format!(
            "SELECT c.id, c.at, c.actor_id, c.actor_role, c.patient_id, c.subject_kind, \
             c.subject_id, c.break_glass_reason, u.name FROM clinical_reads c \
             JOIN users u ON u.id = c.actor_id {} ORDER BY c.id DESC LIMIT ?",
            where_sql(&clauses)
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok(ClinicalRead {
                id: row.get(0)?,
                read: NewClinicalRead {
                    at: ts(row.get(1)?)?,
                    actor_id: UserId::new(row.get::<_, String>(2)?),
                    actor_role: role(row.get(3)?)?,
                    patient_id: UserId::new(row.get::<_, String>(4)?),
                    subject_kind: row.get(5)?,
                    subject_id: row.get(6)?,
                    break_glass_reason: row.get(7)?,
                },
                actor_name: row.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_record(&mut self, record: &RecordRow, first: &RecordVersion) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO records (id, appointment_id, patient_id, author_id, version, \
                 created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                record.id,
                record.appointment_id.as_str(),
                record.patient_id.as_str(),
                record.author_id.as_str(),
                record.version,
                ms(record.created_at),
                ms(record.updated_at),
            ])
            .map_err(|e| stale_or(e, Conflict::RecordExists))?;
        insert_version(self, first)
    }

    fn find_record(&mut self, id: &str) -> StoreResult<Option<RecordRow>> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM records r WHERE r.id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([id], record_from_row)
            .optional()?)
    }

    fn find_record_of_appointment(
        &mut self,
        appointment: &AppointmentId,
    ) -> StoreResult<Option<RecordRow>> {
        let sql = format!("SELECT {RECORD_COLUMNS} FROM records r WHERE r.appointment_id = ?1");
        Ok(self
            .conn
            .prepare_cached(&sql)?
            .query_row([appointment.as_str()], record_from_row)
            .optional()?)
    }

    fn append_record_version(&mut self, version: &RecordVersion) -> StoreResult<()> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE records SET version = ?1, updated_at = ?2 WHERE id = ?3 AND version = ?4",
            )?
            .execute(params![
                version.version,
                ms(version.at),
                version.record_id,
                version.version - 1,
            ])?;
        if changed == 0 {
            return Err(StoreError::Conflict(Conflict::StaleVersion));
        }
        insert_version(self, version)
    }

    fn record_versions(&mut self, record: &str) -> StoreResult<Vec<RecordVersionView>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT v.record_id, v.version, v.at, v.author_id, v.reason, v.content, u.name \
             FROM record_versions v JOIN users u ON u.id = v.author_id \
             WHERE v.record_id = ?1 ORDER BY v.version",
        )?;
        let rows = statement.query_map([record], |row| {
            Ok(RecordVersionView {
                version: RecordVersion {
                    record_id: row.get(0)?,
                    version: row.get(1)?,
                    at: ts(row.get(2)?)?,
                    author_id: UserId::new(row.get::<_, String>(3)?),
                    reason: row.get(4)?,
                    content: row.get(5)?,
                },
                author_name: row.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn list_patient_records(
        &mut self,
        patient: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<RecordEntry>> {
        let mut clauses = vec!["r.patient_id = ?".to_owned()];
        let mut values = vec![Value::Text(patient.as_str().to_owned())];
        push_cursor(
            &mut clauses,
            &mut values,
            ("a.start_at", "r.id"),
            page.after.as_ref(),
            true,
            true,
        )?;
        values.push(Value::Integer(i64::from(page.limit)));
        let sql = format!(
            "SELECT {RECORD_COLUMNS}, u.name, a.start_at FROM records r \
             JOIN appointments a ON a.id = r.appointment_id JOIN users u ON u.id = r.author_id \
             {} ORDER BY a.start_at DESC, r.id DESC LIMIT ?",
            where_sql(&clauses)
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), |row| {
            Ok(RecordEntry {
                record: record_from_row(row)?,
                author_name: row.get(7)?,
                visit_start: ts(row.get(8)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_summary_version(&mut self, v: &SummaryVersion) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO health_summaries (patient_id, version, at, author_id, author_role, \
                 kind, note, content) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                v.patient_id.as_str(),
                v.version,
                ms(v.at),
                v.author_id.as_str(),
                v.author_role.as_str(),
                v.kind,
                v.note,
                v.content,
            ])
            .map_err(|e| stale_or(e, Conflict::StaleVersion))?;
        Ok(())
    }

    fn summary_versions(&mut self, patient: &UserId) -> StoreResult<Vec<SummaryVersion>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT s.patient_id, s.version, s.at, s.author_id, s.author_role, s.kind, s.note, \
             s.content, u.name FROM health_summaries s JOIN users u ON u.id = s.author_id \
             WHERE s.patient_id = ?1 ORDER BY s.version",
        )?;
        let rows = statement.query_map([patient.as_str()], |row| {
            Ok(SummaryVersion {
                patient_id: UserId::new(row.get::<_, String>(0)?),
                version: row.get(1)?,
                at: ts(row.get(2)?)?,
                author_id: UserId::new(row.get::<_, String>(3)?),
                author_role: role(row.get(4)?)?,
                kind: row.get(5)?,
                note: row.get(6)?,
                content: row.get(7)?,
                author_name: row.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn insert_version(tx: &mut SqliteTx<'_>, v: &RecordVersion) -> StoreResult<()> {
    tx.conn
        .prepare_cached(
            "INSERT INTO record_versions (record_id, version, at, author_id, reason, content) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            v.record_id,
            v.version,
            ms(v.at),
            v.author_id.as_str(),
            v.reason,
            v.content,
        ])
        .map_err(|e| stale_or(e, Conflict::StaleVersion))?;
    Ok(())
}
