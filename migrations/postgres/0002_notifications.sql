-- Notifications (PostgreSQL): preferences, the in-app list, and the delivery outbox.

CREATE TABLE notification_preferences (
    user_id       TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id),
    email_enabled BOOLEAN NOT NULL,
    sms_enabled   BOOLEAN NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE notifications (
    id             TEXT COLLATE "C" PRIMARY KEY,
    user_id        TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    kind           TEXT COLLATE "C" NOT NULL,
    title          TEXT NOT NULL,
    body           TEXT NOT NULL,
    link           TEXT COLLATE "C" NOT NULL,
    appointment_id TEXT COLLATE "C",
    created_at     BIGINT NOT NULL,
    read_at        BIGINT
);
CREATE INDEX notifications_user ON notifications (user_id, created_at, id);
CREATE INDEX notifications_unread ON notifications (user_id) WHERE read_at IS NULL;

-- The outbox: one row per message per channel, written in the transaction of the
-- change that causes it. `idempotency_key` makes a second write of the same
-- message a no-op.
CREATE TABLE deliveries (
    id              TEXT COLLATE "C" PRIMARY KEY,
    idempotency_key TEXT COLLATE "C" NOT NULL UNIQUE,
    channel         TEXT COLLATE "C" NOT NULL CHECK (channel IN ('email', 'sms', 'webhook', 'sns', 'in_app')),
    kind            TEXT COLLATE "C" NOT NULL,
    user_id         TEXT COLLATE "C" REFERENCES users (id),
    appointment_id  TEXT COLLATE "C",
    target          TEXT COLLATE "C",
    payload         TEXT NOT NULL,
    status          TEXT COLLATE "C" NOT NULL CHECK (status IN ('scheduled', 'sending', 'sent', 'retrying', 'failed', 'dead', 'cancelled', 'skipped')),
    due_at          BIGINT NOT NULL,
    attempts        BIGINT NOT NULL,
    lease_owner     TEXT COLLATE "C",
    lease_until     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    sent_at         BIGINT
);
CREATE INDEX deliveries_due ON deliveries (status, due_at);
CREATE INDEX deliveries_appointment ON deliveries (appointment_id);
CREATE INDEX deliveries_created ON deliveries (created_at, id);
