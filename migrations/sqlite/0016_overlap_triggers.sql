-- The guard against double booking on SQLite is now two triggers on `appointments`
-- instead of claim rows (docs/ARCHITECTURE.md, "No double booking").
--
-- SQLite lets one transaction write at a time, across every connection and process
-- of the file, and a writing transaction reads the latest commit: a check made
-- inside it cannot race another writer. So a trigger that looks for an overlapping
-- live appointment of the same doctor or patient, and aborts the statement when it
-- finds one, refuses a double booking as surely as a unique key, whichever code
-- path (or `carebook copy`) writes the row. It reads the two indexes below, which
-- the new row changes anyway, where the claims cost two more B-trees and a dozen
-- rows per booking.
--
-- A live appointment is at most a day long (the longest slot is four hours), so an
-- overlap starts less than a day before the new one ends: the check scans a day of
-- one doctor's (one patient's) index entries, never their whole history.
--
-- The live statuses are AppointmentStatus::is_live; a test in src/store/sqlite.rs
-- keeps the two lists equal.

DROP TABLE doctor_claims;
DROP TABLE patient_claims;

-- The check reads start, end and status from the index alone.
DROP INDEX appointments_doctor_start;
DROP INDEX appointments_patient_start;
CREATE INDEX appointments_doctor_slot ON appointments (doctor_id, start_at, end_at, status);
CREATE INDEX appointments_patient_slot ON appointments (patient_id, start_at, end_at, status);

CREATE TRIGGER appointments_refuse_overlap_on_insert
BEFORE INSERT ON appointments
WHEN NEW.status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in')
BEGIN
    SELECT RAISE(ABORT, 'carebook:appointment-too-long')
    WHERE NEW.end_at - NEW.start_at > 86400000;
    SELECT RAISE(ABORT, 'carebook:doctor-slot-taken')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE doctor_id = NEW.doctor_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in'));
    SELECT RAISE(ABORT, 'carebook:patient-busy')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE patient_id = NEW.patient_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in'));
END;

-- An update that leaves a live appointment where and whose it was (confirm, check
-- in, a new reason) cannot make an overlap: it is not checked again.
CREATE TRIGGER appointments_refuse_overlap_on_update
BEFORE UPDATE OF doctor_id, patient_id, start_at, end_at, status ON appointments
WHEN NEW.status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in')
 AND NOT (OLD.status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in')
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
          AND status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in')
          AND rowid <> OLD.rowid);
    SELECT RAISE(ABORT, 'carebook:patient-busy')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE patient_id = NEW.patient_id
          AND start_at > NEW.start_at - 86400000 AND start_at < NEW.end_at
          AND end_at > NEW.start_at
          AND status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in')
          AND rowid <> OLD.rowid);
END;
