package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
)

// signedBench measures batched HTTP ingest of signed records (DSSE
// envelopes of 1 KiB records, signed ahead of time by the generator)
// beside the same ingest of unsigned 1 KiB records, and the ceiling the
// signatures put on it: ed25519.Verify of one envelope's PAE on all CPUs,
// nothing else. The three alternate in each run; medians are printed.
func signedBench(ctx context.Context, l *tlog.Log, post func([]byte) error, seq *atomic.Int64, records, batch, clients, runs int) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	id := prov.KeyID(pub)
	add, _ := json.Marshal(prov.Record{Type: prov.TypeKey, Time: time.Now().UTC(), Agent: &prov.Agent{ID: "svc:bench"},
		Attributes: (&prov.KeyEvent{Action: prov.KeyAdd, KeyID: id, PublicKey: prov.PublicKeyAttribute(pub)}).Attributes()})
	if _, err := l.Append(ctx, [][]byte{add}); err != nil {
		log.Fatal(err)
	}
	record := func() []byte {
		i := seq.Add(1)
		r := fmt.Sprintf(`{"type":"change","id":"ev-%d","time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d","kind":"job"},"agent":{"id":"svc:bench"},"generated":[{"id":"file:/data/%d","op":"write"}],"reason":"`, i, i%100, i)
		return []byte(r + strings.Repeat("x", 1024-len(r)-2) + `"}`)
	}
	sign := func(rec []byte) []byte {
		env, err := prov.SignEnvelope(rec, id, func(pae []byte) ([]byte, error) { return ed25519.Sign(priv, pae), nil })
		if err != nil {
			log.Fatal(err)
		}
		return env
	}
	// bodies makes the request bodies of one run (JSON Lines), not timed.
	bodies := func(signed bool) [][]byte {
		out := make([][]byte, records/batch)
		for i := range out {
			var b bytes.Buffer
			for range batch {
				rec := record()
				if signed {
					rec = sign(rec)
				}
				b.Write(rec)
				b.WriteByte('\n')
			}
			out[i] = b.Bytes()
		}
		return out
	}
	ingest := func(bodies [][]byte) float64 {
		var next atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range clients {
			wg.Go(func() {
				for {
					i := next.Add(1) - 1
					if int(i) >= len(bodies) {
						return
					}
					if err := post(bodies[i]); err != nil {
						log.Fatalf("http: %v", err)
					}
				}
			})
		}
		wg.Wait()
		return float64(len(bodies)*batch) / time.Since(start).Seconds()
	}
	// ceiling: ed25519.Verify of a 1 KiB record's envelope on GOMAXPROCS
	// goroutines for d.
	env, _ := prov.ParseEnvelope(sign(record()))
	pae, sig := env.PAE(), env.Signatures[0].Sig
	ceiling := func(d time.Duration) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				k := 0
				for time.Since(start) < d {
					for range 64 {
						if !ed25519.Verify(pub, pae, sig) {
							log.Fatal("the signature does not verify")
						}
					}
					k += 64
				}
				n.Add(int64(k))
			})
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	var uns, sgn, ceil, su, sc []float64
	for r := range runs {
		u := ingest(bodies(false))
		s := ingest(bodies(true))
		c := ceiling(2 * time.Second)
		uns, sgn, ceil = append(uns, u), append(sgn, s), append(ceil, c)
		su, sc = append(su, s/u), append(sc, s/c)
		fmt.Printf("run %d: unsigned %.0f records/s, signed %.0f records/s (%.2f of unsigned), ed25519.Verify ceiling %.0f/s on %d CPUs (signed at %.2f of it)\n",
			r+1, u, s, s/u, c, runtime.GOMAXPROCS(0), s/c)
	}
	fmt.Printf("batched HTTP ingest of 1 KiB records (%d per request, %d clients, envelope %d bytes), medians of %d runs: unsigned %.0f/s, signed %.0f/s, ed25519.Verify ceiling %.0f/s; per-run ratios: signed/unsigned %.2f, signed/ceiling %.2f\n",
		batch, clients, len(sign(record())), runs, median(uns), median(sgn), median(ceil), median(su), median(sc))
}
