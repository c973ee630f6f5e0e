-- The log: one row per record, with the Merkle hashes committed with it.
CREATE TABLE records (
	idx         INTEGER PRIMARY KEY,
	data        BLOB    NOT NULL,
	hashes      BLOB    NOT NULL,
	type        TEXT    NOT NULL,
	event_id    TEXT,
	activity_id TEXT,
	agent_id    TEXT,
	time        INTEGER NOT NULL -- unix microseconds
);
CREATE UNIQUE INDEX records_event_id ON records(event_id) WHERE event_id IS NOT NULL;
CREATE INDEX records_activity_id ON records(activity_id) WHERE activity_id IS NOT NULL;

CREATE TABLE checkpoints (
	size    INTEGER PRIMARY KEY,
	root    BLOB    NOT NULL,
	note    BLOB    NOT NULL,
	created INTEGER NOT NULL -- unix microseconds
);

CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
