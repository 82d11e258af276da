// The URL check editor: every field of a check, the agents it runs from,
// and the server's validation text shown as it comes.
import { useMemo, useState } from 'react';
import * as AA from '../../alertsApi';
import { useData } from '../../state';
import { Drawer, Field, FieldSet, FormError, KeyValueRows, MultiCheck, errText } from '../alerts/ui';

const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

export const blankCheck = (): AA.UrlCheckBody => ({
  name: '', url: 'https://', method: 'GET', headers: {}, body: '', expectedStatus: [], expectedBody: '', intervalSeconds: 60, timeoutMs: 10000,
  followRedirects: true, insecureSkipVerify: false, agents: [], enabled: true,
});

// parseStatuses reads "200, 204, 301-302" into codes; a range expands.
function parseStatuses(s: string): number[] | string {
  const out: number[] = [];
  for (const part of s.split(/[,\s]+/).filter(Boolean)) {
    const m = part.match(/^(\d{3})(?:-(\d{3}))?$/);
    if (!m) return `expected status “${part}” is not a status code (write e.g. 200, 204 or 200-299)`;
    const a = Number(m[1]); const b = m[2] ? Number(m[2]) : a;
    if (b < a || b - a > 200) return `expected status range “${part}” is not valid`;
    for (let x = a; x <= b; x++) out.push(x);
  }
  return out;
}
// statusText writes codes back compactly: runs become ranges.
export function statusText(codes: number[]): string {
  const s = [...new Set(codes)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < s.length;) {
    let j = i;
    while (j + 1 < s.length && s[j + 1] === s[j] + 1) j++;
    parts.push(j - i >= 2 ? `${s[i]}-${s[j]}` : s.slice(i, j + 1).join(', '));
    i = j + 1;
  }
  return parts.join(', ');
}

export function CheckForm({ initial, id, onClose, onSaved }: { initial: AA.UrlCheckBody; id?: number; onClose(): void; onSaved(c: AA.UrlCheck): void }) {
  const [c, setC] = useState<AA.UrlCheckBody>(initial);
  const [statuses, setStatuses] = useState(statusText(initial.expectedStatus || []));
  const [headers, setHeaders] = useState<[string, string][]>(Object.entries(initial.headers || {}));
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const ag = useData(AA.agents, []);
  const set = <K extends keyof AA.UrlCheckBody>(k: K, v: AA.UrlCheckBody[K]) => setC((x) => ({ ...x, [k]: v }));

  const agentOptions = useMemo(() => {
    const hosts = (ag.data || []).filter((a) => a.kind === 'host' || !a.kind);
    const known = new Set(hosts.map((a) => a.id));
    const opts = hosts.sort((a, b) => a.name.localeCompare(b.name)).map((a) => ({
      value: a.id, text: `${a.name} ${a.group}`,
      label: <><span className={'status-dot' + (a.active ? '' : ' off')} /> {a.name}</>, sub: a.group,
    }));
    for (const id of c.agents) if (!known.has(id)) opts.push({ value: id, text: id, label: <span className="muted mono">{id}</span>, sub: 'not connected' });
    return opts;
  }, [ag.data, c.agents]);

  const save = (e: React.FormEvent) => {
    e.preventDefault();
    const st = parseStatuses(statuses);
    if (typeof st === 'string') { setErr(st); return; }
    const hs: Record<string, string> = {};
    for (const [k, v] of headers) if (k.trim()) hs[k.trim()] = v;
    const body: AA.UrlCheckBody = { ...c, name: c.name.trim(), url: c.url.trim(), expectedStatus: st, headers: hs };
    setBusy(true); setErr(null);
    (id ? AA.updateCheck(id, body) : AA.createCheck(body)).then(onSaved, (x) => setErr(errText(x))).finally(() => setBusy(false));
  };
  const hasBody = !['GET', 'HEAD', 'OPTIONS'].includes(c.method);
  return (
    <Drawer title={id ? `Edit check “${initial.name}”` : 'New URL check'} onClose={onClose} testid="check-form"
      footer={<>
        <FormError error={err} testid="check-error" />
        <div className="row-end">
          <button type="button" className="btn" onClick={onClose}>Cancel</button>
          <button type="submit" form="check-form" className="btn primary" disabled={busy} data-testid="check-save">{busy ? 'Saving…' : id ? 'Save' : 'Create check'}</button>
        </div>
      </>}>
      <form id="check-form" className="ua-form" onSubmit={save} noValidate>
        <Field label="Name"><input name="name" value={c.name} onChange={(e) => set('name', e.target.value)} placeholder="Shop home page" required /></Field>
        <div className="ua-form-row">
          <Field label="Method" className="ua-narrow">
            <select name="method" value={c.method} onChange={(e) => set('method', e.target.value)}>{methods.map((m) => <option key={m}>{m}</option>)}</select>
          </Field>
          <Field label="URL" className="ua-grow"><input name="url" className="mono" value={c.url} onChange={(e) => set('url', e.target.value)} placeholder="https://example.com/health" spellCheck={false} /></Field>
        </div>
        <div className="ua-form-row">
          <Field label="Every (seconds)" hint="5 s to 86400 s"><input name="interval" type="number" min={5} max={86400} value={c.intervalSeconds} onChange={(e) => set('intervalSeconds', Number(e.target.value))} /></Field>
          <Field label="Timeout (ms)" hint="100 ms to 2 min, shorter than the interval"><input name="timeout" type="number" min={100} max={120000} step={100} value={c.timeoutMs} onChange={(e) => set('timeoutMs', Number(e.target.value))} /></Field>
        </div>
        <div className="ua-form-row">
          <Field label="Expected status" hint="comma list or ranges; empty: any 200-399" className="ua-grow">
            <input name="expectedStatus" value={statuses} onChange={(e) => setStatuses(e.target.value)} placeholder="200-399" />
          </Field>
          <Field label="Body must contain" hint="empty: any body" className="ua-grow">
            <input name="expectedBody" value={c.expectedBody} onChange={(e) => set('expectedBody', e.target.value)} placeholder="e.g. ok" />
          </Field>
        </div>
        <FieldSet label="Request headers"><KeyValueRows rows={headers} onChange={setHeaders} keyLabel="Header" testid="check-headers" /></FieldSet>
        {hasBody && <Field label="Request body"><textarea name="body" className="mono" rows={4} value={c.body} onChange={(e) => set('body', e.target.value)} /></Field>}
        <div className="ua-checks-row">
          <label className="ua-check"><input type="checkbox" checked={c.followRedirects} onChange={(e) => set('followRedirects', e.target.checked)} /> Follow redirects</label>
          <label className="ua-check"><input type="checkbox" checked={c.insecureSkipVerify} onChange={(e) => set('insecureSkipVerify', e.target.checked)} /> Skip TLS certificate verification</label>
          <label className="ua-check"><input type="checkbox" checked={c.enabled} onChange={(e) => set('enabled', e.target.checked)} /> Enabled</label>
        </div>
        <FieldSet label="Run from agents" hint="Each chosen agent is a region: it runs the check and reports its own result. None ticked: every host agent.">
          {ag.error ? <div className="muted small">Agents could not be listed: {ag.error}</div> :
            <MultiCheck options={agentOptions} value={c.agents} onChange={(v) => set('agents', v)} none="All host agents" testid="check-agents" />}
        </FieldSet>
      </form>
    </Drawer>
  );
}
