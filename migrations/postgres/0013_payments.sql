-- Payments (docs/PAYMENTS.md), PostgreSQL.
ALTER TABLE appointments DROP CONSTRAINT appointments_status_check;
ALTER TABLE appointments ADD CONSTRAINT appointments_status_check
    CHECK (status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in', 'completed', 'rejected', 'cancelled', 'no_show'));

-- How a doctor takes the fee: at the clinic (the default) or online when booking.
ALTER TABLE doctors ADD COLUMN payment_mode TEXT COLLATE "C" NOT NULL DEFAULT 'at_clinic' CHECK (payment_mode IN ('at_clinic', 'online'));

-- One row per attempt to take an appointment's fee: a Stripe Checkout, or a payment
-- recorded at the desk. At most one of an appointment's rows is pending or holds
-- money at a time.
CREATE TABLE payments (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    appointment_id      TEXT COLLATE "C" NOT NULL REFERENCES appointments (id),
    patient_id          TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    doctor_id           TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    amount_minor        BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency            TEXT COLLATE "C" NOT NULL,
    method              TEXT COLLATE "C" NOT NULL CHECK (method IN ('stripe', 'cash', 'card_terminal')),
    status              TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'paid', 'refund_pending', 'refunded', 'expired', 'cancelled')),
    checkout_session_id TEXT COLLATE "C" UNIQUE,
    checkout_url        TEXT COLLATE "C",
    payment_intent      TEXT COLLATE "C",
    hold_until          BIGINT,
    paid_at             BIGINT,
    refund_id           TEXT COLLATE "C",
    refund_reason       TEXT COLLATE "C",
    refunded_at         BIGINT,
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT,
    last_error          TEXT COLLATE "C",
    recorded_by         TEXT COLLATE "C" REFERENCES users (id),
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX payments_appointment ON payments (appointment_id, created_at);
CREATE INDEX payments_created ON payments (created_at, id);
CREATE INDEX payments_due ON payments (status, next_attempt_at);
CREATE INDEX payments_hold ON payments (status, hold_until);
CREATE UNIQUE INDEX payments_one_live ON payments (appointment_id)
    WHERE status IN ('pending', 'paid', 'refund_pending');

-- Stripe sends an event at least once: its id is kept so it is acted on once.
CREATE TABLE stripe_events (
    event_id    TEXT COLLATE "C" PRIMARY KEY,
    kind        TEXT COLLATE "C" NOT NULL,
    received_at BIGINT NOT NULL
);
