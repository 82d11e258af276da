package agentstate

import (
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

func hostReport(id, name string, cpuIdle float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("osprey.agent.id", id)
	rm.Resource().Attributes().PutStr("osprey.agent.name", name)
	rm.Resource().Attributes().PutStr("osprey.agent.kind", "host")
	m := rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("system.cpu.utilization")
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.Attributes().PutStr("state", "idle")
	dp.SetDoubleValue(cpuIdle)
	per := m.Gauge().DataPoints().AppendEmpty() // per-core: not kept in the latest view
	per.Attributes().PutStr("state", "idle")
	per.Attributes().PutStr("cpu", "cpu0")
	per.SetDoubleValue(0.5)
	return md
}

func TestAgentsAppearAndGoInactive(t *testing.T) {
	tr := NewTracker(5 * time.Second)
	t0 := time.Unix(1_800_000_000, 0)
	tr.ObserveMetrics(1, hostReport("a1", "web-1", 0.25), t0)
	tr.ObservePush(1, &agentpb.PushRequest{Agent: &agentpb.AgentIdentity{Id: "a1", Group: "site-a"},
		Snapshots: []*agentpb.Snapshot{{Body: &agentpb.Snapshot_ProcessList{ProcessList: &agentpb.ProcessList{Processes: make([]*agentpb.Process, 7)}}}}}, t0)
	tr.ObserveMetrics(2, hostReport("b1", "db-1", 0.9), t0)

	tests := []struct {
		at         time.Duration
		wantActive bool
	}{
		{0, true},
		{15 * time.Second, true}, // three intervals: still within grace
		{15*time.Second + time.Millisecond, false}, // silent for more than three intervals
	}
	for _, tc := range tests {
		list := tr.List(1, t0.Add(tc.at))
		if len(list) != 1 {
			t.Fatalf("project 1 lists %d agents, want 1 (projects must not mix)", len(list))
		}
		a := list[0]
		if a.Active != tc.wantActive {
			t.Errorf("at +%s: active=%v, want %v", tc.at, a.Active, tc.wantActive)
		}
		if a.Name != "web-1" || a.Group != "site-a" || a.Kind != "host" || a.Processes != 7 {
			t.Errorf("agent = %+v", a)
		}
		if v := a.Latest["system.cpu.utilization{state=idle}"]; v != 0.25 {
			t.Errorf("latest idle = %v, want 0.25", v)
		}
		if len(a.Latest) != 1 {
			t.Errorf("latest keeps %v; per-core series belong in the TSDB", a.Latest)
		}
	}
	// Persistence round trip.
	saved := tr.TakeDirty()
	if len(saved[1]) != 1 || len(saved[2]) != 1 {
		t.Fatalf("dirty = %v", saved)
	}
	tr2 := NewTracker(5 * time.Second)
	tr2.Restore(saved)
	if got := tr2.List(2, t0); len(got) != 1 || got[0].Name != "db-1" {
		t.Errorf("restored = %+v", got)
	}
	if len(tr.TakeDirty()) != 0 {
		t.Error("TakeDirty returned the same agents twice")
	}
}

func TestIdentityFromPlainOpenTelemetryResources(t *testing.T) {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "checkout")
	rm.Resource().Attributes().PutStr("host.name", "app-7")
	rm.ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("x")
	tr := NewTracker(0)
	tr.ObserveMetrics(1, md, time.Now())
	got := tr.List(1, time.Now())
	if len(got) != 1 || got[0].ID != "checkout@app-7" || got[0].Name != "app-7" || got[0].Kind != "app" || got[0].Group != "checkout" {
		t.Fatalf("agent from an SDK resource: %+v", got)
	}
}
