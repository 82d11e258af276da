// Active-session analysis: trend charts on top (click a moment), the
// sessions of that moment below, stepped 5 s at a time.
import { Fragment, useMemo, useState } from 'react';
import * as DB from '../../dbApi';
import { TimeChart } from '../../components/Chart';
import { Icon } from '../../components/Icon';
import { ErrorBanner, Panel } from '../../components/Panel';
import { useSort, type Column } from '../../components/Table';
import { clock, dateTime, int, toLocalInput } from '../../format';
import { useApp, useData } from '../../state';
import { fmtCount, fmtPerSec, loadSeries, points, secs, sevClass } from './common';

export interface Trend { key: string; title: string; query: string; fmt(v: number): string }
export function trends(engine: string, id: string): Trend[] {
  const s = DB.selector(id);
  return [
    { key: 'active', title: 'Active sessions', query: `sum(osprey_db_sessions_active{${s}})`, fmt: fmtCount },
    { key: 'total', title: 'Total sessions', query: `sum(osprey_db_sessions_total{${s}})`, fmt: fmtCount },
    { key: 'waits', title: 'Lock waits', query: `sum(osprey_db_lock_waits{${s}})`, fmt: fmtCount },
    { key: 'rate', title: DB.rateLabel(engine), query: DB.rateQuery(engine, id), fmt: fmtPerSec },
  ];
}

// TrendCharts draws a row of small charts; a click picks a moment.
export function TrendCharts({ list, start, end, step, at, onPick, height = 140 }: {
  list: Trend[]; start: number; end: number; step: number; at: number | null; onPick(t: number): void; height?: number;
}) {
  const app = useApp();
  const range = useMemo((): [number, number] => [start, end], [start, end]);
  const key = list.map((t) => t.query).join('\n');
  const data = useData(() => Promise.all(list.map((t) => loadSeries([{ query: t.query, name: t.title }], start, end, step))),
    [key, start, end, step, app.project, app.now]);
  const zoom = (a: number, b: number) => app.setRange({ live: false, start: a, end: b });
  return (
    <div className={`db-trends n${list.length}`}>
      {list.map((t, i) => {
        const r = data.data?.[i];
        return (
          <Panel key={t.key} title={t.title} className="db-trend" testid={`trend-panel-${t.key}`} extra={<span className="db-slot-now" data-points={points(r?.series)}>{r ? lastText(r.series, t.fmt) : ''}</span>}>
            {r && r.series.length === 0 ? <div className="panel-empty chart-empty" style={{ height }}>{r.error || 'No data in this time range.'}</div> :
              <TimeChart series={r?.series || []} range={range} fmt={t.fmt} height={height} marker={at} onPick={onPick} onZoom={zoom} testid={`trend-${t.key}`} />}
          </Panel>
        );
      })}
    </div>
  );
}
function lastText(series: { data: [number, number | null][] }[], fmt: (v: number) => string) {
  const d = series[0]?.data;
  for (let i = (d?.length || 0) - 1; i >= 0; i--) if (d![i][1] != null) return fmt(d![i][1]!);
  return '';
}

const dash = <span className="muted">–</span>;
function sessionColumns(blockers: Map<string, number>): Column<DB.DbSession>[] {
  return [
  {
    key: 'id', label: 'ID', value: (s) => Number(s.id) || s.id,
    render: (s) => (
      <span className="mono">{s.id}
        {blockers.get(s.id) ? <span className="badge off db-blocked-tag" title="holds a lock other sessions wait for" data-testid="session-blocker">blocking {blockers.get(s.id)}</span> : null}
        {s.blocked && <span className="badge past db-blocked-tag" title="waiting for a lock">blocked</span>}
      </span>
    ),
  },
  { key: 'user', label: 'User', value: (s) => s.user, render: (s) => s.user || dash },
  { key: 'host', label: 'Host', value: (s) => s.host, render: (s) => <span className="muted">{s.host || '–'}</span> },
  { key: 'db', label: 'DB', value: (s) => s.database, render: (s) => s.database || dash },
  { key: 'state', label: 'Command / state', value: (s) => `${s.command} ${s.state}`, render: (s) => <span><b className="db-cmd">{s.command || '–'}</b>{s.state && <span className={/idle in transaction/i.test(s.state) ? 'warn' : 'muted'}> {s.state}</span>}</span> },
  { key: 'wait', label: 'Wait event', value: (s) => s.waitEvent, render: (s) => (s.waitEvent ? <span className={/lock/i.test(s.waitEvent) ? 'crit' : ''}>{s.waitEvent}</span> : dash) },
  { key: 'time', label: 'Time', right: true, value: (s) => s.timeSeconds, render: (s) => <span className={sevClass(s.timeSeconds, 10, 60)}>{secs(s.timeSeconds)}</span> },
  { key: 'trx', label: 'Trx age', right: true, value: (s) => s.transactionSeconds, render: (s) => (s.transactionSeconds ? <span className={sevClass(s.transactionSeconds, 30, 300)}>{secs(s.transactionSeconds)}</span> : dash) },
  { key: 'rows', label: 'Rows exam. / sent', right: true, value: (s) => s.rowsExamined, render: (s) => (s.rowsExamined || s.rowsSent ? `${fmtCount(s.rowsExamined)} / ${fmtCount(s.rowsSent)}` : dash) },
  { key: 'query', label: 'Query', value: (s) => s.query, render: (s) => (s.query ? <span className="mono db-sql-clip" data-testid="session-query">{s.query}</span> : dash) },
];
}

export function Sessions({ id, engine, at, start, end, step, setAt }: {
  id: string; engine: string; at: number | null; start: number; end: number; step: number; setAt(t: number | null): void;
}) {
  const app = useApp();
  const list = useMemo(() => trends(engine, id), [engine, id]);
  // live with no chosen moment: the latest sample, refreshed; a fixed range: its end
  const moment = at ?? (app.range.live ? null : Math.floor(end));
  const s = useData(() => DB.sessions(id, moment), moment == null ? [id, app.project, app.now] : [id, app.project, moment]);
  // the lock waits of the same moment mark the sessions that block others
  const lk = useData(() => DB.locks(id, moment).catch(() => null), moment == null ? [id, app.project, app.now] : [id, app.project, moment]);
  const blockers = useMemo(() => {
    const m = new Map<string, Set<string>>();
    for (const w of lk.data?.waits || []) { if (!m.has(w.holderId)) m.set(w.holderId, new Set()); m.get(w.holderId)!.add(w.waiterId); }
    return new Map([...m].map(([k, v]) => [k, v.size]));
  }, [lk.data]);
  const columns = useMemo(() => sessionColumns(blockers), [blockers]);
  const [q, setQ] = useState('');
  const [open, setOpen] = useState<Record<string, boolean>>({});
  const rows = useMemo(() => {
    const t = q.trim().toLowerCase();
    const all = s.data?.sessions || [];
    return t ? all.filter((x) => [x.id, x.user, x.host, x.database, x.command, x.state, x.waitEvent, x.query, x.application].some((v) => (v || '').toLowerCase().includes(t))) : all;
  }, [s.data, q]);
  const { sorted, sort, toggle } = useSort(rows, columns, { key: 'time', desc: true });
  const sampleT = s.data ? Date.parse(s.data.time) / 1000 : null;
  const base = at ?? sampleT ?? Date.now() / 1000;
  const blocked = (s.data?.sessions || []).filter((x) => x.blocked).length;

  return (
    <div data-testid="db-sessions">
      <TrendCharts list={list} start={start} end={end} step={step} at={at} onPick={(t) => setAt(Math.round(t))} />
      <Panel testid="sessions" className="db-sessions-panel"
        title={<>Sessions {s.data && <span className="muted" data-testid="sess-time">· sample of {dateTime(s.data.time)}</span>}</>}
        extra={
          <div className="at-bar">
            {at == null ? <span className="badge live">{app.range.live ? 'latest' : 'end of range'}</span> : <span className="badge past" data-testid="sess-past">at {clock(at * 1000)}</span>}
            <div className="seg" role="group" aria-label="Step through time">
              <button onClick={() => setAt(Math.round(base - 5))} data-testid="sess-prev" title="5 seconds earlier">◀ 5 s</button>
              <button onClick={() => { const t = Math.round(base + 5); setAt(t >= Date.now() / 1000 ? null : t); }} disabled={at == null} data-testid="sess-next" title="5 seconds later">5 s ▶</button>
              <button onClick={() => setAt(null)} className={at == null ? 'on' : ''} data-testid="sess-now" title="Back to the latest sample">Now</button>
            </div>
            <input type="datetime-local" step="1" aria-label="Sessions at" value={at == null ? '' : toLocalInput(at * 1000)}
              onChange={(e) => { const t = new Date(e.target.value).getTime(); if (Number.isFinite(t)) setAt(Math.round(t / 1000)); }} data-testid="sess-at" />
            <span className="search"><Icon name="search" size={14} /><input placeholder="Filter user, host, db, state, query" aria-label="Filter sessions" value={q} onChange={(e) => setQ(e.target.value)} data-testid="sess-filter" /></span>
          </div>}>
        <ErrorBanner error={s.error} />
        {s.data && (
          <div className="db-counts" data-testid="sess-counts">
            <span>Total <b>{int(s.data.total)}</b></span>
            <span>Active <b>{int(s.data.active)}</b></span>
            <span>Idle in transaction <b className={s.data.idleInTransaction ? 'warn' : ''}>{int(s.data.idleInTransaction)}</b></span>
            <span>Blocked <b className={blocked ? 'warn' : ''}>{int(blocked)}</b></span>
            <span>Blocking <b className={blockers.size ? 'crit' : ''}>{int(blockers.size)}</b></span>
            <span className="muted">listed: {int(s.data.sessions.length)} non-idle session{s.data.sessions.length === 1 ? '' : 's'}</span>
          </div>
        )}
        {s.data === null && !s.loading && (
          <div className="panel-empty" data-testid="sess-none">No session sample within 30 s before {moment == null ? 'now' : dateTime(moment * 1000)}: the agent sends one every 5 s while it can reach the database.</div>
        )}
        {s.data && (
          <div className="vtable" style={{ maxHeight: 620 }}>
            <table className="table db-sessions" data-testid="sessions-table">
              <thead>
                <tr>
                  {columns.map((c) => (
                    <th key={c.key} className={(c.right ? 'r ' : '') + 'sortable ' + (sort.key === c.key ? 'sorted' : '')} onClick={() => toggle(c.key)} data-col={c.key}
                      aria-sort={sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : undefined}>
                      {c.label}{sort.key === c.key ? (sort.desc ? ' ↓' : ' ↑') : ''}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {sorted.map((x) => (
                  <Fragment key={x.id}>
                    <tr className={'clickable' + (x.blocked ? ' db-blocked' : '') + (blockers.get(x.id) ? ' db-blocker' : '') + (open[x.id] ? ' db-open' : '')} data-testid="session-row" data-id={x.id} data-blocked={x.blocked}
                      title={x.query || undefined} tabIndex={0} aria-expanded={!!open[x.id]}
                      onClick={() => setOpen({ ...open, [x.id]: !open[x.id] })} onKeyDown={(e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); setOpen({ ...open, [x.id]: !open[x.id] }); } }}>
                      {columns.map((c) => <td key={c.key} className={(c.right ? 'r ' : '') + (c.key === 'query' ? 'db-qcell' : '')}>{c.render(x)}</td>)}
                    </tr>
                    {open[x.id] && (
                      <tr className="db-detail-row">
                        <td colSpan={columns.length}>
                          <pre className="db-sql" data-testid="session-sql">{x.query || '(no statement running)'}</pre>
                          <div className="muted small">{x.application && <>application <b>{x.application}</b> · </>}session {x.id} · {x.user}@{x.host || 'local'}{x.database ? ` · ${x.database}` : ''}</div>
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </table>
            {rows.length === 0 && <div className="panel-empty">{q ? `No session matches “${q}”.` : 'No session was running a statement at this moment.'}</div>}
          </div>
        )}
        <div className="muted small" style={{ marginTop: 6 }}>Click a moment on any chart above to see its sessions · click a row for the full statement</div>
      </Panel>
    </div>
  );
}
