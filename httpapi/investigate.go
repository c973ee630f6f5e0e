package httpapi

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/prov-dev/prov/auth"
	"github.com/prov-dev/prov/investigate"
)

func (s *Server) blame(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	b, err := s.c.Investigator.Blame(r.Context(), r.PathValue("table"), r.PathValue("pk"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, b)
}

func (s *Server) history(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	pk, h, err := s.c.Investigator.History(r.Context(), r.PathValue("table"), r.PathValue("pk"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"table": r.PathValue("table"), "pk": pk, "changes": h})
}

func (s *Server) activities(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	q := r.URL.Query()
	if err := onlyParams(q, "since", "kind"); err != nil {
		return err
	}
	since, err := investigate.ParseTime(q.Get("since"))
	if err != nil {
		return err
	}
	acts, err := s.c.Investigator.Activities(r.Context(), investigate.ActivityFilter{Since: since, Kind: q.Get("kind")})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"activities": acts})
}

// onlyParams refuses query parameters other than names: a misspelt filter
// must not silently widen a selection.
func onlyParams(q url.Values, names ...string) error {
	for k := range q {
		found := false
		for _, n := range names {
			found = found || k == n
		}
		if !found {
			return badRequest("unknown parameter %q: the parameters are %s", k, strings.Join(names, ", "))
		}
	}
	return nil
}

var filterParams = []string{"table", "column", "activity", "release", "kind", "agent", "since", "until", "current", "not_activity", "not_release"}

// filterOf reads find's filters from query parameters (or a JSON body's
// "filter" object, converted to the same names).
func filterOf(q url.Values) (investigate.Filter, error) {
	f := investigate.Filter{Table: q.Get("table"), Column: q.Get("column"), Activity: q.Get("activity"), Release: q.Get("release"),
		Kind: q.Get("kind"), Agent: q.Get("agent"), NotActivity: q["not_activity"], NotRelease: q["not_release"]}
	var err error
	if f.Since, err = investigate.ParseTime(q.Get("since")); err != nil {
		return f, err
	}
	if f.Until, err = investigate.ParseTime(q.Get("until")); err != nil {
		return f, err
	}
	switch q.Get("current") {
	case "", "false", "0":
	case "true", "1":
		f.Current = true
	default:
		return f, badRequest("current=%q: give true or false", q.Get("current"))
	}
	if f.Table == "" {
		return f, badRequest("the parameter table is required: say which table's rows to select")
	}
	return f, nil
}

// find streams the selected rows as JSON Lines (format=json, the default)
// or keys (format=ids); count=true returns {"count": n}.
func (s *Server) find(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	q := r.URL.Query()
	if err := onlyParams(q, append(filterParams, "count", "format", "explain")...); err != nil {
		return err
	}
	f, err := filterOf(q)
	if err != nil {
		return err
	}
	iv := s.c.Investigator
	if q.Get("explain") == "true" {
		sql, err := iv.Explain(r.Context(), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]string{"sql": sql})
	}
	if q.Get("count") == "true" {
		n, err := iv.Count(r.Context(), f)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]int64{"count": n})
	}
	format := q.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "ids" {
		return badRequest("format=%q: choose json or ids", format)
	}
	// Names are checked before the first byte is written, so that an error
	// is still a problem document.
	if _, err := iv.Explain(r.Context(), f); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	wrote := false
	err = iv.Find(r.Context(), f, func(m investigate.Match) error {
		if !wrote {
			if format == "ids" {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			} else {
				w.Header().Set("Content-Type", "application/jsonl")
			}
			wrote = true
		}
		if format == "ids" {
			_, err := fmt.Fprintln(bw, investigate.KeyValue(m.PK))
			return err
		}
		return enc.Encode(m)
	})
	if err != nil && !wrote {
		return err
	}
	if err != nil { // mid-stream: the status is sent; end the stream visibly
		fmt.Fprintf(bw, "\n{\"error\":%q}\n", err.Error())
	}
	if !wrote { // nothing selected: an empty stream
		w.Header().Set("Content-Type", "application/jsonl")
	}
	return bw.Flush()
}

// decodeBody reads a JSON body strictly into v.
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not the JSON this endpoint takes (/openapi.json): %v", err)
	}
	return nil
}

func (s *Server) fix(w http.ResponseWriter, r *http.Request, tok auth.Token) error {
	var req struct {
		Filter   map[string]json.RawMessage `json:"filter"`
		Set      []string                   `json:"set"`
		Reason   string                     `json:"reason"`
		Activity string                     `json:"id"`
		Apply    bool                       `json:"apply"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range req.Filter {
		var one string
		var many []string
		var b bool
		switch {
		case json.Unmarshal(v, &one) == nil:
			q.Set(k, one)
		case json.Unmarshal(v, &many) == nil:
			q[k] = many
		case json.Unmarshal(v, &b) == nil:
			q.Set(k, fmt.Sprint(b))
		default:
			return badRequest("filter.%s is not a string, a list of strings or a boolean", k)
		}
	}
	if err := onlyParams(q, filterParams...); err != nil {
		return err
	}
	f, err := filterOf(q)
	if err != nil {
		return err
	}
	o := investigate.FixOptions{Filter: f, Reason: req.Reason, Activity: req.Activity, Agent: "token:" + tok.ID, Apply: req.Apply}
	for _, s := range req.Set {
		a, err := investigate.ParseAssignment(s)
		if err != nil {
			return err
		}
		o.Set = append(o.Set, a)
	}
	rep, err := s.c.Investigator.Fix(r.Context(), s.c.Log, o)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

func (s *Server) revert(w http.ResponseWriter, r *http.Request, tok auth.Token) error {
	var req struct {
		Activity string `json:"activity"`
		Table    string `json:"table"`
		Column   string `json:"column"`
		Reason   string `json:"reason"`
		ID       string `json:"id"`
		Force    bool   `json:"force"`
		Apply    bool   `json:"apply"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	rep, err := s.c.Investigator.Revert(r.Context(), s.c.Log, investigate.RevertOptions{Activity: req.Activity, Table: req.Table, Column: req.Column,
		Reason: req.Reason, ID: req.ID, Agent: "token:" + tok.ID, Force: req.Force, Apply: req.Apply})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}
