import { useMemo, useState } from 'react';
import * as API from '../api';
import { Icon } from '../components/Icon';
import { ConnectAgent, ErrorBanner, Meter } from '../components/Panel';
import { DataTable, type Column } from '../components/Table';
import { ago, bytes, int, level, num, pct, rate } from '../format';
import { navigate, useApp, useData } from '../state';

const pctCell = (v: number | null, warn = 70) => (
  <span className="cell-bar"><Meter value={v} warn={warn} /><span className={level(v, warn)}>{pct(v)}</span></span>
);

const columns: Column<API.Server>[] = [
  { key: 'status', label: '', width: 24, value: (s) => (s.active ? 1 : 0), render: (s) => <span className={'status-dot' + (s.active ? '' : ' off')} title={s.active ? 'active' : `inactive, last seen ${ago(s.lastSeen)}`} /> },
  { key: 'name', label: 'Name', value: (s) => s.name, render: (s) => <a href={`/servers/${encodeURIComponent(s.id)}`} onClick={(e) => e.preventDefault()}>{s.name}</a> },
  { key: 'group', label: 'Group', value: (s) => s.group, render: (s) => s.group || <span className="muted">–</span> },
  { key: 'os', label: 'OS', value: (s) => `${s.platform} ${s.platformVersion}`, render: (s) => <span title={`${s.os} ${s.kernel} ${s.arch}`}>{s.platform ? `${s.platform} ${s.platformVersion}` : s.os || '–'}</span> },
  { key: 'cores', label: 'Cores', right: true, value: (s) => s.cores, render: (s) => int(s.cores) },
  { key: 'mem', label: 'RAM', right: true, value: (s) => s.memoryBytes, render: (s) => bytes(s.memoryBytes) },
  { key: 'cpu', label: 'CPU', right: true, value: (s) => s.cpu, render: (s) => pctCell(s.cpu) },
  { key: 'memory', label: 'Memory', right: true, value: (s) => s.memory, render: (s) => pctCell(s.memory) },
  { key: 'disk', label: 'Disk', right: true, value: (s) => s.disk, render: (s) => pctCell(s.disk, 80) },
  { key: 'load1', label: 'Load 1m', right: true, value: (s) => s.load1, render: (s) => num(s.load1) },
  { key: 'swap', label: 'Swap', right: true, value: (s) => s.swap, render: (s) => pct(s.swap) },
  { key: 'net', label: 'Net in / out', right: true, value: (s) => (s.netRx ?? 0) + (s.netTx ?? 0), render: (s) => `${rate(s.netRx)} / ${rate(s.netTx)}` },
  { key: 'io', label: 'Disk read / write', right: true, value: (s) => (s.diskRead ?? 0) + (s.diskWrite ?? 0), render: (s) => `${rate(s.diskRead)} / ${rate(s.diskWrite)}` },
  { key: 'procs', label: 'Procs', right: true, value: (s) => s.processes, render: (s) => int(s.processes) },
  { key: 'seen', label: 'Last seen', value: (s) => s.lastSeen, render: (s) => <span className="muted">{ago(s.lastSeen)}</span> },
];

export default function ServerList() {
  const app = useApp();
  const params = new URLSearchParams(location.search);
  const [q, setQ] = useState(params.get('q') || '');
  const [status, setStatus] = useState<'all' | 'active' | 'inactive'>('all');
  const [group, setGroup] = useState(params.get('group') ?? '');
  const [label, setLabel] = useState(params.get('label') ?? '');
  const { data, error } = useData(API.servers, [app.now, app.project]);
  const all = data || [];
  const groups = useMemo(() => [...new Set(all.map((s) => s.group))].sort(), [all]);
  const rows = useMemo(() => {
    const t = q.trim().toLowerCase();
    const [lk, lv] = label ? [label.slice(0, label.indexOf('=')), label.slice(label.indexOf('=') + 1)] : ['', ''];
    return all.filter((s) =>
      (status === 'all' || (status === 'active') === s.active) &&
      (group === '' || s.group === group) &&
      (!label || s.labels?.[lk] === lv) &&
      (!t || s.name.toLowerCase().includes(t) || s.group.toLowerCase().includes(t) || `${s.platform} ${s.os}`.toLowerCase().includes(t) ||
        Object.entries(s.labels || {}).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(t))));
  }, [all, q, status, group, label]); // eslint-disable-line react-hooks/exhaustive-deps
  const active = all.filter((s) => s.active).length;
  return (
    <div className="page" data-testid="server-list">
      <div className="page-head">
        <div><h1>Servers</h1><p className="muted">{data ? `${int(all.length)} servers · ${int(active)} active · ${int(all.length - active)} inactive` : 'Loading…'}</p></div>
      </div>
      <ErrorBanner error={error} />
      {data && all.length === 0 ? <ConnectAgent project={app.project} /> : (
        <section className="panel">
          <div className="panel-head">
            <div className="toolbar" style={{ margin: 0 }}>
              <span className="search"><Icon name="search" size={14} /><input placeholder="Filter by name, group, OS, label=value" value={q} onChange={(e) => setQ(e.target.value)} data-testid="server-filter" /></span>
              <select value={status} onChange={(e) => setStatus(e.target.value as 'all' | 'active' | 'inactive')} aria-label="Status">
                <option value="all">All states</option><option value="active">Active</option><option value="inactive">Inactive</option>
              </select>
              <select value={group} onChange={(e) => setGroup(e.target.value)} aria-label="Group">
                <option value="">All groups</option>
                {groups.map((g) => <option key={g} value={g}>{g || '(no group)'}</option>)}
              </select>
              {label && <button className="badge" onClick={() => setLabel('')} title="Remove the label filter">{label} ✕</button>}
            </div>
            <span className="muted small">{int(rows.length)} shown</span>
          </div>
          <DataTable rows={rows} columns={columns} initialSort={{ key: 'cpu', desc: true }} rowKey={(s) => s.id} maxHeight={Math.max(400, window.innerHeight - 190)}
            onRowClick={(s) => navigate(`/servers/${encodeURIComponent(s.id)}`)}
            empty={<div className="panel-empty">No server matches this filter.</div>} />
        </section>
      )}
    </div>
  );
}
