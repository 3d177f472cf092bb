-- Each user's live stream stays keyed by (user_id, id), but the rows now lie in the
-- order they were written (a rowid table) and the key is an index beside them.
-- Clustered by user, a booking wrote its event's JSON twice into two random
-- leaves, one per recipient, splitting them often: a quarter of the booking's WAL
-- frames (docs/BENCHMARKS.md, session 23). Now the JSON goes to the table's last
-- page, which a group commit's bookings share, and only the key's small entries go
-- to random leaves.
CREATE TABLE live_events_new (
    user_id TEXT NOT NULL REFERENCES users (id),
    id      INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    data    TEXT NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
);
INSERT INTO live_events_new (user_id, id, kind, data, at)
    SELECT user_id, id, kind, data, at FROM live_events ORDER BY at, user_id, id;
DROP TABLE live_events;
ALTER TABLE live_events_new RENAME TO live_events;
