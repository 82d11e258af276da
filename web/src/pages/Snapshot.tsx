import { useMemo } from 'react';
import * as API from '../api';
import { Icon } from '../components/Icon';
import { ErrorBanner, Panel } from '../components/Panel';
import { bytes, dateTime, int, level, num, pct, rate } from '../format';
import { linkHandler, useApp, useData } from '../state';
import { normalize, type Proc } from '../procs';

export default function Snapshot({ id, time }: { id: string; time: string }) {
  const app = useApp();
  const snap = useData(() => API.snapshot(id, time), [id, time, app.project]);
  const srv = useData(() => API.server(id).catch((e) => { if (e instanceof API.ApiError && e.status === 404) return null; throw e; }), [id, app.project]);
  const s = snap.data;
  const mem = srv.data?.memoryBytes || 0;
  const back = `/servers/${encodeURIComponent(id)}`;
  const [cpu, memory, io] = useMemo(() => [s?.topCpu, s?.topMemory, s?.topIo].map((l) => (l || []).map((p) => normalize(p, mem))), [s, mem]);
  const states = s?.connections?.states || [];
  const maxState = Math.max(1, ...states.map((c) => c.count));
  return (
    <div className="page" data-testid="snapshot">
      <a className="back" href={back} onClick={linkHandler(back)}><Icon name="back" size={14} /> {srv.data?.name || 'Server'}</a>
      <div className="page-head">
        <div>
          <div className="detail-head"><Icon name="camera" size={18} /><h1>Load snapshot</h1><span className="badge past">{dateTime(time)}</span></div>
          <p className="muted">What <b>{srv.data?.name || id}</b> was doing when it crossed its threshold.</p>
        </div>
      </div>
      <ErrorBanner error={snap.error} />
      {s && (
        <>
          <div className="kpis">
            <div className="stat" style={{ gridColumn: 'span 2' }}>
              <div className="stat-label">Reason</div>
              <div className="reason" data-testid="snapshot-reason">{s.reason}</div>
              <div className="stat-sub muted">{s.intervals ? `${s.intervals} consecutive intervals above the threshold` : ''}</div>
            </div>
            <div className="stat"><div className="stat-label">CPU</div><div className={'stat-value ' + level(s.cpuPercent)}>{pct(s.cpuPercent)}</div><div className="stat-sub muted">threshold {pct(s.cpuThresholdPercent, 0)}</div></div>
            <div className="stat"><div className="stat-label">Memory</div><div className={'stat-value ' + level(s.memoryPercent)}>{pct(s.memoryPercent)}</div><div className="stat-sub muted">threshold {pct(s.memoryThresholdPercent, 0)}</div></div>
            <div className="stat"><div className="stat-label">Load 1 / 5 / 15</div><div className="stat-value" style={{ fontSize: 20 }}>{num(s.load1)} <small>/ {num(s.load5)} / {num(s.load15)}</small></div></div>
            <div className="stat"><div className="stat-label">Processes · connections</div><div className="stat-value" style={{ fontSize: 20 }}>{int(s.processCount)} <small>· {int(s.connections?.total)}</small></div></div>
          </div>
          <div className="stack">
            <ProcTable title="Top processes by CPU" rows={cpu} testid="snap-top-cpu" />
            <ProcTable title="Top processes by memory" rows={memory} testid="snap-top-memory" />
            <ProcTable title="Top processes by disk IO" rows={io} testid="snap-top-io" />
          </div>
          <div className="grid-2">
            <Panel title="Connections by state" testid="snap-connections" extra={<span className="muted small">{int(s.connections?.total)} sockets</span>}>
                  {states.length === 0 ? <div className="panel-empty">None recorded.</div> : (
                    <div className="conn-bars">
                      {states.map((c) => <div key={c.key}><span className="mono">{c.key}</span><span className="topbar-track"><span className="topbar-fill" style={{ width: `${(c.count / maxState) * 100}%` }} /></span><b className="r">{int(c.count)}</b></div>)}
                    </div>
                  )}
            </Panel>
            <Panel title="Top remote addresses" testid="snap-remotes" extra={<span className="muted small">connections per address</span>}>
                  {(s.connections?.topRemoteAddresses || []).length === 0 ? <div className="panel-empty">None recorded.</div> : (
                    <table className="table compact"><tbody>
                      {s.connections.topRemoteAddresses.map((c) => <tr key={c.key}><td className="mono">{c.key}</td><td className="r">{int(c.count)}</td></tr>)}
                    </tbody></table>
                  )}
            </Panel>
          </div>
        </>
      )}
    </div>
  );
}

function ProcTable({ title, rows, testid }: { title: string; rows: Proc[]; testid: string }) {
  return (
    <Panel title={title} testid={testid}>
      {rows.length === 0 ? <div className="panel-empty">None recorded.</div> : (
        <table className="table compact fixed">
          <colgroup><col style={{ width: 80 }} /><col style={{ width: 240 }} /><col style={{ width: 110 }} /><col style={{ width: 80 }} /><col style={{ width: 100 }} /><col style={{ width: 100 }} /><col style={{ width: 100 }} /><col /></colgroup>
          <thead><tr><th className="r">PID</th><th>Name</th><th>User</th><th className="r">CPU %</th><th className="r">RSS</th><th className="r">Read/s</th><th className="r">Write/s</th><th>Command line</th></tr></thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.pid}>
                <td className="r">{p.pid}</td><td className="mono clip" title={p.name}><b>{p.name}</b></td><td>{p.user}</td>
                <td className="r"><span className={level(p.cpu, 50, 90)}>{num(p.cpu, 1)}</span></td>
                <td className="r">{bytes(p.rss)}</td><td className="r">{p.rd ? rate(p.rd) : '–'}</td><td className="r">{p.wr ? rate(p.wr) : '–'}</td>
                <td className="clip" title={p.cmdline}><span className="mono muted">{p.cmdline || `[${p.name}]`}</span></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Panel>
  );
}

