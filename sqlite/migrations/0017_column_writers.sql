-- Investigation: the current writer of each column of each row, kept by the
-- sequencer beside prov_row_changes in the same transaction (decision 0019).
-- An entry (relid, pk, col) is the row's last indexed change whose columns
-- include col; there is none if a delete or a truncate of the row came
-- after it (the sequencer removes a row's entries when it indexes one).
-- find --current --column C reads the rows whose current value of C a set
-- of activities wrote from prov_column_writers_activity, one range per
-- activity, instead of testing every change of those activities and
-- probing each candidate row's later changes.
CREATE TABLE prov_column_writers (
	relid    INTEGER NOT NULL,            -- prov_captured.id
	pk       TEXT    NOT NULL,            -- as in prov_row_changes
	col      TEXT    NOT NULL,            -- the column's name
	idx      INTEGER NOT NULL,            -- the log index of the change that wrote it last
	op       TEXT    NOT NULL,            -- that change's: I or U
	activity TEXT,
	agent    TEXT,
	at       INTEGER NOT NULL,            -- unix microseconds
	PRIMARY KEY (relid, pk, col)
) WITHOUT ROWID;

-- The entries of what is already indexed: of each row's changes after its
-- last delete, the last to write each column.
INSERT INTO prov_column_writers (relid, pk, col, idx, op, activity, agent, at)
WITH gone AS MATERIALIZED (
	SELECT relid, pk, max(idx) AS idx FROM prov_row_changes WHERE op IN ('D', 'T') GROUP BY relid, pk
)
SELECT x.relid, x.pk, c.value, x.idx, x.op, x.activity, x.agent, x.at
FROM prov_row_changes x
	LEFT JOIN gone g ON g.relid = x.relid AND g.pk = x.pk
	JOIN json_each('[' || substr(x.columns, 2, length(x.columns) - 2) || ']') c
WHERE length(x.columns) > 2 AND (g.idx IS NULL OR x.idx > g.idx)
ORDER BY x.relid, x.pk, x.idx
ON CONFLICT (relid, pk, col) DO UPDATE SET idx = excluded.idx, op = excluded.op,
	activity = excluded.activity, agent = excluded.agent, at = excluded.at
	WHERE excluded.idx > prov_column_writers.idx;

CREATE INDEX prov_column_writers_activity ON prov_column_writers (relid, col, activity, agent, at, idx, op);
