//go:build !linux

package host

import (
	"context"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// statusOrder lists the system.processes.count states always reported.
var statusOrder = []string{"running", "sleeping", "blocked", "stopped", "zombies", "idle", "unknown"}

type procPrev struct {
	create int64
	cpu    float64
	rd, wr uint64
	seen   uint32
}

type procStatic struct {
	create  int64
	cmdline string
	user    string
}

// procScanner is the portable process walk through gopsutil. It is
// slower than the Linux /proc reader but keeps other systems working.
type procScanner struct {
	static   map[int32]*procStatic
	prev     map[int32]*procPrev
	gen      uint32
	lastScan time.Time
	counts   map[string]int
}

func newProcScanner(uint64) *procScanner {
	return &procScanner{static: map[int32]*procStatic{}, prev: map[int32]*procPrev{}, counts: map[string]int{}}
}

func (s *procScanner) scan(now time.Time, memTotal uint64) ([]*agentpb.Process, map[string]int) {
	ctx := context.Background()
	for k := range s.counts {
		delete(s.counts, k)
	}
	procs, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, s.counts
	}
	s.gen++
	dt := now.Sub(s.lastScan).Seconds()
	s.lastScan = now
	list := make([]*agentpb.Process, 0, len(procs))
	for _, pr := range procs {
		create, err := pr.CreateTimeWithContext(ctx)
		if err != nil {
			continue
		}
		p := &agentpb.Process{Pid: pr.Pid, CreateTimeUnixMs: create}
		p.Ppid, _ = pr.PpidWithContext(ctx)
		p.Name, _ = pr.NameWithContext(ctx)
		st := s.static[pr.Pid]
		if st == nil || st.create != create {
			st = &procStatic{create: create}
			st.cmdline, _ = pr.CmdlineWithContext(ctx)
			st.user, _ = pr.UsernameWithContext(ctx)
			s.static[pr.Pid] = st
		}
		p.Cmdline, p.User = st.cmdline, st.user
		state := "unknown"
		if ss, err := pr.StatusWithContext(ctx); err == nil && len(ss) > 0 {
			switch ss[0] {
			case process.Running:
				state = "running"
			case process.Sleep:
				state = "sleeping"
			case process.Stop:
				state = "stopped"
			case process.Idle:
				state = "idle"
			case process.Zombie:
				state = "zombie"
			case process.Wait, process.Lock:
				state = "blocked"
			}
		}
		p.State = state
		if state == "zombie" {
			s.counts["zombies"]++
		} else {
			s.counts[state]++
		}
		if mi, err := pr.MemoryInfoWithContext(ctx); err == nil {
			p.RssBytes, p.VmsBytes = mi.RSS, mi.VMS
			if memTotal > 0 {
				p.MemoryPercent = float64(mi.RSS) * 100 / float64(memTotal)
			}
		}
		if n, err := pr.NumThreadsWithContext(ctx); err == nil {
			p.Threads = n
		}
		var cpuSec float64
		if t, err := pr.TimesWithContext(ctx); err == nil {
			cpuSec = t.User + t.System
		}
		var rd, wr uint64
		if io, err := pr.IOCountersWithContext(ctx); err == nil {
			rd, wr = io.ReadBytes, io.WriteBytes
		}
		if pv := s.prev[pr.Pid]; pv != nil && pv.create == create && dt > 0 {
			p.CpuPercent = max(cpuSec-pv.cpu, 0) / dt * 100
			p.ReadBytesPerSec = float64(rd-min(rd, pv.rd)) / dt
			p.WriteBytesPerSec = float64(wr-min(wr, pv.wr)) / dt
		}
		s.prev[pr.Pid] = &procPrev{create: create, cpu: cpuSec, rd: rd, wr: wr, seen: s.gen}
		if n, err := pr.NumFDsWithContext(ctx); err == nil {
			p.OpenFds = n
		}
		list = append(list, p)
	}
	for pid, pv := range s.prev {
		if pv.seen != s.gen {
			delete(s.prev, pid)
			delete(s.static, pid)
		}
	}
	return list, s.counts
}
