package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/auth"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/tlog"
)

// ingestLineage is POST /api/v1/lineage, the OpenLineage endpoint as
// Marquez serves it: one event per request, 201 Created once it is
// committed. A JSON array (or JSON Lines) of events is one atomic batch. A
// retried event (the same bytes) is not appended again.
func (s *Server) ingestLineage(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	start := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	events, _, err := openlineage.SplitEvents(body)
	if err != nil {
		return err
	}
	if len(events) > s.c.MaxRecords {
		return badRequest("%d events in one request, over the limit of %d: send them in several requests", len(events), s.c.MaxRecords)
	}
	entries, res, err := openlineage.PrepareAll(s.c.Log, events)
	if err != nil {
		return err
	}
	var out []tlog.Appended
	if s.c.Batcher != nil {
		out, err = s.c.Batcher.AppendEntries(r.Context(), entries)
	} else {
		out, err = s.c.Log.AppendEntriesIdempotent(openlineage.WithDecoded(r.Context(), entries, res), entries)
	}
	if err != nil {
		return err
	}
	res = openlineage.Appended(res, out)
	fresh := 0
	for _, a := range res {
		if !a.Duplicate {
			fresh++
		}
	}
	s.c.Metrics.ingestedRecords(fresh, time.Since(start))
	if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '{' && len(res) == 1 {
		return writeJSON(w, http.StatusCreated, res[0])
	}
	return writeJSON(w, http.StatusCreated, map[string]any{"events": res})
}

// lineageRun is GET /api/v1/lineage/runs/{id}: a run as its events
// describe it.
func (s *Server) lineageRun(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	id := r.PathValue("id")
	if id == "" {
		return prov.Errorf(prov.Invalid, "the run id is required")
	}
	info, err := openlineage.LoadRun(r.Context(), s.c.Log, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
}
