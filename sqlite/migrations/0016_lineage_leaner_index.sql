-- The lineage index writes less per event (decision 0018). Every query of
-- the index (openlineage: Graph, LoadRun) reads the tables in log order or
-- by run id; these were written by every event and read by none:
-- prov_lineage_events_at, prov_lineage_io_run, prov_lineage_io_dataset,
-- prov_lineage_runs_job. prov_lineage_runs, one upsert per event and one
-- more per parent facet, gave only a parent run's job (now in the child's
-- event row: parent_job_ns, parent_job_name) and a run's children (now read
-- from prov_lineage_events by parent).
DROP INDEX IF EXISTS prov_lineage_events_at;
DROP INDEX IF EXISTS prov_lineage_io_run;
DROP INDEX IF EXISTS prov_lineage_io_dataset;
ALTER TABLE prov_lineage_events ADD COLUMN parent_job_ns TEXT;   -- the parent facet's job
ALTER TABLE prov_lineage_events ADD COLUMN parent_job_name TEXT;
UPDATE prov_lineage_events SET parent_job_ns = r.job_ns, parent_job_name = r.job_name
	FROM prov_lineage_runs r WHERE r.run_id = prov_lineage_events.parent;
CREATE INDEX prov_lineage_events_parent ON prov_lineage_events (parent, run_id) WHERE parent IS NOT NULL;
DROP TABLE IF EXISTS prov_lineage_runs;
