package tlog

import (
	"math/bits"
	"sync"

	"github.com/prov-dev/prov"
	sumdb "golang.org/x/mod/sumdb/tlog"
)

// hashCache keeps stored hashes of the upper levels of the tree, keyed by
// stored hash index, across the calls of one Log: every inclusion proof
// needs the same few hashes near the root, and a stored hash never changes
// once its record is committed.
//
// Proofs served from it trust the hashes that were committed: the cache is
// filled only from read transactions (committed snapshots) and only with
// hashes whose length was checked, and Verify never reads through it, so a
// stored hash tampered with is still caught by 'prov verify' (a proof may
// keep using the hash this process read before, until it is restarted).
//
// It also keeps the frontier: the stored hashes of the complete subtrees on
// the right edge of the tree, as of the last append this Log committed
// (see putFrontier), which are exactly what the next append reads; so an
// append that follows this process's own reads nothing of the tree from the
// store (a round trip less on PostgreSQL). Those hashes are committed too.
//
// It is bounded: only hashes at level cacheMinLevel or above are kept, in
// two generations of at most cacheGenEntries each (the older one is
// dropped when the newer fills up; a hit in the older one moves the hash to
// the newer), so at most 2*cacheGenEntries hashes (a few MB). It is safe
// for concurrent use.
type hashCache struct {
	mu       sync.Mutex
	cur, old map[int64]sumdb.Hash
	genMax   int

	frontSize int64                // the tree size of front
	front     map[int64]sumdb.Hash // stored hash index → hash: the frontier, and the edge hashes read since
}

const (
	// cacheMinLevel is the lowest tree level cached: a level-8 hash covers
	// 256 records, so a log of n records has about n/128 hashes at or above
	// it (7,800 for a million records), shared by all proofs.
	cacheMinLevel   = 8
	cacheGenEntries = 1 << 15
)

func newHashCache() *hashCache {
	return &hashCache{genMax: cacheGenEntries}
}

// cacheable reports whether stored hash index i is at a cached level.
func cacheable(i int64) bool {
	level, _ := sumdb.SplitStoredHashIndex(i)
	return level >= cacheMinLevel
}

// lookup fills out[j] with the cached hash of indexes[j] for each j with
// ok[j] false that is in the cache and belongs to a record below limit, and
// sets ok[j]. It returns how many it found.
func (c *hashCache) lookup(indexes []int64, out []sumdb.Hash, ok []bool, limit int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	found := 0
	for j, i := range indexes {
		if ok[j] {
			continue
		}
		rec, level := recordOf(i)
		if rec >= limit {
			continue
		}
		if h, hit := c.front[i]; hit {
			out[j], ok[j] = h, true
			found++
			continue
		}
		if level < cacheMinLevel {
			continue
		}
		if h, hit := c.cur[i]; hit {
			out[j], ok[j] = h, true
			found++
			continue
		}
		if h, hit := c.old[i]; hit {
			out[j], ok[j] = h, true
			found++
			c.putLocked(i, h)
		}
	}
	return found
}

// putFrontier sets the frontier to that of the tree that ends with
// entries, whose Index and Hashes are set, once the transaction that
// appended them has committed: entries that another transaction appended
// since, or that were rolled back, must not be given.
func (c *hashCache) putFrontier(entries []prov.Entry) {
	if len(entries) == 0 {
		return
	}
	first, size := entries[0].Index, entries[len(entries)-1].Index+1
	if size-first != int64(len(entries)) {
		return // not one append's entries, in order
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if size <= c.frontSize {
		return
	}
	front := make(map[int64]sumdb.Hash, bits.OnesCount64(uint64(size)))
	for level := range 63 {
		if size>>level&1 == 0 {
			continue
		}
		// The complete subtree of 2^level records ending with record rec
		// (its hash is stored with rec) is on the edge.
		i := sumdb.StoredHashIndex(level, size>>level-1)
		if rec := (size>>level)<<level - 1; rec >= first {
			hs := entries[rec-first].Hashes
			if len(hs) < (level+1)*prov.HashSize {
				return // not appended as the log does: keep the old frontier
			}
			front[i] = sumdb.Hash(hs[level*prov.HashSize:])
		} else if h, ok := c.front[i]; ok {
			// Subtrees that end before this append's first record are on the
			// edge of the tree before it too, or were read by this append
			// (putEdge) if another writer appended them.
			front[i] = h
		}
	}
	c.frontSize, c.front = size, front
}

// putEdge keeps hashes that an append read from the store (records
// committed before its transaction began) until the next putFrontier, which
// keeps those of them that are on the new edge.
func (c *hashCache) putEdge(indexes []int64, hashes []sumdb.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.front == nil {
		c.front = make(map[int64]sumdb.Hash)
	}
	if len(c.front) > 4*64 {
		return // many appends of other Logs' transactions at once: bounded all the same
	}
	for j, i := range indexes {
		c.front[i] = hashes[j]
	}
}

// put caches the hashes of indexes that are at a cached level.
func (c *hashCache) put(indexes []int64, hashes []sumdb.Hash) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for j, i := range indexes {
		c.putLocked(i, hashes[j])
	}
}

func (c *hashCache) putLocked(i int64, h sumdb.Hash) {
	if c.cur == nil {
		c.cur = make(map[int64]sumdb.Hash)
	}
	if _, hit := c.cur[i]; hit {
		return
	}
	if len(c.cur) >= c.genMax {
		c.old, c.cur = c.cur, make(map[int64]sumdb.Hash)
	}
	c.cur[i] = h
}

func (c *hashCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}
