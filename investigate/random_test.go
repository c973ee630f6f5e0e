package investigate_test

// A randomized oracle test of Find, Count, Blame and History: random
// activities (with and without activity records, releases of their own or
// through parents named by records or by attributions only, kinds recorded or
// taken from the id's prefix), agents and unattributed writers insert,
// update (random column subsets, sometimes to the value a column already
// has, sometimes several rows in one statement, sometimes a key), delete and
// re-insert rows of a table with a one-column key and one with a composite
// key, some of it sequenced and the rest still pending; an in-memory model
// of the same history computes, from the semantics that
// docs/decisions/0006-investigation.md and investigate.Filter state, what
// every query must answer, and the two are compared exactly. Seeded and
// reproducible: PROV_RANDOM_SEED=n picks the seed, PROV_RANDOM_ROUNDS=n how
// many histories per backend.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/investigate"
)

// oTable is a table of the model.
type oTable struct {
	name string   // as the SQL statements name it
	user string   // as investigation is asked
	keys []string // key columns
	cols []string // every column, in order
	ints map[string]bool
	rows map[string]map[string]any // pk → current values
	hist map[string][]*oChange     // pk → changes, oldest first
}

// oChange is a change as the model sees it.
type oChange struct {
	op     string // I, U, D, T
	act    string
	agent  string
	cols   []string // columns written (all for an insert); nil for a delete
	step   int      // the transaction it was made in
	seq    int      // global order
	before map[string]any
	after  map[string]any
}

// oActivity is an activity of the model's universe.
type oActivity struct {
	id       string
	parent   string // the parent its attributions name
	recorded bool
	rec      prov.Activity // its activity record, if recorded
}

type oracle struct {
	t          *testing.T
	e          *env
	rng        *rand.Rand
	tables     []*oTable
	acts       map[string]*oActivity
	used       map[string]bool // activities with changes
	parentSeen map[string]string
	seq        int
	sequenced  int         // changes with seq < sequenced are in the log
	bounds     []time.Time // bounds[i]: between step i and step i+1
	step       int
	unattrAgnt string
	// lateRecords are appended half-way: until then their activities are
	// known from their changes only.
	lateRecords []string
	recordedNow map[string]bool
}

func randomSeed(t *testing.T) uint64 {
	if s := os.Getenv("PROV_RANDOM_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("PROV_RANDOM_SEED=%q: want a number", s)
		}
		return n
	}
	return 20261202
}

func TestRandomOracle(t *testing.T) {
	rounds := 2
	if s := os.Getenv("PROV_RANDOM_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	seed := randomSeed(t)
	backends(t, func(t *testing.T, e *env) {
		for r := 0; r < rounds; r++ {
			s := seed + uint64(r)
			t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
				if r > 0 {
					e = map[string]func(testing.TB) *env{"sqlite": newSQLiteEnv, "postgres": newPostgresEnv}[e.name](t)
				}
				runOracle(t, e, s)
			})
		}
	})
}

func runOracle(t *testing.T, e *env, seed uint64) {
	o := &oracle{t: t, e: e, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), acts: map[string]*oActivity{}, recordedNow: map[string]bool{}, used: map[string]bool{}, parentSeen: map[string]string{}}
	t.Logf("seed %d (PROV_RANDOM_SEED=%d reproduces it)", seed, seed)
	prefix := strings.TrimSuffix(e.table, "items")
	if e.name == "postgres" {
		o.unattrAgnt = "pg-role:" + e.query(t, "SELECT session_user")[0][0]
	}
	r1 := &oTable{name: "r1", user: prefix + "r1", keys: []string{"id"}, cols: []string{"id", "a", "b", "c"}, ints: map[string]bool{"id": true, "c": true}}
	r2 := &oTable{name: "r2", user: prefix + "r2", keys: []string{"k1", "k2"}, cols: []string{"k1", "k2", "x,y", "d"}, ints: map[string]bool{"k1": true, "d": true}}
	o.tables = []*oTable{r1, r2}
	e.exec(t, admin, "CREATE TABLE r1 (id integer PRIMARY KEY, a text, b text, c integer)",
		`CREATE TABLE r2 (k1 integer NOT NULL, k2 text NOT NULL, "x,y" text, d integer, PRIMARY KEY (k1, k2))`)
	for _, tb := range o.tables {
		tb.rows, tb.hist = map[string]map[string]any{}, map[string][]*oChange{}
	}
	// Rows from before capture: they have no history until changed.
	for id := 100; id < 103; id++ {
		vals := map[string]any{"id": id, "a": "p", "b": nil, "c": 1}
		e.exec(t, admin, o.insertSQL(r1, vals))
		r1.rows[o.pk(r1, vals)] = vals
	}
	if _, err := e.cap.Enable(context.Background(), []string{r1.user, r2.user}, nil); err != nil {
		t.Fatal(err)
	}
	o.universe()
	steps := 70
	for i := 0; i < steps; i++ {
		o.randomStep()
		if o.rng.IntN(6) == 0 && i < steps-10 { // the last steps stay pending
			e.sequence(t)
			o.sequenced = o.seq
		}
		if i == steps/2 {
			o.check(40)
			var recs []prov.Record
			for _, id := range o.lateRecords {
				r := o.acts[id].rec
				recs = append(recs, prov.Record{Type: prov.TypeActivity, Activity: &r, Agent: &prov.Agent{ID: "ci:deploy"}})
				o.recordedNow[id] = true
			}
			e.record(t, recs...)
			o.check(20)
		}
	}
	o.check(60)
	e.sequence(t)
	o.sequenced = o.seq
	o.check(30)
	checkBackfill(t, e)
}

// universe defines the activities and appends the records of some.
func (o *oracle) universe() {
	add := func(id, parent string, rec *prov.Activity) {
		a := &oActivity{id: id, parent: parent}
		if rec != nil {
			a.recorded, a.rec = true, *rec
			a.rec.ID = id
		}
		o.acts[id] = a
		o.recordedNow[id] = a.recorded
	}
	add("migration:m1", "", &prov.Activity{Kind: "migration", Release: "v1"})
	add("migration:m2", "", &prov.Activity{Kind: "migration", Parent: "release:v2"})
	add("migration:m3", "release:v1", &prov.Activity{Kind: "migration", Release: "v3"}) // its own release wins
	add("release:v2", "", &prov.Activity{Kind: "release"})
	add("deploy:d1", "", &prov.Activity{Kind: "deploy", Release: "v3"})
	add("script:s1", "", &prov.Activity{Kind: "migration"}) // its recorded kind, not its prefix
	add("job:j1", "release:v1", nil)
	add("job:j2", "job:j1", nil) // v1 through j1, if j1's parent is known
	add("request:r1", "release:v2", nil)
	add("request:r2", "release:v2", nil)
	add("request:r3", "release:v3", nil)
	add("request:r4", "deploy:d1", nil) // v3 through a recorded parent
	add("request:r5", "", nil)
	add("import:i1", "", nil)
	add("fix:f1", "migration:m2", nil) // v2 through m2's recorded parent
	o.lateRecords = []string{"deploy:d1", "migration:m2"}
	var recs []prov.Record
	for _, id := range o.actIDs() {
		if a := o.acts[id]; a.recorded && !slices.Contains(o.lateRecords, id) {
			r := a.rec
			recs = append(recs, prov.Record{Type: prov.TypeActivity, Activity: &r, Agent: &prov.Agent{ID: "ci:deploy"}})
		}
	}
	o.e.record(o.t, recs...)
	for _, id := range o.lateRecords {
		o.recordedNow[id] = false
	}
}

func (o *oracle) actIDs() []string {
	var ids []string
	for id := range o.acts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (o *oracle) pick(list []string) string { return list[o.rng.IntN(len(list))] }

func (o *oracle) pk(tb *oTable, vals map[string]any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range tb.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(vals[k])
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.String()
}

func sqlValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "NULL"
	case int:
		return strconv.Itoa(v)
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	}
	panic(fmt.Sprint(v))
}

func ident(c string) string { return `"` + strings.ReplaceAll(c, `"`, `""`) + `"` }

func (o *oracle) insertSQL(tb *oTable, vals map[string]any) string {
	var cols, vs []string
	for _, c := range tb.cols {
		cols = append(cols, ident(c))
		vs = append(vs, sqlValue(vals[c]))
	}
	return "INSERT INTO " + tb.name + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(vs, ", ") + ")"
}

func (o *oracle) where(tb *oTable, vals map[string]any) string {
	var w []string
	for _, k := range tb.keys {
		w = append(w, ident(k)+" = "+sqlValue(vals[k]))
	}
	return strings.Join(w, " AND ")
}

// value is a random value of a column: few values, so that writes of the
// value a column has are common.
func (o *oracle) value(tb *oTable, c string) any {
	if tb.ints[c] {
		if o.rng.IntN(5) == 0 {
			return nil
		}
		return o.rng.IntN(3)
	}
	if o.rng.IntN(5) == 0 {
		return nil
	}
	return []string{"p", "q", "r's"}[o.rng.IntN(3)]
}

func (o *oracle) randomKey(tb *oTable) map[string]any {
	if len(tb.keys) == 1 {
		return map[string]any{"id": 1 + o.rng.IntN(14)}
	}
	return map[string]any{"k1": o.rng.IntN(4), "k2": []string{"a", "b", `c"d`}[o.rng.IntN(3)]}
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// record adds a change to the model.
func (o *oracle) record(tb *oTable, pk string, c *oChange) {
	c.seq, c.step = o.seq, o.step
	o.seq++
	tb.hist[pk] = append(tb.hist[pk], c)
	if c.act != "" {
		o.used[c.act] = true
	}
}

// randomStep runs one application transaction of random statements and
// plays it on the model.
func (o *oracle) randomStep() {
	var attr prov.Attribution
	if o.rng.IntN(7) != 0 {
		a := o.acts[o.pick(o.actIDs())]
		attr = prov.Attribution{Activity: a.id, Agent: o.pick([]string{"a1", "a2", "a3"}), Parent: a.parent}
		if o.rng.IntN(4) == 0 {
			attr.Parent = "" // the parent is named by some of an activity's attributions only
		}
	}
	agent := attr.Agent
	if attr.Activity == "" {
		agent = o.unattrAgnt
	}
	var stmts []string
	n := 1 + o.rng.IntN(3)
	for i := 0; i < n; i++ {
		tb := o.tables[o.rng.IntN(len(o.tables))]
		var existing []string
		for pk := range tb.rows {
			existing = append(existing, pk)
		}
		sort.Strings(existing)
		mk := func(op string, cols []string, before, after map[string]any) *oChange {
			return &oChange{op: op, act: attr.Activity, agent: agent, cols: cols, before: before, after: after}
		}
		switch r := o.rng.IntN(10); {
		case o.e.name == "postgres" && len(existing) > 0 && o.rng.IntN(40) == 0: // PostgreSQL: TRUNCATE, captured row by row
			stmts = append(stmts, "TRUNCATE "+tb.name)
			for _, pk := range existing {
				o.record(tb, pk, mk("T", nil, clone(tb.rows[pk]), nil))
				delete(tb.rows, pk)
			}
		case r < 3 || len(existing) == 0: // insert a key that is free
			vals := o.randomKey(tb)
			pk := o.pk(tb, vals)
			if tb.rows[pk] != nil {
				continue
			}
			for _, c := range tb.cols {
				if !slices.Contains(tb.keys, c) {
					vals[c] = o.value(tb, c)
				}
			}
			stmts = append(stmts, o.insertSQL(tb, vals))
			tb.rows[pk] = vals
			o.record(tb, pk, mk("I", slices.Clone(tb.cols), nil, clone(vals)))
		case r < 4: // delete
			pk := o.pick(existing)
			old := tb.rows[pk]
			stmts = append(stmts, "DELETE FROM "+tb.name+" WHERE "+o.where(tb, old))
			delete(tb.rows, pk)
			o.record(tb, pk, mk("D", nil, clone(old), nil))
		case r < 5 && len(tb.keys) == 1: // change a key
			pk := o.pick(existing)
			old := tb.rows[pk]
			nk := o.randomKey(tb)
			npk := o.pk(tb, nk)
			if tb.rows[npk] != nil {
				continue
			}
			nv := clone(old)
			nv["id"] = nk["id"]
			stmts = append(stmts, "UPDATE "+tb.name+" SET id = "+sqlValue(nk["id"])+" WHERE "+o.where(tb, old))
			delete(tb.rows, pk)
			tb.rows[npk] = nv
			// The sequencer records a new entity (written whole) and the end of the old one.
			o.record(tb, npk, mk("I", slices.Clone(tb.cols), nil, clone(nv)))
			o.seq-- // one change record, two index rows
			o.record(tb, pk, mk("D", nil, clone(old), nil))
		case r < 7: // one statement, several rows, one column, one value
			var cols []string
			for _, c := range tb.cols {
				if !slices.Contains(tb.keys, c) {
					cols = append(cols, c)
				}
			}
			c := o.pick(cols)
			v := o.value(tb, c)
			var pks, conds []string
			for _, pk := range existing {
				if o.rng.IntN(2) == 0 {
					pks = append(pks, pk)
					conds = append(conds, "("+o.where(tb, tb.rows[pk])+")")
				}
			}
			if len(pks) == 0 {
				continue
			}
			stmts = append(stmts, "UPDATE "+tb.name+" SET "+ident(c)+" = "+sqlValue(v)+" WHERE "+strings.Join(conds, " OR "))
			// Rows change in an order the database picks: the model only
			// needs each row's own order, which is the statement's.
			for _, pk := range pks {
				old := tb.rows[pk]
				nv := clone(old)
				nv[c] = v
				var wrote []string
				if !equalAny(old[c], v) {
					wrote = []string{c}
				}
				tb.rows[pk] = nv
				o.record(tb, pk, mk("U", orEmpty(wrote), clone(old), clone(nv)))
			}
		default: // one row, a random subset of columns
			pk := o.pick(existing)
			old := tb.rows[pk]
			nv := clone(old)
			var sets, wrote []string
			for _, c := range tb.cols {
				if slices.Contains(tb.keys, c) || o.rng.IntN(2) == 0 {
					continue
				}
				v := o.value(tb, c)
				sets = append(sets, ident(c)+" = "+sqlValue(v))
				if !equalAny(old[c], v) {
					wrote = append(wrote, c)
				}
				nv[c] = v
			}
			if len(sets) == 0 {
				c := tb.cols[len(tb.cols)-1]
				sets = append(sets, ident(c)+" = "+ident(c))
			}
			stmts = append(stmts, "UPDATE "+tb.name+" SET "+strings.Join(sets, ", ")+" WHERE "+o.where(tb, old))
			tb.rows[pk] = nv
			sort.Strings(wrote)
			o.record(tb, pk, mk("U", orEmpty(wrote), clone(old), clone(nv)))
		}
	}
	if len(stmts) == 0 {
		return
	}
	// Some steps change nothing (an update to the values rows have): those
	// still are changes, as the database sees them.
	o.e.exec(o.t, attr, stmts...)
	time.Sleep(3 * time.Millisecond)
	o.bounds = append(o.bounds, time.Now())
	time.Sleep(3 * time.Millisecond)
	o.step++
	if attr.Activity != "" {
		if o.parentSeen[attr.Activity] == "" { // the first parent named counts
			o.parentSeen[attr.Activity] = attr.Parent
		}
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func equalAny(a, b any) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

// known reports whether investigation knows activity id: it has a record
// or changes.
func (o *oracle) known(id string) bool {
	return o.recordedNow[id] || o.used[id]
}

func (o *oracle) kindOf(id string) string {
	if a := o.acts[id]; a != nil && o.recordedNow[id] && a.rec.Kind != "" {
		return a.rec.Kind
	}
	k, _, _ := strings.Cut(id, ":")
	return k
}

// parentOf is the parent investigation knows of: its record's, else the
// one its attributions named (known only if it has changes).
func (o *oracle) parentOf(id string) string {
	a := o.acts[id]
	if a != nil && o.recordedNow[id] && a.rec.Parent != "" {
		return a.rec.Parent
	}
	if o.used[id] {
		return o.parentSeen[id]
	}
	return ""
}

func (o *oracle) releaseOf(id string) string {
	seen := map[string]bool{}
	for !seen[id] {
		seen[id] = true
		a := o.acts[id]
		if a != nil && o.recordedNow[id] && a.rec.Release != "" {
			return a.rec.Release
		}
		if r, ok := strings.CutPrefix(id, "release:"); ok && o.kindOf(id) == "release" {
			return r
		}
		p := o.parentOf(id)
		if p == "" {
			return ""
		}
		if !o.known(p) {
			if r, ok := strings.CutPrefix(p, "release:"); ok {
				return r
			}
			return ""
		}
		id = p
	}
	return ""
}

// set returns the known activities for which f holds; ok is false if none.
func (o *oracle) set(f func(id string) bool) (map[string]bool, bool) {
	out := map[string]bool{}
	for id := range o.acts {
		if o.known(id) && f(id) {
			out[id] = true
		}
	}
	return out, len(out) > 0
}

// expect computes Find's answer: one line per row, sorted; errNotFound if a
// name is unknown.
func (o *oracle) expect(f investigate.Filter, tb *oTable) ([]string, bool) {
	var match map[string]bool // nil: any
	intersect := func(s map[string]bool) {
		if match == nil {
			match = s
			return
		}
		for id := range match {
			if !s[id] {
				delete(match, id)
			}
		}
	}
	if f.Activity != "" {
		if !o.known(f.Activity) {
			return nil, false
		}
		intersect(map[string]bool{f.Activity: true})
	}
	if f.Release != "" {
		s, ok := o.set(func(id string) bool { return o.releaseOf(id) == f.Release })
		if !ok {
			return nil, false
		}
		intersect(s)
	}
	if f.Kind != "" {
		s, ok := o.set(func(id string) bool { return o.kindOf(id) == f.Kind })
		if !ok {
			return nil, false
		}
		intersect(s)
	}
	not := map[string]bool{}
	for _, id := range f.NotActivity {
		if !o.known(id) {
			return nil, false
		}
		not[id] = true
	}
	for _, r := range f.NotRelease {
		s, ok := o.set(func(id string) bool { return o.releaseOf(id) == r })
		if !ok {
			return nil, false
		}
		for id := range s {
			not[id] = true
		}
	}
	col := f.Column
	wrote := func(c *oChange) bool { return slices.Contains(c.cols, col) }
	gone := func(c *oChange) bool { return c.op == "D" || c.op == "T" }
	matches := func(c *oChange) bool {
		if match != nil && !match[c.act] {
			return false
		}
		if f.Agent != "" && c.agent != f.Agent {
			return false
		}
		if !f.Since.IsZero() && !o.bounds[o.boundOf(f.Since)].Before(o.stepTime(c)) {
			return false
		}
		if !f.Until.IsZero() && !o.stepTime(c).Before(o.bounds[o.boundOf(f.Until)]) {
			return false
		}
		return col == "" || wrote(c)
	}
	var out []string
	for pk, h := range tb.hist {
		at := -1
		switch {
		case f.Current && col != "":
			// The last change that wrote the column or removed the row.
			for i := len(h) - 1; i >= 0; i-- {
				if gone(h[i]) {
					break
				}
				if wrote(h[i]) {
					if matches(h[i]) {
						at = i
					}
					break
				}
			}
		case f.Current:
			if n := len(h); !gone(h[n-1]) && matches(h[n-1]) {
				at = n - 1
			}
		default:
			for i := len(h) - 1; i >= 0; i-- {
				if matches(h[i]) {
					at = i
					break
				}
			}
		}
		if at < 0 {
			continue
		}
		dropped := false
		for _, c := range h[at+1:] {
			if not[c.act] && (col == "" || wrote(c) || gone(c)) {
				dropped = true
			}
		}
		if dropped {
			continue
		}
		out = append(out, o.line(pk, h[at]))
	}
	sort.Strings(out)
	return out, true
}

func opWord(op string) string {
	return map[string]string{"I": "insert", "U": "update", "D": "delete", "T": "truncate"}[op]
}

func (o *oracle) line(pk string, c *oChange) string {
	return fmt.Sprintf("%s %s act=%s agent=%s pending=%v", pk, opWord(c.op), c.act, c.agent, c.seq >= o.sequenced)
}

// stepTime stands for a change's time: the bound after its step, which the
// change's time is before (and after the bound before it).
func (o *oracle) stepTime(c *oChange) time.Time {
	return o.bounds[c.step].Add(-time.Millisecond)
}

// boundOf is the index of a bound given as a time.
func (o *oracle) boundOf(t time.Time) int {
	for i, b := range o.bounds {
		if b.Equal(t) {
			return i
		}
	}
	panic("not a bound")
}

func (o *oracle) randomFilter() (investigate.Filter, *oTable) {
	tb := o.tables[o.rng.IntN(len(o.tables))]
	f := investigate.Filter{Table: tb.user}
	p := func(n int) bool { return o.rng.IntN(100) < n }
	if p(65) {
		f.Column = o.pick(tb.cols)
	}
	ids := append(o.actIDs(), "request:r9") // one that never ran
	if p(30) {
		f.Activity = o.pick(ids)
	}
	if p(30) {
		f.Release = o.pick([]string{"v1", "v2", "v3", "v4"})
	}
	if p(25) {
		f.Kind = o.pick([]string{"migration", "release", "request", "job", "deploy", "script", "fix", "import"})
	}
	if p(15) {
		f.Agent = o.pick([]string{"a1", "a2", "a3", o.unattrAgnt})
	}
	if p(20) && len(o.bounds) > 1 {
		f.Since = o.bounds[o.rng.IntN(len(o.bounds)-1)]
	}
	if p(20) && len(o.bounds) > 1 {
		f.Until = o.bounds[o.rng.IntN(len(o.bounds))]
		if !f.Since.IsZero() && !f.Since.Before(f.Until) {
			f.Until = time.Time{}
		}
	}
	f.Current = p(55)
	if p(20) {
		f.NotActivity = []string{o.pick(ids)}
		if p(30) {
			f.NotActivity = append(f.NotActivity, o.pick(ids))
		}
	}
	if p(15) {
		f.NotRelease = []string{o.pick([]string{"v1", "v2", "v3"})}
	}
	return f, tb
}

// check compares n random queries, and blame and history of every row.
func (o *oracle) check(n int) {
	t := o.t
	t.Helper()
	ctx := context.Background()
	var empty, nonEmpty, notFound int
	defer func() {
		t.Logf("after %d steps (%d of %d changes sequenced): %d queries selected rows, %d none, %d named something unknown", o.step, o.sequenced, o.seq, nonEmpty, empty, notFound)
	}()
	for i := 0; i < n; i++ {
		f, tb := o.randomFilter()
		want, ok := o.expect(f, tb)
		switch {
		case !ok:
			notFound++
		case len(want) == 0:
			empty++
		default:
			nonEmpty++
		}
		var got []string
		err := o.e.inv.Find(ctx, f, func(m investigate.Match) error {
			got = append(got, fmt.Sprintf("%s %s act=%s agent=%s pending=%v", m.PK, m.Op, m.Activity, m.Agent, m.Index < 0))
			return nil
		})
		if !ok {
			if prov.KindOf(err) != prov.NotFound {
				t.Errorf("find %s: got %v (%d rows), want a not-found error", show(f), err, len(got))
			}
			continue
		}
		if err != nil {
			t.Errorf("find %s: %v", show(f), err)
			continue
		}
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Errorf("find %s (after %d steps, %d of %d changes sequenced):\n got  %s\n want %s", show(f), o.step, o.sequenced, o.seq, strings.Join(got, "\n      "), strings.Join(want, "\n      "))
			continue
		}
		if c, err := o.e.inv.Count(ctx, f); err != nil || c != int64(len(want)) {
			t.Errorf("count %s: %d %v, want %d", show(f), c, err, len(want))
		}
	}
	for _, tb := range o.tables {
		var pks []string
		for pk := range tb.hist {
			pks = append(pks, pk)
		}
		sort.Strings(pks)
		for _, pk := range pks {
			o.checkRow(tb, pk)
		}
		// A row from before capture that was never changed has no history.
		for pk := range tb.rows {
			if tb.hist[pk] == nil {
				if _, err := o.e.inv.Blame(ctx, tb.user, o.keyArg(tb, pk)); prov.KindOf(err) != prov.NotFound {
					t.Errorf("blame %s %s (never changed): %v, want not found", tb.name, pk, err)
				}
			}
		}
	}
}

// keyArg is how a user types the key: the value alone for a one-column key.
func (o *oracle) keyArg(tb *oTable, pk string) string {
	if len(tb.keys) == 1 {
		return investigate.KeyValue(pk)
	}
	return pk
}

func (o *oracle) checkRow(tb *oTable, pk string) {
	t := o.t
	t.Helper()
	ctx := context.Background()
	h := tb.hist[pk]
	key := o.keyArg(tb, pk)
	_, got, err := o.e.inv.History(ctx, tb.user, key)
	if err != nil {
		t.Errorf("history %s %s: %v", tb.name, pk, err)
		return
	}
	var gs, ws []string
	for _, c := range got {
		act := ""
		if c.Activity != nil {
			act = c.Activity.ID
		}
		cols := slices.Clone(c.Columns)
		sort.Strings(cols)
		gs = append(gs, fmt.Sprintf("%s act=%s%s agent=%s cols=%v pending=%v after=%s", c.Op, act, refOf(c), c.Agent, cols, c.Index < 0, jsonOf(c.After)))
	}
	for _, c := range h {
		cols := slices.Clone(c.cols)
		sort.Strings(cols)
		after := map[string]any{}
		switch c.op {
		case "I":
			after = c.after
		case "U":
			for _, col := range c.cols {
				after[col] = c.after[col]
			}
		default:
			after = nil
		}
		ws = append(ws, fmt.Sprintf("%s act=%s%s agent=%s cols=%v pending=%v after=%s", opWord(c.op), c.act, o.refOf(c.act), c.agent, cols, c.seq >= o.sequenced, jsonOf(after)))
	}
	if !slices.Equal(gs, ws) {
		t.Errorf("history %s %s:\n got  %s\n want %s", tb.name, pk, strings.Join(gs, "\n      "), strings.Join(ws, "\n      "))
	}
	b, err := o.e.inv.Blame(ctx, tb.user, key)
	if err != nil {
		t.Errorf("blame %s %s: %v", tb.name, pk, err)
		return
	}
	last := h[len(h)-1]
	if last.op == "D" || last.op == "T" {
		if b.Deleted == nil || actOf(b.Deleted) != last.act || refOf(b.Deleted) != o.refOf(last.act) || len(b.Cells) != 0 {
			t.Errorf("blame %s %s: %+v, want deleted by %q", tb.name, pk, b, last.act)
		}
		return
	}
	cur := tb.rows[pk]
	var gb, wb []string
	for _, c := range b.Cells {
		w := "-"
		if c.Change != nil {
			w = fmt.Sprintf("%s/%s%s/pending=%v", c.Change.Op, actOf(c.Change), refOf(c.Change), c.Change.Index < 0)
		}
		var v any
		json.Unmarshal(c.Value, &v)
		gb = append(gb, fmt.Sprintf("%s=%s by %s", c.Column, jsonOf(v), w))
	}
	for _, col := range tb.cols {
		w := "-"
		for i := len(h) - 1; i >= 0; i-- {
			if slices.Contains(h[i].cols, col) {
				w = fmt.Sprintf("%s/%s%s/pending=%v", opWord(h[i].op), h[i].act, o.refOf(h[i].act), h[i].seq >= o.sequenced)
				break
			}
		}
		gbv := cur[col]
		if n, ok := gbv.(int); ok {
			gbv = float64(n)
		}
		wb = append(wb, fmt.Sprintf("%s=%s by %s", col, jsonOf(gbv), w))
	}
	if !slices.Equal(gb, wb) {
		t.Errorf("blame %s %s:\n got  %s\n want %s", tb.name, pk, strings.Join(gb, "\n      "), strings.Join(wb, "\n      "))
	}
}

// refOf is what blame and history say of a change's activity besides its
// id: its kind and release.
func refOf(c *investigate.Change) string {
	if c.Activity == nil {
		return ""
	}
	return fmt.Sprintf(" kind=%s release=%s", c.Activity.Kind, c.Activity.Release)
}

// refOf is what the model says of activity id as refOf shows it.
func (o *oracle) refOf(id string) string {
	if id == "" {
		return ""
	}
	return fmt.Sprintf(" kind=%s release=%s", o.kindOf(id), o.releaseOf(id))
}

func actOf(c *investigate.Change) string {
	if c.Activity == nil {
		return ""
	}
	return c.Activity.ID
}

func jsonOf(v any) string {
	if m, ok := v.(map[string]json.RawMessage); ok {
		norm := map[string]any{}
		for k, x := range m {
			var y any
			json.Unmarshal(x, &y)
			norm[k] = y
		}
		v = norm
		if m == nil {
			v = nil
		}
	}
	if m, ok := v.(map[string]any); ok && m != nil {
		norm := map[string]any{}
		for k, x := range m {
			if n, ok := x.(int); ok {
				x = float64(n)
			}
			norm[k] = x
		}
		v = norm
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func show(f investigate.Filter) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, "--"+k+" "+v)
		}
	}
	add("table", f.Table)
	add("column", f.Column)
	add("activity", f.Activity)
	add("release", f.Release)
	add("kind", f.Kind)
	add("agent", f.Agent)
	if !f.Since.IsZero() {
		add("since", f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		add("until", f.Until.Format(time.RFC3339Nano))
	}
	if f.Current {
		parts = append(parts, "--current")
	}
	for _, a := range f.NotActivity {
		add("not-activity", a)
	}
	for _, r := range f.NotRelease {
		add("not-release", r)
	}
	return strings.Join(parts, " ")
}

var _ = errors.New

func TestParseColumnsForms(t *testing.T) {
	for _, cols := range [][]string{{"a"}, {"a", "b"}, {"x,y", `q"r`, `s\t`, "ü"}, {`","`}} {
		var field string
		for _, c := range cols {
			b, _ := json.Marshal(c)
			field += "," + string(b)
		}
		field += ","
		if got := investigate.ParseColumnsForTest(field); !slices.Equal(got, cols) {
			t.Errorf("%s: %q, want %q", field, got, cols)
		}
	}
}

func TestKeyValueForms(t *testing.T) {
	for pk, want := range map[string]string{
		`{"id":42}`: "42", `{"id":-7}`: "-7", `{"id":"abc"}`: "abc", `{"id":"a\"b"}`: `a"b`, `{"id":"a,\"k\":1"}`: `a,"k":1`,
		`{"k1":1,"k2":"x"}`: `{"k1":1,"k2":"x"}`, `{"id":1.5}`: "1.5", `{"a\"b":3}`: "3", `{"id":"é"}`: "é",
	} {
		if got := investigate.KeyValue(pk); got != want {
			t.Errorf("KeyValue(%s) = %s, want %s", pk, got, want)
		}
	}
}
