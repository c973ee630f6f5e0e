// Package provjson writes log records as a W3C PROV-JSON document
// (https://www.w3.org/submissions/prov-json/): entities (datasets, dataset
// versions, rows and the tables that hold them), activities (runs and the
// activities of records), agents, and the relations between them with their
// times (used, wasGeneratedBy, wasInvalidatedBy, wasDerivedFrom,
// wasInformedBy, wasAssociatedWith, actedOnBehalfOf, specializationOf,
// hadMember).
//
// Identifiers are qualified names in three namespaces of Prov's own
// (entity, activity, agent); their local part is the id percent-encoded so
// that any PROV reader and PROV-N accept it, and prov:label holds the id as
// it is in the log. Relations are anonymous ("_:u1", …), numbered in record
// order, so that the same records give the same document.
package provjson

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prov-dev/prov"
)

// Namespaces of the document's prefixes.
const (
	NSEntity   = "urn:x-prov-log:entity:"
	NSActivity = "urn:x-prov-log:activity:"
	NSAgent    = "urn:x-prov-log:agent:"
	NSLog      = "urn:x-prov-log:ns#" // Prov's own attributes: provlog:index, provlog:kind, …
)

// Filter selects the records a document holds. The zero Filter selects all.
type Filter struct {
	// Nodes, when not nil, keeps records whose activity or one of whose
	// entities is in it (ids as in records: dataset:NS:NAME, run:ID,
	// migration:0042, pg:db/schema.table/{…} or its table pg:db/schema.table).
	Nodes map[string]bool
	// Activity, when set, keeps the records of that activity (also written
	// run:ID), of its child activities, and of those it informed.
	Activity string
	// Since keeps the records that happened at or after it.
	Since time.Time
}

// Match reports whether the filter keeps r.
func (f Filter) Match(r *prov.Record) bool {
	if !f.Since.IsZero() && r.Time.Before(f.Since) {
		return false
	}
	if f.Activity != "" {
		a := r.Activity
		ok := a != nil && (a.ID == f.Activity || a.ID == "run:"+f.Activity || a.Parent == f.Activity || a.Parent == "run:"+f.Activity)
		ok = ok || slices.Contains(r.InformedBy, f.Activity)
		if !ok {
			return false
		}
	}
	if f.Nodes != nil {
		if r.Activity != nil && f.Nodes[r.Activity.ID] {
			return true
		}
		for _, list := range [][]prov.EntityRef{r.Used, r.Generated} {
			for _, e := range list {
				if f.Nodes[e.ID] {
					return true
				}
				if t, ok := TableOf(e.ID); ok && f.Nodes[t] {
					return true
				}
			}
		}
		for _, d := range r.Derivations {
			if f.Nodes[d.Generated] || f.Nodes[d.Used] {
				return true
			}
		}
		return false
	}
	return true
}

// TableOf returns the table entity of a row entity id
// (pg:<db>/<schema>.<table>/<key JSON>, sqlite:<file>/main.<table>/<key JSON>):
// the id up to the key.
func TableOf(id string) (string, bool) {
	if !strings.HasPrefix(id, "pg:") && !strings.HasPrefix(id, "sqlite:") {
		return "", false
	}
	i := strings.LastIndex(id, "/{")
	if i < 0 {
		i = strings.LastIndex(id, "/[")
	}
	if i <= 0 {
		return "", false
	}
	return id[:i], true
}

// Document is a PROV-JSON document being built. Add records in log order,
// then Write it.
type Document struct {
	entities   map[string]attrs
	activities map[string]*activity
	agents     map[string]attrs
	relations  map[string]map[string]attrs // kind -> id -> attributes
	n          int                         // relations so far
	assoc      map[[2]string]bool
	members    map[[2]string]bool
	special    map[[2]string]bool
	agentOf    map[string]string // activity -> its (first) agent
	parentOf   map[string]string // activity -> parent activity
	records    int
}

type attrs = map[string]any

type activity struct {
	a          attrs
	start, end time.Time // explicit, from activity records
	first      time.Time // the earliest record of it
}

// New returns an empty document.
func New() *Document {
	return &Document{
		entities: map[string]attrs{}, activities: map[string]*activity{}, agents: map[string]attrs{},
		relations: map[string]map[string]attrs{}, assoc: map[[2]string]bool{}, members: map[[2]string]bool{},
		special: map[[2]string]bool{}, agentOf: map[string]string{}, parentOf: map[string]string{},
	}
}

// Records returns the number of records added.
func (d *Document) Records() int { return d.records }

// QName returns the qualified name of an id in a prefix: prefix:local,
// where local is id with every byte outside [A-Za-z0-9_] (and '.' or '-'
// not in the middle) percent-encoded.
func QName(prefix, id string) string {
	var b strings.Builder
	b.WriteString(prefix)
	b.WriteByte(':')
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
			b.WriteByte(c)
		case (c == '.' || c == '-') && i > 0 && i < len(id)-1:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (d *Document) relation(kind string, a attrs) {
	d.n++
	m := d.relations[kind]
	if m == nil {
		m = map[string]attrs{}
		d.relations[kind] = m
	}
	m[fmt.Sprintf("_:%s%d", relPrefix[kind], d.n)] = a
}

var relPrefix = map[string]string{
	"used": "u", "wasGeneratedBy": "g", "wasInvalidatedBy": "x", "wasDerivedFrom": "d", "wasInformedBy": "i",
	"wasAssociatedWith": "a", "specializationOf": "s", "hadMember": "m",
}

func (d *Document) entity(id string, index int64) string {
	q := QName("entity", id)
	if _, ok := d.entities[q]; !ok {
		d.entities[q] = attrs{"prov:label": id, "provlog:index": index}
		if t, ok := TableOf(id); ok {
			tq := QName("entity", t)
			if _, ok := d.entities[tq]; !ok {
				d.entities[tq] = attrs{"prov:label": t, "prov:type": qnameValue("prov:Collection"), "provlog:index": index}
			}
			d.entities[q]["provlog:kind"] = "row"
			if !d.members[[2]string{tq, q}] {
				d.members[[2]string{tq, q}] = true
				d.relation("hadMember", attrs{"prov:collection": tq, "prov:entity": q})
			}
		} else if k, _, ok := strings.Cut(id, ":"); ok && (k == "dataset" || k == "job") {
			d.entities[q]["provlog:kind"] = k
		}
	}
	return q
}

// version returns the entity of e's version, when it names one (a version
// label or a digest), specialising the entity itself; else the entity.
func (d *Document) version(e prov.EntityRef, index int64) string {
	base := d.entity(e.ID, index)
	v := e.Version
	if v == "" {
		v = e.Digest
	}
	if v == "" {
		return base
	}
	id := e.ID + "@" + v
	q := QName("entity", id)
	if _, ok := d.entities[q]; !ok {
		a := attrs{"prov:label": id, "provlog:index": index, "provlog:kind": "version"}
		if e.Version != "" {
			a["provlog:version"] = e.Version
		}
		if e.Digest != "" {
			a["provlog:digest"] = e.Digest
		}
		d.entities[q] = a
	}
	if !d.special[[2]string{q, base}] {
		d.special[[2]string{q, base}] = true
		d.relation("specializationOf", attrs{"prov:specificEntity": q, "prov:generalEntity": base})
	}
	return q
}

func qnameValue(q string) attrs { return attrs{"$": q, "type": "prov:QUALIFIED_NAME"} }

// Add adds the record at log index to the document.
func (d *Document) Add(index int64, r *prov.Record) {
	d.records++
	var act string
	var actID string
	switch {
	case r.Activity != nil:
		actID = r.Activity.ID
	case len(r.Used) > 0 || len(r.Generated) > 0 || len(r.Derivations) > 0 || len(r.InformedBy) > 0 || r.Agent != nil:
		actID = fmt.Sprintf("record:%d", index) // what the record itself states happened
	}
	if actID != "" {
		act = QName("activity", actID)
		x := d.activities[act]
		if x == nil {
			x = &activity{a: attrs{"prov:label": actID, "provlog:index": index}, first: r.Time}
			d.activities[act] = x
		}
		if r.Time.Before(x.first) {
			x.first = r.Time
		}
		if r.Activity == nil {
			x.a["provlog:record_type"] = r.Type
		}
		if a := r.Activity; a != nil {
			for k, v := range map[string]string{"provlog:kind": a.Kind, "provlog:name": a.Name, "provlog:release": a.Release,
				"provlog:code_version": a.CodeVersion, "provlog:parent": a.Parent, "provlog:host": a.Host,
				"provlog:service": a.Service, "provlog:status": a.Status} {
				if v != "" {
					x.a[k] = v
				}
			}
			if a.ExitCode != nil {
				x.a["provlog:exit_code"] = *a.ExitCode
			}
			if a.Started != nil && (x.start.IsZero() || a.Started.Before(x.start)) {
				x.start = *a.Started
			}
			if a.Ended != nil && a.Ended.After(x.end) {
				x.end = *a.Ended
			}
			if a.Parent != "" {
				d.parentOf[act] = QName("activity", a.Parent)
			}
		}
		if r.Reason != "" {
			x.a["provlog:reason"] = r.Reason
		}
		if r.Ticket != "" {
			x.a["provlog:ticket"] = r.Ticket
		}
	}
	if r.Agent != nil {
		ag := QName("agent", r.Agent.ID)
		if _, ok := d.agents[ag]; !ok {
			d.agents[ag] = attrs{"prov:label": r.Agent.ID}
		}
		if r.Agent.Kind != "" {
			d.agents[ag]["provlog:kind"] = r.Agent.Kind
		}
		if r.Agent.Name != "" {
			d.agents[ag]["provlog:name"] = r.Agent.Name
		}
		if act != "" {
			if _, ok := d.agentOf[act]; !ok {
				d.agentOf[act] = ag
			}
			if !d.assoc[[2]string{act, ag}] {
				d.assoc[[2]string{act, ag}] = true
				d.relation("wasAssociatedWith", attrs{"prov:activity": act, "prov:agent": ag})
			}
		}
	}
	when := ts(r.Time)
	for _, e := range r.Used {
		a := attrs{"prov:activity": act, "prov:entity": d.version(e, index), "prov:time": when, "provlog:index": index}
		if e.Role != "" {
			a["prov:role"] = e.Role
		}
		if len(e.Columns) > 0 {
			a["provlog:columns"] = e.Columns
		}
		d.relation("used", a)
	}
	for _, e := range r.Generated {
		a := attrs{"prov:activity": act, "prov:entity": d.version(e, index), "prov:time": when, "provlog:index": index}
		if e.Role != "" {
			a["prov:role"] = e.Role
		}
		if len(e.Columns) > 0 {
			a["provlog:columns"] = e.Columns
		}
		kind := "wasGeneratedBy"
		if e.Op == prov.OpDelete {
			kind = "wasInvalidatedBy"
		}
		if e.Op != "" {
			a["provlog:op"] = e.Op
		}
		d.relation(kind, a)
	}
	for _, x := range r.Derivations {
		a := attrs{"prov:generatedEntity": d.entity(x.Generated, index), "prov:usedEntity": d.entity(x.Used, index), "provlog:index": index}
		if act != "" {
			a["prov:activity"] = act
		}
		if len(x.Columns) > 0 {
			a["provlog:columns"] = x.Columns
		}
		if len(x.UsedColumns) > 0 {
			a["provlog:used_columns"] = x.UsedColumns
		}
		d.relation("wasDerivedFrom", a)
	}
	for _, id := range r.InformedBy {
		inf := QName("activity", id)
		if _, ok := d.activities[inf]; !ok {
			d.activities[inf] = &activity{a: attrs{"prov:label": id, "provlog:index": index}, first: r.Time}
		}
		d.relation("wasInformedBy", attrs{"prov:informed": act, "prov:informant": inf, "provlog:index": index})
	}
}

// JSON returns the document as a PROV-JSON object.
func (d *Document) JSON() map[string]any {
	doc := map[string]any{
		"prefix": map[string]string{"entity": NSEntity, "activity": NSActivity, "agent": NSAgent, "provlog": NSLog},
	}
	if len(d.entities) > 0 {
		doc["entity"] = d.entities
	}
	if len(d.activities) > 0 {
		acts := map[string]attrs{}
		for q, x := range d.activities {
			a := maps.Clone(x.a)
			switch {
			case !x.start.IsZero():
				a["prov:startTime"] = ts(x.start)
			case !x.first.IsZero():
				a["prov:startTime"] = ts(x.first)
			}
			if !x.end.IsZero() {
				a["prov:endTime"] = ts(x.end)
			}
			acts[q] = a
		}
		doc["activity"] = acts
	}
	if len(d.agents) > 0 {
		doc["agent"] = d.agents
	}
	for k, m := range d.relations {
		doc[k] = m
	}
	if del := d.delegations(); len(del) > 0 {
		doc["actedOnBehalfOf"] = del
	}
	return doc
}

// delegations: the agent of an activity acted on behalf of the agent of the
// activity's parent (a migration's runner for the release's owner), when
// they differ.
func (d *Document) delegations() map[string]attrs {
	out := map[string]attrs{}
	for _, act := range slices.Sorted(maps.Keys(d.parentOf)) {
		a, b := d.agentOf[act], d.agentOf[d.parentOf[act]]
		if a != "" && b != "" && a != b {
			out[fmt.Sprintf("_:b%d", len(out)+1)] = attrs{"prov:delegate": a, "prov:responsible": b, "prov:activity": act}
		}
	}
	return out
}

// Write writes the document as indented PROV-JSON.
func (d *Document) Write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d.JSON())
}

// Counts returns the number of elements of each kind in the document
// (entity, activity, agent, and each relation), for reports and tests.
func (d *Document) Counts() map[string]int {
	c := map[string]int{"entity": len(d.entities), "activity": len(d.activities), "agent": len(d.agents)}
	for k, m := range d.relations {
		c[k] = len(m)
	}
	if n := len(d.delegations()); n > 0 {
		c["actedOnBehalfOf"] = n
	}
	return c
}
