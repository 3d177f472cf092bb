-- carebook:foreign-keys-off
-- The rows a change leaves behind it (its history, its notifications, its outbox
-- rows and its live events) no longer declare foreign keys (SQLite).
--
-- Every insert into a table with a foreign key looks its parent up: a descent of
-- the users' text key, or of the appointments'. A booking's rows made about seven
-- such lookups, 4.8 % of the writer's instructions (docs/BENCHMARKS.md,
-- session 28). These rows are written only by the store, in the transaction of the
-- change they record, for the people and the appointment that change has just read
-- or written; accounts and appointments are never deleted. So they go unreferenced,
-- as `audit_log.actor_id` always has. The tables whose rows people write themselves
-- (appointments, through a trigger, records, prescriptions, messages, payments)
-- keep their guards. PostgreSQL keeps its foreign keys.
--
-- SQLite cannot drop a foreign key: each table is rebuilt the documented way, as in
-- migrations 17, 18 and 20, its rows copied in the order they were written and its
-- indexes made again.

CREATE TABLE appointment_events_new (
    appointment_id TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    at             INTEGER NOT NULL,
    actor_id       TEXT,
    action         TEXT NOT NULL,
    from_status    TEXT,
    to_status      TEXT NOT NULL,
    from_start     INTEGER,
    to_start       INTEGER,
    reason         TEXT,
    PRIMARY KEY (appointment_id, seq)
) WITHOUT ROWID;
INSERT INTO appointment_events_new (appointment_id, seq, at, actor_id, action, from_status, to_status,
                                    from_start, to_start, reason)
    SELECT appointment_id, seq, at, actor_id, action, from_status, to_status,
           from_start, to_start, reason FROM appointment_events;
DROP TABLE appointment_events;
ALTER TABLE appointment_events_new RENAME TO appointment_events;

CREATE TABLE notifications_new (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    title          TEXT NOT NULL,
    body           TEXT NOT NULL,
    link           TEXT NOT NULL,
    appointment_id TEXT,
    created_at     INTEGER NOT NULL,
    read_at        INTEGER
);
INSERT INTO notifications_new (id, user_id, kind, title, body, link, appointment_id, created_at, read_at)
    SELECT id, user_id, kind, title, body, link, appointment_id, created_at, read_at
    FROM notifications ORDER BY rowid;
DROP TABLE notifications;
ALTER TABLE notifications_new RENAME TO notifications;
CREATE INDEX notifications_by_user ON notifications (user_id, read_at IS NULL, created_at, id);

CREATE TABLE deliveries_new (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL CHECK (channel = 'email' OR channel = 'sms' OR channel = 'webhook' OR channel = 'sns' OR channel = 'in_app'),
    kind            TEXT NOT NULL,
    user_id         TEXT,
    appointment_id  TEXT,
    target          TEXT,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status = 'scheduled' OR status = 'sending' OR status = 'sent' OR status = 'retrying' OR status = 'failed' OR status = 'dead' OR status = 'cancelled' OR status = 'skipped'),
    due_at          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
INSERT INTO deliveries_new (id, idempotency_key, channel, kind, user_id, appointment_id, target, payload,
                            status, due_at, attempts, lease_owner, lease_until, last_error,
                            created_at, updated_at, sent_at)
    SELECT id, idempotency_key, channel, kind, user_id, appointment_id, target, payload,
           status, due_at, attempts, lease_owner, lease_until, last_error,
           created_at, updated_at, sent_at FROM deliveries ORDER BY rowid;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (status, due_at);
CREATE INDEX deliveries_appointment ON deliveries (appointment_id);
CREATE INDEX deliveries_created ON deliveries (created_at, id);

CREATE TABLE live_events_new (
    user_id TEXT NOT NULL,
    id      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
);
INSERT INTO live_events_new (user_id, id, kind, data, at)
    SELECT user_id, id, kind, data, at FROM live_events ORDER BY rowid;
DROP TABLE live_events;
ALTER TABLE live_events_new RENAME TO live_events;
