import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import type { Me } from './api';

// ---- routing: history API, the server falls back to index.html ----
export function navigate(to: string, replace = false) {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', to); else history.pushState(null, '', to);
  window.dispatchEvent(new Event('osprey:navigate'));
  window.scrollTo(0, 0);
}
export function useLocation() {
  const [loc, setLoc] = useState(location.pathname + location.search);
  useEffect(() => {
    const f = () => setLoc(location.pathname + location.search);
    window.addEventListener('popstate', f);
    window.addEventListener('osprey:navigate', f);
    return () => { window.removeEventListener('popstate', f); window.removeEventListener('osprey:navigate', f); };
  }, []);
  return loc;
}
export function linkHandler(to: string) {
  return (e: React.MouseEvent) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(to);
  };
}

// ---- time range ----
export type Range = { live: true; span: number } | { live: false; start: number; end: number };
export const spans = [
  { label: '5m', span: 300 }, { label: '15m', span: 900 }, { label: '1h', span: 3600 }, { label: '6h', span: 21600 }, { label: '24h', span: 86400 },
];
// window resolves a range to absolute [start, end] seconds at time now.
export function window_(r: Range, nowMs: number): [number, number] {
  if (r.live) { const end = nowMs / 1000; return [end - r.span, end]; }
  return [r.start, r.end];
}
// stepFor picks a query step giving about `cols` points, at least 5 s.
export function stepFor(start: number, end: number, cols = 120): number {
  const raw = (end - start) / cols;
  const nice = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
  return nice.find((s) => s >= raw) ?? Math.ceil(raw);
}

export const REFRESH_MS = 5000;

interface AppState {
  me: Me | null;
  project: string;
  setProject(p: string): void;
  range: Range;
  setRange(r: Range): void;
  now: number; // ms of the last refresh tick
  paused: boolean;
  setPaused(p: boolean): void;
  refresh(): void;
  theme: 'dark' | 'light';
  setTheme(t: 'dark' | 'light'): void;
  signOut(): void;
}
export const AppCtx = createContext<AppState>(null as unknown as AppState);
export const useApp = () => useContext(AppCtx);

// useTicker gives a timestamp that advances every REFRESH_MS while live.
export function useTicker(enabled: boolean) {
  const [now, setNow] = useState(Date.now());
  const timer = useRef<number>();
  const kick = useCallback(() => setNow(Date.now()), []);
  useEffect(() => {
    if (!enabled) return;
    const tick = () => { if (!document.hidden) setNow(Date.now()); };
    timer.current = window.setInterval(tick, REFRESH_MS);
    const vis = () => { if (!document.hidden) setNow(Date.now()); };
    document.addEventListener('visibilitychange', vis);
    return () => { clearInterval(timer.current); document.removeEventListener('visibilitychange', vis); };
  }, [enabled]);
  return [now, kick] as const;
}

// useData loads something whenever deps change and keeps the last good
// value while a refresh is in flight (no flicker every 5 s).
export function useData<T>(load: () => Promise<T>, deps: unknown[]): { data: T | undefined; error: string | null; loading: boolean } {
  const [state, setState] = useState<{ data: T | undefined; error: string | null; loading: boolean }>({ data: undefined, error: null, loading: true });
  const seq = useRef(0);
  useEffect(() => {
    const n = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => { if (n === seq.current) setState({ data, error: null, loading: false }); },
      (e) => { if (n === seq.current) setState((s) => ({ data: s.data, error: String(e?.message || e), loading: false })); },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}
