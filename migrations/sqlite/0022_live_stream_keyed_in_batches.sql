-- Each user's live stream keeps its ids (1, 2, 3, ...) and its replay by user, but
-- the key that finds a user's events is written in batches, not with every event
-- (SQLite).
--
-- The key (user_id, id) put one entry per recipient into a random leaf of its
-- index with every booking: 17.7 % of a booking's WAL frames (docs/BENCHMARKS.md,
-- session 29). Now an event is appended to `live_events` alone, and the writer
-- copies the new events' keys into `live_event_keys` every second or so, a batch at
-- a time, in parts by key range: the many entries a batch puts into one leaf cost
-- one frame. `live_events_keyed.through` is the last event whose key is in place
-- (every event up to it is keyed); a replay reads the key up to it and the few
-- events after it directly. The next id of a user is counted by the writer (see
-- `store/sqlite/chat.rs`).
CREATE TABLE live_events_new (
    user_id TEXT NOT NULL,
    id      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      INTEGER NOT NULL
);
INSERT INTO live_events_new (user_id, id, kind, data, at)
    SELECT user_id, id, kind, data, at FROM live_events ORDER BY rowid;
DROP TABLE live_events;
ALTER TABLE live_events_new RENAME TO live_events;

CREATE TABLE live_event_keys (
    user_id TEXT NOT NULL,
    id      INTEGER NOT NULL,
    event   INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
INSERT INTO live_event_keys (user_id, id, event)
    SELECT user_id, id, rowid FROM live_events ORDER BY user_id, id;

CREATE TABLE live_events_keyed (
    through INTEGER NOT NULL
);
INSERT INTO live_events_keyed (through) SELECT COALESCE(MAX(rowid), 0) FROM live_events;
