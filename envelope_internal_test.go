package prov

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzEnvelopeFastPath: whatever ParseEnvelope's fast path accepts, the
// reference path (encoding/json) accepts too, as the same envelope. Seeds:
// testdata/envelopes.
func FuzzEnvelopeFastPath(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "envelopes", "*.json"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		data = bytes.Trim(data, jsonSpace)
		fast, ok := fastEnvelope(data)
		if !ok {
			return
		}
		ref, err := parseEnvelopeReference(data)
		if err != nil {
			t.Fatalf("the fast path accepts %q, the reference path refuses it: %v", data, err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("the two paths read %q differently:\n%+v\n%+v", data, fast, ref)
		}
	})
}
