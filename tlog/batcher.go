package tlog

import (
	"context"
	"errors"
	"sync"
	"time"

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

	observe func(GroupStats)

	ckmu sync.Mutex
	ckpt *checkpointReq // a signed checkpoint for the next group to store
}

// checkpointReq is a checkpoint waiting for a group's transaction.
type checkpointReq struct {
	c    prov.Checkpoint
	done chan error // the group's outcome, once taken
}

// errNoGroup: no group took the checkpoint in time.
var errNoGroup = errors.New("no append came")

// GroupStats describe one transaction of a Batcher, for metrics and
// benchmarks: where a request's time went between being queued and
// answered.
type GroupStats struct {
	Requests, Records int
	// Wait is each request's time in the queue: from being queued to its
	// transaction's start.
	Wait []time.Duration
	// Begin is from calling the store's Update to the transaction's first
	// statement (BEGIN, the write lock); Work the statements (event-id
	// lookup, tree hashes, inserts); Commit from the last statement to
	// Update's return (the durable commit, and what the store does after
	// it, such as SQLite's WAL checkpoint). On a store that defers
	// appends (PostgreSQL), the insert goes with the commit, so Commit
	// holds it and Work only what Go does.
	Begin, Work, Commit time.Duration
	// Retried: the group failed and its requests were appended one by one
	// (the times are then the group's attempt's).
	Retried bool
}

type batchReq struct {
	queued  time.Time
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
	if b.observe != nil {
		r.queued = time.Now()
	}
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

// Observe has fn called with the stats of every later transaction, in
// the writer's goroutine (fn must be quick). It must be called before the
// first Append.
func (b *Batcher) Observe(fn func(GroupStats)) { b.observe = fn }

// Checkpoint is Log.Checkpoint for a log that b writes: it signs a
// checkpoint from a read snapshot, outside the write lock, and has the
// writer store it in the transaction of its next group of appends, so that
// a busy log pays no durable commit, and its appends no wait, for its
// checkpoints. If no group takes the checkpoint within wait (an idle log),
// or the group fails, it is stored in a transaction of its own. It returns
// once the checkpoint is stored. Calls must not overlap.
func (b *Batcher) Checkpoint(ctx context.Context, wait time.Duration) (c prov.Checkpoint, created bool, err error) {
	err = b.l.store.View(ctx, func(ctx context.Context, tx prov.ReadTx) error {
		c, created, err = b.l.signCheckpoint(ctx, tx, true)
		return err
	})
	if err != nil || !created {
		return c, false, err
	}
	r := &checkpointReq{c: c, done: make(chan error, 1)}
	b.ckmu.Lock()
	b.ckpt = r
	b.ckmu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	answered := false
	select {
	case err = <-r.done:
		answered = true
	case <-t.C:
	case <-ctx.Done():
	}
	if !answered { // take it back, unless a group took it meanwhile
		b.ckmu.Lock()
		mine := b.ckpt == r
		if mine {
			b.ckpt = nil
		}
		b.ckmu.Unlock()
		if mine {
			err = errNoGroup
		} else {
			err = <-r.done
		}
	}
	if err == nil {
		return c, true, nil
	}
	if ctx.Err() != nil {
		return c, false, ctx.Err()
	}
	err = b.l.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error { return tx.PutCheckpoint(ctx, c) })
	return c, true, err
}

// takeCheckpoint returns the checkpoint waiting for a group, if any.
func (b *Batcher) takeCheckpoint() *checkpointReq {
	b.ckmu.Lock()
	defer b.ckmu.Unlock()
	r := b.ckpt
	b.ckpt = nil
	return r
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
	var st GroupStats
	var t0, t1, t2 time.Time
	if b.observe != nil {
		t0 = time.Now()
		st.Requests, st.Wait = len(group), make([]time.Duration, len(group))
		for i, r := range group {
			st.Wait[i] = t0.Sub(r.queued)
			st.Records += len(r.entries)
		}
		defer func() { b.observe(st) }()
	}
	var all []prov.Entry
	if len(group) == 1 {
		all = group[0].entries
	} else {
		for _, r := range group {
			all = append(all, r.entries...)
		}
	}
	out := make([]Appended, len(all))
	// Not any caller's context: one caller going away must not fail the
	// others' records.
	ctx := context.Background()
	if len(group) == 1 {
		ctx = context.WithoutCancel(group[0].ctx)
	}
	var observe func(bool)
	if b.observe != nil {
		observe = func(start bool) {
			if start {
				t1 = time.Now()
			} else {
				t2 = time.Now()
			}
		}
	}
	ck := b.takeCheckpoint()
	var before func(context.Context, prov.Tx) error
	if ck != nil {
		before = func(ctx context.Context, tx prov.Tx) error { return tx.PutCheckpoint(ctx, ck.c) }
	}
	appended, err := b.l.updateIdempotent(ctx, all, out, before, observe)
	if ck != nil {
		ck.done <- err
	}
	if b.observe != nil {
		t3 := time.Now()
		if !t1.IsZero() {
			st.Begin = t1.Sub(t0)
			if !t2.IsZero() {
				st.Work, st.Commit = t2.Sub(t1), t3.Sub(t2)
			}
		}
	}
	if err == nil {
		b.l.committed(appended)
		for _, r := range group {
			r.out, out = out[:len(r.entries):len(r.entries)], out[len(r.entries):]
			close(r.done)
		}
		return
	}
	if len(group) == 1 {
		group[0].err = err
		close(group[0].done)
		return
	}
	st.Retried = true
	for _, r := range group {
		r.out, r.err = b.l.AppendEntriesIdempotent(context.WithoutCancel(r.ctx), r.entries)
		close(r.done)
	}
}
