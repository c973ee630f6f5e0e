// Package tiles serves a Prov log in the C2SP tlog-tiles layout
// (https://c2sp.org/tlog-tiles), so that any third-party verifier can audit
// it with standard tools: the latest signed checkpoint at /checkpoint, the
// Merkle tree as hash tiles of height 8 at /tile/<L>/<N>[.p/<W>], and the
// records as entry bundles at /tile/entries/<N>[.p/<W>].
//
// Tiles are read from the tree hashes stored beside each record (see
// docs/decisions/0002): a hash tile is one read of at most 256 rows, an
// entry bundle one range read. Only tiles in the tree of the latest stored
// checkpoint are served, so that what a client reads is covered by a
// signature. Entry bundles prefix each entry with its length as a
// big-endian uint16, as the specification says; a bundle holding a record
// over 65,535 bytes cannot be written so and is refused with
// 501 Not Implemented (see docs/decisions/0008).
package tiles

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prov-dev/prov"
	"github.com/prov-dev/prov/tlog"
)

// MaxEntryBytes is the largest entry an entry bundle can hold: its length
// prefix is a uint16.
const MaxEntryBytes = 1<<16 - 1

// Cache-Control max-ages, in seconds.
const (
	checkpointMaxAge = 2        // the checkpoint changes whenever the log grows
	partialMaxAge    = 10       // partial tiles are replaced by wider ones
	fullMaxAge       = 31536000 // full tiles never change
)

// Handler serves the tile API of one log. It answers GET and HEAD requests
// for /checkpoint, /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>]
// (paths relative to where it is mounted; strip any prefix with
// http.StripPrefix) and nothing else. It is safe for concurrent use.
type Handler struct {
	log   *tlog.Log
	store prov.Store
	// known is the largest checkpoint size read so far: tiles within it
	// exist, whatever the latest checkpoint is, so serving them needs no
	// read of the checkpoint.
	known atomic.Int64

	// Logger receives internal errors; slog.Default() if nil.
	Logger *slog.Logger
}

// New returns the tile API of l.
func New(l *tlog.Log) *Handler {
	return &Handler{log: l, store: l.Store()}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.problem(w, r, http.StatusMethodNotAllowed, "method-not-allowed", r.Method+" is not allowed here: the tile API is read with GET")
		return
	}
	// The escaped path, so that a percent-encoded tile path is refused
	// rather than decoded: only the canonical encoding names a tile.
	p := r.URL.EscapedPath()
	switch {
	case p == "/checkpoint":
		h.serveCheckpoint(w, r)
	case strings.HasPrefix(p, "/tile/"):
		t, err := ParsePath(p[1:])
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.serveTile(w, r, t)
	default:
		h.problem(w, r, http.StatusNotFound, "not-found", fmt.Sprintf("no resource %s: the tile API serves /checkpoint, /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>]", strconv.Quote(p)))
	}
}

func (h *Handler) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	var c prov.Checkpoint
	err := h.store.View(r.Context(), func(ctx context.Context, tx prov.ReadTx) error {
		var err error
		c, err = tx.LatestCheckpoint(ctx)
		return err
	})
	if err != nil {
		if prov.IsKind(err, prov.NotFound) {
			err = prov.Errorf(prov.NotFound, "the log has no signed checkpoint yet: prov serve signs one when the log grows (or run 'prov checkpoint')")
		}
		h.fail(w, r, err)
		return
	}
	h.observe(c.Size)
	h.write(w, r, "text/plain; charset=utf-8", cacheControl(r, checkpointMaxAge, false), c.Note)
}

func (h *Handler) serveTile(w http.ResponseWriter, r *http.Request, t Tile) {
	end, ok := t.End()
	if !ok {
		h.fail(w, r, prov.Errorf(prov.NotFound, "no tile %s: it would cover more entries than any log can hold", t.Path()))
		return
	}
	var data []byte
	var err error
	if t.Entries {
		data, err = h.entryBundle(r.Context(), t, end)
	} else {
		data, err = h.hashTile(r.Context(), t, end)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	cc := cacheControl(r, partialMaxAge, false)
	if t.Full() {
		cc = cacheControl(r, fullMaxAge, true)
	}
	if t.Entries && acceptsGzip(r) {
		data = gzipped(data)
		w.Header().Set("Content-Encoding", "gzip")
	}
	if t.Entries {
		w.Header().Set("Vary", "Accept-Encoding")
	}
	h.write(w, r, "application/octet-stream", cc, data)
}

// gzipWriters are reused: a gzip writer's state is about 1 MB.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

func gzipped(data []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(data) / 4)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(data)
	zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}

// observe notes a checkpoint size read from the store.
func (h *Handler) observe(size int64) {
	for {
		k := h.known.Load()
		if size <= k || h.known.CompareAndSwap(k, size) {
			return
		}
	}
}

// checkSize reports whether a tile that needs end entries is in the tree of
// the latest checkpoint c.
func (h *Handler) checkSize(t Tile, end int64, c prov.Checkpoint) error {
	h.observe(c.Size)
	if end > c.Size {
		return prov.Errorf(prov.NotFound, "no tile %s in the tree of the latest checkpoint (size %d): it needs %d entries", t.Path(), c.Size, end)
	}
	return nil
}

var errNoCheckpoint = prov.Errorf(prov.NotFound, "the log has no signed checkpoint yet, so no tile: prov serve signs one when the log grows")

// hashTile reads the hashes of the hash tile t from the stored tree hashes,
// in one read of the store: hash i of tile (L, N) is the tree hash at level
// 8L, index 256N+i, which the record (256N+i+1)·256^L - 1 stores at
// position 8L (see prov.Entry.Hashes).
func (h *Handler) hashTile(ctx context.Context, t Tile, end int64) ([]byte, error) {
	shift := uint(Height * t.L)
	recs := make([]int64, t.W)
	for i := range recs {
		recs[i] = (t.N*FullWidth+int64(i)+1)<<shift - 1
	}
	var blobs [][]byte
	known := end <= h.known.Load()
	if pr, ok := h.store.(prov.ProofReader); ok {
		// One statement: the size, the latest checkpoint and the hashes.
		_, c, found, bs, err := pr.ReadForProof(ctx, recs)
		if err != nil {
			return nil, err
		}
		if !known {
			if !found {
				return nil, errNoCheckpoint
			}
			if err := h.checkSize(t, end, c); err != nil {
				return nil, err
			}
		}
		blobs = bs
	} else {
		err := h.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
			if !known {
				c, err := tx.LatestCheckpoint(ctx)
				if prov.IsKind(err, prov.NotFound) {
					return errNoCheckpoint
				} else if err != nil {
					return err
				}
				if err := h.checkSize(t, end, c); err != nil {
					return err
				}
			}
			var err error
			blobs, err = tx.Hashes(ctx, recs)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if len(blobs) != len(recs) {
		return nil, prov.Errorf(prov.Internal, "tile %s: the store returned %d hash sets for %d records", t.Path(), len(blobs), len(recs))
	}
	pos := int(shift)
	out := make([]byte, len(recs)*prov.HashSize)
	for i, b := range blobs {
		if b == nil {
			return nil, prov.Errorf(prov.Internal, "tile %s: record %d is missing from the store", t.Path(), recs[i])
		}
		if want := (1 + bits.TrailingZeros64(uint64(recs[i]+1))) * prov.HashSize; len(b) != want {
			return nil, prov.Errorf(prov.Tampered, "record %d: its stored tree hashes are damaged (%d bytes, want %d): run 'prov verify'", recs[i], len(b), want)
		}
		copy(out[i*prov.HashSize:], b[pos*prov.HashSize:(pos+1)*prov.HashSize])
	}
	return out, nil
}

// OversizeError is an entry bundle that cannot be served because one of
// its entries is longer than a uint16 length prefix can say.
type OversizeError struct {
	Tile  Tile
	Index int64 // the first oversize entry
	Size  int   // its length in bytes
}

func (e *OversizeError) Error() string {
	return fmt.Sprintf("the entry bundle %s cannot be served: record %d is %d bytes, and an entry bundle's uint16 length prefix holds at most %d (C2SP tlog-tiles); read that record from GET /api/v1/records/%d and check it against the level-0 tile %s, or limit records with --max-record-bytes %d",
		e.Tile.Path(), e.Index, e.Size, MaxEntryBytes, e.Index, Tile{N: e.Tile.N, W: e.Tile.W}.Path(), MaxEntryBytes)
}

// entryBundle reads the entry bundle t in one read of the store.
func (h *Handler) entryBundle(ctx context.Context, t Tile, end int64) ([]byte, error) {
	from := t.N * FullWidth
	to := from + int64(t.W)
	known := end <= h.known.Load()
	var out []byte
	err := h.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		if !known {
			c, err := tx.LatestCheckpoint(ctx)
			if prov.IsKind(err, prov.NotFound) {
				return errNoCheckpoint
			} else if err != nil {
				return err
			}
			if err := h.checkSize(t, end, c); err != nil {
				return err
			}
		}
		out = make([]byte, 0, t.W*(2+256))
		next := from
		add := func(index int64, data []byte) error {
			if index != next {
				return prov.Errorf(prov.Internal, "bundle %s: the store returned record %d, want %d", t.Path(), index, next)
			}
			if len(data) > MaxEntryBytes {
				return &OversizeError{Tile: t, Index: index, Size: len(data)}
			}
			next++
			out = binary.BigEndian.AppendUint16(out, uint16(len(data)))
			out = append(out, data...)
			return nil
		}
		var err error
		if lr, ok := tx.(prov.LeafReader); ok {
			err = lr.Leaves(ctx, from, to, func(index int64, data, _ []byte) error { return add(index, data) })
		} else {
			err = tx.Entries(ctx, from, to, func(e prov.Entry) error { return add(e.Index, e.Data) })
		}
		if err == nil && next != to {
			err = prov.Errorf(prov.Internal, "bundle %s: the store holds records up to %d only", t.Path(), next)
		}
		return err
	})
	return out, err
}

// cacheControl is the Cache-Control of a resource: public, unless the
// request was authorised (then only the client may cache it).
func cacheControl(r *http.Request, maxAge int, immutable bool) string {
	scope := "public"
	if r.Header.Get("Authorization") != "" {
		scope = "private"
	}
	cc := scope + ", max-age=" + strconv.Itoa(maxAge)
	if immutable {
		cc += ", immutable"
	}
	return cc
}

// acceptsGzip reports whether the request's Accept-Encoding allows gzip.
func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

func (h *Handler) write(w http.ResponseWriter, r *http.Request, contentType, cacheControl string, body []byte) {
	hd := w.Header()
	hd.Set("Content-Type", contentType)
	hd.Set("Cache-Control", cacheControl)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// fail writes err as a problem, its status from its kind.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var oe *OversizeError
	if errors.As(err, &oe) {
		h.problem(w, r, http.StatusNotImplemented, "entry-too-large", err.Error())
		return
	}
	kind := prov.KindOf(err)
	status := http.StatusInternalServerError
	switch kind {
	case prov.Invalid:
		status = http.StatusBadRequest
	case prov.NotFound:
		status = http.StatusNotFound
	case prov.Unavailable:
		status = http.StatusServiceUnavailable
	case prov.Tampered:
		h.logger().Error("tile: damaged store", "err", err, "path", r.URL.Path)
	default:
		h.logger().Error("tile: internal error", "err", err, "path", r.URL.Path)
		err = errors.New("internal error: the server log has the details")
		kind = prov.Internal
	}
	h.problem(w, r, status, strings.ReplaceAll(string(kind), "_", "-"), err.Error())
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

// problem writes an RFC 9457 problem document, as package httpapi does.
func (h *Handler) problem(w http.ResponseWriter, r *http.Request, status int, kind, detail string) {
	hd := w.Header()
	hd.Set("Content-Type", "application/problem+json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Del("Content-Encoding")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}{"https://prov.dev/problems/" + kind, http.StatusText(status), status, detail})
}
