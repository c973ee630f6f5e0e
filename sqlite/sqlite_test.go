package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/storetest"
)

// TestConformance runs the prov.Store conformance suite on SQLite files.
func TestConformance(t *testing.T) {
	storetest.Test(t, storetest.Harness{
		Open: func(t *testing.T) prov.Store {
			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "prov.db"), sqlite.Options{Create: true})
			if err != nil {
				t.Fatalf("sqlite.Open: %v", err)
			}
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			return s
		},
		// The suite's statements are SQLite's already: ? placeholders and
		// the table names of the migrations.
		Tamper: func(ctx context.Context, s prov.Store, query string, args ...any) (int64, error) {
			res, err := s.(*sqlite.Store).DB().ExecContext(ctx, query, args...)
			if err != nil {
				return 0, err
			}
			return res.RowsAffected()
		},
	})
}
