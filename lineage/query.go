package lineage

import (
	"slices"
	"time"

	"github.com/prov-dev/prov"
)

// Direction says which way a lineage query walks.
type Direction int

// Directions.
const (
	Upstream   Direction = 1 // towards what a node was made from
	Downstream Direction = 2 // towards what was made from a node
)

func (d Direction) String() string {
	if d == Downstream {
		return "downstream"
	}
	return "upstream"
}

// Options of a lineage query.
type Options struct {
	Direction Direction
	// Depth bounds the walk in edges (a dataset's producing job is at depth
	// 1, that job's inputs at depth 2); 0 means no bound.
	Depth int
	// At is the time the graph is seen as of: edges first reported after At
	// are left out. Zero: everything.
	At time.Time
	// Columns adds the column-level edges between the datasets reached.
	Columns bool
	// Runs walks runs instead of jobs (dataset -> run -> dataset, parent run
	// -> child run). A query from a run always does.
	Runs bool
}

// ResultNode is a node reached by a query, at its distance from the root.
type ResultNode struct {
	ID    NodeID `json:"id"`
	Kind  string `json:"type"`
	Depth int    `json:"depth"`
}

// Edge is an edge in data-flow direction (input to job, job to output), with
// the time it was first reported (zero: unknown).
type Edge struct {
	From NodeID    `json:"from"`
	To   NodeID    `json:"to"`
	At   time.Time `json:"at,omitzero"`
}

// Result is the answer to a lineage query: the nodes reached with their
// depth (sorted by depth, then id), the edges walked among them (sorted), and
// the edges that close a cycle (each also in Edges).
type Result struct {
	Root      NodeID       `json:"root"`
	Direction string       `json:"direction"`
	Depth     int          `json:"depth,omitempty"`
	At        time.Time    `json:"at,omitzero"`
	View      string       `json:"view"` // "jobs" or "runs"
	Nodes     []ResultNode `json:"nodes"`
	Edges     []Edge       `json:"edges"`
	Cycles    []Edge       `json:"cycles,omitempty"`
	Columns   []ColumnEdge `json:"columns,omitempty"`
	// Truncated: nodes exist beyond Depth.
	Truncated bool `json:"truncated,omitempty"`
}

// Lineage returns the upstream or downstream closure of root, bounded by
// opts.Depth and seen as of opts.At. It returns an error of kind NotFound
// for an unknown root and Invalid for bad options. It never loops on cycles.
func (g *Graph) Lineage(root NodeID, opts Options) (*Result, error) {
	r, ok := g.ids[root]
	if !ok {
		return nil, g.unknown(string(root), root.Kind())
	}
	if opts.Direction != Upstream && opts.Direction != Downstream {
		return nil, prov.Errorf(prov.Invalid, "a lineage query needs a direction: upstream or downstream")
	}
	if opts.Depth < 0 {
		return nil, prov.Errorf(prov.Invalid, "depth %d: want 0 (no bound) or more", opts.Depth)
	}
	x := g.index()
	runs := opts.Runs || g.nodes[r].kind == kindRun
	var adj *csr
	switch {
	case runs && opts.Direction == Upstream:
		adj = &x.runUp
	case runs:
		adj = &x.runDown
	case opts.Direction == Upstream:
		adj = &x.jobUp
	default:
		adj = &x.jobDown
	}
	at := noTime
	if !opts.At.IsZero() {
		at = opts.At.UnixNano()
	}
	limit := int32(opts.Depth)
	if opts.Depth == 0 {
		limit = -1
	}

	s := x.getScratch()
	defer x.scratch.Put(s)
	s.seen[r] = s.gen
	s.queue = append(s.queue, r)
	s.depth = append(s.depth, 0)
	type walked struct {
		from, to int32
		at       int64
	}
	var edges []walked
	truncated := false
	for i := 0; i < len(s.queue); i++ {
		u, d := s.queue[i], s.depth[i]
		if d == limit {
			if !truncated {
				for p := adj.off[u]; p < adj.off[u+1]; p++ {
					if at == noTime || adj.at[p] <= at {
						if s.seen[adj.to[p]] != s.gen {
							truncated = true
						}
					}
				}
			}
			continue
		}
		for p := adj.off[u]; p < adj.off[u+1]; p++ {
			if at != noTime && adj.at[p] > at {
				continue
			}
			v := adj.to[p]
			edges = append(edges, walked{u, v, adj.at[p]})
			if s.seen[v] != s.gen {
				s.seen[v] = s.gen
				s.queue = append(s.queue, v)
				s.depth = append(s.depth, d+1)
			}
		}
	}

	res := &Result{Root: root, Direction: opts.Direction.String(), Depth: opts.Depth, At: opts.At, View: "jobs", Truncated: truncated}
	if runs {
		res.View = "runs"
	}
	res.Nodes = make([]ResultNode, len(s.queue))
	for i, u := range s.queue {
		n := g.nodes[u]
		res.Nodes[i] = ResultNode{ID: n.id, Kind: n.kind.String(), Depth: int(s.depth[i])}
	}
	// BFS order is by depth already; within a depth, order by id.
	slices.SortStableFunc(res.Nodes, func(a, b ResultNode) int {
		if a.Depth != b.Depth {
			return a.Depth - b.Depth
		}
		return compareIDs(a.ID, b.ID)
	})
	// Edges in data-flow direction, sorted by (from, to) in id order.
	if opts.Direction == Upstream {
		for i := range edges {
			edges[i].from, edges[i].to = edges[i].to, edges[i].from
		}
	}
	slices.SortFunc(edges, func(a, b walked) int {
		if a.from != b.from {
			return int(x.rank[a.from] - x.rank[b.from])
		}
		return int(x.rank[a.to] - x.rank[b.to])
	})
	res.Edges = make([]Edge, len(edges))
	for i, e := range edges {
		res.Edges[i] = Edge{From: g.nodes[e.from].id, To: g.nodes[e.to].id, At: fromNanos(e.at)}
	}
	res.Cycles = cycles(res.Edges)
	if opts.Columns {
		in := make(map[NodeID]bool, len(res.Nodes))
		for _, n := range res.Nodes {
			in[n.ID] = true
		}
		for _, c := range g.columns {
			if in[c.From] && in[c.To] {
				res.Columns = append(res.Columns, c)
			}
		}
		slices.SortFunc(res.Columns, compareColumns)
	}
	return res, nil
}

func compareColumns(a, b ColumnEdge) int {
	for _, c := range [][2]string{{string(a.To), string(b.To)}, {a.ToField, b.ToField}, {string(a.From), string(b.From)}, {a.FromField, b.FromField}, {a.Run, b.Run}, {a.Transformation, b.Transformation}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// cycles returns the edges of es (sorted by from) that close a cycle: the
// back edges of a depth-first walk in edge order, iterative so that a long
// chain cannot overflow the stack.
func cycles(es []Edge) []Edge {
	if len(es) == 0 {
		return nil
	}
	ids := map[NodeID]int32{}
	var names []NodeID
	id := func(n NodeID) int32 {
		i, ok := ids[n]
		if !ok {
			i = int32(len(names))
			ids[n] = i
			names = append(names, n)
		}
		return i
	}
	from := make([]int32, len(es))
	to := make([]int32, len(es))
	for i, e := range es {
		from[i], to[i] = id(e.From), id(e.To)
	}
	n := len(names)
	off := make([]int32, n+1)
	for _, f := range from {
		off[f+1]++
	}
	for i := 1; i <= n; i++ {
		off[i] += off[i-1]
	}
	adj := make([]int32, len(es)) // edge indexes by source, in input order
	pos := slices.Clone(off[:n])
	for i, f := range from {
		adj[pos[f]] = int32(i)
		pos[f]++
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, n)
	next := make([]int32, n) // next edge to look at, per node on the stack
	var out []Edge
	var stack []int32
	for s := int32(0); s < int32(n); s++ {
		if color[s] != white {
			continue
		}
		color[s] = grey
		next[s] = off[s]
		stack = append(stack[:0], s)
		for len(stack) > 0 {
			u := stack[len(stack)-1]
			if next[u] == off[u+1] {
				color[u] = black
				stack = stack[:len(stack)-1]
				continue
			}
			e := adj[next[u]]
			next[u]++
			v := to[e]
			switch color[v] {
			case grey:
				out = append(out, es[e])
			case white:
				color[v] = grey
				next[v] = off[v]
				stack = append(stack, v)
			}
		}
	}
	slices.SortFunc(out, func(a, b Edge) int {
		if c := compareIDs(a.From, b.From); c != 0 {
			return c
		}
		return compareIDs(a.To, b.To)
	})
	return out
}

// UpstreamPath walks upstream from start (in the job view, as of now) and
// returns the shortest path start, …, m to the first node m for which match
// is true, or nil if there is none. start itself is tried first. From a
// dataset, the runs that wrote it are tried too (not walked further), so a
// matching run is found. A run as start walks the run view.
func (g *Graph) UpstreamPath(start NodeID, match func(NodeID) bool) ([]NodeID, error) {
	r, ok := g.ids[start]
	if !ok {
		return nil, g.unknown(string(start), start.Kind())
	}
	x := g.index()
	adj := &x.jobUp
	if g.nodes[r].kind == kindRun {
		adj = &x.runUp
	}
	s := x.getScratch()
	defer x.scratch.Put(s)
	parent := map[int32]int32{}
	path := func(u int32) []NodeID {
		var p []NodeID
		for {
			p = append(p, g.nodes[u].id)
			if u == r {
				break
			}
			u = parent[u]
		}
		slices.Reverse(p)
		return p
	}
	s.seen[r] = s.gen
	s.queue = append(s.queue, r)
	for i := 0; i < len(s.queue); i++ {
		u := s.queue[i]
		if match(g.nodes[u].id) {
			return path(u), nil
		}
		if g.nodes[u].kind == kindDataset && adj != &x.runUp {
			for p := x.runUp.off[u]; p < x.runUp.off[u+1]; p++ {
				w := x.runUp.to[p]
				if g.nodes[w].kind == kindRun && match(g.nodes[w].id) {
					return append(path(u), g.nodes[w].id), nil
				}
			}
		}
		for p := adj.off[u]; p < adj.off[u+1]; p++ {
			v := adj.to[p]
			if s.seen[v] != s.gen {
				s.seen[v] = s.gen
				parent[v] = u
				s.queue = append(s.queue, v)
			}
		}
	}
	return nil, nil
}
