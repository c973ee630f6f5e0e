package prov_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/prov-dev/prov"
)

// FuzzParseRecord: ParseRecord never panics and refuses only with kind
// Invalid; what it accepts is valid JSON, passes Validate, is accepted by
// docs/record.schema.json (ParseRecord is never laxer than the schema), and
// survives a round trip through Go's encoder. Seeds: every record vector in
// testdata/records, and the corpus in testdata/fuzz/FuzzParseRecord.
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
