package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// tileClient is a third-party verifier of a log served by prov serve: it
// knows the log's URL, its verifier key and (unless the tiles are public)
// a token, and uses only the C2SP tlog-tiles API and x/mod.
type tileClient struct {
	t       *testing.T
	url     string
	token   string
	fetched int
}

func (c *tileClient) get(path string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest("GET", c.url+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, b
}

// c2spPath is the C2SP path of an x/mod tile of height 8: x/mod's path
// without the height, "data" named "entries".
func c2spPath(xt sumdb.Tile) string {
	p := strings.Replace(xt.Path(), fmt.Sprintf("tile/%d/", xt.H), "tile/", 1)
	return "/" + strings.Replace(p, "tile/data/", "tile/entries/", 1)
}

// Height, ReadTiles and SaveTiles make a sumdb.TileReader.
func (c *tileClient) Height() int { return 8 }

func (c *tileClient) ReadTiles(tiles []sumdb.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, xt := range tiles {
		code, b := c.get(c2spPath(xt))
		if code != 200 {
			return nil, fmt.Errorf("GET %s: %d %s", c2spPath(xt), code, b)
		}
		c.fetched++
		out[i] = b
	}
	return out, nil
}

func (c *tileClient) SaveTiles([]sumdb.Tile, [][]byte) {}

// checkpoint fetches /checkpoint until it is of size want, verifies its
// signature with x/mod's note and parses it with transparency-dev/formats.
func (c *tileClient) checkpoint(v note.Verifier, want uint64) sumdb.Tree {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := c.get("/checkpoint")
		if code != 200 {
			c.t.Fatalf("checkpoint: %d %s", code, body)
		}
		n, err := note.Open(body, note.VerifierList(v))
		if err != nil {
			c.t.Fatalf("checkpoint signature: %v\n%s", err, body)
		}
		var cp log.Checkpoint
		if _, err := cp.Unmarshal([]byte(n.Text)); err != nil || cp.Origin != v.Name() {
			c.t.Fatalf("checkpoint: %v, origin %q, want %q", err, cp.Origin, v.Name())
		}
		if cp.Size == want {
			var root sumdb.Hash
			copy(root[:], cp.Hash)
			return sumdb.Tree{N: int64(cp.Size), Hash: root}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("checkpoint of size %d, want %d", cp.Size, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// entry fetches record i of a tree from its entry bundle.
func (c *tileClient) entry(tree sumdb.Tree, i int64) []byte {
	c.t.Helper()
	xt := sumdb.Tile{H: 8, L: -1, N: i / 256, W: int(min(256, tree.N-i/256*256))}
	code, b := c.get(c2spPath(xt))
	if code != 200 {
		c.t.Fatalf("GET %s: %d %s", c2spPath(xt), code, b)
	}
	var entries [][]byte
	for len(b) >= 2 {
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			c.t.Fatalf("%s: entry cut short", c2spPath(xt))
		}
		entries = append(entries, b[2:2+n])
		b = b[2+n:]
	}
	if len(b) != 0 || len(entries) != xt.W {
		c.t.Fatalf("%s: %d entries and %d stray bytes, want %d entries", c2spPath(xt), len(entries), len(b), xt.W)
	}
	return entries[i%256]
}

func appendRecords(t *testing.T, s *server, token string, from, to int) {
	t.Helper()
	for from < to {
		n := min(to-from, 10000) // prov serve's --max-records
		var body bytes.Buffer
		for i := from; i < from+n; i++ {
			body.WriteString(record(i) + "\n")
		}
		if code, b, _ := s.do(t, "POST", "/api/v1/records", token, body.Bytes()); code != 200 {
			t.Fatalf("append: %d %s", code, b)
		}
		from += n
	}
}

// TestThirdPartyVerifier audits a running prov serve as an outsider would:
// the checkpoint's signature with the log's verifier key ('prov key'), the
// tree hash from tiles alone, inclusion of records read from entry
// bundles, and consistency of the tree after the log grows.
func TestThirdPartyVerifier(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newLog func(t *testing.T) *testLog) {
		l := newLog(t)
		ingest, reader := token(t, l, "ingest"), token(t, l, "read")
		v, err := note.NewVerifier(strings.TrimSpace(l.run(t, "", "key").stdout))
		if err != nil {
			t.Fatal(err)
		}
		s := startServer(t, l.args...)
		c := &tileClient{t: t, url: s.url, token: reader}

		appendRecords(t, s, ingest, 0, 600)
		tree := c.checkpoint(v, 600)
		thr := sumdb.TileHashReader(tree, c)
		if root, err := sumdb.TreeHash(tree.N, thr); err != nil || root != tree.Hash {
			t.Fatalf("tree hash from tiles: %x, %v; the checkpoint says %x", root, err, tree.Hash)
		}
		for _, i := range []int64{0, 1, 255, 256, 511, 512, 599} {
			data := c.entry(tree, i)
			if string(data) != record(int(i)) {
				t.Fatalf("entry %d is %q, want %q", i, data, record(int(i)))
			}
			p, err := sumdb.ProveRecord(tree.N, i, thr)
			if err != nil {
				t.Fatalf("prove %d: %v", i, err)
			}
			if err := sumdb.CheckRecord(p, tree.N, tree.Hash, i, sumdb.RecordHash(data)); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			// A record with other bytes is not in the tree.
			if err := sumdb.CheckRecord(p, tree.N, tree.Hash, i, sumdb.RecordHash(append(data, ' '))); err == nil {
				t.Fatalf("record %d with a byte more is proved too", i)
			}
		}

		// The log grows: the new tree extends the old one.
		appendRecords(t, s, ingest, 600, 70000)
		newTree := c.checkpoint(v, 70000)
		nthr := sumdb.TileHashReader(newTree, c)
		p, err := sumdb.ProveTree(newTree.N, tree.N, nthr)
		if err != nil {
			t.Fatal(err)
		}
		if err := sumdb.CheckTree(p, newTree.N, newTree.Hash, tree.N, tree.Hash); err != nil {
			t.Fatalf("consistency %d -> %d: %v", tree.N, newTree.N, err)
		}
		forged := tree
		forged.Hash[0] ^= 1
		if err := sumdb.CheckTree(p, newTree.N, newTree.Hash, forged.N, forged.Hash); err == nil {
			t.Fatal("consistency with a forged old root holds")
		}
		if root, err := sumdb.TreeHash(newTree.N, nthr); err != nil || root != newTree.Hash {
			t.Fatalf("new tree hash from tiles: %v", err)
		}
		for _, i := range []int64{599, 65535, 65536, 69999} {
			data := c.entry(newTree, i)
			p, err := sumdb.ProveRecord(newTree.N, i, nthr)
			if err != nil || sumdb.CheckRecord(p, newTree.N, newTree.Hash, i, sumdb.RecordHash(data)) != nil || string(data) != record(int(i)) {
				t.Fatalf("record %d in the new tree: %v", i, err)
			}
		}
		// The old tree's partial tiles are still served.
		if root, err := sumdb.TreeHash(tree.N, sumdb.TileHashReader(tree, c)); err != nil || root != tree.Hash {
			t.Fatalf("old tree from its tiles: %v", err)
		}
		t.Logf("%s: %d tiles fetched", l.backend, c.fetched)
	})
}

// TestTilesAccess: tiles need a read or audit token, unless --public-tiles.
func TestTilesAccess(t *testing.T) {
	l := newSQLiteLog(t)
	ingest, reader := token(t, l, "ingest"), token(t, l, "read")
	s := startServer(t, l.args...)
	appendRecords(t, s, ingest, 0, 3)
	(&tileClient{t: t, url: s.url, token: reader}).checkpoint(mustVerifier(t, l), 3)
	for _, c := range []struct {
		path, token string
		status      int
	}{
		{"/checkpoint", "", 401},
		{"/tile/0/000.p/3", "", 401},
		{"/tile/entries/000.p/3", ingest, 403},
		{"/tile/0/000.p/3", reader, 200},
		{"/checkpoint", reader, 200},
	} {
		if code, body, _ := s.do(t, "GET", c.path, c.token, nil); code != c.status {
			t.Errorf("%s with token %q: %d %s, want %d", c.path, c.token, code, body, c.status)
		}
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	pub := startServer(t, append(l.args, "--public-tiles=true")...)
	for _, p := range []string{"/checkpoint", "/tile/0/000.p/3", "/tile/entries/000.p/3"} {
		if code, body, hdr := pub.do(t, "GET", p, "", nil); code != 200 || !strings.HasPrefix(hdr.Get("Cache-Control"), "public, ") {
			t.Errorf("%s with --public-tiles: %d %s %q", p, code, body, hdr.Get("Cache-Control"))
		}
	}
	if code, _, _ := pub.do(t, "GET", "/api/v1/records/0", "", nil); code != 401 {
		t.Errorf("--public-tiles opened the records API: %d", code)
	}
}

// TestTilesHostilePaths: malformed and out-of-tree tile paths sent to a
// running server are refused with a problem document, never a redirect or
// another resource, and the server serves on.
func TestTilesHostilePaths(t *testing.T) {
	l := newSQLiteLog(t)
	ingest, reader := token(t, l, "ingest"), token(t, l, "read")
	s := startServer(t, l.args...)
	appendRecords(t, s, ingest, 0, 300)
	(&tileClient{t: t, url: s.url, token: reader}).checkpoint(mustVerifier(t, l), 300)
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/tile/0/../../checkpoint", 400},
		{"GET", "/tile/0/000/../001", 400},
		{"GET", "/tile/%2e%2e/000", 400},
		{"GET", "/tile/0/%30%30%30", 400},
		{"GET", "/tile/0/000%00", 400},
		{"GET", "/tile/0/000%2fx", 400},
		{"GET", "/tile//0/000", 400},
		{"GET", "/tile/0//000", 400},
		{"GET", "/tile/0/000/", 400},
		{"GET", "/tile/0/000.p/1/extra", 400},
		{"GET", "/tile/entries/000.p/3/..", 400},
		{"GET", "/tile/0/1", 400},
		{"GET", "/tile/0/0001", 400},
		{"GET", "/tile/0/-01", 400},
		{"GET", "/tile/0/x000/001", 400},
		{"GET", "/tile/00/000", 400},
		{"GET", "/tile/64/000", 400},
		{"GET", "/tile/99999999999999999999/000", 400},
		{"GET", "/tile/0/000.p/0", 400},
		{"GET", "/tile/0/000.p/256", 400},
		{"GET", "/tile/0/000.p/044", 400},
		{"GET", "/tile/8/0/x001/234", 400},
		{"GET", "/tile/data/000", 400},
		{"GET", "/tile/0/" + strings.Repeat("x999/", 2000) + "000", 400},
		{"GET", "/tile/0/x009/x223/x372/x036/x854/x775/808", 404},
		{"GET", "/tile/7/000.p/127", 404},
		{"GET", "/tile/0/001", 404},
		{"GET", "/tile/0/001.p/45", 404},
		{"GET", "/tile/entries/002", 404},
		{"GET", "/tile/1/000", 404},
		{"GET", "/tile/2/000.p/1", 404},
		{"POST", "/tile/0/000", 405},
		{"PUT", "/tile/entries/000", 405},
	} {
		code, body, hdr := s.do(t, c.method, c.path, reader, nil)
		var p struct{ Status int }
		if code != c.status || hdr.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil || p.Status != c.status {
			t.Errorf("%s %s: %d %q %.200s; want %d", c.method, c.path, code, hdr.Get("Content-Type"), body, c.status)
		}
	}
	if code, body, _ := s.do(t, "GET", "/tile/0/000", reader, nil); code != 200 || len(body) != 8192 {
		t.Errorf("a good tile after the hostile ones: %d, %d bytes", code, len(body))
	}
}

func mustVerifier(t *testing.T, l *testLog) note.Verifier {
	t.Helper()
	v, err := note.NewVerifier(strings.TrimSpace(l.run(t, "", "key").stdout))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
