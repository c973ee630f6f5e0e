package client

import (
	"bytes"
	"context"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
	"golang.org/x/mod/sumdb/note"
)

// Checkpoint is a checkpoint whose signature was checked.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   [prov.HashSize]byte
	Note   []byte // the signed note, exactly as signed
}

// OpenCheckpoint checks a signed checkpoint with the log's verifier v and
// parses it. It fails with kind Tampered if the signature does not verify or
// the checkpoint names another log than v, and Invalid if it is not a
// checkpoint.
func OpenCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, prov.Errorf(prov.Tampered, "the checkpoint's signature does not verify with the key of %q: %v", v.Name(), err)
	}
	origin, size, root, _, err := tlog.ParseCheckpointText(n.Text)
	if err != nil {
		return Checkpoint{}, prov.Errorf(prov.Invalid, "%v", err)
	}
	if origin != v.Name() {
		return Checkpoint{}, prov.Errorf(prov.Tampered, "the checkpoint is for the log %q, not %q", origin, v.Name())
	}
	return Checkpoint{Origin: origin, Size: size, Root: root, Note: signed}, nil
}

// VerifiedCheckpoint fetches the latest checkpoint and checks it with the
// log's verifier v (see OpenCheckpoint).
func (c *Client) VerifiedCheckpoint(ctx context.Context, v note.Verifier) (Checkpoint, error) {
	signed, err := c.Checkpoint(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	return OpenCheckpoint(signed, v)
}

// CoveringWait is how long ProveInclusion and ProveConsistency wait for a
// signed checkpoint that covers the tree they prove (the server signs one
// every second by default).
var CoveringWait = 10 * time.Second

// checkpointCovering returns a verified checkpoint of at least size
// records, waiting up to CoveringWait for the server to sign one.
func (c *Client) checkpointCovering(ctx context.Context, v note.Verifier, size int64) (Checkpoint, error) {
	deadline := time.Now().Add(CoveringWait)
	for {
		cp, err := c.VerifiedCheckpoint(ctx, v)
		if err != nil || cp.Size >= size {
			return cp, err
		}
		if time.Now().After(deadline) {
			return cp, prov.Errorf(prov.Unavailable, "no signed checkpoint covers a tree of %d records yet (the latest covers %d): retry once the server has signed one", size, cp.Size)
		}
		t := time.NewTimer(250 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return cp, prov.Errorf(prov.Unavailable, "waiting for a checkpoint: %v", context.Cause(ctx))
		case <-t.C:
		}
	}
}

// tieToCheckpoint checks that root is the root of the tree of size records
// whose extension cp signs: equal to cp's root, or proved consistent with
// it by a proof from the server, checked here.
func (c *Client) tieToCheckpoint(ctx context.Context, size int64, root []byte, cp Checkpoint) error {
	if size == cp.Size {
		if !bytes.Equal(root, cp.Root[:]) {
			return prov.Errorf(prov.Tampered, "the server's root of the tree of %d records is not the root its signed checkpoint states", size)
		}
		return nil
	}
	p, err := c.ConsistencyProof(ctx, size, cp.Size)
	if err != nil {
		return err
	}
	if p.OldSize != size || p.NewSize != cp.Size {
		return prov.Errorf(prov.Tampered, "asked for a consistency proof from %d to %d, the server sent one from %d to %d", size, cp.Size, p.OldSize, p.NewSize)
	}
	if !bytes.Equal(p.OldRoot, root) || !bytes.Equal(p.NewRoot, cp.Root[:]) {
		return prov.Errorf(prov.Tampered, "the server's roots of the trees of %d and %d records do not match its proof and signed checkpoint", size, cp.Size)
	}
	return tlog.VerifyConsistency(p)
}

// ProveInclusion fetches the proof that record index is in the tree of
// size records (0: the latest signed checkpoint's size, or the first
// checkpoint to cover index) and checks it here: the proof itself, and its
// root against a checkpoint signed with the log's verifier v (directly, or
// by a consistency proof to it, also checked here). It returns the proof
// and the checkpoint it was checked against. A proof that does not check
// is an error of kind Tampered.
func (c *Client) ProveInclusion(ctx context.Context, v note.Verifier, index, size int64) (tlog.InclusionProof, Checkpoint, error) {
	need := max(size, index+1)
	cp, err := c.VerifiedCheckpoint(ctx, v)
	if err == nil && cp.Size < need {
		// Beyond the checkpoint: the server says if it is beyond the log,
		// else a checkpoint that covers it is awaited.
		if _, err := c.InclusionProof(ctx, index, size); err != nil {
			return tlog.InclusionProof{}, cp, err
		}
		cp, err = c.checkpointCovering(ctx, v, need)
	}
	if err != nil {
		return tlog.InclusionProof{}, cp, err
	}
	if size == 0 {
		size = cp.Size
	}
	p, err := c.InclusionProof(ctx, index, size)
	if err != nil {
		return p, cp, err
	}
	if p.Index != index || p.TreeSize != size {
		return p, cp, prov.Errorf(prov.Tampered, "asked for the proof of record %d in the tree of %d, the server sent one of record %d in %d", index, size, p.Index, p.TreeSize)
	}
	if err := tlog.VerifyInclusion(p); err != nil {
		return p, cp, err
	}
	return p, cp, c.tieToCheckpoint(ctx, size, p.RootHash, cp)
}

// ProveConsistency fetches the proof that the tree of newSize records
// extends the tree of oldSize records and checks it here, with the new
// root against a checkpoint signed with the log's verifier v (see
// ProveInclusion).
func (c *Client) ProveConsistency(ctx context.Context, v note.Verifier, oldSize, newSize int64) (tlog.ConsistencyProof, Checkpoint, error) {
	if oldSize > newSize {
		return tlog.ConsistencyProof{}, Checkpoint{}, prov.Errorf(prov.Invalid, "the old size %d is larger than the new size %d", oldSize, newSize)
	}
	cp, err := c.VerifiedCheckpoint(ctx, v)
	if err == nil && cp.Size < newSize {
		if _, err := c.ConsistencyProof(ctx, oldSize, newSize); err != nil {
			return tlog.ConsistencyProof{}, cp, err
		}
		cp, err = c.checkpointCovering(ctx, v, newSize)
	}
	if err != nil {
		return tlog.ConsistencyProof{}, cp, err
	}
	p, err := c.ConsistencyProof(ctx, oldSize, newSize)
	if err != nil {
		return p, cp, err
	}
	if p.OldSize != oldSize || p.NewSize != newSize {
		return p, cp, prov.Errorf(prov.Tampered, "asked for a consistency proof from %d to %d, the server sent one from %d to %d", oldSize, newSize, p.OldSize, p.NewSize)
	}
	if err := tlog.VerifyConsistency(p); err != nil {
		return p, cp, err
	}
	return p, cp, c.tieToCheckpoint(ctx, newSize, p.NewRoot, cp)
}

// ServerKey fetches the log's verifier key from the server (see Key) and
// returns it as a verifier, checking that it names the server's log. It is
// trust on first use: compare the key with the one the log's operator
// published.
func (c *Client) ServerKey(ctx context.Context) (note.Verifier, Key, error) {
	k, err := c.Key(ctx)
	if err != nil {
		return nil, k, err
	}
	v, err := note.NewVerifier(k.VerifierKey)
	if err != nil {
		return nil, k, prov.Errorf(prov.Invalid, "the server's verifier key is not a signed-note verifier key: %v", err)
	}
	if v.Name() != k.Origin {
		return nil, k, prov.Errorf(prov.Tampered, "the server's verifier key names the log %q, the server says it serves %q", v.Name(), k.Origin)
	}
	return v, k, nil
}
