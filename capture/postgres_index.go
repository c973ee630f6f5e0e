package capture

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
)

// write copies the index rows into row_changes and the new column writers
// into column_writers, then sends the rest in one round trip: the upsert of
// the other column writers, the row states (putRowStates), the counters and
// the activities' spans.
func (pq *pgQueue) write(ctx context.Context, tx prov.Tx, b *batch) error {
	q := querier(tx)
	// COPY: no arrays for the server to build and take apart again.
	_, err := q.CopyFrom(ctx, pgx.Identifier{pq.p.store.Schema(), "row_changes"},
		[]string{"relid", "pk", "idx", "op", "activity", "agent", "at", "columns"},
		pgx.CopyFromSlice(len(b.index), func(i int) ([]any, error) {
			r := &b.index[i]
			var cols any
			if c, ok := columnsField(r.columns).(string); ok {
				cols = c
			}
			return []any{uint32(r.relid), r.pk, r.idx, r.op[0], nullString(r.activity), nullString(r.agent), r.at, cols}, nil
		}))
	if err != nil {
		return wrapPG("sequence: index changes", err)
	}
	w := &pgWrites{}
	if err := pq.writers(ctx, q, w, b.index); err != nil {
		return err
	}
	if err := pq.putRowStates(w, b.states); err != nil {
		return err
	}
	pq.count(w, b.stats)
	pq.indexActivities(w, b.acts)
	return w.send(ctx, q)
}

// pgWrites are statements sent in one round trip (a pipeline), each with
// what it does (for errors) and, optionally, a check of its result.
type pgWrites struct {
	b      pgx.Batch
	ops    []string
	checks []func(pgconn.CommandTag) error
}

func (w *pgWrites) queue(op string, check func(pgconn.CommandTag) error, sql string, args ...any) {
	w.b.Queue(sql, args...)
	w.ops, w.checks = append(w.ops, op), append(w.checks, check)
}

func (w *pgWrites) send(ctx context.Context, q postgres.Querier) error {
	if len(w.ops) == 0 {
		return nil
	}
	br := q.SendBatch(ctx, &w.b)
	for i, op := range w.ops {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return wrapPG(op, err)
		}
		if w.checks[i] != nil {
			if err := w.checks[i](tag); err != nil {
				br.Close()
				return err
			}
		}
	}
	return wrapPG(w.ops[len(w.ops)-1], br.Close())
}

// indexActivities queues the update of the spans of the activities of a
// batch.
func (pq *pgQueue) indexActivities(w *pgWrites, acts map[string]*activitySpan) {
	if len(acts) == 0 {
		return
	}
	var ids []string
	var parents []*string
	var first, last []time.Time
	var counts []int64
	for id, s := range acts {
		ids, parents = append(ids, id), append(parents, nullString(s.parent))
		first, last, counts = append(first, s.first), append(last, s.last), append(counts, s.changes)
	}
	w.queue("sequence: index activities", nil, `INSERT INTO `+pq.p.schema+`.change_activities AS a (id, parent, first, last, changes)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[])
		ON CONFLICT (id) DO UPDATE SET parent = COALESCE(a.parent, excluded.parent),
			first = LEAST(a.first, excluded.first), last = GREATEST(a.last, excluded.last), changes = a.changes + excluded.changes`,
		ids, parents, first, last, counts)
}

// writers keeps column_writers: see columnWriters. The entries of the
// rows whose entries it first deletes are copied; the others upserted, by
// a statement queued in w (sent after the COPY).
func (pq *pgQueue) writers(ctx context.Context, q postgres.Querier, w *pgWrites, rows []indexRow) error {
	resets, puts, fresh := columnWriters(rows)
	if len(resets) > 0 {
		relids, pks := make([]uint32, len(resets)), make([]string, len(resets))
		for i, k := range resets {
			relids[i], pks[i] = uint32(k.relid), k.pk
		}
		_, err := q.Exec(ctx, `DELETE FROM `+pq.p.schema+`.column_writers w USING unnest($1::oid[], $2::text[]) AS k(relid, pk)
			WHERE w.relid = k.relid AND w.pk = k.pk`, relids, pks)
		if err != nil {
			return wrapPG("sequence: index column writers", err)
		}
	}
	var copied, upserts []columnWriter
	for _, c := range puts {
		if fresh[c.w.rowKey] {
			copied = append(copied, c)
		} else {
			upserts = append(upserts, c)
		}
	}
	if len(copied) > 0 {
		_, err := q.CopyFrom(ctx, pgx.Identifier{pq.p.store.Schema(), "column_writers"},
			[]string{"relid", "pk", "col", "idx", "op", "activity", "agent", "at", "columns"},
			pgx.CopyFromSlice(len(copied), func(i int) ([]any, error) {
				c := copied[i]
				r := c.w
				return []any{uint32(r.relid), r.pk, c.col, r.idx, r.op[0], nullString(r.activity), nullString(r.agent), r.at, columnsOfEntry(c)}, nil
			}))
		if err != nil {
			return wrapPG("sequence: index column writers", err)
		}
	}
	if len(upserts) == 0 {
		return nil
	}
	n := len(upserts)
	relids, pks, cols, idxs := make([]uint32, n), make([]string, n), make([]string, n), make([]int64, n)
	ops, acts, agents, ats := make([]string, n), make([]*string, n), make([]*string, n), make([]time.Time, n)
	fields := make([]*string, n)
	for i, c := range upserts {
		r := c.w
		relids[i], pks[i], cols[i], idxs[i] = uint32(r.relid), r.pk, c.col, r.idx
		ops[i], acts[i], agents[i], ats[i] = r.op, nullString(r.activity), nullString(r.agent), r.at
		if f, ok := columnsOfEntry(c).(string); ok {
			fields[i] = &f
		}
	}
	w.queue("sequence: index column writers", nil, `INSERT INTO `+pq.p.schema+`.column_writers AS w (relid, pk, col, idx, op, activity, agent, at, columns)
		SELECT r, p, c, i, o::"char", a, g, t, f FROM unnest($1::oid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[]) AS u(r, p, c, i, o, a, g, t, f)
		ON CONFLICT (relid, pk, col) DO UPDATE SET idx = excluded.idx, op = excluded.op,
			activity = excluded.activity, agent = excluded.agent, at = excluded.at, columns = excluded.columns`,
		relids, pks, cols, idxs, ops, acts, agents, ats, fields)
	return nil
}

// nullString is s, or nil (SQL NULL) for "".
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (pq *pgQueue) peek(ctx context.Context, tx prov.ReadTx) ([]*change, error) {
	q := querier(tx)
	if pq.db == "" {
		if err := q.QueryRow(ctx, "SELECT current_database()").Scan(&pq.db); err != nil {
			return nil, wrapPG("read pending changes", err)
		}
	}
	rows, err := q.Query(ctx, `SELECT `+changeColumns+` FROM `+pq.p.schema+`.changes ORDER BY id`)
	if err != nil {
		return nil, wrapPG("read pending changes", err)
	}
	return pq.scanChanges(ctx, q, rows)
}
