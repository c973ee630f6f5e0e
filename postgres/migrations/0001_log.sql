-- The log: one row per record, with the Merkle hashes committed with it.
-- The same shapes as the SQLite store's tables. Run with search_path set to
-- the store's schema.
CREATE TABLE records (
	idx         bigint      PRIMARY KEY,
	data        bytea       NOT NULL,
	hashes      bytea       NOT NULL,
	type        text        NOT NULL,
	event_id    text,
	activity_id text,
	agent_id    text,
	time        timestamptz NOT NULL
);
CREATE UNIQUE INDEX records_event_id ON records (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX records_activity_id ON records (activity_id) WHERE activity_id IS NOT NULL;

CREATE TABLE checkpoints (
	size    bigint      PRIMARY KEY,
	root    bytea       NOT NULL,
	note    bytea       NOT NULL,
	created timestamptz NOT NULL
);

CREATE TABLE meta (
	key   text PRIMARY KEY,
	value text NOT NULL
);
