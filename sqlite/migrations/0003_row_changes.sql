-- Investigation: the sequenced changes of every captured row, kept by the
-- sequencer in the transaction that appends their records, so that blame,
-- history, find, fix and revert select rows by who, what and when without
-- reading the records. The records stay the evidence; this is their index.
CREATE TABLE prov_row_changes (
	relid    INTEGER NOT NULL,            -- prov_captured.id
	pk       TEXT    NOT NULL,            -- the primary key as a JSON object in key order, as in entity ids
	idx      INTEGER NOT NULL,            -- the log index of the change record
	op       TEXT    NOT NULL,            -- I insert, U update, D delete
	activity TEXT,                        -- NULL: unattributed
	agent    TEXT,
	at       INTEGER NOT NULL,            -- unix microseconds
	columns  TEXT,                        -- the columns written, as ,"a","b", (every column for an insert); NULL: none (a delete)
	PRIMARY KEY (relid, pk, idx)
) WITHOUT ROWID;
CREATE INDEX prov_row_changes_activity ON prov_row_changes (activity, relid);
CREATE INDEX prov_row_changes_at ON prov_row_changes (relid, at);

-- Every activity that changes were attributed to, with the parent its
-- attribution named and its span, kept by the sequencer.
CREATE TABLE prov_change_activities (
	id      TEXT    PRIMARY KEY,
	parent  TEXT,
	first   INTEGER NOT NULL,             -- unix microseconds
	last    INTEGER NOT NULL,
	changes INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX prov_change_activities_parent ON prov_change_activities (parent) WHERE parent IS NOT NULL;

-- The activity records, found without reading the whole log.
CREATE INDEX records_activities ON records (idx) WHERE type = 'activity';
