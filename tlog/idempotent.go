package tlog

import (
	"bytes"
	"context"

	"github.com/prov-dev/prov"
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
	err := l.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		return l.appendIdempotentTx(ctx, tx, entries, out)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// appendIdempotentTx is AppendEntriesIdempotent inside tx; out has an
// element for each entry.
func (l *Log) appendIdempotentTx(ctx context.Context, tx prov.Tx, entries []prov.Entry, out []Appended) error {
	var ids []string
	for _, e := range entries {
		if e.EventID != "" {
			ids = append(ids, e.EventID)
		}
	}
	held, err := tx.EventIndexes(ctx, ids)
	if err != nil {
		return err
	}
	var fresh []prov.Entry
	var pos []int
	inBatch := map[string]int{} // event id → position in entries
	for i, e := range entries {
		if e.EventID == "" {
			fresh, pos = append(fresh, e), append(pos, i)
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
		if j, ok := inBatch[e.EventID]; ok {
			if !bytes.Equal(entries[j].Data, e.Data) {
				return &RecordError{N: i, Err: prov.Errorf(prov.Conflict, "event id %q is twice in the input with different records", e.EventID)}
			}
			out[i] = Appended{Index: -1 - int64(j), Duplicate: true} // resolved below
			continue
		}
		inBatch[e.EventID] = i
		fresh, pos = append(fresh, e), append(pos, i)
	}
	if len(fresh) > 0 {
		first, err := l.AppendTx(ctx, tx, fresh)
		if re, ok := err.(*RecordError); ok {
			return &RecordError{N: pos[re.N], Err: re.Err} // its position in the caller's entries
		}
		if err != nil {
			return err
		}
		for k, i := range pos {
			out[i] = Appended{Index: first + int64(k)}
		}
	}
	for i := range out {
		if out[i].Index < 0 {
			out[i].Index = out[-1-out[i].Index].Index
		}
	}
	return nil
}
