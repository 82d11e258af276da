// Shared pieces of the log pages: levels and their colours, highlighting
// of query words, the query kept in the address, the query bar (text,
// categories, levels, field filters), a record's fields, the context view
// around a hit and a variable-height virtual list.
import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import * as LA from '../../logsApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { int } from '../../format';
import { navigate, useApp, useData, window_, type Range } from '../../state';
import { Modal, useOutside } from '../db/common';

// ---- levels ----
export type LevelKey = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'other';
export function levelKey(l: string | undefined): LevelKey {
  const v = (l || '').toLowerCase();
  if (!v) return 'other';
  if (v.startsWith('fatal') || v.startsWith('crit') || v.startsWith('emerg') || v === 'alert' || v === 'panic') return 'fatal';
  if (v.startsWith('err')) return 'error';
  if (v.startsWith('warn')) return 'warn';
  if (v.startsWith('info') || v === 'notice') return 'info';
  if (v.startsWith('debug')) return 'debug';
  if (v.startsWith('trace')) return 'trace';
  return 'other';
}
export const levelVar: Record<LevelKey, string> = { fatal: '--crit', error: '--crit', warn: '--warn', info: '--c1', debug: '--c6', trace: '--c6', other: '--c4' };
export const levelOrder: Record<string, number> = { fatal: 0, error: 1, warn: 2, info: 3, debug: 4, trace: 5, other: 6 };
export const mainLevels = ['error', 'warn', 'info', 'debug'];
export function LevelTag({ level }: { level?: string }) {
  const k = levelKey(level);
  return <span className={'lg-lv lg-lv-' + k} title={level || 'no level'}>{level ? level.slice(0, 5) : '–'}</span>;
}

// ---- record helpers ----
export const firstLine = (s: string | undefined, max = 600) => {
  const t = s || '';
  const i = t.indexOf('\n');
  const l = i >= 0 ? t.slice(0, i) : t;
  return l.length > max ? l.slice(0, max) + '…' : l;
};
// sourceOf names where a line came from: agent (or host) and file or service.
export function sourceOf(r: LA.LogRecord): string {
  const who = r['agent.name'] || r['host.name'] || '';
  const file = r['log.file.path'] ? r['log.file.path'].split('/').pop() : '';
  const what = file || r['service.name'] || '';
  return who && what ? `${who} · ${what}` : who || what || '–';
}
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
// stamp: HH:MM:SS.mmm (and the date when not today).
export function stamp(t: string | undefined, withDate = false): string {
  if (!t) return '–';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return t;
  const clock = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return withDate || d.toDateString() !== new Date().toDateString() ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}` : clock;
}
// Fields every row has that say little in a field list.
export const quietFields = new Set(['_time', '_msg', '_stream', '_stream_id', 'type', 'osprey.batch', 'log.category', 'severity_text']);

// ---- highlighting ----
// termsOf takes the words and "phrases" of a text query (wildcards kept).
export function termsOf(q: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(q))) {
    const t = (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]).trim();
    if (t && t !== '*') out.push(t);
  }
  return out;
}
const esc = (s: string) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
// matcher builds one case-insensitive regexp of the terms; "*" stands for
// any run of non-space characters.
export function matcher(terms: string[]): RegExp | null {
  const parts = terms.map((t) => esc(t).replace(/\*/g, '\\S*')).filter((p) => p && p !== '\\S*').sort((a, b) => b.length - a.length);
  return parts.length ? new RegExp(`(${parts.join('|')})`, 'gi') : null;
}
export const Highlight = memo(function Highlight({ text, re, cls = 'lg-mark' }: { text: string; re: RegExp | null; cls?: string }) {
  if (!re || !text) return <>{text}</>;
  const parts = text.split(re);
  if (parts.length === 1) return <>{text}</>;
  return <>{parts.map((p, i) => (i % 2 ? <mark key={i} className={cls}>{p}</mark> : p))}</>;
});

// ---- the query in the address ----
export interface LogFilters { q: string; filters: string[]; categories: string[]; levels: string[] }
export const emptyFilters: LogFilters = { q: '', filters: [], categories: [], levels: [] };
export function readFilters(search = location.search): LogFilters {
  const p = new URLSearchParams(search);
  return { q: p.get('q') || '', filters: p.getAll('filter'), categories: p.getAll('category'), levels: p.getAll('level') };
}
export const filtersKey = (f: LogFilters) => JSON.stringify([f.q.trim(), f.filters, f.categories, f.levels]);
// filtersParams writes f into p, replacing what was there.
export function filtersParams(f: LogFilters, p = new URLSearchParams()): URLSearchParams {
  for (const k of ['q', 'filter', 'category', 'level']) p.delete(k);
  if (f.q.trim()) p.set('q', f.q.trim());
  for (const x of f.filters) p.append('filter', x);
  for (const x of f.categories) p.append('category', x);
  for (const x of f.levels) p.append('level', x);
  return p;
}
// rangeParams writes the app's range (?from=&to= or ?range=) into p.
export function rangeParams(r: Range, p = new URLSearchParams()): URLSearchParams {
  p.delete('from'); p.delete('to'); p.delete('range');
  if (!r.live) { p.set('from', String(Math.floor(r.start))); p.set('to', String(Math.ceil(r.end))); } else if (r.span !== 900) p.set('range', String(r.span));
  return p;
}
export function logsLink(path: string, f: LogFilters, extra?: Record<string, string>): string {
  const p = filtersParams(f);
  for (const [k, v] of Object.entries(extra || {})) if (v) p.set(k, v);
  const s = p.toString();
  return path + (s ? '?' + s : '');
}

// useLogFilters keeps the page's query in state and in the address (with
// the time range), so a view can be shared and reloaded.
export function useLogFilters(): [LogFilters, (f: LogFilters) => void] {
  const { range } = useApp();
  const [f, setF] = useState<LogFilters>(() => readFilters());
  useEffect(() => {
    const p = rangeParams(range, filtersParams(f, new URLSearchParams(location.search)));
    const s = p.toString();
    const next = location.pathname + (s ? '?' + s : '');
    if (next !== location.pathname + location.search) history.replaceState(history.state, '', next);
  }, [f, range]);
  return [f, setF];
}

// useWindow resolves the app's range; in live mode it moves with the
// refresh tick, at most every `every` ms (queries that are heavy use more).
export function useWindow(every = 0): { start: number; end: number; key: string } {
  const app = useApp();
  const tick = every > 0 ? Math.floor(app.now / every) * every : app.now;
  const [start, end] = window_(app.range, tick);
  return { start, end, key: app.range.live ? `live:${app.range.span}:${tick}` : `${app.range.start}-${app.range.end}` };
}

// ---- query bar ----
export function QueryBar({ value, onChange, start, end, testid = 'log-query', extra }: {
  value: LogFilters; onChange(f: LogFilters): void; start: number; end: number; testid?: string; extra?: ReactNode;
}) {
  const [text, setText] = useState(value.q);
  useEffect(() => setText(value.q), [value.q]);
  const [help, setHelp] = useState(false);
  const submit = (e?: React.FormEvent) => { e?.preventDefault(); onChange({ ...value, q: text }); };
  const toggleLevel = (l: string) => onChange({ ...value, levels: value.levels.includes(l) ? value.levels.filter((x) => x !== l) : [...value.levels, l] });
  return (
    <div className="lg-querybar" data-testid={testid}>
      <form className="lg-query-row" onSubmit={submit} role="search">
        <span className="search lg-query">
          <Icon name="search" size={14} />
          <input name="q" value={text} onChange={(e) => setText(e.target.value)} placeholder='Search the message: words, "a phrase", prefix*' aria-label="Search text"
            spellCheck={false} autoComplete="off" data-testid="query-input" />
        </span>
        <button type="submit" className="btn primary" data-testid="query-run">Search</button>
        <button type="button" className="icon-btn lg-help-btn" aria-expanded={help} onClick={() => setHelp(!help)} title="Query syntax">?</button>
        <CategorySelect value={value.categories} onChange={(c) => onChange({ ...value, categories: c })} start={start} end={end} />
        <div className="seg lg-levels" role="group" aria-label="Levels">
          {mainLevels.map((l) => (
            <button type="button" key={l} className={value.levels.includes(l) ? 'on' : ''} aria-pressed={value.levels.includes(l)} onClick={() => toggleLevel(l)} data-level={l}>
              <i className={'lg-dot lg-bg-' + l} aria-hidden="true" />{l}
            </button>
          ))}
        </div>
        {extra}
      </form>
      {help && (
        <div className="lg-syntax" role="note">
          <span><code>timeout refused</code> every word must be in the message</span>
          <span><code>"connection reset"</code> an exact phrase</span>
          <span><code>pay*</code> a prefix</span>
          <span>Field filters below: <code>field=value</code>, <code>field!=value</code>, <code>field~part</code> (contains), <code>field!~part</code>. In the fields list, click a value to keep it, Alt-click to exclude it.</span>
        </div>
      )}
      <FilterChips filters={value.filters} onChange={(filters) => onChange({ ...value, filters })} start={start} end={end} />
    </div>
  );
}

// CategorySelect: a menu of the categories seen in the range, with counts.
export function CategorySelect({ value, onChange, start, end }: { value: string[]; onChange(v: string[]): void; start: number; end: number }) {
  const app = useApp();
  const [open, setOpen] = useState(false);
  const ref = useOutside<HTMLDivElement>(open, () => setOpen(false));
  const cats = useData(() => (open ? LA.categories({ start, end }) : Promise.resolve(null)), [open, app.project]);
  const set = new Set(value);
  const list = cats.data || [];
  const missing = value.filter((c) => !list.some((x) => x.category === c));
  const toggle = (c: string) => onChange(set.has(c) ? value.filter((x) => x !== c) : [...value, c]);
  return (
    <div className="dropdown" ref={ref}>
      <button type="button" className="btn lg-cat-btn" onClick={() => setOpen(!open)} aria-haspopup="true" aria-expanded={open} data-testid="category-select">
        <span className="muted">Category</span> <b>{value.length === 0 ? 'all' : value.length === 1 ? value[0] : `${value.length} chosen`}</b> <Icon name="chevron" size={13} />
      </button>
      {open && (
        <div className="menu lg-cat-menu" data-testid="category-menu">
          {cats.error && <div className="menu-note crit">{cats.error}</div>}
          {!cats.data && !cats.error && <div className="menu-note">Loading…</div>}
          {cats.data && list.length === 0 && missing.length === 0 && <div className="menu-note">No log lines in this time range.</div>}
          {[...list.map((c) => [c.category, c.count] as const), ...missing.map((c) => [c, null] as const)].map(([c, n]) => (
            <label key={c} className="ua-multi-item" data-testid="category-option" data-category={c}>
              <input type="checkbox" checked={set.has(c)} onChange={() => toggle(c)} />
              <span className="ua-multi-label">{c || '(none)'}</span>
              <span className="muted small">{n == null ? '' : int(n)}</span>
            </label>
          ))}
          {value.length > 0 && <div className="menu-note"><button type="button" className="ua-linkish" onClick={() => onChange([])}>Show all categories</button></div>}
        </div>
      )}
    </div>
  );
}

// FilterChips: the field filters as chips (click flips = and !=), and a
// small form to add one.
export function FilterChips({ filters, onChange, start, end, ops = ['=', '!=', '~', '!~'], testid = 'filter-chips' }: {
  filters: string[]; onChange(f: string[]): void; start: number; end: number; ops?: LA.FilterOp[]; testid?: string;
}) {
  const [adding, setAdding] = useState(false);
  const flip = (i: number) => {
    const f = LA.parseFilter(filters[i]);
    if (!f) return;
    const op: Record<LA.FilterOp, LA.FilterOp> = { '=': '!=', '!=': '=', '~': '!~', '!~': '~' };
    const next = { ...f, op: op[f.op] };
    if (!ops.includes(next.op)) return;
    onChange(filters.map((x, j) => (j === i ? LA.filterText(next) : x)));
  };
  return (
    <div className="lg-chips" data-testid={testid}>
      {filters.map((s, i) => {
        const f = LA.parseFilter(s);
        const neg = f?.op.startsWith('!');
        return (
          <span key={s + i} className={'lg-chip' + (neg ? ' neg' : '')} data-testid="filter-chip" data-filter={s}>
            <button type="button" className="lg-chip-main" onClick={() => flip(i)} title="Click to flip between keep and exclude">
              {f ? <><span className="lg-chip-field">{f.field}</span> <span className="lg-chip-op">{LA.opWords[f.op]}</span> <span className="lg-chip-val">{f.value || '""'}</span></> : s}
            </button>
            <button type="button" className="lg-chip-x" aria-label={`Remove filter ${s}`} onClick={() => onChange(filters.filter((_, j) => j !== i))}>✕</button>
          </span>
        );
      })}
      {adding ? <AddFilter ops={ops} start={start} end={end} onAdd={(f) => { onChange([...filters, f]); setAdding(false); }} onCancel={() => setAdding(false)} />
        : <button type="button" className="ua-linkish lg-add-filter" onClick={() => setAdding(true)} data-testid="filter-add">+ Filter</button>}
    </div>
  );
}

function AddFilter({ ops, onAdd, onCancel, start, end }: { ops: LA.FilterOp[]; onAdd(f: string): void; onCancel(): void; start: number; end: number }) {
  const [field, setField] = useState('');
  const [op, setOp] = useState<LA.FilterOp>('=');
  const [value, setValue] = useState('');
  const fl = useData(() => LA.fields({ start, end }).catch(() => [] as LA.FieldCount[]), []);
  const add = (e: React.FormEvent | React.MouseEvent) => { e.preventDefault(); if (field.trim()) onAdd(LA.filterText({ field: field.trim(), op, value })); };
  return (
    <span className="lg-add-form" onKeyDown={(e) => { if (e.key === 'Escape') onCancel(); if (e.key === 'Enter') add(e as unknown as React.FormEvent); }}>
      <input autoFocus placeholder="field, e.g. level" list="lg-field-names" value={field} onChange={(e) => setField(e.target.value)} aria-label="Filter field" data-testid="filter-field" />
      <select value={op} onChange={(e) => setOp(e.target.value as LA.FilterOp)} aria-label="Filter operator" data-testid="filter-op">
        {ops.map((o) => <option key={o} value={o}>{LA.opWords[o]}</option>)}
      </select>
      <input placeholder="value" value={value} onChange={(e) => setValue(e.target.value)} aria-label="Filter value" data-testid="filter-value" />
      <button type="button" className="btn ua-xs" onClick={add} data-testid="filter-save">Add</button>
      <button type="button" className="icon-btn" onClick={onCancel} aria-label="Cancel">✕</button>
      <datalist id="lg-field-names">{(fl.data || []).filter((f) => !quietFields.has(f.field)).map((f) => <option key={f.field} value={f.field} />)}</datalist>
    </span>
  );
}

// ---- a record's fields ----
export function RecordFields({ rec, re, onFilter, testid = 'record-fields' }: {
  rec: LA.LogRecord; re?: RegExp | null; onFilter?(f: LA.Filter): void; testid?: string;
}) {
  const keys = useMemo(() => {
    const ks = Object.keys(rec).filter((k) => k !== '_msg' && k !== '_time');
    ks.sort((a, b) => a.localeCompare(b));
    return ['_time', '_msg', ...ks].filter((k) => k in rec);
  }, [rec]);
  return (
    <table className="table compact lg-fields-table" data-testid={testid}>
      <tbody>
        {keys.map((k) => (
          <tr key={k} data-field={k}>
            <th scope="row" className="lg-fk">{k}</th>
            <td className={'lg-fv' + (k === '_msg' ? ' msg' : '')}><Highlight text={rec[k]} re={k === '_msg' ? re ?? null : null} /></td>
            {onFilter && (
              <td className="lg-fa">
                {k !== '_time' && k !== '_msg' && <>
                  <button type="button" className="icon-btn db-mini" title={`Keep ${k} = ${rec[k]}`} aria-label={`Filter ${k} is ${rec[k]}`} onClick={() => onFilter({ field: k, op: '=', value: rec[k] })}>=</button>
                  <button type="button" className="icon-btn db-mini" title={`Exclude ${k} = ${rec[k]}`} aria-label={`Filter ${k} is not ${rec[k]}`} onClick={() => onFilter({ field: k, op: '!=', value: rec[k] })}>≠</button>
                </>}
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

// ---- context around a hit ----
export function ContextModal({ hit, re, onClose }: { hit: LA.LogRecord; re: RegExp | null; onClose(): void }) {
  const app = useApp();
  const [n, setN] = useState({ before: 20, after: 20 });
  const ctx = useData(() => LA.context(hit, n.before, n.after), [n.before, n.after, app.project]);
  const hitRef = useRef<HTMLDivElement>(null);
  const scrolled = useRef(false);
  useLayoutEffect(() => {
    if (ctx.data && hitRef.current && !scrolled.current) { hitRef.current.scrollIntoView({ block: 'center' }); scrolled.current = true; }
  }, [ctx.data]);
  const d = ctx.data;
  const h = d?.hit || hit;
  const src = [h['agent.name'] || h['agent.id'], h['log.file.path'] || h['service.name']].filter(Boolean).join(' · ');
  const line = (r: LA.LogRecord, i: number, kind: 'before' | 'hit' | 'after') => (
    <div key={kind + i + (r._time || '')} ref={kind === 'hit' ? hitRef : undefined} className={'lg-ctx-line lg-row-' + levelKey(r.level) + (kind === 'hit' ? ' lg-ctx-hit' : '')}
      data-testid={kind === 'hit' ? 'context-hit' : 'context-line'} data-side={kind}>
      <span className="lg-ctx-time">{stamp(r._time)}</span>
      <LevelTag level={r.level} />
      <span className="lg-ctx-msg"><Highlight text={r._msg || ''} re={kind === 'hit' ? re : null} /></span>
    </div>
  );
  return (
    <Modal title="Lines around the hit" onClose={onClose} wide testid="context-modal">
      <p className="muted small lg-ctx-src">Same source: <b>{src || 'unknown'}</b>{d ? ` · ${int(d.before.length)} before, ${int(d.after.length)} after` : ''}</p>
      <ErrorBanner error={ctx.error} />
      <div className="lg-ctx" data-testid="context-lines">
        <button type="button" className="btn ua-xs lg-ctx-more" disabled={!d || d.before.length < n.before || ctx.loading}
          onClick={() => setN((x) => ({ ...x, before: x.before + 50 }))} data-testid="context-more-before">
          {d && d.before.length < n.before ? 'No earlier lines' : 'More earlier lines'}
        </button>
        {!d && !ctx.error && <div className="panel-empty">Loading…</div>}
        {d && d.before.map((r, i) => line(r, i, 'before'))}
        {d && line(h, 0, 'hit')}
        {d && d.after.map((r, i) => line(r, i, 'after'))}
        <button type="button" className="btn ua-xs lg-ctx-more" disabled={!d || d.after.length < n.after || ctx.loading}
          onClick={() => setN((x) => ({ ...x, after: x.after + 50 }))} data-testid="context-more-after">
          {d && d.after.length < n.after ? 'No later lines (yet)' : 'More later lines'}
        </button>
      </div>
    </Modal>
  );
}

// contextLink opens the search page on a hit's context, its range set
// around the hit.
export function openContext(hit: LA.LogRecord, setRange: (r: Range) => void) {
  const t = new Date(hit._time || '').getTime() / 1000;
  if (Number.isFinite(t)) setRange({ live: false, start: Math.floor(t - 900), end: Math.ceil(t + 900) });
  const p = new URLSearchParams();
  if (hit.category) p.append('category', hit.category);
  for (const [k, v] of [['ctx_time', hit._time], ['ctx_agent', hit['agent.id']], ['ctx_file', hit['log.file.path']], ['ctx_service', hit['service.name']],
    ['ctx_level', hit.level], ['ctx_msg', firstLine(hit._msg, 300)]] as const) if (v) p.set(k, v);
  if (Number.isFinite(t)) { p.set('from', String(Math.floor(t - 900))); p.set('to', String(Math.ceil(t + 900))); }
  navigate('/logs/search?' + p.toString());
}
export function contextFromUrl(): LA.LogRecord | null {
  const p = new URLSearchParams(location.search);
  const t = p.get('ctx_time');
  if (!t) return null;
  const r: LA.LogRecord = { _time: t };
  const map: [string, string][] = [['ctx_agent', 'agent.id'], ['ctx_file', 'log.file.path'], ['ctx_service', 'service.name'], ['ctx_level', 'level'], ['ctx_msg', '_msg']];
  for (const [k, f] of map) { const v = p.get(k); if (v) r[f] = v; }
  return r;
}
export function dropContextParams() {
  const p = new URLSearchParams(location.search);
  for (const k of ['ctx_time', 'ctx_agent', 'ctx_file', 'ctx_service', 'ctx_level', 'ctx_msg']) p.delete(k);
  const s = p.toString();
  history.replaceState(history.state, '', location.pathname + (s ? '?' + s : ''));
}

// ---- a virtual list of rows whose heights may change (expanded rows) ----
export function VirtualList({ count, rowH, keyOf, render, className, testid, maxHeight, onScrolled, footer }: {
  count: number; rowH: number; keyOf(i: number): string; render(i: number): ReactNode; className?: string; testid?: string;
  maxHeight: string | number; onScrolled?(top: number): void; footer?: ReactNode;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const heights = useRef(new Map<string, number>());
  const [top, setTop] = useState(0);
  const [viewH, setViewH] = useState(800);
  const [, bump] = useState(0);
  // one observer for the list and its rows, made before the rows mount
  // (their layout effects run before this component's effects)
  const ro = useRef<ResizeObserver>();
  if (!ro.current) {
    ro.current = new ResizeObserver((entries) => {
      let changed = false;
      for (const e of entries) {
        const t = e.target as HTMLElement;
        if (t === ref.current) { setViewH(t.clientHeight); continue; }
        const k = t.dataset.vkey;
        if (!k) continue;
        const h = Math.round(t.getBoundingClientRect().height);
        if (h && heights.current.get(k) !== h) { heights.current.set(k, h); changed = true; }
      }
      if (changed) bump((x) => x + 1);
    });
  }
  useEffect(() => {
    const obs = ro.current!;
    obs.observe(ref.current!);
    return () => obs.disconnect();
  }, []);
  // forget the heights of rows that are gone (the list was reloaded)
  if (heights.current.size > count + 500) {
    const keep = new Map<string, number>();
    for (let i = 0; i < count; i++) { const k = keyOf(i); const h = heights.current.get(k); if (h !== undefined) keep.set(k, h); }
    heights.current = keep;
  }
  const off = new Float64Array(count + 1);
  let acc = 0;
  for (let i = 0; i < count; i++) { off[i] = acc; acc += heights.current.get(keyOf(i)) ?? rowH; }
  off[count] = acc;
  const find = (y: number) => { let lo = 0; let hi = count; while (lo < hi) { const m = (lo + hi) >> 1; if (off[m + 1] <= y) lo = m + 1; else hi = m; } return lo; };
  const first = Math.max(0, find(top) - 8);
  const last = Math.min(count, find(top + viewH) + 12);
  const items: ReactNode[] = [];
  for (let i = first; i < last; i++) {
    const k = keyOf(i);
    items.push(<VRow key={k} k={k} ro={ro}>{render(i)}</VRow>);
  }
  return (
    <div className={'lg-vlist ' + (className || '')} ref={ref} style={{ maxHeight }} data-testid={testid}
      onScroll={(e) => { const t = e.currentTarget.scrollTop; setTop(t); onScrolled?.(t); }}>
      <div style={{ height: off[count], position: 'relative' }}>
        <div style={{ position: 'absolute', top: off[first], left: 0, right: 0 }}>{items}</div>
      </div>
      {footer}
    </div>
  );
}

// VRow is one measured row: observed while mounted, and no longer after.
function VRow({ k, ro, children }: { k: string; ro: React.MutableRefObject<ResizeObserver | undefined>; children: ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const el = ref.current;
    const obs = ro.current;
    if (!el || !obs) return;
    obs.observe(el);
    return () => obs.unobserve(el);
  }, [ro]);
  return <div ref={ref} data-vkey={k}>{children}</div>;
}

// ---- sparkline ----
export function Sparkline({ values, width = 110, height = 22, className = 'lg-spark' }: { values: number[]; width?: number; height?: number; className?: string }) {
  if (values.length < 2) return <svg width={width} height={height} className={className} aria-hidden="true" />;
  const max = Math.max(1e-9, ...values);
  const pts = values.map((v, i) => `${((i / (values.length - 1)) * width).toFixed(1)},${(height - 1 - (v / max) * (height - 3)).toFixed(1)}`);
  return (
    <svg width={width} height={height} className={className} aria-hidden="true">
      <polyline points={`0,${height} ${pts.join(' ')} ${width},${height}`} className="lg-spark-area" />
      <polyline points={pts.join(' ')} className="lg-spark-line" />
    </svg>
  );
}

// LevelMix: a small stacked bar of a pattern's or value's levels.
export function LevelMix({ levels, width = 80 }: { levels: Record<string, number>; width?: number }) {
  const entries = Object.entries(levels).filter(([, n]) => n > 0).sort((a, b) => (levelOrder[levelKey(a[0])] ?? 9) - (levelOrder[levelKey(b[0])] ?? 9));
  const total = entries.reduce((s, [, n]) => s + n, 0);
  const title = entries.map(([l, n]) => `${l || '(none)'}: ${int(n)}`).join('\n');
  return (
    <span className="lg-mix" style={{ width }} title={title} role="img" aria-label={title.replace(/\n/g, ', ') || 'no levels'}>
      {entries.map(([l, n]) => <span key={l} className={'lg-bg-' + levelKey(l)} style={{ width: `${(n / total) * 100}%` }} />)}
    </span>
  );
}

// errText is an error's message.
export const errText = (e: unknown) => String((e as Error)?.message || e);
