-- carebook:foreign-keys-off
-- A booking's insert into `appointments` no longer keeps a statement journal
-- (SQLite).
--
-- SQLite copies every page a statement changes into a statement journal when the
-- statement may write several rows (the table has triggers: the double-booking
-- guard of migration 16) and may abort halfway (an immediate foreign key, a
-- constraint or a trigger's RAISE with ABORT). For the booking's insert that was
-- 6 % of the writer's instructions (docs/BENCHMARKS.md, sessions 25 and 27). Now
-- the store writes `INSERT OR FAIL` and `UPDATE OR FAIL`, the triggers
-- `RAISE(FAIL)`, and the three accounts an appointment names are checked by a
-- trigger instead of foreign keys: every guard stays, and a statement that writes
-- one row and fails before writing it (every check runs before the row is
-- written) has nothing to undo.
--
-- SQLite cannot drop a foreign key: the table is rebuilt the documented way, as in
-- migration 17, with foreign keys off so that what points at it keeps pointing at
-- it; its indexes and triggers are made again.

CREATE TABLE appointments_new (
    id         TEXT PRIMARY KEY,
    doctor_id  TEXT NOT NULL,
    patient_id TEXT NOT NULL,
    start_at   INTEGER NOT NULL,
    end_at     INTEGER NOT NULL CHECK (end_at > start_at),
    status     TEXT NOT NULL CHECK (status = 'awaiting_payment' OR status = 'requested' OR status = 'confirmed' OR status = 'checked_in' OR status = 'completed' OR status = 'rejected' OR status = 'cancelled' OR status = 'no_show'),
    reason     TEXT,
    status_reason TEXT,
    created_by TEXT NOT NULL,
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

-- The three people an appointment names are accounts: what the foreign keys checked.
CREATE TRIGGER appointments_name_accounts_on_insert
BEFORE INSERT ON appointments
BEGIN
    SELECT RAISE(FAIL, 'carebook:unknown-account')
    WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.doctor_id)
       OR NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.patient_id)
       OR NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.created_by);
END;

CREATE TRIGGER appointments_name_accounts_on_update
BEFORE UPDATE OF doctor_id, patient_id, created_by ON appointments
BEGIN
    SELECT RAISE(FAIL, 'carebook:unknown-account')
    WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.doctor_id)
       OR NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.patient_id)
       OR NOT EXISTS (SELECT 1 FROM users WHERE id = NEW.created_by);
END;

-- Live statuses: AppointmentStatus::is_live (tested pair by pair in src/store/sqlite.rs).
CREATE TRIGGER appointments_refuse_overlap_on_insert
BEFORE INSERT ON appointments
WHEN NEW.status = 'awaiting_payment' OR NEW.status = 'requested' OR NEW.status = 'confirmed' OR NEW.status = 'checked_in'
BEGIN
    SELECT RAISE(FAIL, 'carebook:appointment-too-long')
    WHERE NEW.end_at - NEW.start_at > 86400000;
    SELECT RAISE(FAIL, 'carebook:doctor-slot-taken')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE doctor_id = NEW.doctor_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND (status = 'awaiting_payment' OR status = 'requested' OR status = 'confirmed' OR status = 'checked_in'));
    SELECT RAISE(FAIL, 'carebook:patient-busy')
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
    SELECT RAISE(FAIL, 'carebook:appointment-too-long')
    WHERE NEW.end_at - NEW.start_at > 86400000;
    SELECT RAISE(FAIL, 'carebook:doctor-slot-taken')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE doctor_id = NEW.doctor_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND (status = 'awaiting_payment' OR status = 'requested' OR status = 'confirmed' OR status = 'checked_in')
          AND rowid <> OLD.rowid);
    SELECT RAISE(FAIL, 'carebook:patient-busy')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE patient_id = NEW.patient_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND (status = 'awaiting_payment' OR status = 'requested' OR status = 'confirmed' OR status = 'checked_in')
          AND rowid <> OLD.rowid);
END;
