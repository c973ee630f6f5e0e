-- OpenLineage: the index of the lineage records (package openlineage), kept
-- in the transaction that appends them (a tlog indexer), so that a lineage
-- record is indexed if and only if it is in the log. The records stay the
-- evidence: each holds its event, byte for byte. Times are the events'
-- eventTime.

-- One row per lineage record that holds an OpenLineage event.
CREATE TABLE lineage_events (
	idx        bigint PRIMARY KEY,     -- the log index of the record
	kind       text    NOT NULL,          -- run, dataset, job
	event_type text,                      -- START, RUNNING, COMPLETE, ABORT, FAIL, OTHER; NULL: none
	at         timestamptz NOT NULL,          -- eventTime
	run_id     text,                      -- RunEvent
	parent     text,                      -- the parent facet's run id
	job_ns     text,                      -- RunEvent, JobEvent
	job_name   text,
	producer   text    NOT NULL
);
CREATE INDEX lineage_events_run ON lineage_events (run_id, idx) WHERE run_id IS NOT NULL;
CREATE INDEX lineage_events_at ON lineage_events (at);

-- Every run, as its events so far describe it: the state of its latest event
-- (by eventTime) that has one, started at its first START, ended at its
-- terminal event.
CREATE TABLE lineage_runs (
	run_id   text    PRIMARY KEY,
	job_ns   text    NOT NULL,
	job_name text    NOT NULL,
	parent   text,
	state    text,
	state_at timestamptz,                     -- eventTime of the event that set state
	started  timestamptz,
	ended    timestamptz,
	first    bigint NOT NULL,            -- log index of its first and latest events
	last     bigint NOT NULL
);
CREATE INDEX lineage_runs_job ON lineage_runs (job_ns, job_name);
CREATE INDEX lineage_runs_parent ON lineage_runs (parent) WHERE parent IS NOT NULL;

-- Every job and dataset an event named, with when it was first named.
CREATE TABLE lineage_jobs (
	namespace text    NOT NULL,
	name      text    NOT NULL,
	first_at  timestamptz NOT NULL,
	first     bigint NOT NULL,           -- log index of the first event that named it
	last      bigint NOT NULL,
	PRIMARY KEY (namespace, name)
);
CREATE TABLE lineage_datasets (
	namespace text    NOT NULL,
	name      text    NOT NULL,
	first_at  timestamptz NOT NULL,
	first     bigint NOT NULL,
	last      bigint NOT NULL,
	PRIMARY KEY (namespace, name)
);

-- Inputs and outputs: one row per dataset an event lists.
CREATE TABLE lineage_io (
	idx       bigint NOT NULL,           -- the log index of the record
	output    smallint NOT NULL,         -- 0 input, 1 output (2: the dataset of a DatasetEvent)
	pos       bigint NOT NULL,           -- its place in the event's inputs or outputs
	run_id    text,                       -- NULL: a JobEvent or DatasetEvent
	namespace text    NOT NULL,
	name      text    NOT NULL,
	at        timestamptz NOT NULL,           -- eventTime
	version   text,                       -- the version facet's datasetVersion
	row_count bigint,                    -- outputStatistics / inputStatistics / dataQualityMetrics
	bytes     bigint,
	schema    text,                       -- the schema facet's fields, as sent
	source    text,                       -- the dataSource facet's uri or name
	PRIMARY KEY (idx, output, pos)
);
CREATE INDEX lineage_io_run ON lineage_io (run_id) WHERE run_id IS NOT NULL;
CREATE INDEX lineage_io_dataset ON lineage_io (namespace, name, at);

-- Column lineage (the columnLineage facet): column field of the dataset
-- out_ns/out_name derives from in_field of in_ns/in_name. field is '' for a
-- dataset-level dependency.
CREATE TABLE lineage_columns (
	idx            bigint NOT NULL,
	pos            bigint NOT NULL,
	run_id         text,
	at             timestamptz NOT NULL,
	out_ns         text    NOT NULL,
	out_name       text    NOT NULL,
	field          text    NOT NULL,
	in_ns          text    NOT NULL,
	in_name        text    NOT NULL,
	in_field       text    NOT NULL,
	transformation text,
	PRIMARY KEY (idx, pos)
);
