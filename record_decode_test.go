package prov

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceParse is ParseRecord as it was before decodeRecord: checkStrict,
// then encoding/json's decoder, then Validate.
func referenceParse(data []byte) (*Record, error) {
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
	return parseRecordReference(data)
}

// decodeSeeds are records that exercise the decoder's corners: escapes,
// numbers, times, free-form values, syntax errors.
var decodeSeeds = []string{
	`{"type":"audit","time":"2026-01-02T03:04:05Z","reason":"a\"b\\c\/d\b\f\n\r\t\u0041\u00e9\u20ac\ud83d\ude00"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z","reason":"\ud83d x \ude00 \ud83d\u0041 \ud83d\ud83d\ude00"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z","reason":"\u0000 \u001F é €"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z","reason":"tab	inside"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z","reason":"bad \x escape"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z","reason":"bad \u12G4 escape"}`,
	`{"typ\u0065":"audit","time":"2026-01-02T03:04:05Z"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05.123456789123+05:30"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05-00:00"}`,
	`{"type":"audit","time":"2026-02-30T03:04:05Z"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05\u005a"}`,
	`{"type":"audit","time":"2026-01-02t03:04:05Z"}`,
	`{"type":"audit","time":"0000-01-01T00:00:00Z"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05+23:59"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05.Z"}`,
	`{"type":"audit","time":12}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","exit_code":-0,"started":"2026-01-02T03:04:05Z","ended":"2026-01-02T03:04:06+01:00"}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","exit_code":1.0}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","exit_code":1e2}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","exit_code":9223372036854775808}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","exit_code":-9223372036854775808}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","exit_code":01}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","exit_code":"1"}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","command":["x","",  "y"],"parameters":{"a":[1,-2.5e+3,true,false,null,"s",{"b":{}}],"c":[]}}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","parameters":{"a":1,"\u0061":2}}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","parameters":[1]}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":{"id":"a","parameters":tru}}`,
	`{"type":"activity","time":"2026-01-02T03:04:05Z","activity":"a"}`,
	`{"type":"change","time":"2026-01-02T03:04:05Z","generated":[{"id":"e","op":"write","columns":["a"]}],"used":[],"derivations":[{"generated":"e","used":"f","columns":[],"used_columns":["b"]}],"informed_by":["x"]}`,
	`{"type":"change","time":"2026-01-02T03:04:05Z","generated":[]}`,
	`{"type":"change","time":"2026-01-02T03:04:05Z","generated":{"id":"e"}}`,
	`{"type":"change","time":"2026-01-02T03:04:05Z","generated":["e"]}`,
	`{"type":"change","time":"2026-01-02T03:04:05Z","generated":[{"id":"e"}],"colour":1}`,
	`{"type":5,"time":"2026-01-02T03:04:05Z","colour":1}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z","attributes":{"k":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z","attributes":{"a":1,"a":2}}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z","attributes":"x"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z","attributes":12}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z"} `,
	`{"type":"audit","time":"2026-01-02T03:04:05Z"}{}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z"}x`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z",}`,
	`{"type":"audit" "time":"2026-01-02T03:04:05Z"}`,
	`{"type":"audit","time":"2026-01-02T03:04:05Z"`,
	`{"type":"audit","agent":{"id":"a","kind":"ci","name":"n"},"time":"2026-01-02T03:04:05Z"}`,
}

func init() {
	var b strings.Builder
	b.WriteString(`{"type":"audit","time":"2026-01-02T03:04:05Z","attributes":{`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmtKey := strconv.Quote("k" + strconv.Itoa(i%39))
		b.WriteString(fmtKey + ":" + strconv.Itoa(i))
	}
	b.WriteString(`}}`)
	decodeSeeds = append(decodeSeeds, b.String(), strings.Replace(b.String(), `"k0":39`, `"k39":39`, 1))
}

// decodeCorpus is every record vector, every seed of FuzzParseRecord's
// corpus and decodeSeeds.
func decodeCorpus(t testing.TB) [][]byte {
	var out [][]byte
	for _, s := range decodeSeeds {
		out = append(out, []byte(s))
	}
	names, _ := filepath.Glob(filepath.Join("testdata", "records", "*", "*.json"))
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	for _, name := range append(names, seeds...) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(data), "go test fuzz v1\n") {
			lit := strings.TrimSpace(strings.TrimPrefix(string(data), "go test fuzz v1\n"))
			if !strings.HasPrefix(lit, "[]byte(") || !strings.HasSuffix(lit, ")") {
				continue
			}
			s, err := strconv.Unquote(lit[len("[]byte(") : len(lit)-1])
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			data = []byte(s)
		}
		out = append(out, data)
	}
	if len(out) < len(decodeSeeds)+20 {
		t.Fatalf("only %d inputs: vectors not found", len(out))
	}
	return out
}

// checkDecode: ParseRecord gives the verdict, message and Record of the
// reference path, and whenever decodeRecord accepts, encoding/json decodes
// the same Record.
func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	got, gerr := ParseRecord(data)
	want, werr := referenceParse(data)
	switch {
	case (gerr == nil) != (werr == nil):
		t.Fatalf("%q: ParseRecord says %v, the reference %v", data, gerr, werr)
	case gerr != nil && gerr.Error() != werr.Error():
		t.Fatalf("%q: ParseRecord says\n\t%v\nthe reference\n\t%v", data, gerr, werr)
	case !reflect.DeepEqual(got, want):
		t.Fatalf("%q: ParseRecord decodes\n\t%#v\nthe reference\n\t%#v", data, got, want)
	}
	trimmed := bytes.Trim(data, jsonSpace)
	if len(trimmed) == 0 || trimmed[0] != '{' || !utf8.Valid(trimmed) {
		return
	}
	fast, ferr := decodeRecord(trimmed)
	var std Record
	if serr := json.Unmarshal(trimmed, &std); ferr == nil && serr == nil && !reflect.DeepEqual(*fast, std) {
		t.Fatalf("%q: decodeRecord decodes\n\t%#v\nencoding/json\n\t%#v", data, *fast, std)
	}
	if ferr == nil && !json.Valid(trimmed) {
		t.Fatalf("%q: decodeRecord accepts what is not JSON", data)
	}
}

func TestDecodeRecordMatchesReference(t *testing.T) {
	fast := 0
	for _, data := range decodeCorpus(t) {
		checkDecode(t, data)
		if _, err := decodeRecord(bytes.Trim(data, jsonSpace)); err != errFallback {
			fast++
		}
	}
	if fast == 0 {
		t.Fatal("decodeRecord decided nothing")
	}
}

// FuzzDecodeRecord: ParseRecord behaves exactly as the reference path
// (checkStrict, then encoding/json), and decodes what encoding/json decodes.
func FuzzDecodeRecord(f *testing.F) {
	for _, data := range decodeCorpus(f) {
		f.Add(data)
	}
	f.Fuzz(checkDecode)
}

func TestIsStrictTime(t *testing.T) {
	for _, s := range []string{
		"2026-01-02T03:04:05Z", "2026-01-02T03:04:05.1Z", "2026-01-02T03:04:05.Z", "2026-01-02T23:59:59+23:59",
		"2026-01-02T24:00:00Z", "2026-01-02T19:60:00Z", "2026-01-02T19:00:60Z", "2026-01-02T03:04:05+24:00",
		"2026-01-02T03:04:05+05:60", "2026-01-02T03:04:05z", "2026-01-02 03:04:05Z", "2026-01-02T03:04:05",
		"2026-01-02T03:04:05+0500", "2026-01-02T3:04:05Z", "20260-01-02T03:04:05Z", "2026-1-02T03:04:05Z",
		"2026-01-02T03:04:05,1Z", "2026-01-02T03:04:05.123456789123-11:30", "2026-01-02T03:04:05Zx", "",
		"2026-01-02T03:04:05+05:3", "2026-01-02T03:04:05.1.2Z", "2026-01-02T13:04:05Z", "2026-01-02T20:04:05-20:00",
	} {
		if got, want := isStrictTime(s), timeRE.MatchString(s); got != want {
			t.Errorf("isStrictTime(%q) = %v, timeRE says %v", s, got, want)
		}
	}
}
