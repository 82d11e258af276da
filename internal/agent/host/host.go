// Package host is the agent's host module: system metrics named after the
// OpenTelemetry semantic conventions (as the Collector's hostmetrics
// receiver emits them), the process list and the host inventory.
//
// System-wide figures come from gopsutil so the module ports to Windows;
// the process list has a Linux fast path reading /proc directly, because
// gopsutil re-reads several /proc files per field and the process walk is
// most of the module's cost.
package host

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"sort"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Config is the `modules.host` section of the agent configuration.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// ProcessList sends the full process list every interval.
	ProcessList bool `yaml:"process_list"`
	// Regular expressions of what to leave out. The defaults follow
	// node_exporter: no partitions, loop or ram devices, no pseudo
	// filesystems.
	DiskExclude            string `yaml:"disk_exclude"`
	NetworkExclude         string `yaml:"network_exclude"`
	FilesystemTypeExclude  string `yaml:"filesystem_type_exclude"`
	FilesystemMountExclude string `yaml:"filesystem_mount_exclude"`
	// LoadSnapshot captures top processes and connections when the host
	// stays above a CPU or memory threshold.
	LoadSnapshot LoadSnapshotConfig `yaml:"load_snapshot"`
}

// DefaultConfig returns the host module's defaults.
func DefaultConfig() Config {
	return Config{
		Enabled:                true,
		ProcessList:            true,
		DiskExclude:            `^(z?ram|loop|fd|sr|(h|s|v|xv)d[a-z]+|nvme\d+n\d+p|mmcblk\d+p)\d+$`,
		NetworkExclude:         "",
		FilesystemTypeExclude:  `^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs|tmpfs|ramfs|efivarfs|fuse\.lxcfs|nfsd)$`,
		FilesystemMountExclude: `^/(dev|proc|sys|run/credentials/.+|var/lib/docker/.+|var/lib/containers/storage/.+|var/lib/kubelet/.+|snap/.+)($|/)`,
		LoadSnapshot:           DefaultLoadSnapshotConfig(),
	}
}

// Module collects host metrics and snapshots. It is used by one goroutine.
type Module struct {
	cfg    Config
	logger *slog.Logger

	diskEx, netEx, fsTypeEx, fsMountEx *regexp.Regexp

	bootTime  pcommon.Timestamp
	prevCPU   map[string]cpu.TimesStat
	prevTotal cpu.TimesStat
	havePrev  bool
	procs     *procScanner
	memTotal  uint64

	// statfs on a hung network mount never returns; while one is stuck we
	// skip filesystem metrics instead of piling up goroutines.
	fsBusy chan struct{}

	// This cycle's host-level figures, for the load snapshot trigger.
	reading loadReading
	trig    *loadTrigger // nil when load snapshots are off
	conns   func(context.Context) ([]net.ConnectionStat, error)
}

// New builds the module and takes a first reading, so the first
// Collect already has deltas for CPU utilisation and per-process CPU.
func New(ctx context.Context, cfg Config, logger *slog.Logger) (*Module, error) {
	m := &Module{cfg: cfg, logger: logger, fsBusy: make(chan struct{}, 1), conns: hostConnections}
	var err error
	if cfg.LoadSnapshot.Enabled {
		if err := m.cfg.LoadSnapshot.normalize(); err != nil {
			return nil, fmt.Errorf("host module: %w", err)
		}
		m.trig = newLoadTrigger(m.cfg.LoadSnapshot)
	}
	for _, re := range []struct {
		dst **regexp.Regexp
		src string
		key string
	}{
		{&m.diskEx, cfg.DiskExclude, "disk_exclude"},
		{&m.netEx, cfg.NetworkExclude, "network_exclude"},
		{&m.fsTypeEx, cfg.FilesystemTypeExclude, "filesystem_type_exclude"},
		{&m.fsMountEx, cfg.FilesystemMountExclude, "filesystem_mount_exclude"},
	} {
		if re.src == "" {
			continue
		}
		if *re.dst, err = regexp.Compile(re.src); err != nil {
			return nil, fmt.Errorf("host module %s: %w", re.key, err)
		}
	}
	bt, err := host.BootTimeWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read boot time: %w", err)
	}
	m.bootTime = pcommon.Timestamp(bt * uint64(time.Second))
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		m.memTotal = vm.Total
	}
	m.procs = newProcScanner(bt)
	per, total, err := m.cpuTimes(ctx)
	if err != nil {
		return nil, err
	}
	m.remember(per, total)
	if cfg.ProcessList {
		m.procs.scan(time.Now(), m.memTotal)
	}
	return m, nil
}

// Name is the module's name in configuration and logs.
func (m *Module) Name() string { return "host" }

func (m *Module) cpuTimes(ctx context.Context) ([]cpu.TimesStat, cpu.TimesStat, error) {
	per, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return nil, cpu.TimesStat{}, fmt.Errorf("read cpu times: %w", err)
	}
	var total cpu.TimesStat
	for _, t := range per {
		total.User += t.User
		total.System += t.System
		total.Idle += t.Idle
		total.Nice += t.Nice
		total.Iowait += t.Iowait
		total.Irq += t.Irq
		total.Softirq += t.Softirq
		total.Steal += t.Steal
	}
	return per, total, nil
}

// Collect appends one cycle's metrics to sm and returns the snapshots of
// this cycle (the process list, and a load snapshot when a threshold was
// crossed). A failing source is logged and skipped so
// one broken reading does not lose the rest.
func (m *Module) Collect(ctx context.Context, now time.Time, sm pmetric.ScopeMetrics) ([]*agentpb.Snapshot, error) {
	ts := pcommon.NewTimestampFromTime(now)
	b := builder{ms: sm.Metrics(), ts: ts, start: m.bootTime}
	m.reading = loadReading{}
	m.collectCPU(ctx, &b)
	m.collectMemory(ctx, &b)
	m.collectFilesystems(ctx, &b)
	m.collectDisks(ctx, &b)
	m.collectNetwork(ctx, &b)
	if up, err := host.UptimeWithContext(ctx); err == nil {
		b.gauge("system.uptime", "s", "Time since the system booted.").setDouble(float64(up))
	}

	var snaps []*agentpb.Snapshot
	var list []*agentpb.Process
	scanned := false
	if m.cfg.ProcessList {
		var counts map[string]int
		list, counts = m.procs.scan(now, m.memTotal)
		scanned = true
		g := b.sum("system.processes.count", "{process}", "Total number of processes in each state.", false)
		for _, st := range statusOrder {
			g.point().attr("status", st).setInt(int64(counts[st]))
		}
		snaps = append(snaps, &agentpb.Snapshot{
			TimeUnixNano: now.UnixNano(),
			Type:         wire.SnapshotProcessList,
			Body:         &agentpb.Snapshot_ProcessList{ProcessList: &agentpb.ProcessList{Processes: list}},
		})
	}
	if m.trig != nil {
		if fs := m.trig.observe(m.reading, now); len(fs) > 0 {
			if !scanned {
				// Without the per-cycle list the rates cover the time since
				// the previous snapshot's scan (or since process start).
				list, _ = m.procs.scan(now, m.memTotal)
			}
			sn, err := buildLoadSnapshot(ctx, now, fs, m.reading, m.cfg.LoadSnapshot, list, m.conns)
			if err != nil {
				m.logger.Warn("host: load snapshot without connections", "err", err)
			}
			m.logger.Info("load snapshot taken", "reason", sn.GetLoadSnapshot().GetReason())
			snaps = append(snaps, sn)
		}
	}
	return snaps, nil
}

var cpuStates = [...]string{"user", "system", "idle", "iowait", "steal", "nice", "irq", "softirq"}

func cpuState(t *cpu.TimesStat, i int) float64 {
	switch i {
	case 0:
		return t.User
	case 1:
		return t.System
	case 2:
		return t.Idle
	case 3:
		return t.Iowait
	case 4:
		return t.Steal
	case 5:
		return t.Nice
	case 6:
		return t.Irq
	default:
		return t.Softirq
	}
}

func cpuSum(t *cpu.TimesStat) float64 {
	var s float64
	for i := range cpuStates {
		s += cpuState(t, i)
	}
	return s
}

func (m *Module) collectCPU(ctx context.Context, b *builder) {
	per, total, err := m.cpuTimes(ctx)
	if err != nil {
		m.logger.Warn("host: cpu times", "err", err)
	} else {
		t := b.sum("system.cpu.time", "s", "Seconds each logical CPU spent on each mode.", true)
		for i := range per {
			for s, name := range cpuStates {
				t.point().attr("cpu", per[i].CPU).attr("state", name).setDouble(cpuState(&per[i], s))
			}
		}
		if m.havePrev {
			u := b.gauge("system.cpu.utilization", "1",
				"Fraction of CPU time in each mode over the last interval; points without a cpu attribute are the whole host.")
			if d := cpuSum(&total) - cpuSum(&m.prevTotal); d > 0 {
				m.reading.cpu = max(0, min(100, 100*(1-(total.Idle-m.prevTotal.Idle)/d)))
				m.reading.haveCPU = true
			}
			m.utilization(u, "", &total, &m.prevTotal)
			for i := range per {
				if prev, ok := m.prevCPU[per[i].CPU]; ok {
					m.utilization(u, per[i].CPU, &per[i], &prev)
				}
			}
		}
		m.remember(per, total)
		b.sum("system.cpu.logical.count", "{cpu}", "Number of logical CPUs.", false).setInt(int64(len(per)))
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil && n > 0 {
		b.sum("system.cpu.physical.count", "{cpu}", "Number of physical CPU cores.", false).setInt(int64(n))
	}
	if l, err := load.AvgWithContext(ctx); err == nil {
		b.gauge("system.cpu.load_average.1m", "{thread}", "Load average over 1 minute.").setDouble(l.Load1)
		b.gauge("system.cpu.load_average.5m", "{thread}", "Load average over 5 minutes.").setDouble(l.Load5)
		b.gauge("system.cpu.load_average.15m", "{thread}", "Load average over 15 minutes.").setDouble(l.Load15)
		m.reading.load1, m.reading.load5, m.reading.load15 = l.Load1, l.Load5, l.Load15
	} else if runtime.GOOS != "windows" {
		m.logger.Warn("host: load average", "err", err)
	}
}

func (m *Module) remember(per []cpu.TimesStat, total cpu.TimesStat) {
	if m.prevCPU == nil {
		m.prevCPU = make(map[string]cpu.TimesStat, len(per))
	}
	for _, p := range per {
		m.prevCPU[p.CPU] = p
	}
	m.prevTotal, m.havePrev = total, true
}

func (m *Module) utilization(u *metricB, cpuName string, cur, prev *cpu.TimesStat) {
	d := cpuSum(cur) - cpuSum(prev)
	if d <= 0 {
		return
	}
	for s, name := range cpuStates {
		v := (cpuState(cur, s) - cpuState(prev, s)) / d
		if v < 0 {
			v = 0
		}
		p := u.point()
		if cpuName != "" {
			p.attr("cpu", cpuName)
		}
		p.attr("state", name).setDouble(v)
	}
}

func (m *Module) collectMemory(ctx context.Context, b *builder) {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		m.logger.Warn("host: memory", "err", err)
	} else if vm.Total > 0 {
		m.memTotal = vm.Total
		// These four states add up to the total, as in hostmetrics; "cached"
		// includes reclaimable slab, as gopsutil and free(1) count it.
		used := int64(vm.Total) - int64(vm.Free) - int64(vm.Buffers) - int64(vm.Cached)
		if used < 0 {
			used = int64(vm.Total - vm.Available)
		}
		states := [...]struct {
			name string
			v    int64
		}{{"used", used}, {"free", int64(vm.Free)}, {"buffered", int64(vm.Buffers)}, {"cached", int64(vm.Cached)}}
		us := b.sum("system.memory.usage", "By", "Bytes of memory in use, by state.", false)
		ut := b.gauge("system.memory.utilization", "1", "Fraction of memory in each state.")
		for _, s := range states {
			us.point().attr("state", s.name).setInt(s.v)
			ut.point().attr("state", s.name).setDouble(float64(s.v) / float64(vm.Total))
		}
		b.sum("system.memory.limit", "By", "Total memory.", false).setInt(int64(vm.Total))
		m.reading.mem, m.reading.haveMem = float64(used)*100/float64(vm.Total), true
		b.sum("system.linux.memory.available", "By",
			"Memory available for new work without swapping (MemAvailable).", false).setInt(int64(vm.Available))
	}
	sw, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		m.logger.Warn("host: swap", "err", err)
		return
	}
	b.sum("system.paging.usage", "By", "Swap space in use, by state.", false).
		pointAttr("state", "used").setInt(int64(sw.Used)).
		pointAttr("state", "free").setInt(int64(sw.Free))
	if sw.Total > 0 {
		b.gauge("system.paging.utilization", "1", "Fraction of swap space in each state.").
			pointAttr("state", "used").setDouble(float64(sw.Used)/float64(sw.Total)).
			pointAttr("state", "free").setDouble(float64(sw.Free) / float64(sw.Total))
	}
}

type fsReading struct {
	part disk.PartitionStat
	use  *disk.UsageStat
}

func (m *Module) collectFilesystems(ctx context.Context, b *builder) {
	select {
	case m.fsBusy <- struct{}{}:
	default:
		m.logger.Warn("host: a filesystem is not answering statfs; skipping filesystem metrics")
		return
	}
	res := make(chan []fsReading, 1)
	go func() {
		defer func() { <-m.fsBusy }()
		res <- m.readFilesystems(ctx)
	}()
	var list []fsReading
	select {
	case list = <-res:
	case <-time.After(2 * time.Second):
		return
	case <-ctx.Done():
		return
	}
	us := b.sum("system.filesystem.usage", "By", "Filesystem bytes by state.", false)
	ut := b.gauge("system.filesystem.utilization", "1", "Fraction of the filesystem in use, as df reports it: used/(used+available).")
	for _, r := range list {
		mode := "rw"
		for _, o := range r.part.Opts {
			if o == "ro" {
				mode = "ro"
			}
		}
		// Reserved is what root alone may still use (Total-Used-Free with
		// gopsutil's Free being the non-root available space).
		reserved := int64(r.use.Total) - int64(r.use.Used) - int64(r.use.Free)
		if reserved < 0 {
			reserved = 0
		}
		for _, s := range [...]struct {
			name string
			v    int64
		}{{"used", int64(r.use.Used)}, {"free", int64(r.use.Free)}, {"reserved", reserved}} {
			us.point().attr("device", r.part.Device).attr("mountpoint", r.part.Mountpoint).
				attr("type", r.part.Fstype).attr("mode", mode).attr("state", s.name).setInt(s.v)
		}
		if d := r.use.Used + r.use.Free; d > 0 {
			ut.point().attr("device", r.part.Device).attr("mountpoint", r.part.Mountpoint).
				attr("type", r.part.Fstype).attr("mode", mode).setDouble(float64(r.use.Used) / float64(d))
		}
	}
}

func (m *Module) readFilesystems(ctx context.Context) []fsReading {
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil {
		m.logger.Warn("host: filesystems", "err", err)
		return nil
	}
	// The same device mounted many times (bind mounts, container files)
	// would count its space many times; keep its shortest mountpoint.
	byDev := make(map[string]int, len(parts))
	var keep []disk.PartitionStat
	for _, p := range parts {
		if m.fsTypeEx != nil && m.fsTypeEx.MatchString(p.Fstype) {
			continue
		}
		if m.fsMountEx != nil && m.fsMountEx.MatchString(p.Mountpoint) {
			continue
		}
		if i, ok := byDev[p.Device]; ok {
			if len(p.Mountpoint) < len(keep[i].Mountpoint) {
				keep[i] = p
			}
			continue
		}
		byDev[p.Device] = len(keep)
		keep = append(keep, p)
	}
	out := make([]fsReading, 0, len(keep))
	for _, p := range keep {
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil || u.Total == 0 {
			continue
		}
		out = append(out, fsReading{part: p, use: u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].part.Mountpoint < out[j].part.Mountpoint })
	return out
}

func (m *Module) collectDisks(ctx context.Context, b *builder) {
	io, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		m.logger.Warn("host: disk io", "err", err)
		return
	}
	names := make([]string, 0, len(io))
	for n := range io {
		if m.diskEx == nil || !m.diskEx.MatchString(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	bytes := b.sum("system.disk.io", "By", "Bytes read from and written to the disk.", true)
	ops := b.sum("system.disk.operations", "{operation}", "Completed disk operations.", true)
	busy := b.sum("system.disk.io_time", "s", "Time the disk had I/O in progress (busy time).", true)
	opt := b.sum("system.disk.operation_time", "s", "Time spent on disk operations, summed over operations.", true)
	merged := b.sum("system.disk.merged", "{operation}", "Adjacent operations merged by the kernel.", true)
	pend := b.sum("system.disk.pending_operations", "{operation}", "Disk operations in progress.", false)
	for _, n := range names {
		d := io[n]
		bytes.point().attr("device", n).attr("direction", "read").setInt(int64(d.ReadBytes))
		bytes.point().attr("device", n).attr("direction", "write").setInt(int64(d.WriteBytes))
		ops.point().attr("device", n).attr("direction", "read").setInt(int64(d.ReadCount))
		ops.point().attr("device", n).attr("direction", "write").setInt(int64(d.WriteCount))
		busy.point().attr("device", n).setDouble(float64(d.IoTime) / 1000)
		opt.point().attr("device", n).attr("direction", "read").setDouble(float64(d.ReadTime) / 1000)
		opt.point().attr("device", n).attr("direction", "write").setDouble(float64(d.WriteTime) / 1000)
		merged.point().attr("device", n).attr("direction", "read").setInt(int64(d.MergedReadCount))
		merged.point().attr("device", n).attr("direction", "write").setInt(int64(d.MergedWriteCount))
		pend.point().attr("device", n).setInt(int64(d.IopsInProgress))
	}
}

func (m *Module) collectNetwork(ctx context.Context, b *builder) {
	nics, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		m.logger.Warn("host: network", "err", err)
		return
	}
	sort.Slice(nics, func(i, j int) bool { return nics[i].Name < nics[j].Name })
	bytes := b.sum("system.network.io", "By", "Bytes sent and received.", true)
	pkts := b.sum("system.network.packets", "{packet}", "Packets sent and received.", true)
	errs := b.sum("system.network.errors", "{error}", "Network errors.", true)
	drops := b.sum("system.network.dropped", "{packet}", "Packets dropped.", true)
	for _, n := range nics {
		if m.netEx != nil && m.netEx.MatchString(n.Name) {
			continue
		}
		for _, d := range [...]struct {
			dir                string
			by, pk, err, dropd uint64
		}{
			{"receive", n.BytesRecv, n.PacketsRecv, n.Errin, n.Dropin},
			{"transmit", n.BytesSent, n.PacketsSent, n.Errout, n.Dropout},
		} {
			bytes.point().attr("device", n.Name).attr("direction", d.dir).setInt(int64(d.by))
			pkts.point().attr("device", n.Name).attr("direction", d.dir).setInt(int64(d.pk))
			errs.point().attr("device", n.Name).attr("direction", d.dir).setInt(int64(d.err))
			drops.point().attr("device", n.Name).attr("direction", d.dir).setInt(int64(d.dropd))
		}
	}
}

// Inventory describes the host for registration and the inventory
// snapshot.
func (m *Module) Inventory(ctx context.Context, agentVersion string) *agentpb.Inventory {
	inv := &agentpb.Inventory{Os: runtime.GOOS, Arch: runtime.GOARCH, AgentVersion: agentVersion}
	if hi, err := host.InfoWithContext(ctx); err == nil {
		inv.Hostname = hi.Hostname
		inv.Platform = hi.Platform
		inv.PlatformVersion = hi.PlatformVersion
		inv.KernelVersion = hi.KernelVersion
		inv.BootTimeUnix = int64(hi.BootTime)
		if hi.KernelArch != "" {
			inv.Arch = hi.KernelArch
		}
	} else {
		m.logger.Warn("host: inventory", "err", err)
	}
	if n, err := cpu.CountsWithContext(ctx, true); err == nil {
		inv.LogicalCores = int32(n)
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil {
		inv.PhysicalCores = int32(n)
	}
	if ci, err := cpu.InfoWithContext(ctx); err == nil && len(ci) > 0 {
		inv.CpuModel = ci[0].ModelName
	}
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		inv.MemoryBytes = vm.Total
	}
	return inv
}
