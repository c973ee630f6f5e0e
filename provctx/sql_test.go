package provctx_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/provctx"
	_ "modernc.org/sqlite"
)

// openDB opens a database/sql pool of at most one connection through
// provctx.OpenDB, counting network writes in writes if it is not nil.
func openDB(t *testing.T, dsn string, writes *atomic.Int64) *sql.DB {
	t.Helper()
	if writes == nil {
		writes = new(atomic.Int64)
	}
	// Never ping before reuse: a ping would be a write of its own.
	noPing := stdlib.OptionShouldPing(func(context.Context, stdlib.ShouldPingParams) bool { return false })
	db := provctx.OpenDB(*countingConfig(t, dsn, writes), noPing)
	db.SetMaxOpenConns(1) // every transaction reuses one pooled connection
	t.Cleanup(func() { db.Close() })
	return db
}

// rawConn runs f on the pgx connection under one of db's connections.
func rawConn(t *testing.T, db *sql.DB, f func(*pgx.Conn)) {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(interface{ Conn() *pgx.Conn })
		if !ok {
			t.Fatalf("driver connection %T has no Conn() *pgx.Conn", dc)
		}
		f(c.Conn())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sqlSetting returns prov.context as q sees it.
func sqlSetting(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) string {
	t.Helper()
	var s string
	if err := q.QueryRowContext(context.Background(), "SELECT coalesce(current_setting('prov.context', true), '')").Scan(&s); err != nil {
		t.Fatalf("read prov.context: %v", err)
	}
	return s
}

// pgxQuerier adapts a *sql.DB to querier, for audited.
type pgxQuerier struct{ db *sql.DB }

func (q pgxQuerier) QueryRow(ctx context.Context, query string, args ...any) pgx.Row {
	return sqlRow{q.db.QueryRowContext(ctx, query, args...)}
}

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return pgx.ErrNoRows
	}
	return err
}

func TestOpenDB(t *testing.T) {
	s := newScratch(t)
	db := openDB(t, s.dsn, nil)
	bg := context.Background()
	attributed := provctx.With(bg, attr)
	want := attr.Encode()

	var pid uint32
	rawConn(t, db, func(c *pgx.Conn) { pid = c.PgConn().PID() })
	// idle checks that the pooled connection is back, outside any
	// transaction, and (unless replaced) the same one.
	idle := func(t *testing.T, replaced bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for db.Stats().InUse != 0 { // database/sql rolls back asynchronously when a context ends
			if time.Now().After(deadline) {
				t.Fatalf("%d connections still in use after the transaction, want 0", db.Stats().InUse)
			}
			time.Sleep(time.Millisecond)
		}
		rawConn(t, db, func(c *pgx.Conn) {
			if got := txStatus(c); got != 'I' {
				t.Fatalf("pooled connection status %q, want 'I' (idle, no transaction)", got)
			}
			if got := c.PgConn().PID(); !replaced && got != pid {
				t.Fatalf("pool replaced its connection (backend %d, was %d)", got, pid)
			}
			pid = c.PgConn().PID()
		})
	}
	insert := func(t *testing.T, tx *sql.Tx, id int) {
		t.Helper()
		if _, err := tx.ExecContext(bg, "INSERT INTO "+s.items+" (id) VALUES ($1)", id); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("commit carries the attribution", func(t *testing.T) {
		tx, err := db.BeginTx(attributed, nil)
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		if got := sqlSetting(t, tx); got != want {
			t.Errorf("prov.context in the transaction = %q, want %q", got, want)
		}
		insert(t, tx, 1)
		if err := tx.Commit(); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if err := tx.Rollback(); !errors.Is(err, sql.ErrTxDone) {
			t.Errorf("Rollback after Commit = %v, want sql.ErrTxDone", err)
		}
		idle(t, false)
		if got, ok := audited(t, s, pgxQuerier{db}, 1); !ok || got != want {
			t.Errorf("captured ctx = %q (found %v), want %q", got, ok, want)
		}
		plain, err := db.BeginTx(bg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := sqlSetting(t, plain); got != "" {
			t.Errorf("prov.context in the next plain transaction = %q, want \"\"", got)
		}
		plain.Rollback()
		if got := sqlSetting(t, db); got != "" {
			t.Errorf("prov.context outside transactions = %q, want \"\"", got)
		}
		idle(t, false)
	})

	t.Run("rollback leaves nothing", func(t *testing.T) {
		tx, err := db.BeginTx(attributed, nil)
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		insert(t, tx, 2)
		if err := tx.Rollback(); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		idle(t, false)
		if got, ok := audited(t, s, pgxQuerier{db}, 2); ok {
			t.Errorf("rolled back change captured with ctx %q", got)
		}
	})

	t.Run("no attribution is a plain transaction", func(t *testing.T) {
		tx, err := db.BeginTx(bg, nil)
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		if got := sqlSetting(t, tx); got != "" {
			t.Errorf("prov.context = %q, want \"\"", got)
		}
		insert(t, tx, 3)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		idle(t, false)
		if got, ok := audited(t, s, pgxQuerier{db}, 3); !ok || got != "" {
			t.Errorf("captured ctx = %q (found %v), want unattributed", got, ok)
		}
	})

	t.Run("failed statement", func(t *testing.T) {
		tx, err := db.BeginTx(attributed, nil)
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		insert(t, tx, 4)
		if _, err := tx.ExecContext(bg, "SELECT 1/0"); err == nil {
			t.Fatal("SELECT 1/0 succeeded")
		}
		if err := tx.Commit(); !errors.Is(err, pgx.ErrTxCommitRollback) {
			t.Errorf("Commit after a failed statement = %v, want pgx.ErrTxCommitRollback", err)
		}
		idle(t, false)
		if _, ok := audited(t, s, pgxQuerier{db}, 4); ok {
			t.Error("change of a failed transaction captured")
		}
	})

	t.Run("open rows at commit", func(t *testing.T) {
		tx, err := db.BeginTx(attributed, nil)
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		insert(t, tx, 5)
		rows, err := tx.QueryContext(bg, "SELECT generate_series(1, 1000)")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		rows.Next() // leave the rest unread
		if err := tx.Commit(); err != nil {
			t.Fatalf("Commit with open rows: %v", err)
		}
		idle(t, false)
		if got, ok := audited(t, s, pgxQuerier{db}, 5); !ok || got != want {
			t.Errorf("captured ctx = %q (found %v), want %q", got, ok, want)
		}
	})

	t.Run("context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(attributed)
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		insert(t, tx, 6)
		cancel()
		if err := tx.Commit(); err == nil {
			t.Fatal("Commit after the context ended succeeded")
		}
		idle(t, true) // rolling back with an ended context closes the connection
		if _, ok := audited(t, s, pgxQuerier{db}, 6); ok {
			t.Error("change of a cancelled transaction captured")
		}
	})

	t.Run("options", func(t *testing.T) {
		for _, tc := range []struct {
			opts    sql.TxOptions
			iso, ro string
		}{
			{sql.TxOptions{}, "read committed", "off"},
			{sql.TxOptions{Isolation: sql.LevelSerializable, ReadOnly: true}, "serializable", "on"},
			{sql.TxOptions{Isolation: sql.LevelSnapshot}, "repeatable read", "off"},
			{sql.TxOptions{Isolation: sql.LevelReadUncommitted}, "read uncommitted", "off"},
		} {
			tx, err := db.BeginTx(attributed, &tc.opts)
			if err != nil {
				t.Fatalf("BeginTx(%+v): %v", tc.opts, err)
			}
			var iso, ro string
			if err := tx.QueryRowContext(bg, "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')").Scan(&iso, &ro); err != nil {
				t.Fatal(err)
			}
			if iso != tc.iso || ro != tc.ro {
				t.Errorf("%+v: isolation, read only = %q, %q; want %q, %q", tc.opts, iso, ro, tc.iso, tc.ro)
			}
			if got := sqlSetting(t, tx); got != want {
				t.Errorf("%+v: prov.context = %q, want %q", tc.opts, got, want)
			}
			tx.Rollback()
		}
		_, err := db.BeginTx(attributed, &sql.TxOptions{Isolation: sql.LevelLinearizable})
		if !prov.IsKind(err, prov.Invalid) {
			t.Errorf("BeginTx(linearizable) = %v, want an error of kind invalid", err)
		}
		_, err = db.BeginTx(provctx.WithAgent(bg, "alice"), nil)
		if !prov.IsKind(err, prov.Invalid) {
			t.Errorf("BeginTx(agent without activity) = %v, want an error of kind invalid", err)
		}
		idle(t, false)
	})
}

// TestOpenDBRoundTrips shows that database/sql transactions on a *sql.DB
// from OpenDB make as many network writes attributed as not.
func TestOpenDBRoundTrips(t *testing.T) {
	s := newScratch(t)
	var writes atomic.Int64
	db := openDB(t, s.dsn, &writes)
	id := 0
	measure := func(ctx context.Context) int64 {
		t.Helper()
		var n int64
		for range 2 { // the first run prepares the INSERT; count the second
			id++
			before := writes.Load()
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO "+s.items+" (id) VALUES ($1)", id); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			n = writes.Load() - before
		}
		return n
	}
	plain := measure(context.Background())
	sdk := measure(provctx.With(context.Background(), attr))
	t.Logf("network writes per BEGIN+INSERT+COMMIT through database/sql: plain %d, attributed %d", plain, sdk)
	if plain != 3 || sdk != plain {
		t.Errorf("writes: plain %d, attributed %d; want 3 and 3", plain, sdk)
	}
}

// TestNewConnectorNotPgx checks that a connector of another driver fails
// with an error that says what to do.
func TestNewConnectorNotPgx(t *testing.T) {
	lite, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	db := sql.OpenDB(provctx.NewConnector(dsnConnector{lite.Driver(), filepath.Join(t.TempDir(), "y.db")}))
	defer db.Close()
	err = db.PingContext(t.Context())
	if !prov.IsKind(err, prov.Invalid) {
		t.Fatalf("Ping = %v, want an error of kind invalid", err)
	}
	t.Log(err)
}

// dsnConnector is a driver and a name as a connector.
type dsnConnector struct {
	d   driver.Driver
	dsn string
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.d.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.d }
