package openlineage

import (
	"bytes"
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
)

// RunInfo is a run as all of its events describe it, read from the log.
type RunInfo struct {
	ID           string            `json:"run_id"`
	Job          string            `json:"job"` // namespace:name
	JobNamespace string            `json:"-"`
	JobName      string            `json:"-"`
	Parent       string            `json:"parent,omitempty"`
	Children     []string          `json:"children,omitempty"`
	State        string            `json:"state,omitempty"`
	Started      *time.Time        `json:"started,omitempty"`
	Ended        *time.Time        `json:"ended,omitempty"`
	CodeVersion  string            `json:"code_version,omitempty"`
	Producers    []string          `json:"producers"`
	RunFacets    Facets            `json:"run_facets,omitempty"` // the latest event's value of each facet
	JobFacets    Facets            `json:"job_facets,omitempty"`
	Inputs       []DatasetUse      `json:"inputs"`
	Outputs      []DatasetUse      `json:"outputs"`
	Columns      []ColumnEdgeOf    `json:"column_lineage,omitempty"`
	Events       []RunEventSummary `json:"events"`
}

// DatasetUse is a dataset a run read or wrote, as its latest event that
// lists it says.
type DatasetUse struct {
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Version   string          `json:"version,omitempty"`
	RowCount  *int64          `json:"row_count,omitempty"`
	Bytes     *int64          `json:"bytes,omitempty"`
	Schema    json.RawMessage `json:"schema,omitempty"`
	Source    string          `json:"source,omitempty"`
	Facets    Facets          `json:"facets,omitempty"` // dataset and input/output facets, merged
}

// ColumnEdgeOf is a column edge with the dataset that carries it.
type ColumnEdgeOf struct {
	Dataset string `json:"dataset"` // namespace:name
	ColumnEdge
}

// RunEventSummary is one event of a run.
type RunEventSummary struct {
	Index     int64     `json:"index"`
	EventType string    `json:"event_type,omitempty"`
	Time      time.Time `json:"time"`
}

// LoadRun reads a run: its events, from the lineage index and then the log.
// A run with no event is an error of kind NotFound.
func LoadRun(ctx context.Context, l *tlog.Log, runID string) (*RunInfo, error) {
	store := l.Store()
	d := dialectOf(store)
	if d == nil {
		return nil, prov.Errorf(prov.Invalid, "openlineage: runs need a SQLite or PostgreSQL store")
	}
	var idxs []int64
	var children []string
	err := store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		r := &reader{d: d, tx: tx}
		err := r.query(ctx, "SELECT idx FROM {T}lineage_events WHERE run_id = ? ORDER BY idx", []any{runID}, func(scan func(...any) error) error {
			var idx int64
			if err := scan(&idx); err != nil {
				return err
			}
			idxs = append(idxs, idx)
			return nil
		})
		if err != nil {
			return err
		}
		return r.query(ctx, "SELECT DISTINCT run_id FROM {T}lineage_events WHERE parent = ? ORDER BY run_id", []any{runID}, func(scan func(...any) error) error {
			var id string
			if err := scan(&id); err != nil {
				return err
			}
			children = append(children, id)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if len(idxs) == 0 {
		return nil, prov.Errorf(prov.NotFound, "no OpenLineage event of run %q in the log", runID)
	}
	var events []*Event
	for _, idx := range idxs {
		e, err := l.Get(ctx, idx)
		if err != nil {
			return nil, err
		}
		rec, _, err := prov.RecordBytes(e.Data) // a signed record: its payload
		if err != nil {
			return nil, err
		}
		raw, ok := EventOf(rec)
		if !ok {
			return nil, prov.Errorf(prov.Tampered, "record %d is indexed as an OpenLineage event but holds none: run 'prov verify'", idx)
		}
		ev, err := Decode(raw)
		if err != nil {
			return nil, prov.Errorf(prov.Tampered, "record %d: its OpenLineage event no longer decodes: %v", idx, err)
		}
		events = append(events, ev)
	}
	info := summarize(runID, idxs, events)
	info.Children = children
	return info, nil
}

// summarize folds a run's events, in log order, into a RunInfo: facets and
// datasets take the value of the latest event (by eventTime, then log
// order) that has them.
func summarize(runID string, idxs []int64, events []*Event) *RunInfo {
	order := make([]int, len(events))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return events[order[a]].Time.Before(events[order[b]].Time) })
	info := &RunInfo{ID: runID, RunFacets: Facets{}, JobFacets: Facets{}}
	var stateAt time.Time
	inputs, outputs := map[string]int{}, map[string]int{}
	use := func(list *[]DatasetUse, pos map[string]int, ds Dataset) {
		k := ds.Namespace + ":" + ds.Name
		i, ok := pos[k]
		if !ok {
			i = len(*list)
			pos[k] = i
			*list = append(*list, DatasetUse{Namespace: ds.Namespace, Name: ds.Name, Facets: Facets{}})
		}
		u := &(*list)[i]
		if ds.Version != "" {
			u.Version = ds.Version
		}
		if ds.RowCount != nil {
			u.RowCount = ds.RowCount
		}
		if ds.Bytes != nil {
			u.Bytes = ds.Bytes
		}
		if ds.Schema != nil {
			u.Schema = ds.Schema
		}
		if ds.Source != "" {
			u.Source = ds.Source
		}
		for k, v := range ds.Facets {
			u.Facets[k] = v
		}
		for k, v := range ds.IOFacets {
			u.Facets[k] = v
		}
	}
	for _, i := range order {
		e := events[i]
		info.Events = append(info.Events, RunEventSummary{Index: idxs[i], EventType: e.EventType, Time: e.Time})
		if info.Job == "" {
			info.JobNamespace, info.JobName = e.Job.Namespace, e.Job.Name
			info.Job = e.Job.Namespace + ":" + e.Job.Name
		}
		if e.Run.ParentRun != "" {
			info.Parent = e.Run.ParentRun
		}
		if !contains(info.Producers, e.Producer) {
			info.Producers = append(info.Producers, e.Producer)
		}
		if e.EventType != "" && !e.Time.Before(stateAt) {
			info.State, stateAt = e.EventType, e.Time
		}
		t := e.Time
		switch e.EventType {
		case "START":
			if info.Started == nil || t.Before(*info.Started) {
				info.Started = &t
			}
		case "COMPLETE", "FAIL", "ABORT":
			if info.Ended == nil || t.After(*info.Ended) {
				info.Ended = &t
			}
		}
		if e.Job.CodeVersion != "" {
			info.CodeVersion = e.Job.CodeVersion
		}
		for k, v := range e.Run.Facets {
			info.RunFacets[k] = v
		}
		for k, v := range e.Job.Facets {
			info.JobFacets[k] = v
		}
		for _, ds := range e.Inputs {
			use(&info.Inputs, inputs, ds)
		}
		for _, ds := range e.Outputs {
			use(&info.Outputs, outputs, ds)
			if len(ds.Columns) > 0 { // the latest facet replaces earlier edges
				k := ds.Namespace + ":" + ds.Name
				kept := info.Columns[:0]
				for _, c := range info.Columns {
					if c.Dataset != k {
						kept = append(kept, c)
					}
				}
				info.Columns = kept
				for _, c := range ds.Columns {
					info.Columns = append(info.Columns, ColumnEdgeOf{Dataset: k, ColumnEdge: c})
				}
			}
		}
	}
	sort.SliceStable(info.Events, func(a, b int) bool { return info.Events[a].Index < info.Events[b].Index })
	return info
}

// Difference is one aspect in which two runs differ (or not).
type Difference struct {
	What  string `json:"what"` // e.g. "input postgres://db:5432:shop.public.orders row_count"
	A     string `json:"a"`
	B     string `json:"b"`
	Equal bool   `json:"equal"`
}

// RunDiff compares two runs side by side.
type RunDiff struct {
	A           *RunInfo     `json:"a"`
	B           *RunInfo     `json:"b"`
	Differences []Difference `json:"differences"`
}

// DiffRuns compares two runs: job, state, duration, code version,
// parameters (run facets), job facets, inputs and outputs (dataset,
// version, row count, size, schema, location, facets), column lineage and
// the shape of the graph (parent, children, counts). Every aspect either
// run has is listed, equal or not.
func DiffRuns(a, b *RunInfo) *RunDiff {
	d := &RunDiff{A: a, B: b}
	add := func(what, x, y string) {
		d.Differences = append(d.Differences, Difference{What: what, A: x, B: y, Equal: x == y})
	}
	add("job", a.Job, b.Job)
	add("state", a.State, b.State)
	add("duration", duration(a), duration(b))
	add("code version", a.CodeVersion, b.CodeVersion)
	add("parent run", a.Parent, b.Parent)
	add("child runs", itoa(len(a.Children)), itoa(len(b.Children)))
	add("events", itoa(len(a.Events)), itoa(len(b.Events)))
	add("inputs", itoa(len(a.Inputs)), itoa(len(b.Inputs)))
	add("outputs", itoa(len(a.Outputs)), itoa(len(b.Outputs)))
	add("column edges", itoa(len(a.Columns)), itoa(len(b.Columns)))
	facets := func(prefix string, x, y Facets) {
		for _, k := range unionKeys(x, y) {
			add(prefix+k, facetText(x[k]), facetText(y[k]))
		}
	}
	facets("parameter ", a.RunFacets, b.RunFacets)
	facets("job facet ", a.JobFacets, b.JobFacets)
	datasets := func(kind string, x, y []DatasetUse) {
		xm, ym := map[string]DatasetUse{}, map[string]DatasetUse{}
		var keys []string
		for _, u := range x {
			k := u.Namespace + ":" + u.Name
			xm[k] = u
			keys = append(keys, k)
		}
		for _, u := range y {
			k := u.Namespace + ":" + u.Name
			if _, ok := xm[k]; !ok {
				keys = append(keys, k)
			}
			ym[k] = u
		}
		for _, k := range keys {
			u, inX := xm[k]
			v, inY := ym[k]
			add(kind+" "+k, present(inX), present(inY))
			if !inX || !inY {
				continue
			}
			add(kind+" "+k+" version", u.Version, v.Version)
			add(kind+" "+k+" row count", intText(u.RowCount), intText(v.RowCount))
			add(kind+" "+k+" bytes", intText(u.Bytes), intText(v.Bytes))
			add(kind+" "+k+" schema", schemaText(u.Schema), schemaText(v.Schema))
			add(kind+" "+k+" location", u.Source, v.Source)
			for _, f := range unionKeys(u.Facets, v.Facets) {
				switch f {
				case "version", "schema", "dataSource", "outputStatistics", "inputStatistics", "columnLineage":
					continue // compared above
				}
				add(kind+" "+k+" facet "+f, facetText(u.Facets[f]), facetText(v.Facets[f]))
			}
		}
	}
	datasets("input", a.Inputs, b.Inputs)
	datasets("output", a.Outputs, b.Outputs)
	edges := func(r *RunInfo) map[string]bool {
		m := map[string]bool{}
		for _, c := range r.Columns {
			m[c.Dataset+"."+c.Field+" <- "+c.InputNamespace+":"+c.InputName+"."+c.InputField] = true
		}
		return m
	}
	ea, eb := edges(a), edges(b)
	var all []string
	for k := range ea {
		all = append(all, k)
	}
	for k := range eb {
		if !ea[k] {
			all = append(all, k)
		}
	}
	sort.Strings(all)
	for _, k := range all {
		add("column "+k, present(ea[k]), present(eb[k]))
	}
	return d
}

func present(ok bool) string {
	if ok {
		return "yes"
	}
	return ""
}

func duration(r *RunInfo) string {
	if r.Started == nil || r.Ended == nil {
		return ""
	}
	return r.Ended.Sub(*r.Started).String()
}

func intText(n *int64) string {
	if n == nil {
		return ""
	}
	return itoa64(*n)
}

func itoa(n int) string { return itoa64(int64(n)) }

func itoa64(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// facetText is a facet without its _producer and _schemaURL, compact: two
// producers' equal facets compare equal.
func facetText(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	delete(m, "_producer")
	delete(m, "_schemaURL")
	b, _ := json.Marshal(m) // sorted keys
	var out bytes.Buffer
	json.Compact(&out, b)
	return out.String()
}

// schemaText writes a schema's fields as name:type, ...
func schemaText(raw json.RawMessage) string {
	if raw == nil {
		return ""
	}
	var fields []struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if json.Unmarshal(raw, &fields) != nil {
		return string(raw)
	}
	var b bytes.Buffer
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.Name)
		if f.Type != "" {
			b.WriteString(":" + f.Type)
		}
	}
	return b.String()
}

func unionKeys(x, y Facets) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []Facets{x, y} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
