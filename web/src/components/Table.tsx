import { useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';

export interface Column<T> {
  key: string;
  label: ReactNode;
  value?(row: T): number | string | null | undefined; // for sorting
  render(row: T): ReactNode;
  right?: boolean;
  width?: number | string;
  className?: string;
}

export function useSort<T>(rows: T[], columns: Column<T>[], initial: { key: string; desc: boolean }) {
  const [sort, setSort] = useState(initial);
  const sorted = useMemo(() => {
    const col = columns.find((c) => c.key === sort.key);
    if (!col?.value) return rows;
    const v = col.value;
    const out = rows.slice();
    out.sort((a, b) => {
      const x = v(a); const y = v(b);
      if (x == null && y == null) return 0;
      if (x == null) return 1; // unknowns last either way
      if (y == null) return -1;
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
      return sort.desc ? -c : c;
    });
    return out;
  }, [rows, columns, sort]);
  const toggle = (key: string) => setSort((s) => (s.key === key ? { key, desc: !s.desc } : { key, desc: true }));
  return { sorted, sort, toggle };
}

function Head<T>({ columns, sort, toggle }: { columns: Column<T>[]; sort: { key: string; desc: boolean }; toggle(k: string): void }) {
  return (
    <thead>
      <tr>
        {columns.map((c) => (
          <th key={c.key} style={{ width: c.width }} className={(c.right ? 'r ' : '') + (c.value ? 'sortable ' : '') + (sort.key === c.key ? 'sorted' : '')}
            onClick={c.value ? () => toggle(c.key) : undefined} data-col={c.key}>
            {c.label}{sort.key === c.key ? (sort.desc ? ' ↓' : ' ↑') : ''}
          </th>
        ))}
      </tr>
    </thead>
  );
}

const ROW_H = 29;

// DataTable is a sortable table; with many rows only those in view are
// rendered (fixed row height), so 2,000 servers scroll smoothly.
export function DataTable<T>({ rows, columns, initialSort, rowKey, onRowClick, maxHeight = 640, testid, empty }: {
  rows: T[]; columns: Column<T>[]; initialSort: { key: string; desc: boolean }; rowKey(r: T): string;
  onRowClick?(r: T): void; maxHeight?: number; testid?: string; empty?: ReactNode;
}) {
  const { sorted, sort, toggle } = useSort(rows, columns, initialSort);
  const ref = useRef<HTMLDivElement>(null);
  const [top, setTop] = useState(0);
  const [viewH, setViewH] = useState(maxHeight);
  useLayoutEffect(() => { if (ref.current) setViewH(ref.current.clientHeight || maxHeight); }, [maxHeight, rows.length]);
  const virtual = sorted.length > 200;
  const first = virtual ? Math.max(0, Math.floor(top / ROW_H) - 10) : 0;
  const last = virtual ? Math.min(sorted.length, Math.ceil((top + viewH) / ROW_H) + 10) : sorted.length;
  return (
    <div className="vtable" ref={ref} style={{ maxHeight }} onScroll={(e) => setTop(e.currentTarget.scrollTop)} data-testid={testid}>
      <table className="table">
        <Head columns={columns} sort={sort} toggle={toggle} />
        <tbody>
          {first > 0 && <tr style={{ height: first * ROW_H }} aria-hidden="true"><td colSpan={columns.length} style={{ padding: 0, border: 0 }} /></tr>}
          {sorted.slice(first, last).map((r) => (
            <tr key={rowKey(r)} style={{ height: ROW_H }} className={onRowClick ? 'clickable' : ''} onClick={onRowClick ? () => onRowClick(r) : undefined}>
              {columns.map((c) => <td key={c.key} className={(c.right ? 'r ' : '') + (c.className || '')}>{c.render(r)}</td>)}
            </tr>
          ))}
          {last < sorted.length && <tr style={{ height: (sorted.length - last) * ROW_H }} aria-hidden="true"><td colSpan={columns.length} style={{ padding: 0, border: 0 }} /></tr>}
        </tbody>
      </table>
      {rows.length === 0 && empty}
    </div>
  );
}
