//! [`SecurityTx`] on PostgreSQL. Taking a token and advancing a TOTP step are single
//! conditional statements, so two instances racing for one token or one code cannot
//! both win.

use ::postgres::Row;

use super::{PgTx, get, has_nul, ms, storable, ts};
use crate::store::*;

fn reset_from_row(row: &Row) -> StoreResult<PasswordReset> {
    Ok(PasswordReset {
        token_hash: get(row, 0)?,
        user_id: UserId::new(get::<String>(row, 1)?),
        created_at: ts(get(row, 2)?)?,
        expires_at: ts(get(row, 3)?)?,
    })
}

impl SecurityTx for PgTx<'_, '_> {
    fn replace_password_reset(&mut self, reset: &PasswordReset) -> StoreResult<()> {
        self.delete_password_resets_of(&reset.user_id)?;
        self.execute(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
            &[
                &reset.token_hash,
                &reset.user_id.as_str(),
                &ms(reset.created_at),
                &ms(reset.expires_at),
            ],
        )?;
        Ok(())
    }

    fn find_password_reset(&mut self, token_hash: &str) -> StoreResult<Option<PasswordReset>> {
        if has_nul(token_hash) {
            return Ok(None);
        }
        self.query_opt(
            "SELECT token_hash, user_id, created_at, expires_at FROM password_resets \
             WHERE token_hash = $1",
            &[&token_hash],
        )?
        .as_ref()
        .map(reset_from_row)
        .transpose()
    }

    fn take_password_reset(&mut self, token_hash: &str) -> StoreResult<Option<PasswordReset>> {
        if has_nul(token_hash) {
            return Ok(None);
        }
        self.query_opt(
            "DELETE FROM password_resets WHERE token_hash = $1 \
             RETURNING token_hash, user_id, created_at, expires_at",
            &[&token_hash],
        )?
        .as_ref()
        .map(reset_from_row)
        .transpose()
    }

    fn delete_password_resets_of(&mut self, user: &UserId) -> StoreResult<()> {
        if has_nul(user.as_str()) {
            return Ok(());
        }
        self.execute(
            "DELETE FROM password_resets WHERE user_id = $1",
            &[&user.as_str()],
        )?;
        Ok(())
    }

    fn record_reset_request(&mut self, request: &ResetRequest) -> StoreResult<()> {
        self.execute(
            "INSERT INTO password_reset_requests (email, client, at) VALUES ($1, $2, $3)",
            &[
                &storable(&request.email),
                &storable(&request.client),
                &ms(request.at),
            ],
        )?;
        Ok(())
    }

    fn count_reset_requests(&mut self, key: LoginKey<'_>, since: Timestamp) -> StoreResult<i64> {
        let (sql, value) = match key {
            LoginKey::Email(email) => (
                "SELECT COUNT(*) FROM password_reset_requests WHERE email = $1 AND at >= $2",
                email,
            ),
            LoginKey::Client(client) => (
                "SELECT COUNT(*) FROM password_reset_requests WHERE client = $1 AND at >= $2",
                client,
            ),
        };
        get(&self.query_one(sql, &[&storable(value), &ms(since)])?, 0)
    }

    fn upsert_email_verification(&mut self, v: &EmailVerification) -> StoreResult<()> {
        self.execute(
            "INSERT INTO email_verifications (user_id, token_hash, created_at, expires_at, verified_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
             token_hash = excluded.token_hash, created_at = excluded.created_at, \
             expires_at = excluded.expires_at, verified_at = excluded.verified_at",
            &[
                &v.user_id.as_str(),
                &v.token_hash,
                &ms(v.created_at),
                &ms(v.expires_at),
                &v.verified_at.map(ms),
            ],
        )?;
        Ok(())
    }

    fn find_email_verification(&mut self, user: &UserId) -> StoreResult<Option<EmailVerification>> {
        if has_nul(user.as_str()) {
            return Ok(None);
        }
        let row = self.query_opt(
            "SELECT user_id, token_hash, created_at, expires_at, verified_at \
             FROM email_verifications WHERE user_id = $1",
            &[&user.as_str()],
        )?;
        row.map(|row| {
            Ok(EmailVerification {
                user_id: UserId::new(get::<String>(&row, 0)?),
                token_hash: get(&row, 1)?,
                created_at: ts(get(&row, 2)?)?,
                expires_at: ts(get(&row, 3)?)?,
                verified_at: get::<Option<i64>>(&row, 4)?.map(ts).transpose()?,
            })
        })
        .transpose()
    }

    fn use_email_verification(
        &mut self,
        token_hash: &str,
        at: Timestamp,
    ) -> StoreResult<Option<UserId>> {
        if has_nul(token_hash) {
            return Ok(None);
        }
        let row = self.query_opt(
            "UPDATE email_verifications SET verified_at = $2, token_hash = NULL \
             WHERE token_hash = $1 AND verified_at IS NULL AND expires_at > $2 \
             RETURNING user_id",
            &[&token_hash, &ms(at)],
        )?;
        row.map(|row| Ok(UserId::new(get::<String>(&row, 0)?)))
            .transpose()
    }

    fn complete_email_verification(&mut self, user: &UserId, at: Timestamp) -> StoreResult<()> {
        if has_nul(user.as_str()) {
            return Ok(());
        }
        self.execute(
            "UPDATE email_verifications SET verified_at = $2, token_hash = NULL \
             WHERE user_id = $1 AND verified_at IS NULL",
            &[&user.as_str(), &ms(at)],
        )?;
        Ok(())
    }

    fn find_totp(&mut self, user: &UserId) -> StoreResult<Option<TotpCredential>> {
        if has_nul(user.as_str()) {
            return Ok(None);
        }
        let row = self.query_opt(
            "SELECT user_id, secret, created_at, confirmed_at, last_step \
             FROM totp_credentials WHERE user_id = $1",
            &[&user.as_str()],
        )?;
        row.map(|row| {
            Ok(TotpCredential {
                user_id: UserId::new(get::<String>(&row, 0)?),
                secret: get(&row, 1)?,
                created_at: ts(get(&row, 2)?)?,
                confirmed_at: get::<Option<i64>>(&row, 3)?.map(ts).transpose()?,
                last_step: get(&row, 4)?,
            })
        })
        .transpose()
    }

    fn upsert_totp(&mut self, c: &TotpCredential) -> StoreResult<()> {
        self.execute(
            "INSERT INTO totp_credentials (user_id, secret, created_at, confirmed_at, last_step) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
             secret = excluded.secret, created_at = excluded.created_at, \
             confirmed_at = excluded.confirmed_at, last_step = excluded.last_step",
            &[
                &c.user_id.as_str(),
                &c.secret,
                &ms(c.created_at),
                &c.confirmed_at.map(ms),
                &c.last_step,
            ],
        )?;
        Ok(())
    }

    fn delete_totp(&mut self, user: &UserId) -> StoreResult<()> {
        if has_nul(user.as_str()) {
            return Ok(());
        }
        self.execute(
            "DELETE FROM recovery_codes WHERE user_id = $1",
            &[&user.as_str()],
        )?;
        self.execute(
            "DELETE FROM totp_credentials WHERE user_id = $1",
            &[&user.as_str()],
        )?;
        Ok(())
    }

    fn advance_totp_step(&mut self, user: &UserId, step: i64) -> StoreResult<bool> {
        if has_nul(user.as_str()) {
            return Ok(false);
        }
        let changed = self.execute(
            "UPDATE totp_credentials SET last_step = $2 \
             WHERE user_id = $1 AND (last_step IS NULL OR last_step < $2)",
            &[&user.as_str(), &step],
        )?;
        Ok(changed == 1)
    }

    fn replace_recovery_codes(
        &mut self,
        user: &UserId,
        code_hashes: &[String],
        at: Timestamp,
    ) -> StoreResult<()> {
        self.execute(
            "DELETE FROM recovery_codes WHERE user_id = $1",
            &[&user.as_str()],
        )?;
        for hash in code_hashes {
            self.execute(
                "INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)",
                &[&user.as_str(), hash, &ms(at)],
            )?;
        }
        Ok(())
    }

    fn use_recovery_code(
        &mut self,
        user: &UserId,
        code_hash: &str,
        at: Timestamp,
    ) -> StoreResult<bool> {
        if has_nul(user.as_str()) || has_nul(code_hash) {
            return Ok(false);
        }
        let changed = self.execute(
            "UPDATE recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
            &[&user.as_str(), &code_hash, &ms(at)],
        )?;
        Ok(changed == 1)
    }

    fn count_recovery_codes_left(&mut self, user: &UserId) -> StoreResult<i64> {
        if has_nul(user.as_str()) {
            return Ok(0);
        }
        get(
            &self.query_one(
                "SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                &[&user.as_str()],
            )?,
            0,
        )
    }

    fn replace_delivery_payload(&mut self, id: &str, payload: &str) -> StoreResult<()> {
        if has_nul(id) {
            return Ok(());
        }
        self.execute(
            "UPDATE deliveries SET payload = $2 WHERE id = $1",
            &[&id, &storable(payload)],
        )?;
        Ok(())
    }

    fn delete_other_sessions(&mut self, user: &UserId, keep_token_hash: &str) -> StoreResult<()> {
        if has_nul(user.as_str()) {
            return Ok(());
        }
        self.execute(
            "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2",
            &[&user.as_str(), &keep_token_hash],
        )?;
        Ok(())
    }

    fn has_signed_in_from(&mut self, email: &str, client: &str) -> StoreResult<(bool, bool)> {
        let row = self.query_one(
            "SELECT EXISTS (SELECT 1 FROM login_attempts WHERE email = $1 AND succeeded), \
             EXISTS (SELECT 1 FROM login_attempts WHERE email = $1 AND client = $2 AND succeeded)",
            &[&storable(email), &storable(client)],
        )?;
        Ok((get(&row, 0)?, get(&row, 1)?))
    }
}
