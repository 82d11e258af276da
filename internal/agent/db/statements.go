package db

import (
	"cmp"
	"slices"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Hints sent with an unavailable db_statements snapshot: what the operator
// has to change, in one line.
const (
	HintMySQLPerformanceSchema = "performance_schema is OFF: set performance_schema=ON in my.cnf and restart"
	HintPGStatStatements       = "add pg_stat_statements to shared_preload_libraries, restart, and CREATE EXTENSION pg_stat_statements"
)

// stmtKey identifies one normalised statement. Engines key their digests
// per schema (MySQL) or per database and role (PostgreSQL).
type stmtKey struct {
	database, user, digest string
}

// stmtCounters are the engine's cumulative counters for one statement.
type stmtCounters struct {
	text         string
	calls        uint64
	totalSeconds float64
	rows         uint64
	rowsExamined uint64
	errors       uint64
	maxSeconds   float64 // all-time maximum, never a delta
}

// add merges counters of one key that the engine lists twice (PostgreSQL
// keeps top-level and nested executions apart).
func (c *stmtCounters) add(o stmtCounters) {
	if c.text == "" {
		c.text = o.text
	}
	c.calls += o.calls
	c.totalSeconds += o.totalSeconds
	c.rows += o.rows
	c.rowsExamined += o.rowsExamined
	c.errors += o.errors
	c.maxSeconds = max(c.maxSeconds, o.maxSeconds)
}

// statementDeltas turns two readings into the work done between them, top
// n by time. A statement whose calls went down was reset (TRUNCATE of the
// summary table, pg_stat_statements_reset(), a server restart, eviction
// and re-entry): its new values are the work since the reset, so they are
// used as they are. A statement missing from prev is new and counts whole.
func statementDeltas(prev, cur map[stmtKey]stmtCounters, n int) []*agentpb.DBStatement {
	out := make([]*agentpb.DBStatement, 0, min(n, len(cur)))
	for k, c := range cur {
		d := c
		if p, ok := prev[k]; ok && c.calls >= p.calls {
			d.calls = c.calls - p.calls
			d.totalSeconds = subFloat(c.totalSeconds, p.totalSeconds)
			d.rows = subCounter(c.rows, p.rows)
			d.rowsExamined = subCounter(c.rowsExamined, p.rowsExamined)
			d.errors = subCounter(c.errors, p.errors)
		}
		if d.calls == 0 && d.totalSeconds == 0 {
			continue
		}
		out = append(out, &agentpb.DBStatement{
			Digest:       k.digest,
			Text:         d.text,
			Database:     k.database,
			User:         k.user,
			Calls:        d.calls,
			TotalSeconds: d.totalSeconds,
			Rows:         d.rows,
			RowsExamined: d.rowsExamined,
			Errors:       d.errors,
			MaxSeconds:   d.maxSeconds,
		})
	}
	slices.SortFunc(out, func(a, b *agentpb.DBStatement) int {
		if c := cmp.Compare(b.TotalSeconds, a.TotalSeconds); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Calls, a.Calls); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Digest, b.Digest), cmp.Compare(a.Database, b.Database), cmp.Compare(a.User, b.User))
	})
	if len(out) > n {
		clear(out[n:])
		out = out[:n]
	}
	return out
}

// subCounter is cur-prev, or cur when the counter went back (a reset).
func subCounter(cur, prev uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

func subFloat(cur, prev float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// stmtTracker keeps the previous reading and decides when the next one is
// due. The first reading is only a baseline: a delta needs two.
type stmtTracker struct {
	every  time.Duration
	top    int
	next   time.Time // zero: due at the first successful cycle
	prev   map[stmtKey]stmtCounters
	prevAt time.Time
}

func (t *stmtTracker) due(now time.Time) bool { return !now.Before(t.next) }

// observe records a reading taken at now and returns the snapshot body to
// send, or nil for a baseline.
func (t *stmtTracker) observe(now time.Time, s stmtSample) *agentpb.DBStatements {
	t.next = now.Add(t.every)
	if !s.available {
		t.prev, t.prevAt = nil, time.Time{}
		return &agentpb.DBStatements{Available: false, Hint: s.hint}
	}
	prev, prevAt := t.prev, t.prevAt
	t.prev, t.prevAt = s.rows, now
	if prev == nil {
		return nil
	}
	return &agentpb.DBStatements{
		Available:       true,
		IntervalSeconds: now.Sub(prevAt).Seconds(),
		Statements:      statementDeltas(prev, s.rows, t.top),
	}
}

// failed pushes the next attempt one interval on without losing the
// baseline, so a statements view that times out is not read every cycle.
func (t *stmtTracker) failed(now time.Time) { t.next = now.Add(t.every) }
