//! [`ClinicalTx`] on PostgreSQL. An amendment first updates the record's latest
//! version number on the condition that it is still the amended one: of two
//! concurrent amendments of one version, the second waits for the first's row lock,
//! then finds the condition false and writes nothing (a `StaleVersion` conflict).
//! The `(record_id, version)` primary key backs this up.

use ::postgres::Row;

use super::{PgTx, bad, get, has_nul, ms, rows_to, ts};
use crate::store::*;
use carebook_domain::AppointmentStatus;

const RECORD_COLUMNS: &str =
    "r.id, r.appointment_id, r.patient_id, r.author_id, r.version, r.created_at, r.updated_at";

fn record_from_row(row: &Row) -> StoreResult<RecordRow> {
    Ok(RecordRow {
        id: get(row, 0)?,
        appointment_id: AppointmentId::new(get::<String>(row, 1)?),
        patient_id: UserId::new(get::<String>(row, 2)?),
        author_id: UserId::new(get::<String>(row, 3)?),
        version: get(row, 4)?,
        created_at: ts(get(row, 5)?)?,
        updated_at: ts(get(row, 6)?)?,
    })
}

fn entry_from_row(row: &Row) -> StoreResult<RecordEntry> {
    Ok(RecordEntry {
        record: record_from_row(row)?,
        author_name: get(row, 7)?,
        visit_start: ts(get(row, 8)?)?,
    })
}

fn role(value: String) -> StoreResult<Role> {
    Role::parse(&value).ok_or_else(|| bad("role"))
}

fn read_from_row(row: &Row) -> StoreResult<ClinicalRead> {
    Ok(ClinicalRead {
        id: get(row, 0)?,
        read: NewClinicalRead {
            at: ts(get(row, 1)?)?,
            actor_id: UserId::new(get::<String>(row, 2)?),
            actor_role: role(get(row, 3)?)?,
            patient_id: UserId::new(get::<String>(row, 4)?),
            subject_kind: get(row, 5)?,
            subject_id: get(row, 6)?,
            break_glass_reason: get(row, 7)?,
        },
        actor_name: get(row, 8)?,
    })
}

fn version_from_row(row: &Row) -> StoreResult<RecordVersionView> {
    Ok(RecordVersionView {
        version: RecordVersion {
            record_id: get(row, 0)?,
            version: get(row, 1)?,
            at: ts(get(row, 2)?)?,
            author_id: UserId::new(get::<String>(row, 3)?),
            reason: get(row, 4)?,
            content: get(row, 5)?,
        },
        author_name: get(row, 6)?,
    })
}

fn summary_from_row(row: &Row) -> StoreResult<SummaryVersion> {
    Ok(SummaryVersion {
        patient_id: UserId::new(get::<String>(row, 0)?),
        version: get(row, 1)?,
        at: ts(get(row, 2)?)?,
        author_id: UserId::new(get::<String>(row, 3)?),
        author_role: role(get(row, 4)?)?,
        kind: get(row, 5)?,
        note: get(row, 6)?,
        content: get(row, 7)?,
        author_name: get(row, 8)?,
    })
}

fn care_statuses() -> Vec<String> {
    AppointmentStatus::ALL
        .into_iter()
        .filter(|s| s.makes_care_relationship())
        .map(|s| s.as_str().to_owned())
        .collect()
}

impl PgTx<'_, '_> {
    fn insert_record_version(&mut self, v: &RecordVersion) -> StoreResult<()> {
        self.execute(
            "INSERT INTO record_versions (record_id, version, at, author_id, reason, content) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &v.record_id,
                &v.version,
                &ms(v.at),
                &v.author_id.as_str(),
                &v.reason,
                &v.content,
            ],
        )?;
        Ok(())
    }
}

impl ClinicalTx for PgTx<'_, '_> {
    fn care_relationship(&mut self, doctor: &UserId, patient: &UserId) -> StoreResult<bool> {
        if has_nul(doctor.as_str()) || has_nul(patient.as_str()) {
            return Ok(false);
        }
        get(
            &self.query_one(
                "SELECT EXISTS (SELECT 1 FROM appointments WHERE doctor_id = $1 \
                 AND patient_id = $2 AND status = ANY($3))",
                &[&doctor.as_str(), &patient.as_str(), &care_statuses()],
            )?,
            0,
        )
    }

    fn insert_clinical_read(&mut self, read: &NewClinicalRead) -> StoreResult<()> {
        self.execute(
            "INSERT INTO clinical_reads (at, actor_id, actor_role, patient_id, subject_kind, \
             subject_id, break_glass_reason) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &ms(read.at),
                &read.actor_id.as_str(),
                &read.actor_role.as_str(),
                &read.patient_id.as_str(),
                &read.subject_kind,
                &read.subject_id,
                &read.break_glass_reason,
            ],
        )?;
        Ok(())
    }

    fn list_clinical_reads(
        &mut self,
        patient: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<ClinicalRead>> {
        if has_nul(patient.as_str()) {
            return Ok(Vec::new());
        }
        let after: Option<i64> = page
            .after
            .as_ref()
            .map(|c| c.id.parse().map_err(|_| bad("cursor")))
            .transpose()?;
        let rows = self.query(
            "SELECT c.id, c.at, c.actor_id, c.actor_role, c.patient_id, c.subject_kind, \
             c.subject_id, c.break_glass_reason, u.name FROM clinical_reads c \
             JOIN users u ON u.id = c.actor_id \
             WHERE c.patient_id = $1 AND ($2::BIGINT IS NULL OR c.id < $2) \
             ORDER BY c.id DESC LIMIT $3",
            &[&patient.as_str(), &after, &i64::from(page.limit)],
        )?;
        rows_to(rows, read_from_row)
    }

    fn insert_record(&mut self, record: &RecordRow, first: &RecordVersion) -> StoreResult<()> {
        self.execute(
            "INSERT INTO records (id, appointment_id, patient_id, author_id, version, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &record.id,
                &record.appointment_id.as_str(),
                &record.patient_id.as_str(),
                &record.author_id.as_str(),
                &record.version,
                &ms(record.created_at),
                &ms(record.updated_at),
            ],
        )?;
        self.insert_record_version(first)
    }

    fn find_record(&mut self, id: &str) -> StoreResult<Option<RecordRow>> {
        if has_nul(id) {
            return Ok(None);
        }
        self.query_opt(
            &format!("SELECT {RECORD_COLUMNS} FROM records r WHERE r.id = $1"),
            &[&id],
        )?
        .as_ref()
        .map(record_from_row)
        .transpose()
    }

    fn find_record_of_appointment(
        &mut self,
        appointment: &AppointmentId,
    ) -> StoreResult<Option<RecordRow>> {
        if has_nul(appointment.as_str()) {
            return Ok(None);
        }
        self.query_opt(
            &format!("SELECT {RECORD_COLUMNS} FROM records r WHERE r.appointment_id = $1"),
            &[&appointment.as_str()],
        )?
        .as_ref()
        .map(record_from_row)
        .transpose()
    }

    fn append_record_version(&mut self, version: &RecordVersion) -> StoreResult<()> {
        let changed = self.execute(
            "UPDATE records SET version = $1, updated_at = $2 WHERE id = $3 AND version = $4",
            &[
                &version.version,
                &ms(version.at),
                &version.record_id,
                &(version.version - 1),
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::Conflict(Conflict::StaleVersion));
        }
        self.insert_record_version(version)
    }

    fn record_versions(&mut self, record: &str) -> StoreResult<Vec<RecordVersionView>> {
        if has_nul(record) {
            return Ok(Vec::new());
        }
        let rows = self.query(
            "SELECT v.record_id, v.version, v.at, v.author_id, v.reason, v.content, u.name \
             FROM record_versions v JOIN users u ON u.id = v.author_id \
             WHERE v.record_id = $1 ORDER BY v.version",
            &[&record],
        )?;
        rows_to(rows, version_from_row)
    }

    fn list_patient_records(
        &mut self,
        patient: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<RecordEntry>> {
        if has_nul(patient.as_str()) {
            return Ok(Vec::new());
        }
        let (key, id): (Option<i64>, Option<String>) = match &page.after {
            Some(cursor) => (
                Some(cursor.key.parse().map_err(|_| bad("cursor"))?),
                Some(cursor.id.replace('\0', "")),
            ),
            None => (None, None),
        };
        let rows = self.query(
            &format!(
                "SELECT {RECORD_COLUMNS}, u.name, a.start_at FROM records r \
                 JOIN appointments a ON a.id = r.appointment_id \
                 JOIN users u ON u.id = r.author_id \
                 WHERE r.patient_id = $1 AND ($2::BIGINT IS NULL OR (a.start_at, r.id) < ($2, $3)) \
                 ORDER BY a.start_at DESC, r.id DESC LIMIT $4"
            ),
            &[&patient.as_str(), &key, &id, &i64::from(page.limit)],
        )?;
        rows_to(rows, entry_from_row)
    }

    fn insert_summary_version(&mut self, v: &SummaryVersion) -> StoreResult<()> {
        self.execute(
            "INSERT INTO health_summaries (patient_id, version, at, author_id, author_role, \
             kind, note, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &v.patient_id.as_str(),
                &v.version,
                &ms(v.at),
                &v.author_id.as_str(),
                &v.author_role.as_str(),
                &v.kind,
                &v.note,
                &v.content,
            ],
        )?;
        Ok(())
    }

    fn summary_versions(&mut self, patient: &UserId) -> StoreResult<Vec<SummaryVersion>> {
        if has_nul(patient.as_str()) {
            return Ok(Vec::new());
        }
        let rows = self.query(
            "SELECT s.patient_id, s.version, s.at, s.author_id, s.author_role, s.kind, s.note, \
             s.content, u.name FROM health_summaries s JOIN users u ON u.id = s.author_id \
             WHERE s.patient_id = $1 ORDER BY s.version",
            &[&patient.as_str()],
        )?;
        rows_to(rows, summary_from_row)
    }
}
