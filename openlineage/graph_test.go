package openlineage_test

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/lineage"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/tlog"
)

// recorder is a Sink that keeps what it is given.
type recorder struct {
	runs     map[string]lineage.Run
	ios      []lineage.IO
	columns  []lineage.ColumnEdge
	datasets map[lineage.NodeID]bool
	jobs     map[lineage.NodeID]bool
}

func newRecorder() *recorder {
	return &recorder{runs: map[string]lineage.Run{}, datasets: map[lineage.NodeID]bool{}, jobs: map[lineage.NodeID]bool{}}
}
func (r *recorder) AddRun(x lineage.Run)           { r.runs[x.ID] = x }
func (r *recorder) AddIO(x lineage.IO)             { r.ios = append(r.ios, x) }
func (r *recorder) AddColumn(x lineage.ColumnEdge) { r.columns = append(r.columns, x) }
func (r *recorder) AddDataset(x lineage.NodeID)    { r.datasets[x] = true }
func (r *recorder) AddJob(x lineage.NodeID)        { r.jobs[x] = true }

func ingestFile(t *testing.T, l *tlog.Log, path string) []openlineage.Result {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	events, _, err := openlineage.SplitEvents(b)
	if err != nil {
		t.Fatal(err)
	}
	res, err := openlineage.Ingest(context.Background(), l, events)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestGraph(t *testing.T) {
	backends(t, func(t *testing.T, s prov.Store, l *tlog.Log) {
		ctx := context.Background()
		ingestFile(t, l, "testdata/run.jsonl")
		const parent, child = "0195a000-0000-7000-8000-000000000001", "0195a000-0000-7000-8000-000000000002"
		orders := lineage.DatasetNode("postgres://db:5432", "shop.public.orders")
		daily := lineage.DatasetNode("s3://lake", "orders_daily")

		g := newRecorder()
		if err := openlineage.Load(ctx, s, time.Time{}, g); err != nil {
			t.Fatal(err)
		}
		c := g.runs[child]
		if c.Parent != parent || c.Job != lineage.JobNode("etl", "nightly.orders") || c.State != "COMPLETE" ||
			!c.Started.Equal(time.Date(2026, 3, 1, 10, 1, 0, 0, time.UTC)) || !c.Ended.Equal(time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC)) || c.Index != 2 {
			t.Errorf("child run: got %+v", c)
		}
		if p := g.runs[parent]; p.State != "COMPLETE" || p.Job != lineage.JobNode("etl", "nightly") {
			t.Errorf("parent run: got %+v", p)
		}
		var in, out int
		for _, io := range g.ios {
			switch {
			case io.Run == child && io.Dataset == orders && !io.Output:
				in++
				if io.Index == 2 && io.Version != "v41" {
					t.Errorf("input version: got %q, want v41", io.Version)
				}
			case io.Run == child && io.Dataset == daily && io.Output:
				out++
			}
		}
		if in != 2 || out != 2 {
			t.Errorf("child's inputs and outputs: got %d and %d, want 2 and 2 (START and COMPLETE)", in, out)
		}
		if len(g.columns) != 2 || g.columns[0] != (lineage.ColumnEdge{Run: child, From: orders, To: daily, FromField: "created_at", ToField: "day", Transformation: "DIRECT/TRANSFORMATION"}) {
			t.Errorf("column edges: got %+v", g.columns)
		}
		if !g.datasets[lineage.DatasetNode("s3://lake", "customers")] || !g.jobs[lineage.JobNode("etl", "weekly")] {
			t.Errorf("the DatasetEvent's dataset and the JobEvent's job are missing: %v %v", g.datasets, g.jobs)
		}

		// As of 10:02 the child had only started, and the parent was running.
		g = newRecorder()
		if err := openlineage.Load(ctx, s, time.Date(2026, 3, 1, 10, 2, 0, 0, time.UTC), g); err != nil {
			t.Fatal(err)
		}
		if c := g.runs[child]; c.State != "START" || !c.Ended.IsZero() || c.Index != 1 {
			t.Errorf("child as of 10:02: got %+v", c)
		}
		if len(g.columns) != 0 || g.datasets[lineage.DatasetNode("s3://lake", "customers")] {
			t.Errorf("as of 10:02, later edges and datasets are in: %+v", g)
		}
		if _, err := openlineage.Graph(ctx, s, time.Time{}); err != nil {
			t.Fatal(err)
		}

		// A parent run no event of its own names is a run of the job its
		// children's parent facet names, from the time of the first child.
		const outer, inner = "0195a000-0000-7000-8000-000000000009", "0195a000-0000-7000-8000-00000000000a"
		ev := `{"eventType":"START","eventTime":"2026-03-01T12:00:00Z","producer":"https://example.com/etl","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",` +
			`"run":{"runId":"` + inner + `","facets":{"parent":{"_producer":"https://example.com/etl","_schemaURL":"https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet","run":{"runId":"` + outer + `"},"job":{"namespace":"etl","name":"outer"}}}},` +
			`"job":{"namespace":"etl","name":"outer.step"},"inputs":[],"outputs":[]}`
		if _, err := openlineage.Ingest(ctx, l, [][]byte{[]byte(ev)}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			at   time.Time
			want bool
		}{{time.Time{}, true}, {time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), true}, {time.Date(2026, 3, 1, 11, 59, 0, 0, time.UTC), false}} {
			g = newRecorder()
			if err := openlineage.Load(ctx, s, tc.at, g); err != nil {
				t.Fatal(err)
			}
			p, ok := g.runs[outer]
			if ok != tc.want || ok && (p.Job != lineage.JobNode("etl", "outer") || p.Index != -1) {
				t.Errorf("as of %v, the parent known from its child's facet: got %+v (%v), want it: %v", tc.at, p, ok, tc.want)
			}
			if c := g.runs[inner]; ok && c.Parent != outer {
				t.Errorf("its child: got %+v", c)
			}
		}
		for id, want := range map[string][]string{parent: {child}, outer: {inner}, child: nil} {
			info, err := openlineage.LoadRun(ctx, l, id)
			if id == outer {
				if prov.KindOf(err) != prov.NotFound {
					t.Errorf("LoadRun of a run with no event: got %v, want NotFound", err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(info.Children, want) {
				t.Errorf("children of %s: got %v, want %v", id, info.Children, want)
			}
		}
	})
}
