// Pieces shared by the URL check list and detail pages.
import type * as AA from '../../alertsApi';

export const statusWords: Record<string, string> = { up: 'Up', down: 'Down', partial: 'Partly down', unknown: 'No data', paused: 'Paused' };
export function StatusPill({ status, testid }: { status: AA.UrlStatus | string; testid?: string }) {
  return <span className={'ua-upill ua-upill-' + status} data-testid={testid} data-status={status}>{statusWords[status] ?? status}</span>;
}

export function fmtMs(v: number | null | undefined): string {
  if (v == null || Number.isNaN(v)) return '–';
  if (v >= 10000) return `${(v / 1000).toFixed(1)} s`;
  return `${v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US')} ms`;
}
export const fmtMsAxis = (v: number) => (v === 0 ? '0' : v >= 1000 ? `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)} s` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);

// failureWords says what a failure kind means.
export const failureWords: Record<string, string> = {
  dns: 'Name not resolved', refused: 'Connection refused', timeout: 'Timed out', tls: 'TLS / certificate error', status: 'Unexpected status',
  body: 'Body check failed', connection: 'Connection error', other: 'Request failed',
};

// TLS expiry as days left, amber under 14 days, red under 3.
export function tlsDays(expiry: number | null | undefined, now = Date.now()): { text: string; cls: string; title: string } | null {
  if (!expiry) return null;
  const days = (expiry * 1000 - now) / 86400000;
  const when = new Date(expiry * 1000).toISOString().slice(0, 10);
  if (days < 0) return { text: 'expired', cls: 'crit', title: `certificate expired on ${when}` };
  return { text: `${Math.floor(days)} d`, cls: days < 3 ? 'crit' : days < 14 ? 'warn' : '', title: `certificate expires on ${when}` };
}

export const uptimeClass = (v: number | null | undefined) => (v == null ? 'muted' : v >= 99.9 ? 'ok' : v >= 99 ? 'warn' : 'crit');
export function fmtUptime(v: number | null | undefined): string {
  if (v == null || Number.isNaN(v)) return '–';
  if (v >= 100) return '100%';
  return `${v >= 99 ? v.toFixed(2) : v.toFixed(1)}%`;
}

// Sparkline is a tiny SVG line of a series (null breaks the line).
export function Sparkline({ points, start, end, width = 120, height = 22, label }: {
  points: [number, number | null][]; start: number; end: number; width?: number; height?: number; label?: string;
}) {
  const vals = points.map((p) => p[1]).filter((v): v is number => v != null);
  if (!vals.length) return <span className="muted small">no data</span>;
  const max = Math.max(...vals) || 1;
  const span = end - start || 1;
  let d = ''; let pen = false;
  for (const [t, v] of points) {
    if (v == null) { pen = false; continue; }
    const x = ((t - start) / span) * width; const y = height - 1 - (v / max) * (height - 3);
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  }
  return (
    <svg className="ua-spark" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
      <title>{label}</title>
      <path d={d} fill="none" stroke="currentColor" strokeWidth="1.3" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}
