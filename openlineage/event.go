// Package openlineage ingests OpenLineage events (RunEvent, DatasetEvent,
// JobEvent, spec versions 1-0-0 to 2-0-2) into the log: each event becomes
// one record of type lineage that keeps the event's bytes exactly and maps
// it to PROV (the run is the activity, the producer the agent, the job the
// plan, inputs are used and outputs generated dataset versions, the
// column-lineage facet gives column-level derivations), and an index of
// runs, jobs, datasets, their inputs and outputs and column edges is kept in
// the same transaction as the append. Graph loads that index, with the
// tables that capture records, into a lineage graph.
//
// Decode is the validator: written in Go, as tolerant as Marquez of what
// real producers send (see Tolerance) and strict elsewhere, with errors that
// name the JSON path of the field at fault.
package openlineage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prov-dev/prov"
)

// Kind is which of the three OpenLineage events an event is.
type Kind string

// Event kinds.
const (
	RunEvent     Kind = "run"
	DatasetEvent Kind = "dataset"
	JobEvent     Kind = "job"
)

// Run event types (eventType of a RunEvent).
var EventTypes = []string{"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"}

// Event is a decoded OpenLineage event. Raw holds its bytes, exactly as
// received (surrounding white space removed); everything else is read from
// them, and facets are kept as their raw JSON.
type Event struct {
	Raw       []byte
	Kind      Kind
	EventType string    // RunEvent only; "" if absent
	Time      time.Time // eventTime, in UTC if it had no zone
	Producer  string
	SchemaURL string // "" if absent
	Run       *Run   // RunEvent
	Job       *Job   // RunEvent, JobEvent
	Dataset   *Dataset
	Inputs    []Dataset
	Outputs   []Dataset
	// Tolerated lists what the event does that the specification does not
	// allow but real producers send, and Decode accepted.
	Tolerated []Tolerance
}

// Run is the run of a RunEvent.
type Run struct {
	ID        string
	Facets    Facets
	ParentRun string // the parent facet's run id; "" if none
	ParentJob *Job   // the parent facet's job (no facets)
}

// Job is a job: a namespace, a name and its facets.
type Job struct {
	Namespace, Name string
	Facets          Facets
	// CodeVersion is the sourceCodeLocation facet's version, if any.
	CodeVersion string
}

// Dataset is a dataset as an event names it, with what Decode read of its
// facets.
type Dataset struct {
	Namespace, Name string
	Facets          Facets
	IOFacets        Facets // inputFacets of an input, outputFacets of an output

	Version  string          // the version facet's datasetVersion
	RowCount *int64          // outputStatistics, inputStatistics or dataQualityMetrics
	Bytes    *int64          // likewise: size or bytes
	Schema   json.RawMessage // the schema facet's fields, as sent; nil if none
	Source   string          // the dataSource facet's uri (else its name)
	Columns  []ColumnEdge    // from the columnLineage facet
}

// ColumnEdge is one edge of the columnLineage facet: column Field of the
// dataset that carries the facet derives from column InputField of the
// input dataset. Field is "" for a dataset-level dependency (the facet's
// "dataset" list: filters, joins, sorts).
type ColumnEdge struct {
	Field                                 string
	InputNamespace, InputName, InputField string
	Transformation                        string // types (and subtypes) of the transformations, e.g. DIRECT/IDENTITY
}

// Facets are facets by name, each as its raw JSON object.
type Facets map[string]json.RawMessage

// Tolerance is something an event does that the specification does not
// allow but that Decode accepts, as Marquez does, because real producers
// send it.
type Tolerance struct {
	Path string `json:"path"`
	What string `json:"what"` // one of the Tolerate… constants
}

// What Decode tolerates.
const (
	TolerateNoSchemaURL     = "no schemaURL"                               // Marquez accepts events without it
	TolerateTimeWithoutZone = "eventTime without a time zone, read as UTC" // as Marquez reads them
	TolerateNotURI          = "not an absolute URI"                        // producer "producer", _producer "spark"
	TolerateRunIDNotUUID    = "runId is not a UUID"                        // compatibility-tests simple_run_event: "run_id"
	TolerateFacetBase       = "facet without _producer or _schemaURL"
	TolerateJobEventVersion = "JobEvent under a schemaURL older than 2-0-0"
	TolerateNoColumnMetrics = "dataQualityMetrics without columnMetrics" // Marquez's own test events
)

// FieldError is an event refused because of one field: Path is its JSON
// path (run.facets.parent.run.runId, inputs[0].name; "" for the whole
// event).
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return fmt.Sprintf("field %q: %s", e.Path, e.Msg)
}

func fieldErr(path, format string, args ...any) error {
	fe := &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
	return &prov.Error{Kind: prov.Invalid, Message: "OpenLineage event: " + fe.Error(), Err: fe}
}

// Limits of what an event may name, so that its record stays within the
// record rules (ids of at most 4096 characters).
const maxNameLen = 2000

var (
	versionRE = regexp.MustCompile(`/spec/([0-9]+)-([0-9]+)-([0-9]+)/OpenLineage\.json`)
)

// Decode validates one event and decodes it. data must be a JSON object;
// surrounding white space is removed and the rest is kept as Event.Raw
// (not copied). Which event it is follows from the fields present, as the
// specification's oneOf says: run and job make a RunEvent, dataset (without
// job) a DatasetEvent, job without run a JobEvent.
//
// It refuses, with a *prov.Error of kind Invalid wrapping a *FieldError,
// malformed JSON, a key twice in one object, missing required fields,
// values of the wrong type, unknown eventType values, times that are not
// RFC 3339, and the facets it reads (parent, version, schema, dataSource,
// columnLineage, outputStatistics, inputStatistics, dataQualityMetrics,
// sourceCodeLocation) when their fields have the wrong type. It tolerates
// what Tolerance lists.
func Decode(data []byte) (*Event, error) { return decode(data, true) }

// decode is Decode; without keep, the event's Facets and IOFacets are left
// nil (the facets are validated all the same), which is all that its
// record and the lineage index need, without a map of each facets object.
func decode(data []byte, keep bool) (*Event, error) {
	data = bytes.Trim(data, " \t\r\n")
	if len(data) == 0 {
		return nil, fieldErr("", "empty: want a JSON object")
	}
	if !utf8.Valid(data) {
		return nil, fieldErr("", "not valid UTF-8")
	}
	if data[0] != '{' {
		return nil, fieldErr("", "want a JSON object, got %s", prov.JSONKind(data[0]))
	}
	t, err := checkJSON(data)
	if err != nil {
		return nil, err
	}
	var m [9]json.RawMessage
	t.find(data, topKeys, m[:])
	var top struct {
		EventType, EventTime, Producer, SchemaURL, Run, Job, Dataset, Inputs, Outputs json.RawMessage
	}
	top.EventType, top.EventTime, top.Producer, top.SchemaURL = m[0], m[1], m[2], m[3]
	top.Run, top.Job, top.Dataset, top.Inputs, top.Outputs = m[4], m[5], m[6], m[7], m[8]
	d := &decoder{t: t, keep: keep}
	e := &Event{Raw: data}
	switch {
	case top.Run != nil:
		e.Kind = RunEvent
		if top.Job == nil {
			return nil, fieldErr("job", "required: a RunEvent (it has run) names its job")
		}
	case top.Dataset != nil && top.Job != nil:
		return nil, fieldErr("", "an event with dataset and job but no run is neither a DatasetEvent (no job) nor a JobEvent (no dataset)")
	case top.Dataset != nil:
		e.Kind = DatasetEvent
	case top.Job != nil:
		e.Kind = JobEvent
	default:
		return nil, fieldErr("", "not an OpenLineage event: want run and job (RunEvent), dataset (DatasetEvent) or job (JobEvent)")
	}
	// BaseEvent.
	ts, err := d.str("eventTime", top.EventTime, true)
	if err != nil {
		return nil, err
	}
	if e.Time, err = d.time("eventTime", ts); err != nil {
		return nil, err
	}
	if e.Producer, err = d.str("producer", top.Producer, true); err != nil {
		return nil, err
	}
	if e.Producer == "" {
		return nil, fieldErr("producer", "empty: name the producer, e.g. https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/airflow")
	}
	if len(e.Producer) > maxNameLen {
		return nil, fieldErr("producer", "too long (%d bytes, at most %d)", len(e.Producer), maxNameLen)
	}
	d.uri("producer", e.Producer)
	if top.SchemaURL == nil {
		d.tolerate("schemaURL", TolerateNoSchemaURL)
	} else if e.SchemaURL, err = d.str("schemaURL", top.SchemaURL, true); err != nil {
		return nil, err
	}
	switch e.Kind {
	case RunEvent:
		if top.EventType != nil {
			if e.EventType, err = d.str("eventType", top.EventType, true); err != nil {
				return nil, err
			}
			if !contains(EventTypes, e.EventType) {
				return nil, fieldErr("eventType", "%q is not an event type: want one of %s", e.EventType, strings.Join(EventTypes, ", "))
			}
		}
		if e.Run, err = d.run("run", top.Run); err != nil {
			return nil, err
		}
	case DatasetEvent:
		ds, err := d.dataset("dataset", top.Dataset, "")
		if err != nil {
			return nil, err
		}
		e.Dataset = &ds
	}
	if e.Kind == JobEvent {
		if v, ok := specVersion(e.SchemaURL); ok && v < 20000 {
			d.tolerate("schemaURL", TolerateJobEventVersion)
		}
	}
	if e.Kind != DatasetEvent {
		if e.Job, err = d.job("job", top.Job, true); err != nil {
			return nil, err
		}
		if e.Inputs, err = d.datasets("inputs", top.Inputs, "inputFacets"); err != nil {
			return nil, err
		}
		if e.Outputs, err = d.datasets("outputs", top.Outputs, "outputFacets"); err != nil {
			return nil, err
		}
	}
	e.Tolerated = d.tolerated
	return e, nil
}

// The keys the decoder reads, for tape.find.
var (
	topKeys      = []string{"eventType", "eventTime", "producer", "schemaURL", "run", "job", "dataset", "inputs", "outputs"}
	runKeys      = []string{"runId", "facets"}
	nameKeys     = []string{"namespace", "name", "facets"}
	parentKeys   = []string{"run", "job"}
	runIDKeys    = []string{"runId"}
	codeKeys     = []string{"version", "url"}
	versionKeys  = []string{"datasetVersion"}
	fieldsKeys   = []string{"fields"}
	fieldKeys    = []string{"name"}
	sourceKeys   = []string{"uri", "name"}
	facetKeys    = []string{"_producer", "_schemaURL", "_deleted"}
	clKeys       = []string{"fields", "dataset"}
	clFieldKeys  = []string{"inputFields", "transformationType"}
	inFieldKeys  = []string{"namespace", "name", "field", "transformations"}
	transformKey = []string{"type", "subtype"}
)

// The facets the decoder reads, by their index in facetRefs.
const (
	fParent = iota
	fSourceCodeLocation
	fVersion
	fSchema
	fDataSource
	fColumnLineage
	fOutputStatistics
	fInputStatistics
	fDataQualityMetrics
	nFacets
)

var facetNames = [nFacets]string{"parent", "sourceCodeLocation", "version", "schema", "dataSource", "columnLineage", "outputStatistics", "inputStatistics", "dataQualityMetrics"}

// facetRefs are the facets of a facets object that the decoder reads.
type facetRefs [nFacets]json.RawMessage

// isUUID reports whether s is a UUID in its text form: 32 hex digits in
// groups of 8-4-4-4-12, either case.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// specVersion reads the spec version of a schemaURL as a number: 2-0-2 is
// 20002.
func specVersion(schemaURL string) (int, bool) {
	m := versionRE.FindStringSubmatch(schemaURL)
	if m == nil {
		return 0, false
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	c, _ := strconv.Atoi(m[3])
	return a*10000 + b*100 + c, true
}

type decoder struct {
	t         *tape // of the event's JSON, from checkJSON
	keep      bool  // keep the facets (Facets, IOFacets)
	tolerated []Tolerance
	okURI     []byte // the last quoted string uri found an absolute URI
}

func (d *decoder) tolerate(path, what string) {
	d.tolerated = append(d.tolerated, Tolerance{Path: path, What: what})
}

// kindOf names the JSON type of a raw value.
func kindOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	return prov.JSONKind(raw[0])
}

// str reads a string field; absent is "" unless required.
func (d *decoder) str(path string, raw json.RawMessage, required bool) (string, error) {
	if raw == nil {
		if required {
			return "", fieldErr(path, "required")
		}
		return "", nil
	}
	if raw[0] != '"' {
		return "", fieldErr(path, "want a string, got %s", kindOf(raw))
	}
	return unquoteRaw(raw), nil
}

// strAt is str of the field at path+field, with the path made only for an
// error.
func (d *decoder) strAt(path, field string, raw json.RawMessage, required bool) (string, error) {
	if raw != nil && raw[0] == '"' {
		return unquoteRaw(raw), nil
	}
	return d.str(path+field, raw, required)
}

// fields is object without a map: the values of keys, into out; present is
// false if raw is nil.
func (d *decoder) fields(path string, raw json.RawMessage, keys []string, out []json.RawMessage) (present bool, err error) {
	clear(out)
	if raw == nil {
		return false, nil
	}
	if raw[0] != '{' {
		return false, fieldErr(path, "want an object, got %s", kindOf(raw))
	}
	d.t.find(raw, keys, out)
	return true, nil
}

// object decodes a JSON object into its members, refusing other types.
func (d *decoder) object(path string, raw json.RawMessage) (map[string]json.RawMessage, error) {
	if raw == nil {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fieldErr(path, "want an object, got %s", kindOf(raw))
	}
	return d.t.members(raw), nil
}

var timeLayouts = []struct {
	layout string
	zone   bool
}{
	{time.RFC3339Nano, true},
	{"2006-01-02T15:04:05.999999999Z0700", true},
	{"2006-01-02T15:04:05.999999999", false},
}

// isTime reports whether s has the shape of the times Decode reads: RFC
// 3339, where the zone may be missing (tolerated) or written without a
// colon; as a regular expression (FuzzIsTime holds it to it),
// ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?$
func isTime(s string) bool {
	const shape = "0000-00-00T00:00:00"
	if len(s) < len(shape) {
		return false
	}
	for i := 0; i < len(shape); i++ {
		if shape[i] == '0' && !isDigit(s[i]) || shape[i] != '0' && s[i] != shape[i] {
			return false
		}
	}
	s = s[len(shape):]
	if len(s) > 0 && s[0] == '.' {
		n := 1
		for n < len(s) && isDigit(s[n]) {
			n++
		}
		if n == 1 || n > 10 {
			return false
		}
		s = s[n:]
	}
	switch {
	case s == "" || s == "Z":
		return true
	case s[0] != '+' && s[0] != '-':
		return false
	case len(s) == 5:
		return isDigit(s[1]) && isDigit(s[2]) && isDigit(s[3]) && isDigit(s[4])
	case len(s) == 6:
		return isDigit(s[1]) && isDigit(s[2]) && s[3] == ':' && isDigit(s[4]) && isDigit(s[5])
	}
	return false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (d *decoder) time(path, s string) (time.Time, error) {
	if !isTime(s) {
		return time.Time{}, fieldErr(path, `%q is not a time: want RFC 3339, e.g. "2026-01-02T03:04:05.678Z"`, s)
	}
	for _, l := range timeLayouts {
		t, err := time.Parse(l.layout, s)
		if err != nil {
			continue
		}
		if t.Year() < 1 || t.Year() > 9999 || t.UTC().IsZero() {
			break // Go's zero time means "unset" to the log
		}
		if !l.zone {
			d.tolerate(path, TolerateTimeWithoutZone)
		}
		return t.UTC(), nil
	}
	return time.Time{}, fieldErr(path, `%q is not a time: want RFC 3339, e.g. "2026-01-02T03:04:05.678Z"`, s)
}

// uri notes a value that should be an absolute URI and is not.
func (d *decoder) uri(path, s string) {
	if !isURI(s) {
		d.tolerate(path, TolerateNotURI)
	}
}

func isURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != ""
}

// uriRaw is uri of a JSON string as sent, which is the same in most facets
// of an event (their _producer): the last one found a URI is not parsed
// again. The path is made only to note a value that is not a URI.
func (d *decoder) uriRaw(path, field string, q json.RawMessage) {
	if bytes.Equal(q, d.okURI) {
		return
	}
	if !isURI(unquoteRaw(q)) {
		d.tolerate(path+field, TolerateNotURI)
		return
	}
	d.okURI = q
}

func (d *decoder) name(path string, nsRaw, nameRaw json.RawMessage) (ns, name string, err error) {
	if ns, err = d.strAt(path, ".namespace", nsRaw, true); err != nil {
		return "", "", err
	}
	if name, err = d.strAt(path, ".name", nameRaw, true); err != nil {
		return "", "", err
	}
	if len(ns) > maxNameLen {
		return "", "", fieldErr(path+".namespace", "too long (%d bytes, at most %d)", len(ns), maxNameLen)
	}
	if len(name) > maxNameLen {
		return "", "", fieldErr(path+".name", "too long (%d bytes, at most %d)", len(name), maxNameLen)
	}
	return ns, name, nil
}

// facets decodes a facets object: every facet is an object; _deleted, if
// present, is a boolean (job and dataset facets). It returns the facets if
// the decoder keeps them, and notes in refs those it reads.
func (d *decoder) facets(path string, raw json.RawMessage, refs *facetRefs) (Facets, error) {
	if raw == nil {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fieldErr(path, "want an object, got %s", kindOf(raw))
	}
	var m Facets
	if d.keep {
		m = Facets{}
	}
	it := d.t.iter(raw)
	for {
		q, v, ok := it.next()
		if !ok {
			break
		}
		name, key := q[1:len(q)-1], ""
		if bytes.IndexByte(name, '\\') >= 0 {
			key = unquoteRaw(q)
			name = []byte(key)
		}
		if m != nil {
			if key == "" {
				key = string(name)
			}
			m[key] = v
		}
		for i, f := range facetNames {
			if string(name) == f {
				refs[i] = v
			}
		}
		if v[0] != '{' {
			return nil, fieldErr(path+"."+string(name), "a facet is an object, got %s", kindOf(v))
		}
		var base [3]json.RawMessage // _producer, _schemaURL, _deleted
		d.t.find(v, facetKeys, base[:])
		if base[0] == nil || base[1] == nil {
			d.tolerate(path+"."+string(name), TolerateFacetBase)
		}
		if p := base[0]; p != nil {
			if p[0] != '"' {
				return nil, fieldErr(path+"."+string(name)+"._producer", "want a string, got %s", kindOf(p))
			}
			d.uriRaw(path+"."+string(name), "._producer", p)
		}
		if u := base[1]; u != nil && u[0] != '"' {
			return nil, fieldErr(path+"."+string(name)+"._schemaURL", "want a string, got %s", kindOf(u))
		}
		if del := base[2]; del != nil && !bytes.Equal(del, []byte("true")) && !bytes.Equal(del, []byte("false")) {
			return nil, fieldErr(path+"."+string(name)+"._deleted", "want a boolean, got %s", kindOf(del))
		}
	}
	return m, nil
}

func (d *decoder) run(path string, raw json.RawMessage) (*Run, error) {
	var m [2]json.RawMessage // runId, facets
	if _, err := d.fields(path, raw, runKeys, m[:]); err != nil {
		return nil, err
	}
	r := &Run{}
	var err error
	if r.ID, err = d.strAt(path, ".runId", m[0], true); err != nil {
		return nil, err
	}
	if r.ID == "" {
		return nil, fieldErr(path+".runId", "empty: a run needs an id (a UUID)")
	}
	if len(r.ID) > maxNameLen {
		return nil, fieldErr(path+".runId", "too long (%d bytes, at most %d)", len(r.ID), maxNameLen)
	}
	if !isUUID(r.ID) {
		d.tolerate(path+".runId", TolerateRunIDNotUUID)
	}
	var refs facetRefs
	if r.Facets, err = d.facets(path+".facets", m[1], &refs); err != nil {
		return nil, err
	}
	if p := refs[fParent]; p != nil {
		pp := path + ".facets.parent"
		var pm [2]json.RawMessage // run, job
		d.t.find(p, parentKeys, pm[:])
		var rm [1]json.RawMessage // runId
		present, err := d.fields(pp+".run", pm[0], runIDKeys, rm[:])
		if err != nil {
			return nil, err
		}
		if !present {
			return nil, fieldErr(pp+".run", "required: the parent run")
		}
		if r.ParentRun, err = d.str(pp+".run.runId", rm[0], true); err != nil {
			return nil, err
		}
		if r.ParentRun == "" || len(r.ParentRun) > maxNameLen {
			return nil, fieldErr(pp+".run.runId", "want a run id of 1 to %d bytes", maxNameLen)
		}
		if !isUUID(r.ParentRun) {
			d.tolerate(pp+".run.runId", TolerateRunIDNotUUID)
		}
		if r.ParentJob, err = d.job(pp+".job", pm[1], true); err != nil {
			return nil, err
		}
		r.ParentJob.Facets = nil
	}
	return r, nil
}

func (d *decoder) job(path string, raw json.RawMessage, required bool) (*Job, error) {
	var m [3]json.RawMessage // namespace, name, facets
	present, err := d.fields(path, raw, nameKeys, m[:])
	if err != nil {
		return nil, err
	}
	if !present {
		if required {
			return nil, fieldErr(path, "required")
		}
		return nil, nil
	}
	j := &Job{}
	if j.Namespace, j.Name, err = d.name(path, m[0], m[1]); err != nil {
		return nil, err
	}
	var refs facetRefs
	if j.Facets, err = d.facets(path+".facets", m[2], &refs); err != nil {
		return nil, err
	}
	if f := refs[fSourceCodeLocation]; f != nil {
		var fm [2]json.RawMessage // version, url
		d.t.find(f, codeKeys, fm[:])
		fp := path + ".facets.sourceCodeLocation"
		if j.CodeVersion, err = d.strAt(fp, ".version", fm[0], false); err != nil {
			return nil, err
		}
		u, err := d.strAt(fp, ".url", fm[1], false)
		if err != nil {
			return nil, err
		}
		if u != "" {
			d.uri(fp+".url", u)
		}
		if len(j.CodeVersion) > maxNameLen {
			return nil, fieldErr(fp+".version", "too long (%d bytes, at most %d)", len(j.CodeVersion), maxNameLen)
		}
	}
	return j, nil
}

func (d *decoder) datasets(path string, raw json.RawMessage, ioFacets string) ([]Dataset, error) {
	if raw == nil {
		return nil, nil
	}
	if raw[0] != '[' {
		return nil, fieldErr(path, "want an array of datasets, got %s", kindOf(raw))
	}
	list := d.t.elements(raw)
	out := make([]Dataset, len(list))
	for i, r := range list {
		var err error
		if out[i], err = d.dataset(path+"["+strconv.Itoa(i)+"]", r, ioFacets); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (d *decoder) dataset(path string, raw json.RawMessage, ioFacets string) (Dataset, error) {
	var ds Dataset
	keys := [4]string{"namespace", "name", "facets", ioFacets}
	var m [4]json.RawMessage // namespace, name, facets, ioFacets
	if _, err := d.fields(path, raw, keys[:], m[:]); err != nil {
		return ds, err
	}
	var err error
	if ds.Namespace, ds.Name, err = d.name(path, m[0], m[1]); err != nil {
		return ds, err
	}
	var refs, ioRefs facetRefs
	if ds.Facets, err = d.facets(path+".facets", m[2], &refs); err != nil {
		return ds, err
	}
	if ioFacets != "" {
		if ds.IOFacets, err = d.facets(path+"."+ioFacets, m[3], &ioRefs); err != nil {
			return ds, err
		}
	}
	fp := path + ".facets."
	if f := refs[fVersion]; f != nil {
		var fm [1]json.RawMessage
		d.t.find(f, versionKeys, fm[:])
		if ds.Version, err = d.strAt(fp, "version.datasetVersion", fm[0], false); err != nil {
			return ds, err
		}
		if len(ds.Version) > maxNameLen {
			return ds, fieldErr(fp+"version.datasetVersion", "too long (%d bytes, at most %d)", len(ds.Version), maxNameLen)
		}
	}
	if f := refs[fSchema]; f != nil {
		var fm [1]json.RawMessage
		d.t.find(f, fieldsKeys, fm[:])
		if fields := fm[0]; fields != nil {
			if fields[0] != '[' {
				return ds, fieldErr(fp+"schema.fields", "want an array of fields, got %s", kindOf(fields))
			}
			it := d.t.iter(fields)
			for i := 0; ; i++ {
				_, f, ok := it.next()
				if !ok {
					break
				}
				var name [1]json.RawMessage
				if _, err := d.fields("", f, fieldKeys, name[:]); err != nil || name[0] == nil || name[0][0] != '"' {
					fpath := fmt.Sprintf("%sschema.fields[%d]", fp, i)
					if err != nil {
						_, err = d.fields(fpath, f, fieldKeys, name[:])
						return ds, err
					}
					_, err := d.str(fpath+".name", name[0], true)
					return ds, err
				}
			}
			ds.Schema = fields
		}
	}
	if f := refs[fDataSource]; f != nil {
		var fm [2]json.RawMessage // uri, name
		d.t.find(f, sourceKeys, fm[:])
		uri, err := d.strAt(fp, "dataSource.uri", fm[0], false)
		if err != nil {
			return ds, err
		}
		name, err := d.strAt(fp, "dataSource.name", fm[1], false)
		if err != nil {
			return ds, err
		}
		ds.Source = uri
		if uri != "" {
			d.uri(fp+"dataSource.uri", uri)
		}
		if uri == "" {
			ds.Source = name
		}
	}
	if f := refs[fColumnLineage]; f != nil {
		if ds.Columns, err = d.columnLineage(fp+"columnLineage", f); err != nil {
			return ds, err
		}
	}
	for _, s := range []struct {
		facet       int
		rows, bytes string
	}{
		{fOutputStatistics, "rowCount", "size"},
		{fInputStatistics, "rowCount", "size"},
		{fDataQualityMetrics, "rowCount", "bytes"},
	} {
		f := ioRefs[s.facet]
		if f == nil {
			continue
		}
		var fm [3]json.RawMessage // rows, bytes, columnMetrics
		d.t.find(f, []string{s.rows, s.bytes, "columnMetrics"}, fm[:])
		iop := path + "." + ioFacets + "." + facetNames[s.facet]
		if s.facet == fDataQualityMetrics && fm[2] == nil {
			d.tolerate(iop, TolerateNoColumnMetrics)
		}
		rows, err := d.integer(iop+"."+s.rows, fm[0])
		if err != nil {
			return ds, err
		}
		size, err := d.integer(iop+"."+s.bytes, fm[1])
		if err != nil {
			return ds, err
		}
		if ds.RowCount == nil {
			ds.RowCount = rows
		}
		if ds.Bytes == nil {
			ds.Bytes = size
		}
	}
	return ds, nil
}

// integer reads an optional integer field.
func (d *decoder) integer(path string, raw json.RawMessage) (*int64, error) {
	if raw == nil || string(raw) == "null" {
		return nil, nil
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		if f, ferr := strconv.ParseFloat(string(raw), 64); ferr == nil && f == float64(int64(f)) && f >= -1<<62 && f <= 1<<62 {
			n := int64(f) // 1.0 or 1e3: an integer to JSON Schema
			return &n, nil
		}
		return nil, fieldErr(path, "want an integer, got %s", string(truncate(raw, 40)))
	}
	return &n, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return append(b[:n:n], "…"...)
	}
	return b
}

func (d *decoder) columnLineage(path string, raw json.RawMessage) ([]ColumnEdge, error) {
	var f [2]json.RawMessage // fields, dataset
	d.t.find(raw, clKeys, f[:])
	var out []ColumnEdge
	fields, err := d.object(path+".fields", f[0])
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(fields) {
		var fm [2]json.RawMessage // inputFields, transformationType
		if _, err := d.fields("", fields[name], clFieldKeys, fm[:]); err != nil {
			_, err = d.fields(path+".fields."+name, fields[name], clFieldKeys, fm[:])
			return nil, err
		}
		in := fm[0]
		if in == nil {
			return nil, fieldErr(path+".fields."+name+".inputFields", "required: the input fields column %q derives from", name)
		}
		legacy, err := d.strAt(path+".fields."+name, ".transformationType", fm[1], false)
		if err != nil {
			return nil, err
		}
		if out, err = d.inputFields(out, path+".fields."+name+".inputFields", in, name, legacy); err != nil {
			return nil, err
		}
	}
	if f[1] != nil {
		if out, err = d.inputFields(out, path+".dataset", f[1], "", ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// inputFields appends the edges of an inputFields list to out. Paths are
// made only for errors and tolerances.
func (d *decoder) inputFields(out []ColumnEdge, path string, raw json.RawMessage, field, legacy string) ([]ColumnEdge, error) {
	if raw[0] != '[' {
		return nil, fieldErr(path, "want an array of input fields, got %s", kindOf(raw))
	}
	it := d.t.iter(raw)
	for i := 0; ; i++ {
		_, r, ok := it.next()
		if !ok {
			break
		}
		at := func() string { return path + "[" + strconv.Itoa(i) + "]" }
		var m [4]json.RawMessage // namespace, name, field, transformations
		if _, err := d.fields("", r, inFieldKeys, m[:]); err != nil {
			_, err = d.fields(at(), r, inFieldKeys, m[:])
			return nil, err
		}
		e := ColumnEdge{Field: field, Transformation: legacy}
		var err error
		if isStr(m[0]) && isStr(m[1]) {
			e.InputNamespace, e.InputName = unquoteRaw(m[0]), unquoteRaw(m[1])
		}
		if !isStr(m[0]) || !isStr(m[1]) || len(e.InputNamespace) > maxNameLen || len(e.InputName) > maxNameLen {
			if e.InputNamespace, e.InputName, err = d.name(at(), m[0], m[1]); err != nil {
				return nil, err
			}
		}
		if !isStr(m[2]) {
			_, err := d.str(at()+".field", m[2], true)
			return nil, err
		}
		e.InputField = unquoteRaw(m[2])
		if t := m[3]; t != nil {
			if t[0] != '[' {
				return nil, fieldErr(at()+".transformations", "want an array, got %s", kindOf(t))
			}
			var words []string
			tit := d.t.iter(t)
			for j := 0; ; j++ {
				_, traw, ok := tit.next()
				if !ok {
					break
				}
				tp := func() string { return at() + ".transformations[" + strconv.Itoa(j) + "]" }
				var tr [2]json.RawMessage // type, subtype
				if _, err := d.fields("", traw, transformKey, tr[:]); err != nil {
					_, err = d.fields(tp(), traw, transformKey, tr[:])
					return nil, err
				}
				if !isStr(tr[0]) {
					_, err := d.str(tp()+".type", tr[0], true)
					return nil, err
				}
				if tr[1] != nil && !isStr(tr[1]) {
					_, err := d.str(tp()+".subtype", tr[1], false)
					return nil, err
				}
				typ, sub := unquoteRaw(tr[0]), ""
				if tr[1] != nil {
					sub = unquoteRaw(tr[1])
				}
				if sub != "" {
					typ += "/" + sub
				}
				words = append(words, typ)
			}
			if len(words) > 0 {
				e.Transformation = strings.Join(words, ",")
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// isStr reports whether raw is a JSON string.
func isStr(raw json.RawMessage) bool { return raw != nil && raw[0] == '"' }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// errDup is the message of a key that appears twice.
var errJSON = errors.New("malformed JSON")

// errDupKey is a key twice in one object, found by a scan that does not
// note the path (checkJSON scans again for it).
var errDupKey = errors.New("a key twice in one object")
