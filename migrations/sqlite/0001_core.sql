-- carebook core schema (SQLite). Instants are INTEGER unix milliseconds, UTC.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    phone         TEXT,
    date_of_birth TEXT,
    role          TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'receptionist', 'admin')),
    status        TEXT NOT NULL CHECK (status IN ('pending', 'active', 'deactivated')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX users_role_name ON users (role, name, id);
CREATE INDEX users_name ON users (name, id);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id),
    csrf_token TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE login_attempts (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    email     TEXT NOT NULL,
    client    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    succeeded INTEGER NOT NULL
);
CREATE INDEX login_attempts_email ON login_attempts (email, at);
CREATE INDEX login_attempts_client ON login_attempts (client, at);

CREATE TABLE specialties (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    slug TEXT NOT NULL UNIQUE
);

CREATE TABLE doctors (
    user_id             TEXT PRIMARY KEY REFERENCES users (id),
    bio                 TEXT,
    qualifications      TEXT,
    years_experience    INTEGER,
    languages           TEXT NOT NULL DEFAULT '[]',
    fee_amount          INTEGER,
    fee_currency        TEXT,
    time_zone           TEXT NOT NULL,
    slot_minutes        INTEGER NOT NULL,
    min_notice_minutes  INTEGER NOT NULL,
    horizon_days        INTEGER NOT NULL,
    auto_confirm        INTEGER NOT NULL,
    cancel_window_hours INTEGER NOT NULL
);

CREATE TABLE doctor_specialties (
    doctor_id    TEXT NOT NULL REFERENCES doctors (user_id),
    specialty_id TEXT NOT NULL REFERENCES specialties (id),
    PRIMARY KEY (doctor_id, specialty_id)
) WITHOUT ROWID;
CREATE INDEX doctor_specialties_specialty ON doctor_specialties (specialty_id, doctor_id);

-- Weekly hours: local wall-clock minutes since midnight, day 1 = Monday.
CREATE TABLE doctor_weekly_hours (
    doctor_id    TEXT NOT NULL REFERENCES doctors (user_id),
    day          INTEGER NOT NULL CHECK (day BETWEEN 1 AND 7),
    start_minute INTEGER NOT NULL,
    end_minute   INTEGER NOT NULL,
    PRIMARY KEY (doctor_id, day, start_minute)
) WITHOUT ROWID;

CREATE TABLE time_off (
    id         TEXT PRIMARY KEY,
    doctor_id  TEXT NOT NULL REFERENCES doctors (user_id),
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL CHECK (end_at > start_at),
    reason     TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX time_off_doctor ON time_off (doctor_id, start_at);

CREATE TABLE appointments (
    id         TEXT PRIMARY KEY,
    doctor_id  TEXT NOT NULL REFERENCES users (id),
    patient_id TEXT NOT NULL REFERENCES users (id),
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL CHECK (end_at > start_at),
    status     TEXT NOT NULL CHECK (status IN ('requested', 'confirmed', 'checked_in', 'completed', 'rejected', 'cancelled', 'no_show')),
    reason     TEXT,
    status_reason TEXT,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX appointments_doctor_start ON appointments (doctor_id, start_at);
CREATE INDEX appointments_patient_start ON appointments (patient_id, start_at);
CREATE INDEX appointments_start ON appointments (start_at, id);

-- The database's own guard against double booking: one row per 5-minute unit that a
-- live appointment covers. A second claim of the same unit violates the primary key.
CREATE TABLE doctor_claims (
    doctor_id      TEXT NOT NULL,
    unit_start     INTEGER NOT NULL,
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    PRIMARY KEY (doctor_id, unit_start)
) WITHOUT ROWID;
CREATE INDEX doctor_claims_appointment ON doctor_claims (appointment_id);

CREATE TABLE patient_claims (
    patient_id     TEXT NOT NULL,
    unit_start     INTEGER NOT NULL,
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    PRIMARY KEY (patient_id, unit_start)
) WITHOUT ROWID;
CREATE INDEX patient_claims_appointment ON patient_claims (appointment_id);

CREATE TABLE appointment_events (
    appointment_id TEXT NOT NULL REFERENCES appointments (id),
    seq            INTEGER NOT NULL,
    at             INTEGER NOT NULL,
    actor_id       TEXT REFERENCES users (id),
    action         TEXT NOT NULL,
    from_status    TEXT,
    to_status      TEXT NOT NULL,
    from_start     INTEGER,
    to_start       INTEGER,
    reason         TEXT,
    PRIMARY KEY (appointment_id, seq)
) WITHOUT ROWID;

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor_id     TEXT,
    action       TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id   TEXT,
    detail       TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
CREATE INDEX audit_log_subject ON audit_log (subject_id, id);
