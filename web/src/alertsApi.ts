// URL monitoring and alerting API (checks, their history and uptime;
// alerts, rules, channels, maintenance windows), on top of api.ts' request
// function (envelope, project header, CSRF).
import { api } from './api';

const sec = (t: number) => Math.floor(t);
const json = (method: string, body?: unknown): { method: string; body: string } => ({ method, body: body === undefined ? '{}' : JSON.stringify(body) });

// ---- agents (the "from which agents" picker, rule scopes) ----
export interface Agent { id: string; name: string; group: string; kind: string; active: boolean; host?: string; lastSeen?: string }
export const agents = () => api<Agent[] | { agents: Agent[] }>('/api/v1/agents').then((d) => (Array.isArray(d) ? d : d?.agents || []));

// ---- URL checks ----
export type UrlStatus = 'up' | 'down' | 'partial' | 'unknown' | 'paused';
export interface UrlCheckBody {
  name: string; url: string; method: string; headers: Record<string, string>; body: string; expectedStatus: number[]; expectedBody: string;
  intervalSeconds: number; timeoutMs: number; followRedirects: boolean; insecureSkipVerify: boolean; agents: string[]; enabled: boolean;
}
export interface UrlCheck extends UrlCheckBody { id: number }
export interface Region {
  agentId: string; agent: string; up: boolean | null; totalMs: number | null; statusCode: number | null; tlsExpiry: number | null; uptime: number | null;
}
export interface UrlCheckStatus extends UrlCheck { status: UrlStatus; regions: Region[] }
export type Run = Record<string, string>;
export interface RunPage { runs: Run[]; nextCursor: string; partial: boolean }
export interface Uptime { runs: number; failed: number; uptime: number | null; start: string; end: string }

// checkBody is exactly the fields the API accepts (it refuses unknown ones).
export function checkBody(c: UrlCheckBody): UrlCheckBody {
  return {
    name: c.name, url: c.url, method: c.method, headers: c.headers || {}, body: c.body || '', expectedStatus: c.expectedStatus || [],
    expectedBody: c.expectedBody || '', intervalSeconds: c.intervalSeconds, timeoutMs: c.timeoutMs, followRedirects: !!c.followRedirects,
    insecureSkipVerify: !!c.insecureSkipVerify, agents: c.agents || [], enabled: !!c.enabled,
  };
}

const checkPath = (id: number | string) => `/api/v1/urls/checks/${encodeURIComponent(String(id))}`;
export const urlChecks = () => api<UrlCheckStatus[]>('/api/v1/urls').then((d) => d || []);
export const urlCheck = (id: number | string) => api<UrlCheck>(checkPath(id));
export const createCheck = (c: UrlCheckBody) => api<UrlCheck>('/api/v1/urls/checks', undefined, json('POST', checkBody(c)));
export const updateCheck = (id: number, c: UrlCheckBody) => api<UrlCheck>(checkPath(id), undefined, json('PUT', checkBody(c)));
export const deleteCheck = (id: number) => api<void>(checkPath(id), undefined, { method: 'DELETE' });
export const checkHistory = (id: number | string, p: { start: number; end: number; agent?: string; failed?: boolean; limit?: number; cursor?: string }) =>
  api<RunPage>(checkPath(id) + '/history', { start: sec(p.start), end: Math.ceil(p.end), agent: p.agent, failed: p.failed ? 'true' : undefined, limit: p.limit, cursor: p.cursor })
    .then((d) => ({ runs: d?.runs || [], nextCursor: d?.nextCursor || '', partial: !!d?.partial }));
export const checkUptime = (id: number | string, start: number, end: number, agent?: string) =>
  api<Uptime>(checkPath(id) + '/uptime', { start: sec(start), end: Math.ceil(end), agent });

// ---- PromQL instant query (rule preview) ----
export interface InstantSample { metric: Record<string, string>; value: number }
export const queryInstant = (query: string, time?: number) =>
  api<{ resultType: string; result: unknown }>('/api/v1/query', { query, time: time ? time.toFixed(3) : undefined }).then((d): InstantSample[] => {
    if (d.resultType === 'vector') return (d.result as { metric: Record<string, string>; value: [number, string] }[]).map((s) => ({ metric: s.metric, value: Number(s.value[1]) }));
    if (d.resultType === 'scalar') return [{ metric: {}, value: Number((d.result as [number, string])[1]) }];
    throw new Error(`the expression returns a ${d.resultType}; an alert rule needs an instant vector`);
  });

// ---- alerts ----
export type Severity = 'info' | 'warning' | 'critical';
export const severities: Severity[] = ['critical', 'warning', 'info'];
export interface AlertState {
  id: string; ruleId: number; ruleName: string; kind: string; severity: Severity | string; labels: Record<string, string>; value: number | null;
  summary: string; status: 'pending' | 'firing' | 'resolved'; activeSince: string; firedAt?: string; resolvedAt?: string; notified: boolean;
  lastNotified?: string; ackedBy?: string; ackedAt?: string; muted: boolean;
}
export const alerts = () => api<AlertState[]>('/api/v1/alerts').then((d) => d || []);
export const ack = (id: string) => api<AlertState>(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, undefined, json('POST'));
export const alertHistory = (p: { start: number; end: number; rule?: number | string; alert?: string; limit?: number }) =>
  api<{ events: Record<string, string>[]; partial: boolean }>('/api/v1/alerts/history', { start: sec(p.start), end: Math.ceil(p.end), rule: p.rule, alert: p.alert, limit: p.limit })
    .then((d) => ({ events: d?.events || [], partial: !!d?.partial }));

// ---- rules ----
export type RuleKind = 'metric' | 'nodata' | 'reboot' | 'url' | 'log' | 'event' | 'apm';
export const ruleKinds: { kind: RuleKind; label: string; hint: string }[] = [
  { kind: 'metric', label: 'Metric', hint: 'A PromQL expression compared with a threshold' },
  { kind: 'nodata', label: 'No data', hint: 'An agent stopped reporting' },
  { kind: 'reboot', label: 'Reboot', hint: 'A server restarted' },
  { kind: 'url', label: 'URL', hint: 'A URL check is down or slow' },
  { kind: 'log', label: 'Log', hint: 'Log lines matching words or fields, counted over a window' },
  { kind: 'event', label: 'Event', hint: 'Events raised by agents, e.g. load snapshots' },
  { kind: 'apm', label: 'Application', hint: 'An application’s TPS, response time, error rate or Apdex over a window' },
];
export const apmConditions: { value: string; label: string; unit: string }[] = [
  { value: 'avg_ms', label: 'Avg response time', unit: 'ms' },
  { value: 'error_rate', label: 'Error rate', unit: '%' },
  { value: 'tps', label: 'TPS', unit: '/s' },
  { value: 'errors', label: 'Errors', unit: '' },
  { value: 'apdex', label: 'Apdex', unit: '' },
];
export const ops = ['>', '>=', '<', '<=', '==', '!='] as const;
export interface FieldFilter { field: string; op: '=' | '!=' | '~' | '!~'; value: string }
export interface Rule {
  id: number; name: string; kind: RuleKind; enabled: boolean; severity: Severity; for: string; repeat: string; message: string; channels: number[] | null;
  expr?: string; op?: string; threshold: number; agentKind?: string; agentGroup?: string; checkId?: string; condition?: string;
  text?: string; filters?: FieldFilter[] | null; window?: string; eventKind?: string; app?: string; updatedAt?: string;
}
export type RuleBody = Omit<Rule, 'id' | 'updatedAt'>;

// ruleBody keeps the common fields and those of the rule's kind.
export function ruleBody(r: RuleBody): RuleBody {
  const b: RuleBody = {
    name: r.name, kind: r.kind, enabled: r.enabled, severity: r.severity, for: r.for || '0s', repeat: r.repeat || '0s', message: r.message || '',
    channels: r.channels || [], threshold: Number(r.threshold) || 0,
  };
  switch (r.kind) {
    case 'metric': Object.assign(b, { expr: r.expr || '', op: r.op || '' }); break;
    case 'nodata': Object.assign(b, { agentKind: r.agentKind || '', agentGroup: r.agentGroup || '' }); break;
    case 'reboot': Object.assign(b, { agentKind: r.agentKind || '', agentGroup: r.agentGroup || '', window: r.window || '' }); break;
    case 'url': Object.assign(b, { checkId: r.checkId || '', condition: r.condition || 'down' }); break;
    case 'log': Object.assign(b, { text: r.text || '', filters: (r.filters || []).filter((f) => f.field.trim()), window: r.window || '', op: r.op || '>' }); break;
    case 'apm': Object.assign(b, { app: r.app || '', condition: r.condition || 'avg_ms', window: r.window || '', op: r.op || '>' }); break;
    case 'event': Object.assign(b, { eventKind: r.eventKind || '', agentKind: r.agentKind || '', agentGroup: r.agentGroup || '', window: r.window || '', op: r.op || '>' }); break;
  }
  return b;
}

const rulePath = (id: number) => `/api/v1/alerts/rules/${id}`;
export const rules = () => api<Rule[]>('/api/v1/alerts/rules').then((d) => d || []);
export const createRule = (r: RuleBody) => api<Rule>('/api/v1/alerts/rules', undefined, json('POST', ruleBody(r)));
export const updateRule = (id: number, r: RuleBody) => api<Rule>(rulePath(id), undefined, json('PUT', ruleBody(r)));
export const deleteRule = (id: number) => api<void>(rulePath(id), undefined, { method: 'DELETE' });

// ---- channels ----
export type ChannelType = 'webhook' | 'slack' | 'email';
export const HIDDEN = '********';
export interface WebhookConfig { url: string; headers?: Record<string, string>; secret?: string }
export interface SlackConfig { url: string; channel?: string }
export interface EmailConfig {
  host: string; port: number; tls: 'starttls' | 'tls' | 'none'; username?: string; password?: string; from: string; to: string[];
  insecureSkipVerify?: boolean; caFile?: string;
}
export interface Channel { id: number; name: string; type: ChannelType; severities: string[] | null; webhook?: WebhookConfig; slack?: SlackConfig; email?: EmailConfig }
export type ChannelBody = Omit<Channel, 'id'>;
export interface TestResult { ok: boolean; error?: string; sentAt?: string }

// channelBody sends only the configuration of the channel's type.
export function channelBody(c: ChannelBody): ChannelBody {
  const b: ChannelBody = { name: c.name, type: c.type, severities: c.severities || [] };
  if (c.type === 'webhook' && c.webhook) {
    const w: WebhookConfig = { url: c.webhook.url };
    const hs = Object.entries(c.webhook.headers || {}).filter(([k]) => k.trim());
    if (hs.length) w.headers = Object.fromEntries(hs);
    if (c.webhook.secret) w.secret = c.webhook.secret;
    b.webhook = w;
  }
  if (c.type === 'slack' && c.slack) b.slack = c.slack.channel ? { url: c.slack.url, channel: c.slack.channel } : { url: c.slack.url };
  if (c.type === 'email' && c.email) {
    const e = c.email;
    const m: EmailConfig = { host: e.host, port: Number(e.port) || 0, tls: e.tls, from: e.from, to: e.to };
    if (e.username) m.username = e.username;
    if (e.password) m.password = e.password;
    if (e.insecureSkipVerify) m.insecureSkipVerify = true;
    if (e.caFile) m.caFile = e.caFile;
    b.email = m;
  }
  return b;
}

const chanPath = (id: number) => `/api/v1/alerts/channels/${id}`;
export const channels = () => api<Channel[]>('/api/v1/alerts/channels').then((d) => d || []);
export const createChannel = (c: ChannelBody) => api<Channel>('/api/v1/alerts/channels', undefined, json('POST', channelBody(c)));
export const updateChannel = (id: number, c: ChannelBody) => api<Channel>(chanPath(id), undefined, json('PUT', channelBody(c)));
export const deleteChannel = (id: number) => api<void>(chanPath(id), undefined, { method: 'DELETE' });
export const testStoredChannel = (id: number) => api<TestResult>(chanPath(id) + '/test', undefined, json('POST'));
export const testChannel = (c: ChannelBody) => api<TestResult>('/api/v1/alerts/channels/test', undefined, json('POST', channelBody(c)));

// ---- maintenance windows ----
export interface Maintenance { id: number; name: string; start: string; end: string; rules: number[] | null; reason: string }
export type MaintenanceBody = Omit<Maintenance, 'id'>;
const mwBody = (m: MaintenanceBody): MaintenanceBody => ({ name: m.name, start: m.start, end: m.end, rules: m.rules || [], reason: m.reason || '' });
const mwPath = (id: number) => `/api/v1/alerts/maintenance/${id}`;
export const maintenance = () => api<Maintenance[]>('/api/v1/alerts/maintenance').then((d) => d || []);
export const createMaintenance = (m: MaintenanceBody) => api<Maintenance>('/api/v1/alerts/maintenance', undefined, json('POST', mwBody(m)));
export const updateMaintenance = (id: number, m: MaintenanceBody) => api<Maintenance>(mwPath(id), undefined, json('PUT', mwBody(m)));
export const deleteMaintenance = (id: number) => api<void>(mwPath(id), undefined, { method: 'DELETE' });
