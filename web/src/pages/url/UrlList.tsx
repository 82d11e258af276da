// URL checks: every check with its status, the latest run from each
// region (agent), uptime over 24 h, certificate expiry and a response-time
// sparkline; create, edit, pause and delete checks.
import { useMemo, useState } from 'react';
import * as API from '../../api';
import * as AA from '../../alertsApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { DataTable, type Column } from '../../components/Table';
import { int } from '../../format';
import { linkHandler, navigate, stepFor, useApp, useData, window_ } from '../../state';
import { errText } from '../alerts/ui';
import { CheckForm, blankCheck } from './CheckForm';
import { Sparkline, StatusPill, fmtMs, fmtUptime, tlsDays, uptimeClass } from './common';

interface Cause { failure: string; message: string; time: string }
interface Row extends AA.UrlCheckStatus { causes: Record<string, Cause>; spark: [number, number | null][]; worstMs: number | null; uptime: number | null; tls: number | null }

// listData loads the checks and, for regions whose latest run failed, the
// words of that failure (one event query for all of them).
async function listData(): Promise<{ checks: AA.UrlCheckStatus[]; causes: Map<string, Cause>; causeError?: string }> {
  const checks = await AA.urlChecks();
  const causes = new Map<string, Cause>();
  const down = checks.filter((c) => c.regions.some((r) => r.up === false));
  if (!down.length) return { checks, causes };
  const end = Date.now() / 1000;
  const back = Math.min(86400, Math.max(900, 3 * Math.max(...down.map((c) => c.intervalSeconds))));
  try {
    const page = await API.events({ type: 'url', start: Math.floor(end - back), end: Math.ceil(end), limit: 1000, fields: '_time,url.check.id,agent.id,url.failure,error.message' }, ['url.up=false']);
    for (const r of page.records) {
      const k = `${r['url.check.id']}/${r['agent.id']}`;
      if (!causes.has(k)) causes.set(k, { failure: r['url.failure'] || '', message: r['error.message'] || '', time: r._time });
    }
    return { checks, causes };
  } catch (e) {
    return { checks, causes, causeError: errText(e) };
  }
}

export default function UrlList() {
  const app = useApp();
  const [bump, setBump] = useState(0);
  const [q, setQ] = useState('');
  const [status, setStatus] = useState('all');
  const [editing, setEditing] = useState<{ id?: number; body: AA.UrlCheckBody } | null>(null);
  const [actionErr, setActionErr] = useState<string | null>(null);
  const [start, end] = window_(app.range, app.now);
  const { data, error } = useData(listData, [app.now, app.project, bump]);
  const step = stepFor(start, end, 60);
  // one query gives every check's sparkline (the slowest region per step)
  const spark = useData(() => API.queryRange(`max by (url_check_id) (max_over_time(osprey_url_duration_seconds[${Math.max(step, 60)}s])) * 1000`, start, end, step)
    .then((res) => new Map(res.map((s) => [s.metric.url_check_id, s.values.map(([t, v]): [number, number | null] => [t, v === 'NaN' ? null : Number(v)])]))),
  [app.now, app.project, app.range, bump]);

  const rows: Row[] = useMemo(() => (data?.checks || []).map((c) => {
    const causes: Record<string, Cause> = {};
    for (const r of c.regions) { const k = data!.causes.get(`${c.id}/${r.agentId}`); if (k) causes[r.agentId] = k; }
    const ms = c.regions.map((r) => r.totalMs).filter((v): v is number => v != null);
    const ups = c.regions.map((r) => r.uptime).filter((v): v is number => v != null);
    const tls = c.regions.map((r) => r.tlsExpiry).filter((v): v is number => !!v);
    return {
      ...c, causes, spark: spark.data?.get(String(c.id)) || [], worstMs: ms.length ? Math.max(...ms) : null,
      uptime: ups.length ? ups.reduce((a, b) => a + b, 0) / ups.length : null, tls: tls.length ? Math.min(...tls) : null,
    };
  }), [data, spark.data]);

  const shown = useMemo(() => {
    const t = q.trim().toLowerCase();
    return rows.filter((r) => (status === 'all' || r.status === status || (status === 'down' && r.status === 'partial')) &&
      (!t || r.name.toLowerCase().includes(t) || r.url.toLowerCase().includes(t) || r.regions.some((g) => g.agent.toLowerCase().includes(t))));
  }, [rows, q, status]);

  const counts = useMemo(() => {
    const n = { up: 0, down: 0, partial: 0, paused: 0, unknown: 0 } as Record<string, number>;
    for (const r of rows) n[r.status] = (n[r.status] || 0) + 1;
    return n;
  }, [rows]);
  const expiring = rows.filter((r) => r.tls && r.tls * 1000 - Date.now() < 14 * 86400000).length;

  const act = (p: Promise<unknown>) => { setActionErr(null); p.then(() => setBump((b) => b + 1), (e) => setActionErr(errText(e))); };
  const pause = (r: Row) => act(AA.updateCheck(r.id, { ...r, enabled: !r.enabled }));
  const remove = (r: Row) => { if (confirm(`Delete the URL check “${r.name}”? Its history stays until retention removes it.`)) act(AA.deleteCheck(r.id)); };

  const columns: Column<Row>[] = [
    { key: 'status', label: 'Status', value: (r) => ({ down: 0, partial: 1, unknown: 2, up: 3, paused: 4 } as Record<string, number>)[r.status] ?? 5, render: (r) => <StatusPill status={r.status} testid="url-status" /> },
    {
      key: 'name', label: 'Name', value: (r) => r.name,
      render: (r) => <a href={`/url/${r.id}`} onClick={(e) => { e.stopPropagation(); linkHandler(`/url/${r.id}`)(e); }} data-testid="url-name" data-check={r.name}><b>{r.name}</b></a>,
    },
    { key: 'url', label: 'URL', value: (r) => r.url, className: 'ellipsis ua-url-td', render: (r) => <span className="mono ua-url-cell" title={`${r.method} ${r.url} every ${r.intervalSeconds} s`}><span className="ua-method">{r.method}</span> {r.url}</span> },
    { key: 'regions', label: 'Regions · latest run', value: (r) => r.worstMs, render: (r) => <Regions r={r} /> },
    { key: 'code', label: 'Code', right: true, value: (r) => r.regions[0]?.statusCode, render: (r) => <Codes r={r} /> },
    { key: 'uptime', label: 'Uptime 24 h', right: true, value: (r) => r.uptime, render: (r) => <span className={uptimeClass(r.uptime)}>{fmtUptime(r.uptime)}</span> },
    {
      key: 'tls', label: <span title="days until the certificate expires">TLS</span>, right: true, value: (r) => r.tls,
      render: (r) => { const d = tlsDays(r.tls); return d ? <span className={d.cls} title={d.title}>{d.text}</span> : <span className="muted" title={r.url.startsWith('https') ? 'no certificate seen yet' : 'plain HTTP'}>–</span>; },
    },
    {
      key: 'spark', label: 'Response time', value: (r) => r.worstMs,
      render: (r) => <span className="ua-spark-cell"><Sparkline points={r.spark} start={start} end={end} width={100} label={`response time of ${r.name}`} /></span>,
    },
    {
      key: 'actions', label: <span className="ua-sr-only">Actions</span>,
      render: (r) => (
        <span className="ua-row-actions" onClick={(e) => e.stopPropagation()}>
          <button className="btn ua-xs" onClick={() => pause(r)} data-testid="url-pause">{r.enabled ? 'Pause' : 'Resume'}</button>
          <button className="btn ua-xs" onClick={() => setEditing({ id: r.id, body: AA.checkBody(r) })} data-testid="url-edit">Edit</button>
          <button className="btn ua-xs ua-danger" onClick={() => remove(r)} data-testid="url-delete" aria-label={`Delete ${r.name}`}>Delete</button>
        </span>
      ),
    },
  ];

  return (
    <div className="page" data-testid="url-list">
      <div className="page-head">
        <div>
          <h1>URL checks</h1>
          <p className="muted">HTTP(S) checks run by your agents; each agent is a region with its own result.</p>
        </div>
        <div className="page-actions"><button className="btn primary" onClick={() => setEditing({ body: blankCheck() })} data-testid="url-new">+ New check</button></div>
      </div>
      <ErrorBanner error={error || actionErr} />
      {data && rows.length > 0 && (
        <div className="kpis" data-testid="url-summary">
          <Kpi label="Checks" value={int(rows.length)} />
          <Kpi label="Up" value={int(counts.up)} cls={counts.up ? 'ok' : ''} />
          <Kpi label="Down" value={int(counts.down + counts.partial)} cls={counts.down + counts.partial ? 'crit' : ''} sub={counts.partial ? `${counts.partial} partly` : ''} />
          <Kpi label="Paused / no data" value={`${int(counts.paused)} / ${int(counts.unknown)}`} />
          <Kpi label="Certificates < 14 d" value={int(expiring)} cls={expiring ? 'warn' : ''} />
        </div>
      )}
      {data && rows.length === 0 ? (
        <div className="empty-state" data-testid="url-empty">
          <div className="empty-illustration" aria-hidden="true"><Icon name="url" size={56} /></div>
          <h2>No URL checks in project “{app.project}” yet</h2>
          <p>A check requests a URL on a schedule from one or more agents and records whether it answered as expected, how long each part took (DNS, connect, TLS, first byte) and when its certificate expires.</p>
          <p><button className="btn primary" onClick={() => setEditing({ body: blankCheck() })}>+ Create the first check</button></p>
        </div>
      ) : (
        <section className="panel">
          <div className="panel-head">
            <div className="toolbar" style={{ margin: 0 }}>
              <span className="search"><Icon name="search" size={14} /><input placeholder="Filter by name, URL, region" value={q} onChange={(e) => setQ(e.target.value)} aria-label="Filter checks" /></span>
              <select value={status} onChange={(e) => setStatus(e.target.value)} aria-label="Status">
                <option value="all">All states</option><option value="down">Down</option><option value="up">Up</option><option value="paused">Paused</option><option value="unknown">No data</option>
              </select>
            </div>
            <span className="muted small">{data ? `${int(shown.length)} shown` : 'Loading…'}{data?.causeError ? ` · failure details unavailable: ${data.causeError}` : ''}</span>
          </div>
          <DataTable rows={shown} columns={columns} initialSort={{ key: 'status', desc: false }} rowKey={(r) => String(r.id)} testid="url-table"
            maxHeight={Math.max(400, window.innerHeight - 260)} onRowClick={(r) => navigate(`/url/${r.id}`)}
            empty={<div className="panel-empty">{data ? 'No check matches this filter.' : 'Loading…'}</div>} />
        </section>
      )}
      {editing && <CheckForm initial={editing.body} id={editing.id} onClose={() => setEditing(null)}
        onSaved={() => { setEditing(null); setBump((b) => b + 1); }} />}
    </div>
  );
}

function Kpi({ label, value, cls = '', sub }: { label: string; value: string; cls?: string; sub?: string }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className={'stat-value ' + cls} style={{ fontSize: 20 }}>{value}</div>
      {sub && <div className="stat-sub muted">{sub}</div>}
    </div>
  );
}

function Regions({ r }: { r: Row }) {
  if (!r.regions.length) return <span className="muted">{r.enabled ? 'waiting for the first run…' : 'paused'}</span>;
  return (
    <span className="ua-regions">
      {r.regions.map((g) => {
        const cause = r.causes[g.agentId];
        const st = g.up == null ? 'unknown' : g.up ? 'up' : 'down';
        return (
          <span key={g.agentId} className={'ua-region ' + st} data-testid="url-region" data-region={g.agent}
            title={`${g.agent}: ${st}${g.statusCode ? `, status ${g.statusCode}` : ''}, ${fmtMs(g.totalMs)}${cause ? `\n${cause.message}` : ''}`}>
            <i className="ua-rdot" />{g.agent} <b data-testid="url-ms">{fmtMs(g.totalMs)}</b>
            {st === 'down' && <span className="crit ua-cause" data-testid="url-cause">{cause ? cause.message || cause.failure : g.statusCode ? `status ${g.statusCode}` : 'failed'}</span>}
          </span>
        );
      })}
    </span>
  );
}

function Codes({ r }: { r: Row }) {
  const codes = [...new Set(r.regions.map((g) => g.statusCode).filter((c): c is number => !!c))];
  if (!codes.length) return <span className="muted">–</span>;
  return <>{codes.map((c, i) => <span key={c} className={c >= 500 ? 'crit' : c >= 400 ? 'warn' : ''}>{i ? ', ' : ''}{c}</span>)}</>;
}
