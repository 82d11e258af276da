package agentstate

import (
	"fmt"
	"math"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// deviceReport is one host report with per-device series: filesystems,
// network and disk byte counters.
func deviceReport(id string, ts time.Time, fs []float64, rx, tx, rd, wr float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("osprey.agent.id", id)
	rm.Resource().Attributes().PutStr("osprey.agent.kind", "host")
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	pt := pcommon.NewTimestampFromTime(ts)
	if fs != nil {
		m := ms.AppendEmpty()
		m.SetName("system.filesystem.utilization")
		for i, v := range fs {
			dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
			if i > 0 {
				dp = m.Gauge().DataPoints().AppendEmpty()
			}
			dp.SetTimestamp(pt)
			dp.Attributes().PutStr("mountpoint", fmt.Sprint("/m", i))
			dp.Attributes().PutStr("device", fmt.Sprint("sd", i))
			dp.SetDoubleValue(v)
		}
	}
	for _, c := range []struct {
		name, dev, dir string
		v              float64
	}{
		{"system.network.io", "eth0", "receive", rx}, {"system.network.io", "eth0", "transmit", tx},
		{"system.disk.io", "sda", "read", rd}, {"system.disk.io", "sda", "write", wr},
	} {
		m := ms.AppendEmpty()
		m.SetName(c.name)
		dp := m.SetEmptySum().DataPoints().AppendEmpty()
		dp.SetTimestamp(pt)
		dp.Attributes().PutStr("device", c.dev)
		dp.Attributes().PutStr("direction", c.dir)
		dp.SetIntValue(int64(c.v))
	}
	return md
}

func TestHostStatsRates(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	type rep struct {
		at                     time.Duration
		fs                     []float64
		rx, tx, rd, wr         float64
		disk, netRx, diskWrite float64 // want; NaN = unknown
	}
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		reps []rep
	}{
		{"first report has no rate", []rep{{0, []float64{0.2, 0.7}, 100, 100, 0, 0, 70, nan, nan}}},
		{"rate from consecutive reports", []rep{
			{0, []float64{0.5}, 1000, 0, 0, 0, 50, nan, nan},
			{5 * time.Second, []float64{0.6}, 6000, 0, 0, 500, 60, 1000, 100},
		}},
		{"counter reset gives no rate", []rep{
			{0, nil, 1000, 0, 0, 0, nan, nan, nan},
			{5 * time.Second, nil, 2000, 0, 0, 0, nan, 200, 0},
			{10 * time.Second, nil, 10, 0, 0, 0, nan, nan, 0},
			{15 * time.Second, nil, 510, 0, 0, 0, nan, 100, 0},
		}},
		{"an older batch (spool replay) changes no rate", []rep{
			{0, nil, 0, 0, 0, 0, nan, nan, nan},
			{10 * time.Second, nil, 1000, 0, 0, 0, nan, 100, 0},
			{5 * time.Second, nil, 999999, 0, 0, 0, nan, 100, 0},
		}},
		{"a batch without filesystems keeps the last value", []rep{
			{0, []float64{0.4}, 0, 0, 0, 0, 40, nan, nan},
			{5 * time.Second, nil, 0, 0, 0, 0, 40, 0, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(5 * time.Second)
			for i, r := range tc.reps {
				ts := t0.Add(r.at)
				tr.ObserveMetrics(1, deviceReport("a", ts, r.fs, r.rx, r.tx, r.rd, r.wr), ts)
				h := tr.Hosts(1, "host", ts)
				if len(h) != 1 {
					t.Fatalf("%d hosts", len(h))
				}
				for _, c := range []struct {
					what      string
					got, want float64
				}{{"disk", h[0].Disk, r.disk}, {"netRx", h[0].NetRx, r.netRx}, {"diskWrite", h[0].DiskWrite, r.diskWrite}} {
					if math.IsNaN(c.want) != math.IsNaN(c.got) || (!math.IsNaN(c.want) && math.Abs(c.got-c.want) > 1e-9) {
						t.Errorf("report %d: %s = %v, want %v", i, c.what, c.got, c.want)
					}
				}
			}
		})
	}
}

func TestProcessSummaryBounded(t *testing.T) {
	var procs []*agentpb.Process
	for i := range 1000 {
		procs = append(procs, &agentpb.Process{Name: fmt.Sprint("p", i), CpuPercent: float64(i % 500), RssBytes: uint64(1000 - i)})
	}
	procs = append(procs, &agentpb.Process{Name: "p0", CpuPercent: 7, RssBytes: 5000})
	s := summarizeProcesses(procs)
	if len(s) != maxProcNames {
		t.Fatalf("%d names kept", len(s))
	}
	names := map[string]ProcStat{}
	for _, p := range s {
		names[p.Name] = p
	}
	// The busiest (p499, p999) and the largest (p0, with two instances) survive.
	if _, ok := names["p499"]; !ok {
		t.Error("busiest process dropped")
	}
	p0, ok := names["p0"]
	if !ok || p0.Count != 2 || p0.RSSMax != 5000 || p0.RSSSum != 6000 || p0.CPUMax != 7 || p0.CPUSum != 7 {
		t.Errorf("p0 = %+v", p0)
	}

	tr := NewTracker(0)
	now := time.Now()
	tr.ObservePush(1, &agentpb.PushRequest{Agent: &agentpb.AgentIdentity{Id: "a", Kind: "host"}, Snapshots: []*agentpb.Snapshot{
		{Body: &agentpb.Snapshot_ProcessList{ProcessList: &agentpb.ProcessList{Processes: procs[:3]}}},
	}}, now)
	h := tr.Hosts(1, "host", now)
	if len(h) != 1 || len(h[0].Procs) != 3 || h[0].Processes != 3 || !h[0].Active {
		t.Fatalf("hosts %+v", h)
	}
	if len(tr.Hosts(1, "app", now)) != 0 {
		t.Error("kind filter")
	}
}
