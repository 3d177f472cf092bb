-- Chat and the live stream (SQLite), issue 10. See docs/LIVE.md.

-- One conversation per patient and doctor. `closed_at`: when the doctor closed it;
-- a booking after that instant reopens it (derived when read, no write).
-- `last_seq` numbers the messages.
CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    patient_id      TEXT NOT NULL REFERENCES users (id),
    doctor_id       TEXT NOT NULL REFERENCES users (id),
    created_at      INTEGER NOT NULL,
    closed_at       INTEGER,
    last_seq        INTEGER NOT NULL,
    last_message_at INTEGER
);
CREATE UNIQUE INDEX conversations_pair ON conversations (patient_id, doctor_id);
CREATE INDEX conversations_doctor ON conversations (doctor_id);

-- Stored before it is acknowledged; `client_id` makes a resend idempotent.
CREATE TABLE messages (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    seq             INTEGER NOT NULL,
    sender_id       TEXT NOT NULL REFERENCES users (id),
    client_id       TEXT NOT NULL,
    body            TEXT NOT NULL,
    sent_at         INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_client ON messages (conversation_id, sender_id, client_id);
CREATE INDEX messages_sender ON messages (sender_id, sent_at);

-- How far each participant received and read.
CREATE TABLE conversation_reads (
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    user_id         TEXT NOT NULL REFERENCES users (id),
    delivered_seq   INTEGER NOT NULL,
    read_seq        INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;

-- Each user's live stream: `id` is 1, 2, 3... per user, in commit order. A client
-- that reconnects with `last_event_id` is sent what follows.
CREATE TABLE live_events (
    user_id TEXT NOT NULL REFERENCES users (id),
    id      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
