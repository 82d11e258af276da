package host

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// builder appends metrics sharing one timestamp. Sums are cumulative from
// boot, as the kernel counters are.
type builder struct {
	ms    pmetric.MetricSlice
	ts    pcommon.Timestamp
	start pcommon.Timestamp
}

type metricB struct {
	dps   pmetric.NumberDataPointSlice
	ts    pcommon.Timestamp
	start pcommon.Timestamp
}

type pointB struct {
	dp pmetric.NumberDataPoint
	m  *metricB
}

func (b *builder) sum(name, unit, desc string, monotonic bool) *metricB {
	m := b.ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription(desc)
	s := m.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	s.SetIsMonotonic(monotonic)
	mb := &metricB{dps: s.DataPoints(), ts: b.ts}
	if monotonic {
		mb.start = b.start
	}
	return mb
}

func (b *builder) gauge(name, unit, desc string) *metricB {
	m := b.ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	m.SetDescription(desc)
	return &metricB{dps: m.SetEmptyGauge().DataPoints(), ts: b.ts}
}

func (m *metricB) point() pointB {
	dp := m.dps.AppendEmpty()
	dp.SetTimestamp(m.ts)
	if m.start != 0 {
		dp.SetStartTimestamp(m.start)
	}
	return pointB{dp: dp, m: m}
}

func (m *metricB) pointAttr(k, v string) pointB { return m.point().attr(k, v) }
func (m *metricB) setInt(v int64) *metricB      { return m.point().setInt(v) }
func (m *metricB) setDouble(v float64) *metricB { return m.point().setDouble(v) }

func (p pointB) attr(k, v string) pointB {
	p.dp.Attributes().PutStr(k, v)
	return p
}

func (p pointB) setInt(v int64) *metricB {
	p.dp.SetIntValue(v)
	return p.m
}

func (p pointB) setDouble(v float64) *metricB {
	p.dp.SetDoubleValue(v)
	return p.m
}
