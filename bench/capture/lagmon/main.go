// Command lagmon samples how far the capture sequencer is behind: every
// -interval it reads the age of the oldest change still in the capture queue
// (clock_timestamp() minus the change's statement time; 0 when the queue is
// empty), and at the end prints the distribution of those ages. A change
// leaves the queue when the sequencer's transaction that moved it into the
// log commits, so the age of the oldest pending change bounds the lag of
// every change pending at that instant. Part of the capture benchmark: see
// bench/capture/README.md.
//
//	go run ./bench/capture/lagmon -db postgres://…/provbench_prov -duration 30s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	db := flag.String("db", "", "PostgreSQL DSN of the captured database")
	schema := flag.String("schema", "prov", "Prov's schema")
	interval := flag.Duration("interval", 100*time.Millisecond, "sampling interval")
	duration := flag.Duration("duration", 30*time.Second, "how long to sample")
	skip := flag.Duration("skip", 2*time.Second, "ignore samples taken in the first this long (warm-up)")
	flag.Parse()
	if *db == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, *db)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lagmon:", err)
		os.Exit(1)
	}
	defer c.Close(ctx)
	q := "SELECT COALESCE(EXTRACT(epoch FROM clock_timestamp() - (SELECT at FROM " +
		pgx.Identifier{*schema, "changes"}.Sanitize() + " ORDER BY id LIMIT 1)), 0)::float8"
	var ages []float64
	start := time.Now()
	t := time.NewTicker(*interval)
	defer t.Stop()
	for now := range t.C {
		if now.Sub(start) > *duration {
			break
		}
		var age float64
		if err := c.QueryRow(ctx, q).Scan(&age); err != nil {
			fmt.Fprintln(os.Stderr, "lagmon:", err)
			os.Exit(1)
		}
		if now.Sub(start) >= *skip {
			ages = append(ages, age)
		}
	}
	slices.Sort(ages)
	if len(ages) == 0 {
		fmt.Println("samples=0")
		return
	}
	p := func(q float64) float64 { return ages[int(q*float64(len(ages)-1))] }
	fmt.Printf("samples=%d lag_p50_s=%.3f lag_p90_s=%.3f lag_p99_s=%.3f lag_max_s=%.3f\n", len(ages), p(0.5), p(0.9), p(0.99), ages[len(ages)-1])
}
