package client_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	sumdb "golang.org/x/mod/sumdb/tlog"
)

// FuzzInclusionAnswer: whatever a server answers to an inclusion proof
// request, the client accepts it only if it proves the log's true leaf at
// the index asked for, in a tree the signed checkpoint vouches for.
func FuzzInclusionAnswer(f *testing.F) {
	fx := newFixture(f)
	fx.fill(f, 7)
	ctx := context.Background()
	c := fx.client(f, fx.read)
	c.Retries = 0
	for i := range int64(7) {
		p, err := c.InclusionProof(ctx, i, 7)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), mustJSON(p))
	}
	f.Add(uint8(3), []byte(`{"index":3,"tree_size":7,"leaf_hash":"","root_hash":"","proof":[]}`))
	f.Fuzz(func(t *testing.T, index uint8, answer []byte) {
		idx := int64(index % 7)
		fx.tamper = func(r *http.Request, b []byte) []byte {
			if r.URL.Path == "/api/v1/proofs/inclusion" {
				return answer
			}
			return b
		}
		defer func() { fx.tamper = nil }()
		p, cp, err := c.ProveInclusion(ctx, fx.verifier, idx, 0)
		if err != nil {
			return
		}
		e, gerr := fx.log.Get(ctx, idx)
		if gerr != nil {
			t.Fatal(gerr)
		}
		leaf := sumdb.RecordHash(e.Data)
		if !bytes.Equal(p.LeafHash, leaf[:]) || p.Index != idx || p.TreeSize != cp.Size {
			t.Fatalf("accepted a proof of leaf %x at %d in %d; the log's leaf is %x", p.LeafHash, p.Index, p.TreeSize, leaf)
		}
	})
}

// FuzzConsistencyAnswer: the client accepts a consistency proof only if its
// old root is the log's true root of the old tree.
func FuzzConsistencyAnswer(f *testing.F) {
	fx := newFixture(f)
	fx.fill(f, 7)
	ctx := context.Background()
	c := fx.client(f, fx.read)
	c.Retries = 0
	for old := range int64(8) {
		p, err := c.ConsistencyProof(ctx, old, 7)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(old), mustJSON(p))
	}
	f.Fuzz(func(t *testing.T, old uint8, answer []byte) {
		o := int64(old % 8)
		fx.tamper = func(r *http.Request, b []byte) []byte {
			if r.URL.Path == "/api/v1/proofs/consistency" {
				return answer
			}
			return b
		}
		defer func() { fx.tamper = nil }()
		p, _, err := c.ProveConsistency(ctx, fx.verifier, o, 7)
		if err != nil {
			return
		}
		root, rerr := fx.log.TreeHash(ctx, o)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if !bytes.Equal(p.OldRoot, root[:]) {
			t.Fatalf("accepted old root %x of tree %d; the log's is %x", p.OldRoot, o, root)
		}
	})
}
