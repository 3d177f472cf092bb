-- Notifications (SQLite): preferences, the in-app list, and the delivery outbox.

CREATE TABLE notification_preferences (
    user_id       TEXT PRIMARY KEY REFERENCES users (id),
    email_enabled INTEGER NOT NULL,
    sms_enabled   INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE notifications (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id),
    kind           TEXT NOT NULL,
    title          TEXT NOT NULL,
    body           TEXT NOT NULL,
    link           TEXT NOT NULL,
    appointment_id TEXT,
    created_at     INTEGER NOT NULL,
    read_at        INTEGER
);
CREATE INDEX notifications_user ON notifications (user_id, created_at, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

-- The outbox: one row per message per channel, written in the transaction of the
-- change that causes it. `idempotency_key` makes a second write of the same
-- message a no-op.
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'sms', 'webhook', 'sns', 'in_app')),
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id),
    appointment_id  TEXT,
    target          TEXT,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'sending', 'sent', 'retrying', 'failed', 'dead', 'cancelled', 'skipped')),
    due_at          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX deliveries_due ON deliveries (status, due_at);
CREATE INDEX deliveries_appointment ON deliveries (appointment_id);
CREATE INDEX deliveries_created ON deliveries (created_at, id);
