// The databases API (instances, stat catalog, sessions, lock trees, SQL
// statistics) and alert-rule creation, on top of api.ts' request function
// (envelope, project header, CSRF).
import { api, ApiError } from './api';

export type Engine = 'mysql' | 'postgresql';
export type Health = 'ok' | 'warning' | 'down' | 'inactive';

export interface DbInstance {
  id: string; name: string; group: string; engine: Engine | string; version: string; address: string;
  labels: Record<string, string>; active: boolean; up: boolean | null; health: Health | string; lastSeen: string;
  sessions: number | null; activeSessions: number | null; lockWaits: number | null; rate: number | null; collectSeconds: number | null;
}

export interface CatalogMetric {
  name: string; metric: string; category: string; type: 'counter' | 'gauge' | string; unit: string; query: string;
}
export interface Catalog { engine: string; categories: string[]; metrics: CatalogMetric[] }

export interface DbSession {
  id: string; user: string; host: string; database: string; command: string; state: string; waitEvent: string;
  timeSeconds: number; query: string; transactionSeconds: number; application: string; rowsExamined: number; rowsSent: number; blocked: boolean;
}
export interface SessionSample { time: string; total: number; active: number; idleInTransaction: number; sessions: DbSession[] }

export interface LockNode {
  id: string; user: string; query: string; state?: string; heldMode?: string; transactionSeconds?: number;
  waitMode?: string; lockType?: string; table?: string; index?: string; waitSeconds?: number;
  blocking: number; children: LockNode[]; cycle?: boolean;
}
export interface LockEdge {
  waiterId: string; holderId: string; lockMode: string; lockType: string; table: string; index: string; waitSeconds: number;
  waiterQuery: string; holderQuery: string; waiterUser: string; holderUser: string; holderState: string; holderMode: string; holderTransactionSeconds: number;
}
export interface LockSample { time: string; tree: LockNode[]; waits: LockEdge[] }
export interface LockMoment { time: string; waits: number; maxWaitSeconds: number; table: string; holderId: string; holderQuery: string }

export interface Statement {
  digest: string; text: string; database: string; user?: string; calls: number; totalSeconds: number; avgSeconds: number;
  maxSeconds: number; rows: number; rowsExamined: number; errors: number;
}
export interface Statements { available: boolean; hint: string; snapshots: number; coveredSeconds: number; statements: Statement[]; partial?: boolean }
export type StatementSort = 'total' | 'calls' | 'rows' | 'avg' | 'max' | 'errors' | 'examined';

const base = (id: string) => `/api/v1/databases/${encodeURIComponent(id)}`;
const sec = (t: number) => Math.floor(t);

export const databases = () => api<DbInstance[] | { databases: DbInstance[] }>('/api/v1/databases')
  .then((d) => (Array.isArray(d) ? d : d?.databases || []));
export const database = (id: string) => api<DbInstance>(base(id));
export const catalog = (id: string) => api<Catalog>(base(id) + '/catalog')
  .then((c) => ({ engine: c?.engine || '', categories: c?.categories || [], metrics: c?.metrics || [] }));

// sessions answers null when there is no sample within 30 s before `at`.
export const sessions = (id: string, at?: number | null) =>
  api<SessionSample>(base(id) + '/sessions', { at: at ? sec(at) : undefined })
    .then((s) => ({ ...s, sessions: s.sessions || [] }))
    .catch((e) => { if (e instanceof ApiError && e.status === 404 && !/no database instance/.test(e.message)) return null; throw e; });

export const locks = (id: string, at?: number | null) =>
  api<LockSample>(base(id) + '/locks', { at: at ? sec(at) : undefined })
    .then((l) => ({ time: l?.time || '', tree: l?.tree || [], waits: l?.waits || [] }));

export const lockHistory = (id: string, start: number, end: number) =>
  api<{ history: LockMoment[]; partial: boolean }>(base(id) + '/locks/history', { start: sec(start), end: Math.ceil(end) })
    .then((h) => ({ history: h?.history || [], partial: !!h?.partial }));

export const statements = (id: string, start: number, end: number, sort: StatementSort, limit = 50) =>
  api<Statements>(base(id) + '/statements', { start: sec(start), end: Math.ceil(end), sort, limit })
    .then((s) => ({ ...s, statements: s?.statements || [] }));

// ---- alert rules (create only; the Alerts pages manage them) ----
export interface NewMetricRule {
  name: string; kind: 'metric'; enabled: boolean; severity: 'info' | 'warning' | 'critical'; expr: string;
  op: '>' | '>=' | '<' | '<=' | '==' | '!='; threshold: number; for: string; repeat: string; message: string;
}
export interface AlertRule extends NewMetricRule { id: number }
export const createRule = (r: NewMetricRule) =>
  api<AlertRule>('/api/v1/alerts/rules', undefined, { method: 'POST', body: JSON.stringify(r) });

// ---- helpers ----
// selector is the PromQL label matcher of one instance.
export const selector = (id: string) => `osprey_agent_id="${id.replace(/[\\"]/g, '\\$&').replace(/\n/g, '\\n')}"`;

// rateQuery is the instance's statement (MySQL Questions) or transaction
// (PostgreSQL commits + rollbacks) rate, as in the instance list.
export function rateQuery(engine: string, id: string): string {
  const s = selector(id);
  return engine === 'postgresql'
    ? `sum(rate(pg_stat_database_xact_commit_total{${s}}[1m])) + sum(rate(pg_stat_database_xact_rollback_total{${s}}[1m]))`
    : `sum(rate(mysql_global_status_questions_total{${s}}[1m]))`;
}
export const rateLabel = (engine: string) => (engine === 'postgresql' ? 'Transactions/s' : 'Statements/s');
export const engineLabel = (engine: string) => (engine === 'postgresql' ? 'PostgreSQL' : engine === 'mysql' ? 'MySQL' : engine || '–');
