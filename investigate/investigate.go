// Package investigate answers the questions a team asks after bad data got
// in — who last wrote this cell (Blame), what happened to this row (History),
// what did this release touch (Activities), which rows are still poisoned
// (Find) — and repairs exactly those rows (Fix, Revert), each repair itself
// captured and recorded as an activity.
//
// It reads the index of changes that capture's sequencer keeps beside the log
// (row_changes, change_activities) together with the changes not yet
// sequenced, in one snapshot, so that every committed change counts whether or
// not it is in the log yet. The CLI and the HTTP API both call it.
package investigate

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"github.com/prov-dev/prov/internal/suggest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/postgres"
)

// Investigator investigates and repairs the captured tables of one database.
// Its methods may be called concurrently.
type Investigator struct {
	store   prov.Store
	capture source
	d       dialect
}

// source is what the Investigator needs of capture: *capture.Postgres or
// *capture.SQLite.
type source interface {
	Tables(ctx context.Context, tx prov.ReadTx) ([]capture.CapturedTable, error)
	Pending(ctx context.Context, tx prov.ReadTx) ([]capture.RowChange, error)
}

// New returns an Investigator of the database that c captures.
func New(c capture.Capturer) (*Investigator, error) {
	switch c := c.(type) {
	case *capture.Postgres:
		s := c.Store()
		return &Investigator{store: s, capture: c, d: dialect{pg: true, schema: s.Schema() + "."}}, nil
	case *capture.SQLite:
		return &Investigator{store: c.Store(), capture: c, d: dialect{schema: "prov_"}}, nil
	}
	return nil, prov.Errorf(prov.Internal, "investigate: unknown capture %T", c)
}

// dialect is what differs between the SQL of PostgreSQL and of SQLite.
type dialect struct {
	pg     bool
	schema string // prefix of the index tables: "prov." or "prov_"
}

func (d dialect) rowChanges() string       { return d.schema + "row_changes" }
func (d dialect) changeActivities() string { return d.schema + "change_activities" }
func (d dialect) columnWriters() string    { return d.schema + "column_writers" }
func (d dialect) records() string {
	if d.pg {
		return d.schema + "records"
	}
	return "records"
}

// micros is the SQL of a time column as unix microseconds.
func (d dialect) micros(col string) string {
	if d.pg {
		return "(extract(epoch FROM " + col + ") * 1000000)::bigint"
	}
	return col
}

// text is the SQL of a "char" column as text.
func (d dialect) text(col string) string {
	if d.pg {
		return col + "::text"
	}
	return col
}

// bigint is the SQL of an oid column as a bigint.
func (d dialect) bigint(col string) string {
	if d.pg {
		return col + "::bigint"
	}
	return col
}

// args collects the arguments of one query and writes their placeholders.
type args struct {
	d    dialect
	vals []any
}

func (a *args) add(v any) string {
	a.vals = append(a.vals, v)
	if a.d.pg {
		return "$" + strconv.Itoa(len(a.vals))
	}
	return "?" + strconv.Itoa(len(a.vals))
}

// relid adds a table id: an oid on PostgreSQL.
func (a *args) relid(id int64) string {
	if a.d.pg {
		return a.add(uint32(id))
	}
	return a.add(id)
}

func (a *args) time(t time.Time) string {
	if a.d.pg {
		return a.add(t)
	}
	return a.add(t.UnixMicro())
}

// in is the SQL of "col is one of list".
func (a *args) in(col string, list []string) string {
	if a.d.pg {
		return col + " = ANY(" + a.add(list) + "::text[])"
	}
	b, _ := json.Marshal(list)
	return col + " IN (SELECT value FROM json_each(" + a.add(string(b)) + "))"
}

// hasColumn is the SQL of "the change of alias x wrote column c".
func (a *args) hasColumn(x, c string) string {
	if a.d.pg {
		return "strpos(" + x + ".columns, " + a.add(capture.ColumnToken(c)) + ") > 0"
	}
	return "instr(" + x + ".columns, " + a.add(capture.ColumnToken(c)) + ") > 0"
}

// rows is a result set of either driver.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// querier runs queries in one read transaction of either driver.
type querier interface {
	query(ctx context.Context, q string, args ...any) (rows, error)
}

type pgQuerier struct{ q postgres.Querier }

func (p pgQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	r, err := p.q.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return pgRows{r}, nil
}

type pgRows struct{ pgx.Rows }

func (r pgRows) Close() { r.Rows.Close() }

// sqlQuerier runs queries in tx, through prepared if set: the store's
// prepared statements (see querierOf).
type sqlQuerier struct {
	tx       *sql.Tx
	prepared func(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s sqlQuerier) query(ctx context.Context, q string, args ...any) (rows, error) {
	run := s.tx.QueryContext
	if s.prepared != nil {
		run = s.prepared
	}
	r, err := run(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// querierOf returns the querier of tx. With prepared, SQLite's queries run
// through statements the store keeps prepared (for the few fixed queries of
// blame and history, whose preparing cost as much as running them); find's
// queries, built from each filter, are prepared each time.
func querierOf(tx prov.ReadTx, prepared bool) querier {
	switch t := tx.(type) {
	case interface{ Querier() postgres.Querier }:
		return pgQuerier{t.Querier()}
	case interface{ SQLTx() *sql.Tx }:
		q := sqlQuerier{tx: t.SQLTx()}
		if p, ok := tx.(interface {
			Query(ctx context.Context, q string, args ...any) (*sql.Rows, error)
		}); ok && prepared {
			q.prepared = p.Query
		}
		return q
	}
	panic(fmt.Sprintf("investigate: unknown transaction %T", tx))
}

// wrap makes a database error say what was being done.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if prov.KindOf(err) != prov.Internal || strings.HasPrefix(err.Error(), "prov:") {
		return err
	}
	return &prov.Error{Kind: prov.KindOf(err), Message: op + ": " + err.Error(), Err: err}
}

// snapshot is what one investigation reads in one transaction: the tables,
// the activities and the pending changes.
type snapshot struct {
	q       querier
	tx      prov.ReadTx
	tables  []capture.CapturedTable
	acts    map[string]*Activity // every recorded activity (narrow: those looked up), and those looked up since
	pending []capture.RowChange
	d       dialect
	// narrow: the snapshot of a question about one row (blame, history),
	// which reads activity records only as the row's changes name them
	// (lookup), not every one up front.
	narrow bool
}

// view runs fn on a snapshot of the database.
func (iv *Investigator) view(ctx context.Context, fn func(s *snapshot) error) error {
	return iv.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		s := &snapshot{q: querierOf(tx, false), tx: tx, d: iv.d}
		if iv.d.pg {
			// Investigation's queries are index probes whose cost the
			// planner overestimates (a release's changes, most of other
			// columns): compiling them (JIT) costs more than running them.
			rows, err := s.q.query(ctx, "SET LOCAL jit = off")
			if err != nil {
				return wrap("set up the snapshot", err)
			}
			rows.Close()
		}
		if err := iv.load(ctx, s); err != nil {
			return err
		}
		return fn(s)
	})
}

// viewRow runs fn on a snapshot for a question about one row (blame,
// history), with the same result as view but reading less: the captured
// tables; the capture queue only if it holds any change (a probe of its
// primary key first); and then the activities the row's changes name, and
// their parents, as they are needed (lookup) — not every activity record.
// No JIT setting: a row's queries are index probes far below its threshold.
func (iv *Investigator) viewRow(ctx context.Context, fn func(s *snapshot) error) error {
	return iv.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		s := &snapshot{q: querierOf(tx, true), tx: tx, d: iv.d, narrow: true, acts: map[string]*Activity{}}
		var err error
		if s.tables, err = iv.capture.Tables(ctx, s.tx); err != nil {
			return err
		}
		empty, err := s.queueEmpty(ctx)
		if err != nil {
			return err
		}
		if !empty {
			if s.pending, err = iv.capture.Pending(ctx, s.tx); err != nil {
				return err
			}
		}
		return fn(s)
	})
}

// queueEmpty reports whether the capture queue holds no change in s's
// snapshot, by its primary key: the first id, if any.
func (s *snapshot) queueEmpty(ctx context.Context) (bool, error) {
	rows, err := s.q.query(ctx, "SELECT id FROM "+s.d.schema+"changes ORDER BY id LIMIT 1")
	if err != nil {
		return false, wrap("read the capture queue", err)
	}
	defer rows.Close()
	empty := !rows.Next()
	return empty, wrap("read the capture queue", rows.Err())
}

// load reads the tables, the pending changes and the recorded activities.
func (iv *Investigator) load(ctx context.Context, s *snapshot) error {
	var err error
	if s.tables, err = iv.capture.Tables(ctx, s.tx); err != nil {
		return err
	}
	if s.pending, err = iv.capture.Pending(ctx, s.tx); err != nil {
		return err
	}
	return s.loadRecorded(ctx)
}

// table finds a captured table by the name a user typed: schema.table, or
// table alone if one captured table has that name.
func (s *snapshot) table(name string) (*capture.CapturedTable, error) {
	var names []string
	var found []*capture.CapturedTable
	for i := range s.tables {
		t := &s.tables[i]
		names = append(names, t.Name)
		_, short, _ := strings.Cut(t.Name, ".")
		if strings.EqualFold(t.Name, name) || strings.EqualFold(short, name) {
			found = append(found, t)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		var ns []string
		for _, t := range found {
			ns = append(ns, t.Name)
		}
		return nil, prov.Errorf(prov.Invalid, "table name %s is ambiguous: say which of %s", name, strings.Join(ns, ", "))
	case len(names) == 0:
		return nil, prov.Errorf(prov.NotFound, "no table is captured here, so %s has no provenance: enable capture first (prov capture enable TABLE)", name)
	}
	hint := didYouMean(name, names)
	if _, short, ok := strings.Cut(name, "."); !strings.HasPrefix(hint, ";") {
		if !ok {
			short = name
		}
		var shorts []string
		for _, n := range names {
			_, s, _ := strings.Cut(n, ".")
			shorts = append(shorts, s)
		}
		if h := didYouMean(short, shorts); strings.HasPrefix(h, ";") {
			hint = h
		}
	}
	return nil, prov.Errorf(prov.NotFound, "table %s is not captured%s", name, hint)
}

// column checks that c is a column of t.
func column(t *capture.CapturedTable, c string) error {
	if slices.Contains(t.Columns, c) {
		return nil
	}
	if t.Columns == nil { // the table is gone: any column its changes wrote is fine
		return nil
	}
	return prov.Errorf(prov.NotFound, "table %s has no column %s%s", t.Name, c, didYouMean(c, t.Columns))
}

// didYouMean suggests the candidates closest to name.
func didYouMean(name string, candidates []string) string {
	type scored struct {
		s string
		d int
	}
	var best []scored
	for _, c := range candidates {
		d := suggest.Distance(strings.ToLower(name), strings.ToLower(c))
		if d <= max(2, len(name)/3) || strings.Contains(strings.ToLower(c), strings.ToLower(name)) {
			best = append(best, scored{c, d})
		}
	}
	sort.SliceStable(best, func(i, j int) bool { return best[i].d < best[j].d })
	if len(best) == 0 {
		if len(candidates) > 0 && len(candidates) <= 8 {
			return " (there are: " + strings.Join(candidates, ", ") + ")"
		}
		return ""
	}
	var out []string
	for i := 0; i < len(best) && i < 3; i++ {
		out = append(out, best[i].s)
	}
	return "; did you mean " + strings.Join(out, " or ") + "?"
}

// ParseKey turns the primary key a user typed into the key forms the index
// may hold: for a one-column key, the value as JSON (42, "abc") and, if it
// is not a JSON string, also as a string; for a composite key, a JSON object
// with every key column. The forms are JSON objects in key order.
func ParseKey(t *capture.CapturedTable, s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, prov.Errorf(prov.Invalid, "the primary key of %s is empty: give the value of %s", t.Name, strings.Join(t.PK, ", "))
	}
	obj := func(vals []json.RawMessage) string {
		var b strings.Builder
		b.WriteByte('{')
		for i, k := range t.PK {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			b.Write(canonical(vals[i]))
		}
		b.WriteByte('}')
		return b.String()
	}
	if strings.HasPrefix(s, "{") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, prov.Errorf(prov.Invalid, "primary key %s is not a JSON object: %v", s, err)
		}
		vals := make([]json.RawMessage, len(t.PK))
		for i, k := range t.PK {
			v, ok := m[k]
			if !ok {
				return nil, prov.Errorf(prov.Invalid, "primary key %s has no %q: the key of %s is (%s)", s, k, t.Name, strings.Join(t.PK, ", "))
			}
			vals[i] = v
		}
		if len(m) != len(t.PK) {
			return nil, prov.Errorf(prov.Invalid, "primary key %s has columns that are not in the key of %s, which is (%s)", s, t.Name, strings.Join(t.PK, ", "))
		}
		return []string{obj(vals)}, nil
	}
	if len(t.PK) != 1 {
		return nil, prov.Errorf(prov.Invalid, "%s has a composite primary key (%s): give it as a JSON object, such as %s", t.Name, strings.Join(t.PK, ", "), exampleKey(t.PK))
	}
	str, _ := json.Marshal(s)
	if json.Valid([]byte(s)) && !strings.HasPrefix(s, "[") {
		if strings.HasPrefix(s, `"`) {
			return []string{obj([]json.RawMessage{json.RawMessage(s)})}, nil
		}
		return []string{obj([]json.RawMessage{json.RawMessage(s)}), obj([]json.RawMessage{str})}, nil
	}
	return []string{obj([]json.RawMessage{str})}, nil
}

func exampleKey(pk []string) string {
	var parts []string
	for _, k := range pk {
		kb, _ := json.Marshal(k)
		parts = append(parts, string(kb)+":…")
	}
	return "'{" + strings.Join(parts, ",") + "}'"
}

// canonical writes a JSON value as row images hold key values: compact,
// strings without HTML escapes.
func canonical(v json.RawMessage) []byte {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return v
	}
	if s, ok := x.(string); ok {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		return []byte(strings.TrimSuffix(b.String(), "\n"))
	}
	var b strings.Builder
	b.Write(v)
	out := strings.TrimSpace(b.String())
	return []byte(out)
}
