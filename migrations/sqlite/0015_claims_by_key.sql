-- Claims are released by their own keys (doctor or patient, unit), read from the
-- appointment's stored slot: the indexes on `appointment_id` were one more B-tree
-- to change for every 5-minute unit of every booking (docs/BENCHMARKS.md, session 13).
DROP INDEX doctor_claims_appointment;
DROP INDEX patient_claims_appointment;
