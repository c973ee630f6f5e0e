-- The lineage index writes less per event (decision 0018). Every query of
-- the index (openlineage: Graph, LoadRun) reads the tables in log order or
-- by run id; these were written by every event and read by none:
-- lineage_events_at, lineage_io_run, lineage_io_dataset, lineage_runs_job.
-- lineage_runs, one upsert per event and one more per parent facet, gave
-- only a parent run's job (now in the child's event row: parent_job_ns,
-- parent_job_name) and a run's children (now read from lineage_events by
-- parent).
DROP INDEX IF EXISTS lineage_events_at;
DROP INDEX IF EXISTS lineage_io_run;
DROP INDEX IF EXISTS lineage_io_dataset;
ALTER TABLE lineage_events ADD COLUMN parent_job_ns text, ADD COLUMN parent_job_name text; -- the parent facet's job
UPDATE lineage_events e SET parent_job_ns = r.job_ns, parent_job_name = r.job_name
	FROM lineage_runs r WHERE r.run_id = e.parent;
CREATE INDEX lineage_events_parent ON lineage_events (parent, run_id) WHERE parent IS NOT NULL;
DROP TABLE IF EXISTS lineage_runs;
