package tlog

import (
	"context"
	"sync"

	"github.com/prov-dev/prov"
)

// Batcher appends the records of many concurrent callers in shared
// transactions (group commit): a caller's records are validated in the
// caller's goroutine, queued, and appended by one writer together with
// whatever else is queued, in one transaction and so with one durable
// commit. Each caller returns only after the transaction holding its
// records has committed, so an acknowledged record is durable exactly as
// with AppendIdempotent, whose semantics (producer event ids) it keeps. A
// group that fails is retried caller by caller, so that one caller's
// conflict never fails another's append.
type Batcher struct {
	l        *Log
	maxBatch int
	queue    chan *batchReq
	stop     chan struct{}
	done     sync.WaitGroup

	mu     sync.RWMutex // held for reading while queueing, for writing by Close
	closed bool
}

type batchReq struct {
	ctx     context.Context
	entries []prov.Entry
	out     []Appended
	err     error
	done    chan struct{}
}

// NewBatcher starts a Batcher that puts at most maxBatch records in one
// transaction (a single caller's larger request is one transaction of its
// own). Close stops it.
func (l *Log) NewBatcher(maxBatch int) *Batcher {
	if maxBatch <= 0 {
		maxBatch = 10000
	}
	b := &Batcher{l: l, maxBatch: maxBatch, queue: make(chan *batchReq, 1024), stop: make(chan struct{})}
	b.done.Add(1)
	go b.run()
	return b
}

// Append validates records and appends them as AppendIdempotent does,
// sharing a transaction with other callers'.
func (b *Batcher) Append(ctx context.Context, records [][]byte) ([]Appended, error) {
	entries, err := b.l.PrepareAll(records)
	if err != nil {
		return nil, err
	}
	return b.AppendEntries(ctx, entries)
}

// AppendEntries is Append for entries prepared already (Log.Prepare).
func (b *Batcher) AppendEntries(ctx context.Context, entries []prov.Entry) ([]Appended, error) {
	if err := checkKeyAuthority(ctx, entries); err != nil {
		return nil, err // the group's transaction does not carry ctx
	}
	r := &batchReq{ctx: ctx, entries: entries, done: make(chan struct{})}
	// The read lock makes Close wait for requests being queued, so that the
	// writer's final drain sees every request that was accepted.
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return nil, prov.Errorf(prov.Unavailable, "the log is shutting down: retry")
	}
	select {
	case b.queue <- r:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		return nil, ctx.Err()
	}
	<-r.done // even if ctx ends: the records may be committed, and the caller must know
	return r.out, r.err
}

// Close appends what is queued and stops the writer.
func (b *Batcher) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.done.Wait()
}

func (b *Batcher) run() {
	defer b.done.Done()
	for {
		var first *batchReq
		select {
		case first = <-b.queue:
		case <-b.stop:
			for {
				select {
				case r := <-b.queue:
					b.commit([]*batchReq{r})
				default:
					return
				}
			}
		}
		group, n := []*batchReq{first}, len(first.entries)
	drain:
		for n < b.maxBatch {
			select {
			case r := <-b.queue:
				group, n = append(group, r), n+len(r.entries)
			default:
				break drain
			}
		}
		b.commit(group)
	}
}

// commit appends a group in one transaction, or, if that fails, each
// request in its own.
func (b *Batcher) commit(group []*batchReq) {
	if len(group) > 1 {
		var all []prov.Entry
		for _, r := range group {
			all = append(all, r.entries...)
		}
		// Not any caller's context: one caller going away must not fail the
		// others' records.
		out, err := b.l.AppendEntriesIdempotent(context.Background(), all)
		if err == nil {
			for _, r := range group {
				r.out, out = out[:len(r.entries)], out[len(r.entries):]
				close(r.done)
			}
			return
		}
	}
	for _, r := range group {
		r.out, r.err = b.l.AppendEntriesIdempotent(context.WithoutCancel(r.ctx), r.entries)
		close(r.done)
	}
}
