-- Sign-in with OpenID Connect (PostgreSQL): the accounts' identities at a provider,
-- the sign-ins under way, and the steps that wait for a password or a code.

-- One row per (issuer, subject): the provider's stable id of a person, linked to
-- one carebook account. An account may have several (one per provider).
CREATE TABLE oidc_identities (
    issuer     TEXT COLLATE "C" NOT NULL,
    subject    TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX oidc_identities_user ON oidc_identities (user_id);

-- A sign-in sent to the provider and not yet back: in the database (not in one
-- instance's memory) so that any instance can finish it; deleted when the
-- callback uses it, so a replayed callback finds nothing. `state_hash` and
-- `browser_hash` are SHA-256 of the state and of the browser's cookie.
CREATE TABLE oidc_logins (
    state_hash    TEXT COLLATE "C" PRIMARY KEY,
    browser_hash  TEXT COLLATE "C" NOT NULL,
    nonce         TEXT COLLATE "C" NOT NULL,
    code_verifier TEXT COLLATE "C" NOT NULL,
    next_path     TEXT COLLATE "C",
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX oidc_logins_expiry ON oidc_logins (expires_at);

-- A provider's sign-in that waits for one more step in the same browser (whose
-- cookie's SHA-256 is `token_hash`): `link` waits for the account's password
-- before the identity is recorded, `second_factor` for the authenticator code.
CREATE TABLE oidc_pending (
    token_hash TEXT COLLATE "C" PRIMARY KEY,
    kind       TEXT COLLATE "C" NOT NULL,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    issuer     TEXT COLLATE "C" NOT NULL,
    subject    TEXT COLLATE "C" NOT NULL,
    next_path  TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oidc_pending_expiry ON oidc_pending (expires_at);
