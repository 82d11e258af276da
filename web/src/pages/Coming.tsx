import { Icon } from '../components/Icon';
import { linkHandler } from '../state';

export interface Product { path: string; title: string; icon: string; summary: string; features: string[] }
export const products: Product[] = [
  {
    path: '/database', title: 'Database monitoring', icon: 'db',
    summary: 'MySQL/MariaDB and PostgreSQL: real-time stat metrics every 5 s and what every session was doing at any past moment.',
    features: ['Stat metrics by category with a metric picker and your own layouts', 'Running queries and active-session history', 'Lock tree: holder → waiter chains with the blocking query', 'Top SQL statements by time, calls and rows', 'Threshold events on any stat'],
  },
  {
    path: '/kubernetes', title: 'Kubernetes monitoring', icon: 'k8s',
    summary: 'Clusters, nodes, namespaces, deployments, pods and containers, linked to the applications running in them.',
    features: ['CPU, memory, network, filesystem, restarts, requests and limits per pod and container', 'Objects and events of every cluster in one place', 'From deployment to pod to transaction and back', 'Auto-scaling pods followed without configuration'],
  },
  {
    path: '/logs', title: 'Log monitoring', icon: 'log',
    summary: 'Files, containers and OTLP logs: live tail, search, pattern analysis and log alerts.',
    features: ['Live tail by category with field and text filters', 'Search over any range with counts per category', 'Field extraction and pattern grouping to spot new or spiking errors', 'Counts by field over time and keyword alerts'],
  },
  {
    path: '/url', title: 'URL monitoring', icon: 'url',
    summary: 'HTTP checks from any agent or region, staying instant at 10,000 checks and fully scriptable through the API.',
    features: ['Status, elapsed time, body length, TLS expiry and failure cause', 'History charts with drag-to-zoom', 'Alerts on status and latency'],
  },
  {
    path: '/alerts', title: 'Alerts', icon: 'alert',
    summary: 'Threshold rules on any metric, “agent no data”, reboots, log keywords, URL and database rules.',
    features: ['Duration and severity per rule', 'Webhook, Slack-compatible and e-mail notifications', 'Event history, acknowledgement and maintenance windows'],
  },
  {
    path: '/dashboards', title: 'Dashboards', icon: 'dash',
    summary: 'Ready-made dashboards per product and a flex board you compose from charts, lists, counters and maps.',
    features: ['Widgets across every product', 'Shared per project', 'Daily, weekly and monthly reports (HTML and PDF)'],
  },
];

export function Coming({ product }: { product: Product }) {
  return (
    <div className="coming" data-testid="coming">
      <div className="coming-head">
        <span className="coming-icon"><Icon name={product.icon} size={28} /></span>
        <div>
          <h1>{product.title} <span className="tag">coming</span></h1>
          <p>{product.summary}</p>
        </div>
      </div>
      <div className="panel">
        <div className="panel-head"><h3>What it will do</h3></div>
        <ul className="feature-list">{product.features.map((f) => <li key={f}>{f}</li>)}</ul>
      </div>
      <p className="muted">This part of Osprey is not built yet. Server monitoring is available now: <a href="/servers" onClick={linkHandler('/servers')}>open the resource board</a>.</p>
    </div>
  );
}
