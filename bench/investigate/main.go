// Command investigate measures Prov's investigation (issue 4's performance
// section) over a generated history of about 10 changes per row, against
// the same questions asked in hand-written SQL of a naive jsonb audit table
// (the hand-made audit-trigger design) filled by a trigger on the same table
// in the same transactions, measured interleaved in the same run.
//
//	go run ./bench/investigate -db /tmp/inv.db -rows 100000 -mode all
//	go run ./bench/investigate -db postgres://postgres@127.0.0.1:5432/invbench -rows 1000000 -mode gen
//	go run ./bench/investigate -db postgres://postgres@127.0.0.1:5432/invbench -mode bench
//
// See README.md.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"runtime/pprof"
)

func main() {
	db := flag.String("db", "", "SQLite file (replaced by -mode gen) or postgres:// URL of an existing database")
	prefix := flag.String("schema", "invbench", "PostgreSQL: the schemas <schema>_app and <schema>_prov (replaced by -mode gen)")
	rows := flag.Int("rows", 100000, "rows of the generated table (changes: about 10 per row)")
	mode := flag.String("mode", "all", "gen (generate), bench (measure generated data), or all")
	runs := flag.Int("runs", 5, "runs of each measurement (medians are reported)")
	samples := flag.Int("samples", 300, "random rows for blame and history")
	repairs := flag.Bool("repairs", true, "measure fix and revert (they change the data: applied once, planned -runs times)")
	apply := flag.Bool("apply", true, "with -repairs, also apply a fix and revert it (then the poisoned set is repaired: generate again to measure again)")
	only := flag.String("only", "", "measure only this part: find, rows (blame and history), repairs, count (Prov's find --count alone), explain")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the measurements to this file")
	flag.Parse()
	if *db == "" {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(log.Ltime)
	ctx := context.Background()
	if *mode == "gen" || *mode == "all" {
		b, err := open(ctx, *db, *prefix, true)
		if err != nil {
			log.Fatal(err)
		}
		if err := generate(ctx, b, newScale(*rows)); err != nil {
			b.close()
			log.Fatal(err)
		}
		b.close()
	}
	if *mode == "bench" || *mode == "all" {
		b, err := open(ctx, *db, *prefix, false)
		if err != nil {
			log.Fatal(err)
		}
		defer b.close()
		if *cpuprofile != "" {
			f, err := os.Create(*cpuprofile)
			if err != nil {
				log.Fatal(err)
			}
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
		if err := measure(ctx, b, options{runs: *runs, samples: *samples, repairs: *repairs, apply: *apply, only: *only}); err != nil {
			log.Fatal(err)
		}
	}
}
