package tlog_test

// Micro-benchmarks of the CPU work tlog does per record, without a store:
// they split the cost measured by the store benchmarks in sqlite/ and
// postgres/ (see docs/PERFORMANCE.md).

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// benchRecord returns a valid change record of exactly size bytes, padded
// with its "reason" field, the same shape as the store benchmarks append.
func benchRecord(size int) []byte {
	rec := map[string]any{
		"type":      "change",
		"id":        "evt-000000000042",
		"time":      "2026-01-02T03:04:05.123456Z",
		"activity":  map[string]any{"id": "run:nightly-import/42", "kind": "job", "name": "nightly-import", "code_version": "3f2c9a1"},
		"agent":     map[string]any{"id": "svc:importer", "kind": "service"},
		"generated": []map[string]any{{"id": "pg:app/public.orders/[000000000042]", "op": "update", "columns": []string{"status", "updated_at"}}},
		"reason":    "",
	}
	base, err := json.Marshal(rec)
	if err != nil {
		panic(err)
	}
	const words = "backfill of order status after the carrier webhook outage; approved in change request 1234. "
	pad := make([]byte, size-len(base))
	for i := range pad {
		pad[i] = words[i%len(words)]
	}
	rec["reason"] = string(pad)
	b, err := json.Marshal(rec)
	if err != nil || len(b) != size {
		panic(fmt.Sprintf("record is %d bytes, want %d (%v)", len(b), size, err))
	}
	return b
}

// BenchmarkPrepare: validating one 1 KiB record and deriving its index
// fields (Log.Prepare, which Log.Append runs on every record).
func BenchmarkPrepare(b *testing.B) {
	rec := benchRecord(1024)
	var l tlog.Log
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Prepare(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseRecord: prov.ParseRecord alone on the same record.
func BenchmarkParseRecord(b *testing.B) {
	rec := benchRecord(1024)
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := prov.ParseRecord(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordHash: the leaf hash of one 1 KiB record (SHA-256), which
// Append and Verify compute for every record.
func BenchmarkRecordHash(b *testing.B) {
	rec := benchRecord(1024)
	b.SetBytes(int64(len(rec)))
	for b.Loop() {
		sumdb.RecordHash(rec)
	}
}

// BenchmarkEd25519Verify is the ceiling producer signatures put on ingest:
// ed25519.Verify of a 1 KiB record's DSSE envelope, on all CPUs (run with
// -cpu 2 for the 2-core figure).
func BenchmarkEd25519Verify(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	rec := []byte(`{"type":"change","time":"2026-01-02T03:04:05Z","agent":{"id":"svc:bench"},"generated":[{"id":"file:/x","op":"write"}],"reason":"` + strings.Repeat("x", 900) + `"}`)
	env := &prov.Envelope{PayloadType: prov.PayloadType, Payload: rec}
	pae := env.PAE()
	sig := ed25519.Sign(priv, pae)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !ed25519.Verify(pub, pae, sig) {
				b.Fatal("does not verify")
			}
		}
	})
}

// BenchmarkPrepareEnvelope is what Prepare costs a signed 1 KiB record
// beside a plain one, without the signature check (no keys are loaded):
// decoding the envelope and its payload.
func BenchmarkPrepareEnvelope(b *testing.B) {
	l := vecNewLog(b, "bench.example/prepare", "", "")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	rec := benchRecord(1024)
	env, _ := prov.SignEnvelope(rec, strings.Repeat("a", 64), func(pae []byte) ([]byte, error) { return ed25519.Sign(priv, pae), nil })
	for _, c := range []struct {
		name string
		data []byte
	}{{"plain", rec}, {"envelope", env}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if _, err := l.Prepare(c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
