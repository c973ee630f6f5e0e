-- Investigation: the sequenced changes of every captured row, kept by the
-- sequencer in the transaction that appends their records, so that blame,
-- history, find, fix and revert select rows by who, what and when without
-- reading the records. The records stay the evidence; this is their index.
CREATE TABLE row_changes (
	relid    oid         NOT NULL,
	pk       text        NOT NULL,            -- the primary key as a JSON object in key order, as in entity ids
	idx      bigint      NOT NULL,            -- the log index of the change record
	op       "char"      NOT NULL,            -- I insert, U update, D delete, T truncate
	activity text,                            -- NULL: unattributed
	agent    text,
	at       timestamptz NOT NULL,
	columns  text,                            -- the columns written, as ,"a","b", (every column for an insert); NULL: none (a delete)
	PRIMARY KEY (relid, pk, idx)
);
CREATE INDEX row_changes_activity ON row_changes (activity, relid);
CREATE INDEX row_changes_at ON row_changes (relid, at);

-- Every activity that changes were attributed to, with the parent its
-- attribution named and its span, kept by the sequencer: with the activity
-- records, what `prov activities` lists and what --release and --kind
-- resolve through.
CREATE TABLE change_activities (
	id      text        PRIMARY KEY,
	parent  text,
	first   timestamptz NOT NULL,
	last    timestamptz NOT NULL,
	changes bigint      NOT NULL
);

CREATE INDEX change_activities_parent ON change_activities (parent) WHERE parent IS NOT NULL;

-- The activity records, found without reading the whole log.
CREATE INDEX records_activities ON records (idx) WHERE type = 'activity';
