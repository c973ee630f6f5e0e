package tlog_test

// Prov's proofs and checkpoints, checked by verifiers that share no code
// with the path that made them: golang.org/x/mod/sumdb/tlog and
// transparency-dev/merkle for proofs, x/mod's note and
// transparency-dev/formats for checkpoints, and roots recomputed by x/mod
// from the records' bytes.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

const xcOrigin = "example.com/prov/crosscheck"

// xcRecords returns n valid records of every type.
func xcRecords(t testing.TB, n int) [][]byte {
	t.Helper()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	out := make([][]byte, n)
	for i := range n {
		r := prov.Record{
			Type:   prov.RecordTypes[i%len(prov.RecordTypes)],
			ID:     fmt.Sprintf("evt-%04d", i),
			Time:   t0.Add(time.Duration(i) * time.Second),
			Agent:  &prov.Agent{ID: fmt.Sprintf("svc:worker-%d", i%3), Kind: "service"},
			Reason: fmt.Sprintf("crosscheck record %d", i),
		}
		switch r.Type {
		case prov.TypeChange:
			r.Generated = []prov.EntityRef{{ID: fmt.Sprintf(`pg:app/public.users/{"id":%d}`, i), Op: prov.Ops[i%len(prov.Ops)]}}
			r.Activity = &prov.Activity{ID: "migration:0042", Kind: "migration", Release: "v1.0"}
		case prov.TypeActivity:
			r.Activity = &prov.Activity{ID: fmt.Sprintf("run:%d", i), Kind: "job", Parameters: json.RawMessage(`{"batch":500}`)}
		case prov.TypeLineage:
			r.Used = []prov.EntityRef{{ID: "dataset:raw"}}
			r.Generated = []prov.EntityRef{{ID: "dataset:clean", Op: prov.OpWrite}}
		case prov.TypeKey: // a key record must state a key event
			r.Attributes = json.RawMessage(`{"action":"policy","require_signatures":false}`)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// xcRoots recomputes the root of every prefix of records with x/mod, from
// the bytes alone, and checks each against transparency-dev/merkle's
// compact range.
func xcRoots(t testing.TB, records [][]byte) []sumdb.Hash {
	t.Helper()
	roots := make([]sumdb.Hash, len(records)+1)
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	rng := rf.NewEmptyRange(0)
	hr := vecHashReader(records)
	for n := range roots {
		h, err := sumdb.TreeHash(int64(n), hr)
		if err != nil {
			t.Fatal(err)
		}
		roots[n] = h
		if n == 0 {
			continue
		}
		if err := rng.Append(rfc6962.DefaultHasher.HashLeaf(records[n-1]), nil); err != nil {
			t.Fatal(err)
		}
		if r, err := rng.GetRootHash(nil); err != nil || !bytes.Equal(r, h[:]) {
			t.Fatalf("size %d: x/mod root %x, merkle compact range %x (%v)", n, h, r, err)
		}
	}
	return roots
}

// xcVerifyInclusion checks p with both independent verifiers against root.
func xcVerifyInclusion(p tlog.InclusionProof, leaf []byte, root sumdb.Hash) (xmod, merkle error) {
	rp := make(sumdb.RecordProof, len(p.Proof))
	for i, h := range p.Proof {
		if len(h) != sumdb.HashSize {
			return fmt.Errorf("hash %d is %d bytes", i, len(h)), nil
		}
		copy(rp[i][:], h)
	}
	var lh sumdb.Hash
	copy(lh[:], leaf)
	xmod = sumdb.CheckRecord(rp, p.TreeSize, root, p.Index, lh)
	merkle = proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.Index), uint64(p.TreeSize), leaf, p.Proof, root[:])
	return xmod, merkle
}

// xcVerifyConsistency checks p with both independent verifiers against the
// two roots. x/mod has no proofs from the empty tree: for size 0 it is not
// asked, and the proof must be empty.
func xcVerifyConsistency(p tlog.ConsistencyProof, oldRoot, newRoot sumdb.Hash) (xmod, merkle error) {
	tp := make(sumdb.TreeProof, len(p.Proof))
	for i, h := range p.Proof {
		copy(tp[i][:], h)
	}
	if p.OldSize > 0 {
		xmod = sumdb.CheckTree(tp, p.NewSize, newRoot, p.OldSize, oldRoot)
	} else if len(p.Proof) != 0 {
		xmod = fmt.Errorf("a proof from the empty tree has %d hashes", len(p.Proof))
	}
	merkle = proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(p.OldSize), uint64(p.NewSize), p.Proof, oldRoot[:], newRoot[:])
	return xmod, merkle
}

// TestCrossCheck logs 130 records in batches of growing size, signing a
// checkpoint after each batch, then checks that
//   - the log's tree hash of every size is the root x/mod and merkle compute
//     from the records' bytes;
//   - every inclusion proof of every record in every tree size, and every
//     consistency proof between every two sizes, verifies with x/mod and with
//     transparency-dev/merkle against those independent roots;
//   - every checkpoint opens with x/mod's note.Open and the verifier key
//     alone, parses with transparency-dev/formats to the log's origin, size
//     and root, and an inclusion proof checks out against its root with x/mod;
//   - a proof, leaf or root with one bit flipped, or a shifted index, is
//     refused by both verifiers, and by Prov's own.
func TestCrossCheck(t *testing.T) {
	const n = 130
	ctx := context.Background()
	skey, vkey, err := tlog.GenerateKey(xcOrigin)
	if err != nil {
		t.Fatal(err)
	}
	l := vecNewLog(t, xcOrigin, skey, vkey)
	records := xcRecords(t, n)
	roots := xcRoots(t, records)

	var checkpoints []prov.Checkpoint
	for lo, batch := 0, 1; lo < n; lo, batch = lo+batch, batch+1 {
		hi := min(lo+batch, n)
		first, err := l.Append(ctx, records[lo:hi])
		if err != nil || first != int64(lo) {
			t.Fatalf("append %d..%d: first %d, %v", lo, hi, first, err)
		}
		c, created, err := l.Checkpoint(ctx)
		if err != nil || !created || c.Size != int64(hi) {
			t.Fatalf("checkpoint at %d: %+v %v %v", hi, c, created, err)
		}
		checkpoints = append(checkpoints, c)
	}

	leaves := make([][]byte, n)
	for i, r := range records {
		h := sumdb.RecordHash(r)
		leaves[i] = h[:]
	}
	for size := int64(0); size <= n; size++ {
		if got, err := l.TreeHash(ctx, size); err != nil || got != roots[size] {
			t.Fatalf("TreeHash(%d) = %x (%v), want %x", size, got, err, roots[size])
		}
	}

	proofs := 0
	for size := int64(1); size <= n; size++ {
		for i := range size {
			p, err := l.ProveInclusion(ctx, i, size)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(p.LeafHash, leaves[i]) {
				t.Fatalf("inclusion %d in %d: leaf hash %x, want %x", i, size, p.LeafHash, leaves[i])
			}
			if xmod, merkle := xcVerifyInclusion(p, leaves[i], roots[size]); xmod != nil || merkle != nil {
				t.Fatalf("inclusion %d in %d: x/mod %v, merkle %v", i, size, xmod, merkle)
			}
			proofs++
		}
	}
	for newSize := int64(1); newSize <= n; newSize++ {
		for oldSize := int64(0); oldSize <= newSize; oldSize++ {
			p, err := l.ProveConsistency(ctx, oldSize, newSize)
			if err != nil {
				t.Fatal(err)
			}
			if xmod, merkle := xcVerifyConsistency(p, roots[oldSize], roots[newSize]); xmod != nil || merkle != nil {
				t.Fatalf("consistency %d to %d: x/mod %v, merkle %v", oldSize, newSize, xmod, merkle)
			}
			proofs++
		}
	}
	t.Logf("%d proofs checked by x/mod and merkle", proofs)

	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range checkpoints {
		if _, err := note.Open(c.Note, note.VerifierList(v)); err != nil {
			t.Fatalf("checkpoint %d: note.Open: %v", c.Size, err)
		}
		cp, ext, _, err := log.ParseCheckpoint(c.Note, xcOrigin, v)
		if err != nil {
			t.Fatalf("checkpoint %d: formats: %v", c.Size, err)
		}
		if cp.Origin != xcOrigin || cp.Size != uint64(c.Size) || !bytes.Equal(cp.Hash, roots[c.Size][:]) || len(ext) != 0 {
			t.Fatalf("checkpoint %d: formats reads %q %d %x %q, want root %x", c.Size, cp.Origin, cp.Size, cp.Hash, ext, roots[c.Size])
		}
		var root sumdb.Hash
		copy(root[:], cp.Hash)
		index := c.Size / 2
		p, err := l.ProveInclusion(ctx, index, c.Size)
		if err != nil {
			t.Fatal(err)
		}
		if xmod, _ := xcVerifyInclusion(p, leaves[index], root); xmod != nil {
			t.Errorf("checkpoint %d: x/mod refuses record %d against its root: %v", c.Size, index, xmod)
		}
		if _, _, _, err := log.ParseCheckpoint(c.Note, "example.com/other", v); err == nil {
			t.Errorf("checkpoint %d: formats accepts it for another origin", c.Size)
		}
	}
	_, otherKey, err := tlog.GenerateKey(xcOrigin)
	if err != nil {
		t.Fatal(err)
	}
	other, err := note.NewVerifier(otherKey)
	if err != nil {
		t.Fatal(err)
	}
	last := checkpoints[len(checkpoints)-1]
	if _, _, _, err := log.ParseCheckpoint(last.Note, xcOrigin, other); err == nil {
		t.Error("formats accepts the checkpoint with another key of the same name")
	}
	// Every one-bit edit of the signed checkpoint is refused, or says the
	// same: x/mod decodes signatures with non-strict base64, so a flip in
	// the unused low bits of the last base64 digit decodes to the same
	// signature (the signed text cannot change that way).
	for i := range len(last.Note) * 8 {
		bad := slices.Clone(last.Note)
		bad[i/8] ^= 1 << (i % 8)
		n, err := note.Open(bad, note.VerifierList(v))
		if err != nil {
			continue
		}
		cp, _, _, err := log.ParseCheckpoint(bad, xcOrigin, v)
		if err != nil || n.Text != tlog.CheckpointText(xcOrigin, last.Size, last.Root) || cp.Size != uint64(last.Size) || !bytes.Equal(cp.Hash, last.Root[:]) {
			t.Errorf("checkpoint with bit %d flipped opens as %q (formats: %v)", i, n.Text, err)
		}
	}

	// Tampering: consistency checkpoint to checkpoint, each then altered.
	mutations := 0
	for i := 1; i < len(checkpoints); i++ {
		oldC, newC := checkpoints[i-1], checkpoints[i]
		p, err := l.ProveConsistency(ctx, oldC.Size, newC.Size)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range xcConsistencyMutations(p) {
			mutations++
			var oldRoot, newRoot sumdb.Hash
			copy(oldRoot[:], m.p.OldRoot)
			copy(newRoot[:], m.p.NewRoot)
			xmod, merkle := xcVerifyConsistency(m.p, oldRoot, newRoot)
			if xmod == nil || merkle == nil || tlog.VerifyConsistency(m.p) == nil {
				t.Errorf("consistency %d to %d, %s: x/mod %v, merkle %v, Prov accepts too", oldC.Size, newC.Size, m.what, xmod, merkle)
			}
		}
	}
	for _, c := range []struct{ index, size int64 }{{0, 1}, {0, 2}, {1, 2}, {5, 7}, {63, 64}, {64, 65}, {0, n}, {77, n}, {n - 1, n}} {
		p, err := l.ProveInclusion(ctx, c.index, c.size)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range xcInclusionMutations(p) {
			mutations++
			var root sumdb.Hash
			copy(root[:], m.p.RootHash)
			if m.p.TreeSize < 0 || m.p.Index < 0 || m.p.Index >= m.p.TreeSize {
				if tlog.VerifyInclusion(m.p) == nil {
					t.Errorf("inclusion %d in %d, %s: Prov accepts", c.index, c.size, m.what)
				}
				continue
			}
			xmod, merkle := xcVerifyInclusion(m.p, m.p.LeafHash, root)
			if xmod == nil || merkle == nil || tlog.VerifyInclusion(m.p) == nil {
				t.Errorf("inclusion %d in %d, %s: x/mod %v, merkle %v, or Prov accepts", c.index, c.size, m.what, xmod, merkle)
			}
		}
	}
	t.Logf("%d altered proofs refused by x/mod, merkle and Prov", mutations)
}

type xcInclusionMutation struct {
	what string
	p    tlog.InclusionProof
}

type xcConsistencyMutation struct {
	what string
	p    tlog.ConsistencyProof
}

func flipped(h []byte, bit int) []byte {
	h = slices.Clone(h)
	h[bit/8%len(h)] ^= 1 << (bit % 8)
	return h
}

// xcInclusionMutations returns p with one thing wrong: every proof hash, the
// leaf and the root with a bit flipped, and the index moved.
func xcInclusionMutations(p tlog.InclusionProof) []xcInclusionMutation {
	var out []xcInclusionMutation
	for i := range p.Proof {
		q := p
		q.Proof = slices.Clone(p.Proof)
		q.Proof[i] = flipped(q.Proof[i], 7*i+3)
		out = append(out, xcInclusionMutation{fmt.Sprintf("proof hash %d flipped", i), q})
	}
	q := p
	q.LeafHash = flipped(p.LeafHash, 200)
	out = append(out, xcInclusionMutation{"leaf flipped", q})
	q = p
	q.RootHash = flipped(p.RootHash, 0)
	out = append(out, xcInclusionMutation{"root flipped", q})
	for _, d := range []int64{-1, 1} {
		q = p
		q.Index += d
		out = append(out, xcInclusionMutation{fmt.Sprintf("index %+d", d), q})
	}
	if len(p.Proof) > 0 {
		q = p
		q.Proof = p.Proof[:len(p.Proof)-1]
		out = append(out, xcInclusionMutation{"proof truncated", q})
	}
	q = p
	q.Proof = append(slices.Clone(p.Proof), p.RootHash)
	out = append(out, xcInclusionMutation{"proof extended", q})
	return out
}

// xcConsistencyMutations returns p with one thing wrong.
func xcConsistencyMutations(p tlog.ConsistencyProof) []xcConsistencyMutation {
	var out []xcConsistencyMutation
	for i := range p.Proof {
		q := p
		q.Proof = slices.Clone(p.Proof)
		q.Proof[i] = flipped(q.Proof[i], 5*i+1)
		out = append(out, xcConsistencyMutation{fmt.Sprintf("proof hash %d flipped", i), q})
	}
	q := p
	q.OldRoot = flipped(p.OldRoot, 100)
	out = append(out, xcConsistencyMutation{"old root flipped", q})
	q = p
	q.NewRoot = flipped(p.NewRoot, 255)
	out = append(out, xcConsistencyMutation{"new root flipped", q})
	q = p
	q.OldRoot, q.NewRoot = p.NewRoot, p.OldRoot
	out = append(out, xcConsistencyMutation{"roots swapped", q})
	if len(p.Proof) > 0 {
		q = p
		q.Proof = p.Proof[1:]
		out = append(out, xcConsistencyMutation{"first proof hash dropped", q})
	}
	return out
}
