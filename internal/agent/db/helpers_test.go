package db

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/agent/db/dbtest"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

const testAgentID = "agent-it"

// tWriter sends slog output to the test log, and drops it once the test
// has ended (a goroutine still logging must not panic the run).
type tWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func (w tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	done := false
	w := tWriter{t: t, mu: &sync.Mutex{}, done: &done}
	t.Cleanup(func() { w.mu.Lock(); *w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func testConfig(engine, dsn string, edit func(*InstanceConfig)) Config {
	ic := InstanceConfig{Name: "it-" + engine, Group: "it", Engine: engine, DSN: dsn}
	if edit != nil {
		edit(&ic)
	}
	return Config{Enabled: true, Instances: []InstanceConfig{ic}}
}

// newTestInstance prepares one instance with an open pool, for tests that
// drive cycles themselves.
func newTestInstance(t testing.TB, engine, dsn string, edit func(*InstanceConfig)) *instance {
	t.Helper()
	m, err := New(testConfig(engine, dsn, edit), testAgentID, "test", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	in := m.instances[0]
	in.open()
	t.Cleanup(in.close)
	return in
}

// mustCycle runs one cycle and fails the test when the instance is down.
func mustCycle(t testing.TB, in *instance, now time.Time) Output {
	t.Helper()
	out, _ := in.cycle(context.Background(), now)
	if v, _ := metricValue(out.Metrics, MetricUp); v != 1 {
		t.Fatalf("cycle: %s is down (see log)", in.s.name)
	}
	return out
}

// poll runs cycles until check accepts one or the time is up.
func poll(t testing.TB, in *instance, within time.Duration, what string, check func(Output) bool) Output {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out := mustCycle(t, in, time.Now())
		if check(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no cycle within %s showed %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func findMetric(md pmetric.Metrics, name string) (pmetric.Metric, bool) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() == name {
					return ms.At(k), true
				}
			}
		}
	}
	return pmetric.Metric{}, false
}

func dataPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	if m.Type() == pmetric.MetricTypeSum {
		return m.Sum().DataPoints()
	}
	return m.Gauge().DataPoints()
}

// metricValue is the value of the first point of name whose attributes
// include attrs (key, value pairs).
func metricValue(md pmetric.Metrics, name string, attrs ...string) (float64, bool) {
	m, ok := findMetric(md, name)
	if !ok {
		return 0, false
	}
	dps := dataPoints(m)
next:
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		for a := 0; a+1 < len(attrs); a += 2 {
			v, ok := dp.Attributes().Get(attrs[a])
			if !ok || v.AsString() != attrs[a+1] {
				continue next
			}
		}
		if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
			return float64(dp.IntValue()), true
		}
		return dp.DoubleValue(), true
	}
	return 0, false
}

func mustValue(t testing.TB, md pmetric.Metrics, name string, attrs ...string) float64 {
	t.Helper()
	v, ok := metricValue(md, name, attrs...)
	if !ok {
		t.Fatalf("metric %s %v missing", name, attrs)
	}
	return v
}

func snapshotOf(out Output, typ string) *agentpb.Snapshot {
	if out.Push == nil {
		return nil
	}
	for _, s := range out.Push.Snapshots {
		if s.Type == typ {
			return s
		}
	}
	return nil
}

func resourceAttr(md pmetric.Metrics, key string) (pcommon.Value, bool) {
	return md.ResourceMetrics().At(0).Resource().Attributes().Get(key)
}

// lockWait makes a real row-lock wait: the holder updates row 1 of t in
// an open transaction and goes idle, the waiter updates the same row. It
// returns both connection ids; release ends the wait.
func lockWait(t *testing.T, f *dbtest.Fixture) (holderID, waiterID string, release func()) {
	t.Helper()
	ctx := context.Background()
	holder, holderID := connWithID(t, f)
	waiter, waiterID := connWithID(t, f)
	for _, q := range []string{"BEGIN", "UPDATE t SET v = v + 1 WHERE id = 1"} {
		if _, err := holder.ExecContext(ctx, q); err != nil {
			t.Fatalf("holder %s: %v", q, err)
		}
	}
	errc := make(chan error, 1)
	go func() {
		_, err := waiter.ExecContext(ctx, "UPDATE t SET v = v + 10 WHERE id = 1")
		errc <- err
	}()
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := holder.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Errorf("holder rollback: %v", err)
			}
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("waiter: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("waiter still blocked after the holder rolled back")
			}
			holder.Close()
			waiter.Close()
		})
	}
	t.Cleanup(release)
	return holderID, waiterID, release
}

// connWithID takes one connection of the fixture's admin pool and returns
// it with the id the server lists it under.
func connWithID(t testing.TB, f *dbtest.Fixture) (*sql.Conn, string) {
	t.Helper()
	ctx := context.Background()
	idSQL := "SELECT CONNECTION_ID()"
	if f.Engine == EnginePostgreSQL {
		idSQL = "SELECT pg_backend_pid()"
	}
	c, err := f.Admin.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var id string
	if err := c.QueryRowContext(ctx, idSQL).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return c, id
}

// createLockTable makes the table lockWait works on.
func createLockTable(t testing.TB, f *dbtest.Fixture) {
	t.Helper()
	create := "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL)"
	if f.Engine == EngineMySQL {
		create += " ENGINE=InnoDB"
	}
	for _, q := range []string{create, "INSERT INTO t (id, v) VALUES (1, 0), (2, 0), (3, 0), (5, 0)"} {
		if _, err := f.Admin.ExecContext(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
