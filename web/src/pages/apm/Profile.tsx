// Transaction profile: the summary of one finished transaction and one
// integrated timeline: its steps in time order (indented by depth, a
// gantt bar relative to the transaction, SQL text and rows, HTTP calls,
// messaging, methods), errors and exception events highlighted, and the
// active-stack samples taken while it ran, at their offsets.
import { useMemo, useState } from 'react';
import * as APM from '../../apmApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { bytes } from '../../format';
import { useApp, useData } from '../../state';
import { appFrame, Elapsed, Go, StackText, count, filterSearch, ms, stamp, stepLong, StepTag, tracePath } from './common';

interface Row {
  key: string; kind: 'root' | 'step' | 'stack' | 'event'; offset: number; elapsed: number | null; depth: number; type: string;
  text: string; sub: string; error: boolean; rows: number | null; detail: () => React.ReactNode | null;
}
const kinds = ['sql', 'httpc', 'msg', 'dbc', 'method', 'stack', 'event'] as const;

export default function Profile({ traceID, spanID }: { traceID: string; spanID: string }) {
  const app = useApp();
  const p = useData(() => APM.profile(traceID, spanID), [traceID, spanID, app.project]);
  const d = p.data;
  const tx = d?.tx;
  return (
    <div className="page apm-page" data-testid="apm-profile">
      <Go to={'/apm' + (tx ? filterSearch({ app: [tx.app] }) : '')} className="back"><Icon name="back" size={14} /> Application dashboard</Go>
      <div className="page-head">
        <div>
          <div className="detail-head">
            <h1 data-testid="profile-name">{tx?.name || (p.loading ? '…' : 'Transaction')}</h1>
            {tx && <span className="badge" data-testid="profile-app">{tx.app}</span>}
            {tx && <span className="badge">{tx.instance}</span>}
            {tx && (tx.error ? <span className="badge off" data-testid="profile-status" data-error="true">error{tx.status ? ` · ${tx.status}` : ''}</span>
              : <span className="badge live" data-testid="profile-status" data-error="false">ok{tx.status ? ` · ${tx.status}` : ''}</span>)}
          </div>
          <div className="muted small mono" style={{ marginTop: 3 }}>trace {traceID} · span {spanID}</div>
        </div>
        <div className="page-actions">
          <Go to={tracePath(traceID)} className="btn" testid="view-trace">View trace</Go>
        </div>
      </div>
      <ErrorBanner error={p.error} />
      {d && tx && <Summary p={d} />}
      {d && <Timeline p={d} />}
    </div>
  );
}

function Summary({ p }: { p: APM.Profile }) {
  const tx = p.tx;
  const exc = p.events.find((e) => /exception/i.test(e.name));
  const facts: [string, React.ReactNode, string?][] = [
    ['Start', stamp(tx.start_unix_ms || Date.parse(tx.time) - tx.elapsed_ms)],
    ['Elapsed', <Elapsed v={tx.elapsed_ms} error={tx.error} />],
    ['Status', tx.status || '–', tx.error ? 'crit' : ''],
    ['Method', tx.method || '–'],
    ['Client IP', <span className="mono">{tx.client_ip || '–'}</span>],
    ['User', tx.user || '–'],
    ['CPU', tx.cpu_ms ? ms(tx.cpu_ms) : '–'],
    ['Memory', tx.alloc_bytes ? bytes(tx.alloc_bytes) : '–'],
    ['SQL', `${count(tx.sql_count)} · ${ms(tx.sql_ms)}`],
    ['HTTP calls', `${count(tx.httpc_count)} · ${ms(tx.httpc_ms)}`],
    ['Steps', `${p.steps.length}${tx.steps_dropped ? ` (+${count(tx.steps_dropped)} dropped)` : ''}`],
    ['Stack samples', String(p.stacks.length)],
  ];
  return (
    <>
      <div className="apm-facts" data-testid="profile-summary">
        {facts.map(([l, v, c]) => <div className="apm-fact" key={l}><div className="l">{l}</div><div className={'v ' + (c || '')}>{v}</div></div>)}
        {tx.user_agent && <div className="apm-fact wide"><div className="l">User agent</div><div className="v small" title={tx.user_agent}>{tx.user_agent}</div></div>}
      </div>
      {tx.error && (
        <div className="apm-error-box" data-testid="profile-error">
          <b className="crit">The transaction failed</b>{tx.status ? <> with status <b>{tx.status}</b></> : null}
          {exc && <><span>: {exc.attributes['exception.type'] || ''} {exc.attributes['exception.message'] || ''}</span>{exc.attributes['exception.stacktrace'] && <pre>{exc.attributes['exception.stacktrace']}</pre>}</>}
          {!exc && p.steps.find((s) => s.error)?.status_message && <span>: {p.steps.find((s) => s.error)!.status_message}</span>}
        </div>
      )}
      {tx.steps_dropped > 0 && <p className="muted small" style={{ margin: '-4px 0 8px' }}>{count(tx.steps_dropped)} fast steps were not exported by the library (only their totals count above).</p>}
    </>
  );
}

const MAX_ROWS = 1500;

function Timeline({ p }: { p: APM.Profile }) {
  const [hide, setHide] = useState<Record<string, boolean>>({});
  const [open, setOpen] = useState<Record<string, boolean>>({});
  const [all, setAll] = useState(false);
  const total = Math.max(p.tx?.elapsed_ms || 0, ...p.steps.map((s) => (s.offset_ms || 0) + (s.elapsed_ms || 0))) || 1;
  const rows = useMemo(() => buildRows(p), [p]);
  const counts = useMemo(() => { const m: Record<string, number> = {}; for (const r of rows) if (r.kind !== 'root') m[r.kind === 'step' ? typeKey(r.type) : r.kind] = (m[r.kind === 'step' ? typeKey(r.type) : r.kind] || 0) + 1; return m; }, [rows]);
  const shown = rows.filter((r) => r.kind === 'root' || !hide[r.kind === 'step' ? typeKey(r.type) : r.kind]);
  const list = all ? shown : shown.slice(0, MAX_ROWS);
  return (
    <section className="panel" data-testid="profile-timeline">
      <div className="panel-head">
        <h3>Timeline <span className="muted">· steps, events and stack samples in time order</span></h3>
        <div className="apm-tl-tools">
          {kinds.filter((k) => counts[k]).map((k) => (
            <button key={k} className={'apm-chip t-' + k + (hide[k] ? '' : ' on')} onClick={() => setHide({ ...hide, [k]: !hide[k] })} aria-pressed={!hide[k]} data-testid={`tl-kind-${k}`}>
              <i />{k === 'event' ? 'Events' : k === 'stack' ? 'Stacks' : stepLong[k]} <b>{counts[k]}</b>
            </button>
          ))}
        </div>
      </div>
      <div className="apm-tl apm-tl-scroll">
        <div className="apm-tl-head"><span className="r">#</span><span className="r">Start</span><span>Type</span><span>Step</span><span>Timeline</span><span className="r">Elapsed</span><span className="r">Rows</span></div>
        {list.map((r, i) => {
          const o = !!open[r.key];
          const det = o ? r.detail() : null;
          const tc = r.kind === 'stack' ? 't-stack' : r.kind === 'event' ? 't-event' : r.kind === 'root' ? '' : 't-' + typeKey(r.type);
          return (
            <div key={r.key} data-testid={r.kind === 'step' ? 'profile-step' : r.kind === 'stack' ? 'profile-stack' : r.kind === 'event' ? 'profile-event' : 'profile-root'}
              data-type={r.type} data-error={r.error ? 'true' : 'false'}>
              <div className={'apm-tl-row clickable ' + tc + (r.error ? ' err' : '') + (r.kind === 'event' ? ' ev' : '') + (r.kind === 'stack' ? ' stk' : '') + (r.kind === 'root' ? ' root' : '') + (o ? ' open' : '')}
                onClick={() => setOpen({ ...open, [r.key]: !o })}>
                <span className="apm-tl-n">{i}</span>
                <span className="apm-tl-off">+{fmtOff(r.offset)}</span>
                <span>{r.kind === 'root' ? <span className="apm-step-tag" style={{ ['--tc' as string]: 'var(--accent)' }}>TX</span> : <StepTag type={r.kind === 'step' ? r.type : r.kind} />}</span>
                <span className="apm-tl-text" style={{ paddingLeft: Math.min(12, r.depth) * 14 }}>
                  <span className="apm-tl-caret">{o ? '▼' : '▶'}</span>
                  <span className={'txt' + (r.type === 'sql' || r.kind === 'stack' ? ' mono' : '')} title={r.text}>{r.text || '(no text)'}</span>
                  {r.sub && <span className="sub">{r.sub}</span>}
                </span>
                <span className="apm-gantt">
                  {r.elapsed != null
                    ? <span className={r.error ? 'err' : ''} style={{ left: `${(100 * r.offset) / total}%`, width: `${Math.max(0.3, (100 * r.elapsed) / total)}%` }} />
                    : <i style={{ left: `${Math.min(99.5, (100 * r.offset) / total)}%` }} />}
                </span>
                <span className="r">{r.elapsed != null ? <Elapsed v={r.elapsed} error={r.error} /> : ''}</span>
                <span className="r">{r.rows != null ? count(r.rows) : ''}</span>
              </div>
              {o && det && <div className="apm-tl-more">{det}</div>}
            </div>
          );
        })}
        {!all && shown.length > MAX_ROWS && <div className="panel-empty"><button className="btn" onClick={() => setAll(true)}>Show all {count(shown.length)} rows</button></div>}
        {rows.length <= 1 && <div className="panel-empty" data-testid="profile-no-steps">No step was recorded for this transaction{p.tx?.steps_dropped ? ' (its fast steps were dropped by the library)' : ''}.</div>}
      </div>
    </section>
  );
}
const typeKey = (t: string) => (kinds as readonly string[]).includes(t) ? t : 'method';
function fmtOff(v: number) { return v < 1000 ? `${v.toFixed(v < 10 ? 1 : 0)} ms` : `${(v / 1000).toFixed(3)} s`; }

function Attrs({ a }: { a: Record<string, string> }) {
  const e = Object.entries(a || {});
  if (!e.length) return null;
  return <dl className="apm-tl-attrs">{e.map(([k, v]) => <FragmentKV key={k} k={k} v={v} />)}</dl>;
}
function FragmentKV({ k, v }: { k: string; v: string }) { return <><dt>{k}</dt><dd>{String(v)}</dd></>; }

// buildRows merges the transaction, its steps, events and stack samples by offset.
function buildRows(p: APM.Profile): Row[] {
  const tx = p.tx;
  const out: Row[] = [{
    key: 'root', kind: 'root', offset: 0, elapsed: tx?.elapsed_ms ?? null, depth: 0, type: 'tx', text: tx?.name || '', sub: `${tx?.app || ''} · ${tx?.instance || ''}`,
    error: !!tx?.error, rows: null, detail: () => null,
  }];
  const steps: Row[] = p.steps.map((s, i) => ({
    key: 's' + i + s.span_id, kind: 'step', offset: s.offset_ms, elapsed: s.elapsed_ms, depth: Math.max(1, s.depth), type: s.type, error: s.error, rows: s.rows ?? null,
    text: s.text || s.name, sub: s.error && s.status_message ? s.status_message : s.text && s.name && s.name !== s.text && s.type !== 'sql' ? s.name : '',
    detail: () => (
      <>
        {s.text && <pre className="db-sql">{s.text}</pre>}
        {s.error && s.status_message && <div className="crit small">{s.status_message}</div>}
        <Attrs a={s.attributes} />
      </>
    ),
  }));
  const events: Row[] = p.events.map((e, i) => ({
    key: 'e' + i, kind: 'event', offset: e.offset_ms, elapsed: null, depth: 1, type: 'event', error: /exception|error/i.test(e.name), rows: null,
    text: e.attributes['exception.message'] ? `${e.name}: ${e.attributes['exception.type'] ? e.attributes['exception.type'] + ' ' : ''}${e.attributes['exception.message']}` : e.name, sub: '',
    detail: () => (
      <>
        {e.attributes['exception.stacktrace'] && <pre className="apm-stack short">{e.attributes['exception.stacktrace']}</pre>}
        <Attrs a={Object.fromEntries(Object.entries(e.attributes).filter(([k]) => k !== 'exception.stacktrace'))} />
      </>
    ),
  }));
  const stacks: Row[] = p.stacks.map((s, i) => {
    const first = appFrame(s.text) || s.hash;
    return {
      key: 'k' + i, kind: 'stack', offset: s.offset_ms, elapsed: null, depth: 1, type: 'stack', error: false, rows: null,
      text: first, sub: s.step_type ? `in ${stepLong[s.step_type] || s.step_type}${s.step_text ? ': ' + s.step_text.slice(0, 80) : ''}` : 'sampled stack',
      detail: () => <StackText text={s.text || '(no text)'} short />,
    };
  });
  // steps keep their order (start order); events and stacks go in by offset
  const extra = [...events, ...stacks].sort((a, b) => a.offset - b.offset);
  let j = 0;
  for (const s of steps) {
    while (j < extra.length && extra[j].offset < s.offset) out.push(extra[j++]);
    out.push(s);
  }
  while (j < extra.length) out.push(extra[j++]);
  return out;
}
