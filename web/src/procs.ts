import type * as API from './api';

// Proc is a process-list entry with numbers as numbers (the agent's JSON
// carries 64-bit integers as strings) and memory % filled in.
export type Proc = Required<Pick<API.Process, 'pid' | 'name'>> & { ppid: number; cmdline: string; user: string; state: string; cpu: number | null; rss: number | null; mem: number | null; rd: number | null; wr: number | null; threads: number | null; fds: number | null };
const n = (v: unknown) => (v == null || v === '' ? null : Number(v));
export function normalize(p: API.Process, memTotal: number): Proc {
  const rss = n(p.rssBytes ?? p.rss_bytes);
  const mem = n(p.memoryPercent ?? p.memory_percent);
  return {
    pid: Number(p.pid), ppid: Number(p.ppid || 0), name: p.name || '', cmdline: p.cmdline || '', user: p.user || '', state: p.state || '',
    cpu: n(p.cpuPercent ?? p.cpu_percent) ?? 0, rss, mem: mem || (rss != null && memTotal ? (rss / memTotal) * 100 : mem),
    rd: n(p.readBytesPerSec ?? p.read_bytes_per_sec), wr: n(p.writeBytesPerSec ?? p.write_bytes_per_sec), threads: n(p.threads), fds: n(p.openFds ?? p.open_fds),
  };
}
