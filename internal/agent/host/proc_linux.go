//go:build linux

package host

import (
	"bytes"
	"encoding/binary"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// The kernel reports /proc times in USER_HZ, which is 100 on every
// architecture Linux exports to user space (sysconf(_SC_CLK_TCK) is
// hard-wired to it).
const clkTck = 100

// Cached per pid+start time, refreshed now and then because a process may
// rewrite its title or drop privileges after it starts.
const staticTTL = time.Minute

type procStatic struct {
	start   uint64 // start time in clock ticks since boot; pid reuse check
	name    string
	cmdline string
	user    string
	fetched time.Time
}

type procPrev struct {
	start   uint64
	ticks   uint64
	rd, wr  uint64
	seen    uint32 // scan generation, to forget exited processes
	hasPrev bool
}

// procScanner walks /proc. It reuses its buffers and Process structs from
// cycle to cycle: the list it returns is valid until the next scan.
type procScanner struct {
	root     string
	bootTime uint64
	pageSize uint64
	buf      []byte
	dirBuf   []byte
	pids     []int32
	static   map[int32]*procStatic
	prev     map[int32]*procPrev
	users    map[uint32]string
	gen      uint32
	lastScan time.Time
	pool     []agentpb.Process
	list     []*agentpb.Process
	counts   map[string]int
}

func newProcScanner(bootTime uint64) *procScanner {
	return &procScanner{
		root:     "/proc",
		bootTime: bootTime,
		pageSize: uint64(syscall.Getpagesize()),
		buf:      make([]byte, 0, 4096),
		dirBuf:   make([]byte, 8192),
		static:   map[int32]*procStatic{},
		prev:     map[int32]*procPrev{},
		users:    map[uint32]string{},
		counts:   map[string]int{},
	}
}

// readFile reads a small /proc file into the scanner's buffer with raw
// syscalls (no os.File, no allocation beyond the path).
func (s *procScanner) readFile(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	b := s.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := syscall.Read(fd, b[len(b):cap(b)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
	}
	s.buf = b
	return b, nil
}

// listPids reads /proc's numeric entries with getdents into s.pids.
func (s *procScanner) listPids() error {
	fd, err := syscall.Open(s.root, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	s.pids = s.pids[:0]
	for {
		n, err := syscall.ReadDirent(fd, s.dirBuf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		forEachDirent(s.dirBuf[:n], func(name []byte) {
			if pid, ok := atoiBytes(name); ok {
				s.pids = append(s.pids, int32(pid))
			}
		})
	}
}

// countFds counts a process's open fds. Linux 6.2+ reports the count as
// the size of /proc/PID/fd, one stat instead of a directory walk; older
// kernels report 0 and we count the entries.
func (s *procScanner) countFds(path string) int32 {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0
	}
	if st.Size > 0 {
		return int32(st.Size)
	}
	return s.countDir(path)
}

// countDir counts entries of a directory without building names.
func (s *procScanner) countDir(path string) int32 {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0
	}
	defer syscall.Close(fd)
	var c int32
	for {
		n, err := syscall.ReadDirent(fd, s.dirBuf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return c
		}
		forEachDirent(s.dirBuf[:n], func(name []byte) {
			if !(len(name) == 1 && name[0] == '.') && !(len(name) == 2 && name[0] == '.' && name[1] == '.') {
				c++
			}
		})
	}
}

// forEachDirent walks linux_dirent64 records: ino u64, off i64, reclen u16,
// type u8, then the NUL-terminated name.
func forEachDirent(b []byte, fn func(name []byte)) {
	for len(b) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			return
		}
		name := b[19:reclen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		fn(name)
		b = b[reclen:]
	}
}

func atoiBytes(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// fieldsAfter splits b on spaces into dst without allocating strings.
func fieldsAfter(b []byte, dst [][]byte) [][]byte {
	dst = dst[:0]
	for len(b) > 0 {
		for len(b) > 0 && (b[0] == ' ' || b[0] == '\n') {
			b = b[1:]
		}
		i := 0
		for i < len(b) && b[i] != ' ' && b[i] != '\n' {
			i++
		}
		if i > 0 {
			dst = append(dst, b[:i])
		}
		b = b[i:]
	}
	return dst
}

var stateNames = map[byte]string{
	'R': "running", 'S': "sleeping", 'D': "blocked", 'T': "stopped", 't': "stopped",
	'Z': "zombie", 'I': "idle", 'W': "paging", 'X': "dead", 'P': "parked",
}

// statusOrder lists the system.processes.count states always reported.
var statusOrder = []string{"running", "sleeping", "blocked", "stopped", "zombies", "idle", "unknown"}

type statFields struct {
	name                 []byte
	state                byte
	ppid                 int32
	ticks                uint64
	threads              int32
	start, vsize, rssPgs uint64
}

func parseStat(b []byte, scratch [][]byte) (statFields, bool) {
	var f statFields
	open := bytes.IndexByte(b, '(')
	cl := bytes.LastIndexByte(b, ')')
	if open < 0 || cl < open || cl+2 > len(b) {
		return f, false
	}
	f.name = b[open+1 : cl]
	fs := fieldsAfter(b[cl+2:], scratch)
	// fs[0] is field 3 (state) of proc(5).
	if len(fs) < 22 || len(fs[0]) == 0 {
		return f, false
	}
	f.state = fs[0][0]
	ppid, _ := atoiBytes(fs[1])
	f.ppid = int32(ppid)
	ut, _ := atoiBytes(fs[11])
	st, _ := atoiBytes(fs[12])
	f.ticks = ut + st
	th, _ := atoiBytes(fs[17])
	f.threads = int32(th)
	f.start, _ = atoiBytes(fs[19])
	f.vsize, _ = atoiBytes(fs[20])
	f.rssPgs, _ = atoiBytes(fs[21])
	return f, true
}

// parseIO pulls read_bytes and write_bytes (storage I/O) from /proc/PID/io.
func parseIO(b []byte) (rd, wr uint64) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		line := b
		if i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("read_bytes: ")); ok {
			rd, _ = atoiBytes(v)
		} else if v, ok := bytes.CutPrefix(line, []byte("write_bytes: ")); ok {
			wr, _ = atoiBytes(v)
		}
	}
	return rd, wr
}

func (s *procScanner) userName(uid uint32) string {
	if n, ok := s.users[uid]; ok {
		return n
	}
	n := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	s.users[uid] = n
	return n
}

func (s *procScanner) loadStatic(dir string, st *statFields, now time.Time) *procStatic {
	ps := &procStatic{start: st.start, name: string(st.name), fetched: now}
	if b, err := s.readFile(dir + "/cmdline"); err == nil && len(b) > 0 {
		b = bytes.TrimRight(b, "\x00")
		for i := range b {
			if b[i] == 0 {
				b[i] = ' '
			}
		}
		ps.cmdline = string(b)
	} else {
		ps.cmdline = "[" + ps.name + "]" // kernel thread, as ps shows it
	}
	if b, err := s.readFile(dir + "/status"); err == nil {
		if i := bytes.Index(b, []byte("\nUid:")); i >= 0 {
			// "Uid:\treal\teffective\tsaved\tfs": the real uid, as ps shows.
			v := bytes.TrimLeft(b[i+5:], " \t")
			j := 0
			for j < len(v) && v[j] >= '0' && v[j] <= '9' {
				j++
			}
			if uid, ok := atoiBytes(v[:j]); ok {
				ps.user = s.userName(uint32(uid))
			}
		}
	}
	return ps
}

// scan reads every process once and returns the list (reused next cycle)
// and counts per status.
func (s *procScanner) scan(now time.Time, memTotal uint64) ([]*agentpb.Process, map[string]int) {
	for k := range s.counts {
		delete(s.counts, k)
	}
	if err := s.listPids(); err != nil {
		return nil, s.counts
	}
	s.gen++
	dt := now.Sub(s.lastScan).Seconds()
	first := s.lastScan.IsZero()
	s.lastScan = now
	if cap(s.pool) < len(s.pids) {
		s.pool = make([]agentpb.Process, len(s.pids)+len(s.pids)/4)
	}
	s.list = s.list[:0]
	var scratch [64][]byte
	for _, pid := range s.pids {
		dir := s.root + "/" + strconv.FormatInt(int64(pid), 10)
		b, err := s.readFile(dir + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		st, ok := parseStat(b, scratch[:0])
		if !ok {
			continue
		}
		stName, ok := stateNames[st.state]
		if !ok {
			stName = "unknown"
		}
		// system.processes.count uses the hostmetrics status names.
		switch stName {
		case "zombie":
			s.counts["zombies"]++
		case "dead", "parked", "paging":
			s.counts["unknown"]++
		default:
			s.counts[stName]++
		}

		ps := s.static[pid]
		if ps == nil || ps.start != st.start || now.Sub(ps.fetched) > staticTTL {
			ps = s.loadStatic(dir, &st, now)
			s.static[pid] = ps
		}
		var rd, wr uint64
		if b, err := s.readFile(dir + "/io"); err == nil {
			rd, wr = parseIO(b)
		}

		p := &s.pool[len(s.list)]
		*p = agentpb.Process{
			Pid:              pid,
			Ppid:             st.ppid,
			Name:             ps.name,
			Cmdline:          ps.cmdline,
			User:             ps.user,
			State:            stName,
			RssBytes:         st.rssPgs * s.pageSize,
			VmsBytes:         st.vsize,
			Threads:          st.threads,
			CreateTimeUnixMs: int64(s.bootTime*1000 + st.start*1000/clkTck),
			OpenFds:          s.countFds(dir + "/fd"),
		}
		if memTotal > 0 {
			p.MemoryPercent = float64(p.RssBytes) * 100 / float64(memTotal)
		}
		pv := s.prev[pid]
		if pv == nil {
			pv = &procPrev{}
			s.prev[pid] = pv
		}
		if pv.hasPrev && pv.start == st.start && dt > 0 {
			p.CpuPercent = float64(st.ticks-min(st.ticks, pv.ticks)) / clkTck / dt * 100
			p.ReadBytesPerSec = float64(rd-min(rd, pv.rd)) / dt
			p.WriteBytesPerSec = float64(wr-min(wr, pv.wr)) / dt
		} else if !first {
			// Started since the last scan: everything it did, it did
			// within this interval.
			if life := now.Sub(time.UnixMilli(p.CreateTimeUnixMs)).Seconds(); life > 0 && life <= dt+1 {
				p.CpuPercent = float64(st.ticks) / clkTck / life * 100
				p.ReadBytesPerSec = float64(rd) / life
				p.WriteBytesPerSec = float64(wr) / life
			}
		}
		*pv = procPrev{start: st.start, ticks: st.ticks, rd: rd, wr: wr, seen: s.gen, hasPrev: true}
		s.list = append(s.list, p)
	}
	for pid, pv := range s.prev {
		if pv.seen != s.gen {
			delete(s.prev, pid)
			delete(s.static, pid)
		}
	}
	return s.list, s.counts
}
