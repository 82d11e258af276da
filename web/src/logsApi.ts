// Log management API: search, histogram, categories, fields and their
// values, context around a hit, patterns, export, dashboard stats,
// retention per category and the live stream's address; on top of
// api.ts' request function (envelope, project header, CSRF).
import { api as rawApi, getProject } from './api';

// api drops the query string from "not available" messages (a 404 of a
// server without the log API would otherwise repeat the whole address).
const api = <T>(path: string, params?: Record<string, string | number | undefined>, init?: RequestInit & { signal?: AbortSignal }) =>
  rawApi<T>(path, params, init).catch((e: unknown) => {
    if (e instanceof Error && e.message.includes('?') && e.message.endsWith('not available on this server')) e.message = e.message.replace(/\?[^:]*:/, ':');
    throw e;
  });

export type LogRecord = Record<string, string>;

// LogQuery is what every log view filters by. filters are "field=value",
// "field!=value", "field~substring" or "field!~substring".
export interface LogQuery { start: number; end: number; q?: string; filters?: string[]; categories?: string[]; levels?: string[] }

export type FilterOp = '=' | '!=' | '~' | '!~';
export interface Filter { field: string; op: FilterOp; value: string }
export const filterText = (f: Filter) => `${f.field}${f.op}${f.value}`;
// parseFilter splits "field<op>value" at the first operator, as the server does.
export function parseFilter(s: string): Filter | null {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    let op: FilterOp | null = null;
    if (c === '!' && (s[i + 1] === '=' || s[i + 1] === '~')) op = ('!' + s[i + 1]) as FilterOp;
    else if (c === '=' || c === '~') op = c;
    if (!op) continue;
    const field = s.slice(0, i).trim();
    return field ? { field, op, value: s.slice(i + op.length) } : null;
  }
  return null;
}
export const opWords: Record<FilterOp, string> = { '=': 'is', '!=': 'is not', '~': 'contains', '!~': 'does not contain' };

function params(q: LogQuery, extra: Record<string, string | number | undefined> = {}): string {
  const p = new URLSearchParams();
  p.set('start', String(Math.floor(q.start)));
  p.set('end', String(Math.ceil(q.end)));
  if (q.q && q.q.trim()) p.set('q', q.q.trim());
  for (const f of q.filters || []) p.append('filter', f);
  for (const c of q.categories || []) p.append('category', c);
  for (const l of q.levels || []) p.append('level', l);
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== '') p.set(k, String(v));
  return p.toString();
}

// toMs reads a bucket time: unix seconds, unix ms or an RFC 3339 string.
export function toMs(t: string | number): number {
  if (typeof t === 'number') return t > 1e12 ? t : t * 1000;
  if (/^\d+(\.\d+)?$/.test(t)) return toMs(Number(t));
  return Date.parse(t);
}
// stepSeconds reads a step given as seconds or a Go duration ("30s", "1m0s").
export function stepSeconds(s: string | number | undefined): number {
  if (s == null) return 0;
  if (typeof s === 'number') return s;
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s);
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) total += Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]];
  return total;
}

export interface SearchPage { records: LogRecord[]; nextCursor: string; partial: boolean; reason?: string }
export const search = (q: LogQuery, limit = 100, cursor = '', signal?: AbortSignal) =>
  api<SearchPage>('/api/v1/logs/search?' + params(q, { limit, cursor }), undefined, { signal })
    .then((d) => ({ records: d?.records || [], nextCursor: d?.nextCursor || '', partial: !!d?.partial, reason: d?.reason }));

export interface Bucket { time: string | number; count: number }
export interface Histogram { step: number; series: Record<string, Bucket[]> }
// histogram gives the counts over time, split by a field when `by` is set
// (its `top` values and "other"; one unnamed series otherwise).
export const histogram = (q: LogQuery, by = '', top = 8, signal?: AbortSignal) =>
  api<{ step: string | number; buckets?: Bucket[]; series?: Record<string, Bucket[]> }>('/api/v1/logs/histogram?' + params(q, { step: 'auto', by, top: by ? top : undefined }), undefined, { signal })
    .then((d): Histogram => ({ step: stepSeconds(d?.step), series: d?.series || (d?.buckets ? { '': d.buckets } : {}) }));

export interface CategoryCount { category: string; count: number }
export const categories = (q: LogQuery) => api<CategoryCount[]>('/api/v1/logs/categories?' + params(q)).then((d) => d || []);

export interface FieldCount { field: string; count: number }
export const fields = (q: LogQuery) => api<FieldCount[]>('/api/v1/logs/fields?' + params(q)).then((d) => d || []);
// total: the matching lines, with or without the field.
export interface FieldValues { total: number; values: { value: string; count: number }[] }
export const fieldValues = (q: LogQuery, field: string, limit = 10) =>
  api<FieldValues>(`/api/v1/logs/fields/${encodeURIComponent(field)}/values?` + params(q, { limit }))
    .then((d) => ({ total: d?.total || 0, values: d?.values || [] }));

// oldestFirst orders lines by time (stable: lines of one instant keep their order).
function oldestFirst(rs: LogRecord[]): LogRecord[] {
  if (rs.length > 1 && Date.parse(rs[0]._time || '') > Date.parse(rs[rs.length - 1]._time || '')) rs = rs.slice().reverse();
  return rs;
}
export interface Context { before: LogRecord[]; hit: LogRecord | null; after: LogRecord[] }
// context gives the lines around a hit from the same source (agent and
// file, else service), oldest first.
export const context = (hit: LogRecord, before = 20, after = 20) => {
  const p = new URLSearchParams({ time: hit._time || '', before: String(before), after: String(after) });
  if (hit['agent.id']) p.set('agent', hit['agent.id']);
  if (hit['log.file.path']) p.set('file', hit['log.file.path']);
  if (hit['service.name']) p.set('service', hit['service.name']);
  return api<Context>('/api/v1/logs/context?' + p.toString()).then((d) => ({ before: oldestFirst(d?.before || []), hit: d?.hit || null, after: oldestFirst(d?.after || []) }));
};

export interface Pattern {
  id: number | string; template: string; count: number; share: number; sample: string; firstSeen: string; lastSeen: string;
  levels: Record<string, number>; series: Bucket[]; new: boolean; spike: boolean;
}
export interface Patterns { sampled: number; total: number; patterns: Pattern[]; partial?: boolean; reason?: string }
export const patterns = (q: LogQuery, sample = 20000, signal?: AbortSignal) =>
  api<Patterns>('/api/v1/logs/patterns?' + params(q, { sample }), undefined, { signal })
    .then((d) => {
      const ps = (d?.patterns || []).map((p) => ({ ...p, levels: p.levels || {}, series: p.series || [], sample: p.sample || '' }));
      // share is a fraction; a server giving percents is read as such
      if (ps.reduce((s, p) => s + (p.share || 0), 0) > 1.5) for (const p of ps) p.share = (p.share || 0) / 100;
      return { sampled: d?.sampled || 0, total: d?.total || 0, patterns: ps, partial: !!d?.partial, reason: d?.reason };
    });

// exportUrl is a plain link (a download cannot set headers, hence project=).
export const exportUrl = (q: LogQuery, format: 'ndjson' | 'csv', limit = 100000) =>
  '/api/v1/logs/export?' + params(q, { format, limit, project: getProject() });

export type StatFn = 'count' | 'avg' | 'max' | 'min' | 'p95' | 'sum';
export interface StatPoint { time: string | number; value: number | null }
export interface Stats { step: number; series: Record<string, StatPoint[]> }
export const stats = (q: LogQuery, o: { step?: number; fn: StatFn; field?: string; by?: string; top?: number }, signal?: AbortSignal) =>
  api<{ step: string | number; series: Record<string, StatPoint[]> }>('/api/v1/logs/stats?' + params(q, { step: o.step ? `${o.step}s` : undefined, fn: o.fn, field: o.field, by: o.by, top: o.top }), undefined, { signal })
    .then((d): Stats => ({ step: stepSeconds(d?.step), series: d?.series || {} }));

// ---- retention per category ----
export interface Retention { id: number; category: string; days: number }
const json = (method: string, body: unknown) => ({ method, body: JSON.stringify(body) });
export const retention = () => api<Retention[]>('/api/v1/logs/retention').then((d) => d || []);
export const createRetention = (r: Omit<Retention, 'id'>) => api<Retention>('/api/v1/logs/retention', undefined, json('POST', r));
export const updateRetention = (id: number, r: Omit<Retention, 'id'>) => api<Retention>(`/api/v1/logs/retention/${id}`, undefined, json('PUT', r));
export const deleteRetention = (id: number) => api<void>(`/api/v1/logs/retention/${id}`, undefined, { method: 'DELETE' });

// liveUrl is the live tail's Server-Sent Events address (EventSource
// cannot set headers: the project goes in the query; the cookie signs in).
export function liveUrl(o: { filters: string[]; q?: string }): string {
  const p = new URLSearchParams({ type: 'log' });
  for (const f of o.filters) p.append('filter', f);
  if (o.q && o.q.trim()) p.set('q', o.q.trim());
  p.set('project', getProject());
  return '/api/v1/live?' + p.toString();
}
