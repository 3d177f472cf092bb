//! [`OidcTx`] on PostgreSQL. Taking a sign-in or a pending step is one
//! `DELETE … RETURNING`, so two instances finishing the same one cannot both win.

use ::postgres::Row;

use super::{PgTx, get, has_nul, internal, ms, ts};
use crate::store::*;

fn identity_from_row(row: &Row) -> StoreResult<OidcIdentity> {
    Ok(OidcIdentity {
        issuer: get(row, 0)?,
        subject: get(row, 1)?,
        user_id: UserId::new(get::<String>(row, 2)?),
        created_at: ts(get(row, 3)?)?,
    })
}

fn login_from_row(row: &Row) -> StoreResult<OidcLogin> {
    Ok(OidcLogin {
        state_hash: get(row, 0)?,
        browser_hash: get(row, 1)?,
        nonce: get(row, 2)?,
        code_verifier: get(row, 3)?,
        next_path: get(row, 4)?,
        created_at: ts(get(row, 5)?)?,
        expires_at: ts(get(row, 6)?)?,
    })
}

fn pending_from_row(row: &Row) -> StoreResult<OidcPending> {
    let kind: String = get(row, 1)?;
    Ok(OidcPending {
        token_hash: get(row, 0)?,
        kind: OidcPendingKind::parse(&kind)
            .ok_or_else(|| internal(format!("unknown oidc_pending kind {kind:?}")))?,
        user_id: UserId::new(get::<String>(row, 2)?),
        issuer: get(row, 3)?,
        subject: get(row, 4)?,
        next_path: get(row, 5)?,
        created_at: ts(get(row, 6)?)?,
        expires_at: ts(get(row, 7)?)?,
    })
}

const LOGIN_COLUMNS: &str =
    "state_hash, browser_hash, nonce, code_verifier, next_path, created_at, expires_at";
const PENDING_COLUMNS: &str =
    "token_hash, kind, user_id, issuer, subject, next_path, created_at, expires_at";

impl OidcTx for PgTx<'_, '_> {
    fn find_oidc_identity(
        &mut self,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<OidcIdentity>> {
        if has_nul(issuer) || has_nul(subject) {
            return Ok(None);
        }
        self.query_opt(
            "SELECT issuer, subject, user_id, created_at FROM oidc_identities \
             WHERE issuer = $1 AND subject = $2",
            &[&issuer, &subject],
        )?
        .as_ref()
        .map(identity_from_row)
        .transpose()
    }

    fn insert_oidc_identity(&mut self, identity: &OidcIdentity) -> StoreResult<()> {
        self.execute(
            "INSERT INTO oidc_identities (issuer, subject, user_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (issuer, subject) DO NOTHING",
            &[
                &identity.issuer,
                &identity.subject,
                &identity.user_id.as_str(),
                &ms(identity.created_at),
            ],
        )?;
        Ok(())
    }

    fn list_oidc_identities_of(&mut self, user: &UserId) -> StoreResult<Vec<OidcIdentity>> {
        if has_nul(user.as_str()) {
            return Ok(Vec::new());
        }
        self.query(
            "SELECT issuer, subject, user_id, created_at FROM oidc_identities \
             WHERE user_id = $1 ORDER BY issuer, subject",
            &[&user.as_str()],
        )?
        .iter()
        .map(identity_from_row)
        .collect()
    }

    fn insert_oidc_login(&mut self, login: &OidcLogin) -> StoreResult<()> {
        self.execute(
            "DELETE FROM oidc_logins WHERE expires_at < $1",
            &[&ms(login.created_at)],
        )?;
        self.execute(
            &format!(
                "INSERT INTO oidc_logins ({LOGIN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            &[
                &login.state_hash,
                &login.browser_hash,
                &login.nonce,
                &login.code_verifier,
                &login.next_path,
                &ms(login.created_at),
                &ms(login.expires_at),
            ],
        )?;
        Ok(())
    }

    fn take_oidc_login(&mut self, state_hash: &str) -> StoreResult<Option<OidcLogin>> {
        if has_nul(state_hash) {
            return Ok(None);
        }
        self.query_opt(
            &format!("DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING {LOGIN_COLUMNS}"),
            &[&state_hash],
        )?
        .as_ref()
        .map(login_from_row)
        .transpose()
    }

    fn insert_oidc_pending(&mut self, pending: &OidcPending) -> StoreResult<()> {
        self.execute(
            "DELETE FROM oidc_pending WHERE expires_at < $1",
            &[&ms(pending.created_at)],
        )?;
        self.execute(
            &format!(
                "INSERT INTO oidc_pending ({PENDING_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            &[
                &pending.token_hash,
                &pending.kind.as_str(),
                &pending.user_id.as_str(),
                &pending.issuer,
                &pending.subject,
                &pending.next_path,
                &ms(pending.created_at),
                &ms(pending.expires_at),
            ],
        )?;
        Ok(())
    }

    fn find_oidc_pending(&mut self, token_hash: &str) -> StoreResult<Option<OidcPending>> {
        if has_nul(token_hash) {
            return Ok(None);
        }
        self.query_opt(
            &format!("SELECT {PENDING_COLUMNS} FROM oidc_pending WHERE token_hash = $1"),
            &[&token_hash],
        )?
        .as_ref()
        .map(pending_from_row)
        .transpose()
    }

    fn take_oidc_pending(&mut self, token_hash: &str) -> StoreResult<Option<OidcPending>> {
        if has_nul(token_hash) {
            return Ok(None);
        }
        self.query_opt(
            &format!("DELETE FROM oidc_pending WHERE token_hash = $1 RETURNING {PENDING_COLUMNS}"),
            &[&token_hash],
        )?
        .as_ref()
        .map(pending_from_row)
        .transpose()
    }
}
