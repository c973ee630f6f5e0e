package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prov-dev/prov/auth"
	"github.com/prov-dev/prov/investigate"
	"github.com/prov-dev/prov/lineage"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/provjson"
	"github.com/prov-dev/prov/quarantine"
)

// graphCache keeps the lineage graph of the log's latest size, so that
// queries between appends share one load.
type graphCache struct {
	mu   sync.Mutex
	size int64
	g    *lineage.Graph
}

// graph returns the lineage graph as of at (zero: now).
func (s *Server) graph(ctx context.Context, at time.Time) (*lineage.Graph, error) {
	store := s.c.Log.Store()
	if !at.IsZero() {
		return openlineage.Graph(ctx, store, at)
	}
	size, err := s.c.Log.Size(ctx)
	if err != nil {
		return nil, err
	}
	s.graphs.mu.Lock()
	defer s.graphs.mu.Unlock()
	if s.graphs.g != nil && s.graphs.size == size {
		return s.graphs.g, nil
	}
	g, err := openlineage.Graph(ctx, store, time.Time{})
	if err != nil {
		return nil, err
	}
	s.graphs.g, s.graphs.size = g, size
	return g, nil
}

// nodeParam resolves the node of node= or namespace= and name=.
func nodeParam(g *lineage.Graph, q url.Values) (lineage.NodeID, error) {
	node, ns, name := q.Get("node"), q.Get("namespace"), q.Get("name")
	switch {
	case node != "" && (ns != "" || name != ""):
		return "", badRequest("give either node or namespace and name, not both")
	case node != "":
		return g.Resolve(node)
	case name != "":
		return g.ResolveName(ns, name)
	}
	return "", badRequest("which node? give node (dataset:NAMESPACE:NAME, job:NAMESPACE:NAME, run:ID) or namespace and name")
}

func boolParam(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("%s=%q: want true or false", name, v)
	}
	return b, nil
}

// lineageGraph is GET /api/v1/lineage: a node's upstream or downstream
// lineage (prov lineage).
func (s *Server) lineageGraph(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	q := r.URL.Query()
	if err := onlyParams(q, "node", "namespace", "name", "direction", "depth", "at", "columns", "runs", "format"); err != nil {
		return err
	}
	opts := lineage.Options{}
	switch q.Get("direction") {
	case "upstream":
		opts.Direction = lineage.Upstream
	case "downstream":
		opts.Direction = lineage.Downstream
	default:
		return badRequest("direction=%q: want upstream or downstream", q.Get("direction"))
	}
	depth, _, err := intParam("depth", q.Get("depth"), false)
	if err != nil {
		return err
	}
	opts.Depth = int(depth)
	if opts.At, err = investigate.ParseTime(q.Get("at")); err != nil {
		return err
	}
	if opts.Columns, err = boolParam("columns", q.Get("columns")); err != nil {
		return err
	}
	if opts.Runs, err = boolParam("runs", q.Get("runs")); err != nil {
		return err
	}
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "tree" && format != "dot" && format != "mermaid" {
		return badRequest("format=%q: want json, tree, dot or mermaid", format)
	}
	g, err := s.graph(r.Context(), opts.At)
	if err != nil {
		return err
	}
	node, err := nodeParam(g, q)
	if err != nil {
		return err
	}
	res, err := g.Lineage(node, opts)
	if err != nil {
		return err
	}
	if format == "json" {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	return res.Write(w, format)
}

// impact is GET /api/v1/impact (prov impact).
func (s *Server) impact(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	q := r.URL.Query()
	if err := onlyParams(q, "node", "namespace", "name", "activity", "since"); err != nil {
		return err
	}
	since, err := investigate.ParseTime(q.Get("since"))
	if err != nil {
		return err
	}
	g, err := s.graph(r.Context(), time.Time{})
	if err != nil {
		return err
	}
	var node lineage.NodeID
	if a := q.Get("activity"); a != "" {
		if q.Get("node") != "" || q.Get("name") != "" {
			return badRequest("give either node or activity, not both")
		}
		if !strings.HasPrefix(a, "run:") {
			a = "run:" + a
		}
		node, err = g.Resolve(a)
	} else {
		node, err = nodeParam(g, q)
	}
	if err != nil {
		return err
	}
	res, err := g.Impact(node, since)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}

// quarantines is GET /api/v1/quarantine: the marks in force, or with node
// (or namespace and name), the check of that node (prov quarantine check):
// quarantined, and the path to the quarantined node.
func (s *Server) quarantines(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	q := r.URL.Query()
	if err := onlyParams(q, "node", "namespace", "name"); err != nil {
		return err
	}
	st, err := quarantine.Load(r.Context(), s.c.Log.Store())
	if err != nil {
		return err
	}
	if q.Get("node") == "" && q.Get("name") == "" && q.Get("namespace") == "" {
		return writeJSON(w, http.StatusOK, map[string]any{"quarantined": st.List()})
	}
	g, err := s.graph(r.Context(), time.Time{})
	if err != nil {
		return err
	}
	typed := q.Get("node")
	if typed == "" {
		n, err := nodeParam(g, q)
		if err != nil {
			return err
		}
		typed = string(n)
	}
	node, b, err := st.Check(g, typed)
	if err != nil {
		return err
	}
	out := map[string]any{"node": node, "quarantined": b != nil}
	if b != nil {
		out["path"], out["mark"] = b.Path, b.Mark
	}
	return writeJSON(w, http.StatusOK, out)
}

// quarantineRequest is the body of POST /api/v1/quarantine.
type quarantineRequest struct {
	Action string `json:"action"` // mark or clear
	Node   string `json:"node"`
	Reason string `json:"reason"`
	Ticket string `json:"ticket,omitempty"`
}

// markQuarantine is POST /api/v1/quarantine: mark or clear a node (prov
// quarantine mark|clear), attributed to the token.
func (s *Server) markQuarantine(w http.ResponseWriter, r *http.Request, tok auth.Token) error {
	var req quarantineRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return badRequest("the body must be a JSON object {\"action\": \"mark\" or \"clear\", \"node\", \"reason\", \"ticket\"}: %v", err)
	}
	if req.Action != quarantine.ActionMark && req.Action != quarantine.ActionClear {
		return badRequest("action %q: want mark or clear", req.Action)
	}
	if strings.TrimSpace(req.Reason) == "" {
		return badRequest("reason is required: why the data is bad (mark) or good again (clear)")
	}
	ctx := r.Context()
	g, err := s.graph(ctx, time.Time{})
	if err != nil {
		return err
	}
	// One at a time, so that two marks of a node cannot both pass Prepare.
	s.quarantineMu.Lock()
	defer s.quarantineMu.Unlock()
	st, err := quarantine.Load(ctx, s.c.Log.Store())
	if err != nil {
		return err
	}
	m, err := st.Prepare(g, req.Node, quarantine.Mark{Action: req.Action, Time: time.Now().UTC(), Agent: "token:" + tok.ID, Reason: req.Reason, Ticket: req.Ticket})
	if err != nil {
		return err
	}
	rec, err := quarantine.Record(m)
	if err != nil {
		return err
	}
	idx, err := s.c.Log.Append(ctx, [][]byte{rec})
	if err != nil {
		return err
	}
	m.Index = idx
	return writeJSON(w, http.StatusCreated, m)
}

// export is GET /api/v1/export: the log's records as W3C PROV-JSON (prov
// export), filtered by node, activity or since.
func (s *Server) export(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	q := r.URL.Query()
	if err := onlyParams(q, "node", "activity", "since"); err != nil {
		return err
	}
	f := provjson.Filter{Activity: q.Get("activity")}
	var err error
	if f.Since, err = investigate.ParseTime(q.Get("since")); err != nil {
		return err
	}
	ctx := r.Context()
	if n := q.Get("node"); n != "" {
		g, err := s.graph(ctx, time.Time{})
		if err != nil {
			return err
		}
		if f.Nodes, err = provjson.Closure(g, n); err != nil {
			return err
		}
	}
	d, err := provjson.Export(ctx, s.c.Log.Store(), f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d.JSON())
}
