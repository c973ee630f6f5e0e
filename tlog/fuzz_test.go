package tlog_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/prov-dev/prov/tlog"
	"github.com/transparency-dev/formats/log"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// FuzzParseCheckpointText: never panics; accepted text has an origin and a
// size that is not negative, CheckpointText re-formats it byte for byte
// (followed by its extension lines), and transparency-dev/formats reads the
// same origin, size and root from it.
func FuzzParseCheckpointText(f *testing.F) {
	root := sha256.Sum256([]byte("root"))
	b64 := base64.StdEncoding.EncodeToString(root[:])
	for _, s := range []string{
		tlog.CheckpointText("example.com/prov/app", 42, root),
		tlog.CheckpointText("example.com/prov/app", 0, sha256.Sum256(nil)),
		"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
		"go.sum database tree\n69959272\nL6xGIG9BJ5WLe0paJgb2RVNCdNi6wVyMUVOfn9Oo/8s=\n",
		"o\n1\n" + b64 + "\next one\next two\n",
		"o\n1\n" + b64 + "\n\n",
		"o\n01\n" + b64 + "\n",
		"o\n-0\n" + b64 + "\n",
		"o\n+1\n" + b64 + "\n",
		"o\n9223372036854775808\n" + b64 + "\n",
		"o\n1\n" + strings.TrimRight(b64, "=") + "\n",
		"o\n1\n" + b64[:len(b64)-2] + "B=\n",
		"o\n1\n" + b64,
		"o\r\n1\r\n" + b64 + "\r\n",
		"\n1\n" + b64 + "\n",
		"",
		"\n\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		origin, size, root, ext, err := tlog.ParseCheckpointText(text)
		if err != nil {
			return
		}
		if origin == "" || size < 0 {
			t.Fatalf("accepted origin %q, size %d", origin, size)
		}
		want := tlog.CheckpointText(origin, size, root)
		for _, x := range ext {
			if x == "" || strings.Contains(x, "\n") {
				t.Fatalf("extension line %q", x)
			}
			want += x + "\n"
		}
		if want != text {
			t.Fatalf("parsed %q, which re-formats as %q", text, want)
		}
		var c log.Checkpoint
		if _, err := c.Unmarshal([]byte(text)); err != nil {
			t.Fatalf("accepted, transparency-dev/formats refuses: %v", err)
		}
		if c.Origin != origin || c.Size != uint64(size) || !bytes.Equal(c.Hash, root[:]) {
			t.Fatalf("formats reads %q %d %x, tlog %q %d %x", c.Origin, c.Size, c.Hash, origin, size, root)
		}
	})
}

// fuzzHashes cuts b into 32-byte hashes; a shorter tail becomes a short hash,
// so that malformed proofs are tried too.
func fuzzHashes(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		n := min(len(b), sumdb.HashSize)
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out
}

func fuzzJoin(hs ...[]byte) []byte { return bytes.Join(hs, nil) }

// fuzzSeedProofs are real proofs over the leaves "0", "1", …, computed with
// x/mod, so that the fuzzer starts next to proofs that verify.
func fuzzSeedTree(n int) (vecHashReader, []sumdb.Hash) {
	leaves := make(vecHashReader, n)
	for i := range leaves {
		leaves[i] = []byte{byte('0' + i%10), byte(i / 10)}
	}
	roots := make([]sumdb.Hash, n+1)
	for i := range roots {
		roots[i], _ = sumdb.TreeHash(int64(i), leaves)
	}
	return leaves, roots
}

// FuzzVerifyInclusion: random indexes, sizes and proof bytes never make
// VerifyInclusion panic, and it agrees with x/mod's CheckRecord: whatever
// one accepts the other accepts.
func FuzzVerifyInclusion(f *testing.F) {
	leaves, roots := fuzzSeedTree(21)
	for _, c := range [][2]int64{{0, 1}, {0, 2}, {1, 2}, {2, 3}, {5, 8}, {7, 8}, {4, 13}, {12, 13}, {20, 21}} {
		p, err := sumdb.ProveRecord(c[1], c[0], leaves)
		if err != nil {
			f.Fatal(err)
		}
		leaf := sumdb.RecordHash(leaves[c[0]])
		var proof [][]byte
		for i := range p {
			proof = append(proof, p[i][:])
		}
		f.Add(c[0], c[1], leaf[:], roots[c[1]][:], fuzzJoin(proof...))
	}
	f.Add(int64(-1), int64(1), roots[1][:], roots[1][:], []byte(nil))
	f.Add(int64(0), int64(-9223372036854775808), roots[1][:], roots[1][:], []byte(nil))
	f.Add(int64(9223372036854775806), int64(9223372036854775807), roots[1][:], roots[2][:], fuzzJoin(roots[3][:], roots[4][:]))
	f.Fuzz(func(t *testing.T, index, size int64, leaf, root, proofBytes []byte) {
		p := tlog.InclusionProof{Index: index, TreeSize: size, LeafHash: leaf, RootHash: root, Proof: fuzzHashes(proofBytes)}
		ours := tlog.VerifyInclusion(p)
		xmod, ok := xmodCheckRecord(index, size, leaf, root, p.Proof)
		switch {
		case size > xmodMaxSize:
			// x/mod cannot be asked; a proof for so large a tree is ~62
			// hashes that the fuzzer will not make verify by chance.
		case !ok && ours == nil:
			t.Fatalf("tlog accepts a proof x/mod cannot even express: %+v", p)
		case ok && (ours == nil) != (xmod == nil):
			t.Fatalf("tlog says %v, x/mod says %v: %+v", ours, xmod, p)
		}
	})
}

// FuzzVerifyConsistency: random sizes, roots and proof bytes never make
// VerifyConsistency panic, and it agrees with x/mod's CheckTree: whatever
// one accepts the other accepts. From the empty tree, which x/mod does not
// take, tlog accepts exactly the empty proof with the empty tree's root.
func FuzzVerifyConsistency(f *testing.F) {
	leaves, roots := fuzzSeedTree(21)
	for _, c := range [][2]int64{{1, 1}, {1, 2}, {1, 3}, {2, 3}, {3, 7}, {4, 8}, {6, 8}, {7, 13}, {8, 21}, {13, 21}} {
		p, err := sumdb.ProveTree(c[1], c[0], leaves)
		if err != nil {
			f.Fatal(err)
		}
		var proof [][]byte
		for i := range p {
			proof = append(proof, p[i][:])
		}
		f.Add(c[0], c[1], roots[c[0]][:], roots[c[1]][:], fuzzJoin(proof...))
	}
	f.Add(int64(0), int64(5), roots[0][:], roots[5][:], []byte(nil))
	f.Add(int64(0), int64(0), roots[0][:], roots[0][:], []byte(nil))
	f.Add(int64(1), int64(1), []byte("don't care 2"), []byte("don't care 2"), []byte(nil))
	f.Add(int64(5), int64(3), roots[5][:], roots[3][:], []byte(nil))
	f.Add(int64(-1), int64(9223372036854775807), roots[0][:], roots[1][:], roots[2][:])
	empty := sha256.Sum256(nil)
	f.Fuzz(func(t *testing.T, oldSize, newSize int64, oldRoot, newRoot, proofBytes []byte) {
		p := tlog.ConsistencyProof{OldSize: oldSize, NewSize: newSize, OldRoot: oldRoot, NewRoot: newRoot, Proof: fuzzHashes(proofBytes)}
		ours := tlog.VerifyConsistency(p)
		if oldSize == 0 {
			want := newSize >= 0 && len(p.Proof) == 0 && bytes.Equal(oldRoot, empty[:]) && len(newRoot) == sumdb.HashSize &&
				(newSize > 0 || bytes.Equal(newRoot, oldRoot))
			if (ours == nil) != want {
				t.Fatalf("from the empty tree: tlog says %v, want accepted = %v: %+v", ours, want, p)
			}
			return
		}
		xmod, ok := xmodCheckTree(oldSize, newSize, oldRoot, newRoot, p.Proof)
		switch {
		case newSize > xmodMaxSize:
			// x/mod cannot be asked (see xmodMaxSize).
		case !ok && ours == nil:
			t.Fatalf("tlog accepts a proof x/mod cannot even express: %+v", p)
		case ok && (ours == nil) != (xmod == nil):
			t.Fatalf("tlog says %v, x/mod says %v: %+v", ours, xmod, p)
		}
	})
}
