// Service map over the time range: apps, databases, external services and
// queues laid out left to right by call depth; edges carry calls/s, the
// error rate and the average latency (red when calls failed). A click on
// an app opens the dashboard filtered to it.
import { useMemo, useState } from 'react';
import * as APM from '../../apmApi';
import { ErrorBanner, Panel } from '../../components/Panel';
import { DataTable, type Column } from '../../components/Table';
import { navigate, useApp, useData, window_ } from '../../state';
import { ApmTabs, FilterBar, count, errPct, filterSearch, ms, useApps, useFilter } from './common';

const W = 210; const H = 58; const COL = 170; const ROW = 22; const M = 24;

interface Placed { n: APM.MapNode; col: number; x: number; y: number }
interface Laid { nodes: Placed[]; edges: { e: APM.MapEdge; a: Placed; b: Placed; back: boolean }[]; width: number; height: number; bottom: number }

// layout: depth = longest call path from an entry (cycles broken where a
// depth-first walk meets its own path), columns ordered by the average
// row of their callers.
export function layout(nodes: APM.MapNode[], edges: APM.MapEdge[]): Laid {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const es = edges.filter((e) => byId.has(e.from) && byId.has(e.to));
  const out = new Map<string, string[]>(); const inc = new Map<string, number>();
  for (const e of es) { if (e.from === e.to) continue; out.set(e.from, [...(out.get(e.from) || []), e.to]); inc.set(e.to, (inc.get(e.to) || 0) + 1); }
  // break cycles
  const back = new Set<string>();
  const state = new Map<string, 1 | 2>();
  const dfs = (id: string) => {
    state.set(id, 1);
    for (const t of out.get(id) || []) {
      if (state.get(t) === 1) back.add(id + '\u0000' + t);
      else if (!state.has(t)) dfs(t);
    }
    state.set(id, 2);
  };
  const sortedIds = nodes.map((n) => n.id).sort((a, b) => (inc.get(a) || 0) - (inc.get(b) || 0) || (kindRank(byId.get(a)!.kind) - kindRank(byId.get(b)!.kind)));
  for (const id of sortedIds) if (!state.has(id)) dfs(id);
  // longest path over the acyclic rest (topological order by Kahn)
  const indeg = new Map<string, number>(nodes.map((n) => [n.id, 0]));
  const fwd = es.filter((e) => e.from !== e.to && !back.has(e.from + '\u0000' + e.to));
  for (const e of fwd) indeg.set(e.to, (indeg.get(e.to) || 0) + 1);
  const depth = new Map<string, number>(nodes.map((n) => [n.id, 0]));
  const queue = nodes.filter((n) => !indeg.get(n.id)).map((n) => n.id);
  while (queue.length) {
    const id = queue.shift()!;
    for (const e of fwd) if (e.from === id) {
      depth.set(e.to, Math.max(depth.get(e.to)!, depth.get(id)! + 1));
      indeg.set(e.to, indeg.get(e.to)! - 1);
      if (indeg.get(e.to) === 0) queue.push(e.to);
    }
  }
  // apps that nothing calls but that only call leaves stay left; leaves (db,
  // external, queue) go one right of their deepest caller (already so)
  const cols: string[][] = [];
  for (const n of nodes) { const d = depth.get(n.id)!; (cols[d] = cols[d] || []).push(n.id); }
  const rowOf = new Map<string, number>();
  cols.forEach((c, ci) => {
    if (ci === 0) c.sort((a, b) => byId.get(a)!.name.localeCompare(byId.get(b)!.name));
    else {
      const bary = (id: string) => { const rs = es.filter((e) => e.to === id && rowOf.has(e.from)).map((e) => rowOf.get(e.from)!); return rs.length ? rs.reduce((s, r) => s + r, 0) / rs.length : 1e9; };
      c.sort((a, b) => bary(a) - bary(b) || kindRank(byId.get(a)!.kind) - kindRank(byId.get(b)!.kind) || byId.get(a)!.name.localeCompare(byId.get(b)!.name));
    }
    c.forEach((id, i) => rowOf.set(id, i - (c.length - 1) / 2));
  });
  const maxRows = Math.max(1, ...cols.filter(Boolean).map((c) => c.length));
  // calls back to the left and to oneself loop below the nodes
  const loops = es.some((e) => e.from === e.to || back.has(e.from + '\u0000' + e.to) || depth.get(e.to)! <= depth.get(e.from)!);
  const nodesH = maxRows * H + (maxRows - 1) * ROW;
  const height = M * 2 + nodesH + (loops ? 56 : 0);
  const placed = new Map<string, Placed>();
  cols.forEach((c, ci) => c.forEach((id, i) => {
    const top = M + (nodesH - (c.length * H + (c.length - 1) * ROW)) / 2;
    placed.set(id, { n: byId.get(id)!, col: ci, x: M + ci * (W + COL), y: top + i * (H + ROW) });
  }));
  const width = M * 2 + Math.max(1, cols.length) * W + Math.max(0, cols.length - 1) * COL;
  return {
    nodes: [...placed.values()],
    edges: es.map((e) => ({ e, a: placed.get(e.from)!, b: placed.get(e.to)!, back: placed.get(e.to)!.col <= placed.get(e.from)!.col })),
    width, height, bottom: M + nodesH,
  };
}
const kindRank = (k: string) => ({ app: 0, queue: 1, db: 2, external: 3 } as Record<string, number>)[k] ?? 4;
const kindLabel: Record<string, string> = { app: 'APP', db: 'DATABASE', external: 'EXTERNAL', queue: 'QUEUE' };

// a small pictogram per kind, drawn at (x, y) in a 16-px box
function KindIcon({ kind, x, y }: { kind: string; x: number; y: number }) {
  const d = kind === 'db' ? 'M2 4c0-1.7 12-1.7 12 0v8c0 1.7-12 1.7-12 0z M2 4c0 1.7 12 1.7 12 0'
    : kind === 'queue' ? 'M1 5h14v6H1z M5 5v6 M9 5v6'
      : kind === 'external' ? 'M8 1a7 7 0 1 0 0 14A7 7 0 0 0 8 1z M1 8h14 M8 1c-3 3.5-3 10.5 0 14 M8 1c3 3.5 3 10.5 0 14'
        : 'M1 2h14v12H1z M1 5h14';
  return <path className="ic" d={d} transform={`translate(${x} ${y})`} />;
}

export default function ServiceMap() {
  const app = useApp();
  const { filter, key, set } = useFilter();
  const apps = useApps(Math.floor(app.now / 30000));
  const [start, end] = window_(app.range, app.now);
  const tick = app.range.live ? Math.floor(app.now / 30000) : 0;
  const sm = useData(() => APM.serviceMap(filter, start, end), [key, app.project, app.range, tick]);
  const d = sm.data;
  const lay = useMemo(() => (d ? layout(d.nodes, d.edges) : null), [d]);
  const [hover, setHover] = useState<string | null>(null);
  const span = Math.max(1, end - start);
  const nameOf = (id: string) => d?.nodes.find((n) => n.id === id)?.name || id;

  const cols: Column<APM.MapEdge>[] = [
    { key: 'from', label: 'From', value: (e) => nameOf(e.from), render: (e) => nameOf(e.from) },
    { key: 'to', label: 'To', value: (e) => nameOf(e.to), render: (e) => <span className="mono small">{nameOf(e.to)}</span> },
    { key: 'rps', label: 'Calls/s', right: true, value: (e) => e.rps, render: (e) => count(e.rps) },
    { key: 'count', label: 'Calls', right: true, value: (e) => e.count, render: (e) => count(e.count) },
    { key: 'errors', label: 'Errors', right: true, value: (e) => e.errors, render: (e) => (e.errors ? <span className="crit">{count(e.errors)} ({errPct(e.errors / Math.max(1, e.count))})</span> : <span className="muted">0</span>) },
    { key: 'avg', label: 'Avg', right: true, value: (e) => e.avg_ms, render: (e) => ms(e.avg_ms) },
  ];

  return (
    <div className="page apm-page" data-testid="apm-map">
      <div className="page-head apm-head">
        <div>
          <h1>Service map</h1>
          <ApmTabs current="/apm/map" filter={filter} />
        </div>
        <FilterBar apps={apps.data} filter={filter} set={set} />
      </div>
      <ErrorBanner error={sm.error} />
      <Panel testid="map-panel" className="apm-map"
        title={<>Calls over the time range <span className="muted">· {d ? `${d.nodes.length} nodes, ${d.edges.length} edges` : '…'} · click an app to open its dashboard</span></>}
        extra={<span className="apm-map-legend">{['app', 'db', 'external', 'queue'].map((k) => <span key={k} style={{ ['--nc' as string]: `var(${k === 'app' ? '--c1' : k === 'db' ? '--c4' : k === 'queue' ? '--c2' : '--c6'})` }}><i />{kindLabel[k].toLowerCase()}</span>)}</span>}>
        {!d && !sm.error && <div className="panel-empty">Loading…</div>}
        {d && d.nodes.length === 0 && <div className="panel-empty">No call was recorded in this time range.</div>}
        {lay && d && d.nodes.length > 0 && (
          <div className="apm-map-wrap" style={{ maxHeight: 'calc(100vh - 360px)', minHeight: 240 }}>
            <svg width={lay.width} height={lay.height} viewBox={`0 0 ${lay.width} ${lay.height}`} data-testid="map-svg">
              <defs>
                <marker id="apm-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="var(--text-3)" /></marker>
                <marker id="apm-arrow-err" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="var(--crit)" /></marker>
              </defs>
              {lay.edges.map(({ e, a, b, back }) => {
                const x1 = a.x + W; const y1 = a.y + H / 2; const x2 = b.x; const y2 = b.y + H / 2;
                let path: string; let lx: number; let ly: number;
                if (e.from === e.to) {
                  // a call to itself (a queue it consumes, a callback): a small loop under the node
                  const l = a.x + W * 0.38; const r = a.x + W * 0.62; const y0 = a.y + H;
                  path = `M${l} ${y0} C${l - 14} ${y0 + 34} ${r + 14} ${y0 + 34} ${r} ${y0 + 2}`;
                  lx = a.x + W / 2; ly = y0 + 40;
                } else if (!back) {
                  const c = Math.max(40, (x2 - x1) / 2);
                  path = `M${x1} ${y1} C${x1 + c} ${y1} ${x2 - c} ${y2} ${x2 - 2} ${y2}`;
                  // the label sits past the middle, where edges of one caller have spread out
                  const t = 0.62; const u = 1 - t;
                  lx = u * u * u * x1 + 3 * u * u * t * (x1 + c) + 3 * u * t * t * (x2 - c) + t * t * t * x2;
                  ly = u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2 - 5;
                } else {
                  // a call back to the left (or within a column) loops under the nodes
                  const low = lay.bottom + 26;
                  // out of the caller's left side, down under the nodes, up into the callee
                  const bx = b.x + W * 0.7; const ay = a.y + H * 0.7;
                  path = `M${a.x} ${ay} C${a.x - 70} ${ay} ${a.x - 40} ${low} ${(a.x + bx) / 2} ${low} S${bx} ${low} ${bx} ${b.y + H + 2}`;
                  lx = (a.x - 40 + bx) / 2; ly = low - 4;
                }
                const rate = e.errors / Math.max(1, e.count);
                const err = e.errors > 0;
                const dim = hover && hover !== e.from && hover !== e.to;
                return (
                  <g key={e.from + '>' + e.to} className={'edge' + (err ? ' err' : '') + (err && rate < 0.05 ? ' some' : '')} opacity={dim ? 0.25 : 1} data-testid="map-edge" data-from={nameOf(e.from)} data-to={nameOf(e.to)} data-rps={e.rps} data-errors={e.errors}>
                    <title>{`${nameOf(e.from)} → ${nameOf(e.to)}\n${count(e.count)} calls (${count(e.rps)}/s), ${count(e.errors)} errors, avg ${ms(e.avg_ms)}`}</title>
                    <path d={path} markerEnd={`url(#${err ? 'apm-arrow-err' : 'apm-arrow'})`} strokeWidth={Math.min(5, 1.2 + Math.log10(1 + e.rps))} />
                    <text x={lx} y={ly} textAnchor="middle">{`${count(e.rps)}/s · ${ms(e.avg_ms)}${err ? ` · ${errPct(e.errors / Math.max(1, e.count))} err` : ''}`}</text>
                  </g>
                );
              })}
              {lay.nodes.map(({ n, x, y }) => {
                const isApp = n.kind === 'app';
                const er = n.count ? n.errors / n.count : 0;
                return (
                  <g key={n.id} className={'node ' + n.kind + (er > 0.05 ? ' err' : '')} transform={`translate(${x} ${y})`} data-testid="map-node" data-id={n.id} data-name={n.name} data-kind={n.kind}
                    onMouseEnter={() => setHover(n.id)} onMouseLeave={() => setHover(null)}
                    onClick={isApp ? () => navigate('/apm' + filterSearch({ app: [n.name] })) : undefined}>
                    <title>{`${n.name} (${n.kind})\n${count(n.count)} ${isApp ? 'transactions' : 'calls'}, ${count(n.errors)} errors, avg ${ms(n.avg_ms)}`}</title>
                    <rect width={W} height={H} rx={7} />
                    <KindIcon kind={n.kind} x={10} y={8} />
                    <text x={32} y={19} className="kind">{kindLabel[n.kind] || String(n.kind).toUpperCase()}</text>
                    {n.errors > 0 && <text x={W - 10} y={19} className="st" textAnchor="end" style={{ fill: 'var(--crit)' }}>{errPct(er)} err</text>}
                    <text x={10} y={36} className="nm">{n.name.length > 29 ? n.name.slice(0, 28) + '…' : n.name}</text>
                    <text x={10} y={51} className="st">{`${count(n.count / span)}/s · avg ${ms(n.avg_ms)}`}</text>
                  </g>
                );
              })}
            </svg>
          </div>
        )}
      </Panel>
      {d && d.edges.length > 0 && (
        <Panel title="Calls" testid="map-edges" className="apm-map-edges">
          <DataTable rows={d.edges} columns={cols} initialSort={{ key: 'rps', desc: true }} rowKey={(e) => e.from + '>' + e.to} maxHeight={360} testid="map-edge-table" />
        </Panel>
      )}
    </div>
  );
}
