package lineage_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/lineage"
)

var t0 = time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)

// at is minute m after t0; m < 0 is an unknown time.
func at(m int) time.Time {
	if m < 0 {
		return time.Time{}
	}
	return t0.Add(time.Duration(m) * time.Minute)
}

func ds(name string) lineage.NodeID  { return lineage.DatasetNode("ns", name) }
func job(name string) lineage.NodeID { return lineage.JobNode("ns", name) }

// graph builds a graph from lines "RUN JOB IN@MIN,… -> OUT@MIN,…" in the
// namespace "ns" (minute -1: unknown time), e.g. "c1 clean raw@5 -> clean@6".
func graph(t *testing.T, lines ...string) *lineage.Graph {
	t.Helper()
	g := lineage.New()
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Fatalf("bad fixture line %q", l)
		}
		g.AddRun(lineage.Run{ID: f[0], Job: job(f[1])})
		output := false
		for _, w := range f[2:] {
			if w == "->" {
				output = true
				continue
			}
			for _, d := range strings.Split(w, ",") {
				name, m, ok := strings.Cut(d, "@")
				min := -1
				if ok {
					var err error
					if min, err = strconv.Atoi(m); err != nil {
						t.Fatalf("bad minute in %q", d)
					}
				}
				g.AddIO(lineage.IO{Run: f[0], Dataset: ds(name), Output: output, At: at(min)})
			}
		}
	}
	return g
}

func ids(nodes []lineage.ResultNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, fmt.Sprintf("%s/%d", n.ID, n.Depth))
	}
	return out
}

func edges(es []lineage.Edge) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e.From)+">"+string(e.To))
	}
	return out
}

func pipeline(t *testing.T) *lineage.Graph {
	return graph(t,
		"c1 clean raw@1 -> clean@2",
		"c2 clean raw@10,ref@10 -> clean@11",
		"t1 train clean@20,labels@20 -> model@30",
		"s1 serve model@40 -> predictions@41",
	)
}

func TestLineageUpstream(t *testing.T) {
	g := pipeline(t)
	r, err := g.Lineage(ds("model"), lineage.Options{Direction: lineage.Upstream})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dataset:ns:model/0", "job:ns:train/1", "dataset:ns:clean/2", "dataset:ns:labels/2",
		"job:ns:clean/3", "dataset:ns:raw/4", "dataset:ns:ref/4",
	}
	if got := ids(r.Nodes); !slices.Equal(got, want) {
		t.Errorf("nodes: got %v, want %v", got, want)
	}
	wantEdges := []string{ // by To (the end nearer the root), then From
		"job:ns:clean>dataset:ns:clean", "job:ns:train>dataset:ns:model",
		"dataset:ns:raw>job:ns:clean", "dataset:ns:ref>job:ns:clean",
		"dataset:ns:clean>job:ns:train", "dataset:ns:labels>job:ns:train",
	}
	if got := edges(r.Edges()); !slices.Equal(got, wantEdges) {
		t.Errorf("edges: got %v, want %v", got, wantEdges)
	}
	if r.Truncated || len(r.Cycles) != 0 {
		t.Errorf("truncated %v, cycles %v: want neither", r.Truncated, r.Cycles)
	}
	// The earliest report of an edge is its time.
	for _, e := range r.Edges() {
		if e.From == ds("raw") && !e.At.Equal(at(1)) {
			t.Errorf("raw>clean at %v, want %v", e.At, at(1))
		}
	}
}

func TestLineageDepthAndAt(t *testing.T) {
	g := pipeline(t)
	r, err := g.Lineage(ds("model"), lineage.Options{Direction: lineage.Upstream, Depth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(r.Nodes), []string{"dataset:ns:model/0", "job:ns:train/1", "dataset:ns:clean/2", "dataset:ns:labels/2"}; !slices.Equal(got, want) {
		t.Errorf("depth 2: got %v, want %v", got, want)
	}
	if !r.Truncated {
		t.Error("depth 2 stops before job:ns:clean: want Truncated")
	}
	// As of minute 5 only c1 had run: ref was not yet an input of clean.
	r, err = g.Lineage(ds("raw"), lineage.Options{Direction: lineage.Downstream, At: at(5)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(r.Nodes), []string{"dataset:ns:raw/0", "job:ns:clean/1", "dataset:ns:clean/2"}; !slices.Equal(got, want) {
		t.Errorf("as of minute 5: got %v, want %v", got, want)
	}
	r, err = g.Lineage(ds("ref"), lineage.Options{Direction: lineage.Downstream, At: at(5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Nodes) != 1 {
		t.Errorf("ref as of minute 5: got %v, want only ref", ids(r.Nodes))
	}
	// Downstream, everything.
	r, err = g.Lineage(ds("raw"), lineage.Options{Direction: lineage.Downstream})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(r.Nodes); got != 7 { // raw clean-job clean train-job model serve-job predictions
		t.Errorf("downstream of raw: got %v", ids(r.Nodes))
	}
}

func TestLineageRunView(t *testing.T) {
	g := pipeline(t)
	g.AddRun(lineage.Run{ID: "t1", Parent: "dag1"})
	r, err := g.Lineage(lineage.RunNode("t1"), lineage.Options{Direction: lineage.Upstream})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"run:t1/0", "dataset:ns:clean/1", "dataset:ns:labels/1", "run:dag1/1", "run:c1/2", "run:c2/2", "dataset:ns:raw/3", "dataset:ns:ref/3"}
	if got := ids(r.Nodes); !slices.Equal(got, want) {
		t.Errorf("run view: got %v, want %v", got, want)
	}
	if r.View != "runs" {
		t.Errorf("view %q, want runs", r.View)
	}
}

func TestLineageCycles(t *testing.T) {
	// A job that reads and rewrites its own table, and two jobs feeding each other.
	g := graph(t,
		"u1 upsert t@1 -> t@2",
		"a1 ab a@1 -> b@2",
		"b1 ba b@3 -> a@4",
		"x1 export b@5 -> out@6",
	)
	for _, dir := range []lineage.Direction{lineage.Upstream, lineage.Downstream} {
		for _, root := range []lineage.NodeID{ds("t"), ds("a"), ds("out")} {
			r, err := g.Lineage(root, lineage.Options{Direction: dir})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[lineage.NodeID]bool{}
			for _, n := range r.Nodes {
				if seen[n.ID] {
					t.Fatalf("%s %s: node %s twice", root, dir, n.ID)
				}
				seen[n.ID] = true
			}
			var buf bytes.Buffer
			for _, f := range lineage.Formats {
				buf.Reset()
				if err := r.Write(&buf, f); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	r, _ := g.Lineage(ds("t"), lineage.Options{Direction: lineage.Upstream})
	if got, want := edges(r.Cycles), []string{"job:ns:upsert>dataset:ns:t"}; !slices.Equal(got, want) {
		t.Errorf("cycles of t: got %v, want %v", got, want)
	}
	r, _ = g.Lineage(ds("out"), lineage.Options{Direction: lineage.Upstream})
	if len(r.Cycles) != 1 {
		t.Errorf("cycles upstream of out: got %v, want one back edge", r.Cycles)
	}
	var buf bytes.Buffer
	r.Write(&buf, "tree")
	if !strings.Contains(buf.String(), "(cycle)") {
		t.Errorf("tree does not show the cycle:\n%s", buf.String())
	}
}

func TestImpactTimeAware(t *testing.T) {
	g := pipeline(t)
	// raw went bad at minute 5: c1 read it at 1 (before), c2 at 10 (after).
	res, err := g.Impact(ds("raw"), at(5))
	if err != nil {
		t.Fatal(err)
	}
	got := map[lineage.NodeID]time.Time{}
	for _, d := range res.Datasets {
		got[d.ID] = d.Since
	}
	want := map[lineage.NodeID]time.Time{ds("raw"): at(5), ds("clean"): at(11), ds("model"): at(30), ds("predictions"): at(41)}
	if len(got) != len(want) {
		t.Errorf("datasets: got %v, want %v", got, want)
	}
	for id, w := range want {
		if !got[id].Equal(w) {
			t.Errorf("%s poisoned from %v, want %v", id, got[id], w)
		}
	}
	var runs []string
	for _, r := range res.Runs {
		runs = append(runs, string(r.ID))
	}
	if want := []string{"run:c2", "run:s1", "run:t1"}; !slices.Equal(runs, want) {
		t.Errorf("runs: got %v, want %v", runs, want)
	}
	if want := []lineage.NodeID{job("clean"), job("serve"), job("train")}; !slices.Equal(res.Jobs, want) {
		t.Errorf("jobs: got %v, want %v", res.Jobs, want)
	}

	// raw bad only from minute 15: no run read it since; nothing else is affected.
	res, _ = g.Impact(ds("raw"), at(15))
	if len(res.Runs) != 0 || len(res.Datasets) != 1 {
		t.Errorf("since 15: got runs %v datasets %v, want only raw", res.Runs, res.Datasets)
	}

	// clean written bad by c2 (minute 11); train read it at 20: affected.
	// A training run that read clean before the bad write would not be.
	g2 := graph(t,
		"c2 clean raw@10 -> clean@11",
		"t0 train clean@9 -> model@9",
		"t1 train clean@20 -> model@30",
	)
	res, _ = g2.Impact(lineage.RunNode("c2"), time.Time{})
	runs = runs[:0]
	for _, r := range res.Runs {
		runs = append(runs, string(r.ID))
	}
	if want := []string{"run:t1"}; !slices.Equal(runs, want) {
		t.Errorf("impact of run c2: got runs %v, want %v", runs, want)
	}
	// The job's impact is that of all its runs.
	res, _ = g2.Impact(job("clean"), time.Time{})
	if len(res.Runs) != 1 {
		t.Errorf("impact of job clean: got %v", res.Runs)
	}
}

func TestImpactLowersRunTime(t *testing.T) {
	// r reads a at 10 and b at 5; a poisoned from 1, b from 3 (through w).
	// Popping a first affects r at 10; then b affects it from 5, so r's
	// write at 7 is poisoned too.
	g := graph(t,
		"w wb a@2 -> b@3",
		"r job a@10,b@5 -> early@7,late@12",
	)
	res, _ := g.Impact(ds("a"), at(1))
	got := map[lineage.NodeID]time.Time{}
	for _, d := range res.Datasets {
		got[d.ID] = d.Since
	}
	if !got[ds("early")].Equal(at(7)) || !got[ds("late")].Equal(at(12)) {
		t.Errorf("got %v: want early from minute 7 and late from 12", got)
	}
}

func TestImpactUnknownTimesAndCycles(t *testing.T) {
	g := graph(t,
		"a1 ab a -> b",
		"b1 ba b -> a",
		"c1 cd b -> c",
	)
	res, err := g.Impact(ds("a"), at(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Datasets) != 3 || len(res.Runs) != 3 {
		t.Errorf("unknown times count as after the poison: got datasets %v runs %v", res.Datasets, res.Runs)
	}
}

func TestResolve(t *testing.T) {
	g := lineage.New()
	gs := lineage.DatasetNode("gs://bucket", "path/to:file")
	pg := lineage.DatasetNode("postgres://db.example:5432", "shop.public.orders")
	pgJob := lineage.JobNode("postgres://db.example:5432", "shop.public.orders")
	g.AddDataset(gs)
	g.AddDataset(pg)
	g.AddJob(pgJob)
	g.AddDataset(lineage.DatasetNode("other", "shop.public.orders"))
	g.AddRun(lineage.Run{ID: "0195f0c4-aaaa", Job: lineage.JobNode("airflow", "dag.task")})

	for _, c := range []struct {
		in   string
		want lineage.NodeID
	}{
		{string(gs), gs},
		{"gs://bucket:path/to:file", gs},
		{"path/to:file", gs},
		{string(pg), pg},
		{"run:0195f0c4-aaaa", lineage.RunNode("0195f0c4-aaaa")},
		{"0195f0c4-aaaa", lineage.RunNode("0195f0c4-aaaa")},
		{"dag.task", lineage.JobNode("airflow", "dag.task")},
	} {
		got, err := g.Resolve(c.in)
		if err != nil || got != c.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, c := range []struct {
		in   string
		kind prov.Kind
		msg  string
	}{
		{"shop.public.orders", prov.Invalid, "ambiguous: 3 nodes match"},
		{"postgres://db.example:5432:shop.public.orders", prov.Invalid, "dataset:postgres://db.example:5432:shop.public.orders, job:postgres://db.example:5432:shop.public.orders"},
		{"dataset:gs://bucket:path/to:fille", prov.NotFound, "did you mean dataset:gs://bucket:path/to:file?"},
		{"dataset:nons", prov.Invalid, "want dataset:NAMESPACE:NAME"},
		{"table:x:y", prov.NotFound, ""},
		{"", prov.Invalid, "empty node"},
		{"run:", prov.Invalid, "names no run"},
	} {
		_, err := g.Resolve(c.in)
		if !prov.IsKind(err, c.kind) || !strings.Contains(fmt.Sprint(err), c.msg) {
			t.Errorf("Resolve(%q): got %v (%s), want %s containing %q", c.in, err, prov.KindOf(err), c.kind, c.msg)
		}
	}
	got, err := g.ResolveName("gs://bucket", "path/to:file")
	if err != nil || got != gs {
		t.Errorf("ResolveName = %q, %v; want %q", got, err, gs)
	}
	if _, err := g.ResolveName("postgres://db.example:5432", "shop.public.orders"); !prov.IsKind(err, prov.Invalid) {
		t.Errorf("dataset and job of one name: got %v, want ambiguous", err)
	}
	if _, err := g.ResolveName("gs://bucket", "path/to:fil"); !prov.IsKind(err, prov.NotFound) || !strings.Contains(err.Error(), "did you mean") {
		t.Errorf("ResolveName of a typo: got %v, want a suggestion", err)
	}
}

func TestUpstreamPath(t *testing.T) {
	g := pipeline(t)
	g.AddIO(lineage.IO{Run: "loop", Dataset: ds("raw"), At: at(0)})
	g.AddIO(lineage.IO{Run: "loop", Dataset: ds("raw"), Output: true, At: at(0)})
	path, err := g.UpstreamPath(ds("predictions"), func(n lineage.NodeID) bool { return n == ds("ref") })
	if err != nil {
		t.Fatal(err)
	}
	want := []lineage.NodeID{ds("predictions"), job("serve"), ds("model"), job("train"), ds("clean"), job("clean"), ds("ref")}
	if !slices.Equal(path, want) {
		t.Errorf("path: got %v, want %v", path, want)
	}
	path, _ = g.UpstreamPath(ds("model"), func(n lineage.NodeID) bool { return n == lineage.RunNode("c2") })
	if want := []lineage.NodeID{ds("model"), job("train"), ds("clean"), lineage.RunNode("c2")}; !slices.Equal(path, want) {
		t.Errorf("path to a run: got %v, want %v", path, want)
	}
	path, _ = g.UpstreamPath(ds("raw"), func(n lineage.NodeID) bool { return n == ds("model") })
	if path != nil {
		t.Errorf("model is not upstream of raw: got %v", path)
	}
}

func TestFormats(t *testing.T) {
	weird := lineage.DatasetNode(`s3://b"k`, "a\\b\nc<d>#e")
	g := lineage.New()
	g.AddRun(lineage.Run{ID: "r", Job: job("j")})
	g.AddIO(lineage.IO{Run: "r", Dataset: weird, At: at(1)})
	g.AddIO(lineage.IO{Run: "r", Dataset: ds("out"), Output: true, At: at(2)})
	g.AddColumn(lineage.ColumnEdge{From: weird, To: ds("out"), FromField: "x", ToField: "y"})
	r, err := g.Lineage(ds("out"), lineage.Options{Direction: lineage.Upstream, Columns: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range lineage.Formats {
		var a, b bytes.Buffer
		if err := r.Write(&a, f); err != nil {
			t.Fatal(err)
		}
		r2, _ := g.Lineage(ds("out"), lineage.Options{Direction: lineage.Upstream, Columns: true})
		r2.Write(&b, f)
		if a.String() != b.String() {
			t.Errorf("%s is not deterministic", f)
		}
		out[f] = a.String()
	}
	if !strings.Contains(out["dot"], `"dataset:s3://b\"k:a\\b\nc<d>#e" -> "job:ns:j"`) {
		t.Errorf("dot escaping:\n%s", out["dot"])
	}
	if !strings.Contains(out["mermaid"], `[("dataset:s3://b#quot;k:a\b#10;c#lt;d#gt;#35;e")]`) {
		t.Errorf("mermaid escaping:\n%s", out["mermaid"])
	}
	if strings.Count(out["tree"], "\n") != 4 || !strings.Contains(out["tree"], `"dataset:s3://b\"k:a\\b\nc<d>#e"`) {
		t.Errorf("tree: a name with a line break must stay on one line:\n%s", out["tree"])
	}
	var back lineage.Result
	if err := json.Unmarshal([]byte(out["json"]), &back); err != nil || len(back.Nodes) != 3 || len(back.Columns) != 1 || back.NumEdges() != 2 {
		t.Errorf("json: %v %+v", err, back)
	}
	// A result read back from JSON (from a server) writes the same.
	for _, f := range lineage.Formats {
		var b bytes.Buffer
		back.Write(&b, f)
		if b.String() != out[f] {
			t.Errorf("%s of a result read from JSON:\n%s\nwant\n%s", f, b.String(), out[f])
		}
	}
	if err := json.Unmarshal([]byte(`{"nodes":[],"edges":[{"from":"a","to":"b"}]}`), &back); !prov.IsKind(err, prov.Invalid) {
		t.Errorf("an edge between unknown nodes: got %v", err)
	}
	if err := r.Write(&bytes.Buffer{}, "svg"); !prov.IsKind(err, prov.Invalid) {
		t.Errorf("unknown format: got %v", err)
	}
}

func TestBadQueries(t *testing.T) {
	g := pipeline(t)
	if _, err := g.Lineage(ds("nope"), lineage.Options{Direction: lineage.Upstream}); !prov.IsKind(err, prov.NotFound) {
		t.Errorf("unknown node: got %v", err)
	}
	if _, err := g.Lineage(ds("raw"), lineage.Options{}); !prov.IsKind(err, prov.Invalid) {
		t.Errorf("no direction: got %v", err)
	}
	if _, err := g.Lineage(ds("raw"), lineage.Options{Direction: lineage.Upstream, Depth: -1}); !prov.IsKind(err, prov.Invalid) {
		t.Errorf("negative depth: got %v", err)
	}
	if _, err := g.Impact(ds("nope"), time.Time{}); !prov.IsKind(err, prov.NotFound) {
		t.Errorf("impact of unknown: got %v", err)
	}
}

// TestCyclesRandom: on random small graphs, a result reports cycles exactly
// when its edges hold one (Kahn's algorithm on the result's edges), and
// removing the reported edges leaves none.
func TestCyclesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		g := lineage.New()
		nd, nr := 2+rng.IntN(6), 1+rng.IntN(6)
		for r := range nr {
			id := fmt.Sprint("r", r)
			g.AddRun(lineage.Run{ID: id, Job: job(fmt.Sprint("j", rng.IntN(3)))})
			for range 1 + rng.IntN(3) {
				g.AddIO(lineage.IO{Run: id, Dataset: ds(fmt.Sprint("d", rng.IntN(nd))), Output: rng.IntN(2) == 0, At: at(rng.IntN(10))})
			}
		}
		for _, root := range g.Nodes() {
			for _, opts := range []lineage.Options{{Direction: lineage.Upstream}, {Direction: lineage.Downstream}, {Direction: lineage.Upstream, Runs: true}, {Direction: lineage.Downstream, Depth: 2}} {
				r, err := g.Lineage(root, opts)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := len(r.Cycles) > 0, hasCycle(r.Edges(), nil); got != want {
					t.Fatalf("trial %d %s %+v: cycles %v, but the edges %v a cycle: %v", trial, root, opts, r.Cycles, map[bool]string{true: "hold", false: "hold no"}[want], r.Edges())
				}
				if hasCycle(r.Edges(), r.Cycles) {
					t.Fatalf("trial %d %s: without %v the edges still hold a cycle: %v", trial, root, r.Cycles, r.Edges())
				}
			}
		}
	}
}

func hasCycle(es, without []lineage.Edge) bool {
	in := map[lineage.NodeID]int{}
	out := map[lineage.NodeID][]lineage.NodeID{}
	for _, e := range es {
		if slices.Contains(without, e) {
			continue
		}
		in[e.To]++
		in[e.From] += 0
		out[e.From] = append(out[e.From], e.To)
	}
	var q []lineage.NodeID
	for n, d := range in {
		if d == 0 {
			q = append(q, n)
		}
	}
	done := 0
	for len(q) > 0 {
		n := q[0]
		q = q[1:]
		done++
		for _, m := range out[n] {
			if in[m]--; in[m] == 0 {
				q = append(q, m)
			}
		}
	}
	return done < len(in)
}

// TestImpactRandom compares Impact on random graphs (cycles and unknown
// times included) with a naive fixed point of the same rules.
func TestImpactRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type rw struct {
		run, ds string
		out     bool
		min     int // -1 unknown
	}
	for trial := range 500 {
		var ios []rw
		g := lineage.New()
		nd := 2 + rng.IntN(6)
		for r := range 1 + rng.IntN(7) {
			id := fmt.Sprint("r", r)
			g.AddRun(lineage.Run{ID: id, Job: job(fmt.Sprint("j", r%3))})
			for range 1 + rng.IntN(4) {
				x := rw{id, fmt.Sprint("d", rng.IntN(nd)), rng.IntN(2) == 0, rng.IntN(12) - 1}
				ios = append(ios, x)
				g.AddIO(lineage.IO{Run: x.run, Dataset: ds(x.ds), Output: x.out, At: at(x.min)})
			}
		}
		seed, since := fmt.Sprint("d", rng.IntN(nd)), rng.IntN(8)-1
		if !g.Has(ds(seed)) {
			continue
		}
		// Naive: minutes, -1000 for "from the beginning".
		const begin = -1000
		poisoned := map[string]int{seed: begin}
		if since >= 0 {
			poisoned[seed] = since
		}
		affected := map[string]int{}
		for changed := true; changed; {
			changed = false
			for _, x := range ios {
				p, ok := poisoned[x.ds]
				if x.out || !ok || (x.min >= 0 && p != begin && x.min < p) {
					continue
				}
				a := x.min
				if a < 0 {
					a = p
				}
				if old, ok := affected[x.run]; !ok || a < old {
					affected[x.run], changed = a, true
				}
			}
			for _, x := range ios {
				a, ok := affected[x.run]
				if !x.out || !ok || (x.min >= 0 && a != begin && x.min < a) {
					continue
				}
				w := x.min
				if w < 0 {
					w = a
				}
				if old, ok := poisoned[x.ds]; !ok || w < old {
					poisoned[x.ds], changed = w, true
				}
			}
		}
		res, err := g.Impact(ds(seed), at(since))
		if err != nil {
			t.Fatal(err)
		}
		minute := func(tm time.Time) int {
			if tm.IsZero() {
				return begin
			}
			return int(tm.Sub(t0) / time.Minute)
		}
		got := map[string]int{}
		for _, d := range res.Datasets {
			got[strings.TrimPrefix(string(d.ID), "dataset:ns:")] = minute(d.Since)
		}
		gotRuns := map[string]int{}
		for _, r := range res.Runs {
			gotRuns[r.ID.Rest()] = minute(r.Since)
		}
		if fmt.Sprint(got) != fmt.Sprint(poisoned) || fmt.Sprint(gotRuns) != fmt.Sprint(affected) {
			t.Fatalf("trial %d, %s since %d, ios %v:\ndatasets got %v want %v\nruns got %v want %v", trial, seed, since, ios, got, poisoned, gotRuns, affected)
		}
	}
}
