-- Investigation: who wrote each row's current values, kept by the sequencer
-- beside prov_row_changes in the same transaction (decision 0019). Of each
-- row, since its last insert, delete or truncate: that insert, if it was
-- one (col '*', with the columns it wrote), and of each column an update
-- wrote since, the last such update (col '.' || the column's name). The
-- change that wrote a row's current value of C is its entry for C, or else
-- its '*' entry if that insert wrote C; a deleted row has neither.
-- find --current --column C reads the rows a set of activities wrote the
-- current value of C of from prov_column_writers_activity, one range per
-- activity, instead of testing every change of those activities and probing
-- each candidate row's later changes.
CREATE TABLE prov_column_writers (
	relid    INTEGER NOT NULL,            -- prov_captured.id
	pk       TEXT    NOT NULL,            -- as in prov_row_changes
	col      TEXT    NOT NULL,            -- '*' (the insert) or '.' || a column's name
	idx      INTEGER NOT NULL,            -- the log index of the change
	op       TEXT    NOT NULL,            -- I or U
	activity TEXT,
	agent    TEXT,
	at       INTEGER NOT NULL,            -- unix microseconds
	columns  TEXT,                        -- '*': the columns the insert wrote, as in prov_row_changes; else NULL
	PRIMARY KEY (relid, pk, col)
) WITHOUT ROWID;

-- The entries of what is already indexed. The inserts: each row's last
-- insert, delete or truncate, if it is an insert.
INSERT INTO prov_column_writers (relid, pk, col, idx, op, activity, agent, at, columns)
SELECT x.relid, x.pk, '*', x.idx, x.op, x.activity, x.agent, x.at, x.columns
FROM (SELECT relid, pk, max(idx) AS idx FROM prov_row_changes WHERE op IN ('I', 'D', 'T') GROUP BY relid, pk) g
	JOIN prov_row_changes x ON x.relid = g.relid AND x.pk = g.pk AND x.idx = g.idx
WHERE x.op = 'I';

-- The updates after it, the last of each column.
INSERT INTO prov_column_writers (relid, pk, col, idx, op, activity, agent, at, columns)
WITH gone AS MATERIALIZED (
	SELECT relid, pk, max(idx) AS idx FROM prov_row_changes WHERE op IN ('I', 'D', 'T') GROUP BY relid, pk
)
SELECT x.relid, x.pk, '.' || c.value, x.idx, x.op, x.activity, x.agent, x.at, NULL
FROM prov_row_changes x
	LEFT JOIN gone g ON g.relid = x.relid AND g.pk = x.pk
	JOIN json_each('[' || substr(x.columns, 2, length(x.columns) - 2) || ']') c
WHERE x.op = 'U' AND length(x.columns) > 2 AND (g.idx IS NULL OR x.idx > g.idx)
ORDER BY x.relid, x.pk, x.idx
ON CONFLICT (relid, pk, col) DO UPDATE SET idx = excluded.idx, op = excluded.op,
	activity = excluded.activity, agent = excluded.agent, at = excluded.at
	WHERE excluded.idx > prov_column_writers.idx;

CREATE INDEX prov_column_writers_activity ON prov_column_writers (relid, col, activity, agent, at, idx, op, columns);
