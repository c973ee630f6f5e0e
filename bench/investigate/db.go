package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

// bench is one database under benchmark: the store with the log and the
// capture tables, and the application's own connection.
type bench struct {
	pg      bool
	dsn     string // PostgreSQL URL or SQLite file
	app     string // the application's schema (PostgreSQL)
	schema  string // the store's schema (PostgreSQL)
	store   prov.Store
	cap     capture.Capturer
	log     *tlog.Log
	pgConn  *pgx.Conn // the application's connection (PostgreSQL)
	sqlDB   *sql.DB   // the application's connection (SQLite)
	table   string    // the captured table as users name it
	closers []func()
}

func (b *bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

// open opens (fresh: dropping what was there) the database.
func open(ctx context.Context, dsn, prefix string, fresh bool) (*bench, error) {
	b := &bench{dsn: dsn, pg: strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")}
	if b.pg {
		b.app, b.schema = prefix+"_app", prefix+"_prov"
		b.table = b.app + ".users"
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return nil, err
		}
		b.pgConn = conn
		b.closers = append(b.closers, func() { conn.Close(context.Background()) })
		if fresh {
			if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+b.app+" CASCADE; DROP SCHEMA IF EXISTS "+b.schema+" CASCADE; CREATE SCHEMA "+b.app); err != nil {
				return nil, err
			}
		}
		if _, err := conn.Exec(ctx, "SET search_path TO "+b.app); err != nil {
			return nil, err
		}
		st, err := postgres.Open(ctx, dsn, postgres.Options{Schema: b.schema})
		if err != nil {
			return nil, err
		}
		b.store = st
		b.closers = append(b.closers, func() { st.Close() })
		b.cap = capture.NewPostgres(st)
	} else {
		b.table = "users"
		if fresh {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(dsn + suffix)
			}
		}
		st, err := sqlite.Open(ctx, dsn, sqlite.Options{Create: fresh})
		if err != nil {
			return nil, err
		}
		b.store = st
		b.closers = append(b.closers, func() { st.Close() })
		db, err := sql.Open("sqlite", "file:"+dsn+"?_pragma=busy_timeout(60000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(1)
		b.sqlDB = db
		b.closers = append(b.closers, func() { db.Close() })
		b.cap = capture.NewSQLite(st)
	}
	if fresh {
		skey, vkey, err := tlog.GenerateKey("bench.example/investigate")
		if err != nil {
			return nil, err
		}
		if err := tlog.Init(ctx, b.store, "bench.example/investigate", vkey); err != nil {
			return nil, err
		}
		if err := b.exec(ctx, "CREATE TABLE bench_meta (key text PRIMARY KEY, value text NOT NULL)"); err != nil {
			return nil, err
		}
		if err := b.setMeta(ctx, "skey", skey); err != nil {
			return nil, err
		}
	}
	skey, err := b.meta(ctx, "skey")
	if err != nil {
		return nil, fmt.Errorf("no generated data here (run -mode gen first): %w", err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	if b.log, err = tlog.Open(ctx, b.store, tlog.Options{Signer: signer}); err != nil {
		return nil, err
	}
	return b, nil
}

// exec runs statements outside any attribution.
func (b *bench) exec(ctx context.Context, q string, args ...any) error {
	var err error
	if b.pg {
		_, err = b.pgConn.Exec(ctx, q, args...)
	} else {
		_, err = b.sqlDB.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", firstLine(q), err)
	}
	return nil
}

func firstLine(q string) string {
	q, _, _ = strings.Cut(strings.TrimSpace(q), "\n")
	if len(q) > 120 {
		q = q[:120] + "…"
	}
	return q
}

func (b *bench) ph(i int) string {
	if b.pg {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

func (b *bench) setMeta(ctx context.Context, k, v string) error {
	if b.pg {
		return b.exec(ctx, "INSERT INTO bench_meta VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", k, v)
	}
	return b.exec(ctx, "INSERT OR REPLACE INTO bench_meta VALUES (?, ?)", k, v)
}

func (b *bench) meta(ctx context.Context, k string) (string, error) {
	var v string
	var err error
	if b.pg {
		err = b.pgConn.QueryRow(ctx, "SELECT value FROM bench_meta WHERE key = $1", k).Scan(&v)
	} else {
		err = b.sqlDB.QueryRowContext(ctx, "SELECT value FROM bench_meta WHERE key = ?", k).Scan(&v)
	}
	return v, err
}

// queryInt runs a query that returns one integer.
func (b *bench) queryInt(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	var err error
	if b.pg {
		err = b.pgConn.QueryRow(ctx, q, args...).Scan(&n)
	} else {
		err = b.sqlDB.QueryRowContext(ctx, q, args...).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", firstLine(q), err)
	}
	return n, nil
}

// writer is one application transaction whose statements are attributed as
// the last call of as says, to Prov's capture and to the naive audit
// trigger alike.
type writer struct {
	b   *bench
	ctx context.Context
	pg  pgx.Tx
	sq  *sql.Tx
}

// tx runs fn in one application transaction.
func (b *bench) tx(ctx context.Context, fn func(w *writer) error) error {
	w := &writer{b: b, ctx: ctx}
	if b.pg {
		tx, err := b.pgConn.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		w.pg = tx
		if err := fn(w); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}
	tx, err := b.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w.sq = tx
	if err := fn(w); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM prov_context"); err != nil {
		return err
	}
	return tx.Commit()
}

// as attributes the statements that follow to a (none if a.Activity is
// ""); release is what the naive audit table records as their release.
func (w *writer) as(a prov.Attribution, release string) error {
	ctxVal := ""
	if a.Activity != "" {
		ctxVal = a.Encode()
	}
	if w.pg != nil {
		_, err := w.pg.Exec(w.ctx, "SELECT set_config('prov.context', $1, true), set_config('naive.activity', $2, true), set_config('naive.release', $3, true)", ctxVal, a.Activity, release)
		return err
	}
	if _, err := w.sq.ExecContext(w.ctx, "DELETE FROM prov_context"); err != nil {
		return err
	}
	if ctxVal != "" {
		if _, err := w.sq.ExecContext(w.ctx, "INSERT INTO prov_context (ctx) VALUES (?)", ctxVal); err != nil {
			return err
		}
	}
	_, err := w.sq.ExecContext(w.ctx, "UPDATE naive_ctx SET activity = nullif(?, ''), release = nullif(?, '')", a.Activity, release)
	return err
}

func (w *writer) exec(q string, args ...any) (int64, error) {
	if w.pg != nil {
		tag, err := w.pg.Exec(w.ctx, q, args...)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", firstLine(q), err)
		}
		return tag.RowsAffected(), nil
	}
	r, err := w.sq.ExecContext(w.ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", firstLine(q), err)
	}
	return r.RowsAffected()
}
