-- Blame and history read the activity records of the activities a row's
-- changes name, by activity id (investigate, snapshot.lookup): this index
-- holds the activity records only (a few per activity), so appending change
-- records does not write it, and a lookup reads the records it wants, not
-- every activity record.
CREATE INDEX records_activity_records ON records(activity_id) WHERE type = 'activity';
