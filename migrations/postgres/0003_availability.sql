-- Availability versions: every transaction that changes a doctor's bookable time
-- (hours, time off, profile, account status, live appointments) bumps this once,
-- so in-memory copies of availability can tell which changes they have seen.
ALTER TABLE doctors ADD COLUMN availability_version BIGINT NOT NULL DEFAULT 0;
