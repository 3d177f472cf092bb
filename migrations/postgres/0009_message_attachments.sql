-- A chat message may carry one attachment: a file of the conversation's patient's
-- file that the sender uploaded (the app checks; see docs/LIVE.md). The file's own
-- access rules govern its download.
ALTER TABLE messages ADD COLUMN attachment_id TEXT COLLATE "C" REFERENCES attachments (id);
