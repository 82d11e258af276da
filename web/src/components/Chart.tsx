import { useEffect, useRef, useState } from 'react';
import * as echarts from 'echarts/core';
import { LineChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent, MarkLineComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { clock } from '../format';
import { useApp } from '../state';

echarts.use([LineChart, GridComponent, TooltipComponent, LegendComponent, MarkLineComponent, CanvasRenderer]);

export interface Series { name: string; color?: string; dashed?: boolean; data: [number, number | null][] }

function cssVar(name: string) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
const palette = ['--c1', '--c2', '--c3', '--c4', '--c5', '--crit', '--c6'];

// TimeChart is a line/area chart over the page's time range. Dragging
// across it zooms the range; a click reports the time under the cursor.
export function TimeChart({ series, range, fmt, stack, max, floor, marker, onZoom, onPick, testid, height = 210 }: {
  series: Series[]; range: [number, number]; fmt(v: number): string; stack?: boolean; max?: number; floor?: number; marker?: number | null;
  onZoom?(start: number, end: number): void; onPick?(t: number): void; testid?: string; height?: number;
}) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts>();
  const cb = useRef({ onZoom, onPick });
  cb.current = { onZoom, onPick };
  const { theme } = useApp();

  const [sel, setSel] = useState<{ x0: number; x1: number } | null>(null);
  useEffect(() => {
    const c = echarts.init(el.current!, undefined, { renderer: 'canvas' });
    chart.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(el.current!);
    // drag-to-zoom and click-to-pick on the plot area, from zrender's events
    // (the tooltip keeps working underneath)
    const zr = c.getZr();
    let down: { x: number; y: number } | null = null;
    const inGrid = (x: number, y: number) => c.containPixel({ gridIndex: 0 }, [x, y]);
    const timeAt = (x: number, y: number) => { const p = c.convertFromPixel({ gridIndex: 0 }, [x, y]); return p ? p[0] / 1000 : NaN; };
    zr.on('mousedown', (e: any) => { if (inGrid(e.offsetX, e.offsetY)) { down = { x: e.offsetX, y: e.offsetY }; setSel({ x0: e.offsetX, x1: e.offsetX }); } });
    zr.on('mousemove', (e: any) => { if (down) setSel({ x0: down.x, x1: e.offsetX }); });
    const finish = (e: any) => {
      const d = down;
      down = null;
      setSel(null);
      if (!d) return;
      if (Math.abs(e.offsetX - d.x) > 6) {
        const a = timeAt(Math.min(d.x, e.offsetX), d.y); const b = timeAt(Math.max(d.x, e.offsetX), d.y);
        if (b - a >= 10 && cb.current.onZoom) cb.current.onZoom(a, b);
      } else if (cb.current.onPick) {
        const t = timeAt(d.x, d.y);
        if (Number.isFinite(t)) cb.current.onPick(t);
      }
    };
    zr.on('mouseup', finish);
    zr.on('globalout', () => { down = null; setSel(null); });
    return () => { ro.disconnect(); c.dispose(); };
  }, []);

  useEffect(() => {
    const c = chart.current!;
    const text3 = cssVar('--text-3'); const border = cssVar('--border');
    const colors = palette.map(cssVar);
    const span = range[1] - range[0];
    c.setOption({
      animation: false,
      color: colors,
      grid: { left: 6, right: 14, top: 28, bottom: 4, containLabel: true },
      legend: { top: 0, left: 0, type: 'scroll', icon: 'roundRect', itemWidth: 10, itemHeight: 4, textStyle: { color: cssVar('--text-2'), fontSize: 11 }, pageTextStyle: { color: text3 } },
      tooltip: {
        trigger: 'axis', confine: true, backgroundColor: cssVar('--panel'), borderColor: cssVar('--border-2'), textStyle: { color: cssVar('--text'), fontSize: 12 },
        axisPointer: { type: 'line', lineStyle: { color: text3 } },
        valueFormatter: (v: any) => (v == null ? '–' : fmt(Number(v))),
      },
      xAxis: {
        type: 'time', min: range[0] * 1000, max: range[1] * 1000,
        axisLine: { lineStyle: { color: border } }, axisTick: { show: false },
        axisLabel: { color: text3, fontSize: 10.5, hideOverlap: true, formatter: (v: number) => clock(v, span < 600) },
        splitLine: { show: false },
      },
      yAxis: {
        type: 'value', max: max ?? (floor ? (v: { max: number }) => (v.max < floor ? floor : null) : undefined), min: 0, splitNumber: 3, interval: max === 100 ? 25 : undefined,
        axisLabel: { color: text3, fontSize: 10.5, formatter: (v: number) => fmt(v) },
        splitLine: { lineStyle: { color: border } },
      },
      series: series.map((s) => ({
        name: s.name, type: 'line', data: s.data, color: s.color ? cssVar(s.color) : undefined, showSymbol: false, connectNulls: false, symbolSize: 4,
        stack: stack ? 'total' : undefined, lineStyle: { width: 1.4, type: s.dashed ? 'dashed' : 'solid' }, emphasis: { disabled: true },
        areaStyle: s.dashed ? undefined : stack ? { opacity: 0.35 } : series.length === 1 ? { opacity: 0.12 } : undefined,
        sampling: 'lttb',
        markLine: marker ? { silent: true, symbol: 'none', label: { show: false }, lineStyle: { color: cssVar('--warn'), type: 'dashed' }, data: [{ xAxis: marker * 1000 }] } : undefined,
      })),
    }, { notMerge: true });
  }, [series, range, theme, fmt, stack, max, floor, marker]);

  return (
    <div className="chart-wrap" style={{ height }}>
      <div ref={el} className="chart" style={{ height }} data-testid={testid} />
      {sel && Math.abs(sel.x1 - sel.x0) > 2 && <div className="chart-sel" style={{ left: Math.min(sel.x0, sel.x1), width: Math.abs(sel.x1 - sel.x0) }} />}
    </div>
  );
}
