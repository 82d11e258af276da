package db

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/agent/db/dbtest"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// Integration tests run against the machine's MariaDB (127.0.0.1:3306,
// root) and PostgreSQL (127.0.0.1:5432, postgres), each in a database and
// with a monitoring user of its own, and against private servers started
// from the installed binaries. Without the servers they skip, except in
// CI.

func mysqlFixture(t testing.TB) *dbtest.Fixture {
	return dbtest.NewMySQLFixture(t, dbtest.SystemMySQLDSN())
}

func pgFixture(t testing.TB) *dbtest.Fixture {
	return dbtest.NewPostgresFixture(t, dbtest.SystemPostgresDSN())
}

// (a) Status counters move between cycles and carry the instance's
// identity.
func TestMySQLStatsMove(t *testing.T) {
	f := mysqlFixture(t)
	in := newTestInstance(t, EngineMySQL, f.MonitorDSN, nil)
	out1 := mustCycle(t, in, time.Now())
	t.Logf("MySQL first cycle (probe, statements check): %d queries", in.r.queries)
	q1 := mustValue(t, out1.Metrics, "mysql.global.status.questions")
	s1 := mustValue(t, out1.Metrics, "mysql.global.status.com_select")

	for range 20 {
		var one int
		if err := f.Admin.QueryRow("SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
	out2 := mustCycle(t, in, time.Now())
	t.Logf("MySQL steady cycle: %d queries", in.r.queries)
	if q2 := mustValue(t, out2.Metrics, "mysql.global.status.questions"); q2-q1 < 20 {
		t.Errorf("questions moved %v, want >= 20", q2-q1)
	}
	if s2 := mustValue(t, out2.Metrics, "mysql.global.status.com_select"); s2-s1 < 20 {
		t.Errorf("com_select moved %v, want >= 20", s2-s1)
	}

	md := out2.Metrics
	if m, _ := findMetric(md, "mysql.global.status.threads_running"); m.Type() != pmetric.MetricTypeGauge {
		t.Errorf("threads_running is %v, want a gauge", m.Type())
	}
	m, _ := findMetric(md, "mysql.global.status.questions")
	if m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() ||
		m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
		t.Fatalf("questions is not a monotonic cumulative sum: %v", m.Type())
	}
	dp := m.Sum().DataPoints().At(0)
	uptime := mustValue(t, md, "mysql.global.status.uptime")
	if start := dp.StartTimestamp().AsTime(); start.IsZero() || time.Since(start) < time.Duration(uptime-5)*time.Second {
		t.Errorf("questions start %s does not match an uptime of %vs", start, uptime)
	}
	if v := mustValue(t, md, "mysql.global.variables.max_connections"); v <= 0 {
		t.Errorf("max_connections %v", v)
	}
	checkNeutral(t, in, out2, "mysql", 3306)
}

func TestPostgresStatsMove(t *testing.T) {
	f := pgFixture(t)
	in := newTestInstance(t, EnginePostgreSQL, f.MonitorDSN, nil)
	out1 := mustCycle(t, in, time.Now())
	t.Logf("PostgreSQL first cycle (probe, statements check): %d queries", in.r.queries)
	c1 := mustValue(t, out1.Metrics, "pg.stat_database.xact_commit", "datname", f.Database)
	for range 10 {
		var one int
		if err := f.Admin.QueryRow("SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
	// Backends flush their statistics at most once a second, and an idle
	// one up to 10 s later.
	out2 := poll(t, in, 20*time.Second, "xact_commit grow by 10", func(o Output) bool {
		c2, _ := metricValue(o.Metrics, "pg.stat_database.xact_commit", "datname", f.Database)
		return c2-c1 >= 10
	})
	t.Logf("PostgreSQL steady cycle: %d queries", in.r.queries)
	md := out2.Metrics
	m, _ := findMetric(md, "pg.stat_database.xact_commit")
	if m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() || m.Sum().DataPoints().At(0).StartTimestamp() == 0 {
		t.Errorf("xact_commit is not a monotonic sum with a start")
	}
	if m, _ := findMetric(md, "pg.stat_database.blk_read_time"); m.Unit() != "s" {
		t.Errorf("blk_read_time unit %q, want s", m.Unit())
	}
	for _, name := range []string{"pg.stat_database.numbackends", "pg.database.xid_age", "pg.settings.max_connections",
		"pg.oldest_transaction.age", "pg.stat_bgwriter.buffers_alloc", "pg.stat_database.deadlocks",
		"pg.stat_database.tup_fetched", "pg.stat_database.temp_bytes"} {
		mustValue(t, md, name)
	}
	// Every common state is sent, at zero too (the server is shared with
	// other tests, so the counts themselves are not checked).
	for _, state := range []string{"active", "idle", "idle in transaction", "idle in transaction (aborted)"} {
		mustValue(t, md, "pg.connections", "state", state)
	}
	if _, ok := metricValue(md, "pg.replication.lag"); ok {
		t.Error("a primary reports standby lag")
	}
	checkNeutral(t, in, out2, "postgresql", 5432)
}

// checkNeutral checks what every engine sends the same way.
func checkNeutral(t *testing.T, in *instance, out Output, system string, port int64) {
	t.Helper()
	md := out.Metrics
	if md.ResourceMetrics().Len() != 1 {
		t.Fatalf("%d ResourceMetrics, want 1", md.ResourceMetrics().Len())
	}
	want := map[string]string{
		wire.AttrAgentID: InstanceID(testAgentID, in.s.name), wire.AttrAgentName: in.s.name,
		wire.AttrAgentGroup: "it", wire.AttrAgentKind: "db", "db.system": system, "server.address": "127.0.0.1",
	}
	for k, v := range want {
		if got, ok := resourceAttr(md, k); !ok || got.AsString() != v {
			t.Errorf("resource %s = %v, want %s", k, got.AsString(), v)
		}
	}
	if p, _ := resourceAttr(md, "server.port"); p.Int() != port {
		t.Errorf("server.port %v", p.AsString())
	}
	if v, _ := resourceAttr(md, "db.version"); v.AsString() == "" {
		t.Error("no db.version")
	}
	if v := mustValue(t, md, MetricUp); v != 1 {
		t.Errorf("up %v", v)
	}
	if v := mustValue(t, md, MetricSessionsTotal); v < 1 {
		t.Errorf("sessions.total %v", v)
	}
	mustValue(t, md, MetricSessionsActive)
	mustValue(t, md, MetricLockWaits)
	if v := mustValue(t, md, MetricCollectDuration); v <= 0 || v > 5 {
		t.Errorf("collect.duration %v", v)
	}
	if out.Push == nil || snapshotOf(out, SnapshotSessions) == nil {
		t.Fatal("no db_sessions snapshot")
	}
	a := out.Push.Agent
	if a.Id != InstanceID(testAgentID, in.s.name) || a.Kind != "db" || a.Name != in.s.name || a.Group != "it" ||
		a.Version != "test" || a.Labels["db.system"] != system || !strings.HasPrefix(a.Labels["server.address"], "127.0.0.1:") ||
		a.Labels["db.version"] == "" {
		t.Errorf("push identity: %+v", a)
	}
}

// (b) A long statement shows in db_sessions with its text and time.
func TestMySQLLongQueryInSessions(t *testing.T) {
	f := mysqlFixture(t)
	in := newTestInstance(t, EngineMySQL, f.MonitorDSN, nil)
	conn, id := connWithID(t, f)
	done := make(chan error, 1)
	go func() {
		var v int
		done <- conn.QueryRowContext(context.Background(), "SELECT SLEEP(3)").Scan(&v)
	}()
	var got *agentpb.DBSession
	out := poll(t, in, 3*time.Second, "SELECT SLEEP(?) running for a second", func(o Output) bool {
		for _, s := range snapshotOf(o, SnapshotSessions).GetDbSessions().GetSessions() {
			if s.Id == id && s.Query == "SELECT SLEEP(?)" && s.TimeSeconds >= 1 {
				got = s
				return true
			}
		}
		return false
	})
	body := snapshotOf(out, SnapshotSessions).GetDbSessions()
	if got.Database != f.Database || got.Command != "Query" || got.User == "" || got.Host == "" || got.Id == "" || got.Blocked {
		t.Errorf("session: %+v", got)
	}
	if body.Total < 2 || body.Active < 1 {
		t.Errorf("counts: total %d active %d", body.Total, body.Active)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPostgresLongQueryInSessions(t *testing.T) {
	f := pgFixture(t)
	unmasked := false
	in := newTestInstance(t, EnginePostgreSQL, f.MonitorDSN, func(ic *InstanceConfig) { ic.MaskLiterals = &unmasked })
	conn, id := connWithID(t, f)
	done := make(chan error, 1)
	go func() {
		_, err := conn.ExecContext(context.Background(), "SELECT pg_sleep(3)")
		done <- err
	}()
	var got *agentpb.DBSession
	out := poll(t, in, 3*time.Second, "pg_sleep(3) running for a second", func(o Output) bool {
		for _, s := range snapshotOf(o, SnapshotSessions).GetDbSessions().GetSessions() {
			if s.Id == id && s.Query == "SELECT pg_sleep(3)" && s.TimeSeconds >= 1 {
				got = s
				return true
			}
		}
		return false
	})
	body := snapshotOf(out, SnapshotSessions).GetDbSessions()
	if got.Database != f.Database || got.State != "active" || got.Command != "client backend" ||
		got.WaitEvent != "Timeout:PgSleep" || got.User != "postgres" || got.TransactionSeconds < 1 || got.Blocked {
		t.Errorf("session: %+v", got)
	}
	if body.Total < 2 || body.Active < 1 {
		t.Errorf("counts: total %d active %d", body.Total, body.Active)
	}
	if v := mustValue(t, out.Metrics, MetricSessionsActive); v < 1 {
		t.Errorf("sessions.active %v", v)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// (c) A real row-lock wait shows as a holder→waiter edge.
func TestMySQLLockWait(t *testing.T) {
	f := mysqlFixture(t)
	createLockTable(t, f)
	in := newTestInstance(t, EngineMySQL, f.MonitorDSN, nil)
	holder, waiter, release := lockWait(t, f)
	e, out := waitForEdge(t, in, holder, waiter)
	checkMySQLEdge(t, e, f.Database)
	// The system server runs without performance_schema: the idle holder's
	// last statement is unknown, and the edge says why.
	if e.HolderQuery != "" || e.HolderState != "idle in transaction" {
		t.Errorf("holder without performance_schema: query %q state %q", e.HolderQuery, e.HolderState)
	}
	checkBlockedSession(t, out, waiter)
	release()
	checkEdgeGone(t, in, waiter)
}

func TestPostgresLockWait(t *testing.T) {
	f := pgFixture(t)
	createLockTable(t, f)
	in := newTestInstance(t, EnginePostgreSQL, f.MonitorDSN, nil)
	holder, waiter, release := lockWait(t, f)
	e, out := waitForEdge(t, in, holder, waiter)
	if e.Table != "t" || e.LockMode != "ShareLock" || e.LockType != "transactionid" || e.HolderMode != "ExclusiveLock" {
		t.Errorf("lock: table %q mode %q type %q holder mode %q", e.Table, e.LockMode, e.LockType, e.HolderMode)
	}
	if e.WaiterQuery != "UPDATE t SET v = v + ? WHERE id = ?" || e.HolderQuery != "UPDATE t SET v = v + ? WHERE id = ?" {
		t.Errorf("queries: waiter %q holder %q", e.WaiterQuery, e.HolderQuery)
	}
	if e.HolderState != "idle in transaction" || e.WaiterUser != "postgres" || e.HolderUser != "postgres" ||
		e.HolderTransactionSeconds <= 0 || e.WaitSeconds < 0 {
		t.Errorf("edge: %+v", e)
	}
	checkBlockedSession(t, out, waiter)
	release()
	checkEdgeGone(t, in, waiter)
}

// checkEdgeGone: once the wait is over the edge is not sent again. (The
// system servers are shared with other tests, so other waits may exist.)
// InnoDB refreshes its information_schema lock views at most every 100 ms,
// so the first cycle after the release may still see the wait.
func checkEdgeGone(t *testing.T, in *instance, waiter string) {
	t.Helper()
	poll(t, in, 2*time.Second, "the edge gone", func(o Output) bool {
		for _, e := range snapshotOf(o, SnapshotLocks).GetDbLocks().GetWaits() {
			if e.WaiterId == waiter {
				return false
			}
		}
		return true
	})
}

func waitForEdge(t *testing.T, in *instance, holder, waiter string) (*agentpb.DBLockWait, Output) {
	t.Helper()
	var edge *agentpb.DBLockWait
	out := poll(t, in, 10*time.Second, "the lock wait", func(o Output) bool {
		for _, e := range snapshotOf(o, SnapshotLocks).GetDbLocks().GetWaits() {
			if e.WaiterId == waiter && e.HolderId == holder {
				edge = e
				return true
			}
		}
		return false
	})
	t.Logf("queries in a cycle with a lock wait: %d", in.r.queries)
	return edge, out
}

func checkMySQLEdge(t *testing.T, e *agentpb.DBLockWait, database string) {
	t.Helper()
	if e.Table != database+".t" || e.LockMode != "X" || e.LockType != "RECORD" || e.Index != "PRIMARY" || e.HolderMode != "X" {
		t.Errorf("lock: table %q mode %q type %q index %q holder mode %q", e.Table, e.LockMode, e.LockType, e.Index, e.HolderMode)
	}
	if e.WaiterQuery != "UPDATE t SET v = v + ? WHERE id = ?" || e.WaiterUser != "root" || e.HolderUser != "root" {
		t.Errorf("waiter: %+v", e)
	}
	if e.WaitSeconds < 0 || e.HolderTransactionSeconds < 0 {
		t.Errorf("times: wait %v holder trx %v", e.WaitSeconds, e.HolderTransactionSeconds)
	}
}

func checkBlockedSession(t *testing.T, out Output, waiter string) {
	t.Helper()
	if v := mustValue(t, out.Metrics, MetricLockWaits); v < 1 {
		t.Errorf("lock.waits %v", v)
	}
	for _, s := range snapshotOf(out, SnapshotSessions).GetDbSessions().GetSessions() {
		if s.Id == waiter {
			if !s.Blocked || s.WaitEvent == "" {
				t.Errorf("waiter session not marked blocked: %+v", s)
			}
			return
		}
	}
	t.Errorf("waiter %s not among the sessions", waiter)
}

// (d) Statement statistics: unavailable on the system servers, with the
// hint; deltas on private servers that have the feature on.
func TestMySQLStatementsUnavailable(t *testing.T) {
	f := mysqlFixture(t)
	in := newTestInstance(t, EngineMySQL, f.MonitorDSN, nil)
	var ps int
	if err := f.Admin.QueryRow("SELECT @@performance_schema").Scan(&ps); err != nil || ps != 0 {
		t.Skipf("performance_schema is on here (%d, %v)", ps, err)
	}
	body := snapshotOf(mustCycle(t, in, time.Now()), SnapshotStatements).GetDbStatements()
	if body == nil || body.Available || body.Hint != HintMySQLPerformanceSchema {
		t.Fatalf("want unavailable with the hint, got %+v", body)
	}
}

func TestPostgresStatementsUnavailable(t *testing.T) {
	f := pgFixture(t)
	in := newTestInstance(t, EnginePostgreSQL, f.MonitorDSN, nil)
	now := time.Now()
	body := snapshotOf(mustCycle(t, in, now), SnapshotStatements).GetDbStatements()
	if body == nil || body.Available || body.Hint != HintPGStatStatements {
		t.Fatalf("no extension: want unavailable with the hint, got %+v", body)
	}
	// The extension exists but the library is not preloaded.
	if _, err := f.Admin.Exec("CREATE EXTENSION pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	body = snapshotOf(mustCycle(t, in, now.Add(in.s.statementsInterval)), SnapshotStatements).GetDbStatements()
	if body == nil || body.Available || body.Hint != HintPGStatStatements {
		t.Fatalf("not preloaded: want unavailable with the hint, got %+v", body)
	}
}

// A private MariaDB with performance_schema on: statement deltas, and the
// idle lock holder's last statement.
func TestMySQLPerformanceSchemaOn(t *testing.T) {
	srv := dbtest.StartMariaDB(t, dbtest.MariaDBOptions{PerformanceSchema: true})
	f := dbtest.NewMySQLFixture(t, srv.DSN)
	createLockTable(t, f)
	in := newTestInstance(t, EngineMySQL, f.MonitorDSN, nil)

	t0 := time.Now()
	if s := snapshotOf(mustCycle(t, in, t0), SnapshotStatements); s != nil {
		t.Fatalf("the first reading is a baseline, got %v", s)
	}
	for i := range 7 {
		var n int
		if err := f.Admin.QueryRow("SELECT COUNT(*) FROM t WHERE id = " + string(rune('1'+i))).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	t1 := t0.Add(in.s.statementsInterval)
	body := snapshotOf(mustCycle(t, in, t1), SnapshotStatements).GetDbStatements()
	if body == nil || !body.Available || body.IntervalSeconds != in.s.statementsInterval.Seconds() {
		t.Fatalf("statements: %+v", body)
	}
	var st *agentpb.DBStatement
	for _, s := range body.Statements {
		if s.Database == f.Database && strings.Contains(s.Text, "COUNT") && strings.Contains(s.Text, "`t`") {
			st = s
		}
	}
	if st == nil {
		t.Fatalf("COUNT statement not among %d statements", len(body.Statements))
	}
	if st.Calls != 7 || st.Rows != 7 || st.TotalSeconds <= 0 || st.MaxSeconds <= 0 || st.Digest == "" || st.Errors != 0 {
		t.Errorf("statement: %+v", st)
	}
	t.Logf("digest text: %s", st.Text)

	holder, waiter, _ := lockWait(t, f)
	e, _ := waitForEdge(t, in, holder, waiter)
	checkMySQLEdge(t, e, f.Database)
	if e.HolderQuery != "UPDATE t SET v = v + ? WHERE id = ?" || e.HolderState != "idle in transaction" {
		t.Errorf("holder with performance_schema: query %q state %q", e.HolderQuery, e.HolderState)
	}
}

func TestPostgresStatementsOn(t *testing.T) {
	srv := dbtest.StartPostgres(t, dbtest.PostgresOptions{PgStatStatements: true})
	f := dbtest.NewPostgresFixture(t, srv.DSN)
	createLockTable(t, f)
	if _, err := f.Admin.Exec("CREATE EXTENSION pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	in := newTestInstance(t, EnginePostgreSQL, f.MonitorDSN, nil)
	t0 := time.Now()
	if s := snapshotOf(mustCycle(t, in, t0), SnapshotStatements); s != nil {
		t.Fatalf("the first reading is a baseline, got %v", s)
	}
	for i := range 7 {
		var n int
		if err := f.Admin.QueryRow("SELECT count(*) FROM t WHERE id = " + string(rune('1'+i))).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	body := snapshotOf(mustCycle(t, in, t0.Add(in.s.statementsInterval)), SnapshotStatements).GetDbStatements()
	if body == nil || !body.Available {
		t.Fatalf("statements: %+v", body)
	}
	var st *agentpb.DBStatement
	for _, s := range body.Statements {
		if s.Database == f.Database && s.Text == "SELECT count(*) FROM t WHERE id = $1" {
			st = s
		}
	}
	if st == nil {
		t.Fatalf("count statement not among %d statements", len(body.Statements))
	}
	if st.Calls != 7 || st.Rows != 7 || st.TotalSeconds <= 0 || st.User != "postgres" || st.Digest == "" {
		t.Errorf("statement: %+v", st)
	}
}

// (e) The module survives the server going away and coming back on the
// same port: down cycles say up=0 quickly, and it reconnects by itself.
func TestMySQLSurvivesRestart(t *testing.T) {
	srv := dbtest.StartMariaDB(t, dbtest.MariaDBOptions{})
	f := dbtest.NewMySQLFixture(t, srv.DSN)
	testSurvivesRestart(t, srv, EngineMySQL, f.MonitorDSN)
}

func TestPostgresSurvivesRestart(t *testing.T) {
	srv := dbtest.StartPostgres(t, dbtest.PostgresOptions{})
	f := dbtest.NewPostgresFixture(t, srv.DSN)
	testSurvivesRestart(t, srv, EnginePostgreSQL, f.MonitorDSN)
}

func testSurvivesRestart(t *testing.T, srv *dbtest.Server, engine, dsn string) {
	const timeout = time.Second
	m, err := New(testConfig(engine, dsn, func(ic *InstanceConfig) {
		ic.Interval = time.Second
		ic.QueryTimeout = timeout
	}), testAgentID, "test", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	outs := make(chan Output, 64)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		m.Run(ctx, func(o Output) {
			select {
			case outs <- o:
			case <-ctx.Done():
			}
		})
	}()
	defer func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}()

	next := func(within time.Duration, what string, ok func(Output) bool) Output {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case o := <-outs:
				if ok(o) {
					return o
				}
			case <-deadline:
				t.Fatalf("no output within %s with %s", within, what)
			}
		}
	}
	upWithSessions := func(o Output) bool {
		v, _ := metricValue(o.Metrics, MetricUp)
		return v == 1 && snapshotOf(o, SnapshotSessions) != nil
	}
	next(10*time.Second, "up=1 and sessions", upWithSessions)

	srv.Stop()
	for i := range 2 {
		o := next(20*time.Second, "up=0", func(o Output) bool {
			v, _ := metricValue(o.Metrics, MetricUp)
			return v == 0
		})
		d := mustValue(t, o.Metrics, MetricCollectDuration)
		if d > (timeout + time.Second).Seconds() {
			t.Errorf("down cycle %d took %.2fs, beyond the %s timeout", i, d, timeout)
		}
		if o.Push != nil {
			t.Errorf("down cycle sent snapshots")
		}
		if v, ok := resourceAttr(o.Metrics, wire.AttrAgentID); !ok || v.AsString() != InstanceID(testAgentID, "it-"+engine) {
			t.Error("down cycle lost the identity")
		}
	}
	srv.Start()
	next(90*time.Second, "up=1 and sessions after the restart", upWithSessions)
}

// Per-cycle cost against the system servers: one steady cycle (no probe,
// statements not due), allocations, and the statements it sends.
//
// Extra load per cycle, measured (2 cores, MariaDB 10.11, PostgreSQL 15):
//
//	MySQL/MariaDB: 4 queries (SHOW GLOBAL STATUS, @@max_connections,
//	  SHOW REPLICA STATUS, PROCESSLIST join INNODB_TRX), +1 when a session
//	  waits for a lock; ~1.9 ms, ~240 KB and ~5.9k allocations a cycle on a
//	  quiet server. PROCESSLIST alone is ~1.7 ms of that on MariaDB.
//	PostgreSQL: 6 queries (pg_stat_database join pg_database, pg_stat_activity
//	  counts, pg_stat_bgwriter, pg_locks counts, recovery/settings, the
//	  non-idle sessions), +1 on 17+ (pg_stat_checkpointer), +1 with standbys
//	  attached, +1 with a lock wait; ~0.9 ms, ~54 KB, ~1.2k allocations.
//	Probe after (re)connecting: 3 queries (MySQL), 1 (PostgreSQL).
//	Statements every statements_interval: 1 query (MySQL, none while
//	  performance_schema is off), 2 (PostgreSQL).
func BenchmarkCycleMySQL(b *testing.B) { benchCycle(b, EngineMySQL, mysqlFixture) }

func BenchmarkCyclePostgres(b *testing.B) { benchCycle(b, EnginePostgreSQL, pgFixture) }

func benchCycle(b *testing.B, engine string, fixture func(testing.TB) *dbtest.Fixture) {
	f := fixture(b)
	in := newTestInstance(b, engine, f.MonitorDSN, nil)
	now := time.Now()
	mustCycle(b, in, now)
	first := in.r.queries
	b.ReportAllocs()
	for b.Loop() {
		mustCycle(b, in, now)
	}
	b.ReportMetric(float64(in.r.queries), "queries/cycle")
	b.ReportMetric(float64(first), "queries/first-cycle")
}

// The session guards are on every connection the module opens.
func TestSessionGuards(t *testing.T) {
	t.Run("mysql", func(t *testing.T) {
		f := mysqlFixture(t)
		in := newTestInstance(t, EngineMySQL, f.MonitorDSN, nil)
		var maxStmt float64
		var readOnly, lockWait, innoWait int
		// MariaDB names: max_statement_time (seconds), tx_read_only.
		err := in.db.QueryRow("SELECT @@SESSION.max_statement_time, @@SESSION.tx_read_only, "+
			"@@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout").Scan(&maxStmt, &readOnly, &lockWait, &innoWait)
		if err != nil {
			t.Fatal(err)
		}
		if maxStmt != DefaultQueryTimeout.Seconds() || readOnly != 1 || lockWait != 1 || innoWait != 1 {
			t.Errorf("guards: max_statement_time %v read_only %d lock_wait_timeout %d innodb_lock_wait_timeout %d",
				maxStmt, readOnly, lockWait, innoWait)
		}
	})
	t.Run("postgresql", func(t *testing.T) {
		f := pgFixture(t)
		in := newTestInstance(t, EnginePostgreSQL, f.MonitorDSN, nil)
		var stmt, lock, ro, app string
		err := in.db.QueryRow("SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "+
			"current_setting('default_transaction_read_only'), current_setting('application_name')").Scan(&stmt, &lock, &ro, &app)
		if err != nil {
			t.Fatal(err)
		}
		if stmt != "2s" || lock != "1s" || ro != "on" || app != "osprey-agent" {
			t.Errorf("guards: statement_timeout %s lock_timeout %s read_only %s application_name %s", stmt, lock, ro, app)
		}
		if _, err := in.db.Exec("CREATE TEMP TABLE osprey_guard (a int)"); err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("a write on the monitoring connection: %v", err)
		}
	})
}
