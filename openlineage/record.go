package openlineage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/prov-dev/prov"
)

// Attribute keys of a lineage record that hold the event (see
// docs/decisions/0011-openlineage.md): the event itself when it is one
// line, else the event as a JSON string, so that every record stays one
// line of JSON Lines.
const (
	attrEvent     = "openlineage"
	attrEventText = "openlineage_text"
)

// EventID is the producer event id of an event's record: OpenLineage
// events have no id, so it is the SHA-256 of the event's bytes. A producer
// that retries sends the same bytes, and its retry appends nothing.
func EventID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "openlineage:sha256:" + hex.EncodeToString(sum[:])
}

// Entity ids of what events name.
func DatasetEntity(namespace, name string) string { return "dataset:" + namespace + ":" + name }
func JobEntity(namespace, name string) string     { return "job:" + namespace + ":" + name }
func RunActivity(runID string) string             { return "run:" + runID }

// Roles of entities in lineage records.
const (
	RolePlan      = "plan"      // the job a run carries out (PROV hadPlan)
	RoleInput     = "input"     // a dataset a run or job reads
	RoleOutput    = "output"    // a dataset a run or job writes
	RoleDescribed = "described" // the dataset of a DatasetEvent
)

// lineageRecord is the PROV part of a lineage record; the event follows in
// attributes.
type lineageRecord struct {
	Type        string            `json:"type"`
	ID          string            `json:"id"`
	Time        string            `json:"time"`
	Activity    *prov.Activity    `json:"activity,omitempty"`
	Agent       *prov.Agent       `json:"agent,omitempty"`
	Used        []prov.EntityRef  `json:"used,omitempty"`
	Generated   []prov.EntityRef  `json:"generated,omitempty"`
	Derivations []prov.Derivation `json:"derivations,omitempty"`
}

// Record returns the log record of a decoded event: type lineage, id
// EventID(e.Raw), time the event time, the PROV mapping, and the event's
// bytes in attributes, exactly.
func Record(e *Event) ([]byte, error) {
	b, _, err := record(e)
	return b, err
}

// record is Record, with the record's fields as ParseRecord would read
// them back (Attributes left out), so that Prepare need not parse the
// record it has just written.
func record(e *Event) ([]byte, *prov.Record, error) {
	r := lineageRecord{
		Type:  prov.TypeLineage,
		ID:    EventID(e.Raw),
		Time:  e.Time.UTC().Format(time.RFC3339Nano),
		Agent: &prov.Agent{ID: e.Producer, Kind: "software"},
	}
	if strings.TrimSpace(e.Producer) == "" {
		r.Agent = nil
	}
	if e.Run != nil {
		a := &prov.Activity{ID: RunActivity(e.Run.ID), Kind: "run", Name: e.Job.Namespace + ":" + e.Job.Name, CodeVersion: e.Job.CodeVersion}
		if e.Run.ParentRun != "" {
			a.Parent = RunActivity(e.Run.ParentRun)
		}
		if e.EventType != "" {
			a.Status = strings.ToLower(e.EventType)
		}
		t := e.Time
		switch e.EventType {
		case "START":
			a.Started = &t
		case "COMPLETE", "FAIL", "ABORT":
			a.Ended = &t
		}
		r.Activity = a
	}
	r.Used = make([]prov.EntityRef, 0, len(e.Inputs)+2)
	if e.Job != nil {
		r.Used = append(r.Used, prov.EntityRef{ID: JobEntity(e.Job.Namespace, e.Job.Name), Role: RolePlan})
	}
	for _, d := range e.Inputs {
		r.Used = append(r.Used, prov.EntityRef{ID: DatasetEntity(d.Namespace, d.Name), Version: d.Version, Role: RoleInput})
	}
	if e.Dataset != nil {
		r.Used = append(r.Used, prov.EntityRef{ID: DatasetEntity(e.Dataset.Namespace, e.Dataset.Name), Version: e.Dataset.Version, Role: RoleDescribed})
		r.Derivations = derivations(r.Derivations, *e.Dataset)
	}
	if len(e.Outputs) > 0 {
		r.Generated = make([]prov.EntityRef, 0, len(e.Outputs))
	}
	for _, d := range e.Outputs {
		ref := prov.EntityRef{ID: DatasetEntity(d.Namespace, d.Name), Version: d.Version, Role: RoleOutput}
		if e.EventType == "COMPLETE" {
			ref.Op = prov.OpWrite
		}
		r.Generated = append(r.Generated, ref)
		r.Derivations = derivations(r.Derivations, d)
	}
	if len(r.Used) == 0 {
		r.Used = nil
	}
	for i := range r.Used { // the record rules: no empty strings
		r.Used[i].Version = strings.TrimSpace(r.Used[i].Version)
	}
	for i := range r.Generated {
		r.Generated[i].Version = strings.TrimSpace(r.Generated[i].Version)
	}
	head, err := json.Marshal(r)
	if err != nil {
		return nil, nil, err
	}
	head = head[:len(head)-1] // the closing brace: attributes follow
	multiline := bytes.ContainsAny(e.Raw, "\r\n")
	n := len(head) + len(`,"attributes":{"`+attrEventText+`":`) + 2
	if multiline {
		n += quotedLen(e.Raw)
	} else {
		n += len(e.Raw)
	}
	b := make([]byte, 0, n)
	b = append(b, head...)
	if multiline {
		b = append(b, `,"attributes":{"`+attrEventText+`":`...)
		b = appendQuoted(b, e.Raw)
	} else {
		b = append(b, `,"attributes":{"`+attrEvent+`":`...)
		b = append(b, e.Raw...)
	}
	b = append(b, "}}"...)
	pr := &prov.Record{Type: r.Type, ID: r.ID, Time: e.Time.UTC(), Activity: r.Activity, Agent: r.Agent,
		Used: r.Used, Generated: r.Generated, Derivations: r.Derivations}
	return b, pr, nil
}

// derivations adds the column-level derivations of an output's
// columnLineage facet: one per output column and input dataset, with the
// input columns it came from. Dataset-level dependencies (no output
// column) derive the whole output from the input columns.
func derivations(out []prov.Derivation, d Dataset) []prov.Derivation {
	if len(d.Columns) == 0 {
		return out
	}
	gen := DatasetEntity(d.Namespace, d.Name)
	pos := map[[2]string]int{}
	for _, c := range d.Columns {
		if c.InputField == "" {
			continue
		}
		used := DatasetEntity(c.InputNamespace, c.InputName)
		k := [2]string{c.Field, used}
		i, ok := pos[k]
		if !ok {
			i = len(out)
			pos[k] = i
			dv := prov.Derivation{Generated: gen, Used: used}
			if c.Field != "" {
				dv.Columns = []string{c.Field}
			}
			out = append(out, dv)
		}
		if !contains(out[i].UsedColumns, c.InputField) {
			out[i].UsedColumns = append(out[i].UsedColumns, c.InputField)
		}
	}
	return out
}

// EventOf returns the OpenLineage event a lineage record holds, exactly as
// it was received; ok is false if the record holds none.
func EventOf(record []byte) (event []byte, ok bool) {
	var r struct {
		Type       string `json:"type"`
		Attributes struct {
			Event json.RawMessage `json:"openlineage"`
			Text  *string         `json:"openlineage_text"`
		} `json:"attributes"`
	}
	if err := json.Unmarshal(record, &r); err != nil || r.Type != prov.TypeLineage {
		return nil, false
	}
	switch {
	case r.Attributes.Event != nil:
		return r.Attributes.Event, true
	case r.Attributes.Text != nil:
		return []byte(*r.Attributes.Text), true
	}
	return nil, false
}

// quotedLen is the length of appendQuoted's JSON string of s when s is
// valid JSON, whose only control characters are white space outside
// strings (Record's events are): each quote, backslash, newline, carriage
// return and tab takes one byte more. Other control characters take five
// more, which appendQuoted's append makes room for.
func quotedLen(s []byte) int {
	n := len(s) + 2
	for _, c := range []byte{'"', '\\', '\n', '\r', '\t'} {
		n += bytes.Count(s, []byte{c})
	}
	return n
}

// appendQuoted appends s (valid UTF-8) as a JSON string: quotes, backslashes
// and control characters escaped, everything else as it is.
func appendQuoted(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i, c := range s {
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
