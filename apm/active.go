package apm

import (
	"cmp"
	"context"
	"log/slog"
	"math"
	"slices"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/osprey-monitoring/osprey/apm/internal/stacks"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// maxSentStacks bounds the set of stack hashes remembered as sent; past
// it the set starts over and a stack text may be sent again (the server
// keeps the newest row of a hash, so that is harmless).
const maxSentStacks = 20000

// maxActiveTx bounds the transactions of one active snapshot; the longest
// running are kept (the rollup's active gauge still counts all of them).
const maxActiveTx = 2000

// loop sends, every ActiveInterval (aligned to the wall clock, so
// instances' windows line up), the running transactions and the rollup of
// the window that just ended.
func (a *Agent) loop(ctx context.Context) {
	iv := a.cfg.ActiveInterval
	t := time.NewTimer(time.Until(time.Unix(0, alignDown(time.Now(), iv)+int64(iv))))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		a.tick(now, false)
		t.Reset(time.Until(time.Unix(0, alignDown(now, iv)+int64(iv))))
	}
}

// tick queues an active snapshot and a rollup. final (at Shutdown) sends
// the statistics of the unfinished window too and skips the stack sample.
func (a *Agent) tick(now time.Time, final bool) {
	sample := !final && now.Sub(a.lastStack) >= a.cfg.StackInterval-a.cfg.ActiveInterval/2
	if sample {
		a.lastStack = now
	}
	txs := a.proc.live.entries()
	if act := a.activeSnapshot(now, txs, sample); act != nil {
		a.push.Enqueue(&agentpb.Snapshot{
			TimeUnixNano: now.UnixNano(),
			Type:         wire.SnapshotApmActive,
			Body:         &agentpb.Snapshot_ApmActive{ApmActive: act},
		})
	}
	a.push.Enqueue(&agentpb.Snapshot{
		TimeUnixNano: now.UnixNano(),
		Type:         wire.SnapshotApmRollup,
		Body:         &agentpb.Snapshot_ApmRollup{ApmRollup: a.rollup(now, len(txs))},
	})
	// Statistics: a window that ended is retired now and sent with the
	// next tick, when no request can still be adding to it. At Shutdown
	// the span processors are already gone, so the unfinished window goes
	// at once, in a rollup of its own (window_start 0: statistics only).
	if final {
		a.proc.stats.rotate()
		a.statsRetired, a.retiredStart = true, a.statStart
		if sn := a.statsSnapshot(now); len(sn.GetApmRollup().GetStats()) > 0 {
			a.push.Enqueue(sn)
		}
		return
	}
	if now.UnixNano() >= a.statStart+int64(a.cfg.StatInterval) {
		a.proc.stats.rotate()
		a.statsRetired, a.retiredStart = true, a.statStart
		a.statStart = alignDown(now, a.cfg.StatInterval)
	}
}

func (a *Agent) rollup(now time.Time, active int) *agentpb.ApmRollup {
	iv := a.cfg.ActiveInterval
	r := &agentpb.ApmRollup{
		WindowStartUnixNano: a.winStart,
		WindowSeconds:       int32(max(1, math.Round(iv.Seconds()))),
	}
	a.winStart = alignDown(now, iv)
	a.proc.counters.take(r)
	r.Users = a.proc.users.count(now.Unix())
	r.Active = uint32(active)
	a.proc0.fill(r, now)
	if a.statsRetired {
		a.fillStats(r)
	}
	return r
}

// statsSnapshot is a rollup carrying only the retired statistics window.
func (a *Agent) statsSnapshot(now time.Time) *agentpb.Snapshot {
	r := &agentpb.ApmRollup{}
	a.fillStats(r)
	return &agentpb.Snapshot{
		TimeUnixNano: now.UnixNano(),
		Type:         wire.SnapshotApmRollup,
		Body:         &agentpb.Snapshot_ApmRollup{ApmRollup: r},
	}
}

func (a *Agent) fillStats(r *agentpb.ApmRollup) {
	r.StatsWindowStartUnixNano = a.retiredStart
	r.StatsWindowSeconds = int32(math.Round(a.cfg.StatInterval.Seconds()))
	r.Stats = a.proc.stats.collect()
	a.statsRetired = false
	// What was lost so far, for whoever debugs a gap in the data.
	a.log.Debug("osprey apm: statistics window", "lines", len(r.Stats),
		"steps_not_exported", a.proc.stepsDropped.Load(), "orphan_spans", a.proc.orphans.Load(),
		"spans_export_failed", a.exp.failed.Load(), "snapshots_dropped", a.push.Dropped())
}

// activeSnapshot lists the running transactions; with sample it also
// takes a goroutine profile and ties each transaction to its stack. It
// returns nil when there is nothing to say.
func (a *Agent) activeSnapshot(now time.Time, txs []*tx, sample bool) *agentpb.ApmActive {
	var samples map[string]stacks.Stack
	if sample {
		var err error
		samples, err = a.sampler.Sample(func(label string) bool {
			id, err := trace.SpanIDFromHex(label)
			return err == nil && a.proc.live.get(id) != nil
		})
		if err != nil {
			a.logs.Log(slog.LevelWarn, "stacks", "osprey apm: stack sample failed", "err", err)
		}
	}
	// A transaction's stack: its own goroutine's, else that of a
	// goroutine working for one of its steps (Do with a step's context).
	byTx := make(map[*tx]stacks.Stack, len(samples))
	for label, st := range samples {
		id, _ := trace.SpanIDFromHex(label)
		rec := a.proc.live.get(id)
		if rec == nil {
			continue
		}
		if _, ok := byTx[rec.tx]; ok && !rec.isEntry() {
			continue
		}
		byTx[rec.tx] = st
	}

	act := &agentpb.ApmActive{StacksSampled: sample}
	for _, t := range txs {
		s := t.rec.span
		var at spanAttrs
		at.read(s.Attributes())
		sc := s.SpanContext()
		start := s.StartTime()
		tr := &agentpb.ApmActiveTx{
			TraceId:       sc.TraceID().String(),
			SpanId:        sc.SpanID().String(),
			Name:          a.proc.txName(s, &at),
			StartUnixNano: start.UnixNano(),
			ElapsedMs:     float64(now.Sub(start)) / float64(time.Millisecond),
			ClientIp:      at.clientIP,
			User:          at.user,
			Method:        at.method,
			SqlCount:      t.sqlCount.Load(),
			HttpcCount:    t.httpcCount.Load(),
		}
		if tr.User == "" {
			if u := t.user.Load(); u != nil {
				tr.User = *u
			} else {
				tr.User = at.clientIP
			}
		}
		if cur := t.cur.Load(); cur != nil {
			cs := cur.span
			var ca spanAttrs
			ca.read(cs.Attributes())
			typ := stepType(cs.SpanKind(), cs.Name(), &ca)
			tr.Step = &agentpb.ApmStep{
				Type:      typ,
				Text:      a.stepText(typ, cs, &ca),
				ElapsedMs: float64(now.Sub(cs.StartTime())) / float64(time.Millisecond),
			}
			// The counts are of finished steps; the one running now is
			// a call too, as an operator reading the list counts it.
			switch typ {
			case stepSQL:
				tr.SqlCount++
			case stepHTTPC:
				tr.HttpcCount++
			}
		}
		if st, ok := byTx[t]; ok {
			tr.StackHash = st.Hash
			if a.markSent(st.Hash) {
				act.Stacks = append(act.Stacks, &agentpb.ApmStack{Hash: st.Hash, Text: st.Text})
			}
		}
		act.Transactions = append(act.Transactions, tr)
	}
	if len(act.Transactions) > maxActiveTx {
		slices.SortFunc(act.Transactions, func(x, y *agentpb.ApmActiveTx) int {
			return cmp.Compare(y.GetElapsedMs(), x.GetElapsedMs())
		})
		clear(act.Transactions[maxActiveTx:])
		act.Transactions = act.Transactions[:maxActiveTx]
	}
	if len(act.Transactions) == 0 && len(act.Stacks) == 0 {
		return nil
	}
	return act
}

// stepText is the processor's, except SQL shown with its parameters when
// so configured.
func (a *Agent) stepText(typ string, s sdktrace.ReadOnlySpan, at *spanAttrs) string {
	if typ == stepSQL && a.cfg.ShowSQLParams && at.dbText != "" {
		return at.dbText
	}
	return a.proc.stepText(typ, s, at)
}

// markSent records hash as sent and reports whether it was new.
func (a *Agent) markSent(hash string) bool {
	a.sentMu.Lock()
	defer a.sentMu.Unlock()
	if _, ok := a.sent[hash]; ok {
		return false
	}
	if len(a.sent) >= maxSentStacks {
		clear(a.sent)
	}
	a.sent[hash] = struct{}{}
	return true
}

// forgetStacks is called with snapshots dropped unsent: their stack texts
// must go with a later snapshot.
func (a *Agent) forgetStacks(s *agentpb.Snapshot) {
	act := s.GetApmActive()
	if act == nil || len(act.GetStacks()) == 0 {
		return
	}
	a.sentMu.Lock()
	for _, st := range act.GetStacks() {
		delete(a.sent, st.GetHash())
	}
	a.sentMu.Unlock()
}
