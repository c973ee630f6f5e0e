package lineage

import (
	"encoding/json"
	"math"
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
// depth (sorted by depth, then id), the edges walked among them (Edges), and
// the edges that close a cycle (each also an edge). Edges are sorted by
// their end nearer the root (To upstream, From downstream), then by the
// other end, in id order. They are kept compactly (node positions, no
// strings) and written out by Edges and MarshalJSON.
type Result struct {
	Root      NodeID       `json:"root"`
	Direction string       `json:"direction"`
	Depth     int          `json:"depth,omitempty"`
	At        time.Time    `json:"at,omitzero"`
	View      string       `json:"view"` // "jobs" or "runs"
	Nodes     []ResultNode `json:"nodes"`
	links     []link       // the edges, by position in Nodes
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
	adj, flow := &x.jobUp, &x.jobDown // the walk, and edges in data-flow direction
	comp := x.jobComp
	switch {
	case runs && opts.Direction == Upstream:
		adj, flow, comp = &x.runUp, &x.runDown, x.runComp
	case runs:
		adj, flow, comp = &x.runDown, &x.runDown, x.runComp
	case opts.Direction == Downstream:
		adj = &x.jobDown
	}
	at := noTime
	if !opts.At.IsZero() {
		at = opts.At.UnixNano()
	}
	limit := int32(opts.Depth)
	if opts.Depth == 0 {
		limit = math.MaxInt32
	}

	s := x.getScratch()
	defer x.putScratch(s)
	gen := s.gen
	s.seen[r], s.at[r] = gen, 0
	s.queue = append(s.queue, r)
	truncated := false
	walkedEdges := 0
	for i := 0; i < len(s.queue); i++ {
		u := s.queue[i]
		d := s.at[u]
		for p := adj.off[u]; p < adj.off[u+1]; p++ {
			if at != noTime && adj.at[p] > at {
				continue
			}
			if d < limit {
				walkedEdges++
			}
			v := adj.to[p]
			if s.seen[v] == gen {
				continue
			}
			if d == limit {
				truncated = true
				break
			}
			s.seen[v], s.at[v] = gen, d+1
			s.queue = append(s.queue, v)
		}
	}

	res := &Result{Root: root, Direction: opts.Direction.String(), Depth: opts.Depth, At: opts.At, View: "jobs", Truncated: truncated}
	if runs {
		res.View = "runs"
	}
	// Nodes by depth, then id: sort (depth, rank) keys.
	keys := s.keys[:0]
	for _, u := range s.queue {
		keys = append(keys, uint64(s.at[u])<<32|uint64(x.rank[u]))
	}
	slices.Sort(keys)
	res.Nodes = make([]ResultNode, len(keys))
	for i, k := range keys {
		u := x.order[uint32(k)]
		s.pos[u] = int32(i)
		n := g.nodes[u]
		res.Nodes[i] = ResultNode{ID: n.id, Kind: n.kind.String(), Depth: int(k >> 32)}
	}
	// The edges walked, in data-flow direction: from each node reached (in
	// id order) within the depth bound, its edges in the walk's direction
	// (in id order too).
	for i, u := range s.queue {
		keys[i] = uint64(x.rank[u])
	}
	slices.Sort(keys)
	res.links = make([]link, 0, walkedEdges)
	cyclicNodes := false
	for _, k := range keys {
		u := x.order[k]
		cyclicNodes = cyclicNodes || comp[u] >= 0
		if s.at[u] >= limit {
			continue
		}
		for p := adj.off[u]; p < adj.off[u+1]; p++ {
			if at != noTime && adj.at[p] > at {
				continue
			}
			e := link{from: s.pos[u], to: s.pos[adj.to[p]], at: adj.at[p]}
			if opts.Direction == Upstream {
				e.from, e.to = e.to, e.from
			}
			res.links = append(res.links, e)
		}
	}
	walked := func(f, t int32, p int32) bool {
		if s.seen[t] != gen || (at != noTime && flow.at[p] > at) {
			return false
		}
		if opts.Direction == Upstream {
			return s.at[t] < limit
		}
		return s.at[f] < limit
	}
	// Cycles: back edges of a depth-first walk of those edges within
	// components on cycles (no other edge can close one), iterative.
	var back [][2]int32
	for _, k := range keys {
		root := x.order[k]
		if !cyclicNodes || comp[root] < 0 || s.grey[root] == gen {
			continue
		}
		s.grey[root], s.next[root] = gen, flow.off[root]
		s.stack = append(s.stack[:0], root)
		for len(s.stack) > 0 {
			u := s.stack[len(s.stack)-1]
			if s.next[u] == flow.off[u+1] {
				s.black[u] = gen
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			p := s.next[u]
			s.next[u]++
			v := flow.to[p]
			if comp[v] != comp[u] || !walked(u, v, p) {
				continue
			}
			switch {
			case s.grey[v] != gen:
				s.grey[v], s.next[v] = gen, flow.off[v]
				s.stack = append(s.stack, v)
			case s.black[v] != gen:
				back = append(back, [2]int32{u, v})
			}
		}
	}
	slices.SortFunc(back, func(a, b [2]int32) int {
		if a[0] != b[0] {
			return int(x.rank[a[0]] - x.rank[b[0]])
		}
		return int(x.rank[a[1]] - x.rank[b[1]])
	})
	for _, e := range back {
		res.Cycles = append(res.Cycles, Edge{From: g.nodes[e[0]].id, To: g.nodes[e[1]].id, At: fromNanos(g.flowTime(flow, e[0], e[1]))})
	}
	s.keys = keys
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

// link is an edge of a Result: positions in Result.Nodes, and the time
// (Unix nanoseconds, noTime if unknown).
type link struct {
	from, to int32
	at       int64
}

// Edges returns the edges of the result, in data-flow direction, sorted as
// the Result doc says.
func (r *Result) Edges() []Edge {
	out := make([]Edge, len(r.links))
	for i, l := range r.links {
		out[i] = Edge{From: r.Nodes[l.from].ID, To: r.Nodes[l.to].ID, At: fromNanos(l.at)}
	}
	return out
}

// NumEdges returns the number of edges.
func (r *Result) NumEdges() int { return len(r.links) }

// MarshalJSON writes the result with its edges as {"from", "to", "at"}.
func (r *Result) MarshalJSON() ([]byte, error) {
	type plain Result
	c := struct {
		*plain
		Edges []Edge `json:"edges"`
	}{(*plain)(r), r.Edges()}
	if c.Nodes == nil {
		c.Nodes = []ResultNode{}
	}
	return json.Marshal(c)
}

// UnmarshalJSON reads what MarshalJSON writes (a result from a server),
// so that it can be written in any format. An edge naming a node that is
// not among the nodes is an error.
func (r *Result) UnmarshalJSON(b []byte) error {
	type plain Result
	c := struct {
		*plain
		Edges []Edge `json:"edges"`
	}{plain: (*plain)(r)}
	if err := json.Unmarshal(b, &c); err != nil {
		return err
	}
	pos := make(map[NodeID]int32, len(r.Nodes))
	for i, n := range r.Nodes {
		pos[n.ID] = int32(i)
	}
	r.links = make([]link, 0, len(c.Edges))
	for _, e := range c.Edges {
		f, ok := pos[e.From]
		t, ok2 := pos[e.To]
		if !ok || !ok2 {
			return prov.Errorf(prov.Invalid, "lineage result: edge %s -> %s names a node that is not in the result", e.From, e.To)
		}
		r.links = append(r.links, link{from: f, to: t, at: nanos(e.At)})
	}
	return nil
}

// flowTime is the time of the edge from -> to in flow.
func (g *Graph) flowTime(flow *csr, from, to int32) int64 {
	for p := flow.off[from]; p < flow.off[from+1]; p++ {
		if flow.to[p] == to {
			return flow.at[p]
		}
	}
	return noTime
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
	defer x.putScratch(s)
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
