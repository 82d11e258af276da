// The stat dashboard's layout: grid size and the metrics of each slot,
// kept per engine in localStorage (osprey.db.layout.<engine>).
import type { CatalogMetric } from '../../dbApi';

export type GridSize = 2 | 3 | 4;
// A slot charts one or more catalog metrics (TSDB metric names); "a|b"
// means the first of a or b the instance reports.
export interface Slot { title?: string; metrics: string[] }
export interface LayoutState { grid: GridSize; slots: (Slot | null)[] }
export const MAX_SLOTS = 16;

const M = 'mysql_global_status_';
const mysqlDefaults: Slot[] = [
  { title: 'Threads_running', metrics: [M + 'threads_running'] },
  { title: 'Questions/s', metrics: [M + 'questions_total'] },
  { title: 'Com_select/s', metrics: [M + 'com_select_total'] },
  { title: 'Com_insert + update + delete /s', metrics: [M + 'com_insert_total', M + 'com_update_total', M + 'com_delete_total'] },
  { title: 'InnoDB row lock waits', metrics: [M + 'innodb_row_lock_current_waits|' + M + 'innodb_row_lock_waits_total'] },
  { title: 'Buffer pool disk reads vs read requests /s', metrics: [M + 'innodb_buffer_pool_reads_total', M + 'innodb_buffer_pool_read_requests_total'] },
  { title: 'Bytes received / sent', metrics: [M + 'bytes_received_total', M + 'bytes_sent_total'] },
  { title: 'Slow_queries/s', metrics: [M + 'slow_queries_total'] },
  { title: 'Threads_connected', metrics: [M + 'threads_connected'] },
  { title: 'Connections/s', metrics: [M + 'connections_total'] },
  { title: 'Aborted clients / connects /s', metrics: [M + 'aborted_clients_total', M + 'aborted_connects_total'] },
  { title: 'Rows read / sent /s', metrics: [M + 'innodb_rows_read_total|' + M + 'rows_read_total', M + 'rows_sent_total'] },
  { title: 'Temporary tables (disk / all) /s', metrics: [M + 'created_tmp_disk_tables_total', M + 'created_tmp_tables_total'] },
  { title: 'Full joins / full scans /s', metrics: [M + 'select_full_join_total', M + 'select_scan_total'] },
  { title: 'Sessions waiting for a lock', metrics: ['osprey_db_lock_waits'] },
  { title: 'Collection time', metrics: ['osprey_db_collect_duration_seconds'] },
];

const S = 'pg_stat_database_';
const pgDefaults: Slot[] = [
  { title: 'Connections by state', metrics: ['pg_connections'] },
  { title: 'xact_commit / rollback /s', metrics: [S + 'xact_commit_total', S + 'xact_rollback_total'] },
  { title: 'tup_fetched / returned /s', metrics: [S + 'tup_fetched_total', S + 'tup_returned_total'] },
  { title: 'blks_read vs blks_hit /s', metrics: [S + 'blks_read_total', S + 'blks_hit_total'] },
  { title: 'Locks by mode', metrics: ['pg_locks'] },
  { title: 'Deadlocks/s', metrics: [S + 'deadlocks_total'] },
  { title: 'Temp bytes written', metrics: [S + 'temp_bytes_total|' + S + 'temp_bytes'] },
  { title: 'Transaction-id age (wraparound)', metrics: ['pg_database_xid_age'] },
  { title: 'Sessions waiting for a lock', metrics: ['osprey_db_lock_waits'] },
  { title: 'Rows inserted / updated / deleted /s', metrics: [S + 'tup_inserted_total', S + 'tup_updated_total', S + 'tup_deleted_total'] },
  { title: 'Oldest transaction age', metrics: ['pg_oldest_transaction_age_seconds|pg_oldest_transaction_age'] },
  { title: 'Temp files/s', metrics: [S + 'temp_files_total'] },
  { title: 'Checkpoints (timed / requested) /s', metrics: ['pg_stat_checkpointer_num_timed_total|pg_stat_bgwriter_checkpoints_timed_total', 'pg_stat_checkpointer_num_requested_total|pg_stat_bgwriter_checkpoints_req_total'] },
  { title: 'Block read time', metrics: [S + 'blk_read_time_seconds_total|' + S + 'blk_read_time_total'] },
  { title: 'Sessions: active / total', metrics: ['osprey_db_sessions_active', 'osprey_db_sessions_total'] },
  { title: 'Collection time', metrics: ['osprey_db_collect_duration_seconds'] },
];

export const defaultLayout = (engine: string): LayoutState => ({
  grid: 3,
  slots: (engine === 'postgresql' ? pgDefaults : mysqlDefaults).map((s) => ({ ...s, metrics: [...s.metrics] })),
});

export const layoutKey = (engine: string) => `osprey.db.layout.${engine || 'unknown'}`;

export function loadLayout(engine: string): LayoutState {
  const def = defaultLayout(engine);
  try {
    const raw = localStorage.getItem(layoutKey(engine));
    if (!raw) return def;
    const v = JSON.parse(raw);
    const grid: GridSize = v?.grid === 2 || v?.grid === 4 ? v.grid : 3;
    const slots: (Slot | null)[] = Array.from({ length: MAX_SLOTS }, (_, i) => {
      const s = Array.isArray(v?.slots) ? v.slots[i] : undefined;
      if (s === null) return null;
      if (s && Array.isArray(s.metrics) && s.metrics.every((m: unknown) => typeof m === 'string') && s.metrics.length) {
        return { title: typeof s.title === 'string' ? s.title : undefined, metrics: s.metrics.slice(0, 8) };
      }
      return def.slots[i] ?? null;
    });
    return { grid, slots };
  } catch {
    return def;
  }
}

export function saveLayout(engine: string, l: LayoutState) {
  try { localStorage.setItem(layoutKey(engine), JSON.stringify(l)); } catch { /* storage full or off */ }
}

// resolve finds each slot metric in the catalog ("a|b": the first found).
export function resolve(slot: Slot, byMetric: Map<string, CatalogMetric>): { found: CatalogMetric[]; missing: string[] } {
  const found: CatalogMetric[] = []; const missing: string[] = [];
  for (const ref of slot.metrics) {
    const alts = ref.split('|');
    const hit = alts.map((a) => byMetric.get(a)).find(Boolean);
    if (hit) found.push(hit); else missing.push(alts[0]);
  }
  return { found, missing };
}

// displayName is a metric's chart name: counters read per second.
export const displayName = (m: CatalogMetric) => (m.type === 'counter' && m.unit === '/s' ? `${m.name}/s` : m.name);

// Gauges whose names end in _total: the catalog takes every *_total for a
// counter and charts its rate(); these are levels.
const gaugesNamedTotal = new Set(['osprey_db_sessions_total', 'mysql_global_status_innodb_undo_tablespaces_total']);
export function fixEntry(m: CatalogMetric): CatalogMetric {
  if (!gaugesNamedTotal.has(m.metric) || m.type !== 'counter') return m;
  const query = m.query.replace(/rate\((.*)\[[^\]]+\]\)/, '$1');
  return { ...m, type: 'gauge', unit: '', query };
}
