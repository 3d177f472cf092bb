//! [`ChatTx`] on PostgreSQL. A conversation's row is locked (inside a write) while a
//! message is numbered, and live-event ids are taken under a per-user advisory lock
//! held to commit, in user-id order, so each user's ids commit in order.

use ::postgres::Row;

use super::{PgTx, get, has_nul, ms, ts};
use crate::store::chat::sorted_users;
use crate::store::*;

const CONVERSATION_COLUMNS: &str = "c.id, c.patient_id, c.doctor_id, c.created_at, c.closed_at, \
     c.last_seq, c.last_message_at, (SELECT MAX(a.created_at) FROM appointments a \
     WHERE a.patient_id = c.patient_id AND a.doctor_id = c.doctor_id)";

fn opt_ts(value: Option<i64>) -> StoreResult<Option<jiff::Timestamp>> {
    value.map(ts).transpose()
}

fn conversation_from_row(row: &Row) -> StoreResult<ConversationRecord> {
    Ok(ConversationRecord {
        id: get(row, 0)?,
        patient_id: UserId::new(get::<String>(row, 1)?),
        doctor_id: UserId::new(get::<String>(row, 2)?),
        created_at: ts(get(row, 3)?)?,
        closed_at: opt_ts(get(row, 4)?)?,
        last_seq: get(row, 5)?,
        last_message_at: opt_ts(get(row, 6)?)?,
        last_booked_at: opt_ts(get(row, 7)?)?,
    })
}

const MESSAGE_COLUMNS: &str =
    "conversation_id, seq, sender_id, client_id, body, sent_at, attachment_id";

fn message_from_row(row: &Row) -> StoreResult<MessageRecord> {
    Ok(MessageRecord {
        conversation_id: get(row, 0)?,
        seq: get(row, 1)?,
        sender_id: UserId::new(get::<String>(row, 2)?),
        client_id: get(row, 3)?,
        body: get(row, 4)?,
        sent_at: ts(get(row, 5)?)?,
        attachment_id: get(row, 6)?,
    })
}

impl ChatTx for PgTx<'_, '_> {
    fn find_conversation(&mut self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        if has_nul(id) {
            return Ok(None);
        }
        let lock = if self.locking {
            " FOR NO KEY UPDATE OF c"
        } else {
            ""
        };
        self.query_opt(
            &format!("SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1{lock}"),
            &[&id],
        )?
        .as_ref()
        .map(conversation_from_row)
        .transpose()
    }

    fn find_conversation_of(
        &mut self,
        patient: &UserId,
        doctor: &UserId,
    ) -> StoreResult<Option<ConversationRecord>> {
        if has_nul(patient.as_str()) || has_nul(doctor.as_str()) {
            return Ok(None);
        }
        self.query_opt(
            &format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
                 WHERE c.patient_id = $1 AND c.doctor_id = $2"
            ),
            &[&patient.as_str(), &doctor.as_str()],
        )?
        .as_ref()
        .map(conversation_from_row)
        .transpose()
    }

    fn insert_conversation(&mut self, c: &ConversationRecord) -> StoreResult<()> {
        self.execute(
            "INSERT INTO conversations (id, patient_id, doctor_id, created_at, closed_at, \
             last_seq, last_message_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (patient_id, doctor_id) DO NOTHING",
            &[
                &c.id,
                &c.patient_id.as_str(),
                &c.doctor_id.as_str(),
                &ms(c.created_at),
                &c.closed_at.map(ms),
                &c.last_seq,
                &c.last_message_at.map(ms),
            ],
        )?;
        Ok(())
    }

    fn close_conversation(&mut self, id: &str, at: jiff::Timestamp) -> StoreResult<()> {
        self.execute(
            "UPDATE conversations SET closed_at = $2 WHERE id = $1",
            &[&id, &ms(at)],
        )?;
        Ok(())
    }

    fn list_conversations(
        &mut self,
        user: &UserId,
        limit: u32,
    ) -> StoreResult<Vec<ConversationSummary>> {
        if has_nul(user.as_str()) {
            return Ok(Vec::new());
        }
        let rows = self.query(
            &format!(
                "SELECT {CONVERSATION_COLUMNS}, p.name, d.name, \
                 (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id \
                  AND m.sender_id <> $1 AND m.seq > COALESCE((SELECT r.read_seq \
                  FROM conversation_reads r WHERE r.conversation_id = c.id AND r.user_id = $1), 0)) \
                 FROM conversations c JOIN users p ON p.id = c.patient_id \
                 JOIN users d ON d.id = c.doctor_id \
                 WHERE c.patient_id = $1 OR c.doctor_id = $1 \
                 ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id LIMIT $2"
            ),
            &[&user.as_str(), &i64::from(limit)],
        )?;
        rows.iter()
            .map(|row| {
                Ok(ConversationSummary {
                    conversation: conversation_from_row(row)?,
                    patient_name: get(row, 8)?,
                    doctor_name: get(row, 9)?,
                    unread: get(row, 10)?,
                })
            })
            .collect()
    }

    fn unread_messages(&mut self, user: &UserId) -> StoreResult<i64> {
        if has_nul(user.as_str()) {
            return Ok(0);
        }
        get(
            &self.query_one(
                "SELECT COUNT(*) FROM conversations c JOIN messages m ON m.conversation_id = c.id \
                 LEFT JOIN conversation_reads r ON r.conversation_id = c.id AND r.user_id = $1 \
                 WHERE (c.patient_id = $1 OR c.doctor_id = $1) AND m.sender_id <> $1 \
                 AND m.seq > COALESCE(r.read_seq, 0)",
                &[&user.as_str()],
            )?,
            0,
        )
    }

    fn last_booked_between(
        &mut self,
        patient: &UserId,
        doctor: &UserId,
    ) -> StoreResult<Option<jiff::Timestamp>> {
        if has_nul(patient.as_str()) || has_nul(doctor.as_str()) {
            return Ok(None);
        }
        let row = self.query_one(
            "SELECT MAX(created_at) FROM appointments WHERE patient_id = $1 AND doctor_id = $2",
            &[&patient.as_str(), &doctor.as_str()],
        )?;
        opt_ts(get(&row, 0)?)
    }

    fn find_message_by_client_id(
        &mut self,
        conversation: &str,
        sender: &UserId,
        client_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        if has_nul(conversation) || has_nul(client_id) {
            return Ok(None);
        }
        self.query_opt(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 \
                 AND sender_id = $2 AND client_id = $3"
            ),
            &[&conversation, &sender.as_str(), &client_id],
        )?
        .as_ref()
        .map(message_from_row)
        .transpose()
    }

    fn next_message_seq(&mut self, conversation: &str, at: jiff::Timestamp) -> StoreResult<i64> {
        get(
            &self.query_one(
                "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = $2 \
                 WHERE id = $1 RETURNING last_seq",
                &[&conversation, &ms(at)],
            )?,
            0,
        )
    }

    fn insert_message(&mut self, m: &MessageRecord) -> StoreResult<()> {
        self.execute(
            &format!(
                "INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            &[
                &m.conversation_id,
                &m.seq,
                &m.sender_id.as_str(),
                &m.client_id,
                &m.body,
                &ms(m.sent_at),
                &m.attachment_id,
            ],
        )?;
        Ok(())
    }

    fn list_messages(
        &mut self,
        conversation: &str,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>> {
        if has_nul(conversation) {
            return Ok(Vec::new());
        }
        let rows = self.query(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND seq > $2 \
                 ORDER BY seq LIMIT $3"
            ),
            &[&conversation, &after, &i64::from(limit)],
        )?;
        rows.iter().map(message_from_row).collect()
    }

    fn count_messages_since(
        &mut self,
        sender: &UserId,
        since: jiff::Timestamp,
    ) -> StoreResult<i64> {
        get(
            &self.query_one(
                "SELECT COUNT(*) FROM messages WHERE sender_id = $1 AND sent_at >= $2",
                &[&sender.as_str(), &ms(since)],
            )?,
            0,
        )
    }

    fn read_state(&mut self, conversation: &str, user: &UserId) -> StoreResult<ReadState> {
        if has_nul(conversation) {
            return Ok(ReadState::default());
        }
        let row = self.query_opt(
            "SELECT delivered_seq, read_seq FROM conversation_reads \
             WHERE conversation_id = $1 AND user_id = $2",
            &[&conversation, &user.as_str()],
        )?;
        match row {
            Some(row) => Ok(ReadState {
                delivered_seq: get(&row, 0)?,
                read_seq: get(&row, 1)?,
            }),
            None => Ok(ReadState::default()),
        }
    }

    fn save_read_state(
        &mut self,
        conversation: &str,
        user: &UserId,
        state: ReadState,
    ) -> StoreResult<()> {
        self.execute(
            "INSERT INTO conversation_reads (conversation_id, user_id, delivered_seq, read_seq) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (conversation_id, user_id) DO UPDATE \
             SET delivered_seq = excluded.delivered_seq, read_seq = excluded.read_seq",
            &[
                &conversation,
                &user.as_str(),
                &state.delivered_seq,
                &state.read_seq,
            ],
        )?;
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
        for user in sorted_users(users) {
            // Held to commit: the next writer of this user's stream waits, then
            // reads this one's id (READ COMMITTED: a new statement, a new snapshot).
            self.query_one(
                "SELECT pg_advisory_xact_lock(hashtextextended('carebook_live:' || $1, 0))",
                &[&user.as_str()],
            )?;
            let row = self.query_one(
                "INSERT INTO live_events (user_id, id, kind, data, at) VALUES ($1, \
                 (SELECT COALESCE(MAX(id), 0) + 1 FROM live_events WHERE user_id = $1), \
                 $2, $3, $4) RETURNING id",
                &[&user.as_str(), &kind, &data, &ms(at)],
            )?;
            ids.push((user.clone(), get(&row, 0)?));
        }
        Ok(ids)
    }

    fn live_events_after(
        &mut self,
        user: &UserId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<LiveEventRecord>> {
        if has_nul(user.as_str()) {
            return Ok(Vec::new());
        }
        let rows = self.query(
            "SELECT user_id, id, kind, data, at FROM live_events WHERE user_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
            &[&user.as_str(), &after, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|row| {
                Ok(LiveEventRecord {
                    user_id: UserId::new(get::<String>(row, 0)?),
                    id: get(row, 1)?,
                    kind: get(row, 2)?,
                    data: get(row, 3)?,
                    at: ts(get(row, 4)?)?,
                })
            })
            .collect()
    }

    fn last_live_event_id(&mut self, user: &UserId) -> StoreResult<i64> {
        if has_nul(user.as_str()) {
            return Ok(0);
        }
        get(
            &self.query_one(
                "SELECT COALESCE(MAX(id), 0) FROM live_events WHERE user_id = $1",
                &[&user.as_str()],
            )?,
            0,
        )
    }

    fn live_events_to_prune(
        &mut self,
        before: jiff::Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<(UserId, i64)>> {
        let rows = self.query(
            "SELECT user_id, id FROM live_events AS e WHERE at < $1 \
             AND id < (SELECT MAX(id) FROM live_events WHERE user_id = e.user_id) LIMIT $2",
            &[&ms(before), &i64::from(limit)],
        )?;
        rows.iter()
            .map(|row| Ok((UserId::new(get::<String>(row, 0)?), get(row, 1)?)))
            .collect()
    }

    fn delete_live_events(&mut self, events: &[(UserId, i64)]) -> StoreResult<u64> {
        let users: Vec<&str> = events.iter().map(|(user, _)| user.as_str()).collect();
        let ids: Vec<i64> = events.iter().map(|(_, id)| *id).collect();
        self.execute(
            "DELETE FROM live_events WHERE (user_id, id) IN \
             (SELECT * FROM UNNEST($1::text[], $2::bigint[]))",
            &[&users, &ids],
        )
    }
}
