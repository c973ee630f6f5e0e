package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
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

// TestMigration0016KeepsParentJobs: migration 0016 drops prov_lineage_runs;
// the job of each event's parent run, which only that table held, moves to
// the event's row.
func TestMigration0016KeepsParentJobs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	version := 0
	for _, name := range names {
		if strings.HasPrefix(name, "migrations/0016") {
			break
		}
		b, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, string(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		version++
	}
	for _, q := range []string{
		fmt.Sprintf("PRAGMA user_version = %d", version),
		`INSERT INTO prov_lineage_events (idx, kind, event_type, at, run_id, parent, job_ns, job_name, producer) VALUES
			(0, 'run', 'START', 1, 'child', 'parent', 'etl', 'step', 'p'),
			(1, 'run', 'START', 2, 'other', NULL, 'etl', 'other', 'p')`,
		`INSERT INTO prov_lineage_runs (run_id, job_ns, job_name, parent, first, last) VALUES
			('parent', 'etl', 'outer', NULL, 0, 0), ('child', 'etl', 'step', 'parent', 0, 0), ('other', 'etl', 'other', NULL, 1, 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("open a store made before 0016: %v", err)
	}
	defer s.Close()
	rows, err := s.DB().QueryContext(ctx, "SELECT idx, coalesce(parent_job_ns, '-'), coalesce(parent_job_name, '-') FROM prov_lineage_events ORDER BY idx")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var idx int
		var ns, name string
		if err := rows.Scan(&idx, &ns, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %s", idx, ns, name))
	}
	if want := []string{"0 etl outer", "1 - -"}; !slices.Equal(got, want) {
		t.Errorf("parent jobs after 0016: got %q, want %q", got, want)
	}
	var n int
	if err := s.DB().QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name = 'prov_lineage_runs'").Scan(&n); err != nil || n != 0 {
		t.Errorf("prov_lineage_runs after 0016: %d tables, %v", n, err)
	}
}
