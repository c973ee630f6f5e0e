package tiles_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/sqlite"
	"github.com/prov-dev/prov/tiles"
	"github.com/prov-dev/prov/tlog"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

const origin = "example.com/prov/tiles"

// testRecord is a valid change record, different for each i.
func testRecord(i int) []byte {
	return fmt.Appendf(nil, `{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d","kind":"job"},"agent":{"id":"svc:test"},"generated":[{"id":"file:/data/%d","op":"write"}],"reason":"record %d"}`, i, i, i)
}

// bigRecord is a valid record of more than size bytes.
func bigRecord(i, size int) []byte {
	return fmt.Appendf(nil, `{"type":"change","time":"2026-01-02T03:04:05Z","activity":{"id":"job:%d","kind":"job"},"agent":{"id":"svc:test"},"generated":[{"id":"file:/data/%d","op":"write"}],"attributes":{"blob":"%s"}}`, i, i, strings.Repeat("x", size))
}

// testLog is a log in a fresh SQLite store with a signed checkpoint of
// all its records (none if sign is false).
type testLog struct {
	log     *tlog.Log
	store   *sqlite.Store
	records [][]byte
}

func newTestLog(t testing.TB, records [][]byte, sign bool) *testLog {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "prov.db"), sqlite.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	skey, vkey, err := tlog.GenerateKey(origin)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.Init(ctx, s, origin, vkey); err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(ctx, s, tlog.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	tl := &testLog{log: l, store: s}
	tl.append(t, records)
	if sign {
		if _, _, err := l.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return tl
}

func (tl *testLog) append(t testing.TB, records [][]byte) {
	t.Helper()
	for len(records) > 0 {
		n := min(len(records), 8192)
		if _, err := tl.log.Append(context.Background(), records[:n]); err != nil {
			t.Fatal(err)
		}
		tl.records = append(tl.records, records[:n]...)
		records = records[n:]
	}
}

func records(from, to int) [][]byte {
	out := make([][]byte, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, testRecord(i))
	}
	return out
}

// get serves one request with h.
func get(h http.Handler, path string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "http://prov.example"+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// memHashes is x/mod's hash storage of records, computed from their bytes
// alone, in memory.
type memHashes []sumdb.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]sumdb.Hash, error) {
	out := make([]sumdb.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = m[x]
	}
	return out, nil
}

func hashRecords(t testing.TB, records [][]byte) memHashes {
	t.Helper()
	var m memHashes
	for i, r := range records {
		hs, err := sumdb.StoredHashes(int64(i), r, m)
		if err != nil {
			t.Fatal(err)
		}
		m = append(m, hs...)
	}
	return m
}

// xmodTile is t in x/mod's coordinates.
func xmodTile(t tiles.Tile) sumdb.Tile {
	if t.Entries {
		return sumdb.Tile{H: tiles.Height, L: -1, N: t.N, W: t.W}
	}
	return sumdb.Tile{H: tiles.Height, L: t.L, N: t.N, W: t.W}
}

func c2spTile(xt sumdb.Tile) tiles.Tile {
	return tiles.Tile{Entries: xt.L == -1, L: max(xt.L, 0), N: xt.N, W: xt.W}
}

// mth is transparency-dev/merkle's hash of the records [from, to).
func mth(t testing.TB, records [][]byte, from, to int64) []byte {
	t.Helper()
	rf := &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(uint64(from))
	for i := from; i < to; i++ {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(records[i]), nil); err != nil {
			t.Fatal(err)
		}
	}
	// An aligned range of a power of two entries is one subtree.
	if hs := r.Hashes(); len(hs) != 1 {
		t.Fatalf("[%d, %d) is %d subtrees", from, to, len(hs))
	}
	return r.Hashes()[0]
}

// httpTiles is an x/mod TileReader over a tile API.
type httpTiles struct {
	t       testing.TB
	h       http.Handler
	fetched atomic.Int64
}

func (r *httpTiles) Height() int { return tiles.Height }

func (r *httpTiles) ReadTiles(ts []sumdb.Tile) ([][]byte, error) {
	out := make([][]byte, len(ts))
	for i, xt := range ts {
		rec := get(r.h, "/"+c2spTile(xt).Path())
		if rec.Code != 200 {
			return nil, fmt.Errorf("%s: %d %s", c2spTile(xt).Path(), rec.Code, rec.Body)
		}
		r.fetched.Add(1)
		out[i] = rec.Body.Bytes()
	}
	return out, nil
}

func (r *httpTiles) SaveTiles([]sumdb.Tile, [][]byte) {}

// parseBundle splits an entry bundle into its entries.
func parseBundle(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("bundle ends in a partial length prefix")
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b) < 2+n {
			t.Fatalf("bundle entry of %d bytes is cut at %d", n, len(b)-2)
		}
		out = append(out, b[2:2+n])
		b = b[2+n:]
	}
	return out
}

// TestTilesMatchXMod: for logs of several sizes, every tile that x/mod
// says a tree of that size publishes is served, equal to x/mod's
// ReadTileData over hashes computed from the records' bytes alone, each
// hash equal to transparency-dev/merkle's hash of the entries it covers;
// every entry bundle holds the records' exact bytes; x/mod's
// TileHashReader over the served tiles computes the checkpoint's root and
// proves records; and no tile beyond the tree is served.
func TestTilesMatchXMod(t *testing.T) {
	sizes := []int{0, 1, 255, 256, 257, 65536 + 3}
	if testing.Short() {
		sizes = sizes[:5]
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			recs := records(0, n)
			tl := newTestLog(t, recs, true)
			h := tiles.New(tl.log)
			mem := hashRecords(t, recs)

			// The checkpoint, exactly as stored, and what it says.
			rec := get(h, "/checkpoint")
			c, err := tl.log.LatestCheckpoint(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), c.Note) || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Fatalf("checkpoint: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
			size, root, err := tl.log.OpenCheckpoint(rec.Body.Bytes())
			if err != nil || size != int64(n) {
				t.Fatalf("checkpoint: size %d, %v", size, err)
			}
			want, err := sumdb.TreeHash(int64(n), mem)
			if err != nil || root != want {
				t.Fatalf("checkpoint root %x, x/mod %x (%v)", root, want, err)
			}

			published := sumdb.NewTiles(tiles.Height, 0, int64(n))
			if n == 0 && len(published) != 0 {
				t.Fatalf("x/mod publishes %d tiles for an empty tree", len(published))
			}
			for _, xt := range published {
				tt := c2spTile(xt)
				rec := get(h, "/"+tt.Path())
				wantData, err := sumdb.ReadTileData(xt, mem)
				if err != nil {
					t.Fatal(err)
				}
				if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), wantData) {
					t.Fatalf("%s: %d, %d bytes, want x/mod's %d bytes (equal: %v)", tt.Path(), rec.Code, rec.Body.Len(), len(wantData), bytes.Equal(rec.Body.Bytes(), wantData))
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/octet-stream" {
					t.Errorf("%s: Content-Type %q", tt.Path(), ct)
				}
				// Each hash is the Merkle tree hash of the entries it covers.
				span := int64(1) << (8 * tt.L)
				for i := range tt.W {
					from := (tt.N*tiles.FullWidth + int64(i)) * span
					if got, want := rec.Body.Bytes()[i*32:(i+1)*32], mth(t, recs, from, from+span); !bytes.Equal(got, want) {
						t.Fatalf("%s: hash %d is %x, merkle says %x", tt.Path(), i, got, want)
					}
				}
				// Each level-0 tile has its entry bundle, whose entries are
				// the records and hash to the tile's hashes.
				if tt.L == 0 {
					bt := tiles.Tile{Entries: true, N: tt.N, W: tt.W}
					brec := get(h, "/"+bt.Path())
					if brec.Code != 200 {
						t.Fatalf("%s: %d %s", bt.Path(), brec.Code, brec.Body)
					}
					entries := parseBundle(t, brec.Body.Bytes())
					if len(entries) != tt.W {
						t.Fatalf("%s: %d entries, want %d", bt.Path(), len(entries), tt.W)
					}
					for i, e := range entries {
						idx := tt.N*tiles.FullWidth + int64(i)
						if !bytes.Equal(e, recs[idx]) {
							t.Fatalf("%s: entry %d is %q, want %q", bt.Path(), i, e, recs[idx])
						}
						lh, err := sumdb.HashFromTile(xt, rec.Body.Bytes(), sumdb.StoredHashIndex(0, idx))
						if err != nil || lh != sumdb.RecordHash(e) {
							t.Fatalf("%s: entry %d does not hash to the tile's hash (%v)", bt.Path(), i, err)
						}
					}
				}
				// A partial tile one hash wider is not in the tree, nor is
				// the next tile of the level.
				if !tt.Full() {
					wider := tt
					wider.W++
					if rec := get(h, "/"+wider.Path()); rec.Code != 404 {
						t.Errorf("%s: %d, want 404", wider.Path(), rec.Code)
					}
				}
				if next := (tiles.Tile{L: tt.L, N: tt.N + 1, W: 1}); !tt.Full() || func() bool { e, _ := next.End(); return e > int64(n) }() {
					if rec := get(h, "/"+next.Path()); rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
						t.Errorf("%s: %d, want 404", next.Path(), rec.Code)
					}
				}
				// Narrower versions of a tile are its prefixes.
				if tt.W > 1 {
					narrow := tt
					narrow.W = tt.W / 2
					if rec := get(h, "/"+narrow.Path()); rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), wantData[:narrow.W*32]) {
						t.Errorf("%s: %d, not a prefix of %s", narrow.Path(), rec.Code, tt.Path())
					}
				}
			}
			// Levels above the tree's: nothing.
			top := 0
			for int64(n)>>(8*(top+1)) > 0 {
				top++
			}
			for _, p := range []string{fmt.Sprintf("/tile/%d/000.p/1", top+1), "/tile/0/000.p/1", "/tile/entries/000.p/1"} {
				if n > 0 && p != fmt.Sprintf("/tile/%d/000.p/1", top+1) {
					continue
				}
				if rec := get(h, p); rec.Code != 404 {
					t.Errorf("%s in a tree of %d: %d %s, want 404", p, n, rec.Code, rec.Body)
				}
			}
			if n == 0 {
				return
			}
			// A verifier with only the tiles: the root, then inclusion.
			tr := &httpTiles{t: t, h: h}
			thr := sumdb.TileHashReader(sumdb.Tree{N: int64(n), Hash: root}, tr)
			if got, err := sumdb.TreeHash(int64(n), thr); err != nil || got != root {
				t.Fatalf("tree hash from tiles: %x, %v; want %x", got, err, root)
			}
			for _, i := range []int64{0, int64(n) / 2, int64(n) - 1} {
				p, err := sumdb.ProveRecord(int64(n), i, thr)
				if err != nil {
					t.Fatalf("prove %d from tiles: %v", i, err)
				}
				if err := sumdb.CheckRecord(p, int64(n), root, i, sumdb.RecordHash(recs[i])); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
		})
	}
}

// TestConsistencyFromTiles: after the log grows, tiles of the new tree
// prove it extends the old one, and the old tree's partial tiles are still
// served.
func TestConsistencyFromTiles(t *testing.T) {
	ctx := context.Background()
	tl := newTestLog(t, records(0, 300), true)
	h := tiles.New(tl.log)
	old, err := tl.log.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tl.append(t, records(300, 1000))
	// Not yet signed: the new tiles are not served.
	if rec := get(h, "/tile/0/003"); rec.Code != 404 {
		t.Errorf("a tile beyond the latest checkpoint: %d", rec.Code)
	}
	if _, _, err := tl.log.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	nw, err := tl.log.LatestCheckpoint(ctx)
	if err != nil || nw.Size != 1000 {
		t.Fatal(nw.Size, err)
	}
	tr := &httpTiles{t: t, h: h}
	thr := sumdb.TileHashReader(sumdb.Tree{N: nw.Size, Hash: nw.Root}, tr)
	p, err := sumdb.ProveTree(nw.Size, old.Size, thr)
	if err != nil {
		t.Fatal(err)
	}
	if err := sumdb.CheckTree(p, nw.Size, nw.Root, old.Size, old.Root); err != nil {
		t.Fatal(err)
	}
	// The old tree from its own (partial) tiles.
	othr := sumdb.TileHashReader(sumdb.Tree{N: old.Size, Hash: old.Root}, tr)
	if got, err := sumdb.TreeHash(old.Size, othr); err != nil || got != old.Root {
		t.Fatalf("old tree from tiles: %x, %v", got, err)
	}
}

func TestHeadersAndErrors(t *testing.T) {
	tl := newTestLog(t, records(0, 300), true)
	h := tiles.New(tl.log)
	for _, c := range []struct {
		path, auth, cache string
	}{
		{"/checkpoint", "", "public, max-age=2"},
		{"/tile/0/000", "", "public, max-age=31536000, immutable"},
		{"/tile/0/000", "Bearer x", "private, max-age=31536000, immutable"},
		{"/tile/0/001.p/44", "", "public, max-age=10"},
		{"/tile/1/000.p/1", "", "public, max-age=10"},
		{"/tile/entries/000", "", "public, max-age=31536000, immutable"},
		{"/tile/entries/001.p/44", "Bearer x", "private, max-age=10"},
	} {
		rec := get(h, c.path, "Authorization", c.auth)
		if rec.Code != 200 || rec.Header().Get("Cache-Control") != c.cache || rec.Header().Get("Content-Length") != fmt.Sprint(rec.Body.Len()) {
			t.Errorf("%s: %d, Cache-Control %q, Content-Length %s for %d bytes; want %q", c.path, rec.Code, rec.Header().Get("Cache-Control"), rec.Header().Get("Content-Length"), rec.Body.Len(), c.cache)
		}
	}
	// Entry bundles are gzipped for clients that accept it.
	plain := get(h, "/tile/entries/000")
	zipped := get(h, "/tile/entries/000", "Accept-Encoding", "br, gzip;q=0.8")
	if zipped.Header().Get("Content-Encoding") != "gzip" || zipped.Header().Get("Vary") != "Accept-Encoding" || zipped.Body.Len() >= plain.Body.Len() {
		t.Fatalf("gzip: %q, %d bytes for %d", zipped.Header().Get("Content-Encoding"), zipped.Body.Len(), plain.Body.Len())
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(zr); err != nil || !bytes.Equal(b, plain.Body.Bytes()) {
		t.Fatalf("gunzipped bundle differs (%v)", err)
	}
	if rec := get(h, "/tile/entries/000", "Accept-Encoding", "gzip;q=0"); rec.Header().Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got %q", rec.Header().Get("Content-Encoding"))
	}
	// HEAD: headers, no body.
	req := httptest.NewRequest("HEAD", "/tile/0/000", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "8192" {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %s", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	// Problems.
	for _, c := range []struct {
		method, path string
		status       int
		says         string
	}{
		{"POST", "/tile/0/000", 405, "GET"},
		{"DELETE", "/checkpoint", 405, "GET"},
		{"GET", "/tile/0/001", 404, "latest checkpoint (size 300)"},
		{"GET", "/tile/entries/001", 404, "latest checkpoint"},
		{"GET", "/tile/0/001.p/45", 404, "needs 301 entries"},
		{"GET", "/tile/2/000.p/1", 404, "latest checkpoint"},
		{"GET", "/tile/8/000.p/1", 404, "more entries than any log"},
		{"GET", "/tile/0/x001/000", 404, "latest checkpoint"},
		{"GET", "/tile/0/01", 400, "three digits"},
		{"GET", "/tile/0/000.p/256", 400, "width"},
		{"GET", "/tile/64/000", 400, "level"},
		{"GET", "/tile/0/%30%30%30", 400, "three digits"},
		{"GET", "/tile/", 400, "no tile index"},
		{"GET", "/tiles/0/000", 404, "no resource"},
		{"GET", "/checkpoint/", 404, "no resource"},
	} {
		req := httptest.NewRequest(c.method, "http://prov.example"+c.path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var p struct {
			Type, Title, Detail string
			Status              int
		}
		if rec.Code != c.status || rec.Header().Get("Content-Type") != "application/problem+json" || rec.Header().Get("Cache-Control") != "no-store" ||
			json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Status != c.status || !strings.Contains(p.Detail, c.says) {
			t.Errorf("%s %s: %d %q %s; want %d saying %q", c.method, c.path, rec.Code, rec.Header().Get("Content-Type"), rec.Body, c.status, c.says)
		}
	}
}

func TestNoCheckpoint(t *testing.T) {
	tl := newTestLog(t, records(0, 3), false)
	h := tiles.New(tl.log)
	for _, p := range []string{"/checkpoint", "/tile/0/000.p/3", "/tile/entries/000.p/1"} {
		if rec := get(h, p); rec.Code != 404 || !strings.Contains(rec.Body.String(), "no signed checkpoint") {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
}

// TestOversizeEntry: a record over 65,535 bytes cannot be put in an entry
// bundle; the bundles holding it are refused with a problem that says
// where else to read it, the rest is served.
func TestOversizeEntry(t *testing.T) {
	recs := [][]byte{testRecord(0), bigRecord(1, 70000), testRecord(2)}
	tl := newTestLog(t, recs, true)
	h := tiles.New(tl.log)
	if rec := get(h, "/tile/entries/000.p/1"); rec.Code != 200 || !bytes.Equal(parseBundle(t, rec.Body.Bytes())[0], recs[0]) {
		t.Errorf("bundle before the big record: %d", rec.Code)
	}
	for _, p := range []string{"/tile/entries/000.p/2", "/tile/entries/000.p/3"} {
		rec := get(h, p)
		if rec.Code != 501 || !strings.Contains(rec.Body.String(), fmt.Sprintf("record 1 is %d bytes", len(recs[1]))) || !strings.Contains(rec.Body.String(), "/api/v1/records/1") || !strings.Contains(rec.Body.String(), "entry-too-large") {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	// The hash tile is served: the big record can be checked against it.
	rec := get(h, "/tile/0/000.p/3")
	if rec.Code != 200 {
		t.Fatalf("hash tile: %d", rec.Code)
	}
	lh, err := sumdb.HashFromTile(sumdb.Tile{H: 8, L: 0, N: 0, W: 3}, rec.Body.Bytes(), sumdb.StoredHashIndex(0, 1))
	if err != nil || lh != sumdb.RecordHash(recs[1]) {
		t.Errorf("big record's leaf hash: %v", err)
	}
}

// TestDamagedHashes: stored tree hashes of the wrong length are reported,
// not served.
func TestDamagedHashes(t *testing.T) {
	tl := newTestLog(t, records(0, 10), true)
	h := tiles.New(tl.log)
	var logged bytes.Buffer
	h.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	if _, err := tl.store.DB().Exec("UPDATE records SET hashes = x'0011' WHERE idx = 4"); err != nil {
		t.Fatal(err)
	}
	rec := get(h, "/tile/0/000.p/10")
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "record 4") || !strings.Contains(rec.Body.String(), "prov verify") {
		t.Errorf("damaged hashes: %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(logged.String(), "damaged") {
		t.Errorf("not logged: %q", logged.String())
	}
}

// countingStore counts the statements a request runs.
type countingStore struct {
	prov.Store
	views, reads atomic.Int64
}

func (s *countingStore) View(ctx context.Context, fn func(context.Context, prov.ReadTx) error) error {
	s.views.Add(1)
	return s.Store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		return fn(ctx, &countingTx{ReadTx: tx, s: s})
	})
}

func (s *countingStore) ReadForProof(ctx context.Context, indexes []int64) (int64, prov.Checkpoint, bool, [][]byte, error) {
	s.reads.Add(1)
	return s.Store.(prov.ProofReader).ReadForProof(ctx, indexes)
}

type countingTx struct {
	prov.ReadTx
	s *countingStore
}

func (t *countingTx) LatestCheckpoint(ctx context.Context) (prov.Checkpoint, error) {
	t.s.reads.Add(1)
	return t.ReadTx.LatestCheckpoint(ctx)
}

func (t *countingTx) Hashes(ctx context.Context, indexes []int64) ([][]byte, error) {
	t.s.reads.Add(1)
	return t.ReadTx.Hashes(ctx, indexes)
}

func (t *countingTx) Leaves(ctx context.Context, from, to int64, fn func(int64, []byte, []byte) error) error {
	t.s.reads.Add(1)
	return t.ReadTx.(prov.LeafReader).Leaves(ctx, from, to, fn)
}

// TestOneReadPerRequest: a hash tile is one statement; an entry bundle is
// one statement once a checkpoint covering it has been seen (two before).
func TestOneReadPerRequest(t *testing.T) {
	tl := newTestLog(t, records(0, 600), true)
	cs := &countingStore{Store: tl.store}
	l, err := tlog.Open(context.Background(), cs, tlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := tiles.New(l)
	for _, c := range []struct {
		path         string
		views, reads int64
	}{
		{"/tile/entries/001", 1, 2}, // the checkpoint is read: nothing seen yet
		{"/tile/entries/001", 1, 1},
		{"/tile/0/000", 0, 1},
		{"/tile/1/000.p/2", 0, 1},
		{"/tile/entries/000", 1, 1},
		{"/tile/entries/002.p/88", 1, 1},
		{"/checkpoint", 1, 1},
		{"/tile/0/01", 0, 0},
		{"/tile/9/000", 0, 0},
		{"/tile/0/x009/x223/x372/x036/x854/x775/808", 0, 0},
	} {
		cs.views.Store(0)
		cs.reads.Store(0)
		get(h, c.path)
		if v, r := cs.views.Load(), cs.reads.Load(); v != c.views || r != c.reads {
			t.Errorf("%s: %d views, %d reads; want %d, %d", c.path, v, r, c.views, c.reads)
		}
	}
}
