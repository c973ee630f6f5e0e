package prov

import (
	"context"
	"time"
)

// HashSize is the size of a Merkle tree hash (SHA-256).
const HashSize = 32

// Entry is one record as the store keeps it: its position in the log, its
// exact bytes, the Merkle tree hashes that were committed with it, and the
// index fields derived from it.
//
// Hashes holds the stored hashes of golang.org/x/mod/sumdb/tlog's dense
// layout that record Index completes, concatenated: the leaf hash first, then
// one hash per subtree the leaf completes (1 + trailing ones of Index hashes).
// The store does not interpret them; package tlog computes and checks them.
type Entry struct {
	Index  int64
	Data   []byte
	Hashes []byte

	// Index fields, derived from Data, so that the log can be searched.
	Type       string
	EventID    string
	ActivityID string
	AgentID    string
	Time       time.Time

	// Set by tlog.Prepare for tlog's append path; stores ignore them (they
	// are derived from Data).
	Envelope *Envelope // the DSSE envelope the record arrived in, if it was signed
	Verified bool      // every signature of Envelope was checked and verifies
	Key      *KeyEvent // the key event of a key record
}

// Checkpoint is a signed statement of the log's size and root hash, in the
// C2SP tlog-checkpoint signed-note format.
type Checkpoint struct {
	Size    int64
	Root    [HashSize]byte
	Note    []byte    // the signed note, exactly as signed
	Created time.Time // when it was stored; not signed
}

// Store persists a log. It knows nothing of Merkle trees or signatures: the
// invariants are kept once, above the backends, by package tlog, and every
// backend passes the conformance suite in package storetest.
//
// Implementations must be safe for concurrent use by multiple goroutines and
// processes: Update transactions are serialised against each other (a second
// writer waits), View transactions see one consistent snapshot.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(ctx context.Context, tx ReadTx) error) error
	// Update runs fn in a read-write transaction that holds the log's write
	// lock. If fn returns an error, nothing it wrote is kept; if Update
	// returns nil, everything it wrote is durable.
	Update(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Close releases the store's resources.
	Close() error
}

// ReadTx reads a consistent snapshot of the log.
type ReadTx interface {
	// Size returns the number of records: one more than the highest index.
	Size(ctx context.Context) (int64, error)
	// Entry returns the record at index, or an error of kind NotFound.
	Entry(ctx context.Context, index int64) (Entry, error)
	// Entries calls fn for each record with from <= index < to, in index
	// order, stopping at the first error. Entry.Data and Entry.Hashes are
	// only valid during the call.
	Entries(ctx context.Context, from, to int64, fn func(Entry) error) error
	// Hashes returns the stored hashes of the records at the given indexes,
	// in the same order, or an error of kind NotFound if one is missing.
	Hashes(ctx context.Context, indexes []int64) ([][]byte, error)
	// Checkpoints calls fn for each stored checkpoint in increasing size.
	Checkpoints(ctx context.Context, fn func(Checkpoint) error) error
	// LatestCheckpoint returns the checkpoint of the greatest size, or an
	// error of kind NotFound if there is none.
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)
	// Meta returns the value of a log setting, or "" if it is not set.
	Meta(ctx context.Context, key string) (string, error)
	// EventIndexes returns the index of the record of each of the producer
	// event ids that the log holds; ids it does not hold are absent.
	EventIndexes(ctx context.Context, ids []string) (map[string]int64, error)
}

// Tx is a read-write transaction.
type Tx interface {
	ReadTx
	// Append stores entries, whose indexes must continue the log without
	// gaps; otherwise it returns an error of kind Conflict. An entry whose
	// EventID is already in the log is refused with kind Conflict.
	Append(ctx context.Context, entries []Entry) error
	// PutCheckpoint stores a checkpoint. Storing one for a size that has one
	// already is a no-op.
	PutCheckpoint(ctx context.Context, c Checkpoint) error
	// SetMeta sets a log setting.
	SetMeta(ctx context.Context, key, value string) error
}

// Meta keys.
const (
	MetaOrigin   = "origin"   // the log's origin line (its name in checkpoints)
	MetaVerifier = "verifier" // the signed-note verifier key of the log's signer
)

// LeafReader is an optional power of a ReadTx, found by type assertion:
// Leaves is Entries reduced to what verification reads (index, bytes, stored
// hashes), for backends that can skip the index fields. data and hashes are
// only valid during the call.
type LeafReader interface {
	Leaves(ctx context.Context, from, to int64, fn func(index int64, data, hashes []byte) error) error
}

// ProofReader is an optional power of a Store, found by type assertion, for
// backends where each statement is a round trip to a server: it reads what
// an inclusion proof needs from one snapshot, at once. Package tlog proves
// inclusion through it when the store has it.
type ProofReader interface {
	// ReadForProof returns the number of records, the checkpoint of the
	// greatest size (found is false if there is none), and the stored hashes
	// of the records at indexes, in the same order: nil for an index with no
	// record.
	ReadForProof(ctx context.Context, indexes []int64) (size int64, latest Checkpoint, found bool, hashes [][]byte, err error)
}

// DeferringTx is an optional power of a Tx, found by type assertion, for
// backends where each statement is a round trip to a server.
// AppendDeferred is Append whose statement may be sent later: with the
// transaction's next statement, or with its commit, in one round trip. The
// transaction's later reads see the entries as if Append had stored them.
// Errors that Append reports at once may then come from the statement that
// follows or from Update: in particular an entry whose EventID is in the log
// already (kind Conflict), which fails the whole transaction. Callers that
// must tell a duplicate event id apart look ids up first (EventIndexes).
type DeferringTx interface {
	AppendDeferred(ctx context.Context, entries []Entry) error
}

// TypeReader is an optional power of a ReadTx, found by type assertion:
// Entries of one record type only, for types the store indexes (key
// records: tlog reads the agents' keys with it in every append
// transaction). fn may use the transaction.
type TypeReader interface {
	EntriesOfType(ctx context.Context, typ string, from, to int64, fn func(Entry) error) error
}
