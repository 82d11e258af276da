package host

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

func TestLoadTriggerTable(t *testing.T) {
	type step struct {
		cpu, mem float64
		noCPU    bool
		after    time.Duration // since the previous step; default 5s
		want     []string      // triggers firing at this step
	}
	cfg := LoadSnapshotConfig{Enabled: true, CPUPercent: 90, MemoryPercent: 80, Intervals: 3, Cooldown: time.Minute, Top: 5}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"fires on the Nth interval, not before", []step{
			{cpu: 95}, {cpu: 96}, {cpu: 97, want: []string{"cpu"}},
		}},
		{"a dip resets the run", []step{
			{cpu: 95}, {cpu: 96}, {cpu: 50}, {cpu: 95}, {cpu: 95}, {cpu: 95, want: []string{"cpu"}},
		}},
		{"a missing reading resets the run", []step{
			{cpu: 95}, {cpu: 96}, {noCPU: true}, {cpu: 95}, {cpu: 95}, {cpu: 95, want: []string{"cpu"}},
		}},
		{"exactly at the threshold counts", []step{
			{cpu: 90}, {cpu: 90}, {cpu: 90, want: []string{"cpu"}},
		}},
		{"cooldown holds a long run back, then it fires again", []step{
			{cpu: 95}, {cpu: 95}, {cpu: 95, want: []string{"cpu"}},
			{cpu: 95}, {cpu: 95, after: 30 * time.Second},
			{cpu: 95, after: 30 * time.Second, want: []string{"cpu"}},
		}},
		{"cooldown holds a new run back too", []step{
			{cpu: 95}, {cpu: 95}, {cpu: 95, want: []string{"cpu"}},
			{cpu: 10}, {cpu: 95}, {cpu: 95}, {cpu: 95},
			{cpu: 95, after: time.Minute, want: []string{"cpu"}},
		}},
		{"reasons are separate", []step{
			{cpu: 95}, {cpu: 95, mem: 85}, {cpu: 95, mem: 85, want: []string{"cpu"}},
			{cpu: 10, mem: 85, want: []string{"memory"}},
			{cpu: 95, mem: 85},
		}},
		{"both in one cycle", []step{
			{cpu: 95, mem: 85}, {cpu: 95, mem: 85}, {cpu: 95, mem: 85, want: []string{"cpu", "memory"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lt := newLoadTrigger(cfg)
			now := time.Unix(1_700_000_000, 0)
			for i, s := range tc.steps {
				d := s.after
				if d == 0 {
					d = 5 * time.Second
				}
				now = now.Add(d)
				fs := lt.observe(loadReading{cpu: s.cpu, haveCPU: !s.noCPU, mem: s.mem, haveMem: true}, now)
				var got []string
				for _, f := range fs {
					got = append(got, f.name)
				}
				if !slices.Equal(got, s.want) {
					t.Fatalf("step %d (%+v): fired %v, want %v", i, s, got, s.want)
				}
			}
		})
	}
}

func TestLoadTriggerReasonText(t *testing.T) {
	lt := newLoadTrigger(LoadSnapshotConfig{CPUPercent: 90, MemoryPercent: 90, Intervals: 3, Cooldown: time.Minute})
	now := time.Now()
	var fs []fired
	for i, v := range []float64{95, 96, 97.2} {
		fs = lt.observe(loadReading{cpu: v, haveCPU: true}, now.Add(time.Duration(i)*5*time.Second))
	}
	if len(fs) != 1 || fs[0].reason != "CPU 97% for 3 intervals (threshold 90%)" {
		t.Fatalf("fired %+v", fs)
	}
}

func TestLoadSnapshotConfigNormalize(t *testing.T) {
	c := LoadSnapshotConfig{Enabled: true}
	if err := c.normalize(); err != nil {
		t.Fatal(err)
	}
	if c.CPUPercent != 90 || c.MemoryPercent != 90 || c.Intervals != 3 || c.Top != 15 {
		t.Fatalf("zero values not defaulted: %+v", c)
	}
	for _, bad := range []LoadSnapshotConfig{
		{CPUPercent: 101}, {MemoryPercent: -1}, {Intervals: -1}, {Cooldown: -time.Second}, {Top: 1000},
	} {
		if err := bad.normalize(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestLoadSnapshotOnThisMachine lets the module fire on every cycle (1%
// thresholds, one interval) and checks the snapshot taken from this
// machine's real process table and sockets.
func TestLoadSnapshotOnThisMachine(t *testing.T) {
	// A listening socket and a connection to it, so there is something to count.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cfg := DefaultConfig()
	cfg.LoadSnapshot = LoadSnapshotConfig{Enabled: true, CPUPercent: 0.001, MemoryPercent: 1, Intervals: 1, Cooldown: time.Hour, Top: 5}
	m, err := New(context.Background(), cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = x * x
	}
	_, snaps := collectOnce(t, m)
	var ls *agentpb.LoadSnapshot
	for _, s := range snaps {
		if s.GetType() == wire.SnapshotLoadSnapshot {
			ls = s.GetLoadSnapshot()
		}
	}
	if ls == nil {
		t.Fatalf("no load snapshot among %d snapshots", len(snaps))
	}
	if !strings.Contains(ls.GetReason(), "Memory") || !slices.Contains(ls.GetTriggers(), "memory") {
		t.Errorf("reason %q triggers %v", ls.GetReason(), ls.GetTriggers())
	}
	if ls.GetMemoryPercent() <= 1 || ls.GetMemoryPercent() > 100 || ls.GetProcessCount() == 0 {
		t.Errorf("memory %v%%, processes %d", ls.GetMemoryPercent(), ls.GetProcessCount())
	}
	for name, top := range map[string][]*agentpb.Process{"cpu": ls.GetTopCpu(), "memory": ls.GetTopMemory(), "io": ls.GetTopIo()} {
		if len(top) > 5 {
			t.Errorf("top %s has %d > 5 entries", name, len(top))
		}
		if name != "io" && len(top) == 0 {
			t.Errorf("top %s is empty", name)
		}
	}
	for i := 1; i < len(ls.GetTopCpu()); i++ {
		if ls.TopCpu[i].GetCpuPercent() > ls.TopCpu[i-1].GetCpuPercent() {
			t.Errorf("top cpu not sorted at %d", i)
		}
	}
	for i := 1; i < len(ls.GetTopMemory()); i++ {
		if ls.TopMemory[i].GetRssBytes() > ls.TopMemory[i-1].GetRssBytes() {
			t.Errorf("top memory not sorted at %d", i)
		}
	}
	io := func(p *agentpb.Process) float64 { return p.GetReadBytesPerSec() + p.GetWriteBytesPerSec() }
	for i := 1; i < len(ls.GetTopIo()); i++ {
		if io(ls.TopIo[i]) > io(ls.TopIo[i-1]) {
			t.Errorf("top io not sorted at %d", i)
		}
	}
	cn := ls.GetConnections()
	if cn.GetTotal() < 3 {
		t.Fatalf("connections %+v, want at least our listener and both ends", cn)
	}
	states := map[string]uint32{}
	var sum uint32
	for _, s := range cn.GetStates() {
		states[s.GetKey()] = s.GetCount()
		sum += s.GetCount()
	}
	if sum != cn.GetTotal() || states["LISTEN"] == 0 || states["ESTABLISHED"] < 2 {
		t.Errorf("states %v (sum %d, total %d)", states, sum, cn.GetTotal())
	}
	var loop bool
	for _, r := range cn.GetTopRemoteAddresses() {
		loop = loop || r.GetKey() == "127.0.0.1"
	}
	if !loop {
		t.Errorf("127.0.0.1 not among remote addresses %v", cn.GetTopRemoteAddresses())
	}

	// The cooldown holds the next cycle back.
	_, snaps = collectOnce(t, m)
	for _, s := range snaps {
		if s.GetType() == wire.SnapshotLoadSnapshot {
			t.Fatal("second load snapshot within the cooldown")
		}
	}
}
