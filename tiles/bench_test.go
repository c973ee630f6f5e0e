package tiles_test

import (
	"context"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tiles"
)

// BenchmarkServeTile: serving full tiles of a log of 65,536 records
// (SQLite), through the handler, beside the bare store read each one
// rests on (the baseline: what the handler adds is path parsing, hash
// extraction, the bundle's framing and HTTP):
//
//	hash-0: /tile/0/001 (256 leaf hashes, 8 KiB)
//	hash-1: /tile/1/000 (256 level-8 hashes, from rows 255, 511, …)
//	entries: /tile/entries/001 (256 records), gzip: the same, gzip-encoded
//	store-hashes-*: ReadForProof of the same rows
//	store-records: Leaves of the same 256 records
func BenchmarkServeTile(b *testing.B) {
	tl := newTestLog(b, records(0, 1<<16), true)
	h := tiles.New(tl.log)
	ctx := context.Background()
	pr := prov.ProofReader(tl.store)
	rows := func(level int) []int64 {
		out := make([]int64, 256)
		for i := range out {
			n := int64(i)
			if level == 0 {
				n += 256
			}
			out[i] = (n+1)<<(8*level) - 1
		}
		return out
	}
	serve := func(path string, header ...string) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if rec := get(h, path, header...); rec.Code != 200 {
					b.Fatalf("%s: %d", path, rec.Code)
				}
			}
		}
	}
	readHashes := func(level int) func(b *testing.B) {
		idx := rows(level)
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, hs, err := pr.ReadForProof(ctx, idx); err != nil || len(hs) != 256 {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("hash-0", serve("/tile/0/001"))
	b.Run("store-hashes-0", readHashes(0))
	b.Run("hash-1", serve("/tile/1/000"))
	b.Run("store-hashes-1", readHashes(1))
	b.Run("entries", serve("/tile/entries/001"))
	b.Run("entries-gzip", serve("/tile/entries/001", "Accept-Encoding", "gzip"))
	b.Run("store-records", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			err := tl.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
				return tx.(prov.LeafReader).Leaves(ctx, 256, 512, func(int64, []byte, []byte) error { n++; return nil })
			})
			if err != nil || n != 256 {
				b.Fatal(err)
			}
		}
	})
}
