-- OpenLineage: the index of the lineage records (package openlineage), kept
-- in the transaction that appends them (a tlog indexer), so that a lineage
-- record is indexed if and only if it is in the log. The records stay the
-- evidence: each holds its event, byte for byte. Times are unix microseconds
-- of the events' eventTime.
--
-- IF NOT EXISTS: SQLite's schema version counts the migration files, and
-- 0008 was added after this one; a store made before 0008 existed is at
-- version 5 and runs this file again (its 0008 index is then missing, which
-- only makes the first read of the key records a scan).

-- One row per lineage record that holds an OpenLineage event.
CREATE TABLE IF NOT EXISTS prov_lineage_events (
	idx        INTEGER PRIMARY KEY,       -- the log index of the record
	kind       TEXT    NOT NULL,          -- run, dataset, job
	event_type TEXT,                      -- START, RUNNING, COMPLETE, ABORT, FAIL, OTHER; NULL: none
	at         INTEGER NOT NULL,          -- eventTime
	run_id     TEXT,                      -- RunEvent
	parent     TEXT,                      -- the parent facet's run id
	job_ns     TEXT,                      -- RunEvent, JobEvent
	job_name   TEXT,
	producer   TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS prov_lineage_events_run ON prov_lineage_events (run_id, idx) WHERE run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS prov_lineage_events_at ON prov_lineage_events (at);

-- Every run, as its events so far describe it: the state of its latest event
-- (by eventTime) that has one, started at its first START, ended at its
-- terminal event.
CREATE TABLE IF NOT EXISTS prov_lineage_runs (
	run_id   TEXT    PRIMARY KEY,
	job_ns   TEXT    NOT NULL,
	job_name TEXT    NOT NULL,
	parent   TEXT,
	state    TEXT,
	state_at INTEGER,                     -- eventTime of the event that set state
	started  INTEGER,
	ended    INTEGER,
	first    INTEGER NOT NULL,            -- log index of its first and latest events
	last     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS prov_lineage_runs_job ON prov_lineage_runs (job_ns, job_name);
CREATE INDEX IF NOT EXISTS prov_lineage_runs_parent ON prov_lineage_runs (parent) WHERE parent IS NOT NULL;

-- Every job and dataset an event named, with when it was first named.
CREATE TABLE IF NOT EXISTS prov_lineage_jobs (
	namespace TEXT    NOT NULL,
	name      TEXT    NOT NULL,
	first_at  INTEGER NOT NULL,
	first     INTEGER NOT NULL,           -- log index of the first event that named it
	last      INTEGER NOT NULL,
	PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS prov_lineage_datasets (
	namespace TEXT    NOT NULL,
	name      TEXT    NOT NULL,
	first_at  INTEGER NOT NULL,
	first     INTEGER NOT NULL,
	last      INTEGER NOT NULL,
	PRIMARY KEY (namespace, name)
) WITHOUT ROWID;

-- Inputs and outputs: one row per dataset an event lists.
CREATE TABLE IF NOT EXISTS prov_lineage_io (
	idx       INTEGER NOT NULL,           -- the log index of the record
	output    INTEGER NOT NULL,           -- 0 input, 1 output (2: the dataset of a DatasetEvent)
	pos       INTEGER NOT NULL,           -- its place in the event's inputs or outputs
	run_id    TEXT,                       -- NULL: a JobEvent or DatasetEvent
	namespace TEXT    NOT NULL,
	name      TEXT    NOT NULL,
	at        INTEGER NOT NULL,           -- eventTime
	version   TEXT,                       -- the version facet's datasetVersion
	row_count INTEGER,                    -- outputStatistics / inputStatistics / dataQualityMetrics
	bytes     INTEGER,
	schema    TEXT,                       -- the schema facet's fields, as sent
	source    TEXT,                       -- the dataSource facet's uri or name
	PRIMARY KEY (idx, output, pos)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS prov_lineage_io_run ON prov_lineage_io (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS prov_lineage_io_dataset ON prov_lineage_io (namespace, name, at);

-- Column lineage (the columnLineage facet): column field of the dataset
-- out_ns/out_name derives from in_field of in_ns/in_name. field is '' for a
-- dataset-level dependency.
CREATE TABLE IF NOT EXISTS prov_lineage_columns (
	idx            INTEGER NOT NULL,
	pos            INTEGER NOT NULL,
	run_id         TEXT,
	at             INTEGER NOT NULL,
	out_ns         TEXT    NOT NULL,
	out_name       TEXT    NOT NULL,
	field          TEXT    NOT NULL,
	in_ns          TEXT    NOT NULL,
	in_name        TEXT    NOT NULL,
	in_field       TEXT    NOT NULL,
	transformation TEXT,
	PRIMARY KEY (idx, pos)
) WITHOUT ROWID;
