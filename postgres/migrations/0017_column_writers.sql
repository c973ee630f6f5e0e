-- Investigation: who wrote each row's current values, kept by the sequencer
-- beside row_changes in the same transaction (decision 0019). Of each row,
-- since its last insert, delete or truncate: that insert, if it was one
-- (col '*', with the columns it wrote), and of each column an update wrote
-- since, the last such update (col '.' || the column's name). The change
-- that wrote a row's current value of C is its entry for C, or else its '*'
-- entry if that insert wrote C; a deleted row has neither.
-- find --current --column C reads the rows a set of activities wrote the
-- current value of C of from column_writers_activity, one range per
-- activity, instead of testing every change of those activities and probing
-- each candidate row's later changes.
CREATE TABLE column_writers (
	relid    oid              NOT NULL,
	pk       text COLLATE "C" NOT NULL,   -- as in row_changes
	col      text COLLATE "C" NOT NULL,   -- '*' (the insert) or '.' || a column's name
	idx      bigint           NOT NULL,   -- the log index of the change
	op       "char"           NOT NULL,   -- I or U
	activity text,
	agent    text,
	at       timestamptz      NOT NULL,
	columns  text,                        -- '*': the columns the insert wrote, as in row_changes; else NULL
	PRIMARY KEY (relid, pk, col)
);

-- The entries of what is already indexed. The inserts: each row's last
-- insert, delete or truncate, if it is an insert.
INSERT INTO column_writers (relid, pk, col, idx, op, activity, agent, at, columns)
SELECT x.relid, x.pk, '*', x.idx, x.op, x.activity, x.agent, x.at, x.columns
FROM (SELECT relid, pk, max(idx) AS idx FROM row_changes WHERE op IN ('I', 'D', 'T') GROUP BY relid, pk) g
	JOIN row_changes x ON x.relid = g.relid AND x.pk = g.pk AND x.idx = g.idx
WHERE x.op = 'I';

-- The updates after it, the last of each column.
INSERT INTO column_writers (relid, pk, col, idx, op, activity, agent, at, columns)
SELECT DISTINCT ON (x.relid, x.pk COLLATE "C", c.col COLLATE "C") x.relid, x.pk, '.' || c.col, x.idx, x.op, x.activity, x.agent, x.at, NULL
FROM row_changes x
	LEFT JOIN (SELECT relid, pk, max(idx) AS idx FROM row_changes WHERE op IN ('I', 'D', 'T') GROUP BY relid, pk) g
		ON g.relid = x.relid AND g.pk = x.pk
	CROSS JOIN LATERAL jsonb_array_elements_text(('[' || substr(x.columns, 2, length(x.columns) - 2) || ']')::jsonb) AS c(col)
WHERE x.op = 'U' AND length(x.columns) > 2 AND (g.idx IS NULL OR x.idx > g.idx)
ORDER BY x.relid, x.pk COLLATE "C", c.col COLLATE "C", x.idx DESC;

CREATE INDEX column_writers_activity ON column_writers (relid, col, activity) INCLUDE (agent, at, idx, op, pk, columns);
