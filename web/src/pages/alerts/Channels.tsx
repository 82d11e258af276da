// Notification channels: webhook, Slack-compatible and e-mail; each can
// send a test notification from the list or from the editor before it is
// saved.
import { useState } from 'react';
import * as AA from '../../alertsApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { DataTable, type Column } from '../../components/Table';
import { clock, int } from '../../format';
import { useApp, useData } from '../../state';
import { Drawer, Field, FieldSet, FormError, KeyValueRows, MultiCheck, Seg, SevBadge, errText } from './ui';

const typeLabels: Record<AA.ChannelType, string> = { webhook: 'Webhook', slack: 'Slack', email: 'E-mail' };

const blank = (): AA.ChannelBody => ({
  name: '', type: 'webhook', severities: [],
  webhook: { url: '', headers: {}, secret: '' }, slack: { url: '', channel: '' },
  email: { host: '', port: 587, tls: 'starttls', username: '', password: '', from: '', to: [], insecureSkipVerify: false, caFile: '' },
});

function target(c: AA.Channel): string {
  if (c.type === 'webhook') return c.webhook?.url || '';
  if (c.type === 'slack') return `${c.slack?.channel ? c.slack.channel + ' · ' : ''}${c.slack?.url || ''}`;
  if (c.type === 'email') return `${(c.email?.to || []).join(', ')} via ${c.email?.host}:${c.email?.port}`;
  return '';
}

// TestOutcome shows a test's result in words.
export function TestOutcome({ r, testid }: { r: AA.TestResult | { error: string } | null | 'sending'; testid?: string }) {
  if (!r) return null;
  if (r === 'sending') return <span className="muted small" data-testid={testid}>Sending…</span>;
  if ('ok' in r && r.ok) return <span className="ok small" data-testid={testid} data-ok="true">✓ Sent{r.sentAt ? ` at ${clock(new Date(r.sentAt))}` : ''}</span>;
  return <span className="crit small ua-test-fail" data-testid={testid} data-ok="false">✕ Failed: {r.error || 'unknown error'}</span>;
}

export default function Channels() {
  const app = useApp();
  const [bump, setBump] = useState(0);
  const [editing, setEditing] = useState<{ id?: number; body: AA.ChannelBody } | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const [tests, setTests] = useState<Record<number, AA.TestResult | { error: string } | 'sending'>>({});
  const list = useData(AA.channels, [app.project, bump]);

  const test = (c: AA.Channel) => {
    setTests((t) => ({ ...t, [c.id]: 'sending' }));
    AA.testStoredChannel(c.id).then((r) => setTests((t) => ({ ...t, [c.id]: r })), (e) => setTests((t) => ({ ...t, [c.id]: { error: errText(e) } })));
  };
  const columns: Column<AA.Channel>[] = [
    { key: 'name', label: 'Name', value: (c) => c.name, render: (c) => <b data-testid="channel-name">{c.name}</b> },
    { key: 'type', label: 'Type', value: (c) => c.type, render: (c) => <span className="badge">{typeLabels[c.type] || c.type}</span> },
    { key: 'target', label: 'Sends to', className: 'ellipsis', render: (c) => <span className="mono small" title={target(c)}>{target(c)}</span> },
    { key: 'sev', label: 'Severities', render: (c) => (c.severities?.length ? <span className="ua-chips">{c.severities.map((s) => <SevBadge key={s} severity={s} />)}</span> : <span className="muted">all</span>) },
    { key: 'test', label: 'Last test', render: (c) => <TestOutcome r={tests[c.id] || null} testid="channel-row-test-result" /> },
    {
      key: 'actions', label: <span className="ua-sr-only">Actions</span>,
      render: (c) => (
        <span className="ua-row-actions">
          <button className="btn ua-xs" onClick={() => test(c)} disabled={tests[c.id] === 'sending'} data-testid="channel-row-test">Send test</button>
          <button className="btn ua-xs" onClick={() => setEditing({ id: c.id, body: { ...blank(), ...c } })} data-testid="channel-edit">Edit</button>
          <button className="btn ua-xs ua-danger" onClick={() => { if (confirm(`Delete the channel “${c.name}”? Rules that name it will notify the remaining channels.`)) { setErr(null); AA.deleteChannel(c.id).then(() => setBump((b) => b + 1), (e) => setErr(errText(e))); } }}>Delete</button>
        </span>
      ),
    },
  ];
  return (
    <div className="page" data-testid="channels-page">
      <div className="page-head">
        <div><h1>Notification channels</h1><p className="muted">{list.data ? `${int(list.data.length)} channel${list.data.length === 1 ? '' : 's'} · a rule with no channel chosen notifies all of them` : 'Loading…'}</p></div>
        <div className="page-actions"><button className="btn primary" onClick={() => setEditing({ body: blank() })} data-testid="channel-new">+ New channel</button></div>
      </div>
      <ErrorBanner error={list.error || err} />
      {list.data && list.data.length === 0 ? (
        <div className="empty-state">
          <div className="empty-illustration" aria-hidden="true"><Icon name="alert" size={56} /></div>
          <h2>No notification channel yet</h2>
          <p>Alerts show on the alert page either way; add a webhook (JSON POST, optionally signed), a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat) or an SMTP server to be told when they fire and resolve.</p>
          <p><button className="btn primary" onClick={() => setEditing({ body: blank() })}>+ Add a channel</button></p>
        </div>
      ) : (
        <section className="panel">
          <DataTable rows={list.data || []} columns={columns} initialSort={{ key: 'name', desc: false }} rowKey={(c) => String(c.id)} testid="channel-table"
            empty={<div className="panel-empty">Loading…</div>} />
        </section>
      )}
      {editing && <ChannelEditor initial={editing.body} id={editing.id} onClose={() => setEditing(null)} onSaved={() => { setEditing(null); setBump((b) => b + 1); }} />}
    </div>
  );
}

function ChannelEditor({ initial, id, onClose, onSaved }: { initial: AA.ChannelBody; id?: number; onClose(): void; onSaved(): void }) {
  const b = blank();
  const [c, setC] = useState<AA.ChannelBody>({ ...initial, webhook: { ...b.webhook!, ...initial.webhook }, slack: { ...b.slack!, ...initial.slack }, email: { ...b.email!, ...initial.email } });
  const [headers, setHeaders] = useState<[string, string][]>(Object.entries(initial.webhook?.headers || {}));
  const [to, setTo] = useState((initial.email?.to || []).join(', '));
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<AA.TestResult | { error: string } | 'sending' | null>(null);
  const [note, setNote] = useState('');
  const wh = c.webhook!; const sl = c.slack!; const em = c.email!;
  const setW = (p: Partial<AA.WebhookConfig>) => setC((x) => ({ ...x, webhook: { ...x.webhook!, ...p } }));
  const setS = (p: Partial<AA.SlackConfig>) => setC((x) => ({ ...x, slack: { ...x.slack!, ...p } }));
  const setE = (p: Partial<AA.EmailConfig>) => setC((x) => ({ ...x, email: { ...x.email!, ...p } }));

  const body = (): AA.ChannelBody => ({
    ...c, name: c.name.trim(),
    webhook: { ...wh, url: wh.url.trim(), headers: Object.fromEntries(headers.filter(([k]) => k.trim()).map(([k, v]) => [k.trim(), v])) },
    email: { ...em, to: to.split(/[,;\s]+/).filter(Boolean) },
  });
  const hasHidden = (x: AA.ChannelBody) => JSON.stringify(AA.channelBody(x)).includes(AA.HIDDEN);
  const save = (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true); setErr(null);
    (id ? AA.updateChannel(id, body()) : AA.createChannel(body())).then(onSaved, (x) => setErr(errText(x))).finally(() => setBusy(false));
  };
  const test = () => {
    const x = body();
    setResult('sending'); setNote('');
    // Stored secrets come back hidden: an edited channel that still holds
    // them is tested as saved (the server fills them in).
    const stored = id != null && hasHidden(x);
    if (stored) setNote('Tested with the saved settings: the secrets shown as ******** are only known to the server. Save first to test changes.');
    (stored ? AA.testStoredChannel(id!) : AA.testChannel({ ...x, name: x.name || 'unsaved channel' })).then(setResult, (e) => setResult({ error: errText(e) }));
  };
  return (
    <Drawer title={id ? `Edit channel “${initial.name}”` : 'New notification channel'} onClose={onClose} testid="channel-editor"
      footer={<>
        <FormError error={err} testid="channel-error" />
        {result && <div className="ua-test-box" aria-live="polite"><TestOutcome r={result} testid="channel-test-result" /></div>}
        <div className="row-end">
          <button type="button" className="btn" onClick={test} disabled={result === 'sending'} data-testid="channel-test">Send test</button>
          <button type="button" className="btn" onClick={onClose}>Cancel</button>
          <button type="submit" form="channel-form" className="btn primary" disabled={busy} data-testid="channel-save">{busy ? 'Saving…' : id ? 'Save' : 'Create channel'}</button>
        </div>
        {note && <p className="hint">{note}</p>}
      </>}>
      <form id="channel-form" className="ua-form" onSubmit={save} noValidate>
        <Field label="Name"><input name="name" value={c.name} onChange={(e) => setC({ ...c, name: e.target.value })} placeholder="e.g. on-call webhook" /></Field>
        <FieldSet label="Type">
          <Seg label="Type" value={c.type} onChange={(t) => setC({ ...c, type: t })} testid="channel-type"
            options={(Object.keys(typeLabels) as AA.ChannelType[]).map((t) => ({ value: t, label: typeLabels[t] }))} />
        </FieldSet>
        {c.type === 'webhook' && <>
          <Field label="URL" hint="receives a JSON POST per notification (fired, repeated, resolved)"><input name="url" className="mono" value={wh.url} onChange={(e) => setW({ url: e.target.value })} placeholder="https://hooks.example.com/osprey" spellCheck={false} /></Field>
          <FieldSet label="Headers" hint="e.g. Authorization; stored values show as ******** and are kept unless you change them"><KeyValueRows rows={headers} onChange={setHeaders} keyLabel="Header" /></FieldSet>
          <Field label="Signing secret" hint="optional: the body is signed with HMAC-SHA256 under this secret"><input name="secret" type="password" autoComplete="new-password" value={wh.secret || ''} onChange={(e) => setW({ secret: e.target.value })} /></Field>
        </>}
        {c.type === 'slack' && <>
          <Field label="Incoming webhook URL" hint="Slack, Mattermost or Rocket.Chat"><input name="url" className="mono" value={sl.url} onChange={(e) => setS({ url: e.target.value })} placeholder="https://hooks.slack.com/services/…" spellCheck={false} /></Field>
          <Field label="Channel" hint="optional: overrides the webhook's channel"><input name="channel" value={sl.channel || ''} onChange={(e) => setS({ channel: e.target.value })} placeholder="#alerts" /></Field>
        </>}
        {c.type === 'email' && <>
          <div className="ua-form-row">
            <Field label="SMTP host" className="ua-grow"><input name="host" value={em.host} onChange={(e) => setE({ host: e.target.value })} placeholder="smtp.example.com" /></Field>
            <Field label="Port" className="ua-narrow"><input name="port" type="number" value={em.port} onChange={(e) => setE({ port: Number(e.target.value) })} /></Field>
            <Field label="Security" className="ua-narrow">
              <select name="tls" value={em.tls} onChange={(e) => setE({ tls: e.target.value as AA.EmailConfig['tls'] })}>
                <option value="starttls">STARTTLS</option><option value="tls">TLS</option><option value="none">none</option>
              </select>
            </Field>
          </div>
          <div className="ua-form-row">
            <Field label="Username"><input name="username" autoComplete="off" value={em.username || ''} onChange={(e) => setE({ username: e.target.value })} /></Field>
            <Field label="Password"><input name="password" type="password" autoComplete="new-password" value={em.password || ''} onChange={(e) => setE({ password: e.target.value })} /></Field>
          </div>
          <Field label="From"><input name="from" value={em.from} onChange={(e) => setE({ from: e.target.value })} placeholder="osprey@example.com" /></Field>
          <Field label="To" hint="comma-separated addresses"><input name="to" value={to} onChange={(e) => setTo(e.target.value)} placeholder="oncall@example.com, ops@example.com" /></Field>
          <div className="ua-form-row">
            <Field label="CA file" hint="optional: PEM bundle on the server to trust"><input name="caFile" value={em.caFile || ''} onChange={(e) => setE({ caFile: e.target.value })} /></Field>
            <label className="ua-check" style={{ alignSelf: 'center' }}><input type="checkbox" checked={!!em.insecureSkipVerify} onChange={(e) => setE({ insecureSkipVerify: e.target.checked })} /> Skip certificate verification</label>
          </div>
        </>}
        <FieldSet label="Severities" hint="None ticked: every severity.">
          <MultiCheck none="All severities" value={c.severities || []} onChange={(v) => setC({ ...c, severities: v })} testid="channel-severities"
            options={AA.severities.map((s) => ({ value: s, label: <SevBadge severity={s} /> }))} />
        </FieldSet>
      </form>
    </Drawer>
  );
}
