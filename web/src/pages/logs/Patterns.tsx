// Log patterns: the matching lines grouped by message template (variable
// parts shown as <*>), with count, share, level mix, trend, NEW and SPIKE
// marks and a sample; a click searches the lines of one pattern.
import { useMemo, useState } from 'react';
import * as LA from '../../logsApi';
import { Icon } from '../../components/Icon';
import { ErrorBanner } from '../../components/Panel';
import { DataTable, type Column } from '../../components/Table';
import { ago, int, pct } from '../../format';
import { navigate, useApp, useData } from '../../state';
import { LevelMix, QueryBar, Sparkline, filtersKey, logsLink, useLogFilters, useWindow } from './common';

// Template renders a pattern with its variable parts marked.
export function Template({ text }: { text: string }) {
  const parts = text.split('<*>');
  return <>{parts.map((p, i) => <span key={i}>{p}{i < parts.length - 1 && <span className="lg-var">{'<*>'}</span>}</span>)}</>;
}

// patternQuery turns a template's constant parts into a text query of
// quoted phrases (the longest few), which every line of the pattern has.
// Quotes and backslashes end a phrase (a phrase must be in the line as is).
export function patternQuery(template: string): string {
  const pieces = template.split('<*>').flatMap((p) => p.split(/["\\]/)).map((p) => p.replace(/\s+/g, ' ').trim())
    .map((p) => p.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, ''))
    .filter((p) => /[\p{L}\p{N}]/u.test(p));
  const longest = [...pieces].sort((a, b) => b.length - a.length).slice(0, 3);
  return pieces.filter((p) => longest.includes(p)).map((p) => `"${p}"`).join(' ');
}

export default function LogPatterns() {
  const app = useApp();
  const [f, setF] = useLogFilters();
  const fk = filtersKey(f);
  // patterns are heavier than a search: at most every 30 s while live
  const win = useWindow(30000);
  const q: LA.LogQuery = useMemo(() => ({ start: win.start, end: win.end, q: f.q, filters: f.filters, categories: f.categories, levels: f.levels }), [fk, win.key]); // eslint-disable-line react-hooks/exhaustive-deps
  const res = useData(() => LA.patterns(q, 20000), [q, app.project]);
  const [find, setFind] = useState('');
  const [only, setOnly] = useState<'all' | 'new' | 'spike'>('all');
  const rows = useMemo(() => {
    const t = find.trim().toLowerCase();
    return (res.data?.patterns || []).filter((p) => (only === 'all' || (only === 'new' ? p.new : p.spike)) && (!t || p.template.toLowerCase().includes(t) || p.sample.toLowerCase().includes(t)));
  }, [res.data, find, only]);
  const open = (p: LA.Pattern) => navigate(logsLink('/logs/search', { ...f, q: [f.q.trim(), patternQuery(p.template)].filter(Boolean).join(' ') }));
  const d = res.data;
  const columns: Column<LA.Pattern>[] = [
    {
      key: 'template', label: 'Pattern', value: (p) => p.template, className: 'lg-pat-cell',
      render: (p) => (
        <span className="lg-pat">
          {p.new && <span className="lg-badge new" title={`First seen ${ago(p.firstSeen)}`}>NEW</span>}
          {p.spike && <span className="lg-badge spike" title="Much more frequent lately than before in the range">SPIKE</span>}
          <a href={logsLink('/logs/search', { ...f, q: patternQuery(p.template) })} onClick={(e) => { e.preventDefault(); e.stopPropagation(); open(p); }}
            className="lg-pat-t mono" title={p.template} data-testid="pattern-template"><Template text={p.template} /></a>
        </span>
      ),
    },
    { key: 'count', label: 'Count', right: true, value: (p) => p.count, render: (p) => <b>{int(p.count)}</b>, width: 80 },
    {
      key: 'share', label: 'Share', value: (p) => p.share, width: 120,
      render: (p) => <span className="db-share"><span className="muted small">{pct(p.share * 100)}</span><span className="db-share-bar"><span style={{ width: `${Math.min(100, p.share * 100)}%` }} /></span></span>,
    },
    { key: 'levels', label: 'Levels', width: 96, value: (p) => (p.levels.error || 0) + (p.levels.fatal || 0), render: (p) => <LevelMix levels={p.levels} /> },
    { key: 'trend', label: 'Trend', width: 120, render: (p) => <Sparkline values={(p.series || []).map((x) => x.count)} /> },
    { key: 'last', label: 'Last seen', width: 90, value: (p) => p.lastSeen, render: (p) => <span className="muted small">{ago(p.lastSeen)}</span> },
    { key: 'sample', label: 'Sample', className: 'lg-sample-cell', render: (p) => <span className="lg-sample mono" title={p.sample}>{p.sample.split('\n')[0]}</span> },
  ];
  return (
    <div className="page lg-page" data-testid="logs-patterns">
      <div className="page-head">
        <div>
          <h1>Log patterns</h1>
          <p className="muted">
            {d ? <>{int(d.patterns.length)} pattern{d.patterns.length === 1 ? '' : 's'} in {d.sampled < d.total ? <>a sample of {int(d.sampled)} of {int(d.total)} lines</> : <>{int(d.total)} lines</>}</>
              : res.error ? 'Patterns' : 'Grouping lines…'} · click a pattern to search its lines
          </p>
        </div>
      </div>
      <QueryBar value={f} onChange={setF} start={q.start} end={q.end} />
      <ErrorBanner error={res.error} />
      {d?.partial && <p className="muted small">{d.reason || 'The sample stopped at the search budget'}: patterns cover part of the range.</p>}
      <section className="panel" data-testid="patterns">
        <div className="panel-head">
          <span className="search"><Icon name="search" size={14} /><input placeholder="Filter patterns" value={find} onChange={(e) => setFind(e.target.value)} aria-label="Filter patterns" /></span>
          <div className="panel-extra">
            <div className="seg" role="group" aria-label="Show">
              {(['all', 'new', 'spike'] as const).map((o) => (
                <button key={o} className={only === o ? 'on' : ''} aria-pressed={only === o} onClick={() => setOnly(o)}>
                  {o === 'all' ? 'All' : o === 'new' ? `New ${d ? int(d.patterns.filter((p) => p.new).length) : ''}` : `Spikes ${d ? int(d.patterns.filter((p) => p.spike).length) : ''}`}
                </button>
              ))}
            </div>
            {res.loading && <span className="muted small">Updating…</span>}
          </div>
        </div>
        <DataTable rows={rows} columns={columns} initialSort={{ key: 'count', desc: true }} rowKey={(p) => String(p.id ?? p.template)} onRowClick={open} maxHeight={720} testid="pattern-table"
          empty={<div className="panel-empty" data-testid="patterns-empty">{!d ? (res.error ? 'Patterns could not be computed.' : 'Loading…') : d.total === 0 ? 'No lines match in this time range, so there is nothing to group.' : 'No pattern matches this filter.'}</div>} />
      </section>
    </div>
  );
}
