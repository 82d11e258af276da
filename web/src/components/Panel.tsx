import { useState, type ReactNode } from 'react';
import * as API from '../api';
import { level } from '../format';
import { useApp } from '../state';

export function Panel({ title, extra, children, className = '', testid }: { title: ReactNode; extra?: ReactNode; children: ReactNode; className?: string; testid?: string }) {
  return (
    <section className={'panel ' + className} data-testid={testid}>
      <div className="panel-head"><h3>{title}</h3>{extra && <div className="panel-extra">{extra}</div>}</div>
      <div className="panel-body">{children}</div>
    </section>
  );
}

export function Meter({ value, warn = 70, crit = 90 }: { value: number | null | undefined; warn?: number; crit?: number }) {
  const v = value == null ? 0 : Math.max(0, Math.min(100, value));
  return <span className="meter"><span className={'meter-fill ' + level(value, warn, crit)} style={{ width: `${v}%` }} /></span>;
}

export function ErrorBanner({ error }: { error: string | null }) {
  if (!error) return null;
  return <div className="error-banner" role="alert">{error}</div>;
}

// ConnectAgent says how to get the first server in, with the exact command.
export function ConnectAgent({ project }: { project: string }) {
  const host = location.hostname || 'SERVER';
  const app = useApp();
  const owner = (app.me?.projects || []).find((p) => p.project.name === project)?.role === 'owner';
  const [made, setMade] = useState<{ key: string; grpcPort: string } | null>(null);
  const [err, setErr] = useState<string | null>(null);
  const newKey = () => {
    if (!confirm(`Make a new access key for “${project}”? Its old key stops working.`)) return;
    setErr(null);
    API.newProjectKey().then(setMade, (e) => setErr(e.message));
  };
  return (
    <div className="empty-state" data-testid="empty-state">
      <div className="empty-illustration" aria-hidden="true">
        <svg width="64" height="64" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.2"><path d="M4 4h16v6H4z M4 14h16v6H4z M8 7h.01 M8 17h.01" /></svg>
      </div>
      <h2>No servers in project “{project}” yet</h2>
      <p>Install <code>osprey-agent</code> on each server you want to watch and start it with the project's access key. The server appears here within seconds, with its CPU, memory, disks, network and processes.</p>
      {made ? (
        <>
          <pre className="cmd" data-testid="agent-command"><span className="muted">$</span> osprey-agent --server {host}:{made.grpcPort || '4317'} --key {made.key}</pre>
          <p className="muted">This key is shown once: copy the command now. Any agent still using the old key must be given the new one.</p>
        </>
      ) : (
        <pre className="cmd"><span className="muted">$</span> osprey-agent --server {host}:4317 --key KEY</pre>
      )}
      {owner && !made && <p><button className="btn" data-testid="new-key" onClick={newKey}>Make a new key and show the exact command</button></p>}
      <ErrorBanner error={err} />
      <ul className="empty-notes">
        <li><b>Where is the key?</b> It is shown once, when the project is created: for <code>default</code> the server printed it at its first start (“default project key” at the top of its first log); for other projects <code>osprey project create NAME</code> printed it. Osprey keeps only a hash, so it cannot be read back.</li>
        <li><b>Lost it?</b> Make a new one on the server host with <code>osprey project rotate-key {project}</code> (agents using the old key must then be given the new one).</li>
        <li>Add <code>--name web-01 --group site-a</code> to set how the server is listed and grouped; <code>osprey up</code> runs a server with an agent for this host already connected.</li>
      </ul>
    </div>
  );
}
