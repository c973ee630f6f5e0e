package capture_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/storetest"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

func testDSN(t *testing.T) string {
	t.Helper()
	return storetest.PostgresDSN(t)
}

// env is an application schema with capture and a log in a Prov schema of
// its own, both dropped when the test ends.
type env struct {
	app   string // application schema
	pool  *pgxpool.Pool
	store *postgres.Store
	log   *tlog.Log
	cap   *capture.Postgres
	seq   *capture.Sequencer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dsn := testDSN(t)
	ctx := context.Background()
	b := make([]byte, 5)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	e := &env{app: "app_" + suffix}
	var err error
	if e.pool, err = pgxpool.New(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+e.app+" CASCADE; DROP SCHEMA IF EXISTS provcap_"+suffix+" CASCADE")
		e.pool.Close()
	})
	e.exec(t, "CREATE SCHEMA "+e.app)
	if e.store, err = postgres.Open(ctx, dsn, postgres.Options{Schema: "provcap_" + suffix}); err != nil {
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
	e.cap = capture.NewPostgres(e.store)
	e.seq = e.cap.Sequencer(e.log)
	return e
}

func (e *env) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := e.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// attributed runs sql in a transaction attributed to activity.
func (e *env) attributed(t *testing.T, activity, sql string) {
	t.Helper()
	ctx := context.Background()
	tx, err := e.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	a := prov.Attribution{Activity: activity, Agent: "svc:test"}
	if _, err := tx.Exec(ctx, "SELECT set_config('prov.context', $1, true)", a.Encode()); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

type logged struct {
	Type     string         `json:"type"`
	Activity *prov.Activity `json:"activity"`
	Agent    *prov.Agent    `json:"agent"`
	Gen      []prov.EntityRef
	Attrs    map[string]json.RawMessage
}

// sequence runs the sequencer to the end and returns the change records.
func (e *env) sequence(t *testing.T) []logged {
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

func TestCaptureAttributesEveryOperation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE "+e.app+".users (id int PRIMARY KEY, name text, photo_url text)")
	e.exec(t, "INSERT INTO "+e.app+".users VALUES (1, 'old', 'a.png')")
	if _, err := e.cap.Enable(ctx, []string{e.app + ".users"}, nil); err != nil {
		t.Fatal(err)
	}
	e.attributed(t, "migration:0042", "UPDATE "+e.app+".users SET photo_url = 'a.jpg' WHERE id = 1")
	e.attributed(t, "request:1", "INSERT INTO "+e.app+".users VALUES (2, 'bob', 'b.jpg'), (3, 'cy', 'c.png')")
	e.exec(t, "DELETE FROM "+e.app+".users WHERE id = 3") // unattributed
	// A rolled-back transaction leaves nothing.
	tx, _ := e.pool.Begin(ctx)
	tx.Exec(ctx, "INSERT INTO "+e.app+".users VALUES (9, 'ghost', 'g.png')")
	tx.Rollback(ctx)

	recs := e.sequence(t)
	if len(recs) != 4 {
		t.Fatalf("%d change records, want 4: %+v", len(recs), recs)
	}
	up := recs[0]
	if up.Activity == nil || up.Activity.ID != "migration:0042" || up.Agent.ID != "svc:test" {
		t.Errorf("update attributed to %+v / %+v", up.Activity, up.Agent)
	}
	if g := up.Gen[0]; g.Op != "update" || !strings.HasSuffix(g.ID, "/"+e.app+".users/{\"id\":1}") || strings.Join(g.Columns, ",") != "photo_url" || !strings.HasPrefix(g.Digest, "sha256:") {
		t.Errorf("update generated %+v", g)
	}
	if string(up.Attrs["before"]) == "" || !strings.Contains(string(up.Attrs["before"]), "a.png") {
		t.Errorf("update before-image %s", up.Attrs["before"])
	}
	if recs[1].Gen[0].Op != "insert" || recs[2].Gen[0].Op != "insert" {
		t.Errorf("inserts: %+v %+v", recs[1].Gen, recs[2].Gen)
	}
	del := recs[3]
	if del.Activity != nil || string(del.Attrs["unattributed"]) != "true" || !strings.HasPrefix(del.Agent.ID, "pg-role:") || del.Gen[0].Op != "delete" {
		t.Errorf("unattributed delete: %+v %+v %s", del.Activity, del.Agent, del.Attrs["unattributed"])
	}
	for _, r := range recs {
		if string(r.Attrs["bypass"]) == "true" {
			t.Errorf("a change flagged as bypass: %+v", r)
		}
	}
	st, err := e.cap.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Changes != 4 || st.Pending != 0 || st.Unattributed != 1 || st.Share != 0.25 {
		t.Errorf("status %+v", st)
	}
}

func TestCaptureRefusesWhatItCannotDo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE "+e.app+".history (at timestamptz, delta int)")
	e.exec(t, "CREATE TABLE "+e.app+".accounts (id int PRIMARY KEY, email text)")
	cases := []struct {
		tables []string
		pii    []string
		kind   prov.Kind
		want   string
	}{
		{[]string{e.app + ".history"}, nil, prov.Invalid, "has no primary key"},
		{[]string{e.app + ".acounts"}, nil, prov.NotFound, "did you mean " + e.app + ".accounts"},
		{[]string{e.app + ".accounts"}, []string{"id"}, prov.Invalid, "part of the primary key"},
		{[]string{e.app + ".accounts"}, []string{"emial"}, prov.NotFound, "did you mean email"},
	}
	for _, c := range cases {
		_, err := e.cap.Enable(ctx, c.tables, c.pii)
		if !prov.IsKind(err, c.kind) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Enable(%v, %v) = %v (%s); want kind %s with %q", c.tables, c.pii, err, prov.KindOf(err), c.kind, c.want)
		}
	}
	// All or nothing: a bad table among good ones installs nothing.
	if _, err := e.cap.Enable(ctx, []string{e.app + ".accounts", e.app + ".history"}, nil); err == nil {
		t.Fatal("enable with a table without a primary key succeeded")
	}
	if st, _ := e.cap.Status(ctx); len(st.Tables) != 0 {
		t.Errorf("a refused enable left %+v", st.Tables)
	}
	if _, err := e.cap.Enable(ctx, []string{e.app + ".accounts"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cap.Enable(ctx, []string{e.app + ".accounts"}, nil); !prov.IsKind(err, prov.Conflict) {
		t.Errorf("enabling twice: %v", err)
	}
	if err := e.cap.Disable(ctx, e.app+".accounts"); err != nil {
		t.Fatal(err)
	}
	if err := e.cap.Disable(ctx, e.app+".accounts"); !prov.IsKind(err, prov.Conflict) {
		t.Errorf("disabling twice: %v", err)
	}
	e.exec(t, "INSERT INTO "+e.app+".accounts VALUES (1, 'x@example.com')")
	if recs := e.sequence(t); len(recs) != 0 {
		t.Errorf("a disabled table was captured: %+v", recs)
	}
}

func TestCaptureTablesOfEveryShape(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.app
	e.exec(t, "CREATE TABLE "+a+".lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line))")
	e.exec(t, "CREATE TABLE "+a+".events (id int, at date, what text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)")
	e.exec(t, "CREATE TABLE "+a+".events_2025 PARTITION OF "+a+".events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')")
	e.exec(t, "CREATE TABLE "+a+".events_2026 PARTITION OF "+a+".events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')")
	e.exec(t, "CREATE TABLE "+a+".people (id int PRIMARY KEY, email text, name text, touched int DEFAULT 0)")
	e.exec(t, "CREATE FUNCTION "+a+".touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := NEW.touched + 1; RETURN NEW; END $$")
	e.exec(t, "CREATE TRIGGER touch BEFORE UPDATE ON "+a+".people FOR EACH ROW EXECUTE FUNCTION "+a+".touch()")
	if _, err := e.cap.Enable(ctx, []string{a + ".lines", a + ".events", a + ".people"}, []string{"email"}); err != nil {
		t.Fatal(err)
	}
	e.attributed(t, "job:1", "INSERT INTO "+a+".lines VALUES (7, 1, 2), (7, 2, 5)")
	e.attributed(t, "job:1", "INSERT INTO "+a+".events VALUES (1, '2025-06-01', 'a'), (2, '2026-06-01', 'b')")
	e.attributed(t, "job:2", "UPDATE "+a+".events_2026 SET what = 'direct' WHERE id = 2") // straight into a partition
	e.attributed(t, "job:1", "INSERT INTO "+a+".people (id, email, name) VALUES (1, 'ann@example.com', 'Ann')")
	e.attributed(t, "job:3", "UPDATE "+a+".people SET name = 'Anne' WHERE id = 1")
	e.exec(t, "ALTER TABLE "+a+".people ADD COLUMN nick text")
	e.attributed(t, "job:4", "UPDATE "+a+".people SET nick = 'an' WHERE id = 1")
	e.attributed(t, "job:5", "TRUNCATE "+a+".lines")
	recs := e.sequence(t)
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.Gen[0].Op+" "+r.Gen[0].ID[strings.Index(r.Gen[0].ID, "/")+1:])
		if string(r.Attrs["bypass"]) == "true" {
			t.Errorf("flagged as bypass: %s", ids[len(ids)-1])
		}
		for _, img := range []string{"before", "after"} {
			if strings.Contains(string(r.Attrs[img]), "ann@example.com") {
				t.Errorf("a PII value reached the log: %s", r.Attrs[img])
			}
		}
	}
	want := []string{
		`insert ` + a + `.lines/{"order_id":7,"line":1}`, `insert ` + a + `.lines/{"order_id":7,"line":2}`,
		`insert ` + a + `.events/{"id":1,"at":"2025-06-01"}`, `insert ` + a + `.events/{"id":2,"at":"2026-06-01"}`,
		`update ` + a + `.events/{"id":2,"at":"2026-06-01"}`,
		`insert ` + a + `.people/{"id":1}`, `update ` + a + `.people/{"id":1}`, `update ` + a + `.people/{"id":1}`,
		`truncate ` + a + `.lines/{"order_id":7,"line":1}`, `truncate ` + a + `.lines/{"order_id":7,"line":2}`,
	}
	if strings.Join(ids, "\n") != strings.Join(want, "\n") {
		t.Errorf("captured:\n%s\nwant:\n%s", strings.Join(ids, "\n"), strings.Join(want, "\n"))
	}
	// The BEFORE trigger's change is in the captured image.
	if len(recs) > 6 && !strings.Contains(string(recs[6].Attrs["after"]), `"touched":1`) {
		t.Errorf("image misses the BEFORE trigger's change: %s", recs[6].Attrs["after"])
	}
}

func TestCaptureFlagsWritesThatBypassedIt(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE "+e.app+".t (id int PRIMARY KEY, v text)")
	e.exec(t, "INSERT INTO "+e.app+".t VALUES (1, 'a'), (2, 'b')")
	if _, err := e.cap.Enable(ctx, []string{e.app + ".t"}, nil); err != nil {
		t.Fatal(err)
	}
	// Behind capture's back: replica mode does not fire triggers.
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn.Exec(ctx, "SET session_replication_role = replica")
	if _, err := conn.Exec(ctx, "UPDATE "+e.app+".t SET v = 'sneaky' WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	conn.Exec(ctx, "RESET session_replication_role")
	conn.Release()
	e.attributed(t, "job:1", "UPDATE "+e.app+".t SET v = v || '!'")
	recs := e.sequence(t)
	bypass := map[string]bool{}
	for _, r := range recs {
		bypass[r.Gen[0].ID[strings.LastIndex(r.Gen[0].ID, "/")+1:]] = string(r.Attrs["bypass"]) == "true"
	}
	if bypass[`{"id":1}`] || !bypass[`{"id":2}`] {
		t.Errorf("bypass flags %v: want only id 2", bypass)
	}
	if st, _ := e.cap.Status(ctx); st.Tables[0].Bypassed != 1 {
		t.Errorf("status bypassed = %d, want 1", st.Tables[0].Bypassed)
	}
}

func TestSequencerTakesLateCommitsAndConcurrentWriters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.exec(t, "CREATE TABLE "+e.app+".c (id int PRIMARY KEY, n int)")
	if _, err := e.cap.Enable(ctx, []string{e.app + ".c"}, nil); err != nil {
		t.Fatal(err)
	}
	// A transaction that takes an id early and commits late.
	late, _ := e.pool.Begin(ctx)
	t.Cleanup(func() { late.Rollback(context.Background()) })
	late.Exec(ctx, "INSERT INTO "+e.app+".c VALUES (0, 0)")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				id := 1 + w*100 + i
				e.pool.Exec(ctx, "INSERT INTO "+e.app+".c VALUES ($1, 0)", id)
				e.pool.Exec(ctx, "UPDATE "+e.app+".c SET n = n + 1 WHERE id = $1", id)
			}
		})
	}
	wg.Wait()
	first := e.sequence(t)
	if err := late.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	second := e.sequence(t)
	if len(first) != 200 || len(second) != 1 {
		t.Fatalf("sequenced %d then %d changes, want 200 then the late one", len(first), len(second))
	}
	if !strings.HasSuffix(second[0].Gen[0].ID, `{"id":0}`) {
		t.Errorf("late change: %+v", second[0].Gen)
	}
	var n int
	e.pool.QueryRow(ctx, "SELECT count(*) FROM "+e.store.Schema()+".changes").Scan(&n)
	if n != 0 {
		t.Errorf("%d changes left in the queue", n)
	}
}

// The capture functions run under the search_path of whoever changes the
// table, without a SET clause of their own (it costs a setting save and
// restore per statement): a search_path that puts look-alike functions before
// pg_catalog must not change what they write. And functions installed by an
// older Prov (with SET search_path) are re-created by the first sequencer
// step, keeping the table captured all along.
func TestCaptureFunctionsIgnoreTheCallersSearchPathAndAreUpgraded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.app
	e.exec(t, "CREATE TABLE "+a+".t (code text, n int, v text, PRIMARY KEY (code, n))")
	if _, err := e.cap.Enable(ctx, []string{a + ".t"}, nil); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := e.pool.QueryRow(ctx, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'provcap\\_%' AND nspname = 'provcap_' || substr($1, 5)", a).Scan(&schema); err != nil {
		t.Fatal(err)
	}
	fns := "pronamespace = '" + schema + "'::regnamespace AND proname LIKE 'capture\\_%'"
	var n, withSet int
	if err := e.pool.QueryRow(ctx, "SELECT count(*), count(proconfig) FROM pg_proc WHERE "+fns).Scan(&n, &withSet); err != nil {
		t.Fatal(err)
	}
	if n != 4 || withSet != 0 {
		t.Fatalf("%d capture functions, %d with a SET clause; want 4, 0", n, withSet)
	}

	// Look-alikes of what the functions call, first on the search path.
	e.exec(t, "CREATE FUNCTION "+a+".to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{\"forged\": true}'::jsonb $$")
	e.exec(t, "CREATE FUNCTION "+a+".current_setting(text, boolean) RETURNS text LANGUAGE sql AS $$ SELECT 'forged' $$")
	e.exec(t, "CREATE FUNCTION "+a+".texteq_forged(text, text) RETURNS boolean LANGUAGE sql AS $$ SELECT false $$")
	e.exec(t, "CREATE OPERATOR "+a+".= (LEFTARG = text, RIGHTARG = text, FUNCTION = "+a+".texteq_forged)")
	hijacked := func(activity, sql string) {
		t.Helper()
		tx, err := e.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true), set_config('prov.context', $2, true)",
			a+", pg_catalog", prov.Attribution{Activity: activity, Agent: "svc:test"}.Encode()); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hijacked("job:1", "INSERT INTO "+a+".t VALUES ('a', 1, 'x'), ('b', 1, 'y')")
	hijacked("job:2", "UPDATE "+a+".t SET v = 'z' WHERE code OPERATOR(pg_catalog.=) 'a'")
	hijacked("job:3", "UPDATE "+a+".t SET code = 'c' WHERE code OPERATOR(pg_catalog.=) 'b'") // a key change: the old key ends, the new one begins

	// An older Prov's function: SET search_path, unqualified names.
	var oid uint32
	if err := e.pool.QueryRow(ctx, "SELECT $1::regclass::oid", a+".t").Scan(&oid); err != nil {
		t.Fatal(err)
	}
	old := fmt.Sprintf(`CREATE OR REPLACE FUNCTION %[1]s.capture_%[2]d_u() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $prov$
BEGIN
	INSERT INTO %[1]s.changes (relid, op, new, old, ctx) SELECT %[2]d, 'U', to_jsonb(prov_n.*), to_jsonb(prov_o.*), current_setting('prov.context', true) FROM prov_new AS prov_n FULL JOIN prov_old AS prov_o ON prov_n.code = prov_o.code AND prov_n.n = prov_o.n;
	RETURN NULL;
END
$prov$`, schema, oid)
	e.exec(t, old)
	e.attributed(t, "job:4", "UPDATE "+a+".t SET v = 'w' WHERE code = 'a'") // by the old function

	recs := e.sequence(t)
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%s %s %s before=%s after=%s", r.Activity.ID, r.Gen[0].Op, r.Gen[0].ID[strings.LastIndex(r.Gen[0].ID, "/")+1:], r.Attrs["before"], r.Attrs["after"]))
		if string(r.Attrs["bypass"]) == "true" {
			t.Errorf("flagged as bypass: %s", got[len(got)-1])
		}
	}
	want := []string{
		`job:1 insert {"code":"a","n":1} before= after={"n":1,"v":"x","code":"a"}`,
		`job:1 insert {"code":"b","n":1} before= after={"n":1,"v":"y","code":"b"}`,
		`job:2 update {"code":"a","n":1} before={"n":1,"v":"x","code":"a"} after={"n":1,"v":"z","code":"a"}`,
		`job:3 delete {"code":"b","n":1} before={"n":1,"v":"y","code":"b"} after=`,
		`job:3 insert {"code":"c","n":1} before= after={"n":1,"v":"y","code":"c"}`,
		`job:4 update {"code":"a","n":1} before={"n":1,"v":"z","code":"a"} after={"n":1,"v":"w","code":"a"}`,
	}
	sort.Strings(got) // the two halves of a key change come in either order
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("captured:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := e.pool.QueryRow(ctx, "SELECT count(*), count(proconfig) FROM pg_proc WHERE "+fns+" AND prosrc LIKE '%capture functions v%'").Scan(&n, &withSet); err != nil {
		t.Fatal(err)
	}
	if n != 4 || withSet != 0 {
		t.Errorf("after a sequencer step: %d current capture functions, %d with a SET clause; want 4, 0", n, withSet)
	}
	e.attributed(t, "job:5", "UPDATE "+a+".t SET v = 'q' WHERE code = 'a'") // by the re-created function
	if recs := e.sequence(t); len(recs) != 1 || !strings.Contains(string(recs[0].Attrs["after"]), `"q"`) {
		t.Errorf("after the upgrade: %+v", recs)
	}
}
