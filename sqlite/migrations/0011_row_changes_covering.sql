-- Investigation: find selects the changes of the matching activities through
-- this index and tests, of each, whether it wrote the column (and, with
-- --current, whether it removed the row); with op and columns in the index
-- it does so without a seek into the table per change (a release's requests
-- may be hundreds of thousands of changes, most of them of other columns).
-- The later changes of a row, which --current and --not-* also test, are
-- read from the table itself: WITHOUT ROWID keeps them together, in key
-- order.
DROP INDEX prov_row_changes_activity;
CREATE INDEX prov_row_changes_activity ON prov_row_changes (activity, relid, op, columns);
