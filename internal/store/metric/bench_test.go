package metric

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// cpuTime is the process's user+system CPU time. The shared 2-core machine
// is often busy with other work, so wall-clock figures are reported next to
// CPU-time figures, which are what the process itself costs.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// agentReport builds one resource shaped like a host agent's report: 20
// metrics (10 cumulative sums, 10 gauges) of 10 data points each, 200 points.
func agentReport(md pmetric.Metrics, agent int) {
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	id := strconv.Itoa(agent)
	ra.PutStr("osprey.agent.id", "agent-"+id)
	ra.PutStr("osprey.agent.name", "agent-"+id)
	ra.PutStr("osprey.agent.kind", "host")
	ra.PutStr("host.name", "host-"+id+".example.internal")
	ra.PutStr("os.type", "linux")
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName("osprey/host")
	for m := range 20 {
		metric := sm.Metrics().AppendEmpty()
		metric.SetName(fmt.Sprintf("system.bench.metric%02d", m))
		var dps pmetric.NumberDataPointSlice
		if m < 10 {
			metric.SetUnit("By")
			sum := metric.SetEmptySum()
			sum.SetIsMonotonic(true)
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dps = sum.DataPoints()
		} else {
			metric.SetUnit("1")
			dps = metric.SetEmptyGauge().DataPoints()
		}
		for d := range 10 {
			dp := dps.AppendEmpty()
			dp.Attributes().PutStr("device", "dev"+strconv.Itoa(d))
			dp.Attributes().PutStr("direction", "receive")
			dp.SetDoubleValue(float64(d))
		}
	}
}

// stamp sets every data point of md to ts and bumps its value, as the next
// report of the same agents would.
func stamp(md pmetric.Metrics, ts time.Time, round int) {
	pts := pcommon.NewTimestampFromTime(ts)
	rms := md.ResourceMetrics()
	for i := range rms.Len() {
		ms := rms.At(i).ScopeMetrics().At(0).Metrics()
		for j := range ms.Len() {
			m := ms.At(j)
			var dps pmetric.NumberDataPointSlice
			if m.Type() == pmetric.MetricTypeSum {
				dps = m.Sum().DataPoints()
			} else {
				dps = m.Gauge().DataPoints()
			}
			for k := range dps.Len() {
				dps.At(k).SetTimestamp(pts)
				dps.At(k).SetDoubleValue(float64(round*k + j))
			}
		}
	}
}

// BenchmarkAppendOTLP measures OTLP conversion plus TSDB append: 200 agents
// (40,000 series) each sending a 200-point report every 10 s of sample time,
// one AppendOTLP call per batch of `resources` agent reports.
func BenchmarkAppendOTLP(b *testing.B) {
	const agents = 200
	for _, resources := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("resources_per_call=%d", resources), func(b *testing.B) {
			s := openTestStore(b, b.TempDir())
			defer s.Close()
			batches := make([]pmetric.Metrics, agents/resources)
			for i := range batches {
				batches[i] = pmetric.NewMetrics()
				for r := range resources {
					agentReport(batches[i], i*resources+r)
				}
			}
			perCall := batches[0].DataPointCount()
			// Start a day back so that any b.N's rounds stay in the past.
			start := time.Now().Add(-24 * time.Hour)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			var samples int
			for i := 0; i < b.N; i++ {
				round := i / len(batches)
				md := batches[i%len(batches)]
				stamp(md, start.Add(time.Duration(round)*10*time.Second), round)
				res, err := s.AppendOTLP(ctx, 1, md)
				if err != nil {
					b.Fatal(err)
				}
				if res.Rejected != 0 {
					b.Fatalf("rejected: %+v", res)
				}
				samples += perCall
			}
			b.StopTimer()
			b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
			b.ReportMetric(float64(samples)/(cpuTime(b)-cpu0).Seconds(), "samples/cpu-s")
		})
	}

	// Agents report concurrently, so ingest runs on all cores: one goroutine
	// per core, each with its own agents, 10 agent reports per call.
	b.Run("parallel/resources_per_call=10", func(b *testing.B) {
		s := openTestStore(b, b.TempDir())
		defer s.Close()
		start := time.Now().Add(-24 * time.Hour)
		var (
			mu      sync.Mutex
			samples int
			worker  int
		)
		b.ResetTimer()
		cpu0 := cpuTime(b)
		b.RunParallel(func(pb *testing.PB) {
			mu.Lock()
			w := worker
			worker++
			mu.Unlock()
			batches := make([]pmetric.Metrics, agents/10)
			for i := range batches {
				batches[i] = pmetric.NewMetrics()
				for r := range 10 {
					agentReport(batches[i], 10_000*(w+1)+i*10+r)
				}
			}
			perCall := batches[0].DataPointCount()
			n := 0
			for i := 0; pb.Next(); i++ {
				round := i / len(batches)
				md := batches[i%len(batches)]
				stamp(md, start.Add(time.Duration(round)*10*time.Second), round)
				res, err := s.AppendOTLP(context.Background(), 1, md)
				if err != nil || res.Rejected != 0 {
					b.Errorf("append: %+v %v", res, err)
					return
				}
				n += perCall
			}
			mu.Lock()
			samples += n
			mu.Unlock()
		})
		b.StopTimer()
		b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
		b.ReportMetric(float64(samples)/(cpuTime(b)-cpu0).Seconds(), "samples/cpu-s")
	})
}

// BenchmarkQueryRange1000Series1Day: 1,000 counter series with a sample every
// 5 s over the last 24 h (17.28M samples, compacted into blocks plus head),
// queried over the whole day at a 60 s step.
func BenchmarkQueryRange1000Series1Day(b *testing.B) {
	const (
		series   = 1000
		interval = 5 * time.Second
		span     = 24 * time.Hour
	)
	s := openTestStore(b, b.TempDir())
	defer s.Close()
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-span)

	lsets := make([]labels.Labels, series)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "x", "instance", fmt.Sprintf("host-%04d", i), "job", "node", ProjectLabel, "1")
	}
	built := time.Now()
	ctx := context.Background()
	refs := make([]storage.SeriesRef, series)
	steps := int(span / interval)
	app := s.db.Appender(ctx)
	for step := 0; step <= steps; step++ {
		t := start.Add(time.Duration(step) * interval).UnixMilli()
		for i := range series {
			ref, err := app.Append(refs[i], lsets[i], t, float64(step*(i%7+1)))
			if err != nil {
				b.Fatal(err)
			}
			refs[i] = ref
		}
		if step%200 == 199 {
			if err := app.Commit(); err != nil {
				b.Fatal(err)
			}
			app = s.db.Appender(ctx)
		}
	}
	if err := app.Commit(); err != nil {
		b.Fatal(err)
	}
	if err := s.db.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d samples in %s; %d blocks, %d MB on disk", series*(steps+1), time.Since(built).Round(time.Millisecond), len(s.db.Blocks()), s.Stats().DiskBytes>>20)

	for _, q := range []string{`rate(x[5m])`, `sum(rate(x[5m]))`} {
		b.Run(q, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				qry, err := s.Engine().NewRangeQuery(ctx, s.Queryable(1), nil, q, start, end, time.Minute)
				if err != nil {
					b.Fatal(err)
				}
				res := qry.Exec(ctx)
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				m := res.Value.(promql.Matrix)
				if want := series; q == `rate(x[5m])` && len(m) != want {
					b.Fatalf("got %d series", len(m))
				}
				qry.Close()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/query")
			b.ReportMetric(float64((cpuTime(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/query")
		})
	}
}

// BenchmarkAppendRemoteWrite is the same load as BenchmarkAppendOTLP (200
// agents × 200 series, 2,000 samples per call) through remote write, which
// skips the OTLP translation: the gap between the two is the translator.
func BenchmarkAppendRemoteWrite(b *testing.B) {
	const agents, perAgent, perCall = 200, 200, 10
	s := openTestStore(b, b.TempDir())
	defer s.Close()
	reqs := make([]*prompb.WriteRequest, agents/perCall)
	for i := range reqs {
		reqs[i] = &prompb.WriteRequest{}
		for a := range perCall {
			for m := range perAgent {
				reqs[i].Timeseries = append(reqs[i].Timeseries, prompb.TimeSeries{
					Labels: []prompb.Label{
						{Name: "__name__", Value: fmt.Sprintf("system_bench_metric%02d_bytes_total", m/10)},
						{Name: "device", Value: "dev" + strconv.Itoa(m%10)},
						{Name: "direction", Value: "receive"},
						{Name: "host_name", Value: fmt.Sprintf("host-%d.example.internal", i*perCall+a)},
						{Name: "osprey_agent_id", Value: fmt.Sprintf("agent-%d", i*perCall+a)},
					},
					Samples: []prompb.Sample{{}},
				})
			}
		}
	}
	start := time.Now().Add(-24 * time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	var samples int
	for i := 0; i < b.N; i++ {
		round := i / len(reqs)
		req := reqs[i%len(reqs)]
		t := start.Add(time.Duration(round) * 10 * time.Second).UnixMilli()
		for j := range req.Timeseries {
			req.Timeseries[j].Samples[0] = prompb.Sample{Timestamp: t, Value: float64(round * j)}
		}
		res, err := s.AppendRemoteWrite(ctx, 1, req)
		if err != nil || res.Rejected != 0 {
			b.Fatalf("append: %+v %v", res, err)
		}
		samples += res.Accepted
	}
	b.StopTimer()
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(samples)/(cpuTime(b)-cpu0).Seconds(), "samples/cpu-s")
}
