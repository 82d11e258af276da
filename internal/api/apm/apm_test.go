package apm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/authn"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

type envelopeJSON struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	Error     string          `json:"error"`
	ErrorType string          `json:"errorType"`
}

// Ids of the fixture's trace (docs/apm.md: hex as ingest writes them).
const (
	trace1 = "0af7651916cd43dd8448eb211c80319c"
	spanA  = "a000000000000001" // shop GET /checkout, the root
	spanB  = "b000000000000002" // shop method step under A
	spanC  = "c000000000000003" // shop sql step under B
	spanD  = "d000000000000004" // shop httpc client span under A, calls E
	spanE  = "e000000000000005" // pay POST /pay
	spanF  = "f000000000000006" // pay sql step under E
	spanG  = "0000000000000007" // pay producer span under E, consumed by H
	spanH  = "0000000000000008" // notify consumer tx, ends after the root
	spanI  = "0000000000000009" // audit tx whose caller's client span was dropped
	spanX  = "00000000000000aa" // a dropped span: I's parent, never stored

	hash1      = "1111111111111111"
	hash2      = "2222222222222222"
	hash3      = "3333333333333333" // sampled, but its text was never stored
	stack1Text = "goroutine 7 [select]:\nruntime.gopark(0x0)\n\t/usr/lib/go/src/runtime/proc.go:435 +0xce\nmain.checkout(0xc000010000)\n\t/app/main.go:42 +0x1d\n"
	stack2Text = "database/sql.(*DB).QueryContext(...)\n\t/usr/lib/go/src/database/sql/sql.go:1 +0x1\nmain.load()\n\t/app/db.go:9\n"
)

type fixture struct {
	srv *httptest.Server
	es  *event.Store
	now time.Time
	// base is a whole minute about four minutes before now: W0.
	base time.Time
	// t0 is trace1's start; box is the start of the 5-s window the
	// transactions test boxes; recent is shop-1's newest closed window.
	t0, box, recent time.Time
}

func kvFields(typ string, kv []string) []event.Field {
	f := []event.Field{{Name: "type", Value: typ}}
	for i := 0; i+1 < len(kv); i += 2 {
		f = append(f, event.Field{Name: kv[i], Value: kv[i+1]})
	}
	return f
}

func row(t time.Time, typ string, kv ...string) event.Row {
	return event.Row{Time: t, Fields: kvFields(typ, kv)}
}

// spanRow is a span row as ingest writes it: timed at its end, with start,
// end, duration_ms and the resource's service.name.
func spanRow(traceID, id, parent, app, inst, role string, start, end time.Time, kv ...string) event.Row {
	f := []string{"trace_id", traceID, "span_id", id, "apm.role", role, "app", app, "instance", inst, "service.name", app,
		"start", strconv.FormatInt(start.UnixNano(), 10), "end", strconv.FormatInt(end.UnixNano(), 10),
		"duration_ms", strconv.FormatFloat(float64(end.Sub(start))/1e6, 'f', -1, 64),
		"status", "unset", "telemetry.sdk.language", "go", "otel.scope.name", "net/http", "agent.id", "agent-" + inst, "host.name", "host-" + inst}
	if parent != "" {
		f = append(f, "parent_span_id", parent)
	}
	return row(end, "span", append(f, kv...)...)
}

func msd(d float64) time.Duration { return time.Duration(d * float64(time.Millisecond)) }

// setup fills a real event store, for project 1, with rows shaped as
// docs/apm.md says:
//
//   - apmroll: shop-1 (two flushes) and shop-2 in W0 = base, pay-1 in W1 =
//     base+5s, shop-1 24 h before W0, and shop-1's recent window;
//   - apmstat: sql, tx, in and out statistics of shop and pay;
//   - trace1: shop → pay (httpc) → notify (messaging), and audit, whose
//     caller's client span was not exported;
//   - tx rows at the edges of the box window;
//   - active snapshots of shop-1 (an older and the newest), pay-1 and an
//     old one of shop-2, and stack rows.
//
// Project 2 has one rollup row.
func setup(t testing.TB) *fixture {
	t.Helper()
	es, err := event.Open(context.Background(), event.Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = es.Close() })
	now := time.Now()
	f := &fixture{es: es, now: now, base: now.Truncate(time.Minute).Add(-4 * time.Minute)}
	f.t0 = f.base.Add(30 * time.Second)
	f.box = f.base.Add(2 * time.Minute)
	f.recent = now.Truncate(window).Add(-10 * time.Second)
	w0, w1 := f.base, f.base.Add(window)
	shop1 := []string{"app", "shop", "instance", "shop-1", "k8s.namespace.name", "prod", "k8s.deployment.name", "shop", "k8s.pod.name", "shop-1-pod"}
	shop2 := []string{"app", "shop", "instance", "shop-2", "k8s.namespace.name", "prod", "k8s.deployment.name", "shop", "k8s.pod.name", "shop-2-pod"}
	pay1 := []string{"app", "pay", "instance", "pay-1", "k8s.namespace.name", "staging"}
	with := func(base []string, kv ...string) []string { return append(append([]string{}, base...), kv...) }

	rows := []event.Row{
		row(w0, "apmroll", with(shop1, "count", "6", "errors", "1", "sum_ms", "600", "max_ms", "300", "apdex_s", "4", "apdex_t", "2",
			"users", "5", "active", "2", "cpu_percent", "10", "heap_bytes", "100", "hitmap", "0:3,5:2", "hitmap_err", "5:1")...),
		row(w0, "apmroll", with(shop1, "count", "1", "errors", "0", "sum_ms", "50", "apdex_s", "1", "apdex_t", "0",
			"users", "6", "active", "1", "cpu_percent", "20", "heap_bytes", "200", "hitmap", "0:1")...),
		row(w0, "apmroll", with(shop2, "count", "5", "errors", "0", "sum_ms", "500", "apdex_s", "5", "apdex_t", "0",
			"users", "3", "active", "0", "cpu_percent", "30", "heap_bytes", "300", "hitmap", "0:4,119:1")...),
		row(w1, "apmroll", with(pay1, "count", "10", "errors", "3", "sum_ms", "2000", "apdex_s", "2", "apdex_t", "4",
			"users", "7", "active", "4", "cpu_percent", "40", "heap_bytes", "1000", "hitmap", "40:7", "hitmap_err", "40:2,41:1")...),
		row(w0.Add(-24*time.Hour), "apmroll", with(shop1, "count", "50", "users", "20", "hitmap", "0:50")...),
		row(f.recent, "apmroll", with(shop1, "count", "3", "errors", "0", "sum_ms", "30", "users", "1", "hitmap", "0:3",
			"agent.id", "agent-shop-1", "telemetry.sdk.language", "go", "host.name", "host-1")...),
	}

	// Statistics: two windows, sums across windows and instances.
	s0, s1 := f.base, f.base.Add(time.Minute)
	stat := func(t time.Time, inst []string, kind, key string, kv ...string) event.Row {
		return row(t, "apmstat", with(inst, append([]string{"stat.kind", kind, "stat.key", key}, kv...)...)...)
	}
	sel := "SELECT * FROM orders WHERE id = ?"
	ins := `INSERT INTO "log" (a, b) VALUES (?, ?)`
	rows = append(rows,
		stat(s0, shop1, "sql", sel, "count", "10", "errors", "1", "sum_ms", "100", "max_ms", "30", "cpu_ms", "5", "rows", "10"),
		stat(s0, shop2, "sql", sel, "count", "5", "errors", "0", "sum_ms", "200", "max_ms", "80", "rows", "5"),
		stat(s1, shop1, "sql", sel, "count", "5", "errors", "0", "sum_ms", "50", "max_ms", "20", "rows", "5"),
		stat(s0, shop1, "sql", ins, "count", "2", "errors", "0", "sum_ms", "400", "max_ms", "300", "rows", "2"),
		stat(s0, pay1, "sql", "DELETE FROM x", "count", "1", "sum_ms", "1"),
		stat(s0, shop1, "tx", "GET /orders/{id}", "count", "60", "errors", "2", "sum_ms", "3000", "sql_count", "120"),
		stat(s1, shop2, "tx", "GET /orders/{id}", "count", "40", "errors", "0", "sum_ms", "2000", "sql_count", "80"),
		stat(s0, pay1, "tx", "POST /pay", "count", "40", "errors", "4", "sum_ms", "8000"),
		stat(s0, pay1, "in", "pay.svc:8080", "count", "30"),
		stat(s0, pay1, "in", "nats:payments.requested", "count", "7"),
		stat(s0, shop1, "out", "http://pay.svc:8080", "count", "30", "errors", "3", "sum_ms", "600"),
		stat(s0, shop1, "out", "mysql://db.svc:3306", "count", "40", "sum_ms", "200"),
		stat(s1, shop2, "out", "mysql://db.svc:3306", "count", "10", "sum_ms", "50"),
		stat(s0, shop1, "out", "nats:payments.requested", "count", "7", "sum_ms", "7"),
		stat(s0, shop1, "out", "https://api.stripe.com:443", "count", "4", "sum_ms", "400"),
		stat(s0, pay1, "out", "postgresql://pg:5432", "count", "12", "sum_ms", "24"),
		stat(s0, pay1, "out", "kafka:audit", "count", "3", "sum_ms", "3"),
	)

	// trace1. Offsets in ms from t0.
	at := func(off float64) time.Time { return f.t0.Add(msd(off)) }
	events := `[{"name":"log","time":"` + at(5).UTC().Format(time.RFC3339Nano) + `"},` +
		`{"name":"exception","time":"` + at(450).UTC().Format(time.RFC3339Nano) + `","attributes":{"exception.type":"*errors.errorString","exception.message":"late"}}]`
	rows = append(rows,
		spanRow(trace1, spanA, "", "shop", "shop-1", "tx", at(0), at(500), "span.kind", "server", "span.name", "GET /checkout",
			"tx.name", "GET /checkout", "tx.error", "0", "tx.status", "200", "tx.method", "GET", "tx.client_ip", "10.0.0.9",
			"tx.user", "u-42", "tx.user_agent", "curl/8", "tx.sql_count", "1", "tx.sql_ms", "8", "tx.httpc_count", "1", "tx.httpc_ms", "300",
			"tx.cpu_ms", "12.5", "tx.alloc_bytes", "4096", "osprey.tx.steps_dropped", "2", "span.events", events,
			"k8s.namespace.name", "prod"),
		spanRow(trace1, spanB, spanA, "shop", "shop-1", "step", at(10), at(30), "span.kind", "internal", "span.name", "checkout.validate",
			"step.type", "method", "step.text", "checkout.validate", "code.function", "validate", "k8s.namespace.name", "prod"),
		spanRow(trace1, spanC, spanB, "shop", "shop-1", "step", at(12), at(20), "span.kind", "client", "span.name", "SELECT orders",
			"step.type", "sql", "step.text", "SELECT * FROM orders WHERE id = ?", "step.rows", "3", "db.system", "mysql"),
		spanRow(trace1, spanD, spanA, "shop", "shop-1", "step", at(100), at(400), "span.kind", "client", "span.name", "POST",
			"step.type", "httpc", "step.text", "POST http://pay.svc:8080/pay", "status", "error", "status.message", "502 from pay"),
		spanRow(trace1, spanE, spanD, "pay", "pay-1", "tx", at(110), at(390), "span.kind", "server", "span.name", "POST /pay",
			"tx.name", "POST /pay", "tx.error", "1", "tx.status", "502", "tx.remote_parent", "1"),
		spanRow(trace1, spanF, spanE, "pay", "pay-1", "step", at(120), at(200), "span.kind", "client", "step.type", "sql", "step.text", "INSERT INTO payments VALUES (?)"),
		spanRow(trace1, spanG, spanE, "pay", "pay-1", "step", at(250), at(260), "span.kind", "producer", "step.type", "msg", "step.text", "payments.done"),
		spanRow(trace1, spanH, spanG, "notify", "notify-1", "tx", at(270), at(600), "span.kind", "consumer", "tx.name", "payments.done process", "tx.remote_parent", "1"),
		spanRow(trace1, spanI, spanX, "audit", "audit-1", "tx", at(130), at(190), "span.kind", "server", "tx.name", "POST /audit", "tx.remote_parent", "1"),
	)

	// The box: [box, box+5s) × [125, 250) ms, i.e. bucket 1 of one column.
	bx := func(i int, end time.Time, durMs float64, app string, kv ...string) event.Row {
		return spanRow(fmt.Sprintf("%032x", 0xb0000+i), boxSpan(i), "", app, app+"-1", "tx", end.Add(-msd(durMs)), end,
			append([]string{"tx.name", fmt.Sprintf("GET /box/%d", i), "tx.error", "0", "span.kind", "server"}, kv...)...)
	}
	rows = append(rows,
		bx(1, f.box, 125, "shop"),                                     // in: start edge, min edge
		bx(2, f.box.Add(window), 200, "shop"),                         // out: the end is exclusive
		bx(3, f.box.Add(window-time.Nanosecond), 249.999, "shop"),     // in
		bx(4, f.box.Add(-time.Nanosecond), 200, "shop"),               // out: before the start
		bx(5, f.box.Add(time.Second), 250, "shop"),                    // out: max is exclusive
		bx(6, f.box.Add(2*time.Second), 124.999, "shop"),              // out: below min
		bx(7, f.box.Add(3*time.Second), 200, "shop", "tx.error", "1"), // in, an error
		bx(8, f.box.Add(3*time.Second), 200, "pay"),                   // in, app pay
	)

	// Active snapshots; each snapshot's rows share its time, to the ns.
	act := func(t time.Time, inst []string, span string, elapsed float64, kv ...string) event.Row {
		base := with(inst, "agent.id", "agent-"+inst[3], "trace_id", trace1, "span_id", span, "tx.name", "GET /slow",
			"start", strconv.FormatInt(t.Add(-msd(elapsed)).UnixNano(), 10), "elapsed_ms", strconv.FormatFloat(elapsed, 'f', -1, 64),
			"tx.client_ip", "10.1.1.1", "tx.user", "u-1", "tx.method", "GET", "tx.sql_count", "2", "tx.httpc_count", "0")
		return row(t, "active", append(base, kv...)...)
	}
	older := now.Add(-12*time.Second + 123456789)
	newest := now.Add(-2*time.Second + 987654321)
	payT := now.Add(-5*time.Second + 5)
	rows = append(rows,
		act(older, shop1, "5100000000000001", 50, "stack.hash", hash1),
		act(older, shop1, "5100000000000002", 2000, "stack.hash", hash1),
		act(newest, shop1, "5100000000000002", 9000, "step.type", "dbc", "step.text", "pool wait", "step.elapsed_ms", "8500", "stack.hash", hash1),
		act(newest, shop1, "5100000000000003", 8000, "step.type", "httpc", "step.text", "GET http://slow:80/", "step.elapsed_ms", "7000", "stack.hash", hash1),
		act(newest, shop1, "5100000000000004", 3000, "step.type", "sql", "step.text", "SELECT sleep(?)", "step.elapsed_ms", "2900", "stack.hash", hash2),
		act(newest, shop1, "5100000000000005", 100),
		act(payT, pay1, "5200000000000001", 2999.9, "step.type", "msg", "step.text", "payments.done", "step.elapsed_ms", "10", "stack.hash", hash3),
		act(now.Add(-20*time.Second), shop2, "5300000000000001", 99999, "stack.hash", hash2), // too old for /active
		// trace1's root was sampled twice while it ran.
		act(at(100), shop1, spanA, 100, "step.type", "httpc", "step.text", "POST http://pay.svc:8080/pay", "step.elapsed_ms", "0.5", "stack.hash", hash1),
		act(at(300), shop1, spanA, 300, "step.type", "httpc", "step.text", "POST http://pay.svc:8080/pay", "step.elapsed_ms", "200", "stack.hash", hash2),
		act(at(350), shop1, spanA, 350, "step.type", "httpc", "step.text", "POST http://pay.svc:8080/pay", "step.elapsed_ms", "250"), // no sample
		// Stack texts: hash1 was sent by two sessions.
		row(f.base.Add(-time.Hour), "stack", "stack.hash", hash1, "_msg", stack1Text, "app", "shop", "instance", "shop-1"),
		row(f.base, "stack", "stack.hash", hash1, "_msg", stack1Text, "app", "shop", "instance", "shop-2"),
		row(f.base, "stack", "stack.hash", hash2, "_msg", stack2Text, "app", "shop", "instance", "shop-1"),
	)
	if _, rej, err := es.Add(context.Background(), 1, rows); err != nil || rej != 0 {
		t.Fatalf("Add: %d rejected, %v", rej, err)
	}
	if _, _, err := es.Add(context.Background(), 2, []event.Row{row(w0, "apmroll", "app", "secret", "instance", "s-1", "count", "99", "hitmap", "0:99")}); err != nil {
		t.Fatal(err)
	}
	es.Flush()

	h := &handler{es: es, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now }}
	mux := h.routes()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Stands in for authn.Require: X-Test-Project picks the project,
		// as a viewer.
		if p, err := strconv.ParseInt(r.Header.Get("X-Test-Project"), 10, 64); err == nil {
			r = r.WithContext(authn.NewContext(r.Context(), authn.Identity{
				User: meta.User{ID: 1, Name: "viewer"}, Project: meta.Project{ID: p}, Role: meta.RoleViewer}))
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) raw(t testing.TB, project int, path string, params url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path+"?"+params.Encode(), nil)
	if project > 0 {
		req.Header.Set("X-Test-Project", strconv.Itoa(project))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// get calls path for project and decodes the envelope's data into out when
// the answer is 200.
func (f *fixture) get(t testing.TB, project int, path string, params url.Values, out any) (int, envelopeJSON) {
	t.Helper()
	resp := f.raw(t, project, path, params)
	var env envelopeJSON
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("decode %s data: %v\n%s", path, err, env.Data)
		}
	}
	return resp.StatusCode, env
}

func (f *fixture) mustGet(t testing.TB, path string, params url.Values, out any) {
	t.Helper()
	if code, env := f.get(t, 1, path, params, out); code != http.StatusOK {
		t.Fatalf("%s?%s: %d %s", path, params.Encode(), code, env.Error)
	}
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// boxSpan is the span id of the box test's transaction i.
func boxSpan(i int) string { return fmt.Sprintf("%016x", 0xb0000+i) }

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
