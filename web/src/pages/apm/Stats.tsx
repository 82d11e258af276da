// Statistics over the picked range, per transaction name, SQL statement,
// external call, error, client IP and user agent: count, errors, total,
// average and max time, CPU, SQL and call counts; server-side order, a
// local filter, CSV export (the API's format=csv) and, per transaction,
// its slowest recent executions.
import { Fragment, useMemo, useState } from 'react';
import * as APM from '../../apmApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner, Panel } from '../../components/Panel';
import { int } from '../../format';
import { navigate, useApp, useData, window_ } from '../../state';
import { ApmTabs, Elapsed, FilterBar, count, ms, setParam, stamp, txPath, useApps, useFilter } from './common';

const kinds: { kind: APM.StatKind; label: string; key: string }[] = [
  { kind: 'tx', label: 'Transactions', key: 'Transaction' },
  { kind: 'sql', label: 'SQL', key: 'Statement' },
  { kind: 'httpc', label: 'External calls', key: 'Call' },
  { kind: 'error', label: 'Errors', key: 'Error' },
  { kind: 'ip', label: 'Client IPs', key: 'Client IP' },
  { kind: 'ua', label: 'User agents', key: 'User agent' },
];

interface Col { key: string; label: string; sort?: APM.StatSort; kinds?: APM.StatKind[]; render(r: APM.StatRow, total: number): React.ReactNode }
const columns: Col[] = [
  { key: 'count', label: 'Count', sort: 'count', render: (r) => int(r.count) },
  { key: 'errors', label: 'Errors', sort: 'errors', render: (r) => (r.errors ? <span className="crit">{int(r.errors)}</span> : <span className="muted">0</span>) },
  {
    key: 'sum_ms', label: 'Total time', sort: 'sum_ms',
    render: (r, total) => <span className="db-share"><span className="db-share-bar"><span style={{ width: `${total ? Math.min(100, (100 * r.sum_ms) / total) : 0}%` }} /></span>{ms(r.sum_ms)}</span>,
  },
  { key: 'avg_ms', label: 'Avg', sort: 'avg_ms', render: (r) => <Elapsed v={r.avg_ms} /> },
  { key: 'max_ms', label: 'Max', sort: 'max_ms', render: (r) => <Elapsed v={r.max_ms} /> },
  { key: 'cpu_ms', label: 'CPU', sort: 'cpu_ms', kinds: ['tx', 'ip', 'ua', 'error'], render: (r) => (r.cpu_ms ? ms(r.cpu_ms) : <span className="muted">–</span>) },
  { key: 'sql_count', label: 'SQL', sort: 'sql_count', kinds: ['tx', 'ip', 'ua', 'error'], render: (r) => int(r.sql_count) },
  { key: 'httpc_count', label: 'Calls', sort: 'httpc_count', kinds: ['tx', 'ip', 'ua', 'error'], render: (r) => int(r.httpc_count) },
  { key: 'rows', label: 'Rows', sort: 'rows', kinds: ['sql'], render: (r) => int(r.rows) },
];

export default function Stats() {
  const app = useApp();
  const { filter, key, set, params } = useFilter();
  const apps = useApps(Math.floor(app.now / 30000));
  const kind = (kinds.find((k) => k.kind === params.get('kind'))?.kind) || 'tx';
  const [sort, setSort] = useState<APM.StatSort>('sum_ms');
  const [limit, setLimit] = useState(200);
  const [q, setQ] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const [start, end] = window_(app.range, app.now);
  // statistics windows are 5 minutes: re-read once a minute while live
  const tick = app.range.live ? Math.floor(app.now / 60000) : 0;
  const st = useData(() => APM.stats(filter, kind, start, end, sort, limit), [key, app.project, kind, sort, limit, app.range, tick]);
  const cols = columns.filter((c) => !c.kinds || c.kinds.includes(kind));
  const rows = useMemo(() => { const t = q.trim().toLowerCase(); const all = st.data || []; return t ? all.filter((r) => r.key.toLowerCase().includes(t)) : all; }, [st.data, q]);
  const total = useMemo(() => (st.data || []).reduce((n, r) => n + (r.sum_ms || 0), 0), [st.data]);
  const kdef = kinds.find((k) => k.kind === kind)!;
  const mono = kind === 'sql' || kind === 'httpc' || kind === 'ip';

  return (
    <div className="page apm-page" data-testid="apm-stats">
      <div className="page-head apm-head">
        <div>
          <h1>Statistics</h1>
          <ApmTabs current="/apm/stats" filter={filter} />
        </div>
        <FilterBar apps={apps.data} filter={filter} set={set} />
      </div>
      <div className="tabs" role="tablist">
        {kinds.map((k) => (
          <button key={k.kind} role="tab" aria-selected={kind === k.kind} className={kind === k.kind ? 'on' : ''} data-testid={`stats-tab-${k.kind}`}
            onClick={() => { setOpen(null); setParam('kind', k.kind === 'tx' ? null : k.kind); if (k.kind === 'sql' && sort === 'cpu_ms') setSort('sum_ms'); }}>{k.label}</button>
        ))}
      </div>
      <ErrorBanner error={st.error} />
      <Panel testid="stats-panel" title={<>{kdef.label} <span className="muted">· {rows.length}{rows.length !== (st.data || []).length ? ` of ${(st.data || []).length}` : ''} · over the time range (5-min windows)</span></>}
        extra={
          <div className="at-bar">
            <label className="small muted">Top <select value={limit} onChange={(e) => setLimit(Number(e.target.value))} data-testid="stats-limit" aria-label="Rows">
              {[50, 200, 500, 1000].map((n) => <option key={n} value={n}>{n}</option>)}
            </select></label>
            <label className="small muted">by <select value={sort} onChange={(e) => setSort(e.target.value as APM.StatSort)} data-testid="stats-sort" aria-label="Order by">
              {cols.map((c) => <option key={c.key} value={c.sort}>{c.label.toLowerCase()}</option>)}
            </select></label>
            <span className="search"><Icon name="search" size={14} /><input placeholder={`Filter ${kdef.key.toLowerCase()}`} value={q} onChange={(e) => setQ(e.target.value)} data-testid="stats-filter" aria-label="Filter rows" /></span>
            <a className="btn" href={APM.statsCsvUrl(filter, kind, start, end, sort, limit)} download={`apm-${kind}-statistics.csv`} data-testid="stats-export" title="Download these statistics as CSV">Export CSV</a>
          </div>}>
        <div className="vtable" style={{ maxHeight: 'calc(100vh - 250px)' }}>
          <table className="table apm-stats-table" data-testid="stats-table" data-kind={kind}>
            <thead>
              <tr>
                <th>{kdef.key}</th>
                {cols.map((c) => (
                  <th key={c.key} className={'r sortable ' + (sort === c.sort ? 'sorted' : '')} onClick={() => c.sort && setSort(c.sort)} data-col={c.key} aria-sort={sort === c.sort ? 'descending' : undefined}>
                    {c.label}{sort === c.sort ? ' ↓' : ''}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <Fragment key={r.key}>
                  <tr className={'clickable' + (open === r.key ? ' db-open' : '')} onClick={() => setOpen(open === r.key ? null : r.key)} data-testid="stats-row" data-key={r.key} data-count={r.count} aria-expanded={open === r.key}>
                    <td className="apm-key-td"><span className={'apm-key' + (mono ? ' mono' : '')} title={r.key}>{r.key || <span className="muted">(none)</span>}</span></td>
                    {cols.map((c) => <td key={c.key} className="r">{c.render(r, total)}</td>)}
                  </tr>
                  {open === r.key && (
                    <tr className="apm-open-row"><td colSpan={cols.length + 1}>
                      {(kind === 'sql' || kind === 'httpc' || kind === 'error' || kind === 'ua') && <pre className="db-sql">{r.key}</pre>}
                      <div className="muted small">{count(r.count)} × · {count(r.errors)} errors · avg {ms(r.avg_ms)} · max {ms(r.max_ms)} · {total ? ((100 * r.sum_ms) / total).toFixed(1) : '0'}% of the time listed</div>
                      {kind === 'tx' && <Slowest filter={filter} name={r.key} start={start} end={end} />}
                    </td></tr>
                  )}
                </Fragment>
              ))}
            </tbody>
          </table>
          {rows.length === 0 && <div className="panel-empty">{st.loading ? 'Loading…' : (st.data || []).length ? `No row matches “${q}”.` : 'No statistics in this time range yet (they are written every 5 minutes).'}</div>}
        </div>
      </Panel>
    </div>
  );
}

// Slowest: the slowest executions of one transaction name in the range.
function Slowest({ filter, name, start, end }: { filter: APM.ApmFilter; name: string; start: number; end: number }) {
  const app = useApp();
  const list = useData(() => APM.transactions(filter, { start, end, name, limit: 500 }), [name, app.project, Math.floor(start / 60), Math.floor(end / 60)]);
  const rows = (list.data?.transactions || []).slice().sort((a, b) => b.elapsed_ms - a.elapsed_ms).slice(0, 10);
  return (
    <div style={{ marginTop: 8 }}>
      <h4 className="sub">Slowest executions{list.data?.truncated ? ' (of the newest 500)' : ''}</h4>
      {list.error && <div className="crit small">{list.error}</div>}
      {rows.length === 0 ? <div className="muted small">{list.loading ? 'Loading…' : 'None in this range.'}</div> : (
        <table className="table compact" data-testid="stats-slowest">
          <tbody>
            {rows.map((x) => (
              <tr key={x.trace_id + x.span_id} className="clickable" onClick={() => navigate(txPath(x.trace_id, x.span_id))}>
                <td className="mono small">{stamp(x.time)}</td><td>{x.app}</td><td className="muted">{x.instance}</td>
                <td className="r"><Elapsed v={x.elapsed_ms} error={x.error} /></td><td className="r">{x.sql_count} SQL</td><td className="r">{x.httpc_count} HTTP</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
