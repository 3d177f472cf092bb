-- Prescriptions and visit feedback (SQLite). Instants are INTEGER unix milliseconds.

-- A prescription issued by an appointment's doctor. Never deleted nor overwritten:
-- revoking sets `revoked_*` and keeps everything else. `lines` is the JSON array of
-- medication lines as validated by the domain. `pdf` is the document carebook
-- rendered at issue (base64), served as it was issued. `verify_hash` is the SHA-256
-- of the normalised verification code: the code itself is printed on the PDF and
-- stored nowhere else.
CREATE TABLE prescriptions (
    id             TEXT PRIMARY KEY,
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    patient_id     TEXT NOT NULL REFERENCES users (id),
    doctor_id      TEXT NOT NULL REFERENCES users (id),
    lines          TEXT NOT NULL,
    notes          TEXT,
    issued_at      INTEGER NOT NULL,
    completes_at   INTEGER NOT NULL,
    verify_hash    TEXT NOT NULL UNIQUE,
    pdf            TEXT NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX prescriptions_patient ON prescriptions (patient_id, issued_at, id);
CREATE INDEX prescriptions_appointment ON prescriptions (appointment_id);

-- One rating per completed visit, by its patient. A hidden comment is kept with
-- who hid it and why; its rating still counts.
CREATE TABLE feedback (
    id             TEXT PRIMARY KEY,
    appointment_id TEXT NOT NULL UNIQUE REFERENCES appointments (id),
    patient_id     TEXT NOT NULL REFERENCES users (id),
    doctor_id      TEXT NOT NULL REFERENCES users (id),
    rating         INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment        TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    reply          TEXT,
    replied_at     INTEGER,
    hidden_at      INTEGER,
    hidden_by      TEXT REFERENCES users (id),
    hidden_reason  TEXT
);
CREATE INDEX feedback_doctor ON feedback (doctor_id, created_at, id);

-- Each doctor's rating totals, kept in the transaction that changes a rating, so a
-- profile or a search page reads one row per doctor and never aggregates feedback.
CREATE TABLE doctor_ratings (
    doctor_id    TEXT PRIMARY KEY REFERENCES users (id),
    rating_count INTEGER NOT NULL,
    rating_sum   INTEGER NOT NULL
);
