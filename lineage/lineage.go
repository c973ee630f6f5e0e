// Package lineage is an in-memory, time-aware lineage graph of datasets,
// jobs and runs.
//
// This is the minimal form of the interface agreed in /work/LINEAGE-API.md,
// kept on the ol-ingest branch only so that package openlineage compiles; the
// lineage helper's package replaces it.
package lineage

import "time"

// NodeID is a node as Marquez writes a nodeId: "dataset:NAMESPACE:NAME",
// "job:NAMESPACE:NAME", "run:ID". Namespaces may contain colons.
type NodeID string

// DatasetNode returns the node of a dataset.
func DatasetNode(namespace, name string) NodeID {
	return NodeID("dataset:" + namespace + ":" + name)
}

// JobNode returns the node of a job.
func JobNode(namespace, name string) NodeID { return NodeID("job:" + namespace + ":" + name) }

// RunNode returns the node of a run.
func RunNode(runID string) NodeID { return NodeID("run:" + runID) }

// Graph is a lineage graph. It is not safe for concurrent writes.
type Graph struct {
	runs     map[string]*Run
	ios      []IO
	columns  []ColumnEdge
	datasets map[NodeID]bool
	jobs     map[NodeID]bool
}

// New returns an empty graph.
func New() *Graph {
	return &Graph{runs: map[string]*Run{}, datasets: map[NodeID]bool{}, jobs: map[NodeID]bool{}}
}

// Run is one run of a job. Zero times are unknown. Index is the log index of
// the latest event describing the run.
type Run struct {
	ID      string
	Job     NodeID
	Parent  string
	Started time.Time
	Ended   time.Time
	State   string
	Index   int64
}

// AddRun adds a run, merging with an earlier AddRun of the same ID.
func (g *Graph) AddRun(r Run) {
	have := g.runs[r.ID]
	if have == nil {
		c := r
		g.runs[r.ID] = &c
		if r.Job != "" {
			g.jobs[r.Job] = true
		}
		return
	}
	if have.Job == "" {
		have.Job = r.Job
	}
	if have.Parent == "" {
		have.Parent = r.Parent
	}
	if !r.Started.IsZero() && (have.Started.IsZero() || r.Started.Before(have.Started)) {
		have.Started = r.Started
	}
	if !r.Ended.IsZero() && r.Ended.After(have.Ended) {
		have.Ended = r.Ended
	}
	if r.Index >= have.Index {
		have.Index = r.Index
		if r.State != "" {
			have.State = r.State
		}
	}
}

// IO is a run reading (Output=false) or writing (Output=true) a dataset
// version at a time.
type IO struct {
	Run     string
	Dataset NodeID
	Output  bool
	At      time.Time
	Version string
	Index   int64
}

// AddIO adds a read or a write.
func (g *Graph) AddIO(io IO) {
	g.ios = append(g.ios, io)
	g.datasets[io.Dataset] = true
}

// ColumnEdge: column ToField of To derives from column FromField of From.
type ColumnEdge struct {
	Run                string
	From, To           NodeID
	FromField, ToField string
	Transformation     string
}

// AddColumn adds a column edge.
func (g *Graph) AddColumn(c ColumnEdge) { g.columns = append(g.columns, c) }

// AddDataset adds a dataset known without runs.
func (g *Graph) AddDataset(id NodeID) { g.datasets[id] = true }

// AddJob adds a job known without runs.
func (g *Graph) AddJob(id NodeID) { g.jobs[id] = true }
