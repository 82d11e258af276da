// Log dashboards: widgets the user composes from log queries: counts over
// time split by a field, top values, a statistic of a numeric field over
// time, a single count. Kept per project in localStorage; a fresh user
// gets four sensible widgets. Count widgets offer "Alert on this" (a log
// alert rule with the widget's query).
import { useEffect, useMemo, useState } from 'react';
import * as LA from '../../logsApi';
import * as AA from '../../alertsApi';
import { TimeChart, type Series } from '../../components/Chart';
import { Icon } from '../../components/Icon';
import { int } from '../../format';
import { linkHandler, stepFor, useApp, useData } from '../../state';
import { Drawer, Field, FieldSet, FormError, Seg } from '../alerts/ui';
import { Modal, fmtCount, latency, useOutside } from '../db/common';
import { BarTimeChart, type BarSeries } from './charts';
import { Sparkline, errText, levelKey, levelOrder, levelVar, logsLink, useWindow } from './common';

export type WidgetType = 'count' | 'top' | 'stat' | 'single';
export interface Widget { id: string; type: WidgetType; title: string; q: string; filters: string[]; categories: string[]; by: string; fn: LA.StatFn; field: string; wide: boolean }

const typeInfo: Record<WidgetType, { label: string; hint: string }> = {
  count: { label: 'Count over time', hint: 'Matching lines per interval, stacked by the values of a field (e.g. 5xx per url.path).' },
  top: { label: 'Top values', hint: 'The most frequent values of a field in the range, as bars.' },
  stat: { label: 'Stat over time', hint: 'avg / max / p95 / sum of a numeric field per interval, one line per value of another field.' },
  single: { label: 'Single count', hint: 'How many lines match in the range, with its trend.' },
};
const fns: LA.StatFn[] = ['avg', 'max', 'min', 'p95', 'sum', 'count'];
let idSeq = 0;
const newId = () => `w${Date.now().toString(36)}${(idSeq++).toString(36)}`;
const blank = (type: WidgetType = 'count'): Widget => ({ id: newId(), type, title: '', q: '', filters: [], categories: [], by: '', fn: 'p95', field: '', wide: false });

export function defaultWidgets(): Widget[] {
  return [
    { ...blank('count'), id: 'd1', title: 'Log lines by level', by: 'level' },
    { ...blank('count'), id: 'd2', title: '5xx responses by url.path', filters: ['http.response.status_code~5'], by: 'url.path' },
    { ...blank('top'), id: 'd3', title: 'Top client addresses', by: 'client.address' },
    { ...blank('stat'), id: 'd4', title: 'p95 request duration by url.path', fn: 'p95', field: 'http.server.request.duration', by: 'url.path' },
  ];
}
export const dashboardKey = (project: string) => `osprey.logs.dashboard.${project}`;
const str = (v: unknown, d = '') => (typeof v === 'string' ? v : d);
const strs = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
export function loadWidgets(project: string): Widget[] {
  try {
    const raw = localStorage.getItem(dashboardKey(project));
    if (!raw) return defaultWidgets();
    const v = JSON.parse(raw);
    if (!Array.isArray(v?.widgets)) return defaultWidgets();
    return v.widgets.slice(0, 40).map((w: Record<string, unknown>): Widget => ({
      id: str(w.id) || newId(), type: (['count', 'top', 'stat', 'single'] as const).find((t) => t === w.type) || 'count', title: str(w.title), q: str(w.q),
      filters: strs(w.filters), categories: strs(w.categories), by: str(w.by), fn: fns.find((f) => f === w.fn) || 'p95', field: str(w.field), wide: !!w.wide,
    }));
  } catch {
    return defaultWidgets();
  }
}
function saveWidgets(project: string, widgets: Widget[]) {
  try { localStorage.setItem(dashboardKey(project), JSON.stringify({ version: 1, widgets })); } catch { /* storage full or off */ }
}
// queryOf is a widget's selection; top values and stats look only at lines
// that have the field ("field!=" leaves out lines without it).
function queryOf(w: Widget, start: number, end: number): LA.LogQuery {
  const need = w.type === 'top' ? w.by : w.type === 'stat' && w.fn !== 'count' ? w.field : '';
  const has = need.trim() ? `${need.trim()}!=` : '';
  return { start, end, q: w.q, filters: has && !w.filters.includes(has) ? [...w.filters, has] : w.filters, categories: w.categories };
}
export const widgetTitle = (w: Widget) => w.title || (w.type === 'top' ? `Top ${w.by}` : w.type === 'stat' ? `${w.fn} ${w.field}${w.by ? ` by ${w.by}` : ''}` : w.type === 'single' ? 'Lines' : `Lines${w.by ? ` by ${w.by}` : ''}`);

export default function LogDashboards() {
  const app = useApp();
  const [widgets, setWidgets] = useState<Widget[]>(() => loadWidgets(app.project));
  useEffect(() => setWidgets(loadWidgets(app.project)), [app.project]);
  const update = (f: (w: Widget[]) => Widget[]) => setWidgets((cur) => { const n = f(cur); saveWidgets(app.project, n); return n; });
  const [editing, setEditing] = useState<{ w: Widget; isNew: boolean } | null>(null);
  const [alertOn, setAlertOn] = useState<Widget | null>(null);
  // widgets refresh every 15 s while live
  const win = useWindow(15000);
  const step = stepFor(win.start, win.end, 60);
  const move = (i: number, d: number) => update((ws) => { const n = ws.slice(); const j = i + d; if (j < 0 || j >= n.length) return ws; [n[i], n[j]] = [n[j], n[i]]; return n; });

  return (
    <div className="page lg-page" data-testid="logs-dashboards">
      <div className="page-head">
        <div>
          <h1>Log dashboards</h1>
          <p className="muted">Charts of log lines over the page's time range · saved in this browser for project “{app.project}”</p>
        </div>
        <div className="page-actions">
          <button className="btn" onClick={() => { if (confirm('Replace this dashboard with the default widgets?')) update(() => defaultWidgets()); }} data-testid="dash-reset">Reset to defaults</button>
          <button className="btn primary" onClick={() => setEditing({ w: blank(), isNew: true })} data-testid="dash-add">+ Add widget</button>
        </div>
      </div>
      {widgets.length === 0 ? (
        <div className="empty-state">
          <div className="empty-illustration" aria-hidden="true"><Icon name="dash" size={56} /></div>
          <h2>No widgets</h2>
          <p>Add a widget: lines over time by a field, the top values of a field, a statistic of a numeric field (e.g. p95 of <code>http.server.request.duration</code> by <code>url.path</code>) or a single count.</p>
          <p><button className="btn primary" onClick={() => setEditing({ w: blank(), isNew: true })}>+ Add widget</button> <button className="btn" onClick={() => update(() => defaultWidgets())}>Use the default widgets</button></p>
        </div>
      ) : (
        <div className="lg-dash" data-testid="dash-grid">
          {widgets.map((w, i) => (
            <WidgetPanel key={w.id} w={w} start={win.start} end={win.end} winKey={win.key} step={step}
              onEdit={() => setEditing({ w, isNew: false })} onRemove={() => update((ws) => ws.filter((x) => x.id !== w.id))}
              onMove={(d) => move(i, d)} first={i === 0} last={i === widgets.length - 1} onAlert={() => setAlertOn(w)} />
          ))}
        </div>
      )}
      {editing && <WidgetEditor initial={editing.w} isNew={editing.isNew} onClose={() => setEditing(null)}
        onSave={(w) => { update((ws) => (editing.isNew ? [...ws, w] : ws.map((x) => (x.id === w.id ? w : x)))); setEditing(null); }} />}
      {alertOn && <LogAlertDialog w={alertOn} onClose={() => setAlertOn(null)} />}
    </div>
  );
}

function WidgetPanel({ w, start, end, winKey, step, onEdit, onRemove, onMove, first, last, onAlert }: {
  w: Widget; start: number; end: number; winKey: string; step: number; onEdit(): void; onRemove(): void; onMove(d: number): void; first: boolean; last: boolean; onAlert(): void;
}) {
  const app = useApp();
  const [menu, setMenu] = useState(false);
  const ref = useOutside<HTMLDivElement>(menu, () => setMenu(false));
  const title = widgetTitle(w);
  const countable = w.type === 'count' || w.type === 'single';
  const searchHref = logsLink('/logs/search', { q: w.q, filters: w.filters, categories: w.categories, levels: [] });
  const q = useMemo(() => queryOf(w, start, end), [w, winKey]); // eslint-disable-line react-hooks/exhaustive-deps
  const zoom = (a: number, b: number) => app.setRange({ live: false, start: a, end: b });
  return (
    <section className={'panel lg-widget' + (w.wide ? ' wide' : '')} data-testid="widget" data-type={w.type} data-title={title}>
      <div className="panel-head">
        <h3 className="lg-widget-title" title={describe(w)}>{title}</h3>
        <div className="panel-extra">
          {countable && <button className="icon-btn db-mini" onClick={onAlert} title="Alert on this" aria-label={`Alert on ${title}`} data-testid="widget-alert"><Icon name="alert" size={14} /></button>}
          <div className="dropdown" ref={ref}>
            <button className="icon-btn db-mini" onClick={() => setMenu(!menu)} aria-haspopup="menu" aria-expanded={menu} aria-label={`${title} menu`} data-testid="widget-menu">⋯</button>
            {menu && (
              <div className="menu right" role="menu">
                <button className="menu-item" role="menuitem" onClick={() => { setMenu(false); onEdit(); }} data-testid="widget-edit">Edit…</button>
                {countable && <button className="menu-item" role="menuitem" onClick={() => { setMenu(false); onAlert(); }}>Alert on this…</button>}
                <a className="menu-item" role="menuitem" href={searchHref} onClick={linkHandler(searchHref)}>Open in search</a>
                {!first && <button className="menu-item" role="menuitem" onClick={() => { setMenu(false); onMove(-1); }}>Move earlier</button>}
                {!last && <button className="menu-item" role="menuitem" onClick={() => { setMenu(false); onMove(1); }}>Move later</button>}
                <button className="menu-item" role="menuitem" onClick={() => { setMenu(false); onRemove(); }} data-testid="widget-remove"><span className="crit">Remove</span></button>
              </div>
            )}
          </div>
        </div>
      </div>
      <div className="panel-body">
        {w.type === 'count' && <CountBody q={q} w={w} step={step} onZoom={zoom} />}
        {w.type === 'stat' && <StatBody q={q} w={w} step={step} onZoom={zoom} />}
        {w.type === 'top' && <TopBody q={q} w={w} />}
        {w.type === 'single' && <SingleBody q={q} step={step} />}
      </div>
    </section>
  );
}

function describe(w: Widget): string {
  const parts = [typeInfo[w.type].label];
  if (w.q) parts.push(`text: ${w.q}`);
  if (w.categories.length) parts.push(`category: ${w.categories.join(', ')}`);
  if (w.filters.length) parts.push(`filters: ${w.filters.join(', ')}`);
  if (w.type === 'stat') parts.push(`${w.fn} of ${w.field}`);
  if (w.by) parts.push(`by ${w.by}`);
  return parts.join('\n');
}

const H = 200;
const fmtLatency = (v: number) => (v === 0 ? '0' : latency(v));
const MAX_SERIES = 8;
// topSeries keeps the biggest series (by total or peak) and sums the rest into "other".
function topSeries(series: Record<string, LA.StatPoint[]>, rank: 'total' | 'peak', sumRest: boolean): [string, [number, number | null][]][] {
  const entries = Object.entries(series).map(([k, pts]) => {
    const vals = pts.map((p) => p.value);
    const score = rank === 'total' ? vals.reduce((s: number, v) => s + (v || 0), 0) : Math.max(0, ...vals.map((v) => v || 0));
    return { k, pts, score };
  }).sort((a, b) => b.score - a.score);
  const keep = entries.slice(0, MAX_SERIES);
  const out: [string, [number, number | null][]][] = keep.map((e) => [e.k, e.pts.map((p) => [LA.toMs(p.time), p.value] as [number, number | null])]);
  const rest = entries.slice(MAX_SERIES);
  if (sumRest && rest.length) {
    const m = new Map<number, number>();
    for (const e of rest) for (const p of e.pts) { const t = LA.toMs(p.time); m.set(t, (m.get(t) || 0) + (p.value || 0)); }
    out.push([`other (${rest.length})`, [...m.entries()].sort((a, b) => a[0] - b[0])]);
  }
  return out;
}
function Empty({ children, testid }: { children: React.ReactNode; testid?: string }) {
  return <div className="panel-empty chart-empty" style={{ height: H }} data-testid={testid}>{children}</div>;
}

function CountBody({ q, w, step, onZoom }: { q: LA.LogQuery; w: Widget; step: number; onZoom(a: number, b: number): void }) {
  const app = useApp();
  const res = useData(() => LA.stats(q, { fn: 'count', by: w.by || undefined, step, top: MAX_SERIES + 4 }), [q, w.by, step, app.project]);
  const series = useMemo((): BarSeries[] => {
    const top = topSeries(res.data?.series || {}, 'total', true);
    if (w.by === 'level') top.sort((a, b) => (levelOrder[levelKey(a[0])] ?? 9) - (levelOrder[levelKey(b[0])] ?? 9));
    return top.map(([k, pts]) => ({ name: k || (w.by ? '(none)' : 'lines'), color: w.by === 'level' ? levelVar[levelKey(k)] : undefined, data: pts.map(([t, v]) => [t, v || 0] as [number, number]) }));
  }, [res.data, w.by]);
  const total = series.reduce((s, x) => s + x.data.reduce((a, p) => a + p[1], 0), 0);
  if (res.error && !res.data) return <Empty>{res.error}</Empty>;
  if (!res.data) return <Empty>Loading…</Empty>;
  if (total === 0) return <Empty testid="widget-empty">No matching lines in this time range.</Empty>;
  return <BarTimeChart series={series} range={[q.start, q.end]} step={res.data.step || step} fmt={fmtCount} onZoom={onZoom} testid="widget-chart" height={H} />;
}

function StatBody({ q, w, step, onZoom }: { q: LA.LogQuery; w: Widget; step: number; onZoom(a: number, b: number): void }) {
  const app = useApp();
  const res = useData(() => LA.stats(q, { fn: w.fn, field: w.field || undefined, by: w.by || undefined, step, top: MAX_SERIES }), [q, w.fn, w.field, w.by, step, app.project]);
  const series = useMemo((): Series[] => topSeries(res.data?.series || {}, 'peak', false).map(([k, pts]) => ({ name: k || (w.by ? '(none)' : `${w.fn} ${w.field}`), data: pts })), [res.data, w.by, w.fn, w.field]);
  const fmt = /duration|latency|_seconds|\.time$/i.test(w.field) ? fmtLatency : fmtCount;
  const any = series.some((s) => s.data.some((p) => p[1] != null));
  if (!w.field && w.fn !== 'count') return <Empty>Choose the numeric field to compute {w.fn} of (Edit).</Empty>;
  if (res.error && !res.data) return <Empty>{res.error}</Empty>;
  if (!res.data) return <Empty>Loading…</Empty>;
  if (!any) return <Empty testid="widget-empty">No lines with {w.field || 'values'} in this time range.</Empty>;
  return <TimeChart series={series} range={[q.start, q.end]} fmt={fmt} onZoom={onZoom} testid="widget-chart" height={H} />;
}

function TopBody({ q, w }: { q: LA.LogQuery; w: Widget }) {
  const app = useApp();
  const res = useData(() => (w.by ? LA.fieldValues(q, w.by, 10) : Promise.resolve({ total: 0, values: [] })), [q, w.by, app.project]);
  if (!w.by) return <Empty>Choose the field whose values to rank (Edit).</Empty>;
  if (res.error && !res.data) return <Empty>{res.error}</Empty>;
  if (!res.data) return <Empty>Loading…</Empty>;
  const vals = res.data.values;
  if (vals.length === 0) return <Empty testid="widget-empty">No lines with {w.by} in this time range.</Empty>;
  const max = Math.max(1, ...vals.map((v) => v.count));
  const total = res.data.total || vals.reduce((s, v) => s + v.count, 0);
  return (
    <ol className="toplist lg-top" style={{ minHeight: H }} data-testid="widget-top">
      {vals.map((v, i) => {
        const href = logsLink('/logs/search', { q: w.q, filters: [...w.filters, `${w.by}=${v.value}`], categories: w.categories, levels: [] });
        return (
          <li key={v.value} data-testid="widget-top-item">
            <span className="rank">{i + 1}</span>
            <a className="name" href={href} onClick={linkHandler(href)} title={`${v.value} — search these lines`}>{v.value === '' ? '(empty)' : v.value}</a>
            <span className="topbar-track"><span className="topbar-fill" style={{ width: `${(v.count / max) * 100}%` }} /></span>
            <span className="val">{int(v.count)} <span className="muted small">{total ? `${Math.round((v.count / total) * 100)}%` : ''}</span></span>
          </li>
        );
      })}
    </ol>
  );
}

function SingleBody({ q, step }: { q: LA.LogQuery; step: number }) {
  const app = useApp();
  const res = useData(() => LA.stats(q, { fn: 'count', step }), [q, step, app.project]);
  const pts = useMemo(() => {
    const m = new Map<number, number>();
    for (const s of Object.values(res.data?.series || {})) for (const p of s) { const t = LA.toMs(p.time); m.set(t, (m.get(t) || 0) + (p.value || 0)); }
    return [...m.entries()].sort((a, b) => a[0] - b[0]).map((x) => x[1]);
  }, [res.data]);
  if (res.error && !res.data) return <Empty>{res.error}</Empty>;
  if (!res.data) return <Empty>Loading…</Empty>;
  const total = pts.reduce((s, v) => s + v, 0);
  return (
    <div className="lg-single" style={{ height: H }} data-testid="widget-single" data-value={total}>
      <div className="lg-single-n">{int(total)}</div>
      <div className="muted small">lines in the range</div>
      <Sparkline values={pts} width={260} height={56} className="lg-spark lg-single-spark" />
    </div>
  );
}

// ---- the widget editor ----
function WidgetEditor({ initial, isNew, onClose, onSave }: { initial: Widget; isNew: boolean; onClose(): void; onSave(w: Widget): void }) {
  const [w, setW] = useState<Widget>(initial);
  const [filtersText, setFiltersText] = useState(initial.filters.join('\n'));
  const [cats, setCats] = useState(initial.categories.join(', '));
  const [err, setErr] = useState<string | null>(null);
  const set = <K extends keyof Widget>(k: K, v: Widget[K]) => setW((x) => ({ ...x, [k]: v }));
  const fl = useData(() => { const end = Date.now() / 1000; return LA.fields({ start: end - 3600, end }).catch(() => [] as LA.FieldCount[]); }, []);
  const save = (e: React.FormEvent) => {
    e.preventDefault();
    const filters = filtersText.split('\n').map((s) => s.trim()).filter(Boolean);
    const bad = filters.filter((s) => !LA.parseFilter(s));
    const problems: string[] = [];
    if (bad.length) problems.push(`Not a filter: ${bad.join(', ')} (write field=value, field!=value, field~part or field!~part)`);
    if (w.type === 'top' && !w.by.trim()) problems.push('A top-values widget needs the field whose values to rank.');
    if (w.type === 'stat' && w.fn !== 'count' && !w.field.trim()) problems.push(`A stat widget needs the numeric field to compute ${w.fn} of.`);
    if (problems.length) { setErr(problems.join('\n')); return; }
    onSave({ ...w, title: w.title.trim(), q: w.q.trim(), by: w.by.trim(), field: w.field.trim(), filters, categories: cats.split(',').map((s) => s.trim()).filter(Boolean) });
  };
  return (
    <Drawer title={isNew ? 'New widget' : `Edit “${widgetTitle(initial)}”`} onClose={onClose} testid="widget-editor"
      footer={<>
        <FormError error={err} testid="widget-error" />
        <div className="row-end">
          <button type="button" className="btn" onClick={onClose}>Cancel</button>
          <button type="submit" form="widget-form" className="btn primary" data-testid="widget-save">{isNew ? 'Add widget' : 'Save'}</button>
        </div>
      </>}>
      <form id="widget-form" className="ua-form" onSubmit={save} noValidate>
        <Field label="Title" hint="empty: said from the query"><input name="title" value={w.title} onChange={(e) => set('title', e.target.value)} placeholder={widgetTitle(w)} /></Field>
        <FieldSet label="Kind" hint={typeInfo[w.type].hint}>
          <Seg label="Kind" value={w.type} onChange={(t) => set('type', t)} options={(Object.keys(typeInfo) as WidgetType[]).map((t) => ({ value: t, label: typeInfo[t].label }))} testid="widget-type" />
        </FieldSet>
        <div className="ua-kind-box">
          <Field label="Text" hint='words that must be in the message, "a phrase", prefix*'><input name="q" value={w.q} onChange={(e) => set('q', e.target.value)} placeholder="e.g. timeout" /></Field>
          <Field label="Categories" hint="comma-separated; empty: all"><input name="categories" value={cats} onChange={(e) => setCats(e.target.value)} placeholder="e.g. nginx-access" /></Field>
          <Field label="Field filters" hint="one per line: field=value, field!=value, field~part (contains), field!~part">
            <textarea name="filters" rows={3} className="mono" value={filtersText} onChange={(e) => setFiltersText(e.target.value)} placeholder="http.response.status_code~5" spellCheck={false} />
          </Field>
        </div>
        <div className="ua-form-row">
          {w.type === 'stat' && <>
            <Field label="Function" className="ua-narrow">
              <select name="fn" value={w.fn} onChange={(e) => set('fn', e.target.value as LA.StatFn)}>{fns.map((f) => <option key={f} value={f}>{f}</option>)}</select>
            </Field>
            <Field label="Of the field" hint="a numeric field"><input name="field" list="lg-widget-fields" value={w.field} onChange={(e) => set('field', e.target.value)} placeholder="http.server.request.duration" /></Field>
          </>}
          {w.type !== 'single' && (
            <Field label={w.type === 'top' ? 'Field to rank' : 'Split by field'} hint={w.type === 'top' ? undefined : 'empty: one series'}>
              <input name="by" list="lg-widget-fields" value={w.by} onChange={(e) => set('by', e.target.value)} placeholder={w.type === 'top' ? 'client.address' : 'url.path'} />
            </Field>
          )}
        </div>
        <label className="ua-check"><input type="checkbox" checked={w.wide} onChange={(e) => set('wide', e.target.checked)} /> Full width</label>
        <datalist id="lg-widget-fields">{(fl.data || []).map((f) => <option key={f.field} value={f.field} />)}</datalist>
      </form>
    </Drawer>
  );
}

// ---- "Alert on this": a log rule with the widget's query ----
function LogAlertDialog({ w, onClose }: { w: Widget; onClose(): void }) {
  const [name, setName] = useState(widgetTitle(w));
  const [threshold, setThreshold] = useState('');
  const [windowD, setWindow] = useState('5m');
  const [severity, setSeverity] = useState<AA.Severity>('warning');
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState<string | null>(null);
  const [made, setMade] = useState<AA.Rule | null>(null);
  // the busiest 5 minutes of the last hour suggest a threshold
  const peak = useData(() => { const end = Date.now() / 1000; return LA.stats(queryOf(w, end - 3600, end), { fn: 'count', step: 300 }); }, []);
  const peakN = useMemo(() => {
    if (!peak.data) return null;
    const m = new Map<number, number>();
    for (const s of Object.values(peak.data.series)) for (const p of s) { const t = LA.toMs(p.time); m.set(t, (m.get(t) || 0) + (p.value || 0)); }
    return Math.max(0, ...m.values());
  }, [peak.data]);
  useEffect(() => { if (peakN != null && threshold === '') setThreshold(String(Math.max(1, Math.ceil(peakN * 1.2)))); }, [peakN]); // eslint-disable-line react-hooks/exhaustive-deps
  const filters: AA.FieldFilter[] = [...w.filters.map((s) => LA.parseFilter(s)).filter((f): f is LA.Filter => !!f), ...(w.categories.length === 1 ? [{ field: 'category', op: '=' as const, value: w.categories[0] }] : [])];
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const t = Number(threshold);
    if (!name.trim()) { setErr('Give the rule a name.'); return; }
    if (threshold.trim() === '' || !Number.isFinite(t)) { setErr('The threshold must be a number of lines.'); return; }
    setBusy(true); setErr(null);
    AA.createRule({
      name: name.trim(), kind: 'log', enabled: true, severity, text: w.q, filters, window: windowD.trim() || '5m', op: '>=', threshold: t, for: '0s', repeat: '30m', message: '', channels: [],
    }).then((r) => setMade(r || ({ id: 0 } as AA.Rule)), (x) => setErr(errText(x))).finally(() => setBusy(false));
  };
  return (
    <Modal title="Alert on this" onClose={onClose} testid="log-alert-dialog">
      {made ? (
        <div className="db-form" data-testid="log-alert-result" data-ok="true">
          <p className="db-success" role="status">Rule “{name}” created{made.id ? ` (#${made.id})` : ''}: it fires when {threshold} or more matching lines arrive within {windowD}.</p>
          <div className="row-end">
            <a className="btn" href="/alerts/rules" onClick={linkHandler('/alerts/rules')}>Open alert rules</a>
            <button className="btn primary" onClick={onClose} data-testid="log-alert-done">Done</button>
          </div>
        </div>
      ) : (
        <form className="db-form" onSubmit={submit}>
          <p className="muted small" style={{ margin: 0 }}>
            A log rule counting lines{w.q ? <> with “{w.q}”</> : ''}{filters.length ? <> where {filters.map((f) => `${f.field} ${LA.opWords[f.op]} ${f.value}`).join(', ')}</> : ''}.
            {w.categories.length > 1 && <> <b>Note:</b> a rule takes one category; this one counts every category.</>}
          </p>
          <label>Name <input value={name} onChange={(e) => setName(e.target.value)} data-testid="log-alert-name" /></label>
          <div className="db-form-row">
            <label>Lines at least <input type="number" min={1} step={1} value={threshold} onChange={(e) => setThreshold(e.target.value)} data-testid="log-alert-threshold" /></label>
            <label>Within <input value={windowD} onChange={(e) => setWindow(e.target.value)} data-testid="log-alert-window" size={6} /></label>
            <label>Severity
              <select value={severity} onChange={(e) => setSeverity(e.target.value as AA.Severity)} data-testid="log-alert-severity">
                {AA.severities.map((s) => <option key={s} value={s}>{s}</option>)}
              </select>
            </label>
          </div>
          <p className="muted small" style={{ margin: 0 }}>{peakN == null ? (peak.error ? `Last hour: ${peak.error}` : 'Looking at the last hour…') : `Busiest 5 minutes of the last hour: ${int(peakN)} lines.`}</p>
          {err && <div className="error-banner" role="alert" data-testid="log-alert-error">{err}</div>}
          <div className="row-end">
            <button type="button" className="btn" onClick={onClose}>Cancel</button>
            <button type="submit" className="btn primary" disabled={busy} data-testid="log-alert-submit">{busy ? 'Creating…' : 'Create rule'}</button>
          </div>
        </form>
      )}
    </Modal>
  );
}
