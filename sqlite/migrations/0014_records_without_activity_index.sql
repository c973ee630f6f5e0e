-- No query reads records by activity id (investigation reads
-- prov_row_changes, lineage its own tables, activity records have their own
-- partial index), yet every append wrote an entry of records_activity_id for
-- each record: a B-tree insert per record. The column stays: a lookup
-- by activity scans the log.
DROP INDEX IF EXISTS records_activity_id;
