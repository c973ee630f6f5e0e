package prov_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
)

// beyondSchema are the rules ParseRecord keeps that docs/record.schema.json
// cannot state (its description lists them), each as a piece of the error
// message it gives.
var beyondSchema = []string{
	"appears twice",              // a key twice in one object: a schema sees the parsed object
	`field "activity.ended"`,     // ended before started: a schema cannot compare two values
	`field "activity.exit_code"`, // 1.0 or 1e2: to a schema, numbers are values, not spellings
	`field "time": required`,     // Go's zero time written with an offset
}

// FuzzParseRecord: ParseRecord never panics and refuses only with kind
// Invalid; what it accepts is valid JSON, passes Validate, is accepted by
// docs/record.schema.json, and survives a round trip through Go's encoder;
// what it refuses and the schema accepts, it refuses for one of the reasons
// in beyondSchema. Seeds: every record vector in testdata/records, and the
// corpus in testdata/fuzz/FuzzParseRecord.
func FuzzParseRecord(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		names, _ := filepath.Glob(filepath.Join("testdata", "records", dir, "*"))
		for _, name := range names {
			if filepath.Ext(name) == ".txt" {
				continue
			}
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte(sampleRecord))
	sch := compileSchema(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := prov.ParseRecord(data)
		if err != nil {
			if prov.KindOf(err) != prov.Invalid {
				t.Fatalf("error of kind %q: %v", prov.KindOf(err), err)
			}
			// With a repeated key, ParseRecord may stop at a value the schema
			// never sees (it sees the last one).
			if serr, ok := schemaVerdict(sch, data); ok && serr == nil && !isBeyondSchema(err) && !hasRepeatedKey(data) {
				t.Fatalf("the schema accepts %q, ParseRecord refuses: %v", data, err)
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted bytes that are not JSON: %q", data)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("accepted, but Validate says %v", err)
		}
		if serr, ok := schemaVerdict(sch, data); !ok || serr != nil {
			t.Fatalf("accepted, but the schema refuses (readable %v): %v", ok, serr)
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted, but does not encode: %v", err)
		}
		r2, err := prov.ParseRecord(again)
		if err != nil {
			t.Fatalf("accepted %q, but not its re-encoding %q: %v", data, again, err)
		}
		if again2, _ := json.Marshal(r2); !bytes.Equal(again, again2) {
			t.Fatalf("round trip changed the record: %s, then %s", again, again2)
		}
	})
}

func isBeyondSchema(err error) bool {
	return slices.ContainsFunc(beyondSchema, func(s string) bool { return strings.Contains(err.Error(), s) })
}

// hasRepeatedKey reports whether some object in data, which must be JSON,
// has a key twice (found with encoding/json's tokenizer, independently of
// ParseRecord's scanner).
func hasRepeatedKey(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		keys   map[string]bool
		object bool
		atKey  bool // in an object, the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if top != nil && top.object {
				top.atKey = true
			}
			stack = append(stack, &frame{keys: map[string]bool{}, object: tok == json.Delim('{'), atKey: true})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			continue
		}
		if top == nil || !top.object {
			continue
		}
		if top.atKey {
			k := tok.(string)
			if top.keys[k] {
				return true
			}
			top.keys[k] = true
			top.atKey = false
		} else {
			top.atKey = true
		}
	}
}
