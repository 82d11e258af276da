// One database instance: header figures and four tabs (stats, sessions,
// locks, SQL); the tab and the chosen moment live in the URL
// (?tab=sessions&at=<unix seconds>).
import { useCallback } from 'react';
import * as API from '../../api';
import * as DB from '../../dbApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { ago, int } from '../../format';
import { linkHandler, navigate, stepFor, useApp, useData, useLocation, window_ } from '../../state';
import { engineName, HealthBadge, secs, sevClass, shortVersion } from './common';
import { Locks } from './Locks';
import { Sessions } from './Sessions';
import { Sql } from './Sql';
import { Stats } from './Stats';

const tabs = [
  { key: 'stats', label: 'Stats' },
  { key: 'sessions', label: 'Sessions' },
  { key: 'locks', label: 'Locks' },
  { key: 'sql', label: 'SQL' },
] as const;
type Tab = typeof tabs[number]['key'];

export default function DatabaseDetail({ id }: { id: string }) {
  const app = useApp();
  const loc = useLocation();
  const params = new URLSearchParams(loc.includes('?') ? loc.slice(loc.indexOf('?')) : '');
  const tab: Tab = (tabs.find((t) => t.key === params.get('tab'))?.key) || 'stats';
  const atN = Number(params.get('at'));
  const at = Number.isFinite(atN) && atN > 0 ? Math.round(atN) : null;
  const path = `/database/${encodeURIComponent(id)}`;

  const go = useCallback((t: Tab, moment: number | null, replace = false) => {
    const q = new URLSearchParams();
    q.set('tab', t);
    if (moment != null && (t === 'sessions' || t === 'locks')) q.set('at', String(Math.round(moment)));
    navigate(`${path}?${q.toString()}`, replace);
  }, [path]);

  const inst = useData(() => DB.database(id).catch((e) => { if (e instanceof API.ApiError && e.status === 404) return null; throw e; }), [app.now, app.project, id]);
  const d = inst.data;
  const [start, end] = window_(app.range, app.now);
  const step = stepFor(start, end, 120);
  const engine = d?.engine || '';

  return (
    <div className="page db-page" data-testid="db-detail">
      <a className="back" href="/database" onClick={linkHandler('/database')}><Icon name="back" size={14} /> Databases</a>
      <div className="page-head">
        <div>
          <div className="detail-head">
            <h1 data-testid="db-name">{d?.name || (inst.loading && d === undefined ? '…' : id)}</h1>
            {d && <HealthBadge inst={d} />}
            {d && <span className="badge" data-testid="db-engine">{engineName(d)} {shortVersion(d.version)}</span>}
            {d?.group && <span className="badge">{d.group}</span>}
            {d && Object.entries(d.labels || {}).filter(([k]) => !k.startsWith('db.') && k !== 'server.address').slice(0, 6).map(([k, v]) => <span key={k} className="badge">{k}={v}</span>)}
          </div>
          {d && (
            <div className="facts" data-testid="db-facts">
              <span>Address <b className="mono">{d.address || '–'}</b></span>
              <span>Version <b>{d.version || '–'}</b></span>
              <span>Sessions <b>{d.sessions == null ? '–' : int(d.sessions)}</b></span>
              <span>Active <b className={sevClass(d.activeSessions, 20, 50)}>{d.activeSessions == null ? '–' : int(d.activeSessions)}</b></span>
              <span>Lock waits <b className={d.lockWaits ? 'crit' : ''}>{d.lockWaits == null ? '–' : int(d.lockWaits)}</b></span>
              <span>{DB.rateLabel(d.engine)} <b>{d.rate == null ? '–' : d.rate >= 100 ? int(d.rate) : d.rate.toFixed(1)}</b></span>
              <span>Collect <b className={sevClass(d.collectSeconds, 1, 3)}>{secs(d.collectSeconds)}</b></span>
              <span>Last report <b>{ago(d.lastSeen)}</b></span>
            </div>
          )}
        </div>
      </div>
      <ErrorBanner error={inst.error} />
      {d === null && !inst.error && (
        <div className="error-banner" data-testid="db-missing">No database instance with id <code>{id}</code> in project {app.project}. <a href="/database" onClick={linkHandler('/database')}>Back to the list</a></div>
      )}
      {d && d.health === 'down' && <div className="error-banner" role="alert">The agent reports that <b>{d.name}</b> does not answer: the figures below stop at the last successful look.</div>}
      {d && d.health === 'inactive' && <div className="error-banner" role="alert">The agent watching <b>{d.name}</b> has not reported for a while (last {ago(d.lastSeen)}).</div>}
      {d && (
        <>
          <div className="tabs" role="tablist" aria-label="Database views">
            {tabs.map((t) => (
              <button key={t.key} role="tab" aria-selected={tab === t.key} className={tab === t.key ? 'on' : ''} data-testid={`tab-${t.key}`}
                onClick={() => go(t.key, t.key === 'sessions' || t.key === 'locks' ? at : null)}>
                {t.label}{t.key === 'locks' && d.lockWaits ? <span className="db-tab-count">{int(d.lockWaits)}</span> : null}
              </button>
            ))}
          </div>
          <div role="tabpanel">
            {tab === 'stats' && <Stats id={id} engine={engine} name={d.name} start={start} end={end} step={step} onPick={(t) => go('sessions', t)} />}
            {tab === 'sessions' && <Sessions id={id} engine={engine} at={at} start={start} end={end} step={step} setAt={(t) => go('sessions', t, true)} />}
            {tab === 'locks' && <Locks id={id} engine={engine} at={at} start={start} end={end} step={step} setAt={(t) => go('locks', t, true)} />}
            {tab === 'sql' && <Sql id={id} name={d.name} engine={engine} start={start} end={end} />}
          </div>
        </>
      )}
    </div>
  );
}
