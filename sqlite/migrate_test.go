package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestOpensAStoreMadeBefore0008: migration 0008 (key records) was added
// after 0009 (lineage). A store made when 0009 was the fifth file has
// schema version 5; opening it runs 0009 again, which must be harmless.
func TestOpensAStoreMadeBefore0008(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"0001_log.sql", "0002_capture.sql", "0003_row_changes.sql", "0007_tokens.sql", "0009_lineage.sql"} {
		b, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := db.ExecContext(ctx, "PRAGMA user_version = 5"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("open a store made before 0008: %v", err)
	}
	defer s.Close()
	var n int
	if err := s.DB().QueryRowContext(ctx, "SELECT count(*) FROM prov_lineage_events").Scan(&n); err != nil {
		t.Errorf("the lineage tables after the upgrade: %v", err)
	}
}
