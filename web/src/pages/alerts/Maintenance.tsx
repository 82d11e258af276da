// Maintenance windows: notifications of some rules (or all) are muted
// between a start and an end; alerts still change state and are kept in
// the history, marked muted.
import { useMemo, useState } from 'react';
import * as AA from '../../alertsApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { dateTime, duration, int, toLocalInput } from '../../format';
import { useApp, useData } from '../../state';
import { Drawer, Field, FieldSet, FormError, MultiCheck, errText } from './ui';

type Phase = 'active' | 'upcoming' | 'ended';
const phaseOf = (m: AA.Maintenance, now: number): Phase => {
  const s = Date.parse(m.start); const e = Date.parse(m.end);
  return now < s ? 'upcoming' : now < e ? 'active' : 'ended';
};
const rank: Record<Phase, number> = { active: 0, upcoming: 1, ended: 2 };

export default function Maintenance() {
  const app = useApp();
  const [bump, setBump] = useState(0);
  const [editing, setEditing] = useState<{ id?: number; body: AA.MaintenanceBody } | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [showEnded, setShowEnded] = useState(true);
  const list = useData(AA.maintenance, [app.project, bump]);
  const rules = useData(AA.rules, [app.project]);
  const ruleNames = useMemo(() => new Map((rules.data || []).map((r) => [r.id, r.name])), [rules.data]);
  const now = app.now;

  const rows = useMemo(() => (list.data || []).map((m) => ({ ...m, phase: phaseOf(m, now) }))
    .filter((m) => showEnded || m.phase !== 'ended')
    .sort((a, b) => rank[a.phase] - rank[b.phase] || (a.phase === 'ended' ? Date.parse(b.end) - Date.parse(a.end) : Date.parse(a.start) - Date.parse(b.start))), [list.data, now, showEnded]);
  const nActive = rows.filter((m) => m.phase === 'active').length;

  const newWindow = (): AA.MaintenanceBody => {
    const s = Math.floor(Date.now() / 60000) * 60000; // starts now
    return { name: '', start: new Date(s).toISOString(), end: new Date(s + 3600000).toISOString(), rules: [], reason: '' };
  };
  const remove = (m: AA.Maintenance) => {
    if (!confirm(`Delete the maintenance window “${m.name}”?${phaseOf(m, Date.now()) === 'active' ? ' Notifications resume at once.' : ''}`)) return;
    setErr(null);
    AA.deleteMaintenance(m.id).then(() => setBump((b) => b + 1), (e) => setErr(errText(e)));
  };
  const endNow = (m: AA.Maintenance) => {
    setErr(null);
    AA.updateMaintenance(m.id, { ...m, end: new Date().toISOString() }).then(() => setBump((b) => b + 1), (e) => setErr(errText(e)));
  };

  return (
    <div className="page" data-testid="maintenance-page">
      <div className="page-head">
        <div>
          <h1>Maintenance windows</h1>
          <p className="muted">{list.data ? <>{nActive ? <b className="warn">{nActive} active now: notifications muted</b> : 'None active'} · {int(list.data.length)} window{list.data.length === 1 ? '' : 's'}</> : 'Loading…'}</p>
        </div>
        <div className="page-actions">
          <label className="ua-check"><input type="checkbox" checked={showEnded} onChange={(e) => setShowEnded(e.target.checked)} /> Show ended</label>
          <button className="btn primary" onClick={() => setEditing({ body: newWindow() })} data-testid="maintenance-new">+ New window</button>
        </div>
      </div>
      <ErrorBanner error={list.error || err} />
      {list.data && list.data.length === 0 ? (
        <div className="empty-state">
          <div className="empty-illustration" aria-hidden="true"><Icon name="clock" size={56} /></div>
          <h2>No maintenance window</h2>
          <p>Plan one before a deploy or a reboot: the chosen rules (or all) keep evaluating and recording history, but send no notification between its start and end.</p>
          <p><button className="btn primary" onClick={() => setEditing({ body: newWindow() })}>+ Plan a window</button></p>
        </div>
      ) : (
        <section className="panel">
          <div className="vtable">
            <table className="table" data-testid="maintenance-table">
              <thead><tr><th>State</th><th>Name</th><th>Start</th><th>End</th><th>Length</th><th>Rules</th><th>Reason</th><th /></tr></thead>
              <tbody>
                {rows.length === 0 && <tr><td colSpan={8} className="panel-empty">{list.data ? 'No active or upcoming window.' : 'Loading…'}</td></tr>}
                {rows.map((m) => (
                  <tr key={m.id} className={'ua-mw-' + m.phase} data-testid="maintenance-row" data-phase={m.phase} data-name={m.name}>
                    <td><span className={'ua-mwpill ua-mwpill-' + m.phase}>{m.phase === 'active' ? 'Active' : m.phase === 'upcoming' ? 'Upcoming' : 'Ended'}</span></td>
                    <td><b>{m.name}</b></td>
                    <td>{dateTime(m.start)}</td>
                    <td>{dateTime(m.end)}{m.phase === 'active' && <span className="muted small"> · {duration((Date.parse(m.end) - now) / 1000)} left</span>}</td>
                    <td className="muted">{duration((Date.parse(m.end) - Date.parse(m.start)) / 1000)}</td>
                    <td>{m.rules?.length ? <span className="ua-chips">{m.rules.map((r) => <span key={r} className="ua-chip">{ruleNames.get(r) || `#${r}`}</span>)}</span> : <span className="muted">all rules</span>}</td>
                    <td className="ellipsis" title={m.reason}>{m.reason || <span className="muted">–</span>}</td>
                    <td className="r">
                      <span className="ua-row-actions">
                        {m.phase === 'active' && <button className="btn ua-xs" onClick={() => endNow(m)}>End now</button>}
                        <button className="btn ua-xs" onClick={() => setEditing({ id: m.id, body: m })}>Edit</button>
                        <button className="btn ua-xs ua-danger" onClick={() => remove(m)}>Delete</button>
                      </span>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </section>
      )}
      {editing && <WindowEditor initial={editing.body} id={editing.id} rules={rules.data || []} onClose={() => setEditing(null)} onSaved={() => { setEditing(null); setBump((b) => b + 1); }} />}
    </div>
  );
}

function WindowEditor({ initial, id, rules, onClose, onSaved }: { initial: AA.MaintenanceBody; id?: number; rules: AA.Rule[]; onClose(): void; onSaved(): void }) {
  const [name, setName] = useState(initial.name);
  const [start, setStart] = useState(toLocalInput(Date.parse(initial.start)).slice(0, 16));
  const [end, setEnd] = useState(toLocalInput(Date.parse(initial.end)).slice(0, 16));
  const [sel, setSel] = useState((initial.rules || []).map(String));
  const [reason, setReason] = useState(initial.reason);
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const s = new Date(start).getTime(); const e = new Date(end).getTime();
  const lengthFrom = (sec: number) => { if (Number.isFinite(s)) setEnd(toLocalInput(s + sec * 1000).slice(0, 16)); };
  const save = (ev: React.FormEvent) => {
    ev.preventDefault();
    if (!Number.isFinite(s) || !Number.isFinite(e)) { setErr('Give both a start and an end.'); return; }
    if (e <= s) { setErr('The end must be after the start.'); return; }
    setBusy(true); setErr(null);
    const body: AA.MaintenanceBody = { name: name.trim(), start: new Date(s).toISOString(), end: new Date(e).toISOString(), rules: sel.map(Number), reason };
    (id ? AA.updateMaintenance(id, body) : AA.createMaintenance(body)).then(onSaved, (x) => setErr(errText(x))).finally(() => setBusy(false));
  };
  return (
    <Drawer title={id ? `Edit window “${initial.name}”` : 'New maintenance window'} onClose={onClose} testid="maintenance-editor"
      footer={<>
        <FormError error={err} testid="maintenance-error" />
        <div className="row-end">
          <button type="button" className="btn" onClick={onClose}>Cancel</button>
          <button type="submit" form="mw-form" className="btn primary" disabled={busy} data-testid="maintenance-save">{busy ? 'Saving…' : id ? 'Save' : 'Create window'}</button>
        </div>
      </>}>
      <form id="mw-form" className="ua-form" onSubmit={save} noValidate>
        <Field label="Name"><input name="name" value={name} onChange={(ev) => setName(ev.target.value)} placeholder="e.g. database upgrade" /></Field>
        <div className="ua-form-row">
          <Field label="Start"><input name="start" type="datetime-local" value={start} onChange={(ev) => setStart(ev.target.value)} /></Field>
          <Field label="End"><input name="end" type="datetime-local" value={end} onChange={(ev) => setEnd(ev.target.value)} /></Field>
        </div>
        <div className="ua-quick">
          <span className="muted small">Length:</span>
          {([[1800, '30m'], [3600, '1h'], [7200, '2h'], [14400, '4h'], [86400, '1 day']] as const).map(([x, l]) => <button type="button" key={x} className="btn ua-xs" onClick={() => lengthFrom(x)}>{l}</button>)}
          {Number.isFinite(s) && Number.isFinite(e) && e > s && <span className="muted small">= {duration((e - s) / 1000)}</span>}
        </div>
        <FieldSet label="Rules muted" hint="None ticked: every rule of the project.">
          <MultiCheck none="All rules" value={sel} onChange={setSel} testid="maintenance-rules"
            options={rules.map((r) => ({ value: String(r.id), label: r.name, sub: r.kind, text: r.name }))} />
        </FieldSet>
        <Field label="Reason"><textarea name="reason" rows={2} value={reason} onChange={(ev) => setReason(ev.target.value)} placeholder="what is being done, who to ask" /></Field>
      </form>
    </Drawer>
  );
}
