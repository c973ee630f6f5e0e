package tlog

import (
	"bytes"
	"context"

	"github.com/prov-dev/prov"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// Appended is where one record of an idempotent append is in the log.
type Appended struct {
	Index     int64 `json:"index"`
	Duplicate bool  `json:"duplicate,omitempty"` // its event id was in the log already: nothing was appended for it
}

// AppendIdempotent appends records as Append does, except that a record
// whose producer event id (the record's "id") the log already holds with
// the same bytes is not appended again: its result is the original index,
// marked Duplicate, so that a producer may retry a request whose answer it
// lost. An event id already held with other bytes, or twice in records with
// other bytes, is an error of kind Conflict and nothing is appended. One
// transaction: the check and the append see the same log.
func (l *Log) AppendIdempotent(ctx context.Context, records [][]byte) ([]Appended, error) {
	entries, err := l.PrepareAll(records)
	if err != nil {
		return nil, err
	}
	return l.AppendEntriesIdempotent(ctx, entries)
}

// AppendEntriesIdempotent is AppendIdempotent for prepared entries.
func (l *Log) AppendEntriesIdempotent(ctx context.Context, entries []prov.Entry) ([]Appended, error) {
	out := make([]Appended, len(entries))
	appended, err := l.updateIdempotent(ctx, entries, out, nil, nil)
	if err != nil {
		return nil, err
	}
	l.committed(appended)
	return out, nil
}

// updateIdempotent appends entries in one transaction of the store as
// AppendEntriesIdempotent does, filling out, and returns the entries
// appended. before, if not nil, writes in the same transaction, first;
// observe, if not nil, is called as the transaction's work starts (true)
// and ends (false).
//
// On a store that defers appends (prov.DeferringTx: PostgreSQL) it first
// tries optimistically: no event-id lookup, and the insert sent with the
// commit, which saves two round trips of the three that follow BEGIN. An
// event id already in the log then fails the transaction with kind
// Conflict, and the append is tried again as usual, looking the ids up, so
// that duplicates get their original index and conflicts their precise
// error. Retries of acknowledged requests are rare; every append pays the
// round trips.
func (l *Log) updateIdempotent(ctx context.Context, entries []prov.Entry, out []Appended, before func(context.Context, prov.Tx) error, observe func(start bool)) ([]prov.Entry, error) {
	optimistic := true
	for {
		var appended []prov.Entry
		tried := false
		err := l.store.Update(ctx, func(ctx context.Context, tx prov.Tx) (err error) {
			if observe != nil {
				observe(true)
				defer observe(false)
			}
			if before != nil {
				if err := before(ctx, tx); err != nil {
					return err
				}
			}
			_, defers := tx.(prov.DeferringTx)
			tried = optimistic && defers
			appended, err = l.appendIdempotentTx(ctx, tx, entries, out, tried)
			return err
		})
		if err != nil && tried && prov.IsKind(err, prov.Conflict) {
			optimistic = false
			continue
		}
		return appended, err
	}
}

// AppendChunksIdempotent is AppendEntriesIdempotent for entries that come
// in chunks, in one transaction: it calls next for the next chunk until
// next returns none, and appends each chunk (with the log's indexers)
// before it asks for the next, so that the caller may prepare the next
// chunk meanwhile. The results are those of all chunks' entries in order,
// and a *RecordError's N counts from the first entry of the first chunk. An
// error from next rolls the transaction back and is returned as it is. next
// is called inside the store's transaction: it must not use the store.
func (l *Log) AppendChunksIdempotent(ctx context.Context, next func() (Chunk, error)) ([]Appended, error) {
	var out []Appended
	var appended []prov.Entry
	err := l.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		b := &idempotentBatch{inBatch: map[string]int{}}
		for {
			c, err := next()
			if err != nil {
				return err
			}
			if len(c.Entries) == 0 {
				break
			}
			if err := l.appendIdempotentChunk(ctx, tx, b, c.Entries, c.leaves); err != nil {
				return err
			}
		}
		out, appended = b.results(), b.appended
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.committed(appended)
	return out, nil
}

// Chunk is a chunk of entries for AppendChunksIdempotent, with the leaf
// hashes of their records if NewChunk computed them.
type Chunk struct {
	Entries []prov.Entry
	leaves  []sumdb.Hash
}

// NewChunk makes a chunk of entries and computes their records' leaf
// hashes, on the caller's goroutine, so that the append transaction need
// not: a caller that prepares chunks on other goroutines calls it there.
// The entries' Data must not change afterwards.
func NewChunk(entries []prov.Entry) Chunk {
	leaves := make([]sumdb.Hash, len(entries))
	for i := range entries {
		leaves[i] = sumdb.RecordHash(entries[i].Data)
	}
	return Chunk{Entries: entries, leaves: leaves}
}

// appendIdempotentTx is AppendEntriesIdempotent inside tx; out has an
// element for each entry. It returns the entries it appended (not the
// duplicates), with their Index and Hashes.
//
// optimistic (only for a prov.DeferringTx) skips the lookup of event ids in
// the log and defers the append: a duplicate then fails the transaction
// with kind Conflict (see updateIdempotent).
func (l *Log) appendIdempotentTx(ctx context.Context, tx prov.Tx, entries []prov.Entry, out []Appended, optimistic bool) ([]prov.Entry, error) {
	b := &idempotentBatch{out: out[:0], inBatch: map[string]int{}, optimistic: optimistic}
	if err := l.appendIdempotentChunk(ctx, tx, b, entries, nil); err != nil {
		return nil, err
	}
	b.results()
	return b.appended, nil
}

// idempotentBatch is an idempotent append in progress in one transaction,
// over one chunk of entries or more.
type idempotentBatch struct {
	data    [][]byte       // every entry's record so far, for duplicates across chunks
	out     []Appended     // every entry's result so far (duplicates of the batch: -1 - position)
	inBatch map[string]int // event id → position of its first entry
	// optimistic: ids are not looked up in the log, and the append is
	// deferred (appendIdempotentTx)
	optimistic bool

	appended []prov.Entry // the entries appended, with their Index and Hashes, in order
}

// appendIdempotentChunk appends the entries of one chunk that are new to
// the log and to the batch; leaves, if not nil, are their leaf hashes.
func (l *Log) appendIdempotentChunk(ctx context.Context, tx prov.Tx, b *idempotentBatch, entries []prov.Entry, leaves []sumdb.Hash) error {
	offset := len(b.out)
	b.out = append(b.out, make([]Appended, len(entries))...)
	for _, e := range entries {
		b.data = append(b.data, e.Data)
	}
	out := b.out
	var ids []string
	for _, e := range entries {
		if e.EventID != "" {
			ids = append(ids, e.EventID)
		}
	}
	var held map[string]int64 // none looked up when optimistic
	if !b.optimistic {
		var err error
		if held, err = tx.EventIndexes(ctx, ids); err != nil {
			return err
		}
	}
	var fresh []prov.Entry
	var freshLeaves []sumdb.Hash
	var pos []int
	add := func(k, i int) {
		fresh, pos = append(fresh, entries[k]), append(pos, i)
		if leaves != nil {
			freshLeaves = append(freshLeaves, leaves[k])
		}
	}
	for k, e := range entries {
		i := offset + k
		if e.EventID == "" {
			add(k, i)
			continue
		}
		if idx, ok := held[e.EventID]; ok {
			old, err := tx.Entry(ctx, idx)
			if err != nil {
				return err
			}
			if !bytes.Equal(old.Data, e.Data) {
				return &RecordError{N: i, Err: prov.Errorf(prov.Conflict, "event id %q is in the log already (index %d) with another record: a retry must send the same bytes, a new event a new id", e.EventID, idx)}
			}
			out[i] = Appended{Index: idx, Duplicate: true}
			continue
		}
		if j, ok := b.inBatch[e.EventID]; ok {
			if !bytes.Equal(b.data[j], e.Data) {
				return &RecordError{N: i, Err: prov.Errorf(prov.Conflict, "event id %q is twice in the input with different records", e.EventID)}
			}
			out[i] = Appended{Index: -1 - int64(j), Duplicate: true} // resolved in results
			continue
		}
		b.inBatch[e.EventID] = i
		add(k, i)
	}
	if len(fresh) > 0 {
		first, err := l.appendTx(ctx, tx, fresh, freshLeaves, b.optimistic)
		if re, ok := err.(*RecordError); ok {
			return &RecordError{N: pos[re.N], Err: re.Err} // its position in the caller's entries
		}
		if err != nil {
			return err
		}
		for k, i := range pos {
			out[i] = Appended{Index: first + int64(k)}
		}
		b.appended = append(b.appended, fresh...)
	}
	return nil
}

// results resolves the duplicates within the batch and returns every
// entry's result.
func (b *idempotentBatch) results() []Appended {
	for i := range b.out {
		if b.out[i].Index < 0 {
			b.out[i].Index = b.out[-1-b.out[i].Index].Index
		}
	}
	return b.out
}
