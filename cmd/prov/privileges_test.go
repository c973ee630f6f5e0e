package main

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/storetest"
)

// TestCaptureWithoutPrivileges: a role that may not put triggers on a table
// gets one sentence that says what it needs, and nothing changes.
func TestCaptureWithoutPrivileges(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const setup = `DROP SCHEMA IF EXISTS privtest_app CASCADE; DROP SCHEMA IF EXISTS privtest_prov CASCADE;
		DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'prov_test_noprivs') THEN CREATE ROLE prov_test_noprivs LOGIN; END IF; END$$;
		CREATE SCHEMA privtest_app; CREATE TABLE privtest_app.t (id int PRIMARY KEY, v text);
		GRANT USAGE ON SCHEMA privtest_app TO prov_test_noprivs; GRANT SELECT ON privtest_app.t TO prov_test_noprivs;
		CREATE SCHEMA privtest_prov AUTHORIZATION prov_test_noprivs`
	if _, err := conn.Exec(ctx, setup); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS privtest_app CASCADE; DROP SCHEMA IF EXISTS privtest_prov CASCADE")
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User("prov_test_noprivs")
	base := []string{"--db", u.String(), "--schema", "privtest_prov", "--key", filepath.Join(t.TempDir(), "prov.key")}
	if r := run(t, "", append(base, "init")...); r.code != 0 {
		t.Fatalf("init: %s", r.stderr)
	}
	r := run(t, "", append(base, "capture", "enable", "privtest_app.t")...)
	if r.code != 1 || !strings.Contains(r.stderr, "permission denied") || !strings.Contains(r.stderr, "needs to own the table") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("enable without privileges: exit %d, %q", r.code, r.stderr)
	}
	var triggers int
	conn.QueryRow(ctx, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'privtest_app.t'::regclass").Scan(&triggers)
	if r := run(t, "", append(base, "capture", "status", "--json")...); r.code != 0 || !strings.Contains(r.stdout, `"tables": []`) && !strings.Contains(r.stdout, `"tables": null`) || triggers != 0 {
		t.Errorf("something changed: triggers %d, status %s %s", triggers, r.stdout, r.stderr)
	}
}
