// Small form and layout pieces shared by the URL and alert pages: the
// editor drawer, labelled fields, segmented choices, checkbox lists,
// key/value rows, severity badges and the time range kept in the address.
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { useApp } from '../../state';

// Drawer is a right-hand editor panel over the page (Escape or the
// backdrop closes it).
export function Drawer({ title, onClose, children, footer, testid, wide }: {
  title: ReactNode; onClose(): void; children: ReactNode; footer?: ReactNode; testid?: string; wide?: boolean;
}) {
  const id = useId();
  const ref = useRef<HTMLDivElement>(null);
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const f = (e: KeyboardEvent) => { if (e.key === 'Escape') close.current(); };
    document.addEventListener('keydown', f);
    const first = ref.current?.querySelector<HTMLElement>('input:not([type=checkbox]), textarea, select');
    first?.focus();
    return () => document.removeEventListener('keydown', f);
  }, []);
  return (
    <div className="ua-drawer-backdrop" onMouseDown={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div className={'ua-drawer' + (wide ? ' wide' : '')} role="dialog" aria-modal="true" aria-labelledby={id} ref={ref} data-testid={testid}>
        <div className="ua-drawer-head">
          <h2 id={id}>{title}</h2>
          <button type="button" className="icon-btn" onClick={onClose} aria-label="Close" title="Close (Esc)">✕</button>
        </div>
        <div className="ua-drawer-body">{children}</div>
        {footer && <div className="ua-drawer-foot">{footer}</div>}
      </div>
    </div>
  );
}

export function Field({ label, hint, children, className = '' }: { label: ReactNode; hint?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <label className={'ua-field ' + className}>
      <span className="ua-field-label">{label}</span>
      {children}
      {hint && <span className="ua-field-hint">{hint}</span>}
    </label>
  );
}

// FieldSet groups controls that are not one input (a label element
// cannot hold several).
export function FieldSet({ label, hint, children, className = '' }: { label: ReactNode; hint?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <fieldset className={'ua-field ' + className}>
      <legend className="ua-field-label">{label}</legend>
      {children}
      {hint && <span className="ua-field-hint">{hint}</span>}
    </fieldset>
  );
}

export function Seg<T extends string>({ options, value, onChange, label, testid }: {
  options: { value: T; label: ReactNode; title?: string }[]; value: T; onChange(v: T): void; label: string; testid?: string;
}) {
  return (
    <div className="seg" role="radiogroup" aria-label={label} data-testid={testid}>
      {options.map((o) => (
        <button type="button" key={o.value} role="radio" aria-checked={o.value === value} className={o.value === value ? 'on' : ''} title={o.title}
          onClick={() => onChange(o.value)} data-value={o.value}>{o.label}</button>
      ))}
    </div>
  );
}

// MultiCheck is a checkbox list; nothing ticked means `none` (e.g. "all agents").
export function MultiCheck({ options, value, onChange, none, testid }: {
  options: { value: string; label: ReactNode; sub?: ReactNode; text?: string }[]; value: string[]; onChange(v: string[]): void; none: string; testid?: string;
}) {
  const [q, setQ] = useState('');
  const t = q.trim().toLowerCase();
  const shown = t ? options.filter((o) => (o.text ?? String(o.value)).toLowerCase().includes(t)) : options;
  const set = new Set(value);
  const toggle = (v: string) => onChange(set.has(v) ? value.filter((x) => x !== v) : [...value, v]);
  return (
    <div className="ua-multi" data-testid={testid}>
      <div className="ua-multi-head">
        <span className={value.length ? '' : 'muted'}>{value.length ? `${value.length} selected` : none}</span>
        {options.length > 8 && <input placeholder="Filter…" value={q} onChange={(e) => setQ(e.target.value)} aria-label="Filter the list" />}
        {value.length > 0 && <button type="button" className="ua-linkish" onClick={() => onChange([])}>Clear</button>}
      </div>
      <div className="ua-multi-list">
        {options.length === 0 && <div className="muted small ua-multi-empty">Nothing to choose from yet.</div>}
        {shown.map((o) => (
          <label key={o.value} className="ua-multi-item">
            <input type="checkbox" checked={set.has(o.value)} onChange={() => toggle(o.value)} />
            <span className="ua-multi-label">{o.label}</span>
            {o.sub && <span className="muted small">{o.sub}</span>}
          </label>
        ))}
      </div>
    </div>
  );
}

// KeyValueRows edits a string map as rows (headers).
export function KeyValueRows({ rows, onChange, keyLabel = 'Name', valueLabel = 'Value', testid }: {
  rows: [string, string][]; onChange(r: [string, string][]): void; keyLabel?: string; valueLabel?: string; testid?: string;
}) {
  return (
    <div className="ua-kv-rows" data-testid={testid}>
      {rows.map(([k, v], i) => (
        <div className="ua-kv-row" key={i}>
          <input placeholder={keyLabel} aria-label={`${keyLabel} ${i + 1}`} value={k} onChange={(e) => onChange(rows.map((r, j) => (j === i ? [e.target.value, r[1]] : r)))} />
          <input placeholder={valueLabel} aria-label={`${valueLabel} ${i + 1}`} value={v} onChange={(e) => onChange(rows.map((r, j) => (j === i ? [r[0], e.target.value] : r)))} />
          <button type="button" className="icon-btn" aria-label="Remove row" onClick={() => onChange(rows.filter((_, j) => j !== i))}>✕</button>
        </div>
      ))}
      <button type="button" className="ua-linkish" onClick={() => onChange([...rows, ['', '']])}>+ Add {keyLabel.toLowerCase()}</button>
    </div>
  );
}

export function Switch({ checked, onChange, label, disabled, testid }: { checked: boolean; onChange(v: boolean): void; label: string; disabled?: boolean; testid?: string }) {
  return (
    <button type="button" role="switch" aria-checked={checked} aria-label={label} title={label} disabled={disabled}
      className={'ua-switch' + (checked ? ' on' : '')} onClick={(e) => { e.stopPropagation(); onChange(!checked); }} data-testid={testid}>
      <span className="ua-switch-knob" />
    </button>
  );
}

export function SevBadge({ severity }: { severity: string }) {
  return <span className={'ua-sev ua-sev-' + severity}>{severity}</span>;
}

// FormError shows the server's 400 text (one problem per line).
export function FormError({ error, testid }: { error: string | null; testid?: string }) {
  if (!error) return null;
  return <div className="ua-form-errors" role="alert" data-testid={testid}>{error}</div>;
}

// useRangeInUrl writes the page's time range into the address
// (?from=&to= or ?range=), so a zoomed view can be shared and reloaded.
export function useRangeInUrl() {
  const { range } = useApp();
  useEffect(() => {
    const q = new URLSearchParams(location.search);
    q.delete('from'); q.delete('to'); q.delete('range');
    if (!range.live) { q.set('from', String(Math.floor(range.start))); q.set('to', String(Math.ceil(range.end))); }
    else if (range.span !== 900) q.set('range', String(range.span));
    const s = q.toString();
    const next = location.pathname + (s ? '?' + s : '');
    if (next !== location.pathname + location.search) history.replaceState(history.state, '', next);
  }, [range]);
}

// Labels that identify an agent or series but say little to a reader:
// lists show them only in tooltips.
export const quietLabels = new Set(['instance', 'job', 'service_instance_id', 'service_name', 'osprey_agent_id', 'osprey_agent_kind', 'osprey_agent_group',
  'host_name', 'url_full', 'url_check_id', '__name__', 'osprey_project']);

// errText is an error's message for a banner.
export const errText = (e: unknown) => String((e as Error)?.message || e);

// parseDuration reads Go-style durations ("1m30s", "2h", "0s") as seconds; NaN if not one.
export function parseDuration(s: string): number {
  const t = s.trim();
  if (!t) return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0; let used = 0; let m: RegExpExecArray | null;
  while ((m = re.exec(t))) { used += m[0].length; total += Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 } as Record<string, number>)[m[2]]; }
  return used === t.length ? total : NaN;
}
// shortDuration turns Go's "1h0m0s" into "1h", "5m0s" into "5m".
export function shortDuration(s: string | undefined): string {
  if (!s) return '0s';
  const v = s.replace(/(\D)0s$/, '$1').replace(/(\D)0m$/, '$1');
  return v === '' ? '0s' : v;
}
