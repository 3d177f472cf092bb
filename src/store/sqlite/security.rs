//! [`SecurityTx`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, ms, ts};
use crate::store::*;

fn reset_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PasswordReset> {
    Ok(PasswordReset {
        token_hash: row.get(0)?,
        user_id: UserId::new(row.get::<_, String>(1)?),
        created_at: ts(row.get(2)?)?,
        expires_at: ts(row.get(3)?)?,
    })
}

impl SecurityTx for SqliteTx<'_> {
    fn replace_password_reset(&mut self, reset: &PasswordReset) -> StoreResult<()> {
        self.delete_password_resets_of(&reset.user_id)?;
        self.conn
            .prepare_cached(
                "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                reset.token_hash,
                reset.user_id.as_str(),
                ms(reset.created_at),
                ms(reset.expires_at),
            ])?;
        Ok(())
    }

    fn find_password_reset(&mut self, token_hash: &str) -> StoreResult<Option<PasswordReset>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT token_hash, user_id, created_at, expires_at FROM password_resets \
                 WHERE token_hash = ?1",
            )?
            .query_row([token_hash], reset_from_row)
            .optional()?)
    }

    fn take_password_reset(&mut self, token_hash: &str) -> StoreResult<Option<PasswordReset>> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM password_resets WHERE token_hash = ?1 \
                 RETURNING token_hash, user_id, created_at, expires_at",
            )?
            .query_row([token_hash], reset_from_row)
            .optional()?)
    }

    fn delete_password_resets_of(&mut self, user: &UserId) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM password_resets WHERE user_id = ?1")?
            .execute([user.as_str()])?;
        Ok(())
    }

    fn record_reset_request(&mut self, request: &ResetRequest) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO password_reset_requests (email, client, at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![request.email, request.client, ms(request.at)])?;
        Ok(())
    }

    fn count_reset_requests(&mut self, key: LoginKey<'_>, since: Timestamp) -> StoreResult<i64> {
        let (sql, value) = match key {
            LoginKey::Email(email) => (
                "SELECT COUNT(*) FROM password_reset_requests WHERE email = ?1 AND at >= ?2",
                email,
            ),
            LoginKey::Client(client) => (
                "SELECT COUNT(*) FROM password_reset_requests WHERE client = ?1 AND at >= ?2",
                client,
            ),
        };
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(params![value, ms(since)], |row| row.get(0))?)
    }

    fn upsert_email_verification(&mut self, v: &EmailVerification) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO email_verifications (user_id, token_hash, created_at, expires_at, verified_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id) DO UPDATE SET \
                 token_hash = excluded.token_hash, created_at = excluded.created_at, \
                 expires_at = excluded.expires_at, verified_at = excluded.verified_at",
            )?
            .execute(params![
                v.user_id.as_str(),
                v.token_hash,
                ms(v.created_at),
                ms(v.expires_at),
                v.verified_at.map(ms),
            ])?;
        Ok(())
    }

    fn find_email_verification(&mut self, user: &UserId) -> StoreResult<Option<EmailVerification>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT user_id, token_hash, created_at, expires_at, verified_at \
                 FROM email_verifications WHERE user_id = ?1",
            )?
            .query_row([user.as_str()], |row| {
                Ok(EmailVerification {
                    user_id: UserId::new(row.get::<_, String>(0)?),
                    token_hash: row.get(1)?,
                    created_at: ts(row.get(2)?)?,
                    expires_at: ts(row.get(3)?)?,
                    verified_at: row.get::<_, Option<i64>>(4)?.map(ts).transpose()?,
                })
            })
            .optional()?)
    }

    fn use_email_verification(
        &mut self,
        token_hash: &str,
        at: Timestamp,
    ) -> StoreResult<Option<UserId>> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE email_verifications SET verified_at = ?2, token_hash = NULL \
                 WHERE token_hash = ?1 AND verified_at IS NULL AND expires_at > ?2 \
                 RETURNING user_id",
            )?
            .query_row(params![token_hash, ms(at)], |row| {
                Ok(UserId::new(row.get::<_, String>(0)?))
            })
            .optional()?)
    }

    fn complete_email_verification(&mut self, user: &UserId, at: Timestamp) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE email_verifications SET verified_at = ?2, token_hash = NULL \
                 WHERE user_id = ?1 AND verified_at IS NULL",
            )?
            .execute(params![user.as_str(), ms(at)])?;
        Ok(())
    }

    fn find_totp(&mut self, user: &UserId) -> StoreResult<Option<TotpCredential>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT user_id, secret, created_at, confirmed_at, last_step \
                 FROM totp_credentials WHERE user_id = ?1",
            )?
            .query_row([user.as_str()], |row| {
                Ok(TotpCredential {
                    user_id: UserId::new(row.get::<_, String>(0)?),
                    secret: row.get(1)?,
                    created_at: ts(row.get(2)?)?,
                    confirmed_at: row.get::<_, Option<i64>>(3)?.map(ts).transpose()?,
                    last_step: row.get(4)?,
                })
            })
            .optional()?)
    }

    fn upsert_totp(&mut self, c: &TotpCredential) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO totp_credentials (user_id, secret, created_at, confirmed_at, last_step) \
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id) DO UPDATE SET \
                 secret = excluded.secret, created_at = excluded.created_at, \
                 confirmed_at = excluded.confirmed_at, last_step = excluded.last_step",
            )?
            .execute(params![
                c.user_id.as_str(),
                c.secret,
                ms(c.created_at),
                c.confirmed_at.map(ms),
                c.last_step,
            ])?;
        Ok(())
    }

    fn delete_totp(&mut self, user: &UserId) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1")?
            .execute([user.as_str()])?;
        self.conn
            .prepare_cached("DELETE FROM totp_credentials WHERE user_id = ?1")?
            .execute([user.as_str()])?;
        Ok(())
    }

    fn advance_totp_step(&mut self, user: &UserId, step: i64) -> StoreResult<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE totp_credentials SET last_step = ?2 \
                 WHERE user_id = ?1 AND (last_step IS NULL OR last_step < ?2)",
            )?
            .execute(params![user.as_str(), step])?;
        Ok(changed == 1)
    }

    fn replace_recovery_codes(
        &mut self,
        user: &UserId,
        code_hashes: &[String],
        at: Timestamp,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM recovery_codes WHERE user_id = ?1")?
            .execute([user.as_str()])?;
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?1, ?2, ?3)",
        )?;
        for hash in code_hashes {
            insert.execute(params![user.as_str(), hash, ms(at)])?;
        }
        Ok(())
    }

    fn use_recovery_code(
        &mut self,
        user: &UserId,
        code_hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE recovery_codes SET used_at = ?3 \
                 WHERE user_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
            )?
            .execute(params![user.as_str(), code_hash, ms(at)])?;
        Ok(changed == 1)
    }

    fn count_recovery_codes_left(&mut self, user: &UserId) -> StoreResult<i64> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?1 AND used_at IS NULL",
            )?
            .query_row([user.as_str()], |row| row.get(0))?)
    }

    fn replace_delivery_payload(&mut self, id: &str, payload: &str) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE deliveries SET payload = ?2 WHERE id = ?1")?
            .execute(params![id, payload])?;
        Ok(())
    }

    fn delete_other_sessions(&mut self, user: &UserId, keep_token_hash: &str) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM sessions WHERE user_id = ?1 AND token_hash <> ?2")?
            .execute(params![user.as_str(), keep_token_hash])?;
        Ok(())
    }

    fn has_signed_in_from(&mut self, email: &str, client: &str) -> StoreResult<(bool, bool)> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM login_attempts WHERE email = ?1 AND succeeded = 1), \
                 EXISTS (SELECT 1 FROM login_attempts WHERE email = ?1 AND client = ?2 AND succeeded = 1)",
            )?
            .query_row([email, client], |row| Ok((row.get(0)?, row.get(1)?)))?)
    }
}
