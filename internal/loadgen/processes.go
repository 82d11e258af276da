package loadgen

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// procTmpl describes a kind of process; count copies are started, the
// first one being the parent of the others when children is set.
type procTmpl struct {
	name, cmd, user string
	weight          float64 // CPU share relative to other processes
	rssMB           float64
	threads         int32
	fds             int32
	io              float64 // bytes/s at full host load
	count           int     // 0 = one per core (capped)
	children        bool
	spiky           bool
}

func roleProcesses(role hostRole) []procTmpl {
	switch role {
	case roleWeb:
		return []procTmpl{
			{name: "nginx", cmd: "nginx: master process /usr/sbin/nginx -g daemon on; master_process on;", user: "root", weight: 0.2, rssMB: 12, threads: 1, fds: 40, count: 1, children: true},
			{name: "nginx", cmd: "nginx: worker process", user: "www-data", weight: 6, rssMB: 48, threads: 1, fds: 2000, io: 2e6, count: 0, spiky: true},
			{name: "node", cmd: "node /srv/web/server.js --port 3000", user: "app", weight: 20, rssMB: 380, threads: 11, fds: 300, io: 5e5, count: 2, spiky: true},
			{name: "php-fpm8.2", cmd: "php-fpm: pool www", user: "www-data", weight: 3, rssMB: 60, threads: 1, fds: 30, count: 6},
		}
	case roleApp:
		return []procTmpl{
			{name: "java", cmd: "/usr/lib/jvm/java-21-openjdk/bin/java -Xms2g -Xmx4g -XX:+UseG1GC -javaagent:/opt/otel/opentelemetry-javaagent.jar -Dotel.service.name=order-api -jar /opt/order-api/order-api.jar --spring.profiles.active=prod", user: "app", weight: 60, rssMB: 2900, threads: 180, fds: 900, io: 3e6, count: 1, spiky: true},
			{name: "java", cmd: "/usr/lib/jvm/java-17-openjdk/bin/java -Xmx1g -jar /opt/user-service/user-service.jar", user: "app", weight: 15, rssMB: 1100, threads: 90, fds: 400, io: 1e6, count: 1},
			{name: "python3", cmd: "/opt/catalog/venv/bin/python3 /opt/catalog/venv/bin/gunicorn -w 4 -b 0.0.0.0:8000 catalog.wsgi", user: "app", weight: 8, rssMB: 140, threads: 3, fds: 60, count: 4},
		}
	case roleDB:
		return []procTmpl{
			{name: "postgres", cmd: "/usr/lib/postgresql/16/bin/postgres -D /data/postgresql/16/main -c config_file=/etc/postgresql/16/main/postgresql.conf", user: "postgres", weight: 1, rssMB: 220, threads: 1, fds: 80, io: 1e6, count: 1, children: true},
			{name: "postgres", cmd: "postgres: 16/main: checkpointer", user: "postgres", weight: 1, rssMB: 150, threads: 1, fds: 20, io: 20e6, count: 1, spiky: true},
			{name: "postgres", cmd: "postgres: 16/main: background writer", user: "postgres", weight: 0.5, rssMB: 120, threads: 1, fds: 20, io: 5e6, count: 1},
			{name: "postgres", cmd: "postgres: 16/main: walwriter", user: "postgres", weight: 0.5, rssMB: 30, threads: 1, fds: 20, io: 8e6, count: 1},
			{name: "postgres", cmd: "postgres: 16/main: autovacuum launcher", user: "postgres", weight: 0.2, rssMB: 25, threads: 1, fds: 20, count: 1},
			{name: "postgres", cmd: "postgres: 16/main: app orders 10.0.1.", user: "postgres", weight: 8, rssMB: 90, threads: 1, fds: 40, io: 2e6, count: 24, spiky: true},
			{name: "mysqld", cmd: "/usr/sbin/mysqld --defaults-file=/etc/mysql/my.cnf --datadir=/data/mysql", user: "mysql", weight: 70, rssMB: 6000, threads: 120, fds: 3000, io: 40e6, count: 1, spiky: true},
		}
	case roleCache:
		return []procTmpl{
			{name: "redis-server", cmd: "/usr/bin/redis-server 0.0.0.0:6379", user: "redis", weight: 30, rssMB: 2400, threads: 6, fds: 5000, io: 1e5, count: 1},
			{name: "memcached", cmd: "/usr/bin/memcached -m 1024 -p 11211 -u memcache -l 0.0.0.0", user: "memcache", weight: 10, rssMB: 900, threads: 10, fds: 800, count: 1},
		}
	case roleBatch:
		return []procTmpl{
			{name: "python3", cmd: "/usr/bin/python3 /opt/etl/worker.py --queue jobs --concurrency 4", user: "etl", weight: 25, rssMB: 700, threads: 8, fds: 50, io: 30e6, count: 4, spiky: true},
			{name: "java", cmd: "/usr/lib/jvm/java-17-openjdk/bin/java -Xmx8g -cp /opt/spark/jars/* org.apache.spark.deploy.worker.Worker spark://batch-master:7077", user: "spark", weight: 40, rssMB: 5200, threads: 140, fds: 1200, io: 50e6, count: 1, spiky: true},
		}
	default: // roleK8s
		return []procTmpl{
			{name: "kubelet", cmd: "/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --container-runtime-endpoint=unix:///run/containerd/containerd.sock", user: "root", weight: 6, rssMB: 120, threads: 30, fds: 90, io: 1e5, count: 1},
			{name: "containerd-shim", cmd: "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -address /run/containerd/containerd.sock", user: "root", weight: 0.2, rssMB: 14, threads: 12, fds: 20, count: 10},
			{name: "pause", cmd: "/pause", user: "65535", weight: 0, rssMB: 1, threads: 1, fds: 5, count: 10},
			{name: "java", cmd: "java -XX:MaxRAMPercentage=75 -javaagent:/otel/opentelemetry-javaagent.jar -jar /app/app.jar", user: "1000", weight: 35, rssMB: 1600, threads: 120, fds: 500, io: 1e6, count: 2, spiky: true},
			{name: "node", cmd: "node --max-old-space-size=512 /app/dist/main.js", user: "1000", weight: 12, rssMB: 260, threads: 11, fds: 120, count: 3},
			{name: "kube-proxy", cmd: "/usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/config.conf", user: "root", weight: 1, rssMB: 50, threads: 10, fds: 30, count: 1},
		}
	}
}

// systemProcesses are on every Linux box; kernel threads pad the list up
// to the configured size, as they do on real hosts.
var systemProcesses = []procTmpl{
	{name: "systemd", cmd: "/sbin/init", user: "root", weight: 0.1, rssMB: 12, threads: 1, fds: 120, count: 1},
	{name: "osprey-agent", cmd: "/usr/local/bin/osprey-agent --config /etc/osprey/agent.yaml", user: "osprey", weight: 0.3, rssMB: 24, threads: 9, fds: 20, count: 1},
	{name: "systemd-journald", cmd: "/lib/systemd/systemd-journald", user: "root", weight: 0.2, rssMB: 40, threads: 1, fds: 60, io: 2e5, count: 1},
	{name: "systemd-udevd", cmd: "/lib/systemd/systemd-udevd", user: "root", weight: 0, rssMB: 8, threads: 1, fds: 15, count: 1},
	{name: "systemd-logind", cmd: "/lib/systemd/systemd-logind", user: "root", weight: 0, rssMB: 7, threads: 1, fds: 20, count: 1},
	{name: "dbus-daemon", cmd: "/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only", user: "messagebus", weight: 0, rssMB: 5, threads: 1, fds: 20, count: 1},
	{name: "sshd", cmd: "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups", user: "root", weight: 0, rssMB: 8, threads: 1, fds: 8, count: 1},
	{name: "cron", cmd: "/usr/sbin/cron -f", user: "root", weight: 0, rssMB: 3, threads: 1, fds: 7, count: 1},
	{name: "rsyslogd", cmd: "/usr/sbin/rsyslogd -n -iNONE", user: "syslog", weight: 0.1, rssMB: 6, threads: 4, fds: 12, io: 5e4, count: 1},
	{name: "chronyd", cmd: "/usr/sbin/chronyd -F 1", user: "_chrony", weight: 0, rssMB: 3, threads: 1, fds: 6, count: 1},
	{name: "containerd", cmd: "/usr/bin/containerd", user: "root", weight: 0.3, rssMB: 48, threads: 14, fds: 60, count: 1},
	{name: "node_exporter", cmd: "/usr/local/bin/node_exporter --collector.systemd", user: "prometheus", weight: 0.1, rssMB: 20, threads: 6, fds: 10, count: 1},
	{name: "sshd", cmd: "sshd: ops@pts/0", user: "ops", weight: 0, rssMB: 6, threads: 1, fds: 10, count: 1},
	{name: "bash", cmd: "-bash", user: "ops", weight: 0, rssMB: 5, threads: 1, fds: 4, count: 1},
	{name: "agetty", cmd: "/sbin/agetty -o -p -- \\u --noclear tty1 linux", user: "root", weight: 0, rssMB: 2, threads: 1, fds: 5, count: 1},
}

func buildProcesses(rng *rand.Rand, role hostRole, cores int, memTotal float64, limit int, boot time.Time) []procState {
	procs := make([]procState, 0, limit)
	pid := int32(1)
	add := func(t procTmpl, ppid int32, cmd string) int32 {
		if len(procs) >= limit {
			return 0
		}
		p := procState{
			pid: pid, ppid: ppid, name: t.name, cmd: cmd, user: t.user,
			weight: t.weight * (0.5 + rng.Float64()), threads: t.threads, fds: t.fds, io: t.io, cpuSpiky: t.spiky,
			rss:       math.Min(t.rssMB*(1<<20)*(0.7+0.6*rng.Float64()), memTotal*0.4),
			vmsFactor: 1.5 + 3*rng.Float64(),
			createdMs: boot.Add(time.Duration(pid) * 20 * time.Millisecond).UnixMilli(),
		}
		if t.weight >= 5 {
			// Long-running services restarted at some point since boot.
			p.createdMs = boot.Add(time.Duration(rng.Int64N(int64(time.Since(boot)/2) + 1))).UnixMilli()
		}
		procs = append(procs, p)
		pid++
		if pid < 300 {
			pid += int32(rng.IntN(3))
		} else {
			pid += int32(1 + rng.IntN(40))
		}
		return p.pid
	}
	add(systemProcesses[0], 0, systemProcesses[0].cmd)
	kthreadd := add(procTmpl{name: "kthreadd", user: "root", threads: 1}, 0, "")
	for _, t := range systemProcesses[1:] {
		add(t, 1, t.cmd)
	}
	masters := map[string]int32{}
	for _, t := range roleProcesses(role) {
		n := t.count
		if n == 0 {
			n = min(cores, 16)
		}
		parent := int32(1)
		if m, ok := masters[t.name]; ok {
			parent = m
		}
		for range n {
			cmd := t.cmd
			if len(cmd) > 0 && cmd[len(cmd)-1] == '.' {
				// Connection backends carry their client address, which
				// is what makes them distinguishable in a process list.
				cmd += strconv.Itoa(10+rng.IntN(200)) + "(" + strconv.Itoa(40000+rng.IntN(20000)) + ") " +
					[]string{"idle", "idle", "SELECT", "idle in transaction", "UPDATE"}[rng.IntN(5)]
			}
			if p := add(t, parent, cmd); t.children && p != 0 {
				masters[t.name] = p
			}
		}
	}
	// Kernel threads: no cmdline, no memory, named like the real ones.
	for c := 0; len(procs) < limit; c++ {
		var name string
		switch c % 4 {
		case 0:
			name = "kworker/" + strconv.Itoa(c/4%cores) + ":" + strconv.Itoa(c/4/cores) + "-events"
		case 1:
			name = "ksoftirqd/" + strconv.Itoa(c/4%cores)
		case 2:
			name = "migration/" + strconv.Itoa(c/4%cores)
		default:
			name = "kworker/u" + strconv.Itoa(2*cores) + ":" + strconv.Itoa(c/4)
		}
		add(procTmpl{name: name, user: "root", threads: 1, weight: 0.01}, kthreadd, "")
	}
	return procs
}

// tickProcesses spreads the host's current CPU use over its processes by
// weight, so that the process list agrees with the host metrics.
func (h *simHost) tickProcesses() {
	var total float64
	for i := range h.procs {
		total += h.procs[i].weight
	}
	if total == 0 {
		return
	}
	busy := h.load * float64(h.cores) * 100 * 0.9 // percent of one core
	for i := range h.procs {
		p := &h.procs[i]
		share := p.weight / total
		noise := 0.7 + 0.6*h.rng.Float64()
		if p.cpuSpiky && h.rng.Float64() < 0.05 {
			noise *= 3
		}
		p.cpu = math.Min(busy*share*noise, float64(max(1, int(p.threads)))*100)
		if p.weight >= 5 {
			p.rss = math.Max(p.rss*(0.995+0.01*h.rng.Float64()), 1<<20)
		}
	}
}

// fillProcesses writes the process list into buf, reused between hosts of
// one worker so that a 2,000-host fleet does not allocate 300,000 messages
// every interval.
func (h *simHost) fillProcesses(buf []agentpb.Process) int {
	n := min(len(buf), len(h.procs))
	for i := range n {
		p := &h.procs[i]
		q := &buf[i]
		io := p.io * (0.05 + h.load) * (0.5 + h.rng.Float64())
		// The agent's state names (it maps /proc's letters to these).
		state := "sleeping"
		switch {
		case p.cmd == "":
			state = "idle" // kernel threads
		case p.cpu > 50:
			state = "running"
		case p.io > 1e7 && h.rng.Float64() < 0.2:
			state = "blocked"
		}
		// Field by field, not a struct literal: the message carries
		// internal state that must not be copied.
		q.Pid, q.Ppid, q.Name, q.Cmdline, q.User, q.State = p.pid, p.ppid, p.name, p.cmd, p.user, state
		q.CpuPercent = math.Round(p.cpu*10) / 10
		q.RssBytes = uint64(p.rss)
		q.VmsBytes = uint64(p.rss * p.vmsFactor)
		q.MemoryPercent = math.Round(p.rss/h.memTotal*1000) / 10
		q.ReadBytesPerSec = math.Round(io * 0.4)
		q.WriteBytesPerSec = math.Round(io * 0.6)
		q.Threads, q.OpenFds, q.CreateTimeUnixMs = p.threads, p.fds, p.createdMs
	}
	return n
}
