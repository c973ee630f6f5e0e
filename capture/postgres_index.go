package capture

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
)

func (pq *pgQueue) index(ctx context.Context, tx prov.Tx, rows []indexRow, acts map[string]*activitySpan) error {
	q := querier(tx)
	// COPY: no arrays for the server to build and take apart again.
	_, err := q.CopyFrom(ctx, pgx.Identifier{pq.p.store.Schema(), "row_changes"},
		[]string{"relid", "pk", "idx", "op", "activity", "agent", "at", "columns"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := &rows[i]
			var cols any
			if c, ok := columnsField(r.columns).(string); ok {
				cols = c
			}
			return []any{uint32(r.relid), r.pk, r.idx, r.op[0], nullString(r.activity), nullString(r.agent), r.at, cols}, nil
		}))
	if err != nil {
		return wrapPG("sequence: index changes", err)
	}
	if err := pq.writers(ctx, q, rows); err != nil {
		return err
	}
	if len(acts) == 0 {
		return nil
	}
	var ids []string
	var parents []*string
	var first, last []time.Time
	var counts []int64
	for id, s := range acts {
		ids, parents = append(ids, id), append(parents, nullString(s.parent))
		first, last, counts = append(first, s.first), append(last, s.last), append(counts, s.changes)
	}
	_, err = q.Exec(ctx, `INSERT INTO `+pq.p.schema+`.change_activities AS a (id, parent, first, last, changes)
		SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[])
		ON CONFLICT (id) DO UPDATE SET parent = COALESCE(a.parent, excluded.parent),
			first = LEAST(a.first, excluded.first), last = GREATEST(a.last, excluded.last), changes = a.changes + excluded.changes`,
		ids, parents, first, last, counts)
	return wrapPG("sequence: index activities", err)
}

// writers keeps column_writers: see columnWriters. The entries of the
// rows whose entries it first deletes are copied; the others upserted.
func (pq *pgQueue) writers(ctx context.Context, q postgres.Querier, rows []indexRow) error {
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
	_, err := q.Exec(ctx, `INSERT INTO `+pq.p.schema+`.column_writers AS w (relid, pk, col, idx, op, activity, agent, at, columns)
		SELECT r, p, c, i, o::"char", a, g, t, f FROM unnest($1::oid[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::timestamptz[], $9::text[]) AS u(r, p, c, i, o, a, g, t, f)
		ON CONFLICT (relid, pk, col) DO UPDATE SET idx = excluded.idx, op = excluded.op,
			activity = excluded.activity, agent = excluded.agent, at = excluded.at, columns = excluded.columns`,
		relids, pks, cols, idxs, ops, acts, agents, ats, fields)
	return wrapPG("sequence: index column writers", err)
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
