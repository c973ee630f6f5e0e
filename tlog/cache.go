package tlog

import (
	"sync"

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
// It is bounded: only hashes at level cacheMinLevel or above are kept, in
// two generations of at most cacheGenEntries each (the older one is
// dropped when the newer fills up; a hit in the older one moves the hash to
// the newer), so at most 2*cacheGenEntries hashes (a few MB). It is safe
// for concurrent use.
type hashCache struct {
	mu       sync.Mutex
	cur, old map[int64]sumdb.Hash
	genMax   int
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
		if rec, level := recordOf(i); level < cacheMinLevel || rec >= limit {
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
