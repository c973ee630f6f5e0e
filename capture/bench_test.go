package capture_test

// Throughput of the capture sequencer: how many captured changes per second
// Sequencer.Run moves from the capture queue into the log (one change record
// each, row states, counters and a signed checkpoint per batch), through the
// real code path. The queue is filled outside the timer, by one statement
// of PROV_BENCH_CHANGES (default 200,000) rows on a table shaped like
// pgbench_accounts: an UPDATE of every row (before and after images) or an
// INSERT (after images only). Needs PROV_TEST_POSTGRES; skipped without it
// (unless PROV_REQUIRE_SERVICES=1). bench/capture/run.sh runs it, and
// docs/PERFORMANCE-capture.md reports it:
//
//	PROV_TEST_POSTGRES='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go test -run '^$' -bench Sequencer -benchtime 3x ./capture/
//
// Each sub-benchmark uses schemas of its own, dropped when it ends, and
// sequences one untimed round first.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prov-dev/prov/capture"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

func BenchmarkSequencer(b *testing.B) {
	dsn := os.Getenv("PROV_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("PROV_REQUIRE_SERVICES") == "1" {
			b.Fatal("PROV_REQUIRE_SERVICES=1 but PROV_TEST_POSTGRES is not set")
		}
		b.Skip("PROV_TEST_POSTGRES is not set")
	}
	n := 200_000
	if s := os.Getenv("PROV_BENCH_CHANGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("PROV_BENCH_CHANGES=%q: want a positive number", s)
		}
	}
	for _, bc := range []struct {
		name  string
		op    string
		batch int
	}{
		{"update/batch=2000", "update", 0}, // 0: capture.DefaultBatch
		{"insert/batch=2000", "insert", 0},
		{"update/batch=10000", "update", 10000},
	} {
		b.Run(bc.name, func(b *testing.B) { benchSequencer(b, dsn, bc.op, bc.batch, n) })
	}
}

func benchSequencer(b *testing.B, dsn, op string, batch, n int) {
	ctx := context.Background()
	r := make([]byte, 5)
	rand.Read(r)
	suffix := hex.EncodeToString(r)
	app, provSchema := "seqbench_app_"+suffix, "seqbench_prov_"+suffix
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		pool.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+app+" CASCADE; DROP SCHEMA IF EXISTS "+provSchema+" CASCADE")
		pool.Close()
	})
	exec := func(sql string, args ...any) {
		b.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			b.Fatalf("%s: %v", sql, err)
		}
	}
	table := app + ".accounts"
	exec("CREATE SCHEMA " + app)
	exec("CREATE TABLE " + table + " (aid int PRIMARY KEY, bid int NOT NULL, abalance int NOT NULL, filler char(84))")
	if op == "update" {
		exec("INSERT INTO "+table+" SELECT i, (i - 1) / 100000 + 1, 0, '' FROM generate_series(1, $1) i", n)
	}
	store, err := postgres.Open(ctx, dsn, postgres.Options{Schema: provSchema})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	skey, vkey, err := tlog.GenerateKey("bench.example/capture")
	if err != nil {
		b.Fatal(err)
	}
	if err := tlog.Init(ctx, store, "bench.example/capture", vkey); err != nil {
		b.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		b.Fatal(err)
	}
	log, err := tlog.Open(ctx, store, tlog.Options{Signer: signer})
	if err != nil {
		b.Fatal(err)
	}
	c := capture.NewPostgres(store)
	if _, err := c.Enable(ctx, []string{table}, nil); err != nil {
		b.Fatal(err)
	}
	seq := c.Sequencer(log)
	seq.Batch = batch
	vacuum := "VACUUM ANALYZE " + table + ", " + pgx.Identifier{provSchema, "changes"}.Sanitize() + ", " +
		pgx.Identifier{provSchema, "row_state"}.Sanitize() + ", " + pgx.Identifier{provSchema, "records"}.Sanitize()

	round := 0
	// enqueue fills the queue with n changes and vacuums (the server's
	// autovacuum may be off: it is on the benchmark machine). VACUUM ANALYZE
	// also makes PostgreSQL plan the sequencer's cached statements again,
	// for tables of their present size.
	enqueue := func() {
		if op == "update" {
			exec("UPDATE " + table + " SET abalance = abalance + 1")
		} else {
			exec("INSERT INTO "+table+" SELECT i, (i - 1) / 100000 + 1, 0, '' FROM generate_series($1::int, $2::int) i", round*n+1, (round+1)*n)
		}
		round++
		exec(vacuum)
	}
	run := func() int {
		got, err := seq.Run(ctx, false, 0)
		if err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("the sequencer moved %d changes, want %d", got, n)
		}
		return got
	}
	// A first round, untimed: the log and the row states are no longer
	// empty, and the statements the store's connections prepared while the
	// log was empty are planned again (see docs/PERFORMANCE-capture.md: a
	// plan made for an empty records table makes every step slower as the
	// log grows, until something makes PostgreSQL plan it again).
	enqueue()
	run()
	exec("SELECT 'seqbench: timed rounds begin'") // a mark in the server log, for bench/capture/run.sh
	moved := 0
	for b.Loop() {
		b.StopTimer()
		enqueue()
		b.StartTimer()
		moved += run()
	}
	b.StopTimer()
	b.ReportMetric(float64(moved)/b.Elapsed().Seconds(), "changes/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(moved), "ns/change")
}
