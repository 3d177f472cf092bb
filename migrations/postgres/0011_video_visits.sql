-- Video visits (docs/VIDEO.md). A doctor offers a set of visit modes, stored as a
-- JSON array like `languages`; an appointment is in person or by video, and a
-- confirmed video visit holds the name of its meeting room (made once, kept across
-- reschedules; the link is built from the `video_url_template` setting when shown).
ALTER TABLE doctors ADD COLUMN visit_modes TEXT COLLATE "C" NOT NULL DEFAULT '["in_person"]';
ALTER TABLE appointments ADD COLUMN mode TEXT COLLATE "C" NOT NULL DEFAULT 'in_person' CHECK (mode IN ('in_person', 'video'));
ALTER TABLE appointments ADD COLUMN video_room TEXT COLLATE "C";
