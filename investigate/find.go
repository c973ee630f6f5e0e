package investigate

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
)

// Filter selects the rows of one table by the changes that wrote them.
//
// A change matches when it satisfies every filter given: its activity is
// Activity, or belongs to release Release (its own release or its nearest
// ancestor's), or is of kind Kind; its agent is Agent; its time is in
// [Since, Until); and, with Column, it wrote that column (an insert writes
// every column; a delete writes none). With no activity filter (Activity,
// Release, Kind), unattributed changes match too.
//
// Without Current, a row is selected if any of its changes matches. With
// Current, only rows that exist now: with Column, those whose current value
// of Column was written by a matching change (not rewritten since); without
// it, those whose latest change matches. NotActivity and NotRelease then
// drop the rows that those activities touched after the row's last matching
// change — with Column, only where they wrote Column (or deleted the row).
type Filter struct {
	Table       string
	Column      string
	Activity    string
	Release     string
	Kind        string
	Agent       string
	Since       time.Time
	Until       time.Time
	Current     bool
	NotActivity []string
	NotRelease  []string
}

// Match is one selected row, with the change that selected it: the last
// matching change.
type Match struct {
	PK       string    `json:"pk"`    // the primary key, a JSON object in key order
	Index    int64     `json:"index"` // the log index of the change; -1: not yet in the log
	Change   int64     `json:"change,omitempty"`
	Op       string    `json:"op"`
	Activity string    `json:"activity,omitempty"`
	Agent    string    `json:"agent,omitempty"`
	Time     time.Time `json:"time"`
}

// plan is a Filter resolved against one snapshot.
type plan struct {
	f      Filter
	table  *capture.CapturedTable
	match  map[string]bool // the matching activities; nil: any, attributed or not
	not    map[string]bool // the excluding activities; nil: none
	none   bool            // the activity filters select no activity
	pkeys  []string        // rows with pending changes: decided in Go
	byRow  map[string][]capture.RowChange
	status string // why nothing can match, for Explain
}

// compile resolves f's names: the table, the column and the activities.
func (s *snapshot) compile(ctx context.Context, f Filter) (*plan, error) {
	if f.Table == "" {
		return nil, prov.Errorf(prov.Invalid, "no table given: say which table to search (--table)")
	}
	t, err := s.table(f.Table)
	if err != nil {
		return nil, err
	}
	p := &plan{f: f, table: t}
	if f.Column != "" {
		if err := column(t, f.Column); err != nil {
			return nil, err
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return nil, prov.Errorf(prov.Invalid, "--since %s is not before --until %s: the window is empty", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	intersect := func(set map[string]bool) {
		if p.match == nil {
			p.match = set
			return
		}
		for id := range p.match {
			if !set[id] {
				delete(p.match, id)
			}
		}
	}
	if f.Activity != "" {
		a, err := s.known(ctx, f.Activity)
		if err != nil {
			return nil, err
		}
		intersect(map[string]bool{a.ID: true})
	}
	if f.Release != "" {
		set, err := s.release(ctx, f.Release)
		if err != nil {
			return nil, err
		}
		intersect(set)
	}
	if f.Kind != "" {
		set, err := s.kind(ctx, f.Kind)
		if err != nil {
			return nil, err
		}
		intersect(set)
	}
	p.none = p.match != nil && len(p.match) == 0
	if len(f.NotActivity)+len(f.NotRelease) > 0 {
		p.not = map[string]bool{}
		for _, id := range f.NotActivity {
			a, err := s.known(ctx, id)
			if err != nil {
				return nil, err
			}
			p.not[a.ID] = true
		}
		for _, r := range f.NotRelease {
			set, err := s.release(ctx, r)
			if err != nil {
				return nil, err
			}
			for id := range set {
				p.not[id] = true
			}
		}
	}
	p.byRow = map[string][]capture.RowChange{}
	for _, c := range s.pending {
		if c.Relid == t.Relid {
			if p.byRow[c.PK] == nil {
				p.pkeys = append(p.pkeys, c.PK)
			}
			p.byRow[c.PK] = append(p.byRow[c.PK], c)
		}
	}
	return p, nil
}

// known returns the activity id, or an error that suggests known ones.
func (s *snapshot) known(ctx context.Context, id string) (*Activity, error) {
	a, err := s.activity(ctx, id)
	if err != nil || a != nil {
		return a, err
	}
	cands, err := s.activityNames(ctx, id)
	if err != nil {
		return nil, err
	}
	return nil, prov.Errorf(prov.NotFound, "no activity %s is known: it has no activity record and no captured change%s", id, didYouMean(id, cands))
}

// activityNames returns activity ids to suggest for id: the recorded ones
// and some with the same kind prefix.
func (s *snapshot) activityNames(ctx context.Context, id string) ([]string, error) {
	var names []string
	for n, a := range s.acts {
		if a != nil {
			names = append(names, n)
		}
	}
	prefix, _, _ := strings.Cut(id, ":")
	a := &args{d: s.d}
	rows, err := s.q.query(ctx, "SELECT id FROM "+s.d.changeActivities()+" WHERE id >= "+a.add(prefix)+" ORDER BY id LIMIT 500", a.vals...)
	if err != nil {
		return nil, wrap("read activities", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, wrap("read activities", err)
		}
		if !contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, wrap("read activities", rows.Err())
}

// release returns the activities of release r: those whose release, their
// own or their nearest ancestor's, is r.
func (s *snapshot) release(ctx context.Context, r string) (map[string]bool, error) {
	set := map[string]bool{}
	var frontier []string
	consider := func(a *Activity) error {
		if a == nil || set[a.ID] {
			return nil
		}
		rel, err := s.releaseOf(ctx, a)
		if err != nil || rel != r {
			return err
		}
		set[a.ID] = true
		frontier = append(frontier, a.ID)
		return nil
	}
	for _, a := range s.acts {
		if err := consider(a); err != nil {
			return nil, err
		}
	}
	if !set["release:"+r] {
		frontier = append(frontier, "release:"+r) // a parent named in attributions only
	}
	// Children named by attributions: parents of unrecorded activities.
	// Only the activities that are parents have children to look for: a
	// release's requests may be many, and are rarely parents themselves.
	parents, err := s.parents(ctx)
	if err != nil {
		return nil, err
	}
	for len(frontier) > 0 {
		var next []string
		for _, id := range frontier {
			if parents[id] {
				next = append(next, id)
			}
		}
		frontier = nil
		if len(next) == 0 {
			break
		}
		a := &args{d: s.d}
		ids, err := s.scanIDs(ctx, "SELECT id FROM "+s.d.changeActivities()+" WHERE "+a.in("parent", next), a.vals...)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			act, known := s.acts[id]
			if !known && !s.narrow {
				// Neither recorded nor named by a pending change (the
				// wide snapshot holds all of those): its release is its
				// parent's, one of the release's, unless it is a release
				// itself — what releaseOf says, without reading its span.
				if rel, ok := strings.CutPrefix(id, "release:"); (!ok || rel == r) && !set[id] {
					set[id] = true
					frontier = append(frontier, id)
				}
				continue
			}
			if !known {
				if act, err = s.activity(ctx, id); err != nil {
					return nil, err
				}
			}
			if err := consider(act); err != nil {
				return nil, err
			}
		}
	}
	if len(set) == 0 {
		var known []string
		for _, a := range s.acts {
			if a == nil {
				continue
			}
			if rel, err := s.releaseOf(ctx, a); err == nil && rel != "" && !contains(known, rel) {
				known = append(known, rel)
			}
		}
		sort.Strings(known)
		return nil, prov.Errorf(prov.NotFound, "no activity belongs to release %s%s", r, didYouMean(r, known))
	}
	return set, nil
}

// parents returns the activities that change_activities names as parents.
func (s *snapshot) parents(ctx context.Context) (map[string]bool, error) {
	ids, err := s.scanIDs(ctx, "SELECT DISTINCT parent FROM "+s.d.changeActivities()+" WHERE parent IS NOT NULL")
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	return set, nil
}

// scanIDs returns the one text column of a query's rows.
func (s *snapshot) scanIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.q.query(ctx, query, args...)
	if err != nil {
		return nil, wrap("read activities", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("read activities", err)
		}
		ids = append(ids, id)
	}
	return ids, wrap("read activities", rows.Err())
}

// kind returns the activities of kind k: recorded with that kind, or with
// no recorded kind and an id that starts with "k:".
func (s *snapshot) kind(ctx context.Context, k string) (map[string]bool, error) {
	set := map[string]bool{}
	var kinds []string
	for _, a := range s.acts {
		if a == nil {
			continue
		}
		if a.kindOf() == k {
			set[a.ID] = true
		}
		if !contains(kinds, a.kindOf()) {
			kinds = append(kinds, a.kindOf())
		}
	}
	a := &args{d: s.d}
	ids, err := s.scanSpanIDs(ctx, "SELECT "+s.d.spanColumns()+" FROM "+s.d.changeActivities()+" WHERE id >= "+a.add(k+":")+" AND id < "+a.add(k+";"), a.vals...)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		act, err := s.activity(ctx, id)
		if err != nil {
			return nil, err
		}
		if act != nil && act.kindOf() == k {
			set[id] = true
		}
	}
	if len(set) == 0 {
		sort.Strings(kinds)
		return nil, prov.Errorf(prov.NotFound, "no activity is of kind %s%s", k, didYouMean(k, kinds))
	}
	return set, nil
}

// ids returns the keys of a set, sorted.
func ids(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// sql writes the query of p over the index of changes, for the rows that
// have no pending change. count: the number of rows only.
func (p *plan) sql(d dialect, count bool) (string, []any) {
	if p.f.Current && p.f.Column != "" {
		return p.writersSQL(d, count)
	}
	a := &args{d: d}
	rc := d.rowChanges()
	rel := a.relid(p.table.Relid)
	m := append([]string{"x.relid = " + rel}, p.who(a)...) // the match predicate on x
	if p.f.Column != "" {
		m = append(m, a.hasColumn("x", p.f.Column))
	}
	if len(p.pkeys) > 0 {
		m = append(m, "NOT "+a.in("x.pk", p.pkeys))
	}
	later := "SELECT 1 FROM " + rc + " y WHERE y.relid = x.relid AND y.pk = x.pk AND y.idx > x.idx"
	deleted := "y.op IN ('D', 'T')"
	// PostgreSQL: OFFSET 0 keeps NOT EXISTS (later …) a probe of the
	// primary key per candidate change, as SQLite runs it. Left to itself,
	// the planner, which cannot estimate how few of a release's changes
	// wrote the column, turns it into a hash anti-join over every change of
	// the table that wrote the column: 2× slower at 3 M changes, and linear
	// in the table, not in the candidates.
	end := ")"
	if d.pg {
		end = " OFFSET 0)"
	}
	var where []string
	switch {
	case p.f.Current && p.f.Column != "":
		where = append(where, "NOT EXISTS ("+later+" AND ("+a.hasColumn("y", p.f.Column)+" OR "+deleted+")"+end)
	case p.f.Current:
		where = append(where, "x.op NOT IN ('D', 'T')", "NOT EXISTS ("+later+end)
	}
	if p.not != nil {
		touch := a.in("y.activity", ids(p.not))
		if p.f.Column != "" {
			touch += " AND (" + a.hasColumn("y", p.f.Column) + " OR " + deleted + ")"
		}
		where = append(where, "NOT EXISTS ("+later+" AND "+touch+end)
	}
	cols := "x.pk, x.idx, " + d.text("x.op") + ", x.activity, x.agent, " + d.micros("x.at")
	if count {
		cols = "1"
	}
	var q string
	if p.f.Current {
		q = "SELECT " + cols + " FROM " + rc + " x WHERE " + strings.Join(append(m, where...), "\n  AND ")
	} else {
		// The last matching change of each row, read whole from the
		// (covering) index in one pass — PostgreSQL's DISTINCT ON, SQLite's
		// max() whose row the bare columns come from — then the exclusions.
		last := "SELECT DISTINCT ON (x.pk) x.relid, x.pk, x.idx, x.op, x.activity, x.agent, x.at FROM " + rc + " x\n  WHERE " + strings.Join(m, "\n    AND ") +
			"\n  ORDER BY x.pk, x.idx DESC"
		if !d.pg {
			last = "SELECT x.relid, x.pk, max(x.idx) AS idx, x.op, x.activity, x.agent, x.at FROM " + rc + " x\n  WHERE " + strings.Join(m, "\n    AND ") +
				"\n  GROUP BY x.pk"
		}
		q = "SELECT " + cols + " FROM (\n  " + last + ") x"
		if len(where) > 0 {
			q += "\nWHERE " + strings.Join(where, "\n  AND ")
		}
	}
	if count {
		return "SELECT count(*) FROM (" + q + ") c", a.vals
	}
	return q + "\nORDER BY x.idx", a.vals
}

// who returns the predicates on the change x of the filters on who wrote
// it and when: the matching activities, the agent, the time span. Their
// placeholders are added to a in the order of the predicates.
func (p *plan) who(a *args) []string {
	var m []string
	if p.match != nil {
		m = append(m, a.in("x.activity", ids(p.match)))
	}
	if p.f.Agent != "" {
		m = append(m, "x.agent = "+a.add(p.f.Agent))
	}
	if !p.f.Since.IsZero() {
		m = append(m, "x.at >= "+a.time(p.f.Since))
	}
	if !p.f.Until.IsZero() {
		m = append(m, "x.at < "+a.time(p.f.Until))
	}
	return m
}

// writersSQL is sql for --current --column C: the rows whose current
// value of C a matching change wrote, from column_writers. That change is
// the row's entry for C (its last update of C since it was inserted), or
// else its insert (entry "*") if that wrote C. The exclusions (--not-…)
// select nothing more here: an excluding change after the match that wrote
// C or deleted the row would be the entry instead.
func (p *plan) writersSQL(d dialect, count bool) (string, []any) {
	a := &args{d: d}
	cw := d.columnWriters()
	rel, col := a.relid(p.table.Relid), a.add("."+p.f.Column)
	m := p.who(a)
	if len(p.pkeys) > 0 {
		m = append(m, "NOT "+a.in("x.pk", p.pkeys))
	}
	// The placeholders of m are used in both branches.
	updates := append([]string{"x.relid = " + rel, "x.col = " + col}, m...)
	inserts := append([]string{"x.relid = " + rel, "x.col = '*'"}, m...)
	inserts = append(inserts, a.hasColumn("x", p.f.Column),
		"NOT EXISTS (SELECT 1 FROM "+cw+" y WHERE y.relid = x.relid AND y.pk = x.pk AND y.col = "+col+")")
	from := func(w []string) string { return " FROM " + cw + " x WHERE " + strings.Join(w, "\n  AND ") }
	if count {
		return "SELECT (SELECT count(*)" + from(updates) + ")\n + (SELECT count(*)" + from(inserts) + ")", a.vals
	}
	cols := "SELECT x.pk, x.idx, " + d.text("x.op") + ", x.activity, x.agent, " + d.micros("x.at")
	return cols + from(updates) + "\nUNION ALL\n" + cols + from(inserts) + "\nORDER BY 2", a.vals
}

// decide selects a row from its changes, oldest first, as the SQL of p
// does: the reference semantics, used for the rows with pending changes.
func (p *plan) decide(changes []capture.RowChange) (capture.RowChange, bool) {
	col := p.f.Column
	wrote := func(c *capture.RowChange) bool { return contains(c.Columns, col) }
	gone := func(c *capture.RowChange) bool { return c.Op == "D" || c.Op == "T" }
	matches := func(c *capture.RowChange) bool {
		return (p.match == nil || p.match[c.Activity]) &&
			(p.f.Agent == "" || c.Agent == p.f.Agent) &&
			(p.f.Since.IsZero() || !c.At.Before(p.f.Since)) &&
			(p.f.Until.IsZero() || c.At.Before(p.f.Until)) &&
			(col == "" || wrote(c))
	}
	at := -1
	switch {
	case p.f.Current && col != "":
		for i := len(changes) - 1; i >= 0; i-- {
			if wrote(&changes[i]) || gone(&changes[i]) {
				if !gone(&changes[i]) && matches(&changes[i]) {
					at = i
				}
				break
			}
		}
	case p.f.Current:
		if n := len(changes); n > 0 && !gone(&changes[n-1]) && matches(&changes[n-1]) {
			at = n - 1
		}
	default:
		for i := len(changes) - 1; i >= 0; i-- {
			if matches(&changes[i]) {
				at = i
				break
			}
		}
	}
	if at < 0 || p.none {
		return capture.RowChange{}, false
	}
	for _, c := range changes[at+1:] {
		if p.not[c.Activity] && (col == "" || wrote(&c) || gone(&c)) {
			return capture.RowChange{}, false
		}
	}
	return changes[at], true
}

// rowChanges reads the indexed changes of some rows of a table, oldest
// first per row.
func (s *snapshot) rowChanges(ctx context.Context, relid int64, pks []string) (map[string][]capture.RowChange, error) {
	out := map[string][]capture.RowChange{}
	if len(pks) == 0 {
		return out, nil
	}
	a := &args{d: s.d}
	rows, err := s.q.query(ctx, "SELECT pk, idx, "+s.d.text("op")+", activity, agent, "+s.d.micros("at")+", columns FROM "+s.d.rowChanges()+
		" WHERE relid = "+a.relid(relid)+" AND "+a.in("pk", pks)+" ORDER BY pk, idx", a.vals...)
	if err != nil {
		return nil, wrap("read row changes", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c capture.RowChange
		var act, agent, cols *string
		var at int64
		if err := rows.Scan(&c.PK, &c.Idx, &c.Op, &act, &agent, &at, &cols); err != nil {
			return nil, wrap("read row changes", err)
		}
		c.Relid, c.At = relid, time.UnixMicro(at).UTC()
		if act != nil {
			c.Activity = *act
			if a := s.acts[c.Activity]; a != nil {
				c.Parent = a.Parent
			}
		}
		if agent != nil {
			c.Agent = *agent
		}
		if cols != nil {
			c.Columns = parseColumns(*cols)
		}
		out[c.PK] = append(out[c.PK], c)
	}
	return out, wrap("read row changes", rows.Err())
}

// parseColumns reads the columns field of the index: ,"a","b",
func parseColumns(f string) []string {
	f = strings.TrimSuffix(strings.TrimPrefix(f, ","), ",")
	if f == "" {
		return []string{}
	}
	// Names without escapes (nearly all): the tokens between the quotes.
	if !strings.Contains(f, `\`) && len(f) >= 2 && f[0] == '"' && f[len(f)-1] == '"' {
		return strings.Split(f[1:len(f)-1], `","`)
	}
	var out []string
	if err := json.Unmarshal([]byte("["+f+"]"), &out); err != nil {
		return []string{}
	}
	return out
}

// overlay decides the rows with pending changes from their whole history.
func (s *snapshot) overlay(ctx context.Context, p *plan) ([]Match, error) {
	if len(p.pkeys) == 0 {
		return nil, nil
	}
	indexed, err := s.rowChanges(ctx, p.table.Relid, p.pkeys)
	if err != nil {
		return nil, err
	}
	var out []Match
	for _, pk := range p.pkeys {
		changes := append(indexed[pk], p.byRow[pk]...)
		if c, ok := p.decide(changes); ok {
			out = append(out, matchOf(c))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Change < out[j].Change })
	return out, nil
}

func matchOf(c capture.RowChange) Match {
	return Match{PK: c.PK, Index: c.Idx, Change: c.Change, Op: opWord(c.Op), Activity: c.Activity, Agent: c.Agent, Time: c.At}
}

// Find calls fn with every selected row, in the order of the changes that
// selected them (those not yet in the log last), as it reads them.
func (iv *Investigator) Find(ctx context.Context, f Filter, fn func(Match) error) error {
	return iv.view(ctx, func(s *snapshot) error {
		p, err := s.compile(ctx, f)
		if err != nil {
			return err
		}
		return s.find(ctx, p, fn)
	})
}

func (s *snapshot) find(ctx context.Context, p *plan, fn func(Match) error) error {
	if p.none {
		return nil
	}
	q, args := p.sql(s.d, false)
	rows, err := s.q.query(ctx, q, args...)
	if err != nil {
		return wrap("find", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m Match
		var act, agent *string
		var at int64
		if err := rows.Scan(&m.PK, &m.Index, &m.Op, &act, &agent, &at); err != nil {
			return wrap("find", err)
		}
		m.Op, m.Time = opWord(m.Op), time.UnixMicro(at).UTC()
		if act != nil {
			m.Activity = *act
		}
		if agent != nil {
			m.Agent = *agent
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return wrap("find", err)
	}
	rows.Close()
	more, err := s.overlay(ctx, p)
	if err != nil {
		return err
	}
	for _, m := range more {
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}

// Count returns the number of rows f selects.
func (iv *Investigator) Count(ctx context.Context, f Filter) (int64, error) {
	var n int64
	err := iv.view(ctx, func(s *snapshot) error {
		p, err := s.compile(ctx, f)
		if err != nil || p.none {
			return err
		}
		q, args := p.sql(s.d, true)
		rows, err := s.q.query(ctx, q, args...)
		if err != nil {
			return wrap("count", err)
		}
		defer rows.Close()
		if rows.Next() {
			if err := rows.Scan(&n); err != nil {
				return wrap("count", err)
			}
		}
		if err := rows.Err(); err != nil {
			return wrap("count", err)
		}
		rows.Close()
		more, err := s.overlay(ctx, p)
		n += int64(len(more))
		return err
	})
	return n, err
}

// Explain returns the query Find runs for f, with its arguments, and how
// the rows with changes not yet in the log are decided.
func (iv *Investigator) Explain(ctx context.Context, f Filter) (string, error) {
	var out strings.Builder
	err := iv.view(ctx, func(s *snapshot) error {
		p, err := s.compile(ctx, f)
		if err != nil {
			return err
		}
		if p.none {
			fmt.Fprintf(&out, "-- no activity satisfies all of the activity filters together: nothing can match\n")
			return nil
		}
		q, args := p.sql(s.d, false)
		fmt.Fprintf(&out, "%s;\n", q)
		for i, v := range args {
			ph := fmt.Sprintf("$%d", i+1)
			if !s.d.pg {
				ph = fmt.Sprintf("?%d", i+1)
			}
			b, _ := json.Marshal(v)
			if t, ok := v.(time.Time); ok {
				b = []byte(t.Format(time.RFC3339Nano))
			}
			fmt.Fprintf(&out, "-- %s = %s\n", ph, b)
		}
		if n := len(p.pkeys); n > 0 {
			fmt.Fprintf(&out, "-- plus %d row(s) with changes not yet in the log, decided from their whole history by the same rules\n", n)
		}
		return nil
	})
	return out.String(), err
}

// KeyValue is how a selected row's key prints in --format ids: the value
// alone for a one-column key (a string without quotes), else the JSON
// object.
func KeyValue(pk string) string {
	// The common forms without a decoder: {"k":123} and {"k":"text"}.
	if k, v, ok := strings.Cut(pk, `":`); ok && strings.HasPrefix(k, `{"`) && !strings.ContainsAny(k[2:], `"\`) && strings.HasSuffix(v, "}") {
		v = v[:len(v)-1]
		if v != "" && strings.Trim(v, "-0123456789") == "" {
			return v
		}
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && !strings.ContainsAny(v[1:len(v)-1], `"\`) {
			return v[1 : len(v)-1]
		}
	}
	var fields []json.RawMessage
	dec := json.NewDecoder(strings.NewReader(pk))
	var m map[string]json.RawMessage
	if dec.Decode(&m) != nil || len(m) != 1 {
		return pk
	}
	for _, v := range m {
		fields = append(fields, v)
	}
	var s string
	if json.Unmarshal(fields[0], &s) == nil {
		return s
	}
	return string(fields[0])
}

// ParseTime reads a time as users give one: RFC 3339, a date or a date and
// time without a zone (UTC), or an age such as 36h, 90m or 7d (that long
// before now). "" is the zero time (no bound).
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d >= 0 && d < 100000 {
			return time.Now().UTC().Add(-time.Duration(d) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return time.Now().UTC().Add(-d), nil
	}
	return time.Time{}, prov.Errorf(prov.Invalid, "%q is not a time: give RFC 3339 (2026-01-02T03:04:05Z), a date (2026-01-02), or an age (36h, 7d)", s)
}
