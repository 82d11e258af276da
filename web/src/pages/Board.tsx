import { useEffect, useMemo, useRef, useState } from 'react';
import * as API from '../api';
import { HeatLegend, HeatMap } from '../components/HeatMap';
import { ConnectAgent, ErrorBanner, Meter, Panel } from '../components/Panel';
import { bytes, clock, dateTime, int, level, pct, rate } from '../format';
import { boardData, boardFetchStart, boardPainted, resetBoardPerf } from '../perf';
import { linkHandler, navigate, stepFor, useApp, window_ } from '../state';

interface BoardData {
  overview: API.Overview;
  topCpu: API.TopServer[]; topMem: API.TopServer[]; topIO: API.TopServer[];
  procCpu: API.TopProcess[]; procMem: API.TopProcess[];
  map: API.CpuMap;
  alerts: Record<string, string>[];
  alertsError?: string;
}

export default function Board() {
  const app = useApp();
  const [data, setData] = useState<BoardData | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [sort, setSort] = useState<'busy' | 'name'>('busy');
  const [fit, setFit] = useState(() => localStorage.getItem('osprey.board.map') !== 'scroll');
  const [groupBy, setGroupBy] = useState<string>(() => localStorage.getItem('osprey.board.groupBy') || 'group');
  const dataMark = useRef<string | null>(null);
  const seq = useRef(0);

  useEffect(() => () => resetBoardPerf(), []);
  useEffect(() => { setData(null); }, [app.project]);

  useEffect(() => {
    const n = ++seq.current;
    const ctl = new AbortController();
    const [start, end] = window_(app.range, app.now);
    const fetchMark = boardFetchStart();
    Promise.all([
      API.overview(), API.topServers('cpu'), API.topServers('memory'), API.topServers('diskio'),
      API.topProcesses('cpu'), API.topProcesses('memory'),
      API.cpuMap(start, end, stepFor(start, end, 120), ctl.signal),
      API.events({ type: 'event', start: Math.floor(Math.min(start, end - 3600)), end: Math.ceil(end), limit: 50 }).then((p) => ({ rows: p.records, err: undefined }), (e) => ({ rows: [] as Record<string, string>[], err: String(e.message) })),
    ]).then(([overview, topCpu, topMem, topIO, procCpu, procMem, map, alerts]) => {
      if (n !== seq.current) return;
      dataMark.current = boardData(fetchMark);
      setData({ overview, topCpu, topMem, topIO, procCpu, procMem, map, alerts: alerts.rows, alertsError: alerts.err });
      setError(null);
    }, (e) => { if (n === seq.current && e.name !== 'AbortError') setError(String(e.message || e)); });
    return () => ctl.abort();
  }, [app.now, app.range, app.project]);

  const painted = () => { if (dataMark.current) { boardPainted(dataMark.current); dataMark.current = null; } };

  if (!data) {
    return <div className="page"><PageHead /><ErrorBanner error={error} />{!error && <div className="page-loading">Loading the resource board…</div>}</div>;
  }
  const o = data.overview;
  if (o.total === 0) {
    return <div className="page"><PageHead /><ErrorBanner error={error} /><ConnectAgent project={app.project} /></div>;
  }
  return (
    <div className="page board" data-testid="board">
      <PageHead updated={app.now} />
      <ErrorBanner error={error} />
      <div className="stats">
        <div className="stat" data-testid="stat-servers">
          <div className="stat-label">Servers</div>
          <div className="stat-value"><span data-testid="count-active">{int(o.active)}</span><small> / {int(o.total)}</small></div>
          <div className="stat-sub"><span className="ok-text">● {int(o.active)} active</span> <span className={o.inactive ? 'crit-text' : 'muted'}>● {int(o.inactive)} inactive</span></div>
        </div>
        <div className="stat">
          <div className="stat-label">Cores</div>
          <div className="stat-value">{int(o.cores)}</div>
          <div className="stat-sub muted">{o.activeCores != null ? `${int(o.activeCores)} on active servers` : 'logical cores'}</div>
        </div>
        <AvgMaxStat label="CPU" v={o.cpu} />
        <AvgMaxStat label="Memory" v={o.memory} />
        <AvgMaxStat label="Disk" v={o.disk} warn={80} />
        <div className="stat os">
          <div className="stat-label">Operating systems</div>
          <OsBar os={o.os} total={o.total} />
        </div>
      </div>

      <div className="grid-board">
        <Panel title="CPU resource map" testid="cpu-map-panel" className="span-map"
          extra={<>
            <span className="muted small">{int(data.map.servers.length)} servers × {data.map.times.length} intervals</span>
            <HeatLegend />
            <select value={sort} onChange={(e) => setSort(e.target.value as 'busy' | 'name')} aria-label="Sort servers">
              <option value="busy">Busiest first</option><option value="name">By name</option>
            </select>
            {data.map.servers.length > 90 && (
              <select value={fit ? 'fit' : 'scroll'} aria-label="Map rows" data-testid="map-mode"
                onChange={(e) => { setFit(e.target.value === 'fit'); localStorage.setItem('osprey.board.map', e.target.value); }}>
                <option value="fit">Whole fleet</option><option value="scroll">Row per server</option>
              </select>
            )}
          </>}>
          {data.map.servers.length ? (
            <HeatMap data={data.map} sort={sort} fit={fit} onPainted={painted}
              onOpen={(id) => navigate(`/servers/${encodeURIComponent(id)}`)}
              onZoom={(s, e) => app.setRange({ live: false, start: s, end: e })} />
          ) : <Painted onPainted={painted}><div className="panel-empty">No CPU data in this time range.</div></Painted>}
        </Panel>
        <Panel title="Alerts" className="span-alerts" testid="alerts" extra={<span className="muted small">{data.alerts.length ? `${data.alerts.length}${data.alerts.length >= 50 ? '+' : ''} · ` : ''}newest first</span>}>
          <AlertList rows={data.alerts} error={data.alertsError} />
        </Panel>
      </div>

      <div className="grid-3">
        <TopList title="Top 5 by CPU" rows={data.topCpu} fmt={(v) => pct(v)} bar testid="top-cpu" />
        <TopList title="Top 5 by memory" rows={data.topMem} fmt={(v) => pct(v)} bar testid="top-memory" />
        <TopList title="Top 5 by disk IO" rows={data.topIO} fmt={rate} testid="top-diskio" />
      </div>
      <div className="grid-2">
        <TopProcs title="Top 5 processes by CPU" rows={data.procCpu} fmt={(v) => pct(v)} testid="top-proc-cpu" />
        <TopProcs title="Top 5 processes by memory" rows={data.procMem} fmt={bytes} testid="top-proc-memory" />
      </div>
      <Groups o={o} groupBy={groupBy} setGroupBy={(g) => { setGroupBy(g); localStorage.setItem('osprey.board.groupBy', g); }} />
    </div>
  );
}

function Painted({ onPainted, children }: { onPainted(): void; children: React.ReactNode }) {
  useEffect(() => { requestAnimationFrame(() => setTimeout(onPainted, 0)); });
  return <>{children}</>;
}

function PageHead({ updated }: { updated?: number }) {
  return (
    <div className="page-head">
      <div>
        <h1>Server resource board</h1>
        <p className="muted">Every server of the project at a glance{updated ? ` · updated ${clock(updated)}` : ''}</p>
      </div>
      <div className="page-actions">
        <a className="btn" href="/servers/list" onClick={linkHandler('/servers/list')}>Server list</a>
      </div>
    </div>
  );
}

function AvgMaxStat({ label, v, warn = 70 }: { label: string; v: API.AvgMax; warn?: number }) {
  return (
    <div className="stat" data-testid={`stat-${label.toLowerCase()}`}>
      <div className="stat-label">{label} <span className="muted">avg / max</span></div>
      <div className="stat-value"><span className={level(v.avg, warn)}>{pct(v.avg)}</span><small> / <span className={level(v.max, warn)}>{pct(v.max, 0)}</span></small></div>
      <Meter value={v.avg} warn={warn} />
    </div>
  );
}

const osColors = ['var(--c1)', 'var(--c2)', 'var(--c3)', 'var(--c4)', 'var(--c5)', 'var(--c6)'];
function OsBar({ os, total }: { os: { name: string; count: number }[]; total: number }) {
  const shown = os.slice(0, 5);
  const rest = os.slice(5).reduce((a, b) => a + b.count, 0);
  const items = rest ? [...shown, { name: 'other', count: rest }] : shown;
  return (
    <div className="osbar">
      <div className="osbar-track">
        {items.map((x, i) => <span key={x.name} style={{ width: `${(x.count / Math.max(1, total)) * 100}%`, background: osColors[i % osColors.length] }} title={`${x.name}: ${x.count}`} />)}
      </div>
      <div className="osbar-legend">
        {items.map((x, i) => <span key={x.name}><i style={{ background: osColors[i % osColors.length] }} />{x.name} <b>{int(x.count)}</b></span>)}
      </div>
    </div>
  );
}

function TopList({ title, rows, fmt, bar, testid }: { title: string; rows: API.TopServer[]; fmt(v: number | null): string; bar?: boolean; testid: string }) {
  const max = Math.max(1e-9, ...rows.map((r) => r.value ?? 0));
  return (
    <Panel title={title} testid={testid}>
      {rows.length === 0 ? <div className="panel-empty">No active server reports this yet.</div> : (
        <ol className="toplist">
          {rows.map((r, i) => (
            <li key={r.id}>
              <span className="rank">{i + 1}</span>
              <a href={`/servers/${encodeURIComponent(r.id)}`} onClick={linkHandler(`/servers/${encodeURIComponent(r.id)}`)} className="name">{r.name}</a>
              <span className="topbar-track"><span className={'topbar-fill ' + (bar ? level(r.value) : 'ok')} style={{ width: `${((bar ? (r.value ?? 0) : (r.value ?? 0) / max * 100))}%` }} /></span>
              <span className="val">{fmt(r.value)}</span>
            </li>
          ))}
        </ol>
      )}
    </Panel>
  );
}

function TopProcs({ title, rows, fmt, testid }: { title: string; rows: API.TopProcess[]; fmt(v: number | null): string; testid: string }) {
  return (
    <Panel title={title} testid={testid}>
      {rows.length === 0 ? <div className="panel-empty">No process lists received yet.</div> : (
        <table className="table compact">
          <thead><tr><th>Process</th><th className="r">Max</th><th className="r">Avg</th><th className="r">Count</th><th className="r">Servers</th><th>Highest on</th></tr></thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.name}>
                <td className="mono">{r.name}</td><td className="r">{fmt(r.max)}</td><td className="r">{fmt(r.avg)}</td>
                <td className="r">{int(r.count)}</td><td className="r">{int(r.servers)}</td>
                <td className="ellipsis muted" title={r.hosts.join(', ')}>{r.hosts.slice(0, 3).join(', ')}{r.hosts.length > 3 ? ` +${r.hosts.length - 3}` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  );
}

function AlertList({ rows, error }: { rows: Record<string, string>[]; error?: string }) {
  if (error) return <div className="panel-empty">Alerts unavailable: {error}</div>;
  if (!rows.length) return <div className="panel-empty">No alerts in the last hour. Alert rules that fire or resolve, and load snapshots that agents take when a server crosses its CPU or memory threshold, appear here.</div>;
  return (
    <ul className="alerts">
      {rows.map((r, i) => {
        const id = r['agent.id'];
        const snap = r['snapshot.time'];
        const isAlert = r['event.kind'] === 'alert';
        const href = isAlert ? '/alerts' : id && snap ? `/servers/${encodeURIComponent(id)}/snapshots/${encodeURIComponent(snap)}` : id ? `/servers/${encodeURIComponent(id)}` : '';
        const sev = isAlert && r['alert.state'] === 'resolved' ? 'resolved' : r.severity || 'warning';
        const who = isAlert ? `${r['alert.state'] || 'alert'} · ${r['agent.name'] || r['alert.rule'] || ''}` : r['agent.name'] || id || 'unknown';
        return (
          <li key={r._time + i} className={'sev-' + sev}>
            <span className="sev-dot" />
            <div className="alert-main">
              <div className="alert-top"><b>{who}</b><span className="muted">{dateTime(r._time).slice(11)}</span></div>
              {href ? <a href={href} onClick={linkHandler(href)} className="alert-msg" data-testid="alert-link">{r._msg || r['event.kind']}</a> : <span className="alert-msg">{r._msg}</span>}
            </div>
          </li>
        );
      })}
    </ul>
  );
}

function Groups({ o, groupBy, setGroupBy }: { o: API.Overview; groupBy: string; setGroupBy(g: string): void }) {
  const keys = Object.keys(o.labelGroups || {}).sort();
  const by = groupBy === 'group' || keys.includes(groupBy) ? groupBy : 'group';
  const tiles = useMemo(() => {
    if (by === 'group') return o.groups.map((g) => ({ name: g.name || '(no group)', total: g.total, active: g.active, cpu: g.cpuAvg, q: `group=${encodeURIComponent(g.name)}` }));
    return (o.labelGroups[by] || []).map((g) => ({ name: g.value, total: g.total, active: g.active, cpu: undefined as number | null | undefined, q: `label=${encodeURIComponent(by + '=' + g.value)}` }));
  }, [o, by]);
  return (
    <Panel title="Servers by group" testid="groups" extra={
      <label className="small">Group by{' '}
        <select value={by} onChange={(e) => setGroupBy(e.target.value)} data-testid="group-by">
          <option value="group">agent group</option>
          {keys.map((k) => <option key={k} value={k}>label: {k}</option>)}
        </select>
      </label>}>
      <div className="group-tiles">
        {tiles.map((t) => (
          <a key={t.name} className="group-tile" href={`/servers/list?${t.q}`} onClick={linkHandler(`/servers/list?${t.q}`)}>
            <div className="group-name">{t.name}</div>
            <div className="group-count"><b>{t.active}</b><span className="muted"> / {t.total} active</span>{t.total > t.active && <span className="crit-text"> · {t.total - t.active} down</span>}</div>
            {t.cpu !== undefined && <div className="group-cpu"><span className="muted">CPU avg</span> <Meter value={t.cpu} /> <span className={level(t.cpu)}>{pct(t.cpu)}</span></div>}
          </a>
        ))}
      </div>
    </Panel>
  );
}

