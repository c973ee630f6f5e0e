package openlineage

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// checkTape holds the tape checkJSON makes of data to skipValue: for every
// object and array, and for slices of data limited as the decoder limits
// them, skip finds the end skipValue finds by reading.
func checkTape(t *testing.T, data []byte) {
	tp, err := checkJSON(data)
	if err != nil {
		return // refused: no tape
	}
	n := 0
	for i, c := range data {
		if c != '{' && c != '[' {
			continue
		}
		want := skipValue(data[i:])
		if inString(data, i) {
			continue
		}
		n++
		if got := tp.skip(data[i:]); got != want {
			t.Fatalf("%q at %d: tape skips %d bytes, reading %d", data, i, got, want)
		}
		if got := tp.skip(data[i : i+want : i+want]); got != want {
			t.Fatalf("%q at %d, limited: tape skips %d bytes, reading %d", data, i, got, want)
		}
		if c := bytes.Clone(data[i:]); tp.skip(c) != want {
			t.Fatalf("%q at %d, a copy: got %d, want %d", data, i, tp.skip(c), want)
		}
	}
	if n != len(tp.spans) {
		t.Fatalf("%q: %d containers, %d on the tape", data, n, len(tp.spans))
	}
}

// inString reports whether data[i] is inside a JSON string.
func inString(data []byte, i int) bool {
	in := false
	for j := 0; j < i; j++ {
		switch {
		case in && data[j] == '\\':
			j++
		case data[j] == '"':
			in = !in
		}
	}
	return in
}

func TestTape(t *testing.T) {
	for _, s := range []string{`{}`, `[]`, `{"a":[1,{"b":"{[}"},[]],"c":{}}`, `[[[["x\"]"]]]]`, ` { "k" : [ { } , [ ] ] } `} {
		checkTape(t, []byte(s))
	}
	files, _ := filepath.Glob("testdata/*.json*")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				checkTape(t, line)
			}
		}
	}
}

func FuzzTape(f *testing.F) {
	f.Add([]byte(`{"a":[1,{"b":"{[}"},[]],"c":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkTape(t, data)
	})
}

// uuidRE is what isUUID checks, as a regular expression.
var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func FuzzIsUUID(f *testing.F) {
	for _, s := range []string{"0195a000-0000-7000-8000-000000000002", "0195A000-0000-7000-8000-00000000000F", "0195a000-0000-7000-8000-00000000000g",
		"0195a000-0000-7000-8000_000000000002", "0195a000-0000-7000-8000-0000000000021", "run_id", "", "0195a000000070008000000000000002----"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isUUID(s), uuidRE.MatchString(s); got != want {
			t.Fatalf("isUUID(%q) = %v, the expression says %v", s, got, want)
		}
	})
}

// timeRE is what isTime checks, as a regular expression.
var timeRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:?[0-9]{2})?$`)

func FuzzIsTime(f *testing.F) {
	for _, s := range []string{"2026-03-01T10:05:00Z", "2026-03-01T10:05:00.123456789+01:00", "2026-03-01T10:05:00.1234567890Z", "2026-03-01T10:05:00.",
		"2026-03-01T10:05:00+0100", "2026-03-01T10:05:00-01:0", "2026-03-01T10:05:00", "2026-03-01 10:05:00Z", "2026-03-01T10:05:00ZZ", "٢026-03-01T10:05:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isTime(s), timeRE.MatchString(s); got != want {
			t.Fatalf("isTime(%q) = %v, the expression says %v", s, got, want)
		}
	})
}
