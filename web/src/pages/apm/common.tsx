// Shared pieces of the application (APM) pages: the filter kept in the
// address (app, instance, Kubernetes namespace/deployment/pod), the filter
// bar and page tabs, time and band formatting, step-type tags, a local
// 5-s ticker for "right now" views and the empty state.
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import * as APM from '../../apmApi';
import { Icon } from '../../components/Icon';
import { useData, useLocation, useApp, navigate, linkHandler, REFRESH_MS } from '../../state';
import './apm.css';

// ---- the filter, in the address ----
export function readFilter(search: string): APM.ApmFilter {
  const q = new URLSearchParams(search);
  const f: APM.ApmFilter = {};
  for (const k of APM.filterKeys) { const v = q.getAll(k).filter(Boolean); if (v.length) f[k] = v; }
  return f;
}
export function filterSearch(f: APM.ApmFilter, extra: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const k of APM.filterKeys) for (const v of f[k] || []) q.append(k, v);
  for (const [k, v] of Object.entries(extra)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}
// useFilter reads the filter from the address; set() replaces it there
// (keeping the page's own parameters).
export function useFilter() {
  const loc = useLocation();
  const search = loc.includes('?') ? loc.slice(loc.indexOf('?')) : '';
  const filter = useMemo(() => readFilter(search), [search]);
  const key = APM.filterKeys.map((k) => (filter[k] || []).join('\u0001')).join('\u0002');
  const set = (f: APM.ApmFilter) => {
    const q = new URLSearchParams(location.search);
    for (const k of APM.filterKeys) q.delete(k);
    for (const k of APM.filterKeys) for (const v of f[k] || []) q.append(k, v);
    const s = q.toString();
    navigate(location.pathname + (s ? '?' + s : ''), true);
  };
  return { filter, key, set, params: new URLSearchParams(search) };
}
// setParam changes one of the page's own parameters in the address.
export function setParam(name: string, value: string | null | undefined, replace = true) {
  const q = new URLSearchParams(location.search);
  if (value) q.set(name, value); else q.delete(name);
  const s = q.toString();
  navigate(location.pathname + (s ? '?' + s : ''), replace);
}
export const hasFilter = (f: APM.ApmFilter) => APM.filterKeys.some((k) => (f[k] || []).length > 0);

// ---- apps (for the filter bar and tables) ----
// useApps loads the app list (refreshed with the page's clock).
export function useApps(tick: unknown) {
  const app = useApp();
  return useData(() => APM.apps(), [app.project, tick]);
}

// FilterBar: app group, instance and, when the apps run in Kubernetes,
// namespace, deployment and pod; the choices the list offers narrow with
// those already made.
export function FilterBar({ apps, filter, set, children }: { apps: APM.App[] | undefined; filter: APM.ApmFilter; set(f: APM.ApmFilter): void; children?: ReactNode }) {
  const list = apps || [];
  const pick = (k: APM.FilterKey) => (filter[k] || [])[0] || '';
  // instances that pass every filter but the one being chosen
  const instancesFor = (skip: APM.FilterKey) => list.flatMap((a) => a.instances.map((i) => ({ ...i, app: a.app }))).filter((i) =>
    APM.filterKeys.every((k) => k === skip || !(filter[k] || []).length || (filter[k] || []).includes(k === 'app' ? i.app : (i as unknown as Record<string, string>)[k])));
  const values = (k: APM.FilterKey) => {
    const s = new Set<string>();
    for (const i of instancesFor(k)) { const v = k === 'app' ? i.app : (i as unknown as Record<string, string>)[k]; if (v) s.add(v); }
    for (const v of filter[k] || []) s.add(v);
    return [...s].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  };
  const k8s = list.some((a) => a.instances.some((i) => i.namespace || i.deployment || i.pod));
  const labels: Record<APM.FilterKey, string> = { app: 'App', instance: 'Instance', namespace: 'Namespace', deployment: 'Deployment', pod: 'Pod' };
  const keys: APM.FilterKey[] = k8s ? ['app', 'instance', 'namespace', 'deployment', 'pod'] : ['app', 'instance'];
  return (
    <div className="apm-filters" data-testid="apm-filters">
      {keys.map((k) => {
        const vs = values(k);
        if (k !== 'app' && k !== 'instance' && vs.length === 0) return null;
        return (
          <label key={k} className={'apm-filter' + (pick(k) ? ' on' : '')}>
            <span>{labels[k]}</span>
            <select value={pick(k)} data-testid={`filter-${k}`} aria-label={labels[k]}
              onChange={(e) => {
                const next: APM.ApmFilter = { ...filter, [k]: e.target.value ? [e.target.value] : [] };
                // a new app drops an instance of another app
                if (k === 'app' && e.target.value) next.instance = (filter.instance || []).filter((i) => list.find((a) => a.app === e.target.value)?.instances.some((x) => x.instance === i));
                set(next);
              }}>
              <option value="">All</option>
              {vs.map((v) => <option key={v} value={v}>{v}</option>)}
            </select>
          </label>
        );
      })}
      {hasFilter(filter) && <button className="btn ua-xs" onClick={() => set({})} data-testid="filter-clear">Clear</button>}
      {children}
    </div>
  );
}

// ---- page tabs; they keep the filter ----
const pages = [
  { path: '/apm', label: 'Dashboard' },
  { path: '/apm/active', label: 'Active transactions' },
  { path: '/apm/stats', label: 'Statistics' },
  { path: '/apm/map', label: 'Service map' },
];
export function ApmTabs({ current, filter }: { current: string; filter: APM.ApmFilter }) {
  const q = filterSearch(filter);
  return (
    <nav className="apm-tabs" aria-label="Application views">
      {pages.map((p) => (
        <a key={p.path} href={p.path + q} className={current === p.path ? 'on' : ''} onClick={linkHandler(p.path + q)} data-testid={`apm-tab-${p.path.split('/')[2] || 'dashboard'}`}>{p.label}</a>
      ))}
    </nav>
  );
}

// ---- formatting ----
// ms: 0.8 ms, 85 ms, 850 ms, 1.25 s, 12.3 s, 2m 05s.
export function ms(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a < 1) return `${+v.toFixed(2)} ms`;
  if (a < 1000) return `${Math.round(v)} ms`;
  if (a < 10000) return `${(v / 1000).toFixed(2)} s`;
  if (a < 60000) return `${(v / 1000).toFixed(1)} s`;
  const s = Math.round(a / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
export const fmtMs = (v: number) => ms(v);
export function count(v: number | null | undefined): string {
  if (v == null || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(v)) return Math.round(v).toLocaleString('en-US');
  if (a >= 10) return v.toFixed(1);
  return String(+v.toFixed(2));
}
// rate as a percent; the API gives error rates as fractions (0–1).
export const errPct = (v: number | null | undefined) => (v == null || !Number.isFinite(v) ? '–' : `${+(v * 100).toFixed(v * 100 < 10 ? 2 : 1)}%`);
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
// stamp: HH:MM:SS.mmm, with the date when not today.
export function stamp(t: number | string | undefined, milli = true): string {
  if (t == null || t === '') return '–';
  const d = new Date(typeof t === 'number' ? t : Date.parse(t));
  if (Number.isNaN(d.getTime())) return String(t);
  const c = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${milli ? '.' + pad(d.getMilliseconds(), 3) : ''}`;
  return d.toDateString() !== new Date().toDateString() ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${c}` : c;
}

// ---- speed bands of running (and finished) transactions ----
export type Band = 'normal' | 'slow' | 'very_slow';
export const SLOW_MS = 3000;
export const VERY_SLOW_MS = 8000;
export const bandOf = (elapsed: number): Band => (elapsed >= VERY_SLOW_MS ? 'very_slow' : elapsed >= SLOW_MS ? 'slow' : 'normal');
export const bandLabel: Record<Band, string> = { normal: 'Normal', slow: 'Slow', very_slow: 'Very slow' };
export const bandHint: Record<Band, string> = { normal: 'under 3 s', slow: '3–8 s', very_slow: 'over 8 s' };
export function Elapsed({ v, error }: { v: number; error?: boolean }) {
  return <span className={'apm-elapsed b-' + (error ? 'error' : bandOf(v))} data-band={bandOf(v)}>{ms(v)}</span>;
}

// ---- step types ----
export const stepLabel: Record<string, string> = { sql: 'SQL', httpc: 'HTTP', dbc: 'DBC', msg: 'MSG', method: 'Method', stack: 'Stack', event: 'Event' };
export const stepLong: Record<string, string> = { sql: 'SQL', httpc: 'HTTP calls', dbc: 'DB connection', msg: 'Messaging', method: 'Method' };
export function StepTag({ type }: { type: string }) {
  return <span className={'apm-step-tag t-' + (stepLabel[type] ? type : 'method')} data-step-type={type}>{stepLabel[type] || type || 'step'}</span>;
}

// ---- links ----
export const txPath = (traceID: string, spanID: string) => `/apm/tx/${encodeURIComponent(traceID)}/${encodeURIComponent(spanID)}`;
export const tracePath = (traceID: string) => `/apm/trace/${encodeURIComponent(traceID)}`;

// useEvery gives a time that advances every `every` ms while on (views of
// "right now" keep going when the page's time range is a fixed one).
export function useEvery(on: boolean, every = REFRESH_MS) {
  const [t, setT] = useState(Date.now());
  useEffect(() => {
    if (!on) return;
    const id = window.setInterval(() => { if (!document.hidden) setT(Date.now()); }, every);
    return () => clearInterval(id);
  }, [on, every]);
  return t;
}

// ---- no application yet ----
export function NoApps() {
  const host = location.hostname || 'SERVER';
  return (
    <div className="empty-state apm-empty" data-testid="apm-empty">
      <div className="empty-illustration" aria-hidden="true"><Icon name="app" size={56} /></div>
      <h2>No application reports to this project yet</h2>
      <p>Applications send their requests as OpenTelemetry spans, with the project's access key. Each service appears here within seconds, with its transactions, active requests, hitmap and service map.</p>
      <h4 className="sub">Any language, with OpenTelemetry auto-instrumentation (no code change)</h4>
      <pre className="cmd">{`OTEL_SERVICE_NAME=orders \\
OTEL_EXPORTER_OTLP_ENDPOINT=http://${host}:4318 \\
OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer KEY" \\
node --require @opentelemetry/auto-instrumentations-node/register app.js`}</pre>
      <ul className="empty-notes">
        <li>Java: <code>-javaagent:opentelemetry-javaagent.jar</code> with the same variables; Python <code>opentelemetry-instrument</code>, .NET and PHP auto-instrumentation likewise. gRPC goes to port <code>4317</code>.</li>
        <li>Go services: the Osprey library <code>apm</code> adds active transactions with their call stacks, and computes the hitmap and statistics in-process.</li>
        <li>Set <code>service.name</code> (the app) and, per process, <code>service.instance.id</code>; in Kubernetes the <code>k8s.*</code> resource attributes let you filter by namespace, deployment and pod.</li>
      </ul>
    </div>
  );
}

// an <a> that navigates in the app
export function Go({ to, children, className, title, testid }: { to: string; children: ReactNode; className?: string; title?: string; testid?: string }) {
  return <a href={to} onClick={linkHandler(to)} className={className} title={title} data-testid={testid}>{children}</a>;
}

// ---- stack texts ----
// A Go stack is "function\n\tfile:line" pairs; other runtimes print one
// frame a line ("at pkg.Class.method(File.java:12)"). App frames are those
// outside the Go root, the module cache and the usual runtime packages:
// they are highlighted, and the first one names a stack.
const libFile = /\/go\/src\/|\/pkg\/mod\/|\/usr\/(local\/)?(lib\/)?go[^/]*\//;
const libLine = /^\s*(at\s+)?(java\.|javax\.|jdk\.|sun\.|kotlin\.|node:|internal\/|runtime\.|<anonymous>)/;
interface Frame { text: string; app: boolean }
export function frames(text: string): Frame[] {
  const lines = (text || '').split('\n');
  const out: Frame[] = [];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const next = lines[i + 1];
    if (next !== undefined && /^\t/.test(next) && /\.go:\d+/.test(next) && !/^\s/.test(l)) {
      const app = !libFile.test(next) && !/^goroutine \d+/.test(l);
      out.push({ text: l, app }, { text: next, app });
      i++;
    } else out.push({ text: l, app: /^\s*at\s/.test(l) && !libLine.test(l) && !/\(node:|node_modules\/|\/go\/src\//.test(l) });
  }
  return out;
}
// appFrame: the first frame of the app, else the first frame.
export function appFrame(text: string): string {
  const fs = frames(text);
  const a = fs.find((f) => f.app && !/^\t/.test(f.text));
  if (a) return a.text.trim();
  return (text || '').split('\n').map((l) => l.trim()).find((l) => l && !/^goroutine \d+/.test(l)) || '';
}
// StackText shows a stack with the app's frames highlighted; a switch
// keeps only them.
export function StackText({ text, testid, short }: { text: string; testid?: string; short?: boolean }) {
  const fs = useMemo(() => frames(text), [text]);
  const [appOnly, setAppOnly] = useState(false);
  const has = fs.some((f) => f.app);
  const shown = appOnly ? fs.filter((f) => f.app) : fs;
  return (
    <div className="apm-stack-wrap">
      {has && <button className={'apm-stack-toggle' + (appOnly ? ' on' : '')} onClick={() => setAppOnly(!appOnly)} aria-pressed={appOnly} title="Show only the application's frames">app frames only</button>}
      <pre className={'apm-stack' + (short ? ' short' : '')} data-testid={testid}>
        {shown.map((f, i) => <span key={i} className={f.app ? 'hl' : undefined}>{f.text}{'\n'}</span>)}
      </pre>
    </div>
  );
}
