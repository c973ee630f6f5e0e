package capture_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

// liteEnv is a SQLite file with a log, capture, and the application's own
// connections to it (another pool, as an application would have).
type liteEnv struct {
	path  string
	app   *sql.DB
	store *sqlite.Store
	log   *tlog.Log
	cap   *capture.SQLite
	seq   *capture.Sequencer
}

func newLiteEnv(t *testing.T) *liteEnv {
	t.Helper()
	ctx := context.Background()
	e := &liteEnv{path: filepath.Join(t.TempDir(), "app.db")}
	var err error
	if e.store, err = sqlite.Open(ctx, e.path, sqlite.Options{Create: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	skey, vkey, err := tlog.GenerateKey("test.example/capture")
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.Init(ctx, e.store, "test.example/capture", vkey); err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	if e.log, err = tlog.Open(ctx, e.store, tlog.Options{Signer: signer}); err != nil {
		t.Fatal(err)
	}
	if e.app, err = sql.Open("sqlite", "file:"+e.path+"?_pragma=busy_timeout(30000)&_txlock=immediate"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.app.Close() })
	e.cap = capture.NewSQLite(e.store)
	e.seq = e.cap.Sequencer(e.log)
	return e
}

func (e *liteEnv) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := e.app.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// attributed runs statements in a transaction attributed to activity, the
// way the SDK does on SQLite: the attribution is written into prov_context
// first and deleted just before COMMIT.
func (e *liteEnv) attributed(t *testing.T, activity string, stmts ...string) {
	t.Helper()
	tx, err := e.app.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	a := prov.Attribution{Activity: activity, Agent: "svc:test"}
	if _, err := tx.Exec("INSERT INTO prov_context (ctx) VALUES (?)", a.Encode()); err != nil {
		t.Fatal(err)
	}
	for _, s := range stmts {
		if _, err := tx.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	if _, err := tx.Exec("DELETE FROM prov_context"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// sequence runs the sequencer to the end and returns the change records.
func (e *liteEnv) sequence(t *testing.T) []logged {
	t.Helper()
	ctx := context.Background()
	before, _ := e.log.Size(ctx)
	if _, err := e.seq.Run(ctx, false, 0); err != nil {
		t.Fatalf("sequence: %v", err)
	}
	after, _ := e.log.Size(ctx)
	var out []logged
	err := e.log.Entries(ctx, before, after, func(en prov.Entry) error {
		if _, err := prov.ParseRecord(en.Data); err != nil {
			t.Errorf("record %d is not a valid record: %v\n%s", en.Index, err, en.Data)
		}
		var r struct {
			logged
			Generated  []prov.EntityRef           `json:"generated"`
			Attributes map[string]json.RawMessage `json:"attributes"`
		}
		if err := json.Unmarshal(en.Data, &r); err != nil {
			return err
		}
		r.logged.Gen, r.logged.Attrs = r.Generated, r.Attributes
		out = append(out, r.logged)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.Verify(ctx, tlog.VerifyOptions{}); err != nil {
		t.Fatalf("log does not verify after sequencing: %v", err)
	}
	return out
}

// ids lists "op entity" of each record's first generated entity, without
// the database part of the id.
func ids(t *testing.T, recs []logged) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		id := r.Gen[0].ID
		if !strings.HasPrefix(id, "sqlite:app/") {
			t.Errorf("entity id %q does not start with sqlite:app/", id)
		}
		out = append(out, r.Gen[0].Op+" "+strings.TrimPrefix(id, "sqlite:app/"))
		if string(r.Attrs["bypass"]) == "true" {
			t.Errorf("flagged as bypass: %s", out[len(out)-1])
		}
	}
	return out
}

func TestSQLiteCaptureAttributesEveryOperation(t *testing.T) {
	e := newLiteEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, photo_url TEXT)")
	e.exec(t, "INSERT INTO users VALUES (1, 'old', 'a.png')")
	tables, err := e.cap.Enable(ctx, []string{"users"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].Name != "main.users" || strings.Join(tables[0].PK, ",") != "id" {
		t.Errorf("Enable = %+v", tables)
	}
	e.attributed(t, "migration:0042", "UPDATE users SET photo_url = 'a.jpg' WHERE id = 1")
	e.attributed(t, "request:1", "INSERT INTO users VALUES (2, 'bob', 'b.jpg'), (3, 'cy', 'c.png')")
	e.exec(t, "DELETE FROM users WHERE id = 3") // unattributed
	// A rolled-back transaction leaves nothing, its attribution included.
	tx, _ := e.app.Begin()
	tx.Exec("INSERT INTO prov_context (ctx) VALUES (?)", prov.Attribution{Activity: "ghost:1"}.Encode())
	if _, err := tx.Exec("INSERT INTO users VALUES (9, 'ghost', 'g.png')"); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()

	st, err := e.cap.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Changes != 4 || st.Pending != 4 || st.Unattributed != 1 {
		t.Errorf("status before sequencing %+v", st)
	}
	recs := e.sequence(t)
	want := []string{`update main.users/{"id":1}`, `insert main.users/{"id":2}`, `insert main.users/{"id":3}`, `delete main.users/{"id":3}`}
	if got := ids(t, recs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("captured:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	up := recs[0]
	if up.Activity == nil || up.Activity.ID != "migration:0042" || up.Agent == nil || up.Agent.ID != "svc:test" {
		t.Errorf("update attributed to %+v / %+v", up.Activity, up.Agent)
	}
	if g := up.Gen[0]; strings.Join(g.Columns, ",") != "photo_url" || !strings.HasPrefix(g.Digest, "sha256:") {
		t.Errorf("update generated %+v", g)
	}
	if b := string(up.Attrs["before"]); b != `{"id":1,"name":"old","photo_url":"a.png"}` {
		t.Errorf("update before-image %s", b)
	}
	if string(up.Attrs["xid"]) == "" || string(recs[1].Attrs["xid"]) != string(recs[2].Attrs["xid"]) || string(recs[1].Attrs["xid"]) == string(up.Attrs["xid"]) {
		t.Errorf("xids %s %s %s: want one per attributed transaction", up.Attrs["xid"], recs[1].Attrs["xid"], recs[2].Attrs["xid"])
	}
	if recs[1].Activity == nil || recs[1].Activity.ID != "request:1" {
		t.Errorf("insert attributed to %+v", recs[1].Activity)
	}
	del := recs[3]
	if del.Activity != nil || del.Agent != nil || string(del.Attrs["unattributed"]) != "true" || del.Attrs["xid"] != nil {
		t.Errorf("unattributed delete: %+v %+v %s", del.Activity, del.Agent, del.Attrs["unattributed"])
	}
	st, err = e.cap.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Changes != 4 || st.Pending != 0 || st.Unattributed != 1 || st.Share != 0.25 || len(st.Tables) != 1 || st.Tables[0].Enabled == "" {
		t.Errorf("status %+v", st)
	}
	var left int
	e.app.QueryRow("SELECT (SELECT count(*) FROM prov_changes) + (SELECT count(*) FROM prov_context)").Scan(&left)
	if left != 0 {
		t.Errorf("%d rows left in prov_changes and prov_context", left)
	}
}

func TestSQLiteCaptureRefusesWhatItCannotDo(t *testing.T) {
	e := newLiteEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE history (at TEXT, delta INT)")
	e.exec(t, "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT)")
	e.exec(t, "CREATE VIEW v AS SELECT * FROM accounts")
	cases := []struct {
		tables []string
		pii    []string
		kind   prov.Kind
		want   string
	}{
		{[]string{"history"}, nil, prov.Invalid, "main.history has no primary key: capture identifies each row by its key"},
		{[]string{"history"}, nil, prov.Invalid, "create a new table with one"},
		{[]string{"acounts"}, nil, prov.NotFound, "table acounts does not exist (did you mean main.accounts?)"},
		{[]string{"main.acounts"}, nil, prov.NotFound, "did you mean main.accounts"},
		{[]string{"v"}, nil, prov.Invalid, "is not a table (it is a view)"},
		{[]string{"records"}, nil, prov.Invalid, "one of Prov's own tables"},
		{[]string{"prov_changes"}, nil, prov.Invalid, "one of Prov's own tables"},
		{[]string{"accounts"}, []string{"id"}, prov.Invalid, "part of the primary key"},
		{[]string{"accounts"}, []string{"emial"}, prov.NotFound, "did you mean email"},
	}
	for _, c := range cases {
		_, err := e.cap.Enable(ctx, c.tables, c.pii)
		if !prov.IsKind(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Enable(%v, %v) = %v (%s); want kind %s with %q", c.tables, c.pii, err, prov.KindOf(err), c.kind, c.want)
		}
	}
	triggers := func() int {
		var n int
		e.app.QueryRow("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").Scan(&n)
		return n
	}
	// All or nothing: a bad table among good ones installs nothing.
	if _, err := e.cap.Enable(ctx, []string{"accounts", "history"}, nil); err == nil {
		t.Fatal("enable with a table without a primary key succeeded")
	}
	if st, _ := e.cap.Status(ctx); len(st.Tables) != 0 || triggers() != 0 {
		t.Errorf("a refused enable left %+v and %d triggers", st.Tables, triggers())
	}
	if _, err := e.cap.Enable(ctx, []string{"ACCOUNTS"}, nil); err != nil {
		t.Fatal(err)
	}
	n := triggers()
	if _, err := e.cap.Enable(ctx, []string{"main.accounts"}, nil); !prov.IsKind(err, prov.Conflict) || !strings.Contains(err.Error(), "capture is already enabled on main.accounts") {
		t.Errorf("enabling twice: %v", err)
	}
	if triggers() != n {
		t.Errorf("enabling twice changed the triggers: %d, then %d", n, triggers())
	}
	if err := e.cap.Disable(ctx, "acounts"); !prov.IsKind(err, prov.NotFound) || !strings.Contains(err.Error(), "did you mean main.accounts") {
		t.Errorf("disabling an unknown table: %v", err)
	}
	if err := e.cap.Disable(ctx, "accounts"); err != nil {
		t.Fatal(err)
	}
	if err := e.cap.Disable(ctx, "accounts"); !prov.IsKind(err, prov.Conflict) || !strings.Contains(err.Error(), "capture is not enabled on main.accounts: nothing to disable") {
		t.Errorf("disabling twice: %v", err)
	}
	if err := e.cap.Disable(ctx, "history"); !prov.IsKind(err, prov.Conflict) {
		t.Errorf("disabling a table never captured: %v", err)
	}
	if triggers() != 0 {
		t.Errorf("%d triggers left after disable", triggers())
	}
	e.exec(t, "INSERT INTO accounts VALUES (1, 'x@example.com')")
	if recs := e.sequence(t); len(recs) != 0 {
		t.Errorf("a disabled table was captured: %+v", recs)
	}
	st, _ := e.cap.Status(ctx)
	if len(st.Tables) != 1 || st.Tables[0].Disabled == "" {
		t.Errorf("status after disable: %+v", st.Tables)
	}
	// Enabled again, the rows written meanwhile are its new baseline, not
	// writes that bypassed capture.
	e.exec(t, "UPDATE accounts SET email = 'y@example.com'")
	if _, err := e.cap.Enable(ctx, []string{"accounts"}, nil); err != nil {
		t.Fatal(err)
	}
	e.attributed(t, "job:1", "UPDATE accounts SET email = 'z@example.com'")
	if got := ids(t, e.sequence(t)); len(got) != 1 || got[0] != `update main.accounts/{"id":1}` {
		t.Errorf("after enabling again: %v", got)
	}
}

func TestSQLiteCaptureTablesOfEveryShape(t *testing.T) {
	for _, batch := range []int{1, 3, capture.DefaultBatch} { // small: batches end between a replaced row and its insert
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) { testSQLiteCaptureTablesOfEveryShape(t, batch) })
	}
}

func testSQLiteCaptureTablesOfEveryShape(t *testing.T, batch int) {
	e := newLiteEnv(t)
	ctx := context.Background()
	e.seq.Batch = batch
	var cols, vals []string
	for i := range 60 {
		cols, vals = append(cols, fmt.Sprintf("c%d INT", i)), append(vals, fmt.Sprint(i))
	}
	e.exec(t, "CREATE TABLE wide (id INTEGER PRIMARY KEY, "+strings.Join(cols, ", ")+")")
	e.exec(t, "CREATE TABLE lines (order_id INT, line INT, qty INT, PRIMARY KEY (order_id, line))")
	e.exec(t, "CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB, f REAL) WITHOUT ROWID")
	e.exec(t, "CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, name TEXT, touched INT DEFAULT 0)")
	// The application's own trigger, which changes the row again.
	e.exec(t, "CREATE TRIGGER touch AFTER UPDATE OF name ON people BEGIN UPDATE people SET touched = touched + 1 WHERE id = NEW.id; END")
	e.exec(t, "CREATE TABLE audit (n INTEGER PRIMARY KEY, what TEXT)")
	e.exec(t, "CREATE TRIGGER audit_people AFTER INSERT ON people BEGIN INSERT INTO audit (what) VALUES ('new person'); END")
	if _, err := e.cap.Enable(ctx, []string{"lines", "kv", "people", "wide"}, []string{"email"}); err != nil {
		t.Fatal(err)
	}
	e.attributed(t, "job:1", "INSERT INTO lines VALUES (7, 1, 2), (7, 2, 5)")
	e.attributed(t, "job:2", "INSERT INTO kv VALUES ('a', x'00ff', 0.1 + 0.2), ('b', NULL, 1e300)")
	e.attributed(t, "job:3", "INSERT OR REPLACE INTO kv VALUES ('a', x'01', 1.0)")                        // replaces a row: an update
	e.attributed(t, "job:4", "INSERT INTO kv VALUES ('b', x'02', 2) ON CONFLICT (k) DO UPDATE SET f = 3") // an upsert: an update
	e.attributed(t, "job:5", "INSERT OR IGNORE INTO kv VALUES ('b', x'03', 4)")                           // ignored: nothing
	e.attributed(t, "job:6", "INSERT INTO people (id, email, name) VALUES (1, 'ann@example.com', 'Ann')")
	e.attributed(t, "job:7", "UPDATE people SET name = 'Anne' WHERE id = 1")
	e.attributed(t, "job:8", "UPDATE lines SET line = 3 WHERE line = 2") // a key changes
	e.attributed(t, "job:9", "DELETE FROM lines")
	e.attributed(t, "job:10", "INSERT INTO wide VALUES (1, "+strings.Join(vals, ", ")+")")
	recs := e.sequence(t)
	for _, r := range recs {
		for _, img := range []string{"before", "after"} {
			if strings.Contains(string(r.Attrs[img]), "ann@example.com") {
				t.Errorf("a PII value reached the log: %s", r.Attrs[img])
			}
		}
	}
	want := []string{
		`insert main.lines/{"order_id":7,"line":1}`, `insert main.lines/{"order_id":7,"line":2}`,
		`insert main.kv/{"k":"a"}`, `insert main.kv/{"k":"b"}`,
		`update main.kv/{"k":"a"}`,
		`update main.kv/{"k":"b"}`,
		`insert main.people/{"id":1}`, `update main.people/{"id":1}`, `update main.people/{"id":1}`,
		`insert main.lines/{"order_id":7,"line":3}`,
		`delete main.lines/{"order_id":7,"line":1}`, `delete main.lines/{"order_id":7,"line":3}`,
		`insert main.wide/{"id":1}`,
	}
	if got := ids(t, recs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("captured:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := string(recs[2].Attrs["after"]); got != `{"k":"a","v":"\\x00ff","f":0.30000000000000004}` {
		t.Errorf("blob and real: %s", got)
	}
	if got := string(recs[4].Attrs["before"]) + " " + string(recs[4].Attrs["after"]); got != `{"k":"a","v":"\\x00ff","f":0.30000000000000004} {"k":"a","v":"\\x01","f":1.0}` {
		t.Errorf("INSERT OR REPLACE: %s", got)
	}
	if got := recs[9].Gen; len(got) != 2 || got[1].Op != "delete" || !strings.HasSuffix(got[1].ID, `{"order_id":7,"line":2}`) {
		t.Errorf("a key change generated %+v", got)
	}
	if got := string(recs[12].Attrs["after"]); !strings.HasPrefix(got, `{"id":1,"c0":0,"c1":1,`) || !strings.HasSuffix(got, `"c58":58,"c59":59}`) || len(recs[12].Gen[0].Columns) != 61 {
		t.Errorf("a wide table's image: %s", got)
	}
	// The application's trigger's change is captured after the update.
	if got := string(recs[8].Attrs["after"]); !strings.Contains(got, `"name":"Anne","touched":1`) || !strings.HasPrefix(string(recs[7].Attrs["after"]), `{"id":1,"email":"sha256:`) {
		t.Errorf("images of the update and the trigger's: %s, %s", recs[7].Attrs["after"], got)
	}
}

func TestSQLiteCaptureFollowsAddColumn(t *testing.T) {
	e := newLiteEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT)")
	e.exec(t, "INSERT INTO people VALUES (1, 'Ann'), (2, 'Bob')")
	if _, err := e.cap.Enable(ctx, []string{"people"}, nil); err != nil {
		t.Fatal(err)
	}
	e.exec(t, "ALTER TABLE people ADD COLUMN nick TEXT")
	// Until the next step, the triggers know the old columns.
	e.attributed(t, "job:1", "UPDATE people SET name = 'Anne' WHERE id = 1")
	recs := e.sequence(t)
	if len(recs) != 1 || string(recs[0].Attrs["after"]) != `{"id":1,"name":"Anne"}` {
		t.Fatalf("before the refresh: %+v", recs)
	}
	e.attributed(t, "job:2", "UPDATE people SET nick = 'an' WHERE id = 1", "UPDATE people SET name = 'Robert' WHERE id = 2", "INSERT INTO people VALUES (3, 'Cy', 'c')")
	recs = e.sequence(t)
	want := []string{`update main.people/{"id":1}`, `update main.people/{"id":2}`, `insert main.people/{"id":3}`}
	if got := ids(t, recs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("captured:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := string(recs[0].Attrs["after"]); got != `{"id":1,"name":"Anne","nick":"an"}` || strings.Join(recs[0].Gen[0].Columns, ",") != "nick" {
		t.Errorf("after ADD COLUMN: %s %v", got, recs[0].Gen[0].Columns)
	}
	// Renamed columns and tables are followed too.
	e.exec(t, "ALTER TABLE people RENAME COLUMN nick TO nickname")
	e.exec(t, "ALTER TABLE people RENAME TO persons")
	if _, err := e.seq.Step(ctx); err != nil {
		t.Fatal(err)
	}
	e.attributed(t, "job:3", "UPDATE persons SET nickname = 'bob' WHERE id = 2")
	recs = e.sequence(t)
	if got := ids(t, recs); len(got) != 1 || got[0] != `update main.people/{"id":2}` || string(recs[0].Attrs["after"]) != `{"id":2,"name":"Robert","nickname":"bob"}` {
		t.Errorf("after renames: %v %s", got, recs[0].Attrs["after"])
	}
	st, _ := e.cap.Status(ctx)
	if len(st.Tables) != 1 || st.Tables[0].Missing {
		t.Errorf("status after a rename: %+v", st.Tables)
	}
	if err := e.cap.Disable(ctx, "persons"); err != nil {
		t.Errorf("disable a renamed table: %v", err)
	}
}

func TestSQLiteCaptureFlagsWritesThatBypassedIt(t *testing.T) {
	e := newLiteEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
	e.exec(t, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	if _, err := e.cap.Enable(ctx, []string{"t"}, nil); err != nil {
		t.Fatal(err)
	}
	// Behind capture's back: its triggers dropped, a write, and the
	// triggers put back as they were.
	var name, ddl string
	if err := e.app.QueryRow("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 't' AND name LIKE 'prov\\_capture\\_%\\_u' ESCAPE '\\'").Scan(&name, &ddl); err != nil {
		t.Fatal(err)
	}
	e.exec(t, "DROP TRIGGER "+name)
	e.exec(t, "UPDATE t SET v = 'sneaky' WHERE id = 2")
	e.exec(t, ddl)
	// Or left dropped: the sequencer puts them back.
	e.exec(t, "DROP TRIGGER "+strings.Replace(name, "_u", "_d", 1))
	e.exec(t, "DELETE FROM t WHERE id = 3")
	if _, err := e.seq.Step(ctx); err != nil {
		t.Fatal(err)
	}
	e.attributed(t, "job:1", "UPDATE t SET v = v || '!'", "INSERT INTO t VALUES (3, 'again')")
	recs := e.sequence(t)
	bypass := map[string]bool{}
	for _, r := range recs {
		bypass[r.Gen[0].ID[strings.LastIndex(r.Gen[0].ID, "/")+1:]] = string(r.Attrs["bypass"]) == "true"
	}
	if len(recs) != 3 || bypass[`{"id":1}`] || !bypass[`{"id":2}`] || !bypass[`{"id":3}`] {
		t.Errorf("bypass flags %v: want id 2 (updated behind capture) and id 3 (deleted behind it)", bypass)
	}
	if st, _ := e.cap.Status(ctx); st.Tables[0].Bypassed != 2 {
		t.Errorf("status bypassed = %d, want 2", st.Tables[0].Bypassed)
	}
	// A trigger created after capture's fires first; the sequencer puts
	// capture's back in front.
	e.exec(t, "CREATE TRIGGER later AFTER UPDATE OF v ON t BEGIN UPDATE t SET v = upper(NEW.v) WHERE id = NEW.id; END")
	if _, err := e.seq.Step(ctx); err != nil {
		t.Fatal(err)
	}
	e.attributed(t, "job:2", "UPDATE t SET v = 'x' WHERE id = 1")
	if got := ids(t, e.sequence(t)); len(got) != 2 {
		t.Errorf("update and the trigger's update: %v", got)
	}
}

func TestSQLiteSequencerWithConcurrentWriters(t *testing.T) {
	e := newLiteEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE c (id INTEGER PRIMARY KEY, n INT)")
	if _, err := e.cap.Enable(ctx, []string{"c"}, nil); err != nil {
		t.Fatal(err)
	}
	e.app.SetMaxOpenConns(4)
	runCtx, stop := context.WithCancel(ctx)
	seqDone := make(chan error)
	go func() {
		_, err := e.seq.Run(runCtx, true, time.Millisecond)
		seqDone <- err
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				id := 1 + w*100 + i
				err := func() error {
					tx, err := e.app.Begin()
					if err != nil {
						return err
					}
					defer tx.Rollback()
					a := prov.Attribution{Activity: fmt.Sprintf("writer:%d", w)}
					for _, s := range []string{"INSERT INTO prov_context (ctx) VALUES ('" + a.Encode() + "')",
						fmt.Sprintf("INSERT INTO c VALUES (%d, 0)", id), fmt.Sprintf("UPDATE c SET n = n + 1 WHERE id = %d", id),
						"DELETE FROM prov_context"} {
						if _, err := tx.Exec(s); err != nil {
							return err
						}
					}
					return tx.Commit()
				}()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	stop()
	if err := <-seqDone; err != nil {
		t.Fatal(err)
	}
	recs := e.sequence(t)
	all, _ := e.log.Size(ctx)
	var n int
	err := e.log.Entries(ctx, 0, all, func(en prov.Entry) error {
		var r struct {
			Activity  prov.Activity    `json:"activity"`
			Generated []prov.EntityRef `json:"generated"`
		}
		json.Unmarshal(en.Data, &r)
		var id int
		fmt.Sscanf(r.Generated[0].ID[strings.LastIndex(r.Generated[0].ID, ":")+1:], "%d", &id)
		if want := fmt.Sprintf("writer:%d", (id-1)/100); r.Activity.ID != want {
			t.Errorf("change of row %d attributed to %q, want %q", id, r.Activity.ID, want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 200 {
		t.Errorf("%d change records in the log (%d in the last run), want 200", n, len(recs))
	}
	if st, _ := e.cap.Status(ctx); st.Changes != 200 || st.Pending != 0 || st.Tables[0].Bypassed != 0 {
		t.Errorf("status %+v", st)
	}
}

func TestSQLiteVerifyLiveListsWritesBehindCapture(t *testing.T) {
	e := newLiteEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, email TEXT)")
	e.exec(t, "INSERT INTO t VALUES (1, 'a', 'x@example.com'), (2, 'b', 'y@example.com'), (3, 'c', NULL)")
	if _, err := e.cap.Enable(ctx, []string{"t"}, []string{"email"}); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want map[string]string) {
		t.Helper()
		rep, err := e.cap.VerifyLive(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, d := range rep.Drift {
			got[d.Key] = d.What
		}
		if fmt.Sprint(got) != fmt.Sprint(want) || rep.Tables != 1 {
			t.Errorf("%s: drift %v in %d tables, want %v in 1", when, got, rep.Tables, want)
		}
	}
	check("right after enable", map[string]string{})
	e.attributed(t, "job:1", "UPDATE t SET v = 'a2', email = 'z@example.com' WHERE id = 1", "INSERT INTO t VALUES (4, 'd', NULL)", "DELETE FROM t WHERE id = 3")
	check("with changes not yet sequenced", map[string]string{})
	e.sequence(t)
	check("after sequencing", map[string]string{})

	var name string
	e.app.QueryRow("SELECT group_concat(name, ';') FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 't'").Scan(&name)
	for _, tr := range strings.Split(name, ";") {
		e.exec(t, "DROP TRIGGER "+tr)
	}
	e.exec(t, "UPDATE t SET v = 'sneaky' WHERE id = 2")
	e.exec(t, "INSERT INTO t VALUES (5, 'e', NULL)")
	e.exec(t, "DELETE FROM t WHERE id = 4")
	check("after writes behind capture's back", map[string]string{`{"id":2}`: "changed", `{"id":5}`: "inserted", `{"id":4}`: "deleted"})
	rep, _ := e.cap.VerifyLive(ctx, 1)
	if len(rep.Drift) != 1 || rep.More != 2 || rep.Rows != 3 {
		t.Errorf("limit 1: %d listed, %d more, %d rows; want 1, 2 and 3", len(rep.Drift), rep.More, rep.Rows)
	}
}
