-- Attachments (SQLite): files uploaded to a patient's file or to one visit. The bytes
-- live in the file store (a local folder or an S3-compatible bucket) under a random
-- key; this keeps who uploaded what, its checked type, size and SHA-256.
--
-- A deleted attachment keeps its row (who deleted it and when) and loses its bytes:
-- `purged_at` is set once the file store has removed them, and a sweep retries the
-- ones whose removal failed.
CREATE TABLE attachments (
    id             TEXT PRIMARY KEY,
    patient_id     TEXT NOT NULL REFERENCES users (id),
    appointment_id TEXT REFERENCES appointments (id),
    uploaded_by    TEXT NOT NULL REFERENCES users (id),
    file_name      TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    size_bytes     INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    object_key     TEXT NOT NULL UNIQUE,
    created_at     INTEGER NOT NULL,
    deleted_at     INTEGER,
    deleted_by     TEXT REFERENCES users (id),
    purged_at      INTEGER
);
CREATE INDEX attachments_patient ON attachments (patient_id, created_at);
CREATE INDEX attachments_appointment ON attachments (appointment_id, created_at)
    WHERE appointment_id IS NOT NULL;
CREATE INDEX attachments_to_purge ON attachments (deleted_at)
    WHERE deleted_at IS NOT NULL AND purged_at IS NULL;
