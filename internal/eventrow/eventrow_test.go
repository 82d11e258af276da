package eventrow

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

func fieldMap(t *testing.T, r event.Row) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, f := range r.Fields {
		if _, dup := m[f.Name]; dup {
			t.Errorf("duplicate field %q in row", f.Name)
		}
		m[f.Name] = f.Value
	}
	return m
}

func wantFields(t *testing.T, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %q = %q, want %q", k, got[k], v)
		}
	}
}

// sdkToPtrace converts spans recorded by the OpenTelemetry Go SDK into
// pdata, as an OTLP exporter would put them on the wire.
func sdkToPtrace(spans []sdktrace.ReadOnlySpan) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		for _, kv := range s.Resource().Attributes() {
			putAttr(rs.Resource().Attributes(), kv)
		}
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(s.InstrumentationScope().Name)
		ss.Scope().SetVersion(s.InstrumentationScope().Version)
		sp := ss.Spans().AppendEmpty()
		sp.SetName(s.Name())
		sp.SetTraceID(pcommon.TraceID(s.SpanContext().TraceID()))
		sp.SetSpanID(pcommon.SpanID(s.SpanContext().SpanID()))
		if s.Parent().IsValid() {
			sp.SetParentSpanID(pcommon.SpanID(s.Parent().SpanID()))
		}
		sp.SetKind(ptrace.SpanKind(s.SpanKind()))
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(s.StartTime()))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(s.EndTime()))
		for _, kv := range s.Attributes() {
			putAttr(sp.Attributes(), kv)
		}
		switch s.Status().Code {
		case codes.Error:
			sp.Status().SetCode(ptrace.StatusCodeError)
		case codes.Ok:
			sp.Status().SetCode(ptrace.StatusCodeOk)
		}
		sp.Status().SetMessage(s.Status().Description)
		for _, e := range s.Events() {
			ev := sp.Events().AppendEmpty()
			ev.SetName(e.Name)
			ev.SetTimestamp(pcommon.NewTimestampFromTime(e.Time))
			for _, kv := range e.Attributes {
				putAttr(ev.Attributes(), kv)
			}
		}
	}
	return td
}

func putAttr(m pcommon.Map, kv attribute.KeyValue) {
	k := string(kv.Key)
	switch kv.Value.Type() {
	case attribute.BOOL:
		m.PutBool(k, kv.Value.AsBool())
	case attribute.INT64:
		m.PutInt(k, kv.Value.AsInt64())
	case attribute.FLOAT64:
		m.PutDouble(k, kv.Value.AsFloat64())
	default:
		m.PutStr(k, kv.Value.String())
	}
}

func TestSpansFromOTelSDK(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	res := sdkresource.NewSchemaless(
		attribute.String("service.name", "checkout"),
		attribute.String("host.name", "web-1"),
		attribute.String("service.instance.id", "checkout-7f9c"),
		attribute.String("http.route", "/resource-level"), // loses to the span attribute
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res))
	tr := tp.Tracer("github.com/acme/checkout", trace.WithInstrumentationVersion("1.2.3"))

	ctx, server := tr.Start(context.Background(), "POST /orders", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("http.request.method", "POST"),
			attribute.String("http.route", "/orders"),
			attribute.Int("http.response.status_code", 500),
			attribute.String("client.address", "10.1.2.3"),
			attribute.String("enduser.id", "alice"),
		))
	_, db := tr.Start(ctx, "INSERT orders", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("db.system.name", "postgresql"),
			attribute.String("db.query.text", "INSERT INTO orders VALUES ($1, $2)"),
		))
	time.Sleep(2 * time.Millisecond)
	db.RecordError(errors.New("duplicate key value violates unique constraint"))
	db.SetStatus(codes.Error, "unique violation")
	db.End()
	server.SetStatus(codes.Error, "")
	server.End()

	td := sdkToPtrace(rec.Ended())
	rows := Spans(td)
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2", len(rows))
	}
	dbRow, srvRow := fieldMap(t, rows[0]), fieldMap(t, rows[1])

	wantFields(t, srvRow, map[string]string{
		"type": "span", "_msg": "POST /orders", "span.name": "POST /orders", "span.kind": "server",
		"status": "error", "http.route": "/orders", "http.request.method": "POST",
		"http.response.status_code": "500", "client.address": "10.1.2.3", "enduser.id": "alice",
		"service.name": "checkout", "host.name": "web-1",
		"agent.id": "checkout-7f9c", "agent.name": "web-1",
		"otel.scope.name": "github.com/acme/checkout", "otel.scope.version": "1.2.3",
		"trace_id": server.SpanContext().TraceID().String(), "span_id": server.SpanContext().SpanID().String(),
	})
	if _, ok := srvRow["parent_span_id"]; ok {
		t.Error("root span has parent_span_id")
	}
	wantFields(t, dbRow, map[string]string{
		"span.kind": "client", "status": "error", "status.message": "unique violation",
		"db.system.name": "postgresql", "db.query.text": "INSERT INTO orders VALUES ($1, $2)",
		"parent_span_id": server.SpanContext().SpanID().String(),
		"trace_id":       server.SpanContext().TraceID().String(),
		"exception.type": "*errors.errorString", "exception.message": "duplicate key value violates unique constraint",
		"http.route": "/resource-level", // inherited from the resource
	})
	var evs []map[string]any
	if err := json.Unmarshal([]byte(dbRow["span.events"]), &evs); err != nil || len(evs) != 1 || evs[0]["name"] != "exception" {
		t.Errorf("span.events = %q (%v)", dbRow["span.events"], err)
	}
	d, err := strconv.ParseFloat(dbRow["duration_ms"], 64)
	if err != nil || d < 2 {
		t.Errorf("duration_ms = %q", dbRow["duration_ms"])
	}
	end, _ := strconv.ParseInt(dbRow["end"], 10, 64)
	start, _ := strconv.ParseInt(dbRow["start"], 10, 64)
	if !rows[0].Time.Equal(time.Unix(0, end)) || end-start < int64(2*time.Millisecond) {
		t.Errorf("row time %v, start %d, end %d", rows[0].Time, start, end)
	}
}

func TestSpansPdataEdgeCases(t *testing.T) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr(wire.AttrAgentID, "agent-42")
	ra.PutStr(wire.AttrAgentName, "db-agent")
	ra.PutStr(wire.AttrAgentGroup, "payments")
	ra.PutStr(wire.AttrAgentKind, "app")
	ra.PutStr("host.name", "h1")
	ra.PutEmptyMap("k8s").PutStr("pod.name", "p-1")
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetName("consume")
	sp.SetKind(ptrace.SpanKindConsumer)
	sp.SetStartTimestamp(1_700_000_000_000_000_000)
	sp.SetEndTimestamp(1_700_000_000_250_000_000)
	sp.Attributes().PutDouble("ratio", 0.5)
	sp.Attributes().PutBool("retry", true)
	sp.Attributes().PutEmptySlice("tags").AppendEmpty().SetStr("a")

	rows := Spans(td)
	m := fieldMap(t, rows[0])
	wantFields(t, m, map[string]string{
		"agent.id": "agent-42", "agent.name": "db-agent", "agent.group": "payments", "agent.kind": "app",
		"k8s.pod.name": "p-1", "span.kind": "consumer", "status": "unset", "duration_ms": "250",
		"ratio": "0.5", "retry": "true", "tags": `["a"]`, "start": "1700000000000000000",
	})
	for _, k := range []string{wire.AttrAgentID, "trace_id", "status.message", "span.events"} {
		if _, ok := m[k]; ok {
			t.Errorf("unexpected field %q", k)
		}
	}
}

func TestLogs(t *testing.T) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "billing")
	rl.Resource().Attributes().PutStr("host.name", "h2")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	ts := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

	plain := recs.AppendEmpty()
	plain.SetTimestamp(pcommon.NewTimestampFromTime(ts))
	plain.Body().SetStr("payment accepted")
	plain.SetSeverityText("WARNING")
	plain.Attributes().PutStr("log.file.name", "app.log")
	plain.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	plain.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})

	mapped := recs.AppendEmpty()
	mapped.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Second)))
	body := mapped.Body().SetEmptyMap()
	body.PutStr("msg", "card declined")
	body.PutInt("amount", 1299)
	body.PutEmptyMap("card").PutStr("brand", "visa")
	mapped.SetSeverityNumber(plog.SeverityNumberError2)
	mapped.Attributes().PutStr("log.category", "payments")

	jsonStr := recs.AppendEmpty()
	jsonStr.Body().SetStr(`{"event":"login","user":{"id":"u1"},"ok":true,"n":3}`)
	jsonStr.SetSeverityNumber(plog.SeverityNumberDebug)

	bare := recs.AppendEmpty()
	bare.Body().SetStr("no severity")

	rows := Logs(ld)
	if len(rows) != 4 {
		t.Fatalf("got %d rows", len(rows))
	}
	r0 := fieldMap(t, rows[0])
	wantFields(t, r0, map[string]string{
		"type": "log", "_msg": "payment accepted", "level": "warn", "severity_text": "WARNING",
		"category": "app.log", "service.name": "billing", "agent.id": "h2", "agent.name": "h2",
		"trace_id": "0102030405060708090a0b0c0d0e0f10", "span_id": "0102030405060708",
	})
	if !rows[0].Time.Equal(ts) {
		t.Errorf("time = %v", rows[0].Time)
	}
	r1 := fieldMap(t, rows[1])
	wantFields(t, r1, map[string]string{
		"level": "error", "category": "payments", "msg": "card declined", "amount": "1299", "card.brand": "visa",
	})
	var back map[string]any
	if err := json.Unmarshal([]byte(r1["_msg"]), &back); err != nil || back["msg"] != "card declined" {
		t.Errorf("_msg of map body = %q (%v)", r1["_msg"], err)
	}
	if !rows[1].Time.Equal(ts.Add(time.Second)) {
		t.Errorf("observed time fallback: %v", rows[1].Time)
	}
	r2 := fieldMap(t, rows[2])
	wantFields(t, r2, map[string]string{
		"level": "debug", "event": "login", "user.id": "u1", "ok": "true", "n": "3", "category": "billing",
		"_msg": `{"event":"login","user":{"id":"u1"},"ok":true,"n":3}`,
	})
	r3 := fieldMap(t, rows[3])
	if _, ok := r3["level"]; ok {
		t.Errorf("level set without severity: %q", r3["level"])
	}
	if !rows[3].Time.IsZero() {
		t.Errorf("time without timestamps = %v, want zero (store uses now)", rows[3].Time)
	}
}

func TestLevel(t *testing.T) {
	cases := []struct {
		text string
		num  plog.SeverityNumber
		want string
	}{
		{"", plog.SeverityNumberTrace3, "trace"}, {"", plog.SeverityNumberInfo, "info"},
		{"", plog.SeverityNumberWarn4, "warn"}, {"", plog.SeverityNumberFatal, "fatal"},
		{"Err", 0, "error"}, {"CRITICAL", 0, "fatal"}, {"notice", 0, "info"},
		{"custom", plog.SeverityNumberDebug2, "debug"}, {"", 0, ""},
	}
	for _, c := range cases {
		if got := level(c.text, c.num); got != c.want {
			t.Errorf("level(%q, %d) = %q, want %q", c.text, c.num, got, c.want)
		}
	}
}

func TestSnapshots(t *testing.T) {
	ts := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	req := &agentpb.PushRequest{
		Agent: &agentpb.AgentIdentity{Id: "a-1", Name: "web-1", Group: "web", Kind: "host", Version: "0.1.0"},
		Snapshots: []*agentpb.Snapshot{
			{TimeUnixNano: ts.UnixNano(), Type: wire.SnapshotProcessList, Body: &agentpb.Snapshot_ProcessList{
				ProcessList: &agentpb.ProcessList{Processes: []*agentpb.Process{
					{Pid: 1, Name: "systemd", CpuPercent: 0.1, RssBytes: 10 << 20},
					{Pid: 812, Name: "postgres", CpuPercent: 42.5, RssBytes: 300 << 20, Cmdline: "postgres -D /var/lib/pg"},
				}},
			}},
			{TimeUnixNano: ts.UnixNano(), Type: wire.SnapshotInventory, Body: &agentpb.Snapshot_Inventory{
				Inventory: &agentpb.Inventory{Hostname: "web-1", Os: "linux", Platform: "debian", PlatformVersion: "13", Arch: "amd64", LogicalCores: 2, MemoryBytes: 24 << 30},
			}},
			{Type: wire.SnapshotLoadSnapshot, Body: &agentpb.Snapshot_JsonBody{JsonBody: []byte("{ \"load1\" : 0.5 }")}},
		},
	}
	rows := Snapshots(req)
	if len(rows) != 3 {
		t.Fatalf("got %d rows", len(rows))
	}
	p := fieldMap(t, rows[0])
	wantFields(t, p, map[string]string{
		"type": "snapshot", "snapshot.type": "process_list", "process.count": "2",
		"process.top_cpu.name": "postgres", "process.top_cpu.pid": "812", "process.memory.rss.total": strconv.Itoa(310 << 20),
		"agent.id": "a-1", "agent.name": "web-1", "agent.group": "web", "agent.kind": "host", "agent.version": "0.1.0",
		"_msg": "process_list: 2 processes, top cpu postgres",
	})
	var body struct {
		Processes []struct {
			Pid     int    `json:"pid"`
			Name    string `json:"name"`
			Cmdline string `json:"cmdline"`
		} `json:"processes"`
	}
	if err := json.Unmarshal([]byte(p["body"]), &body); err != nil || len(body.Processes) != 2 || body.Processes[1].Cmdline != "postgres -D /var/lib/pg" {
		t.Errorf("body = %s (%v)", p["body"], err)
	}
	if !rows[0].Time.Equal(ts) {
		t.Errorf("time = %v", rows[0].Time)
	}
	inv := fieldMap(t, rows[1])
	wantFields(t, inv, map[string]string{"host.name": "web-1", "os.type": "linux", "os.name": "debian", "host.cpu.logical_count": "2"})
	load := fieldMap(t, rows[2])
	wantFields(t, load, map[string]string{"snapshot.type": "load_snapshot", "body": `{"load1":0.5}`})
	if Snapshots(nil) != nil {
		t.Error("nil request")
	}
}

// TestRowsStoreAndSearch runs converted rows through a real store.
func TestRowsStoreAndSearch(t *testing.T) {
	s, err := event.Open(context.Background(), event.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	td := transactionBatch(10, time.Now())
	rows := Spans(td)
	acc, rej, err := s.Add(context.Background(), 1, rows)
	if err != nil || rej != 0 || acc != len(rows) {
		t.Fatalf("Add: %d %d %v", acc, rej, err)
	}
	s.Flush()
	res, err := s.Search(context.Background(), 1, event.Query{Type: "span", Filters: []event.Filter{{Field: "db.system.name", Op: "=", Value: "postgresql"}}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 20 {
		t.Fatalf("got %d db spans, want 20", len(res.Records))
	}
}
