package prov

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// DefaultMaxRecordBytes is the default limit on the size of one stored record.
const DefaultMaxRecordBytes = 1 << 20

// Record types. A record states one thing that happened; records are
// immutable and corrections are new records.
const (
	TypeChange     = "change"     // a change to entities (rows, files, …) made by an activity
	TypeActivity   = "activity"   // an activity began, ended or is described
	TypeLineage    = "lineage"    // a pipeline run event (inputs, outputs)
	TypeEntity     = "entity"     // an entity or a version of it is described
	TypeQuarantine = "quarantine" // an entity is marked or cleared as poisoned
	TypeKey        = "key"        // an agent's signing key is added, rotated or revoked
	TypeAudit      = "audit"      // someone read provenance
)

// RecordTypes lists the accepted values of Record.Type.
var RecordTypes = []string{TypeChange, TypeActivity, TypeLineage, TypeEntity, TypeQuarantine, TypeKey, TypeAudit}

// Entity operations, as found in EntityRef.Op of generated entities.
const (
	OpInsert   = "insert"
	OpUpdate   = "update"
	OpDelete   = "delete" // the entity was invalidated (PROV wasInvalidatedBy)
	OpTruncate = "truncate"
	OpWrite    = "write" // a whole new version of a file, dataset or model
)

// Ops lists the accepted values of EntityRef.Op.
var Ops = []string{OpInsert, OpUpdate, OpDelete, OpTruncate, OpWrite}

// Record is one log entry in W3C PROV terms: an activity (how), associated
// with an agent (by whom), used some entities and generated others (what),
// at a time (when), for a reason (why), somewhere (where).
//
// The log stores the bytes a producer sent, exactly; Record is their decoded
// form. Unknown fields are refused everywhere except in the free-form objects
// Activity.Parameters and Attributes.
type Record struct {
	Type        string          `json:"type"`
	ID          string          `json:"id,omitempty"` // producer's event id: retries with the same id are one event
	Time        time.Time       `json:"time"`         // when it happened (RFC 3339, with a zone)
	Activity    *Activity       `json:"activity,omitempty"`
	Agent       *Agent          `json:"agent,omitempty"`
	Reason      string          `json:"reason,omitempty"` // why, in words
	Ticket      string          `json:"ticket,omitempty"` // why, as a reference (issue, incident, change request)
	Used        []EntityRef     `json:"used,omitempty"`
	Generated   []EntityRef     `json:"generated,omitempty"`
	Derivations []Derivation    `json:"derivations,omitempty"`
	InformedBy  []string        `json:"informed_by,omitempty"` // ids of activities that informed this one
	Attributes  json.RawMessage `json:"attributes,omitempty"`  // free-form object
}

// Activity is what produced or changed entities: a release, a migration, a
// job run, a request, a script, a fix or a revert.
type Activity struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind,omitempty"` // release, migration, job, run, request, script, fix, revert, …
	Name        string          `json:"name,omitempty"`
	Release     string          `json:"release,omitempty"`
	CodeVersion string          `json:"code_version,omitempty"` // e.g. a git commit
	Parent      string          `json:"parent,omitempty"`       // id of the enclosing activity (a migration's release)
	Host        string          `json:"host,omitempty"`         // where
	Service     string          `json:"service,omitempty"`      // where
	Started     *time.Time      `json:"started,omitempty"`
	Ended       *time.Time      `json:"ended,omitempty"`
	Status      string          `json:"status,omitempty"` // running, succeeded, failed, …
	ExitCode    *int            `json:"exit_code,omitempty"`
	Command     []string        `json:"command,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"` // free-form object
}

// Agent is who is responsible: a user, a service account, a CI runner.
type Agent struct {
	ID   string `json:"id"`
	Kind string `json:"kind,omitempty"` // person, service, ci, …
	Name string `json:"name,omitempty"`
}

// EntityRef names an entity that an activity used or generated. Row entities
// are written pg:<db>/<schema>.<table>/<primary key as JSON>.
type EntityRef struct {
	ID      string   `json:"id"`
	Op      string   `json:"op,omitempty"`      // generated only: insert, update, delete, truncate, write
	Digest  string   `json:"digest,omitempty"`  // sha256:<64 hex> of the entity's content after the activity
	Version string   `json:"version,omitempty"` // a version label, when the entity has one
	Role    string   `json:"role,omitempty"`    // the part the entity played
	Columns []string `json:"columns,omitempty"` // the columns (fields) that changed
}

// Derivation states that an entity (or some of its columns) was derived from
// another (PROV wasDerivedFrom).
type Derivation struct {
	Generated   string   `json:"generated"`
	Used        string   `json:"used"`
	Columns     []string `json:"columns,omitempty"`      // columns of Generated
	UsedColumns []string `json:"used_columns,omitempty"` // columns of Used they came from
}

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	kindRE   = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
)

// Field limits, so that one field cannot take the whole record budget silently.
const (
	maxIDLen   = 4096
	maxTextLen = 64 << 10
)

// ParseRecord decodes and validates one record against the rules of
// docs/record.schema.json and those a schema cannot state (listed in its
// description: repeated keys, an activity that ended before it started …).
// It returns an *Error of kind Invalid that names the field and says what is
// wrong; data is not retained.
func ParseRecord(data []byte) (*Record, error) {
	data = bytes.Trim(data, jsonSpace)
	if len(data) == 0 {
		return nil, Errorf(Invalid, "empty record: want a JSON object")
	}
	if !utf8.Valid(data) {
		return nil, Errorf(Invalid, "record is not valid UTF-8")
	}
	if data[0] != '{' {
		return nil, Errorf(Invalid, "record must be a JSON object, got %s", JSONKind(data[0]))
	}
	r, err := decodeRecord(data)
	if err == errFallback {
		return parseRecordReference(data)
	}
	if err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// parseRecordReference is ParseRecord's reference path, for data that
// decodeRecord leaves to encoding/json (malformed JSON, values of the wrong
// type, …) so that its messages are encoding/json's: checkStrict, then
// encoding/json's decoder, then Validate.
func parseRecordReference(data []byte) (*Record, error) {
	if err := checkStrict(data); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return nil, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, Errorf(Invalid, "unexpected data after the record's closing brace: one record per line")
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// Validate checks the record's fields against the rules of docs/record.schema.json.
func (r *Record) Validate() error {
	v := &validator{}
	switch {
	case r.Type == "":
		v.fail("type", "required: one of %s", strings.Join(RecordTypes, ", "))
	case !slices.Contains(RecordTypes, r.Type):
		v.fail("type", "unknown type %q: want one of %s", r.Type, strings.Join(RecordTypes, ", "))
	}
	if r.Time.IsZero() {
		v.fail("time", `required: when it happened, RFC 3339 with a zone (e.g. "2026-01-02T03:04:05Z")`)
	}
	v.text("id", r.ID, maxIDLen)
	v.text("reason", r.Reason, maxTextLen)
	v.text("ticket", r.Ticket, maxIDLen)
	if a := r.Activity; a != nil {
		v.id("activity.id", a.ID)
		v.kind("activity.kind", a.Kind)
		for _, f := range []struct{ name, val string }{
			{"activity.name", a.Name}, {"activity.release", a.Release}, {"activity.code_version", a.CodeVersion},
			{"activity.parent", a.Parent}, {"activity.host", a.Host}, {"activity.service", a.Service},
			{"activity.status", a.Status},
		} {
			v.text(f.name, f.val, maxIDLen)
		}
		if a.Started != nil && a.Ended != nil && a.Ended.Before(*a.Started) {
			v.fail("activity.ended", "is before activity.started")
		}
		v.object("activity.parameters", a.Parameters)
	}
	if a := r.Agent; a != nil {
		v.id("agent.id", a.ID)
		v.kind("agent.kind", a.Kind)
		v.text("agent.name", a.Name, maxIDLen)
	}
	for i, e := range r.Used {
		v.entity(fmt.Sprintf("used[%d]", i), e, false)
	}
	for i, e := range r.Generated {
		v.entity(fmt.Sprintf("generated[%d]", i), e, true)
	}
	for i, d := range r.Derivations {
		field := fmt.Sprintf("derivations[%d]", i)
		v.id(field+".generated", d.Generated)
		v.id(field+".used", d.Used)
		v.columns(field+".columns", d.Columns)
		v.columns(field+".used_columns", d.UsedColumns)
	}
	for i, id := range r.InformedBy {
		v.id(fmt.Sprintf("informed_by[%d]", i), id)
	}
	v.object("attributes", r.Attributes)
	switch r.Type {
	case TypeChange:
		if len(r.Generated) == 0 {
			v.fail("generated", "a change record must name at least one generated entity (what changed)")
		}
	case TypeActivity:
		if r.Activity == nil {
			v.fail("activity", "an activity record must describe its activity")
		}
	}
	return v.err
}

type validator struct{ err error }

func (v *validator) fail(field, format string, args ...any) {
	if v.err == nil {
		v.err = Errorf(Invalid, "field %q: %s", field, fmt.Sprintf(format, args...))
	}
}

// text checks a length in characters (Unicode code points), as JSON
// Schema's maxLength counts them.
func (v *validator) text(field, s string, max int) {
	if len(s) > max { // a string of at most max bytes has at most max characters
		if n := utf8.RuneCountInString(s); n > max {
			v.fail(field, "too long (%d characters, at most %d)", n, max)
		}
	}
}

func (v *validator) columns(field string, cols []string) {
	for i, c := range cols {
		if c == "" {
			v.fail(fmt.Sprintf("%s[%d]", field, i), "empty column name")
		}
	}
}

func (v *validator) id(field, s string) {
	if strings.TrimSpace(s) == "" {
		v.fail(field, "required: a non-empty identifier")
		return
	}
	v.text(field, s, maxIDLen)
}

func (v *validator) kind(field, s string) {
	if s != "" && !kindRE.MatchString(s) {
		v.fail(field, "%q is not a kind: want a lower-case word such as migration, release, job, request, script, fix, revert", s)
	}
}

func (v *validator) object(field string, raw json.RawMessage) {
	if raw != nil && !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		v.fail(field, "must be a JSON object")
	}
}

func (v *validator) entity(field string, e EntityRef, generated bool) {
	v.id(field+".id", e.ID)
	switch {
	case e.Op == "":
	case !generated:
		v.fail(field+".op", "only generated entities have an operation")
	case !slices.Contains(Ops, e.Op):
		v.fail(field+".op", "unknown operation %q: want one of %s", e.Op, strings.Join(Ops, ", "))
	}
	if e.Digest != "" && !digestRE.MatchString(e.Digest) {
		v.fail(field+".digest", "%q is not a digest: want sha256: followed by 64 lower-case hex digits", e.Digest)
	}
	v.text(field+".version", e.Version, maxIDLen)
	v.text(field+".role", e.Role, maxIDLen)
	v.columns(field+".columns", e.Columns)
}

// jsonSpace is the white space that JSON allows around a value (RFC 8259).
const jsonSpace = " \t\r\n"

// timeRE is the RFC 3339 form that record times take, the same as the
// schema's pattern: upper-case T and Z, no leap second, an offset within
// ±23:59. Go's time parser alone also takes "," before a fraction and
// offsets such as +24:00.
var timeRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`)

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	timeType       = reflect.TypeFor[time.Time]()
	recordType     = reflect.TypeFor[Record]()
	// recordFields maps each struct type a record is made of to its fields
	// by JSON name.
	recordFields = fieldsOf(recordType, map[reflect.Type]map[string]fieldInfo{})
)

type fieldInfo struct {
	index int // bit in strictScan.object's set of seen fields
	typ   reflect.Type
}

func fieldsOf(t reflect.Type, m map[reflect.Type]map[string]fieldInfo) map[reflect.Type]map[string]fieldInfo {
	for t != rawMessageType && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice) {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == timeType || m[t] != nil {
		return m
	}
	fields := map[string]fieldInfo{}
	m[t] = fields
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields[name] = fieldInfo{index: i, typ: f.Type}
		fieldsOf(f.Type, m)
	}
	return m
}

// checkStrict refuses what encoding/json lets through but a record must not
// hold, so that ParseRecord and docs/record.schema.json agree: a key that
// names a field only when case is ignored, a key twice in one object (two
// parsers could read two different records from the same bytes), null or ""
// as the value of a field (a field that is present has a value), null in a
// list, and a time that is not in the schema's RFC 3339 form. Inside
// attributes and activity.parameters only repeated keys are refused.
//
// It runs before the decoder, so that its errors can name the field with its
// path; malformed JSON and values of the wrong type are left to the decoder.
func checkStrict(data []byte) error {
	s := &strictScan{data: data, path: make([]pathElem, 0, 8)}
	if err := s.value(recordType); err != errSyntax {
		return err
	}
	return nil
}

// errSyntax stops a strictScan at malformed JSON: the decoder reports it.
var errSyntax = errors.New("malformed JSON")

// maxFreeDepth bounds the nesting of free-form values that strictScan
// follows (encoding/json refuses more than 10000 levels anyway).
const maxFreeDepth = 10000

// strictScan is a small JSON scanner that follows a record's shape.
type strictScan struct {
	data []byte
	pos  int
	path []pathElem // where the scan is, for messages
}

type pathElem struct {
	key     []byte // a member's quoted key; nil for a list element
	escaped bool
	index   int
}

// field names the current position as Validate does: activity.kind, used[0].id.
func (s *strictScan) field() string {
	var b strings.Builder
	for i, e := range s.path {
		if e.key == nil {
			fmt.Fprintf(&b, "[%d]", e.index)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		k, _ := unquote(e.key, e.escaped)
		b.WriteString(k)
	}
	return b.String()
}

func (s *strictScan) fail(format string, args ...any) error {
	return Errorf(Invalid, "field %q: %s", s.field(), fmt.Sprintf(format, args...))
}

func (s *strictScan) peek() byte {
	for ; s.pos < len(s.data); s.pos++ {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\r', '\n':
		default:
			return c
		}
	}
	return 0
}

// str scans the string at s.pos and returns it quoted, and whether it has
// escapes.
func (s *strictScan) str() (quoted []byte, escaped bool, err error) {
	if s.peek() != '"' {
		return nil, false, errSyntax
	}
	for i := s.pos + 1; i < len(s.data); i++ {
		switch s.data[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			quoted, s.pos = s.data[s.pos:i+1], i+1
			return quoted, escaped, nil
		}
	}
	return nil, false, errSyntax
}

func unquote(quoted []byte, escaped bool) (string, bool) {
	if !escaped {
		return string(quoted[1 : len(quoted)-1]), true
	}
	var v string
	return v, json.Unmarshal(quoted, &v) == nil
}

// next consumes the separator after a member or element: it reports
// whether another follows.
func (s *strictScan) next(end byte) (bool, error) {
	switch s.peek() {
	case ',':
		s.pos++
		return true, nil
	case end:
		s.pos++
		return false, nil
	}
	return false, errSyntax
}

// value checks the value at s.pos, where a t is expected.
func (s *strictScan) value(t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch c := s.peek(); {
	case t == rawMessageType:
		return s.free(0)
	case t == timeType:
		if c != '"' {
			return s.fail(`want a time string, RFC 3339 with a zone (e.g. "2026-01-02T03:04:05Z")`)
		}
		q, esc, err := s.str()
		if err != nil {
			return err
		}
		str, ok := unquote(q, esc)
		if !ok {
			return errSyntax
		}
		if _, err := time.Parse(time.RFC3339, str); err != nil || !timeRE.MatchString(str) {
			return s.fail(`%q is not a time in RFC 3339 form with a zone (e.g. "2026-01-02T03:04:05Z")`, str)
		}
		return nil
	case c == '{' && t.Kind() == reflect.Struct:
		return s.object(recordFields[t])
	case c == '[' && t.Kind() == reflect.Slice:
		return s.list(t.Elem())
	}
	return s.skip()
}

func (s *strictScan) object(fields map[string]fieldInfo) error {
	s.pos++ // {
	if s.peek() == '}' {
		s.pos++
		return nil
	}
	var seen uint64
	for more := true; more; {
		q, esc, err := s.str()
		if err != nil {
			return err
		}
		s.path = append(s.path, pathElem{key: q, escaped: esc})
		var f fieldInfo
		var ok bool
		if esc {
			k, valid := unquote(q, esc)
			if !valid {
				return errSyntax
			}
			f, ok = fields[k]
		} else {
			f, ok = fields[string(q[1:len(q)-1])]
		}
		switch {
		case !ok:
			return Errorf(Invalid, "unknown field %q: not part of a record (field names are lower case; free-form data belongs in \"attributes\" or \"activity.parameters\")", s.field())
		case seen&(1<<f.index) != 0:
			return Errorf(Invalid, "field %q appears twice: a record must say one thing", s.field())
		}
		seen |= 1 << f.index
		if s.peek() != ':' {
			return errSyntax
		}
		s.pos++
		switch c := s.peek(); {
		case c == 'n' && bytes.HasPrefix(s.data[s.pos:], []byte("null")):
			return s.fail("null: a field that is present must have a value")
		case c == '"' && f.typ.Kind() == reflect.String && s.pos+1 < len(s.data) && s.data[s.pos+1] == '"':
			return s.fail("empty string: a field that is present must have a value")
		}
		if err := s.value(f.typ); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		if more, err = s.next('}'); err != nil {
			return err
		}
	}
	return nil
}

func (s *strictScan) list(elem reflect.Type) error {
	s.pos++ // [
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for i, more := 0, true; more; i++ {
		s.path = append(s.path, pathElem{index: i})
		if s.peek() == 'n' && bytes.HasPrefix(s.data[s.pos:], []byte("null")) {
			return s.fail("null is not allowed in a list")
		}
		if err := s.value(elem); err != nil {
			return err
		}
		s.path = s.path[:len(s.path)-1]
		var err error
		if more, err = s.next(']'); err != nil {
			return err
		}
	}
	return nil
}

// free checks a free-form value: only repeated keys are refused.
func (s *strictScan) free(depth int) error {
	if depth > maxFreeDepth {
		return errSyntax
	}
	switch s.peek() {
	case '{':
		s.pos++
		if s.peek() == '}' {
			s.pos++
			return nil
		}
		seen := map[string]bool{}
		for more := true; more; {
			q, esc, err := s.str()
			if err != nil {
				return err
			}
			k, ok := unquote(q, esc)
			if !ok {
				return errSyntax
			}
			s.path = append(s.path, pathElem{key: q, escaped: esc})
			if seen[k] {
				return Errorf(Invalid, "field %q appears twice: a record must say one thing", s.field())
			}
			seen[k] = true
			if s.peek() != ':' {
				return errSyntax
			}
			s.pos++
			if err := s.free(depth + 1); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
			if more, err = s.next('}'); err != nil {
				return err
			}
		}
		return nil
	case '[':
		s.pos++
		if s.peek() == ']' {
			s.pos++
			return nil
		}
		for i, more := 0, true; more; i++ {
			s.path = append(s.path, pathElem{index: i})
			if err := s.free(depth + 1); err != nil {
				return err
			}
			s.path = s.path[:len(s.path)-1]
			var err error
			if more, err = s.next(']'); err != nil {
				return err
			}
		}
		return nil
	}
	return s.skip()
}

// skip passes over the value at s.pos without looking into it.
func (s *strictScan) skip() error {
	switch s.peek() {
	case '"':
		_, _, err := s.str()
		return err
	case '{', '[':
		for depth := 0; s.pos < len(s.data); s.pos++ {
			switch s.data[s.pos] {
			case '"':
				if _, _, err := s.str(); err != nil {
					return err
				}
				s.pos-- // the loop steps past the string's closing quote
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					s.pos++
					return nil
				}
			}
		}
		return errSyntax
	}
	start := s.pos // a number, true, false or null: up to the next delimiter
	for ; s.pos < len(s.data); s.pos++ {
		switch s.data[s.pos] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			if s.pos == start {
				return errSyntax
			}
			return nil
		}
	}
	if s.pos == start {
		return errSyntax
	}
	return nil
}

// decodeError turns encoding/json's errors into sentences that name the field.
func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tim *time.ParseError
	switch {
	case errors.As(err, &syn):
		return Errorf(Invalid, "malformed JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "record"
		}
		return Errorf(Invalid, "field %q: want %s, got %s", field, goTypeWord(typ.Type.String()), typ.Value)
	case errors.As(err, &tim):
		return Errorf(Invalid, `a time is not RFC 3339 with a zone (e.g. "2026-01-02T03:04:05Z"): %q`, tim.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Errorf(Invalid, "malformed JSON: the record ends before its closing brace")
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		return Errorf(Invalid, "unknown field %s: not part of a record (free-form data belongs in \"attributes\" or \"activity.parameters\")", f)
	}
	if strings.Contains(msg, "parsing time") {
		return Errorf(Invalid, `a time is not RFC 3339 with a zone (e.g. "2026-01-02T03:04:05Z"): %s`, msg)
	}
	return Errorf(Invalid, "malformed record: %s", msg)
}

func goTypeWord(t string) string {
	switch {
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "*int"):
		return "an integer"
	case t == "time.Time", t == "*time.Time":
		return "a time string (RFC 3339)"
	case t == "json.RawMessage":
		return "a JSON object"
	}
	return "an object"
}

// JSONKind names, for error messages, the kind of JSON value that starts
// with byte c ("an object", "a string", …).
func JSONKind(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "something that is not JSON"
}
