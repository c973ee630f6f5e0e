package openlineage

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
)

// Indexer returns the tlog indexer that keeps the lineage index (migrations
// 0009_lineage.sql and 0016_lineage_leaner_index.sql) of store: for every
// appended record of type lineage that holds an OpenLineage event, it
// writes the event (with its run, parent run and job), its job, datasets,
// inputs, outputs and column edges in the append's transaction. A lineage
// record whose event Decode refuses fails the append. Add it to every log
// that may append lineage records: log.AddIndexer(openlineage.Indexer(store)).
func Indexer(store prov.Store) tlog.Indexer {
	d := dialectOf(store)
	stmts := &stmtCache{}
	return func(ctx context.Context, tx prov.Tx, entries []prov.Entry) error {
		var w *indexWriter
		for i := range entries {
			e := &entries[i]
			if e.Type != prov.TypeLineage {
				continue
			}
			ev := decoded(ctx, e)
			if ev == nil {
				data := e.Data
				if e.Envelope != nil {
					data = e.Envelope.Payload // a signed record: the record is the payload
				}
				raw, ok := EventOf(data)
				if !ok {
					continue
				}
				var err error
				if ev, err = decode(raw, false); err != nil { // the index reads no facet
					return &tlog.RecordError{N: i, Err: err}
				}
			}
			if w == nil {
				if d == nil {
					return prov.Errorf(prov.Internal, "openlineage: the lineage index needs a SQLite or PostgreSQL store")
				}
				w = d.writer(tx, stmts)
			}
			w.add(e.Index, ev)
		}
		if w == nil {
			return nil
		}
		return w.flush(ctx)
	}
}

// dialect is how the index is written and read on one engine.
type dialect struct {
	pg     bool
	schema string // PostgreSQL: the store's schema
}

func dialectOf(store prov.Store) *dialect {
	switch s := store.(type) {
	case *sqlite.Store:
		return &dialect{}
	case *postgres.Store:
		return &dialect{pg: true, schema: s.Schema()}
	}
	return nil
}

// q rewrites a query written for SQLite: {T} is the table prefix (schema
// on PostgreSQL), {t} the bare table prefix, ? placeholders become $n.
func (d *dialect) q(query string) string {
	if !d.pg {
		return strings.NewReplacer("{T}", "prov_", "{t}", "prov_").Replace(query)
	}
	query = strings.NewReplacer("{T}", pgx.Identifier{d.schema}.Sanitize()+".", "{t}", "").Replace(query)
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// ts is a time as the engine stores it.
func (d *dialect) ts(t time.Time) any {
	if d.pg {
		return t
	}
	return t.UnixMicro()
}

// tsOpt is ts for an optional time (zero: NULL).
func (d *dialect) tsOpt(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.ts(t)
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

const (
	insertEvent = `INSERT INTO {T}lineage_events (idx, kind, event_type, at, run_id, parent, parent_job_ns, parent_job_name, job_ns, job_name, producer)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	upsertName = `INSERT INTO {T}lineage_%[1]s (namespace, name, first_at, first, last) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (namespace, name) DO UPDATE SET
	first_at = CASE WHEN excluded.first_at < {t}lineage_%[1]s.first_at THEN excluded.first_at ELSE {t}lineage_%[1]s.first_at END,
	last = excluded.last`
	insertIO = `INSERT INTO {T}lineage_io (idx, output, pos, run_id, namespace, name, at, version, row_count, bytes, schema, source)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	insertColumn = `INSERT INTO {T}lineage_columns (idx, pos, run_id, at, out_ns, out_name, field, in_ns, in_name, in_field, transformation)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

var upsertNames = map[string]string{"jobs": fmt.Sprintf(upsertName, "jobs"), "datasets": fmt.Sprintf(upsertName, "datasets")}

// stmt is one statement to run with its arguments.
type stmt struct {
	query string
	args  []any
}

// indexWriter collects the index rows of a transaction's events and writes
// them at once: prepared statements on SQLite, one batch (one round trip)
// on PostgreSQL.
type indexWriter struct {
	d     *dialect
	tx    prov.Tx
	queue []stmt
	stmts *stmtCache // SQLite: the transaction's prepared statements
	// names are the jobs and datasets of the batch, each upserted once.
	names map[nameKey]*nameSpan
	order []nameKey
}

type nameKey struct{ table, namespace, name string }

type nameSpan struct {
	firstAt     time.Time
	first, last int64
}

// name notes a job or dataset named by record idx at t.
func (w *indexWriter) name(table, namespace, name string, t time.Time, idx int64) {
	k := nameKey{table, namespace, name}
	if sp := w.names[k]; sp != nil {
		if t.Before(sp.firstAt) {
			sp.firstAt = t
		}
		sp.last = idx
		return
	}
	if w.names == nil {
		w.names = map[nameKey]*nameSpan{}
	}
	w.names[k] = &nameSpan{firstAt: t, first: idx, last: idx}
	w.order = append(w.order, k)
}

func (d *dialect) writer(tx prov.Tx, stmts *stmtCache) *indexWriter {
	return &indexWriter{d: d, tx: tx, stmts: stmts}
}

func (w *indexWriter) exec(query string, args ...any) {
	w.queue = append(w.queue, stmt{query, args})
}

// add queues the index rows of the event of record idx.
func (w *indexWriter) add(idx int64, e *Event) {
	d := w.d
	at := d.ts(e.Time)
	var runID, parent, jobNS, jobName any
	if e.Run != nil {
		runID, parent = e.Run.ID, nullStr(e.Run.ParentRun)
	}
	if e.Job != nil {
		jobNS, jobName = e.Job.Namespace, e.Job.Name
	}
	var parentNS, parentName any
	if e.Run != nil {
		if p := e.Run.ParentJob; p != nil {
			parentNS, parentName = p.Namespace, p.Name
			w.name("jobs", p.Namespace, p.Name, e.Time, idx)
		}
	}
	w.exec(insertEvent, idx, string(e.Kind), nullStr(e.EventType), at, runID, parent, parentNS, parentName, jobNS, jobName, e.Producer)
	if e.Job != nil {
		w.name("jobs", e.Job.Namespace, e.Job.Name, e.Time, idx)
	}
	pos := 0
	io := func(output int, list []Dataset) {
		for i, ds := range list {
			w.name("datasets", ds.Namespace, ds.Name, e.Time, idx)
			var schema any
			if ds.Schema != nil {
				schema = string(ds.Schema)
			}
			w.exec(insertIO, idx, output, i, runID, ds.Namespace, ds.Name, at, nullStr(ds.Version), ds.RowCount, ds.Bytes, schema, nullStr(ds.Source))
			for _, c := range ds.Columns {
				w.exec(insertColumn, idx, pos, runID, at, ds.Namespace, ds.Name, c.Field, c.InputNamespace, c.InputName, c.InputField, nullStr(c.Transformation))
				pos++
			}
		}
	}
	io(0, e.Inputs)
	io(1, e.Outputs)
	if e.Dataset != nil {
		io(2, []Dataset{*e.Dataset})
	}
}

func (w *indexWriter) flush(ctx context.Context) error {
	for _, k := range w.order {
		sp := w.names[k]
		w.exec(upsertNames[k.table], k.namespace, k.name, w.d.ts(sp.firstAt), sp.first, sp.last)
	}
	if w.d.pg {
		q := w.tx.(interface{ Querier() postgres.Querier }).Querier()
		b := &pgx.Batch{}
		for _, s := range w.queue {
			b.Queue(w.d.q(s.query), s.args...)
		}
		if err := q.SendBatch(ctx, b).Close(); err != nil {
			return prov.Errorf(prov.Internal, "openlineage: write the lineage index: %v", err)
		}
		return nil
	}
	// SQLite: the rows of each statement in multi-row INSERTs of 32, 16,
	// …, 1 rows, prepared once per transaction. A multi-row upsert applies
	// its rows one after the other, as separate statements would; rows of
	// different tables do not depend on each other.
	tx := w.tx.(interface{ SQLTx() *sql.Tx }).SQLTx()
	var order []string
	rows := map[string][]stmt{}
	for _, s := range w.queue {
		if rows[s.query] == nil {
			order = append(order, s.query)
		}
		rows[s.query] = append(rows[s.query], s)
	}
	var args []any
	for _, q := range order {
		list := rows[q]
		for len(list) > 0 {
			n := maxRowsPerInsert
			for n > len(list) {
				n /= 2
			}
			st, err := w.stmts.get(ctx, tx, w.d.q(q), n)
			if err != nil {
				return prov.Errorf(prov.Internal, "openlineage: write the lineage index: %v", err)
			}
			args = args[:0]
			for _, s := range list[:n] {
				args = append(args, s.args...)
			}
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return prov.Errorf(prov.Internal, "openlineage: write the lineage index: %v", err)
			}
			list = list[n:]
		}
	}
	return nil
}

// maxRowsPerInsert is the most rows one INSERT of the index writes on
// SQLite (a power of two; 32 rows of 12 columns stay far below SQLite's
// limit of 32,766 parameters).
const maxRowsPerInsert = 32

// stmtCache holds the prepared statements of the index on SQLite, for one
// transaction at a time: appends are serialised by the store, and a
// transaction's statements are closed when it ends. It keeps the
// transaction it is for, so that its address is not reused by another.
type stmtCache struct {
	mu    sync.Mutex
	tx    *sql.Tx
	stmts map[stmtKey]*sql.Stmt
}

type stmtKey struct {
	query string
	rows  int
}

// get returns the statement of query, made to insert rows rows, prepared
// in tx.
func (c *stmtCache) get(ctx context.Context, tx *sql.Tx, query string, rows int) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tx != tx {
		c.tx, c.stmts = tx, map[stmtKey]*sql.Stmt{}
	}
	k := stmtKey{query, rows}
	if st := c.stmts[k]; st != nil {
		return st, nil
	}
	st, err := tx.PrepareContext(ctx, multiRow(query, rows))
	if err != nil {
		return nil, err
	}
	c.stmts[k] = st
	return st, nil
}

// multiRow makes an INSERT of one row of values insert n rows.
func multiRow(query string, n int) string {
	i := strings.Index(query, "VALUES (")
	if i < 0 || n == 1 {
		return query
	}
	i += len("VALUES ")
	j := i + strings.IndexByte(query[i:], ')') + 1
	tuple := query[i:j]
	return query[:i] + strings.Repeat(tuple+", ", n-1) + tuple + query[j:]
}
