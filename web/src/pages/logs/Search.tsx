// Log search: the query bar (text, categories, levels, field filters),
// the histogram of matches by level (drag to zoom), the fields explorer
// (top values, click to filter, Alt-click to exclude), the result list
// (expandable rows, query words highlighted, more by cursor), the
// context of a hit and export of the query.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import * as LA from '../../logsApi';
import { ErrorBanner } from '../../components/Panel';
import { int } from '../../format';
import { useApp, useData } from '../../state';
import { BarTimeChart, type BarSeries } from './charts';
import {
  ContextModal, Highlight, LevelTag, QueryBar, RecordFields, VirtualList, contextFromUrl, dropContextParams, filtersKey, firstLine, levelKey, levelOrder,
  levelVar, matcher, quietFields, sourceOf, stamp, termsOf, useLogFilters, useWindow, type LogFilters,
} from './common';
import { fmtCount } from '../db/common';

const PAGE = 100;
const MAX_ROWS = 5000;
const ROW_H = 24;

export default function LogSearch() {
  const app = useApp();
  const [f, setF] = useLogFilters();
  const fk = filtersKey(f);
  const [ctxHit, setCtxHit] = useState<LA.LogRecord | null>(() => contextFromUrl());
  const [frozen, setFrozen] = useState(false);
  const win = useWindow(10000);
  // while the list is being read (more pages, open rows, scrolled), live
  // ticks do not reload it; a new query or range does
  const listKey = useRef(win.key);
  if (!frozen || !app.range.live || !listKey.current.startsWith(`live:${app.range.span}:`)) listKey.current = win.key;
  const q: LA.LogQuery = useMemo(() => ({ start: win.start, end: win.end, q: f.q, filters: f.filters, categories: f.categories, levels: f.levels }), [fk, win.key]); // eslint-disable-line react-hooks/exhaustive-deps
  const re = useMemo(() => matcher(termsOf(f.q)), [f.q]);
  const zoom = useCallback((a: number, b: number) => app.setRange({ live: false, start: a, end: b }), [app]);
  const addFilter = (x: LA.Filter) => {
    const s = LA.filterText(x);
    const opposite = LA.filterText({ ...x, op: x.op === '=' ? '!=' : x.op === '!=' ? '=' : x.op });
    setF({ ...f, filters: [...f.filters.filter((y) => y !== s && y !== opposite), s] });
  };

  const hist = useData(() => LA.histogram(q, 'level'), [q, app.project]);
  const total = useMemo(() => Object.values(hist.data?.series || {}).reduce((s, b) => s + b.reduce((a, x) => a + (x.count || 0), 0), 0), [hist.data]);
  const series = useMemo((): BarSeries[] => Object.entries(hist.data?.series || {})
    .sort((a, b) => (levelOrder[levelKey(a[0])] ?? 9) - (levelOrder[levelKey(b[0])] ?? 9))
    .map(([l, b]) => ({ name: l || '(no level)', color: levelVar[levelKey(l)], data: b.map((x) => [LA.toMs(x.time), x.count] as [number, number]) })), [hist.data]);

  return (
    <div className="page lg-page" data-testid="logs-search">
      <div className="page-head">
        <div>
          <h1>Log search</h1>
          <p className="muted">{hist.data ? <><b data-testid="search-total">{int(total)}</b> line{total === 1 ? '' : 's'} match in the time range</> : hist.error ? 'Search' : 'Counting…'}</p>
        </div>
        <div className="page-actions">
          <a className="btn" href={LA.exportUrl(q, 'ndjson')} download="logs.ndjson" data-testid="export-ndjson" title="Download the matching lines as NDJSON (up to 100,000)">Export NDJSON</a>
          <a className="btn" href={LA.exportUrl(q, 'csv')} download="logs.csv" data-testid="export-csv" title="Download the matching lines as CSV (up to 100,000)">Export CSV</a>
        </div>
      </div>
      <QueryBar value={f} onChange={setF} start={q.start} end={q.end} />
      <section className="panel lg-hist-panel">
        <div className="panel-body">
          {hist.error && !hist.data ? <div className="panel-empty" style={{ height: 150 }}>Histogram: {hist.error}</div>
            : hist.data && total === 0 ? <div className="panel-empty lg-hist-empty" data-testid="histogram-empty">No lines match in this time range.</div>
              : <BarTimeChart series={series} range={[q.start, q.end]} step={hist.data?.step || 60} fmt={fmtCount} onZoom={zoom} testid="log-histogram" height={150} />}
        </div>
      </section>
      <div className="lg-search-grid">
        <FieldsSidebar q={q} total={total} onFilter={addFilter} />
        <Results q={q} listKey={fk + '|' + listKey.current} re={re} onFrozen={setFrozen} onFilter={addFilter} onContext={setCtxHit} filters={f} />
      </div>
      {ctxHit && <ContextModal hit={ctxHit} re={re} onClose={() => { setCtxHit(null); dropContextParams(); }} />}
    </div>
  );
}

// ---- results ----
interface ResState { rows: LA.LogRecord[]; cursor: string; partial: boolean; reason?: string; error: string | null; loading: boolean; query: LA.LogQuery | null }

function Results({ q, listKey, re, onFrozen, onFilter, onContext, filters }: {
  q: LA.LogQuery; listKey: string; re: RegExp | null; onFrozen(b: boolean): void; onFilter(f: LA.Filter): void; onContext(r: LA.LogRecord): void; filters: LogFilters;
}) {
  const app = useApp();
  const [res, setRes] = useState<ResState>({ rows: [], cursor: '', partial: false, error: null, loading: true, query: null });
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [scrolled, setScrolled] = useState(false);
  const seq = useRef(0);
  const frozen = res.rows.length > PAGE || open.size > 0 || scrolled;
  useEffect(() => onFrozen(frozen), [frozen, onFrozen]);
  // a new query (or, while nothing is being read, a new tick) loads afresh
  useEffect(() => {
    const n = ++seq.current;
    const qq = q;
    setRes((r) => ({ ...r, loading: true }));
    LA.search(qq, PAGE).then(
      (p) => { if (n === seq.current) { setRes({ rows: p.records, cursor: p.nextCursor, partial: p.partial, reason: p.reason, error: null, loading: false, query: qq }); } },
      (e) => { if (n === seq.current) setRes((r) => ({ ...r, error: String(e?.message || e), loading: false })); },
    );
  }, [listKey, app.project]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => { setOpen(new Set()); setScrolled(false); }, [filtersKey(filters)]); // eslint-disable-line react-hooks/exhaustive-deps

  const more = () => {
    if (!res.query || !res.cursor) return;
    const n = ++seq.current;
    setRes((r) => ({ ...r, loading: true }));
    LA.search(res.query, PAGE, res.cursor).then(
      (p) => { if (n === seq.current) setRes((r) => ({ ...r, rows: [...r.rows, ...p.records].slice(0, MAX_ROWS), cursor: p.nextCursor, partial: p.partial, reason: p.reason, error: null, loading: false })); },
      (e) => { if (n === seq.current) setRes((r) => ({ ...r, error: String(e?.message || e), loading: false })); },
    );
  };
  const rows = res.rows;
  const keyOf = (i: number) => `${rows[i]._time}|${rows[i]['agent.id'] || ''}|${i}`;
  const toggle = (k: string) => setOpen((s) => { const n = new Set(s); if (n.has(k)) n.delete(k); else n.add(k); return n; });
  const canMore = !!res.cursor && rows.length < MAX_ROWS;

  const footer = (
    <div className="lg-res-foot">
      {canMore ? <button className="btn" onClick={more} disabled={res.loading} data-testid="load-more">{res.loading ? 'Loading…' : `Load ${PAGE} more`}</button>
        : rows.length >= MAX_ROWS ? <span className="muted small">The first {int(MAX_ROWS)} lines are listed: narrow the query or the time range, or export.</span>
          : rows.length > 0 ? <span className="muted small">End of the matching lines.</span> : null}
      {res.partial && <span className="muted small">{res.reason || 'The search stopped at its time or row budget; more may match.'}</span>}
    </div>
  );
  return (
    <section className="panel lg-results" data-testid="results" data-rows={rows.length} data-loading={res.loading}>
      <div className="panel-head">
        <h3>Lines <span className="muted">{int(rows.length)}{res.cursor ? '+' : ''} · newest first</span></h3>
        <div className="panel-extra">{frozen && <span className="muted small" title="The list is not refreshed while you read it">paused while reading · <button className="ua-linkish" onClick={() => { setOpen(new Set()); setScrolled(false); setRes((r) => ({ ...r, rows: r.rows.slice(0, PAGE) })); }}>refresh</button></span>}</div>
      </div>
      <ErrorBanner error={res.error && `Search: ${res.error}`} />
      {!res.error && !res.loading && rows.length === 0 ? (
        <div className="panel-empty lg-empty" data-testid="results-empty">
          No line matches{filters.q ? <> “{filters.q}”</> : ''} in this time range. Widen the range, remove a filter or check the words (every word must be in the message; use <code>prefix*</code> for part of a word).
        </div>
      ) : (
        <VirtualList count={rows.length} rowH={ROW_H} keyOf={keyOf} maxHeight="calc(100vh - 330px)" className="lg-res-list" testid="result-list" footer={footer}
          onScrolled={(t) => setScrolled(t > ROW_H * 3)}
          render={(i) => {
            const r = rows[i];
            const k = keyOf(i);
            const isOpen = open.has(k);
            return (
              <div className={'lg-res lg-row-' + levelKey(r.level) + (isOpen ? ' open' : '')} data-testid="result-row" data-level={r.level} data-category={r.category}>
                <button type="button" className="lg-res-line" onClick={() => toggle(k)} aria-expanded={isOpen}>
                  <span className="lg-caret" aria-hidden="true">{isOpen ? '▾' : '▸'}</span>
                  <span className="lg-t">{stamp(r._time)}</span>
                  <LevelTag level={r.level} />
                  <span className="lg-c" title={r.category}>{r.category}</span>
                  <span className="lg-s" title={sourceOf(r)}>{sourceOf(r)}</span>
                  <span className="lg-m"><Highlight text={firstLine(r._msg, 500)} re={re} /></span>
                </button>
                {isOpen && (
                  <div className="lg-res-detail" data-testid="result-detail">
                    <div className="lg-res-actions">
                      <button className="btn ua-xs" onClick={() => onContext(r)} data-testid="result-context">View in context</button>
                      {r.category && <button className="btn ua-xs" onClick={() => onFilter({ field: 'category', op: '=', value: r.category })}>Only {r.category}</button>}
                      <button className="btn ua-xs" onClick={() => navigator.clipboard?.writeText(JSON.stringify(r, null, 2)).catch(() => {})}>Copy JSON</button>
                    </div>
                    <RecordFields rec={r} re={re} onFilter={onFilter} />
                  </div>
                )}
              </div>
            );
          }} />
      )}
    </section>
  );
}

// ---- fields explorer ----
function FieldsSidebar({ q, total, onFilter }: { q: LA.LogQuery; total: number; onFilter(f: LA.Filter): void }) {
  const app = useApp();
  const fl = useData(() => LA.fields(q), [q, app.project]);
  const [open, setOpen] = useState<string | null>(null);
  const [find, setFind] = useState('');
  const list = useMemo(() => {
    const t = find.trim().toLowerCase();
    return (fl.data || []).filter((x) => !quietFields.has(x.field) && (!t || x.field.toLowerCase().includes(t)));
  }, [fl.data, find]);
  const max = Math.max(1, total, ...(fl.data || []).map((x) => x.count));
  return (
    <aside className="panel lg-fields" data-testid="fields-sidebar" aria-label="Fields">
      <div className="panel-head"><h3>Fields <span className="muted">{fl.data ? int(list.length) : ''}</span></h3></div>
      <div className="lg-fields-find"><input placeholder="Find a field…" value={find} onChange={(e) => setFind(e.target.value)} aria-label="Find a field" /></div>
      {fl.error && <div className="panel-empty small">Fields: {fl.error}</div>}
      {!fl.data && !fl.error && <div className="panel-empty small">Loading…</div>}
      {fl.data && list.length === 0 && <div className="panel-empty small">{find ? 'No field by that name.' : 'No fields: no line matches.'}</div>}
      <ul className="lg-field-list">
        {list.map((x) => (
          <li key={x.field} className={open === x.field ? 'open' : ''}>
            <button type="button" className="lg-field" onClick={() => setOpen(open === x.field ? null : x.field)} aria-expanded={open === x.field} data-testid="field-item" data-field={x.field}>
              <span className="lg-caret" aria-hidden="true">{open === x.field ? '▾' : '▸'}</span>
              <span className="lg-field-name" title={x.field}>{x.field}</span>
              <span className="lg-field-n" title={`${int(x.count)} lines have it`}>{Math.round((x.count / max) * 100)}%</span>
            </button>
            {open === x.field && <FieldValuesList q={q} field={x.field} onFilter={onFilter} />}
          </li>
        ))}
      </ul>
    </aside>
  );
}

function FieldValuesList({ q, field, onFilter }: { q: LA.LogQuery; field: string; onFilter(f: LA.Filter): void }) {
  const app = useApp();
  const v = useData(() => LA.fieldValues(q, field, 10), [q, field, app.project]);
  const top = Math.max(1, ...(v.data?.values || []).map((x) => x.count));
  return (
    <div className="lg-values" data-testid="field-values" data-field={field}>
      {v.error && <div className="muted small">{v.error}</div>}
      {!v.data && !v.error && <div className="muted small">Loading…</div>}
      {v.data && v.data.values.length === 0 && <div className="muted small">No values in the matching lines.</div>}
      {v.data?.values.map((x) => (
        <div key={x.value} className="lg-value">
          <button type="button" className="lg-value-main" onClick={(e) => onFilter({ field, op: e.altKey ? '!=' : '=', value: x.value })}
            title={`Click: only ${field} = ${x.value} · Alt-click: exclude it`} data-testid="field-value" data-value={x.value}>
            <span className="lg-value-name">{x.value === '' ? '(empty)' : x.value}</span>
            <span className="lg-value-n">{int(x.count)}</span>
            <span className="lg-value-bar" aria-hidden="true"><span style={{ width: `${(x.count / top) * 100}%` }} /></span>
          </button>
          <button type="button" className="icon-btn db-mini lg-value-x" onClick={() => onFilter({ field, op: '!=', value: x.value })} aria-label={`Exclude ${field} ${x.value}`} title="Exclude">≠</button>
        </div>
      ))}
      {v.data && v.data.total > 0 && <div className="muted small lg-values-foot">{v.data.values.length >= 10 ? 'Top 10 values · ' : ''}of {int(v.data.total)} matching lines</div>}
    </div>
  );
}
