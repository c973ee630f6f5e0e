-- Investigation: find selects the changes of the matching activities through
-- row_changes_activity and tests, of each, whether it wrote the column (and,
-- with --current, whether it removed the row), its agent and its time; then,
-- of each candidate row, whether a later change wrote the column or removed
-- the row, through the primary key. With every column in the first and op
-- and columns in the second, neither visits the table
-- (index-only scans, on the pages that vacuum has marked all-visible:
-- row_changes is append-only, so autovacuum's insert threshold keeps nearly
-- all of it so).
DROP INDEX row_changes_activity;
CREATE INDEX row_changes_activity ON row_changes (activity, relid) INCLUDE (pk, idx, op, agent, at, columns);
ALTER TABLE row_changes DROP CONSTRAINT row_changes_pkey;
ALTER TABLE row_changes ADD CONSTRAINT row_changes_pkey PRIMARY KEY (relid, pk, idx) INCLUDE (op, columns);
