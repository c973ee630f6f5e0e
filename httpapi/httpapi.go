// Package httpapi is Prov's HTTP JSON API: what the CLI does, over HTTP, for
// the teams and pipelines that cannot reach the database. prov serve runs it.
//
// Every endpoint but /healthz, /openapi.json and /metrics needs a bearer
// token (package auth) with a scope that allows it. Errors are RFC 9457
// problem+json documents with a sentence that says what was wrong and what to
// do. Bodies are bounded; a refused request changes nothing; an append is
// acknowledged only after it is committed.
package httpapi

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/auth"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/investigate"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/tlog"
)

// Config is what a Server serves.
type Config struct {
	Log          *tlog.Log                 // required
	Batcher      *tlog.Batcher             // nil: each append request commits a transaction of its own
	Tokens       *auth.Tokens              // required
	Capture      capture.Capturer          // nil: no capture endpoints
	Investigator *investigate.Investigator // nil: no investigation endpoints
	Tiles        http.Handler              // nil: no tlog-tiles (/checkpoint, /tile/…)
	Metrics      *Metrics                  // nil: no /metrics
	Logger       *slog.Logger              // nil: slog.Default()

	MaxBodyBytes int64 // largest request body; 0: 64 MiB
	MaxRecords   int   // most records per append request; 0: 10,000
	AuditReads   bool  // append an audit record for every read of provenance
	PublicTiles  bool  // serve /checkpoint and /tile/… without a token
}

// Server is the HTTP API.
type Server struct {
	c            Config
	graphs       graphCache
	quarantineMu sync.Mutex
	mux          *http.ServeMux
	tiles        http.Handler // c.Tiles behind authentication, or nil
}

// New returns the API of c.
func New(c Config) *Server {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 20
	}
	if c.MaxRecords <= 0 {
		c.MaxRecords = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	s := &Server{c: c, mux: http.NewServeMux()}
	s.routes()
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Tile paths go to the tile API as they are: the mux would answer an
	// unclean one (/tile/0/../000) with a redirect to its cleaned form,
	// where the tile API refuses anything but a canonical tile path.
	if s.tiles != nil && strings.HasPrefix(r.URL.Path, "/tile/") {
		s.tiles.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

//go:embed openapi.json
var openapi []byte

// handler is an endpoint: it returns an error to be written as a problem.
type handler func(w http.ResponseWriter, r *http.Request, tok auth.Token) error

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /healthz", s.healthz)
	m.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openapi)
	})
	if s.c.Metrics != nil {
		m.Handle("GET /metrics", s.c.Metrics.Handler())
	}
	read, audit, ingest, admin := []string{auth.Read}, []string{auth.Read, auth.Audit}, []string{auth.Ingest}, []string{auth.Admin}
	m.Handle("POST /api/v1/records", s.endpoint("append", ingest, s.appendRecords))
	m.Handle("GET /api/v1/records", s.endpoint("log", read, s.listRecords))
	m.Handle("GET /api/v1/records/{index}", s.endpoint("get", read, s.getRecord))
	m.Handle("GET /api/v1/checkpoint", s.endpoint("checkpoint", audit, s.checkpoint))
	m.Handle("GET /api/v1/key", s.endpoint("key", audit, s.key))
	m.Handle("GET /api/v1/proofs/inclusion", s.endpoint("proof", audit, s.inclusion))
	m.Handle("GET /api/v1/proofs/consistency", s.endpoint("proof", audit, s.consistency))
	m.Handle("POST /api/v1/verify", s.endpoint("verify", []string{auth.Audit}, s.verify))
	m.Handle("POST /api/v1/lineage", s.endpoint("lineage", ingest, s.ingestLineage))
	m.Handle("GET /api/v1/lineage/runs/{id}", s.endpoint("lineage run", read, s.lineageRun))
	m.Handle("GET /api/v1/lineage", s.endpoint("lineage graph", read, s.lineageGraph))
	m.Handle("GET /api/v1/impact", s.endpoint("impact", read, s.impact))
	m.Handle("GET /api/v1/quarantine", s.endpoint("quarantine", read, s.quarantines))
	m.Handle("POST /api/v1/quarantine", s.endpoint("quarantine mark", ingest, s.markQuarantine))
	m.Handle("GET /api/v1/export", s.endpoint("export", read, s.export))
	if s.c.Capture != nil {
		m.Handle("GET /api/v1/capture/status", s.endpoint("capture status", read, s.captureStatus))
	}
	if s.c.Investigator != nil {
		m.Handle("GET /api/v1/blame/{table}/{pk}", s.endpoint("blame", read, s.blame))
		m.Handle("GET /api/v1/history/{table}/{pk}", s.endpoint("history", read, s.history))
		m.Handle("GET /api/v1/activities", s.endpoint("activities", read, s.activities))
		m.Handle("GET /api/v1/find", s.endpoint("find", read, s.find))
		m.Handle("POST /api/v1/fix", s.endpoint("fix", admin, s.fix))
		m.Handle("POST /api/v1/revert", s.endpoint("revert", admin, s.revert))
	}
	if s.c.Tiles != nil {
		tiles := s.c.Tiles
		if !s.c.PublicTiles {
			tiles = s.endpoint("tiles", audit, func(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
				s.c.Tiles.ServeHTTP(w, r)
				return nil
			})
		}
		m.Handle("GET /checkpoint", tiles)
		m.Handle("GET /tile/", tiles) // reached through ServeHTTP
		s.tiles = tiles
	}
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, http.StatusNotFound, "not-found", fmt.Sprintf("no endpoint %s %s: /openapi.json lists them", r.Method, r.URL.Path))
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	n, err := s.c.Log.Size(ctx)
	if err != nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "unavailable", "the store does not answer: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "size": n, "origin": s.c.Log.Origin()})
}

// endpoint authenticates and authorises a request, bounds its body, runs h
// and writes its error as a problem.
func (s *Server) endpoint(name string, scopes []string, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		tok, err := s.authenticate(r, scopes)
		if err != nil {
			s.c.Metrics.authFailure(name)
			s.fail(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.c.MaxBodyBytes)
		if err := h(w, r, tok); err != nil {
			s.fail(w, r, err)
			s.c.Metrics.request(name, "error", time.Since(start))
			return
		}
		s.c.Metrics.request(name, "ok", time.Since(start))
		if s.c.AuditReads && r.Method == http.MethodGet && name != "tiles" {
			s.auditRead(r, tok, name)
		}
	})
}

// forbidden is a token without the scope an endpoint needs.
type forbidden struct{ msg string }

func (f forbidden) Error() string { return f.msg }

func (s *Server) authenticate(r *http.Request, scopes []string) (auth.Token, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return auth.Token{}, prov.Errorf(prov.Unauthorized, "no bearer token: send Authorization: Bearer <token> (create one with 'prov token create --scope …')")
	}
	bearer, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return auth.Token{}, prov.Errorf(prov.Unauthorized, "the Authorization header is not 'Bearer <token>'")
	}
	tok, err := s.c.Tokens.Authenticate(r.Context(), strings.TrimSpace(bearer))
	if err != nil {
		return auth.Token{}, err
	}
	for _, sc := range scopes {
		if tok.Allows(sc) {
			return tok, nil
		}
	}
	return tok, forbidden{fmt.Sprintf("token %s (scopes %s) may not do this: it needs the scope %s", tok.ID, strings.Join(tok.Scopes, ", "), strings.Join(scopes, " or "))}
}

// auditRead appends a record of who read what.
func (s *Server) auditRead(r *http.Request, tok auth.Token, what string) {
	attrs, _ := json.Marshal(map[string]string{"endpoint": what, "path": r.URL.Path, "query": r.URL.RawQuery, "token": tok.ID})
	rec := prov.Record{Type: prov.TypeAudit, Time: time.Now().UTC(), Activity: &prov.Activity{ID: "read:" + what, Kind: "read"}, Agent: &prov.Agent{ID: "token:" + tok.ID, Name: tok.Name}, Attributes: attrs}
	b, _ := json.Marshal(rec)
	if _, err := s.c.Log.Append(context.WithoutCancel(r.Context()), [][]byte{b}); err != nil {
		s.c.Logger.Error("audit record not appended", "err", err, "path", r.URL.Path)
	}
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Line   int    `json:"line,omitempty"`  // the 1-based record of the input at fault, for appends
	Field  string `json:"field,omitempty"` // the JSON path of the field at fault in that record or event
}

func writeProblem(w http.ResponseWriter, r *http.Request, status int, kind, detail string) {
	writeProblemDoc(w, Problem{Type: "https://prov.dev/problems/" + kind, Title: http.StatusText(status), Status: status, Detail: detail})
}

func writeProblemDoc(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(p.Status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(p)
}

// fail writes err as a problem.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fb forbidden
	var mb *http.MaxBytesError
	var re *tlog.RecordError
	var fe *openlineage.FieldError
	var se *openlineage.SizeError
	p := Problem{Detail: err.Error()}
	if errors.As(err, &fe) {
		p.Field = fe.Path
	}
	switch {
	case errors.As(err, &fb):
		p.Status, p.Type = http.StatusForbidden, "forbidden"
	case errors.As(err, &mb):
		p.Status, p.Type = http.StatusRequestEntityTooLarge, "too-large"
		p.Detail = fmt.Sprintf("the request body is over the limit of %d bytes: send fewer records per request", mb.Limit)
	case errors.As(err, &se):
		p.Status, p.Type = http.StatusRequestEntityTooLarge, "too-large"
		if errors.As(err, &re) {
			p.Line = re.N + 1
		}
	default:
		if errors.As(err, &re) {
			p.Line = re.N + 1
		}
		p.Type = string(prov.KindOf(err))
		switch prov.KindOf(err) {
		case prov.Invalid:
			p.Status = http.StatusBadRequest
		case prov.NotFound:
			p.Status = http.StatusNotFound
		case prov.Conflict:
			p.Status = http.StatusConflict
		case prov.Unauthorized:
			p.Status = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `Bearer realm="prov"`)
		case prov.Tampered:
			p.Status = http.StatusUnprocessableEntity
		case prov.Unavailable:
			p.Status = http.StatusServiceUnavailable
		default:
			p.Status = http.StatusInternalServerError
			s.c.Logger.Error("internal error", "err", err, "method", r.Method, "path", r.URL.Path)
			p.Detail = "internal error: the server log has the details"
		}
	}
	p.Type = "https://prov.dev/problems/" + strings.ReplaceAll(p.Type, "_", "-")
	p.Title = http.StatusText(p.Status)
	writeProblemDoc(w, p)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// badRequest is an Invalid error.
func badRequest(format string, args ...any) error { return prov.Errorf(prov.Invalid, format, args...) }

// intParam reads a non-negative integer query or path value.
func intParam(name, v string, required bool) (int64, bool, error) {
	if v == "" {
		if required {
			return 0, false, badRequest("the parameter %s is required", name)
		}
		return 0, false, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, false, badRequest("the parameter %s=%q is not a non-negative integer", name, v)
	}
	return n, true, nil
}

// readRecords splits a body into records: a JSON array of objects, or JSON
// Lines (blank lines ignored).
func readRecords(body []byte, max int) ([][]byte, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, badRequest("the body holds no record: send a JSON array of records or JSON Lines")
	}
	var out [][]byte
	if trimmed[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(trimmed, &arr); err != nil {
			return nil, badRequest("the body starts with '[' but is not a JSON array of records: %v", err)
		}
		if len(arr) > max {
			return nil, badRequest("%d records in one request, over the limit of %d: send them in several requests", len(arr), max)
		}
		for _, r := range arr {
			out = append(out, []byte(r))
		}
		if len(out) == 0 {
			return nil, badRequest("the array holds no record")
		}
		return out, nil
	}
	// The records are slices of body, with no room to grow into the next
	// (a bufio.Scanner's 64 KiB buffer per request was three quarters of
	// the server's allocations for single-record requests, and so of its
	// garbage collections).
	for rest := trimmed; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(out) == max {
			return nil, badRequest("more than %d records in one request, over the limit of %d: send them in several requests", max, max)
		}
		out = append(out, line[:len(line):len(line)])
	}
	return out, nil
}

func (s *Server) appendRecords(w http.ResponseWriter, r *http.Request, tok auth.Token) error {
	start := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	records, err := readRecords(body, s.c.MaxRecords)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if !tok.Allows(auth.Admin) {
		ctx = tlog.RefuseKeyRecords(ctx) // agents' keys and policies are the admin's
	}
	var res []tlog.Appended
	if s.c.Batcher != nil {
		res, err = s.c.Batcher.Append(ctx, records)
	} else {
		res, err = s.c.Log.AppendIdempotent(ctx, records)
	}
	if err != nil {
		return err
	}
	fresh := 0
	for _, a := range res {
		if !a.Duplicate {
			fresh++
		}
	}
	s.c.Metrics.ingestedRecords(fresh, time.Since(start))
	return writeJSON(w, http.StatusOK, map[string]any{"records": res})
}

func (s *Server) getRecord(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	idx, _, err := intParam("index", r.PathValue("index"), true)
	if err != nil {
		return err
	}
	e, err := s.c.Log.Get(r.Context(), idx)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Prov-Index", strconv.FormatInt(idx, 10))
	_, err = w.Write(e.Data)
	return err
}

// listRecords streams records from..to as JSON Lines {"index":…,"record":…},
// each record on its line (prov.OneLine).
func (s *Server) listRecords(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	size, err := s.c.Log.Size(r.Context())
	if err != nil {
		return err
	}
	from, _, err := intParam("from", r.URL.Query().Get("from"), false)
	if err != nil {
		return err
	}
	to, ok, err := intParam("to", r.URL.Query().Get("to"), false)
	if err != nil {
		return err
	}
	if !ok || to > size {
		to = size
	}
	if from > to {
		return badRequest("from=%d is after to=%d", from, to)
	}
	w.Header().Set("Content-Type", "application/jsonl")
	bw := bufio.NewWriter(w)
	err = s.c.Log.Entries(r.Context(), from, to, func(e prov.Entry) error {
		fmt.Fprintf(bw, `{"index":%d,"record":`, e.Index)
		if rec, env, err := prov.RecordBytes(e.Data); err == nil && env != nil {
			bw.Write(prov.OneLine(rec)) // a signed record: its payload, then the envelope as stored
			bw.WriteString(`,"envelope":`)
		}
		bw.Write(prov.OneLine(e.Data))
		_, err := bw.WriteString("}\n")
		return err
	})
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

func (s *Server) checkpoint(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	c, err := s.c.Log.LatestCheckpoint(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, err = w.Write(c.Note)
	return err
}

// key answers the log's origin and the verifier key recorded when it was
// created. A client that has no other copy of the key can only trust it on
// first use: auditors should get it from the log's operator.
func (s *Server) key(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	var vkey string
	err := s.c.Log.Store().View(r.Context(), func(ctx context.Context, tx prov.ReadTx) error {
		var err error
		vkey, err = tx.Meta(ctx, prov.MetaVerifier)
		return err
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]string{"origin": s.c.Log.Origin(), "verifier_key": vkey})
}

func (s *Server) inclusion(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	q := r.URL.Query()
	idx, _, err := intParam("index", q.Get("index"), true)
	if err != nil {
		return err
	}
	size, ok, err := intParam("size", q.Get("size"), false)
	if err != nil {
		return err
	}
	if !ok {
		if size, err = s.c.Log.Size(r.Context()); err != nil {
			return err
		}
	}
	p, err := s.c.Log.ProveInclusion(r.Context(), idx, size)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) consistency(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	q := r.URL.Query()
	old, _, err := intParam("old", q.Get("old"), true)
	if err != nil {
		return err
	}
	nw, _, err := intParam("new", q.Get("new"), true)
	if err != nil {
		return err
	}
	p, err := s.c.Log.ProveConsistency(r.Context(), old, nw)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	var req struct {
		Checkpoint string `json:"checkpoint"`
		Live       bool   `json:"live"`
	}
	if body, _ := io.ReadAll(r.Body); len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return badRequest("the body is not {\"checkpoint\": \"<signed note>\", \"live\": bool}: %v", err)
		}
	}
	opts := tlog.VerifyOptions{}
	if req.Checkpoint != "" {
		opts.Checkpoint = []byte(req.Checkpoint)
	}
	rep, err := s.c.Log.Verify(r.Context(), opts)
	s.c.Metrics.verified(err)
	out := map[string]any{"ok": err == nil, "report": rep}
	if err != nil {
		if !prov.IsKind(err, prov.Tampered) {
			return err
		}
		out["problem"] = err.Error()
	}
	if req.Live && err == nil {
		lv, ok := s.c.Capture.(interface {
			VerifyLive(context.Context, int) (capture.LiveReport, error)
		})
		if !ok {
			return badRequest("live verification needs capture in this database")
		}
		live, lerr := lv.VerifyLive(r.Context(), 100)
		if lerr != nil {
			return lerr
		}
		out["live"] = live
		out["ok"] = len(live.Drift) == 0
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) captureStatus(w http.ResponseWriter, r *http.Request, _ auth.Token) error {
	st, err := s.c.Capture.Status(r.Context())
	if err != nil {
		return err
	}
	s.c.Metrics.coverage(st)
	return writeJSON(w, http.StatusOK, st)
}
