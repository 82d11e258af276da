// Package urlcheck is the agent's URL-monitoring module. The server hands
// each agent (a region) a list of URL checks; the module runs each on its
// interval from a bounded pool of workers, times the parts of every run
// (DNS, connect, TLS, first byte, total) and reports the results both as an
// agent-protocol snapshot (one row per run, with the failure in words) and
// as metrics (stable label sets, no failure label, to avoid series churn).
//
// Scheduling is a min-heap of next run times driven by one timer. Each
// check runs at a stable phase within its interval, derived from a hash of
// its id, so large check sets spread evenly over time; a check that is
// still running (or still waiting for a worker) when due again is skipped,
// never stacked.
package urlcheck

import (
	"container/heap"
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// SnapshotURLResults is the Snapshot type of the module's pushes.
const SnapshotURLResults = "url_results"

// DefaultConcurrency is how many runs may be in flight at once.
const DefaultConcurrency = 256

// flushPeriod is how often gathered results are handed to emit.
const flushPeriod = time.Second

// skipLogEvery bounds how often skipped runs are logged, as a saturated
// pool would otherwise log every flush.
const skipLogEvery = time.Minute

// Config is the `modules.url` section of the agent configuration.
type Config struct {
	Enabled      bool  `yaml:"enabled"`
	Concurrency  int   `yaml:"concurrency"`    // default 256
	MaxBodyBytes int64 `yaml:"max_body_bytes"` // default 1MiB
}

// Output is what the module produced since the last emit: results as an
// agent-protocol push and as metrics.
type Output struct {
	Metrics pmetric.Metrics      // go.opentelemetry.io/collector/pdata/pmetric
	Push    *agentpb.PushRequest // one Snapshot of type SnapshotURLResults ("url_results") with URLResults
}

// Stats counts the module's work since New.
type Stats struct {
	Checks   int    // checks scheduled now
	Runs     uint64 // runs finished (results gathered)
	Failures uint64 // runs that were not up
	// Skipped counts runs that did not happen: the check was still running
	// or waiting for a worker when due again, or the scheduler fell a whole
	// interval behind.
	Skipped uint64
}

// Module runs URL checks. SetChecks and Stats may be called from any
// goroutine; Run once.
type Module struct {
	cfg    Config
	ident  *agentpb.AgentIdentity
	logger *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry
	queue   entryHeap
	wake    chan struct{} // the earliest slot may have changed

	resMu   sync.Mutex
	results []*agentpb.URLResult

	runs, failures, skipped atomic.Uint64
}

// New returns a module reporting as ident. Zero Config fields take their
// defaults.
func New(cfg Config, ident *agentpb.AgentIdentity, logger *slog.Logger) *Module {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if ident == nil {
		ident = &agentpb.AgentIdentity{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Module{
		cfg:     cfg,
		ident:   ident,
		logger:  logger,
		entries: make(map[string]*entry),
		wake:    make(chan struct{}, 1),
	}
}

// SetChecks replaces the check set. Checks whose id is kept keep their
// phase and next run (unless their interval changed); removed ones are not
// run again (a run in flight finishes and is reported); new ones start at
// their phase. The checks are copied.
func (m *Module) SetChecks(checks []*agentpb.URLCheck) {
	now := time.Now()
	seen := make(map[string]struct{}, len(checks))
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range checks {
		id := c.GetId()
		if id == "" {
			m.logger.Warn("url check without id ignored", "url", c.GetUrl())
			continue
		}
		if _, dup := seen[id]; dup {
			m.logger.Warn("duplicate url check id, the last one wins", "id", id)
		}
		seen[id] = struct{}{}
		c = proto.Clone(c).(*agentpb.URLCheck)
		iv := checkInterval(c)
		if e, ok := m.entries[id]; ok {
			e.check = c
			if e.interval != iv {
				e.interval = iv
				e.offset = phaseOffset(id, iv)
				e.next = slotAtOrAfter(now, iv, e.offset)
				heap.Fix(&m.queue, e.index)
			}
			continue
		}
		e := &entry{check: c, interval: iv, offset: phaseOffset(id, iv), index: -1}
		e.next = slotAtOrAfter(now, iv, e.offset)
		m.entries[id] = e
		heap.Push(&m.queue, e)
	}
	for id, e := range m.entries {
		if _, ok := seen[id]; !ok {
			delete(m.entries, id)
			heap.Remove(&m.queue, e.index)
		}
	}
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Stats returns the module's counters.
func (m *Module) Stats() Stats {
	m.mu.Lock()
	n := len(m.entries)
	m.mu.Unlock()
	return Stats{Checks: n, Runs: m.runs.Load(), Failures: m.failures.Load(), Skipped: m.skipped.Load()}
}

// Run runs checks until ctx is done, calling emit with the results gathered
// every flush period (1 s, only when there are results). emit is called from
// Run's goroutine; after ctx is done Run waits for the runs in flight (they
// are canceled and not reported) and calls emit a last time with what
// finished before, so a shutdown loses no results. With Config.Enabled
// false Run only waits for ctx.
func (m *Module) Run(ctx context.Context, emit func(Output)) {
	if !m.cfg.Enabled {
		<-ctx.Done()
		return
	}
	m.rebase(time.Now())

	var inflight sync.WaitGroup
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		m.dispatch(ctx, &inflight)
	}()

	tick := time.NewTicker(flushPeriod)
	defer tick.Stop()
	var lastSkipped uint64
	var lastSkipLog time.Time
	for {
		select {
		case <-ctx.Done():
			<-dispatched
			inflight.Wait()
			m.flush(emit)
			return
		case now := <-tick.C:
			m.flush(emit)
			if s := m.skipped.Load(); s != lastSkipped && now.Sub(lastSkipLog) >= skipLogEvery {
				m.logger.Warn("url check runs skipped: still running when due again, or the worker pool is saturated",
					"skipped", s-lastSkipped, "concurrency", m.cfg.Concurrency)
				lastSkipped, lastSkipLog = s, now
			}
		}
	}
}

// rebase moves every check to its first slot from now, so time spent
// between SetChecks and Run is not counted as skipped runs.
func (m *Module) rebase(now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.queue {
		e.next = slotAtOrAfter(now, e.interval, e.offset)
	}
	heap.Init(&m.queue)
}

// dispatch starts the runs that are due, at most Concurrency at once, until
// ctx is done.
func (m *Module) dispatch(ctx context.Context, inflight *sync.WaitGroup) {
	sem := make(chan struct{}, m.cfg.Concurrency)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var due []*entry
	for {
		due = m.takeDue(time.Now(), due[:0])
		for i, e := range due {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				m.mu.Lock()
				for _, e := range due[i:] {
					e.running = false
				}
				m.mu.Unlock()
				return
			}
			m.mu.Lock()
			c, removed := e.check, e.index < 0
			if removed {
				e.running = false
			}
			m.mu.Unlock()
			if removed { // by SetChecks while waiting for a worker
				<-sem
				continue
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				res := Probe(ctx, c, m.cfg.MaxBodyBytes)
				m.mu.Lock()
				e.running = false
				m.mu.Unlock()
				<-sem
				if ctx.Err() == nil {
					m.record(res)
				}
			}()
		}
		clear(due) // drop references to removed checks

		m.mu.Lock()
		wait := time.Hour
		if len(m.queue) > 0 {
			wait = time.Until(m.queue[0].next)
		}
		m.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-m.wake:
		}
	}
}

// takeDue advances every check whose slot has come to its next slot and
// appends those to start to due. A check still running is skipped, and
// slots the scheduler fell behind on are skipped rather than run in a burst.
func (m *Module) takeDue(now time.Time, due []*entry) []*entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	for len(m.queue) > 0 && !m.queue[0].next.After(now) {
		e := m.queue[0]
		behind := now.Sub(e.next) / e.interval
		e.next = e.next.Add((behind + 1) * e.interval)
		heap.Fix(&m.queue, 0)
		m.skipped.Add(uint64(behind))
		if e.running {
			m.skipped.Add(1)
			continue
		}
		e.running = true
		due = append(due, e)
	}
	return due
}

func (m *Module) record(res *agentpb.URLResult) {
	m.runs.Add(1)
	if !res.Up {
		m.failures.Add(1)
	}
	m.resMu.Lock()
	m.results = append(m.results, res)
	m.resMu.Unlock()
}

func (m *Module) flush(emit func(Output)) {
	m.resMu.Lock()
	results := m.results
	m.results = nil
	m.resMu.Unlock()
	if len(results) == 0 {
		return
	}
	emit(m.output(results, time.Now()))
}
