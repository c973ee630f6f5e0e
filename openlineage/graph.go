package openlineage

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/lineage"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
)

// Sink receives a lineage graph's parts: *lineage.Graph is one.
type Sink interface {
	AddRun(lineage.Run)
	AddIO(lineage.IO)
	AddColumn(lineage.ColumnEdge)
	AddDataset(lineage.NodeID)
	AddJob(lineage.NodeID)
}

// Graph loads the lineage index of store as of time at (event times; zero:
// everything) into a new lineage graph, from one snapshot. Captured tables
// are datasets too, named as OpenLineage names PostgreSQL tables (namespace
// postgres://host:port, name db.schema.table; on SQLite sqlite://path and
// main.table), and every activity that changed one is a run that wrote it.
// Cycles in the submitted lineage are loaded as they are.
func Graph(ctx context.Context, store prov.Store, at time.Time) (*lineage.Graph, error) {
	g := lineage.New()
	if err := Load(ctx, store, at, g); err != nil {
		return nil, err
	}
	return g, nil
}

// Load is Graph into any Sink.
func Load(ctx context.Context, store prov.Store, at time.Time, g Sink) error {
	d := dialectOf(store)
	if d == nil {
		return prov.Errorf(prov.Invalid, "openlineage: the lineage graph needs a SQLite or PostgreSQL store")
	}
	return store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		r := &reader{d: d, tx: tx}
		if err := loadIndex(ctx, r, at, g); err != nil {
			return err
		}
		return loadCaptured(ctx, store, tx, r, at, g)
	})
}

// reader runs queries on either engine, scanning times as time.Time.
type reader struct {
	d  *dialect
	tx prov.ReadTx
}

// query calls fn for each row; dest are pointers as for Scan, where a
// *time.Time or **time.Time reads a time column of either engine.
func (r *reader) query(ctx context.Context, q string, args []any, fn func(scan func(dest ...any) error) error) error {
	q = r.d.q(q)
	if r.d.pg {
		rows, err := r.tx.(interface{ Querier() postgres.Querier }).Querier().Query(ctx, q, args...)
		if err != nil {
			return prov.Errorf(prov.Internal, "openlineage: read the lineage index: %v", err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows.Scan); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return prov.Errorf(prov.Internal, "openlineage: read the lineage index: %v", err)
		}
		return nil
	}
	rows, err := r.tx.(interface{ SQLTx() *sql.Tx }).SQLTx().QueryContext(ctx, q, args...)
	if err != nil {
		return prov.Errorf(prov.Internal, "openlineage: read the lineage index: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		scan := func(dest ...any) error {
			conv := make([]any, len(dest))
			var fix []func()
			for i, p := range dest {
				switch p := p.(type) {
				case *time.Time:
					var us int64
					conv[i] = &us
					fix = append(fix, func() { *p = time.UnixMicro(us).UTC() })
				case **time.Time:
					var us *int64
					conv[i] = &us
					fix = append(fix, func() {
						if us != nil {
							t := time.UnixMicro(*us).UTC()
							*p = &t
						}
					})
				default:
					conv[i] = p
				}
			}
			if err := rows.Scan(conv...); err != nil {
				return err
			}
			for _, f := range fix {
				f()
			}
			return nil
		}
		if err := fn(scan); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return prov.Errorf(prov.Internal, "openlineage: read the lineage index: %v", err)
	}
	return nil
}

// asOf returns the SQL condition and arguments that keep times up to at.
func (r *reader) asOf(col string, at time.Time) (string, []any) {
	if at.IsZero() {
		return "1=1", nil
	}
	return col + " <= ?", []any{r.d.ts(at)}
}

func loadIndex(ctx context.Context, r *reader, at time.Time, g Sink) error {
	cond, args := r.asOf("first_at", at)
	for _, kind := range []string{"jobs", "datasets"} {
		err := r.query(ctx, "SELECT namespace, name FROM {T}lineage_"+kind+" WHERE "+cond+" ORDER BY namespace, name", args, func(scan func(...any) error) error {
			var ns, name string
			if err := scan(&ns, &name); err != nil {
				return err
			}
			if kind == "jobs" {
				g.AddJob(lineage.JobNode(ns, name))
			} else {
				g.AddDataset(lineage.DatasetNode(ns, name))
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// Runs, from their events up to at: state, start and end as of then.
	runs := map[string]*lineage.Run{}
	var order []string
	run := func(id string) *lineage.Run {
		if x := runs[id]; x != nil {
			return x
		}
		x := &lineage.Run{ID: id, Index: -1}
		runs[id] = x
		order = append(order, id)
		return x
	}
	cond, args = r.asOf("at", at)
	var stateAt = map[string]time.Time{}
	// Parent runs known only from their children's parent facet: the job
	// the first child event (in log order) names for each.
	type parentRun struct {
		id  string
		job lineage.NodeID
	}
	var parents []parentRun
	parentSeen := map[string]bool{}
	err := r.query(ctx, "SELECT idx, event_type, at, run_id, parent, parent_job_ns, parent_job_name, job_ns, job_name FROM {T}lineage_events WHERE run_id IS NOT NULL AND "+cond+" ORDER BY idx", args, func(scan func(...any) error) error {
		var idx int64
		var typ, parent, pns, pname *string
		var t time.Time
		var id, ns, name string
		if err := scan(&idx, &typ, &t, &id, &parent, &pns, &pname, &ns, &name); err != nil {
			return err
		}
		x := run(id)
		if x.Job == "" {
			x.Job = lineage.JobNode(ns, name)
		}
		if parent != nil && x.Parent == "" {
			x.Parent = *parent
		}
		if parent != nil && pns != nil && pname != nil && !parentSeen[*parent] {
			parentSeen[*parent] = true
			parents = append(parents, parentRun{*parent, lineage.JobNode(*pns, *pname)})
		}
		if idx > x.Index {
			x.Index = idx
		}
		if typ != nil {
			if s, ok := stateAt[id]; !ok || !t.Before(s) {
				x.State, stateAt[id] = *typ, t
			}
			switch *typ {
			case "START":
				if x.Started.IsZero() || t.Before(x.Started) {
					x.Started = t
				}
			case "COMPLETE", "FAIL", "ABORT":
				if t.After(x.Ended) {
					x.Ended = t
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range parents {
		if runs[p.id] == nil {
			run(p.id).Job = p.job
		}
	}
	for _, id := range order {
		g.AddRun(*runs[id])
	}
	cond, args = r.asOf("at", at)
	err = r.query(ctx, "SELECT idx, output, run_id, namespace, name, at, version FROM {T}lineage_io WHERE run_id IS NOT NULL AND output < 2 AND "+cond+" ORDER BY idx, output, pos", args, func(scan func(...any) error) error {
		var idx int64
		var output int
		var id, ns, name string
		var t time.Time
		var version *string
		if err := scan(&idx, &output, &id, &ns, &name, &t, &version); err != nil {
			return err
		}
		io := lineage.IO{Run: id, Dataset: lineage.DatasetNode(ns, name), Output: output == 1, At: t, Index: idx}
		if version != nil {
			io.Version = *version
		}
		g.AddIO(io)
		return nil
	})
	if err != nil {
		return err
	}
	return r.query(ctx, "SELECT run_id, out_ns, out_name, field, in_ns, in_name, in_field, transformation FROM {T}lineage_columns WHERE "+cond+" ORDER BY idx, pos", args, func(scan func(...any) error) error {
		var id, tr *string
		var ons, oname, field, ins, iname, ifield string
		if err := scan(&id, &ons, &oname, &field, &ins, &iname, &ifield, &tr); err != nil {
			return err
		}
		c := lineage.ColumnEdge{From: lineage.DatasetNode(ins, iname), To: lineage.DatasetNode(ons, oname), FromField: ifield, ToField: field}
		if id != nil {
			c.Run = *id
		}
		if tr != nil {
			c.Transformation = *tr
		}
		g.AddColumn(c)
		return nil
	})
}

// CapturedNamespace returns the OpenLineage namespace of the tables that
// capture records in store: postgres://host:port, or sqlite://path.
func CapturedNamespace(store prov.Store) (namespace, db string) {
	switch s := store.(type) {
	case *postgres.Store:
		c := s.Pool().Config().ConnConfig
		return "postgres://" + c.Host + ":" + strconv.Itoa(int(c.Port)), c.Database
	case *sqlite.Store:
		p, err := filepath.Abs(s.Path())
		if err != nil {
			p = s.Path()
		}
		return "sqlite://" + p, ""
	}
	return "", ""
}

// CapturedDataset returns the dataset node of a captured table (named as
// records name it: schema.table, main.table on SQLite).
func CapturedDataset(store prov.Store, table string) lineage.NodeID {
	ns, db := CapturedNamespace(store)
	if db != "" {
		table = db + "." + table
	}
	return lineage.DatasetNode(ns, table)
}

// CaptureJobNamespace is the job namespace of the runs that captured
// activities are: an activity's job is its kind, the part of its id before
// the first colon (migration:0042 is a run of job:prov:migration).
const CaptureJobNamespace = "prov"

func loadCaptured(ctx context.Context, store prov.Store, tx prov.ReadTx, r *reader, at time.Time, g Sink) error {
	var tables []capture.CapturedTable
	var err error
	switch s := store.(type) {
	case *postgres.Store:
		tables, err = capture.NewPostgres(s).Tables(ctx, tx)
	case *sqlite.Store:
		tables, err = capture.NewSQLite(s).Tables(ctx, tx)
	}
	if err != nil || len(tables) == 0 {
		return err
	}
	byRelid := map[int64]lineage.NodeID{}
	for _, t := range tables {
		id := CapturedDataset(store, t.Name)
		byRelid[t.Relid] = id
		g.AddDataset(id)
	}
	rc, ca := "{T}row_changes", "{T}change_activities"
	if r.d.pg {
		rc, ca = pgx.Identifier{r.d.schema}.Sanitize()+".row_changes", pgx.Identifier{r.d.schema}.Sanitize()+".change_activities"
	}
	rc, ca = strings.ReplaceAll(rc, "{T}", "prov_"), strings.ReplaceAll(ca, "{T}", "prov_")
	cond, args := r.asOf("c.at", at)
	relid := "c.relid"
	if r.d.pg {
		relid = "c.relid::bigint"
	}
	runs := map[string]*lineage.Run{}
	var order []string
	var ios []lineage.IO
	err = r.query(ctx, `SELECT c.activity, `+relid+`, MIN(c.at), MAX(c.at), MAX(c.idx), a.parent FROM `+rc+` c LEFT JOIN `+ca+` a ON a.id = c.activity
		WHERE c.activity IS NOT NULL AND `+cond+` GROUP BY c.activity, c.relid, a.parent ORDER BY MIN(c.idx)`, args, func(scan func(...any) error) error {
		var act string
		var rel, idx int64
		var first, last time.Time
		var parent *string
		if err := scan(&act, &rel, &first, &last, &idx, &parent); err != nil {
			return err
		}
		ds, ok := byRelid[rel]
		if !ok {
			return nil
		}
		x := runs[act]
		if x == nil {
			kind, _, _ := strings.Cut(act, ":")
			x = &lineage.Run{ID: act, Job: lineage.JobNode(CaptureJobNamespace, kind), Started: first, Ended: last, State: "COMPLETE", Index: idx}
			if parent != nil {
				x.Parent = *parent
			}
			runs[act] = x
			order = append(order, act)
		}
		if first.Before(x.Started) {
			x.Started = first
		}
		if last.After(x.Ended) {
			x.Ended = last
		}
		if idx > x.Index {
			x.Index = idx
		}
		ios = append(ios, lineage.IO{Run: act, Dataset: ds, Output: true, At: first, Index: idx})
		return nil
	})
	if err != nil {
		return err
	}
	for _, id := range order {
		g.AddRun(*runs[id])
	}
	for _, io := range ios {
		g.AddIO(io)
	}
	return nil
}
