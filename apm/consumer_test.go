package apm_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/osprey-monitoring/osprey/apm"
	"github.com/osprey-monitoring/osprey/apm/internal/collector"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

// TestConsumer: a hand-started consumer transaction run under Do, with
// SQL and producer steps, the step limit, SetUser outside a Handler, and
// both SQL display settings.
func TestConsumer(t *testing.T) {
	for _, show := range []bool{false, true} {
		col, err := collector.Start(testKey, false)
		if err != nil {
			t.Fatal(err)
		}
		agent, err := apm.Start(context.Background(), apm.Config{
			Endpoint: col.Addr, Key: testKey, App: "consumer", Insecure: true,
			StepLimit: 3, ShowSQLParams: show, StatInterval: time.Hour, ActiveInterval: time.Minute,
		})
		if err != nil {
			t.Fatal(err)
		}
		tracer := agent.TracerProvider().Tracer("consumer")
		ctx, span := tracer.Start(context.Background(), "orders process", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", "orders")))
		apm.Do(ctx, func(ctx context.Context) {
			apm.SetUser(ctx, "bob")
			for range 5 {
				_, s := tracer.Start(ctx, "query", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
					attribute.String("db.system.name", "postgresql"), attribute.String("db.query.text", "SELECT * FROM t WHERE id = 42"),
					attribute.String("server.address", "pg"), attribute.Int("server.port", 5432)))
				s.End()
			}
			_, p := tracer.Start(ctx, "orders.done publish", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
				attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", "orders.done")))
			p.End()
		})
		span.End()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := agent.Shutdown(sctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		col.Stop()

		var entry *collector.Span
		var steps []collector.Span
		for _, s := range col.Spans() {
			if s.Name == "orders process" {
				entry = &s
			} else {
				steps = append(steps, s)
			}
		}
		if entry == nil {
			t.Fatal("no entry span")
		}
		if entry.Attrs[wire.AttrTxSQLCount] != int64(5) || entry.Attrs[wire.AttrTxStepsDropped] != int64(3) || entry.Attrs["enduser.id"] != "bob" {
			t.Fatalf("entry attributes %v", entry.Attrs)
		}
		// The first of its name keeps its steps, up to StepLimit.
		wantText := "SELECT * FROM t WHERE id = ?"
		if show {
			wantText = "SELECT * FROM t WHERE id = 42"
		}
		if len(steps) != 3 {
			t.Fatalf("%d steps exported, want 3", len(steps))
		}
		for _, s := range steps {
			if s.Attrs["db.query.text"] != wantText || s.ParentID != entry.SpanID {
				t.Fatalf("step %v", s)
			}
		}
		stats := map[string]uint64{}
		var users uint32
		for _, sn := range col.Snapshots() {
			r := sn.GetApmRollup()
			users = max(users, r.GetUsers())
			for _, s := range r.GetStats() {
				stats[s.GetKind()+"|"+s.GetKey()] += s.GetCount()
				if s.GetKind() == "tx" && s.GetSqlCount() != 5 {
					t.Fatalf("tx stat %v", s)
				}
			}
		}
		want := map[string]uint64{
			"tx|orders process":                1,
			"in|nats:orders":                   1,
			"out|nats:orders.done":             1,
			"out|postgresql://pg:5432":         5,
			"sql|SELECT * FROM t WHERE id = ?": 5, // grouped masked either way
		}
		for k, n := range want {
			if stats[k] != n {
				t.Errorf("show=%v: stat %s = %d, want %d (all %v)", show, k, stats[k], n, stats)
			}
		}
		if users != 1 {
			t.Errorf("users %d, want 1 (bob)", users)
		}
	}
}

// TestStatWindows: statistics windows rotate on aligned boundaries, each
// is sent once with every transaction in exactly one window, and the
// first transaction of a name in each window keeps its steps.
func TestStatWindows(t *testing.T) {
	col, err := collector.Start(testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Stop()
	agent, err := apm.Start(context.Background(), apm.Config{
		Endpoint: col.Addr, Key: testKey, App: "windows", Insecure: true,
		StatInterval: time.Second, ActiveInterval: 100 * time.Millisecond, StackInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	tracer := agent.TracerProvider().Tracer("w")
	h := agent.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, s := tracer.Start(r.Context(), "work")
		s.End()
	}), "windows")
	const n = 40
	for range n {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/w", nil))
		time.Sleep(60 * time.Millisecond) // 2.4 s: three windows or more
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := agent.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	var total uint64
	windows := map[int64]bool{}
	for _, sn := range col.Snapshots() {
		r := sn.GetApmRollup()
		for _, s := range r.GetStats() {
			if s.GetKind() != "tx" {
				continue
			}
			ws := r.GetStatsWindowStartUnixNano()
			if windows[ws] || ws%int64(time.Second) != 0 || r.GetStatsWindowSeconds() != 1 {
				t.Fatalf("window %d (%d s) sent twice or not aligned", ws, r.GetStatsWindowSeconds())
			}
			windows[ws] = true
			total += s.GetCount()
		}
	}
	if total != n || len(windows) < 3 {
		t.Fatalf("%d transactions in %d windows, want %d in 3 or more", total, len(windows), n)
	}
	var steps int
	for _, s := range col.Spans() {
		if s.Name == "work" {
			steps++
		}
	}
	if steps != len(windows) {
		t.Fatalf("%d steps exported, want one per window (%d)", steps, len(windows))
	}
}
