package metric

import (
	"sync"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// seriesCache maps a (project, incoming label set) to the project-stamped
// label set and its TSDB series ref. The OTLP translator never passes refs,
// so without it every sample pays for re-stamping the labels and a label-hash
// lookup in the head; with it a repeat series costs one hash and one map hit.
//
// A stale ref (series dropped from the head after compaction) is harmless:
// refs are never reused, and the head falls back to the label set we pass.
type seriesCache struct {
	shards [cacheShards]cacheShard
}

const (
	cacheShards = 64
	// cacheShardMax bounds memory: past it a shard starts over. 64 × 16k =
	// 1M series, well above what one small node holds in its head.
	cacheShardMax = 16384
)

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]cacheEntry
}

type cacheEntry struct {
	project int64
	in      labels.Labels // as received
	out     labels.Labels // with the project label
	ref     storage.SeriesRef
}

func cacheKey(project int64, hash uint64) uint64 {
	return hash ^ (uint64(project) * 0x9E3779B97F4A7C15)
}

func (c *seriesCache) get(project int64, hash uint64, in labels.Labels) (cacheEntry, bool) {
	key := cacheKey(project, hash)
	sh := &c.shards[key%cacheShards]
	sh.mu.RLock()
	e, ok := sh.m[key]
	sh.mu.RUnlock()
	if !ok || e.project != project || !labels.Equal(e.in, in) {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *seriesCache) put(hash uint64, e cacheEntry) {
	key := cacheKey(e.project, hash)
	sh := &c.shards[key%cacheShards]
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= cacheShardMax {
		sh.m = make(map[uint64]cacheEntry, 256)
	}
	sh.m[key] = e
	sh.mu.Unlock()
}
