// Application monitoring API (/api/v1/apm/*, see docs/apm.md): apps and
// their instances, overview counters, the hitmap, transactions, profiles,
// active transactions and stacks, statistics, traces and the service map;
// on top of api.ts' request function (envelope, project header, CSRF).
import { api as rawApi, getProject } from './api';

// api drops the query string from "not available" messages (a server
// without the APM API would otherwise repeat the whole address).
const api = <T>(path: string, signal?: AbortSignal) =>
  rawApi<T>(path, undefined, { signal }).catch((e: unknown) => {
    if (e instanceof Error && e.message.includes('?') && e.message.endsWith('not available on this server')) e.message = e.message.replace(/\?[^:]*:/, ':');
    throw e;
  });

// ---- filters: every APM view narrows by these (each may repeat) ----
export const filterKeys = ['app', 'instance', 'namespace', 'deployment', 'pod'] as const;
export type FilterKey = typeof filterKeys[number];
export type ApmFilter = Partial<Record<FilterKey, string[]>>;

type Extra = Record<string, string | number | boolean | undefined | null>;
// sec: unix seconds for a query, ms kept (the API takes fractional seconds).
const sec = (s: number) => String(Math.round(s * 1000) / 1000);

// query builds a query string from a filter, a time range (unix seconds)
// and other parameters (empty ones left out).
export function query(f: ApmFilter | undefined, range?: [number, number] | null, extra: Extra = {}): string {
  const q = new URLSearchParams();
  if (range) { q.set('start', sec(range[0])); q.set('end', sec(range[1])); }
  for (const k of filterKeys) for (const v of f?.[k] || []) if (v) q.append(k, v);
  for (const [k, v] of Object.entries(extra)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? '?' + s : '';
}
const base = '/api/v1/apm';

// isErr reads an error flag given as a boolean, 1/0 or "1"/"true".
export const isErr = (v: unknown) => v === true || v === 1 || v === '1' || v === 'true';
const arr = <T>(v: T[] | null | undefined): T[] => (Array.isArray(v) ? v : []);

// ---- apps ----
export interface AppInstance {
  instance: string; agent_id: string; language: string; host: string; namespace: string; deployment: string; pod: string;
  last_seen: string; active: boolean;
}
export interface App { app: string; instances: AppInstance[]; tps: number; avg_ms: number; error_rate: number }
export const apps = (signal?: AbortSignal) =>
  api<App[] | { apps: App[] }>(base + '/apps', signal)
    .then((d) => arr(Array.isArray(d) ? d : d?.apps).map((a) => ({ ...a, instances: arr(a.instances) })));

// ---- overview counters over time ----
type Col = (number | null)[];
export interface Overview {
  step: number; times: number[]; tps: Col; avg_ms: Col; errors: Col; error_rate: Col; apdex: Col; users: Col; active: Col;
  cpu_percent: Col; heap_bytes: Col; yesterday: { tps: Col; users: Col };
}
export const overview = (f: ApmFilter, start: number, end: number, step: number, signal?: AbortSignal) =>
  api<Overview>(base + '/overview' + query(f, [start, end], { step: `${step}s` }), signal).then((o) => {
    const times = arr(o?.times);
    const col = (c: Col | undefined | null) => (Array.isArray(c) ? c : times.map(() => null));
    return {
      step: Number(o?.step) || step, times, tps: col(o?.tps), avg_ms: col(o?.avg_ms), errors: col(o?.errors), error_rate: col(o?.error_rate),
      apdex: col(o?.apdex), users: col(o?.users), active: col(o?.active), cpu_percent: col(o?.cpu_percent), heap_bytes: col(o?.heap_bytes),
      yesterday: { tps: col(o?.yesterday?.tps), users: col(o?.yesterday?.users) },
    };
  });

// ---- hitmap ----
// A cell: [window start (unix ms), bucket, ok count, error count].
export type HitCell = [number, number, number, number];
export interface Hitmap { step: number; bounds: number[]; start: number; end: number; cells: HitCell[]; total: number; errors: number }
export const hitmap = (f: ApmFilter, start: number, end: number, signal?: AbortSignal) =>
  api<Hitmap>(base + '/hitmap' + query(f, [start, end]), signal)
    .then((h) => ({ step: Number(h?.step) || 5, bounds: arr(h?.bounds), start: h?.start, end: h?.end, cells: arr(h?.cells), total: h?.total || 0, errors: h?.errors || 0 }));

// ---- transactions ----
export interface Tx {
  time: string; start_unix_ms: number; trace_id: string; span_id: string; app: string; instance: string; name: string;
  elapsed_ms: number; error: boolean; status: string | number; method: string; client_ip: string; user: string;
  sql_count: number; sql_ms: number; httpc_count: number; httpc_ms: number;
}
export interface TxQuery { start: number; end: number; min_ms?: number | null; max_ms?: number | null; error?: boolean; name?: string; q?: string; limit?: number }
// txQuery is the query string of a transaction listing (the tests ask the
// API with the same one).
export const txQuery = (f: ApmFilter, t: TxQuery) =>
  query(f, [t.start, t.end], { min_ms: t.min_ms, max_ms: t.max_ms, error: t.error ? 1 : undefined, name: t.name, q: t.q, limit: t.limit });
export const transactions = (f: ApmFilter, t: TxQuery, signal?: AbortSignal) =>
  api<{ transactions: Tx[]; truncated: boolean }>(base + '/transactions' + txQuery(f, t), signal)
    .then((d) => ({ transactions: arr(d?.transactions).map((x) => ({ ...x, error: isErr(x.error) })), truncated: !!d?.truncated }));

// ---- profile ----
export interface TxDetail extends Tx { user_agent: string; cpu_ms: number; alloc_bytes: number; steps_dropped: number }
export interface Step {
  span_id: string; parent_span_id: string; depth: number; offset_ms: number; elapsed_ms: number; type: StepType | string; text: string;
  name: string; rows: number | null; error: boolean; status_message: string; attributes: Record<string, string>;
}
export interface StackSample { time: string; offset_ms: number; hash: string; text: string; step_type: string; step_text: string }
export interface TxEvent { offset_ms: number; name: string; attributes: Record<string, string> }
export interface Profile { tx: TxDetail; steps: Step[]; stacks: StackSample[]; events: TxEvent[] }
export const profile = (traceID: string, spanID: string, signal?: AbortSignal) =>
  api<Profile>(`${base}/profile/${encodeURIComponent(traceID)}/${encodeURIComponent(spanID)}`, signal).then((p) => ({
    tx: { ...p.tx, error: isErr(p.tx?.error) },
    steps: arr(p.steps).map((s) => ({ ...s, error: isErr(s.error), attributes: s.attributes || {} })),
    stacks: arr(p.stacks),
    events: arr(p.events).map((e) => ({ ...e, attributes: e.attributes || {} })),
  }));

// ---- active transactions ----
export type StepType = 'sql' | 'httpc' | 'dbc' | 'msg' | 'method';
export const stepTypes: StepType[] = ['sql', 'httpc', 'dbc', 'msg', 'method'];
export interface CurrentStep { type: string; text: string; elapsed_ms: number }
export interface ActiveTx {
  app: string; instance: string; agent_id: string; trace_id: string; span_id: string; name: string; start: number; elapsed_ms: number;
  client_ip: string; user: string; method: string; cpu_ms: number; sql_count: number; httpc_count: number; step: CurrentStep | null; stack_hash: string;
}
export interface ActiveInstance { app: string; instance: string; normal: number; slow: number; very_slow: number; tps: number; errors?: number | null }
export interface Active { time: string; transactions: ActiveTx[]; instances: ActiveInstance[]; bottleneck: Record<StepType, number> }
export const active = (f: ApmFilter, signal?: AbortSignal) =>
  api<Active>(base + '/active' + query(f), signal).then((a) => ({
    time: a?.time || '',
    transactions: arr(a?.transactions).map((t) => ({ ...t, step: t.step && t.step.type ? t.step : null })),
    instances: arr(a?.instances),
    bottleneck: { sql: 0, httpc: 0, dbc: 0, msg: 0, method: 0, ...((a?.bottleneck || {}) as Partial<Record<StepType, number>>) },
  }));

export const stack = (hash: string, signal?: AbortSignal) =>
  api<{ hash: string; text: string }>(`${base}/stacks/${encodeURIComponent(hash)}`, signal);
export interface TopStack { hash: string; count: number; transactions: number; text: string; top_frame: string }
export const topStacks = (f: ApmFilter, start: number, end: number, limit = 100, signal?: AbortSignal) =>
  api<{ stacks: TopStack[] }>(base + '/stacks' + query(f, [start, end], { limit }), signal).then((d) => arr(d?.stacks));
export interface HistorySample { time: string; elapsed_ms: number; step: CurrentStep | null; hash: string; text: string }
// activeHistory: the snapshots of one running (or finished) transaction
// over the last hour, oldest first.
export const activeHistory = (spanID: string, traceID?: string, signal?: AbortSignal) =>
  api<{ samples: HistorySample[] }>(`${base}/active/history/${encodeURIComponent(spanID)}` + query(undefined, null, { trace_id: traceID }), signal).then((d) => arr(d?.samples));

// ---- statistics ----
export type StatKind = 'tx' | 'sql' | 'httpc' | 'error' | 'ip' | 'ua';
export type StatSort = 'count' | 'errors' | 'sum_ms' | 'avg_ms' | 'max_ms' | 'cpu_ms' | 'sql_count' | 'httpc_count' | 'rows';
export interface StatRow { key: string; count: number; errors: number; sum_ms: number; avg_ms: number; max_ms: number; cpu_ms: number; sql_count: number; httpc_count: number; rows: number }
export const stats = (f: ApmFilter, kind: StatKind, start: number, end: number, sort: StatSort, limit: number, signal?: AbortSignal) =>
  api<{ kind: string; rows: StatRow[] }>(base + '/stats' + query(f, [start, end], { kind, sort, limit }), signal).then((d) => arr(d?.rows));
// statsCsvUrl is a plain link (a download cannot set headers, hence project=).
export const statsCsvUrl = (f: ApmFilter, kind: StatKind, start: number, end: number, sort: StatSort, limit: number) =>
  base + '/stats' + query(f, [start, end], { kind, sort, limit, format: 'csv', project: getProject() });

// ---- distributed trace ----
export interface TraceTx {
  app: string; instance: string; name: string; span_id: string; parent_tx: string; via: CurrentStep | null;
  offset_ms: number; elapsed_ms: number; error: boolean; depth: number;
}
export interface Trace { trace_id: string; start: number; elapsed_ms: number; transactions: TraceTx[] }
export const trace = (traceID: string, signal?: AbortSignal) =>
  api<Trace>(`${base}/trace/${encodeURIComponent(traceID)}`, signal)
    .then((t) => ({ ...t, transactions: arr(t?.transactions).map((x) => ({ ...x, error: isErr(x.error), via: x.via && (x.via.type || x.via.text) ? x.via : null })) }));

// ---- service map ----
export type NodeKind = 'app' | 'db' | 'external' | 'queue';
export interface MapNode { id: string; name: string; kind: NodeKind | string; count: number; errors: number; avg_ms: number }
export interface MapEdge { from: string; to: string; count: number; errors: number; avg_ms: number; rps: number }
export const serviceMap = (f: ApmFilter, start: number, end: number, signal?: AbortSignal) =>
  api<{ nodes: MapNode[]; edges: MapEdge[] }>(base + '/servicemap' + query(f, [start, end]), signal)
    .then((d) => ({ nodes: arr(d?.nodes), edges: arr(d?.edges) }));
