package provctx_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/provctx"
)

var attr = prov.Attribution{Activity: "release:v1.4.2", Agent: "ci:github-actions"}

// TestBeginTx runs the same transactions on every kind of pgx Beginner.
func TestBeginTx(t *testing.T) {
	s := newScratch(t)
	ctx := t.Context()

	t.Run("Conn", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, s.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		testBeginner(t, s, 100, conn, func(t *testing.T) {
			t.Helper()
			if got := txStatus(conn); got != 'I' {
				t.Fatalf("connection status %q after the transaction, want 'I' (idle, no transaction)", got)
			}
		})
	})

	t.Run("Pool", func(t *testing.T) {
		cfg, err := pgxpool.ParseConfig(s.dsn)
		if err != nil {
			t.Fatal(err)
		}
		cfg.MaxConns = 1 // every transaction reuses one pooled connection
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		var pid uint32
		testBeginner(t, s, 200, pool, func(t *testing.T) {
			t.Helper()
			if n := pool.Stat().AcquiredConns(); n != 0 {
				t.Fatalf("%d connections still acquired after the transaction, want 0", n)
			}
			c, err := pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Release()
			if got := txStatus(c.Conn()); got != 'I' {
				t.Fatalf("pooled connection status %q, want 'I' (idle, no transaction)", got)
			}
			if pid == 0 {
				pid = c.Conn().PgConn().PID()
			} else if got := c.Conn().PgConn().PID(); got != pid {
				t.Fatalf("pool replaced its connection (backend %d, was %d): the transaction broke it", got, pid)
			}
		})
	})

	t.Run("PoolConn", func(t *testing.T) {
		pool, err := pgxpool.New(ctx, s.dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		c, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Release()
		testBeginner(t, s, 300, c, func(t *testing.T) {
			t.Helper()
			if got := txStatus(c.Conn()); got != 'I' {
				t.Fatalf("connection status %q after the transaction, want 'I' (idle, no transaction)", got)
			}
		})
	})
}

// testBeginner checks transactions begun on db with items from base up;
// idle checks that db's connection is back, reusable and outside any
// transaction.
func testBeginner(t *testing.T, s scratch, base int, db provctx.Beginner, idle func(*testing.T)) {
	bg := context.Background()
	attributed := provctx.With(bg, attr)
	want := attr.Encode()

	t.Run("commit carries the attribution", func(t *testing.T) {
		tx, err := provctx.BeginTx(attributed, db, pgx.TxOptions{})
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		if got := setting(t, tx); got != want {
			t.Errorf("prov.context in the transaction = %q, want %q", got, want)
		}
		if _, err := tx.Exec(bg, "INSERT INTO "+s.items+" (id) VALUES ($1)", base+1); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(bg); err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if err := tx.Rollback(bg); !errors.Is(err, pgx.ErrTxClosed) {
			t.Errorf("Rollback after Commit = %v, want pgx.ErrTxClosed", err)
		}
		idle(t)
		if got, ok := audited(t, s, txOrConn(t, db), base+1); !ok || got != want {
			t.Errorf("captured ctx = %q (found %v), want %q", got, ok, want)
		}

		// The setting was transaction-local: the next plain transaction on
		// the same connection does not see it.
		plain, err := db.BeginTx(bg, pgx.TxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := setting(t, plain); got != "" {
			t.Errorf("prov.context in the next plain transaction = %q, want \"\"", got)
		}
		if err := plain.Rollback(bg); err != nil {
			t.Fatal(err)
		}
		idle(t)
	})

	t.Run("rollback leaves nothing", func(t *testing.T) {
		tx, err := provctx.BeginTx(attributed, db, pgx.TxOptions{})
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		if _, err := tx.Exec(bg, "INSERT INTO "+s.items+" (id) VALUES ($1)", base+2); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(bg); err != nil {
			t.Fatalf("Rollback: %v", err)
		}
		if err := tx.Commit(bg); !errors.Is(err, pgx.ErrTxClosed) {
			t.Errorf("Commit after Rollback = %v, want pgx.ErrTxClosed", err)
		}
		idle(t)
		if got, ok := audited(t, s, txOrConn(t, db), base+2); ok {
			t.Errorf("rolled back change captured with ctx %q", got)
		}
	})

	t.Run("no attribution is a plain transaction", func(t *testing.T) {
		tx, err := provctx.BeginTx(bg, db, pgx.TxOptions{})
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		if got := setting(t, tx); got != "" {
			t.Errorf("prov.context = %q, want \"\"", got)
		}
		if _, err := tx.Exec(bg, "INSERT INTO "+s.items+" (id) VALUES ($1)", base+3); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(bg); err != nil {
			t.Fatal(err)
		}
		idle(t)
		if got, ok := audited(t, s, txOrConn(t, db), base+3); !ok || got != "" {
			t.Errorf("captured ctx = %q (found %v), want unattributed", got, ok)
		}
	})

	t.Run("failed statement", func(t *testing.T) {
		tx, err := provctx.BeginTx(attributed, db, pgx.TxOptions{})
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		if _, err := tx.Exec(bg, "INSERT INTO "+s.items+" (id) VALUES ($1)", base+4); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(bg, "SELECT 1/0"); err == nil {
			t.Fatal("SELECT 1/0 succeeded")
		}
		if err := tx.Commit(bg); !errors.Is(err, pgx.ErrTxCommitRollback) {
			t.Errorf("Commit after a failed statement = %v, want pgx.ErrTxCommitRollback", err)
		}
		idle(t)
		if _, ok := audited(t, s, txOrConn(t, db), base+4); ok {
			t.Error("change of a failed transaction captured")
		}
	})

	t.Run("savepoint", func(t *testing.T) {
		tx, err := provctx.BeginTx(attributed, db, pgx.TxOptions{})
		if err != nil {
			t.Fatalf("BeginTx: %v", err)
		}
		defer tx.Rollback(bg)
		sp, err := tx.Begin(bg)
		if err != nil {
			t.Fatal(err)
		}
		if got := setting(t, sp); got != want {
			t.Errorf("prov.context in a savepoint = %q, want %q", got, want)
		}
		if _, err := sp.Exec(bg, "INSERT INTO "+s.items+" (id) VALUES ($1)", base+5); err != nil {
			t.Fatal(err)
		}
		if err := sp.Rollback(bg); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(bg, "INSERT INTO "+s.items+" (id) VALUES ($1)", base+6); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(bg); err != nil {
			t.Fatal(err)
		}
		idle(t)
		if _, ok := audited(t, s, txOrConn(t, db), base+5); ok {
			t.Error("change rolled back to a savepoint was captured")
		}
		if got, ok := audited(t, s, txOrConn(t, db), base+6); !ok || got != want {
			t.Errorf("captured ctx = %q (found %v), want %q", got, ok, want)
		}
	})
}

// txOrConn returns something to read with: db itself when it can query.
func txOrConn(t *testing.T, db provctx.Beginner) querier {
	t.Helper()
	q, ok := db.(querier)
	if !ok {
		t.Fatalf("%T cannot query", db)
	}
	return q
}

// TestBeginTxOptions checks that the transaction options reach PostgreSQL.
func TestBeginTxOptions(t *testing.T) {
	dsn := testDSN(t)
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	ctx := provctx.With(t.Context(), attr)

	for _, tc := range []struct {
		name             string
		opts             pgx.TxOptions
		iso, ro, deferOK string
	}{
		{"defaults", pgx.TxOptions{}, "read committed", "off", "off"},
		{"serializable read only deferrable", pgx.TxOptions{IsoLevel: pgx.Serializable, AccessMode: pgx.ReadOnly, DeferrableMode: pgx.Deferrable}, "serializable", "on", "on"},
		{"repeatable read", pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadWrite}, "repeatable read", "off", "off"},
		{"read uncommitted not deferrable", pgx.TxOptions{IsoLevel: pgx.ReadUncommitted, DeferrableMode: pgx.NotDeferrable}, "read uncommitted", "off", "off"},
		{"begin query", pgx.TxOptions{BeginQuery: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"}, "repeatable read", "on", "off"},
		{"begin query with a comment", pgx.TxOptions{BeginQuery: "BEGIN READ ONLY -- trailing comment"}, "read committed", "on", "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := provctx.BeginTx(ctx, conn, tc.opts)
			if err != nil {
				t.Fatalf("BeginTx: %v", err)
			}
			defer tx.Rollback(ctx)
			var iso, ro, def string
			if err := tx.QueryRow(ctx, "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only'), current_setting('transaction_deferrable')").Scan(&iso, &ro, &def); err != nil {
				t.Fatal(err)
			}
			if iso != tc.iso || ro != tc.ro || def != tc.deferOK {
				t.Errorf("isolation, read only, deferrable = %q, %q, %q; want %q, %q, %q", iso, ro, def, tc.iso, tc.ro, tc.deferOK)
			}
			if got, want := setting(t, tx), attr.Encode(); got != want {
				t.Errorf("prov.context = %q, want %q", got, want)
			}
		})
	}
}

// TestBeginTxInvalid checks that wrong options and attributions fail before
// anything is sent.
func TestBeginTxInvalid(t *testing.T) {
	dsn := testDSN(t)
	var writes atomic.Int64
	conn, err := pgx.ConnectConfig(t.Context(), countingConfig(t, dsn, &writes))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	bg := t.Context()

	for _, tc := range []struct {
		name string
		ctx  context.Context
		opts pgx.TxOptions
	}{
		{"isolation level", provctx.With(bg, attr), pgx.TxOptions{IsoLevel: "serializable; drop table x"}},
		{"access mode", provctx.With(bg, attr), pgx.TxOptions{AccessMode: "read"}},
		{"deferrable mode", provctx.With(bg, attr), pgx.TxOptions{DeferrableMode: "maybe"}},
		{"agent without activity", provctx.WithAgent(bg, "alice"), pgx.TxOptions{}},
		{"blank activity", provctx.WithActivity(bg, "  "), pgx.TxOptions{}},
		{"activity too long", provctx.WithActivity(bg, strings.Repeat("a", 4097)), pgx.TxOptions{}},
		{"agent too long", provctx.With(bg, prov.Attribution{Activity: "a", Agent: strings.Repeat("a", 4097)}), pgx.TxOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := writes.Load()
			tx, err := provctx.BeginTx(tc.ctx, conn, tc.opts)
			if err == nil {
				tx.Rollback(bg)
				t.Fatal("BeginTx succeeded")
			}
			if !prov.IsKind(err, prov.Invalid) {
				t.Errorf("error kind %q (%v), want invalid", prov.KindOf(err), err)
			}
			if n := writes.Load() - before; n != 0 {
				t.Errorf("%d network writes, want none", n)
			}
		})
	}
}

// TestBeginTxFailedBegin checks that a connection whose BEGIN succeeded but
// whose message then failed is not left inside a transaction.
func TestBeginTxFailedBegin(t *testing.T) {
	dsn := testDSN(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = provctx.BeginTx(provctx.With(ctx, attr), conn, pgx.TxOptions{BeginQuery: "BEGIN; SELECT 1/0"})
	if err == nil {
		t.Fatal("BeginTx succeeded")
	}
	if conn.IsClosed() {
		t.Fatal("connection closed; want it rolled back and reusable")
	}
	if got := txStatus(conn); got != 'I' {
		t.Fatalf("connection status %q, want 'I' (idle, no transaction)", got)
	}
	if got := setting(t, conn); got != "" {
		t.Errorf("prov.context = %q after the failed begin, want \"\"", got)
	}
}

// TestBeginTxQuoting checks that any attribution reaches PostgreSQL exactly,
// whatever standard_conforming_strings says.
func TestBeginTxQuoting(t *testing.T) {
	dsn := testDSN(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	nasty := []string{
		`it's`, `back\slash`, `\'`, `'\`, `"quoted"`, `$$ dollar $$`, `E'x'`, `'); DROP TABLE x; --`,
		"tab\tnew\nline", "nul\x00byte", "日本語 é", `\\\\''''`, "\u2028", strings.Repeat(`'\`, 1000),
	}
	for _, scs := range []string{"on", "off"} {
		if _, err := conn.Exec(ctx, "SET standard_conforming_strings = "+scs); err != nil {
			t.Fatal(err)
		}
		for _, v := range nasty {
			a := prov.Attribution{Activity: "job:" + v, Agent: v}
			tx, err := provctx.BeginTx(provctx.With(ctx, a), conn, pgx.TxOptions{})
			if err != nil {
				t.Fatalf("standard_conforming_strings=%s, %q: BeginTx: %v", scs, v, err)
			}
			got := setting(t, tx)
			if err := tx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			if got != a.Encode() {
				t.Errorf("standard_conforming_strings=%s: prov.context = %q, want %q", scs, got, a.Encode())
			}
			if back, err := prov.ParseAttribution(got); err != nil || back != a {
				t.Errorf("standard_conforming_strings=%s: ParseAttribution(%q) = %+v, %v; want %+v", scs, got, back, err, a)
			}
		}
	}
}

// TestBeginTxRoundTrips shows that the attribution costs no round trip: an
// INSERT in a transaction begun by BeginTx makes as many network writes
// (each one a request the client then waits on) as in a plain pgx
// transaction, and one fewer than setting prov.context with a statement of
// its own.
func TestBeginTxRoundTrips(t *testing.T) {
	s := newScratch(t)
	ctx := t.Context()
	var writes atomic.Int64
	conn, err := pgx.ConnectConfig(ctx, countingConfig(t, s.dsn, &writes))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	attributed := provctx.With(ctx, attr)

	id := 0
	measure := func(begin func() (pgx.Tx, error)) int64 {
		t.Helper()
		var n int64
		for range 2 { // the first run prepares the INSERT; count the second
			id++
			before := writes.Load()
			tx, err := begin()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+s.items+" (id) VALUES ($1)", id); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			n = writes.Load() - before
		}
		return n
	}
	plain := measure(func() (pgx.Tx, error) { return conn.Begin(ctx) })
	sdk := measure(func() (pgx.Tx, error) { return provctx.BeginTx(attributed, conn, pgx.TxOptions{}) })
	extra := measure(func() (pgx.Tx, error) {
		tx, err := conn.Begin(ctx)
		if err == nil {
			_, err = tx.Exec(ctx, "SELECT set_config('prov.context', $1, true)", attr.Encode())
		}
		return tx, err
	})
	t.Logf("network writes per BEGIN+INSERT+COMMIT: plain %d, provctx.BeginTx %d, separate set_config %d", plain, sdk, extra)
	if plain != 3 {
		t.Errorf("plain transaction: %d writes, want 3 (BEGIN, INSERT, COMMIT)", plain)
	}
	if sdk != plain {
		t.Errorf("provctx.BeginTx: %d writes, want %d as a plain transaction", sdk, plain)
	}
	if extra != plain+1 {
		t.Errorf("separate set_config: %d writes, want %d: the counter does not see round trips", extra, plain+1)
	}
}

// FuzzBeginTxQuoting checks that any activity and agent reach PostgreSQL
// exactly. The seeds run with go test; go test -fuzz explores further.
func FuzzBeginTxQuoting(f *testing.F) {
	for _, s := range []string{`it's`, `back\slash`, `\'`, `$$`, `E'x'`, "nul\x00", "\xff\xfe", `'); DROP TABLE x; --`} {
		f.Add(s, s)
	}
	dsn := testDSN(f)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close(context.Background())
	f.Fuzz(func(t *testing.T, activity, agent string) {
		a := prov.Attribution{Activity: "job:" + activity, Agent: agent}
		ctx := provctx.With(context.Background(), a)
		tx, err := provctx.BeginTx(ctx, conn, pgx.TxOptions{})
		if err != nil {
			if prov.IsKind(err, prov.Invalid) { // too long
				return
			}
			t.Fatalf("BeginTx(%+v): %v", a, err)
		}
		got := setting(t, tx)
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if got != a.Encode() {
			t.Fatalf("prov.context = %q, want %q", got, a.Encode())
		}
	})
}
