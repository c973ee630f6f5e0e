package tlog

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/sqlite"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

func TestHashCacheBounds(t *testing.T) {
	c := newHashCache()
	c.genMax = 100
	idx := func(level int, n int64) int64 { return sumdb.StoredHashIndex(level, n) }
	var ix []int64
	var hs []sumdb.Hash
	for n := int64(0); n < 1000; n++ {
		ix = append(ix, idx(cacheMinLevel, n))
		hs = append(hs, sumdb.Hash{byte(n), byte(n >> 8)})
	}
	c.put(ix, hs)
	if got := c.len(); got > 2*c.genMax {
		t.Fatalf("cache holds %d hashes, over its bound %d", got, 2*c.genMax)
	}
	// The newest are kept; a hash is served only for records below limit.
	last := ix[len(ix)-1]
	rec, _ := recordOf(last)
	out := make([]sumdb.Hash, 1)
	for _, tc := range []struct {
		limit int64
		want  bool
	}{{rec, false}, {rec + 1, true}} {
		ok := []bool{false}
		c.lookup([]int64{last}, out, ok, tc.limit)
		if ok[0] != tc.want {
			t.Errorf("lookup of record %d below %d: found %v, want %v", rec, tc.limit, ok[0], tc.want)
		}
	}
	if out[0] != hs[len(hs)-1] {
		t.Errorf("cached hash is %x, want %x", out[0], hs[len(hs)-1])
	}
	// Lower levels are never served.
	low := idx(cacheMinLevel-1, 0)
	c.put([]int64{low}, []sumdb.Hash{{1}})
	ok := []bool{false}
	if c.lookup([]int64{low}, out, ok, 1<<40); ok[0] {
		t.Errorf("a hash below level %d was served", cacheMinLevel)
	}
}

// viewOnly hides the optional powers of a store: ProveInclusion reads
// through View.
type viewOnly struct{ prov.Store }

// viewProofReader gives a store the optional prov.ProofReader power through
// View, so that the one-round-trip path of ProveInclusion is tested too.
type viewProofReader struct{ prov.Store }

func (s viewProofReader) ReadForProof(ctx context.Context, indexes []int64) (size int64, latest prov.Checkpoint, found bool, hashes [][]byte, err error) {
	err = s.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		if size, err = tx.Size(ctx); err != nil {
			return err
		}
		latest, err = tx.LatestCheckpoint(ctx)
		found = err == nil
		hashes = make([][]byte, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= size {
				continue
			}
			b, err := tx.Hashes(ctx, []int64{x})
			if err != nil {
				return err
			}
			hashes[i] = b[0]
		}
		return nil
	})
	return size, latest, found, hashes, err
}

// TestProofCache proves every record of a growing log through the cache
// (with and without the one-round-trip reader) and checks each proof
// against roots computed without it.
func TestProofCache(t *testing.T) {
	store, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "prov.db"), sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	testProofCache(t, store)
}

func testProofCache(t *testing.T, store prov.Store) {
	ctx := context.Background()
	skey, vkey, err := GenerateKey("test.example/cache")
	if err != nil {
		t.Fatal(err)
	}
	if err := Init(ctx, store, "test.example/cache", vkey); err != nil {
		t.Fatal(err)
	}
	plain, err := Open(ctx, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain.cache = nil
	cached, err := Open(ctx, viewOnly{store}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	once, err := Open(ctx, viewProofReader{store}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := []*Log{cached, once}
	if _, ok := store.(prov.ProofReader); ok {
		own, err := Open(ctx, store, Options{})
		if err != nil {
			t.Fatal(err)
		}
		logs = append(logs, own)
	}
	n := int64(0)
	for _, grow := range []int64{700, 1, 300, 1049, 512} {
		entries := make([]prov.Entry, grow)
		for i := range entries {
			entries[i] = prov.Entry{Data: fmt.Appendf(nil, "record %d", n+int64(i)), Type: "raw"}
		}
		if _, err := plain.AppendEntries(ctx, entries); err != nil {
			t.Fatal(err)
		}
		n += grow
		roots := map[int64]sumdb.Hash{}
		for _, size := range []int64{n, n - grow, n/2 + 1} {
			if size <= 0 {
				continue
			}
			if roots[size], err = plain.TreeHash(ctx, size); err != nil {
				t.Fatal(err)
			}
		}
		for size, root := range roots {
			for i := int64(0); i < size; i += 7 {
				for _, l := range logs {
					p, err := l.ProveInclusion(ctx, i, size)
					if err != nil {
						t.Fatalf("prove %d in %d: %v", i, size, err)
					}
					if string(p.RootHash) != string(root[:]) {
						t.Fatalf("proof of %d in %d: root %x, want %x", i, size, p.RootHash, root)
					}
					if err := VerifyInclusion(p); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		// Size 0: the log's size (there is no checkpoint), also after growth.
		for _, l := range logs {
			p, err := l.ProveInclusion(ctx, n-1, 0)
			if root := roots[n]; err != nil || p.TreeSize != n || string(p.RootHash) != string(root[:]) {
				t.Fatalf("prove %d in the latest tree: size %d, err %v", n-1, p.TreeSize, err)
			}
			if _, err := l.ProveInclusion(ctx, n, 0); !prov.IsKind(err, prov.NotFound) {
				t.Fatalf("prove %d of %d records: %v, want NotFound", n, n, err)
			}
		}
	}
	// Size 0 with a checkpoint: its size for the records it covers, the
	// log's for the others (so the size guessed for the next proof is wrong
	// every other time).
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	signing, err := Open(ctx, store, Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := signing.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	more := make([]prov.Entry, 300)
	for i := range more {
		more[i] = prov.Entry{Data: fmt.Appendf(nil, "record %d", n+int64(i)), Type: "raw"}
	}
	if _, err := plain.AppendEntries(ctx, more); err != nil {
		t.Fatal(err)
	}
	n += int64(len(more))
	rootN, err := plain.TreeHash(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int64{0, n - 1, 5, c.Size, c.Size - 1, n - 2, 1000, c.Size + 1} {
		size, root := c.Size, c.Root
		if i >= c.Size {
			size, root = n, rootN
		}
		for _, l := range logs {
			p, err := l.ProveInclusion(ctx, i, 0)
			if err != nil || p.TreeSize != size || string(p.RootHash) != string(root[:]) {
				t.Fatalf("prove %d against the latest checkpoint (%d of %d records): size %d, err %v", i, c.Size, n, p.TreeSize, err)
			}
		}
	}
	if cached.cache.len() == 0 {
		t.Error("the cache was never filled")
	}
}

// countingStore counts the reads of an Update's transaction that the
// frontier and the published keys are to spare: tree hashes and records.
type countingStore struct {
	prov.Store
	hashReads, recordReads *int
}

func (s countingStore) Update(ctx context.Context, fn func(context.Context, prov.Tx) error) error {
	return s.Store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		return fn(ctx, countingTx{tx, s})
	})
}

type countingTx struct {
	prov.Tx
	s countingStore
}

func (t countingTx) Hashes(ctx context.Context, indexes []int64) ([][]byte, error) {
	*t.s.hashReads++
	return t.Tx.Hashes(ctx, indexes)
}

func (t countingTx) Entries(ctx context.Context, from, to int64, fn func(prov.Entry) error) error {
	*t.s.recordReads++
	return t.Tx.Entries(ctx, from, to, fn)
}

// TestAppendFrontier: after a first append, appends by the same Log read
// neither tree hashes nor key records from the store, and a log appended
// to by another writer in between is still right.
func TestAppendFrontier(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "f.db"), sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	skey, vkey, _ := GenerateKey("test.example/frontier")
	if err := Init(ctx, s, "test.example/frontier", vkey); err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	var hashReads, recordReads int
	l, err := Open(ctx, countingStore{s, &hashReads, &recordReads}, Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, s, Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	b := l.NewBatcher(100)
	defer b.Close()
	n := 0
	recs := func(k int) [][]byte {
		var out [][]byte
		for range k {
			n++
			out = append(out, []byte(fmt.Sprintf(`{"type":"activity","id":"e%d","time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d"}}`, n, n)))
		}
		return out
	}
	if _, err := l.Append(ctx, recs(3)); err != nil {
		t.Fatal(err)
	}
	appendK := func(k int) {
		t.Helper()
		var err error
		switch k % 3 {
		case 0:
			_, err = l.Append(ctx, recs(k))
		case 1:
			_, err = l.AppendIdempotent(ctx, recs(k))
		case 2:
			_, err = b.Append(ctx, recs(k))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for k := 1; k <= 40; k++ {
		hashReads, recordReads = 0, 0
		appendK(k)
		if hashReads != 0 || recordReads != 0 {
			t.Errorf("append %d of %d records read the store: %d hash reads, %d record reads; want none", k, k, hashReads, recordReads)
		}
	}
	// Another writer appends every third time: the append after it reads
	// the key records it added, and the tree hashes it needs; the log is
	// right all the same.
	recordReads = 0
	for k := 1; k <= 60; k++ {
		appendK(k)
		if k%3 == 0 {
			if _, err := other.Append(ctx, recs(k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if recordReads != 19 {
		t.Errorf("60 appends, 19 after another writer's: %d record reads, want 19", recordReads)
	}
	if _, err := other.Verify(ctx, VerifyOptions{}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	size, _ := other.Size(ctx)
	root, err := other.TreeHash(ctx, size)
	if err != nil {
		t.Fatal(err)
	}
	var leaves []sumdb.Hash
	other.Entries(ctx, 0, size, func(e prov.Entry) error {
		leaves = append(leaves, sumdb.RecordHash(e.Data))
		return nil
	})
	if want := rootOf(leaves); root != want {
		t.Errorf("root %x, want %x (recomputed from the records)", root, want)
	}
}

// rootOf is the RFC 6962 root of leaf hashes, computed directly.
func rootOf(leaves []sumdb.Hash) sumdb.Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return sumdb.NodeHash(rootOf(leaves[:k]), rootOf(leaves[k:]))
}
