// Package quarantine keeps marks on lineage nodes (datasets, jobs, runs)
// that are known to be poisoned, as records in the log, and checks whether
// a node or anything upstream of it is marked, so that a pipeline can gate
// on it (prov quarantine check exits 3).
//
// A mark or a clear is a record of type "quarantine" that names the node in
// used[0].id with role "mark" or "clear", with a reason (required), and
// optionally a ticket and an agent:
//
//	{"type":"quarantine","time":"…","agent":{"id":"user:bob"},"reason":"bad upstream file",
//	 "used":[{"id":"dataset:s3://raw:events","role":"mark"}]}
//
// Marks are replayed from the log in log order: a clear ends the mark in
// force on the same node; marking a marked node or clearing one that is not
// marked is refused before anything is appended.
package quarantine

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/lineage"
)

// Actions, the role of the node in a quarantine record.
const (
	ActionMark  = "mark"
	ActionClear = "clear"
)

// Mark is one quarantine record: a node marked or cleared.
type Mark struct {
	Node   lineage.NodeID `json:"node"`
	Action string         `json:"action"`
	Index  int64          `json:"index"` // in the log; -1 before it is appended
	Time   time.Time      `json:"time"`
	Agent  string         `json:"agent,omitempty"`
	Reason string         `json:"reason"`
	Ticket string         `json:"ticket,omitempty"`
}

// Record returns the log record of m (its Index is not part of it). The
// reason is required: errors are of kind Invalid.
func Record(m Mark) ([]byte, error) {
	if m.Action != ActionMark && m.Action != ActionClear {
		return nil, prov.Errorf(prov.Invalid, "quarantine action %q: want mark or clear", m.Action)
	}
	if strings.TrimSpace(m.Reason) == "" {
		return nil, prov.Errorf(prov.Invalid, "a quarantine %s needs a reason: give --reason TEXT (why the data is bad, or why it is good again)", m.Action)
	}
	if _, err := lineage.ParseNodeID(string(m.Node)); err != nil {
		return nil, err
	}
	r := prov.Record{Type: prov.TypeQuarantine, Time: m.Time, Reason: m.Reason, Ticket: m.Ticket,
		Used: []prov.EntityRef{{ID: string(m.Node), Role: m.Action}}}
	if m.Agent != "" {
		r.Agent = &prov.Agent{ID: m.Agent}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if _, err := prov.ParseRecord(b); err != nil {
		return nil, err
	}
	return b, nil
}

// State is the quarantine state replayed from the log: the marks in force
// and every mark and clear.
type State struct {
	active  map[lineage.NodeID]Mark
	History []Mark
}

// NewState returns a state with no marks.
func NewState() *State { return &State{active: map[lineage.NodeID]Mark{}} }

// Apply replays the record at index; records of other types, and entities
// without the role mark or clear, are ignored.
func (s *State) Apply(index int64, r *prov.Record) {
	if r.Type != prov.TypeQuarantine {
		return
	}
	for _, e := range r.Used {
		if e.Role != ActionMark && e.Role != ActionClear {
			continue
		}
		m := Mark{Node: lineage.NodeID(e.ID), Action: e.Role, Index: index, Time: r.Time, Reason: r.Reason, Ticket: r.Ticket}
		if r.Agent != nil {
			m.Agent = r.Agent.ID
		}
		s.History = append(s.History, m)
		if e.Role == ActionMark {
			s.active[m.Node] = m
		} else {
			delete(s.active, m.Node)
		}
	}
}

// Load replays the quarantine records of the log in store, from one
// snapshot. It reads every entry's type (the store has no index by type)
// and decodes only quarantine records.
func Load(ctx context.Context, store prov.Store) (*State, error) {
	s := NewState()
	err := store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		n, err := tx.Size(ctx)
		if err != nil {
			return err
		}
		return tx.Entries(ctx, 0, n, func(e prov.Entry) error {
			if e.Type != prov.TypeQuarantine {
				return nil
			}
			r, err := prov.ParseEntry(e.Data) // plain or signed (a DSSE envelope)
			if err != nil {
				return prov.Errorf(prov.Internal, "quarantine record %d does not parse: %v", e.Index, err)
			}
			s.Apply(e.Index, r)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Active returns the mark in force on node.
func (s *State) Active(node lineage.NodeID) (Mark, bool) {
	m, ok := s.active[node]
	return m, ok
}

// List returns the marks in force, by node.
func (s *State) List() []Mark {
	out := make([]Mark, 0, len(s.active))
	for _, m := range s.active {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Mark) int { return strings.Compare(string(a.Node), string(b.Node)) })
	return out
}

// Prepare checks that action can be taken on node now and returns its
// mark: a node must be known to the graph to be marked (what the user typed
// is resolved, with suggestions), must not be marked twice, and must be
// marked to be cleared. Errors: NotFound, Invalid (ambiguous), Conflict.
func (s *State) Prepare(g *lineage.Graph, typed string, m Mark) (Mark, error) {
	node := lineage.NodeID(typed)
	if _, marked := s.active[node]; !marked || m.Action == ActionMark {
		var err error
		if node, err = g.Resolve(typed); err != nil {
			return m, err
		}
	}
	m.Node = node
	cur, marked := s.active[node]
	switch {
	case m.Action == ActionMark && marked:
		return m, prov.Errorf(prov.Conflict, "%s is quarantined already (record %d, %s: %s): nothing to do", node, cur.Index, cur.Time.Format(time.RFC3339), cur.Reason)
	case m.Action == ActionClear && !marked:
		return m, prov.Errorf(prov.Conflict, "%s is not quarantined: nothing to clear", node)
	}
	return m, nil
}

// Blocked is what Check found: the path from the node checked up to a
// quarantined node (the node itself when it is marked), and the mark.
type Blocked struct {
	Path []lineage.NodeID `json:"path"`
	Mark Mark             `json:"mark"`
}

// Check reports whether node or anything upstream of it in g is
// quarantined: a dataset or job marked, or a run marked that wrote one of
// them. It walks the lineage as it is (every read ever recorded counts,
// also reads before the mark; see docs/decisions/0012-lineage-queries.md).
// nil means nothing is. Errors: NotFound, Invalid (ambiguous) for typed.
func (s *State) Check(g *lineage.Graph, typed string) (lineage.NodeID, *Blocked, error) {
	if m, ok := s.active[lineage.NodeID(typed)]; ok { // marked, even if the graph does not know it
		return m.Node, &Blocked{Path: []lineage.NodeID{m.Node}, Mark: m}, nil
	}
	node, err := g.Resolve(typed)
	if err != nil {
		return "", nil, err
	}
	if len(s.active) == 0 {
		return node, nil, nil
	}
	path, err := g.UpstreamPath(node, func(n lineage.NodeID) bool { _, ok := s.active[n]; return ok })
	if err != nil || path == nil {
		return node, nil, err
	}
	return node, &Blocked{Path: path, Mark: s.active[path[len(path)-1]]}, nil
}
