// Distributed trace: the chain of transactions one request caused across
// apps (caller → callee), each with the client call that reached it, on
// one time axis; a row opens that transaction's profile.
import { useMemo } from 'react';
import * as APM from '../../apmApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner, Panel } from '../../components/Panel';
import { navigate, useApp, useData } from '../../state';
import { Elapsed, Go, ms, stamp, StepTag, txPath } from './common';

// hue: a stable colour per app name
const hues = [212, 28, 268, 160, 338, 48, 190, 300, 120, 4];
export function hue(name: string) { let h = 0; for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0; return hues[h % hues.length]; }
export function AppBadge({ app }: { app: string }) {
  return <span className="apm-app-badge" style={{ ['--h' as string]: hue(app) }} data-testid="trace-app-badge">{app}</span>;
}

interface Node { tx: APM.TraceTx; level: number; guide: string }
// order walks the chain depth first from its roots, callees by start.
function order(list: APM.TraceTx[]): Node[] {
  const ids = new Set(list.map((t) => t.span_id));
  const kids = new Map<string, APM.TraceTx[]>();
  const roots: APM.TraceTx[] = [];
  for (const t of list) {
    if (t.parent_tx && ids.has(t.parent_tx) && t.parent_tx !== t.span_id) { const k = kids.get(t.parent_tx) || []; k.push(t); kids.set(t.parent_tx, k); } else roots.push(t);
  }
  const byStart = (a: APM.TraceTx, b: APM.TraceTx) => a.offset_ms - b.offset_ms;
  const out: Node[] = [];
  const seen = new Set<string>();
  const walk = (t: APM.TraceTx, level: number, prefix: string, last: boolean) => {
    if (seen.has(t.span_id)) return;
    seen.add(t.span_id);
    out.push({ tx: t, level, guide: level === 0 ? '' : prefix + (last ? '└─ ' : '├─ ') });
    const k = (kids.get(t.span_id) || []).sort(byStart);
    k.forEach((c, i) => walk(c, level + 1, level === 0 ? '' : prefix + (last ? '   ' : '│  '), i === k.length - 1));
  };
  roots.sort(byStart).forEach((r) => walk(r, 0, '', true));
  for (const t of list) if (!seen.has(t.span_id)) walk(t, 0, '', true);
  return out;
}

export default function Trace({ traceID }: { traceID: string }) {
  const app = useApp();
  const tr = useData(() => APM.trace(traceID), [traceID, app.project]);
  const t = tr.data;
  const nodes = useMemo(() => order(t?.transactions || []), [t]);
  const apps = useMemo(() => [...new Set((t?.transactions || []).map((x) => x.app))], [t]);
  const total = Math.max(1, t?.elapsed_ms || 0, ...(t?.transactions || []).map((x) => x.offset_ms + x.elapsed_ms));
  const errors = (t?.transactions || []).filter((x) => x.error).length;
  return (
    <div className="page apm-page" data-testid="apm-trace">
      <a className="back" href="#" onClick={(e) => { e.preventDefault(); history.length > 1 ? history.back() : navigate('/apm'); }}><Icon name="back" size={14} /> Back</a>
      <div className="page-head">
        <div>
          <div className="detail-head">
            <h1>Distributed trace</h1>
            {apps.map((a) => <span key={a} data-testid="trace-app" data-app={a}><AppBadge app={a} /></span>)}
            {errors > 0 && <span className="badge off">{errors} error{errors === 1 ? '' : 's'}</span>}
          </div>
          <div className="facts">
            <span>Trace <b className="mono">{traceID}</b></span>
            {t && <span>Start <b>{stamp(t.start)}</b></span>}
            {t && <span>Elapsed <b>{ms(t.elapsed_ms)}</b></span>}
            {t && <span>Transactions <b>{t.transactions.length}</b></span>}
            {t && <span>Apps <b>{apps.length}</b></span>}
          </div>
        </div>
      </div>
      <ErrorBanner error={tr.error} />
      <Panel testid="trace-chain" title={<>Call chain <span className="muted">· caller → callee; a row opens its profile</span></>}>
        <div className="apm-trace-row" style={{ cursor: 'default', fontWeight: 600, fontSize: 11.5, color: 'var(--text-2)' }}>
          <span>Transaction</span><span>0 → {ms(total)}</span><span style={{ textAlign: 'right' }}>Elapsed</span>
        </div>
        {nodes.map(({ tx, guide }) => (
          <div key={tx.span_id} className={'apm-trace-row' + (tx.error ? ' err' : '')} onClick={() => navigate(txPath(traceID, tx.span_id))}
            data-testid="trace-row" data-app={tx.app} data-span={tx.span_id} data-depth={tx.depth} data-error={tx.error ? 'true' : 'false'}>
            <div className="apm-trace-name">
              <div className="apm-trace-main">
                {guide && <span className="apm-tree-guide">{guide}</span>}
                <AppBadge app={tx.app} />
                <Go to={txPath(traceID, tx.span_id)} className="tx" title={tx.name}>{tx.name}</Go>
                <span className="muted small">{tx.instance}</span>
              </div>
              {tx.via && (
                <div className="apm-trace-via" style={{ paddingLeft: guide.length * 7.2 }} data-testid="trace-via">
                  <span>called by</span><StepTag type={tx.via.type} /><span className="mono" title={tx.via.text}>{tx.via.text}</span><span>{ms(tx.via.elapsed_ms)}</span>
                </div>
              )}
            </div>
            <span className="apm-gantt trace">
              {tx.via && tx.via.elapsed_ms > tx.elapsed_ms && (
                <span className="via" title="the caller's client call (network and queueing around the callee)"
                  style={{ left: `${(100 * Math.max(0, tx.offset_ms - (tx.via.elapsed_ms - tx.elapsed_ms) / 2)) / total}%`, width: `${(100 * tx.via.elapsed_ms) / total}%` }} />
              )}
              <span className={tx.error ? 'err' : ''} style={{ left: `${(100 * tx.offset_ms) / total}%`, width: `${Math.max(0.4, (100 * tx.elapsed_ms) / total)}%`, ['--tc' as string]: `hsl(${hue(tx.app)} 55% 50%)` }} />
            </span>
            <span style={{ textAlign: 'right' }}><Elapsed v={tx.elapsed_ms} error={tx.error} /></span>
          </div>
        ))}
        {t && nodes.length === 0 && <div className="panel-empty">No transaction of this trace has arrived (yet).</div>}
        {!t && !tr.error && <div className="panel-empty">Loading…</div>}
      </Panel>
    </div>
  );
}
