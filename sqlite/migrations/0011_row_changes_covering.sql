-- Investigation: find selects the changes of the matching activities through
-- this index and tests, of each, whether it wrote the column (and, with
-- --current, whether it removed the row), its agent and its time; with every
-- column in the index (the key is in every index of a WITHOUT ROWID table)
-- it does so, and returns the rows it selects, without a seek into the table
-- per change (a release's requests may be hundreds of thousands of changes,
-- most of them of other columns).
-- The later changes of a row, which --current and --not-* also test, are
-- read from the table itself: WITHOUT ROWID keeps them together, in key
-- order.
DROP INDEX prov_row_changes_activity;
CREATE INDEX prov_row_changes_activity ON prov_row_changes (activity, relid, op, columns, agent, at);
