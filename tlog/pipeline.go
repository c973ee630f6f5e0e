package tlog

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/prov-dev/prov"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// Pipelined append: a large batch is validated (Prepare) and leaf-hashed
// in chunks on other goroutines while the append transaction hashes and
// stores the chunks validated already, so that validation runs beside
// SQLite's work instead of before it. The checks and their errors are
// those of PrepareAll and AppendTx, in the same order of precedence: a
// refused record is found before the transaction commits, and nothing of
// the batch is kept.

const (
	pipelineChunk = 64  // records validated at a time
	pipelineStore = 256 // records handed to the store at a time (a round trip on a server)
	pipelineMin   = 256 // smaller batches are validated first, as PrepareAll does
)

// pipeline validates records, chunk by chunk in order, on its own
// goroutines.
type pipeline struct {
	l       *Log
	records [][]byte
	entries []prov.Entry
	leaves  []sumdb.Hash

	next   atomic.Int64 // the next chunk to take
	stop   atomic.Bool  // take no more chunks
	ready  []chan struct{}
	errs   []*RecordError // by chunk
	wg     sync.WaitGroup
	chunks int
}

func (l *Log) startPipeline(records [][]byte) *pipeline {
	p := &pipeline{
		l:       l,
		records: records,
		entries: make([]prov.Entry, len(records)),
		leaves:  make([]sumdb.Hash, len(records)),
		chunks:  (len(records) + pipelineChunk - 1) / pipelineChunk,
	}
	p.ready = make([]chan struct{}, p.chunks)
	p.errs = make([]*RecordError, p.chunks)
	for c := range p.ready {
		p.ready[c] = make(chan struct{})
	}
	// As many as CPUs: the caller's goroutine, which runs the
	// transaction, mostly waits for SQLite's I/O or for the first chunks.
	for range max(1, min(runtime.GOMAXPROCS(0), p.chunks)) {
		p.wg.Go(p.work)
	}
	return p
}

func (p *pipeline) work() {
	for !p.stop.Load() {
		c := int(p.next.Add(1) - 1)
		if c >= p.chunks {
			return
		}
		lo, hi := c*pipelineChunk, min((c+1)*pipelineChunk, len(p.records))
		for i := lo; i < hi; i++ {
			e, err := p.l.Prepare(p.records[i])
			if err != nil {
				p.errs[c] = &RecordError{N: i, Err: err}
				p.stop.Store(true) // later chunks cannot hold the first bad record
				break
			}
			p.entries[i] = e
			p.leaves[i] = sumdb.RecordHash(e.Data)
		}
		close(p.ready[c])
	}
}

// wait waits for chunk c; it returns the first refused record of the
// chunks up to c, if any.
func (p *pipeline) wait(ctx context.Context, c int) error {
	select {
	case <-p.ready[c]:
	case <-ctx.Done():
		return ctx.Err()
	}
	if e := p.errs[c]; e != nil {
		return e // chunks before c were checked by earlier waits
	}
	return nil
}

// finish waits for the workers, and returns the first refused record of
// the batch, if any: every chunk before the one that refused a record was
// taken before it, and is finished. With drain, the workers validate
// every chunk first (they stop at the first refused record); without, they
// stop taking chunks.
func (p *pipeline) finish(drain bool) error {
	if !drain {
		p.stop.Store(true)
	}
	p.wg.Wait()
	for c, e := range p.errs {
		if e != nil {
			return e
		}
		select {
		case <-p.ready[c]:
		default:
			return nil // not taken: no chunk after it was either
		}
	}
	return nil
}

// appendPipelined is Append for large batches (see pipeline).
func (l *Log) appendPipelined(ctx context.Context, records [][]byte) (first int64, err error) {
	p := l.startPipeline(records)
	defer p.finish(false) // the workers read records: none may outlive the call
	err = l.store.Update(ctx, func(ctx context.Context, tx prov.Tx) error {
		// The keys valid at size: what checkSignatures reads, read
		// before the batch's records are in tx.
		size, ring, err := l.currentKeys(ctx, tx)
		if err != nil {
			return err
		}
		th := l.newTreeHasher(ctx, tx, size, len(records))
		var stored error
		from := 0 // the first entry not handed to the store
		for c := range p.chunks {
			if err := p.wait(ctx, c); err != nil {
				return err
			}
			lo, hi := c*pipelineChunk, min((c+1)*pipelineChunk, len(records))
			if err := th.hash(p.entries[lo:hi], p.leaves[lo:hi]); err != nil {
				stored = err
				break
			}
			if hi-from < pipelineStore && hi < len(records) {
				continue
			}
			if err := tx.Append(ctx, p.entries[from:hi]); err != nil {
				stored = err
				break
			}
			from = hi
		}
		// Errors in the order AppendTx reports them: the batch's records
		// first, then the key and signature rules, then the store's.
		if err := p.finish(true); err != nil {
			return err
		}
		if err := checkKeyAuthority(ctx, p.entries); err != nil {
			return err
		}
		if err := checkSignaturesWith(ring, size, p.entries); err != nil {
			return err
		}
		if stored != nil {
			return stored
		}
		for _, ix := range l.indexers {
			if err := ix(ctx, tx, p.entries); err != nil {
				return err
			}
		}
		first = size
		return nil
	})
	if err != nil {
		return 0, err
	}
	l.committed(p.entries)
	return first, nil
}
