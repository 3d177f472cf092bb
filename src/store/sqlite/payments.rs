//! [`PaymentTx`] on SQLite.

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use super::{SqliteTx, bad, is_unique_violation, ms, ts, where_sql};
use crate::store::*;

const PAYMENT_COLUMNS: &str = "pay.id, pay.appointment_id, pay.patient_id, pay.doctor_id, pay.amount_minor, \
     pay.currency, pay.method, pay.status, pay.checkout_session_id, pay.checkout_url, pay.payment_intent, \
     pay.hold_until, pay.paid_at, pay.refund_id, pay.refund_reason, pay.refunded_at, pay.attempts, \
     pay.next_attempt_at, pay.last_error, pay.recorded_by, pay.created_at, pay.updated_at";

fn opt_ts(row: &Row<'_>, index: usize) -> rusqlite::Result<Option<jiff::Timestamp>> {
    row.get::<_, Option<i64>>(index)?.map(ts).transpose()
}

fn payment_from_row(row: &Row<'_>) -> rusqlite::Result<PaymentRecord> {
    let method: String = row.get(6)?;
    let status: String = row.get(7)?;
    Ok(PaymentRecord {
        id: PaymentId::new(row.get::<_, String>(0)?),
        appointment_id: AppointmentId::new(row.get::<_, String>(1)?),
        patient_id: UserId::new(row.get::<_, String>(2)?),
        doctor_id: UserId::new(row.get::<_, String>(3)?),
        amount_minor: row.get(4)?,
        currency: row.get(5)?,
        method: PaymentMethod::parse(&method).ok_or_else(|| bad(method))?,
        status: PaymentStatus::parse(&status).ok_or_else(|| bad(status))?,
        checkout_session_id: row.get(8)?,
        checkout_url: row.get(9)?,
        payment_intent: row.get(10)?,
        hold_until: opt_ts(row, 11)?,
        paid_at: opt_ts(row, 12)?,
        refund_id: row.get(13)?,
        refund_reason: row.get(14)?,
        refunded_at: opt_ts(row, 15)?,
        attempts: row.get(16)?,
        next_attempt_at: opt_ts(row, 17)?,
        last_error: row.get(18)?,
        recorded_by: row.get::<_, Option<String>>(19)?.map(UserId::new),
        created_at: ts(row.get(20)?)?,
        updated_at: ts(row.get(21)?)?,
    })
}

fn view_from_row(row: &Row<'_>) -> rusqlite::Result<PaymentView> {
    Ok(PaymentView {
        record: payment_from_row(row)?,
        patient_name: row.get(22)?,
        doctor_name: row.get(23)?,
        appointment_start: ts(row.get(24)?)?,
    })
}

impl PaymentTx for SqliteTx<'_> {
    fn insert_payment(&mut self, p: &PaymentRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO payments (id, appointment_id, patient_id, doctor_id, amount_minor, currency, method, \
                 status, checkout_session_id, checkout_url, payment_intent, hold_until, paid_at, refund_id, \
                 refund_reason, refunded_at, attempts, next_attempt_at, last_error, recorded_by, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, \
                 ?17, ?18, ?19, ?20, ?21, ?22)",
            )?
            .execute(params![
                p.id.as_str(),
                p.appointment_id.as_str(),
                p.patient_id.as_str(),
                p.doctor_id.as_str(),
                p.amount_minor,
                p.currency,
                p.method.as_str(),
                p.status.as_str(),
                p.checkout_session_id,
                p.checkout_url,
                p.payment_intent,
                p.hold_until.map(ms),
                p.paid_at.map(ms),
                p.refund_id,
                p.refund_reason,
                p.refunded_at.map(ms),
                p.attempts,
                p.next_attempt_at.map(ms),
                p.last_error,
                p.recorded_by.as_ref().map(UserId::as_str),
                ms(p.created_at),
                ms(p.updated_at),
            ])
            .map_err(|error| {
                if is_unique_violation(&error) {
                    StoreError::Conflict(Conflict::PaymentExists)
                } else {
                    error.into()
                }
            })?;
        Ok(())
    }

    fn update_payment(&mut self, p: &PaymentRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE payments SET status = ?2, checkout_session_id = ?3, checkout_url = ?4, \
                 payment_intent = ?5, hold_until = ?6, paid_at = ?7, refund_id = ?8, refund_reason = ?9, \
                 refunded_at = ?10, attempts = ?11, next_attempt_at = ?12, last_error = ?13, \
                 updated_at = ?14 WHERE id = ?1",
            )?
            .execute(params![
                p.id.as_str(),
                p.status.as_str(),
                p.checkout_session_id,
                p.checkout_url,
                p.payment_intent,
                p.hold_until.map(ms),
                p.paid_at.map(ms),
                p.refund_id,
                p.refund_reason,
                p.refunded_at.map(ms),
                p.attempts,
                p.next_attempt_at.map(ms),
                p.last_error,
                ms(p.updated_at),
            ])
            .map_err(|error| {
                if is_unique_violation(&error) {
                    StoreError::Conflict(Conflict::PaymentExists)
                } else {
                    error.into()
                }
            })?;
        Ok(())
    }

    fn find_payment(&mut self, id: &PaymentId) -> StoreResult<Option<PaymentRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.id = ?1"
            ))?
            .query_row([id.as_str()], payment_from_row)
            .optional()?)
    }

    fn find_payment_by_checkout(&mut self, session_id: &str) -> StoreResult<Option<PaymentRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.checkout_session_id = ?1"
            ))?
            .query_row([session_id], payment_from_row)
            .optional()?)
    }

    fn latest_payment(
        &mut self,
        appointment: &AppointmentId,
    ) -> StoreResult<Option<PaymentRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.appointment_id = ?1 \
                 ORDER BY pay.created_at DESC, pay.id DESC LIMIT 1"
            ))?
            .query_row([appointment.as_str()], payment_from_row)
            .optional()?)
    }

    fn list_payments(
        &mut self,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<PaymentView>> {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        let mut any_of = |column: &str, names: Vec<&str>, clauses: &mut Vec<String>| {
            if !names.is_empty() {
                let marks = vec!["?"; names.len()].join(", ");
                clauses.push(format!("{column} IN ({marks})"));
                values.extend(names.into_iter().map(|n| Value::Text(n.to_owned())));
            }
        };
        any_of(
            "pay.status",
            filter.statuses.iter().map(|s| s.as_str()).collect(),
            &mut clauses,
        );
        any_of(
            "pay.method",
            filter.methods.iter().map(|m| m.as_str()).collect(),
            &mut clauses,
        );
        if let Some(from) = filter.from {
            clauses.push("pay.created_at >= ?".to_owned());
            values.push(Value::Integer(ms(from)));
        }
        if let Some(to) = filter.to {
            clauses.push("pay.created_at < ?".to_owned());
            values.push(Value::Integer(ms(to)));
        }
        if let Some(doctor) = &filter.doctor_id {
            clauses.push("pay.doctor_id = ?".to_owned());
            values.push(Value::Text(doctor.as_str().to_owned()));
        }
        if let Some(patient) = &filter.patient_id {
            clauses.push("pay.patient_id = ?".to_owned());
            values.push(Value::Text(patient.as_str().to_owned()));
        }
        if let Some(cursor) = &page.after {
            clauses.push("(pay.created_at, pay.id) < (?, ?)".to_owned());
            values.push(Value::Integer(
                cursor.key.parse().map_err(|_| bad("cursor"))?,
            ));
            values.push(Value::Text(cursor.id.clone()));
        }
        values.push(Value::Integer(i64::from(page.limit)));
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS}, p.name, d.name, a.start_at FROM payments pay \
             JOIN users p ON p.id = pay.patient_id JOIN users d ON d.id = pay.doctor_id \
             JOIN appointments a ON a.id = pay.appointment_id {} \
             ORDER BY pay.created_at DESC, pay.id DESC LIMIT ?",
            where_sql(&clauses)
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), view_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn payments_with_money_between(
        &mut self,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> StoreResult<Vec<PaymentRecord>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments pay \
             WHERE (pay.paid_at >= ?1 AND pay.paid_at < ?2) OR (pay.refunded_at >= ?1 AND pay.refunded_at < ?2) \
             ORDER BY pay.created_at, pay.id"
        ))?;
        let rows = statement.query_map(params![ms(from), ms(to)], payment_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn expired_holds(
        &mut self,
        now: jiff::Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentRecord>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.status = 'pending' \
             AND pay.hold_until <= ?1 ORDER BY pay.hold_until LIMIT ?2"
        ))?;
        let rows = statement.query_map(params![ms(now), limit], payment_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn due_refunds(&mut self, now: jiff::Timestamp, limit: u32) -> StoreResult<Vec<PaymentRecord>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.status = 'refund_pending' \
             AND pay.next_attempt_at <= ?1 ORDER BY pay.next_attempt_at LIMIT ?2"
        ))?;
        let rows = statement.query_map(params![ms(now), limit], payment_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_provider_event(
        &mut self,
        event_id: &str,
        kind: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<bool> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO stripe_events (event_id, kind, received_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (event_id) DO NOTHING",
            )?
            .execute(params![event_id, kind, ms(now)])?;
        Ok(inserted == 1)
    }
}
