// Shared pieces of the database pages: unit formatters, the series loader,
// health marks, a modal dialog and the "Alert on this" form.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import * as API from '../../api';
import * as DB from '../../dbApi';
import type { Series } from '../../components/Chart';
import { bytes, num, rate } from '../../format';
import { linkHandler } from '../../state';

// ---- formatting ----
// fmtCount: 4, 0.25, 0.005, 12.5k, 3.1M (no trailing zeros).
export function fmtCount(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(v)) return String(Math.round(v));
  if (a >= 0.1) return String(+v.toFixed(2));
  return String(+v.toPrecision(2));
}
export const fmtPerSec = (v: number) => `${fmtCount(v)}/s`;
export const fmtBytes = (v: number) => bytes(v);
export const fmtBytesRate = (v: number) => rate(v);
export const fmtSeconds = (v: number) => secs(v);
export const fmtSecPerSec = (v: number) => `${num(v)} s/s`;
export const fmtInt = (v: number) => fmtCount(v);

// unitFmt picks a stable formatter (chart options depend on its identity).
export function unitFmt(unit: string): (v: number) => string {
  switch (unit) {
    case '/s': return fmtPerSec;
    case 's': return fmtSeconds;
    case 'bytes': return fmtBytes;
    case 'bytes/s': return fmtBytesRate;
    case 's/s': return fmtSecPerSec;
    default: return fmtCount;
  }
}

// secs: a duration in seconds, short: 850 ms, 12 s, 3m 04s, 2h 10m, 3d 4h.
export function secs(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0 s';
  if (a < 1) return `${Math.round(a * 1000)} ms`;
  if (a < 60) return `${a < 10 ? a.toFixed(1) : Math.round(a)} s`;
  if (a < 3600) return `${Math.floor(a / 60)}m ${String(Math.floor(a % 60)).padStart(2, '0')}s`;
  if (a < 86400) return `${Math.floor(a / 3600)}h ${String(Math.floor((a % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(a / 86400)}d ${Math.floor((a % 86400) / 3600)}h`;
}
// latency: statement times, ms under a second.
export function latency(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  if (v < 0.001) return `${(v * 1000).toFixed(3)} ms`;
  if (v < 1) return `${(v * 1000).toFixed(v < 0.01 ? 2 : v < 0.1 ? 1 : 0)} ms`;
  return secs(v);
}
export const sevClass = (v: number | null | undefined, warn: number, crit: number) => (v == null ? '' : v >= crit ? 'crit' : v >= warn ? 'warn' : '');

// ---- series ----
// withGaps turns a Prometheus matrix row into chart points with a null
// where samples are missing, so lines break instead of bridging.
export function withGaps(values: [number, string][], step: number): [number, number | null][] {
  const out: [number, number | null][] = [];
  let prev = 0;
  for (const [t, v] of values) {
    if (prev && t - prev > 2.5 * step) out.push([(prev + step) * 1000, null]);
    out.push([t * 1000, v === 'NaN' || v === '+Inf' || v === '-Inf' ? null : Number(v)]);
    prev = t;
  }
  return out;
}

// seriesName names one result row: the label a query is split by, prefixed
// by the metric's name when a chart holds several metrics.
export function seriesName(metric: Record<string, string>, name: string, several: boolean): string {
  const labels = Object.entries(metric).filter(([k]) => k !== '__name__').map(([, v]) => v);
  if (!labels.length) return name;
  const l = labels.join(' ') || '(none)';
  return several ? `${name} ${l}` : l;
}

export interface QuerySpec { query: string; name: string }
// loadSeries runs each query over [start, end] and gives chart series; a
// failed query gives none (and the error text, once).
export async function loadSeries(specs: QuerySpec[], start: number, end: number, step: number): Promise<{ series: Series[]; error: string | null }> {
  let error: string | null = null;
  const parts = await Promise.all(specs.map((s) => API.queryRange(s.query, start, end, step).then(
    (res) => res.map((r): Series => ({ name: seriesName(r.metric, s.name, specs.length > 1), data: withGaps(r.values, step) })),
    (e) => { error = error || String(e?.message || e); return [] as Series[]; })));
  return { series: parts.flat(), error };
}

// points counts the non-null points drawn (tests read it from data-points).
export const points = (series: Series[] | undefined) => (series || []).reduce((n, s) => n + s.data.filter((p) => p[1] != null).length, 0);
export const lastValue = (series: Series[]): number | null => {
  let best: number | null = null;
  for (const s of series) for (let i = s.data.length - 1; i >= 0; i--) { const v = s.data[i][1]; if (v != null) { best = best == null ? v : Math.max(best, v); break; } }
  return best;
};
export const maxValue = (series: Series[]): number | null => {
  let best: number | null = null;
  for (const s of series) for (const [, v] of s.data) if (v != null && (best == null || v > best)) best = v;
  return best;
};
// niceCeil rounds up to 1, 2 or 5 times a power of ten (0 stays 0).
export function niceCeil(v: number): number {
  if (!(v > 0)) return 0;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return +(m * p).toPrecision(6);
  return 10 * p;
}

// ---- health ----
const healthText: Record<string, string> = {
  ok: 'healthy', warning: 'lock waits', down: 'not answering', inactive: 'agent silent',
};
export function HealthDot({ health, title }: { health: string; title?: string }) {
  return <span className={'db-dot ' + health} title={title || healthText[health] || health} data-testid="db-health" data-health={health} role="img" aria-label={healthText[health] || health} />;
}
export function HealthBadge({ inst }: { inst: DB.DbInstance }) {
  const cls = inst.health === 'ok' ? 'live' : inst.health === 'warning' ? 'past' : 'off';
  return <span className={'badge ' + cls} data-testid="db-health-badge" data-health={inst.health}>{healthText[inst.health] || inst.health}</span>;
}
// engineName: MariaDB reports as the mysql engine; its version says so.
export function engineName(inst: Pick<DB.DbInstance, 'engine' | 'version'>): string {
  if (inst.engine === 'mysql' && /mariadb/i.test(inst.version || '')) return 'MariaDB';
  return DB.engineLabel(inst.engine);
}
export const shortVersion = (v: string) => (v || '').replace(/-MariaDB.*$/i, '').replace(/ \(.*$/, '').split(' ')[0];

// ---- a modal dialog: Escape and the backdrop close it, focus moves in ----
export function Modal({ title, onClose, children, wide, testid }: { title: ReactNode; onClose(): void; children: ReactNode; wide?: boolean; testid?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>('[data-autofocus], input, select, textarea, button');
    first?.focus();
    const key = (e: KeyboardEvent) => { if (e.key === 'Escape') { e.stopPropagation(); close.current(); } };
    document.addEventListener('keydown', key);
    return () => { document.removeEventListener('keydown', key); prev?.focus?.(); };
  }, []);
  return (
    <div className="db-modal-back" onMouseDown={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div className={'db-modal' + (wide ? ' wide' : '')} role="dialog" aria-modal="true" aria-label={typeof title === 'string' ? title : undefined} ref={ref} data-testid={testid}>
        <div className="db-modal-head"><h2>{title}</h2><button className="icon-btn" onClick={onClose} aria-label="Close" data-testid="modal-close">✕</button></div>
        {children}
      </div>
    </div>
  );
}

// ---- "Alert on this": a metric rule prefilled from a chart ----
export interface AlertSeed { name: string; expr: string; threshold: number; unit: string; instance: string; choices?: { label: string; expr: string }[] }
export function AlertDialog({ seed, onClose }: { seed: AlertSeed; onClose(): void }) {
  const [name, setName] = useState(seed.name);
  const [expr, setExpr] = useState(seed.expr);
  const [op, setOp] = useState<DB.NewMetricRule['op']>('>');
  const [threshold, setThreshold] = useState(String(seed.threshold));
  const [forD, setFor] = useState('1m');
  const [repeat, setRepeat] = useState('30m');
  const [severity, setSeverity] = useState<DB.NewMetricRule['severity']>('warning');
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [made, setMade] = useState<DB.AlertRule | null>(null);
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const t = Number(threshold);
    if (!name.trim()) { setErr('Give the rule a name.'); return; }
    if (!Number.isFinite(t) || threshold.trim() === '') { setErr('The threshold must be a number.'); return; }
    setBusy(true); setErr(null);
    DB.createRule({ name: name.trim(), kind: 'metric', enabled: true, severity, expr: expr.trim(), op, threshold: t, for: forD.trim(), repeat: repeat.trim(), message })
      .then((r) => setMade(r || ({ id: 0 } as DB.AlertRule)), (x) => setErr(String(x?.message || x)))
      .finally(() => setBusy(false));
  };
  const unitNote = seed.unit ? ` (unit: ${seed.unit})` : '';
  return (
    <Modal title="Alert on this" onClose={onClose} testid="alert-dialog">
      {made ? (
        <div className="db-form" data-testid="alert-result" data-ok="true">
          <p className="db-success" role="status">Rule “{name}” created{made.id ? ` (#${made.id})` : ''}. It is evaluated from now on; notifications go to the project's channels.</p>
          <div className="row-end">
            <a className="btn" href="/alerts/rules" onClick={linkHandler('/alerts/rules')}>Open alert rules</a>
            <button className="btn primary" onClick={onClose} data-testid="alert-done">Done</button>
          </div>
        </div>
      ) : (
        <form className="db-form" onSubmit={submit}>
          <p className="muted small" style={{ margin: 0 }}>A metric rule on <b>{seed.instance}</b>: it fires when the expression's value stays beyond the threshold for the given time.</p>
          <label>Name <input value={name} onChange={(e) => setName(e.target.value)} data-testid="alert-name" required /></label>
          {seed.choices && seed.choices.length > 1 && (
            <label>Line of the chart
              <select value={seed.choices.find((c) => c.expr === expr)?.expr ?? ''} onChange={(e) => { if (e.target.value) setExpr(e.target.value); }} data-testid="alert-series">
                {!seed.choices.some((c) => c.expr === expr) && <option value="">(edited expression)</option>}
                {seed.choices.map((c) => <option key={c.expr} value={c.expr}>{c.label}</option>)}
              </select>
            </label>
          )}
          <label>PromQL expression <textarea className="mono" rows={3} value={expr} onChange={(e) => setExpr(e.target.value)} data-testid="alert-expr" spellCheck={false} /></label>
          <div className="db-form-row">
            <label>Condition
              <select value={op} onChange={(e) => setOp(e.target.value as DB.NewMetricRule['op'])} data-testid="alert-op">
                {['>', '>=', '<', '<=', '==', '!='].map((o) => <option key={o} value={o}>{o}</option>)}
              </select>
            </label>
            <label><span>Threshold<span className="muted" style={{ fontWeight: 400 }}>{unitNote}</span></span> <input type="number" step="any" value={threshold} onChange={(e) => setThreshold(e.target.value)} data-testid="alert-threshold" /></label>
            <label>For <input value={forD} onChange={(e) => setFor(e.target.value)} data-testid="alert-for" placeholder="1m" size={6} /></label>
            <label>Repeat every <input value={repeat} onChange={(e) => setRepeat(e.target.value)} data-testid="alert-repeat" placeholder="30m" size={6} /></label>
            <label>Severity
              <select value={severity} onChange={(e) => setSeverity(e.target.value as DB.NewMetricRule['severity'])} data-testid="alert-severity">
                <option value="info">info</option><option value="warning">warning</option><option value="critical">critical</option>
              </select>
            </label>
          </div>
          <label><span>Message <span className="muted" style={{ fontWeight: 400 }}>(optional; empty gives a standard text)</span></span> <input value={message} onChange={(e) => setMessage(e.target.value)} data-testid="alert-message" /></label>
          {err && <div className="error-banner" role="alert" data-testid="alert-error">{err}</div>}
          <div className="row-end">
            <button type="button" className="btn" onClick={onClose}>Cancel</button>
            <button type="submit" className="btn primary" disabled={busy} data-testid="alert-submit">{busy ? 'Creating…' : 'Create rule'}</button>
          </div>
        </form>
      )}
    </Modal>
  );
}

// useOutside closes a menu on a click elsewhere.
export function useOutside<T extends HTMLElement>(open: boolean, close: () => void) {
  const ref = useRef<T>(null);
  const cb = useRef(close);
  cb.current = close;
  useEffect(() => {
    if (!open) return;
    const f = (e: MouseEvent) => { if (ref.current && !ref.current.contains(e.target as Node)) cb.current(); };
    const k = (e: KeyboardEvent) => { if (e.key === 'Escape') cb.current(); };
    document.addEventListener('mousedown', f);
    document.addEventListener('keydown', k);
    return () => { document.removeEventListener('mousedown', f); document.removeEventListener('keydown', k); };
  }, [open]);
  return ref;
}

// csv quotes a table for a spreadsheet.
export function csv(rows: (string | number)[][]): string {
  return rows.map((r) => r.map((c) => { const s = String(c); return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; }).join(',')).join('\r\n') + '\r\n';
}
export function download(name: string, text: string, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url; a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
