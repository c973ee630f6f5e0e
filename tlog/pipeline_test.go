package tlog_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/prov-dev/prov/tlog"
)

// TestAppendLargeBatchAsPrepared checks that Append of a large batch (which
// validates on other goroutines while it stores) appends, and refuses, as
// PrepareAll followed by AppendEntries does: the same error, or the same
// stored hashes.
func TestAppendLargeBatchAsPrepared(t *testing.T) {
	strict := newAgentKey(t, "svc:strict")
	setup := [][]byte{strict.add(t), policy(t, "svc:strict", true), eventRecord("taken", "svc:a", 0)}
	a := vecNewLog(t, "test.example/pipeline", "", "")
	b := vecNewLog(t, "test.example/pipeline", "", "")
	mustAppend(t, a, 0, setup...)
	mustAppend(t, b, 0, setup...)

	const n = 600
	batch := func(c int, edit map[int][]byte) [][]byte {
		recs := make([][]byte, n)
		for i := range recs {
			recs[i] = eventRecord(fmt.Sprintf("c%d-%d", c, i), "svc:a", i)
			if r, ok := edit[i]; ok {
				recs[i] = r
			}
		}
		return recs
	}
	bad := []byte(`{"type":"change","time":"2026-01-02T03:04:05Z"`)
	refuse := tlog.RefuseKeyRecords(context.Background())
	for c, tc := range []struct {
		name string
		ctx  context.Context
		edit map[int][]byte
		ok   bool
	}{
		{"valid", nil, nil, true},
		{"invalid record late", nil, map[int][]byte{450: bad}, false},
		{"two invalid records: the first", nil, map[int][]byte{5: bad, 590: bad}, false},
		{"event id in the log", nil, map[int][]byte{100: eventRecord("taken", "svc:a", 1)}, false},
		{"event id in the log, then an invalid record", nil, map[int][]byte{100: eventRecord("taken", "svc:a", 1), 590: bad}, false},
		{"event id twice", nil, map[int][]byte{300: eventRecord("twice", "svc:a", 1), 301: eventRecord("twice", "svc:a", 2)}, false},
		{"unsigned record of an agent that must sign", nil, map[int][]byte{400: eventRecord("u", "svc:strict", 1)}, false},
		{"key record where refused", refuse, map[int][]byte{200: newAgentKey(t, "svc:a").add(t)}, false},
		{"key record where refused, then an invalid record", refuse, map[int][]byte{200: newAgentKey(t, "svc:a").add(t), 500: bad}, false},
		{"valid, with a key record", nil, map[int][]byte{200: newAgentKey(t, "svc:b").add(t)}, true},
	} {
		ctx := tc.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		recs := batch(c, tc.edit)
		_, got := a.Append(ctx, recs)
		var want error
		entries, want := b.PrepareAll(recs)
		if want == nil {
			_, want = b.AppendEntries(ctx, entries)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: Append: %v, want (as PrepareAll and AppendEntries) %v", tc.name, got, want)
		}
		if (got == nil) != tc.ok {
			t.Errorf("%s: Append: %v, want success %v", tc.name, got, tc.ok)
		}
		sa, _ := a.Size(ctx)
		sb, _ := b.Size(ctx)
		ra, _ := a.TreeHash(ctx, sa)
		rb, _ := b.TreeHash(ctx, sb)
		if sa != sb || ra != rb {
			t.Fatalf("%s: size %d, root %x; want %d, %x", tc.name, sa, ra, sb, rb)
		}
	}
	mustVerify(t, a)
}

// eventRecord is a record with an event id.
func eventRecord(id, agent string, i int) []byte {
	return fmt.Appendf(nil, `{"type":"change","id":%q,"time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d","kind":"job"},"agent":{"id":%q},"generated":[{"id":"file:/data/%d","op":"write"}],"reason":"record %d"}`, id, i, agent, i, i)
}
