package openlineage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/tlog"
)

// accepted returns the corpus events that Decode accepts.
func accepted(t testing.TB) []corpusEvent {
	var out []corpusEvent
	for _, c := range corpus(t) {
		if _, err := openlineage.Decode(c.raw); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// TestIngestCorpus ingests every corpus event that Decode accepts, in one
// transaction, and reads each back from the log byte for byte; the
// records pass ParseRecord and a second ingest appends nothing.
func TestIngestCorpus(t *testing.T) {
	backends(t, func(t *testing.T, s prov.Store, l *tlog.Log) {
		ctx := context.Background()
		events := accepted(t)
		raws := make([][]byte, len(events))
		for i, e := range events {
			raws[i] = e.raw
		}
		res, err := openlineage.Ingest(ctx, l, raws)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int64{}
		for i, r := range res {
			id := openlineage.EventID(bytes.Trim(raws[i], " \t\r\n"))
			if prev, ok := seen[id]; ok {
				if !r.Duplicate || r.Index != prev {
					t.Errorf("%s: same bytes as an earlier event, got %+v, want duplicate of %d", events[i], r, prev)
				}
				continue
			}
			seen[id] = r.Index
			e, err := l.Get(ctx, r.Index)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := prov.ParseRecord(e.Data); err != nil {
				t.Errorf("%s: record refused: %v", events[i], err)
			}
			got, ok := openlineage.EventOf(e.Data)
			if !ok || !bytes.Equal(got, bytes.Trim(raws[i], " \t\r\n")) {
				t.Errorf("%s: the event read back differs from the one sent", events[i])
			}
		}
		size, _ := l.Size(ctx)
		again, err := openlineage.Ingest(ctx, l, raws)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range again {
			if !r.Duplicate {
				t.Errorf("%s: a retry appended again: %+v", events[i], r)
			}
		}
		if n, _ := l.Size(ctx); n != size {
			t.Errorf("the retry grew the log from %d to %d", size, n)
		}
		t.Logf("%d events ingested (%d distinct), log size %d", len(events), len(seen), size)
	})
}

// TestIngestBadInput: a huge event is refused with its size and the limit,
// a cycle is stored and reported, and a bad event in a batch names its
// place and appends nothing.
func TestIngestBadInput(t *testing.T) {
	ctx := context.Background()
	_, l := newSQLite(t)
	l.MaxRecordBytes = 4096
	huge := []byte(strings.Replace(okEvent, `"run":{`, `"run":{"facets":{"big":{"x":"`+strings.Repeat("x", 5000)+`"}},`, 1))
	_, err := openlineage.Ingest(ctx, l, [][]byte{huge})
	var se *openlineage.SizeError
	var re *tlog.RecordError
	if !errors.As(err, &se) || !errors.As(err, &re) || re.N != 0 || !strings.Contains(err.Error(), "over the limit of 4096 bytes") {
		t.Errorf("huge event: got %v", err)
	}
	// Under the event limit, over the record limit once mapped.
	l.MaxRecordBytes = len(okEvent) + 10
	if _, err := openlineage.Ingest(ctx, l, [][]byte{[]byte(okEvent)}); !errors.As(err, &se) || !strings.Contains(err.Error(), "makes a record of") {
		t.Errorf("event whose record is over the limit: got %v", err)
	}
	l.MaxRecordBytes = 0
	cyc := seeds(t)[6] // testdata/edge.jsonl: gs://bucket a/b is read and written
	res, err := openlineage.Ingest(ctx, l, [][]byte{cyc})
	if err != nil || len(res[0].Cycles) != 1 || res[0].Cycles[0] != "dataset:gs://bucket:a/b" {
		t.Errorf("cycle: got %+v %v", res, err)
	}
	bad := strings.Replace(okEvent, `"name":"j"`, `"name":["j"]`, 1)
	_, err = openlineage.Ingest(ctx, l, [][]byte{[]byte(okEvent), []byte(bad)})
	if !errors.As(err, &re) || re.N != 1 || !strings.Contains(err.Error(), `field "job.name"`) {
		t.Errorf("bad event in a batch: got %v", err)
	}
	if n, _ := l.Size(ctx); n != 1 {
		t.Errorf("log size %d after a refused batch, want 1", n)
	}
}

// TestIngestLargeBatch: a batch large enough to be prepared and appended in
// chunks gives the results of one transaction: indexes in order,
// duplicates across chunks pointing at the first copy, every event
// indexed; and a bad event late in it names its place and appends nothing.
func TestIngestLargeBatch(t *testing.T) {
	backends(t, func(t *testing.T, s prov.Store, l *tlog.Log) {
		ctx := context.Background()
		const n = 500
		events := make([][]byte, n)
		for i := range events {
			id := fmt.Sprintf("0195a000-0000-7000-8000-%012d", i)
			events[i] = []byte(strings.Replace(okEvent, "0195a000-0000-7000-8000-000000000002", id, 1))
		}
		events[400] = events[10] // a duplicate in a later chunk
		bad := slices.Clone(events)
		bad[333] = []byte(strings.Replace(okEvent, `"name":"j"`, `"name":["j"]`, 1))
		_, err := openlineage.Ingest(ctx, l, bad)
		var re *tlog.RecordError
		if !errors.As(err, &re) || re.N != 333 || !strings.Contains(err.Error(), `field "job.name"`) {
			t.Errorf("bad event late in a large batch: got %v", err)
		}
		if size, _ := l.Size(ctx); size != 0 {
			t.Fatalf("log size %d after a refused batch, want 0", size)
		}
		res, err := openlineage.Ingest(ctx, l, events)
		if err != nil {
			t.Fatal(err)
		}
		next := int64(0)
		for i, r := range res {
			switch {
			case i == 400:
				if !r.Duplicate || r.Index != res[10].Index {
					t.Errorf("event 400: got %+v, want a duplicate of event 10 (%+v)", r, res[10])
				}
			case r.Duplicate || r.Index != next:
				t.Errorf("event %d: got %+v, want index %d", i, r, next)
			default:
				next++
			}
		}
		if size, _ := l.Size(ctx); size != n-1 {
			t.Errorf("log size %d, want %d", size, n-1)
		}
		g := newRecorder()
		if err := openlineage.Load(ctx, s, time.Time{}, g); err != nil {
			t.Fatal(err)
		}
		if len(g.runs) != n-1 || len(g.ios) != 2*(n-1) {
			t.Errorf("%d runs and %d inputs and outputs indexed, want %d and %d", len(g.runs), len(g.ios), n-1, 2*(n-1))
		}
		// The leaf hashes the workers computed are the records'.
		if rep, err := l.Verify(ctx, tlog.VerifyOptions{}); err != nil || rep.Problem != nil || rep.Size != n-1 {
			t.Errorf("verify after a pipelined ingest: %+v, %v", rep, err)
		}
	})
}
