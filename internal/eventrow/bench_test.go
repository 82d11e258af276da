package eventrow

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/osprey-monitoring/osprey/internal/store/event"
)

var routes = []string{"/orders", "/orders/{id}", "/users/{id}", "/cart", "/checkout", "/search", "/login", "/health"}

// transactionBatch builds nTx transactions of 5 spans each: a server span
// with HTTP attributes, two DB client spans, one outgoing HTTP call and one
// internal span, ending around now.
func transactionBatch(nTx int, now time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "shop")
	ra.PutStr("service.version", "1.4.2")
	ra.PutStr("host.name", "app-1")
	ra.PutStr("service.instance.id", "shop-1")
	ra.PutStr("telemetry.sdk.language", "go")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp")
	spans := ss.Spans()
	spans.EnsureCapacity(nTx * 5)
	for i := range nTx {
		var tid pcommon.TraceID
		tid[0], tid[1], tid[2], tid[15] = byte(i), byte(i>>8), byte(i>>16), 1
		end := now.Add(-time.Duration(nTx-i) * time.Microsecond)
		start := end.Add(-time.Duration(20+i%200) * time.Millisecond)
		root := spans.AppendEmpty()
		root.SetTraceID(tid)
		root.SetSpanID(pcommon.SpanID{1, byte(i), byte(i >> 8), byte(i >> 16)})
		route := routes[i%len(routes)]
		root.SetName("GET " + route)
		root.SetKind(ptrace.SpanKindServer)
		root.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		root.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		a := root.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", route)
		a.PutInt("http.response.status_code", int64(200+(i%50/49)*300))
		a.PutStr("url.path", fmt.Sprintf("%s/%d", route, i))
		a.PutStr("client.address", fmt.Sprintf("10.0.%d.%d", i%7, i%250))
		a.PutStr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)")
		a.PutStr("enduser.id", fmt.Sprintf("user-%d", i%1000))
		if i%50 == 49 {
			root.Status().SetCode(ptrace.StatusCodeError)
		}
		for c := range 4 {
			ch := spans.AppendEmpty()
			ch.SetTraceID(tid)
			ch.SetSpanID(pcommon.SpanID{2, byte(c), byte(i), byte(i >> 8), byte(i >> 16)})
			ch.SetParentSpanID(root.SpanID())
			ch.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(c+1) * time.Millisecond)))
			ch.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(c+3) * time.Millisecond)))
			ca := ch.Attributes()
			switch c {
			case 0, 1:
				ch.SetName("SELECT shop.orders")
				ch.SetKind(ptrace.SpanKindClient)
				ca.PutStr("db.system.name", "postgresql")
				ca.PutStr("db.namespace", "shop")
				ca.PutStr("db.operation.name", "SELECT")
				ca.PutStr("db.query.text", "SELECT id, total, status FROM orders WHERE user_id = $1 ORDER BY created_at DESC LIMIT 20")
				ca.PutStr("server.address", "db-1")
				ca.PutInt("server.port", 5432)
			case 2:
				ch.SetName("POST")
				ch.SetKind(ptrace.SpanKindClient)
				ca.PutStr("http.request.method", "POST")
				ca.PutStr("url.full", "http://payments:8080/v1/charge")
				ca.PutStr("server.address", "payments")
				ca.PutInt("http.response.status_code", 200)
			default:
				ch.SetName("render")
				ch.SetKind(ptrace.SpanKindInternal)
			}
		}
	}
	return td
}

func benchStore(b *testing.B) *event.Store {
	s, err := event.Open(context.Background(), event.Options{Dir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkSpansToStore: OTLP batches of 1,000 transaction-shaped spans
// (200 transactions x 5 spans) -> Spans -> Store.Add. One op = one batch.
func BenchmarkSpansToStore(b *testing.B) {
	s := benchStore(b)
	td := transactionBatch(200, time.Now())
	n := td.SpanCount()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		rows := Spans(td)
		if _, rej, err := s.Add(context.Background(), 1, rows); err != nil || rej != 0 {
			b.Fatalf("Add: rejected=%d err=%v", rej, err)
		}
	}
	s.Flush()
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "spans/s")
	// The machine is shared; spans per CPU-second (all threads, engine
	// background work included) is the load-independent figure.
	b.ReportMetric(float64(n*b.N)/(cpuTime()-cpu0).Seconds(), "spans/cpu-s")
}

// BenchmarkSpansConvert measures Spans alone.
func BenchmarkSpansConvert(b *testing.B) {
	td := transactionBatch(200, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		_ = Spans(td)
	}
	b.ReportMetric(float64(td.SpanCount()*b.N)/b.Elapsed().Seconds(), "spans/s")
}

var logMessages = []string{
	"GET /api/orders 200 12ms user=alice",
	"connection to db-1:5432 refused, retrying in 500ms",
	"cache miss for key product:1234, loading from database",
	"payment 88123 accepted amount=12.99 currency=EUR",
	"slow query detected: SELECT * FROM orders WHERE status = 'new' took 1.2s",
}

func logBatch(n int, now time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "shop")
	rl.Resource().Attributes().PutStr("host.name", "app-1")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	recs.EnsureCapacity(n)
	for i := range n {
		r := recs.AppendEmpty()
		r.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(-time.Duration(n-i) * time.Microsecond)))
		r.Body().SetStr(fmt.Sprintf("%s req=%d", logMessages[i%len(logMessages)], i))
		r.SetSeverityNumber(plog.SeverityNumberInfo + plog.SeverityNumber(i%3*4))
		r.Attributes().PutStr("log.file.name", "app.log")
		r.Attributes().PutStr("thread.name", fmt.Sprintf("worker-%d", i%8))
	}
	return ld
}

// BenchmarkLogsToStore: OTLP batches of 1,000 log records -> Logs ->
// Store.Add. One op = one batch.
func BenchmarkLogsToStore(b *testing.B) {
	s := benchStore(b)
	ld := logBatch(1000, time.Now())
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		rows := Logs(ld)
		if _, rej, err := s.Add(context.Background(), 1, rows); err != nil || rej != 0 {
			b.Fatalf("Add: rejected=%d err=%v", rej, err)
		}
	}
	s.Flush()
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "logs/s")
	b.ReportMetric(float64(1000*b.N)/(cpuTime()-cpu0).Seconds(), "logs/cpu-s")
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSpansToStoreParallel is BenchmarkSpansToStore with one ingest
// goroutine per GOMAXPROCS, as concurrent OTLP connections would run.
func BenchmarkSpansToStoreParallel(b *testing.B) {
	s := benchStore(b)
	td := transactionBatch(200, time.Now())
	n := td.SpanCount()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rows := Spans(td)
			if _, rej, err := s.Add(context.Background(), 1, rows); err != nil || rej != 0 {
				b.Errorf("Add: rejected=%d err=%v", rej, err)
				return
			}
		}
	})
	s.Flush()
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(n*b.N)/(cpuTime()-cpu0).Seconds(), "spans/cpu-s")
}
