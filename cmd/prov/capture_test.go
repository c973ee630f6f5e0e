package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/storetest"
)

// TestRunAttributesAnyToolThroughPGOPTIONS is the example: psql run
// under 'prov run' has its changes captured as part of the activity, with no
// change to psql, and the activity's start and end are in the log.
func TestRunAttributesAnyToolThroughPGOPTIONS(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	if _, err := exec.LookPath("psql"); err != nil {
		t.Fatal("psql is not installed: the test runs it as the tool to attribute (install postgresql-client)")
	}
	db := newPostgresLog(t, dsn)
	app := strings.Replace(db.args[3], "provcli_", "app_", 1) // a schema of its own for the application
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+app+" CASCADE") })
	for _, q := range []string{
		"CREATE SCHEMA " + app,
		"CREATE TABLE " + app + ".users (id int PRIMARY KEY, email text, photo_url text)",
		"CREATE TABLE " + app + ".log (at timestamptz, line text)",
		"INSERT INTO " + app + ".users VALUES (1, 'a@example.com', 'a.png'), (2, 'b@example.com', 'b.png')",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	r := db.run(t, "", "capture", "enable", app+".log")
	if r.code != exitError || !strings.Contains(r.stderr, "has no primary key") {
		t.Errorf("enable on a table without a key: exit %d, %q", r.code, r.stderr)
	}
	if r := db.run(t, "", "capture", "enable", app+".users", "--pii", "email"); r.code != 0 {
		t.Fatalf("capture enable: %s", r.stderr)
	}
	r = db.run(t, "", "run", "--activity", "migration:0042", "--kind", "migration", "--release", "v1.0", "--reason", "photo URLs to .jpg", "--",
		"psql", dsn, "-v", "ON_ERROR_STOP=1", "-qc", "UPDATE "+app+".users SET photo_url = replace(photo_url, '.png', '.jpg')")
	if r.code != 0 {
		t.Fatalf("prov run psql: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var st struct {
		Pending int64 `json:"pending"`
	}
	json.Unmarshal([]byte(db.run(t, "", "--json", "capture", "status").stdout), &st)
	if st.Pending != 2 {
		t.Errorf("status: %d changes pending, want 2", st.Pending)
	}
	if r := db.run(t, "", "sequence"); r.code != 0 {
		t.Fatalf("sequence: %s", r.stderr)
	}
	r = db.run(t, "", "run", "--activity", "script:fail", "--", "sh", "-c", "exit 7")
	if r.code != 7 {
		t.Errorf("prov run of a failing command exited %d, want 7", r.code)
	}
	records := readLog(t, db)
	var changes, starts, ends int
	for i := int64(0); i < int64(len(records)); i++ {
		var rec struct {
			Type     string `json:"type"`
			Activity struct {
				ID       string `json:"id"`
				Release  string `json:"release"`
				Status   string `json:"status"`
				ExitCode *int   `json:"exit_code"`
			} `json:"activity"`
			Attributes struct {
				After json.RawMessage `json:"after"`
			} `json:"attributes"`
		}
		json.Unmarshal([]byte(records[i]), &rec)
		switch {
		case rec.Type == "change":
			changes++
			if rec.Activity.ID != "migration:0042" {
				t.Errorf("change %d attributed to %q", i, rec.Activity.ID)
			}
			if strings.Contains(string(rec.Attributes.After), "@example.com") {
				t.Errorf("an email reached the log: %s", rec.Attributes.After)
			}
		case rec.Activity.Status == "running":
			starts++
		case rec.Activity.ID == "migration:0042" && rec.Activity.Status == "succeeded" && rec.Activity.Release == "v1.0":
			ends++
		case rec.Activity.ID == "script:fail" && rec.Activity.Status == "failed" && rec.Activity.ExitCode != nil && *rec.Activity.ExitCode == 7:
			ends++
		}
	}
	if changes != 2 || starts != 2 || ends != 2 {
		t.Errorf("log has %d changes, %d starts, %d ends; want 2, 2, 2:\n%v", changes, starts, ends, records)
	}
	if r := db.run(t, "", "verify", "--live"); r.code != 0 || !strings.Contains(r.stdout, "2 live rows of 1 captured tables match") {
		t.Errorf("verify --live: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if _, err := conn.Exec(ctx, "SET session_replication_role = replica; UPDATE "+app+".users SET photo_url = 'x' WHERE id = 2; RESET session_replication_role"); err != nil {
		t.Fatal(err)
	}
	r = db.run(t, "", "verify", "--live")
	if r.code != exitTampered || !strings.Contains(r.stdout, `{"id": 2}`) || !strings.Contains(r.stdout, "changed") {
		t.Errorf("verify --live after a write behind capture's back: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
}
