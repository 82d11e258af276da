import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { CpuMap } from '../api';
import { clock, heatLUT } from '../format';

// HeatMap draws the CPU map (servers × time) on one canvas. Only the rows
// in view are drawn, so 2,000 servers × 120 columns cost the same as 100.
// Hover shows the value, click opens the server, a horizontal drag zooms.
export interface HeatMapProps {
  data: CpuMap;
  sort: 'busy' | 'name';
  fit?: boolean;
  height?: number;
  onOpen(id: string): void;
  onZoom(start: number, end: number): void;
  onPainted?(): void;
}

const LABEL_W = 150;
const AXIS_H = 20;

function cssVar(name: string) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }

export function HeatMap({ data, sort, fit = true, height = 380, onOpen, onZoom, onPainted }: HeatMapProps) {
  const wrapRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const overlayRef = useRef<HTMLCanvasElement>(null);
  const scrollRef = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  const [scroll, setScroll] = useState(0);
  const [hover, setHover] = useState<{ x: number; y: number; row: number; col: number } | null>(null);
  const [drag, setDrag] = useState<{ x0: number; x1: number } | null>(null);
  const n = data.servers.length;
  const cols = data.times.length;
  const viewH = height - AXIS_H;
  // fit: the whole fleet in view, each pixel row the hottest of a few
  // servers; scroll: one row of at least 4 px per server.
  const group = fit ? Math.max(1, Math.ceil((n * 2) / viewH)) : 1;
  const nrows = Math.ceil(n / group);
  const rowH = group > 1 ? Math.max(2, Math.floor(viewH / nrows)) : Math.max(4, Math.min(18, Math.floor(viewH / Math.max(1, n))));
  const showLabels = rowH >= 11;
  const labelW = showLabels ? LABEL_W : 0;
  const totalH = nrows * rowH;
  const gridH = Math.min(viewH, totalH);

  // order: busiest (latest known value) first, or by name; then rows of
  // `group` servers with, per column, the value and index of the hottest.
  const { order, cells, who } = useMemo(() => {
    const idx = Array.from({ length: n }, (_, i) => i);
    if (sort === 'busy') {
      const last = data.values.map((row) => { for (let c = row.length - 1; c >= 0; c--) if (row[c] != null) return row[c] as number; return -1; });
      idx.sort((a, b) => last[b] - last[a]);
    }
    const cells = new Float32Array(nrows * cols).fill(NaN);
    const who = new Int32Array(nrows * cols).fill(-1);
    for (let r = 0; r < nrows; r++) {
      for (let k = r * group; k < Math.min(n, (r + 1) * group); k++) {
        const row = data.values[idx[k]];
        for (let c = 0; c < cols; c++) {
          const v = row[c];
          if (v != null && !(v <= cells[r * cols + c])) { cells[r * cols + c] = v; who[r * cols + c] = idx[k]; }
        }
      }
    }
    return { order: idx, cells, who };
  }, [data, sort, n, group, nrows, cols]);

  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);

  const cellW = (width - labelW) / Math.max(1, cols);

  const draw = useCallback(() => {
    const cv = canvasRef.current;
    if (!cv) return;
    const dpr = window.devicePixelRatio || 1;
    const h = gridH + AXIS_H;
    if (cv.width !== Math.round(width * dpr) || cv.height !== Math.round(h * dpr)) {
      cv.width = Math.round(width * dpr); cv.height = Math.round(h * dpr);
      cv.style.width = width + 'px'; cv.style.height = h + 'px';
    }
    const t0 = performance.now();
    const ctx = cv.getContext('2d', { alpha: false })!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = cssVar('--panel');
    ctx.fillRect(0, 0, width, h);
    const empty = cssVar('--heat-empty');
    const first = Math.floor(scroll / rowH);
    const last = Math.min(nrows, Math.ceil((scroll + gridH) / rowH));
    const gap = rowH >= 6 ? 1 : 0;
    const xs = new Float64Array(cols + 1);
    for (let c = 0; c <= cols; c++) xs[c] = Math.round(labelW + c * cellW);
    let prev = '';
    for (let r = first; r < last; r++) {
      const y = r * rowH - scroll;
      for (let c = 0; c < cols; c++) {
        const v = cells[r * cols + c];
        const col = v !== v ? empty : heatLUT[v <= 0 ? 0 : v >= 100 ? 100 : Math.round(v)];
        if (col !== prev) { ctx.fillStyle = col; prev = col; }
        ctx.fillRect(xs[c], y, xs[c + 1] - xs[c] - (cellW > 3 ? gap : 0), rowH - gap);
      }
    }
    if (showLabels) {
      ctx.fillStyle = cssVar('--panel');
      ctx.fillRect(0, 0, labelW, gridH);
      ctx.fillStyle = cssVar('--text-2');
      ctx.font = '11px ' + cssVar('--font');
      ctx.textBaseline = 'middle';
      for (let r = first; r < last; r++) {
        const name = data.servers[order[r * group]].name;
        ctx.fillText(name.length > 22 ? name.slice(0, 21) + '…' : name, 4, r * rowH - scroll + rowH / 2);
      }
    }
    // time axis
    ctx.fillStyle = cssVar('--panel');
    ctx.fillRect(0, gridH, width, AXIS_H);
    ctx.fillStyle = cssVar('--text-3');
    ctx.font = '10.5px ' + cssVar('--font');
    ctx.textBaseline = 'middle';
    const every = Math.max(1, Math.ceil(70 / Math.max(1, cellW)));
    const showSec = cols > 1 && data.times[1] - data.times[0] < 60;
    for (let c = 0; c < cols; c += every) {
      const x = labelW + c * cellW;
      if (x + 56 > width) break;
      ctx.fillText(clock(data.times[c] * 1000, showSec), x + 1, gridH + AXIS_H / 2);
    }
    performance.measure('osprey:heatmap:draw', { start: t0 });
  }, [data, order, cells, group, nrows, width, scroll, rowH, gridH, cols, cellW, labelW, showLabels]);

  // the hover outline lives on its own canvas: moving the mouse never
  // redraws the map
  useEffect(() => {
    const ov = overlayRef.current;
    if (!ov) return;
    const dpr = window.devicePixelRatio || 1;
    const h = gridH + AXIS_H;
    if (ov.width !== Math.round(width * dpr) || ov.height !== Math.round(h * dpr)) {
      ov.width = Math.round(width * dpr); ov.height = Math.round(h * dpr);
      ov.style.width = width + 'px'; ov.style.height = h + 'px';
    }
    const ctx = ov.getContext('2d')!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, h);
    if (!hover) return;
    ctx.strokeStyle = cssVar('--text');
    ctx.lineWidth = 1;
    const y = hover.row * rowH - scroll;
    ctx.strokeRect(labelW + 0.5, y + 0.5, width - labelW - 1, Math.max(1, rowH - 1));
    const x0 = Math.round(labelW + hover.col * cellW);
    ctx.strokeRect(x0 + 0.5, 0.5, Math.max(1, Math.round(cellW) - 1), gridH - 1);
  }, [hover, width, gridH, rowH, scroll, labelW, cellW]);

  useEffect(() => { draw(); }, [draw]);
  useEffect(() => {
    // after the draw above: the frame with the new data is painted next.
    if (onPainted) requestAnimationFrame(() => setTimeout(onPainted, 0));
  }, [data]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const f = () => draw();
    const mo = new MutationObserver(f);
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => mo.disconnect();
  }, [draw]);

  const cellAt = (e: React.MouseEvent) => {
    const rect = canvasRef.current!.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    if (y >= gridH || x < labelW) return null;
    const row = Math.floor((y + scroll) / rowH);
    const col = Math.floor((x - labelW) / cellW);
    if (row < 0 || row >= nrows || col < 0 || col >= cols) return null;
    return { x, y, row, col };
  };

  const colTime = (x: number) => {
    const c = Math.max(0, Math.min(cols - 1, Math.floor((x - labelW) / cellW)));
    return data.times[c];
  };

  // the server under the cursor: the hottest of the row's group at that
  // column (or the row's first server when it has no data there)
  const serverAt = (row: number, col: number) => { const w = who[row * cols + col]; return w >= 0 ? w : order[row * group]; };
  const hvIdx = hover ? serverAt(hover.row, hover.col) : -1;
  const hv = hover && data.servers[hvIdx];
  const hvVal = hover ? data.values[hvIdx][hover.col] : null;
  return (
    <div className="heatmap" ref={wrapRef} data-testid="cpu-map">
      <div className="heatmap-scroll" ref={scrollRef} style={{ height: gridH + AXIS_H, overflowY: totalH > gridH ? 'auto' : 'hidden' }}
        onScroll={(e) => setScroll(e.currentTarget.scrollTop)}>
        <div style={{ height: totalH + AXIS_H, position: 'relative' }}>
        <canvas ref={canvasRef} data-testid="cpu-map-canvas" style={{ position: 'sticky', top: 0, display: 'block' }}
          onMouseMove={(e) => {
            const c = cellAt(e);
            setHover(c);
            if (drag) setDrag({ ...drag, x1: e.clientX - canvasRef.current!.getBoundingClientRect().left });
          }}
          onMouseLeave={() => { setHover(null); setDrag(null); }}
          onMouseDown={(e) => { const x = e.clientX - canvasRef.current!.getBoundingClientRect().left; if (x >= labelW) setDrag({ x0: x, x1: x }); }}
          onMouseUp={(e) => {
            const d = drag;
            setDrag(null);
            if (d && Math.abs(d.x1 - d.x0) > 6) {
              const a = colTime(Math.min(d.x0, d.x1));
              const b = colTime(Math.max(d.x0, d.x1));
              const step = cols > 1 ? data.times[1] - data.times[0] : 60;
              onZoom(a, b + step);
              return;
            }
            const c = cellAt(e);
            if (c) onOpen(data.servers[serverAt(c.row, c.col)].id);
          }} />
        <canvas ref={overlayRef} className="heatmap-overlay" style={{ top: scroll }} />
        {drag && Math.abs(drag.x1 - drag.x0) > 2 && (
          <div className="heatmap-sel" style={{ left: Math.min(drag.x0, drag.x1), width: Math.abs(drag.x1 - drag.x0), top: scroll, height: gridH }} />
        )}
        </div>
      </div>
      {hover && hv && !drag && (
        <div className="tooltip" style={{ left: Math.min(hover.x + 14, width - 200), top: hover.y + 14 }}>
          <b>{hv.name}</b>
          <div>{clock(data.times[hover.col] * 1000)} · CPU <b>{hvVal == null ? 'no data' : hvVal.toFixed(1) + '%'}</b></div>
          {group > 1 && <div className="muted">hottest of {Math.min(group, n - hover.row * group)} servers in this row</div>}
          <div className="muted">click to open · drag to zoom</div>
        </div>
      )}
    </div>
  );
}

export function HeatLegend() {
  return (
    <span className="heat-legend">
      0%<span className="heat-ramp" style={{ background: `linear-gradient(90deg, ${heatLUT[0]}, ${heatLUT[20]}, ${heatLUT[40]}, ${heatLUT[60]}, ${heatLUT[80]}, ${heatLUT[100]})` }} />100%
    </span>
  );
}
