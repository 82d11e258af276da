// Live tail: log lines as they are ingested (Server-Sent Events), by
// category, with field filters, text, pause (counting what is missed),
// highlighting, level colours and follow-to-bottom. It keeps up at any
// rate by sampling the view: a bounded ring of lines, rows rendered only
// where visible, updates batched per animation frame, and above ~200
// lines/s only one line in K is kept (and said so).
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import * as LA from '../../logsApi';
import { Icon } from '../../components/Icon';
import { int } from '../../format';
import { useApp, useData } from '../../state';
import { Drawer } from '../alerts/ui';
import { FilterChips, Highlight, filtersParams, LevelTag, RecordFields, firstLine, levelKey, mainLevels, matcher, openContext, readFilters, sourceOf, stamp, termsOf } from './common';

const RING = 2000; // lines kept
const ROW_H = 20; // px per line
const MAX_RATE = 200; // lines/s shown before sampling
const OVERSCAN = 15;

interface Line { seq: number; rec: LA.LogRecord }
interface Stream {
  lines: Line[]; pending: Line[]; seq: number; total: number; missed: number; sampledOut: number;
  arrivals: number; rate: number; k: number; kc: number; raf: number; shift: number;
}
const newStream = (): Stream => ({ lines: [], pending: [], seq: 0, total: 0, missed: 0, sampledOut: 0, arrivals: 0, rate: 0, k: 1, kc: 0, raf: 0, shift: 0 });

export default function LiveTail() {
  const app = useApp();
  const init = useMemo(() => readFilters(), []);
  const [cats, setCats] = useState<string[]>(init.categories);
  const [filters, setFilters] = useState<string[]>(init.filters.filter((f) => { const p = LA.parseFilter(f); return p && (p.op === '=' || p.op === '!='); }));
  const [text, setText] = useState(init.q);
  const [textInput, setTextInput] = useState(init.q);
  const [levels, setLevels] = useState<string[]>(init.levels);
  const [paused, setPaused] = useState(false);
  const [hl, setHl] = useState('');
  const [contentOnly, setContentOnly] = useState(false);
  const [sel, setSel] = useState<LA.LogRecord | null>(null);
  const [status, setStatus] = useState<'connecting' | 'live' | 'error'>('connecting');
  const [retry, setRetry] = useState(0);
  const [follow, setFollow] = useState(true);
  const [unfollowAt, setUnfollowAt] = useState(0);
  const [, setVersion] = useState(0);
  const st = useRef<Stream>(newStream());
  const listRef = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewH, setViewH] = useState(600);

  // the choices stay in the address, so a reload or a shared link keeps them
  useEffect(() => {
    const p = filtersParams({ q: text, filters, categories: cats, levels }, new URLSearchParams(location.search));
    const q = p.toString();
    const next = location.pathname + (q ? '?' + q : '');
    if (next !== location.pathname + location.search) history.replaceState(history.state, '', next);
  }, [text, filters, cats, levels]);

  // the live window for the category chips: the last hour, refreshed each minute
  const minute = Math.floor(app.now / 60000);
  const catList = useData(() => { const end = Date.now() / 1000; return LA.categories({ start: end - 3600, end }); }, [app.project, minute]);

  // server-side: = and != filters, one category; client-side: several categories, levels
  const serverFilters = useMemo(() => [...filters, ...(cats.length === 1 ? [`category=${cats[0]}`] : [])], [filters, cats]);
  const url = useMemo(() => LA.liveUrl({ filters: serverFilters, q: text }), [serverFilters, text, app.project]); // eslint-disable-line react-hooks/exhaustive-deps
  const client = useRef({ cats: new Set<string>(), levels: new Set<string>(), paused: false });
  client.current = { cats: new Set(cats.length > 1 ? cats : []), levels: new Set(levels), paused };

  const flush = useCallback(() => {
    const s = st.current;
    s.raf = 0;
    if (s.pending.length) {
      s.lines.push(...s.pending);
      s.total += s.pending.length;
      s.pending = [];
      const excess = s.lines.length - RING;
      if (excess > 0) { s.lines.splice(0, excess); s.shift += excess; }
    }
    setVersion((v) => v + 1);
  }, []);
  const schedule = useCallback(() => { const s = st.current; if (!s.raf) s.raf = requestAnimationFrame(flush); }, [flush]);

  useEffect(() => {
    st.current = newStream();
    setVersion((v) => v + 1);
    setStatus('connecting');
    const es = new EventSource(url);
    let again = 0;
    es.onopen = () => setStatus('live');
    // the browser retries a dropped stream itself, but not one refused
    // outright (a restart answering 5xx, a lapsed session): retry that in 5 s
    es.onerror = () => {
      if (es.readyState !== EventSource.CLOSED) { setStatus('connecting'); return; }
      setStatus('error');
      if (!again) again = window.setTimeout(() => setRetry((n) => n + 1), 5000);
    };
    es.addEventListener('log', (e) => {
      let recs: LA.LogRecord[];
      try { recs = JSON.parse((e as MessageEvent<string>).data); } catch { return; }
      if (!Array.isArray(recs)) return;
      const s = st.current;
      const c = client.current;
      for (const r of recs) {
        if (c.cats.size && !c.cats.has(r.category)) continue;
        if (c.levels.size && !c.levels.has(levelKey(r.level) === 'fatal' ? 'error' : levelKey(r.level))) continue;
        s.arrivals++;
        if (c.paused) { s.missed++; continue; }
        if (s.k > 1 && s.kc++ % s.k !== 0) { s.sampledOut++; continue; }
        s.pending.push({ seq: ++s.seq, rec: r });
      }
      if (s.pending.length > RING) { s.sampledOut += s.pending.length - RING; s.pending.splice(0, s.pending.length - RING); }
      schedule();
    });
    // the rate over the last second decides the sampling
    const timer = window.setInterval(() => {
      const s = st.current;
      s.rate = s.arrivals;
      s.arrivals = 0;
      s.k = s.rate > MAX_RATE ? Math.ceil(s.rate / MAX_RATE) : 1;
      schedule();
    }, 1000);
    return () => { es.close(); clearInterval(timer); clearTimeout(again); const s = st.current; if (s.raf) cancelAnimationFrame(s.raf); s.raf = 0; };
  }, [url, schedule, retry]);

  // levels and several categories filter on arrival; a change starts afresh
  useEffect(() => { st.current.lines = []; st.current.total = 0; st.current.missed = 0; setVersion((v) => v + 1); }, [cats, levels]);
  useEffect(() => { if (!paused) { st.current.missed = 0; setVersion((v) => v + 1); } }, [paused]);

  // follow the newest line, or keep the view still while lines drop off the top
  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    const s = st.current;
    if (follow) el.scrollTop = el.scrollHeight;
    else if (s.shift) el.scrollTop = Math.max(0, el.scrollTop - s.shift * ROW_H);
    s.shift = 0;
  });
  useEffect(() => {
    const el = listRef.current!;
    const ro = new ResizeObserver(() => setViewH(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const onScroll = (e: React.UIEvent<HTMLDivElement>) => {
    const el = e.currentTarget;
    setScrollTop(el.scrollTop);
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < ROW_H * 1.5;
    if (atBottom !== follow) { setFollow(atBottom); if (!atBottom) setUnfollowAt(st.current.total); }
  };
  const jump = () => { setFollow(true); const el = listRef.current; if (el) el.scrollTop = el.scrollHeight; };

  const s = st.current;
  const lines = s.lines;
  const n = lines.length;
  const first = Math.max(0, Math.floor(scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(n, Math.ceil((scrollTop + viewH) / ROW_H) + OVERSCAN);
  const re = useMemo(() => matcher(hl.trim() ? [hl.trim()] : []), [hl]);
  const textRe = useMemo(() => matcher(termsOf(text)), [text]);
  const shownRe = re || textRe;
  const addFilter = (f: LA.Filter) => { if (f.op === '=' || f.op === '!=') setFilters((x) => [...x.filter((y) => y !== LA.filterText(f)), LA.filterText(f)]); };
  const toggleCat = (c: string, multi: boolean) => setCats((x) => (x.includes(c) ? x.filter((y) => y !== c) : multi ? [...x, c] : [c]));
  const sampling = s.k > 1;

  return (
    <div className="page lg-page" data-testid="logs-live">
      <div className="page-head">
        <div>
          <h1>Live tail</h1>
          <p className="muted">Lines as they arrive from every agent and OTLP source{cats.length ? ` · ${cats.join(', ')}` : ''}. Click a line for its fields and context.</p>
        </div>
        <div className="page-actions">
          <span className={'lg-status lg-status-' + status} data-testid="live-status" data-status={status} role="status">
            <span className="lg-status-dot" aria-hidden="true" />{status === 'live' ? (paused ? 'Connected, paused' : 'Streaming') : status === 'connecting' ? 'Connecting…' : 'Disconnected'}
          </span>
          <button className={'btn' + (paused ? ' primary' : '')} onClick={() => setPaused(!paused)} aria-pressed={paused} data-testid="live-pause">
            <Icon name={paused ? 'play' : 'pause'} size={14} /> {paused ? 'Resume' : 'Pause'}
          </button>
          <button className="btn" onClick={() => { st.current.lines = []; setVersion((v) => v + 1); }} data-testid="live-clear">Clear</button>
        </div>
      </div>

      <div className="lg-cats" role="group" aria-label="Categories" data-testid="live-categories">
        <button className={'db-chip' + (cats.length === 0 ? ' on' : '')} aria-pressed={cats.length === 0} onClick={() => setCats([])} data-testid="live-category" data-category="">All</button>
        {(catList.data || []).map((c) => (
          <button key={c.category} className={'db-chip' + (cats.includes(c.category) ? ' on' : '')} aria-pressed={cats.includes(c.category)}
            title="Click to show only this category; Ctrl/⌘-click to add it" onClick={(e) => toggleCat(c.category, e.ctrlKey || e.metaKey || e.shiftKey)}
            data-testid="live-category" data-category={c.category}>
            {c.category || '(none)'} <b>{int(c.count)}</b>
          </button>
        ))}
        {cats.filter((c) => !(catList.data || []).some((x) => x.category === c)).map((c) => (
          <button key={c} className="db-chip on" aria-pressed onClick={() => toggleCat(c, true)} data-testid="live-category" data-category={c}>{c}</button>
        ))}
        {catList.data && catList.data.length === 0 && <span className="muted small">No log lines in the last hour yet.</span>}
        {catList.error && <span className="muted small" title={catList.error}>Categories unavailable: {catList.error}</span>}
      </div>

      <div className="lg-live-tools">
        <form className="search" onSubmit={(e) => { e.preventDefault(); setText(textInput); }} role="search">
          <Icon name="search" size={14} />
          <input value={textInput} onChange={(e) => setTextInput(e.target.value)} onBlur={() => setText(textInput)} placeholder="Message contains…" aria-label="Only lines whose message contains" data-testid="live-text" />
        </form>
        <div className="seg lg-levels" role="group" aria-label="Levels">
          {mainLevels.map((l) => (
            <button key={l} className={levels.includes(l) ? 'on' : ''} aria-pressed={levels.includes(l)} onClick={() => setLevels((x) => (x.includes(l) ? x.filter((y) => y !== l) : [...x, l]))} data-level={l}>
              <i className={'lg-dot lg-bg-' + l} aria-hidden="true" />{l}
            </button>
          ))}
        </div>
        <span className="search lg-hl-input">
          <span className="lg-hl-swatch" aria-hidden="true" />
          <input value={hl} onChange={(e) => setHl(e.target.value)} placeholder="Highlight…" aria-label="Highlight a term" data-testid="live-highlight" />
        </span>
        <label className="db-check"><input type="checkbox" checked={contentOnly} onChange={(e) => setContentOnly(e.target.checked)} data-testid="live-content-only" /> Content only</label>
        <span className="spacer" />
        {sampling && (
          <span className="lg-sampling" data-testid="live-sampling" data-k={s.k} title="Too many lines to read: the view keeps one line in K; the stream is not slowed down.">
            showing 1 in {s.k} lines (rate {int(s.rate)}/s)
          </span>
        )}
        <span className="muted small lg-rate" data-testid="live-rate">{int(s.rate)} lines/s</span>
      </div>
      <FilterChips filters={filters} onChange={setFilters} ops={['=', '!=']} start={Date.now() / 1000 - 3600} end={Date.now() / 1000} testid="live-filters" />

      <div className="lg-tail-wrap">
        <div className={'lg-tail' + (contentOnly ? ' content-only' : '')} ref={listRef} onScroll={onScroll} role="log" aria-live="off" aria-label="Live log lines"
          data-testid="live-list" data-total={s.total} data-rows={n} tabIndex={0}>
          <div style={{ height: n * ROW_H, position: 'relative' }}>
            <div style={{ transform: `translateY(${first * ROW_H}px)` }}>
              {lines.slice(first, last).map((l) => <LiveRow key={l.seq} rec={l.rec} re={shownRe} contentOnly={contentOnly} onOpen={setSel} />)}
            </div>
          </div>
          {n === 0 && (
            <div className="lg-tail-empty" data-testid="live-empty">
              {status === 'error' ? 'The stream is disconnected; trying again every 5 seconds.' : paused ? 'Paused.' : 'Waiting for new lines… (only lines arriving from now on are shown)'}
            </div>
          )}
        </div>
        {paused && (
          <div className="lg-paused" data-testid="live-missed" data-missed={s.missed} role="status">
            Paused · <b>{int(s.missed)}</b> line{s.missed === 1 ? '' : 's'} missed
            <button className="btn ua-xs" onClick={() => setPaused(false)}>Resume</button>
          </div>
        )}
        {!follow && !paused && (
          <button className="btn primary lg-jump" onClick={jump} data-testid="live-jump">↓ Jump to latest{s.total - unfollowAt > 0 ? ` (${int(s.total - unfollowAt)} new)` : ''}</button>
        )}
      </div>
      <div className="muted small lg-foot">
        {int(n)} line{n === 1 ? '' : 's'} kept (the newest {int(RING)}) · {int(s.total)} shown since connected{s.sampledOut ? ` · ${int(s.sampledOut)} skipped by sampling` : ''}
      </div>

      {sel && (
        <Drawer title="Log line" onClose={() => setSel(null)} testid="live-details" wide
          footer={<div className="row-end">
            <button className="btn" onClick={() => setSel(null)}>Close</button>
            <button className="btn primary" onClick={() => openContext(sel, app.setRange)} data-testid="live-context">View in context</button>
          </div>}>
          <p className="muted small lg-detail-sub"><LevelTag level={sel.level} /> {stamp(sel._time, true)} · {sel.category || 'no category'} · {sourceOf(sel)}</p>
          <RecordFields rec={sel} re={shownRe} onFilter={(f) => { addFilter(f); setSel(null); }} />
        </Drawer>
      )}
    </div>
  );
}

const LiveRow = memo(function LiveRow({ rec, re, contentOnly, onOpen }: { rec: LA.LogRecord; re: RegExp | null; contentOnly: boolean; onOpen(r: LA.LogRecord): void }) {
  const lk = levelKey(rec.level);
  return (
    <div className={'lg-line lg-row-' + lk} onClick={() => onOpen(rec)} data-testid="live-row" data-category={rec.category} data-level={rec.level}
      role="button" tabIndex={-1} onKeyDown={(e) => { if (e.key === 'Enter') onOpen(rec); }}>
      {!contentOnly && <>
        <span className="lg-t">{stamp(rec._time)}</span>
        <LevelTag level={rec.level} />
        <span className="lg-c" title={rec.category}>{rec.category}</span>
        <span className="lg-s" title={sourceOf(rec)}>{sourceOf(rec)}</span>
      </>}
      <span className="lg-m"><Highlight text={firstLine(rec._msg, 400)} re={re} /></span>
    </div>
  );
});
