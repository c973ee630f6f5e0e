package openlineage_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/tlog"
)

const okEvent = `{"eventType":"COMPLETE","eventTime":"2026-03-01T10:05:00Z","producer":"https://example.com/etl","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent","run":{"runId":"0195a000-0000-7000-8000-000000000002"},"job":{"namespace":"etl","name":"j"},"inputs":[{"namespace":"n","name":"a"}],"outputs":[{"namespace":"n","name":"b","outputFacets":{"outputStatistics":{"_producer":"https://example.com/etl","_schemaURL":"https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet","rowCount":3}}}]}`

// edit replaces old by new in okEvent, once.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(okEvent, old) {
		t.Fatalf("okEvent has no %q", old)
	}
	return strings.Replace(okEvent, old, new, 1)
}

func TestDecodeRefusesNamingTheField(t *testing.T) {
	if _, err := openlineage.Decode([]byte(okEvent)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, event, path, msg string }{
		{"no run id", edit(t, `"runId":"0195a000-0000-7000-8000-000000000002"`, `"x":1`), "run.runId", "required"},
		{"run id a number", edit(t, `"runId":"0195a000-0000-7000-8000-000000000002"`, `"runId":7`), "run.runId", "want a string"},
		{"no job", edit(t, `"job":{"namespace":"etl","name":"j"},`, ``), "job", "required"},
		{"job without name", edit(t, `"namespace":"etl","name":"j"`, `"namespace":"etl"`), "job.name", "required"},
		{"bad event type", edit(t, `"COMPLETE"`, `"DONE"`), "eventType", "not an event type"},
		{"bad time", edit(t, `"2026-03-01T10:05:00Z"`, `"yesterday"`), "eventTime", "not a time"},
		{"no producer", edit(t, `"producer":"https://example.com/etl",`, ``), "producer", "required"},
		{"inputs not an array", edit(t, `"inputs":[{"namespace":"n","name":"a"}]`, `"inputs":{}`), "inputs", "want an array"},
		{"input without namespace", edit(t, `{"namespace":"n","name":"a"}`, `{"name":"a"}`), "inputs[0].namespace", "required"},
		{"facet not an object", edit(t, `"run":{"runId":"0195a000-0000-7000-8000-000000000002"}`, `"run":{"runId":"0195a000-0000-7000-8000-000000000002","facets":{"nominalTime":3}}`), "run.facets.nominalTime", "a facet is an object"},
		{"row count a string", edit(t, `"rowCount":3`, `"rowCount":"3"`), "outputs[0].outputFacets.outputStatistics.rowCount", "want an integer"},
		{"parent without run id", edit(t, `"run":{"runId":"0195a000-0000-7000-8000-000000000002"}`, `"run":{"runId":"0195a000-0000-7000-8000-000000000002","facets":{"parent":{"run":{},"job":{"namespace":"a","name":"b"}}}}`), "run.facets.parent.run.runId", "required"},
		{"key twice", edit(t, `"name":"j"`, `"name":"j","name":"k"`), "job.name", "appears twice"},
		{"key twice, once escaped", edit(t, `"name":"j"`, `"name":"j","n\u0061me":"k"`), "job.name", "appears twice"},
		{"key twice, escaped as HTML", edit(t, `"name":"j"`, `"name":"j","a<b":1,"a\u003cb":2`), "job.a<b", "appears twice"},
		{"key twice in a facet", edit(t, `"rowCount":3`, `"rowCount":3,"rowCount":4`), "outputs[0].outputFacets.outputStatistics.rowCount", "appears twice"},
		{"malformed", okEvent[:len(okEvent)-1], "", "malformed JSON"},
		{"a NUL byte after the event", okEvent + "\x00[", "", "malformed JSON"},
		{"not an object", `[1]`, "", "want a JSON object"},
		{"not an event", `{"eventTime":"2026-03-01T10:05:00Z","producer":"p"}`, "", "not an OpenLineage event"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := openlineage.Decode([]byte(c.event))
			var fe *openlineage.FieldError
			if !errors.As(err, &fe) || !prov.IsKind(err, prov.Invalid) {
				t.Fatalf("got %v, want an Invalid *FieldError", err)
			}
			if fe.Path != c.path || !strings.Contains(fe.Msg, c.msg) {
				t.Errorf("got field %q: %q, want field %q: …%s…", fe.Path, fe.Msg, c.path, c.msg)
			}
		})
	}
}

func TestDecodeTolerates(t *testing.T) {
	for _, c := range []struct{ name, event, what string }{
		{"no schemaURL", edit(t, `"schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",`, ``), openlineage.TolerateNoSchemaURL},
		{"time without zone", edit(t, `"2026-03-01T10:05:00Z"`, `"2026-03-01T10:05:00.123456"`), openlineage.TolerateTimeWithoutZone},
		{"data source not a URI", edit(t, `{"namespace":"n","name":"a"}`, `{"namespace":"n","name":"a","facets":{"dataSource":{"_producer":"https://p","_schemaURL":"https://s","name":"bq","uri":"bigquery"}}}`), openlineage.TolerateNotURI},
		{"run id not a UUID", edit(t, `"0195a000-0000-7000-8000-000000000002"`, `"run_id"`), openlineage.TolerateRunIDNotUUID},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, err := openlineage.Decode([]byte(c.event))
			if err != nil {
				t.Fatal(err)
			}
			if len(e.Tolerated) != 1 || e.Tolerated[0].What != c.what {
				t.Errorf("got %+v, want one %q", e.Tolerated, c.what)
			}
		})
	}
	e, _ := openlineage.Decode([]byte(edit(t, `"2026-03-01T10:05:00Z"`, `"2026-03-01T10:05:00.123456"`)))
	if got := e.Time.Format("2006-01-02T15:04:05.000000Z07:00"); got != "2026-03-01T10:05:00.123456Z" {
		t.Errorf("a time without zone is UTC: got %s", got)
	}
}

// seeds returns the events of testdata/*.jsonl, one per line.
func seeds(t testing.TB) [][]byte {
	var out [][]byte
	for _, name := range []string{"testdata/run.jsonl", "testdata/edge.jsonl"} {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				out = append(out, bytes.Clone(sc.Bytes()))
			}
		}
		f.Close()
	}
	return out
}

// FuzzDecode: Decode never panics; an event it accepts makes a record that
// ParseRecord accepts and that gives the event back, byte for byte; and
// Prepare's entry, made without parsing the record, is the one the log's
// Prepare makes of it; Prepare refuses what Decode refuses, with the same
// error, and its event is Decode's without the facets.
func FuzzDecode(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Add([]byte(okEvent))
	f.Add([]byte("{\n  \"eventTime\": \"2026-03-01T10:05:00\",\n  \"producer\": \"p\",\n  \"job\": {\"namespace\": \"a\", \"name\": \"b\"}\n}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := openlineage.Decode(data)
		if err != nil {
			var fe *openlineage.FieldError
			if !errors.As(err, &fe) || !prov.IsKind(err, prov.Invalid) {
				t.Fatalf("error is not an Invalid *FieldError: %v", err)
			}
			if _, _, perr := openlineage.Prepare(&tlog.Log{}, data); perr == nil || perr.Error() != err.Error() {
				t.Fatalf("Prepare: %v, Decode: %v", perr, err)
			}
			return
		}
		rec, err := openlineage.Record(e)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.ContainsAny(rec, "\r\n") {
			t.Fatalf("the record is not one line: %q", rec)
		}
		if _, err := prov.ParseRecord(rec); err != nil {
			t.Fatalf("record refused: %v\n%s", err, rec)
		}
		l := &tlog.Log{}
		want, err := l.Prepare(rec)
		if err != nil {
			t.Fatal(err)
		}
		pe, got, err := openlineage.Prepare(l, data)
		if err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if !reflect.DeepEqual(pe, withoutFacets(e)) {
			t.Fatalf("Prepare's event differs from Decode's without facets:\n got %+v\nwant %+v", pe, e)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Prepare's entry differs from the log's:\n got %+v\nwant %+v", got, want)
		}
		ev, ok := openlineage.EventOf(rec)
		if !ok || !bytes.Equal(ev, bytes.Trim(data, " \t\r\n")) {
			t.Fatalf("event read back differs:\n%q\n%q", ev, data)
		}
	})
}

// withoutFacets is e with its facets (and its datasets') removed, as
// Prepare decodes it.
func withoutFacets(e *openlineage.Event) *openlineage.Event {
	c := *e
	if e.Run != nil {
		r := *e.Run
		r.Facets = nil
		c.Run = &r
	}
	if e.Job != nil {
		j := *e.Job
		j.Facets = nil
		c.Job = &j
	}
	strip := func(list []openlineage.Dataset) []openlineage.Dataset {
		if list == nil {
			return nil
		}
		out := make([]openlineage.Dataset, len(list))
		for i, d := range list {
			d.Facets, d.IOFacets = nil, nil
			out[i] = d
		}
		return out
	}
	c.Inputs, c.Outputs = strip(e.Inputs), strip(e.Outputs)
	if e.Dataset != nil {
		c.Dataset = &strip([]openlineage.Dataset{*e.Dataset})[0]
	}
	return &c
}
