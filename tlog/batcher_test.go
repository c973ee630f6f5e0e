package tlog_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

func TestBatcher(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	skey, vkey, _ := tlog.GenerateKey("test.example/batch")
	if err := tlog.Init(ctx, s, "test.example/batch", vkey); err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	l, err := tlog.Open(ctx, s, tlog.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	b := l.NewBatcher(100)
	var stats []tlog.GroupStats
	b.Observe(func(st tlog.GroupStats) { stats = append(stats, st) }) // the writer's goroutine alone calls it
	rec := func(id string, n int) []byte {
		return []byte(fmt.Sprintf(`{"type":"activity","id":%q,"time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d"}}`, id, n))
	}
	if _, err := b.Append(ctx, [][]byte{rec("taken", 0)}); err != nil {
		t.Fatal(err)
	}
	const callers = 40
	results := make([][]tlog.Appended, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			recs := [][]byte{rec(fmt.Sprintf("c%d-a", c), c), rec(fmt.Sprintf("c%d-b", c), c)}
			switch c {
			case 7: // a retry of an acknowledged event: its original index
				recs = append(recs, rec("taken", 0))
			case 13: // a reused id with other bytes: this caller alone fails
				recs = append(recs, rec("taken", 99))
			case 21:
				recs = append(recs, []byte(`{"type":"nope"}`))
			}
			results[c], errs[c] = b.Append(ctx, recs)
		})
	}
	wg.Wait()
	b.Close()
	seen := map[int64]bool{0: true}
	for c := range callers {
		switch c {
		case 13:
			if !prov.IsKind(errs[c], prov.Conflict) {
				t.Errorf("caller 13: %v", errs[c])
			}
			continue
		case 21:
			if !prov.IsKind(errs[c], prov.Invalid) {
				t.Errorf("caller 21: %v", errs[c])
			}
			continue
		}
		if errs[c] != nil {
			t.Fatalf("caller %d: %v", c, errs[c])
		}
		for i, a := range results[c][:2] {
			if a.Duplicate || seen[a.Index] {
				t.Errorf("caller %d record %d: %+v (seen %v)", c, i, a, seen[a.Index])
			}
			seen[a.Index] = true
			e, err := l.Get(ctx, a.Index)
			if err != nil || e.EventID != fmt.Sprintf("c%d-%c", c, 'a'+i) {
				t.Errorf("caller %d record %d at %d is %q (%v)", c, i, a.Index, e.EventID, err)
			}
		}
		if c == 7 && results[c][2] != (tlog.Appended{Index: 0, Duplicate: true}) {
			t.Errorf("caller 7's retry: %+v", results[c][2])
		}
	}
	// Every request queued (all but caller 21's, refused before) is in one
	// group's stats.
	requests, records := 0, 0
	for _, st := range stats {
		requests, records = requests+st.Requests, records+st.Records
		if len(st.Wait) != st.Requests || st.Commit <= 0 && !st.Retried {
			t.Errorf("group stats %+v", st)
		}
	}
	if wantReq, wantRec := callers, 1+2*(callers-1)+2; requests != wantReq || records != wantRec {
		t.Errorf("stats of %d groups: %d requests, %d records; want %d, %d", len(stats), requests, records, wantReq, wantRec)
	}
	if n, _ := l.Size(ctx); n != 1+2*(callers-2) {
		t.Errorf("size %d, want %d", n, 1+2*(callers-2))
	}
	if _, err := l.Verify(ctx, tlog.VerifyOptions{}); err != nil {
		t.Error(err)
	}
	if _, err := b.Append(ctx, [][]byte{rec("late", 1)}); !prov.IsKind(err, prov.Unavailable) {
		t.Errorf("append after Close: %v", err)
	}
}
