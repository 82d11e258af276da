package metric

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func openTestStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return s
}

// hostMetrics builds one resource shaped like a host agent report.
func hostMetrics(agent string, ts time.Time, cpu, mem float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr("osprey.agent.id", agent)
	ra.PutStr("host.name", "host-"+agent)
	ra.PutStr("osprey.project", "999") // must never become tenancy
	ra.PutStr("os.type", "linux")      // not promoted
	sm := rm.ScopeMetrics().AppendEmpty()
	pts := pcommon.NewTimestampFromTime(ts)
	start := pcommon.NewTimestampFromTime(ts.Add(-time.Hour))

	m := sm.Metrics().AppendEmpty()
	m.SetName("system.cpu.time")
	m.SetUnit("s")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	for _, state := range []string{"user", "system"} {
		dp := sum.DataPoints().AppendEmpty()
		dp.Attributes().PutStr("state", state)
		dp.Attributes().PutStr("osprey_project", "999") // attempted tenancy spoof
		dp.SetStartTimestamp(start)
		dp.SetTimestamp(pts)
		dp.SetDoubleValue(cpu)
	}

	m = sm.Metrics().AppendEmpty()
	m.SetName("system.memory.usage")
	m.SetUnit("By")
	g := m.SetEmptyGauge()
	dp := g.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("state", "used")
	dp.SetTimestamp(pts)
	dp.SetDoubleValue(mem)

	m = sm.Metrics().AppendEmpty()
	m.SetName("http.server.request.duration")
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := h.DataPoints().AppendEmpty()
	hdp.SetStartTimestamp(start)
	hdp.SetTimestamp(pts)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 0.5, 1})
	hdp.BucketCounts().FromRaw([]uint64{5, 3, 1, 1})
	hdp.SetCount(10)
	hdp.SetSum(4.2)
	return md
}

func instant(t *testing.T, s *Store, project int64, q string, ts time.Time) promql.Vector {
	t.Helper()
	qry, err := s.Engine().NewInstantQuery(context.Background(), s.Queryable(project), nil, q, ts)
	if err != nil {
		t.Fatalf("query %q: %v", q, err)
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		t.Fatalf("exec %q: %v", q, res.Err)
	}
	v, err := res.Vector()
	if err != nil {
		t.Fatalf("result of %q: %v", q, err)
	}
	return slices.Clone(v)
}

func TestAppendOTLPNamingAndLabels(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	now := time.Now().Truncate(time.Second)
	res, err := s.AppendOTLP(context.Background(), 7, hostMetrics("a1", now, 12.5, 1024))
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 0 || res.Accepted == 0 {
		t.Fatalf("result %+v", res)
	}

	tests := []struct {
		query  string
		want   float64
		labels map[string]string
	}{
		{`system_cpu_time_seconds_total{state="user"}`, 12.5, map[string]string{"osprey_agent_id": "a1", "host_name": "host-a1"}},
		{`system_memory_usage_bytes`, 1024, map[string]string{"state": "used", "osprey_agent_id": "a1"}},
		{`http_server_request_duration_seconds_count`, 10, nil},
		{`http_server_request_duration_seconds_bucket{le="0.5"}`, 8, nil},
		{`http_server_request_duration_seconds_bucket{le="+Inf"}`, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			v := instant(t, s, 7, tc.query, now)
			if len(v) != 1 {
				t.Fatalf("got %d series: %v", len(v), v)
			}
			if v[0].F != tc.want {
				t.Errorf("value %v, want %v", v[0].F, tc.want)
			}
			for k, want := range tc.labels {
				if got := v[0].Metric.Get(k); got != want {
					t.Errorf("label %s=%q, want %q (%s)", k, got, want, v[0].Metric)
				}
			}
			if v[0].Metric.Has(ProjectLabel) {
				t.Errorf("project label leaked: %s", v[0].Metric)
			}
			if v[0].Metric.Has("os_type") {
				t.Errorf("unpromoted resource attribute became a label: %s", v[0].Metric)
			}
		})
	}

	// The payload's osprey_project attribute must not have created a series
	// in project 999, nor survive as a label in project 7.
	if v := instant(t, s, 999, `count({__name__=~".+"})`, now); len(v) != 0 {
		t.Fatalf("payload tenancy spoof created data in project 999: %v", v)
	}
}

func TestFutureSamplesRejected(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	lbl := labels.FromStrings("__name__", "x")
	res, err := s.AppendSamples(context.Background(), 1, []Sample{
		{Labels: lbl, T: now.UnixMilli(), V: 1},
		{Labels: lbl, T: now.Add(time.Hour).UnixMilli(), V: 2},
		{Labels: lbl, T: now.Add(2 * time.Hour).UnixMilli(), V: 3},
		{Labels: lbl, T: now.Add(5 * time.Minute).UnixMilli(), V: 4}, // within skew
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Rejected != 2 {
		t.Fatalf("result %+v, want 2 accepted 2 rejected", res)
	}
	if res.RejectReason != "2 samples too far in the future" {
		t.Fatalf("reason %q", res.RejectReason)
	}
	if st := s.Stats(); st.SamplesRejected != 2 || st.SamplesAccepted != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReplayAndOutOfOrder(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)

	batch := func(from time.Time, n int) []Sample {
		var out []Sample
		for i := range n {
			out = append(out, Sample{Labels: labels.FromStrings("__name__", "r", "i", "1"), T: from.Add(time.Duration(i) * 5 * time.Second).UnixMilli(), V: float64(i)})
		}
		return out
	}
	// Newest data first, as after a restart the live stream resumes before
	// the spool is drained.
	if res, err := s.AppendSamples(ctx, 1, batch(now.Add(-time.Minute), 12)); err != nil || res.Rejected != 0 {
		t.Fatalf("live batch: %+v %v", res, err)
	}
	cases := []struct {
		name         string
		samples      []Sample
		wantRejected int
		reasonPrefix string
	}{
		{"replay identical batch", batch(now.Add(-time.Minute), 12), 0, ""},
		{"spooled backlog inside OOO window", batch(now.Add(-5*time.Minute), 12), 0, ""},
		{"replay backlog again", batch(now.Add(-5*time.Minute), 12), 0, ""},
		{"older than the window", batch(now.Add(-3*time.Hour), 2), 2, "2 samples too old"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := s.AppendSamples(ctx, 1, tc.samples)
			if err != nil {
				t.Fatal(err)
			}
			if res.Rejected != tc.wantRejected || !strings.HasPrefix(res.RejectReason, tc.reasonPrefix) {
				t.Fatalf("result %+v, want %d rejected (%q)", res, tc.wantRejected, tc.reasonPrefix)
			}
		})
	}
	// 12 live + 12 backlog samples, each exactly once despite the replays.
	v := instant(t, s, 1, `count_over_time(r[10m])`, now.Add(time.Minute))
	if len(v) != 1 || v[0].F != 24 {
		t.Fatalf("count_over_time = %v, want 24", v)
	}

	// A conflicting value at an existing timestamp is a rejection, not a
	// silent overwrite.
	conflict := batch(now.Add(-time.Minute), 12)
	conflict[11].V = 1000
	res, err := s.AppendSamples(ctx, 1, conflict[11:])
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 1 {
		t.Fatalf("conflicting duplicate: %+v", res)
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	s := openTestStore(t, dir)
	if _, err := s.AppendOTLP(context.Background(), 3, hostMetrics("a1", now, 5, 6)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	v := instant(t, s, 3, `system_memory_usage_bytes`, now)
	if len(v) != 1 || v[0].F != 6 {
		t.Fatalf("after reopen: %v", v)
	}
	if st := s.Stats(); st.Series == 0 || st.DiskBytes == 0 || st.MaxTime != now.UnixMilli() {
		t.Fatalf("stats after reopen: %+v", st)
	}
}

func TestRemoteWrite(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	now := time.Now().Truncate(time.Second)
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels: []prompb.Label{{Name: "__name__", Value: "rw_metric"}, {Name: "job", Value: "j"}, {Name: ProjectLabel, Value: "2"}},
		Samples: []prompb.Sample{
			{Timestamp: now.Add(-10 * time.Second).UnixMilli(), Value: 1},
			{Timestamp: now.UnixMilli(), Value: 2},
		},
	}, {
		Labels:  []prompb.Label{{Name: "__name__", Value: "bad"}, {Name: "job", Value: "a"}, {Name: "job", Value: "b"}},
		Samples: []prompb.Sample{{Timestamp: now.UnixMilli(), Value: 1}},
	}}}
	res, err := s.AppendRemoteWrite(context.Background(), 1, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Accepted != 2 || res.Rejected != 1 || !strings.HasPrefix(res.RejectReason, "1 sample invalid") {
		t.Fatalf("result %+v", res)
	}
	v := instant(t, s, 1, `rw_metric{job="j"}`, now)
	if len(v) != 1 || v[0].F != 2 {
		t.Fatalf("got %v", v)
	}
	if v := instant(t, s, 2, `rw_metric`, now); len(v) != 0 {
		t.Fatalf("payload label put data in project 2: %v", v)
	}
}

func TestQueryableIsolation(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	now := time.Now().Truncate(time.Second)
	if _, err := s.AppendOTLP(ctx, 1, hostMetrics("agent-a", now, 1, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendSamples(ctx, 2, []Sample{{Labels: labels.FromStrings("__name__", "only_b", "secret", "b"), T: now.UnixMilli(), V: 1}}); err != nil {
		t.Fatal(err)
	}

	q, err := s.Queryable(2).Querier(0, now.Add(time.Hour).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()

	for _, sorted := range []bool{false, true} {
		set := q.Select(ctx, sorted, nil, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
		var got []string
		for set.Next() {
			got = append(got, set.At().Labels().String())
		}
		if set.Err() != nil {
			t.Fatal(set.Err())
		}
		if want := []string{`{__name__="only_b", secret="b"}`}; !slices.Equal(got, want) {
			t.Fatalf("sorted=%v select: %v, want %v", sorted, got, want)
		}
	}
	// Even asking for another project explicitly yields nothing.
	set := q.Select(ctx, false, nil, labels.MustNewMatcher(labels.MatchEqual, ProjectLabel, "1"))
	if set.Next() {
		t.Fatalf("cross-project select returned %s", set.At().Labels())
	}
	names, _, err := q.LabelNames(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"__name__", "secret"}; !slices.Equal(names, want) {
		t.Fatalf("label names %v, want %v", names, want)
	}
	for _, name := range []string{"host_name", "osprey_agent_id", ProjectLabel} {
		vals, _, err := q.LabelValues(ctx, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != 0 {
			t.Fatalf("label values of %s leaked: %v", name, vals)
		}
	}
	vals, _, err := q.LabelValues(ctx, "__name__", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vals, []string{"only_b"}) {
		t.Fatalf("metric names %v", vals)
	}
}

func TestSortedSelectStaysSorted(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	// {__name__="m"} sorts after {__name__="m", a="1"} once the project label
	// is stripped, but before it while the label is present.
	var samples []Sample
	for _, ls := range []labels.Labels{
		labels.FromStrings("__name__", "m"),
		labels.FromStrings("__name__", "m", "a", "1"),
		labels.FromStrings("__name__", "m", "z", "1"),
	} {
		samples = append(samples, Sample{Labels: ls, T: now.UnixMilli(), V: 1})
	}
	if _, err := s.AppendSamples(context.Background(), 1, samples); err != nil {
		t.Fatal(err)
	}
	q, err := s.Queryable(1).Querier(0, now.Add(time.Minute).UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	set := q.Select(context.Background(), true, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	var got []labels.Labels
	for set.Next() {
		got = append(got, set.At().Labels())
	}
	if !slices.IsSortedFunc(got, labels.Compare) || len(got) != 3 {
		t.Fatalf("not sorted: %v", got)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Fatal("empty dir accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, Options{Dir: t.TempDir()}); err == nil {
		t.Fatal("cancelled context accepted")
	}
}

func TestAppendOTLPDeltaAndExponentialHistogram(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	now := time.Now().Truncate(time.Second)
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()

	m := sm.Metrics().AppendEmpty()
	m.SetName("app.requests")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	dp := sum.DataPoints().AppendEmpty()
	dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	dp.SetIntValue(7)

	m = sm.Metrics().AppendEmpty()
	m.SetName("app.latency")
	m.SetUnit("ms")
	eh := m.SetEmptyExponentialHistogram()
	eh.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	edp := eh.DataPoints().AppendEmpty()
	edp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	edp.SetScale(0)
	edp.SetCount(6)
	edp.SetSum(30)
	edp.Positive().SetOffset(1)
	edp.Positive().BucketCounts().FromRaw([]uint64{2, 4})

	res, err := s.AppendOTLP(context.Background(), 1, md)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rejected != 0 || res.Accepted != 2 {
		t.Fatalf("result %+v", res)
	}
	if v := instant(t, s, 1, `app_requests_total`, now); len(v) != 1 || v[0].F != 7 {
		t.Fatalf("delta sum: %v", v)
	}
	if v := instant(t, s, 1, `histogram_count(app_latency_milliseconds)`, now); len(v) != 1 || v[0].F != 6 {
		t.Fatalf("native histogram: %v", v)
	}
}

// TestHostMetricNames pins the Prometheus names of the host agent's metrics,
// which dashboards and alert rules are written against.
func TestHostMetricNames(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	now := time.Now().Truncate(time.Second)
	tests := []struct {
		otel, unit string
		kind       string // sum, updown, gauge
		want       string
	}{
		{"system.cpu.time", "s", "sum", "system_cpu_time_seconds_total"},
		{"system.cpu.utilization", "1", "gauge", "system_cpu_utilization_ratio"},
		{"system.memory.usage", "By", "updown", "system_memory_usage_bytes"},
		{"system.filesystem.usage", "By", "updown", "system_filesystem_usage_bytes"},
		{"system.network.io", "By", "sum", "system_network_io_bytes_total"},
		{"system.disk.operations", "{operation}", "sum", "system_disk_operations_total"},
	}
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	for _, tc := range tests {
		m := sm.Metrics().AppendEmpty()
		m.SetName(tc.otel)
		m.SetUnit(tc.unit)
		var dps pmetric.NumberDataPointSlice
		switch tc.kind {
		case "gauge":
			dps = m.SetEmptyGauge().DataPoints()
		default:
			sum := m.SetEmptySum()
			sum.SetIsMonotonic(tc.kind == "sum")
			sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			dps = sum.DataPoints()
		}
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
		dp.SetDoubleValue(1)
	}
	if _, err := s.AppendOTLP(context.Background(), 1, md); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		if v := instant(t, s, 1, tc.want, now); len(v) != 1 {
			t.Errorf("%s: no series named %s", tc.otel, tc.want)
		}
	}
}

// TestCommittedSurvivesCrash: a batch whose Append call returned is in the
// WAL even if the process dies without Close (kill -9). The child process
// appends and exits abruptly; the parent reopens the directory.
func TestCommittedSurvivesCrash(t *testing.T) {
	if dir := os.Getenv("OSPREY_METRIC_CRASH_DIR"); dir != "" {
		s, err := Open(context.Background(), Options{Dir: dir})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ts, _ := strconv.ParseInt(os.Getenv("OSPREY_METRIC_CRASH_TS"), 10, 64)
		if _, err := s.AppendSamples(context.Background(), 4, []Sample{{Labels: labels.FromStrings("__name__", "crash"), T: ts, V: 42}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0) // no Close
	}
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCommittedSurvivesCrash$")
	cmd.Env = append(os.Environ(), "OSPREY_METRIC_CRASH_DIR="+dir, "OSPREY_METRIC_CRASH_TS="+strconv.FormatInt(now.UnixMilli(), 10))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	s := openTestStore(t, dir)
	defer s.Close()
	if v := instant(t, s, 4, "crash", now); len(v) != 1 || v[0].F != 42 {
		t.Fatalf("after crash: %v", v)
	}
}
