package provjson_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/provjson"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// sampleRecords covers every mapping: a release and a migration run by
// another agent inside it (delegation), row changes (insert, update with a
// digest, delete), a pipeline run with dataset versions and column-level
// derivations, a fix informed by the migration, a quarantine mark, and a
// key record (an agent, no entity).
var sampleRecords = []string{
	`{"type":"activity","time":"2026-01-02T03:00:00Z","activity":{"id":"release:v1.0","kind":"release","started":"2026-01-02T03:00:00Z"},"agent":{"id":"user:alice","kind":"person"},"reason":"quarterly release"}`,
	`{"type":"activity","time":"2026-01-02T03:04:00Z","activity":{"id":"migration:0042","kind":"migration","parent":"release:v1.0","started":"2026-01-02T03:04:00Z","ended":"2026-01-02T03:05:00Z","status":"succeeded","exit_code":0},"agent":{"id":"svc:ci","kind":"ci"}}`,
	`{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"migration:0042","kind":"migration","parent":"release:v1.0"},"agent":{"id":"svc:ci"},"generated":[{"id":"pg:app/public.users/{\"id\":42}","op":"update","columns":["photo"],"digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}],"reason":"bad photo URL migration"}`,
	`{"type":"change","time":"2026-01-02T03:04:06Z","activity":{"id":"migration:0042"},"agent":{"id":"svc:ci"},"generated":[{"id":"pg:app/public.users/{\"id\":43}","op":"insert"},{"id":"pg:app/public.users/{\"id\":44}","op":"delete"}]}`,
	`{"type":"lineage","time":"2026-01-02T04:00:00Z","activity":{"id":"run:0195f0c4-1111","kind":"run","name":"train","started":"2026-01-02T04:00:00Z"},"agent":{"id":"svc:airflow"},"used":[{"id":"dataset:postgres://db:5432:app.public.users","version":"v7"}],"generated":[{"id":"dataset:gs://models:churn","op":"write"}],"derivations":[{"generated":"dataset:gs://models:churn","used":"dataset:postgres://db:5432:app.public.users","columns":["score"],"used_columns":["photo","id"]}]}`,
	`{"type":"activity","time":"2026-01-02T05:00:00Z","activity":{"id":"fix:APP-1","kind":"fix"},"agent":{"id":"user:bob"},"informed_by":["migration:0042"],"ticket":"APP-1"}`,
	`{"type":"quarantine","time":"2026-01-02T05:01:00Z","agent":{"id":"user:bob"},"reason":"photo URLs were wrong","used":[{"id":"dataset:postgres://db:5432:app.public.users","role":"mark"}]}`,
	`{"type":"key","time":"2026-01-02T05:02:00Z","agent":{"id":"user:carol"},"attributes":{"note":"a key record"}}`,
}

func document(t *testing.T, f provjson.Filter) (*provjson.Document, []byte) {
	t.Helper()
	d := provjson.New()
	for i, s := range sampleRecords {
		r, err := prov.ParseRecord([]byte(s))
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if f.Match(r) {
			d.Add(int64(i), r)
		}
	}
	var buf bytes.Buffer
	if err := d.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return d, buf.Bytes()
}

func TestCounts(t *testing.T) {
	d, _ := document(t, provjson.Filter{})
	want := map[string]int{
		// Rows 42, 43, 44, row 42's version, their table, users, users@v7, churn.
		"entity": 8,
		// Release, migration, run, fix, and the quarantine and key records
		// (what a record without an activity states someone did).
		"activity":          6,
		"agent":             5, // alice, ci, airflow, bob, carol
		"used":              2,
		"wasGeneratedBy":    3, // row 42 (version), row 43, churn
		"wasInvalidatedBy":  1, // row 44
		"wasDerivedFrom":    1,
		"wasInformedBy":     1,
		"wasAssociatedWith": 6, // release, migration, run, fix, quarantine, key record
		"actedOnBehalfOf":   1, // svc:ci for user:alice in migration:0042
		"specializationOf":  2, // row 42's version, users@v7
		"hadMember":         3,
	}
	got := d.Counts()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %d, want %d", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s: %d", k, got[k])
		}
	}
}

func TestFilters(t *testing.T) {
	for _, c := range []struct {
		name string
		f    provjson.Filter
		want int // records kept
	}{
		{"all", provjson.Filter{}, 8},
		{"since", provjson.Filter{Since: time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)}, 4},
		{"activity", provjson.Filter{Activity: "migration:0042"}, 4}, // its records and the fix it informed
		{"release and children", provjson.Filter{Activity: "release:v1.0"}, 3},
		{"run by bare id", provjson.Filter{Activity: "0195f0c4-1111"}, 1},
		{"nodes", provjson.Filter{Nodes: map[string]bool{"dataset:postgres://db:5432:app.public.users": true}}, 2},
		{"table", provjson.Filter{Nodes: map[string]bool{"pg:app/public.users": true}}, 2},
	} {
		d, _ := document(t, c.f)
		if d.Records() != c.want {
			t.Errorf("%s: kept %d records, want %d", c.name, d.Records(), c.want)
		}
	}
}

func TestQName(t *testing.T) {
	for in, want := range map[string]string{
		"dataset:gs://b:x":         "entity:dataset%3Ags%3A%2F%2Fb%3Ax",
		`pg:app/public.t/{"id":1}`: "entity:pg%3Aapp%2Fpublic.t%2F%7B%22id%22%3A1%7D",
		".hidden-":                 "entity:%2Ehidden%2D",
		"naïve":                    "entity:na%C3%AFve",
		"a b\n":                    "entity:a%20b%0A",
		"release_v1.0-rc":          "entity:release_v1.0-rc",
	} {
		if got := provjson.QName("entity", in); got != want {
			t.Errorf("QName(%q) = %q, want %q", in, got, want)
		}
	}
}

// schemaPath is the PROV-JSON schema linked from the W3C submission, kept
// outside the repository.
func schemaPath(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "shared", "external", "prov", "prov-python-tests", "schemas", "prov-json.schema.json")
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("PROV_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PROV_REQUIRE_SERVICES=1 but the PROV-JSON schema is absent: %v", err)
		}
		t.Skipf("PROV-JSON schema absent (%v)", err)
	}
	return p
}

func compile(t *testing.T) *jsonschema.Schema {
	f, err := os.Open(schemaPath(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	const id = "http://provenance.ecs.soton.ac.uk/prov-json/schema"
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(id)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func TestSchema(t *testing.T) {
	sch := compile(t)
	for _, f := range []provjson.Filter{{}, {Activity: "migration:0042"}, {Since: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}} {
		_, out := document(t, f)
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("filter %+v: the document fails the PROV-JSON schema: %v\n%s", f, err, out)
		}
	}
	// The schema is not a rubber stamp: a relation without its entity fails.
	bad, _ := jsonschema.UnmarshalJSON(strings.NewReader(`{"used":{"_:u1":{"prov:activity":"activity:a"}}}`))
	if sch.Validate(bad) == nil {
		t.Error("the schema accepts a usage without prov:entity")
	}
}

// python is Debian's python3 with the prov package (python3-prov), an
// independent PROV implementation; pyenv shims may shadow python3 on PATH.
func python(t *testing.T) string {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import prov.model").Run(); err != nil {
		if os.Getenv("PROV_REQUIRE_SERVICES") == "1" {
			t.Fatalf("PROV_REQUIRE_SERVICES=1 but %s cannot import prov (apt-get install python3-prov): %v", py, err)
		}
		t.Skipf("python3-prov absent: %v", err)
	}
	return py
}

// readByPython has the prov package read doc and returns the number of
// records of each kind it read, and the labels of its entities.
func readByPython(t *testing.T, doc []byte) (map[string]int, []string) {
	t.Helper()
	const script = `
import sys, json
import prov.model as m
d = m.ProvDocument.deserialize(content=sys.stdin.read(), format="json")
names = {m.ProvEntity: "entity", m.ProvActivity: "activity", m.ProvAgent: "agent", m.ProvUsage: "used",
         m.ProvGeneration: "wasGeneratedBy", m.ProvInvalidation: "wasInvalidatedBy", m.ProvDerivation: "wasDerivedFrom",
         m.ProvCommunication: "wasInformedBy", m.ProvAssociation: "wasAssociatedWith", m.ProvDelegation: "actedOnBehalfOf",
         m.ProvSpecialization: "specializationOf", m.ProvMembership: "hadMember"}
counts = {}
labels = []
for r in d.get_records():
    k = names.get(type(r), type(r).__name__)
    counts[k] = counts.get(k, 0) + 1
    if isinstance(r, m.ProvEntity):
        labels.extend(str(v) for v in r.get_attribute("prov:label"))
d.get_provn()  # it can write what it read as PROV-N
json.dump({"counts": counts, "labels": sorted(labels)}, sys.stdout)
`
	cmd := exec.Command(python(t), "-c", script)
	cmd.Stdin = bytes.NewReader(doc)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3-prov cannot read the document: %v\n%s\n%s", err, stderr.String(), doc)
	}
	var res struct {
		Counts map[string]int `json:"counts"`
		Labels []string       `json:"labels"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res.Counts, res.Labels
}

func TestReadByPythonProv(t *testing.T) {
	d, out := document(t, provjson.Filter{})
	got, labels := readByPython(t, out)
	want := d.Counts()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("python3-prov read %d %s, the document has %d", got[k], k, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("python3-prov read %d %s, the document has none", got[k], k)
		}
	}
	for _, l := range []string{`pg:app/public.users/{"id":42}`, "dataset:postgres://db:5432:app.public.users@v7", "dataset:gs://models:churn"} {
		found := false
		for _, x := range labels {
			found = found || x == l
		}
		if !found {
			t.Errorf("python3-prov did not read an entity labelled %q (labels %q)", l, labels)
		}
	}
}
