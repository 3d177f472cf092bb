//! [`NotificationTx`] on SQLite. Claims need no row locks: SQLite has one writer,
//! so a claim's read and update cannot interleave with another's.

use std::sync::LazyLock;

use rusqlite::types::Value;
use rusqlite::{OptionalExtension, Row, params, params_from_iter};

use super::{SqliteTx, bad, ms, push_cursor, ts, where_sql};
use crate::store::*;

const DELIVERY_COLUMNS: &str = "id, idempotency_key, channel, kind, user_id, appointment_id, target, \
     payload, status, due_at, attempts, lease_owner, lease_until, last_error, created_at, \
     updated_at, sent_at";

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    let status: String = row.get(8)?;
    Ok(DeliveryRecord {
        id: row.get(0)?,
        idempotency_key: row.get(1)?,
        channel: row.get(2)?,
        kind: row.get(3)?,
        user_id: row.get::<_, Option<String>>(4)?.map(UserId::new),
        appointment_id: row.get::<_, Option<String>>(5)?.map(AppointmentId::new),
        target: row.get(6)?,
        payload: row.get(7)?,
        status: DeliveryStatus::parse(&status).ok_or_else(|| bad(status))?,
        due_at: ts(row.get(9)?)?,
        attempts: row.get(10)?,
        lease_owner: row.get(11)?,
        lease_until: row.get::<_, Option<i64>>(12)?.map(ts).transpose()?,
        last_error: row.get(13)?,
        created_at: ts(row.get(14)?)?,
        updated_at: ts(row.get(15)?)?,
        sent_at: row.get::<_, Option<i64>>(16)?.map(ts).transpose()?,
    })
}

const NOTIFICATION_COLUMNS: &str =
    "id, user_id, kind, title, body, link, appointment_id, created_at, read_at";

fn notification_from_row(row: &Row<'_>) -> rusqlite::Result<NotificationRecord> {
    Ok(NotificationRecord {
        id: row.get(0)?,
        user_id: UserId::new(row.get::<_, String>(1)?),
        kind: row.get(2)?,
        title: row.get(3)?,
        body: row.get(4)?,
        link: row.get(5)?,
        appointment_id: row.get::<_, Option<String>>(6)?.map(AppointmentId::new),
        created_at: ts(row.get(7)?)?,
        read_at: row.get::<_, Option<i64>>(8)?.map(ts).transpose()?,
    })
}

/// A page of `?1`'s notifications, newest first, `?2` at most; after the cursor
/// `(?3, ?4)` when `after_cursor`. The index holds each user's unread ones apart from
/// the rest (so that a booking's notice writes one entry per recipient, not two;
/// migration 19): the page is the newest of each part's newest. A condition on the
/// user's notifications is written `(read_at IS NULL) = 1` or `= 0` to use that index.
pub(super) fn user_notifications(after_cursor: bool) -> &'static str {
    static FIRST: LazyLock<String> = LazyLock::new(|| user_notifications_sql(""));
    static AFTER: LazyLock<String> =
        LazyLock::new(|| user_notifications_sql("AND (created_at, id) < (?3, ?4)"));
    if after_cursor { &AFTER } else { &FIRST }
}

fn user_notifications_sql(after: &str) -> String {
    let part = |unread: u8| {
        format!(
            "SELECT * FROM (SELECT {NOTIFICATION_COLUMNS} FROM notifications \
             WHERE user_id = ?1 AND (read_at IS NULL) = {unread} {after} \
             ORDER BY created_at DESC, id DESC LIMIT ?2)"
        )
    };
    format!(
        "{} UNION ALL {} ORDER BY created_at DESC, id DESC LIMIT ?2",
        part(1),
        part(0)
    )
}

pub(super) const COUNT_UNREAD: &str =
    "SELECT COUNT(*) FROM notifications WHERE user_id = ?1 AND (read_at IS NULL) = 1";
pub(super) const MARK_ALL_READ: &str =
    "UPDATE notifications SET read_at = ?2 WHERE user_id = ?1 AND (read_at IS NULL) = 1";

/// Due when waiting and its time came, or when its sender's lease ran out.
const DUE: &str = "(status IN ('scheduled', 'retrying') AND due_at <= ?1) \
     OR (status = 'sending' AND lease_until <= ?1)";

impl NotificationTx for SqliteTx<'_> {
    fn find_notification_preferences(
        &mut self,
        user: &UserId,
    ) -> StoreResult<Option<NotificationPreferences>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT user_id, email_enabled, sms_enabled, updated_at \
                 FROM notification_preferences WHERE user_id = ?1",
            )?
            .query_row([user.as_str()], |row| {
                Ok(NotificationPreferences {
                    user_id: UserId::new(row.get::<_, String>(0)?),
                    email_enabled: row.get(1)?,
                    sms_enabled: row.get(2)?,
                    updated_at: ts(row.get(3)?)?,
                })
            })
            .optional()?)
    }

    fn upsert_notification_preferences(
        &mut self,
        preferences: &NotificationPreferences,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO notification_preferences (user_id, email_enabled, sms_enabled, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user_id) DO UPDATE SET \
                 email_enabled = excluded.email_enabled, sms_enabled = excluded.sms_enabled, \
                 updated_at = excluded.updated_at",
            )?
            .execute(params![
                preferences.user_id.as_str(),
                preferences.email_enabled,
                preferences.sms_enabled,
                ms(preferences.updated_at),
            ])?;
        Ok(())
    }

    fn insert_notification(&mut self, n: &NotificationRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO notifications ({NOTIFICATION_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?
            .execute(params![
                n.id,
                n.user_id.as_str(),
                n.kind,
                n.title,
                n.body,
                n.link,
                n.appointment_id.as_ref().map(|a| a.as_str()),
                ms(n.created_at),
                n.read_at.map(ms),
            ])?;
        Ok(())
    }

    fn list_notifications(
        &mut self,
        user: &UserId,
        page: &PageRequest,
    ) -> StoreResult<Vec<NotificationRecord>> {
        let limit = i64::from(page.limit);
        let mut statement;
        let rows = match &page.after {
            None => {
                statement = self.conn.prepare_cached(user_notifications(false))?;
                statement.query_map(params![user.as_str(), limit], notification_from_row)?
            }
            Some(cursor) => {
                let created_at: i64 = cursor.key.parse().map_err(|_| bad("cursor"))?;
                statement = self.conn.prepare_cached(user_notifications(true))?;
                statement.query_map(
                    params![user.as_str(), limit, created_at, cursor.id],
                    notification_from_row,
                )?
            }
        };
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count_unread_notifications(&mut self, user: &UserId) -> StoreResult<i64> {
        Ok(self
            .conn
            .prepare_cached(COUNT_UNREAD)?
            .query_row([user.as_str()], |row| row.get(0))?)
    }

    fn mark_notification_read(
        &mut self,
        user: &UserId,
        id: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let found = self
            .conn
            .prepare_cached(
                "UPDATE notifications SET read_at = COALESCE(read_at, ?3) \
                 WHERE id = ?1 AND user_id = ?2 RETURNING id",
            )?
            .query_row(params![id, user.as_str(), ms(at)], |_| Ok(()))
            .optional()?;
        Ok(found.is_some())
    }

    fn mark_all_notifications_read(&mut self, user: &UserId, at: Timestamp) -> StoreResult<u64> {
        let changed = self
            .conn
            .prepare_cached(MARK_ALL_READ)?
            .execute(params![user.as_str(), ms(at)])?;
        Ok(changed as u64)
    }

    fn insert_delivery(&mut self, d: &DeliveryRecord) -> StoreResult<bool> {
        let inserted = self
            .conn
            .prepare_cached(&format!(
                "INSERT INTO deliveries ({DELIVERY_COLUMNS}) VALUES \
                 (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17) \
                 ON CONFLICT (idempotency_key) DO NOTHING"
            ))?
            .execute(params![
                d.id,
                d.idempotency_key,
                d.channel,
                d.kind,
                d.user_id.as_ref().map(|u| u.as_str()),
                d.appointment_id.as_ref().map(|a| a.as_str()),
                d.target,
                d.payload,
                d.status.as_str(),
                ms(d.due_at),
                d.attempts,
                d.lease_owner,
                d.lease_until.map(ms),
                d.last_error,
                ms(d.created_at),
                ms(d.updated_at),
                d.sent_at.map(ms),
            ])?;
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
            "UPDATE deliveries SET status = 'sending', lease_owner = ?2, lease_until = ?3, \
             attempts = attempts + 1, updated_at = ?1 \
             WHERE id IN (SELECT id FROM deliveries WHERE {DUE} ORDER BY due_at, id LIMIT ?4) \
             RETURNING {DELIVERY_COLUMNS}"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(
            params![ms(now), owner, ms(lease_until), i64::from(limit)],
            delivery_from_row,
        )?;
        let mut claimed: Vec<DeliveryRecord> = rows.collect::<Result<_, _>>()?;
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
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE deliveries SET status = ?3, due_at = COALESCE(?4, due_at), \
                 last_error = COALESCE(?5, last_error), sent_at = COALESCE(?6, sent_at), \
                 lease_owner = NULL, lease_until = NULL, updated_at = ?7 \
                 WHERE id = ?1 AND lease_owner = ?2 AND status = 'sending'",
            )?
            .execute(params![
                id,
                owner,
                outcome.status.as_str(),
                outcome.due_at.map(ms),
                outcome.last_error,
                sent_at,
                ms(outcome.at),
            ])?;
        Ok(changed > 0)
    }

    fn cancel_pending_deliveries(
        &mut self,
        appointment: &AppointmentId,
        kind: &str,
        at: Timestamp,
        why: &str,
    ) -> StoreResult<u64> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE deliveries SET status = 'cancelled', last_error = ?4, updated_at = ?3 \
                 WHERE appointment_id = ?1 AND kind = ?2 AND status IN ('scheduled', 'retrying')",
            )?
            .execute(params![appointment.as_str(), kind, ms(at), why])?;
        Ok(changed as u64)
    }

    fn find_delivery(&mut self, id: &str) -> StoreResult<Option<DeliveryRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = ?1"
            ))?
            .query_row([id], delivery_from_row)
            .optional()?)
    }

    fn list_deliveries(
        &mut self,
        filter: &DeliveryFilter,
        page: &PageRequest,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if !filter.statuses.is_empty() {
            let marks = vec!["?"; filter.statuses.len()].join(", ");
            clauses.push(format!("status IN ({marks})"));
            values.extend(
                filter
                    .statuses
                    .iter()
                    .map(|s| Value::Text(s.as_str().to_owned())),
            );
        }
        if let Some(channel) = &filter.channel {
            clauses.push("channel = ?".to_owned());
            values.push(Value::Text(channel.clone()));
        }
        if let Some(appointment) = &filter.appointment_id {
            clauses.push("appointment_id = ?".to_owned());
            values.push(Value::Text(appointment.as_str().to_owned()));
        }
        if let Some(user) = &filter.user_id {
            clauses.push("user_id = ?".to_owned());
            values.push(Value::Text(user.as_str().to_owned()));
        }
        push_cursor(
            &mut clauses,
            &mut values,
            ("created_at", "id"),
            page.after.as_ref(),
            true,
            true,
        )?;
        values.push(Value::Integer(i64::from(page.limit)));
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries {} ORDER BY created_at DESC, id DESC LIMIT ?",
            where_sql(&clauses)
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params_from_iter(values), delivery_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn requeue_delivery(&mut self, id: &str, at: Timestamp) -> StoreResult<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE deliveries SET status = 'scheduled', due_at = ?2, attempts = 0, \
                 updated_at = ?2 WHERE id = ?1 AND status IN ('failed', 'dead')",
            )?
            .execute(params![id, ms(at)])?;
        Ok(changed > 0)
    }

    fn next_delivery_due(&mut self) -> StoreResult<Option<Timestamp>> {
        let next: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT MIN(due_at) FROM deliveries WHERE status IN ('scheduled', 'retrying')",
            )?
            .query_row([], |row| row.get(0))?;
        Ok(next.map(ts).transpose()?)
    }

    fn count_deliveries_by_status(&mut self) -> StoreResult<Vec<(DeliveryStatus, i64)>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT status, COUNT(*) FROM deliveries GROUP BY status")?;
        let rows = statement.query_map([], |row| {
            let status: String = row.get(0)?;
            Ok((
                DeliveryStatus::parse(&status).ok_or_else(|| bad(status))?,
                row.get(1)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn reminders_planned_through(&mut self) -> StoreResult<Option<Timestamp>> {
        let through: Option<i64> = self
            .conn
            .prepare_cached("SELECT planned_through FROM reminder_plan WHERE id = 1")?
            .query_row([], |row| row.get(0))?;
        Ok(through.map(ts).transpose()?)
    }

    fn begin_reminder_plan(&mut self) -> StoreResult<Option<Timestamp>> {
        // One writer at a time: the transaction already holds the database.
        self.reminders_planned_through()
    }

    fn set_reminders_planned_through(&mut self, through: Timestamp) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE reminder_plan SET planned_through = ?1 WHERE id = 1")?
            .execute([ms(through)])?;
        Ok(())
    }
}
