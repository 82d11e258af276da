package databases

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
)

// Stat metric categories, in the order the picker shows them.
const (
	CatStat        = "stat"
	CatSessions    = "sessions"
	CatWait        = "wait"
	CatIO          = "io"
	CatReplication = "replication"
)

var categoryOrder = map[string]int{CatStat: 0, CatSessions: 1, CatWait: 2, CatIO: 3, CatReplication: 4}

// catalogEntry is one metric the picker offers, with the PromQL that
// charts it for this instance.
type catalogEntry struct {
	Name     string `json:"name"`   // e.g. Threads_running, xact_commit
	Metric   string `json:"metric"` // the TSDB metric name
	Category string `json:"category"`
	Type     string `json:"type"` // counter (charted as a per-second rate) or gauge
	Unit     string `json:"unit"` // "/s", "s", "bytes", "bytes/s" or ""
	Query    string `json:"query"`
}

// rule maps metric-name prefixes (after the engine prefix) to a category.
type rule struct {
	prefixes []string
	category string
}

var mysqlRules = []rule{
	{[]string{"threads_", "connections", "aborted_", "max_used_connections", "connection_errors_"}, CatSessions},
	{[]string{"innodb_row_lock_", "table_locks_", "innodb_buffer_pool_wait_free", "innodb_log_waits", "innodb_deadlocks"}, CatWait},
	{[]string{"innodb_data_", "innodb_buffer_pool_", "innodb_pages_", "innodb_os_log_", "innodb_log_", "bytes_", "innodb_dblwr_", "key_read", "key_write", "key_blocks_", "created_tmp_disk", "innodb_page"}, CatIO},
	{[]string{"slave_", "rpl_", "replica_", "wsrep_", "binlog_"}, CatReplication},
}

var pgRules = []rule{
	{[]string{"connections", "stat_database_numbackends", "settings_max_connections"}, CatSessions},
	{[]string{"locks", "stat_database_deadlocks", "stat_database_conflicts"}, CatWait},
	{[]string{"stat_database_blks_", "stat_database_blk_", "stat_database_temp_", "stat_bgwriter_", "stat_checkpointer_"}, CatIO},
	{[]string{"replication_", "database_xid_age", "oldest_transaction_age"}, CatReplication},
}

// engine-neutral metrics the db module sends for every engine.
var commonCategory = map[string]string{
	"osprey_db_up":                       CatStat,
	"osprey_db_sessions_total":           CatSessions,
	"osprey_db_sessions_active":          CatSessions,
	"osprey_db_lock_waits":               CatWait,
	"osprey_db_collect_duration_seconds": CatStat,
}

// gauges are metrics whose names end in _total without being counters.
var gauges = map[string]bool{"osprey_db_sessions_total": true}

// byLabel says which label a metric is split by on its chart.
var byLabel = map[string]string{
	"pg_connections":                    "state",
	"pg_locks":                          "mode",
	"pg_replication_replay_lag_seconds": "application_name",
	"pg_database_xid_age":               "datname",
}

func categorize(engine, metric string) (name, category string, ok bool) {
	if c, ok := commonCategory[metric]; ok {
		return strings.TrimPrefix(metric, "osprey_"), c, true
	}
	var rules []rule
	var rest string
	switch {
	case engine == "mysql" && strings.HasPrefix(metric, "mysql_global_status_"):
		rest, rules = strings.TrimPrefix(metric, "mysql_global_status_"), mysqlRules
		name = mysqlName(strings.TrimSuffix(rest, "_total"))
	case engine == "mysql" && strings.HasPrefix(metric, "mysql_"):
		rest, rules = strings.TrimPrefix(metric, "mysql_"), mysqlRules
		name = rest
	case engine == "postgresql" && strings.HasPrefix(metric, "pg_"):
		rest, rules = strings.TrimPrefix(metric, "pg_"), pgRules
		name = strings.TrimSuffix(rest, "_total")
		name = strings.TrimPrefix(name, "stat_database_")
	default:
		return "", "", false
	}
	if metric == "mysql_replica_lag_seconds" {
		return "replica_lag", CatReplication, true
	}
	for _, r := range rules {
		for _, p := range r.prefixes {
			if strings.HasPrefix(rest, p) {
				return name, r.category, true
			}
		}
	}
	return name, CatStat, true
}

// mysqlName restores the usual capital of a status variable
// (threads_running → Threads_running) as DBAs know them.
func mysqlName(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Catalog builds the picker's entries from the metric names an instance
// has reported.
func Catalog(engine, id string, metrics []string) []catalogEntry {
	sel := `{osprey_agent_id="` + escape(id) + `"}`
	out := make([]catalogEntry, 0, len(metrics))
	for _, m := range metrics {
		name, cat, ok := categorize(engine, m)
		if !ok {
			continue
		}
		e := catalogEntry{Name: name, Metric: m, Category: cat, Type: "gauge"}
		agg := "sum"
		if l, ok := byLabel[m]; ok && l != "" {
			agg = "sum by (" + l + ")"
		}
		if strings.HasSuffix(m, "_seconds") || strings.HasSuffix(m, "_seconds_total") {
			e.Unit = "s"
		}
		if strings.HasSuffix(m, "_bytes") || strings.Contains(m, "_bytes_") || strings.HasPrefix(m, "mysql_global_status_bytes_") {
			e.Unit = "bytes"
		}
		if strings.HasSuffix(m, "_total") && !gauges[m] {
			e.Type = "counter"
			switch e.Unit {
			case "bytes":
				e.Unit = "bytes/s"
			case "s":
				e.Unit = "s/s"
			default:
				e.Unit = "/s"
			}
			e.Query = agg + "(rate(" + m + sel + "[1m]))"
		} else {
			e.Query = agg + "(" + m + sel + ")"
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Category != out[j].Category {
			return categoryOrder[out[i].Category] < categoryOrder[out[j].Category]
		}
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out
}

// escape makes s safe inside a double-quoted PromQL string.
func escape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// metricNames lists the metric names an instance reported in the last
// hour.
func (h *handler) metricNames(ctx context.Context, project int64, id string) ([]string, error) {
	now := h.now()
	q, err := h.ms.Queryable(project).Querier(now.Add(-time.Hour).UnixMilli(), now.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer q.Close()
	vals, _, err := q.LabelValues(ctx, model.MetricNameLabel, nil, labels.MustNewMatcher(labels.MatchEqual, "osprey_agent_id", id))
	return vals, err
}

func (h *handler) catalog(w http.ResponseWriter, r *http.Request) {
	project, a, ok := h.find(w, r)
	if !ok {
		return
	}
	names, err := h.metricNames(r.Context(), project, a.ID)
	if err != nil {
		envelope.WriteError(w, http.StatusInternalServerError, "internal", "list metrics: "+err.Error())
		return
	}
	envelope.WriteData(w, map[string]any{
		"engine": a.Labels["db.system"], "categories": []string{CatStat, CatSessions, CatWait, CatIO, CatReplication},
		"metrics": Catalog(a.Labels["db.system"], a.ID, names),
	})
}
