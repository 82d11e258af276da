package db

import (
	"strings"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/sqlmask"
)

func TestStatementDeltas(t *testing.T) {
	k := func(d string) stmtKey { return stmtKey{database: "app", digest: d} }
	prev := map[stmtKey]stmtCounters{
		k("steady"): {text: "SELECT ?", calls: 100, totalSeconds: 10, rows: 1000, rowsExamined: 5000, errors: 1, maxSeconds: 2},
		k("idle"):   {calls: 5, totalSeconds: 1},
		k("reset"):  {calls: 900, totalSeconds: 90, rows: 9},
		k("gone"):   {calls: 1, totalSeconds: 1},
	}
	cur := map[stmtKey]stmtCounters{
		k("steady"): {text: "SELECT ?", calls: 110, totalSeconds: 12.5, rows: 1100, rowsExamined: 5500, errors: 1, maxSeconds: 3},
		k("idle"):   {calls: 5, totalSeconds: 1},
		k("reset"):  {calls: 4, totalSeconds: 0.5, rows: 2},   // calls went down: reset, counts whole
		k("new"):    {calls: 3, totalSeconds: 6, rows: 3},     // not seen before: counts whole
		k("odd"):    {calls: 1, totalSeconds: 0.1, errors: 2}, // new too
	}
	got := statementDeltas(prev, cur, 3)
	if len(got) != 3 {
		t.Fatalf("top 3: got %d", len(got))
	}
	order := []string{got[0].Digest, got[1].Digest, got[2].Digest}
	if strings.Join(order, ",") != "new,steady,reset" {
		t.Fatalf("order by total time: %v", order)
	}
	s := got[1]
	if s.Calls != 10 || s.TotalSeconds != 2.5 || s.Rows != 100 || s.RowsExamined != 500 || s.Errors != 0 || s.MaxSeconds != 3 || s.Database != "app" {
		t.Errorf("steady delta wrong: %+v", s)
	}
	if r := got[2]; r.Calls != 4 || r.TotalSeconds != 0.5 || r.Rows != 2 {
		t.Errorf("reset should use the new values: %+v", r)
	}
	all := statementDeltas(prev, cur, 100)
	for _, st := range all {
		if st.Digest == "idle" || st.Digest == "gone" {
			t.Errorf("%s listed without work in the interval", st.Digest)
		}
	}
	if len(all) != 4 {
		t.Errorf("want 4 statements with work, got %d", len(all))
	}
}

func TestSubCounterReset(t *testing.T) {
	if subCounter(10, 4) != 6 || subCounter(3, 10) != 3 || subFloat(1.5, 2) != 1.5 || subFloat(2, 0.5) != 1.5 {
		t.Fatal("counter deltas wrong")
	}
}

func TestStmtTracker(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := stmtTracker{every: 5 * time.Minute, top: 10}
	if !tr.due(t0) {
		t.Fatal("first reading must be due at once")
	}
	sample := func(calls uint64) stmtSample {
		return stmtSample{available: true, rows: map[stmtKey]stmtCounters{{digest: "d"}: {calls: calls, totalSeconds: float64(calls)}}}
	}
	if body := tr.observe(t0, sample(10)); body != nil {
		t.Fatalf("baseline sent a snapshot: %v", body)
	}
	if tr.due(t0.Add(4 * time.Minute)) {
		t.Fatal("due before the interval")
	}
	t1 := t0.Add(5 * time.Minute)
	body := tr.observe(t1, sample(25))
	if body == nil || !body.Available || body.IntervalSeconds != 300 || len(body.Statements) != 1 || body.Statements[0].Calls != 15 {
		t.Fatalf("second reading: %+v", body)
	}
	// The source goes away: say so, and start again from a baseline.
	body = tr.observe(t1.Add(5*time.Minute), stmtSample{hint: "enable it"})
	if body == nil || body.Available || body.Hint != "enable it" {
		t.Fatalf("unavailable: %+v", body)
	}
	if body := tr.observe(t1.Add(10*time.Minute), sample(30)); body != nil {
		t.Fatal("a reading after unavailability must be a baseline")
	}
	tr.failed(t1.Add(11 * time.Minute))
	if tr.due(t1.Add(15 * time.Minute)) {
		t.Fatal("a failed reading must wait an interval")
	}
}

func TestMySQLStatusClassification(t *testing.T) {
	tests := []struct {
		name, value string
		gauge, ok   bool
		isInt       bool
		v           float64
	}{
		{"Threads_running", "3", true, true, true, 3},
		{"Questions", "12345", false, true, true, 12345},
		{"Com_select", "7", false, true, true, 7},
		{"Innodb_buffer_pool_pages_dirty", "12", true, true, true, 12},
		{"Innodb_buffer_pool_pages_flushed", "12", false, true, true, 12},
		{"Innodb_buffer_pool_bytes_data", "4931584", true, true, true, 4931584},
		{"Memory_used_initial", "443368776", true, true, true, 443368776},
		{"Busy_time", "0.250000", false, true, false, 0.25},
		{"wsrep_cluster_conf_id", "18446744073709551615", true, true, false, 18446744073709551615},
		{"Slave_running", "OFF", true, true, true, 0},
		{"wsrep_ready", "ON", true, true, true, 1},
		{"wsrep_cluster_status", "Primary", true, true, true, 1},
		{"Innodb_have_lz4", "OFF", false, false, false, 0},
		{"Ssl_cipher", "", false, false, false, 0},
		{"Innodb_buffer_pool_load_status", "Buffer pool(s) load completed", false, false, false, 0},
		{"Rpl_status", "AUTH_MASTER", false, false, false, 0},
		{"Max_memory_used", "NULL", true, false, false, 0},
		{"Compression", "Inf", false, false, false, 0},
	}
	for _, tt := range tests {
		lower := strings.ToLower(tt.name)
		v, ok := parseStatusValue(lower, tt.value)
		if ok != tt.ok {
			t.Errorf("%s=%q: parsed %v, want %v", tt.name, tt.value, ok, tt.ok)
			continue
		}
		if !ok {
			continue
		}
		if v.isInt != tt.isInt || v.f != tt.v {
			t.Errorf("%s=%q: value %+v, want %v (int %v)", tt.name, tt.value, v, tt.v, tt.isInt)
		}
		if g := mysqlStatusIsGauge(lower); g != tt.gauge {
			t.Errorf("%s: gauge %v, want %v", tt.name, g, tt.gauge)
		}
	}
}

func TestMySQLSessionSample(t *testing.T) {
	all := []mysqlSession{
		{id: 1, user: "event_scheduler", command: "Daemon"},
		{id: 2, user: "app", command: "Sleep", seconds: 500},
		{id: 3, user: "app", command: "Sleep", seconds: 40, trxState: "RUNNING", trxSeconds: 40},
		{id: 4, user: "app", command: "Query", seconds: 1.5, info: "SELECT * FROM t WHERE a = 'x'"},
		{id: 5, user: "app", command: "Query", seconds: 30, state: "Updating", info: "UPDATE t SET v = 1", trxState: "LOCK WAIT", trxSeconds: 31},
		{id: 6, user: "mon", command: "Query", seconds: 0, self: true, info: "SELECT ... PROCESSLIST"},
		{id: 7, user: "app", command: "Query", seconds: 9, state: "Waiting for table metadata lock", info: "ALTER TABLE t ADD c INT"},
		{id: 8, user: "repl", command: "Binlog Dump", seconds: 9999},
	}
	s := mysqlSessionSample(all, 2, func(q string) string { return sqlmask.Mask(q, sqlmask.MySQL) })
	b := s.body
	if b.Total != 7 || b.Active != 3 || b.IdleInTransaction != 1 || s.blocked != 2 {
		t.Fatalf("counts: total %d active %d idle-in-tx %d blocked %d", b.Total, b.Active, b.IdleInTransaction, s.blocked)
	}
	if len(b.Sessions) != 2 || b.Sessions[0].Id != "5" || b.Sessions[1].Id != "7" {
		t.Fatalf("want the two longest-running (5, 7), got %v", b.Sessions)
	}
	w := b.Sessions[0]
	if !w.Blocked || w.WaitEvent != "InnoDB row lock" || w.Query != "UPDATE t SET v = ?" || w.TransactionSeconds != 31 {
		t.Errorf("row-lock waiter: %+v", w)
	}
	if m := b.Sessions[1]; !m.Blocked || m.WaitEvent != "Waiting for table metadata lock" {
		t.Errorf("metadata-lock waiter: %+v", m)
	}
}
