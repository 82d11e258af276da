package apm

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// The rollups are what the server would compute from every span, computed
// here so fast transactions need not be exported step by step. They are
// striped (counters) and sharded (statistics, users) so concurrent
// requests rarely wait on one another; the flusher takes each lock in turn
// to swap the window out.

const counterStripes = 16

// counters are the 5-s window counters of one stripe.
type counters struct {
	mu             sync.Mutex
	count, errors  uint64
	apdexS, apdexT uint64
	sumMs, maxMs   float64
	sqlMs, httpcMs float64
	hit, hitErr    [wire.HitmapBuckets]uint32
	_              [64]byte // keep stripes on separate cache lines
}

type counterSet struct {
	apdexT  float64 // ms
	stripes [counterStripes]counters
}

func (c *counterSet) add(stripe uint8, ms float64, failed bool, sqlMs, httpcMs float64) {
	s := &c.stripes[stripe%counterStripes]
	b := wire.HitmapBucket(ms)
	s.mu.Lock()
	s.count++
	s.sumMs += ms
	s.maxMs = max(s.maxMs, ms)
	s.sqlMs += sqlMs
	s.httpcMs += httpcMs
	switch {
	case failed:
		// A failed transaction is frustrated whatever its speed.
		s.errors++
		s.hitErr[b]++
	case ms <= c.apdexT:
		s.apdexS++
		s.hit[b]++
	case ms <= 4*c.apdexT:
		s.apdexT++
		s.hit[b]++
	default:
		s.hit[b]++
	}
	s.mu.Unlock()
}

// take moves the window's counters into r and resets them.
func (c *counterSet) take(r *agentpb.ApmRollup) {
	hit := make([]uint32, wire.HitmapBuckets)
	hitErr := make([]uint32, wire.HitmapBuckets)
	for i := range c.stripes {
		s := &c.stripes[i]
		s.mu.Lock()
		r.Count += s.count
		r.Errors += s.errors
		r.ApdexSatisfied += s.apdexS
		r.ApdexTolerating += s.apdexT
		r.SumMs += s.sumMs
		r.MaxMs = max(r.MaxMs, s.maxMs)
		r.SqlMs += s.sqlMs
		r.HttpcMs += s.httpcMs
		for b := range s.hit {
			hit[b] += s.hit[b]
			hitErr[b] += s.hitErr[b]
		}
		s.count, s.errors, s.apdexS, s.apdexT = 0, 0, 0, 0
		s.sumMs, s.maxMs, s.sqlMs, s.httpcMs = 0, 0, 0, 0
		clear(s.hit[:])
		clear(s.hitErr[:])
		s.mu.Unlock()
	}
	r.Hitmap, r.HitmapErrors = hit, hitErr
}

// Statistics.

const (
	// maxStatKeys bounds the keys of one kind per window, as the server
	// does; the rest are counted under otherKey.
	maxStatKeys = 2000
	otherKey    = "(other)"
)

type statKey struct {
	kind statKind
	key  string
}

// statLine is updated with atomics: a hot key (the one transaction name
// of a busy endpoint, the one client IP behind a proxy) is hit by every
// core at once, and a mutex would make requests queue behind each other.
type statLine struct {
	count, errors        atomic.Uint64
	sumNs, maxNs         atomic.Uint64
	sqlCount, httpcCount atomic.Uint64
	rows                 atomic.Uint64
}

// statAdd is one observation.
type statAdd struct {
	dur                  time.Duration
	failed               bool
	sqlCount, httpcCount uint64
	rows                 uint64
}

func (l *statLine) add(v statAdd) {
	l.count.Add(1)
	if v.failed {
		l.errors.Add(1)
	}
	ns := uint64(max(v.dur, 0))
	l.sumNs.Add(ns)
	for {
		old := l.maxNs.Load()
		if ns <= old || l.maxNs.CompareAndSwap(old, ns) {
			break
		}
	}
	if v.sqlCount > 0 {
		l.sqlCount.Add(v.sqlCount)
	}
	if v.httpcCount > 0 {
		l.httpcCount.Add(v.httpcCount)
	}
	if v.rows > 0 {
		l.rows.Add(v.rows)
	}
}

// statWindow is the statistics of one window.
type statWindow struct {
	lines rmap[statKey, *statLine]
	keys  [numStatKinds]int // per kind; guarded by lines.mu (counted in mk)
}

// statSet is the current window and the one being handed over.
type statSet struct {
	cur atomic.Pointer[statWindow]
	// prev is the window rotate retired; collect reads it later, so that
	// a request that picked it up just before the rotation has finished
	// adding to it.
	prev *statWindow
}

func newStatSet() *statSet {
	s := &statSet{}
	s.cur.Store(&statWindow{})
	return s
}

// add records v under (kind, key) and reports whether the line is new in
// this window (the first transaction of a name keeps its steps).
func (s *statSet) add(kind statKind, key string, v statAdd) (created bool) {
	w := s.cur.Load()
	l, created := w.lines.loadOrCreate(statKey{kind, key}, func(int) (*statLine, bool) {
		if w.keys[kind] >= maxStatKeys {
			return nil, false
		}
		w.keys[kind]++
		return &statLine{}, true
	})
	if l == nil {
		l, created = w.lines.loadOrCreate(statKey{kind, otherKey}, func(int) (*statLine, bool) {
			return &statLine{}, true
		})
	}
	l.add(v)
	return created
}

// rotate starts a new window; collect returns the retired one's lines.
// Only the agent's loop calls them.
func (s *statSet) rotate() {
	s.prev = s.cur.Swap(&statWindow{})
}

func (s *statSet) collect() []*agentpb.ApmStat {
	w := s.prev
	s.prev = nil
	if w == nil {
		return nil
	}
	var out []*agentpb.ApmStat
	w.lines.sweep(func(k statKey, l *statLine) bool {
		out = append(out, &agentpb.ApmStat{
			Kind: statKindNames[k.kind], Key: k.key,
			Count: l.count.Load(), Errors: l.errors.Load(),
			SumMs: float64(l.sumNs.Load()) / 1e6, MaxMs: float64(l.maxNs.Load()) / 1e6,
			SqlCount: l.sqlCount.Load(), HttpcCount: l.httpcCount.Load(), Rows: l.rows.Load(),
		})
		return true
	})
	return out
}

// Users: distinct users (enduser.id, else the client IP) over the last
// five minutes, a gauge.

const (
	usersWindow = 5 * time.Minute
	// maxUsers bounds the memory; past it new users are not counted
	// until old ones expire (the server bounds the same way).
	maxUsers = 50_000
)

type userSet struct {
	m rmap[string, *atomic.Int64] // user -> last seen, unix s
}

func (u *userSet) see(user string, now int64) {
	at, _ := u.m.loadOrCreate(user, func(size int) (*atomic.Int64, bool) {
		if size >= maxUsers {
			return nil, false
		}
		return new(atomic.Int64), true
	})
	// Written once a second per user at most, so a busy user's line is
	// mostly read.
	if at != nil && at.Load() != now {
		at.Store(now)
	}
}

// count forgets users not seen in the window and counts the rest.
func (u *userSet) count(now int64) uint32 {
	cut := now - int64(usersWindow/time.Second)
	return uint32(u.m.sweep(func(_ string, at *atomic.Int64) bool { return at.Load() >= cut }))
}
