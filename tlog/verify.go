package tlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"

	"github.com/prov-dev/prov"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// Problem kinds that Verify reports.
const (
	ProblemEdited     = "edited"     // a record's bytes are not the bytes that were logged
	ProblemMissing    = "missing"    // a record inside the log is gone
	ProblemReordered  = "reordered"  // records were moved or swapped
	ProblemTruncated  = "truncated"  // records at the end are gone
	ProblemRewritten  = "rewritten"  // records and their hashes were rewritten together: only a signed checkpoint shows it
	ProblemHashes     = "hashes"     // a record's stored tree hashes were altered
	ProblemCheckpoint = "checkpoint" // a stored checkpoint is forged or damaged
	ProblemSignature  = "signature"  // a producer signature does not verify, its key was not valid, or a required one is missing
)

// Problem is the first damage Verify found.
type Problem struct {
	Index  int64  `json:"index"`            // the first bad record (for truncation: the first missing one)
	What   string `json:"what"`             // one of the Problem… constants
	Detail string `json:"detail"`           // a sentence for people
	Agent  string `json:"agent,omitempty"`  // signature problems: the agent the record names
	KeyID  string `json:"key_id,omitempty"` // signature problems: the key at fault
}

// Report is the outcome of Verify.
type Report struct {
	Origin      string   `json:"origin"`
	Size        int64    `json:"size"`
	Root        []byte   `json:"root"`
	Checkpoints int      `json:"checkpoints"`          // stored checkpoints verified
	Saved       *int64   `json:"saved_size,omitempty"` // size of the caller's checkpoint the log extends
	Signed      int64    `json:"signed"`               // signed records whose signatures were checked
	Keys        int      `json:"keys"`                 // agents' keys in the log's key records
	Problem     *Problem `json:"problem,omitempty"`
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Checkpoint is a signed checkpoint saved earlier: the log must still
	// extend it.
	Checkpoint []byte
}

// Verify recomputes every leaf and every tree hash from the stored record
// bytes, checks each stored checkpoint's signature and root, and (with
// opts.Checkpoint) that the log still extends a checkpoint saved earlier.
//
// It returns an error of kind Tampered, together with a Report whose Problem
// names the first bad record and what is wrong, if it finds damage; any other
// error means verification could not run. An intact log always verifies.
func (l *Log) Verify(ctx context.Context, opts VerifyOptions) (rep Report, err error) {
	rep.Origin = l.origin
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		v := &verification{log: l, tx: tx}
		rep, err = v.run(ctx, opts)
		return err
	})
	if err != nil {
		return rep, err
	}
	if p := rep.Problem; p != nil {
		return rep, &prov.Error{Kind: prov.Tampered, Message: fmt.Sprintf("log damaged at record %d (%s): %s", p.Index, p.What, p.Detail)}
	}
	return rep, nil
}

// target is a tree size whose root the recomputed tree must reproduce.
type target struct {
	size int64
	root sumdb.Hash
	what string // "checkpoint" or "saved checkpoint"
}

type verification struct {
	log    *Log
	tx     prov.ReadTx
	leaves []sumdb.Hash // recomputed leaf hashes, for locating damage
	sigs   *sigCheck
}

var errStop = errors.New("stop")

func (v *verification) run(ctx context.Context, opts VerifyOptions) (rep Report, err error) {
	l := v.log
	rep.Origin = l.origin
	size, err := v.tx.Size(ctx)
	if err != nil {
		return rep, err
	}
	rep.Size = size
	problem := func(p Problem) (Report, error) {
		if v.sigs != nil {
			if sp := v.sigs.first(); sp != nil && sp.Index < p.Index {
				p = *sp
			} else if sp != nil && sp.Index == p.Index {
				p.Detail += "; and " + sp.Detail
				p.Agent, p.KeyID = sp.Agent, sp.KeyID
			}
		}
		rep.Problem = &p
		return rep, nil
	}

	// Checkpoints: signatures first, they are cheap and need no records.
	var targets []target
	err = v.tx.Checkpoints(ctx, func(c prov.Checkpoint) error {
		s, root, err := l.OpenCheckpoint(c.Note)
		switch {
		case err != nil:
			rep.Problem = &Problem{Index: min(c.Size, size), What: ProblemCheckpoint, Detail: fmt.Sprintf("stored checkpoint for size %d: %v", c.Size, err)}
		case s != c.Size || root != c.Root:
			rep.Problem = &Problem{Index: min(c.Size, size), What: ProblemCheckpoint, Detail: fmt.Sprintf("stored checkpoint for size %d: its signed text says size %d and another root", c.Size, s)}
		default:
			targets = append(targets, target{size: s, root: root, what: "checkpoint"})
			return nil
		}
		return errStop
	})
	if errors.Is(err, errStop) {
		return rep, nil
	}
	if err != nil {
		return rep, err
	}
	rep.Checkpoints = len(targets)
	if opts.Checkpoint != nil {
		s, root, err := l.OpenCheckpoint(opts.Checkpoint)
		if err != nil {
			return rep, err // the caller's file is bad, not the log
		}
		targets = append(targets, target{size: s, root: root, what: "saved checkpoint"})
		rep.Saved = &s
	}
	sort.SliceStable(targets, func(i, j int) bool { return targets[i].size < targets[j].size })
	for _, t := range targets {
		if t.size > size {
			return problem(Problem{Index: size, What: ProblemTruncated,
				Detail: fmt.Sprintf("the log has %d records, but a %s was signed for %d: records %d to %d are gone", size, t.what, t.size, size, t.size-1)})
		}
	}

	// Producer signatures: the keys of the whole log first (a revocation as
	// compromised reaches back), then each record as it is read.
	ring, kp, err := verifyKeys(ctx, v.tx, size)
	if err != nil {
		return rep, err
	}
	rep.Keys = len(ring.keys)
	v.sigs = newSigCheck(ring)
	defer v.sigs.stop()
	if kp != nil {
		v.sigs.report(*kp)
	}

	// Records: recompute every leaf and every stored hash.
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng := rf.NewEmptyRange(0)
	next, ti, good := int64(0), 0, int64(0) // good: largest size whose signed root matched
	for ti < len(targets) && targets[ti].size == 0 {
		if targets[ti].root != emptyRoot() {
			return problem(Problem{Index: 0, What: ProblemCheckpoint, Detail: "a checkpoint for the empty log has a root that is not the empty tree's"})
		}
		ti++
	}
	v.leaves = make([]sumdb.Hash, 0, size)
	var found *Problem
	var bad *nodeMismatch
	each := func(fn func(prov.Entry) error) error { return v.tx.Entries(ctx, 0, size, fn) }
	if lr, ok := v.tx.(prov.LeafReader); ok {
		each = func(fn func(prov.Entry) error) error {
			return lr.Leaves(ctx, 0, size, func(i int64, data, hashes []byte) error {
				return fn(prov.Entry{Index: i, Data: data, Hashes: hashes})
			})
		}
	}
	err = each(func(e prov.Entry) error {
		n := e.Index
		if n != next {
			found = &Problem{Index: next, What: ProblemMissing, Detail: fmt.Sprintf("record %d is missing: the next stored record is %d", next, n)}
			return errStop
		}
		if len(e.Hashes) != storedHashCount(n)*prov.HashSize {
			found = &Problem{Index: n, What: ProblemHashes, Detail: fmt.Sprintf("record %d has %d bytes of stored tree hashes, want %d", n, len(e.Hashes), storedHashCount(n)*prov.HashSize)}
			return errStop
		}
		v.sigs.check(n, e.Data)
		leaf := sumdb.RecordHash(e.Data)
		v.leaves = append(v.leaves, leaf)
		if !bytes.Equal(leaf[:], e.Hashes[:prov.HashSize]) {
			found = &Problem{Index: n, What: ProblemEdited}
			return errStop
		}
		err := rng.Append(leaf[:], func(id compact.NodeID, h []byte) {
			if stored := e.Hashes[int(id.Level)*prov.HashSize:][:prov.HashSize]; bad == nil && !bytes.Equal(h, stored) {
				bad = &nodeMismatch{level: int(id.Level), index: int64(id.Index), record: n, stored: bytes.Clone(stored)}
			}
		})
		if err != nil {
			return err
		}
		if bad != nil {
			return errStop
		}
		next++
		for ti < len(targets) && targets[ti].size == next {
			t := targets[ti]
			root, err := rng.GetRootHash(nil)
			if err != nil {
				return err
			}
			if !bytes.Equal(root, t.root[:]) {
				found = &Problem{Index: good, What: ProblemRewritten, Detail: fmt.Sprintf(
					"the records no longer hash to the root of the %s for size %d: a record from %d to %d was rewritten together with its stored hashes", t.what, t.size, good, t.size-1)}
				return errStop
			}
			good = t.size
			ti++
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return rep, err
	}
	v.sigs.stop()
	rep.Signed = v.sigs.signed
	switch {
	case found != nil && found.What == ProblemEdited:
		return problem(v.edited(ctx, found.Index, size))
	case found != nil:
		return problem(*found)
	case bad != nil:
		return problem(v.locate(ctx, *bad, size))
	case next < size: // unreachable unless the store lies about its size
		return problem(Problem{Index: next, What: ProblemMissing, Detail: fmt.Sprintf("the store reports %d records but holds only %d", size, next)})
	case v.sigs.first() != nil:
		return problem(*v.sigs.first())
	}
	root := emptyRoot()
	if size > 0 {
		r, err := rng.GetRootHash(nil)
		if err != nil {
			return rep, err
		}
		copy(root[:], r)
	}
	rep.Root = root[:]
	return rep, nil
}

func emptyRoot() sumdb.Hash { return sha256.Sum256(nil) }

// edited explains a record whose bytes do not hash to its stored leaf hash:
// either other bytes were written in place (edited), or the bytes of
// another record were moved here (reordered).
func (v *verification) edited(ctx context.Context, n, size int64) Problem {
	leaf := v.leaves[n]
	var from int64 = -1
	_ = v.tx.Entries(ctx, 0, size, func(e prov.Entry) error {
		if e.Index != n && len(e.Hashes) >= prov.HashSize && bytes.Equal(e.Hashes[:prov.HashSize], leaf[:]) {
			from = e.Index
			return errStop
		}
		return nil
	})
	if from >= 0 {
		return Problem{Index: n, What: ProblemReordered, Detail: fmt.Sprintf("record %d holds the bytes that were logged at index %d", n, from)}
	}
	return Problem{Index: n, What: ProblemEdited, Detail: fmt.Sprintf("the stored bytes of record %d are not the bytes that were logged (their hash differs from the logged leaf hash)", n)}
}

type nodeMismatch struct {
	level  int
	index  int64  // node index at its level
	record int64  // the record that stores it
	stored []byte // the stored hash
}

// locate explains the first stored inner hash that differs from the hash
// recomputed from the records below it. Every leaf matched its stored leaf
// hash and, the nodes being checked in order, both halves of this node
// matched too. If the stored hash joins one half with a subtree hash stored
// elsewhere in the log, whole records were moved together with their stored
// hashes (reordered); otherwise the stored hash itself was altered.
func (v *verification) locate(ctx context.Context, m nodeMismatch, size int64) Problem {
	lo, hi := m.index<<uint(m.level), (m.index+1)<<uint(m.level)
	mid := lo + (hi-lo)/2
	left, right := subtreeHash(v.leaves[lo:mid]), subtreeHash(v.leaves[mid:hi])
	level, moved := m.level-1, false
	_ = v.tx.Entries(ctx, 0, size, func(e prov.Entry) error {
		n := storedHashCount(e.Index)
		if n <= level || len(e.Hashes) != n*prov.HashSize {
			return nil
		}
		c := e.Hashes[level*prov.HashSize:][:prov.HashSize]
		if bytes.Equal(rfc6962.DefaultHasher.HashChildren(c, right), m.stored) || bytes.Equal(rfc6962.DefaultHasher.HashChildren(left, c), m.stored) {
			moved = true
			return errStop
		}
		return nil
	})
	if moved {
		return Problem{Index: lo, What: ProblemReordered, Detail: fmt.Sprintf(
			"records %d to %d are not the records that were logged there: records were moved or reordered together with their stored hashes", lo, hi-1)}
	}
	return Problem{Index: m.record, What: ProblemHashes, Detail: fmt.Sprintf(
		"record %d's stored hash of records %d to %d differs from the hash of their bytes, while each half matches: a stored tree hash was altered", m.record, lo, hi-1)}
}

// subtreeHash returns the RFC 6962 hash of a complete subtree's leaves.
func subtreeHash(leaves []sumdb.Hash) []byte {
	if len(leaves) == 1 {
		return leaves[0][:]
	}
	h := len(leaves) / 2
	return rfc6962.DefaultHasher.HashChildren(subtreeHash(leaves[:h]), subtreeHash(leaves[h:]))
}
