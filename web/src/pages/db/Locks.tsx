// Lock analysis: the blocking tree (live, or at a moment) and the moments
// with lock waits over the time range.
import { useMemo, useState } from 'react';
import * as DB from '../../dbApi';
import { ErrorBanner, Panel } from '../../components/Panel';
import { clock, dateTime, int } from '../../format';
import { useApp, useData } from '../../state';
import { secs, sevClass } from './common';
import { TrendCharts, trends } from './Sessions';

interface Episode { start: number; end: number; moments: DB.LockMoment[]; maxWaits: number; maxWait: number; table: string; holderId: string; holderQuery: string }

// episodes joins the 5-second moments of one lasting lock (same blocker,
// no gap) so an hour of one held lock is one row, not 720.
function episodes(history: DB.LockMoment[]): Episode[] {
  const out: Episode[] = [];
  for (const m of history) { // newest first
    const t = Date.parse(m.time) / 1000;
    const cur = out[out.length - 1];
    if (cur && cur.holderId === m.holderId && cur.start - t <= 15) {
      cur.start = t; cur.moments.push(m);
      cur.maxWaits = Math.max(cur.maxWaits, m.waits); cur.maxWait = Math.max(cur.maxWait, m.maxWaitSeconds);
      if (!cur.table && m.table) cur.table = m.table;
      if (!cur.holderQuery && m.holderQuery) cur.holderQuery = m.holderQuery;
    } else {
      out.push({ start: t, end: t, moments: [m], maxWaits: m.waits, maxWait: m.maxWaitSeconds, table: m.table, holderId: m.holderId, holderQuery: m.holderQuery });
    }
  }
  return out;
}

const countNodes = (ns: DB.LockNode[]): number => ns.reduce((n, x) => n + 1 + countNodes(x.children || []), 0);
const maxWait = (ns: DB.LockNode[]): number => ns.reduce((m, x) => Math.max(m, x.waitSeconds || 0, maxWait(x.children || [])), 0);

export function Locks({ id, engine, at, start, end, step, setAt }: {
  id: string; engine: string; at: number | null; start: number; end: number; step: number; setAt(t: number | null): void;
}) {
  const app = useApp();
  const moment = at ?? (app.range.live ? null : Math.floor(end));
  const tree = useData(() => DB.locks(id, moment), moment == null ? [id, app.project, app.now] : [id, app.project, moment]);
  // the history: a search over the range, every 15 s while live
  const hist = useData(() => DB.lockHistory(id, start, end), [id, app.project, app.range, Math.floor(app.now / 15000)]);
  const eps = useMemo(() => episodes(hist.data?.history || []), [hist.data]);
  const list = useMemo(() => { const all = trends(engine, id); return ['waits', 'active'].map((k) => all.find((t) => t.key === k)!); }, [engine, id]);
  const roots = tree.data?.tree || [];
  const waiters = tree.data?.waits.length || 0;
  const [showEdges, setShowEdges] = useState(false);

  return (
    <div data-testid="db-locks">
      <TrendCharts list={list} start={start} end={end} step={step} at={at} onPick={(t) => setAt(Math.round(t))} height={120} />
      <div className="db-locks-grid">
        <Panel testid="lock-panel" className="db-lock-panel"
          title={<>Lock tree {tree.data?.time ? <span className="muted" data-testid="lock-time">· sample of {dateTime(tree.data.time)}</span> : null}</>}
          extra={
            <div className="at-bar">
              {at == null ? <span className="badge live" data-testid="locks-live-badge">{app.range.live ? 'live · every 5 s' : 'end of range'}</span> : <span className="badge past" data-testid="locks-past">at {clock(at * 1000)}</span>}
              {at != null && (
                <div className="seg" role="group" aria-label="Step through time">
                  <button onClick={() => setAt(at - 5)} title="5 seconds earlier" data-testid="locks-prev">◀ 5 s</button>
                  <button onClick={() => { const t = at + 5; setAt(t >= Date.now() / 1000 ? null : t); }} title="5 seconds later" data-testid="locks-next">5 s ▶</button>
                </div>
              )}
              {at != null && <button className="btn" onClick={() => setAt(null)} data-testid="locks-live">Back to live</button>}
            </div>}>
          <ErrorBanner error={tree.error} />
          {tree.data && roots.length === 0 && (
            <div className="panel-empty db-no-locks" data-testid="lock-empty">
              <b className="ok">No lock waits {moment == null ? 'right now' : `at ${clock(moment * 1000)}`}.</b><br />
              The agent looks every 5 s; as soon as a session waits for a lock another one holds, the blocking session and everything queued behind it show here.
            </div>
          )}
          {roots.length > 0 && (
            <>
              <div className="db-counts" data-testid="lock-summary">
                <span>Blocking sessions <b className="crit">{int(roots.length)}</b></span>
                <span>Waiting <b className="warn">{int(countNodes(roots) - roots.length)}</b></span>
                <span>Wait edges <b>{int(waiters)}</b></span>
                <span>Longest wait <b className={sevClass(maxWait(roots), 5, 30)}>{secs(maxWait(roots))}</b></span>
              </div>
              <ul className="db-lock-tree" role="tree" aria-label="Blocking sessions and their waiters" data-testid="lock-tree">
                {roots.map((r, i) => <LockItem key={r.id + ':' + i} node={r} depth={0} engine={engine} />)}
              </ul>
              <button className="btn db-edges-toggle" onClick={() => setShowEdges(!showEdges)} aria-expanded={showEdges}>{showEdges ? 'Hide' : 'Show'} every wait ({waiters})</button>
              {showEdges && <Edges waits={tree.data!.waits} />}
            </>
          )}
        </Panel>
        <Panel testid="lock-history" className="db-lock-history" title="Lock waits in this range"
          extra={<span className="muted small">{hist.data ? `${int(eps.length)} episode${eps.length === 1 ? '' : 's'}` : ''}{hist.data?.partial ? ' · partial' : ''}</span>}>
          <ErrorBanner error={hist.error} />
          {hist.data && eps.length === 0 && <div className="panel-empty">No session waited for a lock in this time range.</div>}
          <ul className="db-episodes">
            {eps.map((e) => {
              const selected = at != null && at >= e.start - 1 && at <= e.end + 8;
              return (
                <li key={e.end + ':' + e.holderId} className={selected ? 'on' : ''}>
                  <button className="db-episode" onClick={() => setAt(Math.ceil(e.end))} data-testid="lock-moment" data-time={e.moments[0].time} aria-pressed={selected}>
                    <span className="db-ep-time">{clock(e.end * 1000)}{e.end - e.start >= 5 ? <span className="muted"> · lasted {secs(e.end - e.start + 5)}</span> : null}</span>
                    <span className="db-ep-stats"><b className="crit">{e.maxWaits}</b> waiting · max {secs(e.maxWait)}{e.table && <> · <span className="mono">{e.table}</span></>}</span>
                    <span className="db-ep-q mono" title={e.holderQuery}>blocker {e.holderId}{e.holderQuery ? `: ${e.holderQuery}` : ''}</span>
                  </button>
                  {selected && e.moments.length > 1 && (
                    <div className="db-ep-moments" aria-label="Moments of this episode">
                      {e.moments.slice(0, 240).map((m) => {
                        const t = Math.ceil(Date.parse(m.time) / 1000);
                        return <button key={m.time} className={'db-moment' + (tree.data?.time === m.time ? ' on' : '')} onClick={() => setAt(t)} title={`${m.waits} waiting, longest ${secs(m.maxWaitSeconds)}`}>{clock(t * 1000)}</button>;
                      })}
                    </div>
                  )}
                </li>
              );
            })}
          </ul>
        </Panel>
      </div>
    </div>
  );
}

function LockItem({ node, depth, engine }: { node: DB.LockNode; depth: number; engine: string }) {
  const [open, setOpen] = useState(true);
  const [full, setFull] = useState(false);
  const root = depth === 0;
  const kids = node.children || [];
  const idleTx = /idle in transaction|^sleep$/i.test(node.state || '');
  return (
    <li role="treeitem" aria-expanded={kids.length ? open : undefined} aria-level={depth + 1} className="db-lock-li">
      <div className={'db-lock-node' + (root ? ' root' : kids.length ? ' mid' : ' waiter')} data-testid={root ? 'lock-root' : 'lock-waiter'} data-id={node.id} data-depth={depth}>
        <div className="db-lock-line">
          {kids.length > 0 ? (
            <button className="db-caret-btn" onClick={() => setOpen(!open)} aria-label={open ? 'Collapse' : 'Expand'}><span className={'db-caret' + (open ? '' : ' closed')}>▾</span></button>
          ) : <span className="db-caret-sp" />}
          <span className="db-lock-who">{root ? 'Blocker' : 'Waiter'} <b className="mono">{engine === 'postgresql' ? 'pid ' : '#'}{node.id}</b>{node.user && <span className="muted"> {node.user}</span>}</span>
          {node.state && <span className={'badge' + (idleTx ? ' past' : '')} data-testid="lock-state">{node.state}</span>}
          {node.heldMode && <span className="db-kv">holds <b>{node.heldMode}</b></span>}
          {node.waitMode && <span className="db-kv">waits <b>{node.waitMode}</b>{node.lockType && <> {node.lockType}</>}</span>}
          {node.table && <span className="db-kv">on <b className="mono" data-testid="lock-table">{node.table}</b>{node.index && <span className="muted"> ({node.index})</span>}</span>}
          {!root && node.waitSeconds != null && <span className={'db-kv ' + sevClass(node.waitSeconds, 5, 30)}>waiting <b>{secs(node.waitSeconds)}</b></span>}
          {node.transactionSeconds ? <span className={'db-kv ' + sevClass(node.transactionSeconds, 30, 300)}>trx <b>{secs(node.transactionSeconds)}</b></span> : null}
          {node.blocking > 0 && <span className={'badge ' + (root ? 'off' : 'past')} data-testid="lock-blocking">blocking {node.blocking}</span>}
          {node.cycle && <span className="badge off" title="this session is already above in the chain: a deadlock the engine has not broken yet">↺ deadlock cycle</span>}
        </div>
        <pre className={'db-sql db-lock-sql' + (full ? ' full' : '') + (node.query ? '' : ' none')} data-testid="lock-query" onClick={() => setFull(!full)} title={full ? 'Click to fold' : 'Click for the full statement'}>
          {node.query || (root ? '(no statement running: the transaction is open and idle, holding its locks)' : '(statement not known)')}
        </pre>
      </div>
      {kids.length > 0 && open && (
        <ul role="group">
          {kids.map((k, i) => <LockItem key={k.id + ':' + i} node={k} depth={depth + 1} engine={engine} />)}
        </ul>
      )}
    </li>
  );
}

function Edges({ waits }: { waits: DB.LockEdge[] }) {
  return (
    <div className="vtable" style={{ maxHeight: 360 }}>
      <table className="table compact" data-testid="lock-edges">
        <thead><tr><th>Waiter</th><th>Holder</th><th>Mode</th><th>Type</th><th>Table</th><th>Index</th><th className="r">Waiting</th><th>Holder state</th><th>Waiter query</th></tr></thead>
        <tbody>
          {waits.map((w, i) => (
            <tr key={i}>
              <td className="mono">{w.waiterId} <span className="muted">{w.waiterUser}</span></td>
              <td className="mono">{w.holderId} <span className="muted">{w.holderUser}</span></td>
              <td>{w.lockMode}</td><td>{w.lockType}</td><td className="mono">{w.table || '–'}</td><td>{w.index || '–'}</td>
              <td className={'r ' + sevClass(w.waitSeconds, 5, 30)}>{secs(w.waitSeconds)}</td>
              <td>{w.holderState || '–'}</td>
              <td className="mono db-sql-clip" title={w.waiterQuery}>{w.waiterQuery}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
