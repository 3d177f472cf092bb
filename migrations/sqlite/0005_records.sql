-- Clinical records (SQLite): visit records with every version kept, the patient's
-- health summary with every version kept, and the log of every read of clinical
-- data. Clinical content is a JSON document per version (`content`).

-- Every read of clinical data: who, what, when, and, for a break-glass read, why.
CREATE TABLE clinical_reads (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    at                 INTEGER NOT NULL,
    actor_id           TEXT NOT NULL REFERENCES users (id),
    actor_role         TEXT NOT NULL,
    patient_id         TEXT NOT NULL REFERENCES users (id),
    subject_kind       TEXT NOT NULL,
    subject_id         TEXT NOT NULL,
    break_glass_reason TEXT
);
CREATE INDEX clinical_reads_patient ON clinical_reads (patient_id, id);

-- One visit record per appointment, written by its doctor (`author_id`).
-- `version` is the latest version's number.
CREATE TABLE records (
    id             TEXT PRIMARY KEY,
    appointment_id TEXT NOT NULL UNIQUE REFERENCES appointments (id),
    patient_id     TEXT NOT NULL REFERENCES users (id),
    author_id      TEXT NOT NULL REFERENCES users (id),
    version        INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX records_patient ON records (patient_id, created_at, id);

-- Never updated or deleted: an amendment adds the next version. The primary key is
-- the guard against a lost update: of two amendments of the same version, one wins.
CREATE TABLE record_versions (
    record_id TEXT NOT NULL REFERENCES records (id),
    version   INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    author_id TEXT NOT NULL REFERENCES users (id),
    reason    TEXT,
    content   TEXT NOT NULL,
    PRIMARY KEY (record_id, version)
) WITHOUT ROWID;

-- The health summary, one row per version (`kind`: stated, confirmed, corrected).
CREATE TABLE health_summaries (
    patient_id  TEXT NOT NULL REFERENCES users (id),
    version     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    author_id   TEXT NOT NULL REFERENCES users (id),
    author_role TEXT NOT NULL,
    kind        TEXT NOT NULL,
    note        TEXT,
    content     TEXT NOT NULL,
    PRIMARY KEY (patient_id, version)
) WITHOUT ROWID;
