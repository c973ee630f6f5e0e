package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"slices"

	"github.com/prov-dev/prov"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// InclusionProof proves that the record at Index is in the tree of TreeSize
// records whose root is RootHash (RFC 9162, section 2.1.3). Hashes are
// base64 in JSON.
type InclusionProof struct {
	Index    int64    `json:"index"`
	TreeSize int64    `json:"tree_size"`
	LeafHash []byte   `json:"leaf_hash"`
	RootHash []byte   `json:"root_hash"`
	Proof    [][]byte `json:"proof"`
}

// ConsistencyProof proves that the tree of NewSize records extends the tree
// of OldSize records (RFC 9162, section 2.1.4).
type ConsistencyProof struct {
	OldSize int64    `json:"old_size"`
	NewSize int64    `json:"new_size"`
	OldRoot []byte   `json:"old_root"`
	NewRoot []byte   `json:"new_root"`
	Proof   [][]byte `json:"proof"`
}

// ProveInclusion proves that record index is in the tree of size records.
// A size of 0 means the latest checkpoint's size if it covers index, or else
// the log's current size.
//
// Proofs trust the committed tree hashes: the upper levels of the tree are
// kept in memory across calls (see hashCache), while Verify always reads
// and checks the stored hashes afresh.
func (l *Log) ProveInclusion(ctx context.Context, index, size int64) (p InclusionProof, err error) {
	if pr, ok := l.store.(prov.ProofReader); ok {
		return l.proveInclusionOnce(ctx, pr, index, size)
	}
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		n, err := tx.Size(ctx)
		if err != nil {
			return err
		}
		var latest prov.Checkpoint
		hasLatest := false
		if size == 0 {
			latest, err = tx.LatestCheckpoint(ctx)
			hasLatest = err == nil
		}
		if size, err = inclusionSize(index, size, n, latest, hasLatest); err != nil {
			return err
		}
		hr := l.newHashReader(ctx, tx, n, true)
		hr.extra = index
		p, err = proveWith(hr, index, size)
		return err
	})
	return p, err
}

// inclusionSize checks index and size against a log of n records and
// returns the tree size to prove index in (see ProveInclusion).
func inclusionSize(index, size, n int64, latest prov.Checkpoint, hasLatest bool) (int64, error) {
	if size == 0 {
		size = n
		if hasLatest && index < latest.Size {
			size = latest.Size
		}
	}
	switch {
	case index < 0 || index >= n:
		return 0, prov.Errorf(prov.NotFound, "no record at index %d: the log has %d records (0 to %d)", index, n, n-1)
	case size > n:
		return 0, prov.Errorf(prov.Invalid, "tree size %d is larger than the log (%d records)", size, n)
	case index >= size:
		return 0, prov.Errorf(prov.Invalid, "record %d is not in a tree of size %d: the size must be at least %d", index, size, index+1)
	}
	return size, nil
}

// proveWith proves index in the tree of size records, reading through hr
// (whose extra is index).
func proveWith(hr *hashReader, index, size int64) (InclusionProof, error) {
	rp, err := sumdb.ProveRecord(size, index, hr)
	if err != nil {
		return InclusionProof{}, err
	}
	if hr.extraHashes == nil { // the proof needed no stored hash
		var blobs [][]byte
		if hr.fetch != nil {
			blobs, err = hr.fetch(hr.ctx, []int64{index})
		} else {
			blobs, err = hr.tx.Hashes(hr.ctx, []int64{index})
		}
		if err != nil {
			return InclusionProof{}, err
		}
		hr.extraHashes = blobs[0]
	}
	if len(hr.extraHashes) < prov.HashSize {
		return InclusionProof{}, prov.Errorf(prov.Tampered, "record %d: its stored tree hashes are damaged: run 'prov verify'", index)
	}
	leaf := hr.extraHashes[:prov.HashSize:prov.HashSize]
	p := InclusionProof{Index: index, TreeSize: size, LeafHash: leaf, Proof: make([][]byte, len(rp))}
	for i := range rp {
		p.Proof[i] = rp[i][:]
	}
	root, err := rootFromInclusionProof(index, size, sumdb.Hash(leaf), rp)
	if err != nil {
		return InclusionProof{}, err
	}
	p.RootHash = root[:]
	return p, nil
}

// rootFromInclusionProof is the root of the tree of size leaves in which
// the leaf at index has the hash leaf and the inclusion proof rp (RFC 9162,
// section 2.1.3.2), computed without allocating.
func rootFromInclusionProof(index, size int64, leaf sumdb.Hash, rp sumdb.RecordProof) (sumdb.Hash, error) {
	if index < 0 || index >= size {
		return sumdb.Hash{}, prov.Errorf(prov.Internal, "record %d is not in a tree of size %d", index, size)
	}
	fn, sn, r := uint64(index), uint64(size-1), leaf
	for _, h := range rp {
		if sn == 0 {
			return sumdb.Hash{}, prov.Errorf(prov.Internal, "inclusion proof of record %d in tree %d is too long", index, size)
		}
		if fn&1 == 1 || fn == sn {
			r = sumdb.NodeHash(h, r)
			if fn&1 == 0 {
				for fn&1 == 0 && fn != 0 {
					fn >>= 1
					sn >>= 1
				}
			}
		} else {
			r = sumdb.NodeHash(r, h)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return sumdb.Hash{}, prov.Errorf(prov.Internal, "inclusion proof of record %d in tree %d is too short", index, size)
	}
	return r, nil
}

// proveInclusionOnce is ProveInclusion over a store that reads the size, the
// latest checkpoint and some records' hashes at once: it guesses the tree
// size (the last one proven against, or the size asked for), so that the
// hashes the proof needs come with them, and reads again only if the guess
// was wrong. Records below the log's size never change, so hashes read
// later belong to the same tree.
func (l *Log) proveInclusionOnce(ctx context.Context, pr prov.ProofReader, index, size int64) (InclusionProof, error) {
	guess := size
	if guess == 0 {
		guess = l.proofSize.Load()
	}
	want := []int64{index}
	if index >= 0 && index < guess {
		var rec indexRecorder
		sumdb.ProveRecord(guess, index, &rec) // stops at its read, with the indexes it needs
		out := make([]sumdb.Hash, len(rec.indexes))
		done := make([]bool, len(rec.indexes))
		if l.cache != nil {
			l.cache.lookup(rec.indexes, out, done, guess)
		}
		for j, i := range rec.indexes {
			if r, _ := recordOf(i); !done[j] && !slices.Contains(want, r) {
				want = append(want, r)
			}
		}
	}
	n, latest, hasLatest, blobs, err := pr.ReadForProof(ctx, want)
	if err != nil {
		return InclusionProof{}, err
	}
	asked := size
	if size, err = inclusionSize(index, size, n, latest, hasLatest); err != nil {
		return InclusionProof{}, err
	}
	if asked == 0 {
		l.proofSize.Store(size)
	}
	pre := make(map[int64][]byte, len(want))
	for j, r := range want {
		if blobs[j] != nil {
			pre[r] = blobs[j]
		}
	}
	hr := &hashReader{ctx: ctx, extra: index, extraHashes: pre[index], cache: l.cache, limit: n, fill: true, pre: pre,
		fetch: func(ctx context.Context, records []int64) ([][]byte, error) {
			_, _, _, blobs, err := pr.ReadForProof(ctx, records)
			if err != nil {
				return nil, err
			}
			for j, b := range blobs {
				if b == nil {
					return nil, prov.Errorf(prov.NotFound, "no record at index %d", records[j])
				}
			}
			return blobs, nil
		}}
	return proveWith(hr, index, size)
}

// indexRecorder is a sumdb.HashReader that records the indexes it is asked
// for and fails.
type indexRecorder struct{ indexes []int64 }

var errRecorded = errors.New("tlog: indexes recorded")

func (r *indexRecorder) ReadHashes(indexes []int64) ([]sumdb.Hash, error) {
	r.indexes = append(r.indexes, indexes...)
	return nil, errRecorded
}

// ProveConsistency proves that the tree of newSize records extends the tree
// of oldSize records. A newSize of 0 means the log's current size.
func (l *Log) ProveConsistency(ctx context.Context, oldSize, newSize int64) (p ConsistencyProof, err error) {
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		n, err := tx.Size(ctx)
		if err != nil {
			return err
		}
		if newSize == 0 {
			newSize = n
		}
		switch {
		case oldSize < 0 || newSize < 0:
			return prov.Errorf(prov.Invalid, "tree sizes must not be negative")
		case newSize > n:
			return prov.Errorf(prov.Invalid, "tree size %d is larger than the log (%d records)", newSize, n)
		case oldSize > newSize:
			return prov.Errorf(prov.Invalid, "old size %d is larger than new size %d: a log only grows", oldSize, newSize)
		}
		hr := l.newHashReader(ctx, tx, n, true)
		oldRoot, err := sumdb.TreeHash(oldSize, hr)
		if err != nil {
			return err
		}
		newRoot, err := sumdb.TreeHash(newSize, hr)
		if err != nil {
			return err
		}
		p = ConsistencyProof{OldSize: oldSize, NewSize: newSize, OldRoot: oldRoot[:], NewRoot: newRoot[:], Proof: [][]byte{}}
		if oldSize == 0 || oldSize == newSize {
			return nil // RFC 9162: the proof is empty
		}
		tp, err := sumdb.ProveTree(newSize, oldSize, hr)
		if err != nil {
			return err
		}
		for i := range tp {
			p.Proof = append(p.Proof, tp[i][:])
		}
		return nil
	})
	return p, err
}

// VerifyInclusion checks an inclusion proof with transparency-dev/merkle.
// A hash that is not 32 bytes makes the proof malformed (kind Invalid).
func VerifyInclusion(p InclusionProof) error {
	if p.Index < 0 || p.TreeSize < 0 {
		return prov.Errorf(prov.Invalid, "proof has a negative index or size")
	}
	if err := checkHashSizes("leaf hash", p.LeafHash, "root hash", p.RootHash, p.Proof); err != nil {
		return err
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.Index), uint64(p.TreeSize), p.LeafHash, p.Proof, p.RootHash); err != nil {
		return prov.Errorf(prov.Tampered, "inclusion proof for record %d in tree %d does not verify: %v", p.Index, p.TreeSize, err)
	}
	return nil
}

// VerifyConsistency checks a consistency proof with transparency-dev/merkle.
// A hash that is not 32 bytes makes the proof malformed (kind Invalid). Every
// tree extends the empty one: from OldSize 0 the proof must be empty and
// OldRoot the empty tree's hash, as ProveConsistency gives them.
func VerifyConsistency(p ConsistencyProof) error {
	if p.OldSize < 0 || p.NewSize < 0 {
		return prov.Errorf(prov.Invalid, "proof has a negative size")
	}
	if err := checkHashSizes("old root", p.OldRoot, "new root", p.NewRoot, p.Proof); err != nil {
		return err
	}
	if empty := sha256.Sum256(nil); p.OldSize == 0 && (len(p.Proof) != 0 || !bytes.Equal(p.OldRoot, empty[:])) {
		return prov.Errorf(prov.Tampered, "consistency proof from the empty tree does not verify: it must be empty, with the empty tree's hash as old root")
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(p.OldSize), uint64(p.NewSize), p.Proof, p.OldRoot, p.NewRoot); err != nil {
		return prov.Errorf(prov.Tampered, "consistency proof from %d to %d does not verify: %v", p.OldSize, p.NewSize, err)
	}
	return nil
}

// checkHashSizes refuses a proof with a hash that is not a SHA-256 hash:
// transparency-dev/merkle checks only the leaf's length, and would accept
// equal roots of any length between equal tree sizes.
func checkHashSizes(name1 string, h1 []byte, name2 string, h2 []byte, proof [][]byte) error {
	switch {
	case len(h1) != prov.HashSize:
		return prov.Errorf(prov.Invalid, "proof's %s is %d bytes, not a %d-byte SHA-256 hash", name1, len(h1), prov.HashSize)
	case len(h2) != prov.HashSize:
		return prov.Errorf(prov.Invalid, "proof's %s is %d bytes, not a %d-byte SHA-256 hash", name2, len(h2), prov.HashSize)
	}
	for i, h := range proof {
		if len(h) != prov.HashSize {
			return prov.Errorf(prov.Invalid, "proof hash %d is %d bytes, not a %d-byte SHA-256 hash", i, len(h), prov.HashSize)
		}
	}
	return nil
}
