package metric

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// varied builds one report with every shape the fast path must handle or
// hand over: gauges and sums (int and double, monotonic or not), a stale
// marker, a histogram, a delta sum, a point with an exemplar, resources with
// and without target_info, and (from batch 2 on) a new series.
func varied(ts time.Time, batch int) pmetric.Metrics {
	md := pmetric.NewMetrics()
	tsp := pcommon.NewTimestampFromTime(ts)
	start := pcommon.NewTimestampFromTime(ts.Add(-time.Hour))

	a := md.ResourceMetrics().AppendEmpty()
	a.Resource().Attributes().PutStr("osprey.agent.id", "agent-a")
	a.Resource().Attributes().PutStr("host.name", "web-1")
	a.Resource().Attributes().PutStr("service.name", "osprey-agent")
	a.Resource().Attributes().PutStr("os.type", "linux") // not promoted: makes target_info
	sm := a.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("osprey/host")
	ms := sm.Metrics()

	g := ms.AppendEmpty()
	g.SetName("system.memory.usage")
	g.SetUnit("By")
	g.SetEmptyGauge()
	for i, st := range []string{"used", "free"} {
		dp := g.Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(tsp)
		dp.SetDoubleValue(float64(1000*batch + i))
		dp.Attributes().PutStr("state", st)
	}
	if batch >= 2 {
		dp := g.Gauge().DataPoints().AppendEmpty()
		dp.SetTimestamp(tsp)
		dp.SetDoubleValue(7)
		dp.Attributes().PutStr("state", "cached")
	}

	c := ms.AppendEmpty()
	c.SetName("system.cpu.time")
	c.SetUnit("s")
	sum := c.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for cpu := 0; cpu < 2; cpu++ {
		dp := sum.DataPoints().AppendEmpty()
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(tsp)
		dp.SetIntValue(int64(100*batch + cpu))
		dp.Attributes().PutStr("cpu", "cpu"+string(rune('0'+cpu)))
		dp.Attributes().PutStr("state", "user")
		dp.Attributes().PutInt("core", int64(cpu))
	}

	ud := ms.AppendEmpty()
	ud.SetName("system.processes.count")
	ud.SetUnit("{process}")
	uds := ud.SetEmptySum()
	uds.SetIsMonotonic(false)
	uds.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := uds.DataPoints().AppendEmpty()
	dp.SetTimestamp(tsp)
	dp.SetIntValue(int64(50 + batch))
	dp.Attributes().PutBool("running", true)

	stale := ms.AppendEmpty()
	stale.SetName("disk.gone")
	sdp := stale.SetEmptyGauge().DataPoints().AppendEmpty()
	sdp.SetTimestamp(tsp)
	sdp.SetDoubleValue(1)
	if batch == 3 {
		sdp.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	}

	h := ms.AppendEmpty()
	h.SetName("http.server.duration")
	h.SetUnit("ms")
	hh := h.SetEmptyHistogram()
	hh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := hh.DataPoints().AppendEmpty()
	hdp.SetTimestamp(tsp)
	hdp.SetCount(uint64(10 * batch))
	hdp.SetSum(float64(100 * batch))
	hdp.ExplicitBounds().FromRaw([]float64{10, 100})
	hdp.BucketCounts().FromRaw([]uint64{uint64(5 * batch), uint64(3 * batch), uint64(2 * batch)})

	d := ms.AppendEmpty()
	d.SetName("requests")
	ds := d.SetEmptySum()
	ds.SetIsMonotonic(true)
	ds.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	ddp := ds.DataPoints().AppendEmpty()
	ddp.SetTimestamp(tsp)
	ddp.SetIntValue(3)

	ex := ms.AppendEmpty()
	ex.SetName("jobs.done")
	exs := ex.SetEmptySum()
	exs.SetIsMonotonic(true)
	exs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	edp := exs.DataPoints().AppendEmpty()
	edp.SetTimestamp(tsp)
	edp.SetDoubleValue(float64(batch))
	e := edp.Exemplars().AppendEmpty()
	e.SetTimestamp(tsp)
	e.SetDoubleValue(1)

	// Only fast-path shapes: its target_info must come from the fast path.
	f := md.ResourceMetrics().AppendEmpty()
	f.Resource().Attributes().PutStr("osprey.agent.id", "agent-f")
	f.Resource().Attributes().PutStr("service.name", "osprey-agent")
	f.Resource().Attributes().PutStr("os.type", "linux")
	fg := f.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	fg.SetName("system.uptime")
	fg.SetUnit("s")
	fdp := fg.SetEmptyGauge().DataPoints().AppendEmpty()
	fdp.SetTimestamp(tsp)
	fdp.SetDoubleValue(float64(3600 + batch))

	b := md.ResourceMetrics().AppendEmpty() // identifying attributes only: no target_info
	b.Resource().Attributes().PutStr("service.name", "checkout")
	b.Resource().Attributes().PutStr("service.instance.id", "checkout-1")
	bg := b.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	bg.SetName("queue.depth")
	bdp := bg.SetEmptyGauge().DataPoints().AppendEmpty()
	bdp.SetTimestamp(tsp)
	bdp.SetIntValue(int64(batch))
	return md
}

type sample struct {
	t int64
	v uint64 // bits, so StaleNaN compares exactly
	h bool
}

func dump(t *testing.T, s *Store, project int64, from, to time.Time) map[string][]sample {
	t.Helper()
	q, err := s.Queryable(project).Querier(from.UnixMilli(), to.UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	out := map[string][]sample{}
	var it chunkenc.Iterator
	for ss.Next() {
		series := ss.At()
		it = series.Iterator(it)
		var got []sample
		for vt := it.Next(); vt != chunkenc.ValNone; vt = it.Next() {
			switch vt {
			case chunkenc.ValFloat:
				ts, v := it.At()
				got = append(got, sample{t: ts, v: math.Float64bits(v)})
			default:
				ts := it.AtT()
				got = append(got, sample{t: ts, h: true})
			}
		}
		out[series.Labels().String()] = got
	}
	if err := ss.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFastPathMatchesTranslator(t *testing.T) {
	ctx := context.Background()
	fast, err := Open(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	slow, err := Open(ctx, Options{Dir: t.TempDir(), noFastPath: true})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()

	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	for batch := 0; batch < 5; batch++ {
		ts := t0.Add(time.Duration(batch) * 15 * time.Second)
		rf, err := fast.AppendOTLP(ctx, 7, varied(ts, batch))
		if err != nil {
			t.Fatal(err)
		}
		rs, err := slow.AppendOTLP(ctx, 7, varied(ts, batch))
		if err != nil {
			t.Fatal(err)
		}
		if rf.Rejected != rs.Rejected {
			t.Errorf("batch %d: rejected fast %d (%s) vs translator %d (%s)", batch, rf.Rejected, rf.RejectReason, rs.Rejected, rs.RejectReason)
		}
	}
	known := 0
	for i := range fast.fast.shards {
		known += len(fast.fast.shards[i].m)
	}
	if known < 8 {
		t.Fatalf("fast path learned %d series; it is not being used", known)
	}

	got := dump(t, fast, 7, t0.Add(-time.Hour), t0.Add(time.Hour))
	want := dump(t, slow, 7, t0.Add(-time.Hour), t0.Add(time.Hour))
	if len(want) < 12 {
		t.Fatalf("translator produced only %d series; the fixture is wrong", len(want))
	}
	for name, ws := range want {
		gs, ok := got[name]
		if !ok {
			t.Errorf("fast path lacks series %s", name)
			continue
		}
		if len(gs) != len(ws) {
			t.Errorf("%s: fast path %d samples, translator %d\n fast: %v\n want: %v", name, len(gs), len(ws), gs, ws)
			continue
		}
		for i := range ws {
			if gs[i] != ws[i] {
				t.Errorf("%s sample %d: fast %+v, translator %+v", name, i, gs[i], ws[i])
			}
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("fast path made a series the translator did not: %s", name)
		}
	}
	// Another project with the same payload is a different series set.
	if _, err := fast.AppendOTLP(ctx, 8, varied(t0, 0)); err != nil {
		t.Fatal(err)
	}
	for name := range dump(t, fast, 8, t0.Add(-time.Hour), t0.Add(time.Hour)) {
		if _, ok := want[name]; !ok {
			t.Errorf("project 8 has a series project 7 does not: %s", name)
		}
	}
	if n := len(dump(t, fast, 7, t0.Add(-time.Hour), t0.Add(time.Hour))["{__name__=\"queue_depth\", instance=\"checkout-1\", job=\"checkout\", service_instance_id=\"checkout-1\", service_name=\"checkout\"}"]); n != 5 {
		t.Errorf("project 8's batch leaked into project 7: %d samples", n)
	}
}
