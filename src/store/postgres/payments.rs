//! [`PaymentTx`] on PostgreSQL. The app changes a payment only while it holds its
//! doctor's availability lock (see `Tx::begin_availability_change`), so two
//! instances acting on one payment take turns and each reads the other's result.

use ::postgres::Row;

use super::{PgTx, Query, bad, get, has_nul, ms, rows_to, ts};
use crate::store::*;

const PAYMENT_COLUMNS: &str = "pay.id, pay.appointment_id, pay.patient_id, pay.doctor_id, pay.amount_minor, \
     pay.currency, pay.method, pay.status, pay.checkout_session_id, pay.checkout_url, pay.payment_intent, \
     pay.hold_until, pay.paid_at, pay.refund_id, pay.refund_reason, pay.refunded_at, pay.attempts, \
     pay.next_attempt_at, pay.last_error, pay.recorded_by, pay.created_at, pay.updated_at";

fn opt_ts(row: &Row, index: usize) -> StoreResult<Option<jiff::Timestamp>> {
    get::<Option<i64>>(row, index)?.map(ts).transpose()
}

fn payment_from_row(row: &Row) -> StoreResult<PaymentRecord> {
    Ok(PaymentRecord {
        id: PaymentId::new(get::<String>(row, 0)?),
        appointment_id: AppointmentId::new(get::<String>(row, 1)?),
        patient_id: UserId::new(get::<String>(row, 2)?),
        doctor_id: UserId::new(get::<String>(row, 3)?),
        amount_minor: get(row, 4)?,
        currency: get(row, 5)?,
        method: PaymentMethod::parse(&get::<String>(row, 6)?)
            .ok_or_else(|| bad("payments.method"))?,
        status: PaymentStatus::parse(&get::<String>(row, 7)?)
            .ok_or_else(|| bad("payments.status"))?,
        checkout_session_id: get(row, 8)?,
        checkout_url: get(row, 9)?,
        payment_intent: get(row, 10)?,
        hold_until: opt_ts(row, 11)?,
        paid_at: opt_ts(row, 12)?,
        refund_id: get(row, 13)?,
        refund_reason: get(row, 14)?,
        refunded_at: opt_ts(row, 15)?,
        attempts: get(row, 16)?,
        next_attempt_at: opt_ts(row, 17)?,
        last_error: get(row, 18)?,
        recorded_by: get::<Option<String>>(row, 19)?.map(UserId::new),
        created_at: ts(get(row, 20)?)?,
        updated_at: ts(get(row, 21)?)?,
    })
}

fn view_from_row(row: &Row) -> StoreResult<PaymentView> {
    Ok(PaymentView {
        record: payment_from_row(row)?,
        patient_name: get(row, 22)?,
        doctor_name: get(row, 23)?,
        appointment_start: ts(get(row, 24)?)?,
    })
}

impl PaymentTx for PgTx<'_, '_> {
    fn insert_payment(&mut self, p: &PaymentRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO payments (id, appointment_id, patient_id, doctor_id, amount_minor, currency, method, \
             status, checkout_session_id, checkout_url, payment_intent, hold_until, paid_at, refund_id, \
             refund_reason, refunded_at, attempts, next_attempt_at, last_error, recorded_by, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20, $21, $22)",
            &[
                &p.id.as_str(),
                &p.appointment_id.as_str(),
                &p.patient_id.as_str(),
                &p.doctor_id.as_str(),
                &p.amount_minor,
                &p.currency,
                &p.method.as_str(),
                &p.status.as_str(),
                &p.checkout_session_id,
                &p.checkout_url,
                &p.payment_intent,
                &p.hold_until.map(ms),
                &p.paid_at.map(ms),
                &p.refund_id,
                &p.refund_reason,
                &p.refunded_at.map(ms),
                &p.attempts,
                &p.next_attempt_at.map(ms),
                &p.last_error,
                &p.recorded_by.as_ref().map(UserId::as_str),
                &ms(p.created_at),
                &ms(p.updated_at),
            ],
        )?;
        Ok(())
    }

    fn update_payment(&mut self, p: &PaymentRecord) -> StoreResult<()> {
        self.execute(
            "UPDATE payments SET status = $2, checkout_session_id = $3, checkout_url = $4, \
             payment_intent = $5, hold_until = $6, paid_at = $7, refund_id = $8, refund_reason = $9, \
             refunded_at = $10, attempts = $11, next_attempt_at = $12, last_error = $13, \
             updated_at = $14 WHERE id = $1",
            &[
                &p.id.as_str(),
                &p.status.as_str(),
                &p.checkout_session_id,
                &p.checkout_url,
                &p.payment_intent,
                &p.hold_until.map(ms),
                &p.paid_at.map(ms),
                &p.refund_id,
                &p.refund_reason,
                &p.refunded_at.map(ms),
                &p.attempts,
                &p.next_attempt_at.map(ms),
                &p.last_error,
                &ms(p.updated_at),
            ],
        )?;
        Ok(())
    }

    fn find_payment(&mut self, id: &PaymentId) -> StoreResult<Option<PaymentRecord>> {
        if has_nul(id.as_str()) {
            return Ok(None);
        }
        self.query_opt(
            &format!("SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.id = $1"),
            &[&id.as_str()],
        )?
        .as_ref()
        .map(payment_from_row)
        .transpose()
    }

    fn find_payment_by_checkout(&mut self, session_id: &str) -> StoreResult<Option<PaymentRecord>> {
        if has_nul(session_id) {
            return Ok(None);
        }
        self.query_opt(
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.checkout_session_id = $1"
            ),
            &[&session_id],
        )?
        .as_ref()
        .map(payment_from_row)
        .transpose()
    }

    fn latest_payment(
        &mut self,
        appointment: &AppointmentId,
    ) -> StoreResult<Option<PaymentRecord>> {
        if has_nul(appointment.as_str()) {
            return Ok(None);
        }
        self.query_opt(
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.appointment_id = $1 \
                 ORDER BY pay.created_at DESC, pay.id DESC LIMIT 1"
            ),
            &[&appointment.as_str()],
        )?
        .as_ref()
        .map(payment_from_row)
        .transpose()
    }

    fn list_payments(
        &mut self,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<PaymentView>> {
        let mut query = Query::default();
        if !filter.statuses.is_empty() {
            let names: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            let p = query.bind(names);
            query.clause(format!("pay.status = ANY({p})"));
        }
        if !filter.methods.is_empty() {
            let names: Vec<String> = filter
                .methods
                .iter()
                .map(|m| m.as_str().to_owned())
                .collect();
            let p = query.bind(names);
            query.clause(format!("pay.method = ANY({p})"));
        }
        if let Some(from) = filter.from {
            let p = query.bind(ms(from));
            query.clause(format!("pay.created_at >= {p}"));
        }
        if let Some(to) = filter.to {
            let p = query.bind(ms(to));
            query.clause(format!("pay.created_at < {p}"));
        }
        if let Some(doctor) = &filter.doctor_id {
            let p = query.text(doctor.as_str());
            query.clause(format!("pay.doctor_id = {p}"));
        }
        if let Some(patient) = &filter.patient_id {
            let p = query.text(patient.as_str());
            query.clause(format!("pay.patient_id = {p}"));
        }
        query.cursor(
            ("pay.created_at", "pay.id"),
            page.after.as_ref(),
            true,
            true,
        )?;
        if query.matches_nothing {
            return Ok(Vec::new());
        }
        let limit = query.limit(page);
        let sql = format!(
            "SELECT {PAYMENT_COLUMNS}, p.name, d.name, a.start_at FROM payments pay \
             JOIN users p ON p.id = pay.patient_id JOIN users d ON d.id = pay.doctor_id \
             JOIN appointments a ON a.id = pay.appointment_id {} \
             ORDER BY pay.created_at DESC, pay.id DESC LIMIT {limit}",
            query.where_sql()
        );
        rows_to(self.query_built(&sql, &query)?, view_from_row)
    }

    fn payments_with_money_between(
        &mut self,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> StoreResult<Vec<PaymentRecord>> {
        let rows = self.query(
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments pay \
                 WHERE (pay.paid_at >= $1 AND pay.paid_at < $2) OR (pay.refunded_at >= $1 AND pay.refunded_at < $2) \
                 ORDER BY pay.created_at, pay.id"
            ),
            &[&ms(from), &ms(to)],
        )?;
        rows_to(rows, payment_from_row)
    }

    fn expired_holds(
        &mut self,
        now: jiff::Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentRecord>> {
        let rows = self.query(
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.status = 'pending' \
                 AND pay.hold_until <= $1 ORDER BY pay.hold_until LIMIT $2"
            ),
            &[&ms(now), &i64::from(limit)],
        )?;
        rows_to(rows, payment_from_row)
    }

    fn due_refunds(&mut self, now: jiff::Timestamp, limit: u32) -> StoreResult<Vec<PaymentRecord>> {
        let rows = self.query(
            &format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments pay WHERE pay.status = 'refund_pending' \
                 AND pay.next_attempt_at <= $1 ORDER BY pay.next_attempt_at LIMIT $2"
            ),
            &[&ms(now), &i64::from(limit)],
        )?;
        rows_to(rows, payment_from_row)
    }

    fn record_provider_event(
        &mut self,
        event_id: &str,
        kind: &str,
        now: jiff::Timestamp,
    ) -> StoreResult<bool> {
        let inserted = self.execute(
            "INSERT INTO stripe_events (event_id, kind, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT (event_id) DO NOTHING",
            &[&event_id, &kind, &ms(now)],
        )?;
        Ok(inserted == 1)
    }
}
