// Command sdkload runs pgbench's TPC-B-like transaction from Go, on a number
// of connections for a while, and prints the throughput. With -mode pgx each
// transaction is begun by pgx (conn.BeginTx); with -mode provctx it is begun
// by the Prov SDK (provctx.BeginTx) with an attribution of its own, as a
// request handler would do, so that capture records who made each change.
// Statements use pgx's default statement cache (prepared statements, like
// pgbench -M prepared). It is part of the capture benchmark: see
// bench/capture/README.md.
//
//	go run ./bench/capture/sdkload -db postgres://…/provbench_prov -mode provctx -clients 8 -duration 20s
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/provctx"
)

func main() {
	db := flag.String("db", "", "PostgreSQL DSN of a database initialised by pgbench -i")
	mode := flag.String("mode", "pgx", "pgx: plain pgx transactions; provctx: transactions begun by provctx.BeginTx with a fresh attribution each")
	clients := flag.Int("clients", 8, "connections, each running transactions one after another")
	duration := flag.Duration("duration", 20*time.Second, "how long to run")
	flag.Parse()
	if *db == "" || (*mode != "pgx" && *mode != "provctx") {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*db, *mode, *clients, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "sdkload:", err)
		os.Exit(1)
	}
}

func run(dsn, mode string, clients int, duration time.Duration) error {
	ctx := context.Background()
	conns := make([]*pgx.Conn, clients)
	for i := range conns {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		conns[i] = c
	}
	var scale int
	if err := conns[0].QueryRow(ctx, "SELECT count(*) FROM pgbench_branches").Scan(&scale); err != nil {
		return fmt.Errorf("read the scale: %w", err)
	}
	var wg sync.WaitGroup
	counts := make([]int, clients)
	lats := make([][]time.Duration, clients)
	errs := make([]error, clients)
	start := time.Now()
	deadline := start.Add(duration)
	for i, c := range conns {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), uint64(start.UnixNano())))
			for n := 0; time.Now().Before(deadline); n++ {
				t0 := time.Now()
				if err := tpcb(ctx, c, mode, r, scale, fmt.Sprintf("request:%d-%d", i, n)); err != nil {
					errs[i] = err
					return
				}
				counts[i]++
				lats[i] = append(lats[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	total := 0
	var all []time.Duration
	for i := range counts {
		total += counts[i]
		all = append(all, lats[i]...)
	}
	slices.Sort(all)
	var sum time.Duration
	for _, l := range all {
		sum += l
	}
	avg := 0.0
	if len(all) > 0 {
		avg = float64(sum.Microseconds()) / 1000 / float64(len(all))
	}
	fmt.Printf("mode=%s clients=%d seconds=%.1f transactions=%d tps=%.1f latency_avg_ms=%.3f latency_p99_ms=%.3f\n",
		mode, clients, elapsed.Seconds(), total, float64(total)/elapsed.Seconds(), avg, ms(all, 0.99))
	return nil
}

func ms(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return float64(sorted[int(q*float64(len(sorted)-1))].Microseconds()) / 1000
}

// tpcb is pgbench's built-in "TPC-B (sort of)" transaction.
func tpcb(ctx context.Context, c *pgx.Conn, mode string, r *rand.Rand, scale int, request string) error {
	aid := r.IntN(100000*scale) + 1
	bid := r.IntN(scale) + 1
	tid := r.IntN(10*scale) + 1
	delta := r.IntN(10001) - 5000
	var tx pgx.Tx
	var err error
	if mode == "provctx" {
		actx := provctx.With(ctx, prov.Attribution{Activity: request, Agent: "user:bench-" + strconv.Itoa(aid%100)})
		tx, err = provctx.BeginTx(actx, c, pgx.TxOptions{})
	} else {
		tx, err = c.BeginTx(ctx, pgx.TxOptions{})
	}
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", delta, aid); err != nil {
		return err
	}
	var balance int
	if err := tx.QueryRow(ctx, "SELECT abalance FROM pgbench_accounts WHERE aid = $1", aid).Scan(&balance); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2", delta, tid); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "UPDATE pgbench_branches SET bbalance = bbalance + $1 WHERE bid = $2", delta, bid); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)", tid, bid, aid, delta); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
