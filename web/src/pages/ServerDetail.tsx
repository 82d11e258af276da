import { useMemo, useState } from 'react';
import * as API from '../api';
import { TimeChart, type Series } from '../components/Chart';
import { Icon } from '../components/Icon';
import { ErrorBanner, Meter, Panel } from '../components/Panel';
import { DataTable, type Column } from '../components/Table';
import { ago, bytes, clock, dateTime, duration, int, level, num, pct, rate, toLocalInput } from '../format';
import { linkHandler, navigate, stepFor, useApp, useData, window_ } from '../state';
import { normalize, type Proc } from '../procs';

const fmtPct = (v: number) => `${v.toFixed(v < 10 ? 1 : 0)}%`;
const fmtNum = (v: number) => num(v);
const fmtBytes = (v: number) => bytes(v);
const fmtRate = (v: number) => rate(v);
const fmtInt = (v: number) => int(v);
const fmtPerSec = (v: number) => `${num(v)}/s`;
const fmtMs = (v: number) => `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`;

interface ChartDef { key: string; title: string; query(sel: string, w: string): string; name(m: Record<string, string>): string; fmt(v: number): string; stack?: boolean; max?: number; floor?: number; colors?: Record<string, string> }
// Fixed colours (and stacking order) for the well-known states.
const cpuColors = { user: '--c1', system: '--c4', iowait: '--c3', steal: '--crit', nice: '--c2', irq: '--c5', softirq: '--c6' };
const memColors = { used: '--c1', cached: '--c5', buffered: '--c4', free: '--c6' };
const swapColors = { used: '--c3', free: '--c6' };
const loadColors = { '1m': '--c1', '5m': '--c2', '15m': '--c3' };
const charts: ChartDef[] = [
  { key: 'cpu', title: 'CPU by state', query: (s) => `100 * sum by (state) (system_cpu_utilization_ratio{${s},cpu="",state!="idle"})`, name: (m) => m.state, fmt: fmtPct, stack: true, max: 100, colors: cpuColors },
  { key: 'cores', title: 'CPU per core (busy)', query: (s) => `100 * (1 - max by (cpu) (system_cpu_utilization_ratio{${s},cpu!="",state="idle"}))`, name: (m) => m.cpu, fmt: fmtPct, max: 100 },
  { key: 'load', title: 'Load average', query: (s) => `{__name__=~"system_cpu_load_average_(1m|5m|15m)",${s}}`, name: (m) => m.__name__.replace('system_cpu_load_average_', ''), fmt: fmtNum, floor: 1, colors: loadColors },
  { key: 'memory', title: 'Memory', query: (s) => `sum by (state) (system_memory_usage_bytes{${s}})`, name: (m) => m.state, fmt: fmtBytes, stack: true, floor: 1 << 20, colors: memColors },
  { key: 'swap', title: 'Swap', query: (s) => `sum by (state) (system_paging_usage_bytes{${s}})`, name: (m) => m.state, fmt: fmtBytes, stack: true, floor: 1 << 20, colors: swapColors },
  { key: 'disk', title: 'Disk usage per mount', query: (s) => `100 * max by (mountpoint) (system_filesystem_utilization_ratio{${s}})`, name: (m) => m.mountpoint, fmt: fmtPct, max: 100 },
  { key: 'diskio', title: 'Disk IO', query: (s, w) => `sum by (direction) (rate(system_disk_io_bytes_total{${s}}[${w}]))`, name: (m) => m.direction, fmt: fmtRate, floor: 1024 },
  { key: 'iops', title: 'Disk IOPS', query: (s, w) => `sum by (direction) (rate(system_disk_operations_total{${s}}[${w}]))`, name: (m) => m.direction, fmt: fmtPerSec, floor: 1 },
  { key: 'disklatency', title: 'Disk latency (per operation)', query: (s, w) => `1000 * sum by (direction) (rate(system_disk_operation_time_seconds_total{${s}}[${w}])) / sum by (direction) (rate(system_disk_operations_total{${s}}[${w}]))`, name: (m) => m.direction, fmt: fmtMs, floor: 1 },
  { key: 'diskbusy', title: 'Disk busy per device', query: (s, w) => `100 * max by (device) (rate(system_disk_io_time_seconds_total{${s}}[${w}]))`, name: (m) => m.device, fmt: fmtPct, max: 100 },
  { key: 'net', title: 'Network per interface', query: (s, w) => `sum by (device, direction) (rate(system_network_io_bytes_total{${s},device!="lo"}[${w}]))`, name: (m) => `${m.device} ${m.direction === 'receive' ? 'in' : m.direction === 'transmit' ? 'out' : m.direction}`, fmt: fmtRate, floor: 1024 },
  { key: 'packets', title: 'Packets per interface', query: (s, w) => `sum by (device, direction) (rate(system_network_packets_total{${s},device!="lo"}[${w}]))`, name: (m) => `${m.device} ${m.direction === 'receive' ? 'in' : m.direction === 'transmit' ? 'out' : m.direction}`, fmt: fmtPerSec, floor: 1 },
  { key: 'neterrors', title: 'Network errors and drops', query: (s, w) => `label_replace(sum by (device) (rate(system_network_errors_total{${s},device!="lo"}[${w}])), "kind", "errors", "", "") or label_replace(sum by (device) (rate(system_network_dropped_total{${s},device!="lo"}[${w}])), "kind", "drops", "", "")`, name: (m) => `${m.device} ${m.kind}`, fmt: fmtPerSec, floor: 1 },
  { key: 'procs', title: 'Processes', query: (s) => `sum by (status) (system_processes_count{${s}})`, name: (m) => m.status || 'processes', fmt: fmtInt, stack: true, floor: 5 },
];

// withGaps turns a Prometheus matrix row into chart points with a null where
// samples are missing (agent down), so lines break instead of bridging.
function withGaps(values: [number, string][], step: number): [number, number | null][] {
  const out: [number, number | null][] = [];
  let prev = 0;
  for (const [t, v] of values) {
    if (prev && t - prev > 2.5 * step) out.push([(prev + step) * 1000, null]);
    out.push([t * 1000, v === 'NaN' ? null : Number(v)]);
    prev = t;
  }
  return out;
}

export default function ServerDetail({ id }: { id: string }) {
  const app = useApp();
  const [start, end] = window_(app.range, app.now);
  const step = stepFor(start, end, 120);
  const win = `${Math.max(20, 2 * step)}s`;
  const sel = `osprey_agent_id="${id.replace(/["\\]/g, '\\$&')}"`;
  const [at, setAt] = useState<number | null>(null); // process list moment; null = latest
  const [tab, setTab] = useState<'procs' | 'snaps'>('procs');

  const srv = useData(() => API.server(id).catch((e) => { if (e instanceof API.ApiError && e.status === 404) return null; throw e; }), [app.now, app.project, id]);
  const series = useData(() => Promise.all(charts.map((c) =>
    API.queryRange(c.query(sel, win), start, end, step).then((res) => {
      const out = res.map((r): Series => {
        const name = c.name(r.metric) || c.title;
        return { name, color: c.colors?.[name as keyof typeof c.colors], data: withGaps(r.values, step) };
      });
      if (c.colors) { const keys = Object.keys(c.colors); const rank = (n: string) => { const i = keys.indexOf(n); return i < 0 ? 99 : i; }; out.sort((a, b) => rank(a.name) - rank(b.name)); }
      return out;
    }).catch(() => [] as Series[]))), [app.now, app.project, id, app.range]);

  const s = srv.data;
  const range: [number, number] = [start, end];
  const zoom = (a: number, b: number) => app.setRange({ live: false, start: a, end: b });
  return (
    <div className="page" data-testid="server-detail">
      <a className="back" href="/servers/list" onClick={linkHandler('/servers/list')}><Icon name="back" size={14} /> Servers</a>
      <div className="page-head">
        <div>
          <div className="detail-head">
            <h1 data-testid="server-name">{s?.name || (srv.loading ? '…' : id)}</h1>
            {s && <span className={'badge ' + (s.active ? 'live' : 'off')}>{s.active ? 'active' : 'inactive'}</span>}
            {s?.group && <span className="badge">{s.group}</span>}
            {s && Object.entries(s.labels || {}).map(([k, v]) => <span key={k} className="badge">{k}={v}</span>)}
          </div>
          {s && (
            <div className="facts">
              <span>OS <b>{s.platform ? `${s.platform} ${s.platformVersion}` : s.os}</b></span>
              <span>Kernel <b>{s.kernel || '–'}</b></span><span>Arch <b>{s.arch || '–'}</b></span>
              <span>Cores <b>{s.cores}</b></span><span>RAM <b>{bytes(s.memoryBytes)}</b></span>
              {s.bootTime && <span>Up <b>{duration((Date.now() - new Date(s.bootTime).getTime()) / 1000)}</b></span>}
              <span>Last report <b>{ago(s.lastSeen)}</b></span>
            </div>
          )}
        </div>
      </div>
      <ErrorBanner error={srv.error} />
      {!srv.loading && !s && !srv.error && <div className="error-banner">No server with id <code>{id}</code> in project {app.project}.</div>}
      {s && (
        <div className="kpis">
          <Kpi label="CPU" value={pct(s.cpu)} meter={s.cpu} />
          <Kpi label="Memory" value={pct(s.memory)} meter={s.memory} />
          <Kpi label="Disk (fullest mount)" value={pct(s.disk)} meter={s.disk} warn={80} />
          <Kpi label="Swap" value={pct(s.swap)} meter={s.swap} />
          <Kpi label="Load 1m" value={num(s.load1)} sub={s.cores ? `${num((s.load1 ?? 0) / s.cores)} per core` : ''} />
          <Kpi label="Network in / out" value={rate(s.netRx)} sub={`out ${rate(s.netTx)}`} />
          <Kpi label="Disk read / write" value={rate(s.diskRead)} sub={`write ${rate(s.diskWrite)}`} />
        </div>
      )}
      <div className="charts" data-testid="charts">
        {charts.map((c, i) => (
          <Panel key={c.key} title={c.title} extra={<span className="muted small">{c.key === 'cpu' ? 'click a moment to see its processes' : ''}</span>}>
            {series.data && series.data[i].length === 0 ? <div className="panel-empty chart-empty">No data in this time range.</div> :
              <TimeChart series={series.data?.[i] || []} range={range} fmt={c.fmt} stack={c.stack} max={c.max} floor={c.floor} marker={at}
                onZoom={zoom} onPick={(t) => { setAt(t); setTab('procs'); }} testid={`chart-${c.key}`} />}
          </Panel>
        ))}
      </div>
      <div className="tabs">
        <button className={tab === 'procs' ? 'on' : ''} onClick={() => setTab('procs')} data-testid="tab-processes">Processes</button>
        <button className={tab === 'snaps' ? 'on' : ''} onClick={() => setTab('snaps')} data-testid="tab-snapshots">Load snapshots</button>
      </div>
      {tab === 'procs' ? <Processes id={id} at={at} setAt={setAt} memTotal={s?.memoryBytes || 0} /> : <Snapshots id={id} range={range} />}
    </div>
  );
}

function Kpi({ label, value, meter, sub, warn = 70 }: { label: string; value: string; meter?: number | null; sub?: string; warn?: number }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className={'stat-value ' + (meter !== undefined ? level(meter, warn) : '')} style={{ fontSize: 20 }}>{value}</div>
      {meter !== undefined ? <Meter value={meter} warn={warn} /> : <div className="stat-sub muted">{sub}</div>}
    </div>
  );
}

const procCols: Column<Proc>[] = [
  { key: 'pid', label: 'PID', right: true, value: (p) => p.pid, render: (p) => p.pid },
  { key: 'name', label: 'Name', value: (p) => p.name, render: (p) => <b className="mono">{p.name}</b> },
  { key: 'user', label: 'User', value: (p) => p.user, render: (p) => p.user },
  { key: 'state', label: 'State', value: (p) => p.state, render: (p) => <span className="muted">{p.state}</span> },
  { key: 'cpu', label: 'CPU %', right: true, value: (p) => p.cpu, render: (p) => <span className={level(p.cpu, 50, 90)}>{num(p.cpu, 1)}</span> },
  { key: 'rss', label: 'Memory (RSS)', right: true, value: (p) => p.rss, render: (p) => bytes(p.rss) },
  { key: 'mem', label: 'Mem %', right: true, value: (p) => p.mem, render: (p) => num(p.mem, 1) },
  { key: 'rd', label: 'Read/s', right: true, value: (p) => p.rd, render: (p) => (p.rd ? rate(p.rd) : <span className="muted">–</span>) },
  { key: 'wr', label: 'Write/s', right: true, value: (p) => p.wr, render: (p) => (p.wr ? rate(p.wr) : <span className="muted">–</span>) },
  { key: 'threads', label: 'Threads', right: true, value: (p) => p.threads, render: (p) => int(p.threads) },
  { key: 'cmd', label: 'Command line', value: (p) => p.cmdline, render: (p) => <span className="mono cmdline" title={p.cmdline}>{p.cmdline || <span className="muted">[{p.name}]</span>}</span>, className: 'ellipsis' },
];

function Processes({ id, at, setAt, memTotal }: { id: string; at: number | null; setAt(t: number | null): void; memTotal: number }) {
  const app = useApp();
  const [q, setQ] = useState('');
  const { data, error, loading } = useData(() => API.processes(id, at ?? undefined).catch((e) => { if (e instanceof API.ApiError && e.status === 404) return { time: '', processes: [] }; throw e; }), at == null ? [app.now, id, app.project] : [at, id, app.project]);
  const rows = useMemo(() => {
    const list = (data?.processes || []).map((p) => normalize(p, memTotal));
    const t = q.trim().toLowerCase();
    return t ? list.filter((p) => p.name.toLowerCase().includes(t) || p.cmdline.toLowerCase().includes(t) || p.user.toLowerCase().includes(t) || String(p.pid) === t) : list;
  }, [data, q, memTotal]);
  const total = data?.processes?.length || 0;
  return (
    <Panel testid="processes" title={<>Processes {data?.time && <span className="muted" data-testid="process-time">· list of {dateTime(data.time)}</span>}</>}
      extra={
        <div className="at-bar">
          {at == null ? <span className="badge live">latest</span> : <span className="badge past" data-testid="process-past">at {clock(at * 1000)}</span>}
          <input type="datetime-local" step="1" aria-label="Process list at" data-testid="process-at"
            value={at == null ? '' : toLocalInput(at * 1000)}
            onChange={(e) => { const t = new Date(e.target.value).getTime(); if (Number.isFinite(t)) setAt(t / 1000); }} />
          {at != null && <button className="btn" onClick={() => setAt(null)} data-testid="process-live">Back to latest</button>}
          <span className="search"><Icon name="search" size={14} /><input placeholder="Search name, command, user, PID" value={q} onChange={(e) => setQ(e.target.value)} data-testid="process-search" /></span>
        </div>}>
      <ErrorBanner error={error} />
      {!error && !loading && total === 0 ? <div className="panel-empty">{at == null ? 'No process list received from this server yet.' : 'No process list at or before this moment.'}</div> : (
        <DataTable rows={rows} columns={procCols} initialSort={{ key: 'cpu', desc: true }} rowKey={(p) => String(p.pid)} maxHeight={560} testid="process-table"
          empty={<div className="panel-empty">No process matches “{q}”.</div>} />
      )}
      <div className="muted small" style={{ marginTop: 6 }}>{int(rows.length)} of {int(total)} processes · pick a past moment above or click a moment on any chart</div>
    </Panel>
  );
}

function Snapshots({ id, range }: { id: string; range: [number, number] }) {
  const app = useApp();
  const { data, error } = useData(() => API.snapshots(id, range[0], range[1]), [app.now, id, app.project, app.range]);
  const list = data || [];
  return (
    <Panel title="Load snapshots" testid="snapshots" extra={<span className="muted small">captured by the agent when a threshold is crossed</span>}>
      <ErrorBanner error={error} />
      {!error && data && list.length === 0 ? (
        <div className="panel-empty">No load snapshot in this time range. The agent takes one when the server crosses its load thresholds (<code>modules.host.load_snapshot</code> in the agent config).</div>
      ) : (
        <table className="table">
          <thead><tr><th>Time</th><th>Reason</th><th className="r">CPU</th><th className="r">Memory</th><th /></tr></thead>
          <tbody>
            {list.map((sn) => {
              const href = `/servers/${encodeURIComponent(id)}/snapshots/${encodeURIComponent(sn.time)}`;
              return (
                <tr key={sn.time} className="clickable" onClick={() => navigate(href)}>
                  <td>{dateTime(sn.time)}</td><td>{sn.reason}</td><td className="r">{pct(sn.cpu)}</td><td className="r">{pct(sn.memory)}</td>
                  <td className="r"><a href={href} onClick={linkHandler(href)} data-testid="snapshot-link">Open</a></td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Panel>
  );
}
