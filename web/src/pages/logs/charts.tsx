// Bar charts over time for the log pages (the histogram of matches and
// count widgets): stacked bars, drag across to zoom the page's range.
import { useEffect, useRef, useState } from 'react';
import * as echarts from 'echarts/core';
import { BarChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
import { clock } from '../../format';
import { useApp } from '../../state';

echarts.use([BarChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

export interface BarSeries { name: string; color?: string; data: [number, number][] } // [ms, value]

const cssVar = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const palette = ['--c1', '--c2', '--c3', '--c4', '--c5', '--crit', '--c6'];

export function BarTimeChart({ series, range, step, fmt, onZoom, testid, height = 150, legend = true }: {
  series: BarSeries[]; range: [number, number]; step: number; fmt(v: number): string; onZoom?(start: number, end: number): void;
  testid?: string; height?: number; legend?: boolean;
}) {
  const el = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts>();
  const zoomRef = useRef(onZoom);
  zoomRef.current = onZoom;
  const { theme } = useApp();
  const [sel, setSel] = useState<{ x0: number; x1: number } | null>(null);

  useEffect(() => {
    const c = echarts.init(el.current!, undefined, { renderer: 'canvas' });
    chart.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(el.current!);
    const zr = c.getZr();
    let down: { x: number; y: number } | null = null;
    const inGrid = (x: number, y: number) => c.containPixel({ gridIndex: 0 }, [x, y]);
    const timeAt = (x: number, y: number) => { const p = c.convertFromPixel({ gridIndex: 0 }, [x, y]); return p ? p[0] / 1000 : NaN; };
    zr.on('mousedown', (e: { offsetX: number; offsetY: number }) => { if (zoomRef.current && inGrid(e.offsetX, e.offsetY)) { down = { x: e.offsetX, y: e.offsetY }; setSel({ x0: e.offsetX, x1: e.offsetX }); } });
    zr.on('mousemove', (e: { offsetX: number }) => { if (down) setSel({ x0: down.x, x1: e.offsetX }); });
    zr.on('mouseup', (e: { offsetX: number }) => {
      const d = down;
      down = null;
      setSel(null);
      if (!d || Math.abs(e.offsetX - d.x) < 6) return;
      const a = timeAt(Math.min(d.x, e.offsetX), d.y); const b = timeAt(Math.max(d.x, e.offsetX), d.y);
      if (Number.isFinite(a) && Number.isFinite(b) && b - a >= 5) zoomRef.current?.(a, b);
    });
    zr.on('globalout', () => { down = null; setSel(null); });
    return () => { ro.disconnect(); c.dispose(); };
  }, []);

  useEffect(() => {
    const c = chart.current!;
    const text3 = cssVar('--text-3'); const border = cssVar('--border');
    const span = range[1] - range[0];
    c.setOption({
      animation: false,
      color: palette.map(cssVar),
      grid: { left: 4, right: 10, top: legend ? 24 : 8, bottom: 2, containLabel: true },
      legend: legend ? { top: 0, left: 0, type: 'scroll', icon: 'roundRect', itemWidth: 10, itemHeight: 6, textStyle: { color: cssVar('--text-2'), fontSize: 11 }, pageTextStyle: { color: text3 } } : undefined,
      tooltip: {
        trigger: 'axis', confine: true, backgroundColor: cssVar('--panel'), borderColor: cssVar('--border-2'), textStyle: { color: cssVar('--text'), fontSize: 12 },
        axisPointer: { type: 'shadow' }, valueFormatter: (v: unknown) => (v == null ? '–' : fmt(Number(v))),
      },
      xAxis: {
        type: 'time', min: range[0] * 1000, max: range[1] * 1000, axisLine: { lineStyle: { color: border } }, axisTick: { show: false },
        axisLabel: { color: text3, fontSize: 10.5, hideOverlap: true, formatter: (v: number) => clock(v, span < 900) }, splitLine: { show: false },
      },
      yAxis: { type: 'value', min: 0, splitNumber: 3, minInterval: 1, axisLabel: { color: text3, fontSize: 10.5, formatter: (v: number) => fmt(v) }, splitLine: { lineStyle: { color: border } } },
      series: series.map((s) => ({
        name: s.name || 'lines', type: 'bar', stack: 'total', data: s.data.map(([t, v]) => [t + (step * 500), v]), color: s.color ? cssVar(s.color) : undefined,
        barWidth: undefined, barCategoryGap: '12%', barMinHeight: 0, emphasis: { disabled: true }, large: s.data.length > 400,
      })),
    }, { notMerge: true });
  }, [series, range, step, theme, fmt, legend]);

  return (
    <div className="chart-wrap" style={{ height }}>
      <div ref={el} className="chart" style={{ height }} data-testid={testid} />
      {sel && Math.abs(sel.x1 - sel.x0) > 2 && <div className="chart-sel" style={{ left: Math.min(sel.x0, sel.x1), width: Math.abs(sel.x1 - sel.x0), top: legend ? 24 : 8 }} />}
    </div>
  );
}
