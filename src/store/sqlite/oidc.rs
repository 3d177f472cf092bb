//! [`OidcTx`] on SQLite.

use rusqlite::{OptionalExtension, params};

use super::{SqliteTx, ms, ts};
use crate::store::*;

fn identity_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OidcIdentity> {
    Ok(OidcIdentity {
        issuer: row.get(0)?,
        subject: row.get(1)?,
        user_id: UserId::new(row.get::<_, String>(2)?),
        created_at: ts(row.get(3)?)?,
    })
}

fn login_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OidcLogin> {
    Ok(OidcLogin {
        state_hash: row.get(0)?,
        browser_hash: row.get(1)?,
        nonce: row.get(2)?,
        code_verifier: row.get(3)?,
        next_path: row.get(4)?,
        created_at: ts(row.get(5)?)?,
        expires_at: ts(row.get(6)?)?,
    })
}

fn pending_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OidcPending> {
    let kind: String = row.get(1)?;
    Ok(OidcPending {
        token_hash: row.get(0)?,
        kind: OidcPendingKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("unknown oidc_pending kind {kind:?}").into(),
            )
        })?,
        user_id: UserId::new(row.get::<_, String>(2)?),
        issuer: row.get(3)?,
        subject: row.get(4)?,
        next_path: row.get(5)?,
        created_at: ts(row.get(6)?)?,
        expires_at: ts(row.get(7)?)?,
    })
}

const LOGIN_COLUMNS: &str =
    "state_hash, browser_hash, nonce, code_verifier, next_path, created_at, expires_at";
const PENDING_COLUMNS: &str =
    "token_hash, kind, user_id, issuer, subject, next_path, created_at, expires_at";

impl OidcTx for SqliteTx<'_> {
    fn find_oidc_identity(
        &mut self,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<OidcIdentity>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT issuer, subject, user_id, created_at FROM oidc_identities \
                 WHERE issuer = ?1 AND subject = ?2",
            )?
            .query_row([issuer, subject], identity_from_row)
            .optional()?)
    }

    fn insert_oidc_identity(&mut self, identity: &OidcIdentity) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (issuer, subject) DO NOTHING",
            )?
            .execute(params![
                identity.issuer,
                identity.subject,
                identity.user_id.as_str(),
                ms(identity.created_at),
            ])?;
        Ok(())
    }

    fn list_oidc_identities_of(&mut self, user: &UserId) -> StoreResult<Vec<OidcIdentity>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT issuer, subject, user_id, created_at FROM oidc_identities \
             WHERE user_id = ?1 ORDER BY issuer, subject",
        )?;
        let rows = statement.query_map([user.as_str()], identity_from_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn insert_oidc_login(&mut self, login: &OidcLogin) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM oidc_logins WHERE expires_at < ?1")?
            .execute([ms(login.created_at)])?;
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO oidc_logins ({LOGIN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ))?
            .execute(params![
                login.state_hash,
                login.browser_hash,
                login.nonce,
                login.code_verifier,
                login.next_path,
                ms(login.created_at),
                ms(login.expires_at),
            ])?;
        Ok(())
    }

    fn take_oidc_login(&mut self, state_hash: &str) -> StoreResult<Option<OidcLogin>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "DELETE FROM oidc_logins WHERE state_hash = ?1 RETURNING {LOGIN_COLUMNS}"
            ))?
            .query_row([state_hash], login_from_row)
            .optional()?)
    }

    fn insert_oidc_pending(&mut self, pending: &OidcPending) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM oidc_pending WHERE expires_at < ?1")?
            .execute([ms(pending.created_at)])?;
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO oidc_pending ({PENDING_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                pending.token_hash,
                pending.kind.as_str(),
                pending.user_id.as_str(),
                pending.issuer,
                pending.subject,
                pending.next_path,
                ms(pending.created_at),
                ms(pending.expires_at),
            ])?;
        Ok(())
    }

    fn find_oidc_pending(&mut self, token_hash: &str) -> StoreResult<Option<OidcPending>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {PENDING_COLUMNS} FROM oidc_pending WHERE token_hash = ?1"
            ))?
            .query_row([token_hash], pending_from_row)
            .optional()?)
    }

    fn take_oidc_pending(&mut self, token_hash: &str) -> StoreResult<Option<OidcPending>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "DELETE FROM oidc_pending WHERE token_hash = ?1 RETURNING {PENDING_COLUMNS}"
            ))?
            .query_row([token_hash], pending_from_row)
            .optional()?)
    }
}
