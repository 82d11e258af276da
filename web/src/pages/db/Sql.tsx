// SQL statistics over the time range: the top statements by a server-side
// order, with coverage, expandable text and a CSV export.
import { Fragment, useMemo, useState } from 'react';
import * as DB from '../../dbApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner, Panel } from '../../components/Panel';
import { int } from '../../format';
import { useApp, useData } from '../../state';
import { csv, download, fmtCount, latency, secs } from './common';

interface Col { key: string; label: string; sort?: DB.StatementSort; right?: boolean; title?: string; render(s: DB.Statement, total: number): React.ReactNode }
const columns: Col[] = [
  { key: 'text', label: 'Statement', render: (s) => <span className="mono db-sql-clip" data-testid="sql-text">{s.text || <span className="muted">{s.digest}</span>}</span> },
  { key: 'database', label: 'Database', render: (s) => s.database || <span className="muted">–</span> },
  { key: 'calls', label: 'Calls', sort: 'calls', right: true, render: (s) => int(s.calls) },
  {
    key: 'total', label: 'Total time', sort: 'total', right: true, title: 'time spent in this statement over the range',
    render: (s, total) => <span className="db-share"><span className="db-share-bar"><span style={{ width: `${total ? Math.min(100, (100 * s.totalSeconds) / total) : 0}%` }} /></span>{latency(s.totalSeconds)}</span>,
  },
  { key: 'avg', label: 'Avg', sort: 'avg', right: true, render: (s) => latency(s.avgSeconds) },
  { key: 'max', label: 'Max', sort: 'max', right: true, render: (s) => latency(s.maxSeconds) },
  { key: 'rows', label: 'Rows', sort: 'rows', right: true, render: (s) => fmtCount(s.rows) },
  { key: 'examined', label: 'Examined', sort: 'examined', right: true, title: 'rows read to answer (MySQL); shared blocks read from disk or cache (PostgreSQL: 0)', render: (s) => fmtCount(s.rowsExamined) },
  { key: 'errors', label: 'Errors', sort: 'errors', right: true, render: (s) => (s.errors ? <span className="crit">{int(s.errors)}</span> : <span className="muted">0</span>) },
];

const noneYet = (hint: string) => /^no statement statistics in this range/i.test(hint || '');

export function Sql({ id, name, engine, start, end }: { id: string; name: string; engine: string; start: number; end: number }) {
  const app = useApp();
  const [sort, setSort] = useState<DB.StatementSort>('total');
  const [limit, setLimit] = useState(50);
  const [q, setQ] = useState('');
  const [open, setOpen] = useState<Record<string, boolean>>({});
  // statement deltas arrive every 5 minutes: re-ask once a minute while live
  const tick = app.range.live ? Math.floor(app.now / 60000) : 0;
  const st = useData(() => DB.statements(id, start, end, sort, limit), [id, app.project, sort, limit, app.range, tick]);
  const d = st.data;
  const rows = useMemo(() => {
    const t = q.trim().toLowerCase();
    const all = d?.statements || [];
    return t ? all.filter((s) => `${s.text} ${s.database} ${s.user || ''} ${s.digest}`.toLowerCase().includes(t)) : all;
  }, [d, q]);
  const total = useMemo(() => (d?.statements || []).reduce((n, s) => n + s.totalSeconds, 0), [d]);
  const span = end - start;
  const key = (s: DB.Statement) => `${s.database}\u0000${s.digest}\u0000${s.user || ''}`;
  const exportCsv = () => {
    const head = ['digest', 'statement', 'database', 'user', 'calls', 'total_seconds', 'avg_seconds', 'max_seconds', 'rows', 'rows_examined', 'errors'];
    const body = rows.map((s) => [s.digest, s.text, s.database, s.user || '', s.calls, s.totalSeconds, s.avgSeconds, s.maxSeconds, s.rows, s.rowsExamined, s.errors]);
    const stamp = new Date(end * 1000).toISOString().slice(0, 16).replace('T', '-').replace(':', '');
    download(`${name.replace(/[^\w.-]+/g, '_')}-statements-by-${sort}-${stamp}.csv`, csv([head, ...body]));
  };

  return (
    <div data-testid="db-sql">
      <ErrorBanner error={st.error} />
      {d && !d.available && noneYet(d.hint) && (
        <div className="db-hint neutral" role="status" data-testid="sql-hint" data-kind="waiting">
          <b>No SQL statistics in this time range yet.</b>
          <p>{d.hint}. Widen the time range, or wait: the first figures arrive about 5 minutes after the agent starts watching the instance.</p>
        </div>
      )}
      {d && !d.available && !noneYet(d.hint) && (
        <div className="db-hint" role="status" data-testid="sql-hint">
          <b>SQL statistics are not available for this instance.</b>
          <p>{d.hint || 'The agent has not sent statement statistics yet.'}</p>
          <p className="muted small">
            {engine === 'postgresql'
              ? <>PostgreSQL: add <code>pg_stat_statements</code> to <code>shared_preload_libraries</code> in postgresql.conf, restart, then <code>CREATE EXTENSION pg_stat_statements;</code> in the database the agent connects to.</>
              : <>MySQL / MariaDB: set <code>performance_schema = ON</code> in my.cnf and restart; the monitoring user needs <code>SELECT</code> on <code>performance_schema.*</code>.</>}
            {' '}Statistics are sent every 5 minutes as the change since the previous look, so the first figures appear 5 minutes after they are enabled.
          </p>
        </div>
      )}
      {(!d || d.available || d.statements.length > 0) && <Panel testid="sql-panel" title={<>Top statements {d?.available && <span className="muted" data-testid="sql-coverage">· {int(d.snapshots)} snapshot{d.snapshots === 1 ? '' : 's'} covering {secs(d.coveredSeconds)} of {secs(span)}{d.partial ? ' (partial)' : ''}</span>}</>}
        extra={
          <div className="at-bar">
            <label className="small muted">Top <select value={limit} onChange={(e) => setLimit(Number(e.target.value))} aria-label="Number of statements" data-testid="sql-limit">
              {[20, 50, 100, 200, 500].map((n) => <option key={n} value={n}>{n}</option>)}
            </select></label>
            <label className="small muted">by <select value={sort} onChange={(e) => setSort(e.target.value as DB.StatementSort)} aria-label="Order statements by" data-testid="sql-sort">
              {columns.filter((c) => c.sort).map((c) => <option key={c.key} value={c.sort}>{c.label.toLowerCase()}</option>)}
            </select></label>
            <span className="search"><Icon name="search" size={14} /><input placeholder="Filter statement, database" aria-label="Filter statements" value={q} onChange={(e) => setQ(e.target.value)} data-testid="sql-filter" /></span>
            <button className="btn" onClick={exportCsv} disabled={!rows.length} data-testid="sql-export" title="Download the rows shown as CSV">Export CSV</button>
          </div>}>
        {d?.available && d.statements.length === 0 && <div className="panel-empty">No statement ran in this time range.</div>}
        {d && d.statements.length > 0 && (
          <div className="vtable" style={{ maxHeight: Math.max(420, window.innerHeight - 330) }}>
            <table className="table db-sql-table" data-testid="sql-table">
              <thead>
                <tr>
                  {columns.map((c) => (
                    <th key={c.key} className={(c.right ? 'r ' : '') + (c.sort ? 'sortable ' : '') + (c.sort === sort ? 'sorted' : '')} title={c.title}
                      onClick={c.sort ? () => setSort(c.sort!) : undefined} data-col={c.key} aria-sort={c.sort === sort ? 'descending' : undefined}>
                      {c.label}{c.sort === sort ? ' ↓' : ''}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {rows.map((s) => {
                  const k = key(s);
                  return (
                    <Fragment key={k}>
                      <tr className={'clickable' + (open[k] ? ' db-open' : '')} data-testid="sql-row" tabIndex={0} aria-expanded={!!open[k]} title={s.text}
                        onClick={() => setOpen({ ...open, [k]: !open[k] })} onKeyDown={(e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); setOpen({ ...open, [k]: !open[k] }); } }}>
                        {columns.map((c) => <td key={c.key} className={(c.right ? 'r ' : '') + (c.key === 'text' ? 'db-qcell' : '')}>{c.render(s, total)}</td>)}
                      </tr>
                      {open[k] && (
                        <tr className="db-detail-row">
                          <td colSpan={columns.length}>
                            <pre className="db-sql">{s.text || '(no text)'}</pre>
                            <div className="muted small">digest <span className="mono">{s.digest}</span>{s.user && <> · user <b>{s.user}</b></>} · {int(s.calls)} calls · {latency(s.avgSeconds)} avg · {total ? ((100 * s.totalSeconds) / total).toFixed(1) : '0'}% of the time of the statements shown</div>
                          </td>
                        </tr>
                      )}
                    </Fragment>
                  );
                })}
              </tbody>
            </table>
            {rows.length === 0 && <div className="panel-empty">No statement matches “{q}”.</div>}
          </div>
        )}
        {!d && !st.error && <div className="panel-empty">Loading…</div>}
      </Panel>}
    </div>
  );
}
