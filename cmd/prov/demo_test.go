package main

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/storetest"
)

// TestDemo runs the README's first command as a user would, on the embedded
// default and on PostgreSQL.
func TestDemo(t *testing.T) {
	check := func(t *testing.T, r result) {
		t.Helper()
		if r.code != 0 {
			t.Fatalf("demo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{
			"6  frank    frank.jpg",
			"sequenced 18 changes",
			"1 (5.6%)",
			"ok: 7 live rows of 1 captured tables match",
			"--format ids\n6\n7\n",
			"revert: 5 rows selected; would change 0; 5 conflicts left alone",
			"fix: 2 rows selected; changed 2",
			"--count\n0\n",
			"no rows to fix: the filters select nothing",
			"log damaged at record 8 (edited)",
			"verify exited 3",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
			}
		}
	}
	t.Run("sqlite", func(t *testing.T) {
		check(t, run(t, "", "demo", "--dir", t.TempDir()))
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		const drop = "DROP SCHEMA IF EXISTS prov_demo CASCADE; DROP SCHEMA IF EXISTS prov_demo_test CASCADE"
		conn.Exec(context.Background(), drop)
		t.Cleanup(func() { conn.Exec(context.Background(), drop) })
		check(t, run(t, "", "--db", dsn, "--schema", "prov_demo_test", "demo", "--dir", t.TempDir()))
	})
}
