package main

import (
	"database/sql"
	"encoding/json"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
)

// TestCaptureOnSQLite captures an application's tables in the SQLite file
// that holds the log: enable, status, sequence, disable, and their refusals.
func TestCaptureOnSQLite(t *testing.T) {
	db := newSQLiteLog(t)
	app, err := sql.Open("sqlite", "file:"+db.args[1]+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	for _, q := range []string{
		"CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, photo_url TEXT)",
		"CREATE TABLE log (at TEXT, line TEXT)",
		"INSERT INTO users VALUES (1, 'a@example.com', 'a.png'), (2, 'b@example.com', 'b.png')",
	} {
		if _, err := app.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"capture", "enable", "log"}, "main.log has no primary key"},
		{[]string{"capture", "enable", "usrs"}, "table usrs does not exist (did you mean main.users?)"},
		{[]string{"capture", "enable", "users", "--pii", "emial"}, "did you mean email"},
		{[]string{"capture", "disable", "users"}, "capture is not enabled on main.users: nothing to disable"},
	} {
		if r := db.run(t, "", c.args...); r.code != exitError || !strings.Contains(r.stderr, c.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, %q; want exit 1 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
	r := db.run(t, "", "capture", "enable", "users", "--pii", "email")
	if r.code != 0 || r.stdout != "capturing main.users (key id; digests only for email)\n" {
		t.Fatalf("capture enable: exit %d: %q %q", r.code, r.stdout, r.stderr)
	}
	if r := db.run(t, "", "capture", "enable", "users"); r.code != exitError || !strings.Contains(r.stderr, "capture is already enabled on main.users") {
		t.Errorf("enable twice: exit %d, %q", r.code, r.stderr)
	}

	// An attributed transaction, as the SDK writes it, and an unattributed one.
	tx, err := app.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO prov_context (ctx) VALUES ('" + prov.Attribution{Activity: "migration:0042", Agent: "svc:migrate"}.Encode() + "')",
		"UPDATE users SET photo_url = replace(photo_url, '.png', '.jpg')",
		"DELETE FROM prov_context",
	} {
		if _, err := tx.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Exec("INSERT INTO users VALUES (3, 'c@example.com', 'c.png')"); err != nil {
		t.Fatal(err)
	}

	var st struct {
		Pending      int64 `json:"pending"`
		Unattributed int64 `json:"unattributed"`
		Tables       []struct {
			Name string   `json:"table"`
			PII  []string `json:"pii"`
		} `json:"tables"`
	}
	r = db.run(t, "", "--json", "capture", "status")
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("capture status --json: %v: %s %s", err, r.stdout, r.stderr)
	}
	if st.Pending != 3 || st.Unattributed != 1 || len(st.Tables) != 1 || st.Tables[0].Name != "main.users" || strings.Join(st.Tables[0].PII, ",") != "email" {
		t.Errorf("status %+v, want 3 pending, 1 unattributed, main.users with email as PII", st)
	}
	if r := db.run(t, "", "sequence"); r.code != 0 || !strings.HasPrefix(r.stdout, "sequenced 3 changes into the log (now 3 records)") {
		t.Fatalf("sequence: exit %d: %q %q", r.code, r.stdout, r.stderr)
	}
	r = db.run(t, "", "capture", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "main.users") || !strings.Contains(r.stdout, "capturing") {
		t.Errorf("capture status: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	records := readLog(t, db)
	if len(records) != 3 {
		t.Fatalf("%d records in the log, want 3: %v", len(records), records)
	}
	for i := int64(0); i < 3; i++ {
		var rec struct {
			Type     string           `json:"type"`
			Activity *prov.Activity   `json:"activity"`
			Agent    *prov.Agent      `json:"agent"`
			Gen      []prov.EntityRef `json:"generated"`
		}
		json.Unmarshal([]byte(records[i]), &rec)
		if rec.Type != "change" || !strings.HasPrefix(rec.Gen[0].ID, "sqlite:prov/main.users/") {
			t.Errorf("record %d: %s", i, records[i])
		}
		if strings.Contains(records[i], "@example.com") {
			t.Errorf("an email reached the log: %s", records[i])
		}
		attributed := rec.Activity != nil && rec.Activity.ID == "migration:0042" && rec.Agent != nil && rec.Agent.ID == "svc:migrate"
		if attributed != (i < 2) {
			t.Errorf("record %d attributed to %+v / %+v", i, rec.Activity, rec.Agent)
		}
	}
	if r := db.run(t, "", "verify"); r.code != 0 {
		t.Errorf("verify: %s", r.stderr)
	}
	if r := db.run(t, "", "capture", "disable", "users"); r.code != 0 {
		t.Errorf("capture disable: exit %d: %s", r.code, r.stderr)
	}
	if _, err := app.Exec("INSERT INTO users VALUES (4, 'd@example.com', 'd.png')"); err != nil {
		t.Fatal(err)
	}
	if r := db.run(t, "", "sequence"); r.code != 0 || !strings.HasPrefix(r.stdout, "sequenced 0 changes") {
		t.Errorf("sequence after disable: exit %d: %q %q", r.code, r.stdout, r.stderr)
	}
}
