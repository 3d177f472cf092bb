-- A user's notifications are found through one index instead of two: the list's
-- (user_id, created_at, id) and the unread count's partial (user_id) WHERE read_at
-- IS NULL. Every notification went into both, each entry into a random leaf per
-- recipient: about one WAL frame in ten that a booking writes (docs/BENCHMARKS.md,
-- session 27). One index keyed (user, unread?, newest) serves all three uses: the
-- unread count and "mark all read" read the unread part alone, and a page of the
-- list is the newest of the two parts' newest (src/store/sqlite/notifications.rs).
-- A notification marked read moves from one part to the other.
CREATE INDEX notifications_by_user ON notifications (user_id, read_at IS NULL, created_at, id);
DROP INDEX notifications_user;
DROP INDEX notifications_unread;
