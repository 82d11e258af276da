import { useEffect, useRef, useState } from 'react';
import { spans, useApp } from '../state';
import { clock, dateTime, toLocalInput } from '../format';
import { Icon } from './Icon';

// TimePicker: live windows (5m … 24h) that follow now, or a fixed custom
// range (also set by drag-to-zoom on charts).
export function TimePicker() {
  const app = useApp();
  const r = app.range;
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  useEffect(() => {
    if (!open) return;
    const end = r.live ? Date.now() : r.end * 1000;
    const start = r.live ? end - r.span * 1000 : r.start * 1000;
    setFrom(toLocalInput(start));
    setTo(toLocalInput(end));
    const f = (e: MouseEvent) => { if (ref.current && !ref.current.contains(e.target as Node)) setOpen(false); };
    document.addEventListener('mousedown', f);
    return () => document.removeEventListener('mousedown', f);
  }, [open]); // eslint-disable-line react-hooks/exhaustive-deps

  const label = r.live ? `Last ${spans.find((s) => s.span === r.span)?.label ?? `${Math.round(r.span / 60)}m`}` : `${dateTime(r.start * 1000)} → ${sameDay(r.start, r.end) ? clock(r.end * 1000) : dateTime(r.end * 1000)}`;
  const live = r.live && !app.paused;
  return (
    <div className="timepicker" ref={ref}>
      <button className={'live-pill' + (live ? ' on' : '')} title={live ? 'Live: refreshing every 5 s. Click to pause.' : r.live ? 'Paused. Click to resume.' : 'Back to live'}
        data-testid="live-toggle"
        onClick={() => (r.live ? app.setPaused(!app.paused) : app.setRange({ live: true, span: 900 }))}>
        <span className="dot" /> {live ? 'Live' : r.live ? 'Paused' : 'Go live'}
      </button>
      <div className="seg" role="group" aria-label="Time range">
        {spans.map((s) => (
          <button key={s.span} className={r.live && r.span === s.span ? 'on' : ''} onClick={() => app.setRange({ live: true, span: s.span })} data-range={s.label}>{s.label}</button>
        ))}
        <button className={!r.live ? 'on' : ''} onClick={() => setOpen(!open)} data-range="custom"><Icon name="clock" size={14} /> {r.live ? 'Custom' : label}</button>
      </div>
      <button className="icon-btn" title="Refresh now" onClick={app.refresh}><Icon name="refresh" /></button>
      {open && (
        <div className="menu right time-menu">
          <label>From <input type="datetime-local" step="1" value={from} onChange={(e) => setFrom(e.target.value)} /></label>
          <label>To <input type="datetime-local" step="1" value={to} onChange={(e) => setTo(e.target.value)} /></label>
          <div className="row-end">
            <button className="btn" onClick={() => setOpen(false)}>Cancel</button>
            <button className="btn primary" onClick={() => {
              const s = new Date(from).getTime() / 1000;
              const e = new Date(to).getTime() / 1000;
              if (s < e) { app.setRange({ live: false, start: s, end: e }); setOpen(false); }
            }}>Apply</button>
          </div>
          <p className="hint">Tip: drag across any chart or the CPU map to zoom into that range.</p>
        </div>
      )}
    </div>
  );
}
const sameDay = (a: number, b: number) => new Date(a * 1000).toDateString() === new Date(b * 1000).toDateString();
