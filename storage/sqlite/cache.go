package sqlite

import "sync"

// versionCache keeps the current version of recently read resources, decoded, so that a read of a
// resource that has not changed costs neither a SQLite statement nor zstd. It is exactly as consistent as
// reading SQLite: a hit is the resource's latest committed version, so a reader never gets a version older
// than one acknowledged to a writer (nor older than one another reader already got), nor one of an
// uncommitted transaction. How:
//
//   - Only readers fill it, from committed snapshots (get, then the statement, then put).
//   - The writer connection's update hook marks a resource dirty (touch) the moment a write changes its
//     res row, inside the open transaction, before it commits. While a resource is dirty, readers neither
//     use nor fill its entry: they read SQLite, which shows them the committed state.
//   - After the group's COMMIT (or ROLLBACK), and before any write of the group is acknowledged, the writer
//     calls settle: it drops the dirty resources' entries, clears the marks and bumps the generation.
//   - A reader takes the generation before its statement opens its snapshot, and put refuses the entry if
//     the generation moved since: a commit may have settled between the snapshot and the put, and the
//     entry could predate it. If the generation did not move, every commit that settled before the put
//     settled before the snapshot began, so the snapshot includes it; a commit still unsettled has its
//     resources marked dirty, which put also refuses; and one that starts later deletes the entry when it
//     settles. (TestVersionCacheConsistent exercises each case.)
//
// Entries are keyed by (type id, id) and remember the rid, which the update hook reports. Bodies are
// copied out on every hit: callers own the bodies they get. The cache holds at most max entries; when full
// it drops arbitrary ones (Go's map order), which is enough for a cache whose misses cost one SQLite read.
type versionCache struct {
	mu    sync.RWMutex
	gen   uint64
	max   int
	byKey map[cacheKey]*cachedVersion
	byRid map[int64]cacheKey
	dirty map[int64]struct{}
}

type cacheKey struct {
	tid int64
	id  string
}

// cachedVersion is a version as readSQL returns it, body decoded (nil for a deletion).
type cachedVersion struct {
	rid, vid, lu int64
	deleted      bool
	method       string
	body         []byte
}

func newVersionCache(max int) *versionCache {
	return &versionCache{max: max, byKey: map[cacheKey]*cachedVersion{}, byRid: map[int64]cacheKey{}, dirty: map[int64]struct{}{}}
}

// get returns the cached version of (tid, id), or nil and the generation a put of what the caller reads
// next must quote. Call it before the statement whose result is put.
func (c *versionCache) get(tid int64, id string) (*cachedVersion, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.byKey[cacheKey{tid, id}]; e != nil {
		if _, dirty := c.dirty[e.rid]; !dirty {
			return e, 0
		}
	}
	return nil, c.gen
}

// put stores what a reader read after get returned gen, unless a commit settled since or the resource
// is being written.
func (c *versionCache) put(tid int64, id string, e *cachedVersion, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if _, dirty := c.dirty[e.rid]; dirty {
		return
	}
	for k, old := range c.byKey {
		if len(c.byKey) < c.max {
			break
		}
		delete(c.byKey, k)
		delete(c.byRid, old.rid)
	}
	k := cacheKey{tid, id}
	c.byKey[k] = e
	c.byRid[e.rid] = k
}

// touch marks resource rid as being written (the writer's update hook, inside the transaction).
func (c *versionCache) touch(rid int64) {
	c.mu.Lock()
	c.dirty[rid] = struct{}{}
	c.mu.Unlock()
}

// settle ends a write group, committed or rolled back: the written resources' entries go, and so do
// their marks, and readers that read before now may no longer put. The writer calls it before it
// acknowledges any write of the group.
func (c *versionCache) settle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for rid := range c.dirty {
		if k, ok := c.byRid[rid]; ok {
			delete(c.byKey, k)
			delete(c.byRid, rid)
		}
	}
	clear(c.dirty)
}
