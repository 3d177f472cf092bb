-- Reminders are planned shortly before they fall due, not written at booking
-- (docs/NOTIFICATIONS.md): one row remembers how far the planning has come.
-- `planned_through` (milliseconds): every reminder due before it is in the outbox;
-- NULL until the first pass, which starts from its own now. A pass holds the row
-- (FOR UPDATE) until it commits, so two workers never plan the same window at once.
CREATE TABLE reminder_plan (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    planned_through BIGINT
);
INSERT INTO reminder_plan (id, planned_through) VALUES (1, NULL);
