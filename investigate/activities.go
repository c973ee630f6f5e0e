package investigate

import (
	"context"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prov-dev/prov"
)

// Activity is what is known of one activity: what its activity records say
// (later records add to and override earlier ones: a start, then an end) and
// the span and count of the changes attributed to it.
type Activity struct {
	ID          string     `json:"id"`
	Kind        string     `json:"kind,omitempty"`
	Name        string     `json:"name,omitempty"`
	Release     string     `json:"release,omitempty"`
	CodeVersion string     `json:"code_version,omitempty"`
	Parent      string     `json:"parent,omitempty"`
	Host        string     `json:"host,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	Ticket      string     `json:"ticket,omitempty"`
	Agent       string     `json:"agent,omitempty"`
	Started     *time.Time `json:"started,omitempty"`
	Ended       *time.Time `json:"ended,omitempty"`
	Status      string     `json:"status,omitempty"`
	ExitCode    *int       `json:"exit_code,omitempty"`
	InformedBy  []string   `json:"informed_by,omitempty"` // the activities it refers to: what a fix fixes, a revert reverts
	Records     []int64    `json:"records,omitempty"`     // log indexes of its activity records
	First       *time.Time `json:"first_change,omitempty"`
	Last        *time.Time `json:"last_change,omitempty"`
	Changes     int64      `json:"changes"`        // row changes attributed to it, in the log or pending
	Rows        []RowCount `json:"rows,omitempty"` // per table and operation (Activities only)
	recorded    bool       // it has an activity record
	spanned     bool       // its row of change_activities is read
}

// RowCount is how many rows an activity changed in one table with one
// operation.
type RowCount struct {
	Table string `json:"table"`
	Op    string `json:"op"` // insert, update, delete, truncate
	Rows  int64  `json:"rows"`
}

// kindOf is the activity's kind, or, for an activity with no record that
// says, the prefix of its id before ':' (request:abc is a request).
func (a *Activity) kindOf() string {
	if a.Kind != "" {
		return a.Kind
	}
	if k, _, ok := strings.Cut(a.ID, ":"); ok {
		return k
	}
	return ""
}

// merge adds what one activity record says.
func (a *Activity) merge(idx int64, r *prov.Record) {
	x := r.Activity
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&a.Kind, x.Kind)
	set(&a.Name, x.Name)
	set(&a.Release, x.Release)
	set(&a.CodeVersion, x.CodeVersion)
	set(&a.Parent, x.Parent)
	set(&a.Host, x.Host)
	set(&a.Status, x.Status)
	set(&a.Reason, r.Reason)
	set(&a.Ticket, r.Ticket)
	if r.Agent != nil {
		set(&a.Agent, r.Agent.ID)
	}
	if x.Started != nil {
		a.Started = x.Started
	}
	if x.Ended != nil {
		a.Ended = x.Ended
	}
	if x.ExitCode != nil {
		a.ExitCode = x.ExitCode
	}
	for _, id := range r.InformedBy {
		if !contains(a.InformedBy, id) {
			a.InformedBy = append(a.InformedBy, id)
		}
	}
	a.Records = append(a.Records, idx)
	a.recorded = true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// loadRecorded reads every activity record, and the pending changes'
// activities.
func (s *snapshot) loadRecorded(ctx context.Context) error {
	s.acts = map[string]*Activity{}
	if err := s.scanActivityRecords(ctx, "SELECT idx, data FROM "+s.d.records()+" WHERE type = 'activity' ORDER BY idx"); err != nil {
		return err
	}
	// The span and count of the recorded activities' changes.
	var ids []string
	for id := range s.acts {
		ids = append(ids, id)
	}
	if err := s.loadSpans(ctx, ids); err != nil {
		return err
	}
	// The pending changes' activities, read in one query.
	var unknown []string
	seen := map[string]bool{}
	for _, c := range s.pending {
		if c.Activity != "" && s.acts[c.Activity] == nil && !seen[c.Activity] {
			seen[c.Activity] = true
			unknown = append(unknown, c.Activity)
		}
	}
	if err := s.loadSpans(ctx, unknown); err != nil {
		return err
	}
	s.addPending(nil)
	return nil
}

// scanActivityRecords reads activity records (idx, data), in log order,
// into s.acts.
func (s *snapshot) scanActivityRecords(ctx context.Context, query string, args ...any) error {
	rows, err := s.q.query(ctx, query, args...)
	if err != nil {
		return wrap("read activity records", err)
	}
	defer rows.Close()
	for rows.Next() {
		var idx int64
		var data []byte
		if err := rows.Scan(&idx, &data); err != nil {
			return wrap("read activity records", err)
		}
		s.addRecord(idx, data)
	}
	return wrap("read activity records", rows.Err())
}

// addRecord merges one activity record into s.acts.
func (s *snapshot) addRecord(idx int64, data []byte) {
	r, err := prov.ParseEntry(data) // plain or signed (a DSSE envelope)
	if err != nil || r.Activity == nil {
		return // verify reports records that do not parse
	}
	a := s.acts[r.Activity.ID]
	if a == nil {
		a = &Activity{ID: r.Activity.ID}
		s.acts[a.ID] = a
	}
	a.merge(idx, r)
}

// lookup reads what is known of the activities ids that s.acts does not
// hold yet: their change spans and, in a narrow snapshot (which did not read
// every activity record up front), their activity records first and what
// the pending changes add after, as loadRecorded would have: each id's
// Activity is then the one loadRecorded makes.
func (s *snapshot) lookup(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if !s.narrow {
		return s.loadSpans(ctx, ids)
	}
	// One round trip: the activity records (part 0), in log order, then the
	// spans (part 1), of ids and of the parents their spans name — which
	// describing a change needs next (releaseOf), so that most lookups need
	// no second round. Parents already known are skipped.
	a := &args{d: s.d}
	ca, rec := s.d.changeActivities(), s.d.records()
	parents := "SELECT parent FROM " + ca + " WHERE " + a.in("id", ids) + " AND parent IS NOT NULL"
	q := "SELECT 0 AS part, idx, data, activity_id, NULL, 0, 0, 0 FROM " + rec + " WHERE type = 'activity' AND " + a.in("activity_id", ids) +
		"\nUNION ALL SELECT 0, idx, data, activity_id, NULL, 0, 0, 0 FROM " + rec + " WHERE type = 'activity' AND activity_id IN (" + parents + ") AND NOT " + a.in("activity_id", ids) +
		"\nUNION ALL SELECT 1, 0, NULL, " + s.d.spanColumns() + " FROM " + ca + " WHERE " + a.in("id", ids) +
		"\nUNION ALL SELECT 1, 0, NULL, " + s.d.spanColumns() + " FROM " + ca + " WHERE id IN (" + parents + ") AND NOT " + a.in("id", ids) +
		"\nORDER BY 1, 2"
	known := map[string]bool{}
	for id := range s.acts {
		known[id] = true
	}
	extra := map[string]bool{}
	rows, err := s.q.query(ctx, q, a.vals...)
	if err != nil {
		return wrap("read activities", err)
	}
	defer rows.Close()
	for rows.Next() {
		var part int
		var idx, first, last, n int64
		var data []byte
		var id, parent *string
		if err := rows.Scan(&part, &idx, &data, &id, &parent, &first, &last, &n); err != nil {
			return wrap("read activities", err)
		}
		if id == nil || known[*id] {
			continue
		}
		if part == 0 {
			s.addRecord(idx, data)
			continue
		}
		s.addSpanRow(*id, parent, first, last, n)
		if parent != nil && contains(ids, *id) && !known[*parent] && !contains(ids, *parent) {
			extra[*parent] = true // read with ids: give it what is pending too
		}
	}
	if err := rows.Err(); err != nil {
		return wrap("read activities", err)
	}
	ids = slices.Clip(ids)
	for p := range extra {
		ids = append(ids, p)
	}
	s.addPending(ids)
	return nil
}

// addPending adds the pending changes of the activities ids (all if ids is
// nil) to their spans, creating those that nothing else names, and takes
// the parent their attributions name for those without one.
func (s *snapshot) addPending(ids []string) {
	for _, c := range s.pending {
		if c.Activity == "" || ids != nil && !contains(ids, c.Activity) {
			continue
		}
		a := s.acts[c.Activity]
		if a == nil {
			a = &Activity{ID: c.Activity, Parent: c.Parent}
			s.acts[a.ID] = a
		}
		if a.Parent == "" {
			a.Parent = c.Parent
		}
		a.addSpan(c.At, c.At, 1)
	}
}

func (a *Activity) addSpan(first, last time.Time, n int64) {
	if a.First == nil || first.Before(*a.First) {
		a.First = &first
	}
	if a.Last == nil || last.After(*a.Last) {
		a.Last = &last
	}
	a.Changes += n
}

// loadSpans reads the change spans of the activities ids from
// change_activities, creating the activities that have no record.
func (s *snapshot) loadSpans(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	a := &args{d: s.d}
	return s.scanSpans(ctx, "SELECT "+s.d.spanColumns()+" FROM "+s.d.changeActivities()+" WHERE "+a.in("id", ids), a.vals...)
}

// spanColumns are the columns of change_activities that scanSpans reads.
func (d dialect) spanColumns() string {
	return "id, parent, " + d.micros("first") + ", " + d.micros("last") + ", changes"
}

// scanSpans reads rows of change_activities (spanColumns) into s.acts.
func (s *snapshot) scanSpans(ctx context.Context, query string, args ...any) error {
	_, err := s.scanSpanIDs(ctx, query, args...)
	return err
}

// scanSpanIDs is scanSpans, and returns the ids it read.
func (s *snapshot) scanSpanIDs(ctx context.Context, query string, args ...any) ([]string, error) {
	var ids []string
	rows, err := s.q.query(ctx, query, args...)
	if err != nil {
		return nil, wrap("read activities", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var parent *string
		var first, last, n int64
		if err := rows.Scan(&id, &parent, &first, &last, &n); err != nil {
			return nil, wrap("read activities", err)
		}
		ids = append(ids, id)
		s.addSpanRow(id, parent, first, last, n)
	}
	return ids, wrap("read activities", rows.Err())
}

// addSpanRow adds one row of change_activities to s.acts, once.
func (s *snapshot) addSpanRow(id string, parent *string, first, last, n int64) {
	a := s.acts[id]
	if a == nil {
		a = &Activity{ID: id}
		s.acts[id] = a
	} else if a.spanned {
		return // read already
	}
	a.spanned = true
	if parent != nil && a.Parent == "" {
		a.Parent = *parent
	}
	a.addSpan(time.UnixMicro(first).UTC(), time.UnixMicro(last).UTC(), n)
}

// activity returns what is known of activity id, or nil if nothing is.
func (s *snapshot) activity(ctx context.Context, id string) (*Activity, error) {
	if a, ok := s.acts[id]; ok {
		return a, nil
	}
	if err := s.lookup(ctx, []string{id}); err != nil {
		return nil, err
	}
	a := s.acts[id]
	if a == nil {
		s.acts[id] = nil // known unknown
	}
	return a, nil
}

// prefetch reads what is known of the activities ids that are not yet
// looked up, in one query, and then of their parents: what describing a
// row's changes needs, without a query per activity.
func (s *snapshot) prefetch(ctx context.Context, ids []string) error {
	for round := 0; round < 2 && len(ids) > 0; round++ {
		var need []string
		seen := map[string]bool{}
		for _, id := range ids {
			if _, ok := s.acts[id]; !ok && id != "" && !seen[id] {
				seen[id] = true
				need = append(need, id)
			}
		}
		if err := s.lookup(ctx, need); err != nil {
			return err
		}
		ids = nil
		for _, id := range need {
			a := s.acts[id]
			if a == nil {
				s.acts[id] = nil // known unknown
				continue
			}
			ids = append(ids, a.Parent)
		}
	}
	return nil
}

// releaseOf is the release of activity a: its own, or its nearest
// ancestor's; an activity named release:R with no release stated is R's.
func (s *snapshot) releaseOf(ctx context.Context, a *Activity) (string, error) {
	seen := map[string]bool{}
	for a != nil && !seen[a.ID] {
		seen[a.ID] = true
		if a.Release != "" {
			return a.Release, nil
		}
		if r, ok := strings.CutPrefix(a.ID, "release:"); ok && a.kindOf() == "release" {
			return r, nil
		}
		if a.Parent == "" {
			return "", nil
		}
		p, err := s.activity(ctx, a.Parent)
		if err != nil {
			return "", err
		}
		if p == nil {
			if r, ok := strings.CutPrefix(a.Parent, "release:"); ok {
				return r, nil
			}
			return "", nil
		}
		a = p
	}
	return "", nil
}

// ActivityFilter selects activities to list.
type ActivityFilter struct {
	Since time.Time // activities with changes or records at or after it
	Kind  string
}

// Activities lists the activities with records or attributed changes,
// oldest first, with the rows each changed per table and operation.
func (iv *Investigator) Activities(ctx context.Context, f ActivityFilter) ([]*Activity, error) {
	var out []*Activity
	err := iv.view(ctx, func(s *snapshot) error {
		a := &args{d: s.d}
		q := "SELECT " + s.d.spanColumns() + " FROM " + s.d.changeActivities()
		if !f.Since.IsZero() {
			q += " WHERE last >= " + a.time(f.Since)
		}
		if err := s.scanSpans(ctx, q, a.vals...); err != nil {
			return err
		}
		byID := map[string]*Activity{}
		for id, act := range s.acts {
			if act == nil || f.Kind != "" && act.kindOf() != f.Kind {
				continue
			}
			if !f.Since.IsZero() && before(act, f.Since) {
				continue
			}
			if act.Kind == "" {
				act.Kind = act.kindOf()
			}
			if act.Release == "" {
				r, err := s.releaseOf(ctx, act)
				if err != nil {
					return err
				}
				act.Release = r
			}
			byID[id] = act
			out = append(out, act)
		}
		return s.countRows(ctx, byID)
	})
	sort.SliceStable(out, func(i, j int) bool {
		return startOf(out[i]).Before(startOf(out[j])) || startOf(out[i]).Equal(startOf(out[j])) && out[i].ID < out[j].ID
	})
	return out, err
}

// before reports whether everything known of a happened before t.
func before(a *Activity, t time.Time) bool {
	for _, x := range []*time.Time{a.Started, a.Ended, a.First, a.Last} {
		if x != nil && !x.Before(t) {
			return false
		}
	}
	return true
}

func startOf(a *Activity) time.Time {
	switch {
	case a.Started != nil:
		return *a.Started
	case a.First != nil:
		return *a.First
	}
	return time.Time{}
}

// countRows fills in the row counts of the activities in byID.
func (s *snapshot) countRows(ctx context.Context, byID map[string]*Activity) error {
	if len(byID) == 0 {
		return nil
	}
	names := map[int64]string{}
	for _, t := range s.tables {
		names[t.Relid] = t.Name
	}
	counts := map[string]map[[2]string]int64{}
	add := func(id string, relid int64, op string, n int64) {
		if counts[id] == nil {
			counts[id] = map[[2]string]int64{}
		}
		counts[id][[2]string{names[relid], op}] += n
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	a := &args{d: s.d}
	rows, err := s.q.query(ctx, "SELECT activity, "+s.d.bigint("relid")+", "+s.d.text("op")+", count(*) FROM "+s.d.rowChanges()+" WHERE "+a.in("activity", ids)+" GROUP BY activity, relid, op", a.vals...)
	if err != nil {
		return wrap("count the rows of activities", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, op string
		var relid, n int64
		if err := rows.Scan(&id, &relid, &op, &n); err != nil {
			return wrap("count the rows of activities", err)
		}
		add(id, relid, op, n)
	}
	if err := rows.Err(); err != nil {
		return wrap("count the rows of activities", err)
	}
	for _, c := range s.pending {
		if byID[c.Activity] != nil {
			add(c.Activity, c.Relid, c.Op, 1)
		}
	}
	for id, m := range counts {
		act := byID[id]
		for k, n := range m {
			act.Rows = append(act.Rows, RowCount{Table: k[0], Op: opWord(k[1]), Rows: n})
		}
		sort.Slice(act.Rows, func(i, j int) bool {
			if act.Rows[i].Table != act.Rows[j].Table {
				return act.Rows[i].Table < act.Rows[j].Table
			}
			return act.Rows[i].Op < act.Rows[j].Op
		})
	}
	return nil
}

// opWord spells an index operation as records do.
func opWord(op string) string {
	switch op {
	case "I":
		return prov.OpInsert
	case "U":
		return prov.OpUpdate
	case "D":
		return prov.OpDelete
	case "T":
		return prov.OpTruncate
	}
	return op
}
