// One URL check: current result per region, uptime over the page's range,
// response time by region and by phase (drag to zoom), availability per
// region, and the run history with failures explained.
import { useEffect, useState } from 'react';
import * as API from '../../api';
import * as AA from '../../alertsApi';
import { TimeChart, type Series } from '../../components/Chart';
import { Icon } from '../../components/Icon';
import { ErrorBanner, Panel } from '../../components/Panel';
import { ago, bytes, dateTime, int } from '../../format';
import { linkHandler, navigate, stepFor, useApp, useData, window_ } from '../../state';
import { errText, useRangeInUrl } from '../alerts/ui';
import { CheckForm } from './CheckForm';
import { StatusPill, failureWords, fmtMs, fmtMsAxis, fmtUptime, tlsDays, uptimeClass } from './common';

const phaseColors: Record<string, string> = { dns: '--c5', connect: '--c2', tls: '--c4', first_byte: '--c1' };
const phaseNames: Record<string, string> = { dns: 'DNS', connect: 'Connect', tls: 'TLS', first_byte: 'First byte' };
const PAGE = 50;

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
const q = (s: string) => s.replace(/["\\]/g, '\\$&');

export default function UrlDetail({ id }: { id: string }) {
  const app = useApp();
  useRangeInUrl();
  const [start, end] = window_(app.range, app.now);
  const [region, setRegion] = useState(''); // agent id; '' = all regions
  const [editing, setEditing] = useState(false);
  const [bump, setBump] = useState(0);
  const [actionErr, setActionErr] = useState<string | null>(null);

  const list = useData(AA.urlChecks, [app.now, app.project, bump]);
  const check = list.data?.find((c) => String(c.id) === id);
  const interval = check?.intervalSeconds || 60;
  const step = stepFor(start, end, 120);
  const win = `${Math.max(step, Math.ceil(interval * 1.5))}s`;
  const sel = `url_check_id="${q(id)}"`;
  const rsel = region ? `${sel},osprey_agent_id="${q(region)}"` : sel;

  const uptime = useData(() => AA.checkUptime(id, start, end, region || undefined), [app.now, app.project, app.range, id, region]);
  const charts = useData(() => (!check ? Promise.resolve(undefined) : Promise.all([
    API.queryRange(`avg by (osprey_agent_name) (avg_over_time(osprey_url_duration_seconds{${sel}}[${win}])) * 1000`, start, end, step)
      .then((r) => r.map((s): Series => ({ name: s.metric.osprey_agent_name || 'region', data: withGaps(s.values, step) })).sort((a, b) => a.name.localeCompare(b.name))),
    API.queryRange(`avg by (phase) (avg_over_time(osprey_url_phase_duration_seconds{${rsel}}[${win}])) * 1000`, start, end, step)
      .then((r) => Object.keys(phaseColors).map((p) => r.find((s) => s.metric.phase === p)).filter((s): s is API.PromSeries => !!s)
        .map((s): Series => ({ name: phaseNames[s.metric.phase] || s.metric.phase, color: phaseColors[s.metric.phase], data: withGaps(s.values, step) }))),
    API.queryRange(`min by (osprey_agent_name) (min_over_time(osprey_url_up{${sel}}[${win}]))`, start, end, step)
      .then((r) => r.map((s) => ({ name: s.metric.osprey_agent_name || 'region', values: s.values })).sort((a, b) => a.name.localeCompare(b.name))),
  ])), [app.now, app.project, app.range, id, region, interval, !!check]);

  const range: [number, number] = [start, end];
  const zoom = (a: number, b: number) => app.setRange({ live: false, start: a, end: b });
  const act = (p: Promise<unknown>, then?: () => void) => { setActionErr(null); p.then(() => { setBump((b) => b + 1); then?.(); }, (e) => setActionErr(errText(e))); };

  if (list.data && !check) {
    return (
      <div className="page" data-testid="url-detail">
        <a className="back" href="/url" onClick={linkHandler('/url')}><Icon name="back" size={14} /> URL checks</a>
        <div className="error-banner">No URL check with id <code>{id}</code> in project {app.project}. It may have been deleted.</div>
      </div>
    );
  }
  const regions = check?.regions || [];
  return (
    <div className="page" data-testid="url-detail">
      <a className="back" href="/url" onClick={linkHandler('/url')}><Icon name="back" size={14} /> URL checks</a>
      <div className="page-head">
        <div>
          <div className="detail-head">
            <h1 data-testid="url-detail-name">{check?.name || '…'}</h1>
            {check && <StatusPill status={check.status} testid="url-detail-status" />}
          </div>
          {check && (
            <div className="facts">
              <span className="mono"><b>{check.method}</b> {check.url}</span>
              <span>Every <b>{check.intervalSeconds} s</b></span>
              <span>Timeout <b>{check.timeoutMs} ms</b></span>
              <span>Expects <b>{check.expectedStatus?.length ? check.expectedStatus.join(', ') : '200-399'}</b>{check.expectedBody && <> and body containing <b>“{check.expectedBody}”</b></>}</span>
              <span>From <b>{check.agents?.length ? `${check.agents.length} agent${check.agents.length > 1 ? 's' : ''}` : 'all host agents'}</b></span>
            </div>
          )}
        </div>
        {check && (
          <div className="page-actions">
            <a className="btn" href={`/alerts/rules?new=url&checkId=${check.id}`} onClick={linkHandler(`/alerts/rules?new=url&checkId=${check.id}`)} title="Create an alert rule for this check">Alert rule…</a>
            <button className="btn" onClick={() => setEditing(true)} data-testid="url-detail-edit">Edit</button>
            <button className="btn" onClick={() => act(AA.updateCheck(check.id, { ...check, enabled: !check.enabled }))}>{check.enabled ? 'Pause' : 'Resume'}</button>
            <button className="btn ua-danger" onClick={() => { if (confirm(`Delete the URL check “${check.name}”?`)) act(AA.deleteCheck(check.id), () => navigate('/url')); }}>Delete</button>
          </div>
        )}
      </div>
      <ErrorBanner error={list.error || actionErr} />

      <div className="kpis ua-url-kpis" data-testid="url-kpis">
        <div className="stat" data-testid="url-uptime">
          <div className="stat-label" title="over the selected time range">Uptime <span className="muted">· {region ? regions.find((r) => r.agentId === region)?.agent || 'region' : 'range'}</span></div>
          <div className={'stat-value ' + uptimeClass(uptime.data?.uptime)} style={{ fontSize: 22 }}>{uptime.data ? fmtUptime(uptime.data.uptime) : '…'}</div>
          <div className="stat-sub muted">{uptime.error ? uptime.error : uptime.data ? `${int(uptime.data.runs)} runs · ${int(uptime.data.failed)} failed` : ''}</div>
        </div>
        {regions.map((g) => {
          const t = tlsDays(g.tlsExpiry);
          const st = g.up == null ? 'unknown' : g.up ? 'up' : 'down';
          return (
            <button key={g.agentId} className={'stat ua-region-card' + (region === g.agentId ? ' on' : '')} onClick={() => setRegion(region === g.agentId ? '' : g.agentId)}
              title="Show this region only in the phases, uptime and history" data-testid="url-region-card" aria-pressed={region === g.agentId}>
              <div className="stat-label"><span className={'ua-region ' + st}><i className="ua-rdot" /></span>{g.agent}</div>
              <div className={'stat-value ' + (st === 'down' ? 'crit' : '')} style={{ fontSize: 20 }}>{st === 'down' ? 'Down' : fmtMs(g.totalMs)}</div>
              <div className="stat-sub muted">
                {g.statusCode ? <span>status {g.statusCode}</span> : null}
                <span className={uptimeClass(g.uptime)}>{fmtUptime(g.uptime)} 24 h</span>
                {t && <span className={t.cls} title={t.title}>TLS {t.text}</span>}
              </div>
            </button>
          );
        })}
        {check && regions.length === 0 && (
          <div className="stat"><div className="stat-label">Regions</div><div className="stat-sub muted" style={{ whiteSpace: 'normal', marginTop: 6 }}>
            {check.enabled ? 'No run reported yet. Agents fetch new checks within 30 s, then run them on the interval.' : 'The check is paused.'}</div></div>
        )}
      </div>

      <Availability rows={charts.data?.[2]} range={range} step={step} />

      <div className="charts">
        <Panel title="Response time by region" extra={<span className="muted small">{step > interval ? `average per ${step >= 60 ? `${step / 60} min` : `${step} s`} · ` : ''}drag to zoom</span>}>
          {charts.data && charts.data[0].length === 0 ? <div className="panel-empty chart-empty">No runs in this time range.</div> :
            <TimeChart series={charts.data?.[0] || []} range={range} fmt={fmtMsAxis} floor={10} onZoom={zoom} testid="chart-url-duration" />}
        </Panel>
        <Panel title={<>Time by phase <span className="muted">· {region ? regions.find((r) => r.agentId === region)?.agent : 'average of regions'}</span></>}
          extra={regions.length > 1 && (
            <select value={region} onChange={(e) => setRegion(e.target.value)} aria-label="Region">
              <option value="">All regions</option>{regions.map((g) => <option key={g.agentId} value={g.agentId}>{g.agent}</option>)}
            </select>)}>
          {charts.data && charts.data[1].length === 0 ? <div className="panel-empty chart-empty">No runs in this time range.</div> :
            <TimeChart series={charts.data?.[1] || []} range={range} fmt={fmtMsAxis} stack floor={10} onZoom={zoom} testid="chart-url-phases" />}
        </Panel>
      </div>
      {charts.error && <ErrorBanner error={`Charts: ${charts.error}`} />}

      <History id={id} region={region} regions={regions} setRegion={setRegion} start={start} end={end} />

      {editing && check && <CheckForm initial={AA.checkBody(check)} id={check.id} onClose={() => setEditing(false)} onSaved={() => { setEditing(false); setBump((b) => b + 1); }} />}
    </div>
  );
}

// Availability draws each region's up/down over the range as a strip.
function Availability({ rows, range, step }: { rows?: { name: string; values: [number, string][] }[]; range: [number, number]; step: number }) {
  if (!rows || rows.length === 0) return null;
  const span = range[1] - range[0];
  return (
    <section className="panel ua-avail" data-testid="url-availability" aria-label="Availability by region">
      {rows.map((r) => {
        const down = r.values.filter(([, v]) => v === '0').length;
        return (
          <div key={r.name} className="ua-avail-row">
            <span className="ua-avail-name" title={r.name}>{r.name}</span>
            <svg className="ua-avail-strip" viewBox={`0 0 ${span} 10`} preserveAspectRatio="none" role="img" aria-label={`${r.name}: ${down ? `down in ${down} of ${r.values.length} steps` : 'up all along'}`}>
              <rect x={0} y={0} width={span} height={10} className="ua-avail-none" />
              {r.values.map(([t, v]) => <rect key={t} x={Math.max(0, t - step - range[0])} y={0} width={step} height={10} className={v === '0' ? 'ua-avail-down' : 'ua-avail-up'} />)}
            </svg>
            <span className={'small ' + (down ? 'crit' : 'muted')}>{down ? `${Math.round((100 * down) / r.values.length)}% down` : 'up'}</span>
          </div>
        );
      })}
    </section>
  );
}

function History({ id, region, regions, setRegion, start, end }: {
  id: string; region: string; regions: AA.Region[]; setRegion(r: string): void; start: number; end: number;
}) {
  const app = useApp();
  const [failed, setFailed] = useState(false);
  const [cursors, setCursors] = useState<string[]>(['']); // page stack; last is current
  const cursor = cursors[cursors.length - 1];
  useEffect(() => setCursors(['']), [failed, region, app.range, app.project]);
  const page = useData(() => AA.checkHistory(id, { start, end, agent: region || undefined, failed, limit: PAGE, cursor: cursor || undefined }),
    [cursor ? 0 : app.now, app.range, app.project, failed, region, id, cursor]); // a later page stays put
  const runs = page.data?.runs || [];
  const n = (r: AA.Run, k: string) => (r[k] === undefined || r[k] === '' ? null : Number(r[k]));
  return (
    <Panel testid="url-history" title={<>Run history {cursors.length > 1 && <span className="muted">· page {cursors.length}</span>}</>}
      extra={
        <div className="at-bar">
          {regions.length > 1 && (
            <select value={region} onChange={(e) => setRegion(e.target.value)} aria-label="Region">
              <option value="">All regions</option>{regions.map((g) => <option key={g.agentId} value={g.agentId}>{g.agent}</option>)}
            </select>)}
          <label className="ua-check"><input type="checkbox" checked={failed} onChange={(e) => setFailed(e.target.checked)} data-testid="history-failed" /> Failures only</label>
          <button className="btn ua-xs" disabled={cursors.length < 2} onClick={() => setCursors((c) => c.slice(0, -1))} data-testid="history-newer">← Newer</button>
          <button className="btn ua-xs" disabled={!page.data?.nextCursor} onClick={() => setCursors((c) => [...c, page.data!.nextCursor])} data-testid="history-older">Older →</button>
        </div>}>
      <ErrorBanner error={page.error} />
      {page.data && runs.length === 0 ? (
        <div className="panel-empty">{failed ? 'No failed run in this time range.' : 'No run in this time range yet.'}</div>
      ) : (
        <div className="vtable" style={{ maxHeight: 620 }}>
          <table className="table compact" data-testid="history-table">
            <thead>
              <tr>
                <th>Time</th><th>Region</th><th>Result</th><th className="r">Status</th><th className="r">Total</th><th className="r">DNS</th><th className="r">Connect</th>
                <th className="r">TLS</th><th className="r">First byte</th><th className="r">Body</th><th>Peer</th><th>Cause</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r, i) => {
                const up = r['url.up'] === 'true';
                const code = n(r, 'http.response.status_code');
                return (
                  <tr key={r._time + (r['agent.id'] || '') + i} data-testid="history-row" className={up ? '' : 'ua-row-bad'}>
                    <td title={ago(r._time)}>{dateTime(r._time)}</td>
                    <td>{r['agent.name'] || r['agent.id'] || '–'}</td>
                    <td>{up ? <span className="ua-upill ua-upill-up">Up</span> : <span className="ua-upill ua-upill-down">Down</span>}</td>
                    <td className={'r ' + (code && code >= 500 ? 'crit' : code && code >= 400 ? 'warn' : '')}>{code ?? '–'}</td>
                    <td className="r"><b>{fmtMs(n(r, 'duration_ms'))}</b></td>
                    <td className="r muted">{fmtMs(n(r, 'url.dns_ms'))}</td>
                    <td className="r muted">{fmtMs(n(r, 'url.connect_ms'))}</td>
                    <td className="r muted">{fmtMs(n(r, 'url.tls_ms'))}</td>
                    <td className="r muted">{fmtMs(n(r, 'url.first_byte_ms'))}</td>
                    <td className="r muted">{bytes(n(r, 'url.body_bytes'))}</td>
                    <td className="muted mono">{r['network.peer.address'] || '–'}</td>
                    <td className="ua-cause-cell" data-testid={up ? undefined : 'history-cause'}>
                      {up ? <span className="muted">–</span> : <><b className="crit">{failureWords[r['url.failure']] || r['url.failure'] || 'Failed'}</b>{r['error.message'] ? <span title={r['error.message']}>: {r['error.message']}</span> : null}</>}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <div className="muted small" style={{ marginTop: 6 }}>
        {page.data ? `${int(runs.length)} run${runs.length === 1 ? '' : 's'} on this page, newest first` : page.loading ? 'Loading…' : ''}
        {page.data?.partial ? ' · partial: the store stopped early, narrow the range' : ''}
      </div>
    </Panel>
  );
}
