-- Prescriptions and visit feedback (PostgreSQL). Instants are BIGINT unix milliseconds.

-- A prescription issued by an appointment's doctor. Never deleted nor overwritten:
-- revoking sets `revoked_*` and keeps everything else. `lines` is the JSON array of
-- medication lines as validated by the domain. `pdf` is the document carebook
-- rendered at issue (base64), served as it was issued. `verify_hash` is the SHA-256
-- of the normalised verification code: the code itself is printed on the PDF and
-- stored nowhere else.
CREATE TABLE prescriptions (
    id             TEXT COLLATE "C" PRIMARY KEY,
    appointment_id TEXT COLLATE "C" NOT NULL REFERENCES appointments (id),
    patient_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    doctor_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    lines          TEXT COLLATE "C" NOT NULL,
    notes          TEXT COLLATE "C",
    issued_at      BIGINT NOT NULL,
    completes_at   BIGINT NOT NULL,
    verify_hash    TEXT COLLATE "C" NOT NULL UNIQUE,
    pdf            TEXT COLLATE "C" NOT NULL,
    revoked_at     BIGINT,
    revoked_reason TEXT COLLATE "C"
);
CREATE INDEX prescriptions_patient ON prescriptions (patient_id, issued_at, id);
CREATE INDEX prescriptions_appointment ON prescriptions (appointment_id);

-- One rating per completed visit, by its patient. A hidden comment is kept with
-- who hid it and why; its rating still counts.
CREATE TABLE feedback (
    id             TEXT COLLATE "C" PRIMARY KEY,
    appointment_id TEXT COLLATE "C" NOT NULL UNIQUE REFERENCES appointments (id),
    patient_id     TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    doctor_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id),
    rating         BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment        TEXT COLLATE "C",
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL,
    reply          TEXT COLLATE "C",
    replied_at     BIGINT,
    hidden_at      BIGINT,
    hidden_by      TEXT COLLATE "C" REFERENCES users (id),
    hidden_reason  TEXT COLLATE "C"
);
CREATE INDEX feedback_doctor ON feedback (doctor_id, created_at, id);

-- Each doctor's rating totals, kept in the transaction that changes a rating, so a
-- profile or a search page reads one row per doctor and never aggregates feedback.
CREATE TABLE doctor_ratings (
    doctor_id    TEXT COLLATE "C" PRIMARY KEY REFERENCES users (id),
    rating_count BIGINT NOT NULL,
    rating_sum   BIGINT NOT NULL
);
