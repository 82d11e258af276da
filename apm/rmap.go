package apm

import (
	"maps"
	"sync"
	"sync/atomic"
)

// rmap is a map for the hot path whose keys settle quickly (transaction
// names, SQL texts, targets, users): lookups of known keys read an
// immutable copy through an atomic pointer, with no lock and no write to
// shared memory, so requests on all cores can hit the same key without
// contending. A miss takes the lock; after as many misses as there are
// entries the copy is refreshed, so a new key goes lock-free after a few
// uses and copying stays amortised O(1) per miss (sync.Map's scheme, typed
// and without its per-call allocations).
type rmap[K comparable, V any] struct {
	read atomic.Pointer[map[K]V]

	mu     sync.Mutex
	all    map[K]V // every entry; read is a recent copy of it
	misses int
}

func (m *rmap[K, V]) load(k K) (V, bool) {
	if r := m.read.Load(); r != nil {
		v, ok := (*r)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// loadOrCreate returns k's value. When k is missing, mk makes a value from
// the number of entries; with keep false the value is returned but not
// stored (a bound was reached). created reports that k was stored by this
// call.
func (m *rmap[K, V]) loadOrCreate(k K, mk func(size int) (v V, keep bool)) (v V, created bool) {
	if v, ok := m.load(k); ok {
		return v, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.all[k]
	if !ok {
		var keep bool
		if v, keep = mk(len(m.all)); keep {
			if m.all == nil {
				m.all = make(map[K]V)
			}
			m.all[k] = v
			created = true
		}
	}
	m.misses++
	if m.misses >= len(m.all) {
		m.publishLocked()
	}
	return v, created
}

func (m *rmap[K, V]) publishLocked() {
	c := maps.Clone(m.all)
	m.read.Store(&c)
	m.misses = 0
}

// sweep calls f with every entry under the lock, deletes those it rejects
// and publishes the result; it returns the entries left.
func (m *rmap[K, V]) sweep(f func(K, V) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	maps.DeleteFunc(m.all, func(k K, v V) bool { return !f(k, v) })
	m.publishLocked()
	return len(m.all)
}
