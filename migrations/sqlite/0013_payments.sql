-- carebook:foreign-keys-off
-- Payments (docs/PAYMENTS.md), SQLite.
--
-- A new appointment status, `awaiting_payment`, needs a wider CHECK, and SQLite
-- cannot alter a CHECK: the table is rebuilt the documented way (a new table, the
-- rows copied, the old one dropped, the new one renamed), with foreign keys off for
-- the migration so the tables that point at appointments keep pointing at it. The
-- runner checks `PRAGMA foreign_key_check` before it commits.
CREATE TABLE appointments_new (
    id         TEXT PRIMARY KEY,
    doctor_id  TEXT NOT NULL REFERENCES users (id),
    patient_id TEXT NOT NULL REFERENCES users (id),
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL CHECK (end_at > start_at),
    status     TEXT NOT NULL CHECK (status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in', 'completed', 'rejected', 'cancelled', 'no_show')),
    reason     TEXT,
    status_reason TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    mode       TEXT NOT NULL DEFAULT 'in_person' CHECK (mode IN ('in_person', 'video')),
    video_room TEXT
);
INSERT INTO appointments_new (id, doctor_id, patient_id, start_at, end_at, status, reason, status_reason,
                              created_by, created_at, updated_at, mode, video_room)
    SELECT id, doctor_id, patient_id, start_at, end_at, status, reason, status_reason,
           created_by, created_at, updated_at, mode, video_room FROM appointments;
DROP TABLE appointments;
ALTER TABLE appointments_new RENAME TO appointments;
CREATE INDEX appointments_doctor_start ON appointments (doctor_id, start_at);
CREATE INDEX appointments_patient_start ON appointments (patient_id, start_at);
CREATE INDEX appointments_start ON appointments (start_at, id);

-- How a doctor takes the fee: at the clinic (the default) or online when booking.
ALTER TABLE doctors ADD COLUMN payment_mode TEXT NOT NULL DEFAULT 'at_clinic' CHECK (payment_mode IN ('at_clinic', 'online'));

-- One row per attempt to take an appointment's fee: a Stripe Checkout, or a payment
-- recorded at the desk. At most one of an appointment's rows is pending or holds
-- money at a time.
CREATE TABLE payments (
    id                  TEXT PRIMARY KEY,
    appointment_id      TEXT NOT NULL REFERENCES appointments (id),
    patient_id          TEXT NOT NULL REFERENCES users (id),
    doctor_id           TEXT NOT NULL REFERENCES users (id),
    amount_minor        INTEGER NOT NULL CHECK (amount_minor >= 0),
    currency            TEXT NOT NULL,
    method              TEXT NOT NULL CHECK (method IN ('stripe', 'cash', 'card_terminal')),
    status              TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'refund_pending', 'refunded', 'expired', 'cancelled')),
    checkout_session_id TEXT UNIQUE,
    checkout_url        TEXT,
    payment_intent      TEXT,
    hold_until          INTEGER,
    paid_at             INTEGER,
    refund_id           TEXT,
    refund_reason       TEXT,
    refunded_at         INTEGER,
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER,
    last_error          TEXT,
    recorded_by         TEXT REFERENCES users (id),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX payments_appointment ON payments (appointment_id, created_at);
CREATE INDEX payments_created ON payments (created_at, id);
CREATE INDEX payments_due ON payments (status, next_attempt_at);
CREATE INDEX payments_hold ON payments (status, hold_until);
CREATE UNIQUE INDEX payments_one_live ON payments (appointment_id)
    WHERE status IN ('pending', 'paid', 'refund_pending');

-- Stripe sends an event at least once: its id is kept so it is acted on once.
CREATE TABLE stripe_events (
    event_id    TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    received_at INTEGER NOT NULL
) WITHOUT ROWID;
