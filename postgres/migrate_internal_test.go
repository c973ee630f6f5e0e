package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/storetest"
)

// TestMigration0016KeepsParentJobs: migration 0016 drops lineage_runs; the
// job of each event's parent run, which only that table held, moves to the
// event's row.
func TestMigration0016KeepsParentJobs(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "provtest_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dsn); err == nil {
			c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			c.Close(ctx)
		}
	})
	// The schema as a prov before 0016 left it.
	files, err := migrationFiles()
	if err != nil {
		t.Fatal(err)
	}
	id := pgx.Identifier{schema}.Sanitize()
	for _, q := range []string{"CREATE SCHEMA " + id, "SET search_path TO " + id,
		"CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied timestamptz NOT NULL DEFAULT now())"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range files {
		if m.version >= 16 {
			break
		}
		sql, err := migrations.ReadFile(m.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(sql)); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO lineage_events (idx, kind, event_type, at, run_id, parent, job_ns, job_name, producer) VALUES
			(0, 'run', 'START', now(), 'child', 'parent', 'etl', 'step', 'p'),
			(1, 'run', 'START', now(), 'other', NULL, 'etl', 'other', 'p')`,
		`INSERT INTO lineage_runs (run_id, job_ns, job_name, parent, first, last) VALUES
			('parent', 'etl', 'outer', NULL, 0, 0), ('child', 'etl', 'step', 'parent', 0, 0), ('other', 'etl', 'other', NULL, 1, 1)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s, err := Open(ctx, dsn, Options{Schema: schema})
	if err != nil {
		t.Fatalf("open a schema made before 0016: %v", err)
	}
	defer s.Close()
	rows, err := s.Pool().Query(ctx, "SELECT idx, coalesce(parent_job_ns, '-'), coalesce(parent_job_name, '-') FROM "+id+".lineage_events ORDER BY idx")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var idx int64
		var ns, name string
		if err := rows.Scan(&idx, &ns, &name); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%d %s %s", idx, ns, name))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"0 etl outer", "1 - -"}; !slices.Equal(got, want) {
		t.Errorf("parent jobs after 0016: got %q, want %q", got, want)
	}
	var gone bool
	if err := s.Pool().QueryRow(ctx, "SELECT to_regclass($1) IS NULL", schema+".lineage_runs").Scan(&gone); err != nil || !gone {
		t.Errorf("lineage_runs after 0016: gone %v, %v", gone, err)
	}
}
