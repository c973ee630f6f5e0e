package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"

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
func (l *Log) ProveInclusion(ctx context.Context, index, size int64) (p InclusionProof, err error) {
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		n, err := tx.Size(ctx)
		if err != nil {
			return err
		}
		if size == 0 {
			size = n
			if c, err := tx.LatestCheckpoint(ctx); err == nil && index < c.Size {
				size = c.Size
			}
		}
		switch {
		case index < 0 || index >= n:
			return prov.Errorf(prov.NotFound, "no record at index %d: the log has %d records (0 to %d)", index, n, n-1)
		case size > n:
			return prov.Errorf(prov.Invalid, "tree size %d is larger than the log (%d records)", size, n)
		case index >= size:
			return prov.Errorf(prov.Invalid, "record %d is not in a tree of size %d: the size must be at least %d", index, size, index+1)
		}
		hr := newHashReader(ctx, tx)
		hr.extra = index
		rp, err := sumdb.ProveRecord(size, index, hr)
		if err != nil {
			return err
		}
		if hr.extraHashes == nil { // the proof needed no stored hash
			blobs, err := tx.Hashes(ctx, []int64{index})
			if err != nil {
				return err
			}
			hr.extraHashes = blobs[0]
		}
		if len(hr.extraHashes) < prov.HashSize {
			return prov.Errorf(prov.Tampered, "record %d: its stored tree hashes are damaged: run 'prov verify'", index)
		}
		leaf := hr.extraHashes[:prov.HashSize:prov.HashSize]
		p = InclusionProof{Index: index, TreeSize: size, LeafHash: leaf, Proof: make([][]byte, len(rp))}
		for i := range rp {
			p.Proof[i] = rp[i][:]
		}
		p.RootHash, err = proof.RootFromInclusionProof(rfc6962.DefaultHasher, uint64(index), uint64(size), leaf, p.Proof)
		return err
	})
	return p, err
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
		hr := newHashReader(ctx, tx)
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
