package capture

import (
	"context"
	"encoding/json"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
)

// What investigation (blame, history, find, fix, revert) reads of capture:
// the captured tables, and the changes not yet in the log. The sequenced
// changes it reads from the index of changes that the sequencer keeps in
// the same transaction as their records: row_changes and change_activities
// (prov_row_changes and prov_change_activities on SQLite), whose shapes the
// migrations 0003_row_changes.sql document.

// CapturedTable is a table that capture knows of.
type CapturedTable struct {
	Relid   int64    // its id in the capture tables (the oid on PostgreSQL)
	Name    string   // as records and entity ids name it: schema.table (main.table on SQLite)
	Ident   string   // the table in SQL now, quoted; "" if it is gone
	PK      []string // key columns, in key order
	PII     []string // columns kept as salted digests
	Columns []string // its columns now, in order; nil if it is gone
	Enabled bool
}

// RowChange is one change of one captured row, as the index of changes
// holds it once sequenced.
type RowChange struct {
	Relid    int64
	PK       string // the primary key as a JSON object in key order, as in entity ids
	Idx      int64  // the log index of its record; -1: not yet in the log
	Change   int64  // its id in the capture queue, for a pending change
	Op       string // I insert, U update, D delete, T truncate
	Activity string // "": unattributed
	Parent   string // the parent activity its attribution named
	Agent    string
	At       time.Time
	Columns  []string        // the columns it wrote (all for an insert); nil: none
	Before   json.RawMessage // the row before, for a pending change (PII columns digested)
	After    json.RawMessage // the row after, for a pending change
}

// Store returns the store capture keeps its tables in.
func (p *Postgres) Store() *postgres.Store { return p.store }

// Store returns the store capture keeps its tables in.
func (s *SQLite) Store() *sqlite.Store { return s.store }

// Pending returns the committed changes that the sequencer has not yet moved
// into the log, as tx's snapshot sees them, in the order the sequencer will
// take them, as the index of changes will hold them. tx is a transaction of
// the capture's store.
func (p *Postgres) Pending(ctx context.Context, tx prov.ReadTx) ([]RowChange, error) {
	pq := &pgQueue{p: p, tables: map[int64]*tableInfo{}}
	changes, err := pq.peek(ctx, tx)
	if err != nil {
		return nil, err
	}
	return pendingChanges(changes)
}

// Pending is Postgres.Pending for SQLite.
func (s *SQLite) Pending(ctx context.Context, tx prov.ReadTx) ([]RowChange, error) {
	changes, err := (&sqliteQueue{s}).peek(ctx, tx)
	if err != nil {
		return nil, err
	}
	return pendingChanges(changes)
}

// pendingChanges derives the index rows of changes as the sequencer does.
func pendingChanges(changes []*change) ([]RowChange, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	b, err := buildRecords(changes, nil)
	if err != nil {
		return nil, err
	}
	out := make([]RowChange, len(b.index))
	for i, r := range b.index {
		c := changes[r.idx] // one entry per change, in order
		rc := RowChange{Relid: r.relid, PK: r.pk, Idx: -1, Change: c.id, Op: r.op, Activity: r.activity, Agent: r.agent, At: r.at, Columns: r.columns}
		if r.activity != "" {
			rc.Parent = b.acts[r.activity].parent
		}
		switch r.op {
		case "I":
			rc.After = c.new
		case "U":
			rc.Before, rc.After = c.old, c.new
		default:
			rc.Before = c.old
		}
		out[i] = rc
	}
	return out, nil
}

// Tables returns the tables capture knows of, enabled or not, as tx's
// snapshot sees them.
func (p *Postgres) Tables(ctx context.Context, tx prov.ReadTx) ([]CapturedTable, error) {
	rows, err := querier(tx).Query(ctx, `SELECT c.relid::bigint, c.name, c.pk, c.pii, c.disabled IS NULL,
			COALESCE(format('%I.%I', n.nspname, r.relname), ''),
			(SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
				WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped)
		FROM `+p.schema+`.captured c LEFT JOIN pg_class r ON r.oid = c.relid
		LEFT JOIN pg_namespace n ON n.oid = r.relnamespace ORDER BY c.name`)
	if err != nil {
		return nil, wrapPG("read captured tables", err)
	}
	defer rows.Close()
	var out []CapturedTable
	for rows.Next() {
		var t CapturedTable
		if err := rows.Scan(&t.Relid, &t.Name, &t.PK, &t.PII, &t.Enabled, &t.Ident, &t.Columns); err != nil {
			return nil, wrapPG("read captured tables", err)
		}
		out = append(out, t)
	}
	return out, wrapPG("read captured tables", rows.Err())
}

// Tables is Postgres.Tables for SQLite.
func (s *SQLite) Tables(ctx context.Context, tx prov.ReadTx) ([]CapturedTable, error) {
	q := sqlTxOf(tx)
	rows, err := q.QueryContext(ctx, "SELECT "+sqliteCapturedColumns+" FROM prov_captured ORDER BY name, id")
	if err != nil {
		return nil, wrapSQLite("read captured tables", err)
	}
	var cs []*sqliteCaptured
	for rows.Next() {
		c, err := scanCaptured(rows)
		if err != nil {
			rows.Close()
			return nil, wrapSQLite("read captured tables", err)
		}
		cs = append(cs, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrapSQLite("read captured tables", err)
	}
	var out []CapturedTable
	for _, c := range cs {
		t := CapturedTable{Relid: c.id, Name: c.name, PK: c.pk, PII: c.pii, Enabled: c.disabled == nil}
		if d, err := describe(ctx, q, c.tbl); err == nil && len(d.columns) > 0 {
			t.Ident, t.Columns = quoteIdent(c.tbl), d.columns
		}
		out = append(out, t)
	}
	return out, nil
}

// OldestPending returns the time of the oldest change not yet in the log:
// how far the sequencer is behind. ok is false when there is none.
func (p *Postgres) OldestPending(ctx context.Context) (t time.Time, ok bool, err error) {
	err = p.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		var at *time.Time
		if err := querier(tx).QueryRow(ctx, "SELECT min(at) FROM "+p.schema+".changes").Scan(&at); err != nil {
			return wrapPG("read the capture queue", err)
		}
		if at != nil {
			t, ok = *at, true
		}
		return nil
	})
	return t, ok, err
}

// OldestPending is Postgres.OldestPending for SQLite.
func (s *SQLite) OldestPending(ctx context.Context) (t time.Time, ok bool, err error) {
	err = s.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		var at *int64
		if err := sqlTxOf(tx).QueryRowContext(ctx, "SELECT min(at) FROM prov_changes").Scan(&at); err != nil {
			return wrapSQLite("read the capture queue", err)
		}
		if at != nil {
			t, ok = time.UnixMicro(*at), true
		}
		return nil
	})
	return t, ok, err
}
