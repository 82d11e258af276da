// Alert rules: the list (condition in words, enabled switch, channels,
// firing now) and the editor whose fields follow the rule's kind, with a
// live preview of metric rules.
import { useEffect, useMemo, useState } from 'react';
import * as AA from '../../alertsApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { DataTable, type Column } from '../../components/Table';
import { dateTime, int, num } from '../../format';
import { linkHandler, useApp, useData } from '../../state';
import { Drawer, Field, FieldSet, FormError, MultiCheck, Seg, SevBadge, Switch, errText, parseDuration, quietLabels, shortDuration } from './ui';

const opWords: Record<string, string> = { '>': 'above', '>=': 'at or above', '<': 'below', '<=': 'at or below', '==': 'equal to', '!=': 'not equal to' };

export const blankRule = (kind: AA.RuleKind = 'metric'): AA.RuleBody => ({
  name: '', kind, enabled: true, severity: 'warning', for: kind === 'nodata' ? '1m' : kind === 'url' ? '0s' : '1m', repeat: '30m', message: '', channels: [],
  expr: '', op: '>', threshold: 0, agentKind: '', agentGroup: '', checkId: '', condition: 'down', text: '', filters: [], window: '5m', eventKind: kind === 'event' ? 'load_snapshot' : '',
});

// describe says a rule's condition in words.
export function describe(r: AA.RuleBody, checks: Map<string, string>): string {
  const scope = (kind?: string, group?: string) => `${kind ? `${kind} ` : ''}agent${group ? ` in group “${group}”` : ''}`;
  const hold = parseDuration(r.for) > 0 ? ` for ${shortDuration(r.for)}` : '';
  const count = (what: string) => `${what} in ${shortDuration(r.window) || '5m'} ${opWords[r.op || '>'] || r.op} ${num(r.threshold)}`;
  switch (r.kind) {
    case 'metric': return r.op ? `${r.expr} ${r.op} ${num(r.threshold)}${hold}` : `${r.expr} returns a series${hold}`;
    case 'nodata': return `a ${scope(r.agentKind, r.agentGroup)} sends nothing for ${shortDuration(r.for) || '1m'}`;
    case 'reboot': return `a ${scope(r.agentKind, r.agentGroup)} rebooted (looked for over ${shortDuration(r.window) || '10m'})`;
    case 'url': {
      const what = r.checkId ? `“${checks.get(r.checkId) || `check ${r.checkId}`}”` : 'any URL check';
      return r.condition === 'slow' ? `${what} takes longer than ${num(r.threshold)} ms${hold}` : `${what} is down${hold}`;
    }
    case 'log': {
      const f = (r.filters || []).map((x) => `${x.field} ${x.op} ${x.value}`).join(', ');
      return `log lines${r.text ? ` matching “${r.text}”` : ''}${f ? ` where ${f}` : ''}: ${count('count')}`;
    }
    case 'event': return `${r.eventKind || '?'} events from a ${scope(r.agentKind, r.agentGroup)}: ${count('count')}`;
    case 'apm': {
      const c = AA.apmConditions.find((x) => x.value === r.condition);
      return `${c?.label || r.condition} of ${r.app ? `“${r.app}”` : 'each application'} over ${shortDuration(r.window) || '1m'} ${opWords[r.op || '>'] || r.op} ${num(r.threshold)}${c?.unit ? ` ${c.unit}` : ''}${hold}`;
    }
  }
  return r.kind;
}

export default function Rules() {
  const app = useApp();
  const [bump, setBump] = useState(0);
  const [editing, setEditing] = useState<{ id?: number; body: AA.RuleBody } | null>(null);
  const [q, setQ] = useState('');
  const [err, setErr] = useState<string | null>(null);
  const list = useData(AA.rules, [app.project, bump]);
  const chans = useData(AA.channels, [app.project]);
  const checks = useData(() => AA.urlChecks().catch(() => [] as AA.UrlCheckStatus[]), [app.project]);
  const active = useData(() => AA.alerts().catch(() => [] as AA.AlertState[]), [app.now, app.project, bump]);

  // ?new=KIND[&checkId=ID] opens a new rule, ?edit=ID an existing one
  // (the parameters are then dropped so a refresh does not reopen it)
  const dropParams = () => history.replaceState(history.state, '', location.pathname);
  useEffect(() => {
    const p = new URLSearchParams(location.search);
    const kind = p.get('new') as AA.RuleKind | null;
    if (kind && AA.ruleKinds.some((k) => k.kind === kind)) {
      const b = blankRule(kind);
      if (p.get('checkId')) b.checkId = p.get('checkId')!;
      setEditing({ body: b });
      dropParams();
    }
  }, []);
  useEffect(() => {
    const e = Number(new URLSearchParams(location.search).get('edit'));
    const r = e && list.data?.find((x) => x.id === e);
    if (r) { setEditing((cur) => cur || { id: r.id, body: r }); dropParams(); }
  }, [list.data]);

  const checkNames = useMemo(() => new Map((checks.data || []).map((c) => [String(c.id), c.name])), [checks.data]);
  const chanNames = useMemo(() => new Map((chans.data || []).map((c) => [c.id, c.name])), [chans.data]);
  const firing = useMemo(() => {
    const m = new Map<number, number>();
    for (const a of active.data || []) if (a.status === 'firing') m.set(a.ruleId, (m.get(a.ruleId) || 0) + 1);
    return m;
  }, [active.data]);
  const rows = useMemo(() => {
    const t = q.trim().toLowerCase();
    return (list.data || []).filter((r) => !t || r.name.toLowerCase().includes(t) || r.kind.includes(t) || describe(r, checkNames).toLowerCase().includes(t));
  }, [list.data, q, checkNames]);

  const act = (p: Promise<unknown>) => { setErr(null); p.then(() => setBump((b) => b + 1), (e) => setErr(errText(e))); };
  const columns: Column<AA.Rule>[] = [
    { key: 'enabled', label: 'On', width: 44, value: (r) => (r.enabled ? 1 : 0), render: (r) => <Switch checked={r.enabled} label={r.enabled ? `Disable ${r.name}` : `Enable ${r.name}`} onChange={(v) => act(AA.updateRule(r.id, { ...r, enabled: v }))} testid="rule-enabled" /> },
    { key: 'name', label: 'Name', value: (r) => r.name, render: (r) => <b data-testid="rule-name">{r.name}</b> },
    { key: 'kind', label: 'Kind', value: (r) => r.kind, render: (r) => <span className="badge">{AA.ruleKinds.find((k) => k.kind === r.kind)?.label || r.kind}</span> },
    { key: 'severity', label: 'Severity', value: (r) => ({ critical: 0, warning: 1, info: 2 } as Record<string, number>)[r.severity], render: (r) => <SevBadge severity={r.severity} /> },
    { key: 'cond', label: 'Condition', className: 'ellipsis', render: (r) => { const d = describe(r, checkNames); return <span className={r.kind === 'metric' ? 'mono' : ''} title={d}>{d}</span>; } },
    { key: 'repeat', label: 'Repeat', render: (r) => <span className="muted">{parseDuration(r.repeat) > 0 ? `every ${shortDuration(r.repeat)}` : 'never'}</span> },
    {
      key: 'channels', label: 'Channels',
      render: (r) => (r.channels?.length ? <span className="ua-chips">{r.channels.map((c) => <span key={c} className="ua-chip">{chanNames.get(c) || `#${c} (deleted)`}</span>)}</span> : <span className="muted">all channels</span>),
    },
    {
      key: 'firing', label: 'Firing', right: true, value: (r) => firing.get(r.id) || 0,
      render: (r) => (firing.get(r.id) ? <a className="crit" href={`/alerts?rule=${r.id}`} onClick={linkHandler(`/alerts?rule=${r.id}`)}><b>{firing.get(r.id)}</b></a> : <span className="muted">0</span>),
    },
    { key: 'updated', label: 'Changed', value: (r) => r.updatedAt, render: (r) => <span className="muted small">{r.updatedAt ? dateTime(r.updatedAt) : '–'}</span> },
    {
      key: 'actions', label: <span className="ua-sr-only">Actions</span>,
      render: (r) => (
        <span className="ua-row-actions">
          <button className="btn ua-xs" onClick={() => setEditing({ id: r.id, body: r })} data-testid="rule-edit">Edit</button>
          <button className="btn ua-xs" onClick={() => setEditing({ body: { ...r, name: `${r.name} (copy)` } })}>Copy</button>
          <button className="btn ua-xs ua-danger" onClick={() => { if (confirm(`Delete the rule “${r.name}”? Its firing alerts end without a resolve notification.`)) act(AA.deleteRule(r.id)); }} data-testid="rule-delete">Delete</button>
        </span>
      ),
    },
  ];

  return (
    <div className="page" data-testid="rules-page">
      <div className="page-head">
        <div><h1>Alert rules</h1><p className="muted">{list.data ? `${int(list.data.length)} rule${list.data.length === 1 ? '' : 's'} · ${int(list.data.filter((r) => r.enabled).length)} enabled` : 'Loading…'}</p></div>
        <div className="page-actions"><button className="btn primary" onClick={() => setEditing({ body: blankRule() })} data-testid="rule-new">+ New rule</button></div>
      </div>
      <ErrorBanner error={list.error || err} />
      {list.data && list.data.length === 0 ? (
        <div className="empty-state">
          <div className="empty-illustration" aria-hidden="true"><Icon name="alert" size={56} /></div>
          <h2>No alert rules yet</h2>
          <p>A rule watches a metric (any PromQL), agents that stop reporting or reboot, URL checks, log lines or agent events, and notifies the project's channels when it fires and when it resolves.</p>
          <p><button className="btn primary" onClick={() => setEditing({ body: blankRule() })}>+ Create the first rule</button></p>
        </div>
      ) : (
        <section className="panel">
          <div className="panel-head">
            <span className="search"><Icon name="search" size={14} /><input placeholder="Filter by name, kind, condition" value={q} onChange={(e) => setQ(e.target.value)} aria-label="Filter rules" /></span>
            <span className="muted small">{int(rows.length)} shown</span>
          </div>
          <DataTable rows={rows} columns={columns} initialSort={{ key: 'name', desc: false }} rowKey={(r) => String(r.id)} testid="rule-table"
            empty={<div className="panel-empty">{list.data ? 'No rule matches this filter.' : 'Loading…'}</div>} />
        </section>
      )}
      {editing && <RuleEditor initial={editing.body} id={editing.id} checks={checks.data || []} channels={chans.data || []}
        onClose={() => setEditing(null)} onSaved={() => { setEditing(null); setBump((b) => b + 1); }} />}
    </div>
  );
}

function RuleEditor({ initial, id, checks, channels, onClose, onSaved }: {
  initial: AA.RuleBody; id?: number; checks: AA.UrlCheckStatus[]; channels: AA.Channel[]; onClose(): void; onSaved(): void;
}) {
  const [r, setR] = useState<AA.RuleBody>(() => ({ ...blankRule(initial.kind), ...initial, for: shortDuration(initial.for), repeat: shortDuration(initial.repeat), window: shortDuration(initial.window || '5m') }));
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ag = useData(() => AA.agents().catch(() => [] as AA.Agent[]), []);
  const set = <K extends keyof AA.RuleBody>(k: K, v: AA.RuleBody[K]) => setR((x) => ({ ...x, [k]: v }));
  const kinds = useMemo(() => [...new Set((ag.data || []).map((a) => a.kind).filter(Boolean))].sort(), [ag.data]);
  const groups = useMemo(() => [...new Set((ag.data || []).map((a) => a.group).filter(Boolean))].sort(), [ag.data]);

  const save = (e: React.FormEvent) => {
    e.preventDefault();
    for (const [k, v] of [['for', r.for], ['repeat', r.repeat], ['window', r.window || '']] as const) {
      if (Number.isNaN(parseDuration(v))) { setErr(`${k} “${v}” is not a duration: write e.g. 30s, 5m, 1h30m`); return; }
    }
    setBusy(true); setErr(null);
    (id ? AA.updateRule(id, r) : AA.createRule(r)).then(onSaved, (x) => setErr(errText(x))).finally(() => setBusy(false));
  };
  const agentScope = (
    <div className="ua-form-row">
      <Field label="Agent kind" hint="empty: every kind"><input name="agentKind" list="rule-agent-kinds" value={r.agentKind || ''} onChange={(e) => set('agentKind', e.target.value)} placeholder="host" /></Field>
      <Field label="Agent group" hint="empty: every group"><input name="agentGroup" list="rule-agent-groups" value={r.agentGroup || ''} onChange={(e) => set('agentGroup', e.target.value)} placeholder="any" /></Field>
      <datalist id="rule-agent-kinds">{kinds.map((k) => <option key={k} value={k} />)}</datalist>
      <datalist id="rule-agent-groups">{groups.map((g) => <option key={g} value={g} />)}</datalist>
    </div>
  );
  const countFields = (what: string) => (
    <div className="ua-form-row">
      <Field label="Window" hint="counted over"><input name="window" value={r.window || ''} onChange={(e) => set('window', e.target.value)} placeholder={r.kind === 'apm' ? '1m' : '5m'} /></Field>
      <Field label={`${what} is`} className="ua-narrow"><select name="op" value={r.op || '>'} onChange={(e) => set('op', e.target.value)}>{AA.ops.map((o) => <option key={o} value={o}>{o}</option>)}</select></Field>
      <Field label="Threshold"><input name="threshold" type="number" value={r.threshold} onChange={(e) => set('threshold', Number(e.target.value))} /></Field>
    </div>
  );

  return (
    <Drawer wide title={id ? `Edit rule “${initial.name}”` : 'New alert rule'} onClose={onClose} testid="rule-editor"
      footer={<>
        <FormError error={err} testid="rule-error" />
        <div className="row-end">
          <label className="ua-check" style={{ marginRight: 'auto' }}><input type="checkbox" checked={r.enabled} onChange={(e) => set('enabled', e.target.checked)} /> Enabled</label>
          <button type="button" className="btn" onClick={onClose}>Cancel</button>
          <button type="submit" form="rule-form" className="btn primary" disabled={busy} data-testid="rule-save">{busy ? 'Saving…' : id ? 'Save rule' : 'Create rule'}</button>
        </div>
      </>}>
      <form id="rule-form" className="ua-form" onSubmit={save} noValidate>
        <Field label="Name"><input name="name" value={r.name} onChange={(e) => set('name', e.target.value)} placeholder="e.g. API down" /></Field>
        <FieldSet label="Kind" hint={AA.ruleKinds.find((k) => k.kind === r.kind)?.hint}>
          <Seg label="Kind" value={r.kind} onChange={(k) => setR((x) => ({ ...x, kind: k, eventKind: k === 'event' && !x.eventKind ? 'load_snapshot' : x.eventKind,
            condition: k === 'apm' && !AA.apmConditions.some((c) => c.value === x.condition) ? 'avg_ms' : k === 'url' && x.condition !== 'slow' ? 'down' : x.condition,
            window: k === 'apm' && (!x.window || x.window === '5m') ? '1m' : x.window }))}
            options={AA.ruleKinds.map((k) => ({ value: k.kind, label: k.label, title: k.hint }))} testid="rule-kind" />
        </FieldSet>

        <div className="ua-kind-box">
          {r.kind === 'metric' && <MetricFields r={r} set={set} />}
          {r.kind === 'nodata' && <>{agentScope}<p className="hint">Fires when a matching agent sends nothing for the “For” time below (default 1m).</p></>}
          {r.kind === 'reboot' && <>{agentScope}
            <Field label="Look back" hint="a boot time newer than this window fires"><input name="window" value={r.window || ''} onChange={(e) => set('window', e.target.value)} placeholder="10m" /></Field></>}
          {r.kind === 'url' && <>
            <Field label="URL check" hint="each region of the check is its own alert">
              <select name="checkId" value={r.checkId || ''} onChange={(e) => set('checkId', e.target.value)} data-testid="rule-check">
                <option value="">Every URL check</option>
                {checks.map((c) => <option key={c.id} value={String(c.id)}>{c.name} — {c.url}</option>)}
                {r.checkId && !checks.some((c) => String(c.id) === r.checkId) && <option value={r.checkId}>check {r.checkId} (not found)</option>}
              </select>
            </Field>
            <div className="ua-form-row">
              <FieldSet label="Condition">
                <Seg label="Condition" value={(r.condition || 'down') as 'down' | 'slow'} onChange={(v) => set('condition', v)} testid="rule-condition"
                  options={[{ value: 'down', label: 'Down' }, { value: 'slow', label: 'Slow' }]} />
              </FieldSet>
              {r.condition === 'slow' && <Field label="Slower than (ms)"><input name="threshold" type="number" min={1} value={r.threshold} onChange={(e) => set('threshold', Number(e.target.value))} /></Field>}
            </div>
          </>}
          {r.kind === 'log' && <>
            <Field label="Text" hint="words and “quoted phrases” the line must contain"><input name="text" value={r.text || ''} onChange={(e) => set('text', e.target.value)} placeholder='error "connection reset"' /></Field>
            <FieldSet label="Field filters"><Filters rows={r.filters || []} onChange={(f) => set('filters', f)} /></FieldSet>
            {countFields('Count')}
          </>}
          {r.kind === 'apm' && <>
            <div className="ua-form-row">
              <Field label="Application" hint="empty: each application is its own alert"><input name="app" value={r.app || ''} onChange={(e) => set('app', e.target.value)} placeholder="checkout" /></Field>
              <Field label="Measure"><select name="condition" data-testid="rule-apm-condition" value={r.condition || 'avg_ms'} onChange={(e) => set('condition', e.target.value)}>
                {AA.apmConditions.map((c) => <option key={c.value} value={c.value}>{c.label}{c.unit ? ` (${c.unit})` : ''}</option>)}</select></Field>
            </div>
            {countFields('Value')}
          </>}
          {r.kind === 'event' && <>
            <Field label="Event kind" hint="raised by agents, e.g. load_snapshot"><input name="eventKind" list="rule-event-kinds" value={r.eventKind || ''} onChange={(e) => set('eventKind', e.target.value)} />
              <datalist id="rule-event-kinds"><option value="load_snapshot" /></datalist></Field>
            {agentScope}
            {countFields('Count')}
          </>}
        </div>

        <div className="ua-form-row">
          <FieldSet label="Severity"><Seg label="Severity" value={r.severity} onChange={(v) => set('severity', v)} testid="rule-severity"
            options={AA.severities.map((s) => ({ value: s, label: s }))} /></FieldSet>
          <Field label={r.kind === 'nodata' ? 'Silent for' : 'For'} hint={r.kind === 'nodata' ? 'how long an agent must be silent' : 'how long it must hold; 0s fires at once'}>
            <input name="for" value={r.for} onChange={(e) => set('for', e.target.value)} placeholder="1m" />
          </Field>
          <Field label="Repeat every" hint="while firing and not acknowledged; 0s: never"><input name="repeat" value={r.repeat} onChange={(e) => set('repeat', e.target.value)} placeholder="30m" /></Field>
        </div>
        <Field label="Message" hint={<>Empty: an automatic sentence. Template fields: <code>{'{{.Rule}}'}</code> <code>{'{{.Severity}}'}</code> <code>{'{{.Value}}'}</code> <code>{'{{.Threshold}}'}</code> <code>{'{{.Labels.osprey_agent_name}}'}</code></>}>
          <textarea name="message" rows={2} className="mono" value={r.message} onChange={(e) => set('message', e.target.value)} placeholder="{{.Labels.osprey_agent_name}}: {{.Rule}} at {{.Value}}" />
        </Field>
        <FieldSet label="Notify channels" hint={channels.length ? 'None ticked: every channel of the project.' : <>No channel yet: <a href="/alerts/channels" onClick={linkHandler('/alerts/channels')}>add one</a>; alerts still show on the alert page.</>}>
          <MultiCheck none="All channels" value={(r.channels || []).map(String)} onChange={(v) => set('channels', v.map(Number))} testid="rule-channels"
            options={channels.map((c) => ({ value: String(c.id), label: c.name, sub: c.type, text: `${c.name} ${c.type}` }))} />
        </FieldSet>
      </form>
    </Drawer>
  );
}

function MetricFields({ r, set }: { r: AA.RuleBody; set<K extends keyof AA.RuleBody>(k: K, v: AA.RuleBody[K]): void }) {
  const [preview, setPreview] = useState<{ rows: AA.InstantSample[]; at: number } | null>(null);
  const [perr, setPerr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = () => {
    if (!r.expr?.trim()) { setPerr('Write an expression first.'); return; }
    setBusy(true); setPerr(null);
    AA.queryInstant(r.expr).then((rows) => setPreview({ rows, at: Date.now() }), (e) => { setPreview(null); setPerr(errText(e)); }).finally(() => setBusy(false));
  };
  const fires = (v: number) => {
    const t = Number(r.threshold);
    switch (r.op) {
      case '>': return v > t; case '>=': return v >= t; case '<': return v < t; case '<=': return v <= t; case '==': return v === t; case '!=': return v !== t;
      default: return true;
    }
  };
  const rows = preview?.rows || [];
  const nFire = rows.filter((s) => fires(s.value)).length;
  return (
    <>
      <Field label="PromQL expression" hint="each series it returns is one alert, compared with the threshold">
        <textarea name="expr" rows={3} className="mono" spellCheck={false} value={r.expr || ''} onChange={(e) => set('expr', e.target.value)}
          placeholder={'100 * (1 - avg by (osprey_agent_name) (system_cpu_utilization_ratio{state="idle",cpu=""}))'}
          onKeyDown={(e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } }} />
      </Field>
      <div className="ua-form-row">
        <Field label="Fires when the value is" className="ua-narrow">
          <select name="op" value={r.op || ''} onChange={(e) => set('op', e.target.value)}>
            {AA.ops.map((o) => <option key={o} value={o}>{o} {opWords[o]}</option>)}<option value="">any series returned</option>
          </select>
        </Field>
        {r.op ? <Field label="Threshold"><input name="threshold" type="number" step="any" value={r.threshold} onChange={(e) => set('threshold', Number(e.target.value))} /></Field> : <span />}
        <div className="ua-field ua-narrow">
          <span className="ua-field-label" aria-hidden="true">&nbsp;</span>
          <button type="button" className="btn" onClick={run} disabled={busy} data-testid="rule-preview-run" title="Run the expression now (Ctrl+Enter)">{busy ? 'Running…' : 'Preview'}</button>
        </div>
      </div>
      <FormError error={perr} testid="rule-preview-error" />
      {preview && (
        <div className="ua-preview" data-testid="rule-preview">
          <div className="small"><b>{int(rows.length)}</b> series now · <b className={nFire ? 'crit' : 'ok'}>{int(nFire)} would fire</b>{r.op ? ` (value ${r.op} ${num(Number(r.threshold))})` : ''}</div>
          {rows.length > 0 && (
            <div className="vtable" style={{ maxHeight: 220 }}>
              <table className="table compact">
                <thead><tr><th>Series</th><th className="r">Value</th><th>Fires</th></tr></thead>
                <tbody>
                  {rows.slice(0, 100).map((s, i) => {
                    const { __name__, ...labels } = s.metric;
                    const all = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(', ');
                    const loud = Object.entries(labels).filter(([k]) => !quietLabels.has(k)).map(([k, v]) => `${k}="${v}"`).join(', ');
                    const f = fires(s.value);
                    return (
                      <tr key={i}>
                        <td className="mono small ua-alert-cell"><div className="ua-alert-line" title={`${__name__ || ''}{${all}}`}>{__name__ || ''}{'{'}{loud}{'}'}</div></td>
                        <td className="r">{num(s.value)}</td>
                        <td>{f ? <b className="crit">yes</b> : <span className="muted">no</span>}</td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          )}
          {rows.length > 100 && <div className="muted small">first 100 of {int(rows.length)} series</div>}
        </div>
      )}
    </>
  );
}

function Filters({ rows, onChange }: { rows: AA.FieldFilter[]; onChange(f: AA.FieldFilter[]): void }) {
  const upd = (i: number, p: Partial<AA.FieldFilter>) => onChange(rows.map((r, j) => (j === i ? { ...r, ...p } : r)));
  return (
    <div className="ua-kv-rows">
      {rows.map((f, i) => (
        <div className="ua-kv-row three" key={i}>
          <input placeholder="field, e.g. service.name" aria-label={`Filter ${i + 1} field`} value={f.field} onChange={(e) => upd(i, { field: e.target.value })} />
          <select aria-label={`Filter ${i + 1} operator`} value={f.op} onChange={(e) => upd(i, { op: e.target.value as AA.FieldFilter['op'] })}>
            <option value="=">=</option><option value="!=">≠</option><option value="~">contains</option><option value="!~">not contains</option>
          </select>
          <input placeholder="value" aria-label={`Filter ${i + 1} value`} value={f.value} onChange={(e) => upd(i, { value: e.target.value })} />
          <button type="button" className="icon-btn" aria-label="Remove filter" onClick={() => onChange(rows.filter((_, j) => j !== i))}>✕</button>
        </div>
      ))}
      <button type="button" className="ua-linkish" onClick={() => onChange([...rows, { field: '', op: '=', value: '' }])}>+ Add filter</button>
    </div>
  );
}
