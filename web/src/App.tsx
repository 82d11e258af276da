import { lazy, Suspense, useCallback, useEffect, useMemo, useState } from 'react';
import * as API from './api';
import { AppCtx, navigate, useLocation, useTicker, type Range } from './state';
import { Layout } from './components/Layout';
import { Login } from './pages/Login';
import { Coming, products } from './pages/Coming';

const Board = lazy(() => import('./pages/Board'));
const ServerList = lazy(() => import('./pages/ServerList'));
const ServerDetail = lazy(() => import('./pages/ServerDetail'));
const Snapshot = lazy(() => import('./pages/Snapshot'));
const DatabaseList = lazy(() => import('./pages/db/DatabaseList'));
const DatabaseDetail = lazy(() => import('./pages/db/DatabaseDetail'));
const UrlList = lazy(() => import('./pages/url/UrlList'));
const UrlDetail = lazy(() => import('./pages/url/UrlDetail'));
const Alerts = lazy(() => import('./pages/alerts/Alerts'));
const AlertRules = lazy(() => import('./pages/alerts/Rules'));
const AlertChannels = lazy(() => import('./pages/alerts/Channels'));
const Maintenance = lazy(() => import('./pages/alerts/Maintenance'));
const LogLive = lazy(() => import('./pages/logs/Live'));
const LogSearch = lazy(() => import('./pages/logs/Search'));
const LogPatterns = lazy(() => import('./pages/logs/Patterns'));
const LogDashboards = lazy(() => import('./pages/logs/Dashboards'));
const LogSettings = lazy(() => import('./pages/logs/Settings'));
const ApmDashboard = lazy(() => import('./pages/apm/Dashboard'));
const ApmActive = lazy(() => import('./pages/apm/Active'));
const ApmProfile = lazy(() => import('./pages/apm/Profile'));
const ApmTrace = lazy(() => import('./pages/apm/Trace'));
const ApmStats = lazy(() => import('./pages/apm/Stats'));
const ApmMap = lazy(() => import('./pages/apm/ServiceMap'));

// initialRange reads ?range=SECONDS (a live window) or ?from=&to= (unix
// seconds) so a link can carry its time range; default: live 15 minutes.
function initialRange(): Range {
  const q = new URLSearchParams(location.search);
  const from = Number(q.get('from')); const to = Number(q.get('to'));
  if (from > 0 && to > from) return { live: false, start: from, end: to };
  const span = Number(q.get('range'));
  return { live: true, span: span >= 60 && span <= 30 * 86400 ? span : 900 };
}

export function App() {
  const loc = useLocation();
  const [me, setMe] = useState<API.Me | null>(null);
  const [checked, setChecked] = useState(false);
  const [project, setProjectState] = useState(API.getProject());
  const [range, setRange] = useState<Range>(initialRange);
  const [paused, setPaused] = useState(false);
  const [theme, setThemeState] = useState<'dark' | 'light'>((document.documentElement.dataset.theme as 'dark' | 'light') || 'dark');
  const live = range.live && !paused && !!me;
  const [now, refresh] = useTicker(live);

  const signedIn = useCallback((m: API.Me) => {
    API.setCsrf(m.csrfToken);
    const names = m.projects.map((p) => p.project.name);
    if (names.length && !names.includes(API.getProject())) { API.setProject(names[0]); setProjectState(names[0]); }
    setMe(m);
  }, []);

  useEffect(() => {
    API.setUnauthorizedHandler(() => setMe(null));
    API.me().then(signedIn, () => {}).finally(() => setChecked(true));
  }, [signedIn]);

  const setTheme = useCallback((t: 'dark' | 'light') => {
    document.documentElement.dataset.theme = t;
    localStorage.setItem('osprey.theme', t);
    setThemeState(t);
  }, []);

  const ctx = useMemo(() => ({
    me, project, range, now, paused, theme, setTheme, setPaused, refresh,
    setRange: (r: Range) => { setRange(r); refresh(); },
    setProject: (p: string) => { API.setProject(p); setProjectState(p); refresh(); },
    signOut: () => { API.logout().catch(() => {}).finally(() => { setMe(null); navigate('/login'); }); },
  }), [me, project, range, now, paused, theme, setTheme, refresh]);

  if (!checked) return <div className="boot" />;
  if (!me) {
    return (
      <AppCtx.Provider value={ctx}>
        <Login onSignedIn={(m) => { signedIn(m); if (location.pathname === '/login') navigate('/servers', true); }} />
      </AppCtx.Provider>
    );
  }
  const path = loc.split('?')[0];
  if (path === '/' || path === '/login') { queueMicrotask(() => navigate('/servers', true)); }
  return (
    <AppCtx.Provider value={ctx}>
      <Layout path={path}>
        <Suspense fallback={<div className="page-loading">Loading…</div>}>
          <Route path={path} search={loc.slice(path.length)} />
        </Suspense>
      </Layout>
    </AppCtx.Provider>
  );
}

const titles: [RegExp, string][] = [
  [/^\/apm$/, 'Application dashboard'], [/^\/apm\/active$/, 'Active transactions'], [/^\/apm\/tx\//, 'Transaction profile'], [/^\/apm\/trace\//, 'Distributed trace'],
  [/^\/apm\/stats$/, 'Application statistics'], [/^\/apm\/map$/, 'Service map'],
  [/^\/database$/, 'Databases'], [/^\/database\/[^/]+$/, 'Database'], [/^\/url$/, 'URL checks'], [/^\/url\/[^/]+$/, 'URL check'],
  [/^\/alerts$/, 'Alerts'], [/^\/alerts\/rules$/, 'Alert rules'], [/^\/alerts\/channels$/, 'Notification channels'], [/^\/alerts\/maintenance$/, 'Maintenance'],
  [/^\/logs$/, 'Live tail'], [/^\/logs\/search$/, 'Log search'], [/^\/logs\/patterns$/, 'Log patterns'], [/^\/logs\/dashboards$/, 'Log dashboards'], [/^\/logs\/settings$/, 'Log settings'],
  [/^\/servers\/list$/, 'Servers'], [/^\/servers\/[^/]+\/snapshots\//, 'Load snapshot'], [/^\/servers\/[^/]+$/, 'Server'], [/^\/servers$/, 'Resource board'],
];
function Route({ path, search }: { path: string; search: string }) {
  let m: RegExpMatchArray | null;
  const t = titles.find(([re]) => re.test(path))?.[1] ?? products.find((x) => x.path === path)?.title;
  document.title = t ? `${t} · Osprey` : 'Osprey';
  if (path === '/servers' || path === '/' || path === '/login') return <Board />;
  if (path === '/servers/list') return <ServerList key={search} />;
  if ((m = path.match(/^\/servers\/([^/]+)\/snapshots\/([^/]+)$/))) return <Snapshot id={decodeURIComponent(m[1])} time={decodeURIComponent(m[2])} />;
  if ((m = path.match(/^\/servers\/([^/]+)$/))) return <ServerDetail key={m[1]} id={decodeURIComponent(m[1])} />;
  if (path === '/apm') return <ApmDashboard />;
  if (path === '/apm/active') return <ApmActive />;
  if (path === '/apm/stats') return <ApmStats />;
  if (path === '/apm/map') return <ApmMap />;
  if ((m = path.match(/^\/apm\/tx\/([^/]+)\/([^/]+)$/))) return <ApmProfile key={m[1] + m[2]} traceID={decodeURIComponent(m[1])} spanID={decodeURIComponent(m[2])} />;
  if ((m = path.match(/^\/apm\/trace\/([^/]+)$/))) return <ApmTrace key={m[1]} traceID={decodeURIComponent(m[1])} />;
  if (path === '/database') return <DatabaseList />;
  if ((m = path.match(/^\/database\/([^/]+)$/))) return <DatabaseDetail key={m[1]} id={decodeURIComponent(m[1])} />;
  if (path === '/url') return <UrlList />;
  if ((m = path.match(/^\/url\/([^/]+)$/))) return <UrlDetail key={m[1]} id={decodeURIComponent(m[1])} />;
  if (path === '/alerts') return <Alerts />;
  if (path === '/alerts/rules') return <AlertRules />;
  if (path === '/alerts/channels') return <AlertChannels />;
  if (path === '/alerts/maintenance') return <Maintenance />;
  if (path === '/logs') return <LogLive />;
  if (path === '/logs/search') return <LogSearch key={search} />;
  if (path === '/logs/patterns') return <LogPatterns key={search} />;
  if (path === '/logs/dashboards') return <LogDashboards />;
  if (path === '/logs/settings') return <LogSettings />;
  const p = products.find((x) => x.path === path);
  if (p) return <Coming product={p} />;
  return (
    <div className="empty-page">
      <h2>Page not found</h2>
      <p>There is nothing at <code>{path}</code>.</p>
      <a href="/servers" onClick={(e) => { e.preventDefault(); navigate('/servers'); }}>Go to the server overview</a>
    </div>
  );
}
