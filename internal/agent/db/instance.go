package db

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// instance is one monitored server. Everything below the configuration is
// owned by the instance's goroutine.
type instance struct {
	s            settings
	eng          engine
	prep         prepared
	ep           endpoint
	id           string
	agentVersion string
	log          *slog.Logger
	red          redactor

	db        *sql.DB
	r         *runner
	col       collector
	probed    bool
	version   string // last known server version, kept while down
	firstSeen time.Time
	stmts     stmtTracker
	down      bool
	seenUp    bool
	warned    map[string]string // step → last warning logged
}

// open creates the pool (no connection is made until the first query).
func (in *instance) open() {
	in.db = openPool(in.prep.conn)
	in.r = &runner{db: in.db, timeout: in.s.queryTimeout, mask: in.s.mask, dialect: in.eng.dialect, warn: in.warn}
	in.col = in.eng.collector(in.r)
	in.probed = false
}

func (in *instance) close() {
	if in.db == nil {
		return
	}
	if err := in.db.Close(); err != nil {
		in.log.Debug("close pool", "err", in.red.err(err))
	}
	in.db = nil
}

func (in *instance) run(ctx context.Context, emit func(Output)) {
	in.open()
	defer in.close()
	fails := 0
	next := nextTick(time.Now(), in.s.interval, 0)
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		out, ok := in.cycle(ctx, next)
		if ctx.Err() != nil {
			// Cut short by shutdown: it says nothing about the server.
			return
		}
		emit(out)
		if ok {
			fails = 0
		} else {
			fails++
		}
		next = nextTick(time.Now(), in.s.interval, fails)
		timer.Reset(time.Until(next))
	}
}

// cycle collects once, stamped now. ok is false when the server could not
// be read or was slow (a query timed out, or the cycle took longer than
// the interval): the caller then backs off.
func (in *instance) cycle(ctx context.Context, now time.Time) (Output, bool) {
	began := time.Now()
	in.r.queries, in.r.timedOut = 0, false
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	sm.Scope().SetVersion(in.agentVersion)
	ms := newMetricSet(sm, now)
	if in.firstSeen.IsZero() {
		in.firstSeen = now
	}
	ms.setStart(in.firstSeen)

	snaps, err := in.collect(ctx, now, ms)
	if err != nil {
		// A half-read cycle is not shown as data next to up=0.
		sm.Metrics().RemoveIf(func(pmetric.Metric) bool { return true })
		snaps = nil
	}
	dur := time.Since(began)
	ms.gauge(MetricUp, "").int(boolInt(err == nil))
	ms.gauge(MetricCollectDuration, "s").double(dur.Seconds())
	in.resource(rm.Resource(), in.version)
	in.noteOutcome(err)

	out := Output{Metrics: md}
	if len(snaps) > 0 {
		out.Push = &agentpb.PushRequest{Agent: in.identity(in.version), Snapshots: snaps}
	}
	return out, err == nil && !in.r.timedOut && dur <= in.s.interval
}

// collect runs the engine's steps. Only a failed probe or stats query
// makes the cycle fail; sessions, locks and statements failing is logged
// and the rest is still sent.
func (in *instance) collect(ctx context.Context, now time.Time, ms *metricSet) ([]*agentpb.Snapshot, error) {
	if !in.probed {
		info, err := in.col.probe(ctx)
		if info.version != "" {
			in.version = info.version
		}
		if err != nil {
			return nil, fmt.Errorf("probe: %w", err)
		}
		in.probed = true
	}
	if err := in.col.stats(ctx, ms); err != nil {
		// Probe again next time: a server that went away may come back
		// as another version.
		in.probed = false
		return nil, fmt.Errorf("stats: %w", err)
	}
	ts := now.UnixNano()
	var snaps []*agentpb.Snapshot

	ss, err := in.col.sessions(ctx, in.s.maxSessions)
	if err != nil {
		in.warn("sessions", err)
	} else {
		in.recovered("sessions")
		ms.gauge(MetricSessionsTotal, "").int(int64(ss.body.Total))
		ms.gauge(MetricSessionsActive, "").int(int64(ss.body.Active))
		ms.gauge(MetricSessionsIdleTx, "").int(int64(ss.body.IdleInTransaction))
		ms.gauge(MetricLockWaits, "").int(int64(ss.blocked))
		snaps = append(snaps, &agentpb.Snapshot{TimeUnixNano: ts, Type: SnapshotSessions,
			Body: &agentpb.Snapshot_DbSessions{DbSessions: ss.body}})
		if ss.blocked > 0 {
			edges, err := in.col.locks(ctx)
			if err != nil {
				in.warn("locks", err)
			} else if len(edges) > 0 {
				in.recovered("locks")
				snaps = append(snaps, &agentpb.Snapshot{TimeUnixNano: ts, Type: SnapshotLocks,
					Body: &agentpb.Snapshot_DbLocks{DbLocks: &agentpb.DBLocks{Waits: edges}}})
			}
		}
	}

	if in.stmts.due(now) {
		sample, err := in.col.statements(ctx)
		if err != nil {
			in.warn("statements", err)
			in.stmts.failed(now)
		} else {
			in.recovered("statements")
			if body := in.stmts.observe(now, sample); body != nil {
				snaps = append(snaps, &agentpb.Snapshot{TimeUnixNano: ts, Type: SnapshotStatements,
					Body: &agentpb.Snapshot_DbStatements{DbStatements: body}})
			}
		}
	}
	return snaps, nil
}

// noteOutcome logs when the instance goes down or comes back, not every
// cycle.
func (in *instance) noteOutcome(err error) {
	switch {
	case err != nil && !in.down:
		in.down = true
		// After the outage, failing steps are reported afresh.
		clear(in.warned)
		in.log.Warn("database unreachable; retrying with back-off",
			"err", in.red.String(fmt.Sprintf("%s %s: %v", in.s.engine, in.s.name, err)))
	case err != nil:
		in.log.Debug("database still unreachable", "err", in.red.err(err))
	case in.down || !in.seenUp:
		in.log.Info("database reachable", "version", in.version)
		in.down, in.seenUp = false, true
	}
}

// warn logs a step's failure once per distinct message.
func (in *instance) warn(step string, err error) {
	msg := in.red.err(err)
	if in.warned[step] == msg {
		return
	}
	in.warned[step] = msg
	in.log.Warn("db collection step failed", "step", step,
		"err", fmt.Sprintf("%s %s: %s: %s", in.s.engine, in.s.name, step, msg))
}

func (in *instance) recovered(step string) {
	if _, ok := in.warned[step]; ok {
		delete(in.warned, step)
		in.log.Info("db collection step works again", "step", step)
	}
}

// sortSessions orders sessions longest-running first.
func sortSessions[T any](list []T, seconds func(T) float64) {
	slices.SortStableFunc(list, func(a, b T) int { return cmp.Compare(seconds(b), seconds(a)) })
}
