package tlog_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
)

func TestAppendIdempotent(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"), sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, vkey, err := tlog.GenerateKey("test.example/idem")
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.Init(ctx, s, "test.example/idem", vkey); err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(ctx, s, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := func(id, reason string) []byte {
		return []byte(fmt.Sprintf(`{"type":"activity","id":%q,"time":"2026-01-02T03:04:05Z","activity":{"id":"job:1"},"reason":%q}`, id, reason))
	}
	got, err := l.AppendIdempotent(ctx, [][]byte{rec("e1", "a"), rec("e2", "b"), rec("e1", "a")})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != (tlog.Appended{Index: 0}) || got[1] != (tlog.Appended{Index: 1}) || got[2] != (tlog.Appended{Index: 0, Duplicate: true}) {
		t.Errorf("first append: %+v", got)
	}
	// A retry appends nothing and returns the original indexes.
	got, err = l.AppendIdempotent(ctx, [][]byte{rec("e2", "b"), rec("e3", "c")})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != (tlog.Appended{Index: 1, Duplicate: true}) || got[1] != (tlog.Appended{Index: 2}) {
		t.Errorf("retry: %+v", got)
	}
	// The same id with other bytes: refused, nothing appended.
	_, err = l.AppendIdempotent(ctx, [][]byte{rec("e4", "d"), rec("e1", "changed")})
	if !prov.IsKind(err, prov.Conflict) {
		t.Errorf("reused id: %v", err)
	}
	if n, _ := l.Size(ctx); n != 3 {
		t.Errorf("size %d after a refused append, want 3", n)
	}
}
