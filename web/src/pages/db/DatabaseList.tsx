import { Fragment, useMemo, useState } from 'react';
import * as DB from '../../dbApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { useSort, type Column } from '../../components/Table';
import { ago, int } from '../../format';
import { navigate, useApp, useData } from '../../state';
import { engineName, HealthDot, secs, sevClass, shortVersion } from './common';

const healthRank: Record<string, number> = { down: 0, warning: 1, inactive: 2, ok: 3 };
const dash = <span className="muted">–</span>;
const n = (v: number | null | undefined, f: (v: number) => string = (x) => int(x)) => (v == null ? dash : f(v));

const columns: Column<DB.DbInstance>[] = [
  { key: 'health', label: <span className="db-sr">Health</span>, width: 24, value: (d) => healthRank[d.health] ?? 9, render: (d) => <HealthDot health={d.health} /> },
  {
    key: 'name', label: 'Name', value: (d) => d.name,
    render: (d) => <a href={`/database/${encodeURIComponent(d.id)}`} onClick={(e) => e.preventDefault()} data-testid="db-name-link">{d.name}</a>,
  },
  { key: 'engine', label: 'Engine', value: (d) => `${engineName(d)} ${d.version}`, render: (d) => <span title={d.version}><b className="db-engine">{engineName(d)}</b> <span className="muted">{shortVersion(d.version)}</span></span> },
  { key: 'group', label: 'Group', value: (d) => d.group, render: (d) => d.group || dash },
  { key: 'address', label: 'Address', value: (d) => d.address, render: (d) => (d.address ? <span className="mono">{d.address}</span> : dash) },
  {
    key: 'sessions', label: 'Sessions', right: true, value: (d) => d.sessions,
    render: (d) => <span>{n(d.sessions)} <span className="muted">/</span> <b className={sevClass(d.activeSessions, 20, 50)} title="active">{n(d.activeSessions)}</b></span>,
  },
  { key: 'waits', label: 'Lock waits', right: true, value: (d) => d.lockWaits, render: (d) => <span className={d.lockWaits ? 'crit' : ''}>{n(d.lockWaits)}</span> },
  { key: 'rate', label: 'Rate', right: true, value: (d) => d.rate, render: (d) => (d.rate == null ? dash : <span title={DB.rateLabel(d.engine)}>{d.rate >= 100 ? int(d.rate) : d.rate.toFixed(1)}<span className="muted"> {d.engine === 'postgresql' ? 'tx/s' : 'q/s'}</span></span>) },
  { key: 'collect', label: 'Collect', right: true, value: (d) => d.collectSeconds, render: (d) => <span className={sevClass(d.collectSeconds, 1, 3) || 'muted'}>{n(d.collectSeconds, secs)}</span> },
  { key: 'seen', label: 'Last seen', value: (d) => d.lastSeen, render: (d) => <span className="muted">{ago(d.lastSeen)}</span> },
];

export default function DatabaseList() {
  const app = useApp();
  const params = new URLSearchParams(location.search);
  const [q, setQ] = useState(params.get('q') || '');
  const [health, setHealth] = useState(params.get('health') || '');
  const [grouped, setGrouped] = useState(() => localStorage.getItem('osprey.db.grouped') === '1');
  const { data, error } = useData(DB.databases, [app.now, app.project]);
  const all = data || [];
  const counts = useMemo(() => {
    const c: Record<string, number> = { ok: 0, warning: 0, down: 0, inactive: 0 };
    for (const d of all) c[d.health] = (c[d.health] || 0) + 1;
    return c;
  }, [all]);
  const rows = useMemo(() => {
    const t = q.trim().toLowerCase();
    return all.filter((d) => (!health || d.health === health) && (!t ||
      [d.name, d.group, d.address, d.engine, engineName(d), d.version, ...Object.entries(d.labels || {}).map(([k, v]) => `${k}=${v}`)]
        .some((x) => (x || '').toLowerCase().includes(t))));
  }, [all, q, health]);
  const { sorted, sort, toggle } = useSort(rows, columns, { key: 'health', desc: false });
  const groups = useMemo(() => {
    if (!grouped) return [{ name: '', rows: sorted }];
    const m = new Map<string, DB.DbInstance[]>();
    for (const d of sorted) { const g = d.group || ''; if (!m.has(g)) m.set(g, []); m.get(g)!.push(d); }
    return [...m.entries()].sort(([a], [b]) => (a === '' ? 1 : b === '' ? -1 : a.localeCompare(b))).map(([name, rows]) => ({ name, rows }));
  }, [sorted, grouped]);
  const setGroupedP = (v: boolean) => { setGrouped(v); localStorage.setItem('osprey.db.grouped', v ? '1' : '0'); };
  const open = (d: DB.DbInstance) => navigate(`/database/${encodeURIComponent(d.id)}`);

  return (
    <div className="page" data-testid="db-list-page">
      <div className="page-head">
        <div>
          <h1>Databases</h1>
          <p className="muted">{data ? `${int(all.length)} instances · MySQL/MariaDB and PostgreSQL watched by the agents' db module` : 'Loading…'}</p>
        </div>
        {data && all.length > 0 && (
          <div className="db-health-chips" role="group" aria-label="Filter by health">
            {(['ok', 'warning', 'down', 'inactive'] as const).map((h) => (
              <button key={h} className={'db-chip' + (health === h ? ' on' : '')} aria-pressed={health === h} onClick={() => setHealth(health === h ? '' : h)} data-testid={`db-count-${h}`}>
                <HealthDot health={h} /> <b>{int(counts[h] || 0)}</b> {h === 'ok' ? 'healthy' : h === 'warning' ? 'lock waits' : h === 'down' ? 'down' : 'inactive'}
              </button>
            ))}
          </div>
        )}
      </div>
      <ErrorBanner error={error} />
      {data && all.length === 0 ? <EnableDb project={app.project} /> : (
        <section className="panel">
          <div className="panel-head">
            <div className="toolbar" style={{ margin: 0 }}>
              <span className="search"><Icon name="search" size={14} /><input placeholder="Filter by name, group, address, engine, label" aria-label="Filter instances" value={q} onChange={(e) => setQ(e.target.value)} data-testid="db-filter" /></span>
              <label className="db-check"><input type="checkbox" checked={grouped} onChange={(e) => setGroupedP(e.target.checked)} data-testid="db-group-toggle" /> Group by group</label>
              {health && <button className="badge" onClick={() => setHealth('')} title="Remove the health filter">health = {health} ✕</button>}
            </div>
            <span className="muted small">{int(rows.length)} shown · refreshes every 5 s</span>
          </div>
          <div className="vtable" style={{ maxHeight: Math.max(400, window.innerHeight - 200) }}>
            <table className="table db-list" data-testid="db-list">
              <thead>
                <tr>
                  {columns.map((c) => (
                    <th key={c.key} style={{ width: c.width }} className={(c.right ? 'r ' : '') + 'sortable ' + (sort.key === c.key ? 'sorted' : '')}
                      onClick={() => toggle(c.key)} data-col={c.key} aria-sort={sort.key === c.key ? (sort.desc ? 'descending' : 'ascending') : undefined}>
                      {c.label}{sort.key === c.key ? (sort.desc ? ' ↓' : ' ↑') : ''}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {groups.map((g) => (
                  <Fragment key={g.name || '\u0000'}>
                    {grouped && (
                      <tr className="db-group-row">
                        <td colSpan={columns.length}>
                          <b>{g.name || '(no group)'}</b> <span className="muted">{g.rows.length} instance{g.rows.length === 1 ? '' : 's'}</span>
                          {g.rows.some((d) => d.health !== 'ok') && <span className="muted"> · {g.rows.filter((d) => d.health !== 'ok').length} need attention</span>}
                        </td>
                      </tr>
                    )}
                    {g.rows.map((d) => (
                      <tr key={d.id} className={'clickable db-row h-' + d.health} onClick={() => open(d)} data-testid="db-row" data-name={d.name} data-id={d.id}
                        tabIndex={0} onKeyDown={(e) => { if (e.key === 'Enter') open(d); }}>
                        {columns.map((c) => <td key={c.key} className={c.right ? 'r' : ''}>{c.render(d)}</td>)}
                      </tr>
                    ))}
                  </Fragment>
                ))}
              </tbody>
            </table>
            {data && rows.length === 0 && <div className="panel-empty">No instance matches this filter.</div>}
          </div>
        </section>
      )}
    </div>
  );
}

// EnableDb tells how to turn on the agent's db module.
function EnableDb({ project }: { project: string }) {
  return (
    <div className="empty-state" data-testid="db-empty">
      <div className="empty-illustration" aria-hidden="true"><Icon name="db" size={56} /></div>
      <h2>No database instances in project “{project}” yet</h2>
      <p>
        Databases are watched by <code>osprey-agent</code>'s <b>db module</b>: any agent that can reach a MySQL, MariaDB or PostgreSQL
        server collects its status counters, sessions, lock waits and statement statistics every 5 seconds. Add this to the agent's
        configuration file and restart it; each instance appears here within seconds.
      </p>
      <pre className="cmd" data-testid="db-yaml">{`modules:
  db:
    enabled: true
    instances:
      - name: orders-mysql
        group: orders
        engine: mysql
        dsn_env: ORDERS_MYSQL_DSN        # user:pass@tcp(10.0.0.5:3306)/
      - name: billing-pg
        engine: postgresql
        dsn_env: BILLING_PG_DSN          # postgres://osprey:pass@10.0.0.6:5432/postgres`}</pre>
      <ul className="empty-notes">
        <li><b>Credentials</b> stay on the agent host: <code>dsn_env</code> names an environment variable holding the DSN, so no password is written in the file.</li>
        <li><b>MySQL / MariaDB user:</b> <code>CREATE USER osprey IDENTIFIED BY '…'; GRANT PROCESS, REPLICATION CLIENT ON *.* TO osprey; GRANT SELECT ON performance_schema.* TO osprey;</code> — turn on <code>performance_schema</code> for SQL statistics.</li>
        <li><b>PostgreSQL user:</b> <code>CREATE ROLE osprey LOGIN PASSWORD '…' IN ROLE pg_monitor;</code> — add <code>pg_stat_statements</code> to <code>shared_preload_libraries</code> and <code>CREATE EXTENSION pg_stat_statements</code> for SQL statistics.</li>
        <li>Start the agent with <code>osprey-agent --config /etc/osprey/agent.yaml --server HOST:4317 --key KEY</code>.</li>
      </ul>
    </div>
  );
}
