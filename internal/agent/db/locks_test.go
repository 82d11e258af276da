package db

import (
	"strings"
	"testing"

	"github.com/osprey-monitoring/osprey/internal/sqlmask"
)

func TestPickMySQLLockSource(t *testing.T) {
	mariadb := setOf(tblInnoDBTrx, tblInnoDBLocks, tblInnoDBLockWaits, tblThreads, tblStmtCurrent)
	mysql8 := setOf(tblInnoDBTrx, tblDataLocks, tblDataLockWaits, tblThreads, tblStmtCurrent)
	both := setOf(tblInnoDBTrx, tblInnoDBLocks, tblInnoDBLockWaits, tblDataLocks, tblDataLockWaits)
	tests := []struct {
		name   string
		tables map[string]bool
		ps     bool
		want   mysqlLockSource
	}{
		{"mariadb, ps off", mariadb, false, lockSourceInnoDBIS},
		{"mariadb, ps on", mariadb, true, lockSourceInnoDBIS},
		{"mysql 8, ps on", mysql8, true, lockSourcePerfSchema},
		{"mysql 8, ps off: data_lock_waits stays empty", mysql8, false, lockSourceNone},
		{"both present, ps on: the maintained one", both, true, lockSourcePerfSchema},
		{"both present, ps off", both, false, lockSourceInnoDBIS},
		{"no innodb", setOf(tblThreads), true, lockSourceNone},
	}
	for _, tt := range tests {
		if got := pickMySQLLockSource(tt.tables, tt.ps); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMySQLLockQuery(t *testing.T) {
	if q := mysqlLockQuery(lockSourceNone, true); q != "" {
		t.Errorf("no source gives a query: %s", q)
	}
	tests := []struct {
		src      mysqlLockSource
		lastStmt bool
		want     []string
		not      []string
	}{
		{lockSourceInnoDBIS, false,
			[]string{"information_schema.INNODB_LOCK_WAITS", "INNODB_LOCKS rl", "rl.lock_table", "PROCESSLIST bp"},
			[]string{"performance_schema"}},
		{lockSourceInnoDBIS, true,
			[]string{"performance_schema.threads bth ON bth.PROCESSLIST_ID = bt.trx_mysql_thread_id", "bs.THREAD_ID = bth.THREAD_ID", "bs.SQL_TEXT"},
			nil},
		{lockSourcePerfSchema, false,
			[]string{"performance_schema.data_lock_waits w", "REQUESTING_ENGINE_LOCK_ID", "rl.OBJECT_NAME", "rl.INDEX_NAME"},
			[]string{"INNODB_LOCK_WAITS", "INNODB_LOCKS", "events_statements_current"}},
		{lockSourcePerfSchema, true,
			[]string{"bs.THREAD_ID = w.BLOCKING_THREAD_ID"},
			[]string{"performance_schema.threads"}},
	}
	for _, tt := range tests {
		q := mysqlLockQuery(tt.src, tt.lastStmt)
		for _, w := range tt.want {
			if !strings.Contains(q, w) {
				t.Errorf("src %d last %v: query lacks %q:\n%s", tt.src, tt.lastStmt, w, q)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(q, n) {
				t.Errorf("src %d last %v: query has %q:\n%s", tt.src, tt.lastStmt, n, q)
			}
		}
		// Both shapes feed one scanner of 16 columns: two thread ids, 13
		// COALESCEd values and the holder's last statement ('' without).
		want := 13 + int(boolInt(tt.lastStmt))
		if got := strings.Count(strings.SplitN(q, "\nFROM", 2)[0], "COALESCE("); got != want {
			t.Errorf("src %d last %v: %d COALESCE columns, want %d", tt.src, tt.lastStmt, got, want)
		}
	}
}

func TestMySQLLockEdges(t *testing.T) {
	rows := []mysqlLockRow{
		// The holder sits idle in its transaction: no current query, the
		// last statement from performance_schema (nested levels give two rows).
		{waiterID: 12, holderID: 11, mode: "X", lockType: "RECORD", table: "`shop`.`orders`", index: "`PRIMARY`",
			holderMode: "X", waitSeconds: 4, waiterQuery: "UPDATE orders SET v = v + 1 WHERE id = 1",
			holderCommand: "Sleep", holderTrxSeconds: 9, waiterUser: "app", holderUser: "batch"},
		{waiterID: 12, holderID: 11, holderCommand: "Sleep", holderLast: "UPDATE orders SET v = 5 WHERE id = 1"},
		// A busy holder with a running statement.
		{waiterID: 13, holderID: 14, mode: "S", lockType: "TABLE", table: "shop.items", holderCommand: "Query",
			holderState: "Sending data", holderQuery: "SELECT * FROM items FOR UPDATE"},
		// Idle holder and no performance_schema: nothing to show but the state.
		{waiterID: 15, holderID: 16, table: "`a``b`.`c`", holderCommand: "Sleep"},
	}
	edges := mysqlLockEdges(rows, func(q string) string { return sqlmask.Mask(q, sqlmask.MySQL) })
	if len(edges) != 3 {
		t.Fatalf("want 3 edges (one per waiter and holder), got %d", len(edges))
	}
	e := edges[0]
	if e.WaiterId != "12" || e.HolderId != "11" || e.Table != "shop.orders" || e.Index != "PRIMARY" ||
		e.LockMode != "X" || e.LockType != "RECORD" || e.WaitSeconds != 4 || e.HolderTransactionSeconds != 9 {
		t.Errorf("edge fields: %+v", e)
	}
	if e.WaiterQuery != "UPDATE orders SET v = v + ? WHERE id = ?" || e.HolderQuery != "UPDATE orders SET v = ? WHERE id = ?" {
		t.Errorf("queries: waiter %q holder %q", e.WaiterQuery, e.HolderQuery)
	}
	if e.HolderState != "idle in transaction" {
		t.Errorf("idle holder state %q", e.HolderState)
	}
	if b := edges[1]; b.HolderState != "Sending data" || b.HolderQuery != "SELECT * FROM items FOR UPDATE" {
		t.Errorf("busy holder: %+v", b)
	}
	if c := edges[2]; c.Table != "a`b.c" || c.HolderQuery != "" || c.HolderState != "idle in transaction" {
		t.Errorf("idle holder without ps: %+v", c)
	}
}

func TestPGLockQueryByVersion(t *testing.T) {
	tests := []struct {
		version   int
		wantWait  bool
		wantMater bool
	}{
		{100000, false, false},
		{120000, false, true},
		{140000, true, true},
		{170000, true, true},
	}
	for _, tt := range tests {
		q := pgLockQuery(tt.version)
		if got := strings.Contains(q, "waitstart"); got != tt.wantWait {
			t.Errorf("%d: waitstart %v, want %v", tt.version, got, tt.wantWait)
		}
		if got := strings.Contains(q, "MATERIALIZED"); got != tt.wantMater {
			t.Errorf("%d: MATERIALIZED %v, want %v", tt.version, got, tt.wantMater)
		}
		if !strings.Contains(q, "pg_blocking_pids(w.pid)") {
			t.Errorf("%d: no pg_blocking_pids", tt.version)
		}
	}
}

func TestPGStatementsQuery(t *testing.T) {
	if q := pgStatementsQuery("public", "1.10"); !strings.Contains(q, "s.total_exec_time") || !strings.Contains(q, `"public"."pg_stat_statements"`) {
		t.Errorf("1.10: %s", q)
	}
	if q := pgStatementsQuery("ext", "1.7"); !strings.Contains(q, "s.total_time") || !strings.Contains(q, "s.max_time") {
		t.Errorf("1.7: %s", q)
	}
	if versionBefore("2.0", 1, 8) || !versionBefore("1.4", 1, 8) || versionBefore("1.8", 1, 8) {
		t.Error("versionBefore")
	}
}

func TestMySQLSessionsQueryColumns(t *testing.T) {
	maria := mysqlSessionsQuery(true, setOf("TIME_MS", "EXAMINED_ROWS"))
	if !strings.Contains(maria, "p.TIME_MS / 1000") || !strings.Contains(maria, "p.EXAMINED_ROWS") ||
		strings.Contains(maria, "SENT_ROWS") || !strings.Contains(maria, "INNODB_TRX t") {
		t.Errorf("mariadb sessions query:\n%s", maria)
	}
	plain := mysqlSessionsQuery(false, setOf())
	if strings.Contains(plain, "TIME_MS") || strings.Contains(plain, "INNODB_TRX") {
		t.Errorf("plain sessions query:\n%s", plain)
	}
}
