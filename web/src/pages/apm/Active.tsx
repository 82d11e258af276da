// Active transactions: what is running right now (refreshed every 5 s,
// with a pause), by speed band and current step; one selected shows its
// current call stack and the history of its sampled stacks. "Top stacks"
// ranks the sampled stacks over the time range.
import { Fragment, useEffect, useMemo, useState } from 'react';
import * as APM from '../../apmApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner, Panel } from '../../components/Panel';
import { useSort, type Column } from '../../components/Table';
import { clock } from '../../format';
import { useApp, useData, window_ } from '../../state';
import {
  ApmTabs, appFrame, Elapsed, FilterBar, Go, StackText, bandHint, bandLabel, bandOf, count, ms, setParam, stamp, stepLong, StepTag, tracePath, txPath, useApps, useEvery, useFilter, type Band,
} from './common';

export default function Active() {
  const { filter, set, params } = useFilter();
  const app = useApp();
  const apps = useApps(Math.floor(app.now / 30000));
  const tab = params.get('tab') === 'stacks' ? 'stacks' : 'now';
  return (
    <div className="page apm-page" data-testid="apm-active">
      <div className="page-head apm-head">
        <div>
          <h1>Active transactions</h1>
          <ApmTabs current="/apm/active" filter={filter} />
        </div>
        <FilterBar apps={apps.data} filter={filter} set={set} />
      </div>
      <div className="tabs" role="tablist">
        <button role="tab" aria-selected={tab === 'now'} className={tab === 'now' ? 'on' : ''} onClick={() => setParam('tab', null)} data-testid="active-tab-now">Running now</button>
        <button role="tab" aria-selected={tab === 'stacks'} className={tab === 'stacks' ? 'on' : ''} onClick={() => setParam('tab', 'stacks')} data-testid="active-tab-stacks">Top stacks</button>
      </div>
      {tab === 'now' ? <Running /> : <TopStacks />}
    </div>
  );
}

const bands: Band[] = ['normal', 'slow', 'very_slow'];

function Running() {
  const app = useApp();
  const { filter, key, params } = useFilter();
  const band = (bands as string[]).includes(params.get('band') || '') ? (params.get('band') as Band) : null;
  const step = params.get('step') || '';
  const [paused, setPaused] = useState(false);
  const [q, setQ] = useState('');
  const [selId, setSelId] = useState<string | null>(params.get('span'));
  const tick = useEvery(!paused && !app.paused);
  const act = useData(() => APM.active(filter), [key, app.project, tick]);
  const all = act.data?.transactions || [];
  // the selected one stays shown after it finishes (its last known state)
  const [kept, setKept] = useState<APM.ActiveTx | null>(null);
  const live = all.find((t) => t.span_id === selId) || null;
  useEffect(() => { if (live) setKept(live); }, [live]);
  const sel = live || (kept && kept.span_id === selId ? kept : null);

  const rows = useMemo(() => {
    const t = q.trim().toLowerCase();
    return all.filter((x) => (!band || bandOf(x.elapsed_ms) === band) && (!step || x.step?.type === step) &&
      (!t || `${x.name} ${x.app} ${x.instance} ${x.client_ip} ${x.user} ${x.step?.text || ''}`.toLowerCase().includes(t)));
  }, [all, band, step, q]);
  const byBand = useMemo(() => { const m: Record<string, number> = { normal: 0, slow: 0, very_slow: 0 }; for (const x of all) m[bandOf(x.elapsed_ms)]++; return m; }, [all]);
  const byStep = useMemo(() => { const m: Record<string, number> = {}; for (const x of all) if (x.step) m[x.step.type] = (m[x.step.type] || 0) + 1; return m; }, [all]);

  const cols: Column<APM.ActiveTx>[] = [
    { key: 'start', label: 'Start', value: (x) => x.start, render: (x) => <span className="mono small">{stamp(x.start)}</span> },
    { key: 'app', label: 'App', value: (x) => x.app, render: (x) => x.app },
    { key: 'instance', label: 'Instance', value: (x) => x.instance, render: (x) => <span className="muted">{x.instance}</span> },
    { key: 'name', label: 'Transaction', value: (x) => x.name, className: 'apm-td-clip', render: (x) => <span title={x.name} data-testid="active-name">{x.name}</span> },
    { key: 'elapsed', label: 'Elapsed', right: true, value: (x) => x.elapsed_ms, render: (x) => <Elapsed v={x.elapsed_ms} /> },
    {
      key: 'step', label: 'Current step', value: (x) => x.step?.type || null, className: 'apm-step-td',
      render: (x) => x.step ? <span className="apm-stepcell" title={x.step.text} data-testid="active-step"><StepTag type={x.step.type} /><span className="mono">{x.step.text || '–'}</span></span> : <span className="muted">–</span>,
    },
    { key: 'stepms', label: 'Step time', right: true, value: (x) => x.step?.elapsed_ms ?? null, render: (x) => (x.step ? <Elapsed v={x.step.elapsed_ms} /> : <span className="muted">–</span>) },
    { key: 'ip', label: 'Client IP', value: (x) => x.client_ip, render: (x) => <span className="mono small">{x.client_ip || '–'}</span> },
    { key: 'user', label: 'User', value: (x) => x.user, render: (x) => x.user || <span className="muted">–</span> },
    { key: 'cpu', label: 'CPU', right: true, value: (x) => x.cpu_ms, render: (x) => (x.cpu_ms ? ms(x.cpu_ms) : <span className="muted">–</span>) },
    { key: 'sql', label: 'SQL', right: true, value: (x) => x.sql_count, render: (x) => x.sql_count || <span className="muted">0</span> },
    { key: 'httpc', label: 'HTTP', right: true, value: (x) => x.httpc_count, render: (x) => x.httpc_count || <span className="muted">0</span> },
  ];
  const { sorted, sort, toggle } = useSort(rows, cols, { key: 'elapsed', desc: true });
  const pick = (x: APM.ActiveTx) => { const id = x.span_id === selId ? null : x.span_id; setSelId(id); setParam('span', id); };

  return (
    <div className="apm-active-grid">
      <div className="apm-toolbar">
        <div className="apm-chips" role="group" aria-label="Speed band">
          <button className={'apm-chip' + (!band ? ' on' : '')} onClick={() => setParam('band', null)} data-testid="band-all">All <b>{all.length}</b></button>
          {bands.map((b) => (
            <button key={b} className={'apm-chip b-' + b + (band === b ? ' on' : '')} onClick={() => setParam('band', band === b ? null : b)} data-testid={`band-${b}`} title={bandHint[b]}>
              <i />{bandLabel[b]} <b>{byBand[b]}</b>
            </button>
          ))}
        </div>
        <div className="apm-chips" role="group" aria-label="Current step">
          {APM.stepTypes.map((s) => (
            <button key={s} className={'apm-chip t-' + s + (step === s ? ' on' : '')} onClick={() => setParam('step', step === s ? null : s)} data-testid={`step-${s}`}>
              <i />{stepLong[s]} <b>{byStep[s] || 0}</b>
            </button>
          ))}
        </div>
        <span className="search"><Icon name="search" size={14} /><input placeholder="Filter name, IP, user, step" value={q} onChange={(e) => setQ(e.target.value)} data-testid="active-filter" aria-label="Filter active transactions" /></span>
      </div>
      <ErrorBanner error={act.error} />
      <Panel testid="active-list" title={<>Running <span className="muted">· {rows.length}{rows.length !== all.length ? ` of ${all.length}` : ''}</span></>}
        extra={<>
          <span className={'apm-live' + (!paused && !app.paused ? ' on' : '')} data-testid="active-status" data-paused={paused ? 'true' : 'false'}>
            <span className="dot" />{paused ? 'Paused' : 'Every 5 s'}{act.data?.time && <> · as of {clock(Date.parse(act.data.time))}</>}
          </span>
          <button className="btn ua-xs" onClick={() => setPaused(!paused)} data-testid="active-pause"><Icon name={paused ? 'play' : 'pause'} size={12} />{paused ? 'Resume' : 'Pause'}</button>
        </>}>
        <div className="vtable" style={{ maxHeight: sel ? 360 : 640 }}>
          <table className="table apm-active-table" data-testid="active-table">
            <thead>
              <tr>
                {cols.map((c) => (
                  <th key={c.key} className={(c.right ? 'r ' : '') + 'sortable ' + (sort.key === c.key ? 'sorted' : '')} onClick={() => toggle(c.key)} data-col={c.key}>
                    {c.label}{sort.key === c.key ? (sort.desc ? ' ↓' : ' ↑') : ''}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {sorted.map((x) => (
                <tr key={x.span_id || x.trace_id + x.start} className={'clickable b-' + bandOf(x.elapsed_ms) + (x.span_id === selId ? ' sel' : '')} onClick={() => pick(x)}
                  data-testid="active-row" data-app={x.app} data-instance={x.instance} data-span={x.span_id} data-trace={x.trace_id} data-elapsed={x.elapsed_ms}
                  data-step={x.step?.type || ''} data-band={bandOf(x.elapsed_ms)}>
                  {cols.map((c) => <td key={c.key} className={(c.right ? 'r ' : '') + (c.className || '')}>{c.render(x)}</td>)}
                </tr>
              ))}
            </tbody>
          </table>
          {sorted.length === 0 && <div className="panel-empty">{act.data ? (all.length ? 'No running transaction matches.' : 'Nothing is running right now.') : 'Loading…'}</div>}
        </div>
      </Panel>
      {sel && <Detail tx={sel} finished={!live} onClose={() => { setSelId(null); setParam('span', null); }} tick={tick} />}
    </div>
  );
}

// Detail: the selected transaction's current stack and its stack history.
function Detail({ tx, finished, onClose, tick }: { tx: APM.ActiveTx; finished: boolean; onClose(): void; tick: number }) {
  const app = useApp();
  const st = useData(() => (tx.stack_hash ? APM.stack(tx.stack_hash) : Promise.resolve(null)), [tx.stack_hash, app.project]);
  const hist = useData(() => APM.activeHistory(tx.span_id, tx.trace_id), [tx.span_id, app.project, finished ? 0 : tick]);
  const [open, setOpen] = useState<number | null>(null);
  const samples = hist.data || [];
  return (
    <Panel testid="active-detail" className="apm-detail"
      title={<><Elapsed v={tx.elapsed_ms} /><span className="apm-clip">{tx.name}</span><span className="muted small">{tx.app} · {tx.instance}</span>{finished && <span className="badge" data-testid="active-finished">finished</span>}</>}
      extra={<>
        <Go to={txPath(tx.trace_id, tx.span_id)} className="btn ua-xs" testid="active-profile">Profile</Go>
        <Go to={tracePath(tx.trace_id)} className="btn ua-xs">Trace</Go>
        <button className="icon-btn" onClick={onClose} title="Close" aria-label="Close">×</button>
      </>}>
      <div className="apm-kv">
        <span>Started <b>{stamp(tx.start)}</b></span>
        {tx.method && <span>Method <b>{tx.method}</b></span>}
        <span>Client <b className="mono">{tx.client_ip || '–'}</b></span>
        <span>User <b>{tx.user || '–'}</b></span>
        <span>CPU <b>{ms(tx.cpu_ms)}</b></span>
        <span>SQL <b>{tx.sql_count}</b></span>
        <span>HTTP calls <b>{tx.httpc_count}</b></span>
        <span>Trace <b className="mono">{tx.trace_id}</b></span>
      </div>
      <div className="apm-detail-grid">
        <div>
          <h4 className="sub">Current step and call stack</h4>
          {tx.step ? (
            <div className="apm-stepcell" style={{ marginBottom: 6 }} data-testid="detail-step"><StepTag type={tx.step.type} /><span className="mono" style={{ whiteSpace: 'pre-wrap' }}>{tx.step.text}</span><Elapsed v={tx.step.elapsed_ms} /></div>
          ) : <p className="muted small" style={{ margin: '0 0 6px' }}>Not in a step (running its own code).</p>}
          <ErrorBanner error={st.error} />
          {tx.stack_hash
            ? (st.data?.text ? <StackText text={st.data.text} testid="active-stack" /> : <pre className="apm-stack" data-testid="active-stack-wait">{st.loading ? 'Loading…' : '(stack text not found)'}</pre>)
            : <p className="muted small" data-testid="active-stack-none">No stack sampled yet: stacks are taken from transactions running longer than the library's sampling interval (Go library), not from OpenTelemetry-only apps.</p>}
        </div>
        <div>
          <h4 className="sub">Stack history <span className="muted">· {samples.length} sample{samples.length === 1 ? '' : 's'}</span></h4>
          <ErrorBanner error={hist.error} />
          {samples.length === 0 ? <p className="muted small">{hist.loading ? 'Loading…' : 'No sample of this transaction yet.'}</p> : (
            <ul className="apm-hist" data-testid="stack-history">
              {samples.map((s, i) => (
                <li key={i} className={open === i ? 'open' : ''} data-testid="history-sample">
                  <button className="apm-hist-line" onClick={() => setOpen(open === i ? null : i)} aria-expanded={open === i}>
                    <span className="mono small">{stamp(s.time)}</span>
                    <Elapsed v={s.elapsed_ms} />
                    {s.step ? <StepTag type={s.step.type} /> : <span className="muted small">code</span>}
                    <span className="mono small apm-clip" title={s.step?.text}>{s.step?.text || appFrame(s.text)}</span>
                  </button>
                  {open === i && <StackText text={s.text || '(no stack text)'} short />}
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </Panel>
  );
}

// TopStacks ranks the stacks sampled over the time range.
function TopStacks() {
  const app = useApp();
  const { filter, key } = useFilter();
  const [start, end] = window_(app.range, app.now);
  // stacks accumulate slowly: re-read every 30 s while live
  const tick = app.range.live ? Math.floor(app.now / 30000) : 0;
  const list = useData(() => APM.topStacks(filter, start, end), [key, app.project, app.range, tick]);
  const [open, setOpen] = useState<string | null>(null);
  const rows = list.data || [];
  const total = rows.reduce((n, s) => n + s.count, 0);
  return (
    <Panel testid="top-stacks" className="apm-topstacks" title={<>Top stacks <span className="muted">· sampled from running transactions over the time range · {count(total)} samples</span></>}>
      <ErrorBanner error={list.error} />
      <div className="vtable" style={{ maxHeight: 'calc(100vh - 260px)' }}>
        <table className="table" data-testid="top-stacks-table">
          <thead><tr><th className="r">Samples</th><th className="r">Share</th><th className="r">Transactions</th><th title="the first frame of the application's own code (the innermost frame is in the tooltip)">App frame</th></tr></thead>
          <tbody>
            {rows.map((s) => (
              <Fragment key={s.hash}>
                <tr className="clickable" onClick={() => setOpen(open === s.hash ? null : s.hash)} data-testid="top-stack-row" data-hash={s.hash} aria-expanded={open === s.hash}>
                  <td className="r"><b>{count(s.count)}</b></td>
                  <td className="r">{total ? `${((100 * s.count) / total).toFixed(1)}%` : '–'}</td>
                  <td className="r">{count(s.transactions)}</td>
                  <td className="apm-frame-td"><span className="mono apm-frame" title={s.top_frame}>{appFrame(s.text) || s.top_frame || s.hash}</span></td>
                </tr>
                {open === s.hash && <tr className="apm-open-row"><td colSpan={4}><StackText text={s.text || '(no text)'} testid="top-stack-text" /></td></tr>}
              </Fragment>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <div className="panel-empty">{list.loading ? 'Loading…' : 'No stack was sampled in this time range.'}</div>}
      </div>
    </Panel>
  );
}
