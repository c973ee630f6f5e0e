// Command serve measures HTTP ingest of prov serve's API against the
// embedded path, side by side in one run (issue 5's performance section):
//
//   - batched ingest of 1 KiB records: records/s through POST /api/v1/records
//     over loopback, and through tlog.Log.AppendIdempotent in-process;
//   - single-record requests at a fixed rate (open loop): latency p50/p99.
//
// The server is the real httpapi handler behind a net/http server on a
// loopback port, with the settings prov serve uses; the load generator runs
// in the same process (as it would on the same 2-core machine). Runs of the
// two paths alternate; medians are printed.
//
//	go run ./bench/serve -db /tmp/bench.db            # SQLite
//	go run ./bench/serve -db postgres://…/test -schema bench_serve
//	go run ./bench/serve -db /tmp/bench.db -signed   # signed vs unsigned ingest, and the Ed25519 ceiling
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/auth"
	"github.com/prov-dev/prov/httpapi"
	"github.com/prov-dev/prov/postgres"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	db := flag.String("db", "", "SQLite file (created) or postgres:// URL")
	schema := flag.String("schema", "bench_serve", "PostgreSQL schema (dropped and created)")
	records := flag.Int("records", 100000, "records per batched run")
	batch := flag.Int("batch", 1000, "records per request")
	clients := flag.Int("clients", 4, "concurrent clients")
	runs := flag.Int("runs", 3, "runs of each path")
	rate := flag.Int("rate", 1000, "single-record requests per second")
	seconds := flag.Int("seconds", 10, "length of the single-record run")
	signed := flag.Bool("signed", false, "measure signed ingest (DSSE envelopes) beside unsigned and the ed25519.Verify ceiling, instead (see signed.go)")
	singleRuns := flag.Int("single-runs", 1, "runs of the single-record measurement (each path)")
	embeddedSingle := flag.Bool("embedded-single", true, "measure single-record appends on the embedded path too")
	phases := flag.Bool("phases", false, "print where the single-record requests' time went inside the group commit (queue wait, begin, statements, commit), and Go's GC pauses")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the whole run to this file")
	group := flag.Int("group-commit", 10000, "the server's group commit (prov serve --group-commit); 0: a transaction per request")
	checkpointEvery := flag.Duration("checkpoint-every", time.Second, "sign a checkpoint this often if the log grew, as prov serve does (0: never)")
	checkpointAlone := flag.Bool("checkpoint-alone", false, "store each checkpoint in a transaction of its own (Log.Checkpoint) rather than with the next group of appends (Batcher.Checkpoint, as prov serve does)")
	flag.Parse()
	if *db == "" {
		log.Fatal("-db is required")
	}
	ctx := context.Background()
	store, cleanup := open(ctx, *db, *schema)
	defer cleanup()
	skey, vkey, _ := tlog.GenerateKey("bench.example/serve")
	if err := tlog.Init(ctx, store, "bench.example/serve", vkey); err != nil {
		log.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	l, err := tlog.Open(ctx, store, tlog.Options{Signer: signer})
	if err != nil {
		log.Fatal(err)
	}
	toks, _ := auth.New(store)
	tok, _, err := toks.Create(ctx, "bench", []string{auth.Ingest})
	if err != nil {
		log.Fatal(err)
	}
	var batcher *tlog.Batcher
	var statsMu sync.Mutex
	var stats []tlog.GroupStats
	if *group > 0 {
		batcher = l.NewBatcher(*group)
		if *phases {
			batcher.Observe(func(st tlog.GroupStats) {
				statsMu.Lock()
				stats = append(stats, st)
				statsMu.Unlock()
			})
		}
		defer batcher.Close()
	}
	if *checkpointEvery > 0 { // as prov serve's checkpoint loop
		bg, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for bg.Err() == nil {
				var err error
				if batcher != nil && !*checkpointAlone {
					_, _, err = batcher.Checkpoint(bg, *checkpointEvery)
				} else {
					_, _, err = l.Checkpoint(bg)
				}
				if err != nil && bg.Err() == nil {
					log.Fatalf("checkpoint: %v", err)
				}
				select {
				case <-bg.Done():
				case <-time.After(*checkpointEvery):
				}
			}
		}()
		defer func() { stop(); <-done }()
	}
	api := httpapi.New(httpapi.Config{Log: l, Batcher: batcher, Tokens: toks, MaxRecords: 100000, MaxBodyBytes: 256 << 20})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/api/v1/records"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}

	var seq atomic.Int64
	body := func(n int) []byte {
		var b bytes.Buffer
		for range n {
			i := seq.Add(1)
			r := fmt.Sprintf(`{"type":"change","id":"ev-%d","time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d","kind":"job"},"agent":{"id":"svc:bench"},"generated":[{"id":"file:/data/%d","op":"write"}],"reason":"`, i, i%100, i)
			pad := 1024 - len(r) - 2
			b.WriteString(r)
			b.WriteString(strings.Repeat("x", pad))
			b.WriteString("\"}\n")
		}
		return b.Bytes()
	}
	post := func(data []byte) error {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/jsonl")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return fmt.Errorf("%d %s", resp.StatusCode, out)
		}
		return nil
	}
	batched := func(via string) float64 {
		bodies := make([][]byte, *records / *batch)
		for i := range bodies {
			bodies[i] = body(*batch)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range *clients {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if int(i) >= len(bodies) {
						return
					}
					var err error
					if via == "http" {
						err = post(bodies[i])
					} else {
						lines := bytes.Split(bytes.TrimSpace(bodies[i]), []byte("\n"))
						_, err = l.AppendIdempotent(ctx, lines)
					}
					if err != nil {
						log.Fatalf("%s: %v", via, err)
					}
				}
			})
		}
		wg.Wait()
		return float64(len(bodies)**batch) / time.Since(start).Seconds()
	}
	if *signed {
		signedBench(ctx, l, post, &seq, *records, *batch, *clients, *runs)
		return
	}
	var httpRates, embRates []float64
	for r := range *runs {
		if *records == 0 {
			break
		}
		h := batched("http")
		e := batched("embedded")
		httpRates, embRates = append(httpRates, h), append(embRates, e)
		fmt.Printf("run %d: http %.0f records/s, embedded %.0f records/s, ratio %.2f\n", r+1, h, e, h/e)
	}
	if *records > 0 {
		fmt.Printf("batched ingest of 1 KiB records (%d per request, %d clients): median http %.0f/s, embedded %.0f/s, overhead ratio %.2f\n",
			*batch, *clients, median(httpRates), median(embRates), median(httpRates)/median(embRates))
	}

	// Single-record requests at a fixed rate, open loop.
	single := func(via string) (p50, p99 time.Duration, errs int) {
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / time.Duration(*rate))
		defer tick.Stop()
		end := time.Now().Add(time.Duration(*seconds) * time.Second)
		var nerr atomic.Int64
		for time.Now().Before(end) {
			<-tick.C
			data := body(1)
			wg.Go(func() {
				start := time.Now()
				var err error
				if via == "http" {
					err = post(data)
				} else {
					_, err = l.AppendIdempotent(ctx, [][]byte{bytes.TrimSpace(data)})
				}
				d := time.Since(start)
				if err != nil {
					nerr.Add(1)
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			})
		}
		wg.Wait()
		slices.Sort(lat)
		return lat[len(lat)/2], lat[len(lat)*99/100], int(nerr.Load())
	}
	paths := []string{"http"}
	if *embeddedSingle {
		paths = append(paths, "embedded")
	}
	var p99s = map[string][]float64{}
	for r := range *singleRuns {
		for _, via := range paths {
			statsMu.Lock()
			stats = stats[:0]
			statsMu.Unlock()
			var ms0 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			p50, p99, nerr := single(via)
			p99s[via] = append(p99s[via], p99.Seconds())
			fmt.Printf("single-record requests at %d/s for %d s via %s (run %d): p50 %v, p99 %v, errors %d\n", *rate, *seconds, via, r+1, p50.Round(time.Microsecond), p99.Round(time.Microsecond), nerr)
			if *phases && via == "http" {
				var ms1 runtime.MemStats
				runtime.ReadMemStats(&ms1)
				statsMu.Lock()
				printPhases(stats)
				statsMu.Unlock()
				printGC(&ms0, &ms1)
			}
		}
	}
	if *memprofile != "" {
		f, err := os.Create(*memprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			log.Fatal(err)
		}
		f.Close()
	}
	if *singleRuns > 1 {
		for _, via := range paths {
			fmt.Printf("single-record p99 via %s, median of %d runs: %v\n", via, *singleRuns, time.Duration(median(p99s[via])*float64(time.Second)).Round(time.Microsecond))
		}
	}
}

// printPhases prints percentiles of the group commits' phases.
func printPhases(stats []tlog.GroupStats) {
	var wait, begin, work, commit, total []time.Duration
	var sizes []float64
	retried := 0
	for _, st := range stats {
		wait = append(wait, st.Wait...)
		begin, work, commit = append(begin, st.Begin), append(work, st.Work), append(commit, st.Commit)
		total = append(total, st.Begin+st.Work+st.Commit)
		sizes = append(sizes, float64(st.Requests))
		if st.Retried {
			retried++
		}
	}
	if len(stats) == 0 {
		return
	}
	q := func(d []time.Duration, p float64) time.Duration {
		return d[int(p*float64(len(d)-1))].Round(time.Microsecond)
	}
	fmt.Printf("  %d transactions (%d retried), requests per transaction: mean %.2f, max %.0f\n", len(stats), retried, mean(sizes), slices.Max(sizes))
	for _, x := range []struct {
		name string
		d    []time.Duration
	}{{"queue wait (per request)", wait}, {"begin", begin}, {"statements", work}, {"commit", commit}, {"transaction", total}} {
		slices.Sort(x.d)
		over := 0
		for _, d := range x.d {
			if d > 2*time.Millisecond {
				over++
			}
		}
		fmt.Printf("  %-25s p50 %9v p90 %9v p99 %9v p99.9 %9v max %9v  >2ms: %d\n", x.name, q(x.d, .5), q(x.d, .9), q(x.d, .99), q(x.d, .999), x.d[len(x.d)-1].Round(time.Microsecond), over)
	}
}

// printGC prints Go's GC pauses between two MemStats.
func printGC(a, b *runtime.MemStats) {
	n := b.NumGC - a.NumGC
	var worst time.Duration
	for i := a.NumGC; i < b.NumGC && i < a.NumGC+256; i++ {
		worst = max(worst, time.Duration(b.PauseNs[i%256]))
	}
	fmt.Printf("  Go GC: %d cycles, pauses total %v, longest %v\n", n, time.Duration(b.PauseTotalNs-a.PauseTotalNs).Round(time.Microsecond), worst.Round(time.Microsecond))
}

func mean(xs []float64) float64 {
	t := 0.0
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func open(ctx context.Context, db, schema string) (prov.Store, func()) {
	if strings.HasPrefix(db, "postgres") {
		conn, err := pgx.Connect(ctx, db)
		if err != nil {
			log.Fatal(err)
		}
		conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		conn.Close(ctx)
		s, err := postgres.Open(ctx, db, postgres.Options{Schema: schema})
		if err != nil {
			log.Fatal(err)
		}
		return s, func() { s.Close() }
	}
	os.Remove(db)
	os.Remove(db + "-wal")
	os.Remove(db + "-shm")
	s, err := sqlite.Open(ctx, db, sqlite.Options{Create: true})
	if err != nil {
		log.Fatal(err)
	}
	return s, func() { s.Close() }
}
