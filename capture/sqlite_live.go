package capture

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
)

// VerifyLive checks every row of the captured tables against what capture
// recorded, as Postgres.VerifyLive does: the digest of the row as it is now
// must equal the digest its last captured change wrote (or, for rows that
// were there when capture began, the digest recorded then). Changes still
// waiting for the sequencer count as captured. Rows written while the
// triggers were dropped, or while capture was off, are listed, at most limit
// of them (all if limit <= 0). It reads one snapshot, and changes nothing:
// triggers that the next sequencer step would re-create are left as they are.
func (s *SQLite) VerifyLive(ctx context.Context, limit int) (LiveReport, error) {
	rep := LiveReport{Drift: []Drift{}}
	err := s.view(ctx, func(ctx context.Context, q *sql.Tx) error {
		rows, err := q.QueryContext(ctx, "SELECT "+sqliteCapturedColumns+" FROM prov_captured WHERE disabled IS NULL ORDER BY name, id")
		if err != nil {
			return wrapSQLite("verify live rows", err)
		}
		var tables []*sqliteCaptured
		for rows.Next() {
			c, err := scanCaptured(rows)
			if err != nil {
				rows.Close()
				return wrapSQLite("verify live rows", err)
			}
			tables = append(tables, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return wrapSQLite("verify live rows", err)
		}
		for _, c := range tables {
			drift, n, err := verifyTable(ctx, q, c)
			if err != nil {
				return err
			}
			if n < 0 {
				continue // dropped
			}
			rep.Tables++
			rep.Rows += n
			for _, d := range drift {
				if limit > 0 && len(rep.Drift) >= limit {
					rep.More++
					continue
				}
				rep.Drift = append(rep.Drift, d)
			}
		}
		return nil
	})
	return rep, err
}

// verifyTable compares the live rows of a captured table with what capture
// recorded. n is the number of live rows, -1 if the table is gone.
func verifyTable(ctx context.Context, q *sql.Tx, c *sqliteCaptured) (drift []Drift, n int64, err error) {
	op := "verify live rows of " + c.name
	names := triggerNames(c.id)
	tbl := c.tbl
	err = q.QueryRowContext(ctx, "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name IN (?"+strings.Repeat(", ?", len(names)-1)+") LIMIT 1", names...).Scan(&tbl)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, 0, wrapSQLite(op, err)
	}
	var exists bool
	if err := q.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)", tbl).Scan(&exists); err != nil {
		return nil, 0, wrapSQLite(op, err)
	}
	if !exists {
		return nil, -1, nil
	}
	t, err := describe(ctx, q, tbl)
	if err != nil {
		return nil, 0, err
	}
	type expected struct {
		digest []byte // nil: no row
		idx    *int64
		seen   bool
	}
	want := map[string]*expected{}
	rows, err := q.QueryContext(ctx, "SELECT pk, digest, idx FROM prov_row_state WHERE relid = ?", c.id)
	if err != nil {
		return nil, 0, wrapSQLite(op, err)
	}
	for rows.Next() {
		var pk string
		e := &expected{seen: true}
		if err := rows.Scan(&pk, &e.digest, &e.idx); err != nil {
			rows.Close()
			return nil, 0, wrapSQLite(op, err)
		}
		want[pk] = e
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, wrapSQLite(op, err)
	}
	// Changes not yet sequenced, in order: the last one of a row wins.
	rows, err = q.QueryContext(ctx, "SELECT new, old FROM prov_changes WHERE relid = ? AND op <> 'R' ORDER BY id", c.id)
	if err != nil {
		return nil, 0, wrapSQLite(op, err)
	}
	for rows.Next() {
		var newText, oldText *string
		if err := rows.Scan(&newText, &oldText); err != nil {
			rows.Close()
			return nil, 0, wrapSQLite(op, err)
		}
		for _, img := range []struct {
			text *string
			gone bool
		}{{oldText, true}, {newText, false}} {
			if img.text == nil {
				continue
			}
			canon, sum, err := canonicalImage([]byte(*img.text), c.pii, c.salt)
			if err != nil {
				rows.Close()
				return nil, 0, err
			}
			pk, err := keyOf(canon, c.pk)
			if err != nil {
				rows.Close()
				return nil, 0, err
			}
			e := want[pk]
			if e == nil {
				e = &expected{}
				want[pk] = e
			}
			e.seen, e.digest = true, sum
			if img.gone {
				e.digest = nil
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, wrapSQLite(op, err)
	}
	rows, err = q.QueryContext(ctx, "SELECT "+imageSQL("prov_t", t.columns)+" FROM "+quoteIdent(t.name)+" AS prov_t")
	if err != nil {
		return nil, 0, wrapSQLite(op, err)
	}
	live := map[string]bool{}
	for rows.Next() {
		var raw string
		if err := rows.Scan(&raw); err != nil {
			rows.Close()
			return nil, 0, wrapSQLite(op, err)
		}
		n++
		canon, sum, err := canonicalImage([]byte(raw), c.pii, c.salt)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		pk, err := keyOf(canon, c.pk)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		live[pk] = true
		switch e := want[pk]; {
		case e == nil || e.digest == nil:
			d := Drift{Table: c.name, Key: pk, What: DriftInserted}
			if e != nil {
				d.Index = e.idx
			}
			drift = append(drift, d)
		case !bytes.Equal(e.digest, sum):
			drift = append(drift, Drift{Table: c.name, Key: pk, What: DriftChanged, Index: e.idx})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, wrapSQLite(op, err)
	}
	for pk, e := range want {
		if e.digest != nil && !live[pk] {
			drift = append(drift, Drift{Table: c.name, Key: pk, What: DriftDeleted, Index: e.idx})
		}
	}
	sort.Slice(drift, func(i, j int) bool { return drift[i].Key < drift[j].Key })
	return drift, n, nil
}
