//! [`NotificationTx`] on PostgreSQL. Several instances' workers claim at once:
//! `FOR UPDATE SKIP LOCKED` hands each row to one of them without waiting.

use ::postgres::Row;

use super::{PgTx, Query, bad, get, has_nul, ms, rows_to, ts};
use crate::store::*;

const DELIVERY_COLUMNS: &str = "id, idempotency_key, channel, kind, user_id, appointment_id, target, \
     payload, status, due_at, attempts, lease_owner, lease_until, last_error, created_at, \
     updated_at, sent_at";

fn delivery_from_row(row: &Row) -> StoreResult<DeliveryRecord> {
    let status: String = get(row, 8)?;
    Ok(DeliveryRecord {
        id: get(row, 0)?,
        idempotency_key: get(row, 1)?,
        channel: get(row, 2)?,
        kind: get(row, 3)?,
        user_id: get::<Option<String>>(row, 4)?.map(UserId::new),
        appointment_id: get::<Option<String>>(row, 5)?.map(AppointmentId::new),
        target: get(row, 6)?,
        payload: get(row, 7)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| bad("deliveries.status"))?,
        due_at: ts(get(row, 9)?)?,
        attempts: get(row, 10)?,
        lease_owner: get(row, 11)?,
        lease_until: get::<Option<i64>>(row, 12)?.map(ts).transpose()?,
        last_error: get(row, 13)?,
        created_at: ts(get(row, 14)?)?,
        updated_at: ts(get(row, 15)?)?,
        sent_at: get::<Option<i64>>(row, 16)?.map(ts).transpose()?,
    })
}

const NOTIFICATION_COLUMNS: &str =
    "id, user_id, kind, title, body, link, appointment_id, created_at, read_at";

fn notification_from_row(row: &Row) -> StoreResult<NotificationRecord> {
    Ok(NotificationRecord {
        id: get(row, 0)?,
        user_id: UserId::new(get::<String>(row, 1)?),
        kind: get(row, 2)?,
        title: get(row, 3)?,
        body: get(row, 4)?,
        link: get(row, 5)?,
        appointment_id: get::<Option<String>>(row, 6)?.map(AppointmentId::new),
        created_at: ts(get(row, 7)?)?,
        read_at: get::<Option<i64>>(row, 8)?.map(ts).transpose()?,
    })
}

impl NotificationTx for PgTx<'_, '_> {
    fn find_notification_preferences(
        &mut self,
        user: &UserId,
    ) -> StoreResult<Option<NotificationPreferences>> {
        if has_nul(user.as_str()) {
            return Ok(None);
        }
        let row = self.query_opt(
            "SELECT user_id, email_enabled, sms_enabled, updated_at \
             FROM notification_preferences WHERE user_id = $1",
            &[&user.as_str()],
        )?;
        row.map(|row| {
            Ok(NotificationPreferences {
                user_id: UserId::new(get::<String>(&row, 0)?),
                email_enabled: get(&row, 1)?,
                sms_enabled: get(&row, 2)?,
                updated_at: ts(get(&row, 3)?)?,
            })
        })
        .transpose()
    }

    fn upsert_notification_preferences(
        &mut self,
        preferences: &NotificationPreferences,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO notification_preferences (user_id, email_enabled, sms_enabled, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id) DO UPDATE SET \
             email_enabled = excluded.email_enabled, sms_enabled = excluded.sms_enabled, \
             updated_at = excluded.updated_at",
            &[
                &preferences.user_id.as_str(),
                &preferences.email_enabled,
                &preferences.sms_enabled,
                &ms(preferences.updated_at),
            ],
        )?;
        Ok(())
    }

    fn insert_notification(&mut self, n: &NotificationRecord) -> StoreResult<()> {
        self.execute(
            &format!(
                "INSERT INTO notifications ({NOTIFICATION_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &[
                &n.id,
                &n.user_id.as_str(),
                &n.kind,
                &n.title,
                &n.body,
                &n.link,
                &n.appointment_id.as_ref().map(|a| a.as_str()),
                &ms(n.created_at),
                &n.read_at.map(ms),
            ],
        )?;
        Ok(())
    }

    fn list_notifications(
        &mut self,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<NotificationRecord>> {
        let mut query = Query::default();
        let user = query.text(user.as_str());
        query.clause(format!("user_id = {user}"));
        query.cursor(("created_at", "id"), page.after.as_ref(), true, true)?;
        if query.matches_nothing {
            return Ok(Vec::new());
        }
        let limit = query.limit(page);
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications {} \
             ORDER BY created_at DESC, id DESC LIMIT {limit}",
            query.where_sql()
        );
        rows_to(self.query_built(&sql, &query)?, notification_from_row)
    }

    fn count_unread_notifications(&mut self, user: &UserId) -> StoreResult<i64> {
        if has_nul(user.as_str()) {
            return Ok(0);
        }
        get(
            &self.query_one(
                "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL",
                &[&user.as_str()],
            )?,
            0,
        )
    }

    fn mark_notification_read(
        &mut self,
        user: &UserId,
        id: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        if has_nul(user.as_str()) || has_nul(id) {
            return Ok(false);
        }
        let row = self.query_opt(
            "UPDATE notifications SET read_at = COALESCE(read_at, $3) \
             WHERE id = $1 AND user_id = $2 RETURNING id",
            &[&id, &user.as_str(), &ms(at)],
        )?;
        Ok(row.is_some())
    }

    fn mark_all_notifications_read(&mut self, user: &UserId, at: Timestamp) -> StoreResult<u64> {
        if has_nul(user.as_str()) {
            return Ok(0);
        }
        self.execute(
            "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL",
            &[&user.as_str(), &ms(at)],
        )
    }

    fn insert_delivery(&mut self, d: &DeliveryRecord) -> StoreResult<bool> {
        let inserted = self.execute(
            &format!(
                "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 ON CONFLICT (idempotency_key) DO NOTHING"
            ),
            &[
                &d.id,
                &d.idempotency_key,
                &d.channel,
                &d.kind,
                &d.user_id.as_ref().map(|u| u.as_str()),
                &d.appointment_id.as_ref().map(|a| a.as_str()),
                &d.target,
                &d.payload,
                &d.status.as_str(),
                &ms(d.due_at),
                &d.attempts,
                &d.lease_owner,
                &d.lease_until.map(ms),
                &d.last_error,
                &ms(d.created_at),
                &ms(d.updated_at),
                &d.sent_at.map(ms),
            ],
        )?;
        Ok(inserted > 0)
    }

    fn claim_deliveries(
        &mut self,
        owner: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = format!(
            "WITH due AS ( \
                 SELECT id FROM deliveries \
                 WHERE (status IN ('scheduled', 'retrying') AND due_at <= $1) \
                    OR (status = 'sending' AND lease_until <= $1) \
                 ORDER BY due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
             UPDATE deliveries AS d SET status = 'sending', lease_owner = $2, lease_until = $3, \
                 attempts = d.attempts + 1, updated_at = $1 \
             FROM due WHERE d.id = due.id \
             RETURNING {}",
            DELIVERY_COLUMNS
                .split(", ")
                .map(|c| format!("d.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let rows = self.query(
            &sql,
            &[&ms(now), &owner, &ms(lease_until), &i64::from(limit)],
        )?;
        let mut claimed = rows_to(rows, delivery_from_row)?;
        claimed.sort_by(|a, b| (a.due_at, &a.id).cmp(&(b.due_at, &b.id)));
        Ok(claimed)
    }

    fn finish_delivery(
        &mut self,
        id: &str,
        owner: &str,
        outcome: &DeliveryOutcome,
    ) -> StoreResult<bool> {
        let sent_at = (outcome.status == DeliveryStatus::Sent).then(|| ms(outcome.at));
        let changed = self.execute(
            "UPDATE deliveries SET status = $3, due_at = COALESCE($4, due_at), \
             last_error = COALESCE($5, last_error), sent_at = COALESCE($6, sent_at), \
             lease_owner = NULL, lease_until = NULL, updated_at = $7 \
             WHERE id = $1 AND lease_owner = $2 AND status = 'sending'",
            &[
                &id,
                &owner,
                &outcome.status.as_str(),
                &outcome.due_at.map(ms),
                &outcome.last_error,
                &sent_at,
                &ms(outcome.at),
            ],
        )?;
        Ok(changed > 0)
    }

    fn cancel_pending_deliveries(
        &mut self,
        appointment: &AppointmentId,
        kind: &str,
        at: Timestamp,
        why: &str,
    ) -> StoreResult<u64> {
        self.execute(
            "UPDATE deliveries SET status = 'cancelled', last_error = $4, updated_at = $3 \
             WHERE appointment_id = $1 AND kind = $2 AND status IN ('scheduled', 'retrying')",
            &[&appointment.as_str(), &kind, &ms(at), &why],
        )
    }

    fn find_delivery(&mut self, id: &str) -> StoreResult<Option<DeliveryRecord>> {
        if has_nul(id) {
            return Ok(None);
        }
        self.query_opt(
            &format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1"),
            &[&id],
        )?
        .as_ref()
        .map(delivery_from_row)
        .transpose()
    }

    fn list_deliveries(
        &mut self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut query = Query::default();
        if !filter.statuses.is_empty() {
            let statuses: Vec<String> = filter
                .statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .collect();
            let list = query.bind(statuses);
            query.clause(format!("status = ANY({list})"));
        }
        if let Some(channel) = &filter.channel {
            let channel = query.text(channel);
            query.clause(format!("channel = {channel}"));
        }
        if let Some(appointment) = &filter.appointment_id {
            let appointment = query.text(appointment.as_str());
            query.clause(format!("appointment_id = {appointment}"));
        }
        if let Some(user) = &filter.user_id {
            let user = query.text(user.as_str());
            query.clause(format!("user_id = {user}"));
        }
        query.cursor(("created_at", "id"), page.after.as_ref(), true, true)?;
        if query.matches_nothing {
            return Ok(Vec::new());
        }
        let limit = query.limit(page);
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries {} \
             ORDER BY created_at DESC, id DESC LIMIT {limit}",
            query.where_sql()
        );
        rows_to(self.query_built(&sql, &query)?, delivery_from_row)
    }

    fn requeue_delivery(&mut self, id: &str, at: Timestamp) -> StoreResult<bool> {
        if has_nul(id) {
            return Ok(false);
        }
        let changed = self.execute(
            "UPDATE deliveries SET status = 'scheduled', due_at = $2, attempts = 0, \
             updated_at = $2 WHERE id = $1 AND status IN ('failed', 'dead')",
            &[&id, &ms(at)],
        )?;
        Ok(changed > 0)
    }

    fn next_delivery_due(&mut self) -> StoreResult<Option<Timestamp>> {
        let next: Option<i64> = get(
            &self.query_one(
                "SELECT MIN(due_at) FROM deliveries WHERE status IN ('scheduled', 'retrying')",
                &[],
            )?,
            0,
        )?;
        next.map(ts).transpose()
    }

    fn count_deliveries_by_status(&mut self) -> StoreResult<Vec<(DeliveryStatus, i64)>> {
        let rows = self.query(
            "SELECT status, COUNT(*) FROM deliveries GROUP BY status",
            &[],
        )?;
        rows.iter()
            .map(|row| {
                let status: String = get(row, 0)?;
                let status =
                    DeliveryStatus::parse(&status).ok_or_else(|| bad("deliveries.status"))?;
                Ok((status, get(row, 1)?))
            })
            .collect()
    }

    fn reminders_planned_through(&mut self) -> StoreResult<Option<Timestamp>> {
        self.reminder_plan("SELECT planned_through FROM reminder_plan WHERE id = 1")
    }

    fn begin_reminder_plan(&mut self) -> StoreResult<Option<Timestamp>> {
        self.reminder_plan("SELECT planned_through FROM reminder_plan WHERE id = 1 FOR UPDATE")
    }

    fn set_reminders_planned_through(&mut self, through: Timestamp) -> StoreResult<()> {
        self.execute(
            "UPDATE reminder_plan SET planned_through = $1 WHERE id = 1",
            &[&ms(through)],
        )?;
        Ok(())
    }
}

impl PgTx<'_, '_> {
    fn reminder_plan(&mut self, sql: &str) -> StoreResult<Option<Timestamp>> {
        let through: Option<i64> = get(&self.query_one(sql, &[])?, 0)?;
        through.map(ts).transpose()
    }
}
