-- Claims are released by their own keys (doctor or patient, unit), read from the
-- appointment's stored slot, as on SQLite: the indexes on `appointment_id` were one
-- more index to change for every 5-minute unit of every booking.
DROP INDEX doctor_claims_appointment;
DROP INDEX patient_claims_appointment;
