package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/storetest"
)

// TestInvestigateCLI runs the investigation and repair commands on the
// database the demo leaves behind, on both backends.
func TestInvestigateCLI(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		if r := run(t, "", "demo", "--dir", dir); r.code != 0 {
			t.Fatalf("demo: %d %s", r.code, r.stderr)
		}
		checkInvestigateCLI(t, []string{"--db", filepath.Join(dir, "app.db")}, "users")
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := storetest.PostgresDSN(t)
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		const drop = "DROP SCHEMA IF EXISTS prov_demo CASCADE; DROP SCHEMA IF EXISTS prov_demo_inv CASCADE"
		conn.Exec(context.Background(), drop)
		t.Cleanup(func() { conn.Exec(context.Background(), drop) })
		dir := t.TempDir()
		base := []string{"--db", dsn, "--schema", "prov_demo_inv", "--key", filepath.Join(dir, "prov.key")}
		if r := run(t, "", append(base, "demo", "--dir", dir)...); r.code != 0 {
			t.Fatalf("demo: %d %s", r.code, r.stderr)
		}
		checkInvestigateCLI(t, base, "prov_demo.users")
	})
}

func checkInvestigateCLI(t *testing.T, base []string, table string) {
	prov := func(args ...string) result {
		t.Helper()
		return run(t, "", append(append([]string{}, base...), args...)...)
	}
	expect := func(r result, code int, wantOut, wantErr string) {
		t.Helper()
		if r.code != code || !strings.Contains(r.stdout, wantOut) || !strings.Contains(r.stderr, wantErr) {
			t.Errorf("exit %d (want %d)\nstdout: %s\nstderr: %s\nwant stdout with %q, stderr with %q", r.code, code, r.stdout, r.stderr, wantOut, wantErr)
		}
	}
	m42 := []string{"find", "--table", table, "--activity", "migration:0042"}
	expect(prov(append(m42, "--format", "ids")...), 0, "1\n2\n3\n4\n5\n", "")
	expect(prov(append(m42, "--count")...), 0, "5\n", "")
	expect(prov(append(m42, "--format", "csv")...), 0, "pk,index,op,activity,agent,time\n\"{\"\"id\"\":1}\"", "")
	expect(prov(append(m42, "--explain", "--count")...), 0, "5\n", "SELECT")
	r := prov(append(m42, "--json")...)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var first struct {
		PK, Activity string
	}
	if len(lines) != 5 || json.Unmarshal([]byte(lines[0]), &first) != nil || first.PK != `{"id":1}` || first.Activity != "migration:0042" {
		t.Errorf("--json: %s", r.stdout)
	}
	// Nothing selected: exit 0, said on stderr.
	expect(prov("find", "--table", table, "--activity", "migration:0042", "--current"), 0, "", "no rows match")
	// Bad input: clear, with suggestions.
	expect(prov("find", "--table", "userz"), 1, "", "did you mean")
	expect(prov("find", "--table", table, "--column", "photo"), 1, "", "photo_url")
	expect(prov("find", "--table", table, "--release", "v1"), 1, "", "v1.0")
	expect(prov("find", "--table", table, "--since", "yesterday"), 2, "", "not a time")
	expect(prov("find"), 2, "", "--table is required")
	expect(prov("find", "--table", table, "--format", "xml"), 2, "", "choose table, json, csv or ids")
	// Blame and history show the fix.
	r = prov("blame", table, "6", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"id": "fix:APP-1250"`) {
		t.Errorf("blame: %s %s", r.stdout, r.stderr)
	}
	expect(prov("history", table, "6"), 0, "photo_url: \"frank.jpg\" → \"frank.png\"", "")
	expect(prov("blame", table, "99"), 1, "", "no change of")
	expect(prov("activities", "--kind", "fix"), 0, "fix:APP-1250", "")
	// A failing expression changes nothing.
	expect(prov("fix", "--table", table, "--activity", "migration:0043", "--set", "photo_url = no_such_fn(photo_url)", "--reason", "x", "--apply"), 1, "", "nothing was changed")
	expect(prov("fix", "--table", table, "--activity", "migration:0043", "--set", "photo_url", "--reason", "x"), 1, "", "COLUMN = SQL-EXPRESSION")
	// Revert the fix: the old values are back, written by the revert; a
	// second revert changes nothing.
	expect(prov("revert", "--activity", "fix:APP-1250", "--reason", "test", "--apply"), 0, "changed 2", "")
	expect(prov("find", "--table", table, "--column", "photo_url", "--kind", "revert", "--current", "--format", "ids"), 0, "6\n7\n", "")
	expect(prov("history", table, "7"), 0, "photo_url: \"grace.png\" → \"grace.jpg\"", "")
	expect(prov("revert", "--activity", "fix:APP-1250", "--reason", "test", "--apply"), 0, "nothing to change", "")
	expect(prov("revert", "--activity", "fix:APP-125", "--reason", "test"), 1, "", "did you mean")
	expect(prov("revert", "--reason", "test"), 2, "", "--activity is required")
	expect(prov("sequence"), 0, "sequenced 2 changes", "")
}
