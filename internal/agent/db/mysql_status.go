package db

import (
	"math"
	"strconv"
	"strings"
)

// mysqlStatusPrefix names SHOW GLOBAL STATUS variables as metrics; the
// server's Prometheus translation makes mysql_global_status_threads_running
// of a gauge and mysql_global_status_questions_total of a counter.
const mysqlStatusPrefix = "mysql.global.status."

// mysqlStatusGauges are the status variables that are levels, not running
// totals (lower-case). Everything numeric not listed here, and not matched
// by mysqlGaugePrefixes, is a counter since server start or FLUSH STATUS.
// Getting a counter wrong only costs rate(); getting a gauge wrong makes
// every drop look like a reset, so the list errs towards naming gauges.
var mysqlStatusGauges = setOf(
	// connections and threads
	"threads_running", "threads_connected", "threads_cached", "max_used_connections",
	"delayed_insert_threads", "not_flushed_delayed_rows", "threadpool_idle_threads", "threadpool_threads",
	"slave_open_temp_tables", "replica_open_temp_tables", "slaves_connected", "slaves_running",
	"slave_heartbeat_period", "replica_heartbeat_period", "ongoing_anonymous_transaction_count",
	"ongoing_anonymous_gtid_violating_transaction_count", "ongoing_automatic_gtid_violating_transaction_count",
	"uptime", "uptime_since_flush_status", "prepared_stmt_count", "max_memory_used", "stack_usage",
	"mysqlx_worker_threads", "mysqlx_worker_threads_active", "mysqlx_connections_active",
	// tables and files
	"open_tables", "open_files", "open_table_definitions", "open_streams",
	"table_open_cache_active_instances", "tc_log_max_pages_used", "tc_log_page_size",
	// key cache (MyISAM) and Aria page cache levels
	"key_blocks_not_flushed", "key_blocks_unused", "key_blocks_used", "key_blocks_warm",
	"aria_pagecache_blocks_not_flushed", "aria_pagecache_blocks_unused", "aria_pagecache_blocks_used",
	// query cache
	"qcache_free_blocks", "qcache_free_memory", "qcache_queries_in_cache", "qcache_total_blocks",
	// optimizer
	"last_query_cost", "last_query_partial_plans", "binlog_snapshot_position",
	// InnoDB buffer pool levels
	"innodb_buffer_pool_pages_data", "innodb_buffer_pool_pages_dirty", "innodb_buffer_pool_pages_free",
	"innodb_buffer_pool_pages_misc", "innodb_buffer_pool_pages_total", "innodb_buffer_pool_pages_old",
	"innodb_buffer_pool_pages_latched", "innodb_buffer_pool_bytes_data", "innodb_buffer_pool_bytes_dirty",
	"innodb_buffer_pool_bytes_free", "innodb_buffer_pool_bytes_misc", "innodb_buffer_pool_bytes_total",
	"innodb_buffer_pool_load_incomplete",
	// InnoDB other levels
	"innodb_row_lock_current_waits", "innodb_row_lock_time_avg", "innodb_row_lock_time_max",
	"innodb_page_size", "innodb_num_open_files", "innodb_history_list_length",
	"innodb_data_pending_fsyncs", "innodb_data_pending_reads", "innodb_data_pending_writes",
	"innodb_os_log_pending_fsyncs", "innodb_os_log_pending_writes", "innodb_checkpoint_age",
	"innodb_checkpoint_max_age", "innodb_mem_adaptive_hash", "innodb_mem_dictionary",
	"innodb_mem_total", "innodb_ibuf_free_list", "innodb_ibuf_segment_size", "innodb_ibuf_size",
	"innodb_available_undo_logs", "innodb_undo_tablespaces_total", "innodb_undo_tablespaces_implicit",
	"innodb_undo_tablespaces_explicit", "innodb_undo_tablespaces_active",
	"innodb_onlineddl_rowlog_rows", "innodb_onlineddl_rowlog_pct_used", "innodb_onlineddl_pct_progress",
	"innodb_encryption_rotation_estimated_iops", "innodb_current_row_locks", "innodb_descriptors_memory",
	"innodb_read_views_memory", "innodb_oldest_view_low_limit_trx_id", "innodb_buffer_pool_resize_status_code",
	"innodb_buffer_pool_resize_status_progress", "innodb_redo_log_capacity_resized",
	"innodb_redo_log_logical_size", "innodb_redo_log_physical_size", "innodb_redo_log_read_only",
	"innodb_redo_log_resize_status", "innodb_redo_log_enabled", "innodb_async_reads_pending",
	"innodb_async_reads_tasks_running", "innodb_async_reads_queue_size", "innodb_async_writes_pending",
	"innodb_async_writes_tasks_running", "innodb_async_writes_queue_size",
	// replication (semi-sync levels and averages)
	"rpl_semi_sync_master_clients", "rpl_semi_sync_master_net_avg_wait_time",
	"rpl_semi_sync_master_tx_avg_wait_time", "rpl_semi_sync_master_wait_sessions",
	"rpl_semi_sync_master_status", "rpl_semi_sync_slave_status",
	"rpl_semi_sync_source_clients", "rpl_semi_sync_source_net_avg_wait_time",
	"rpl_semi_sync_source_tx_avg_wait_time", "rpl_semi_sync_source_wait_sessions",
	"rpl_semi_sync_source_status", "rpl_semi_sync_replica_status",
	"slave_running", "replica_running",
	// Galera (wsrep) levels
	"wsrep_cluster_size", "wsrep_cluster_conf_id", "wsrep_cluster_weight", "wsrep_local_state",
	"wsrep_local_index", "wsrep_local_recv_queue", "wsrep_local_recv_queue_avg", "wsrep_local_recv_queue_max",
	"wsrep_local_recv_queue_min", "wsrep_local_send_queue", "wsrep_local_send_queue_avg",
	"wsrep_local_send_queue_max", "wsrep_local_send_queue_min", "wsrep_flow_control_paused",
	"wsrep_cert_deps_distance", "wsrep_apply_oooe", "wsrep_apply_oool", "wsrep_apply_window",
	"wsrep_commit_oooe", "wsrep_commit_oool", "wsrep_commit_window", "wsrep_cert_index_size",
	"wsrep_cert_bucket_count", "wsrep_gcache_pool_size", "wsrep_open_transactions", "wsrep_open_connections",
	"wsrep_thread_count", "wsrep_applier_thread_count", "wsrep_rollbacker_thread_count",
	"wsrep_last_committed", "wsrep_protocol_version", "wsrep_ready", "wsrep_connected",
	"wsrep_desync_count", "wsrep_evs_delayed", "wsrep_cluster_status", "wsrep",
	// SSL settings reported as status
	"ssl_ctx_verify_depth", "ssl_ctx_verify_mode", "ssl_default_timeout", "ssl_session_cache_size",
	"ssl_verify_depth", "ssl_verify_mode", "ssl_used_session_cache_entries",
)

// mysqlGaugePrefixes cover families whose every member is a level.
var mysqlGaugePrefixes = []string{
	"memory_used", // Memory_used, Memory_used_initial (MariaDB)
	"acl_",        // number of grant entries (MariaDB)
}

// mysqlBoolStatus maps the ON/OFF (and similar) values that matter for
// alerting to 1/0; other text values are skipped.
var mysqlBoolStatus = setOf(
	"slave_running", "replica_running", "wsrep_ready", "wsrep_connected",
	"rpl_semi_sync_master_status", "rpl_semi_sync_slave_status",
	"rpl_semi_sync_source_status", "rpl_semi_sync_replica_status",
	"innodb_buffer_pool_load_incomplete",
)

func mysqlStatusIsGauge(lower string) bool {
	if mysqlStatusGauges[lower] {
		return true
	}
	for _, p := range mysqlGaugePrefixes {
		if strings.HasPrefix(lower, p) {
			return true
		}
	}
	return false
}

// parseStatusValue reads a status value as a number: integers stay exact,
// values beyond int64 (wsrep ids print as 2^64-1) and decimals become
// floats, and the switch-like values of mysqlBoolStatus become 1/0.
func parseStatusValue(lower, v string) (numberValue, bool) {
	if v == "" {
		return numberValue{}, false
	}
	if i, err := strconv.ParseInt(v, 10, 64); err == nil {
		return intNumber(i), true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) && isDecimal(v) {
		return floatNumber(f), true
	}
	if mysqlBoolStatus[lower] {
		switch strings.ToUpper(v) {
		case "ON", "YES", "TRUE":
			return intNumber(1), true
		case "OFF", "NO", "FALSE", "CONNECTING":
			return intNumber(0), true
		}
	}
	if lower == "wsrep_cluster_status" {
		return intNumber(boolInt(strings.EqualFold(v, "Primary"))), true
	}
	return numberValue{}, false
}

// isDecimal rejects what ParseFloat accepts but a status value never means
// as a number ("Inf", hex floats).
func isDecimal(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
			return false
		}
	}
	return true
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
