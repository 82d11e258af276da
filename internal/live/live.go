// Package live fans freshly ingested records out to live views (live tail,
// active transactions). It is fed from the ingest path, not from storage,
// because the event store makes rows searchable only after about a second.
// A slow subscriber loses messages (counted) rather than slowing ingest.
package live

import (
	"sync"
	"sync/atomic"
	"time"
)

// Message is one published batch for one project.
type Message struct {
	Project int64
	Type    string // span, log, snapshot, ...
	Time    time.Time
	Records []map[string]string
}

// Bus is an in-process publish/subscribe hub. In cluster mode it is replaced
// by NATS JetStream behind the same two methods.
type Bus struct {
	mu      sync.RWMutex
	subs    map[*Subscription]struct{}
	count   atomic.Int64
	dropped atomic.Uint64
}

func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscription receives messages of one project, optionally of one type.
type Subscription struct {
	C       chan Message
	project int64
	typ     string
	bus     *Bus
	once    sync.Once
}

// Subscribe starts a subscription; typ "" takes every type.
func (b *Bus) Subscribe(project int64, typ string, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 256
	}
	s := &Subscription{C: make(chan Message, buffer), project: project, typ: typ, bus: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	b.count.Add(1)
	return s
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		s.bus.mu.Unlock()
		s.bus.count.Add(-1)
	})
}

// Active reports whether anyone listens; publishers use it to skip building
// messages nobody reads.
func (b *Bus) Active() bool { return b.count.Load() > 0 }

// Dropped counts messages lost to full subscriber buffers.
func (b *Bus) Dropped() uint64 { return b.dropped.Load() }

// Publish delivers m to matching subscribers without blocking.
func (b *Bus) Publish(m Message) {
	if !b.Active() {
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if s.project != m.Project || (s.typ != "" && s.typ != m.Type) {
			continue
		}
		select {
		case s.C <- m:
		default:
			b.dropped.Add(1)
		}
	}
}
