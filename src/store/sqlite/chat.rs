//! [`ChatTx`] on SQLite. One writer: sequence numbers and live-event ids are taken
//! one transaction at a time, so `MAX + 1` is safe.
//!
//! The live stream's key is written in batches (migration 22): an event goes into
//! `live_events` and the writer's own `temp.live_pending`, and [`LiveKeys`] copies
//! the pending keys into `live_event_keys` later. Everything up to
//! `live_events_keyed.through` is keyed; a read takes the key up to there and the
//! few events after it from the table itself, whose rows lie in arrival order.

use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use super::{SqliteTx, ms, ts};
use crate::store::chat::sorted_users;
use crate::store::*;

/// A user's next live-stream id: the highest in the writer's pending keys or in the
/// key table, plus one. Every event not yet in the key table is pending (see
/// [`LiveKeys::start`] for the events a stop left behind).
pub(super) const NEXT_LIVE_EVENT_ID: &str = "SELECT max(\
     coalesce((SELECT MAX(id) FROM temp.live_pending WHERE user_id = ?1), 0), \
     coalesce((SELECT MAX(id) FROM live_event_keys WHERE user_id = ?1), 0)) + 1";
/// A user's events after an id, among those keyed (`?4`: the last keyed event).
pub(super) const KEYED_LIVE_EVENTS_AFTER: &str = "SELECT e.user_id, e.id, e.kind, e.data, e.at \
     FROM live_event_keys AS k JOIN live_events AS e ON e.rowid = k.event \
     WHERE k.user_id = ?1 AND k.id > ?2 AND k.event <= ?4 ORDER BY k.id LIMIT ?3";
/// A user's events after an id, among those not keyed yet (after `?4`): a short
/// stretch at the end of the table.
pub(super) const UNKEYED_LIVE_EVENTS_AFTER: &str = "SELECT user_id, id, kind, data, at FROM live_events \
     WHERE rowid > ?4 AND user_id = ?1 AND id > ?2 ORDER BY rowid LIMIT ?3";
/// The stream as a table in key order, for a copy; every event is keyed then.
pub(super) const LIVE_EVENTS_IN_KEY_ORDER: &str = "(SELECT k.user_id AS user_id, k.id AS id, \
     e.kind AS kind, e.data AS data, e.at AS at \
     FROM live_event_keys AS k JOIN live_events AS e ON e.rowid = k.event) AS live_events";
const LAST_KEYED_EVENT: &str = "SELECT through FROM live_events_keyed";

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
        // costs SQLite a temporary B-tree per run. All three run inside the write
        // transaction, which SQLite lets only one connection hold: no other append
        // comes between them, and a request rolled back takes its pending keys with
        // it (the temporary table is part of the transaction), leaving no gap.
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
            let event = self.conn.last_insert_rowid();
            self.conn
                .prepare_cached(
                    "INSERT INTO temp.live_pending (user_id, id, event) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![user.as_str(), id, event])?;
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
        // Within a user's stream, every keyed event comes before every unkeyed one:
        // both are in arrival order, and the key is written in that order.
        let keyed_through = last_keyed_event(self.conn)?;
        let mut events = live_events(
            self.conn,
            KEYED_LIVE_EVENTS_AFTER,
            (user, after, limit, keyed_through),
        )?;
        let left = limit.saturating_sub(events.len() as u32);
        if left > 0 {
            let after = events.last().map_or(after, |e| e.id);
            events.extend(live_events(
                self.conn,
                UNKEYED_LIVE_EVENTS_AFTER,
                (user, after, left, keyed_through),
            )?);
        }
        Ok(events)
    }

    fn last_live_event_id(&mut self, user: &UserId) -> StoreResult<i64> {
        let keyed_through = last_keyed_event(self.conn)?;
        Ok(self
            .conn
            .prepare_cached(
                "SELECT max(\
                 coalesce((SELECT MAX(id) FROM live_events WHERE rowid > ?2 AND user_id = ?1), 0), \
                 coalesce((SELECT MAX(id) FROM live_event_keys WHERE user_id = ?1), 0))",
            )?
            .query_row(params![user.as_str(), keyed_through], |row| row.get(0))?)
    }

    fn live_events_to_prune(
        &mut self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(UserId, i64)>> {
        // Oldest first; each user's last event stays (keyed or not), so that their
        // next id goes on from it and the newest row, whose rowid SQLite would
        // hand out again, is never deleted.
        let keyed_through = last_keyed_event(self.conn)?;
        let mut statement = self.conn.prepare_cached(
            "WITH unkeyed (user_id, last) AS MATERIALIZED \
                 (SELECT user_id, MAX(id) FROM live_events WHERE rowid > ?3 GROUP BY user_id) \
             SELECT user_id, id FROM live_events AS e WHERE at < ?1 AND id < max(\
                 coalesce((SELECT last FROM unkeyed WHERE user_id = e.user_id), 0), \
                 coalesce((SELECT MAX(id) FROM live_event_keys WHERE user_id = e.user_id), 0)) \
             LIMIT ?2",
        )?;
        let rows = statement.query_map(params![ms(before), limit, keyed_through], |row| {
            Ok((UserId::new(row.get::<_, String>(0)?), row.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_live_events(&mut self, events: &[(UserId, i64)]) -> StoreResult<u64> {
        let keyed_through = last_keyed_event(self.conn)?;
        let mut deleted = 0;
        for (user, id) in events {
            let keyed: Option<i64> = self
                .conn
                .prepare_cached(
                    "DELETE FROM live_event_keys WHERE user_id = ?1 AND id = ?2 RETURNING event",
                )?
                .query_row(params![user.as_str(), id], |row| row.get(0))
                .optional()?;
            deleted += match keyed {
                Some(event) => self
                    .conn
                    .prepare_cached("DELETE FROM live_events WHERE rowid = ?1")?
                    .execute([event])?,
                // Not keyed yet: among the last events, and its key pending.
                None => {
                    self.conn
                        .prepare_cached(
                            "DELETE FROM temp.live_pending WHERE user_id = ?1 AND id = ?2",
                        )?
                        .execute(params![user.as_str(), id])?;
                    self.conn
                        .prepare_cached(
                            "DELETE FROM live_events WHERE rowid > ?3 AND user_id = ?1 AND id = ?2",
                        )?
                        .execute(params![user.as_str(), id, keyed_through])?
                }
            } as u64;
        }
        Ok(deleted)
    }
}

fn last_keyed_event(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached(LAST_KEYED_EVENT)?
        .query_row([], |row| row.get(0))
}

fn live_events(
    conn: &Connection,
    query: &str,
    (user, after, limit, keyed_through): (&UserId, i64, u32, i64),
) -> StoreResult<Vec<LiveEventRecord>> {
    let mut statement = conn.prepare_cached(query)?;
    let rows = statement.query_map(params![user.as_str(), after, limit, keyed_through], |row| {
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

/// How often the writer starts a batch of the live stream's keys. The longer, the
/// more of a batch's entries share a leaf (one WAL frame for them all); the writes
/// of a batch are spread over several commits (`LIVE_KEYS_PER_PART`).
const LIVE_KEY_BATCH_EVERY: Duration = Duration::from_secs(1);
/// Keys written per commit of a batch: one part is one range of users, so the parts
/// of a batch touch different leaves, and no commit stalls the bookings behind it.
const LIVE_KEYS_PER_PART: i64 = 2048;

/// Writes the live stream's keys in batches, on the writer's connection, between its
/// group commits.
pub(super) struct LiveKeys {
    /// The last event of the batch being keyed, if one is.
    batch_through: Option<i64>,
    batch_started: Instant,
}

impl LiveKeys {
    /// Makes the writer's table of pending keys and keys every event a stop left
    /// unkeyed, so that every event not in the key table is pending from now on.
    pub(super) fn start(conn: &Connection) -> rusqlite::Result<LiveKeys> {
        conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS live_pending (
                 user_id TEXT NOT NULL,
                 id      INTEGER NOT NULL,
                 event   INTEGER NOT NULL,
                 PRIMARY KEY (user_id, id)
             ) WITHOUT ROWID;
             BEGIN IMMEDIATE;",
        )?;
        let keyed = key_every_event(conn).and_then(|()| conn.execute_batch("COMMIT"));
        if keyed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        keyed?;
        Ok(LiveKeys {
            batch_through: None,
            batch_started: Instant::now(),
        })
    }

    /// Writes one part of the current batch, or starts a batch if one is due.
    /// Says whether it committed anything.
    pub(super) fn after_commit(&mut self, conn: &Connection) -> bool {
        self.next_part(conn, false)
    }

    /// Keys every pending event (the store is closing).
    pub(super) fn finish(mut self, conn: &Connection) {
        while self.next_part(conn, true) {}
    }

    fn next_part(&mut self, conn: &Connection, now: bool) -> bool {
        if self.batch_through.is_none() {
            if !now && self.batch_started.elapsed() < LIVE_KEY_BATCH_EVERY {
                return false;
            }
            self.batch_started = Instant::now();
            match newest_pending_event(conn) {
                Ok(Some(through)) => self.batch_through = Some(through),
                Ok(None) => return false,
                Err(error) => {
                    tracing::error!(%error, "live stream: could not read the pending keys");
                    return false;
                }
            }
        }
        let Some(through) = self.batch_through else {
            return false;
        };
        match key_part(conn, through, LIVE_KEYS_PER_PART) {
            Ok(finished) => {
                if finished {
                    self.batch_through = None;
                }
                true
            }
            Err(error) => {
                // Tried again with the next batch, not after every commit: meanwhile
                // the events are read from the table's unkeyed stretch.
                let _ = conn.execute_batch("ROLLBACK");
                self.batch_through = None;
                tracing::error!(%error, "live stream: could not write a batch of keys; it is tried again");
                false
            }
        }
    }
}

/// Keys every event not keyed yet, at once, inside the caller's transaction: at
/// start-up, and after rows were copied into the stream (`carebook copy`).
pub(super) fn key_every_event(conn: &Connection) -> rusqlite::Result<()> {
    // A part of a batch may have been keyed before a stop: its keys are there.
    conn.execute_batch(
        "INSERT OR IGNORE INTO live_event_keys (user_id, id, event)
             SELECT user_id, id, rowid FROM live_events
             WHERE rowid > (SELECT through FROM live_events_keyed) ORDER BY user_id, id;
         UPDATE live_events_keyed SET through =
             max(through, (SELECT coalesce(MAX(rowid), 0) FROM live_events));",
    )?;
    forget_pending_keys(conn)
}

/// Empties the stream's key along with the stream (`carebook copy` over a
/// database that has one).
pub(super) fn delete_every_key(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("DELETE FROM live_event_keys; UPDATE live_events_keyed SET through = 0;")?;
    forget_pending_keys(conn)
}

/// Every pending key is in the key table now, or its event is gone.
fn forget_pending_keys(conn: &Connection) -> rusqlite::Result<()> {
    let writer: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM temp.sqlite_schema WHERE name = 'live_pending')",
        )?
        .query_row([], |row| row.get(0))?;
    if writer {
        conn.prepare_cached("DELETE FROM temp.live_pending")?
            .execute([])?;
    }
    Ok(())
}

/// The newest event whose key is pending: the newest row of the stream, if any key
/// is pending at all.
fn newest_pending_event(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(
        "SELECT (SELECT MAX(rowid) FROM live_events) WHERE EXISTS (SELECT 1 FROM temp.live_pending)",
    )?
    .query_row([], |row| row.get(0))
    .optional()
    .map(Option::flatten)
}

/// Moves the first `part` pending keys (in key order) of the events up to `through`
/// into the key table, in a transaction of its own; a part shorter than `part` is
/// the last and also marks them all keyed. Says whether the batch is finished.
pub(super) fn key_part(conn: &Connection, through: i64, part: i64) -> rusqlite::Result<bool> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    // The last key of this part: the part is every pending key up to it.
    let last: Option<(String, i64)> = conn
        .prepare_cached(
            "SELECT user_id, id FROM (SELECT user_id, id FROM temp.live_pending WHERE event <= ?1 \
             ORDER BY user_id, id LIMIT ?2) ORDER BY user_id DESC, id DESC LIMIT 1",
        )?
        .query_row(params![through, part], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let mut moved = 0;
    if let Some((user, id)) = last {
        conn.prepare_cached(
            "INSERT INTO live_event_keys (user_id, id, event) \
             SELECT user_id, id, event FROM temp.live_pending \
             WHERE event <= ?1 AND (user_id, id) <= (?2, ?3) ORDER BY user_id, id",
        )?
        .execute(params![through, user, id])?;
        moved = conn
            .prepare_cached(
                "DELETE FROM temp.live_pending WHERE event <= ?1 AND (user_id, id) <= (?2, ?3)",
            )?
            .execute(params![through, user, id])?;
    }
    // A short part is the batch's last.
    let finished = (moved as i64) < part;
    if finished {
        conn.prepare_cached("UPDATE live_events_keyed SET through = max(through, ?1)")?
            .execute([through])?;
    }
    conn.execute_batch("COMMIT")?;
    Ok(finished)
}
