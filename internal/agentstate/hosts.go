package agentstate

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Metrics whose per-device points the latest view skips, reduced at ingest
// to what a server list shows: the fullest filesystem and the summed
// network and disk byte rates.
const (
	metricFSUtilization = "system.filesystem.utilization"
	metricNetworkIO     = "system.network.io"
	metricDiskIO        = "system.disk.io"
)

// Latest keys of the host-level gauges a server list shows.
const (
	keyCPUIdle   = "system.cpu.utilization{state=idle}"
	keyMemUsed   = "system.memory.utilization{state=used}"
	keySwapUsed  = "system.paging.utilization{state=used}"
	keyLoad1     = "system.cpu.load_average.1m"
	directionRx  = "receive"
	directionTx  = "transmit"
	directionRd  = "read"
	directionWr  = "write"
	directionKey = "direction"
)

// maxProcNames bounds the process summary kept per agent (about 72 bytes
// a name), so a host with thousands of distinct process names costs at
// most ~18 KiB.
const maxProcNames = 256

// HostStats are figures derived at ingest from per-device series. Rates
// come from the difference of consecutive reports' counters (summed over
// devices) divided by the difference of their timestamps.
type HostStats struct {
	DiskMaxPercent float64 `json:"diskMaxPercent"`
	HasDisk        bool    `json:"hasDisk"`
	NetRx          float64 `json:"netRx"` // bytes/s over all interfaces
	NetTx          float64 `json:"netTx"`
	HasNet         bool    `json:"hasNet"`
	DiskRead       float64 `json:"diskRead"` // bytes/s over all disks
	DiskWrite      float64 `json:"diskWrite"`
	HasDiskIO      bool    `json:"hasDiskIO"`

	// Counter sums and their timestamps (unix ns) from the last report.
	netRx, netTx, diskRd, diskWr float64
	netAt, diskAt                int64
}

// ProcStat summarises the processes of one name in an agent's latest
// process list: enough to answer "top processes across servers" without
// reading stored snapshots.
type ProcStat struct {
	Name           string
	Count          int32
	CPUMax, CPUSum float64 // percent of one core
	RSSMax, RSSSum uint64  // bytes
}

// hostAcc collects one resource's per-device points of a metrics batch.
type hostAcc struct {
	fsMax          float64
	hasFS          bool
	netRx, netTx   float64
	netAt          int64
	hasNet         bool
	diskRd, diskWr float64
	diskAt         int64
	hasDisk        bool
}

// add takes the points of m when it is one of the per-device metrics.
func (h *hostAcc) add(m pmetric.Metric) {
	switch m.Name() {
	case metricFSUtilization:
		if m.Type() != pmetric.MetricTypeGauge {
			return
		}
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			if v := pointValue(dps.At(i)); !h.hasFS || v > h.fsMax {
				h.fsMax, h.hasFS = v, true
			}
		}
	case metricNetworkIO, metricDiskIO:
		if m.Type() != pmetric.MetricTypeSum {
			return
		}
		net := m.Name() == metricNetworkIO
		dps := m.Sum().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			dir, ok := dp.Attributes().Get(directionKey)
			if !ok {
				continue
			}
			v, ts := pointValue(dp), int64(dp.Timestamp())
			switch {
			case net && dir.Str() == directionRx:
				h.netRx += v
			case net && dir.Str() == directionTx:
				h.netTx += v
			case !net && dir.Str() == directionRd:
				h.diskRd += v
			case !net && dir.Str() == directionWr:
				h.diskWr += v
			default:
				continue
			}
			if net {
				h.hasNet, h.netAt = true, max(h.netAt, ts)
			} else {
				h.hasDisk, h.diskAt = true, max(h.diskAt, ts)
			}
		}
	}
}

func pointValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// apply folds a batch's figures into the agent's stats. A batch older
// than the last one seen (an agent replaying its spool) leaves the rates
// alone; a counter that went down (reboot, device gone) gives no rate
// until the next report.
func (h *hostAcc) apply(a *Agent) {
	if !h.hasFS && !h.hasNet && !h.hasDisk {
		return
	}
	if a.HostStats == nil {
		a.HostStats = &HostStats{}
	}
	s := a.HostStats
	if h.hasFS {
		s.DiskMaxPercent, s.HasDisk = h.fsMax*100, true
	}
	if h.hasNet && h.netAt > s.netAt {
		if s.netAt > 0 && h.netRx >= s.netRx && h.netTx >= s.netTx {
			dt := float64(h.netAt-s.netAt) / 1e9
			s.NetRx, s.NetTx, s.HasNet = (h.netRx-s.netRx)/dt, (h.netTx-s.netTx)/dt, true
		} else {
			s.HasNet = false
		}
		s.netRx, s.netTx, s.netAt = h.netRx, h.netTx, h.netAt
	}
	if h.hasDisk && h.diskAt > s.diskAt {
		if s.diskAt > 0 && h.diskRd >= s.diskRd && h.diskWr >= s.diskWr {
			dt := float64(h.diskAt-s.diskAt) / 1e9
			s.DiskRead, s.DiskWrite, s.HasDiskIO = (h.diskRd-s.diskRd)/dt, (h.diskWr-s.diskWr)/dt, true
		} else {
			s.HasDiskIO = false
		}
		s.diskRd, s.diskWr, s.diskAt = h.diskRd, h.diskWr, h.diskAt
	}
}

// summarizeProcesses reduces a process list to one entry per name. Past
// maxProcNames names it keeps the half with the most CPU and the half
// with the most memory, the ones a "top processes" view can show.
func summarizeProcesses(procs []*agentpb.Process) []ProcStat {
	idx := make(map[string]int, len(procs))
	out := make([]ProcStat, 0, min(len(procs), 64))
	for _, p := range procs {
		name := p.GetName()
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			// A copy, so the summary does not pin the decoded request.
			out = append(out, ProcStat{Name: strings.Clone(name)})
		}
		s := &out[i]
		s.Count++
		cpu, rss := p.GetCpuPercent(), p.GetRssBytes()
		s.CPUSum += cpu
		s.RSSSum += rss
		s.CPUMax = max(s.CPUMax, cpu)
		s.RSSMax = max(s.RSSMax, rss)
	}
	if len(out) <= maxProcNames {
		return slices.Clip(out)
	}
	slices.SortFunc(out, func(a, b ProcStat) int { return cmp.Compare(b.CPUMax, a.CPUMax) })
	rest := out[maxProcNames/2:]
	slices.SortFunc(rest, func(a, b ProcStat) int { return cmp.Compare(b.RSSMax, a.RSSMax) })
	return slices.Clone(out[:maxProcNames])
}

// HostView is what server lists and overviews need of one agent, read
// without copying its maps. Labels, Inventory and Procs are shared with
// the tracker and must not be modified. Figures not reported are NaN.
type HostView struct {
	ID, Name, Group string
	Kind            string
	Labels          map[string]string
	Active          bool
	LastSeen        time.Time
	Inventory       *agentpb.Inventory
	Processes       int

	CPU, Memory, Swap, Load1 float64 // percent (load1: threads)
	Disk                     float64 // fullest filesystem, percent
	NetRx, NetTx             float64 // bytes/s
	DiskRead, DiskWrite      float64 // bytes/s
	Procs                    []ProcStat
}

// Hosts returns the agents of a project whose kind is kind ("" = all),
// sorted by name then id, with Active set from now.
func (t *Tracker) Hosts(project int64, kind string, now time.Time) []HostView {
	nan := math.NaN()
	latest := func(a *Agent, k string, scale float64, invert bool) float64 {
		v, ok := a.Latest[k]
		if !ok {
			return nan
		}
		if invert {
			v = 1 - v
		}
		return v * scale
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	// Sort pointers, not views: a view is ~250 bytes and 2,000 of them
	// would be moved around ~20k times.
	agents := make([]*Agent, 0, len(t.projects[project]))
	for _, a := range t.projects[project] {
		if kind == "" || a.Kind == kind {
			agents = append(agents, a)
		}
	}
	slices.SortFunc(agents, func(a, b *Agent) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]HostView, len(agents))
	for i, a := range agents {
		h := &out[i]
		*h = HostView{
			ID: a.ID, Name: a.Name, Group: a.Group, Kind: a.Kind, Labels: a.Labels,
			Active: now.Sub(a.LastSeen) <= 3*t.interval, LastSeen: a.LastSeen,
			Inventory: a.Inventory, Processes: a.Processes, Procs: a.procs,
			CPU:    latest(a, keyCPUIdle, 100, true),
			Memory: latest(a, keyMemUsed, 100, false),
			Swap:   latest(a, keySwapUsed, 100, false),
			Load1:  latest(a, keyLoad1, 1, false),
			Disk:   nan, NetRx: nan, NetTx: nan, DiskRead: nan, DiskWrite: nan,
		}
		if s := a.HostStats; s != nil {
			if s.HasDisk {
				h.Disk = s.DiskMaxPercent
			}
			if s.HasNet {
				h.NetRx, h.NetTx = s.NetRx, s.NetTx
			}
			if s.HasDiskIO {
				h.DiskRead, h.DiskWrite = s.DiskRead, s.DiskWrite
			}
		}
	}
	return out
}
