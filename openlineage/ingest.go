package openlineage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
)

// Result is what became of one ingested event.
type Result struct {
	Index     int64       `json:"index"`
	Duplicate bool        `json:"duplicate,omitempty"` // the log held the event already: nothing was appended
	Kind      Kind        `json:"kind"`
	Tolerated []Tolerance `json:"tolerated,omitempty"`
	// Cycles lists the datasets the event names both as input and as
	// output: a cycle in the submitted lineage. It is stored as sent.
	Cycles []string `json:"cycles,omitempty"`

	event *Event // decoded by PrepareAll
}

// Prepare validates one event and makes its log entry. It refuses an event
// over the log's record limit, and one that Decode refuses, with an error
// of kind Invalid that names the field. The event's facets are validated
// but not kept (its Facets and IOFacets are nil): Decode keeps them.
func Prepare(l *tlog.Log, raw []byte) (*Event, prov.Entry, error) {
	raw = bytes.Trim(raw, " \t\r\n")
	max := l.MaxRecordBytes
	if max <= 0 {
		max = prov.DefaultMaxRecordBytes
	}
	if len(raw) > max {
		return nil, prov.Entry{}, &prov.Error{Kind: prov.Invalid, Err: &SizeError{Size: len(raw), Limit: max},
			Message: fmt.Sprintf("OpenLineage event is %d bytes, over the limit of %d bytes: send smaller events (fewer facets, or split the inputs and outputs), or raise the limit (--max-record-bytes)", len(raw), max)}
	}
	ev, err := decode(raw, false)
	if err != nil {
		return nil, prov.Entry{}, err
	}
	rec, r, err := record(ev)
	if err != nil {
		return nil, prov.Entry{}, err
	}
	if len(rec) > max {
		return nil, prov.Entry{}, &prov.Error{Kind: prov.Invalid, Err: &SizeError{Size: len(rec), Limit: max},
			Message: fmt.Sprintf("OpenLineage event of %d bytes makes a record of %d bytes (the event and its PROV mapping), over the limit of %d bytes: send smaller events, or raise the limit (--max-record-bytes)", len(raw), len(rec), max)}
	}
	// The entry l.Prepare(rec) would make, without parsing the record
	// again: its fields are those record wrote, checked by the same rules
	// (FuzzDecode holds the two to be equal).
	if err := r.Validate(); err != nil {
		return nil, prov.Entry{}, prov.Errorf(prov.KindOf(err), "OpenLineage event: its record is refused: %v", err)
	}
	entry := prov.Entry{Data: rec, Type: r.Type, EventID: r.ID, Time: r.Time}
	if r.Activity != nil {
		entry.ActivityID = r.Activity.ID
	}
	if r.Agent != nil {
		entry.AgentID = r.Agent.ID
	}
	return ev, entry, nil
}

// Ingest validates events and appends their records to l in one
// transaction: all or none. An event the log holds already (same bytes) is
// not appended again: its result is the original index, marked Duplicate,
// so a producer may retry. A refused event is reported as a
// *tlog.RecordError naming it, and nothing is appended. l must have the
// lineage Indexer of its store.
//
// Large batches are pipelined: events are prepared (and their records
// leaf-hashed) in chunks on all CPUs while the transaction appends and
// indexes the chunks prepared before.
func Ingest(ctx context.Context, l *tlog.Log, events [][]byte) ([]Result, error) {
	if len(events) <= 2*ingestChunk {
		entries, res, err := PrepareAll(l, events)
		if err != nil {
			return nil, err
		}
		out, err := l.AppendEntriesIdempotent(WithDecoded(ctx, entries, res), entries)
		if err != nil {
			return nil, err
		}
		return Appended(res, out), nil
	}
	p := newPipeline(l, events)
	defer p.stop()
	dec := &decodedEvents{m: make(map[string]*Event, len(events))}
	next := 0 // the next chunk to append
	out, err := l.AppendChunksIdempotent(context.WithValue(ctx, decodedKey{}, dec), func() (tlog.Chunk, error) {
		if next == len(p.chunks) {
			return tlog.Chunk{}, nil
		}
		c := &p.chunks[next]
		next++
		<-c.ready
		if c.err != nil {
			return tlog.Chunk{}, c.err
		}
		for i := c.lo; i < c.hi; i++ {
			dec.m[p.entries[i].EventID] = p.res[i].event
		}
		return c.entries, nil
	})
	if err != nil {
		return nil, err
	}
	return Appended(p.res, out), nil
}

// Chunks of a pipelined batch: the first of ingestChunk events, so that
// the append starts soon, each next one twice as large up to
// maxIngestChunk, because every chunk costs the transaction a lookup of
// its event ids and a round of index statements.
const (
	ingestChunk    = 32
	maxIngestChunk = 256
)

// pipeline prepares the chunks of a batch of events on all CPUs, in order
// of the chunks, while the append consumes them.
type pipeline struct {
	entries []prov.Entry
	res     []Result
	chunks  []chunk
	quit    atomic.Bool
	wg      sync.WaitGroup
}

type chunk struct {
	lo, hi  int
	ready   chan struct{} // closed when the chunk is prepared, or refused (err)
	err     error
	entries tlog.Chunk // the prepared entries with their leaf hashes
}

func newPipeline(l *tlog.Log, events [][]byte) *pipeline {
	p := &pipeline{entries: make([]prov.Entry, len(events)), res: make([]Result, len(events))}
	for lo, n := 0, ingestChunk; lo < len(events); lo, n = lo+n, min(2*n, maxIngestChunk) {
		p.chunks = append(p.chunks, chunk{lo: lo, hi: min(lo+n, len(events)), ready: make(chan struct{})})
	}
	var taken atomic.Int64 // chunks handed to workers, in order
	for range min(runtime.GOMAXPROCS(0), len(p.chunks)) {
		p.wg.Go(func() {
			for !p.quit.Load() {
				k := int(taken.Add(1)) - 1
				if k >= len(p.chunks) {
					return
				}
				c := &p.chunks[k]
				for i := c.lo; i < c.hi; i++ {
					ev, entry, err := Prepare(l, events[i])
					if err != nil {
						c.err = &tlog.RecordError{N: i, Err: err}
						break
					}
					p.entries[i] = entry
					p.res[i] = Result{Kind: ev.Kind, Tolerated: ev.Tolerated, Cycles: cycles(ev), event: ev}
				}
				if c.err == nil {
					c.entries = tlog.NewChunk(p.entries[c.lo:c.hi])
				}
				close(c.ready)
			}
		})
	}
	return p
}

// stop ends the workers, once they are done with their chunks.
func (p *pipeline) stop() {
	p.quit.Store(true)
	p.wg.Wait()
}

type decodedKey struct{}

// decodedEvents are the events PrepareAll or Ingest decoded, by event id.
type decodedEvents struct{ m map[string]*Event }

// WithDecoded returns a context that carries the events PrepareAll decoded,
// so that the Indexer of an append made with it need not decode them again.
func WithDecoded(ctx context.Context, entries []prov.Entry, res []Result) context.Context {
	m := make(map[string]*Event, len(entries))
	for i, e := range entries {
		if res[i].event != nil {
			m[e.EventID] = res[i].event
		}
	}
	return context.WithValue(ctx, decodedKey{}, &decodedEvents{m: m})
}

// decoded returns the event of entry e that ctx carries, if any: only one
// whose bytes are the record's event (the record id is their digest).
func decoded(ctx context.Context, e *prov.Entry) *Event {
	d, _ := ctx.Value(decodedKey{}).(*decodedEvents)
	if d == nil || e.EventID == "" {
		return nil
	}
	return d.m[e.EventID]
}

// PrepareAll runs Prepare on every event: their entries, to append
// idempotently (tlog.Log.AppendEntriesIdempotent, tlog.Batcher), and their
// results so far. A refused event is a *tlog.RecordError naming it.
func PrepareAll(l *tlog.Log, events [][]byte) ([]prov.Entry, []Result, error) {
	if len(events) == 0 {
		return nil, nil, prov.Errorf(prov.Invalid, "no OpenLineage event to ingest")
	}
	res := make([]Result, len(events))
	entries := make([]prov.Entry, len(events))
	// On all CPUs for large batches, as tlog.Log.PrepareAll; the first
	// refused event is reported.
	workers := min(runtime.GOMAXPROCS(0), len(events)/64)
	workers = max(workers, 1)
	errs := make([]*tlog.RecordError, workers)
	chunk := (len(events) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(events))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				ev, entry, err := Prepare(l, events[i])
				if err != nil {
					errs[w] = &tlog.RecordError{N: i, Err: err}
					return
				}
				entries[i] = entry
				res[i] = Result{Kind: ev.Kind, Tolerated: ev.Tolerated, Cycles: cycles(ev), event: ev}
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, nil, e
		}
	}
	return entries, res, nil
}

// Appended completes PrepareAll's results with where the events are.
func Appended(res []Result, out []tlog.Appended) []Result {
	for i, a := range out {
		res[i].Index, res[i].Duplicate = a.Index, a.Duplicate
	}
	return res
}

// SizeError is an event over the record limit.
type SizeError struct{ Size, Limit int }

func (e *SizeError) Error() string {
	return fmt.Sprintf("%d bytes, over the limit of %d bytes", e.Size, e.Limit)
}

// cycles returns the datasets an event lists both as input and output.
func cycles(e *Event) []string {
	if len(e.Inputs) == 0 || len(e.Outputs) == 0 {
		return nil
	}
	in := map[string]bool{}
	for _, d := range e.Inputs {
		in[DatasetEntity(d.Namespace, d.Name)] = true
	}
	var out []string
	for _, d := range e.Outputs {
		if id := DatasetEntity(d.Namespace, d.Name); in[id] && !contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// SplitEvents splits a body or file into events: one JSON object, a JSON
// array of objects, or JSON Lines (one event per line, blank lines
// ignored). Each event is returned with the line it starts on (1 for an
// object or an array element on the first line).
func SplitEvents(body []byte) (events [][]byte, lines []int, err error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	lead := bytes.Count(body[:len(body)-len(trimmed)], []byte("\n"))
	trimmed = bytes.TrimRight(trimmed, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, nil, prov.Errorf(prov.Invalid, "no OpenLineage event: want a JSON object, a JSON array of events or JSON Lines")
	}
	switch trimmed[0] {
	case '[':
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		if _, err := dec.Token(); err != nil {
			return nil, nil, prov.Errorf(prov.Invalid, "malformed JSON array of events: %v", err)
		}
		for dec.More() {
			start := dec.InputOffset()
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, nil, prov.Errorf(prov.Invalid, "event %d of the array: malformed JSON: %v", len(events)+1, err)
			}
			// InputOffset before Decode may sit before the comma and white
			// space; the event starts where its bytes do.
			at := bytes.Index(trimmed[start:], raw) + int(start)
			events = append(events, raw)
			lines = append(lines, lead+1+bytes.Count(trimmed[:at], []byte("\n")))
		}
		if _, err := dec.Token(); err != nil {
			return nil, nil, prov.Errorf(prov.Invalid, "malformed JSON array of events: %v", err)
		}
		if rest := bytes.TrimSpace(trimmed[dec.InputOffset():]); len(rest) > 0 {
			return nil, nil, prov.Errorf(prov.Invalid, "data after the array of events")
		}
		if len(events) == 0 {
			return nil, nil, prov.Errorf(prov.Invalid, "the array holds no event")
		}
		return events, lines, nil
	case '{':
		// One object (perhaps over many lines), or JSON Lines: one event per
		// line. A single object is tried first.
		if json.Valid(trimmed) {
			return [][]byte{trimmed}, []int{lead + 1}, nil
		}
		line := lead
		for _, l := range bytes.Split(trimmed, []byte("\n")) {
			line++
			l = bytes.Trim(l, " \t\r")
			if len(l) == 0 {
				continue
			}
			events = append(events, l)
			lines = append(lines, line)
		}
		return events, lines, nil
	}
	return nil, nil, prov.Errorf(prov.Invalid, "not OpenLineage events: want a JSON object, a JSON array of events or JSON Lines, got %s", prov.JSONKind(trimmed[0]))
}
