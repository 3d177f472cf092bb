-- Account security (SQLite): password reset, email verification, two-factor
-- authentication. Tokens and recovery codes are stored only as SHA-256 hashes.

-- One live reset token per account: a new request replaces the old one; using it
-- deletes it.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX password_resets_user ON password_resets (user_id);

-- Every reset request, known address or not, for throttling (like login_attempts).
CREATE TABLE password_reset_requests (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    email  TEXT NOT NULL,
    client TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX password_reset_requests_email ON password_reset_requests (email, at);
CREATE INDEX password_reset_requests_client ON password_reset_requests (client, at);

-- Accounts that must confirm their address (self-registered patients while
-- `email_verification` is on). No row: nothing to confirm. The token is cleared
-- once used.
CREATE TABLE email_verifications (
    user_id     TEXT PRIMARY KEY REFERENCES users (id),
    token_hash  TEXT UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    verified_at INTEGER
);

-- A TOTP secret (RFC 6238, base32); enabled once confirmed. `last_step` is the
-- time step of the last accepted code: a code is never accepted twice.
CREATE TABLE totp_credentials (
    user_id      TEXT PRIMARY KEY REFERENCES users (id),
    secret       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    confirmed_at INTEGER,
    last_step    INTEGER
);

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id),
    code_hash  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (user_id, code_hash)
) WITHOUT ROWID;
