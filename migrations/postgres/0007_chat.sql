-- Chat and the live stream (PostgreSQL), issue 10. See docs/LIVE.md.

-- One conversation per patient and doctor. `closed_at`: when the doctor closed it;
-- a booking after that instant reopens it (derived when read, no write).
-- `last_seq` numbers the messages.
CREATE TABLE conversations (
    id              TEXT COLLATE "C" PRIMARY KEY,
    patient_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    doctor_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    closed_at       BIGINT,
    last_seq        BIGINT NOT NULL,
    last_message_at BIGINT
);
CREATE UNIQUE INDEX conversations_pair ON conversations (patient_id, doctor_id);
CREATE INDEX conversations_doctor ON conversations (doctor_id);

-- Stored before it is acknowledged; `client_id` makes a resend idempotent.
CREATE TABLE messages (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id),
    seq             BIGINT NOT NULL,
    sender_id       TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    client_id       TEXT COLLATE "C" NOT NULL,
    body            TEXT NOT NULL,
    sent_at         BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE UNIQUE INDEX messages_client ON messages (conversation_id, sender_id, client_id);
CREATE INDEX messages_sender ON messages (sender_id, sent_at);

-- How far each participant received and read.
CREATE TABLE conversation_reads (
    conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations (id),
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    delivered_seq   BIGINT NOT NULL,
    read_seq        BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);

-- Each user's live stream: `id` is 1, 2, 3... per user, in commit order. A client
-- that reconnects with `last_event_id` is sent what follows.
CREATE TABLE live_events (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    id      BIGINT NOT NULL,
    kind    TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, id)
);
