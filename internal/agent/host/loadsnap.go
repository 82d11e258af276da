package host

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/net"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// LoadSnapshotConfig is `modules.host.load_snapshot`: when CPU busy or
// memory used stays above a percentage for Intervals consecutive cycles,
// the module captures the top processes and the connections of that moment.
type LoadSnapshotConfig struct {
	Enabled       bool          `yaml:"enabled"`
	CPUPercent    float64       `yaml:"cpu_percent"`
	MemoryPercent float64       `yaml:"memory_percent"`
	Intervals     int           `yaml:"intervals"`
	Cooldown      time.Duration `yaml:"cooldown"` // at most one snapshot per reason per cooldown
	Top           int           `yaml:"top"`      // processes in each top list
}

// DefaultLoadSnapshotConfig returns the load snapshot defaults.
func DefaultLoadSnapshotConfig() LoadSnapshotConfig {
	return LoadSnapshotConfig{Enabled: true, CPUPercent: 90, MemoryPercent: 90, Intervals: 3, Cooldown: 10 * time.Minute, Top: 15}
}

// maxTop bounds the top lists so a typo cannot make every snapshot carry
// the whole process table.
const maxTop = 100

// topRemotes is how many remote addresses a snapshot names.
const topRemotes = 15

// normalize fills zero values with the defaults (a config built in code
// may leave them out) and rejects what cannot be meant.
func (c *LoadSnapshotConfig) normalize() error {
	d := DefaultLoadSnapshotConfig()
	if c.CPUPercent == 0 {
		c.CPUPercent = d.CPUPercent
	}
	if c.MemoryPercent == 0 {
		c.MemoryPercent = d.MemoryPercent
	}
	if c.Intervals == 0 {
		c.Intervals = d.Intervals
	}
	if c.Top == 0 {
		c.Top = d.Top
	}
	switch {
	case c.CPUPercent < 0 || c.CPUPercent > 100:
		return fmt.Errorf("load_snapshot.cpu_percent %v is not within 0-100", c.CPUPercent)
	case c.MemoryPercent < 0 || c.MemoryPercent > 100:
		return fmt.Errorf("load_snapshot.memory_percent %v is not within 0-100", c.MemoryPercent)
	case c.Intervals < 1:
		return fmt.Errorf("load_snapshot.intervals %d is below 1", c.Intervals)
	case c.Cooldown < 0:
		return fmt.Errorf("load_snapshot.cooldown %s is negative", c.Cooldown)
	case c.Top < 1 || c.Top > maxTop:
		return fmt.Errorf("load_snapshot.top %d is not within 1-%d", c.Top, maxTop)
	}
	return nil
}

// loadReading is one cycle's host-level figures. A missing reading (the
// source failed) does not count as "above" and breaks a run.
type loadReading struct {
	cpu, mem             float64 // percent
	haveCPU, haveMem     bool
	load1, load5, load15 float64
}

// trigger is one threshold's state: how many consecutive cycles were above
// it and when it last fired.
type trigger struct {
	name      string // "cpu" or "memory"
	label     string // "CPU" or "Memory", for the reason text
	threshold float64
	run       int
	lastFired time.Time
}

// loadTrigger decides when a load snapshot is due. It is pure state, fed
// one reading per cycle, so tests drive it with tables of readings.
type loadTrigger struct {
	intervals int
	cooldown  time.Duration
	cpu, mem  trigger
}

func newLoadTrigger(c LoadSnapshotConfig) *loadTrigger {
	return &loadTrigger{
		intervals: c.Intervals,
		cooldown:  c.Cooldown,
		cpu:       trigger{name: "cpu", label: "CPU", threshold: c.CPUPercent},
		mem:       trigger{name: "memory", label: "Memory", threshold: c.MemoryPercent},
	}
}

// fired is one threshold that crossed in a cycle.
type fired struct {
	name, reason string
}

// observe feeds one reading and returns the thresholds that fire now. A
// threshold fires once its run reaches the configured intervals and its
// cooldown since the last firing has passed; a run that outlasts the
// cooldown fires again.
func (lt *loadTrigger) observe(r loadReading, now time.Time) []fired {
	var out []fired
	for _, x := range [...]struct {
		t    *trigger
		v    float64
		have bool
	}{{&lt.cpu, r.cpu, r.haveCPU}, {&lt.mem, r.mem, r.haveMem}} {
		t := x.t
		if !x.have || x.v < t.threshold {
			t.run = 0
			continue
		}
		t.run++
		if t.run < lt.intervals {
			continue
		}
		if !t.lastFired.IsZero() && now.Sub(t.lastFired) < lt.cooldown {
			continue
		}
		t.lastFired = now
		out = append(out, fired{name: t.name, reason: fmt.Sprintf("%s %s%% for %d intervals (threshold %s%%)",
			t.label, pct(x.v), t.run, pct(t.threshold))})
	}
	return out
}

func pct(v float64) string { return strconv.FormatFloat(math.Round(v), 'f', -1, 64) }

// buildLoadSnapshot captures the snapshot from this cycle's process list
// (not a new scan: the list already has per-interval CPU and IO rates) and
// the host's current sockets. The Process pointers are the scanner's: the
// caller must marshal the snapshot before the next scan.
func buildLoadSnapshot(ctx context.Context, now time.Time, fs []fired, r loadReading, cfg LoadSnapshotConfig,
	procs []*agentpb.Process, conns func(context.Context) ([]net.ConnectionStat, error)) (*agentpb.Snapshot, error) {
	ls := &agentpb.LoadSnapshot{
		CpuPercent: r.cpu, MemoryPercent: r.mem,
		Load1: r.load1, Load5: r.load5, Load15: r.load15,
		CpuThresholdPercent: cfg.CPUPercent, MemoryThresholdPercent: cfg.MemoryPercent,
		Intervals:    int32(cfg.Intervals),
		ProcessCount: uint32(len(procs)),
	}
	reasons := make([]string, 0, len(fs))
	for _, f := range fs {
		ls.Triggers = append(ls.Triggers, f.name)
		reasons = append(reasons, f.reason)
	}
	ls.Reason = strings.Join(reasons, "; ")
	ls.TopCpu = topProcesses(procs, cfg.Top, func(p *agentpb.Process) float64 { return p.GetCpuPercent() })
	ls.TopMemory = topProcesses(procs, cfg.Top, func(p *agentpb.Process) float64 { return float64(p.GetRssBytes()) })
	ls.TopIo = topProcesses(procs, cfg.Top, func(p *agentpb.Process) float64 {
		return p.GetReadBytesPerSec() + p.GetWriteBytesPerSec()
	})
	var err error
	if conns != nil {
		var cs []net.ConnectionStat
		if cs, err = conns(ctx); err == nil {
			ls.Connections = summarizeConnections(cs, topRemotes)
		} else {
			err = fmt.Errorf("read connections: %w", err)
		}
	}
	return &agentpb.Snapshot{
		TimeUnixNano: now.UnixNano(),
		Type:         wire.SnapshotLoadSnapshot,
		Body:         &agentpb.Snapshot_LoadSnapshot{LoadSnapshot: ls},
	}, err
}

// topProcesses returns up to n processes with the largest key, largest
// first, leaving out processes whose key is zero (an idle process says
// nothing about the load).
func topProcesses(procs []*agentpb.Process, n int, key func(*agentpb.Process) float64) []*agentpb.Process {
	out := make([]*agentpb.Process, 0, min(n, len(procs)))
	for _, p := range procs {
		if key(p) > 0 {
			out = append(out, p)
		}
	}
	slices.SortStableFunc(out, func(a, b *agentpb.Process) int {
		if c := cmp.Compare(key(b), key(a)); c != 0 {
			return c
		}
		return cmp.Compare(a.GetPid(), b.GetPid())
	})
	return out[:min(n, len(out))]
}

// summarizeConnections counts sockets by state and by remote address.
func summarizeConnections(cs []net.ConnectionStat, top int) *agentpb.Connections {
	states := map[string]uint32{}
	remotes := map[string]uint32{}
	for _, c := range cs {
		st := c.Status
		if st == "" {
			st = "NONE"
		}
		states[st]++
		if c.Raddr.IP == "" || c.Raddr.Port == 0 {
			continue
		}
		ip := c.Raddr.IP
		if a, err := netip.ParseAddr(ip); err == nil {
			if a.IsUnspecified() {
				continue
			}
			ip = a.Unmap().String() // ::ffff:10.0.0.1 is 10.0.0.1
		}
		remotes[ip]++
	}
	return &agentpb.Connections{
		Total:              uint32(len(cs)),
		States:             topCounts(states, len(states)),
		TopRemoteAddresses: topCounts(remotes, top),
	}
}

func topCounts(m map[string]uint32, n int) []*agentpb.Count {
	out := make([]*agentpb.Count, 0, len(m))
	for k, v := range m {
		out = append(out, &agentpb.Count{Key: k, Count: v})
	}
	slices.SortFunc(out, func(a, b *agentpb.Count) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out[:min(n, len(out))]
}

// hostConnections lists TCP and UDP sockets without resolving owners'
// uids (not shown, and one /proc/PID/status read per process fewer).
func hostConnections(ctx context.Context) ([]net.ConnectionStat, error) {
	return net.ConnectionsWithoutUidsWithContext(ctx, "inet")
}
