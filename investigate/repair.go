package investigate

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/tlog"
)

// Repairs change application rows through the capture triggers, so that
// every repaired row gets a change attributed to the repair's activity, and
// append the activity's record to the log in the same transaction: the
// repair and its provenance commit together or not at all.

// Assignment is one "COLUMN = SQL-EXPRESSION" of a fix.
type Assignment struct {
	Column string
	Expr   string
}

// ParseAssignment reads "COLUMN = SQL-EXPRESSION".
func ParseAssignment(s string) (Assignment, error) {
	col, expr, ok := strings.Cut(s, "=")
	col, expr = strings.TrimSpace(col), strings.TrimSpace(expr)
	if !ok || col == "" || expr == "" {
		return Assignment{}, prov.Errorf(prov.Invalid, "--set %q is not COLUMN = SQL-EXPRESSION, such as --set \"photo_url = replace(photo_url, '.jpg', '.png')\"", s)
	}
	if len(col) > 1 && col[0] == '"' && col[len(col)-1] == '"' {
		col = strings.ReplaceAll(col[1:len(col)-1], `""`, `"`)
	}
	return Assignment{Column: col, Expr: expr}, nil
}

// Repair is what a fix or a revert did, or would do.
type Repair struct {
	Activity  string     `json:"activity"`            // the repair's activity id
	Index     int64      `json:"index,omitempty"`     // log index of its activity record, once applied
	Applied   bool       `json:"applied"`             // false: a plan only
	Selected  int        `json:"selected"`            // rows considered
	Changed   int        `json:"changed"`             // rows changed (to be changed, in a plan)
	Unchanged int        `json:"unchanged"`           // rows already as the repair would leave them
	Samples   []Sample   `json:"samples,omitempty"`   // some rows, before and after
	Conflicts []Conflict `json:"conflicts,omitempty"` // rows left alone
	Forced    int        `json:"forced,omitempty"`    // conflicting rows repaired anyway (--force)
	Skipped   []Conflict `json:"skipped,omitempty"`   // rows that cannot be repaired
}

// Sample is one repaired row: its key and the values it had and gets.
type Sample struct {
	Table  string                     `json:"table"`
	PK     string                     `json:"pk"`
	Op     string                     `json:"op"` // update, delete, insert
	Before map[string]json.RawMessage `json:"before,omitempty"`
	After  map[string]json.RawMessage `json:"after,omitempty"`
}

// Conflict is a row a repair leaves alone, and why.
type Conflict struct {
	Table  string `json:"table"`
	PK     string `json:"pk"`
	Reason string `json:"reason"`
	Change int64  `json:"index,omitempty"` // the later change, when that is the reason
}

// maxSamples is how many rows a plan shows.
const maxSamples = 5

// repairTx is a write transaction of the store, attributed to a repair.
type repairTx struct {
	s   *snapshot
	tx  prov.Tx
	q   writer
	act string
}

// writer runs statements in a write transaction of either driver.
type writer interface {
	querier
	exec(ctx context.Context, q string, args ...any) (int64, error)
}

func (p pgQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := p.q.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

func (s sqlQuerier) exec(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := s.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// update runs fn in one write transaction of the store, in which every
// change to captured tables is attributed to a; with apply false it is
// rolled back whatever fn returns.
func (iv *Investigator) update(ctx context.Context, a prov.Attribution, apply bool, fn func(r *repairTx) error) error {
	errPlan := fmt.Errorf("plan only")
	err := iv.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		s := &snapshot{q: querierOf(tx, false), tx: tx, d: iv.d}
		if err := iv.load(ctx, s); err != nil {
			return err
		}
		r := &repairTx{s: s, tx: tx, q: s.q.(writer), act: a.Activity}
		if iv.d.pg {
			if _, err := r.q.exec(ctx, "SELECT set_config('"+prov.ContextSetting+"', $1, true)", a.Encode()); err != nil {
				return wrap("attribute the repair", err)
			}
		} else {
			if _, err := r.q.exec(ctx, "INSERT INTO prov_context (ctx) VALUES (?1)", a.Encode()); err != nil {
				return wrap("attribute the repair", err)
			}
		}
		if err := fn(r); err != nil {
			return err
		}
		if !iv.d.pg {
			if _, err := r.q.exec(ctx, "DELETE FROM prov_context"); err != nil {
				return wrap("attribute the repair", err)
			}
		}
		if !apply {
			return errPlan
		}
		return nil
	})
	if err == errPlan {
		return nil
	}
	return err
}

// recordActivity appends the repair's activity record in the transaction,
// and a checkpoint if the log can sign.
func (r *repairTx) recordActivity(ctx context.Context, log *tlog.Log, rec prov.Record) (int64, error) {
	data, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	e, err := log.Prepare(data)
	if err != nil {
		return 0, err
	}
	idx, err := log.AppendTx(ctx, r.tx, []prov.Entry{e})
	if err != nil {
		return 0, err
	}
	if log.CanSign() {
		if _, _, err := log.CheckpointTx(ctx, r.tx); err != nil {
			return 0, err
		}
	}
	return idx, nil
}

// quote quotes an SQL identifier, as both engines read it.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// keyMatch is the SQL of "the row of alias t is one of the keys in the JSON
// array of key objects at placeholder ph".
func (d dialect) keyMatch(t *capture.CapturedTable, alias, ph string) string {
	var cols, vals []string
	for _, k := range t.PK {
		cols = append(cols, alias+"."+quote(k))
		if d.pg {
			vals = append(vals, "k."+quote(k))
		} else {
			vals = append(vals, "json_extract(value, "+sqlString("$."+quote(k))+")")
		}
	}
	if d.pg {
		return "(" + strings.Join(cols, ", ") + ") IN (SELECT " + strings.Join(vals, ", ") + " FROM jsonb_populate_recordset(NULL::" + t.Ident + ", " + ph + "::jsonb) k)"
	}
	return "(" + strings.Join(cols, ", ") + ") IN (SELECT " + strings.Join(vals, ", ") + " FROM json_each(" + ph + "))"
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// keyArray is the JSON array of key objects.
func keyArray(pks []string) string {
	return "[" + strings.Join(pks, ",") + "]"
}

// FixOptions says what a fix changes and why.
type FixOptions struct {
	Filter   Filter       // the rows to fix
	Set      []Assignment // what to write
	Reason   string       // why (required)
	Activity string       // the fix's activity id; "": fix:<time>
	Agent    string       // who fixes
	Apply    bool         // false: a plan, nothing changed
}

// Fix applies SQL expressions to exactly the rows a filter selects, in one
// transaction attributed to a fix activity whose record names what it fixes
// (informed_by: the activities the filter selected by). Rows whose values
// already equal the expressions' are left alone, so running a fix twice
// changes nothing the second time. Without Apply it only plans: the same
// statements run and are rolled back, so an expression that fails is
// reported either way.
func (iv *Investigator) Fix(ctx context.Context, log *tlog.Log, o FixOptions) (*Repair, error) {
	if strings.TrimSpace(o.Reason) == "" {
		return nil, prov.Errorf(prov.Invalid, "a fix needs a reason (--reason): it is recorded with the fix")
	}
	if len(o.Set) == 0 {
		return nil, prov.Errorf(prov.Invalid, "a fix needs at least one --set \"COLUMN = SQL-EXPRESSION\"")
	}
	now := time.Now().UTC()
	if o.Activity == "" {
		o.Activity = "fix:" + now.Format("20060102T150405.000000Z")
	}
	rep := &Repair{Activity: o.Activity, Applied: o.Apply}
	attr := prov.Attribution{Activity: o.Activity, Agent: o.Agent}
	err := iv.update(ctx, attr, o.Apply, func(r *repairTx) error {
		s := r.s
		if a, _ := s.activity(ctx, o.Activity); a != nil {
			return prov.Errorf(prov.Conflict, "activity %s exists already: give the fix a new id (--activity), or omit it", o.Activity)
		}
		p, err := s.compile(ctx, o.Filter)
		if err != nil {
			return err
		}
		t := p.table
		if t.Ident == "" {
			return prov.Errorf(prov.NotFound, "table %s no longer exists: there is nothing to fix", t.Name)
		}
		var sets, differs []string
		for _, a := range o.Set {
			if err := column(t, a.Column); err != nil {
				return err
			}
			if contains(t.PK, a.Column) {
				return prov.Errorf(prov.Invalid, "%s is part of the primary key of %s: fix does not change keys", a.Column, t.Name)
			}
			if contains(t.PII, a.Column) {
				return prov.Errorf(prov.Invalid, "%s is a PII column of %s: its values are kept as digests only, so a fix cannot be reviewed; change it with your own tools", a.Column, t.Name)
			}
			sets = append(sets, quote(a.Column)+" = ("+a.Expr+")")
			if iv.d.pg {
				differs = append(differs, "t."+quote(a.Column)+" IS DISTINCT FROM ("+a.Expr+")")
			} else {
				differs = append(differs, "t."+quote(a.Column)+" IS NOT ("+a.Expr+")")
			}
		}
		var pks []string
		if err := s.find(ctx, p, func(m Match) error { pks = append(pks, m.PK); return nil }); err != nil {
			return err
		}
		rep.Selected = len(pks)
		if len(pks) == 0 {
			return nil
		}
		a := &args{d: iv.d}
		keys := a.add(keyArray(pks))
		where := iv.d.keyMatch(t, "t", keys) + " AND (" + strings.Join(differs, " OR ") + ")"
		// The sample, before and after, computed by the database.
		var cols []string
		for _, as := range o.Set {
			cols = append(cols, "t."+quote(as.Column), "("+as.Expr+")")
		}
		sample, err := r.sample(ctx, t, "SELECT "+pkObject(iv.d, t, "t")+", "+strings.Join(cols, ", ")+" FROM "+t.Ident+" t WHERE "+where+" LIMIT "+fmt.Sprint(maxSamples), a.vals, o.Set)
		if err != nil {
			return exprError(err)
		}
		rep.Samples = sample
		n, err := r.q.exec(ctx, "UPDATE "+t.Ident+" AS t SET "+strings.Join(sets, ", ")+" WHERE "+where, a.vals...)
		if err != nil {
			return exprError(err)
		}
		rep.Changed = int(n)
		rep.Unchanged = rep.Selected - rep.Changed
		if n == 0 || !o.Apply {
			return nil
		}
		var informed []string
		if o.Filter.Activity != "" {
			informed = append(informed, o.Filter.Activity)
		}
		for id := range p.match {
			if o.Filter.Activity == "" && len(p.match) <= 20 {
				informed = append(informed, id)
			}
		}
		sort.Strings(informed)
		params, _ := json.Marshal(map[string]any{"table": t.Name, "set": o.Set, "filter": filterParams(o.Filter), "rows": n})
		rec := prov.Record{Type: prov.TypeActivity, Time: time.Now().UTC(),
			Activity:   &prov.Activity{ID: o.Activity, Kind: "fix", Started: &now, Status: "succeeded", Parameters: params},
			Reason:     o.Reason,
			InformedBy: informed,
		}
		if o.Agent != "" {
			rec.Agent = &prov.Agent{ID: o.Agent}
		}
		ended := rec.Time
		rec.Activity.Ended = &ended
		rep.Index, err = r.recordActivity(ctx, log, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

// exprError explains a database error in a repair's statements.
func exprError(err error) error {
	if _, ok := err.(*prov.Error); ok {
		return err
	}
	return prov.Errorf(prov.Invalid, "the database refused the repair, and nothing was changed: %v", err)
}

// filterParams is a filter as the fix's record states it.
func filterParams(f Filter) map[string]any {
	m := map[string]any{"table": f.Table}
	put := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put("column", f.Column)
	put("activity", f.Activity)
	put("release", f.Release)
	put("kind", f.Kind)
	put("agent", f.Agent)
	if !f.Since.IsZero() {
		m["since"] = f.Since
	}
	if !f.Until.IsZero() {
		m["until"] = f.Until
	}
	if f.Current {
		m["current"] = true
	}
	if len(f.NotActivity) > 0 {
		m["not_activity"] = f.NotActivity
	}
	if len(f.NotRelease) > 0 {
		m["not_release"] = f.NotRelease
	}
	return m
}

// pkObject is the SQL of a row's key as the text of a JSON object.
func pkObject(d dialect, t *capture.CapturedTable, alias string) string {
	var parts []string
	for _, k := range t.PK {
		parts = append(parts, sqlString(k), alias+"."+quote(k))
	}
	if d.pg {
		return "jsonb_build_object(" + strings.Join(parts, ", ") + ")::text"
	}
	return "json_object(" + strings.Join(parts, ", ") + ")"
}

// sample reads rows of (key, before, after, before, after, …) for sets.
func (r *repairTx) sample(ctx context.Context, t *capture.CapturedTable, q string, vals []any, sets []Assignment) ([]Sample, error) {
	rows, err := r.q.query(ctx, wrapJSON(r.s.d, q, 1+2*len(sets)), vals...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		dest := make([]any, 1+2*len(sets))
		strs := make([]*string, len(dest))
		for i := range dest {
			dest[i] = &strs[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		smp := Sample{Table: t.Name, PK: deref(strs[0]), Op: prov.OpUpdate, Before: map[string]json.RawMessage{}, After: map[string]json.RawMessage{}}
		for i, a := range sets {
			smp.Before[a.Column] = raw(strs[1+2*i])
			smp.After[a.Column] = raw(strs[2+2*i])
		}
		out = append(out, smp)
	}
	return out, rows.Err()
}

// wrapJSON makes the columns after the first of a query JSON text.
func wrapJSON(d dialect, q string, n int) string {
	var cols []string
	cols = append(cols, "c1")
	for i := 2; i <= n; i++ {
		if d.pg {
			cols = append(cols, fmt.Sprintf("to_jsonb(c%d)::text", i))
		} else {
			cols = append(cols, fmt.Sprintf("json_quote(c%d)", i))
		}
	}
	var names []string
	for i := 1; i <= n; i++ {
		names = append(names, fmt.Sprintf("c%d", i))
	}
	if d.pg {
		return "SELECT " + strings.Join(cols, ", ") + " FROM (" + q + ") AS s(" + strings.Join(names, ", ") + ")"
	}
	return "WITH s(" + strings.Join(names, ", ") + ") AS (" + q + ") SELECT " + strings.Join(cols, ", ") + " FROM s"
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func raw(s *string) json.RawMessage {
	if s == nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(*s)
}

// RevertOptions says what to revert and why.
type RevertOptions struct {
	Activity string // the activity whose changes to undo
	Table    string // only this table; "": all
	Column   string // only this column (updates only); "": whole rows
	Reason   string // why (required)
	ID       string // the revert's activity id; "": revert:<activity>@<time>
	Agent    string
	Force    bool // also rows changed again after the activity
	Apply    bool // false: a plan, nothing changed
}

// rowPlan is what a revert does to one row.
type rowPlan struct {
	table   *capture.CapturedTable
	pk      string
	op      string                     // update, delete, insert
	cols    []string                   // update: the columns to restore
	target  map[string]json.RawMessage // the values to restore (the whole row to insert)
	current map[string]json.RawMessage
}

// Revert restores what an activity changed to what it was before: an
// updated row gets its old values back (of the columns the activity wrote),
// an inserted row is deleted, a deleted row is inserted again. Rows that
// others changed after the activity are conflicts, listed and left alone
// unless Force. Rows already as the revert would leave them are left alone,
// so a second revert changes nothing. PII columns cannot be restored (only
// their digests are kept): rows that need them are listed as skipped. The
// revert is one transaction, attributed to a revert activity whose record
// names the reverted one (informed_by).
func (iv *Investigator) Revert(ctx context.Context, log *tlog.Log, o RevertOptions) (*Repair, error) {
	if strings.TrimSpace(o.Reason) == "" {
		return nil, prov.Errorf(prov.Invalid, "a revert needs a reason (--reason): it is recorded with the revert")
	}
	if o.Activity == "" {
		return nil, prov.Errorf(prov.Invalid, "say which activity to revert (--activity)")
	}
	now := time.Now().UTC()
	if o.ID == "" {
		o.ID = "revert:" + o.Activity + "@" + now.Format("20060102T150405.000000Z")
	}
	rep := &Repair{Activity: o.ID, Applied: o.Apply}
	err := iv.update(ctx, prov.Attribution{Activity: o.ID, Agent: o.Agent}, o.Apply, func(r *repairTx) error {
		s := r.s
		if _, err := s.known(ctx, o.Activity); err != nil {
			return err
		}
		if a, _ := s.activity(ctx, o.ID); a != nil {
			return prov.Errorf(prov.Conflict, "activity %s exists already: give the revert a new id, or omit it", o.ID)
		}
		var only *capture.CapturedTable
		if o.Table != "" {
			t, err := s.table(o.Table)
			if err != nil {
				return err
			}
			only = t
			if o.Column != "" {
				if err := column(t, o.Column); err != nil {
					return err
				}
			}
		} else if o.Column != "" {
			return prov.Errorf(prov.Invalid, "--column needs --table: say which table's column to revert")
		}
		plans, err := r.planRevert(ctx, o, only, rep)
		if err != nil {
			return err
		}
		if rep.Selected == 0 {
			return nil
		}
		for _, p := range plans {
			if len(rep.Samples) < maxSamples {
				smp := Sample{Table: p.table.Name, PK: p.pk, Op: p.op, Before: pick(p.current, p.cols), After: pick(p.target, p.cols)}
				if p.op == prov.OpDelete {
					smp.Before, smp.After = p.current, nil
				} else if p.op == prov.OpInsert {
					smp.Before, smp.After = nil, p.target
				}
				rep.Samples = append(rep.Samples, smp)
			}
		}
		rep.Changed = len(plans)
		if err := r.applyRevert(ctx, plans); err != nil {
			return err
		}
		if len(plans) == 0 || !o.Apply {
			return nil
		}
		params, _ := json.Marshal(map[string]any{"activity": o.Activity, "table": o.Table, "column": o.Column,
			"rows": len(plans), "conflicts": len(rep.Conflicts), "forced": rep.Forced})
		ended := time.Now().UTC()
		rec := prov.Record{Type: prov.TypeActivity, Time: ended,
			Activity:   &prov.Activity{ID: o.ID, Kind: "revert", Started: &now, Ended: &ended, Status: "succeeded", Parameters: params},
			Reason:     o.Reason,
			InformedBy: []string{o.Activity},
		}
		if o.Agent != "" {
			rec.Agent = &prov.Agent{ID: o.Agent}
		}
		rep.Index, err = r.recordActivity(ctx, log, rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rep, nil
}

func pick(m map[string]json.RawMessage, cols []string) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	out := map[string]json.RawMessage{}
	for _, c := range cols {
		if v, ok := m[c]; ok {
			out[c] = v
		}
	}
	return out
}

// revertsOf returns the activities that are reverts of id: their changes
// after id's are not conflicts.
func (s *snapshot) revertsOf(id string) map[string]bool {
	out := map[string]bool{}
	for _, a := range s.acts {
		if a != nil && a.kindOf() == "revert" && contains(a.InformedBy, id) {
			out[a.ID] = true
		}
	}
	return out
}

// planRevert decides what to do to every row the activity changed.
func (r *repairTx) planRevert(ctx context.Context, o RevertOptions, only *capture.CapturedTable, rep *Repair) ([]*rowPlan, error) {
	s := r.s
	// The rows the activity changed, per table.
	a := &args{d: s.d}
	q := "SELECT DISTINCT " + s.d.bigint("relid") + ", pk FROM " + s.d.rowChanges() + " WHERE activity = " + a.add(o.Activity)
	if only != nil {
		q += " AND relid = " + a.relid(only.Relid)
	}
	rows, err := s.q.query(ctx, q, a.vals...)
	if err != nil {
		return nil, wrap("read the activity's changes", err)
	}
	touched := map[int64][]string{}
	seen := map[[2]string]bool{}
	add := func(relid int64, pk string) {
		k := [2]string{fmt.Sprint(relid), pk}
		if !seen[k] {
			seen[k] = true
			touched[relid] = append(touched[relid], pk)
		}
	}
	for rows.Next() {
		var relid int64
		var pk string
		if err := rows.Scan(&relid, &pk); err != nil {
			rows.Close()
			return nil, wrap("read the activity's changes", err)
		}
		add(relid, pk)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("read the activity's changes", err)
	}
	for _, c := range s.pending {
		if c.Activity == o.Activity && (only == nil || c.Relid == only.Relid) {
			add(c.Relid, c.PK)
		}
	}
	reverts := s.revertsOf(o.Activity)
	var plans []*rowPlan
	relids := make([]int64, 0, len(touched))
	for relid := range touched {
		relids = append(relids, relid)
	}
	sort.Slice(relids, func(i, j int) bool { return relids[i] < relids[j] })
	for _, relid := range relids {
		var t *capture.CapturedTable
		for i := range s.tables {
			if s.tables[i].Relid == relid {
				t = &s.tables[i]
			}
		}
		if t == nil {
			continue
		}
		pks := touched[relid]
		sort.Strings(pks)
		byRow, err := s.rowChanges(ctx, relid, pks)
		if err != nil {
			return nil, err
		}
		for _, c := range s.pending {
			if c.Relid == relid && seen[[2]string{fmt.Sprint(relid), c.PK}] {
				byRow[c.PK] = append(byRow[c.PK], c)
			}
		}
		// The images: before the activity's first change, and now.
		var need []int64
		firsts := map[string]int{}
		for _, pk := range pks {
			h := byRow[pk]
			first := -1
			for i, c := range h {
				if c.Activity == o.Activity {
					first = i
					break
				}
			}
			firsts[pk] = first
			if first >= 0 && h[first].Idx >= 0 {
				need = append(need, h[first].Idx)
			}
			if last := h[len(h)-1]; last.Idx >= 0 {
				need = append(need, last.Idx)
			}
		}
		recs, err := s.records(ctx, need)
		if err != nil {
			return nil, err
		}
		image := func(c capture.RowChange, before bool) map[string]json.RawMessage {
			img := c.After
			if before {
				img = c.Before
			}
			if rec := recs[c.Idx]; c.Idx >= 0 && rec != nil {
				img = rec.Attributes.After
				if before {
					img = rec.Attributes.Before
				}
			}
			var m map[string]json.RawMessage
			json.Unmarshal(img, &m)
			return m
		}
		if t.Ident == "" {
			for _, pk := range pks {
				rep.Skipped = append(rep.Skipped, Conflict{Table: t.Name, PK: pk, Reason: "the table no longer exists"})
			}
			continue
		}
		for _, pk := range pks {
			h := byRow[pk]
			first := firsts[pk]
			if first < 0 {
				continue
			}
			rep.Selected++
			gone := func(c capture.RowChange) bool { return c.Op == "D" || c.Op == "T" }
			// Conflicts: changes by others after the activity's first.
			var conflict *capture.RowChange
			wrote := map[string]bool{}
			for i := first; i < len(h); i++ {
				c := h[i]
				if c.Activity == o.Activity {
					for _, col := range c.Columns {
						wrote[col] = true
					}
					continue
				}
				if reverts[c.Activity] {
					continue
				}
				if o.Column != "" && !contains(c.Columns, o.Column) && !gone(c) {
					continue
				}
				cc := c
				conflict = &cc
				break
			}
			if conflict != nil {
				if !o.Force {
					by := conflict.Activity
					if by == "" {
						by = "an unattributed change"
					}
					rep.Conflicts = append(rep.Conflicts, Conflict{Table: t.Name, PK: pk, Change: conflict.Idx, Reason: "changed again after the activity, by " + by})
					continue
				}
				rep.Forced++
			}
			last := h[len(h)-1]
			exists := !gone(last)
			var current map[string]json.RawMessage
			if exists {
				current = image(last, false)
			}
			p := &rowPlan{table: t, pk: pk, current: current}
			skip := func(why string) {
				rep.Skipped = append(rep.Skipped, Conflict{Table: t.Name, PK: pk, Reason: why})
			}
			switch {
			case h[first].Op == "I": // the activity created the row
				if o.Column != "" {
					skip("the activity inserted the row: a revert of one column does not delete rows")
					continue
				}
				if !exists {
					rep.Unchanged++
					continue
				}
				p.op = prov.OpDelete
			default:
				before := image(h[first], true)
				if before == nil {
					skip("the row's image before the activity is not in its change record")
					continue
				}
				if !exists {
					if o.Column != "" {
						skip("the activity deleted the row: a revert of one column does not insert rows")
						continue
					}
					if pii := piiIn(t, before); pii != "" {
						skip("the row's " + pii + " is PII, kept as a digest only: it cannot be restored")
						continue
					}
					p.op, p.target = prov.OpInsert, before
					for col := range before {
						p.cols = append(p.cols, col)
					}
					sort.Strings(p.cols)
					break
				}
				for col := range wrote {
					if o.Column != "" && col != o.Column {
						continue
					}
					if _, ok := before[col]; !ok {
						continue // a column the row did not have before
					}
					if !equalJSON(before[col], current[col]) {
						p.cols = append(p.cols, col)
					}
				}
				if gone(h[first]) || h[first].Op == "D" {
					p.cols = nil
				}
				if len(p.cols) == 0 {
					rep.Unchanged++
					continue
				}
				sort.Strings(p.cols)
				for _, col := range p.cols {
					if contains(t.PII, col) {
						skip("its column " + col + " is PII, kept as a digest only: it cannot be restored")
						p = nil
						break
					}
				}
				if p == nil {
					continue
				}
				p.op, p.target = prov.OpUpdate, before
			}
			plans = append(plans, p)
		}
	}
	return plans, nil
}

// piiIn names a PII column of t that img holds, or "".
func piiIn(t *capture.CapturedTable, img map[string]json.RawMessage) string {
	for _, c := range t.PII {
		if v, ok := img[c]; ok && string(v) != "null" {
			return c
		}
	}
	return ""
}

// equalJSON compares two JSON values as values.
func equalJSON(a, b json.RawMessage) bool {
	if string(a) == string(b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// applyRevert runs the plans: deletes first (a key another row will take
// back), then updates, then inserts, each in set-based statements per table
// and column set.
func (r *repairTx) applyRevert(ctx context.Context, plans []*rowPlan) error {
	d := r.s.d
	type group struct {
		t    *capture.CapturedTable
		op   string
		cols []string
		rows []string
	}
	var groups []*group
	index := map[string]*group{}
	for _, op := range []string{prov.OpDelete, prov.OpUpdate, prov.OpInsert} {
		for _, p := range plans {
			if p.op != op {
				continue
			}
			key := fmt.Sprint(p.table.Relid, op, p.cols)
			g := index[key]
			if g == nil {
				g = &group{t: p.table, op: op, cols: p.cols}
				index[key] = g
				groups = append(groups, g)
			}
			obj := map[string]json.RawMessage{}
			var keyVals map[string]json.RawMessage
			json.Unmarshal([]byte(p.pk), &keyVals)
			for k, v := range keyVals {
				obj[k] = v
			}
			for _, c := range p.cols {
				obj[c] = p.target[c]
			}
			b, _ := json.Marshal(obj)
			g.rows = append(g.rows, string(b))
		}
	}
	for _, g := range groups {
		a := &args{d: d}
		ph := a.add(keyArray(g.rows))
		t := g.t
		var q string
		switch g.op {
		case prov.OpDelete:
			q = "DELETE FROM " + t.Ident + " AS t WHERE " + d.keyMatch(t, "t", ph)
			if !d.pg {
				q = "DELETE FROM " + t.Ident + " WHERE " + strings.Replace(d.keyMatch(t, t.Ident, ph), t.Ident+".", "", -1)
			}
		case prov.OpUpdate:
			var sets, on []string
			for _, c := range g.cols {
				if d.pg {
					sets = append(sets, quote(c)+" = v."+quote(c))
				} else {
					sets = append(sets, quote(c)+" = json_extract(v.value, "+sqlString("$."+quote(c))+")")
				}
			}
			for _, k := range t.PK {
				if d.pg {
					on = append(on, "t."+quote(k)+" = v."+quote(k))
				} else {
					on = append(on, "t."+quote(k)+" = json_extract(v.value, "+sqlString("$."+quote(k))+")")
				}
			}
			if d.pg {
				q = "UPDATE " + t.Ident + " AS t SET " + strings.Join(sets, ", ") + " FROM jsonb_populate_recordset(NULL::" + t.Ident + ", " + ph + "::jsonb) v WHERE " + strings.Join(on, " AND ")
			} else {
				q = "UPDATE " + t.Ident + " AS t SET " + strings.Join(sets, ", ") + " FROM json_each(" + ph + ") v WHERE " + strings.Join(on, " AND ")
			}
		case prov.OpInsert:
			var cols, vals []string
			for _, c := range g.cols {
				cols = append(cols, quote(c))
				vals = append(vals, "json_extract(value, "+sqlString("$."+quote(c))+")")
			}
			if d.pg {
				q = "INSERT INTO " + t.Ident + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(cols, ", ") + " FROM jsonb_populate_recordset(NULL::" + t.Ident + ", " + ph + "::jsonb)"
			} else {
				q = "INSERT INTO " + t.Ident + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(vals, ", ") + " FROM json_each(" + ph + ")"
			}
		}
		if _, err := r.q.exec(ctx, q, a.vals...); err != nil {
			return exprError(err)
		}
	}
	return nil
}
