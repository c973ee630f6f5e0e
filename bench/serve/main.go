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
	group := flag.Int("group-commit", 10000, "the server's group commit (prov serve --group-commit); 0: a transaction per request")
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
	if *group > 0 {
		batcher = l.NewBatcher(*group)
		defer batcher.Close()
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
		h := batched("http")
		e := batched("embedded")
		httpRates, embRates = append(httpRates, h), append(embRates, e)
		fmt.Printf("run %d: http %.0f records/s, embedded %.0f records/s, ratio %.2f\n", r+1, h, e, h/e)
	}
	fmt.Printf("batched ingest of 1 KiB records (%d per request, %d clients): median http %.0f/s, embedded %.0f/s, overhead ratio %.2f\n",
		*batch, *clients, median(httpRates), median(embRates), median(httpRates)/median(embRates))

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
	for _, via := range []string{"http", "embedded"} {
		p50, p99, nerr := single(via)
		fmt.Printf("single-record requests at %d/s for %d s via %s: p50 %v, p99 %v, errors %d\n", *rate, *seconds, via, p50.Round(time.Microsecond), p99.Round(time.Microsecond), nerr)
	}
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
