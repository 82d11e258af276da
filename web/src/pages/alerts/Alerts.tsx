// Alerts: what is firing, pending or recently resolved now (acknowledge
// from here), and the alert history over the page's time range.
import { useMemo, useState } from 'react';
import * as AA from '../../alertsApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner, Panel } from '../../components/Panel';
import { ago, dateTime, int, num } from '../../format';
import { linkHandler, useApp, useData, window_ } from '../../state';
import { SevBadge, errText, quietLabels, useRangeInUrl } from './ui';

// Labels that identify an agent or series but say little to a reader;
// they stay in the tooltip.
const quiet = quietLabels;
const labelName = (k: string) => k.replace(/^osprey_agent_/, 'agent_').replace(/^url_check_/, 'check_');

export function LabelChips({ labels, max = 4 }: { labels: Record<string, string>; max?: number }) {
  const all = Object.entries(labels || {}).sort(([a], [b]) => a.localeCompare(b));
  const loud = all.filter(([k]) => !quiet.has(k));
  const shown = loud.slice(0, max);
  const title = all.map(([k, v]) => `${k}=${v}`).join('\n');
  if (!all.length) return <span className="muted">–</span>;
  return (
    <span className="ua-chips" title={title}>
      {shown.map(([k, v]) => <span key={k} className="ua-chip"><span className="muted">{labelName(k)}=</span>{v}</span>)}
      {all.length > shown.length && <span className="ua-chip more">+{all.length - shown.length}</span>}
    </span>
  );
}

const stateWords: Record<string, string> = { firing: 'Firing', pending: 'Pending', resolved: 'Resolved', acknowledged: 'Acknowledged' };
export const StatePill = ({ state }: { state: string }) => <span className={'ua-apill ua-apill-' + state} data-state={state}>{state === 'firing' ? 'Fired' : stateWords[state] || state}</span>;

export default function Alerts() {
  const app = useApp();
  useRangeInUrl();
  const [start, end] = window_(app.range, app.now);
  const [bump, setBump] = useState(0);
  const [show, setShow] = useState<'open' | 'firing' | 'pending' | 'resolved' | 'all'>('all');
  const [sev, setSev] = useState('');
  const [q, setQ] = useState('');
  const [rule, setRule] = useState(() => new URLSearchParams(location.search).get('rule') || '');
  const [actionErr, setActionErr] = useState<string | null>(null);
  const [acking, setAcking] = useState<string | null>(null);

  const active = useData(AA.alerts, [app.now, app.project, bump]);
  const rules = useData(AA.rules, [app.project]);
  const history = useData(() => AA.alertHistory({ start, end, rule: rule || undefined, limit: 1000 }), [app.now, app.project, app.range, rule, bump]);

  const list = active.data || [];
  const counts = useMemo(() => {
    const c = { firing: 0, pending: 0, resolved: 0, acked: 0 };
    for (const a of list) { c[a.status]++; if (a.status === 'firing' && a.ackedBy) c.acked++; }
    return c;
  }, [list]);
  const shown = useMemo(() => {
    const t = q.trim().toLowerCase();
    return list.filter((a) => (show === 'all' || (show === 'open' ? a.status !== 'resolved' : a.status === show)) && (!sev || a.severity === sev) &&
      (!t || a.ruleName.toLowerCase().includes(t) || a.summary.toLowerCase().includes(t) || Object.entries(a.labels || {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(t))));
  }, [list, show, sev, q]);

  const doAck = (a: AA.AlertState) => {
    setActionErr(null); setAcking(a.id);
    AA.ack(a.id).then(() => setBump((b) => b + 1), (e) => setActionErr(errText(e))).finally(() => setAcking(null));
  };

  const ruleOptions = useMemo(() => {
    const m = new Map<string, string>();
    for (const r of rules.data || []) m.set(String(r.id), r.name);
    for (const e of history.data?.events || []) if (e['alert.rule_id'] && !m.has(e['alert.rule_id'])) m.set(e['alert.rule_id'], e['alert.rule'] || `rule ${e['alert.rule_id']}`);
    return [...m.entries()].sort((a, b) => a[1].localeCompare(b[1]));
  }, [rules.data, history.data]);

  return (
    <div className="page" data-testid="alerts-page">
      <div className="page-head">
        <div>
          <h1>Alerts</h1>
          <p className="muted" data-testid="alert-counts">
            {active.data ? <><b className={counts.firing ? 'crit' : ''}>{int(counts.firing)} firing</b>{counts.acked ? ` (${counts.acked} acknowledged)` : ''} · {int(counts.pending)} pending · {int(counts.resolved)} recently resolved</> : 'Loading…'}
          </p>
        </div>
        <div className="page-actions">
          <a className="btn" href="/alerts/rules" onClick={linkHandler('/alerts/rules')}>Rules</a>
          <a className="btn" href="/alerts/channels" onClick={linkHandler('/alerts/channels')}>Channels</a>
          <a className="btn" href="/alerts/maintenance" onClick={linkHandler('/alerts/maintenance')}>Maintenance</a>
        </div>
      </div>
      <ErrorBanner error={active.error || actionErr} />

      <section className="panel" data-testid="alert-list" style={{ marginBottom: 10 }}>
        <div className="panel-head">
          <div className="toolbar" style={{ margin: 0 }}>
            <div className="seg" role="group" aria-label="Show">
              {(['all', 'open', 'firing', 'pending', 'resolved'] as const).map((s) => (
                <button key={s} className={show === s ? 'on' : ''} onClick={() => setShow(s)} aria-pressed={show === s}>
                  {s === 'all' ? 'All' : s === 'open' ? 'Open' : stateWords[s]}{s !== 'all' && s !== 'open' ? ` ${counts[s]}` : ''}
                </button>
              ))}
            </div>
            <select value={sev} onChange={(e) => setSev(e.target.value)} aria-label="Severity">
              <option value="">All severities</option>{AA.severities.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
            <span className="search"><Icon name="search" size={14} /><input placeholder="Filter by rule, summary, label" value={q} onChange={(e) => setQ(e.target.value)} aria-label="Filter alerts" /></span>
          </div>
          <span className="muted small">firing first · refreshes every 5 s</span>
        </div>
        {active.data && list.length === 0 ? (
          <div className="panel-empty" data-testid="alerts-empty">
            <b className="ok">All clear.</b> No alert is firing or pending{rules.data && rules.data.length === 0 ? <> — and no rule exists yet: <a href="/alerts/rules" onClick={linkHandler('/alerts/rules')}>create one</a>.</> : '.'}
          </div>
        ) : active.data && shown.length === 0 ? <div className="panel-empty">No alert matches this filter.</div> : (
          <div className="vtable" style={{ maxHeight: 520 }}>
            <table className="table ua-alert-table">
              <thead><tr><th>Severity</th><th>State</th><th>Alert</th><th className="r">Value</th><th>Since</th><th>Acknowledged</th><th><span className="ua-sr-only">Actions</span></th></tr></thead>
              <tbody>
                {shown.map((a) => (
                  <tr key={a.id} data-testid="alert-row" data-rule={a.ruleName} data-status={a.status} className={'ua-arow-' + a.status}>
                    <td><SevBadge severity={a.severity} /></td>
                    <td><span className={'ua-apill ua-apill-' + a.status}>{stateWords[a.status]}</span>{a.muted && <span className="badge" title="a maintenance window mutes its notifications">muted</span>}</td>
                    <td className="ua-alert-cell">
                      <div className="ua-alert-line" title={a.summary}><b>{a.ruleName}</b> <span className="muted small">{a.kind}</span> · {a.summary}</div>
                      <LabelChips labels={a.labels} max={6} />
                    </td>
                    <td className="r">{a.value == null ? '–' : num(a.value)}</td>
                    <td title={`active since ${dateTime(a.activeSince)}${a.firedAt ? `\nfired ${dateTime(a.firedAt)}` : ''}${a.resolvedAt ? `\nresolved ${dateTime(a.resolvedAt)}` : ''}`}>
                      {a.status === 'resolved' && a.resolvedAt ? <span className="muted">resolved {ago(a.resolvedAt, app.now)}</span> : ago(a.firedAt || a.activeSince, app.now)}
                    </td>
                    <td>{a.ackedBy ? <span className="ua-acked" data-testid="alert-acked" title={a.ackedAt ? dateTime(a.ackedAt) : ''}>acknowledged by {a.ackedBy}{a.ackedAt ? ` · ${ago(a.ackedAt, app.now)}` : ''}</span>
                      : <span className="muted small">{a.status === 'firing' ? (a.notified ? 'notified' : 'not notified yet') : '–'}</span>}</td>
                    <td className="r">
                      {a.status === 'firing' && !a.ackedBy && (
                        <button className="btn ua-xs" onClick={() => doAck(a)} disabled={acking === a.id} data-testid="alert-ack" title="Stop repeat notifications for this alert">
                          {acking === a.id ? 'Acknowledging…' : 'Acknowledge'}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <HistoryPanel events={history.data?.events} partial={history.data?.partial} error={history.error} rule={rule} setRule={setRule} ruleOptions={ruleOptions} />
    </div>
  );
}

function HistoryPanel({ events, partial, error, rule, setRule, ruleOptions }: {
  events?: Record<string, string>[]; partial?: boolean; error: string | null; rule: string; setRule(r: string): void; ruleOptions: [string, string][];
}) {
  const [state, setState] = useState('');
  const rows = (events || []).filter((e) => !state || e['alert.state'] === state);
  const by = (s: string) => (events || []).filter((e) => e['alert.state'] === s).length;
  return (
    <Panel testid="alert-history" title={<>History <span className="muted">· this time range{events ? ` · ${by('firing')} fired, ${by('resolved')} resolved, ${by('acknowledged')} acknowledged` : ''}</span></>}
      extra={<>
        <select value={state} onChange={(e) => setState(e.target.value)} aria-label="Event">
          <option value="">All events</option><option value="firing">Fired</option><option value="resolved">Resolved</option><option value="acknowledged">Acknowledged</option>
        </select>
        <select value={rule} onChange={(e) => setRule(e.target.value)} aria-label="Rule" data-testid="history-rule">
          <option value="">All rules</option>{ruleOptions.map(([id, name]) => <option key={id} value={id}>{name}</option>)}
        </select>
      </>}>
      <ErrorBanner error={error} />
      {events && rows.length === 0 ? <div className="panel-empty">No alert {state ? (state === 'firing' ? 'fired' : state) : 'event'} in this time range{rule ? ' for this rule' : ''}.</div> : (
        <div className="vtable" style={{ maxHeight: 560 }}>
          <table className="table compact">
            <thead><tr><th>Time</th><th>Event</th><th>Severity</th><th>Alert</th><th className="r">Value</th><th>By</th></tr></thead>
            <tbody>
              {rows.map((e, i) => {
                const labels: Record<string, string> = {};
                for (const [k, v] of Object.entries(e)) if (k.startsWith('alert.label.')) labels[k.slice(12)] = v;
                const v = e['alert.value'];
                return (
                  <tr key={e._time + e['alert.id'] + e['alert.state'] + i} data-testid="history-event" data-state={e['alert.state']} data-rule={e['alert.rule']}>
                    <td title={ago(e._time)}>{dateTime(e._time)}</td>
                    <td><StatePill state={e['alert.state']} />{e['alert.muted'] === 'true' && <span className="badge" title="notifications muted by a maintenance window">muted</span>}</td>
                    <td>{e.severity ? <SevBadge severity={e.severity} /> : '–'}</td>
                    <td className="ua-alert-cell">
                      <div className="ua-alert-line" title={e._msg}><b>{e['alert.rule'] || e['alert.rule_id']}</b> · {e._msg}</div>
                      <LabelChips labels={labels} max={6} />
                    </td>
                    <td className="r">{v && v !== 'NaN' ? num(Number(v)) : '–'}</td>
                    <td>{e['alert.by'] || <span className="muted">{e['alert.state'] === 'acknowledged' ? '?' : 'system'}</span>}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <div className="muted small" style={{ marginTop: 6 }}>{events ? `${int(rows.length)} events, newest first` : 'Loading…'}{partial ? ' · partial: narrow the range to see all' : ''}</div>
    </Panel>
  );
}
