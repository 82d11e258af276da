package metric

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The OTLP fast path. Prometheus' translator rebuilds and normalises the
// label set of every data point, which costs more than the TSDB append
// itself. A series' labels depend only on the project, the resource
// attributes, the scope, the metric's name, unit and type, and the point's
// attributes; so a gauge or cumulative-sum point whose identity was seen
// before is appended with the labels and series ref the translator produced
// then. Everything else — first sightings, histograms, summaries, deltas,
// points with exemplars — still goes through the translator, which stays the
// single definition of the naming rules. TestFastPathMatchesTranslator holds
// the two paths to the same series and samples.

// fastKey is a 128-bit identity (two independent 64-bit hashes), so that a
// collision — which would put samples into the wrong series — is not a
// practical concern at millions of series.
type fastKey struct{ a, b uint64 }

type fastEntry struct {
	out labels.Labels // with the project label
	ref storage.SeriesRef
}

// targetEntry is a resource's target_info series; none means the
// translator emits no target_info for it.
type targetEntry struct {
	out  labels.Labels
	ref  storage.SeriesRef
	none bool
}

const (
	fastShards   = 64
	fastShardMax = 16384 // 64 × 16k = 1M series; past it a shard starts over
)

type fastCache struct {
	seed    maphash.Seed
	shards  [fastShards]fastShard
	tmu     sync.RWMutex
	targets map[fastKey]targetEntry
}

type fastShard struct {
	mu sync.RWMutex
	m  map[fastKey]fastEntry
}

func newFastCache() *fastCache {
	return &fastCache{seed: maphash.MakeSeed(), targets: map[fastKey]targetEntry{}}
}

func (c *fastCache) get(k fastKey) (fastEntry, bool) {
	sh := &c.shards[k.a%fastShards]
	sh.mu.RLock()
	e, ok := sh.m[k]
	sh.mu.RUnlock()
	return e, ok
}

func (c *fastCache) put(k fastKey, e fastEntry) {
	sh := &c.shards[k.a%fastShards]
	sh.mu.Lock()
	if sh.m == nil || len(sh.m) >= fastShardMax {
		sh.m = make(map[fastKey]fastEntry, 256)
	}
	sh.m[k] = e
	sh.mu.Unlock()
}

func (c *fastCache) target(k fastKey) (targetEntry, bool) {
	c.tmu.RLock()
	e, ok := c.targets[k]
	c.tmu.RUnlock()
	return e, ok
}

func (c *fastCache) putTarget(k fastKey, e targetEntry) {
	c.tmu.Lock()
	if len(c.targets) >= fastShardMax {
		c.targets = map[fastKey]targetEntry{}
	}
	c.targets[k] = e
	c.tmu.Unlock()
}

// hasher builds fastKeys; one per call, not shared.
type hasher struct {
	seed maphash.Seed
	buf  []byte
}

func (h *hasher) sum() fastKey {
	return fastKey{a: xxhash.Sum64(h.buf), b: maphash.Bytes(h.seed, h.buf)}
}

func mix(parts ...fastKey) fastKey {
	var k fastKey
	for _, p := range parts {
		k.a = (k.a ^ p.a) * 0x9E3779B97F4A7C15
		k.b = (k.b ^ p.b) * 0xC2B2AE3D27D4EB4F
		k.a ^= k.a >> 29
		k.b ^= k.b >> 31
	}
	return k
}

func (h *hasher) attrs(m pcommon.Map) fastKey {
	h.buf = h.buf[:0]
	m.Range(func(k string, v pcommon.Value) bool {
		h.buf = append(h.buf, k...)
		h.buf = append(h.buf, 0, byte(v.Type()))
		switch v.Type() {
		case pcommon.ValueTypeStr:
			h.buf = append(h.buf, v.Str()...)
		case pcommon.ValueTypeInt:
			h.buf = binary.LittleEndian.AppendUint64(h.buf, uint64(v.Int()))
		case pcommon.ValueTypeDouble:
			h.buf = binary.LittleEndian.AppendUint64(h.buf, math.Float64bits(v.Double()))
		case pcommon.ValueTypeBool:
			if v.Bool() {
				h.buf = append(h.buf, 1)
			} else {
				h.buf = append(h.buf, 0)
			}
		default:
			h.buf = append(h.buf, v.AsString()...)
		}
		h.buf = append(h.buf, 0xff)
		return true
	})
	return h.sum()
}

func (h *hasher) strings(ss ...string) fastKey {
	h.buf = h.buf[:0]
	for _, s := range ss {
		h.buf = append(h.buf, s...)
		h.buf = append(h.buf, 0xff)
	}
	return h.sum()
}

// fastMetric reports whether m's points can take the fast path, and the
// metric part of their identity.
func (h *hasher) fastMetric(m pmetric.Metric) (pmetric.NumberDataPointSlice, fastKey, bool) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints(), h.strings("g", m.Name(), m.Unit()), true
	case pmetric.MetricTypeSum:
		s := m.Sum()
		if s.AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			return pmetric.NumberDataPointSlice{}, fastKey{}, false
		}
		mono := "n"
		if s.IsMonotonic() {
			mono = "m"
		}
		return s.DataPoints(), h.strings("s", mono, m.Name(), m.Unit()), true
	}
	return pmetric.NumberDataPointSlice{}, fastKey{}, false
}

func pointValue(dp pmetric.NumberDataPoint) float64 {
	v := dp.DoubleValue()
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		v = float64(dp.IntValue())
	}
	if dp.Flags().NoRecordedValue() {
		v = math.Float64frombits(value.StaleNaN)
	}
	return v
}

// copyMetricShell copies m's name, unit, description and type settings
// without its points.
func copyMetricShell(m, dst pmetric.Metric) {
	dst.SetName(m.Name())
	dst.SetUnit(m.Unit())
	dst.SetDescription(m.Description())
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dst.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		s := dst.SetEmptySum()
		s.SetIsMonotonic(m.Sum().IsMonotonic())
		s.SetAggregationTemporality(m.Sum().AggregationTemporality())
	}
}

func numberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	if m.Type() == pmetric.MetricTypeGauge {
		return m.Gauge().DataPoints()
	}
	return m.Sum().DataPoints()
}

// appendOTLPFast appends md for project: known series directly, the rest
// through the translator, learning the series the translator creates for
// fast-path-shaped points.
func (s *Store) appendOTLPFast(ctx context.Context, project int64, md pmetric.Metrics) (AppendResult, error) {
	app := s.newAppender(ctx, project)
	h := &hasher{seed: s.fast.seed, buf: make([]byte, 0, 256)}
	pk := fastKey{a: uint64(project), b: uint64(project) * 0x9E3779B97F4A7C15}

	var (
		learn     pmetric.Metrics // points of fast shape not yet known, in order
		learnKeys []fastKey       // their keys, in the same order
		learnRes  []fastKey       // resource key of each learn point
		other     pmetric.Metrics // points the fast path never takes
	)
	learn, other = pmetric.NewMetrics(), pmetric.NewMetrics()
	lookback := s.otlpSet.LookbackDelta
	if lookback == 0 {
		lookback = 5 * time.Minute
	}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		rk := mix(pk, h.attrs(rm.Resource().Attributes()))
		target, targetKnown := s.fast.target(rk)
		var (
			lrm, orm     pmetric.ResourceMetrics
			haveL, haveO bool
			minT, maxT   int64 = math.MaxInt64, math.MinInt64
			fastAppended bool
		)
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			sk := mix(rk, h.strings(sm.Scope().Name(), sm.Scope().Version()), h.attrs(sm.Scope().Attributes()))
			var lsm, osm pmetric.ScopeMetrics
			var haveLS, haveOS bool
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				dps, mk, ok := h.fastMetric(m)
				if ok {
					for d := 0; d < dps.Len(); d++ {
						if dps.At(d).Exemplars().Len() > 0 {
							ok = false
							break
						}
					}
				}
				if !ok {
					if !haveO {
						orm, haveO = other.ResourceMetrics().AppendEmpty(), true
						rm.Resource().CopyTo(orm.Resource())
					}
					if !haveOS {
						osm, haveOS = orm.ScopeMetrics().AppendEmpty(), true
						sm.Scope().CopyTo(osm.Scope())
					}
					m.CopyTo(osm.Metrics().AppendEmpty())
					continue
				}
				mkey := mix(sk, mk)
				var lm pmetric.Metric
				haveLM := false
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					key := mix(mkey, h.attrs(dp.Attributes()))
					// A resource whose target_info is not known yet takes the
					// translator for all its points, so target_info is learned.
					if e, hit := s.fast.get(key); hit && targetKnown {
						t := int64(dp.Timestamp()) / 1e6
						app.appendFast(e.out, e.ref, int64(dp.StartTimestamp())/1e6, t, pointValue(dp))
						fastAppended = true
						minT, maxT = min(minT, t), max(maxT, t)
						continue
					}
					if !haveL {
						lrm, haveL = learn.ResourceMetrics().AppendEmpty(), true
						rm.Resource().CopyTo(lrm.Resource())
					}
					if !haveLS {
						lsm, haveLS = lrm.ScopeMetrics().AppendEmpty(), true
						sm.Scope().CopyTo(lsm.Scope())
					}
					if !haveLM {
						lm, haveLM = lsm.Metrics().AppendEmpty(), true
						copyMetricShell(m, lm)
					}
					dp.CopyTo(numberPoints(lm).AppendEmpty())
					learnKeys = append(learnKeys, key)
					learnRes = append(learnRes, rk)
				}
			}
		}
		if fastAppended && !target.none {
			// As the translator does: a sample every lookback/2 from the
			// earliest to the latest point, and one at the latest.
			for t := minT; t < maxT; t += lookback.Milliseconds() / 2 {
				app.appendFast(target.out, target.ref, 0, t, 1)
			}
			app.appendFast(target.out, target.ref, 0, maxT, 1)
		}
	}

	if len(learnKeys) > 0 {
		app.record = true
		if err := s.translate(ctx, app, learn); err != nil {
			return AppendResult{}, err
		}
		app.record = false
		s.learnFrom(app.recorded, learnKeys, learnRes)
		app.recorded = app.recorded[:0]
	}
	if other.ResourceMetrics().Len() > 0 {
		if err := s.translate(ctx, app, other); err != nil {
			return AppendResult{}, err
		}
	}
	return app.commit()
}

// learnFrom maps what the translator appended for the learn batch back to
// the points' keys. The translator appends one series per number point, in
// batch order, with each resource's target_info after its points. If the
// counts do not line up (a point was refused), nothing is learned: the next
// batch simply takes the translator again.
func (s *Store) learnFrom(recorded []recordedAppend, keys, res []fastKey) {
	var series []recordedAppend
	targets := map[fastKey]targetEntry{}
	seen := map[fastKey]bool{}
	last := -1
	for _, r := range recorded {
		if r.out.Get(model.MetricNameLabel) == targetInfoName {
			if last >= 0 {
				targets[res[last]] = targetEntry{out: r.out, ref: r.ref}
			}
			continue
		}
		series = append(series, r)
		last++
		if last < len(res) {
			seen[res[last]] = true
		}
	}
	if len(series) != len(keys) {
		return
	}
	for i, r := range series {
		if r.ref != 0 {
			s.fast.put(keys[i], fastEntry(r))
		}
	}
	for rk := range seen {
		e, ok := targets[rk]
		if !ok {
			e = targetEntry{none: true}
		}
		s.fast.putTarget(rk, e)
	}
}

const targetInfoName = "target_info"

type recordedAppend struct {
	out labels.Labels
	ref storage.SeriesRef
}
