// Package lineage is Prov's in-memory, time-aware lineage graph of pipelines:
// jobs, their runs, and the datasets runs read and write, as OpenLineage
// reports them (and as Marquez shows them), with column-level edges.
//
// A Graph is built once with the Add methods, then queried: Lineage (the
// upstream or downstream closure of a node, to a depth, as of a time),
// Impact (what a poisoned write reached, time-aware) and Upstream paths for
// quarantine checks. Node ids are interned to integers and edges kept in
// CSR arrays, built on the first query after a change. Cycles are accepted
// (real lineage has them: a job that reads and rewrites its table) and no
// query loops on them.
//
// Add methods must not be called concurrently with each other or with
// queries; once built, any number of queries may run concurrently.
package lineage

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"sync"
	"time"
)

// Run is one run of a job. Zero times are unknown. Index is the log index of
// the latest event describing the run (for provenance/PROV export).
type Run struct {
	ID      string
	Job     NodeID
	Parent  string // parent run id, "" if none
	Started time.Time
	Ended   time.Time
	State   string // START, RUNNING, COMPLETE, FAIL, ABORT, OTHER
	Index   int64
}

// IO is a run reading (Output=false) or writing (Output=true) a dataset
// version at a time.
type IO struct {
	Run     string
	Dataset NodeID
	Output  bool
	At      time.Time // event time of the event that reported it; zero: unknown
	Version string    // dataset version if known
	Index   int64     // log index of the event
}

// ColumnEdge: column ToField of To derives from column FromField of From
// (OpenLineage columnLineage facet).
type ColumnEdge struct {
	Run                string // "" if not tied to a run
	From, To           NodeID
	FromField, ToField string
	Transformation     string
}

type kind uint8

const (
	kindDataset kind = iota
	kindJob
	kindRun
)

func (k kind) String() string {
	switch k {
	case kindJob:
		return KindJob
	case kindRun:
		return KindRun
	}
	return KindDataset
}

type node struct {
	id   NodeID
	kind kind
}

// Times inside the graph are Unix nanoseconds; unknown is noTime.
const noTime int64 = math.MinInt64

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ioRec is an IO with interned ids.
type ioRec struct {
	run, dataset int32
	output       bool
	at           int64
	version      string
	index        int64
}

// Graph is a lineage graph. The zero value is not usable: call New.
type Graph struct {
	ids     map[NodeID]int32
	nodes   []node
	runs    map[int32]*Run // by run node
	ios     []ioRec
	columns []ColumnEdge

	mu  sync.Mutex
	idx *index // built on the first query after a change; nil when stale
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{ids: map[NodeID]int32{}, runs: map[int32]*Run{}}
}

func (g *Graph) intern(id NodeID, k kind) int32 {
	if i, ok := g.ids[id]; ok {
		return i
	}
	i := int32(len(g.nodes))
	g.ids[id] = i
	g.nodes = append(g.nodes, node{id: id, kind: k})
	g.idx = nil
	return i
}

// AddDataset adds a dataset known without runs (an OpenLineage DatasetEvent).
func (g *Graph) AddDataset(id NodeID) { g.intern(id, kindDataset) }

// AddJob adds a job known without runs (an OpenLineage JobEvent).
func (g *Graph) AddJob(id NodeID) { g.intern(id, kindJob) }

// AddRun adds a run, or merges r into an earlier AddRun of the same ID: known
// fields of r (non-zero) replace those stored; the earliest Started, the
// latest Ended and the greatest Index are kept.
func (g *Graph) AddRun(r Run) {
	i := g.intern(RunNode(r.ID), kindRun)
	if r.Job != "" {
		g.intern(r.Job, kindJob)
	}
	if r.Parent != "" {
		g.intern(RunNode(r.Parent), kindRun)
	}
	g.idx = nil
	old := g.runs[i]
	if old == nil {
		c := r
		g.runs[i] = &c
		return
	}
	if r.Job != "" {
		old.Job = r.Job
	}
	if r.Parent != "" {
		old.Parent = r.Parent
	}
	if !r.Started.IsZero() && (old.Started.IsZero() || r.Started.Before(old.Started)) {
		old.Started = r.Started
	}
	if !r.Ended.IsZero() && r.Ended.After(old.Ended) {
		old.Ended = r.Ended
	}
	if r.State != "" && r.Index >= old.Index {
		old.State = r.State
	}
	old.Index = max(old.Index, r.Index)
}

// AddIO adds a run reading or writing a dataset. The run and the dataset
// need not have been added before.
func (g *Graph) AddIO(x IO) {
	r := g.intern(RunNode(x.Run), kindRun)
	if g.runs[r] == nil {
		g.runs[r] = &Run{ID: x.Run}
	}
	d := g.intern(x.Dataset, kindDataset)
	g.ios = append(g.ios, ioRec{run: r, dataset: d, output: x.Output, at: nanos(x.At), version: x.Version, index: x.Index})
	g.idx = nil
}

// AddColumn adds a column-level edge.
func (g *Graph) AddColumn(c ColumnEdge) {
	g.intern(c.From, kindDataset)
	g.intern(c.To, kindDataset)
	if c.Run != "" {
		g.intern(RunNode(c.Run), kindRun)
	}
	g.columns = append(g.columns, c)
	g.idx = nil
}

// Has reports whether the graph knows the node.
func (g *Graph) Has(id NodeID) bool { _, ok := g.ids[id]; return ok }

// Len returns the number of nodes.
func (g *Graph) Len() int { return len(g.nodes) }

// Nodes returns every node, sorted.
func (g *Graph) Nodes() []NodeID {
	out := make([]NodeID, len(g.nodes))
	for i, n := range g.nodes {
		out[i] = n.id
	}
	slices.Sort(out)
	return out
}

// Run returns the run with the given id.
func (g *Graph) Run(id string) (Run, bool) {
	i, ok := g.ids[RunNode(id)]
	if !ok || g.runs[i] == nil {
		return Run{}, false
	}
	return *g.runs[i], true
}

// IOs returns the reads and writes of a run (id "" for all runs), in the
// order they were added.
func (g *Graph) IOs(run string) []IO {
	var out []IO
	r, known := g.ids[RunNode(run)]
	if run != "" && !known {
		return nil
	}
	for _, x := range g.ios {
		if run != "" && x.run != r {
			continue
		}
		out = append(out, IO{Run: g.runs[x.run].ID, Dataset: g.nodes[x.dataset].id, Output: x.output, At: fromNanos(x.at), Version: x.version, Index: x.index})
	}
	return out
}

// Columns returns the column edges, in the order they were added.
func (g *Graph) Columns() []ColumnEdge { return slices.Clone(g.columns) }

// csr is a compressed sparse row adjacency: the neighbours of node i are
// to[off[i]:off[i+1]], each with the time the edge first existed (noTime:
// unknown, taken as always).
type csr struct {
	off []int32
	to  []int32
	at  []int64
}

type edge struct {
	from, to int32
	at       int64
}

func buildCSR(n int, edges []edge) csr {
	c := csr{off: make([]int32, n+1), to: make([]int32, len(edges)), at: make([]int64, len(edges))}
	for _, e := range edges {
		c.off[e.from+1]++
	}
	for i := 1; i <= n; i++ {
		c.off[i] += c.off[i-1]
	}
	pos := slices.Clone(c.off[:n])
	for _, e := range edges {
		p := pos[e.from]
		c.to[p], c.at[p] = e.to, e.at
		pos[e.from]++
	}
	return c
}

// ioRef is one read or write seen from a dataset or a run.
type ioRef struct {
	other int32 // the run (from a dataset) or the dataset (from a run)
	at    int64
}

// index is what queries read, built from the Add calls.
type index struct {
	// Job view (as Marquez shows lineage): dataset -> job (a run of the job
	// read it), job -> dataset (a run wrote it). Edge time: the earliest.
	jobDown, jobUp csr
	// Run view: dataset -> run, run -> dataset, parent run -> child run.
	runDown, runUp csr
	// For impact: reads of each dataset sorted by time, writes of each run.
	reads, writes [][]ioRef
	jobOf         []int32 // run node -> job node, -1 if unknown
	rank          []int32 // node -> position in id order
	order         []int32 // position in id order -> node
	runsOf        map[int32][]int32
	n             int
	// Strongly connected components on cycles, by node (-1: on none), so
	// that queries look for cycles only where there are some.
	jobComp, runComp []int32
	// Per-query memory, kept (not a sync.Pool, which the collector empties:
	// a query would then allocate and clear arrays of every node).
	mu   sync.Mutex
	free []*scratch
}

// unknownJob stands for the job of a run whose job is not known.
const unknownJob int32 = -1

func (g *Graph) index() *index {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.idx == nil {
		g.idx = g.build()
	}
	return g.idx
}

func (g *Graph) build() *index {
	n := len(g.nodes)
	x := &index{jobOf: make([]int32, n), runsOf: map[int32][]int32{}}
	for i := range x.jobOf {
		x.jobOf[i] = unknownJob
	}
	runNodes := make([]int32, 0, len(g.runs))
	for i := range g.runs {
		runNodes = append(runNodes, i)
	}
	slices.Sort(runNodes)
	var runEdges []edge
	for _, i := range runNodes {
		r := g.runs[i]
		if r.Job != "" {
			j := g.ids[r.Job]
			x.jobOf[i] = j
			x.runsOf[j] = append(x.runsOf[j], i)
		}
		if r.Parent != "" {
			p := g.ids[RunNode(r.Parent)]
			runEdges = append(runEdges, edge{p, i, nanos(r.Started)})
		}
	}
	rank := make([]int32, n) // position of each node in id order
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return compareIDs(g.nodes[a].id, g.nodes[b].id) })
	for r, i := range order {
		rank[i] = int32(r)
	}
	x.rank = rank
	x.order = order
	// Job-level edges (dataset -> job, job -> dataset) and run-level ones,
	// deduplicated below with their earliest time.
	jobEdges := make([]edge, 0, len(g.ios))
	runEdges = slices.Grow(runEdges, len(g.ios))
	x.reads = make([][]ioRef, n)
	x.writes = make([][]ioRef, n)
	for _, e := range g.ios {
		if e.output {
			x.writes[e.run] = append(x.writes[e.run], ioRef{e.dataset, e.at})
			runEdges = append(runEdges, edge{e.run, e.dataset, e.at})
		} else {
			x.reads[e.dataset] = append(x.reads[e.dataset], ioRef{e.run, e.at})
			runEdges = append(runEdges, edge{e.dataset, e.run, e.at})
		}
		j := x.jobOf[e.run]
		if j == unknownJob {
			continue
		}
		if e.output {
			jobEdges = append(jobEdges, edge{j, e.dataset, e.at})
		} else {
			jobEdges = append(jobEdges, edge{e.dataset, j, e.at})
		}
	}
	for i := range x.reads {
		sort.SliceStable(x.reads[i], func(a, b int) bool { return x.reads[i][a].at < x.reads[i][b].at })
	}
	down := dedupe(jobEdges, rank)
	x.jobDown = buildCSR(n, down)
	x.jobUp = buildCSR(n, reverse(down, rank))
	rdown := dedupe(runEdges, rank)
	x.runDown = buildCSR(n, rdown)
	x.runUp = buildCSR(n, reverse(rdown, rank))
	x.jobComp = cyclic(&x.jobDown, n)
	x.runComp = cyclic(&x.runDown, n)
	x.n = n
	return x
}

func compareIDs(a, b NodeID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// sortEdges orders edges by source, then by target in id order, then by time.
func sortEdges(es []edge, rank []int32) {
	slices.SortFunc(es, func(a, b edge) int {
		if a.from != b.from {
			return int(a.from - b.from)
		}
		if a.to != b.to {
			return int(rank[a.to] - rank[b.to])
		}
		return cmp.Compare(a.at, b.at)
	})
}

// dedupe sorts es and keeps one edge per (from, to), the earliest.
func dedupe(es []edge, rank []int32) []edge {
	sortEdges(es, rank)
	out := es[:0]
	for _, e := range es {
		if len(out) > 0 && e.from == out[len(out)-1].from && e.to == out[len(out)-1].to {
			continue
		}
		out = append(out, e)
	}
	return out
}

func reverse(es []edge, rank []int32) []edge {
	out := make([]edge, len(es))
	for i, e := range es {
		out[i] = edge{e.to, e.from, e.at}
	}
	sortEdges(out, rank)
	return out
}

// scratch is per-query memory: seen[i] == gen marks node i visited in the
// current query, so that a query does not clear a slice of every node.
type scratch struct {
	seen  []uint32
	gen   uint32
	queue []int32
	depth []int32 // by position in queue
	at    []int32 // by node: depth, valid where seen
	grey  []uint32
	black []uint32
	next  []int32
	pos   []int32 // by node: position in the result's nodes
	stack []int32
	keys  []uint64
}

func (x *index) getScratch() *scratch {
	x.mu.Lock()
	var s *scratch
	if k := len(x.free); k > 0 {
		s, x.free = x.free[k-1], x.free[:k-1]
	}
	x.mu.Unlock()
	if s == nil {
		n := x.n
		s = &scratch{seen: make([]uint32, n), at: make([]int32, n), grey: make([]uint32, n), black: make([]uint32, n), next: make([]int32, n), pos: make([]int32, n)}
	}
	s.gen++
	if s.gen == 0 { // wrapped: clear once every 2^32 queries
		clear(s.seen)
		clear(s.grey)
		clear(s.black)
		s.gen = 1
	}
	s.queue, s.depth = s.queue[:0], s.depth[:0]
	return s
}

// putScratch returns s for the next query; a few are kept, one per
// concurrent query at most.
func (x *index) putScratch(s *scratch) {
	x.mu.Lock()
	if len(x.free) < 8 {
		x.free = append(x.free, s)
	}
	x.mu.Unlock()
}

// cyclic marks the nodes of c that lie on a cycle: comp[i] is the id of
// node i's strongly connected component when it has more than one node or a
// self-loop, -1 otherwise. Tarjan's algorithm, iterative.
func cyclic(c *csr, n int) []int32 {
	const unvisited = -1
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	next := make([]int32, n)
	comp := make([]int32, n)
	for i := range index {
		index[i], comp[i] = unvisited, -1
	}
	var stack, call []int32
	counter, comps := int32(0), int32(0)
	for root := int32(0); root < int32(n); root++ {
		if index[root] != unvisited {
			continue
		}
		index[root], low[root], next[root] = counter, counter, c.off[root]
		counter++
		stack = append(stack, root)
		onStack[root] = true
		call = append(call[:0], root)
		for len(call) > 0 {
			u := call[len(call)-1]
			if next[u] < c.off[u+1] {
				v := c.to[next[u]]
				next[u]++
				switch {
				case index[v] == unvisited:
					index[v], low[v], next[v] = counter, counter, c.off[v]
					counter++
					stack = append(stack, v)
					onStack[v] = true
					call = append(call, v)
				case onStack[v]:
					low[u] = min(low[u], index[v])
				}
				continue
			}
			call = call[:len(call)-1]
			if len(call) > 0 {
				p := call[len(call)-1]
				low[p] = min(low[p], low[u])
			}
			if low[u] != index[u] {
				continue
			}
			// u roots a component: pop it.
			k := len(stack) - 1
			for stack[k] != u {
				k--
			}
			members := stack[k:]
			loop := len(members) > 1
			if !loop {
				for p := c.off[u]; p < c.off[u+1]; p++ {
					loop = loop || c.to[p] == u
				}
			}
			for _, m := range members {
				onStack[m] = false
				if loop {
					comp[m] = comps
				}
			}
			if loop {
				comps++
			}
			stack = stack[:k]
		}
	}
	return comp
}

// RunsOf returns the runs of a job, by id.
func (g *Graph) RunsOf(job NodeID) []Run {
	j, ok := g.ids[job]
	if !ok {
		return nil
	}
	x := g.index()
	var out []Run
	for _, r := range x.runsOf[j] {
		out = append(out, *g.runs[r])
	}
	slices.SortFunc(out, func(a, b Run) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// KindOf returns the kind of a known node (KindDataset, KindJob, KindRun),
// or "" for an unknown one.
func (g *Graph) KindOf(id NodeID) string {
	i, ok := g.ids[id]
	if !ok {
		return ""
	}
	return g.nodes[i].kind.String()
}
