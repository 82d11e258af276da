import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { HitCell } from '../apmApi';
import { clock } from '../format';

// HitMap draws the response-time distribution of finished transactions on
// one canvas: x = end time (5-s windows), y = elapsed in the hitmap's
// uneven buckets (0–5 s given the most room), each cell coloured by its
// count (blue) with errors in red on top. It is cells, not points: the
// cells are binned into at most one column per device pixel and painted
// into one ImageData, so 100k transactions cost what 100 do. Dragging a box
// selects [t0, t1) × [bounds[b0], bounds[b1 + 1]); a click selects one cell.
export interface HitBox { t0: number; t1: number; b0: number; b1: number } // unix ms; buckets inclusive

export interface HitMapProps {
  cells: HitCell[];
  bounds: number[]; // bucket edges in ms (buckets + 1)
  stepMs: number;
  start: number; end: number; // x domain, unix ms
  height?: number;
  selection?: HitBox | null;
  onSelect?(box: HitBox | null): void;
  onPainted?(): void;
  testid?: string;
}

const AXIS_L = 44;
const AXIS_B = 18;
const PAD_T = 8;
const PAD_R = 8;
const SHADES = 24;

// defaultBounds are wire.HitmapBounds(): 125 ms wide to 5 s, 250 ms to
// 10 s, 500 ms to 20 s, 1 s to 40 s, 2 s to 80 s.
export function defaultBounds(): number[] {
  const out: number[] = [];
  let start = 0;
  for (const [w, end] of [[125, 5000], [250, 10000], [500, 20000], [1000, 40000], [2000, 80000]]) {
    for (let v = start; v < end; v += w) out.push(v);
    start = end;
  }
  out.push(start);
  return out;
}

// A bucket's share of the height: narrow buckets (the first 5 s) get
// more, so the common fast region is readable.
const weight = (w: number) => (w <= 125 ? 1 : w <= 250 ? 0.5 : w <= 500 ? 0.35 : w <= 1000 ? 0.3 : 0.25);
const TICKS = [0, 1000, 2000, 3000, 4000, 5000, 10000, 20000, 40000, 80000];
const fmtTick = (ms: number, last: boolean) => `${ms / 1000}${last ? 's+' : 's'}`;

function cssVar(name: string) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
let probe: CanvasRenderingContext2D | null = null;
// rgbOf resolves any CSS colour to [r, g, b].
function rgbOf(color: string): [number, number, number] {
  probe = probe || document.createElement('canvas').getContext('2d');
  if (!probe) return [0, 0, 0];
  probe.fillStyle = '#000';
  probe.fillStyle = color;
  const s = String(probe.fillStyle);
  if (s.startsWith('#')) return [parseInt(s.slice(1, 3), 16), parseInt(s.slice(3, 5), 16), parseInt(s.slice(5, 7), 16)];
  const m = s.match(/[\d.]+/g) || ['0', '0', '0'];
  return [Number(m[0]), Number(m[1]), Number(m[2])];
}
const mix = (a: number[], b: number[], f: number) => a.map((x, i) => Math.round(x + (b[i] - x) * f));
// ABGR for a little-endian Uint32 view of ImageData
const pack = (c: number[]) => (255 << 24) | (c[2] << 16) | (c[1] << 8) | c[0];

interface Palette { bg: number; grid: number; blue: Uint32Array; blueRgb: number[][]; redRgb: number[][] }
function palette(): Palette {
  const dark = document.documentElement.dataset.theme !== 'light';
  const bg = rgbOf(cssVar('--panel') || (dark ? '#161b22' : '#fff'));
  const grid = rgbOf(cssVar('--border') || '#262d37');
  // low counts close to the background, high counts saturated
  const blueLo = dark ? [34, 70, 118] : [198, 220, 248];
  const blueHi = dark ? [140, 204, 255] : [12, 76, 178];
  const redLo = dark ? [150, 48, 48] : [246, 168, 160];
  const redHi = dark ? [255, 112, 100] : [196, 24, 24];
  const blue = new Uint32Array(SHADES);
  const blueRgb: number[][] = []; const redRgb: number[][] = [];
  for (let i = 0; i < SHADES; i++) {
    const f = i / (SHADES - 1);
    blueRgb.push(mix(blueLo, blueHi, f)); redRgb.push(mix(redLo, redHi, f));
    blue[i] = pack(blueRgb[i]);
  }
  return { bg: pack(bg), grid: pack(grid), blue, blueRgb, redRgb };
}

export function HitMap({ cells, bounds: bounds0, stepMs, start, end, height = 300, selection, onSelect, onPainted, testid = 'hitmap' }: HitMapProps) {
  const wrapRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(600);
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);
  const [hover, setHover] = useState<{ x: number; y: number; t: number; b: number } | null>(null);
  const [drag, setDrag] = useState<{ x0: number; y0: number; x1: number; y1: number } | null>(null);
  const bounds = bounds0.length >= 2 ? bounds0 : defaultBounds();
  const nb = bounds.length - 1;
  const plotW = Math.max(10, width - AXIS_L - PAD_R);
  const plotH = Math.max(10, height - AXIS_B - PAD_T);
  const span = Math.max(1, end - start);

  useLayoutEffect(() => {
    const el = wrapRef.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);
  useEffect(() => {
    const mo = new MutationObserver(() => setTheme(document.documentElement.dataset.theme));
    mo.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => mo.disconnect();
  }, []);

  // yEdge[i]: the css-px y of bucket edge i (0 = bottom of the plot)
  const yEdge = useMemo(() => {
    const w = new Float64Array(nb);
    let total = 0;
    for (let i = 0; i < nb; i++) { w[i] = weight(bounds[i + 1] - bounds[i]); total += w[i]; }
    const out = new Float64Array(nb + 1);
    let cum = 0;
    for (let i = 0; i <= nb; i++) { out[i] = PAD_T + plotH - (cum / total) * plotH; if (i < nb) cum += w[i]; }
    return out;
  }, [bounds, nb, plotH]);

  const xOf = useCallback((t: number) => AXIS_L + ((t - start) / span) * plotW, [start, span, plotW]);
  const timeAt = (x: number) => start + ((x - AXIS_L) / plotW) * span;
  const bucketAt = (y: number) => {
    if (y >= yEdge[0]) return 0;
    for (let i = 0; i < nb; i++) if (y >= yEdge[i + 1]) return i;
    return nb - 1;
  };

  const draw = useCallback(() => {
    const cv = canvasRef.current;
    if (!cv) return;
    const t0 = performance.now();
    const dpr = window.devicePixelRatio || 1;
    const W = Math.round(width * dpr); const H = Math.round(height * dpr);
    if (cv.width !== W || cv.height !== H) { cv.width = W; cv.height = H; cv.style.width = width + 'px'; cv.style.height = height + 'px'; }
    const ctx = cv.getContext('2d')!;
    const pal = palette();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = cssVar('--panel');
    ctx.fillRect(0, 0, W, H);

    // the plot in device pixels
    const px0 = Math.round(AXIS_L * dpr); const py0 = Math.round(PAD_T * dpr);
    const pw = Math.max(1, Math.round(plotW * dpr)); const ph = Math.max(1, Math.round(plotH * dpr));
    const yDev = Array.from(yEdge, (y) => Math.round(y * dpr) - py0); // edge → row in the plot image

    // time bins: one per 5-s window, or several windows per device pixel
    const step = Math.max(1000, stepMs);
    const nSteps = Math.ceil(span / step);
    const binMs = nSteps <= pw ? step : step * Math.ceil(nSteps / pw);
    const first = Math.floor(start / binMs);
    const nBins = Math.floor(end / binMs) - first + 1;
    const ok = new Float32Array(nBins * nb);
    const err = new Float32Array(nBins * nb);
    let total = 0; let errors = 0;
    for (let i = 0; i < cells.length; i++) {
      const c = cells[i];
      if (c[0] + step <= start || c[0] >= end) continue;
      const bin = Math.floor(c[0] / binMs) - first;
      const b = c[1] < 0 ? 0 : c[1] >= nb ? nb - 1 : c[1];
      if (bin < 0 || bin >= nBins) continue;
      ok[bin * nb + b] += c[2];
      err[bin * nb + b] += c[3];
      total += c[2] + c[3]; errors += c[3];
    }
    let maxAll = 0; let maxErr = 0;
    for (let i = 0; i < ok.length; i++) { const s = ok[i] + err[i]; if (s > maxAll) maxAll = s; if (err[i] > maxErr) maxErr = err[i]; }
    const lnAll = Math.log1p(maxAll) || 1; const lnErr = Math.log1p(maxErr) || 1;
    const shade = (v: number, ln: number) => Math.min(SHADES - 1, Math.max(3, Math.round((Math.log1p(v) / ln) * (SHADES - 1))));

    const img = ctx.createImageData(pw, ph);
    const px = new Uint32Array(img.data.buffer);
    px.fill(pal.bg);
    // grid rows at the labelled edges
    for (const ms of TICKS) {
      const i = bounds.indexOf(ms);
      if (i <= 0 || i >= nb) continue;
      const y = Math.min(ph - 1, Math.max(0, yDev[i]));
      px.fill(pal.grid, y * pw, y * pw + pw);
    }
    const xDev = (t: number) => Math.round(((t - start) / span) * pw);
    for (let bin = 0; bin < nBins; bin++) {
      const bt = (first + bin) * binMs;
      let xa = xDev(bt); let xb = xDev(bt + binMs);
      if (xa < 0) xa = 0;
      if (xb > pw) xb = pw;
      if (xb <= xa) { if (xa >= pw) continue; xb = xa + 1; }
      // leave a hairline between columns when they are wide
      if (xb - xa >= 6 * dpr) xb -= 1;
      for (let b = 0; b < nb; b++) {
        const k = bin * nb + b;
        const o = ok[k]; const e = err[k];
        if (o === 0 && e === 0) continue;
        // errors on top: red, mixed with the cell's blue by their share
        // (any error shows; a cell of mostly errors is plain red)
        const col = e === 0 ? pal.blue[shade(o, lnAll)]
          : pack(mix(pal.blueRgb[shade(o + e, lnAll)], pal.redRgb[shade(e, lnErr)], Math.min(1, 0.55 + (2 * e) / (o + e))));
        let ya = yDev[b + 1]; let yb = yDev[b];
        if (ya < 0) ya = 0;
        if (yb > ph) yb = ph;
        if (yb <= ya) yb = ya + 1;
        if (yb - ya >= 6 * dpr) yb -= 1;
        for (let y = ya; y < yb && y < ph; y++) px.fill(col, y * pw + xa, y * pw + xb);
      }
    }
    ctx.putImageData(img, px0, py0);

    // axes
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = '10.5px ' + cssVar('--font');
    ctx.fillStyle = cssVar('--text-3');
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'right';
    for (const ms of TICKS) {
      const i = bounds.indexOf(ms);
      if (i < 0) continue;
      ctx.fillText(fmtTick(ms, i === nb), AXIS_L - 5, Math.max(PAD_T + 4, yEdge[i]));
    }
    // slow (3 s) and very slow (8 s) thresholds
    ctx.setLineDash([3, 3]);
    ctx.lineWidth = 1;
    for (const [ms, color] of [[3000, cssVar('--warn')], [8000, cssVar('--crit')]] as [number, string][]) {
      const i = bounds.indexOf(ms);
      if (i < 0) continue;
      ctx.strokeStyle = color;
      ctx.globalAlpha = 0.55;
      ctx.beginPath(); ctx.moveTo(AXIS_L, Math.round(yEdge[i]) + 0.5); ctx.lineTo(AXIS_L + plotW, Math.round(yEdge[i]) + 0.5); ctx.stroke();
    }
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);
    ctx.strokeStyle = cssVar('--border-2');
    ctx.beginPath(); ctx.moveTo(AXIS_L - 0.5, PAD_T); ctx.lineTo(AXIS_L - 0.5, PAD_T + plotH + 0.5); ctx.lineTo(AXIS_L + plotW, PAD_T + plotH + 0.5); ctx.stroke();
    ctx.textAlign = 'left';
    ctx.textBaseline = 'alphabetic';
    const every = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000)
      .find((s) => (s / span) * plotW >= (s < 60000 ? 64 : 48)) ?? 86400000;
    const secs = every < 60000;
    const off = new Date(start).getTimezoneOffset() * 60000;
    for (let t = Math.ceil((start - off) / every) * every + off; t <= end; t += every) {
      const x = xOf(t);
      if (x > AXIS_L + plotW - 30) break;
      ctx.fillStyle = cssVar('--text-3');
      ctx.fillText(clock(t, secs), x - 12, height - 4);
      ctx.fillStyle = cssVar('--border-2');
      ctx.fillRect(Math.round(x), PAD_T + plotH, 1, 3);
    }
    cv.dataset.total = String(total);
    cv.dataset.errors = String(errors);
    cv.dataset.max = String(maxAll);
    performance.measure('osprey:hitmap:draw', { start: t0 });
  }, [cells, bounds, nb, stepMs, start, end, span, width, height, plotW, plotH, yEdge, xOf, theme]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => { draw(); }, [draw]);
  useEffect(() => {
    if (onPainted) requestAnimationFrame(() => setTimeout(onPainted, 0));
  }, [cells]); // eslint-disable-line react-hooks/exhaustive-deps

  const local = (e: React.MouseEvent | MouseEvent) => {
    const r = canvasRef.current!.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  };
  const inPlot = (x: number, y: number) => x >= AXIS_L && x <= AXIS_L + plotW && y >= PAD_T && y <= PAD_T + plotH;
  const clampX = (x: number) => Math.max(AXIS_L, Math.min(AXIS_L + plotW - 0.01, x));
  const clampY = (y: number) => Math.max(PAD_T + 0.01, Math.min(PAD_T + plotH - 0.01, y));
  const step = Math.max(1000, stepMs);

  // boxOf snaps a pixel rectangle to whole 5-s windows and whole buckets
  const boxOf = (xa: number, ya: number, xb: number, yb: number): HitBox => {
    const ta = timeAt(clampX(Math.min(xa, xb))); const tb = timeAt(clampX(Math.max(xa, xb)));
    let t0 = Math.floor(ta / step) * step;
    let t1 = Math.ceil(tb / step) * step;
    if (t1 <= t0) t1 = t0 + step;
    t0 = Math.max(t0, Math.floor(start / step) * step);
    t1 = Math.min(t1, Math.ceil(end / step) * step);
    const b0 = bucketAt(clampY(Math.max(ya, yb))); const b1 = bucketAt(clampY(Math.min(ya, yb)));
    return { t0, t1, b0: Math.min(b0, b1), b1: Math.max(b0, b1) };
  };

  // the drag follows the mouse outside the canvas too
  useEffect(() => {
    if (!drag) return;
    const move = (e: MouseEvent) => { const p = local(e); setDrag((d) => (d ? { ...d, x1: p.x, y1: p.y } : d)); };
    const up = (e: MouseEvent) => {
      const p = local(e);
      setDrag(null);
      if (!onSelect) return;
      if (Math.abs(p.x - drag.x0) < 4 && Math.abs(p.y - drag.y0) < 4) {
        const t = Math.floor(timeAt(clampX(p.x)) / step) * step;
        const b = bucketAt(clampY(p.y));
        const has = cells.some((c) => c[0] === t && c[1] === b);
        onSelect(has ? { t0: t, t1: t + step, b0: b, b1: b } : null);
      } else onSelect(boxOf(drag.x0, drag.y0, p.x, p.y));
    };
    window.addEventListener('mousemove', move);
    window.addEventListener('mouseup', up);
    return () => { window.removeEventListener('mousemove', move); window.removeEventListener('mouseup', up); };
  }, [drag?.x0, drag?.y0, start, end, plotW, yEdge, cells]); // eslint-disable-line react-hooks/exhaustive-deps

  const rectOf = (b: HitBox) => {
    const x0 = Math.max(AXIS_L, xOf(b.t0)); const x1 = Math.min(AXIS_L + plotW, xOf(b.t1));
    return { left: x0, top: yEdge[b.b1 + 1], width: Math.max(2, x1 - x0), height: Math.max(2, yEdge[b.b0] - yEdge[b.b1 + 1]) };
  };
  const live = drag && (Math.abs(drag.x1 - drag.x0) >= 4 || Math.abs(drag.y1 - drag.y0) >= 4) ? rectOf(boxOf(drag.x0, drag.y0, drag.x1, drag.y1)) : null;
  const sel = selection && selection.t1 > start && selection.t0 < end ? rectOf(selection) : null;

  // hover: the counts of the 5-s cell under the cursor
  const hv = useMemo(() => {
    if (!hover) return null;
    let ok = 0; let err = 0;
    for (const c of cells) if (c[0] === hover.t && c[1] === hover.b) { ok += c[2]; err += c[3]; }
    return { ok, err };
  }, [hover, cells]);

  return (
    <div className="hitmap" ref={wrapRef} style={{ height }} data-testid={testid}>
      <canvas ref={canvasRef} data-testid={`${testid}-canvas`} style={{ display: 'block', cursor: 'crosshair' }}
        data-plot-left={AXIS_L} data-plot-top={PAD_T} data-plot-width={plotW} data-plot-height={plotH} data-start={start} data-end={end}
        onMouseDown={(e) => {
          if (e.button !== 0) return;
          const p = local(e);
          if (!inPlot(p.x, p.y)) return;
          e.preventDefault();
          setDrag({ x0: p.x, y0: p.y, x1: p.x, y1: p.y });
        }}
        onMouseMove={(e) => {
          const p = local(e);
          if (!inPlot(p.x, p.y)) { setHover(null); return; }
          setHover({ x: p.x, y: p.y, t: Math.floor(timeAt(p.x) / step) * step, b: bucketAt(p.y) });
        }}
        onMouseLeave={() => setHover(null)} />
      {sel && <div className="hitmap-box sel" style={sel} data-testid={`${testid}-selection-box`} />}
      {live && <div className="hitmap-box drag" style={live} />}
      {hover && hv && !drag && (
        <div className="tooltip" style={{ left: Math.min(hover.x + 14, width - 190), top: Math.max(0, hover.y - 54) }}>
          <div className="muted">{clock(hover.t)} – {clock(hover.t + step)}</div>
          <div>{fmtRange(bounds[hover.b], hover.b === nb - 1 ? null : bounds[hover.b + 1])}</div>
          <div><b>{hv.ok}</b> ok{hv.err > 0 && <> · <b className="crit">{hv.err}</b> error{hv.err === 1 ? '' : 's'}</>}</div>
        </div>
      )}
    </div>
  );
}

// fmtRange: "1.25–1.375 s", "≥ 78 s".
export function fmtRange(lo: number, hi: number | null): string {
  const f = (v: number) => (v < 1000 ? `${v} ms` : `${+(v / 1000).toFixed(3)} s`);
  if (hi == null) return `≥ ${f(lo)}`;
  if (hi <= 1000) return `${lo}–${hi} ms`;
  return `${+(lo / 1000).toFixed(3)}–${+(hi / 1000).toFixed(3)} s`;
}

// HitLegend: the count ramp and the error colour.
export function HitLegend() {
  const dark = document.documentElement.dataset.theme !== 'light';
  return (
    <span className="heat-legend">
      few <span className="heat-ramp" style={{ background: dark ? 'linear-gradient(90deg, rgb(34,70,118), rgb(140,204,255))' : 'linear-gradient(90deg, rgb(198,220,248), rgb(12,76,178))' }} /> many
      <span className="hitmap-err-swatch" /> errors
    </span>
  );
}
