// The HTTP API client: envelopes, the session's CSRF token and the project
// header on every request.

export interface Project { id: number; name: string }
export interface Membership { project: Project; role: string }
export interface Me { user: { id: number; name: string; admin: boolean }; projects: Membership[]; csrfToken: string }

export class ApiError extends Error {
  constructor(public status: number, message: string) { super(message); }
}

let csrf = '';
let project = localStorage.getItem('osprey.project') || 'default';
let onUnauthorized: () => void = () => {};

export function setCsrf(t: string) { csrf = t; }
export function setProject(p: string) { project = p; localStorage.setItem('osprey.project', p); }
export function getProject() { return project; }
export function setUnauthorizedHandler(f: () => void) { onUnauthorized = f; }

export async function api<T>(path: string, params?: Record<string, string | number | undefined>, init?: RequestInit & { signal?: AbortSignal }): Promise<T> {
  let url = path;
  if (params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.append(k, String(v));
    const s = q.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  const headers: Record<string, string> = { 'X-Osprey-Project': project, Accept: 'application/json' };
  if (init?.method && init.method !== 'GET') {
    headers['X-CSRF-Token'] = csrf;
    headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(url, { credentials: 'same-origin', ...init, headers: { ...headers, ...(init?.headers as Record<string, string> | undefined) } });
  if (res.status === 204) return undefined as T;
  let body: any = null;
  const text = await res.text();
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok || !body || body.status !== 'success') {
    if (res.status === 401 && !path.endsWith('/login')) onUnauthorized();
    const msg = body?.error || (res.status === 404 ? `${path}: not available on this server` : `${res.status} ${res.statusText}`);
    throw new ApiError(res.status, msg);
  }
  return body.data as T;
}

export const login = (user: string, password: string) =>
  api<Me>('/api/v1/login', undefined, { method: 'POST', body: JSON.stringify({ user, password }) });
export const logout = () => api<void>('/api/v1/logout', undefined, { method: 'POST' });
// A new access key for the current project (owners, and only while no agent is connected).
export const newProjectKey = () => api<{ key: string; grpcPort: string }>('/api/v1/project/key', undefined, { method: 'POST', body: '{}' });
export const me = () => api<Me>('/api/v1/me');

// ---- server monitoring ----
export interface Server {
  id: string; name: string; group: string; labels: Record<string, string>; active: boolean; lastSeen: string;
  os: string; platform: string; platformVersion: string; kernel: string; arch: string; cores: number; memoryBytes: number;
  bootTime: string | null; cpu: number | null; memory: number | null; disk: number | null; load1: number | null; swap: number | null;
  netRx: number | null; netTx: number | null; diskRead: number | null; diskWrite: number | null; processes: number;
}
export interface AvgMax { avg: number | null; max: number | null }
export interface Overview {
  total: number; active: number; inactive: number; cores: number; activeCores?: number; os: { name: string; count: number }[];
  cpu: AvgMax; memory: AvgMax; disk: AvgMax; groups: { name: string; total: number; active: number; cpuAvg: number | null }[];
  labelGroups: Record<string, { value: string; total: number; active: number }[]>;
}
export interface TopServer { id: string; name: string; value: number | null }
export interface TopProcess { name: string; max: number | null; avg: number | null; count: number; servers: number; hosts: string[] }
export interface CpuMap { servers: { id: string; name: string }[]; times: number[]; values: (number | null)[][] }
// Process is a process-list entry; the API's camelCase names and the
// agent's snake_case ones are both accepted.
export interface Process {
  pid: number; ppid?: number; name: string; cmdline?: string; user?: string; state?: string; cpu_percent?: number; rss_bytes?: number | string;
  vms_bytes?: number; memory_percent?: number; read_bytes_per_sec?: number; write_bytes_per_sec?: number; threads?: number; open_fds?: number;
  cpuPercent?: number; rssBytes?: number; memoryPercent?: number; readBytesPerSec?: number; writeBytesPerSec?: number; openFds?: number;
}
export interface Count { key: string; count: number }
export interface LoadSnapshot {
  time: string; reason: string; triggers: string[]; cpuPercent: number; memoryPercent: number; load1: number; load5: number; load15: number;
  cpuThresholdPercent: number; memoryThresholdPercent: number; intervals: number; processCount: number;
  topCpu: Process[]; topMemory: Process[]; topIo: Process[]; connections: { total: number; states: Count[]; topRemoteAddresses: Count[] };
}
export interface SnapshotRef { time: string; reason: string; trigger?: string; cpu: number | null; memory: number | null }

export const servers = () => api<{ servers: Server[] }>('/api/v1/servers').then((d) => d.servers || []);
// One server: the detail pages refresh it every 5 s without fetching the fleet.
export const server = (id: string) => api<Server>(`/api/v1/servers/${encodeURIComponent(id)}`);
export const overview = () => api<Overview>('/api/v1/servers/overview');
export const topServers = (by: string, limit = 5) => api<TopServer[]>('/api/v1/servers/top', { by, limit });
export const topProcesses = (by: string, limit = 5) => api<TopProcess[]>('/api/v1/servers/top-processes', { by, limit });
export const cpuMap = (start: number, end: number, step: number, signal?: AbortSignal) =>
  api<CpuMap>('/api/v1/servers/cpu-map', { start: Math.floor(start), end: Math.floor(end), step: `${step}s` }, { signal });
export const processes = (id: string, at?: number) =>
  api<{ time: string; processes: Process[] }>(`/api/v1/servers/${encodeURIComponent(id)}/processes`, { at: at ? Math.floor(at) : undefined });
export const snapshots = (id: string, start: number, end: number) =>
  api<SnapshotRef[] | { snapshots: SnapshotRef[] }>(`/api/v1/servers/${encodeURIComponent(id)}/snapshots`, { start: Math.floor(start), end: Math.ceil(end) })
    .then((d) => (Array.isArray(d) ? d : d.snapshots || []));
export const snapshot = (id: string, time: string) =>
  api<LoadSnapshot>(`/api/v1/servers/${encodeURIComponent(id)}/snapshots/${encodeURIComponent(time)}`);

export interface EventPage { records: Record<string, string>[]; nextCursor: string; partial: boolean }
export const events = (params: Record<string, string | number | undefined>, filters: string[] = []) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.append(k, String(v));
  for (const f of filters) q.append('filter', f);
  return api<EventPage>('/api/v1/events?' + q.toString());
};

export interface PromSeries { metric: Record<string, string>; values: [number, string][] }
export const queryRange = (query: string, start: number, end: number, step: number, signal?: AbortSignal) =>
  api<{ resultType: string; result: PromSeries[] }>('/api/v1/query_range', { query, start: start.toFixed(3), end: end.toFixed(3), step }, { signal }).then((d) => d.result);
