-- Sign-in with OpenID Connect (SQLite): the accounts' identities at a provider,
-- the sign-ins under way, and the steps that wait for a password or a code.

-- One row per (issuer, subject): the provider's stable id of a person, linked to
-- one carebook account. An account may have several (one per provider).
CREATE TABLE oidc_identities (
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (issuer, subject)
) WITHOUT ROWID;
CREATE INDEX oidc_identities_user ON oidc_identities (user_id);

-- A sign-in sent to the provider and not yet back: in the database (not in one
-- instance's memory) so that any instance can finish it; deleted when the
-- callback uses it, so a replayed callback finds nothing. `state_hash` and
-- `browser_hash` are SHA-256 of the state and of the browser's cookie.
CREATE TABLE oidc_logins (
    state_hash    TEXT PRIMARY KEY,
    browser_hash  TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    next_path     TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);

-- A provider's sign-in that waits for one more step in the same browser (whose
-- cookie's SHA-256 is `token_hash`): `link` waits for the account's password
-- before the identity is recorded, `second_factor` for the authenticator code.
CREATE TABLE oidc_pending (
    token_hash TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id),
    issuer     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    next_path  TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX oidc_pending_expiry ON oidc_pending (expires_at);
