package quarantine_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/lineage"
	"github.com/prov-dev/prov/quarantine"
)

var t0 = time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)

func ds(n string) lineage.NodeID { return lineage.DatasetNode("s3://lake", n) }

// graph: raw -> clean (run c1 of job etl) -> features (run f1 of job feat)
// -> model (run t1 of job train); other -> report.
func graph() *lineage.Graph {
	g := lineage.New()
	for _, r := range []struct {
		run, job string
		in, out  lineage.NodeID
	}{
		{"c1", "etl", ds("raw"), ds("clean")},
		{"f1", "feat", ds("clean"), ds("features")},
		{"t1", "train", ds("features"), ds("model")},
		{"r1", "report", ds("other"), ds("report")},
	} {
		g.AddRun(lineage.Run{ID: r.run, Job: lineage.JobNode("airflow", r.job)})
		g.AddIO(lineage.IO{Run: r.run, Dataset: r.in, At: t0})
		g.AddIO(lineage.IO{Run: r.run, Dataset: r.out, Output: true, At: t0.Add(time.Minute)})
	}
	return g
}

// apply appends m to the state as the log would hold it.
func apply(t *testing.T, st *quarantine.State, index int64, m quarantine.Mark) {
	t.Helper()
	b, err := quarantine.Record(m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := prov.ParseRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	st.Apply(index, r)
}

func TestMarkCheckClear(t *testing.T) {
	g := graph()
	st := quarantine.NewState()
	if _, b, err := st.Check(g, string(ds("model"))); err != nil || b != nil {
		t.Fatalf("nothing marked: got %v, %v", b, err)
	}
	m, err := st.Prepare(g, "s3://lake:raw", quarantine.Mark{Action: quarantine.ActionMark, Time: t0, Agent: "user:a", Reason: "corrupt"})
	if err != nil || m.Node != ds("raw") {
		t.Fatalf("Prepare: %+v %v", m, err)
	}
	apply(t, st, 7, m)
	node, b, err := st.Check(g, "model")
	if err != nil || b == nil {
		t.Fatalf("model is downstream of raw: got %v, %v", b, err)
	}
	want := []lineage.NodeID{ds("model"), lineage.JobNode("airflow", "train"), ds("features"), lineage.JobNode("airflow", "feat"), ds("clean"), lineage.JobNode("airflow", "etl"), ds("raw")}
	if node != ds("model") || !slices.Equal(b.Path, want) || b.Mark.Index != 7 || b.Mark.Reason != "corrupt" || b.Mark.Agent != "user:a" {
		t.Errorf("check: node %s, %+v; want path %v", node, b, want)
	}
	if _, b, _ := st.Check(g, string(ds("report"))); b != nil {
		t.Errorf("report does not depend on raw: got %+v", b)
	}
	if _, err := st.Prepare(g, string(ds("raw")), quarantine.Mark{Action: quarantine.ActionMark, Reason: "x"}); !prov.IsKind(err, prov.Conflict) {
		t.Errorf("marking twice: got %v, want a conflict", err)
	}
	if _, err := st.Prepare(g, string(ds("clean")), quarantine.Mark{Action: quarantine.ActionClear, Reason: "x"}); !prov.IsKind(err, prov.Conflict) {
		t.Errorf("clearing what is not marked: got %v, want a conflict", err)
	}
	if _, err := st.Prepare(g, string(ds("rawx")), quarantine.Mark{Action: quarantine.ActionMark, Reason: "x"}); !prov.IsKind(err, prov.NotFound) || !strings.Contains(err.Error(), "did you mean") {
		t.Errorf("marking an unknown node: got %v", err)
	}
	apply(t, st, 9, quarantine.Mark{Node: ds("raw"), Action: quarantine.ActionClear, Time: t0, Reason: "fixed"})
	if _, b, _ := st.Check(g, "model"); b != nil {
		t.Errorf("cleared: got %+v", b)
	}
	if len(st.History) != 2 || len(st.List()) != 0 {
		t.Errorf("history %v, in force %v", st.History, st.List())
	}

	// A run marked blocks what it wrote and what is downstream; a job too.
	apply(t, st, 10, quarantine.Mark{Node: lineage.RunNode("f1"), Action: quarantine.ActionMark, Time: t0, Reason: "bad code"})
	if _, b, _ := st.Check(g, "model"); b == nil || b.Path[len(b.Path)-1] != lineage.RunNode("f1") {
		t.Errorf("run f1 marked: got %+v", b)
	}
	if _, b, _ := st.Check(g, "clean"); b != nil {
		t.Errorf("clean is upstream of f1's output: got %+v", b)
	}
	apply(t, st, 11, quarantine.Mark{Node: lineage.JobNode("airflow", "report"), Action: quarantine.ActionMark, Time: t0, Reason: "x"})
	if _, b, _ := st.Check(g, string(ds("report"))); b == nil {
		t.Error("job report marked: its output is blocked")
	}
	if _, _, err := st.Check(g, "report"); !prov.IsKind(err, prov.Invalid) || !strings.Contains(err.Error(), "ambiguous") {
		t.Errorf("report names a dataset and a job: got %v", err)
	}
}

func TestRecord(t *testing.T) {
	for _, m := range []quarantine.Mark{
		{Node: ds("a"), Action: quarantine.ActionMark, Time: t0},
		{Node: ds("a"), Action: "taint", Time: t0, Reason: "x"},
		{Node: "dataset:nons", Action: quarantine.ActionMark, Time: t0, Reason: "x"},
		{Node: ds("a"), Action: quarantine.ActionMark, Reason: "no time"},
	} {
		if _, err := quarantine.Record(m); !prov.IsKind(err, prov.Invalid) {
			t.Errorf("Record(%+v): got %v, want invalid", m, err)
		}
	}
	b, err := quarantine.Record(quarantine.Mark{Node: ds("a"), Action: quarantine.ActionMark, Time: t0, Reason: "bad", Ticket: "INC-1", Agent: "user:b"})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"quarantine","time":"2026-01-02T00:00:00Z","agent":{"id":"user:b"},"reason":"bad","ticket":"INC-1","used":[{"id":"dataset:s3://lake:a","role":"mark"}]}`
	if string(b) != want {
		t.Errorf("record:\n got %s\nwant %s", b, want)
	}
}
