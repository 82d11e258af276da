// Application dashboard: the speed meter of running transactions per
// instance, the live bottleneck breakdown, the apps, the hitmap of
// finished transactions (drag a box to list exactly those) and the
// overview charts (TPS and users against yesterday, response time, Apdex,
// errors, active, CPU, heap). Filters live in the address.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import * as APM from '../../apmApi';
import { TimeChart, type Series } from '../../components/Chart';
import { HitLegend, HitMap, defaultBounds, fmtRange, type HitBox } from '../../components/HitMap';
import { ErrorBanner, Panel } from '../../components/Panel';
import { DataTable, type Column } from '../../components/Table';
import { bytes, clock, num } from '../../format';
import { navigate, stepFor, useApp, useData, window_ } from '../../state';
import {
  ApmTabs, Elapsed, FilterBar, Go, NoApps, SLOW_MS, bandHint, bandLabel, count, errPct, fmtMs, filterSearch, ms, stamp, stepLong, StepTag,
  txPath, useApps, useEvery, useFilter, type Band,
} from './common';

export default function Dashboard() {
  const app = useApp();
  const { filter, key, set } = useFilter();
  const [start, end] = window_(app.range, app.now);
  const apps = useApps(app.now);
  // running transactions are "now" whatever the time range: their own 5-s clock
  const tick = useEvery(!app.paused);
  const act = useData(() => APM.active(filter), [key, app.project, tick]);
  const none = apps.data && apps.data.length === 0 && !hasData(act.data);

  return (
    <div className="page apm-page" data-testid="apm-dashboard">
      <div className="page-head apm-head">
        <div>
          <h1>Application dashboard</h1>
          <ApmTabs current="/apm" filter={filter} />
        </div>
        {!none && <FilterBar apps={apps.data} filter={filter} set={set} />}
      </div>
      <ErrorBanner error={apps.error} />
      {none ? <NoApps /> : (
        <>
          <Kpis filter={filter} fkey={key} end={end} apps={apps.data} active={act.data} />
          <div className="apm-row3">
            <SpeedMeter active={act.data} apps={apps.data} error={act.error} />
            <Bottleneck active={act.data} filter={filter} />
            <AppsPanel apps={apps.data} filter={filter} set={set} />
          </div>
          <HitmapSection filter={filter} fkey={key} />
          <OverviewCharts filter={filter} fkey={key} start={start} end={end} />
        </>
      )}
    </div>
  );
}
const hasData = (a: APM.Active | undefined) => !!a && (a.transactions.length > 0 || a.instances.length > 0);

// ---- the counters of the last interval ----
function Kpis({ filter, fkey, end, apps, active }: { filter: APM.ApmFilter; fkey: string; end: number; apps?: APM.App[]; active?: APM.Active }) {
  const app = useApp();
  // the last 2 minutes at 5 s: the newest complete window's values
  const ov = useData(() => APM.overview(filter, end - 120, end, 5), [fkey, app.project, app.now, app.range]); // eslint-disable-line react-hooks/exhaustive-deps
  const o = ov.data;
  const done = Date.now() - 10000;
  const last = (c: (number | null)[] | undefined) => {
    if (!c || !o) return null;
    for (let i = c.length - 1; i >= 0; i--) if (c[i] != null && o.times[i] <= done) return c[i];
    return null;
  };
  const shown = (apps || []).filter((a) => !(filter.app || []).length || filter.app!.includes(a.app));
  const instances = shown.reduce((n, a) => n + a.instances.length, 0);
  const up = shown.reduce((n, a) => n + a.instances.filter((i) => i.active).length, 0);
  const running = active ? active.instances.reduce((n, i) => n + i.normal + i.slow + i.very_slow, 0) : null;
  const items: [string, string, string?][] = [
    ['TPS', o ? num(last(o.tps)) : '–', o && last(o.yesterday.tps) != null ? `yesterday ${num(last(o.yesterday.tps))}` : undefined],
    ['Avg response', o ? ms(last(o.avg_ms)) : '–'],
    ['Active', running == null ? '–' : String(running)],
    ['Error rate', o ? errPct(last(o.error_rate)) : '–'],
    ['Apdex', o && last(o.apdex) != null ? last(o.apdex)!.toFixed(2) : '–'],
    ['Users', o ? count(last(o.users)) : '–', o && last(o.yesterday.users) != null ? `yesterday ${count(last(o.yesterday.users))}` : undefined],
    ['Instances', `${up}`, `of ${instances} · ${shown.length} app${shown.length === 1 ? '' : 's'}`],
  ];
  return (
    <div className="apm-kpis" data-testid="apm-kpis">
      {items.map(([l, v, sub]) => (
        <div className="apm-kpi" key={l} data-kpi={l}>
          <div className="stat-label">{l}</div>
          <div className="apm-kpi-v">{v}</div>
          {sub && <div className="muted small">{sub}</div>}
        </div>
      ))}
    </div>
  );
}

// ---- speed meter ----
const bands: Band[] = ['normal', 'slow', 'very_slow'];
function SpeedMeter({ active, apps, error }: { active?: APM.Active; apps?: APM.App[]; error: string | null }) {
  const rows = useMemo(() => (active?.instances || []).slice().sort((a, b) => a.app.localeCompare(b.app) || a.instance.localeCompare(b.instance)), [active]);
  const totals = { normal: 0, slow: 0, very_slow: 0 } as Record<Band, number>;
  for (const r of rows) { totals.normal += r.normal; totals.slow += r.slow; totals.very_slow += r.very_slow; }
  const total = totals.normal + totals.slow + totals.very_slow;
  const scale = Math.max(5, ...rows.map((r) => r.normal + r.slow + r.very_slow));
  // The instance's failures in its newest window; the app's rate over 5
  // minutes when the server gives no per-instance count.
  const errRate = (r: APM.ActiveInstance) => r.errors != null
    ? (r.tps > 0 ? Math.min(1, r.errors / (r.tps * 5)) : 0)
    : apps?.find((x) => x.app === r.app)?.error_rate || 0;
  const open = (b: Band | '', r?: APM.ActiveInstance) => navigate('/apm/active' + filterSearch(r ? { app: [r.app], instance: [r.instance] } : {}, { band: b || undefined }));
  return (
    <Panel title="Active transactions" testid="speed-meter" className="apm-speed"
      extra={<Go to="/apm/active" className="small">Open the list →</Go>}>
      <ErrorBanner error={error} />
      <div className="apm-speed-top" data-total={total}>
        <Gauge totals={totals} />
        <div className="apm-speed-bands">
          {bands.map((b) => (
            <button key={b} className={'apm-band-count b-' + b} onClick={() => open(b)} data-testid="speed-total" data-band={b} title={`${bandLabel[b]}: running ${bandHint[b]}`}>
              <b>{totals[b]}</b><span>{bandLabel[b]}</span><small>{bandHint[b]}</small>
            </button>
          ))}
        </div>
      </div>
      <div className="apm-speed-rows">
        {rows.length === 0 && <div className="panel-empty">{active ? 'No instance reports running transactions.' : 'Loading…'}</div>}
        {rows.map((r) => {
          const n = r.normal + r.slow + r.very_slow;
          return (
            <div className="apm-speed-row" key={r.app + '\u0000' + r.instance} data-testid="speed-row" data-app={r.app} data-instance={r.instance} data-active={n} data-tps={r.tps}>
              <div className="apm-speed-name" title={`${r.app} · ${r.instance}`}><b>{r.instance}</b><span className="muted">{r.app}</span></div>
              <div className="apm-speed-bar">
                <div className="apm-speed-fill" style={{ width: `${(100 * n) / scale}%` }}>
                  {bands.map((b) => r[b] > 0 && (
                    <button key={b} className={'apm-seg b-' + b} style={{ flex: r[b] }} onClick={() => open(b, r)}
                      data-testid="speed-band" data-band={b} data-count={r[b]} title={`${r[b]} ${bandLabel[b].toLowerCase()} (${bandHint[b]}) on ${r.instance}`}>
                      {r[b]}
                    </button>
                  ))}
                </div>
                {n === 0 && <span className="apm-speed-idle muted">idle</span>}
              </div>
              <Flow tps={r.tps} errRate={errRate(r)} />
              <span className="apm-speed-tps" title="finished transactions per second">{num(r.tps)}<small>/s</small></span>
            </div>
          );
        })}
      </div>
    </Panel>
  );
}

// Gauge: a half ring split into the three bands of what is running.
function Gauge({ totals }: { totals: Record<Band, number> }) {
  const total = totals.normal + totals.slow + totals.very_slow;
  const R = 46; const C = Math.PI * R;
  let acc = 0;
  return (
    <svg className="apm-gauge" viewBox="0 0 112 64" width="132" height="76" aria-label={`${total} running`}>
      <path d="M10 58 A46 46 0 0 1 102 58" className="apm-gauge-track" />
      {total > 0 && bands.map((b) => {
        const len = (C * totals[b]) / total;
        const el = <path key={b} d="M10 58 A46 46 0 0 1 102 58" className={'apm-gauge-arc b-' + b} strokeDasharray={`${len} ${C}`} strokeDashoffset={-acc} />;
        acc += len;
        return el;
      })}
      <text x="56" y="52" textAnchor="middle" className="apm-gauge-n">{total}</text>
      <text x="56" y="62" textAnchor="middle" className="apm-gauge-l">running</text>
    </svg>
  );
}

// Flow: dots moving along a lane while transactions finish, faster and
// denser with TPS; red ones in the proportion of errors.
function Flow({ tps, errRate }: { tps: number; errRate: number }) {
  if (!(tps > 0)) return <span className="apm-flow idle" data-testid="speed-flow" data-moving="false" />;
  const n = Math.min(6, Math.max(1, Math.ceil(Math.log2(1 + tps) * 1.2)));
  const dur = Math.max(0.7, 3.2 - Math.log10(1 + tps));
  const reds = errRate > 0 ? Math.max(errRate * n >= 0.3 ? 1 : 0, Math.round(errRate * n)) : 0;
  return (
    <span className="apm-flow" data-testid="speed-flow" data-moving="true" title={`${num(tps)} tx/s finished${errRate > 0 ? `, ${errPct(errRate)} errors` : ''}`}>
      {Array.from({ length: n }, (_, i) => (
        <i key={i} className={i < reds ? 'err' : ''} style={{ animationDuration: `${dur}s`, animationDelay: `${(-dur * i) / n}s` }} />
      ))}
    </span>
  );
}

// ---- what running transactions wait on ----
function Bottleneck({ active, filter }: { active?: APM.Active; filter: APM.ApmFilter }) {
  const b = active?.bottleneck;
  const total = b ? APM.stepTypes.reduce((n, k) => n + (b[k] || 0), 0) : 0;
  const max = b ? Math.max(1, ...APM.stepTypes.map((k) => b[k] || 0)) : 1;
  // the steps most of them are in right now
  const top = useMemo(() => {
    const m = new Map<string, { type: string; text: string; n: number; max: number }>();
    for (const t of active?.transactions || []) {
      if (!t.step) continue;
      const k = t.step.type + '\u0000' + t.step.text;
      const e = m.get(k) || { type: t.step.type, text: t.step.text, n: 0, max: 0 };
      e.n++; e.max = Math.max(e.max, t.step.elapsed_ms || 0);
      m.set(k, e);
    }
    return [...m.values()].sort((a, c) => c.n - a.n || c.max - a.max).slice(0, 5);
  }, [active]);
  const open = (step: string) => navigate('/apm/active' + filterSearch(filter, { step }));
  return (
    <Panel title="Bottleneck" testid="bottleneck" className="apm-bottleneck" extra={<span className="muted small">what the running ones wait on</span>}>
      <div className="apm-bn-bars" data-total={total}>
        {APM.stepTypes.map((k) => {
          const v = b?.[k] || 0;
          return (
            <button key={k} className="apm-bn-row" onClick={() => open(k)} data-testid="bottleneck-row" data-type={k} data-count={v} title={`Running transactions now in ${stepLong[k]}`}>
              <StepTag type={k} />
              <span className="apm-bn-label">{stepLong[k]}</span>
              <span className="apm-bn-track"><span className={'apm-bn-fill t-' + k} style={{ width: `${(100 * v) / max}%` }} /></span>
              <b>{v}</b>
            </button>
          );
        })}
      </div>
      <h4 className="sub apm-bn-sub">Current steps</h4>
      {top.length === 0 ? <div className="muted small">{active ? 'No running transaction is in a step.' : 'Loading…'}</div> : (
        <ul className="apm-bn-top">
          {top.map((t) => (
            <li key={t.type + t.text} title={t.text}><StepTag type={t.type} /><span className="mono apm-clip">{t.text || '(no text)'}</span><span className="muted">{t.n}× · max {ms(t.max)}</span></li>
          ))}
        </ul>
      )}
    </Panel>
  );
}

// ---- apps ----
function AppsPanel({ apps, filter, set }: { apps?: APM.App[]; filter: APM.ApmFilter; set(f: APM.ApmFilter): void }) {
  const cols: Column<APM.App>[] = [
    {
      key: 'app', label: 'App', value: (a) => a.app,
      render: (a) => <span className="apm-app-name"><span className={'status-dot' + (a.instances.some((i) => i.active) ? '' : ' off')} /> <b>{a.app}</b>{langOf(a) && <span className="badge">{langOf(a)}</span>}</span>,
    },
    { key: 'inst', label: 'Inst.', right: true, value: (a) => a.instances.length, render: (a) => `${a.instances.filter((i) => i.active).length}/${a.instances.length}` },
    { key: 'tps', label: 'TPS', right: true, value: (a) => a.tps, render: (a) => num(a.tps) },
    { key: 'avg', label: 'Avg', right: true, value: (a) => a.avg_ms, render: (a) => <Elapsed v={a.avg_ms || 0} /> },
    { key: 'err', label: 'Errors', right: true, value: (a) => a.error_rate, render: (a) => <span className={a.error_rate > 0.05 ? 'crit' : a.error_rate > 0 ? 'warn' : 'muted'}>{errPct(a.error_rate)}</span> },
  ];
  const sel = (filter.app || [])[0];
  return (
    <Panel title="Applications" testid="apps-panel" className="apm-apps" extra={<span className="muted small">last 5 min · click to filter</span>}>
      <DataTable rows={apps || []} columns={cols} initialSort={{ key: 'tps', desc: true }} rowKey={(a) => a.app} maxHeight={236} testid="apps-table"
        onRowClick={(a) => set(sel === a.app ? {} : { app: [a.app] })}
        empty={<div className="panel-empty">{apps ? 'No application in the last 5 minutes.' : 'Loading…'}</div>} />
    </Panel>
  );
}
const langOf = (a: APM.App) => [...new Set(a.instances.map((i) => i.language).filter(Boolean))].join(', ');

// ---- hitmap with its selection ----
interface HitState { cells: APM.HitCell[]; bounds: number[]; step: number; start: number; end: number }

// useLiveHitmap keeps the hitmap of [start, end]: a full load when the
// window, filter or project change, then (live) only the newest windows,
// appended as columns; late rows of the last 30 s are re-read.
function useLiveHitmap(filter: APM.ApmFilter, fkey: string, start: number, end: number, live: boolean, id: string) {
  const app = useApp();
  const [st, setSt] = useState<{ data: HitState | null; error: string | null; loading: boolean }>({ data: null, error: null, loading: true });
  const mem = useRef({ id: '', cols: new Map<number, APM.HitCell[]>(), to: 0, bounds: [] as number[], step: 5, seq: 0 });
  useEffect(() => {
    const m = mem.current;
    const full = m.id !== id || !live;
    const n = ++m.seq;
    const step = m.step * 1000;
    const from = full ? start * 1000 : Math.max(start * 1000, Math.floor((m.to - 30000) / step) * step);
    const ctl = new AbortController();
    const fetchMark = `osprey:apm:hitmap:fetch:${n}`;
    performance.mark(fetchMark);
    setSt((s) => ({ ...s, loading: true }));
    APM.hitmap(filter, from / 1000, end, ctl.signal).then((h) => {
      if (n !== m.seq) return;
      if (full) { m.cols = new Map(); m.id = id; }
      m.step = h.step || 5;
      if (h.bounds.length) m.bounds = h.bounds;
      for (const t of [...m.cols.keys()]) if (t >= from || t < start * 1000 - m.step * 1000) m.cols.delete(t);
      for (const c of h.cells) {
        const col = m.cols.get(c[0]);
        if (col) col.push(c); else m.cols.set(c[0], [c]);
      }
      m.to = Math.min(end * 1000, Number(h.end) || end * 1000);
      const cells: APM.HitCell[] = [];
      for (const t of [...m.cols.keys()].sort((a, b) => a - b)) cells.push(...m.cols.get(t)!);
      performance.mark(`osprey:apm:hitmap:data:${n}`);
      try { performance.measure('osprey:apm:hitmap:fetch', fetchMark, `osprey:apm:hitmap:data:${n}`); } catch { /* cleared */ }
      setSt({ data: { cells, bounds: m.bounds.length ? m.bounds : defaultBounds(), step: m.step, start: start * 1000, end: end * 1000 }, error: null, loading: false });
    }, (e) => {
      if (n === m.seq && e?.name !== 'AbortError') setSt((s) => ({ ...s, error: String(e?.message || e), loading: false }));
    });
    return () => ctl.abort();
  }, [id, fkey, app.project, end]); // eslint-disable-line react-hooks/exhaustive-deps
  return st;
}

const MAX_HITMAP_S = 6 * 3600;
function HitmapSection({ filter, fkey }: { filter: APM.ApmFilter; fkey: string }) {
  const app = useApp();
  // the last 10 minutes until the time picker is used, then its range
  const initial = useRef(app.range);
  const follows = !(app.range === initial.current && app.range.live && app.range.span === 900);
  const [pStart, pEnd] = window_(app.range, app.now);
  const end = Math.floor(pEnd);
  // the API draws at most 6 hours: a longer range shows its last 6 hours
  const capped = follows && pEnd - pStart > MAX_HITMAP_S;
  const start = follows ? Math.max(pStart, end - MAX_HITMAP_S) : end - 600;
  const live = app.range.live;
  const id = `${app.project}|${fkey}|${live ? `live:${end - start}` : `${start}-${end}`}`;
  const hm = useLiveHitmap(filter, fkey, start, end, live, id);
  const [sel, setSel] = useState<HitBox | null>(null);
  useEffect(() => { setSel(null); }, [fkey, app.project]);
  // Escape drops the box
  useEffect(() => {
    if (!sel) return;
    const k = (e: KeyboardEvent) => { if (e.key === 'Escape') setSel(null); };
    document.addEventListener('keydown', k);
    return () => document.removeEventListener('keydown', k);
  }, [sel]);
  const h = hm.data;
  const bounds = h?.bounds || defaultBounds();
  const nb = bounds.length - 1;
  const painted = useCallback(() => {
    const marks = performance.getEntriesByType('mark').filter((e) => e.name.startsWith('osprey:apm:hitmap:data:'));
    const last = marks[marks.length - 1];
    if (last) { try { performance.measure('osprey:apm:hitmap:update', last.name); } catch { /* cleared */ } }
    if (marks.length > 400) performance.clearMarks();
  }, []);
  let total = 0; let errors = 0;
  if (h) for (const c of h.cells) if (c[0] >= start * 1000) { total += c[2] + c[3]; errors += c[3]; }
  const box = sel ? { start: sel.t0 / 1000, end: sel.t1 / 1000, min_ms: bounds[sel.b0], max_ms: sel.b1 >= nb - 1 ? null : bounds[sel.b1 + 1] } : null;
  return (
    <div className="apm-hit-row">
      <Panel testid="hitmap-panel" className="apm-hitmap-panel"
        title={<>Hitmap <span className="muted" data-testid="hitmap-total" data-total={total} data-errors={errors}>· {count(total)} transactions{errors > 0 && <>, <span className="crit">{count(errors)} errors</span></>} · {capped ? 'last 6 h of the range' : follows ? (live ? 'time picker range' : 'picked range') : 'last 10 min'}</span></>}
        extra={<><HitLegend />{sel && <button className="btn ua-xs" onClick={() => setSel(null)} data-testid="hitmap-clear">Clear box</button>}</>}>
        <ErrorBanner error={hm.error} />
        <HitMap cells={h?.cells || []} bounds={bounds} stepMs={(h?.step || 5) * 1000} start={start * 1000} end={end * 1000} height={310}
          selection={sel} onSelect={setSel} onPainted={painted} />
        <div className="muted small apm-hit-hint">x: end time · y: elapsed · drag a box (or click a cell) to list exactly those transactions</div>
      </Panel>
      <Selection filter={filter} box={box} start={start} end={end} />
    </div>
  );
}

// Selection lists the transactions of the hitmap box: end in [start, end),
// elapsed in [min_ms, max_ms).
function Selection({ filter, box, start, end }: { filter: APM.ApmFilter; box: { start: number; end: number; min_ms: number; max_ms: number | null } | null; start: number; end: number }) {
  const app = useApp();
  const LIMIT = 1000;
  const t: APM.TxQuery | null = box ? { start: box.start, end: box.end, min_ms: box.min_ms, max_ms: box.max_ms, limit: LIMIT } : null;
  const q = t ? APM.txQuery(filter, t) : '';
  // the answer says which box it is for: a new box is not "loaded" with the old one's rows
  const list = useData(() => (t ? APM.transactions(filter, t).then((r) => ({ ...r, q })) : Promise.resolve(null)), [q, app.project]);
  const cur = list.data && list.data.q === q ? list.data : null;
  const rows = cur?.transactions || [];
  const cols: Column<APM.Tx>[] = [
    { key: 'time', label: 'End', value: (x) => Date.parse(x.time), render: (x) => <span className="mono small">{stamp(x.time)}</span> },
    { key: 'name', label: 'Transaction', value: (x) => x.name, className: 'apm-td-clip', render: (x) => <span title={x.name} data-testid="selection-tx" data-span={x.span_id} data-trace={x.trace_id} data-app={x.app}>{x.name}</span> },
    { key: 'app', label: 'App', value: (x) => x.app, render: (x) => <span title={x.instance}>{x.app}</span> },
    { key: 'elapsed', label: 'Elapsed', right: true, value: (x) => x.elapsed_ms, render: (x) => <Elapsed v={x.elapsed_ms} error={x.error} /> },
    { key: 'sql', label: 'SQL', right: true, value: (x) => x.sql_count, render: (x) => x.sql_count || <span className="muted">0</span> },
    { key: 'httpc', label: 'HTTP', right: true, value: (x) => x.httpc_count, render: (x) => x.httpc_count || <span className="muted">0</span> },
  ];
  return (
    <Panel testid="hitmap-selection" className="apm-sel"
      title={box ? <>Selected <span className="muted">· {clock(box.start * 1000)}–{clock(box.end * 1000)} · {fmtRange(box.min_ms, box.max_ms)}</span></> : 'Selected transactions'}
      extra={box && cur ? <span className="small" data-testid="selection-count" data-count={rows.length}>{rows.length}{cur.truncated ? '+' : ''} tx</span> : undefined}>
      <div data-testid="selection-box" data-query={q} data-start={box?.start} data-end={box?.end} data-min={box?.min_ms} data-max={box?.max_ms ?? ''}
        data-loaded={cur && !list.loading ? 'true' : 'false'} data-count={rows.length} data-truncated={cur?.truncated ? 'true' : 'false'}>
        {!box && <Recent filter={filter} start={start} end={end} cols={cols} />}
        <ErrorBanner error={list.error} />
        {box && cur?.truncated && <div className="muted small apm-note">The first {LIMIT} are listed: draw a smaller box to see all.</div>}
        {box && (
          <DataTable rows={rows} columns={cols} initialSort={{ key: 'elapsed', desc: true }} rowKey={(x) => x.trace_id + x.span_id} maxHeight={336} testid="selection-table"
            onRowClick={(x) => navigate(txPath(x.trace_id, x.span_id))}
            empty={<div className="panel-empty">{!cur ? 'Loading…' : 'No transaction in this box.'}</div>} />
        )}
      </div>
    </Panel>
  );
}

// Recent: before a box is drawn, the newest slow (≥ 3 s) and failed
// transactions of the hitmap's window, refreshed every 15 s.
function Recent({ filter, start, end, cols }: { filter: APM.ApmFilter; start: number; end: number; cols: Column<APM.Tx>[] }) {
  const app = useApp();
  const fkey = APM.query(filter);
  const tick = app.range.live ? Math.floor(app.now / 15000) : 0;
  const list = useData(() => Promise.all([
    APM.transactions(filter, { start, end, min_ms: SLOW_MS, limit: 50 }),
    APM.transactions(filter, { start, end, error: true, limit: 50 }),
  ]).then(([a, b]) => {
    const seen = new Set<string>();
    return [...a.transactions, ...b.transactions].filter((x) => !seen.has(x.span_id) && !!seen.add(x.span_id))
      .sort((x, y) => Date.parse(y.time) - Date.parse(x.time)).slice(0, 60);
  }), [fkey, app.project, tick, app.range]);
  const rows = list.data || [];
  const rc = cols.map((c) => (c.key === 'name' ? { ...c, render: (x: APM.Tx) => <span title={x.name} data-testid="recent-tx" data-span={x.span_id}>{x.name}</span> } : c));
  return (
    <div data-testid="recent-slow">
      <div className="apm-sel-hint small"><b>Drag a box on the hitmap</b> (or click a cell) to list exactly those transactions. Meanwhile, the newest slow (≥ 3 s) and failed ones:</div>
      <ErrorBanner error={list.error} />
      <DataTable rows={rows} columns={rc} initialSort={{ key: 'time', desc: true }} rowKey={(x) => x.trace_id + x.span_id} maxHeight={300} testid="recent-table"
        onRowClick={(x) => navigate(txPath(x.trace_id, x.span_id))}
        empty={<div className="panel-empty">{list.loading && !list.data ? 'Loading…' : 'No slow or failed transaction in this window.'}</div>} />
    </div>
  );
}

// ---- charts ----
const fmtNum = (v: number) => num(v);
const fmtCount = (v: number) => count(v);
const fmtApdex = (v: number) => v.toFixed(2);
const fmtPct = (v: number) => `${+v.toFixed(v < 10 ? 2 : 1)}%`;
const fmtBytes = (v: number) => bytes(v);
interface ChartDef { key: string; title: string; fmt(v: number): string; max?: number; floor?: number; series(o: APM.Overview): Series[] }
const pts = (o: APM.Overview, col: (number | null)[], scale = 1): [number, number | null][] => o.times.map((t, i) => [t, col[i] == null ? null : (col[i] as number) * scale]);
const charts: ChartDef[] = [
  { key: 'tps', title: 'TPS', fmt: fmtNum, floor: 1, series: (o) => [{ name: 'today', color: '--c1', data: pts(o, o.tps) }, { name: 'yesterday', color: '--c6', dashed: true, data: pts(o, o.yesterday.tps) }] },
  { key: 'users', title: 'Concurrent users', fmt: fmtCount, floor: 1, series: (o) => [{ name: 'today', color: '--c4', data: pts(o, o.users) }, { name: 'yesterday', color: '--c6', dashed: true, data: pts(o, o.yesterday.users) }] },
  { key: 'avg', title: 'Average response time', fmt: fmtMs, floor: 10, series: (o) => [{ name: 'avg', color: '--c5', data: pts(o, o.avg_ms) }] },
  { key: 'apdex', title: 'Apdex', fmt: fmtApdex, max: 1, series: (o) => [{ name: 'apdex', color: '--c2', data: pts(o, o.apdex) }] },
  { key: 'errors', title: 'Error rate', fmt: fmtPct, floor: 1, series: (o) => [{ name: 'errors', color: '--crit', data: pts(o, o.error_rate, 100) }] },
  { key: 'active', title: 'Active transactions', fmt: fmtCount, floor: 1, series: (o) => [{ name: 'active', color: '--c3', data: pts(o, o.active) }] },
  { key: 'cpu', title: 'CPU', fmt: fmtPct, floor: 10, series: (o) => [{ name: 'cpu', color: '--c1', data: pts(o, o.cpu_percent) }] },
  { key: 'heap', title: 'Heap used', fmt: fmtBytes, floor: 1 << 20, series: (o) => [{ name: 'heap', color: '--c4', data: pts(o, o.heap_bytes) }] },
];

const EMPTY: APM.Overview = { step: 5, times: [], tps: [], avg_ms: [], errors: [], error_rate: [], apdex: [], users: [], active: [], cpu_percent: [], heap_bytes: [], yesterday: { tps: [], users: [] } };
function OverviewCharts({ filter, fkey, start, end }: { filter: APM.ApmFilter; fkey: string; start: number; end: number }) {
  const app = useApp();
  const step = stepFor(start, end, 150);
  const ov = useData(() => APM.overview(filter, start, end, step), [fkey, app.project, app.now, app.range]);
  // a live view leaves out the newest bucket while its windows still arrive
  const o = useMemo(() => {
    const d = ov.data;
    if (!d || !app.range.live) return d;
    const cut = Date.now() - 10000 - d.step * 1000;
    const n = d.times.findIndex((t) => t > cut);
    if (n < 0) return d;
    const cutCol = (c: (number | null)[]) => c.map((v, i) => (i >= n ? null : v));
    return { ...d, tps: cutCol(d.tps), avg_ms: cutCol(d.avg_ms), errors: cutCol(d.errors), error_rate: cutCol(d.error_rate), apdex: cutCol(d.apdex), users: cutCol(d.users),
      active: cutCol(d.active), cpu_percent: cutCol(d.cpu_percent), heap_bytes: cutCol(d.heap_bytes), yesterday: d.yesterday };
  }, [ov.data]); // eslint-disable-line react-hooks/exhaustive-deps
  const series = useMemo(() => (o ? charts.map((c) => c.series(o)) : null), [o]);
  const zoom = (a: number, b: number) => app.setRange({ live: false, start: a, end: b });
  const range: [number, number] = [start, end];
  return (
    <>
      <ErrorBanner error={ov.error} />
      <div className="apm-charts" data-testid="apm-charts">
        {charts.map((c, i) => {
          const s = series?.[i] || [];
          const n = s.reduce((k, x) => k + x.data.filter((p) => p[1] != null).length, 0);
          return (
            <Panel key={c.key} title={c.title} testid={`apm-chart-${c.key}`} className="apm-chart">
              <div data-testid={`apm-chart-box-${c.key}`} data-points={n} data-series={c.series(EMPTY).map((x) => x.name).join(',')}>
                <TimeChart series={s} range={range} fmt={c.fmt} max={c.max} floor={c.floor} onZoom={zoom} testid={`chart-${c.key}`} height={170} />
              </div>
            </Panel>
          );
        })}
      </div>
    </>
  );
}

