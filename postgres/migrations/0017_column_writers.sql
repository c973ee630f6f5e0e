-- Investigation: the current writer of each column of each row, kept by the
-- sequencer beside row_changes in the same transaction (decision 0019). An
-- entry (relid, pk, col) is the row's last indexed change whose columns
-- include col; there is none if a delete or a truncate of the row came
-- after it (the sequencer removes a row's entries when it indexes one).
-- find --current --column C reads the rows whose current value of C a set
-- of activities wrote from column_writers_activity, one range per activity,
-- instead of testing every change of those activities and probing each
-- candidate row's later changes.
CREATE TABLE column_writers (
	relid    oid              NOT NULL,
	pk       text COLLATE "C" NOT NULL,   -- as in row_changes
	col      text COLLATE "C" NOT NULL,   -- the column's name
	idx      bigint           NOT NULL,   -- the log index of the change that wrote it last
	op       "char"           NOT NULL,   -- that change's: I or U
	activity text,
	agent    text,
	at       timestamptz      NOT NULL,
	PRIMARY KEY (relid, pk, col)
);

-- The entries of what is already indexed: of each row's changes after its
-- last delete, the last to write each column.
INSERT INTO column_writers (relid, pk, col, idx, op, activity, agent, at)
SELECT DISTINCT ON (x.relid, x.pk COLLATE "C", c.col COLLATE "C") x.relid, x.pk, c.col, x.idx, x.op, x.activity, x.agent, x.at
FROM row_changes x
	LEFT JOIN (SELECT relid, pk, max(idx) AS idx FROM row_changes WHERE op IN ('D', 'T') GROUP BY relid, pk) g
		ON g.relid = x.relid AND g.pk = x.pk
	CROSS JOIN LATERAL jsonb_array_elements_text(('[' || substr(x.columns, 2, length(x.columns) - 2) || ']')::jsonb) AS c(col)
WHERE length(x.columns) > 2 AND (g.idx IS NULL OR x.idx > g.idx)
ORDER BY x.relid, x.pk COLLATE "C", c.col COLLATE "C", x.idx DESC;

CREATE INDEX column_writers_activity ON column_writers (relid, col, activity) INCLUDE (agent, at, idx, op, pk);
