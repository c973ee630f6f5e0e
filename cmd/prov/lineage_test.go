package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// airflowEvents are the events of a real Airflow run (OpenLineage
// compatibility tests), in order: BQ.upload reads gs://mock-bucket:test.csv
// and copied.csv and writes bigquery:mock-project.test.upload, BQ.copy
// copies it to …upload_cp, BQ.download writes gs://mock-bucket:result.csv;
// a GCS hook DAG moves other files.
func airflowEvents(t *testing.T) [][]byte { return scenarioEvents(t, "airflow") }

// scenarioEvents are the events of a consumer scenario of the OpenLineage
// compatibility tests, in file order.
func scenarioEvents(t *testing.T, scenario string) [][]byte {
	dir := filepath.Join("..", "..", "..", "shared", "external", "openlineage", "events", "compatibility-tests", "consumer", "scenarios", scenario, "events")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		if os.Getenv("PROV_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PROV_REQUIRE_SERVICES=1 but the OpenLineage corpus is absent at %s", dir)
		}
		t.Skipf("no OpenLineage corpus at %s", dir)
	}
	sort.Strings(files)
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// lineageLog is a SQLite log holding the Airflow events.
func lineageLog(t *testing.T) []string { return scenarioLog(t, newSQLiteLog(t), airflowEvents(t)) }

// scenarioLog ingests events into l with prov ingest openlineage, and
// returns l's arguments.
func scenarioLog(t *testing.T, l *testLog, events [][]byte) []string {
	t.Helper()
	body := "[" + string(bytes.Join(events, []byte(","))) + "]"
	if r := l.run(t, body, "ingest", "openlineage", "-"); r.code != 0 {
		t.Fatalf("ingest: %d %s", r.code, r.stderr)
	}
	return l.args
}

// TestLineageCLI runs lineage, impact, quarantine and export on a real
// Airflow run's events, on both backends.
func TestLineageCLI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		checkLineageCLI(t, scenarioLog(t, newLog(t), airflowEvents(t)))
	})
}

func checkLineageCLI(t *testing.T, base []string) {
	prov := func(args ...string) result {
		t.Helper()
		return run(t, "", append(append([]string{}, base...), args...)...)
	}
	expect := func(r result, code int, wantOut, wantErr string) {
		t.Helper()
		if r.code != code || !strings.Contains(r.stdout, wantOut) || !strings.Contains(r.stderr, wantErr) {
			t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout with %q, stderr with %q", r.code, code, r.stdout, r.stderr, wantOut, wantErr)
		}
	}
	const result = "dataset:gs://mock-bucket:result.csv"
	r := prov("lineage", "gs://mock-bucket:result.csv", "--upstream")
	expect(r, 0, result+"\n└── job:airflow:BQ.download", "")
	for _, want := range []string{"dataset:bigquery:mock-project.test.upload_cp", "job:airflow:BQ.copy", "job:airflow:BQ.upload", "dataset:gs://mock-bucket:test.csv", "dataset:gs://mock-bucket:copied.csv"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("upstream of result.csv lacks %s:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "uploaded_file") {
		t.Errorf("upstream of result.csv holds the GCS hook's files:\n%s", r.stdout)
	}
	// --namespace/--name, depth, formats.
	r = prov("lineage", "--namespace", "gs://mock-bucket", "--name", "result.csv", "--upstream", "--depth", "2", "--format", "json")
	var res struct {
		Nodes []struct {
			ID    string `json:"id"`
			Depth int    `json:"depth"`
		} `json:"nodes"`
		Truncated bool `json:"truncated"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res.Nodes) != 3 || !res.Truncated {
		t.Errorf("depth 2 as JSON: %v %+v\n%s%s", err, res, r.stdout, r.stderr)
	}
	expect(prov("lineage", "dataset:gs://mock-bucket:test.csv", "--downstream", "--format", "dot"), 0, `"dataset:gs://mock-bucket:test.csv" -> "job:airflow:BQ.upload";`, "")
	expect(prov("lineage", "dataset:gs://mock-bucket:test.csv", "--downstream", "--format", "mermaid"), 0, "flowchart LR\n", "")
	// As of 13:05:30 BQ.upload had written its table; BQ.copy had not run.
	expect(prov("lineage", "dataset:bigquery:mock-project.test.upload", "--downstream", "--at", "2024-11-26T13:05:30Z"), 0, "dataset:bigquery:mock-project.test.upload\n", "")
	expect(prov("lineage", "job:airflow:BQ.copy", "--upstream", "--at", "2024-11-26T13:05:30Z"), 1, "", "no node job:airflow:BQ.copy is known")
	// Bad input: unknown node with suggestions, bad usage, no direction.
	expect(prov("lineage", "dataset:gs://mock-bucket:reslt.csv", "--upstream"), 1, "", "did you mean dataset:gs://mock-bucket:result.csv or")
	expect(prov("lineage", "result.csv"), 2, "", "exactly one of --upstream and --downstream")
	expect(prov("lineage", "result.csv", "--upstream", "--format", "svg"), 1, "", `unknown format "svg"`)
	expect(prov("lineage", "--upstream"), 2, "", "which node?")

	// Impact: test.csv poisoned from the beginning reaches result.csv; from
	// after BQ.upload read it (13:05:29), nothing.
	r = prov("impact", "dataset:gs://mock-bucket:test.csv")
	expect(r, 0, "4 dataset(s) poisoned:", "")
	expect(r, 0, result, "")
	expect(r, 0, "3 job(s) affected:", "")
	expect(prov("impact", "dataset:gs://mock-bucket:test.csv", "--since", "2024-11-26T13:05:30Z"), 0, "0 run(s) read poisoned data:", "")
	// The run of BQ.upload poisons what it wrote, and downstream.
	var imp struct {
		Datasets []struct{ ID string } `json:"datasets"`
		Runs     []struct{ ID string } `json:"runs"`
	}
	r = prov("impact", "--activity", "01936893-9751-7b3c-8f76-8ac6d0e5f8a3", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &imp); err != nil || len(imp.Datasets) != 3 || len(imp.Runs) != 2 {
		t.Errorf("impact of BQ.upload's run: %v %+v\n%s%s", err, imp, r.stdout, r.stderr)
	}
	expect(prov("impact", "--activity", "01936893-9751-7b3c-8f76-8ac6d0e5f8a4"), 1, "", "did you mean run:01936893-9751-7b3c-8f76-8ac6d0e5f8a3")

	// Quarantine: mark test.csv, result.csv is blocked (exit 3, path),
	// the GCS hook's files are not; clear it and result.csv passes.
	expect(prov("quarantine", "check", result), 0, "ok: neither "+result, "")
	expect(prov("quarantine", "mark", "gs://mock-bucket:test.csv"), 2, "", "--reason is required")
	expect(prov("quarantine", "mark", "gs://mock-bucket:test.csv", "--reason", "corrupt upload", "--ticket", "INC-7", "--by", "user:alice"), 0, "quarantined dataset:gs://mock-bucket:test.csv (record ", "")
	expect(prov("quarantine", "mark", "gs://mock-bucket:test.csv", "--reason", "again"), 1, "", "quarantined already")
	r = prov("quarantine", "check", result)
	expect(r, 3, "QUARANTINED: "+result+" is downstream of quarantined dataset:gs://mock-bucket:test.csv\n  "+result+"\n  <- job:airflow:BQ.download\n", "")
	expect(r, 3, "marked by user:alice at ", "")
	expect(r, 3, "corrupt upload [INC-7]", "")
	expect(prov("quarantine", "check", "--namespace", "gs://mock-bucket", "--name", "test.csv"), 3, "QUARANTINED: dataset:gs://mock-bucket:test.csv\n", "")
	expect(prov("quarantine", "check", "gs://mock-bucket:compose_result.txt"), 0, "ok", "")
	r = prov("quarantine", "check", result, "--json")
	var chk struct {
		Quarantined bool     `json:"quarantined"`
		Path        []string `json:"path"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &chk); err != nil || r.code != 3 || !chk.Quarantined || len(chk.Path) != 7 {
		t.Errorf("check --json: exit %d %v %+v\n%s", r.code, err, chk, r.stdout)
	}
	expect(prov("quarantine", "list"), 0, "dataset:gs://mock-bucket:test.csv  since ", "")
	expect(prov("quarantine", "check", "dataset:gs://mock-bucket:nope"), 1, "", "no node dataset:gs://mock-bucket:nope is known")
	expect(prov("quarantine", "clear", result, "--reason", "x"), 1, "", "is not quarantined")
	expect(prov("quarantine", "clear", "gs://mock-bucket:test.csv", "--reason", "re-uploaded"), 0, "cleared dataset:gs://mock-bucket:test.csv", "")
	expect(prov("quarantine", "check", result), 0, "ok", "")
	// The marks are records in the log.
	expect(prov("log", "--json"), 0, `"type":"quarantine"`, "")

	// Export: the whole log, and the closure of a node, read by python3-prov.
	r = prov("export", "--format", "prov-json")
	expect(r, 0, `"prefix"`, "")
	counts := readProvJSON(t, r.stdout)
	if counts["activity"] < 8 || counts["used"] < 8 || counts["wasGeneratedBy"] < 6 {
		t.Errorf("export of the log: python3-prov read %v", counts)
	}
	r = prov("export", "--node", "gs://mock-bucket:compose_result.txt")
	sub := readProvJSON(t, r.stdout)
	if sub["activity"] == 0 || sub["activity"] >= counts["activity"] {
		t.Errorf("export --node: %v, whole log %v", sub, counts)
	}
	if strings.Contains(r.stdout, "test.csv") {
		t.Errorf("export --node compose_result.txt holds the BQ DAG's datasets")
	}
	expect(prov("export", "--format", "prov-n"), 2, "", "the only export format is prov-json")
	expect(prov("export", "--node", "nope.csv"), 1, "", "no node nope.csv is known")
	out := filepath.Join(t.TempDir(), "doc.json")
	expect(prov("export", "--since", "2030-01-01", "-o", out), 0, "", "0 records written to "+out)
}

// readProvJSON has python3-prov read a PROV-JSON document and returns what
// it read, by kind (skipped without python3-prov unless
// PROV_REQUIRE_SERVICES=1).
func readProvJSON(t *testing.T, doc string) map[string]int {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import prov.model").Run(); err != nil {
		if os.Getenv("PROV_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PROV_REQUIRE_SERVICES=1 but python3-prov is absent: %v", err)
		}
		t.Skipf("python3-prov absent: %v", err)
	}
	cmd := exec.Command(py, "-c", `
import sys, json
import prov.model as m
d = m.ProvDocument.deserialize(content=sys.stdin.read(), format="json")
c = {}
for r in d.get_records():
    k = r.get_type().localpart
    k = {"Entity": "entity", "Activity": "activity", "Agent": "agent", "Usage": "used", "Generation": "wasGeneratedBy"}.get(k, k)
    c[k] = c.get(k, 0) + 1
json.dump(c, sys.stdout)
`)
	cmd.Stdin = strings.NewReader(doc)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3-prov: %v\n%s", err, stderr.String())
	}
	c := map[string]int{}
	if err := json.Unmarshal(out, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestServeLineageQueries queries the lineage of the Airflow run through a real
// prov serve process.
func TestServeLineageQueries(t *testing.T) {
	l := &testLog{args: lineageLog(t)}
	reader, ingest := token(t, l, "read"), token(t, l, "ingest")
	s := startServer(t, l.args...)
	for _, c := range []struct {
		method, path, token, body string
		status                    int
		want                      string
	}{
		{"GET", "/api/v1/lineage?node=gs://mock-bucket:result.csv&direction=upstream", reader, "", 200, `"id": "dataset:gs://mock-bucket:test.csv"`},
		{"GET", "/api/v1/lineage?namespace=gs://mock-bucket&name=result.csv&direction=upstream&depth=1&format=dot", reader, "", 200, `"job:airflow:BQ.download" -> "dataset:gs://mock-bucket:result.csv";`},
		{"GET", "/api/v1/lineage?node=gs://mock-bucket:reslt.csv&direction=upstream", reader, "", 404, "did you mean"},
		{"GET", "/api/v1/lineage?node=result.csv", reader, "", 400, "direction"},
		{"GET", "/api/v1/lineage?node=result.csv&direction=upstream&deep=2", reader, "", 400, "unknown parameter"},
		{"GET", "/api/v1/lineage?node=result.csv&direction=upstream", "", "", 401, ""},
		{"GET", "/api/v1/impact?node=dataset:gs://mock-bucket:test.csv", reader, "", 200, `"id":"dataset:gs://mock-bucket:result.csv"`},
		{"GET", "/api/v1/impact?activity=01936893-9751-7b3c-8f76-8ac6d0e5f8a3&since=2030-01-01", reader, "", 200, `"datasets":[]`},
		{"GET", "/api/v1/quarantine?node=gs://mock-bucket:result.csv", reader, "", 200, `"quarantined":false`},
		{"POST", "/api/v1/quarantine", reader, `{"action":"mark","node":"gs://mock-bucket:test.csv","reason":"bad"}`, 403, ""},
		{"POST", "/api/v1/quarantine", ingest, `{"action":"mark","node":"gs://mock-bucket:test.csv"}`, 400, "reason is required"},
		{"POST", "/api/v1/quarantine", ingest, `{"action":"mark","node":"gs://mock-bucket:test.csv","reason":"bad upload"}`, 201, `"node":"dataset:gs://mock-bucket:test.csv"`},
		{"POST", "/api/v1/quarantine", ingest, `{"action":"mark","node":"gs://mock-bucket:test.csv","reason":"bad upload"}`, 409, "quarantined already"},
		{"GET", "/api/v1/quarantine?node=gs://mock-bucket:result.csv", reader, "", 200, `"quarantined":true`},
		{"GET", "/api/v1/quarantine", reader, "", 200, `"agent":"token:`},
		{"POST", "/api/v1/quarantine", ingest, `{"action":"clear","node":"dataset:gs://mock-bucket:test.csv","reason":"fixed"}`, 201, `"action":"clear"`},
		{"GET", "/api/v1/quarantine?node=gs://mock-bucket:result.csv", reader, "", 200, `"quarantined":false`},
		{"GET", "/api/v1/export?node=gs://mock-bucket:result.csv", reader, "", 200, `"wasGeneratedBy"`},
	} {
		code, body, _ := s.do(t, c.method, c.path, c.token, []byte(c.body))
		if code != c.status || !strings.Contains(string(body), c.want) {
			t.Errorf("%s %s: %d %s (want %d with %q)", c.method, c.path, code, body, c.status, c.want)
		}
	}
	_, doc, _ := s.do(t, "GET", "/api/v1/export", reader, nil)
	if c := readProvJSON(t, string(doc)); c["activity"] < 8 {
		t.Errorf("export through the server: python3-prov read %v", c)
	}

	// The same commands in client mode (--server), a pipeline gating on a
	// server it can reach.
	remote := func(tok string, args ...string) result {
		return run(t, "", append([]string{"--server", s.url, "--token-file", tokenFile(t, tok)}, args...)...)
	}
	expect := func(r result, code int, wantOut, wantErr string) {
		t.Helper()
		if r.code != code || !strings.Contains(r.stdout, wantOut) || !strings.Contains(r.stderr, wantErr) {
			t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout with %q, stderr with %q", r.code, code, r.stdout, r.stderr, wantOut, wantErr)
		}
	}
	const result = "dataset:gs://mock-bucket:result.csv"
	expect(remote(reader, "lineage", "gs://mock-bucket:result.csv", "--upstream", "--format", "dot"), 0, `"dataset:gs://mock-bucket:test.csv" -> "job:airflow:BQ.upload";`, "")
	expect(remote(reader, "lineage", "--namespace", "gs://mock-bucket", "--name", "result.csv", "--upstream", "--depth", "1"), 0, result+"\n└── job:airflow:BQ.download", "")
	expect(remote(reader, "lineage", "gs://mock-bucket:reslt.csv", "--upstream"), 1, "", "did you mean")
	expect(remote(reader, "impact", "dataset:gs://mock-bucket:test.csv"), 0, "4 dataset(s) poisoned:", "")
	expect(remote(reader, "quarantine", "check", result), 0, "ok: neither "+result, "")
	expect(remote(ingest, "quarantine", "mark", "--namespace", "gs://mock-bucket", "--name", "copied.csv", "--reason", "truncated copy"), 0, "quarantined dataset:gs://mock-bucket:copied.csv (record ", "")
	expect(remote(reader, "quarantine", "check", result), 3, "QUARANTINED: "+result+" is downstream of quarantined dataset:gs://mock-bucket:copied.csv", "")
	expect(remote(reader, "quarantine", "list"), 0, "dataset:gs://mock-bucket:copied.csv  since ", "")
	expect(remote(ingest, "quarantine", "clear", "gs://mock-bucket:copied.csv", "--reason", "recopied"), 0, "cleared dataset:gs://mock-bucket:copied.csv", "")
	expect(remote(reader, "quarantine", "check", result), 0, "ok", "")
	r := remote(reader, "export", "--node", "gs://mock-bucket:result.csv")
	if c := readProvJSON(t, r.stdout); r.code != 0 || c["activity"] == 0 {
		t.Errorf("export --node through the server: %d %v %s", r.code, c, r.stderr)
	}
}

// TestLineageColumns shows the column-level lineage of a real Spark run
// (the CLL scenario: tbl1's columns ident, trans and agg from two sources).
func TestLineageColumns(t *testing.T) {
	base := scenarioLog(t, newSQLiteLog(t), scenarioEvents(t, "CLL"))
	r := run(t, "", append(base, "lineage", "file:/tmp/cll_test/tbl1", "--upstream", "--columns")...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"dataset:file:/tmp/cll_test/cll_source1", "dataset:file:/tmp/cll_test/cll_source2", `column dataset:file:/tmp/cll_test/tbl1."ident" <- dataset:file:/tmp/cll_test/`, `column dataset:file:/tmp/cll_test/tbl1."agg" <- `} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, "", append(base, "lineage", "file:/tmp/cll_test/tbl1", "--upstream")...)
	if strings.Contains(r.stdout, "column ") {
		t.Errorf("columns without --columns:\n%s", r.stdout)
	}
}
