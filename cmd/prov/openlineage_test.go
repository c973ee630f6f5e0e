package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prov-dev/prov/openlineage"
)

const olCorpus = "../../../shared/external/openlineage/events"

// olEvent is a small RunEvent of run id of job name at time t.
func olEvent(id, name, typ, t string) string {
	return `{"eventType":"` + typ + `","eventTime":"` + t + `","producer":"https://example.com/etl","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent","run":{"runId":"` + id + `"},"job":{"namespace":"etl","name":"` + name + `"},"inputs":[{"namespace":"pg","name":"shop.orders"}],"outputs":[{"namespace":"s3","name":"daily"}]}`
}

func TestIngestOpenLineage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		l := newLog(t)
		a := olEvent("0195a000-0000-7000-8000-00000000000a", "daily", "START", "2026-03-01T10:00:00Z")
		b := olEvent("0195a000-0000-7000-8000-00000000000a", "daily", "COMPLETE", "2026-03-01T10:05:00Z")
		r := l.run(t, a+"\n\n"+b+"\n", "ingest", "openlineage")
		if r.code != 0 || !strings.Contains(r.stdout, "ingested 2 OpenLineage events: 2 appended, 0 already in the log (2 run") {
			t.Fatalf("ingest: %d %s %s", r.code, r.stdout, r.stderr)
		}
		// The stored event is the one sent, byte for byte.
		r = l.run(t, "", "get", "1")
		if got, ok := openlineage.EventOf([]byte(strings.TrimSpace(r.stdout))); !ok || string(got) != b {
			t.Errorf("get 1: %s", r.stdout)
		}
		// A retry appends nothing; a JSON array is one batch.
		r = l.run(t, "["+a+",\n"+b+"]", "--json", "ingest", "openlineage", "-")
		if r.code != 0 || !strings.Contains(r.stdout, `"appended": 0`) || !strings.Contains(r.stdout, `"duplicates": 2`) || !strings.Contains(r.stdout, `"line": 2`) {
			t.Errorf("retry: %d %s %s", r.code, r.stdout, r.stderr)
		}
		// A broken event on line 2: nothing ingested, the line and field named.
		bad := strings.Replace(olEvent("0195a000-0000-7000-8000-00000000000b", "x", "START", "2026-03-01T11:00:00Z"), `"name":"shop.orders"`, `"name":7`, 1)
		good := olEvent("0195a000-0000-7000-8000-00000000000c", "x", "START", "2026-03-01T11:00:00Z")
		r = l.run(t, good+"\n"+bad+"\n", "ingest", "openlineage")
		if r.code != 1 || !strings.Contains(r.stderr, `line 2: OpenLineage event: field "inputs[0].name": want a string`) || !strings.Contains(r.stderr, "nothing was ingested") {
			t.Errorf("bad event: %d %s", r.code, r.stderr)
		}
		if r := l.run(t, "", "log"); strings.Count(r.stdout, "\n") != 3 {
			t.Errorf("the log grew after a refused input:\n%s", r.stdout)
		}
		if r := l.run(t, "", "verify"); r.code != 0 {
			t.Errorf("verify: %s", r.stderr)
		}
	})
}

// TestDiffRunsRealEvents compares two real Airflow runs of the corpus.
func TestDiffRunsRealEvents(t *testing.T) {
	dir := filepath.Join(olCorpus, "compatibility-tests/consumer/scenarios/spark_dataproc_simple_producer_test_complete/events")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skip("no OpenLineage corpus")
	}
	l := newSQLiteLog(t)
	runs := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Run struct {
				RunID string `json:"runId"`
			} `json:"run"`
		}
		json.Unmarshal(b, &ev)
		runs[ev.Run.RunID] = true
		if r := l.run(t, "", "ingest", "openlineage", "--no-checkpoint", f); r.code != 0 {
			t.Fatalf("ingest %s: %s", f, r.stderr)
		}
	}
	var ids []string
	for id := range runs {
		ids = append(ids, id)
	}
	if len(ids) < 2 {
		t.Fatalf("want two runs, got %v", ids)
	}
	r := l.run(t, "", "diff-runs", ids[0], ids[1])
	if r.code != 0 || !strings.Contains(r.stdout, "≠ ") {
		t.Fatalf("diff-runs: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = l.run(t, "", "--json", "diff-runs", ids[0], ids[1])
	var d struct {
		A, B struct {
			ID     string `json:"run_id"`
			Inputs []any  `json:"inputs"`
		}
		Differences []struct {
			What  string
			Equal bool
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || d.A.ID != ids[0] || d.B.ID != ids[1] || len(d.Differences) == 0 {
		t.Errorf("diff-runs --json: %v %s", err, r.stdout)
	}
	if r := l.run(t, "", "diff-runs", ids[0], "no-such-run"); r.code != 1 || !strings.Contains(r.stderr, `no OpenLineage event of run "no-such-run"`) {
		t.Errorf("unknown run: %d %s", r.code, r.stderr)
	}
	// The same real event as a second run of the job that wrote 3 rows, not 2.
	b, err := os.ReadFile(filepath.Join(dir, "13.json"))
	if err != nil {
		t.Fatal(err)
	}
	const run = "019299c5-73cf-7069-a70f-74eb8070b577"
	again := strings.Replace(strings.Replace(string(b), run, "019299c5-73cf-7069-a70f-000000000002", 1), `"rowCount": 2,`, `"rowCount": 3,`, 1)
	if r := l.run(t, again, "ingest", "openlineage"); r.code != 0 {
		t.Fatalf("ingest: %s", r.stderr)
	}
	r = l.run(t, "", "diff-runs", run, "019299c5-73cf-7069-a70f-000000000002")
	if r.code != 0 || !regexp.MustCompile(`≠ output hdfs://dataproc-producer-test-m:/user/hive/warehouse/t2 row count +2 +3\n`).MatchString(r.stdout) {
		t.Errorf("diff-runs: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "≠ job ") || strings.Contains(r.stdout, "schema") {
		t.Errorf("diff-runs shows equal aspects as different:\n%s", r.stdout)
	}
	t.Logf("%s", r.stdout)
}

// TestServeLineage posts OpenLineage events to a real prov serve, as an
// OpenLineage HTTP transport does.
func TestServeLineage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		l := newLog(t)
		ingest, reader := token(t, l, "ingest"), token(t, l, "read")
		s := startServer(t, append(l.args, "--max-record-bytes", "20000")...)
		const id = "0195a000-0000-7000-8000-0000000000d1"
		start := olEvent(id, "daily", "START", "2026-03-01T10:00:00Z")
		code, body, _ := s.do(t, "POST", "/api/v1/lineage", ingest, []byte(start))
		if code != 201 || string(body) != `{"index":0,"kind":"run"}`+"\n" {
			t.Fatalf("post: %d %s", code, body)
		}
		// A retry (the client lost the answer) appends nothing.
		if code, body, _ := s.do(t, "POST", "/api/v1/lineage", ingest, []byte(start)); code != 201 || string(body) != `{"index":0,"duplicate":true,"kind":"run"}`+"\n" {
			t.Errorf("retry: %d %s", code, body)
		}
		// A batch: a JSON array, one transaction.
		complete := olEvent(id, "daily", "COMPLETE", "2026-03-01T10:05:00Z")
		marquez := `{"eventTime":"2020-12-28T19:51:01.641499","run":{"runId":"43d7db3b-8984-4cda-b237-8c6919b36670"},"job":{"namespace":"my-namespace","name":"myjob"},"producer":"https://github.com/OpenLineage/OpenLineage/blob/v1-0-0/client"}`
		code, body, _ = s.do(t, "POST", "/api/v1/lineage", ingest, []byte("["+complete+","+marquez+"]"))
		if code != 201 || !strings.HasPrefix(string(body), `{"events":[{"index":1,"kind":"run"},{"index":2,"kind":"run","tolerated":[{"path":"eventTime"`) {
			t.Errorf("batch: %d %s", code, body)
		}
		// Broken events: 400 naming the field; too large: 413. Nothing appended.
		for _, c := range []struct {
			name, body string
			status     int
			field      string
			line       int
		}{
			{"no run id", strings.Replace(start, `"runId":"`+id+`"`, `"runid":"x"`, 1), 400, "run.runId", 1},
			{"bad event type", strings.Replace(start, `"START"`, `"BEGIN"`, 1), 400, "eventType", 1},
			{"bad input in a batch", "[" + complete + "," + strings.Replace(start, `"namespace":"pg"`, `"namespace":null`, 1) + "]", 400, "inputs[0].namespace", 2},
			{"not JSON", "{nope", 400, "", 1},
			{"huge", strings.Replace(start, `"run":{`, `"run":{"facets":{"big":{"_producer":"https://p","_schemaURL":"https://s","x":"`+strings.Repeat("x", 30000)+`"}},`, 1), 413, "", 1},
		} {
			code, body, hdr := s.do(t, "POST", "/api/v1/lineage", ingest, []byte(c.body))
			var p struct {
				Status int
				Detail string
				Field  string
				Line   int
			}
			if code != c.status || hdr.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Field != c.field || p.Line != c.line {
				t.Errorf("%s: %d %s %s", c.name, code, hdr.Get("Content-Type"), body)
			}
		}
		if code, body, _ := s.do(t, "GET", "/api/v1/records?from=3", reader, nil); code != 200 || len(body) != 0 {
			t.Errorf("refused events were appended: %s", body)
		}
		// The run as its events describe it.
		code, body, _ = s.do(t, "GET", "/api/v1/lineage/runs/"+id, reader, nil)
		if code != 200 || !strings.Contains(string(body), `"state":"COMPLETE"`) || !strings.Contains(string(body), `"job":"etl:daily"`) {
			t.Errorf("run: %d %s", code, body)
		}
		if code, _, _ := s.do(t, "GET", "/api/v1/lineage/runs/nope", reader, nil); code != 404 {
			t.Errorf("unknown run: %d", code)
		}
		if code, _, _ := s.do(t, "POST", "/api/v1/lineage", reader, []byte(start)); code != 403 {
			t.Errorf("post with a read token: %d", code)
		}
		// The event stored is the one posted, byte for byte.
		if code, body, _ := s.do(t, "GET", "/api/v1/records/1", reader, nil); code != 200 {
			t.Errorf("get: %d", code)
		} else if ev, ok := openlineage.EventOf(body); !ok || string(ev) != complete {
			t.Errorf("stored event differs: %s", body)
		}
	})
}
