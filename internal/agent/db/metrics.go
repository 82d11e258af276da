package db

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Engine-neutral metric names: the server's instance list reads these, so
// every engine emits them under the same names.
const (
	MetricUp              = "osprey.db.up"
	MetricSessionsTotal   = "osprey.db.sessions.total"
	MetricSessionsActive  = "osprey.db.sessions.active"
	MetricSessionsIdleTx  = "osprey.db.sessions.idle_in_transaction"
	MetricLockWaits       = "osprey.db.lock.waits"
	MetricCollectDuration = "osprey.db.collect.duration"
)

// metricSet appends the metrics of one cycle to one scope. All points share
// the cycle's timestamp; cumulative sums start at the server's start (or
// when the module first saw the instance), so a restart shows as a reset.
type metricSet struct {
	ms    pmetric.MetricSlice
	ts    pcommon.Timestamp
	start pcommon.Timestamp
}

func newMetricSet(sm pmetric.ScopeMetrics, now time.Time) *metricSet {
	return &metricSet{ms: sm.Metrics(), ts: pcommon.NewTimestampFromTime(now)}
}

func (s *metricSet) setStart(t time.Time) {
	if !t.IsZero() {
		s.start = pcommon.NewTimestampFromTime(t)
	}
}

// metric is one metric being filled with points.
type metric struct {
	dps   pmetric.NumberDataPointSlice
	ts    pcommon.Timestamp
	start pcommon.Timestamp
}

func (s *metricSet) gauge(name, unit string) *metric {
	m := s.ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	return &metric{dps: m.SetEmptyGauge().DataPoints(), ts: s.ts}
}

// counter is a monotonic cumulative sum.
func (s *metricSet) counter(name, unit string) *metric {
	m := s.ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	sum := m.SetEmptySum()
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sum.SetIsMonotonic(true)
	return &metric{dps: sum.DataPoints(), ts: s.ts, start: s.start}
}

func (m *metric) point(attrs []string) pmetric.NumberDataPoint {
	dp := m.dps.AppendEmpty()
	dp.SetTimestamp(m.ts)
	if m.start != 0 {
		dp.SetStartTimestamp(m.start)
	}
	for i := 0; i+1 < len(attrs); i += 2 {
		dp.Attributes().PutStr(attrs[i], attrs[i+1])
	}
	return dp
}

// int adds a point; attrs are key, value pairs.
func (m *metric) int(v int64, attrs ...string) *metric {
	m.point(attrs).SetIntValue(v)
	return m
}

func (m *metric) double(v float64, attrs ...string) *metric {
	m.point(attrs).SetDoubleValue(v)
	return m
}

// number adds a point holding v as an int when it is one, so counters
// keep their exact value.
func (m *metric) number(v numberValue, attrs ...string) *metric {
	if v.isInt {
		return m.int(v.i, attrs...)
	}
	return m.double(v.f, attrs...)
}

// numberValue is a column or status value that turned out to be a number.
type numberValue struct {
	i     int64
	f     float64
	isInt bool
}

func intNumber(i int64) numberValue     { return numberValue{i: i, f: float64(i), isInt: true} }
func floatNumber(f float64) numberValue { return numberValue{f: f} }

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
