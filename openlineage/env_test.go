package openlineage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/openlineage"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/storetest"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

// external is the OpenLineage material of the shared test corpus.
const external = "../../shared/external/openlineage"

// corpusEvent is one event of the corpus: its file, its place there, its
// bytes.
type corpusEvent struct {
	file string // relative to external/events
	n    int    // 1-based place in the file
	raw  []byte
}

func (c corpusEvent) String() string { return c.file + "#" + itoa(c.n) }

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
}

// corpus returns every event under external/events (JSON objects, JSON
// arrays of objects, JSON Lines), skipping the test when it is absent.
func corpus(t testing.TB) []corpusEvent {
	t.Helper()
	root := filepath.Join(external, "events")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("no OpenLineage corpus at %s", root)
	}
	var out []corpusEvent
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasSuffix(path, ".json") && !strings.HasSuffix(path, ".ndjson") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		events, _, err := openlineage.SplitEvents(b)
		if err != nil {
			return nil // not events (a template, a config)
		}
		for i, e := range events {
			out = append(out, corpusEvent{file: rel, n: i + 1, raw: e})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].file != out[j].file {
			return out[i].file < out[j].file
		}
		return out[i].n < out[j].n
	})
	return out
}

// openLog creates a log in s with the lineage indexer.
func openLog(t testing.TB, s prov.Store) *tlog.Log {
	ctx := context.Background()
	skey, vkey, err := tlog.GenerateKey("test.example/openlineage")
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.Init(ctx, s, "test.example/openlineage", vkey); err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	l, err := tlog.Open(ctx, s, tlog.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	l.AddIndexer(openlineage.Indexer(s))
	return l
}

func newSQLite(t testing.TB) (*sqlite.Store, *tlog.Log) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "prov.db"), sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, openLog(t, st)
}

func newPostgres(t testing.TB) (*postgres.Store, *tlog.Log) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	b := make([]byte, 5)
	rand.Read(b)
	schema := "ol_prov_" + hex.EncodeToString(b)
	st, err := postgres.Open(ctx, dsn, postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st.Close()
		if pool, err := pgxpool.New(context.Background(), dsn); err == nil {
			pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
			pool.Close()
		}
	})
	return st, openLog(t, st)
}

// backends runs fn on SQLite and, if PROV_TEST_POSTGRES is set, PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, s prov.Store, l *tlog.Log)) {
	t.Run("sqlite", func(t *testing.T) {
		s, l := newSQLite(t)
		fn(t, s, l)
	})
	t.Run("postgres", func(t *testing.T) {
		s, l := newPostgres(t)
		fn(t, s, l)
	})
}
