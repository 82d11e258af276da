package apm

import (
	"math"
	"runtime/metrics"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// procStats reads the process gauges of a rollup: CPU from getrusage
// deltas, heap, goroutines and GC from runtime/metrics (which, unlike
// runtime.ReadMemStats, does not stop the world).
type procStats struct {
	samples []metrics.Sample

	lastCPU   time.Duration
	lastWall  time.Time
	lastGC    uint64
	lastPause float64 // seconds, estimated from the pause histogram
	primed    bool
}

const (
	mHeap       = "/memory/classes/heap/objects:bytes"
	mGoroutines = "/sched/goroutines:goroutines"
	mGCCycles   = "/gc/cycles/total:gc-cycles"
	mGCPauses   = "/sched/pauses/total/gc:seconds"
)

func newProcStats() *procStats {
	p := &procStats{samples: []metrics.Sample{{Name: mHeap}, {Name: mGoroutines}, {Name: mGCCycles}, {Name: mGCPauses}}}
	p.fill(&agentpb.ApmRollup{}, time.Now())
	return p
}

// fill sets the gauges of r; CPU and GC are deltas since the last call.
func (p *procStats) fill(r *agentpb.ApmRollup, now time.Time) {
	metrics.Read(p.samples)
	var gc uint64
	var pause float64
	for _, s := range p.samples {
		switch s.Name {
		case mHeap:
			if s.Value.Kind() == metrics.KindUint64 {
				r.HeapBytes = s.Value.Uint64()
			}
		case mGoroutines:
			if s.Value.Kind() == metrics.KindUint64 {
				r.Goroutines = uint32(s.Value.Uint64())
			}
		case mGCCycles:
			if s.Value.Kind() == metrics.KindUint64 {
				gc = s.Value.Uint64()
			}
		case mGCPauses:
			if s.Value.Kind() == metrics.KindFloat64Histogram {
				pause = histSum(s.Value.Float64Histogram())
			}
		}
	}
	cpu := processCPU()
	if p.primed {
		r.GcCount = uint32(gc - p.lastGC)
		r.GcPauseMs = max(pause-p.lastPause, 0) * 1000
		if wall := now.Sub(p.lastWall); wall > 0 && cpu > 0 {
			r.CpuPercent = float64(cpu-p.lastCPU) / float64(wall) * 100
		}
	}
	p.lastGC, p.lastPause, p.lastCPU, p.lastWall, p.primed = gc, pause, cpu, now, true
}

// histSum estimates the sum of a histogram from its bucket midpoints.
func histSum(h *metrics.Float64Histogram) float64 {
	var sum float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		switch {
		case math.IsInf(lo, -1):
			lo = hi
		case math.IsInf(hi, 1):
			hi = lo
		}
		sum += float64(c) * (lo + hi) / 2
	}
	return sum
}
