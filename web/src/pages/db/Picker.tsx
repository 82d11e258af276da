// The metric picker: the instance's catalog grouped by category, a search
// box, a live preview (last 15 minutes) of the metric under the pointer or
// selected, and where to put it.
import { useEffect, useMemo, useRef, useState } from 'react';
import type { Catalog, CatalogMetric } from '../../dbApi';
import { TimeChart, type Series } from '../../components/Chart';
import { Icon } from '../../components/Icon';
import { useApp } from '../../state';
import { lastValue, loadSeries, Modal, points, unitFmt } from './common';
import { displayName } from './layout';

export const categoryTitle: Record<string, string> = {
  stat: 'Statistics', sessions: 'Sessions & connections', wait: 'Waits & locks', io: 'I/O & buffers', replication: 'Replication',
};

const PREVIEW_SPAN = 900;
const PREVIEW_STEP = 15;

export interface SlotChoice { index: number; label: string }

export function MetricPicker({ catalog, error, slots, slot: initialSlot, mode: initialMode, onApply, onClose }: {
  catalog: Catalog | undefined; error: string | null; slots: SlotChoice[]; slot: number; mode: 'replace' | 'add';
  onApply(slot: number, m: CatalogMetric, mode: 'replace' | 'add'): void; onClose(): void;
}) {
  const app = useApp();
  const [q, setQ] = useState('');
  const [hovered, setHovered] = useState<CatalogMetric | null>(null);
  const [selected, setSelected] = useState<CatalogMetric | null>(null);
  const [slot, setSlot] = useState(initialSlot);
  const [closed, setClosed] = useState<Record<string, boolean>>({});
  const shown = hovered || selected;

  const groups = useMemo(() => {
    const t = q.trim().toLowerCase();
    const list = (catalog?.metrics || []).filter((m) => !t || m.name.toLowerCase().includes(t) || m.metric.toLowerCase().includes(t));
    const cats = [...(catalog?.categories || [])];
    for (const m of list) if (!cats.includes(m.category)) cats.push(m.category);
    return cats.map((c) => ({ cat: c, items: list.filter((m) => m.category === c) })).filter((g) => g.items.length);
  }, [catalog, q]);
  const total = groups.reduce((n, g) => n + g.items.length, 0);

  // preview: debounced so sweeping the pointer down the list stays cheap
  const [preview, setPreview] = useState<{ metric: string; series: Series[]; error: string | null; range: [number, number] } | null>(null);
  const timer = useRef<number>();
  useEffect(() => {
    if (!shown) return;
    clearTimeout(timer.current);
    let stale = false;
    timer.current = window.setTimeout(() => {
      const end = Date.now() / 1000; const start = end - PREVIEW_SPAN;
      loadSeries([{ query: shown.query, name: displayName(shown) }], start, end, PREVIEW_STEP)
        .then((r) => { if (!stale) setPreview({ metric: shown.metric, series: r.series, error: r.error, range: [start, end] }); });
    }, preview ? 150 : 0);
    return () => { stale = true; clearTimeout(timer.current); };
  }, [shown?.metric, app.now]); // eslint-disable-line react-hooks/exhaustive-deps

  const fmt = unitFmt(shown?.unit || '');
  const apply = (mode: 'replace' | 'add') => { if (selected) onApply(slot, selected, mode); };
  const ready = preview && shown && preview.metric === shown.metric;

  return (
    <Modal title="Choose a metric" onClose={onClose} wide testid="metric-picker">
      <div className="db-picker">
        <div className="db-picker-list">
          <span className="search"><Icon name="search" size={14} />
            <input data-autofocus placeholder="Search metrics, e.g. lock, buffer, commit" value={q} onChange={(e) => setQ(e.target.value)} data-testid="picker-search" aria-label="Search metrics" />
          </span>
          <div className="muted small db-picker-count">{catalog ? `${total} of ${catalog.metrics.length} metrics` : error ? '' : 'Loading the catalog…'}</div>
          {error && <div className="error-banner" role="alert">{error}</div>}
          <div className="db-picker-scroll" role="listbox" aria-label="Metrics" onMouseLeave={() => setHovered(null)} onBlur={(e) => { if (!e.currentTarget.contains(e.relatedTarget as Node)) setHovered(null); }}>
            {catalog && total === 0 && <div className="panel-empty">{catalog.metrics.length ? `No metric matches “${q}”.` : 'This instance has not reported any metric in the last hour.'}</div>}
            {groups.map((g) => {
              const isClosed = closed[g.cat] && !q;
              return (
                <div key={g.cat} className="db-picker-cat">
                  <button className="db-picker-cat-head" onClick={() => setClosed({ ...closed, [g.cat]: !closed[g.cat] })} aria-expanded={!isClosed}>
                    <span className={'db-caret' + (isClosed ? ' closed' : '')} aria-hidden="true">▾</span> {categoryTitle[g.cat] || g.cat} <span className="muted">{g.items.length}</span>
                  </button>
                  {!isClosed && g.items.map((m) => (
                    <button key={m.metric} role="option" aria-selected={selected?.metric === m.metric}
                      className={'db-picker-item' + (selected?.metric === m.metric ? ' on' : '') + (hovered?.metric === m.metric ? ' hover' : '')}
                      onMouseEnter={() => setHovered(m)} onFocus={() => setHovered(m)}
                      onClick={() => setSelected(m)} onDoubleClick={() => onApply(slot, m, 'replace')}
                      data-testid="picker-item" data-metric={m.metric} data-name={m.name} title={m.metric}>
                      <span className="db-picker-name">{m.name}</span>
                      <span className="db-picker-meta">{m.type === 'counter' ? 'rate' : 'gauge'}{m.unit ? ` · ${m.unit}` : ''}</span>
                    </button>
                  ))}
                </div>
              );
            })}
          </div>
        </div>
        <div className="db-picker-side">
          {shown ? (
            <>
              <div className="db-picker-title">
                <h3 data-testid="picker-preview-name">{displayName(shown)}</h3>
                <span className="muted small">{categoryTitle[shown.category] || shown.category} · {shown.type === 'counter' ? 'counter, charted per second' : 'gauge'}{shown.unit ? ` · ${shown.unit}` : ''}</span>
              </div>
              <div className="db-picker-chart" data-testid="picker-preview-box" data-ready={ready ? 'true' : 'false'} data-points={ready ? points(preview!.series) : 0}>
                {ready && preview!.series.length === 0 ? (
                  <div className="panel-empty chart-empty" style={{ height: 200 }}>{preview!.error ? preview!.error : 'No data in the last 15 minutes.'}</div>
                ) : (
                  <TimeChart series={ready ? preview!.series : []} range={preview?.range || [Date.now() / 1000 - PREVIEW_SPAN, Date.now() / 1000]} fmt={fmt} height={200} testid="picker-preview" />
                )}
              </div>
              <div className="small db-picker-facts">
                <span>Last 15 minutes · now <b>{ready ? (lastValue(preview!.series) == null ? '–' : fmt(lastValue(preview!.series)!)) : '…'}</b></span>
                <code className="db-query" title={shown.query}>{shown.query}</code>
              </div>
            </>
          ) : (
            <div className="panel-empty db-picker-hint">Point at a metric to preview its last 15 minutes; click it to choose it.</div>
          )}
          <div className="db-picker-apply">
            <label>Slot
              <select value={slot} onChange={(e) => setSlot(Number(e.target.value))} data-testid="picker-slot">
                {slots.map((s) => <option key={s.index} value={s.index}>{s.index + 1}. {s.label}</option>)}
              </select>
            </label>
            <button className={'btn' + (initialMode === 'add' ? ' primary' : '')} disabled={!selected} onClick={() => apply('add')} data-testid="picker-add" title="Add as another line in this slot's chart">Add to chart</button>
            <button className={'btn' + (initialMode === 'replace' ? ' primary' : '')} disabled={!selected} onClick={() => apply('replace')} data-testid="picker-replace" title="Replace this slot's chart">
              {selected ? `Put “${selected.name}” in slot ${slot + 1}` : 'Click a metric to choose it'}
            </button>
          </div>
        </div>
      </div>
    </Modal>
  );
}
