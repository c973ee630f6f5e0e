package investigate_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/investigate"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/provctx"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/storetest"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

// env is one database with a captured application table, a log, and the
// application's own connections.
type env struct {
	name  string
	table string // as users type it
	store prov.Store
	log   *tlog.Log
	cap   capture.Capturer
	seq   *capture.Sequencer
	inv   *investigate.Investigator
	// exec runs statements in one transaction attributed to a (none if
	// a.Activity is "").
	exec func(t testing.TB, a prov.Attribution, stmts ...string)
	// query returns the rows of a query of the application's tables.
	query func(t testing.TB, q string) [][]string
}

// backends runs fn on SQLite and, if PROV_TEST_POSTGRES is set, PostgreSQL.
func backends(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, newSQLiteEnv(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, newPostgresEnv(t)) })
}

func openLog(t testing.TB, s prov.Store) *tlog.Log {
	ctx := context.Background()
	skey, vkey, err := tlog.GenerateKey("test.example/investigate")
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.Init(ctx, s, "test.example/investigate", vkey); err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	l, err := tlog.Open(ctx, s, tlog.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newSQLiteEnv(t testing.TB) *env {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "app.db")
	st, err := sqlite.Open(ctx, path, sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	app, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	c := capture.NewSQLite(st)
	e := &env{name: "sqlite", table: "items", store: st, log: openLog(t, st), cap: c}
	e.exec = func(t testing.TB, a prov.Attribution, stmts ...string) {
		t.Helper()
		ctx := context.Background()
		if a.Activity != "" {
			ctx = provctx.With(ctx, a)
		}
		tx, err := provctx.BeginSQLiteTx(ctx, app, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		for _, s := range stmts {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	e.query = func(t testing.TB, q string) [][]string { return sqlRows(t, app, q) }
	e.finish(t)
	return e
}

func sqlRows(t testing.TB, db *sql.DB, q string) [][]string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
			if !v.Valid {
				row[i] = "NULL"
			}
		}
		out = append(out, row)
	}
	return out
}

func newPostgresEnv(t testing.TB) *env {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	b := make([]byte, 5)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	appSchema, provSchema := "inv_app_"+suffix, "inv_prov_"+suffix
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+appSchema+" CASCADE; DROP SCHEMA IF EXISTS "+provSchema+" CASCADE")
		pool.Close()
	})
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+appSchema+"; SET search_path TO "+appSchema); err != nil {
		t.Fatal(err)
	}
	st, err := postgres.Open(ctx, dsn, postgres.Options{Schema: provSchema})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := capture.NewPostgres(st)
	e := &env{name: "postgres", table: appSchema + ".items", store: st, log: openLog(t, st), cap: c}
	e.exec = func(t testing.TB, a prov.Attribution, stmts ...string) {
		t.Helper()
		ctx := context.Background()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+appSchema); err != nil {
			t.Fatal(err)
		}
		if a.Activity != "" {
			if _, err := tx.Exec(ctx, "SELECT set_config('prov.context', $1, true)", a.Encode()); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	e.query = func(t testing.TB, q string) [][]string {
		t.Helper()
		conn, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Release()
		rows, err := conn.Query(ctx, "SET search_path TO "+appSchema)
		if err == nil {
			rows.Close()
		}
		db := conn.Conn()
		r, err := db.Query(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer r.Close()
		var out [][]string
		for r.Next() {
			vals, err := r.Values()
			if err != nil {
				t.Fatal(err)
			}
			row := make([]string, len(vals))
			for i, v := range vals {
				if v == nil {
					row[i] = "NULL"
				} else {
					b, _ := json.Marshal(v)
					row[i] = string(b)
					if s, ok := v.(string); ok {
						row[i] = s
					}
				}
			}
			out = append(out, row)
		}
		return out
	}
	e.finish(t)
	return e
}

func (e *env) finish(t testing.TB) {
	var err error
	if e.inv, err = investigate.New(e.cap); err != nil {
		t.Fatal(err)
	}
	e.seq = e.cap.Sequencer(e.log)
}

// sequence moves every captured change into the log.
func (e *env) sequence(t testing.TB) {
	t.Helper()
	if _, err := e.seq.Run(context.Background(), false, 0); err != nil {
		t.Fatalf("sequence: %v", err)
	}
}

// enable captures the table items.
func (e *env) enable(t testing.TB, pii ...string) {
	t.Helper()
	if _, err := e.cap.Enable(context.Background(), []string{e.table}, pii); err != nil {
		t.Fatal(err)
	}
}

// record appends activity records.
func (e *env) record(t testing.TB, recs ...prov.Record) {
	t.Helper()
	var lines [][]byte
	for _, r := range recs {
		if r.Time.IsZero() {
			r.Time = time.Now().UTC()
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, b)
	}
	if _, err := e.log.Append(context.Background(), lines); err != nil {
		t.Fatal(err)
	}
}

func tlogVerify() tlog.VerifyOptions { return tlog.VerifyOptions{} }
