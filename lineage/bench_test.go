package lineage_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/prov-dev/prov/lineage"
	_ "modernc.org/sqlite"
)

// Synthetic lineage for the benchmarks: 100,000 datasets and about 570,000
// job-view edges (dataset -> job reads, job -> dataset writes), fixed seed.
//
// Shape: 1,000 pipelines (teams) of 100 datasets each, in 10 stages of 10;
// stage 0 holds sources. Every other dataset is written by one job (a job
// writes 1 or 2 datasets of its stage). A job reads about 6.6 datasets:
// most from its own pipeline's earlier stages (mostly the stage just
// before), some shared reference data (a few hundred popular datasets,
// Zipf-distributed: dimension tables everybody joins), and now and then
// another, lower-numbered pipeline's output.
type synthetic struct {
	datasets []lineage.NodeID
	jobs     []lineage.NodeID
	edges    [][2]int // job-view edges, node indexes: datasets first, then jobs
	runs     []syntheticRun
}

type syntheticRun struct {
	job     int
	inputs  []int
	outputs []int
}

const (
	synPipelines = 1000
	synStages    = 10
	synPerStage  = 10
	synDatasets  = synPipelines * synStages * synPerStage
	synShared    = 300 // popular reference datasets (sources of pipeline 0..)
)

func generate(seed uint64) *synthetic {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	s := &synthetic{}
	for i := range synDatasets {
		p, rest := i/(synStages*synPerStage), i%(synStages*synPerStage)
		s.datasets = append(s.datasets, lineage.DatasetNode(fmt.Sprintf("postgres://warehouse-%d:5432", p%37), fmt.Sprintf("team%04d.stage%d.table%02d", p, rest/synPerStage, rest%synPerStage)))
	}
	zipf := rand.NewZipf(rng, 1.2, 4, synShared-1)
	shared := func() int { // a source dataset, popular ones more often
		k := int(zipf.Uint64())
		return (k/synPerStage)*synStages*synPerStage + k%synPerStage
	}
	ds := func(p, stage, k int) int { return p*synStages*synPerStage + stage*synPerStage + k }
	for p := range synPipelines {
		for stage := 1; stage < synStages; stage++ {
			for k := 0; k < synPerStage; {
				outs := []int{ds(p, stage, k)}
				k++
				if k < synPerStage && rng.IntN(4) == 0 {
					outs = append(outs, ds(p, stage, k))
					k++
				}
				run := syntheticRun{job: len(s.jobs), outputs: outs}
				s.jobs = append(s.jobs, lineage.JobNode("airflow", fmt.Sprintf("team%04d.dag.stage%d_%d", p, stage, k)))
				n := 2 + rng.IntN(12) + rng.IntN(4)/3 // 2..14 reads, mean 7.75 before duplicates
				seen := map[int]bool{}
				for range n {
					var in int
					switch r := rng.IntN(100); {
					case r < 55: // the stage just before
						in = ds(p, stage-1, rng.IntN(synPerStage))
					case r < 85: // an earlier stage of the pipeline
						in = ds(p, rng.IntN(stage), rng.IntN(synPerStage))
					case r < 97 || p == 0: // shared reference data
						in = shared()
					default: // another team's output
						q := rng.IntN(p)
						in = ds(q, 1+rng.IntN(synStages-1), rng.IntN(synPerStage))
					}
					if !seen[in] && !slices.Contains(outs, in) {
						seen[in] = true
						run.inputs = append(run.inputs, in)
					}
				}
				s.runs = append(s.runs, run)
			}
		}
	}
	for _, r := range s.runs {
		j := synDatasets + r.job
		for _, in := range r.inputs {
			s.edges = append(s.edges, [2]int{in, j})
		}
		for _, out := range r.outputs {
			s.edges = append(s.edges, [2]int{j, out})
		}
	}
	return s
}

func (s *synthetic) graph() *lineage.Graph {
	g := lineage.New()
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, r := range s.runs {
		id := fmt.Sprintf("run-%d", i)
		g.AddRun(lineage.Run{ID: id, Job: s.jobs[r.job]})
		for _, in := range r.inputs {
			g.AddIO(lineage.IO{Run: id, Dataset: s.datasets[in], At: t})
		}
		for _, out := range r.outputs {
			g.AddIO(lineage.IO{Run: id, Dataset: s.datasets[out], Output: true, At: t.Add(time.Minute)})
		}
	}
	return g
}

func (s *synthetic) name(i int) lineage.NodeID {
	if i < synDatasets {
		return s.datasets[i]
	}
	return s.jobs[i-synDatasets]
}

// sqliteBaseline loads the same job-view edges into SQLite: nodes(id,
// name) and edges(src, dst) with an index each way.
func (s *synthetic) sqliteBaseline(tb testing.TB) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(tb.TempDir(), "edges.db")+"?_pragma=journal_mode(off)&_pragma=synchronous(off)")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE nodes (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)`,
		`CREATE TABLE edges (src INTEGER NOT NULL, dst INTEGER NOT NULL, PRIMARY KEY (dst, src)) WITHOUT ROWID`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	insN, _ := tx.Prepare(`INSERT INTO nodes (id, name) VALUES (?, ?)`)
	for i := range synDatasets + len(s.jobs) {
		if _, err := insN.Exec(i, string(s.name(i))); err != nil {
			tb.Fatal(err)
		}
	}
	insE, _ := tx.Prepare(`INSERT OR IGNORE INTO edges (src, dst) VALUES (?, ?)`)
	for _, e := range s.edges {
		if _, err := insE.Exec(e[0], e[1]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	for _, q := range []string{`CREATE INDEX edges_src ON edges (src, dst)`, `ANALYZE`} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			tb.Fatal(err)
		}
	}
	return db
}

// The recursive CTEs of the baseline: UNION (not UNION ALL) so that a cycle
// ends; node names joined in, as the lineage result names its nodes.
const (
	cteDepth = `WITH RECURSIVE up(n, d) AS (
  SELECT ?, 0
  UNION
  SELECT e.src, up.d + 1 FROM edges e JOIN up ON e.dst = up.n WHERE up.d < ?)
SELECT nodes.name, min(up.d) FROM up JOIN nodes ON nodes.id = up.n GROUP BY up.n`
	cteClosure = `WITH RECURSIVE up(n) AS (
  SELECT ?
  UNION
  SELECT e.src FROM edges e JOIN up ON e.dst = up.n)
SELECT nodes.name FROM up JOIN nodes ON nodes.id = up.n`
)

var bench struct {
	once    sync.Once
	syn     *synthetic
	g       *lineage.Graph
	db      *sql.DB
	queries []int // dataset indexes queried, fixed
}

func benchSetup(b *testing.B) {
	bench.once.Do(func() {
		start := time.Now()
		bench.syn = generate(6)
		bench.g = bench.syn.graph()
		if _, err := bench.g.Lineage(bench.syn.datasets[0], lineage.Options{Direction: lineage.Upstream}); err != nil {
			b.Fatal(err)
		}
		built := time.Since(start)
		start = time.Now()
		bench.db = bench.syn.sqliteBaseline(b)
		b.Logf("synthetic graph: %d datasets, %d jobs, %d edges; built in memory in %v, loaded into SQLite in %v",
			synDatasets, len(bench.syn.jobs), len(bench.syn.edges), built.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		rng := rand.New(rand.NewPCG(7, 7))
		for range 1000 { // datasets of the later stages: the ones people ask about
			p, stage, k := rng.IntN(synPipelines), 5+rng.IntN(synStages-5), rng.IntN(synPerStage)
			bench.queries = append(bench.queries, p*synStages*synPerStage+stage*synPerStage+k)
		}
	})
}

// threadCPU is the CPU time of the calling OS thread (Linux
// CLOCK_THREAD_CPUTIME_ID; the caller locks its OS thread): on a shared
// machine wall time also counts other processes' turns. Zero when
// unavailable.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return time.Duration(ts.Nano())
}

func p50(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// benchSideBySide runs the graph query and the SQLite baseline on the same
// node, alternately, and reports both medians and their ratio.
func benchSideBySide(b *testing.B, depth int) {
	benchSetup(b)
	ctx := context.Background()
	var mem, lite, memCPU, liteCPU []time.Duration
	var nodes, liteNodes int
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := bench.queries[i%len(bench.queries)]
		start, cpu := time.Now(), threadCPU()
		r, err := bench.g.Lineage(bench.syn.datasets[q], lineage.Options{Direction: lineage.Upstream, Depth: depth})
		if err != nil {
			b.Fatal(err)
		}
		mem = append(mem, time.Since(start))
		memCPU = append(memCPU, threadCPU()-cpu)
		nodes += len(r.Nodes)

		start, cpu = time.Now(), threadCPU()
		var rows *sql.Rows
		if depth > 0 {
			rows, err = bench.db.QueryContext(ctx, cteDepth, q, depth)
		} else {
			rows, err = bench.db.QueryContext(ctx, cteClosure, q)
		}
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var name string
			var d int
			if depth > 0 {
				err = rows.Scan(&name, &d)
			} else {
				err = rows.Scan(&name)
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if err := rows.Err(); err != nil {
			b.Fatal(err)
		}
		rows.Close()
		lite = append(lite, time.Since(start))
		liteCPU = append(liteCPU, threadCPU()-cpu)
		liteNodes += n
		if n != len(r.Nodes) {
			b.Fatalf("node %d: graph found %d nodes, SQLite %d", q, len(r.Nodes), n)
		}
	}
	b.StopTimer()
	pm, pl := p50(mem), p50(lite)
	b.ReportMetric(float64(pm.Microseconds()), "p50-µs")
	b.ReportMetric(float64(pl.Microseconds()), "sqlite-p50-µs")
	b.ReportMetric(float64(pl)/float64(pm), "speedup")
	b.ReportMetric(float64(p50(memCPU).Microseconds()), "cpu-p50-µs")
	b.ReportMetric(float64(p50(liteCPU).Microseconds()), "sqlite-cpu-p50-µs")
	b.ReportMetric(float64(nodes)/float64(b.N), "nodes/query")
}

// BenchmarkUpstreamDepth5: lineage of a dataset 5 edges upstream, beside
// the recursive CTE.
func BenchmarkUpstreamDepth5(b *testing.B) { benchSideBySide(b, 5) }

// BenchmarkUpstreamClosure: the full upstream closure, beside the recursive
// CTE.
func BenchmarkUpstreamClosure(b *testing.B) { benchSideBySide(b, 0) }

// BenchmarkImpact: time-aware downstream impact of a source dataset.
func BenchmarkImpact(b *testing.B) {
	benchSetup(b)
	var mem []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		q := bench.queries[i%len(bench.queries)]
		start := time.Now()
		if _, err := bench.g.Impact(bench.syn.datasets[q], time.Time{}); err != nil {
			b.Fatal(err)
		}
		mem = append(mem, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(p50(mem).Microseconds()), "p50-µs")
}

func TestSyntheticShape(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 570k-edge graph")
	}
	s := generate(6)
	if len(s.edges) < 540_000 || len(s.edges) > 600_000 {
		t.Errorf("synthetic graph has %d edges, want about 570,000", len(s.edges))
	}
	if testing.Verbose() {
		t.Logf("%d edges", len(s.edges))
	}
	g := s.graph()
	// The graph query and a plain walk over the generator's edges agree.
	up := map[int][]int{}
	for _, e := range s.edges {
		up[e[1]] = append(up[e[1]], e[0])
	}
	for _, q := range []int{12345, 99999, 54321, 777} {
		seen := map[int]bool{q: true}
		queue := []int{q}
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			for _, v := range up[u] {
				if !seen[v] {
					seen[v] = true
					queue = append(queue, v)
				}
			}
		}
		r, err := g.Lineage(s.datasets[q], lineage.Options{Direction: lineage.Upstream})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Nodes) != len(seen) {
			t.Errorf("upstream of %s: graph %d nodes, walk %d", s.datasets[q], len(r.Nodes), len(seen))
		}
	}
}
