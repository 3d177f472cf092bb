//! [`ChatTx`] on SQLite. One writer: sequence numbers and live-event ids are taken
//! one transaction at a time, so `MAX + 1` is safe.

use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, ms, ts};
use crate::store::chat::sorted_users;
use crate::store::*;

/// A user's next live-stream id, and the events after one: both read the key.
pub(super) const NEXT_LIVE_EVENT_ID: &str =
    "SELECT COALESCE(MAX(id), 0) + 1 FROM live_events WHERE user_id = ?1";
pub(super) const LIVE_EVENTS_AFTER: &str = "SELECT user_id, id, kind, data, at FROM live_events WHERE user_id = ?1 AND id > ?2 \
     ORDER BY id LIMIT ?3";

const CONVERSATION_COLUMNS: &str = "c.id, c.patient_id, c.doctor_id, c.created_at, c.closed_at, \
     c.last_seq, c.last_message_at, (SELECT MAX(a.created_at) FROM appointments a \
     WHERE a.patient_id = c.patient_id AND a.doctor_id = c.doctor_id)";

fn conversation_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ConversationRecord> {
    Ok(ConversationRecord {
        id: row.get(0)?,
        patient_id: UserId::new(row.get::<_, String>(1)?),
        doctor_id: UserId::new(row.get::<_, String>(2)?),
        created_at: ts(row.get(3)?)?,
        closed_at: row.get::<_, Option<i64>>(4)?.map(ts).transpose()?,
        last_seq: row.get(5)?,
        last_message_at: row.get::<_, Option<i64>>(6)?.map(ts).transpose()?,
        last_booked_at: row.get::<_, Option<i64>>(7)?.map(ts).transpose()?,
    })
}

const MESSAGE_COLUMNS: &str =
    "conversation_id, seq, sender_id, client_id, body, sent_at, attachment_id";

fn message_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRecord> {
    Ok(MessageRecord {
        conversation_id: row.get(0)?,
        seq: row.get(1)?,
        sender_id: UserId::new(row.get::<_, String>(2)?),
        client_id: row.get(3)?,
        body: row.get(4)?,
        sent_at: ts(row.get(5)?)?,
        attachment_id: row.get(6)?,
    })
}

impl ChatTx for SqliteTx<'_> {
    fn find_conversation(&mut self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = ?1"
            ))?
            .query_row([id], conversation_from_row)
            .optional()?)
    }

    fn find_conversation_of(
        &mut self,
        patient: &UserId,
        doctor: &UserId,
    ) -> StoreResult<Option<ConversationRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
                 WHERE c.patient_id = ?1 AND c.doctor_id = ?2"
            ))?
            .query_row([patient.as_str(), doctor.as_str()], conversation_from_row)
            .optional()?)
    }

    fn insert_conversation(&mut self, c: &ConversationRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO conversations (id, patient_id, doctor_id, created_at, closed_at, \
                 last_seq, last_message_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (patient_id, doctor_id) DO NOTHING",
            )?
            .execute(params![
                c.id,
                c.patient_id.as_str(),
                c.doctor_id.as_str(),
                ms(c.created_at),
                c.closed_at.map(ms),
                c.last_seq,
                c.last_message_at.map(ms),
            ])?;
        Ok(())
    }

    fn close_conversation(&mut self, id: &str, at: jiff::Timestamp) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE conversations SET closed_at = ?2 WHERE id = ?1")?
            .execute(params![id, ms(at)])?;
        Ok(())
    }

    fn list_conversations(
        &mut self,
        user: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {CONVERSATION_COLUMNS}, p.name, d.name, \
             (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id \
              AND m.sender_id <> ?1 AND m.seq > COALESCE((SELECT r.read_seq \
              FROM conversation_reads r WHERE r.conversation_id = c.id AND r.user_id = ?1), 0)) \
             FROM conversations c JOIN users p ON p.id = c.patient_id \
             JOIN users d ON d.id = c.doctor_id \
             WHERE c.patient_id = ?1 OR c.doctor_id = ?1 \
             ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id LIMIT ?2"
        ))?;
        let rows = statement.query_map(params![user.as_str(), limit], |row| {
            Ok(ConversationSummary {
                conversation: conversation_from_row(row)?,
                patient_name: row.get(8)?,
                doctor_name: row.get(9)?,
                unread: row.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn unread_messages(&mut self, user: &UserId) -> StoreResult<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM conversations c JOIN messages m ON m.conversation_id = c.id \
                 LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.user_id = ?1 \
                 WHERE (c.patient_id = ?1 OR c.doctor_id = ?1) AND m.sender_id <> ?1 \
                 AND m.seq > COALESCE(r.read_seq, 0)",
            )?
            .query_row([user.as_str()], |row| row.get(0))?)
    }

    fn last_booked_between(
        &mut self,
        patient: &UserId,
        doctor: &UserId,
    ) -> StoreResult<Option<jiff::Timestamp>> {
        let at: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT MAX(created_at) FROM appointments WHERE patient_id = ?1 AND doctor_id = ?2",
            )?
            .query_row([patient.as_str(), doctor.as_str()], |row| row.get(0))?;
        Ok(at.map(ts).transpose()?)
    }

    fn find_message_by_client_id(
        &mut self,
        conversation: &str,
        sender: &UserId,
        client_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 \
                 AND sender_id = ?2 AND client_id = ?3"
            ))?
            .query_row([conversation, sender.as_str(), client_id], message_from_row)
            .optional()?)
    }

    fn next_message_seq(&mut self, conversation: &str, at: jiff::Timestamp) -> StoreResult<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?2 \
                 WHERE id = ?1 RETURNING last_seq",
            )?
            .query_row(params![conversation, ms(at)], |row| row.get(0))?)
    }

    fn insert_message(&mut self, m: &MessageRecord) -> StoreResult<()> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
            .execute(params![
                m.conversation_id,
                m.seq,
                m.sender_id.as_str(),
                m.client_id,
                m.body,
                ms(m.sent_at),
                m.attachment_id,
            ])?;
        Ok(())
    }

    fn list_messages(
        &mut self,
        conversation: &str,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>> {
        let mut statement = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ?1 AND seq > ?2 \
             ORDER BY seq LIMIT ?3"
        ))?;
        let rows = statement.query_map(params![conversation, after, limit], message_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count_messages_since(
        &mut self,
        sender: &UserId,
        since: jiff::Timestamp,
    ) -> StoreResult<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM messages WHERE sender_id = ?1 AND sent_at >= ?2")?
            .query_row(params![sender.as_str(), ms(since)], |row| row.get(0))?)
    }

    fn read_state(&mut self, conversation: &str, user: &UserId) -> StoreResult<ReadState> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT delivered_seq, read_seq FROM conversation_reads \
                 WHERE conversation_id = ?1 AND user_id = ?2",
            )?
            .query_row([conversation, user.as_str()], |row| {
                Ok(ReadState {
                    delivered_seq: row.get(0)?,
                    read_seq: row.get(1)?,
                })
            })
            .optional()?
            .unwrap_or_default())
    }

    fn save_read_state(
        &mut self,
        conversation: &str,
        user: &UserId,
        state: ReadState,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO conversation_reads (conversation_id, user_id, delivered_seq, read_seq) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (conversation_id, user_id) DO UPDATE \
                 SET delivered_seq = excluded.delivered_seq, read_seq = excluded.read_seq",
            )?
            .execute(params![
                conversation,
                user.as_str(),
                state.delivered_seq,
                state.read_seq
            ])?;
        Ok(())
    }

    fn append_live_event(
        &mut self,
        users: &[&UserId],
        kind: &str,
        data: &str,
        at: jiff::Timestamp,
    ) -> StoreResult<Vec<(UserId, i64)>> {
        let mut ids = Vec::with_capacity(users.len());
        // The next number is read first rather than returned by the insert: RETURNING
        // costs SQLite a temporary B-tree per run. Both run inside the write
        // transaction, which SQLite lets only one connection hold: no other append
        // comes between them.
        for user in sorted_users(users) {
            let id: i64 = self
                .conn
                .prepare_cached(NEXT_LIVE_EVENT_ID)?
                .query_row([user.as_str()], |row| row.get(0))?;
            self.conn
                .prepare_cached(
                    "INSERT INTO live_events (user_id, id, kind, data, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![user.as_str(), id, kind, data, ms(at)])?;
            ids.push((user.clone(), id));
        }
        Ok(ids)
    }

    fn live_events_after(
        &mut self,
        user: &UserId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<LiveEventRecord>> {
        let mut statement = self.conn.prepare_cached(LIVE_EVENTS_AFTER)?;
        let rows = statement.query_map(params![user.as_str(), after, limit], |row| {
            Ok(LiveEventRecord {
                user_id: UserId::new(row.get::<_, String>(0)?),
                id: row.get(1)?,
                kind: row.get(2)?,
                data: row.get(3)?,
                at: ts(row.get(4)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn last_live_event_id(&mut self, user: &UserId) -> StoreResult<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM live_events WHERE user_id = ?1")?
            .query_row([user.as_str()], |row| row.get(0))?)
    }

    fn live_events_to_prune(
        &mut self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(UserId, i64)>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT user_id, id FROM live_events AS e WHERE at < ?1 \
             AND id < (SELECT MAX(id) FROM live_events WHERE user_id = e.user_id) LIMIT ?2",
        )?;
        let rows = statement.query_map(params![ms(before), limit], |row| {
            Ok((UserId::new(row.get::<_, String>(0)?), row.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_live_events(&mut self, events: &[(UserId, i64)]) -> StoreResult<u64> {
        let mut statement = self
            .conn
            .prepare_cached("DELETE FROM live_events WHERE user_id = ?1 AND id = ?2")?;
        let mut deleted = 0;
        for (user, id) in events {
            deleted += statement.execute(params![user.as_str(), id])? as u64;
        }
        Ok(deleted)
    }
}
