package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// These benchmarks measure the whole ingest path on this machine: gRPC
// decode, key check, WAL append, apply into the TSDB or the event store, and
// the final drain (everything applied and flushed). The senders run in the
// same process and share the two cores with the server, so the figures are
// a floor for a server with the machine to itself.

const benchKey = "osp_bench_project_key_0000000001"

func benchServer(b *testing.B) (*Server, []*grpc.ClientConn) {
	b.Helper()
	os.Setenv("OSPREY_ADMIN_PASSWORD", "bench-password")
	os.Setenv("OSPREY_PROJECT_KEY", benchKey)
	cfg := DefaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.HTTPAddr, cfg.OTLPGRPCAddr, cfg.OTLPHTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Ingest.RateLimit = 0
	s, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	_, grpcAddr, _ := s.Addrs()
	var conns []*grpc.ClientConn
	for i := 0; i < 4; i++ {
		c, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	return s, conns
}

func benchCtx() context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+benchKey)
}

// runParallel sends b.N requests from 8 senders over 4 connections, waits
// until the server has applied them all, and reports records per second.
func runParallel(b *testing.B, s *Server, perRequest int, unit string, send func(ctx context.Context, sender, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	ctx := benchCtx()
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if err := send(ctx, w, i); err != nil {
					b.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.Pipeline().Drain(dctx); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*perRequest)/el.Seconds(), unit+"/s")
}

// transactionSpans builds n transactions of five spans each: the server
// span and SQL, HTTP-client and method children, attributes as an
// instrumented web service sends them.
func transactionSpans(n int, seed int) ptraceotlp.ExportRequest {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "order-api")
	ra.PutStr("service.instance.id", "order-api-"+strconv.Itoa(seed%8))
	ra.PutStr("host.name", "app-host-"+strconv.Itoa(seed%8))
	ss := rs.ScopeSpans().AppendEmpty()
	now := time.Now()
	for t := 0; t < n; t++ {
		var tid pcommon.TraceID
		id := uint64(seed)<<32 | uint64(t)
		for k := 0; k < 8; k++ {
			tid[k] = byte(id >> (8 * k))
		}
		tid[15] = 1
		start := now.Add(-time.Duration(t%500) * time.Millisecond)
		root := ss.Spans().AppendEmpty()
		root.SetTraceID(tid)
		root.SetSpanID(pcommon.SpanID{1, byte(t), byte(t >> 8), byte(seed)})
		root.SetName("GET /orders/{id}")
		root.SetKind(ptrace.SpanKindServer)
		root.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
		root.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(42 * time.Millisecond)))
		a := root.Attributes()
		a.PutStr("http.request.method", "GET")
		a.PutStr("http.route", "/orders/{id}")
		a.PutStr("url.path", "/orders/"+strconv.Itoa(t))
		a.PutInt("http.response.status_code", 200)
		a.PutStr("client.address", "10.1.2."+strconv.Itoa(t%250))
		a.PutStr("enduser.id", "user-"+strconv.Itoa(t%1000))
		children := []struct {
			name string
			kind ptrace.SpanKind
			attr func(pcommon.Map)
		}{
			{"SELECT orders", ptrace.SpanKindClient, func(m pcommon.Map) {
				m.PutStr("db.system.name", "postgresql")
				m.PutStr("db.query.text", "SELECT id, total FROM orders WHERE id = $1")
				m.PutStr("db.namespace", "shop")
			}},
			{"SELECT order_items", ptrace.SpanKindClient, func(m pcommon.Map) {
				m.PutStr("db.system.name", "postgresql")
				m.PutStr("db.query.text", "SELECT * FROM order_items WHERE order_id = $1")
			}},
			{"GET", ptrace.SpanKindClient, func(m pcommon.Map) {
				m.PutStr("http.request.method", "GET")
				m.PutStr("server.address", "payment-service")
				m.PutStr("url.full", "http://payment-service/payments/"+strconv.Itoa(t))
				m.PutInt("http.response.status_code", 200)
			}},
			{"OrderService.load", ptrace.SpanKindInternal, func(m pcommon.Map) {
				m.PutStr("code.function.name", "OrderService.load")
			}},
		}
		for c, ch := range children {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(pcommon.SpanID{2, byte(c), byte(t), byte(t >> 8), byte(seed)})
			sp.SetParentSpanID(root.SpanID())
			sp.SetName(ch.name)
			sp.SetKind(ch.kind)
			cs := start.Add(time.Duration(c*8) * time.Millisecond)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(cs))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(cs.Add(6 * time.Millisecond)))
			ch.attr(sp.Attributes())
		}
	}
	return ptraceotlp.NewExportRequestFromTraces(td)
}

func BenchmarkIngestOTLPSpans(b *testing.B) {
	s, conns := benchServer(b)
	// 64 distinct requests (1,000 spans each: trace ids, paths, users and
	// client addresses differ), built before timing and sent in turn, so
	// the event store never sees one batch twice in a row.
	reqs := make([]ptraceotlp.ExportRequest, 64)
	for i := range reqs {
		reqs[i] = transactionSpans(200, i)
	}
	runParallel(b, s, 1000, "spans", func(ctx context.Context, w, i int) error {
		_, err := ptraceotlp.NewGRPCClient(conns[w%len(conns)]).Export(ctx, reqs[i%len(reqs)])
		return err
	})
}

func logRecords(n, seed int) plogotlp.ExportRequest {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "order-api")
	rl.Resource().Attributes().PutStr("host.name", "app-host-"+strconv.Itoa(seed))
	sl := rl.ScopeLogs().AppendEmpty()
	now := time.Now()
	levels := []string{"INFO", "INFO", "INFO", "WARN", "ERROR"}
	for i := 0; i < n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Microsecond)))
		lr.SetSeverityText(levels[i%len(levels)])
		lr.Body().SetStr(fmt.Sprintf("10.%d.%d.%d - - \"GET /api/orders/%d HTTP/1.1\" %d %d \"-\" \"Mozilla/5.0\" rt=0.%03d",
			seed, i%200, i%250, seed*1000+i, []int{200, 200, 200, 404, 500}[i%5], 512+(i*seed)%4096, (i+seed)%1000))
		lr.Attributes().PutStr("log.category", "nginx.access")
		lr.Attributes().PutStr("log.file.name", "access.log")
	}
	return plogotlp.NewExportRequestFromLogs(ld)
}

// parsedAccessLogs are access-log lines as the agent's log module sends
// them: the line plus the fields its nginx preset extracted.
func parsedAccessLogs(n, seed int) plogotlp.ExportRequest {
	req := logRecords(n, seed)
	lrs := req.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := 0; i < lrs.Len(); i++ {
		a := lrs.At(i).Attributes()
		a.PutStr("log.category", "nginx-access")
		a.PutStr("log.file.path", "/var/log/nginx/access.log")
		a.PutStr("log.file.id", "2049:1234567")
		a.PutInt("log.record.offset", int64(i*180))
		a.PutStr("client.address", fmt.Sprintf("10.%d.%d.%d", seed, i%200, i%250))
		a.PutStr("http.request.method", "GET")
		a.PutStr("url.path", fmt.Sprintf("/api/orders/%d", seed*1000+i))
		a.PutStr("network.protocol.version", "1.1")
		a.PutInt("http.response.status_code", int64([]int{200, 200, 200, 404, 500}[i%5]))
		a.PutInt("http.response.body.size", int64(512+(i*seed)%4096))
		a.PutStr("user_agent.original", "Mozilla/5.0")
		a.PutDouble("http.server.request.duration", float64((i+seed)%1000)/1000)
	}
	return req
}

// BenchmarkIngestOTLPParsedAccessLogs is the log target with field
// extraction: every line carries 12 parsed fields.
func BenchmarkIngestOTLPParsedAccessLogs(b *testing.B) {
	s, conns := benchServer(b)
	reqs := make([]plogotlp.ExportRequest, 64)
	for i := range reqs {
		reqs[i] = parsedAccessLogs(1000, i)
	}
	runParallel(b, s, 1000, "logs", func(ctx context.Context, w, i int) error {
		_, err := plogotlp.NewGRPCClient(conns[w%len(conns)]).Export(ctx, reqs[i%len(reqs)])
		return err
	})
}

func BenchmarkIngestOTLPLogs(b *testing.B) {
	s, conns := benchServer(b)
	reqs := make([]plogotlp.ExportRequest, 64)
	for i := range reqs {
		reqs[i] = logRecords(1000, i)
	}
	runParallel(b, s, 1000, "logs", func(ctx context.Context, w, i int) error {
		_, err := plogotlp.NewGRPCClient(conns[w%len(conns)]).Export(ctx, reqs[i%len(reqs)])
		return err
	})
}

// hostMetrics is one request of 10 hosts × 200 data points, shaped like
// the host module's report (per-cpu and per-device attributes).
func hostMetrics(hosts int, ts time.Time, seed int) (pmetricotlp.ExportRequest, int) {
	md := pmetric.NewMetrics()
	tsp := pcommon.NewTimestampFromTime(ts)
	for h := 0; h < hosts; h++ {
		rm := md.ResourceMetrics().AppendEmpty()
		rm.Resource().Attributes().PutStr("osprey.agent.id", fmt.Sprintf("bench-%d-%d", seed, h))
		rm.Resource().Attributes().PutStr("host.name", fmt.Sprintf("bench-host-%d-%d", seed, h))
		ms := rm.ScopeMetrics().AppendEmpty().Metrics()
		cpu := ms.AppendEmpty()
		cpu.SetName("system.cpu.time")
		cpu.SetUnit("s")
		sum := cpu.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		for c := 0; c < 16; c++ {
			for _, st := range []string{"user", "system", "idle", "iowait", "steal", "nice", "irq", "softirq"} {
				dp := sum.DataPoints().AppendEmpty()
				dp.SetTimestamp(tsp)
				dp.SetDoubleValue(float64(c*1000) + ts.Sub(time.Unix(0, 0)).Seconds()/1e6)
				dp.Attributes().PutStr("cpu", "cpu"+strconv.Itoa(c))
				dp.Attributes().PutStr("state", st)
			}
		}
		for i := 0; i < 72; i++ {
			g := ms.AppendEmpty()
			g.SetName("system.filesystem.usage")
			g.SetUnit("By")
			dp := g.SetEmptyGauge().DataPoints().AppendEmpty()
			dp.SetTimestamp(tsp)
			dp.SetDoubleValue(float64(i) * 1e9)
			dp.Attributes().PutStr("mountpoint", "/mnt/"+strconv.Itoa(i))
		}
	}
	req := pmetricotlp.NewExportRequestFromMetrics(md)
	return req, md.DataPointCount()
}

func BenchmarkIngestOTLPMetricSamples(b *testing.B) {
	s, conns := benchServer(b)
	// Each request must carry new timestamps (the same sample twice is a
	// no-op in the TSDB), so requests are built per iteration, before the
	// timer starts, 5 s apart as agents report.
	base := time.Now().Add(-time.Duration(b.N+1) * 5 * time.Second / 8)
	reqs := make([]pmetricotlp.ExportRequest, b.N)
	per := 0
	for i := range reqs {
		reqs[i], per = hostMetrics(10, base.Add(time.Duration(i/8)*5*time.Second), i%8)
	}
	runParallel(b, s, per, "samples", func(ctx context.Context, w, i int) error {
		_, err := pmetricotlp.NewGRPCClient(conns[w%len(conns)]).Export(ctx, reqs[i])
		reqs[i] = pmetricotlp.ExportRequest{}
		return err
	})
}

// entrySpans builds n transactions of one server span each, as an app
// sends them when only its entry spans are exported (the Go library drops
// the steps of fast transactions; a collector's tail sampling does the
// same), with the server computing every rollup.
func entrySpans(n int, seed int) ptraceotlp.ExportRequest {
	req := transactionSpans(n, seed)
	req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(s ptrace.Span) bool {
		return s.Kind() != ptrace.SpanKindServer
	})
	spans := req.Traces().ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		sp := spans.At(i)
		// A spread of response times and some failures, so the hitmap and
		// the error statistics have work to do.
		d := time.Duration(5+(i*7919+seed*31)%3000) * time.Millisecond
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(sp.StartTimestamp().AsTime().Add(d)))
		if i%50 == 0 {
			sp.Status().SetCode(ptrace.StatusCodeError)
			sp.Attributes().PutInt("http.response.status_code", 500)
		}
		sp.Attributes().PutStr("user_agent.original", "Mozilla/5.0 (seed "+strconv.Itoa(seed%4)+")")
	}
	return req
}

// BenchmarkIngestTransactions is the APM target: transactions per second
// through gRPC, the WAL, the event store and the rollups (hitmap, 5-s
// counters, statistics), until everything is applied.
func BenchmarkIngestTransactions(b *testing.B) {
	for _, tc := range []struct {
		name  string
		build func(n, seed int) ptraceotlp.ExportRequest
		spans int // per transaction
	}{
		{"entry-spans", entrySpans, 1},
		{"with-4-steps", transactionSpans, 5},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s, conns := benchServer(b)
			const perReq = 1000
			reqs := make([]ptraceotlp.ExportRequest, 64)
			for i := range reqs {
				reqs[i] = tc.build(perReq/tc.spans, i)
			}
			runParallel(b, s, perReq/tc.spans, "tx", func(ctx context.Context, w, i int) error {
				_, err := ptraceotlp.NewGRPCClient(conns[w%len(conns)]).Export(ctx, reqs[i%len(reqs)])
				return err
			})
		})
	}
}
