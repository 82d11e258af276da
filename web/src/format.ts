export const dash = '–';

export function pct(v: number | null | undefined, digits = 1): string {
  return v == null || Number.isNaN(v) ? dash : `${v.toFixed(digits)}%`;
}

export function num(v: number | null | undefined, digits = 2): string {
  if (v == null || Number.isNaN(v)) return dash;
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(digits);
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
export function bytes(v: number | null | undefined): string {
  if (v == null || Number.isNaN(v)) return dash;
  let i = 0;
  let x = Math.abs(v);
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return `${v < 0 ? '-' : ''}${x >= 100 || i === 0 ? x.toFixed(0) : x.toFixed(1)} ${units[i]}`;
}
export const rate = (v: number | null | undefined) => (v == null || Number.isNaN(v) ? dash : `${bytes(v)}/s`);

export function int(v: number | null | undefined): string {
  return v == null || Number.isNaN(v) ? dash : Math.round(v).toLocaleString('en-US');
}

const pad = (n: number) => String(n).padStart(2, '0');
export function clock(t: number | Date, seconds = true): string {
  const d = t instanceof Date ? t : new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? ':' + pad(d.getSeconds()) : ''}`;
}
export function dateTime(t: number | string | Date): string {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return dash;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock(d)}`;
}
export function ago(t: string | number | Date, now = Date.now()): string {
  const d = t instanceof Date ? t.getTime() : new Date(t).getTime();
  if (!d || Number.isNaN(d)) return dash;
  const s = Math.max(0, Math.round((now - d) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}
export function duration(sec: number): string {
  if (sec < 3600) return `${Math.round(sec / 60)}m`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}h ${Math.round((sec % 3600) / 60)}m`;
  return `${Math.floor(sec / 86400)}d ${Math.floor((sec % 86400) / 3600)}h`;
}
// toLocalInput formats a time for <input type="datetime-local">.
export function toLocalInput(t: number): string {
  const d = new Date(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// Heat colours: CPU % → a calm blue → green → amber → red ramp.
const stops: [number, [number, number, number]][] = [
  [0, [30, 64, 110]], [20, [38, 120, 178]], [40, [46, 170, 140]], [60, [196, 196, 62]], [80, [236, 133, 46]], [100, [222, 52, 52]],
];
export const heatLUT: string[] = Array.from({ length: 101 }, (_, v) => {
  let i = 1;
  while (i < stops.length - 1 && v > stops[i][0]) i++;
  const [a, ca] = stops[i - 1];
  const [b, cb] = stops[i];
  const f = (v - a) / (b - a);
  const c = ca.map((x, k) => Math.round(x + (cb[k] - x) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
});
export const heat = (v: number) => heatLUT[Math.max(0, Math.min(100, Math.round(v)))];
// level classes a value for colouring text: ok / warn / crit.
export const level = (v: number | null | undefined, warn = 70, crit = 90) => (v == null ? '' : v >= crit ? 'crit' : v >= warn ? 'warn' : 'ok');
