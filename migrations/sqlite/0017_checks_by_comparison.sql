-- carebook:foreign-keys-off
-- The status and channel checks of the two tables a booking writes to most, and the
-- double-booking triggers, compare with `=` instead of `IN (...)` (SQLite).
--
-- SQLite evaluates `x IN (a, b, c)` with three or more constants by building a
-- temporary B-tree of the constants every time the statement runs: a page cache, a
-- pager and a hash table allocated, filled and freed for every insert into these
-- tables and every overlap check, about five times per booking, a tenth of the
-- writer's time (docs/BENCHMARKS.md, session 20). A chain of comparisons means the
-- same and costs nothing of the kind. A test in src/store/sqlite.rs checks that
-- no booking statement builds one.
--
-- SQLite cannot alter a CHECK: both tables are rebuilt the documented way, as in
-- migration 13, with foreign keys off so that what points at them keeps pointing at
-- them; dropping `appointments` drops its triggers, which are made again below with
-- the same rules as migration 16.

CREATE TABLE appointments_new (
    id         TEXT PRIMARY KEY,
    doctor_id  TEXT NOT NULL REFERENCES users (id),
    patient_id TEXT NOT NULL REFERENCES users (id),
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL CHECK (end_at > start_at),
    status     TEXT NOT NULL CHECK (status = 'awaiting_payment' OR status = 'requested' OR status = 'confirmed' OR status = 'checked_in' OR status = 'completed' OR status = 'rejected' OR status = 'cancelled' OR status = 'no_show'),
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
CREATE INDEX appointments_start ON appointments (start_at, id);
CREATE INDEX appointments_doctor_slot ON appointments (doctor_id, start_at, end_at, status);
CREATE INDEX appointments_patient_slot ON appointments (patient_id, start_at, end_at, status);

-- Live statuses: AppointmentStatus::is_live (tested pair by pair in src/store/sqlite.rs).
CREATE TRIGGER appointments_refuse_overlap_on_insert
BEFORE INSERT ON appointments
WHEN NEW.status = 'awaiting_payment' OR NEW.status = 'requested' OR NEW.status = 'confirmed' OR NEW.status = 'checked_in'
BEGIN
    SELECT RAISE(ABORT, 'carebook:appointment-too-long')
    WHERE NEW.end_at - NEW.start_at > 86400000;
    SELECT RAISE(ABORT, 'carebook:doctor-slot-taken')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE doctor_id = NEW.doctor_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND (status = 'awaiting_payment' OR status = 'requested' OR status = 'confirmed' OR status = 'checked_in'));
    SELECT RAISE(ABORT, 'carebook:patient-busy')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE patient_id = NEW.patient_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND (status = 'awaiting_payment' OR status = 'requested' OR status = 'confirmed' OR status = 'checked_in'));
END;

CREATE TRIGGER appointments_refuse_overlap_on_update
BEFORE UPDATE OF doctor_id, patient_id, start_at, end_at, status ON appointments
WHEN (NEW.status = 'awaiting_payment' OR NEW.status = 'requested' OR NEW.status = 'confirmed' OR NEW.status = 'checked_in')
 AND NOT ((OLD.status = 'awaiting_payment' OR OLD.status = 'requested' OR OLD.status = 'confirmed' OR OLD.status = 'checked_in')
          AND OLD.doctor_id = NEW.doctor_id AND OLD.patient_id = NEW.patient_id
          AND OLD.start_at = NEW.start_at AND OLD.end_at = NEW.end_at)
BEGIN
    SELECT RAISE(ABORT, 'carebook:appointment-too-long')
    WHERE NEW.end_at - NEW.start_at > 86400000;
    SELECT RAISE(ABORT, 'carebook:doctor-slot-taken')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE doctor_id = NEW.doctor_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND (status = 'awaiting_payment' OR status = 'requested' OR status = 'confirmed' OR status = 'checked_in')
          AND rowid <> OLD.rowid);
    SELECT RAISE(ABORT, 'carebook:patient-busy')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE patient_id = NEW.patient_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND (status = 'awaiting_payment' OR status = 'requested' OR status = 'confirmed' OR status = 'checked_in')
          AND rowid <> OLD.rowid);
END;

CREATE TABLE deliveries_new (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    channel         TEXT NOT NULL CHECK (channel = 'email' OR channel = 'sms' OR channel = 'webhook' OR channel = 'sns' OR channel = 'in_app'),
    kind            TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id),
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
           created_at, updated_at, sent_at FROM deliveries;
DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;
CREATE INDEX deliveries_due ON deliveries (status, due_at);
CREATE INDEX deliveries_appointment ON deliveries (appointment_id);
CREATE INDEX deliveries_created ON deliveries (created_at, id);
