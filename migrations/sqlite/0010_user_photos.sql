-- Profile photos (SQLite): one per user at most. The two JPEG renditions (256 and
-- 64 px squares) live in the file store under random keys; this keeps the keys and
-- a version, random per upload, that names the photo in URLs and ETags so a cached
-- copy of an older photo is never served under a newer one's name.
CREATE TABLE user_photos (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    large_key  TEXT NOT NULL UNIQUE,
    small_key  TEXT NOT NULL UNIQUE,
    version    TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
