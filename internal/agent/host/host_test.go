package host

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

func collectOnce(t testing.TB, m *Module) (map[string]pmetric.Metric, []*agentpb.Snapshot) {
	t.Helper()
	md := pmetric.NewMetrics()
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	snaps, err := m.Collect(context.Background(), time.Now(), sm)
	if err != nil {
		t.Fatalf("collect: %v", err)
	}
	out := map[string]pmetric.Metric{}
	for i := 0; i < sm.Metrics().Len(); i++ {
		mt := sm.Metrics().At(i)
		if _, dup := out[mt.Name()]; dup {
			t.Fatalf("metric %s emitted twice", mt.Name())
		}
		out[mt.Name()] = mt
	}
	return out, snaps
}

func points(m pmetric.Metric) pmetric.NumberDataPointSlice {
	if m.Type() == pmetric.MetricTypeSum {
		return m.Sum().DataPoints()
	}
	return m.Gauge().DataPoints()
}

func value(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// find returns the value of the point whose attributes include all of kv.
func find(t *testing.T, m pmetric.Metric, kv ...string) (float64, bool) {
	t.Helper()
	dps := points(m)
next:
	for i := 0; i < dps.Len(); i++ {
		a := dps.At(i).Attributes()
		for j := 0; j+1 < len(kv); j += 2 {
			v, ok := a.Get(kv[j])
			if !ok || v.Str() != kv[j+1] {
				continue next
			}
		}
		return value(dps.At(i)), true
	}
	return 0, false
}

func TestHostMetricsOnThisMachine(t *testing.T) {
	m, err := New(context.Background(), DefaultConfig(), slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU so this process shows up with a non-zero share.
	deadline := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	got, snaps := collectOnce(t, m)

	for _, name := range []string{
		"system.cpu.time", "system.cpu.utilization", "system.cpu.logical.count",
		"system.cpu.load_average.1m", "system.cpu.load_average.5m", "system.cpu.load_average.15m",
		"system.memory.usage", "system.memory.utilization", "system.memory.limit", "system.linux.memory.available",
		"system.paging.usage", "system.filesystem.usage", "system.filesystem.utilization",
		"system.disk.io", "system.disk.operations", "system.disk.io_time", "system.disk.operation_time",
		"system.network.io", "system.network.packets", "system.network.errors", "system.network.dropped",
		"system.processes.count", "system.uptime",
	} {
		if _, ok := got[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	units := map[string]string{
		"system.cpu.time": "s", "system.memory.usage": "By", "system.cpu.utilization": "1",
		"system.disk.operations": "{operation}", "system.network.io": "By", "system.uptime": "s",
	}
	for n, u := range units {
		if got[n].Unit() != u {
			t.Errorf("%s unit %q, want %q", n, got[n].Unit(), u)
		}
	}
	if !got["system.cpu.time"].Sum().IsMonotonic() || got["system.cpu.time"].Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
		t.Error("system.cpu.time is not a cumulative monotonic sum")
	}

	cores, _ := find(t, got["system.cpu.logical.count"])
	if cores < 1 {
		t.Errorf("logical cores = %v", cores)
	}
	if n := got["system.cpu.time"].Sum().DataPoints().Len(); n != int(cores)*len(cpuStates) {
		t.Errorf("cpu.time has %d points, want %d", n, int(cores)*len(cpuStates))
	}
	if idle, ok := find(t, got["system.cpu.time"], "cpu", "cpu0", "state", "idle"); !ok || idle <= 0 {
		t.Errorf("cpu0 idle time = %v, %v", idle, ok)
	}
	var total float64
	dps := got["system.cpu.utilization"].Gauge().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		v := dps.At(i).DoubleValue()
		if v < 0 || v > 1 {
			t.Errorf("utilization %v out of [0,1]", v)
		}
		if _, per := dps.At(i).Attributes().Get("cpu"); !per {
			total += v
		}
	}
	if total < 0.99 || total > 1.01 {
		t.Errorf("overall utilization states add up to %v, want 1", total)
	}
	if used, _ := find(t, got["system.memory.usage"], "state", "used"); used <= 0 {
		t.Errorf("memory used = %v", used)
	}
	limit, _ := find(t, got["system.memory.limit"])
	var memSum float64
	for _, s := range []string{"used", "free", "buffered", "cached"} {
		v, _ := find(t, got["system.memory.usage"], "state", s)
		memSum += v
	}
	if memSum != limit {
		t.Errorf("memory states add to %v, limit %v", memSum, limit)
	}
	fs := got["system.filesystem.usage"].Sum().DataPoints()
	if fs.Len() < 3 { // used, free, reserved of at least one
		t.Fatalf("no filesystem reported")
	}
	for i := 0; i < fs.Len(); i++ {
		a := fs.At(i).Attributes()
		typ, _ := a.Get("type")
		if regexpMatch(DefaultConfig().FilesystemTypeExclude, typ.Str()) {
			t.Errorf("pseudo filesystem %s reported", typ.Str())
		}
		for _, k := range []string{"device", "mountpoint", "state", "mode"} {
			if _, ok := a.Get(k); !ok {
				t.Errorf("filesystem point without %s", k)
			}
		}
	}
	if up, _ := find(t, got["system.uptime"]); up <= 0 {
		t.Errorf("uptime %v", up)
	}

	// The process list holds this test process, with its command line.
	if len(snaps) != 1 || snaps[0].Type != wire.SnapshotProcessList {
		t.Fatalf("snapshots %v", snaps)
	}
	var me *agentpb.Process
	procs := snaps[0].GetProcessList().GetProcesses()
	for _, p := range procs {
		if p.Pid == int32(os.Getpid()) {
			me = p
		}
	}
	if me == nil {
		t.Fatalf("own pid %d not in the process list of %d", os.Getpid(), len(procs))
	}
	var counted float64
	pc := got["system.processes.count"].Sum().DataPoints()
	for i := 0; i < pc.Len(); i++ {
		counted += value(pc.At(i))
	}
	if int(counted) != len(procs) {
		t.Errorf("processes counted by status %v, listed %d", counted, len(procs))
	}
	exe := filepath.Base(os.Args[0])
	if !strings.Contains(me.Cmdline, exe) || me.Name == "" {
		t.Errorf("own process: name %q cmdline %q, want it to contain %q", me.Name, me.Cmdline, exe)
	}
	if me.RssBytes == 0 || me.VmsBytes == 0 || me.Threads < 1 || me.User == "" || me.CreateTimeUnixMs <= 0 || me.OpenFds < 3 {
		t.Errorf("own process fields look wrong: %+v", me)
	}
	if me.Ppid != int32(os.Getppid()) {
		t.Errorf("ppid %d, want %d", me.Ppid, os.Getppid())
	}
	if me.CpuPercent <= 0 || me.CpuPercent > 100*cores {
		t.Errorf("own cpu %% = %v after busy loop", me.CpuPercent)
	}
	if ct := time.UnixMilli(me.CreateTimeUnixMs); time.Since(ct) < 0 || time.Since(ct) > time.Hour {
		t.Errorf("create time %v not recent", ct)
	}

	// A second cycle keeps cumulative counters non-decreasing.
	cpu0, _ := find(t, got["system.cpu.time"], "cpu", "cpu0", "state", "user")
	time.Sleep(50 * time.Millisecond)
	got2, _ := collectOnce(t, m)
	if cpu1, _ := find(t, got2["system.cpu.time"], "cpu", "cpu0", "state", "user"); cpu1 < cpu0 {
		t.Errorf("cpu time went back: %v -> %v", cpu0, cpu1)
	}
}

func TestInventory(t *testing.T) {
	m, err := New(context.Background(), Config{Enabled: true}, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	inv := m.Inventory(context.Background(), "test")
	if inv.Os == "" || inv.Hostname == "" || inv.LogicalCores < 1 || inv.MemoryBytes == 0 || inv.BootTimeUnix == 0 || inv.AgentVersion != "test" || inv.KernelVersion == "" {
		t.Errorf("inventory incomplete: %+v", inv)
	}
}

func BenchmarkCollect(b *testing.B) {
	m, err := New(context.Background(), DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	// Wall time includes waiting on /proc; CPU time is what the agent
	// costs the host.
	cpu0 := processCPU()
	for b.Loop() {
		md := pmetric.NewMetrics()
		sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
		if _, err := m.Collect(context.Background(), time.Now(), sm); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

func regexpMatch(re, s string) bool {
	return regexp.MustCompile(re).MatchString(s)
}
