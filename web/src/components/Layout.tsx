import { useEffect, useRef, useState, type ReactNode } from 'react';
import { linkHandler, useApp } from '../state';
import { Icon } from './Icon';
import { TimePicker } from './TimePicker';

interface NavItem { path: string; label: string; icon: string; soon?: boolean; children?: { path: string; label: string; icon: string }[] }
export const nav: NavItem[] = [
  {
    path: '/apm', label: 'Application', icon: 'app',
    children: [{ path: '/apm', label: 'Dashboard', icon: 'dash' }, { path: '/apm/active', label: 'Active transactions', icon: 'list' },
      { path: '/apm/stats', label: 'Statistics', icon: 'list' }, { path: '/apm/map', label: 'Service map', icon: 'list' }],
  },
  {
    path: '/servers', label: 'Server', icon: 'server',
    children: [{ path: '/servers', label: 'Resource board', icon: 'board' }, { path: '/servers/list', label: 'Server list', icon: 'list' }],
  },
  { path: '/database', label: 'Database', icon: 'db' },
  { path: '/kubernetes', label: 'Kubernetes', icon: 'k8s', soon: true },
  {
    path: '/logs', label: 'Log', icon: 'log',
    children: [{ path: '/logs', label: 'Live tail', icon: 'log' }, { path: '/logs/search', label: 'Search', icon: 'search' },
      { path: '/logs/patterns', label: 'Patterns', icon: 'list' }, { path: '/logs/dashboards', label: 'Dashboards', icon: 'dash' },
      { path: '/logs/settings', label: 'Settings', icon: 'list' }],
  },
  { path: '/url', label: 'URL', icon: 'url' },
  {
    path: '/alerts', label: 'Alerts', icon: 'alert',
    children: [{ path: '/alerts', label: 'Alerts & history', icon: 'alert' }, { path: '/alerts/rules', label: 'Rules', icon: 'list' },
      { path: '/alerts/channels', label: 'Channels', icon: 'list' }, { path: '/alerts/maintenance', label: 'Maintenance', icon: 'list' }],
  },
  { path: '/dashboards', label: 'Dashboards', icon: 'dash', soon: true },
];

export function Layout({ path, children }: { path: string; children: ReactNode }) {
  const app = useApp();
  const isServer = path.startsWith('/servers');
  return (
    <div className="shell">
      <aside className="sidebar">
        <a className="brand" href="/servers" onClick={linkHandler('/servers')}>
          <svg width="22" height="22" viewBox="0 0 32 32" aria-hidden="true"><rect width="32" height="32" rx="7" fill="var(--accent)" /><path d="M6 20 L13 12 L18 17 L26 9" stroke="#fff" strokeWidth="3" fill="none" strokeLinecap="round" strokeLinejoin="round" /></svg>
          <span>Osprey</span>
        </a>
        <nav>
          {nav.map((n) => {
            const active = n.path === '/servers' ? isServer : path === n.path || path.startsWith(n.path + '/');
            return (
              <div key={n.path}>
                <a className={'nav-item' + (active ? ' active' : '')} href={n.path} onClick={linkHandler(n.path)} data-nav={n.label}>
                  <Icon name={n.icon} /> <span>{n.label}</span>
                  {n.soon && <span className="soon">soon</span>}
                </a>
                {n.children && active && (
                  <div className="nav-sub">
                    {n.children.map((c) => (
                      <a key={c.path} className={'nav-subitem' + (path === c.path || (c.path === '/servers' && /^\/servers\/(?!list)/.test(path)) ? ' active' : '')}
                        href={c.path} onClick={linkHandler(c.path)}>{c.label}</a>
                    ))}
                  </div>
                )}
              </div>
            );
          })}
        </nav>
        <div className="sidebar-foot">
          <span className="muted">Osprey · self-hosted</span>
        </div>
      </aside>
      <div className="main">
        <header className="topbar">
          <ProjectSwitcher />
          <div className="spacer" />
          <TimePicker />
          <button className="icon-btn" title={app.theme === 'dark' ? 'Light theme' : 'Dark theme'} data-testid="theme-toggle"
            onClick={() => app.setTheme(app.theme === 'dark' ? 'light' : 'dark')}>
            <Icon name={app.theme === 'dark' ? 'sun' : 'moon'} />
          </button>
          <UserMenu />
        </header>
        <main className="content">{children}</main>
      </div>
    </div>
  );
}

function useOutside(open: boolean, close: () => void) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const f = (e: MouseEvent) => { if (ref.current && !ref.current.contains(e.target as Node)) close(); };
    document.addEventListener('mousedown', f);
    return () => document.removeEventListener('mousedown', f);
  }, [open, close]);
  return ref;
}

function ProjectSwitcher() {
  const app = useApp();
  const [open, setOpen] = useState(false);
  const ref = useOutside(open, () => setOpen(false));
  const projects = app.me?.projects || [];
  const role = projects.find((p) => p.project.name === app.project)?.role;
  return (
    <div className="dropdown" ref={ref}>
      <button className="project-btn" onClick={() => setOpen(!open)} data-testid="project-switcher">
        <span className="muted">Project</span> <b>{app.project}</b> {role && <span className="tag">{role}</span>} <Icon name="chevron" size={14} />
      </button>
      {open && (
        <div className="menu">
          {projects.length === 0 && <div className="menu-note">You are not a member of any project.</div>}
          {projects.map((p) => (
            <button key={p.project.id} className={'menu-item' + (p.project.name === app.project ? ' active' : '')}
              onClick={() => { app.setProject(p.project.name); setOpen(false); }}>
              <span>{p.project.name}</span><span className="muted">{p.role}</span>
            </button>
          ))}
          <div className="menu-note">New projects: <code>osprey project create NAME</code></div>
        </div>
      )}
    </div>
  );
}

function UserMenu() {
  const app = useApp();
  const [open, setOpen] = useState(false);
  const ref = useOutside(open, () => setOpen(false));
  return (
    <div className="dropdown" ref={ref}>
      <button className="icon-btn user-btn" onClick={() => setOpen(!open)} data-testid="user-menu">
        <Icon name="user" /> <span>{app.me?.user.name}</span>
      </button>
      {open && (
        <div className="menu right">
          <div className="menu-note">Signed in as <b>{app.me?.user.name}</b>{app.me?.user.admin ? ' (admin)' : ''}</div>
          <button className="menu-item" onClick={app.signOut} data-testid="logout"><span><Icon name="logout" size={14} /> Sign out</span></button>
        </div>
      )}
    </div>
  );
}
