package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
)

// maxLine is the longest line of a stream the client reads (a record of the
// log, or a row of find): well over the server's record limit.
const maxLine = 64 << 20

// call sends r and decodes a JSON answer into out (nil: the answer is
// discarded).
func (c *Client) call(ctx context.Context, r request, out any) error {
	resp, done, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer done()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return c.readErr(ctx, "the answer", err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return prov.Errorf(prov.Internal, "%s %s: the server's answer is not the JSON the API promises: %v", r.method, r.path, err)
	}
	return nil
}

// Health is what /healthz says.
type Health struct {
	Status string `json:"status"`
	Size   int64  `json:"size"`
	Origin string `json:"origin"`
}

// Health asks whether the server and its store answer (no token needed).
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.call(ctx, request{method: "GET", path: "/healthz", idempotent: true}, &h)
	return h, err
}

// Append appends records (JSON objects, as prov.ParseRecord takes them, or
// DSSE envelopes of them signed with an agent's key) in
// one transaction and returns where each is in the log, in order. A record
// whose event id (its "id") the log holds already with the same bytes is
// not appended again: its result is the original index, marked Duplicate.
// A refused record is an *Error whose Line is its 1-based position in
// records; then nothing was appended. The request is retried on failures
// only if every record carries an event id.
func (c *Client) Append(ctx context.Context, records [][]byte) ([]tlog.Appended, error) {
	if len(records) == 0 {
		return nil, prov.Errorf(prov.Invalid, "no records to append")
	}
	// JSON Lines, so that the server names a bad record; a JSON array if a
	// record spans lines, which keeps its bytes exactly too.
	var body bytes.Buffer
	idempotent, multiline := true, false
	for _, r := range records {
		var id struct {
			ID string `json:"id"`
		}
		if rec, _, err := prov.RecordBytes(bytes.TrimSpace(r)); err != nil || json.Unmarshal(rec, &id) != nil || id.ID == "" {
			idempotent = false
		}
		multiline = multiline || bytes.IndexByte(bytes.TrimSpace(r), '\n') >= 0
	}
	contentType := "application/jsonl"
	if multiline {
		contentType = "application/json"
		body.WriteByte('[')
	}
	for i, r := range records {
		if multiline && i > 0 {
			body.WriteByte(',')
		}
		body.Write(bytes.TrimSpace(r))
		if !multiline {
			body.WriteByte('\n')
		}
	}
	if multiline {
		body.WriteByte(']')
	}
	var out struct {
		Records []tlog.Appended `json:"records"`
	}
	err := c.call(ctx, request{method: "POST", path: "/api/v1/records", body: body.Bytes(), contentType: contentType, idempotent: idempotent}, &out)
	if err != nil {
		return nil, err
	}
	if len(out.Records) != len(records) {
		return nil, prov.Errorf(prov.Internal, "the server acknowledged %d records of %d", len(out.Records), len(records))
	}
	return out.Records, nil
}

// Get returns the bytes of the record at index, exactly as stored.
func (c *Client) Get(ctx context.Context, index int64) ([]byte, error) {
	resp, done, err := c.do(ctx, request{method: "GET", path: "/api/v1/records/" + strconv.FormatInt(index, 10), idempotent: true})
	if err != nil {
		return nil, err
	}
	defer done()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, c.readErr(ctx, "the record", err)
	}
	return b, nil
}

// Entries calls fn for each record with from <= index < to, in order, with
// its exact bytes as stored (a signed record's DSSE envelope); to < 0 means up to the end of the log, and a range
// beyond the end holds no record. The records are streamed: fn may be
// called before the last one is sent.
func (c *Client) Entries(ctx context.Context, from, to int64, fn func(index int64, record []byte) error) error {
	q := url.Values{"from": {strconv.FormatInt(from, 10)}}
	if to >= 0 {
		q.Set("to", strconv.FormatInt(to, 10))
	}
	if to >= 0 && from >= to {
		return nil
	}
	resp, done, err := c.do(ctx, request{method: "GET", path: "/api/v1/records", query: q, idempotent: true, stream: true})
	var ce *Error
	if errors.As(err, &ce) && ce.Status == 400 && to < 0 {
		// The server refuses a start beyond its end; that is no record.
		if h, herr := c.Health(ctx); herr == nil && from >= h.Size {
			return nil
		}
	}
	if err != nil {
		return err
	}
	defer done()
	defer resp.Body.Close()
	// A JSON decoder, not lines: a record's bytes may span lines.
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
	for next := from; ; next++ {
		var e struct {
			Index    *int64          `json:"index"`
			Record   json.RawMessage `json:"record"`
			Envelope json.RawMessage `json:"envelope"` // a signed record as stored; Record is its payload
			Error    string          `json:"error"`
		}
		err := dec.Decode(&e)
		switch {
		case err == io.EOF:
			return nil
		case err != nil:
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			if errors.As(err, &se) || errors.As(err, &te) {
				return prov.Errorf(prov.Internal, "the server sent something that is not a stream of {\"index\":…,\"record\":…} after index %d: %v", next-1, err)
			}
			return c.readErr(ctx, "the log", err)
		case e.Error != "":
			return prov.Errorf(prov.Unavailable, "the server stopped the log after index %d: %s", next-1, e.Error)
		case e.Index == nil || len(e.Record) == 0:
			return prov.Errorf(prov.Internal, "the server sent an object that is not {\"index\":…,\"record\":…} after index %d", next-1)
		case *e.Index != next:
			return prov.Errorf(prov.Internal, "the server sent record %d where %d was due", *e.Index, next)
		}
		stored := e.Record
		if len(e.Envelope) > 0 {
			stored = e.Envelope
		}
		if err := fn(next, stored); err != nil {
			return err
		}
	}
}

// lines streams an answer line by line to fn; blank lines are skipped.
func (c *Client) lines(ctx context.Context, r request, fn func([]byte) error) error {
	resp, done, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer done()
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return c.readErr(ctx, "the stream", err)
	}
	return nil
}

// Checkpoint returns the latest checkpoint as the server sends it: a signed
// note, not yet verified (see VerifiedCheckpoint).
func (c *Client) Checkpoint(ctx context.Context) ([]byte, error) {
	resp, done, err := c.do(ctx, request{method: "GET", path: "/api/v1/checkpoint", idempotent: true})
	if err != nil {
		return nil, err
	}
	defer done()
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, c.readErr(ctx, "the checkpoint", err)
	}
	return b, nil
}

// Key is the log's name and verifier key, as the server states them.
type Key struct {
	Origin      string `json:"origin"`
	VerifierKey string `json:"verifier_key"`
}

// Key returns the log's origin and verifier key as the server states them.
// Trusting it is trust on first use: a key obtained from the log's operator
// by other means is stronger.
func (c *Client) Key(ctx context.Context) (Key, error) {
	var k Key
	err := c.call(ctx, request{method: "GET", path: "/api/v1/key", idempotent: true}, &k)
	return k, err
}

// InclusionProof returns the server's proof that record index is in the
// tree of size records (0: the server's current size), unchecked.
func (c *Client) InclusionProof(ctx context.Context, index, size int64) (tlog.InclusionProof, error) {
	q := url.Values{"index": {strconv.FormatInt(index, 10)}}
	if size > 0 {
		q.Set("size", strconv.FormatInt(size, 10))
	}
	var p tlog.InclusionProof
	err := c.call(ctx, request{method: "GET", path: "/api/v1/proofs/inclusion", query: q, idempotent: true}, &p)
	return p, err
}

// ConsistencyProof returns the server's proof that the tree of newSize
// records extends the tree of oldSize records, unchecked.
func (c *Client) ConsistencyProof(ctx context.Context, oldSize, newSize int64) (tlog.ConsistencyProof, error) {
	q := url.Values{"old": {strconv.FormatInt(oldSize, 10)}, "new": {strconv.FormatInt(newSize, 10)}}
	var p tlog.ConsistencyProof
	err := c.call(ctx, request{method: "GET", path: "/api/v1/proofs/consistency", query: q, idempotent: true}, &p)
	return p, err
}

// VerifyRequest asks the server to verify its log.
type VerifyRequest struct {
	Checkpoint []byte // a signed checkpoint saved earlier that the log must extend
	Live       bool   // also check the live rows of captured tables
}

// Verification is the server's verdict on its log.
type Verification struct {
	OK      bool            `json:"ok"`
	Report  tlog.Report     `json:"report"`
	Problem string          `json:"problem,omitempty"` // what is damaged, when not OK
	Live    json.RawMessage `json:"live,omitempty"`    // capture.LiveReport, with Live
}

// Verify asks the server to recompute its whole log (tlog.Log.Verify). A
// damaged log is not an error: it is a Verification that is not OK.
func (c *Client) Verify(ctx context.Context, vr VerifyRequest) (Verification, error) {
	body, _ := json.Marshal(struct {
		Checkpoint string `json:"checkpoint,omitempty"`
		Live       bool   `json:"live,omitempty"`
	}{string(vr.Checkpoint), vr.Live})
	var v Verification
	err := c.call(ctx, request{method: "POST", path: "/api/v1/verify", body: body, contentType: "application/json", idempotent: true}, &v)
	return v, err
}

// CaptureStatus decodes the server's capture status into out (a
// *capture.Status: this package does not import capture, so that programs
// using it do not link the database drivers).
func (c *Client) CaptureStatus(ctx context.Context, out any) error {
	return c.call(ctx, request{method: "GET", path: "/api/v1/capture/status", idempotent: true}, out)
}

// Blame decodes the blame of one row into out (an *investigate.Blame). pk
// is the key value, or a JSON object for a composite key.
func (c *Client) Blame(ctx context.Context, table, pk string, out any) error {
	return c.call(ctx, request{method: "GET", path: "/api/v1/blame/" + url.PathEscape(table) + "/" + url.PathEscape(pk), idempotent: true}, out)
}

// History decodes the history of one row into out: {"table", "pk",
// "changes": []*investigate.Change}.
func (c *Client) History(ctx context.Context, table, pk string, out any) error {
	return c.call(ctx, request{method: "GET", path: "/api/v1/history/" + url.PathEscape(table) + "/" + url.PathEscape(pk), idempotent: true}, out)
}

// Activities decodes the activities active since (RFC 3339, a date or an
// age such as 7d; "" for all) of kind ("" for all) into out:
// {"activities": []*investigate.Activity}.
func (c *Client) Activities(ctx context.Context, since, kind string, out any) error {
	q := url.Values{}
	if since != "" {
		q.Set("since", since)
	}
	if kind != "" {
		q.Set("kind", kind)
	}
	return c.call(ctx, request{method: "GET", path: "/api/v1/activities", query: q, idempotent: true}, out)
}

// Filter selects rows of a captured table by the changes that wrote them,
// as prov find does. Since and Until are RFC 3339 times, dates, or ages
// (36h, 7d) the server resolves.
type Filter struct {
	Table       string
	Column      string
	Activity    string
	Release     string
	Kind        string
	Agent       string
	Since       string
	Until       string
	Current     bool
	NotActivity []string
	NotRelease  []string
}

// nonEmpty returns the query parameters of params that have a value.
func nonEmpty(params map[string]string) url.Values {
	q := url.Values{}
	for k, v := range params {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func (f Filter) values() url.Values {
	q := nonEmpty(map[string]string{"table": f.Table, "column": f.Column, "activity": f.Activity, "release": f.Release, "kind": f.Kind, "agent": f.Agent, "since": f.Since, "until": f.Until})
	if f.Current {
		q.Set("current", "true")
	}
	if len(f.NotActivity) > 0 {
		q["not_activity"] = f.NotActivity
	}
	if len(f.NotRelease) > 0 {
		q["not_release"] = f.NotRelease
	}
	return q
}

// object is the filter as fix's JSON body takes it.
func (f Filter) object() map[string]any {
	o := map[string]any{}
	for k, v := range f.values() {
		switch {
		case k == "current":
			o[k] = true
		case k == "not_activity" || k == "not_release":
			o[k] = v
		default:
			o[k] = v[0]
		}
	}
	return o
}

// Find streams the rows f selects to fn, each an investigate.Match as JSON.
func (c *Client) Find(ctx context.Context, f Filter, fn func(match json.RawMessage) error) error {
	q := f.values()
	q.Set("format", "json")
	return c.find(ctx, q, func(line []byte) error { return fn(json.RawMessage(line)) })
}

// FindIDs streams the primary keys of the rows f selects to fn: the value
// for a one-column key, a JSON object otherwise.
func (c *Client) FindIDs(ctx context.Context, f Filter, fn func(pk string) error) error {
	q := f.values()
	q.Set("format", "ids")
	return c.find(ctx, q, func(line []byte) error { return fn(string(line)) })
}

func (c *Client) find(ctx context.Context, q url.Values, fn func([]byte) error) error {
	return c.lines(ctx, request{method: "GET", path: "/api/v1/find", query: q, idempotent: true, stream: true}, func(line []byte) error {
		if bytes.HasPrefix(line, []byte(`{"error":`)) {
			var e struct{ Error string }
			json.Unmarshal(line, &e)
			return prov.Errorf(prov.Unavailable, "the server stopped find midway: %s", e.Error)
		}
		return fn(line)
	})
}

// FindCount returns how many rows f selects.
func (c *Client) FindCount(ctx context.Context, f Filter) (int64, error) {
	q := f.values()
	q.Set("count", "true")
	var out struct {
		Count *int64 `json:"count"`
	}
	if err := c.call(ctx, request{method: "GET", path: "/api/v1/find", query: q, idempotent: true}, &out); err != nil {
		return 0, err
	}
	if out.Count == nil {
		return 0, prov.Errorf(prov.Internal, "the server's answer to a count has no count")
	}
	return *out.Count, nil
}

// FindExplain returns the SQL query the server runs for f.
func (c *Client) FindExplain(ctx context.Context, f Filter) (string, error) {
	q := f.values()
	q.Set("explain", "true")
	var out struct {
		SQL string `json:"sql"`
	}
	err := c.call(ctx, request{method: "GET", path: "/api/v1/find", query: q, idempotent: true}, &out)
	return out.SQL, err
}

// FixRequest is a fix: SQL expressions applied to exactly the rows Filter
// selects (see prov fix). The server attributes it to the token.
type FixRequest struct {
	Filter Filter
	Set    []string // "COLUMN = SQL-EXPRESSION"
	Reason string
	ID     string // the fix's own activity id; "": fix:<time>
	Apply  bool   // false: a plan only
}

// Fix plans or applies a fix and decodes the report into out (an
// *investigate.Repair). An applied fix is never retried.
func (c *Client) Fix(ctx context.Context, fr FixRequest, out any) error {
	body, err := json.Marshal(map[string]any{"filter": fr.Filter.object(), "set": fr.Set, "reason": fr.Reason, "id": fr.ID, "apply": fr.Apply})
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: "POST", path: "/api/v1/fix", body: body, contentType: "application/json", idempotent: !fr.Apply}, out)
}

// RevertRequest is a revert of an activity's changes (see prov revert).
// The server attributes it to the token.
type RevertRequest struct {
	Activity string `json:"activity"`
	Table    string `json:"table,omitempty"`
	Column   string `json:"column,omitempty"`
	Reason   string `json:"reason"`
	ID       string `json:"id,omitempty"`
	Force    bool   `json:"force,omitempty"`
	Apply    bool   `json:"apply,omitempty"`
}

// Revert plans or applies a revert and decodes the report into out (an
// *investigate.Repair). An applied revert is never retried.
func (c *Client) Revert(ctx context.Context, rr RevertRequest, out any) error {
	body, err := json.Marshal(rr)
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: "POST", path: "/api/v1/revert", body: body, contentType: "application/json", idempotent: !rr.Apply}, out)
}

// String describes the client without its token.
func (c *Client) String() string { return fmt.Sprintf("prov client of %s", c.base.Redacted()) }

// IngestLineage appends OpenLineage events (each one event's JSON, stored
// byte for byte in a lineage record) in one transaction and decodes the
// results into out: {"events": []openlineage.Result}, in order. An event the
// log holds already is not appended again, so the request is retried like
// a read. A refused event is an *Error whose Line is its 1-based position.
func (c *Client) IngestLineage(ctx context.Context, events [][]byte, out any) error {
	if len(events) == 0 {
		return prov.Errorf(prov.Invalid, "no events to ingest")
	}
	body := []byte{'['}
	for i, e := range events {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, bytes.TrimSpace(e)...)
	}
	body = append(body, ']')
	return c.call(ctx, request{method: "POST", path: "/api/v1/lineage", body: body, contentType: "application/json", idempotent: true}, out)
}

// LineageRun decodes an OpenLineage run, as its events describe it, into
// out (an *openlineage.RunInfo).
func (c *Client) LineageRun(ctx context.Context, runID string, out any) error {
	return c.call(ctx, request{method: "GET", path: "/api/v1/lineage/runs/" + url.PathEscape(runID), idempotent: true}, out)
}

// LineageQuery is a lineage query (see prov lineage): Node as Marquez
// writes a nodeId, or Namespace and Name; Direction upstream or downstream;
// At an RFC 3339 time, a date or an age.
type LineageQuery struct {
	Node, Namespace, Name string
	Direction             string
	Depth                 int
	At                    string
	Columns, Runs         bool
}

// Lineage decodes a node's lineage (a lineage.Result as JSON) into out.
func (c *Client) Lineage(ctx context.Context, lq LineageQuery, out any) error {
	q := url.Values{"direction": {lq.Direction}}
	for k, v := range map[string]string{"node": lq.Node, "namespace": lq.Namespace, "name": lq.Name, "at": lq.At} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if lq.Depth > 0 {
		q.Set("depth", strconv.Itoa(lq.Depth))
	}
	if lq.Columns {
		q.Set("columns", "true")
	}
	if lq.Runs {
		q.Set("runs", "true")
	}
	return c.call(ctx, request{method: "GET", path: "/api/v1/lineage", query: q, idempotent: true}, out)
}

// Impact decodes the time-aware downstream impact of a node or of an
// activity's writes (see prov impact) into out.
func (c *Client) Impact(ctx context.Context, node, activity, since string, out any) error {
	q := nonEmpty(map[string]string{"node": node, "activity": activity, "since": since})
	return c.call(ctx, request{method: "GET", path: "/api/v1/impact", query: q, idempotent: true}, out)
}

// QuarantineCheck decodes the quarantine check of node (quarantined, path,
// mark), or with node "", the quarantines in force, into out.
func (c *Client) QuarantineCheck(ctx context.Context, node string, out any) error {
	q := url.Values{}
	if node != "" {
		q.Set("node", node)
	}
	return c.call(ctx, request{method: "GET", path: "/api/v1/quarantine", query: q, idempotent: true}, out)
}

// Quarantine marks (action "mark") or clears ("clear") a node, attributed
// to the token, and decodes the mark into out.
func (c *Client) Quarantine(ctx context.Context, action, node, reason, ticket string, out any) error {
	body, err := json.Marshal(map[string]string{"action": action, "node": node, "reason": reason, "ticket": ticket})
	if err != nil {
		return err
	}
	return c.call(ctx, request{method: "POST", path: "/api/v1/quarantine", body: body, contentType: "application/json"}, out)
}

// Export decodes the log's records as a PROV-JSON document into out,
// filtered by node, activity and since (each optional).
func (c *Client) Export(ctx context.Context, node, activity, since string, out any) error {
	q := nonEmpty(map[string]string{"node": node, "activity": activity, "since": since})
	return c.call(ctx, request{method: "GET", path: "/api/v1/export", query: q, idempotent: true}, out)
}
