package databases

import (
	"strings"
	"testing"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

func TestBuildLockTree(t *testing.T) {
	tests := []struct {
		name  string
		waits []*agentpb.DBLockWait
		want  string // roots rendered as id(children...)
	}{
		{"none", nil, ""},
		{"one holder two waiters, longest first", []*agentpb.DBLockWait{
			{WaiterId: "2", HolderId: "1", WaitSeconds: 3},
			{WaiterId: "3", HolderId: "1", WaitSeconds: 9},
		}, "1[2](3 2)"},
		{"chain", []*agentpb.DBLockWait{
			{WaiterId: "3", HolderId: "2", WaitSeconds: 1},
			{WaiterId: "2", HolderId: "1", WaitSeconds: 5},
		}, "1[2](2[1](3))"},
		{"two trees, bigger first", []*agentpb.DBLockWait{
			{WaiterId: "9", HolderId: "8"},
			{WaiterId: "2", HolderId: "1"}, {WaiterId: "3", HolderId: "1"},
		}, "1[2](2 3) 8[1](9)"},
		{"deadlock cycle", []*agentpb.DBLockWait{
			{WaiterId: "1", HolderId: "2", WaitSeconds: 2},
			{WaiterId: "2", HolderId: "1", WaitSeconds: 4},
		}, "1[2](2[1](1!))"},
	}
	var render func(n *lockNode) string
	render = func(n *lockNode) string {
		s := n.ID
		if n.Cycle {
			return s + "!"
		}
		if len(n.Children) > 0 {
			var kids []string
			for _, c := range n.Children {
				kids = append(kids, render(c))
			}
			s += "[" + itoa(n.Blocking) + "](" + strings.Join(kids, " ") + ")"
		}
		return s
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var parts []string
			for _, r := range BuildLockTree(tt.waits) {
				parts = append(parts, render(r))
			}
			if got := strings.Join(parts, " "); got != tt.want {
				t.Errorf("tree %q, want %q", got, tt.want)
			}
		})
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestLockTreeCarriesBothQueries(t *testing.T) {
	roots := BuildLockTree([]*agentpb.DBLockWait{{
		WaiterId: "42", HolderId: "41", LockMode: "X", LockType: "RECORD", Table: "`shop`.`stock`", Index: "PRIMARY",
		WaitSeconds: 7, WaiterQuery: "UPDATE stock SET n=n-1 WHERE id=?", HolderQuery: "UPDATE stock SET n=n+1 WHERE id=?",
		WaiterUser: "app", HolderUser: "batch", HolderState: "idle in transaction",
	}})
	if len(roots) != 1 || len(roots[0].Children) != 1 {
		t.Fatalf("want one holder with one waiter, got %+v", roots)
	}
	h, w := roots[0], roots[0].Children[0]
	if h.ID != "41" || h.Query != "UPDATE stock SET n=n+1 WHERE id=?" || h.User != "batch" || h.State != "idle in transaction" || h.Blocking != 1 {
		t.Errorf("holder %+v", h)
	}
	if w.ID != "42" || w.Query != "UPDATE stock SET n=n-1 WHERE id=?" || w.WaitMode != "X" || w.Table != "`shop`.`stock`" || w.Index != "PRIMARY" || w.WaitSeconds != 7 {
		t.Errorf("waiter %+v", w)
	}
}

func TestSumStatements(t *testing.T) {
	snaps := []*agentpb.DBStatements{
		{Available: true, Statements: []*agentpb.DBStatement{
			{Digest: "a", Database: "shop", Text: "SELECT ?", Calls: 10, TotalSeconds: 1, Rows: 10, MaxSeconds: 0.3},
			{Digest: "b", Database: "shop", Text: "UPDATE t", Calls: 1, TotalSeconds: 5, Errors: 1},
		}},
		{Available: true, Statements: []*agentpb.DBStatement{
			{Digest: "a", Database: "shop", Text: "SELECT ?", Calls: 30, TotalSeconds: 2, Rows: 30, MaxSeconds: 0.2},
			{Digest: "a", Database: "other", Text: "SELECT ?", Calls: 1, TotalSeconds: 0.5},
		}},
	}
	got := SumStatements(snaps)
	if len(got) != 3 {
		t.Fatalf("got %d statements, want 3 (same digest in two databases stays apart)", len(got))
	}
	a := got[0]
	if a.Digest != "a" || a.Database != "shop" || a.Calls != 40 || a.TotalSeconds != 3 || a.Rows != 40 || a.MaxSeconds != 0.3 || a.AvgSeconds != 3.0/40 {
		t.Errorf("summed %+v", a)
	}
}

func TestCatalog(t *testing.T) {
	got := Catalog("mysql", `id"1`, []string{
		"mysql_global_status_threads_running", "mysql_global_status_questions_total",
		"mysql_global_status_innodb_row_lock_waits_total", "mysql_global_status_bytes_received_total",
		"osprey_db_up", "system_cpu_time_seconds_total", "pg_locks",
	})
	byName := map[string]catalogEntry{}
	for _, e := range got {
		byName[e.Name] = e
	}
	if len(got) != 5 {
		t.Errorf("got %d entries, want 5 (other engines' and host metrics left out): %+v", len(got), got)
	}
	tr := byName["Threads_running"]
	if tr.Category != CatSessions || tr.Type != "gauge" || tr.Query != `sum(mysql_global_status_threads_running{osprey_agent_id="id\"1"})` {
		t.Errorf("Threads_running %+v", tr)
	}
	q := byName["Questions"]
	if q.Category != CatStat || q.Type != "counter" || q.Unit != "/s" || q.Query != `sum(rate(mysql_global_status_questions_total{osprey_agent_id="id\"1"}[1m]))` {
		t.Errorf("Questions %+v", q)
	}
	if e := byName["Innodb_row_lock_waits"]; e.Category != CatWait {
		t.Errorf("row lock waits %+v", e)
	}
	if e := byName["Bytes_received"]; e.Category != CatIO || e.Unit != "bytes/s" {
		t.Errorf("bytes received %+v", e)
	}
	pg := Catalog("postgresql", "x", []string{"pg_connections", "pg_stat_database_xact_commit_total", "pg_stat_database_blks_read_total"})
	if len(pg) != 3 || pg[0].Name != "xact_commit" || pg[1].Query != `sum by (state)(pg_connections{osprey_agent_id="x"})` || pg[2].Category != CatIO {
		t.Errorf("postgres catalog %+v", pg)
	}
}
