package prov_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prov-dev/prov"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaFile = "docs/record.schema.json"

// sampleRecord is the record of the issue that introduced the format.
const sampleRecord = `{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"migration:0042","kind":"migration","release":"v1.0"},"agent":{"id":"svc:api"},"generated":[{"id":"pg:app/public.users/{\"id\":42}","op":"update"}],"reason":"bad photo URL migration"}`

// compileSchema compiles docs/record.schema.json the way a strict validator
// would: draft 2020-12 with format assertions on.
func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	id, _ := doc.(map[string]any)["$id"].(string)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	return sch
}

// schemaVerdict validates data with the schema. ok is false when data is not
// JSON (RFC 8259 JSON is UTF-8), where a schema has nothing to say.
func schemaVerdict(sch *jsonschema.Schema, data []byte) (err error, ok bool) {
	if !utf8.Valid(data) {
		return nil, false
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, false
	}
	return sch.Validate(inst), true
}

func readVectors(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join("testdata", "records", dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, name := range names {
		if strings.HasSuffix(name, ".txt") {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(name)] = data
	}
	return out
}

// TestValidRecords: every vector in testdata/records/valid is accepted by
// ParseRecord and by the schema, and survives a round trip through Go.
func TestValidRecords(t *testing.T) {
	sch := compileSchema(t)
	vectors := readVectors(t, "valid")
	if len(vectors) < 10 {
		t.Fatalf("%d valid vectors, want at least 10", len(vectors))
	}
	for _, name := range slices.Sorted(maps.Keys(vectors)) {
		data := vectors[name]
		t.Run(name, func(t *testing.T) {
			r, err := prov.ParseRecord(data)
			if err != nil {
				t.Fatalf("ParseRecord: %v", err)
			}
			if err := r.Validate(); err != nil {
				t.Errorf("Validate after ParseRecord: %v", err)
			}
			serr, ok := schemaVerdict(sch, data)
			if !ok {
				t.Fatal("the schema cannot read a record that ParseRecord accepted")
			}
			if serr != nil {
				t.Errorf("ParseRecord accepts, the schema refuses: %v", serr)
			}
			again, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := prov.ParseRecord(again)
			if err != nil {
				t.Fatalf("re-encoded record %s is refused: %v", again, err)
			}
			if again2, _ := json.Marshal(r2); !bytes.Equal(again, again2) {
				t.Errorf("round trip changed the record:\n got %s\nwant %s", again2, again)
			}
		})
	}
}

// TestInvalidRecords: every vector in testdata/records/invalid is refused by
// ParseRecord with kind Invalid and a message that contains the first line of
// its .txt file (which names the field), and by the schema too, except where
// the .txt says "beyond schema:" — there the schema must accept, so that the
// list of what a schema cannot check stays exact.
func TestInvalidRecords(t *testing.T) {
	sch := compileSchema(t)
	vectors := readVectors(t, "invalid")
	if len(vectors) < 20 {
		t.Fatalf("%d invalid vectors, want at least 20", len(vectors))
	}
	for _, name := range slices.Sorted(maps.Keys(vectors)) {
		data := vectors[name]
		t.Run(name, func(t *testing.T) {
			side, err := os.ReadFile(filepath.Join("testdata", "records", "invalid", strings.TrimSuffix(name, filepath.Ext(name))+".txt"))
			if err != nil {
				t.Fatalf("every invalid vector needs a .txt naming the expected error: %v", err)
			}
			lines := strings.Split(strings.TrimRight(string(side), "\n"), "\n")
			want := lines[0]
			beyond := slices.ContainsFunc(lines[1:], func(l string) bool { return strings.HasPrefix(l, "beyond schema: ") })

			_, err = prov.ParseRecord(data)
			switch {
			case err == nil:
				t.Fatalf("ParseRecord accepted %q", data)
			case prov.KindOf(err) != prov.Invalid:
				t.Errorf("kind %q, want %q (%v)", prov.KindOf(err), prov.Invalid, err)
			case !strings.Contains(err.Error(), want):
				t.Errorf("error %q does not contain %q", err, want)
			}

			serr, ok := schemaVerdict(sch, data)
			switch {
			case !ok:
				if beyond {
					t.Error(`not JSON: the schema cannot speak, drop the "beyond schema" line`)
				}
			case beyond && serr != nil:
				t.Errorf("marked beyond schema, but the schema refuses it too (remove the mark): %v", serr)
			case beyond && !isBeyondSchema(err):
				t.Errorf("marked beyond schema, but %q is not one of the reasons in beyondSchema", err)
			case !beyond && serr == nil:
				t.Errorf("ParseRecord refuses (%v), the schema accepts", err)
			}
		})
	}
}

// TestSampleRecord pins the sample record: it is a valid vector and
// the example of docs/RECORD.md, and it decodes to what it says.
func TestSampleRecord(t *testing.T) {
	doc, err := os.ReadFile("docs/RECORD.md")
	if err != nil {
		t.Fatal(err)
	}
	if _, example, ok := strings.Cut(string(doc), "```json\n"); !ok || !strings.HasPrefix(example, sampleRecord+"\n```") {
		t.Errorf("docs/RECORD.md's example is not the sample record")
	}
	data, err := os.ReadFile("testdata/records/valid/issue-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(bytes.TrimSpace(data)); got != sampleRecord {
		t.Fatalf("issue-sample.json holds\n%s\nwant\n%s", got, sampleRecord)
	}
	r, err := prov.ParseRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != prov.TypeChange || r.Activity.ID != "migration:0042" || r.Activity.Kind != "migration" ||
		r.Agent.ID != "svc:api" || len(r.Generated) != 1 || r.Generated[0].ID != `pg:app/public.users/{"id":42}` ||
		r.Generated[0].Op != prov.OpUpdate || r.Time.Unix() != 1767323045 {
		t.Errorf("decoded %+v", r)
	}
}

// TestSchemaMatchesGo: the schema's enums are Go's lists, and each object of
// the schema has exactly the fields of the Go type it describes.
func TestSchemaMatchesGo(t *testing.T) {
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	defs := s["$defs"].(map[string]any)
	props := func(obj any) map[string]any { return obj.(map[string]any)["properties"].(map[string]any) }
	enum := func(v any) []string {
		var out []string
		for _, e := range v.(map[string]any)["enum"].([]any) {
			out = append(out, e.(string))
		}
		return out
	}
	if got := enum(props(s)["type"]); !slices.Equal(got, prov.RecordTypes) {
		t.Errorf("schema types %q, Go %q", got, prov.RecordTypes)
	}
	if got := enum(props(defs["generatedEntity"])["op"]); !slices.Equal(got, prov.Ops) {
		t.Errorf("schema ops %q, Go %q", got, prov.Ops)
	}
	for _, c := range []struct {
		obj  any
		typ  reflect.Type
		omit string
	}{
		{s, reflect.TypeFor[prov.Record](), ""},
		{defs["activity"], reflect.TypeFor[prov.Activity](), ""},
		{defs["agent"], reflect.TypeFor[prov.Agent](), ""},
		{defs["generatedEntity"], reflect.TypeFor[prov.EntityRef](), ""},
		{defs["usedEntity"], reflect.TypeFor[prov.EntityRef](), "op"},
		{defs["derivation"], reflect.TypeFor[prov.Derivation](), ""},
	} {
		var fields []string
		for i := range c.typ.NumField() {
			name, _, _ := strings.Cut(c.typ.Field(i).Tag.Get("json"), ",")
			if name != c.omit {
				fields = append(fields, name)
			}
		}
		slices.Sort(fields)
		if got := slices.Sorted(maps.Keys(props(c.obj))); !slices.Equal(got, fields) {
			t.Errorf("%s: schema properties %q, Go fields %q", c.typ, got, fields)
		}
		if c.obj.(map[string]any)["additionalProperties"] != false {
			t.Errorf("%s: the schema must refuse unknown fields", c.typ)
		}
	}
}

// TestParseRecordLimits: lengths count characters, as JSON Schema does, and
// the limit is inclusive.
func TestParseRecordLimits(t *testing.T) {
	rec := func(reason string) []byte {
		b, _ := json.Marshal(map[string]string{"type": "audit", "time": "2026-01-02T03:04:05Z", "reason": reason})
		return b
	}
	for _, c := range []struct {
		name   string
		reason string
		ok     bool
	}{
		{"ascii at limit", strings.Repeat("a", 64<<10), true},
		{"ascii over limit", strings.Repeat("a", 64<<10+1), false},
		{"4-byte runes at limit", strings.Repeat("🚀", 64<<10), true},
		{"4-byte runes over limit", strings.Repeat("🚀", 64<<10+1), false},
	} {
		_, err := prov.ParseRecord(rec(c.reason))
		if (err == nil) != c.ok {
			t.Errorf("%s: err = %v, want ok = %v", c.name, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), `field "reason": too long`) {
			t.Errorf("%s: error %q does not name the field", c.name, err)
		}
	}
}

func BenchmarkParseRecord(b *testing.B) {
	data := []byte(sampleRecord)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := prov.ParseRecord(data); err != nil {
			b.Fatal(err)
		}
	}
}
