// Log settings: retention per category (shorter than the server's event
// retention, which no rule can extend) and how to collect logs with the
// agent.
import { useState } from 'react';
import * as LA from '../../logsApi';
import { ErrorBanner } from '../../components/Panel';
import { int } from '../../format';
import { useApp, useData } from '../../state';
import { FormError } from '../alerts/ui';
import { errText } from './common';

export default function LogSettings() {
  const app = useApp();
  const [bump, setBump] = useState(0);
  const list = useData(LA.retention, [app.project, bump]);
  const cats = useData(() => { const end = Date.now() / 1000; return LA.categories({ start: end - 86400, end }).catch(() => [] as LA.CategoryCount[]); }, [app.project]);
  const [category, setCategory] = useState('');
  const [days, setDays] = useState('7');
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const refresh = () => setBump((b) => b + 1);
  const add = (e: React.FormEvent) => {
    e.preventDefault();
    setErr(null);
    if (!category.trim()) { setErr('Name the category (as the agent sends it, e.g. nginx-access).'); return; }
    const d = Number(days);
    if (!Number.isInteger(d) || d < 1) { setErr('Days must be a whole number of at least 1.'); return; }
    setBusy(true);
    LA.createRetention({ category: category.trim(), days: d }).then(() => { setCategory(''); refresh(); }, (x) => setErr(errText(x))).finally(() => setBusy(false));
  };
  const rules = list.data || [];
  const ruled = new Set(rules.map((r) => r.category));
  return (
    <div className="page lg-page lg-settings" data-testid="logs-settings">
      <div className="page-head">
        <div><h1>Log settings</h1><p className="muted">How long each category is kept, and how to send logs.</p></div>
      </div>
      <section className="panel" data-testid="retention">
        <div className="panel-head"><h3>Retention per category</h3><span className="muted small">Lines of a category older than its days are deleted (checked hourly). Categories without a rule are kept as long as all events.</span></div>
        <div className="panel-body">
          <ErrorBanner error={list.error} />
          {list.data && rules.length === 0 && <p className="muted" data-testid="retention-empty">No retention rule yet: every category is kept as long as the server keeps events.</p>}
          {rules.length > 0 && (
            <table className="table lg-ret-table" data-testid="retention-table">
              <thead><tr><th>Category</th><th>Kept for</th><th className="r">Lines, last 24 h</th><th><span className="ua-sr-only">Actions</span></th></tr></thead>
              <tbody>
                {rules.map((r) => <RetentionRow key={r.id} r={r} count={cats.data?.find((c) => c.category === r.category)?.count} onChanged={refresh} />)}
              </tbody>
            </table>
          )}
          <form className="lg-ret-add" onSubmit={add} aria-label="Add a retention rule">
            <label>Category <input name="category" list="lg-ret-cats" value={category} onChange={(e) => setCategory(e.target.value)} placeholder="e.g. nginx-access" data-testid="retention-category" /></label>
            <label>Days <input name="days" type="number" min={1} step={1} value={days} onChange={(e) => setDays(e.target.value)} data-testid="retention-days" style={{ width: 90 }} /></label>
            <button type="submit" className="btn primary" disabled={busy} data-testid="retention-add">{busy ? 'Adding…' : 'Add rule'}</button>
            <datalist id="lg-ret-cats">{(cats.data || []).filter((c) => !ruled.has(c.category)).map((c) => <option key={c.category} value={c.category}>{int(c.count)} lines</option>)}</datalist>
          </form>
          <FormError error={err} testid="retention-error" />
        </div>
      </section>

      <section className="panel lg-help" data-testid="collect-help">
        <div className="panel-head"><h3>How to collect logs</h3></div>
        <div className="panel-body">
          <p>The agent tails files, follows rotation and parses known formats into fields. Add a <code>logs</code> module to <code>osprey-agent.yaml</code> and restart the agent:</p>
          <pre className="cmd" data-testid="collect-yaml">{`modules:
  logs:
    enabled: true
    sources:
      - paths: ["/var/log/nginx/access.log"]
        category: nginx
        parsers: [{type: nginx}]
      - paths: ["/var/log/myapp/*.log"]
        category: app`}</pre>
          <ul className="empty-notes">
            <li><b>category</b> names the stream: it is what the live tail, search and retention rules choose by.</li>
            <li>The <b>nginx</b> parser turns access lines into <code>http.response.status_code</code>, <code>url.path</code>, <code>client.address</code>, <code>http.request.method</code>, <code>user_agent.original</code> and <code>http.server.request.duration</code>.</li>
            <li>Applications can also send logs over OTLP (gRPC :4317 or HTTP :4318) with the project key; <code>log.category</code> sets their category.</li>
          </ul>
        </div>
      </section>
    </div>
  );
}

function RetentionRow({ r, count, onChanged }: { r: LA.Retention; count?: number; onChanged(): void }) {
  const [days, setDays] = useState(String(r.days));
  const [err, setErr] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const dirty = days !== String(r.days);
  const save = (e: React.FormEvent) => {
    e.preventDefault();
    const d = Number(days);
    if (!Number.isInteger(d) || d < 1) { setErr('Days must be a whole number of at least 1.'); return; }
    setBusy(true); setErr(null);
    LA.updateRetention(r.id, { category: r.category, days: d }).then(onChanged, (x) => setErr(errText(x))).finally(() => setBusy(false));
  };
  const del = () => {
    if (!confirm(`Delete the retention rule of “${r.category}”? Its lines are then kept as long as all events.`)) return;
    setBusy(true); setErr(null);
    LA.deleteRetention(r.id).then(onChanged, (x) => { setErr(errText(x)); setBusy(false); });
  };
  return (
    <>
      <tr data-testid="retention-row" data-category={r.category} data-days={r.days}>
        <td><b>{r.category}</b></td>
        <td>
          <form className="lg-ret-edit" onSubmit={save}>
            <input type="number" min={1} step={1} value={days} onChange={(e) => setDays(e.target.value)} aria-label={`Days to keep ${r.category}`} data-testid="retention-row-days" style={{ width: 80 }} /> days
            {dirty && <button type="submit" className="btn ua-xs primary" disabled={busy} data-testid="retention-row-save">Save</button>}
            {dirty && <button type="button" className="btn ua-xs" onClick={() => { setDays(String(r.days)); setErr(null); }}>Undo</button>}
          </form>
        </td>
        <td className="r">{count == null ? <span className="muted">–</span> : int(count)}</td>
        <td className="r"><button className="btn ua-xs ua-danger" onClick={del} disabled={busy} data-testid="retention-row-delete">Delete</button></td>
      </tr>
      {err && <tr><td colSpan={4}><FormError error={err} testid="retention-row-error" /></td></tr>}
    </>
  );
}
