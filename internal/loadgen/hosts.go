package loadgen

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// agentVersion is what simulated agents report, marked so nobody mistakes
// them for real ones in an inventory view.
const agentVersion = "0.1.0-loadgen"

// hostScope, cpuStates, processStatuses and the metric names, units and
// attributes below mirror internal/agent/host exactly (we may not import
// it: the load generator must stay a pure client), so that what the server
// and UI see from a simulated host is what a real agent sends.
const hostScope = "github.com/osprey-monitoring/osprey/internal/agent/host"

// inventoryEvery matches the agent's default inventory resend interval.
const inventoryEvery = 10 * time.Minute

var cpuStates = [...]string{"user", "system", "idle", "iowait", "steal", "nice", "irq", "softirq"}

const (
	stUser = iota
	stSystem
	stIdle
	stWait
	stSteal
	stNice
	stInterrupt
	stSoftirq
)

var processStatuses = [...]string{"running", "sleeping", "blocked", "stopped", "zombies", "idle", "unknown"}

type hostRole int

const (
	roleWeb hostRole = iota
	roleApp
	roleDB
	roleCache
	roleBatch
	roleK8s
)

var roleNames = [...]string{"web", "app", "db", "cache", "batch", "k8s-node"}

type site struct{ group, region string }

// sites are weighted unevenly on purpose: a grouped overview with equal
// groups looks synthetic.
var sites = [...]site{
	{"site-a", "kr-seoul"}, {"site-a", "kr-seoul"}, {"site-a", "kr-seoul"}, {"site-a", "kr-seoul"},
	{"site-b", "kr-busan"}, {"site-b", "kr-busan"}, {"site-b", "kr-busan"},
	{"site-c", "jp-tokyo"}, {"site-c", "jp-tokyo"},
	{"site-d", "us-east"},
}

type platform struct {
	name, version, kernel string
}

var platforms = [...]platform{
	{"ubuntu", "22.04", "5.15.0-125-generic"},
	{"ubuntu", "22.04", "5.15.0-131-generic"},
	{"ubuntu", "24.04", "6.8.0-49-generic"},
	{"ubuntu", "24.04", "6.8.0-57-generic"},
	{"debian", "12.8", "6.1.0-28-amd64"},
	{"rhel", "9.4", "5.14.0-427.42.1.el9_4.x86_64"},
	{"rocky", "9.3", "5.14.0-362.24.1.el9_3.x86_64"},
	{"amzn", "2023", "6.1.115-126.197.amzn2023.x86_64"},
	{"centos", "7.9.2009", "3.10.0-1160.119.1.el7.x86_64"},
}

var coreChoices = [...]int{2, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 64}

var cpuModelsAMD64 = [...]string{
	"Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
	"Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
	"Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz",
	"AMD EPYC 7763 64-Core Processor",
	"AMD EPYC 9354 32-Core Processor",
}

type fsState struct {
	device, mount, fstype string
	total, used           float64
	growth                float64 // bytes per second, may be negative
}

type diskState struct {
	device                                   string
	readBytes, writeBytes, readOps, writeOps float64
	ioTime, readTime, writeTime              float64
	rate                                     float64 // bytes/s at full load
}

type nicState struct {
	device                       string
	rxB, txB, rxP, txP           float64
	rxErr, txErr, rxDrop, txDrop float64
	rate                         float64 // bytes/s at full load
}

type procState struct {
	pid, ppid int32
	name, cmd string
	user      string
	weight    float64 // share of the host's CPU this process tends to use
	rss       float64
	vmsFactor float64
	threads   int32
	fds       int32
	io        float64 // bytes/s at full load
	createdMs int64
	cpu       float64
	cpuSpiky  bool
}

// simHost is one simulated host agent. It is owned by exactly one worker,
// so it needs no locking.
type simHost struct {
	idx    int
	ident  *agentpb.AgentIdentity
	inv    *agentpb.Inventory
	res    pcommon.Resource
	offset time.Duration
	role   hostRole
	rng    *rand.Rand

	cores    int
	cpuNames []string
	base     float64 // long-run CPU utilisation this host drifts around
	load     float64 // current utilisation, 0..1
	cpuTime  [][len(cpuStates)]float64
	load1    float64
	load5    float64
	load15   float64
	memTotal float64
	memUsed  float64 // fraction
	swap     float64 // total bytes, 0 = no swap
	swapUsed float64 // fraction
	fss      []fsState
	disks    []diskState
	nics     []nicState
	procs    []procState
	boot     time.Time
	lastTick time.Time

	registered bool
	invSent    time.Time // last inventory snapshot acknowledged
}

type fleet struct {
	hosts []*simHost
}

func newFleet(cfg Config) *fleet {
	f := &fleet{hosts: make([]*simHost, cfg.Hosts)}
	now := time.Now()
	for i := range f.hosts {
		f.hosts[i] = newSimHost(cfg, i, now)
	}
	return f
}

// hostName is shared with the app model so that app instances run on the
// simulated hosts and the resource and transaction views can be joined.
func hostName(i, total int) string {
	return "sim-host-" + pad(i+1, max(4, len(strconv.Itoa(total))))
}

func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// stableID derives a UUID-shaped id from the seed, a kind and an index, so
// that a rerun with the same seed reports as the same agents instead of
// flooding the server with new ones.
func stableID(seed int64, kind uint64, i int) string {
	r := rand.New(rand.NewPCG(uint64(seed)^0x6f73707265790000^kind, uint64(i)))
	var b [16]byte
	for j := 0; j < 16; j += 8 {
		v := r.Uint64()
		for k := range 8 {
			b[j+k] = byte(v >> (8 * k))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hexd = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for j, c := range b {
		if j == 4 || j == 6 || j == 8 || j == 10 {
			out = append(out, '-')
		}
		out = append(out, hexd[c>>4], hexd[c&15])
	}
	return string(out)
}

func newSimHost(cfg Config, i int, now time.Time) *simHost {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(i)*2654435761+1))
	name := hostName(i, cfg.Hosts)
	st := sites[rng.IntN(len(sites))]
	pl := platforms[rng.IntN(len(platforms))]
	arch, model := "amd64", cpuModelsAMD64[rng.IntN(len(cpuModelsAMD64))]
	if rng.Float64() < 0.1 {
		arch, model = "arm64", "Neoverse-N1"
		pl.kernel = trimArch(pl.kernel) + ".aarch64"
	}
	cores := coreChoices[rng.IntN(len(coreChoices))]
	memPerCore := []float64{2, 4, 4, 8}[rng.IntN(4)]
	role := hostRole(rng.IntN(len(roleNames)))

	h := &simHost{
		idx:      i,
		role:     role,
		rng:      rng,
		cores:    cores,
		offset:   time.Duration(int64(cfg.Interval) * int64(i) / int64(max(cfg.Hosts, 1))),
		memTotal: memPerCore * float64(cores) * (1 << 30),
		boot:     now.Add(-time.Duration(1+rng.IntN(200*24)) * time.Hour).Add(-time.Duration(rng.IntN(3600)) * time.Second),
		lastTick: now,
	}
	// Most servers idle along; some are busy and a few are pinned, which is
	// what makes a CPU heat map and a top-5 worth looking at.
	switch u := rng.Float64(); {
	case u < 0.03:
		h.base = 0.93 + 0.06*rng.Float64()
	case u < 0.15:
		h.base = 0.55 + 0.35*rng.Float64()
	default:
		h.base = 0.02 + 0.4*rng.Float64()*rng.Float64()
	}
	h.load = h.base
	h.memUsed = 0.25 + 0.6*rng.Float64()
	if rng.Float64() < 0.05 {
		h.memUsed = 0.93 + 0.05*rng.Float64()
	}
	if rng.Float64() < 0.6 {
		h.swap = math.Min(h.memTotal/4, 8<<30)
		h.swapUsed = 0.02 * rng.Float64()
	}
	h.cpuNames = make([]string, cores)
	h.cpuTime = make([][len(cpuStates)]float64, cores)
	up := now.Sub(h.boot).Seconds()
	for c := range cores {
		h.cpuNames[c] = "cpu" + strconv.Itoa(c)
		// Counters start where a machine up this long would be.
		h.cpuTime[c] = splitCPU(h.base*0.8, up)
	}
	h.load1 = h.base * float64(cores)
	h.load5, h.load15 = h.load1, h.load1

	disk := "sda"
	if rng.IntN(2) == 0 {
		disk = "nvme0n1"
	}
	part := func(n int) string {
		if disk == "nvme0n1" {
			return "/dev/nvme0n1p" + strconv.Itoa(n)
		}
		return "/dev/sda" + strconv.Itoa(n)
	}
	fstype := "ext4"
	if pl.name == "rhel" || pl.name == "rocky" || pl.name == "amzn" || pl.name == "centos" {
		fstype = "xfs"
	}
	rootSize := float64([]int{30, 50, 100, 200}[rng.IntN(4)]) * (1 << 30)
	h.fss = []fsState{
		{device: part(1), mount: "/", fstype: fstype, total: rootSize, used: rootSize * (0.2 + 0.5*rng.Float64()), growth: 2000 * rng.Float64()},
		{device: part(2), mount: "/boot", fstype: fstype, total: 1 << 30, used: (1 << 30) * (0.1 + 0.2*rng.Float64())},
	}
	h.disks = []diskState{{device: disk, rate: 20e6 + 80e6*rng.Float64()}}
	if role == roleDB || role == roleBatch || rng.Float64() < 0.2 {
		data := float64([]int{500, 1000, 2000, 4000}[rng.IntN(4)]) * (1 << 30)
		used := 0.3 + 0.55*rng.Float64()
		if rng.Float64() < 0.15 {
			used = 0.9 + 0.08*rng.Float64() // disks that are about to fill up
		}
		h.fss = append(h.fss, fsState{device: "/dev/sdb1", mount: "/data", fstype: "xfs", total: data, used: data * used, growth: 50000 * rng.Float64()})
		h.disks = append(h.disks, diskState{device: "sdb", rate: 100e6 + 300e6*rng.Float64()})
	}
	nic := []string{"eth0", "ens5", "eno1", "ens192"}[rng.IntN(4)]
	h.nics = []nicState{{device: nic, rate: 5e6 + 100e6*rng.Float64()}, {device: "lo", rate: 1e6}}
	for d := range h.disks {
		ds := &h.disks[d]
		avg := ds.rate * 0.1 * up
		ds.readBytes, ds.writeBytes = avg*0.4, avg*0.6
		ds.readOps, ds.writeOps = ds.readBytes/16384, ds.writeBytes/8192
		ds.ioTime, ds.readTime, ds.writeTime = up*0.02, up*0.01, up*0.03
	}
	for n := range h.nics {
		ns := &h.nics[n]
		avg := ns.rate * 0.1 * up
		ns.rxB, ns.txB = avg, avg*0.7
		ns.rxP, ns.txP = ns.rxB/800, ns.txB/900
	}

	h.procs = buildProcesses(rng, role, cores, h.memTotal, cfg.Processes, h.boot)

	h.ident = &agentpb.AgentIdentity{
		Id:      stableID(cfg.Seed, 1, i),
		Name:    name,
		Group:   st.group,
		Kind:    "host",
		Version: agentVersion,
		Labels:  map[string]string{"region": st.region, "role": roleNames[role], "simulated": "true"},
	}
	h.inv = &agentpb.Inventory{
		Hostname:        name,
		Os:              "linux",
		Platform:        pl.name,
		PlatformVersion: pl.version,
		KernelVersion:   pl.kernel,
		Arch:            arch,
		LogicalCores:    int32(cores),
		PhysicalCores:   int32(max(1, cores/2)),
		MemoryBytes:     uint64(h.memTotal),
		BootTimeUnix:    h.boot.Unix(),
		AgentVersion:    agentVersion,
		CpuModel:        model,
	}
	h.res = pcommon.NewResource()
	a := h.res.Attributes()
	a.PutStr(wire.AttrAgentID, h.ident.Id)
	a.PutStr(wire.AttrAgentName, name)
	a.PutStr(wire.AttrAgentGroup, st.group)
	a.PutStr(wire.AttrAgentKind, "host")
	a.PutStr(wire.AttrHostName, name)
	a.PutStr(wire.AttrServiceInstanceID, h.ident.Id)
	a.PutStr(wire.AttrServiceName, "osprey-agent")
	a.PutStr("service.version", agentVersion)
	a.PutStr("host.arch", arch)
	a.PutStr("os.type", "linux")
	a.PutStr("cloud.region", st.region)
	return h
}

func trimArch(k string) string {
	for _, suf := range []string{".x86_64", "-amd64", "-generic"} {
		if len(k) > len(suf) && k[len(k)-len(suf):] == suf {
			return k[:len(k)-len(suf)]
		}
	}
	return k
}

// splitCPU spreads busy seconds over the non-idle states in the proportions
// of a typical Linux server.
func splitCPU(busy, seconds float64) [len(cpuStates)]float64 {
	var s [len(cpuStates)]float64
	b := busy * seconds
	s[stUser] = b * 0.68
	s[stSystem] = b * 0.18
	s[stWait] = b * 0.06
	s[stSoftirq] = b * 0.03
	s[stSteal] = b * 0.02
	s[stNice] = b * 0.02
	s[stInterrupt] = b * 0.01
	s[stIdle] = seconds - b
	return s
}

// walk moves v towards mean with noise; mean reversion keeps a host's
// character (idle, busy, pinned) while still looking alive.
func walk(rng *rand.Rand, v, mean, sigma, lo, hi float64) float64 {
	v += 0.15*(mean-v) + sigma*rng.NormFloat64()
	return math.Max(lo, math.Min(hi, v))
}

// tick advances the host's state to now.
func (h *simHost) tick(now time.Time) {
	dt := now.Sub(h.lastTick).Seconds()
	h.lastTick = now
	if dt <= 0 {
		return
	}
	rng := h.rng
	h.load = walk(rng, h.load, h.base, 0.04, 0.005, 1)
	if rng.Float64() < 0.01 {
		h.load = math.Min(1, h.load+0.3+0.3*rng.Float64()) // a short spike
	}
	for c := range h.cpuTime {
		u := math.Max(0, math.Min(1, h.load+0.08*rng.NormFloat64()))
		inc := splitCPU(u, dt)
		for s := range inc {
			h.cpuTime[c][s] += inc[s]
		}
	}
	running := h.load*float64(h.cores) + 0.3*rng.Float64()
	if h.load > 0.9 {
		running += float64(h.cores) * rng.Float64() // run queue builds up when pinned
	}
	decay := func(avg, window float64) float64 {
		e := math.Exp(-dt / window)
		return avg*e + running*(1-e)
	}
	h.load1, h.load5, h.load15 = decay(h.load1, 60), decay(h.load5, 300), decay(h.load15, 900)

	h.memUsed = walk(rng, h.memUsed, h.memUsed, 0.005, 0.05, 0.99)
	if h.swap > 0 {
		h.swapUsed = walk(rng, h.swapUsed, h.swapUsed, 0.002, 0, 0.9)
	}
	for f := range h.fss {
		fs := &h.fss[f]
		fs.used = math.Max(0, math.Min(fs.total*0.999, fs.used+fs.growth*dt*(0.5+rng.Float64())))
	}
	act := 0.05 + h.load
	for d := range h.disks {
		ds := &h.disks[d]
		r := ds.rate * act * (0.5 + rng.Float64()) * dt
		rd, wr := r*0.35, r*0.65
		ds.readBytes += rd
		ds.writeBytes += wr
		ds.readOps += math.Ceil(rd / 16384)
		ds.writeOps += math.Ceil(wr / 8192)
		busy := math.Min(1, act*0.6) * dt
		ds.ioTime += busy
		ds.readTime += busy * 0.4
		ds.writeTime += busy * 0.9
	}
	for n := range h.nics {
		ns := &h.nics[n]
		r := ns.rate * act * (0.5 + rng.Float64()) * dt
		ns.rxB += r
		ns.txB += r * 0.7
		ns.rxP += math.Ceil(r / 800)
		ns.txP += math.Ceil(r * 0.7 / 900)
		if rng.Float64() < 0.02 {
			ns.rxErr++
		}
		if rng.Float64() < 0.03 {
			ns.rxDrop += float64(rng.IntN(5))
		}
	}
	h.tickProcesses()
}

// metrics builds one OTLP export the way the agent's host module reports:
// hostmetrics semantic conventions, cumulative counters since boot.
func (h *simHost) metrics(now time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	h.res.CopyTo(rm.Resource())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(hostScope)
	sm.Scope().SetVersion(agentVersion)
	w := metricWriter{ms: sm.Metrics(), start: pcommon.NewTimestampFromTime(h.boot), now: pcommon.NewTimestampFromTime(now)}
	w.ms.EnsureCapacity(32)

	dps := w.sum("system.cpu.time", "s", true)
	for c, name := range h.cpuNames {
		for s, st := range cpuStates {
			w.dbl(dps, h.cpuTime[c][s], "cpu", name, "state", st)
		}
	}
	// Like the agent: one point per state without a cpu attribute for the
	// whole host, then one per logical CPU.
	dps = w.gauge("system.cpu.utilization", "1")
	var whole [len(cpuStates)]float64
	per := make([][len(cpuStates)]float64, len(h.cpuNames))
	for c := range h.cpuNames {
		u := math.Max(0, math.Min(1, h.load+0.08*h.rng.NormFloat64()))
		per[c] = splitCPU(u, 1)
		for s := range whole {
			whole[s] += per[c][s] / float64(h.cores)
		}
	}
	for s, st := range cpuStates {
		w.dbl(dps, whole[s], "state", st)
	}
	for c, name := range h.cpuNames {
		for s, st := range cpuStates {
			w.dbl(dps, per[c][s], "cpu", name, "state", st)
		}
	}
	w.int(w.sum("system.cpu.logical.count", "{cpu}", false), int64(h.cores))
	w.int(w.sum("system.cpu.physical.count", "{cpu}", false), int64(h.inv.PhysicalCores))
	w.dbl(w.gauge("system.cpu.load_average.1m", "{thread}"), h.load1)
	w.dbl(w.gauge("system.cpu.load_average.5m", "{thread}"), h.load5)
	w.dbl(w.gauge("system.cpu.load_average.15m", "{thread}"), h.load15)

	used := h.memTotal * h.memUsed
	rest := h.memTotal - used
	// Four states adding up to the total, as the agent reports them.
	mem := [...]struct {
		state string
		v     float64
	}{
		{"used", used}, {"free", rest * 0.4}, {"buffered", rest * 0.05}, {"cached", rest * 0.55},
	}
	dps = w.sum("system.memory.usage", "By", false)
	for _, m := range mem {
		w.int(dps, int64(m.v), "state", m.state)
	}
	dps = w.gauge("system.memory.utilization", "1")
	for _, m := range mem {
		w.dbl(dps, m.v/h.memTotal, "state", m.state)
	}
	w.int(w.sum("system.memory.limit", "By", false), int64(h.memTotal))
	w.int(w.sum("system.linux.memory.available", "By", false), int64(rest*0.9))
	// The agent always reports swap usage (zeros without swap) and its
	// utilization only when there is swap.
	dps = w.sum("system.paging.usage", "By", false)
	w.int(dps, int64(h.swap*h.swapUsed), "state", "used")
	w.int(dps, int64(h.swap*(1-h.swapUsed)), "state", "free")
	if h.swap > 0 {
		dps = w.gauge("system.paging.utilization", "1")
		w.dbl(dps, h.swapUsed, "state", "used")
		w.dbl(dps, 1-h.swapUsed, "state", "free")
	}

	dps = w.sum("system.filesystem.usage", "By", false)
	for _, fs := range h.fss {
		reserved := fs.total * 0.05
		free := math.Max(0, fs.total-fs.used-reserved)
		w.int(dps, int64(fs.used), "device", fs.device, "mode", "rw", "mountpoint", fs.mount, "type", fs.fstype, "state", "used")
		w.int(dps, int64(free), "device", fs.device, "mode", "rw", "mountpoint", fs.mount, "type", fs.fstype, "state", "free")
		w.int(dps, int64(reserved), "device", fs.device, "mode", "rw", "mountpoint", fs.mount, "type", fs.fstype, "state", "reserved")
	}
	dps = w.gauge("system.filesystem.utilization", "1")
	for _, fs := range h.fss {
		w.dbl(dps, fs.used/fs.total, "device", fs.device, "mode", "rw", "mountpoint", fs.mount, "type", fs.fstype)
	}

	io := w.sum("system.disk.io", "By", true)
	ops := w.sum("system.disk.operations", "{operation}", true)
	iot := w.sum("system.disk.io_time", "s", true)
	opt := w.sum("system.disk.operation_time", "s", true)
	mrg := w.sum("system.disk.merged", "{operation}", true)
	pend := w.sum("system.disk.pending_operations", "{operation}", false)
	for _, d := range h.disks {
		w.int(io, int64(d.readBytes), "device", d.device, "direction", "read")
		w.int(io, int64(d.writeBytes), "device", d.device, "direction", "write")
		w.int(ops, int64(d.readOps), "device", d.device, "direction", "read")
		w.int(ops, int64(d.writeOps), "device", d.device, "direction", "write")
		w.dbl(iot, d.ioTime, "device", d.device)
		w.dbl(opt, d.readTime, "device", d.device, "direction", "read")
		w.dbl(opt, d.writeTime, "device", d.device, "direction", "write")
		w.int(mrg, int64(d.readOps*0.1), "device", d.device, "direction", "read")
		w.int(mrg, int64(d.writeOps*0.3), "device", d.device, "direction", "write")
		w.int(pend, int64(h.rng.IntN(1+int(h.load*8))), "device", d.device)
	}

	nio := w.sum("system.network.io", "By", true)
	npk := w.sum("system.network.packets", "{packet}", true)
	ner := w.sum("system.network.errors", "{error}", true)
	ndr := w.sum("system.network.dropped", "{packet}", true)
	for _, n := range h.nics {
		w.int(nio, int64(n.rxB), "device", n.device, "direction", "receive")
		w.int(nio, int64(n.txB), "device", n.device, "direction", "transmit")
		w.int(npk, int64(n.rxP), "device", n.device, "direction", "receive")
		w.int(npk, int64(n.txP), "device", n.device, "direction", "transmit")
		w.int(ner, int64(n.rxErr), "device", n.device, "direction", "receive")
		w.int(ner, int64(n.txErr), "device", n.device, "direction", "transmit")
		w.int(ndr, int64(n.rxDrop), "device", n.device, "direction", "receive")
		w.int(ndr, int64(n.txDrop), "device", n.device, "direction", "transmit")
	}

	running := int64(math.Max(1, math.Round(h.load1/2)))
	blocked := int64(h.rng.IntN(2))
	if h.load > 0.9 {
		blocked += int64(h.rng.IntN(4))
	}
	w.dbl(w.gauge("system.uptime", "s"), now.Sub(h.boot).Seconds())

	zombies := int64(h.idx % 7 / 6)
	var idle int64
	for i := range h.procs {
		if h.procs[i].cmd == "" {
			idle++ // kernel threads, as in the process list
		}
	}
	counts := [len(processStatuses)]int64{
		running, max(0, int64(len(h.procs))-running-blocked-zombies-idle), blocked, 0, zombies, idle, 0,
	}
	dps = w.sum("system.processes.count", "{process}", false)
	for i, st := range processStatuses {
		w.int(dps, counts[i], "status", st)
	}
	return md
}

type metricWriter struct {
	ms         pmetric.MetricSlice
	start, now pcommon.Timestamp
}

func (w metricWriter) sum(name, unit string, monotonic bool) pmetric.NumberDataPointSlice {
	m := w.ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	s := m.SetEmptySum()
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	s.SetIsMonotonic(monotonic)
	return s.DataPoints()
}

func (w metricWriter) gauge(name, unit string) pmetric.NumberDataPointSlice {
	m := w.ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	return m.SetEmptyGauge().DataPoints()
}

func (w metricWriter) point(dps pmetric.NumberDataPointSlice, kv []string) pmetric.NumberDataPoint {
	dp := dps.AppendEmpty()
	dp.SetStartTimestamp(w.start)
	dp.SetTimestamp(w.now)
	if len(kv) > 0 {
		a := dp.Attributes()
		a.EnsureCapacity(len(kv) / 2)
		for i := 0; i+1 < len(kv); i += 2 {
			a.PutStr(kv[i], kv[i+1])
		}
	}
	return dp
}

func (w metricWriter) dbl(dps pmetric.NumberDataPointSlice, v float64, kv ...string) {
	w.point(dps, kv).SetDoubleValue(v)
}

func (w metricWriter) int(dps pmetric.NumberDataPointSlice, v int64, kv ...string) {
	w.point(dps, kv).SetIntValue(v)
}

// runHosts drives the hosts owned by worker w (every Connections-th host).
// Each host reports at its own offset within the interval, so 2,000 hosts
// make a steady stream instead of a thundering herd every 5 s.
func (r *runner) runHosts(f *fleet, w int) {
	cfg := r.cfg
	conn := r.conns[w]
	metrics := pmetricotlp.NewGRPCClient(conn)
	agent := agentpb.NewAgentServiceClient(conn)
	bo := &backoff{rng: rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(w)+101))}
	var mine []*simHost
	for i := w; i < len(f.hosts); i += cfg.Connections {
		mine = append(mine, f.hosts[i])
	}
	if len(mine) == 0 {
		return
	}
	procBuf := make([]agentpb.Process, cfg.Processes)
	procPtr := make([]*agentpb.Process, cfg.Processes)
	for i := range procBuf {
		procPtr[i] = &procBuf[i]
	}
	for cycle := 0; ; cycle++ {
		for _, h := range mine {
			due := r.start.Add(h.offset + time.Duration(cycle)*cfg.Interval)
			if !sleepCtx(r.stop, time.Until(due)) {
				return
			}
			if !r.reportHost(h, metrics, agent, bo, procBuf, procPtr) {
				return
			}
		}
	}
}

// reportHost sends one interval's worth for h: registration and inventory
// the first time, then metrics and the process list.
func (r *runner) reportHost(h *simHost, metrics pmetricotlp.GRPCClient, agent agentpb.AgentServiceClient,
	bo *backoff, procBuf []agentpb.Process, procPtr []*agentpb.Process) bool {
	now := time.Now()
	if !h.registered && !r.noAgentProto.Load() {
		err := r.call(func(ctx context.Context) error {
			_, err := agent.Register(ctx, &agentpb.RegisterRequest{Agent: h.ident, Inventory: h.inv})
			return err
		})
		if err != nil && !r.agentProtoMissing(err) {
			return r.handleErr("register", err, bo)
		}
		h.registered = err == nil
	}
	h.tick(now)
	md := h.metrics(now)
	points := uint64(md.DataPointCount())
	req := pmetricotlp.NewExportRequestFromMetrics(md)
	var resp pmetricotlp.ExportResponse
	err := r.call(func(ctx context.Context) error {
		var err error
		resp, err = metrics.Export(ctx, req)
		return err
	})
	if err != nil {
		return r.handleErr("metrics", err, bo)
	}
	if rej := resp.PartialSuccess().RejectedDataPoints(); rej > 0 {
		r.count.errors.Add(1)
		points -= min(points, uint64(rej))
	}
	r.count.metricPoints.Add(points)

	if r.noAgentProto.Load() {
		bo.reset()
		return true
	}
	snaps := make([]*agentpb.Snapshot, 0, 2)
	ts := now.UnixNano()
	if now.Sub(h.invSent) >= inventoryEvery {
		snaps = append(snaps, &agentpb.Snapshot{TimeUnixNano: ts, Type: wire.SnapshotInventory,
			Body: &agentpb.Snapshot_Inventory{Inventory: h.inv}})
	}
	n := h.fillProcesses(procBuf)
	snaps = append(snaps, &agentpb.Snapshot{TimeUnixNano: ts, Type: wire.SnapshotProcessList,
		Body: &agentpb.Snapshot_ProcessList{ProcessList: &agentpb.ProcessList{Processes: procPtr[:n]}}})
	var presp *agentpb.PushResponse
	err = r.call(func(ctx context.Context) error {
		var err error
		presp, err = agent.Push(ctx, &agentpb.PushRequest{Agent: h.ident, Snapshots: snaps})
		return err
	})
	if err != nil {
		if r.agentProtoMissing(err) {
			return true
		}
		return r.handleErr("push", err, bo)
	}
	// Count what the server did not reject: a server that leaves Accepted
	// unset still acknowledged the whole push by answering OK.
	rej := uint64(min(presp.GetRejected(), uint32(len(snaps))))
	if rej > 0 {
		r.count.errors.Add(1)
	}
	r.count.snapshots.Add(uint64(len(snaps)) - rej)
	if len(snaps) == 2 {
		h.invSent = now
	}
	bo.reset()
	return true
}

// agentProtoMissing recognises a plain OTLP receiver (an OpenTelemetry
// Collector, say) that does not speak the Osprey agent protocol: hosts then
// keep sending metrics instead of failing on every interval.
func (r *runner) agentProtoMissing(err error) bool {
	if status.Code(err) != codes.Unimplemented {
		return false
	}
	if r.noAgentProto.CompareAndSwap(false, true) {
		r.log.Warn("server does not implement the Osprey agent protocol; sending host metrics only", "err", err)
	}
	return true
}
