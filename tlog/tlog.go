// Package tlog is Prov's tamper-evident log: every record is a leaf of an
// RFC 6962 / RFC 9162 Merkle tree, whose size and root are published in
// checkpoints signed in the C2SP signed-note / tlog-checkpoint format.
//
// Log keeps the invariants above any prov.Store: it computes the tree hashes
// that are committed in the same transaction as each record (the dense layout
// of golang.org/x/mod/sumdb/tlog), signs checkpoints, proves inclusion and
// consistency, and verifies a whole log from its stored bytes.
package tlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math/bits"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prov-dev/prov"
	"golang.org/x/mod/sumdb/note"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// Log is a tamper-evident log over a prov.Store. Its methods may be called
// concurrently; appends are serialised by the store.
type Log struct {
	store    prov.Store
	origin   string
	signer   note.Signer   // nil: the log can be read and verified, not checkpointed
	verifier note.Verifier // the log's own key, from the store or the caller

	cache     *hashCache              // upper-level stored hashes, shared by proofs (see hashCache)
	keys      atomic.Pointer[keyring] // the agents' keys, as of the last append transaction
	proofSize atomic.Int64            // the tree size of the last proof of the latest checkpoint

	// MaxRecordBytes limits the size of one record (prov.DefaultMaxRecordBytes if 0).
	MaxRecordBytes int
	// Now returns the current time; time.Now if nil.
	Now func() time.Time

	indexers []Indexer
}

// Indexer keeps an index beside the log: AppendTx calls it with the entries
// it has just stored (Index set), in the same transaction, so that the index
// holds a record if and only if the log does. An error rolls the append back.
type Indexer func(ctx context.Context, tx prov.Tx, entries []prov.Entry) error

// AddIndexer adds an Indexer to every later append. It must be called before
// the log is used concurrently.
func (l *Log) AddIndexer(ix Indexer) { l.indexers = append(l.indexers, ix) }

// Options configure Open.
type Options struct {
	// Signer signs checkpoints. Without it, Checkpoint fails and the rest works.
	Signer note.Signer
	// Verifier overrides the verifier key recorded in the store (for auditors
	// who hold the key out of band). If nil, the signer's key is used, or
	// else the one recorded at init.
	Verifier note.Verifier
}

// ValidOrigin reports whether origin can name a log: a non-empty string with
// no spaces and no '+', as C2SP signed-note key names require.
func ValidOrigin(origin string) error {
	if origin == "" || !utf8.ValidString(origin) || strings.IndexFunc(origin, unicode.IsSpace) >= 0 || strings.Contains(origin, "+") {
		return prov.Errorf(prov.Invalid, "origin %q is not a valid log name: use a non-empty name with no spaces and no '+', such as example.com/prov/app", origin)
	}
	return nil
}

// GenerateKey returns a new Ed25519 signed-note key pair named origin.
func GenerateKey(origin string) (skey, vkey string, err error) {
	if err := ValidOrigin(origin); err != nil {
		return "", "", err
	}
	return note.GenerateKey(rand.Reader, origin)
}

// Init records a new log's origin and verifier key in an empty store. It is
// an error of kind Conflict to init a store that holds a log already.
func Init(ctx context.Context, store prov.Store, origin, vkey string) error {
	if err := ValidOrigin(origin); err != nil {
		return err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return prov.Errorf(prov.Invalid, "init: bad verifier key: %v", err)
	}
	if v.Name() != origin {
		return prov.Errorf(prov.Invalid, "init: key is named %q, not %q", v.Name(), origin)
	}
	return store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		have, err := tx.Meta(ctx, prov.MetaOrigin)
		if err != nil {
			return err
		}
		if have != "" {
			return prov.Errorf(prov.Conflict, "the store holds the log %q already", have)
		}
		if err := tx.SetMeta(ctx, prov.MetaOrigin, origin); err != nil {
			return err
		}
		return tx.SetMeta(ctx, prov.MetaVerifier, vkey)
	})
}

// Open opens the log kept in store. It fails with kind NotFound if the store
// was never initialised, and with kind Invalid if the signer's key does not
// belong to this log.
func Open(ctx context.Context, store prov.Store, opts Options) (*Log, error) {
	var origin, vkey string
	err := store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		var err error
		if origin, err = tx.Meta(ctx, prov.MetaOrigin); err != nil {
			return err
		}
		vkey, err = tx.Meta(ctx, prov.MetaVerifier)
		return err
	})
	if err != nil {
		return nil, err
	}
	if origin == "" {
		return nil, prov.Errorf(prov.NotFound, "the store holds no log: run 'prov init' first")
	}
	l := &Log{store: store, origin: origin, signer: opts.Signer, verifier: opts.Verifier, cache: newHashCache()}
	if l.verifier == nil && vkey != "" {
		if l.verifier, err = note.NewVerifier(vkey); err != nil {
			return nil, prov.Errorf(prov.Tampered, "the store's verifier key is damaged: %v", err)
		}
	}
	if s := opts.Signer; s != nil {
		if s.Name() != origin {
			return nil, prov.Errorf(prov.Invalid, "the key is for the log %q, but the store holds %q: pass the right --key", s.Name(), origin)
		}
		if l.verifier != nil && (l.verifier.KeyHash() != s.KeyHash() || l.verifier.Name() != s.Name()) {
			return nil, prov.Errorf(prov.Invalid, "the key does not match the verifier key recorded for %q: pass the right --key", origin)
		}
	}
	return l, nil
}

// Origin returns the log's name, the first line of its checkpoints.
func (l *Log) Origin() string { return l.origin }

// Verifier returns the key checkpoints are verified with.
func (l *Log) Verifier() note.Verifier { return l.verifier }

// Store returns the store the log is kept in.
func (l *Log) Store() prov.Store { return l.store }

func (l *Log) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Log) maxRecordBytes() int {
	if l.MaxRecordBytes > 0 {
		return l.MaxRecordBytes
	}
	return prov.DefaultMaxRecordBytes
}

// RecordError says which record of a batch was refused.
type RecordError struct {
	N   int // position in the batch, from 0
	Err error
}

func (e *RecordError) Error() string { return fmt.Sprintf("record %d: %v", e.N+1, e.Err) }
func (e *RecordError) Unwrap() error { return e.Err }

// Prepare validates one record and derives its index fields. It is what
// Append does to every record before storing it.
func (l *Log) Prepare(data []byte) (prov.Entry, error) {
	data = bytes.Trim(data, " \t\r\n") // JSON white space only, as prov.ParseRecord
	if max := l.maxRecordBytes(); len(data) > max {
		return prov.Entry{}, prov.Errorf(prov.Invalid, "record is %d bytes, over the limit of %d bytes (raise it with --max-record-bytes)", len(data), max)
	}
	rec, env, err := prov.RecordBytes(data)
	if err != nil {
		return prov.Entry{}, err
	}
	r, err := prov.ParseRecord(rec)
	if err != nil {
		if env != nil {
			return prov.Entry{}, prov.Errorf(prov.KindOf(err), "the envelope's payload: %v", err)
		}
		return prov.Entry{}, err
	}
	e := prov.Entry{Data: data, Type: r.Type, EventID: r.ID, Time: r.Time, Envelope: env}
	if r.Activity != nil {
		e.ActivityID = r.Activity.ID
	}
	if r.Agent != nil {
		e.AgentID = r.Agent.ID
	}
	if r.Type == prov.TypeKey {
		if e.Key, err = prov.ParseKeyEvent(r); err != nil {
			return prov.Entry{}, err
		}
	}
	if env != nil {
		if e.AgentID == "" {
			return prov.Entry{}, prov.Errorf(prov.Invalid, `a signed record must name its agent (field "agent"): the keys that sign it are that agent's`)
		}
		// Verify now, on the caller's CPU, if the keys are known; the
		// append transaction checks their validity at the record's index,
		// and verifies those it could not.
		if ring := l.keys.Load(); ring != nil {
			ok, why := verifyEnvelope(ring, env)
			if why != "" {
				return prov.Entry{}, prov.Errorf(prov.Invalid, "%s: the record is not what the key signed (forged or altered)", why)
			}
			e.Verified = ok
		}
	}
	return e, nil
}

// Append validates records and appends them to the log in one transaction:
// either all are stored, with their tree hashes, or none is. It returns the
// index of the first; the others follow in order. A refused record is
// reported as a *RecordError.
//
// A large batch is validated on other goroutines while the transaction
// stores the records validated already (see pipeline): the checks and the
// errors are the same.
func (l *Log) Append(ctx context.Context, records [][]byte) (first int64, err error) {
	if len(records) >= pipelineMin && runtime.GOMAXPROCS(0) > 1 {
		return l.appendPipelined(ctx, records)
	}
	entries, err := l.PrepareAll(records)
	if err != nil {
		return 0, err
	}
	return l.AppendEntries(ctx, entries)
}

// PrepareAll runs Prepare on every record, on all CPUs for large batches. A
// refused record is reported as a *RecordError naming the first one.
func (l *Log) PrepareAll(records [][]byte) ([]prov.Entry, error) {
	entries := make([]prov.Entry, len(records))
	workers := min(runtime.GOMAXPROCS(0), len(records)/64)
	if workers <= 1 {
		for i, data := range records {
			var err error
			if entries[i], err = l.Prepare(data); err != nil {
				return nil, &RecordError{N: i, Err: err}
			}
		}
		return entries, nil
	}
	errs := make([]*RecordError, workers)
	var wg sync.WaitGroup
	chunk := (len(records) + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, len(records))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				var err error
				if entries[i], err = l.Prepare(records[i]); err != nil {
					errs[w] = &RecordError{N: i, Err: err}
					return
				}
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return nil, e // the first chunk's error is the first bad record
		}
	}
	return entries, nil
}

// AppendEntries appends prepared entries (see Prepare) in one transaction,
// assigning their indexes and tree hashes, and returns the first index.
func (l *Log) AppendEntries(ctx context.Context, entries []prov.Entry) (first int64, err error) {
	err = l.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		first, err = l.AppendTx(ctx, tx, entries)
		return err
	})
	if err == nil {
		l.committed(entries)
	}
	return first, err
}

// committed keeps what the next append needs of entries, appended (Index
// and Hashes set) in a transaction that has committed: the tree's frontier,
// and how far the published keys reach. It must not be given entries of a
// transaction that failed.
func (l *Log) committed(entries []prov.Entry) {
	if len(entries) == 0 {
		return
	}
	if l.cache != nil {
		l.cache.putFrontier(entries)
	}
	l.keysAppended(entries)
}

// AppendTx appends prepared entries inside tx, a transaction of the log's
// store, so that a caller can commit other writes atomically with them (the
// capture sequencer removes changes from its queue in the same transaction).
// It sets each entry's Index and Hashes, runs the log's indexers, and
// returns the first index.
//
// It enforces the producer signature rules at each entry's index (see
// checkSignatures): signed records' keys must be their agent's and valid,
// agents whose policy requires signatures must sign, key records must apply.
// A refused entry is reported as a *RecordError.
func (l *Log) AppendTx(ctx context.Context, tx prov.Tx, entries []prov.Entry) (first int64, err error) {
	return l.appendTx(ctx, tx, entries, nil, false)
}

// appendTx is AppendTx; leaves, if not nil, are the entries' leaf hashes;
// with deferred, through tx's AppendDeferred (tx must be a
// prov.DeferringTx).
func (l *Log) appendTx(ctx context.Context, tx prov.Tx, entries []prov.Entry, leaves []sumdb.Hash, deferred bool) (first int64, err error) {
	if len(entries) == 0 {
		return 0, prov.Errorf(prov.Invalid, "nothing to append")
	}
	if err := checkKeyAuthority(ctx, entries); err != nil {
		return 0, err
	}
	size, err := tx.Size(ctx)
	if err != nil {
		return 0, err
	}
	if err := l.checkSignatures(ctx, tx, size, entries); err != nil {
		return 0, err
	}
	th := l.newTreeHasher(ctx, tx, size, len(entries))
	if err := th.hash(entries, leaves); err != nil {
		return 0, err
	}
	if deferred {
		err = tx.(prov.DeferringTx).AppendDeferred(ctx, entries)
	} else {
		err = tx.Append(ctx, entries)
	}
	if err != nil {
		return 0, err
	}
	for _, ix := range l.indexers {
		if err := ix(ctx, tx, entries); err != nil {
			return 0, err
		}
	}
	return size, nil
}

// treeHasher computes the stored tree hashes of entries appended in one
// transaction, in order, from the hashes of earlier ones.
type treeHasher struct {
	fresh map[int64]sumdb.Hash // stored hashes computed in this transaction
	hr    *hashReader
	next  int64  // index of the next entry
	buf   []byte // the entries' Hashes, back to back
}

func (l *Log) newTreeHasher(ctx context.Context, tx prov.ReadTx, size int64, n int) *treeHasher {
	fresh := make(map[int64]sumdb.Hash, 2*n)
	return &treeHasher{
		fresh: fresh,
		hr:    &hashReader{ctx: ctx, tx: tx, fresh: fresh, extra: -1, cache: l.cache, limit: size},
		next:  size,
		buf:   make([]byte, 0, 2*n*prov.HashSize+8*prov.HashSize),
	}
}

// hash sets the Index and Hashes of entries, the next ones of the log;
// leaves, if not nil, are their leaf hashes (sumdb.RecordHash of Data).
func (th *treeHasher) hash(entries []prov.Entry, leaves []sumdb.Hash) error {
	for i := range entries {
		n := th.next
		var leaf sumdb.Hash
		if leaves != nil {
			leaf = leaves[i]
		} else {
			leaf = sumdb.RecordHash(entries[i].Data)
		}
		hashes, err := sumdb.StoredHashesForRecordHash(n, leaf, th.hr)
		if err != nil {
			return err
		}
		start := len(th.buf)
		base := sumdb.StoredHashIndex(0, n)
		for j, h := range hashes {
			th.fresh[base+int64(j)] = h
			th.buf = append(th.buf, h[:]...)
		}
		entries[i].Index = n
		entries[i].Hashes = th.buf[start:len(th.buf):len(th.buf)]
		th.next++
	}
	return nil
}

// hashReader reads stored hashes: those computed in this transaction from
// fresh, upper-level ones from the log's cache, the rest from the store.
type hashReader struct {
	ctx   context.Context
	tx    prov.ReadTx
	fresh map[int64]sumdb.Hash
	// extra is a record whose stored hashes are fetched along with the next
	// read, into extraHashes (saves a round trip when proving inclusion).
	extra       int64
	extraHashes []byte

	// cache, if not nil, serves hashes of records below limit; with fill,
	// the hashes read from the store are kept in it too (only in read
	// transactions: what they see is committed).
	cache *hashCache
	limit int64
	fill  bool
	// pre holds stored hashes read already, by record. fetch, if not nil,
	// reads the others in place of tx.Hashes.
	pre   map[int64][]byte
	fetch func(ctx context.Context, records []int64) ([][]byte, error)
}

// recordOf returns the record whose stored hashes hold stored hash index i,
// and the hash's position among them.
func recordOf(i int64) (record int64, pos int) {
	level, k := sumdb.SplitStoredHashIndex(i)
	return (k+1)<<uint(level) - 1, level
}

// storedHashCount is the number of hashes record n stores.
func storedHashCount(n int64) int { return 1 + bits.TrailingZeros64(uint64(n+1)) }

func (r *hashReader) ReadHashes(indexes []int64) ([]sumdb.Hash, error) {
	out := make([]sumdb.Hash, len(indexes))
	if r.extra < 0 && r.fresh != nil { // appending: most reads are hashes of this batch
		all := true
		for j, i := range indexes {
			h, ok := r.fresh[i]
			if !ok {
				all = false
				break
			}
			out[j] = h
		}
		if all {
			return out, nil
		}
	}
	done := make([]bool, len(indexes))
	ndone := 0
	if r.fresh != nil {
		for j, i := range indexes {
			if h, ok := r.fresh[i]; ok {
				out[j], done[j] = h, true
				ndone++
			}
		}
	}
	if r.cache != nil && ndone < len(indexes) {
		ndone += r.cache.lookup(indexes, out, done, r.limit)
	}
	var want []int64
	pos := make(map[int64]int, len(indexes)-ndone)
	for j, i := range indexes {
		if done[j] {
			continue
		}
		rec, _ := recordOf(i)
		if _, ok := r.pre[rec]; ok {
			continue
		}
		if _, ok := pos[rec]; !ok {
			pos[rec] = len(want)
			want = append(want, rec)
		}
	}
	extra := -1
	if r.extra >= 0 && r.extraHashes == nil {
		if b, ok := r.pre[r.extra]; ok {
			r.extraHashes = b
		} else if p, ok := pos[r.extra]; ok {
			extra = p
		} else {
			extra = len(want)
			want = append(want, r.extra)
		}
	}
	var blobs [][]byte
	if len(want) > 0 {
		var err error
		if r.fetch != nil {
			blobs, err = r.fetch(r.ctx, want)
		} else {
			blobs, err = r.tx.Hashes(r.ctx, want)
		}
		if err != nil {
			return nil, err
		}
	}
	if extra >= 0 {
		r.extraHashes = blobs[extra]
	}
	var keep, edge []int64
	var keepHashes, edgeHashes []sumdb.Hash
	for j, i := range indexes {
		if done[j] {
			continue
		}
		rec, level := recordOf(i)
		blob, ok := r.pre[rec]
		if !ok {
			blob = blobs[pos[rec]]
		}
		if len(blob) != storedHashCount(rec)*prov.HashSize {
			return nil, prov.Errorf(prov.Tampered, "record %d: its stored tree hashes are damaged (%d bytes, want %d): run 'prov verify'", rec, len(blob), storedHashCount(rec)*prov.HashSize)
		}
		copy(out[j][:], blob[level*prov.HashSize:])
		if r.fill && r.cache != nil && level >= cacheMinLevel && rec < r.limit {
			keep = append(keep, i)
			keepHashes = append(keepHashes, out[j])
		}
		if r.fresh != nil && r.cache != nil && rec < r.limit { // appending: committed before this transaction
			edge = append(edge, i)
			edgeHashes = append(edgeHashes, out[j])
		}
	}
	if len(keep) > 0 {
		r.cache.put(keep, keepHashes)
	}
	if len(edge) > 0 {
		r.cache.putEdge(edge, edgeHashes)
	}
	return out, nil
}

// newHashReader reads the stored hashes of records below size (the
// transaction's size) through the log's cache; fill says whether tx is a
// read transaction, whose hashes may be kept.
func (l *Log) newHashReader(ctx context.Context, tx prov.ReadTx, size int64, fill bool) *hashReader {
	return &hashReader{ctx: ctx, tx: tx, extra: -1, cache: l.cache, limit: size, fill: fill}
}

// Size returns the number of records in the log.
func (l *Log) Size(ctx context.Context) (n int64, err error) {
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		n, err = tx.Size(ctx)
		return err
	})
	return n, err
}

// Get returns the stored record at index, exactly as it was appended.
func (l *Log) Get(ctx context.Context, index int64) (e prov.Entry, err error) {
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		e, err = tx.Entry(ctx, index)
		return err
	})
	return e, err
}

// Entries calls fn for each record with from <= index < to, in order.
func (l *Log) Entries(ctx context.Context, from, to int64, fn func(prov.Entry) error) error {
	return l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		return tx.Entries(ctx, from, to, fn)
	})
}

// TreeHash returns the root hash of the tree of the first size records.
func (l *Log) TreeHash(ctx context.Context, size int64) (root sumdb.Hash, err error) {
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		n, err := tx.Size(ctx)
		if err != nil {
			return err
		}
		if size < 0 || size > n {
			return prov.Errorf(prov.Invalid, "tree size %d is out of range: the log has %d records", size, n)
		}
		root, err = sumdb.TreeHash(size, l.newHashReader(ctx, tx, n, true))
		return err
	})
	return root, err
}

// CheckpointText returns the unsigned body of a C2SP tlog-checkpoint.
func CheckpointText(origin string, size int64, root sumdb.Hash) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root[:]))
}

// ParseCheckpointText parses the body of a C2SP tlog-checkpoint: origin,
// size and root, then optional extension lines, which are returned as is.
func ParseCheckpointText(text string) (origin string, size int64, root sumdb.Hash, ext []string, err error) {
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return "", 0, root, nil, fmt.Errorf("not a checkpoint: want origin, size and root hash lines")
	}
	origin = lines[0]
	if origin == "" {
		return "", 0, root, nil, fmt.Errorf("checkpoint has an empty origin line")
	}
	size, err = strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return "", 0, root, nil, fmt.Errorf("checkpoint size %q is not a decimal number", lines[1])
	}
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != prov.HashSize {
		return "", 0, root, nil, fmt.Errorf("checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	copy(root[:], h)
	for _, x := range lines[3 : len(lines)-1] {
		if x == "" {
			return "", 0, root, nil, fmt.Errorf("checkpoint has an empty extension line")
		}
		ext = append(ext, x)
	}
	return origin, size, root, ext, nil
}

// Checkpoint returns the latest checkpoint, signing and storing a new one
// first if the log has grown since the last (created reports that).
func (l *Log) Checkpoint(ctx context.Context) (c prov.Checkpoint, created bool, err error) {
	if l.signer == nil {
		return c, false, errNoSigner
	}
	err = l.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		c, created, err = l.CheckpointTx(ctx, tx)
		return err
	})
	return c, created, err
}

var errNoSigner = prov.Errorf(prov.Unauthorized, "signing a checkpoint needs the log's private key: pass --key (or PROV_KEY)")

// CanSign reports whether the log has its private key, and so can sign
// checkpoints.
func (l *Log) CanSign() bool { return l.signer != nil }

// CheckpointTx is Checkpoint inside tx, a transaction of the log's store.
func (l *Log) CheckpointTx(ctx context.Context, tx prov.Tx) (c prov.Checkpoint, created bool, err error) {
	c, created, err = l.signCheckpoint(ctx, tx, false)
	if err != nil || !created {
		return c, false, err
	}
	return c, true, tx.PutCheckpoint(ctx, c)
}

// signCheckpoint returns the latest stored checkpoint if it is of the size
// that tx sees, and otherwise signs a new one (created), which it does not
// store. fill: tx is a read transaction, whose hashes may be cached.
func (l *Log) signCheckpoint(ctx context.Context, tx prov.ReadTx, fill bool) (c prov.Checkpoint, created bool, err error) {
	if l.signer == nil {
		return c, false, errNoSigner
	}
	size, err := tx.Size(ctx)
	if err != nil {
		return c, false, err
	}
	latest, err := tx.LatestCheckpoint(ctx)
	if err == nil && latest.Size == size {
		return latest, false, nil
	}
	if err != nil && !prov.IsKind(err, prov.NotFound) {
		return c, false, err
	}
	root, err := sumdb.TreeHash(size, l.newHashReader(ctx, tx, size, fill))
	if err != nil {
		return c, false, err
	}
	signed, err := note.Sign(&note.Note{Text: CheckpointText(l.origin, size, root)}, l.signer)
	if err != nil {
		return c, false, fmt.Errorf("sign checkpoint: %w", err)
	}
	return prov.Checkpoint{Size: size, Root: root, Note: signed, Created: l.now().UTC()}, true, nil
}

// LatestCheckpoint returns the stored checkpoint of the greatest size, or an
// error of kind NotFound.
func (l *Log) LatestCheckpoint(ctx context.Context) (c prov.Checkpoint, err error) {
	err = l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		c, err = tx.LatestCheckpoint(ctx)
		return err
	})
	return c, err
}

// OpenCheckpoint verifies a signed checkpoint with the log's verifier key and
// parses it. It fails with kind Tampered if the signature does not verify or
// the checkpoint is for another log.
func (l *Log) OpenCheckpoint(signed []byte) (size int64, root sumdb.Hash, err error) {
	if l.verifier == nil {
		return 0, root, prov.Errorf(prov.Invalid, "no verifier key for this log")
	}
	n, err := note.Open(signed, note.VerifierList(l.verifier))
	if err != nil {
		return 0, root, prov.Errorf(prov.Tampered, "checkpoint signature does not verify with the key of %q: %v", l.origin, err)
	}
	origin, size, root, _, err := ParseCheckpointText(n.Text)
	if err != nil {
		return 0, root, prov.Errorf(prov.Invalid, "%v", err)
	}
	if origin != l.origin {
		return 0, root, prov.Errorf(prov.Tampered, "checkpoint is for the log %q, not %q", origin, l.origin)
	}
	return size, root, nil
}
