// The real-time stat dashboard: a 2×2, 3×3 or 4×4 grid of charts over the
// page's time range, each slot one or more catalog metrics, chosen in the
// metric picker and kept per engine in localStorage.
import { useCallback, useEffect, useMemo, useState } from 'react';
import * as DB from '../../dbApi';
import { TimeChart } from '../../components/Chart';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { useApp, useData } from '../../state';
import { AlertDialog, lastValue, points, loadSeries, maxValue, niceCeil, unitFmt, useOutside, type AlertSeed } from './common';
import { displayName, fixEntry, loadLayout, resolve, saveLayout, defaultLayout, type GridSize, type LayoutState, type Slot } from './layout';
import { MetricPicker } from './Picker';

const heights: Record<GridSize, number> = { 2: 250, 3: 190, 4: 150 };

export function Stats({ id, engine, name, start, end, step, onPick }: {
  id: string; engine: string; name: string; start: number; end: number; step: number; onPick(t: number): void;
}) {
  const app = useApp();
  const [layout, setLayout] = useState<LayoutState>(() => loadLayout(engine));
  useEffect(() => { setLayout(loadLayout(engine)); }, [engine]);
  const update = useCallback((f: (l: LayoutState) => LayoutState) => setLayout((l) => { const n = f(l); saveLayout(engine, n); return n; }), [engine]);

  // the catalog: on open, again each minute (new metrics appear as the agent reports them)
  const [catTick, setCatTick] = useState(0);
  const cat = useData(() => DB.catalog(id), [id, app.project, catTick, Math.floor(app.now / 60000)]);
  const catalog = useMemo(() => (cat.data ? { ...cat.data, metrics: cat.data.metrics.map(fixEntry) } : undefined), [cat.data]);
  const byMetric = useMemo(() => new Map((catalog?.metrics || []).map((m) => [m.metric, m])), [catalog]);

  const [picker, setPicker] = useState<{ slot: number; mode: 'replace' | 'add' } | null>(null);
  const [alert, setAlert] = useState<AlertSeed | null>(null);
  const n = layout.grid * layout.grid;
  const range = useMemo((): [number, number] => [start, end], [start, end]);
  const zoom = useCallback((a: number, b: number) => app.setRange({ live: false, start: a, end: b }), [app]);

  const slotTitle = (s: Slot | null) => {
    if (!s) return 'empty';
    if (s.title) return s.title;
    const { found } = resolve(s, byMetric);
    return found.length ? found.map(displayName).join(' · ') : s.metrics.join(', ');
  };
  const apply = (slot: number, m: DB.CatalogMetric, mode: 'replace' | 'add') => {
    update((l) => {
      const slots = l.slots.slice();
      const cur = slots[slot];
      if (mode === 'add' && cur && !cur.metrics.includes(m.metric)) {
        const { found } = resolve(cur, byMetric);
        slots[slot] = { title: [...found.map(displayName), displayName(m)].join(' · '), metrics: [...cur.metrics, m.metric].slice(0, 8) };
      } else {
        slots[slot] = { title: displayName(m), metrics: [m.metric] };
      }
      return { ...l, slots };
    });
    setPicker(null);
  };
  const remove = (slot: number) => update((l) => { const slots = l.slots.slice(); slots[slot] = null; return { ...l, slots }; });
  const openPicker = (slot: number, mode: 'replace' | 'add') => { setCatTick((t) => t + 1); setPicker({ slot, mode }); };
  const firstEmpty = layout.slots.slice(0, n).findIndex((s) => !s);

  return (
    <div data-testid="db-stats">
      <div className="db-toolbar">
        <div className="seg" role="group" aria-label="Layout">
          {([2, 3, 4] as GridSize[]).map((g) => (
            <button key={g} className={layout.grid === g ? 'on' : ''} aria-pressed={layout.grid === g} onClick={() => update((l) => ({ ...l, grid: g }))} data-testid={`grid-${g}`}>{g}×{g}</button>
          ))}
        </div>
        <button className="btn" onClick={() => openPicker(firstEmpty >= 0 ? firstEmpty : 0, 'replace')} data-testid="open-picker">
          <Icon name="search" size={14} /> Metrics…
        </button>
        <button className="btn" onClick={() => { if (confirm(`Reset the ${DB.engineLabel(engine)} dashboard to its default charts?`)) update(() => defaultLayout(engine)); }} data-testid="reset-layout">Reset layout</button>
        <span className="muted small">Drag across a chart to zoom · click a moment to see its sessions · layout saved for all {DB.engineLabel(engine)} instances</span>
      </div>
      <ErrorBanner error={cat.error && !cat.data ? `Metric catalog: ${cat.error}` : null} />
      <div className={`db-grid g${layout.grid}`} data-testid="stat-grid" data-grid={layout.grid}>
        {Array.from({ length: n }, (_, i) => {
          const s = layout.slots[i];
          return s ? (
            <StatSlot key={i} index={i} slot={s} byMetric={byMetric} catalogLoaded={!!cat.data} range={range} step={step} height={heights[layout.grid]}
              instance={name} onZoom={zoom} onPick={onPick}
              onReplace={() => openPicker(i, 'replace')} onAdd={() => openPicker(i, 'add')} onRemove={() => remove(i)} onAlert={setAlert} />
          ) : (
            <section key={i} className="panel db-slot db-slot-empty" data-testid={`slot-${i}`} data-empty="true">
              <button className="db-add-slot" style={{ height: heights[layout.grid] + 38 }} onClick={() => openPicker(i, 'replace')} data-testid={`slot-add-${i}`}>
                <span className="db-plus" aria-hidden="true">+</span> Add a metric to slot {i + 1}
              </button>
            </section>
          );
        })}
      </div>
      {picker && (
        <MetricPicker catalog={catalog} error={cat.error} slot={picker.slot} mode={picker.mode}
          slots={Array.from({ length: n }, (_, i) => ({ index: i, label: slotTitle(layout.slots[i]) }))}
          onApply={apply} onClose={() => setPicker(null)} />
      )}
      {alert && <AlertDialog seed={alert} onClose={() => setAlert(null)} />}
    </div>
  );
}

function StatSlot({ index, slot, byMetric, catalogLoaded, range, step, height, instance, onZoom, onPick, onReplace, onAdd, onRemove, onAlert }: {
  index: number; slot: Slot; byMetric: Map<string, DB.CatalogMetric>; catalogLoaded: boolean; range: [number, number]; step: number; height: number;
  instance: string; onZoom(a: number, b: number): void; onPick(t: number): void; onReplace(): void; onAdd(): void; onRemove(): void; onAlert(s: AlertSeed): void;
}) {
  const app = useApp();
  const { found, missing } = useMemo(() => resolve(slot, byMetric), [slot, byMetric]);
  const qkey = found.map((m) => m.query).join('\n');
  const res = useData(() => (found.length
    ? loadSeries(found.map((m) => ({ query: m.query, name: displayName(m) })), range[0], range[1], step)
    : Promise.resolve({ series: [], error: null })), [qkey, range[0], range[1], step, app.project, app.now]);
  const unit = found[0]?.unit || '';
  const fmt = unitFmt(unit);
  const series = res.data?.series;
  const title = slot.title || (found.length ? found.map(displayName).join(' · ') : slot.metrics.join(', '));
  const [menu, setMenu] = useState(false);
  const ref = useOutside<HTMLDivElement>(menu, () => setMenu(false));
  const last = series ? lastValue(series) : null;

  const alertSeed = (): AlertSeed => {
    const m = found[0];
    const peak = series ? maxValue(series.filter((s) => found.length === 1 || s.name.startsWith(displayName(m)))) : null;
    return {
      name: `${instance}: ${found.length > 1 ? displayName(m) : title}`, expr: m.query, threshold: niceCeil(peak ?? 0), unit, instance,
      choices: found.map((f) => ({ label: displayName(f), expr: f.query })),
    };
  };

  let body;
  if (!catalogLoaded) body = <div className="panel-empty chart-empty" style={{ height }}>Loading…</div>;
  else if (!found.length) body = <div className="panel-empty chart-empty" style={{ height }}>Not reported by this instance: <code>{missing.join(', ')}</code></div>;
  else if (series && series.length === 0) body = <div className="panel-empty chart-empty" style={{ height }}>{res.data?.error || 'No data in this time range.'}</div>;
  else body = <TimeChart series={series || []} range={range} fmt={fmt} floor={unit.startsWith('bytes') ? 1024 : undefined} height={height} onZoom={onZoom} onPick={onPick} testid={`slot-chart-${index}`} />;

  return (
    <section className="panel db-slot" data-testid={`slot-${index}`} data-metrics={slot.metrics.join(',')} data-points={points(series)}>
      <div className="panel-head">
        <h3 className="db-slot-title" title={`${title}\n${found.map((m) => m.metric).join('\n')}`} data-testid="slot-title">{title}</h3>
        <div className="panel-extra">
          <span className="db-slot-now" title="latest value">{last == null ? '' : fmt(last)}</span>
          {found.length > 0 && (
            <button className="icon-btn db-mini" onClick={() => onAlert(alertSeed())} title="Alert on this" aria-label={`Alert on ${title}`} data-testid={`slot-alert-${index}`}>
              <Icon name="alert" size={14} />
            </button>
          )}
          <div className="dropdown" ref={ref}>
            <button className="icon-btn db-mini" onClick={() => setMenu(!menu)} aria-haspopup="menu" aria-expanded={menu} aria-label={`Chart ${index + 1} menu`} data-testid={`slot-menu-${index}`}>⋯</button>
            {menu && (
              <div className="menu right" role="menu">
                <button className="menu-item" role="menuitem" onClick={() => { setMenu(false); onReplace(); }} data-testid="slot-replace">Replace metric…</button>
                <button className="menu-item" role="menuitem" onClick={() => { setMenu(false); onAdd(); }} data-testid="slot-addseries">Add a line…</button>
                {found.length > 0 && <button className="menu-item" role="menuitem" onClick={() => { setMenu(false); onAlert(alertSeed()); }}>Alert on this…</button>}
                <button className="menu-item" role="menuitem" onClick={() => { setMenu(false); onRemove(); }} data-testid="slot-remove"><span className="crit">Remove chart</span></button>
              </div>
            )}
          </div>
        </div>
      </div>
      <div className="panel-body">{body}</div>
    </section>
  );
}
