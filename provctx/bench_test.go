package provctx_test

// BenchmarkTx measures what attribution costs a small transaction: BEGIN, a
// one-row UPDATE of a table with a capture-like trigger, COMMIT; one client
// per connection, so that round trips dominate as they do under pgbench.
//
//	PROV_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench Tx -benchtime 5s -count 3 ./provctx/
//
// Each iteration runs one transaction of every variant, in turn, each on a
// connection of its own, so that a shared machine's drift weighs on all of
// them alike; it reports each variant's mean time (ns/<variant>), network
// writes (writes/<variant>) and time relative to pgx-plain (x/<variant>).
// The variants: pgx-plain and sql-plain carry no attribution; pgx-provctx
// and sql-provctx are attributed by this package; pgx-extra sets
// prov.context with a statement of its own, the round trip this package
// avoids. The sub-benchmarks run with synchronous_commit on (each COMMIT
// waits for its WAL flush) and off (the round trips alone).

import (
	"context"
	"database/sql"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov/provctx"
)

func BenchmarkTx(b *testing.B) {
	for _, sc := range []string{"on", "off"} {
		b.Run("synchronous_commit="+sc, func(b *testing.B) { benchTx(b, sc) })
	}
}

type benchVariant struct {
	name   string
	writes atomic.Int64
	run    func() error
	spent  time.Duration
}

func benchTx(b *testing.B, synchronousCommit string) {
	s := newScratch(b)
	ctx := context.Background()
	plain, attributed := ctx, provctx.With(ctx, attr)
	update := "UPDATE " + s.items + " SET v = $1 WHERE id = 1"

	conn := func(v *benchVariant) *pgx.Conn {
		cfg := countingConfig(b, s.dsn, &v.writes)
		cfg.RuntimeParams["synchronous_commit"] = synchronousCommit
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close(ctx) })
		return c
	}
	db := func(v *benchVariant) *sql.DB {
		cfg := countingConfig(b, s.dsn, &v.writes)
		cfg.RuntimeParams["synchronous_commit"] = synchronousCommit
		d := provctx.OpenDB(*cfg)
		d.SetMaxOpenConns(1)
		b.Cleanup(func() { d.Close() })
		return d
	}
	pgxTx := func(c *pgx.Conn, begin func() (pgx.Tx, error)) func() error {
		return func() error {
			tx, err := begin()
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, update, "x"); err != nil {
				return err
			}
			return tx.Commit(ctx)
		}
	}
	sqlTx := func(d *sql.DB, ctx context.Context) func() error {
		return func() error {
			tx, err := d.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, update, "x"); err != nil {
				return err
			}
			return tx.Commit()
		}
	}

	vs := []*benchVariant{{name: "pgx-plain"}, {name: "pgx-provctx"}, {name: "pgx-extra"}, {name: "sql-plain"}, {name: "sql-provctx"}}
	c0, c1, c2 := conn(vs[0]), conn(vs[1]), conn(vs[2])
	vs[0].run = pgxTx(c0, func() (pgx.Tx, error) { return c0.Begin(plain) })
	vs[1].run = pgxTx(c1, func() (pgx.Tx, error) { return provctx.BeginTx(attributed, c1, pgx.TxOptions{}) })
	vs[2].run = pgxTx(c2, func() (pgx.Tx, error) {
		tx, err := c2.Begin(ctx)
		if err == nil {
			_, err = tx.Exec(ctx, "SELECT set_config('prov.context', $1, true)", attr.Encode())
		}
		return tx, err
	})
	vs[3].run = sqlTx(db(vs[3]), plain)
	vs[4].run = sqlTx(db(vs[4]), attributed)

	if _, err := c0.Exec(ctx, "INSERT INTO "+s.items+" (id) VALUES (1)"); err != nil {
		b.Fatal(err)
	}
	for _, v := range vs { // prepare the UPDATE on every connection
		if err := v.run(); err != nil {
			b.Fatalf("%s: %v", v.name, err)
		}
		v.writes.Store(0)
	}
	n := 0
	for b.Loop() {
		for _, v := range vs {
			start := time.Now()
			if err := v.run(); err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
			v.spent += time.Since(start)
		}
		n++
	}
	for _, v := range vs {
		b.ReportMetric(float64(v.spent.Nanoseconds())/float64(n), "ns/"+v.name)
		b.ReportMetric(float64(v.writes.Load())/float64(n), "writes/"+v.name)
		b.ReportMetric(float64(v.spent)/float64(vs[0].spent), "x/"+v.name)
	}
}
