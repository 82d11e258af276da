package txn

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/osprey-monitoring/osprey/internal/eventrow"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// spanSpec describes one span of a test trace; times are ms after base.
type spanSpec struct {
	id, parent    byte
	name          string
	kind          ptrace.SpanKind
	start, end    int64
	attrs         map[string]any
	errStatus     bool
	exceptionType string
}

var base = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func traceOf(res map[string]any, traceByte byte, specs ...spanSpec) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	_ = rs.Resource().Attributes().FromRaw(res)
	ss := rs.ScopeSpans().AppendEmpty()
	for _, s := range specs {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{15: traceByte, 0: 1})
		sp.SetSpanID(pcommon.SpanID{7: s.id, 0: traceByte})
		if s.parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{7: s.parent, 0: traceByte})
		}
		sp.SetName(s.name)
		sp.SetKind(s.kind)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(s.start) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(s.end) * time.Millisecond)))
		_ = sp.Attributes().FromRaw(s.attrs)
		if s.errStatus {
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		if s.exceptionType != "" {
			ev := sp.Events().AppendEmpty()
			ev.SetName("exception")
			ev.Attributes().PutStr("exception.type", s.exceptionType)
			ev.Attributes().PutStr("exception.message", "boom")
		}
	}
	return td
}

var nodeRes = map[string]any{"service.name": "inventory", "host.name": "h1", "process.pid": int64(42),
	"k8s.namespace.name": "shop"}

// nodeOrder is what Node's auto-instrumentation exports for GET
// /items/:id: the server span, a middleware span, a pg query under it and
// an outgoing HTTP call. The children come first, as a batch processor
// sends them (they end first).
func nodeOrder(traceByte byte, status int64, slowSQL int64) ptrace.Traces {
	return traceOf(nodeRes, traceByte,
		spanSpec{id: 3, parent: 2, name: "pg.query:SELECT shop", kind: ptrace.SpanKindClient, start: 2, end: 2 + slowSQL,
			attrs: map[string]any{"db.system": "postgresql", "db.statement": "SELECT * FROM items WHERE id = 42 AND name = 'x'",
				"net.peer.name": "127.0.0.1", "net.peer.port": int64(5432), "db.response.returned_rows": int64(1)}},
		spanSpec{id: 2, parent: 1, name: "middleware - query", kind: ptrace.SpanKindInternal, start: 1, end: 3 + slowSQL},
		spanSpec{id: 4, parent: 1, name: "GET", kind: ptrace.SpanKindClient, start: 4 + slowSQL, end: 10 + slowSQL,
			attrs: map[string]any{"http.method": "GET", "http.url": "http://127.0.0.1:9001/price?id=42", "net.peer.name": "127.0.0.1", "net.peer.port": int64(9001)}},
		spanSpec{id: 1, name: "GET /items/:id", kind: ptrace.SpanKindServer, start: 0, end: 12 + slowSQL, errStatus: status >= 500,
			exceptionType: map[bool]string{true: "TypeError"}[status >= 500],
			attrs: map[string]any{"http.method": "GET", "http.route": "/items/:id", "http.status_code": status,
				"http.client_ip": "10.0.0.7", "http.user_agent": "curl/8", "net.host.name": "127.0.0.1", "net.host.port": int64(9002)}},
	)
}

func rowsOf(td ptrace.Traces) []event.Row { return eventrow.Spans(td) }

func field(r event.Row, name string) string {
	for _, f := range r.Fields {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

func byName(rows []event.Row, spanName string) event.Row {
	for _, r := range rows {
		if field(r, "span.name") == spanName {
			return r
		}
	}
	return event.Row{}
}

func TestSpansMarksTransactionsAndSteps(t *testing.T) {
	p := New(nil, Options{Now: func() time.Time { return base }})
	td := nodeOrder(1, 200, 5)
	rows := rowsOf(td)
	p.Spans(1, td, rows)

	tx := byName(rows, "GET /items/:id")
	for name, want := range map[string]string{
		FieldRole: RoleTx, FieldApp: "inventory", FieldInstance: "h1:42", FieldTxName: "GET /items/:id",
		FieldTxError: "0", FieldTxSQLCount: "1", FieldTxSQLMs: "5", FieldTxHTTPCCount: "1", FieldTxHTTPCMs: "6",
		FieldTxClientIP: "10.0.0.7", FieldTxUser: "10.0.0.7", FieldTxUserAgent: "curl/8", FieldTxStatus: "200", FieldTxMethod: "GET",
	} {
		if got := field(tx, name); got != want {
			t.Errorf("tx %s = %q, want %q", name, got, want)
		}
	}
	sql := byName(rows, "pg.query:SELECT shop")
	if got := field(sql, FieldStepText); got != "SELECT * FROM items WHERE id = ? AND name = ?" {
		t.Errorf("SQL step text %q: literals must be masked", got)
	}
	for _, tc := range []struct{ span, typ string }{
		{"pg.query:SELECT shop", StepSQL}, {"middleware - query", StepMethod}, {"GET", StepHTTPC},
	} {
		r := byName(rows, tc.span)
		if field(r, FieldRole) != RoleStep || field(r, FieldStepType) != tc.typ {
			t.Errorf("%s: role %q type %q, want step %s", tc.span, field(r, FieldRole), field(r, FieldStepType), tc.typ)
		}
	}
	if got := field(byName(rows, "GET"), FieldStepText); got != "GET http://127.0.0.1:9001/price" {
		t.Errorf("httpc text %q", got)
	}
}

// A parent's children may arrive in an earlier batch.
func TestChildSumsAcrossBatches(t *testing.T) {
	p := New(nil, Options{Now: func() time.Time { return base }})
	td := nodeOrder(2, 200, 1)
	// Split: the three children in one batch, the server span in the next.
	first, second := ptrace.NewTraces(), ptrace.NewTraces()
	td.ResourceSpans().At(0).CopyTo(first.ResourceSpans().AppendEmpty())
	td.ResourceSpans().At(0).CopyTo(second.ResourceSpans().AppendEmpty())
	first.ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(s ptrace.Span) bool { return s.Kind() == ptrace.SpanKindServer })
	second.ResourceSpans().At(0).ScopeSpans().At(0).Spans().RemoveIf(func(s ptrace.Span) bool { return s.Kind() != ptrace.SpanKindServer })
	p.Spans(1, first, rowsOf(first))
	rows := rowsOf(second)
	p.Spans(1, second, rows)
	if got := field(rows[0], FieldTxSQLCount) + "/" + field(rows[0], FieldTxHTTPCCount); got != "1/1" {
		t.Fatalf("sql/httpc count across batches = %s, want 1/1", got)
	}
}

func TestLibrarySummaryWins(t *testing.T) {
	p := New(nil, Options{Now: func() time.Time { return base }})
	td := traceOf(map[string]any{"service.name": "checkout", wire.AttrAgentName: "checkout-1", wire.AttrApmRollups: wire.ApmRollupsInProcess}, 3,
		spanSpec{id: 1, name: "GET /pay", kind: ptrace.SpanKindServer, end: 20, attrs: map[string]any{
			"http.request.method": "GET", "http.route": "/pay", "http.response.status_code": int64(200),
			wire.AttrTxSQLCount: int64(3), wire.AttrTxSQLMs: 7.5, wire.AttrTxHTTPCCount: int64(0), wire.AttrTxStepsDropped: int64(3)}})
	rows := rowsOf(td)
	b := p.Spans(1, td, rows)
	if field(rows[0], FieldTxSQLCount) != "3" || field(rows[0], FieldTxSQLMs) != "7.5" || field(rows[0], FieldTxStepsDropped) != "3" {
		t.Fatalf("library summary not kept: %v", rows[0].Fields)
	}
	if field(rows[0], FieldInstance) != "checkout-1" {
		t.Errorf("instance %q, want the agent name", field(rows[0], FieldInstance))
	}
	if len(b.txs) != 0 {
		t.Errorf("in-process rollups: the server must not count the library's transactions again (%d counted)", len(b.txs))
	}
}

func openStore(t *testing.T) *event.Store {
	t.Helper()
	s, err := event.Open(context.Background(), event.Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxMemoryBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func search(t *testing.T, s *event.Store, typ string, filters ...event.Filter) []event.Record {
	t.Helper()
	s.Flush()
	res, err := s.Search(context.Background(), 1, event.Query{Start: base.Add(-time.Hour), End: base.Add(time.Hour), Type: typ, Filters: filters, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return res.Records
}

func TestRollupsAndStatistics(t *testing.T) {
	store := openStore(t)
	now := base
	p := New(store, Options{StatWindow: time.Minute, Now: func() time.Time { return now }})
	// 10 fast successes, 3 failures, 2 slow (6 s SQL) in one 5-s window.
	var n byte
	send := func(status, sqlMs int64) {
		n++
		td := nodeOrder(n, status, sqlMs)
		rows := rowsOf(td)
		b := p.Spans(1, td, rows)
		if _, _, err := store.Add(context.Background(), 1, rows); err != nil {
			t.Fatal(err)
		}
		p.Commit(b)
	}
	for range 10 {
		send(200, 1)
	}
	for range 3 {
		send(503, 1)
	}
	for range 2 {
		send(200, 6000)
	}
	now = base.Add(2 * time.Minute)
	if err := p.flush(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	rolls := search(t, store, TypeRollup)
	var count, errs int
	hit := map[int]int{}
	herr := map[int]int{}
	for _, r := range rolls {
		c, _ := strconv.Atoi(r["count"])
		e, _ := strconv.Atoi(r["errors"])
		count += c
		errs += e
		parse := func(s string, into map[int]int) {
			for _, kv := range strings.Split(s, ",") {
				if kv == "" {
					continue
				}
				b, v, _ := strings.Cut(kv, ":")
				bi, _ := strconv.Atoi(b)
				vi, _ := strconv.Atoi(v)
				into[bi] += vi
			}
		}
		parse(r["hitmap"], hit)
		parse(r["hitmap_err"], herr)
		if r[FieldNamespace] != "shop" || r[FieldApp] != "inventory" {
			t.Errorf("rollup identity %v", r)
		}
	}
	if count != 15 || errs != 3 {
		t.Fatalf("rollups count %d errors %d, want 15 and 3", count, errs)
	}
	// Fast ones take 13 ms (bucket 0); slow ones 6,012 ms (bucket 44).
	if hit[0] != 10 || hit[wire.HitmapBucket(6012)] != 2 || herr[0] != 3 {
		t.Errorf("hitmap ok %v err %v", hit, herr)
	}
	stats := search(t, store, TypeStat)
	got := map[string]string{}
	for _, r := range stats {
		got[r[FieldStatKind]+" "+r[FieldStatKey]] = r["count"] + "/" + r["errors"]
	}
	for k, want := range map[string]string{
		"tx GET /items/:id": "15/3",
		"sql SELECT * FROM items WHERE id = ? AND name = ?": "15/0",
		"httpc GET http://127.0.0.1:9001/price":             "15/0",
		"error TypeError":                                   "3/3",
		"ip 10.0.0.7":                                       "15/3",
		"ua curl/8":                                         "15/3",
		"out postgresql://127.0.0.1:5432":                   "15/0",
		"out http://127.0.0.1:9001":                         "15/0",
		"in 127.0.0.1:9002":                                 "15/3",
	} {
		if got[k] != want {
			t.Errorf("stat %q = %q, want %q (all: %v)", k, got[k], want, got)
		}
	}
}

func TestPushRows(t *testing.T) {
	req := &agentpb.PushRequest{
		Agent: &agentpb.AgentIdentity{Id: "a1", Name: "checkout-1", Group: "checkout", Kind: wire.KindApp},
		Snapshots: []*agentpb.Snapshot{
			{TimeUnixNano: base.UnixNano(), Type: wire.SnapshotApmActive, Body: &agentpb.Snapshot_ApmActive{ApmActive: &agentpb.ApmActive{
				Transactions: []*agentpb.ApmActiveTx{{TraceId: "ab", SpanId: "cd", Name: "GET /slow", ElapsedMs: 4200,
					Step: &agentpb.ApmStep{Type: StepSQL, Text: "SELECT SLEEP(?)", ElapsedMs: 4100}, StackHash: "00ff"}},
				Stacks: []*agentpb.ApmStack{{Hash: "00ff", Text: "main.slowHandler\n\t/app/main.go:10"}},
			}}},
			{TimeUnixNano: base.UnixNano(), Type: wire.SnapshotApmRollup, Body: &agentpb.Snapshot_ApmRollup{ApmRollup: &agentpb.ApmRollup{
				WindowStartUnixNano: base.UnixNano(), WindowSeconds: 5, Count: 7, Hitmap: []uint32{5, 0, 2},
				StatsWindowStartUnixNano: base.UnixNano(), StatsWindowSeconds: 300,
				Stats: []*agentpb.ApmStat{{Kind: StatTx, Key: "GET /slow", Count: 7}},
			}}},
		},
	}
	rows := PushRows(req)
	types := map[string]int{}
	for _, r := range rows {
		types[field(r, event.FieldType)]++
		if field(r, FieldApp) != "checkout" || field(r, FieldInstance) != "checkout-1" {
			t.Errorf("identity of %v", r.Fields)
		}
	}
	if types[TypeActive] != 1 || types[TypeStack] != 1 || types[TypeRollup] != 1 || types[TypeStat] != 1 {
		t.Fatalf("row types %v", types)
	}
	for _, r := range rows {
		switch field(r, event.FieldType) {
		case TypeRollup:
			if field(r, "hitmap") != "0:5,2:2" {
				t.Errorf("hitmap %q", field(r, "hitmap"))
			}
		case TypeActive:
			if field(r, FieldStepType) != StepSQL || field(r, FieldStackHash) != "00ff" || field(r, "elapsed_ms") != "4200" {
				t.Errorf("active row %v", r.Fields)
			}
		}
	}
	// eventrow leaves these snapshots alone.
	if n := len(eventrow.Snapshots(req)); n != 0 {
		t.Errorf("eventrow made %d rows of APM snapshots", n)
	}
}

// Express ends its "request handler" span before the query the handler
// started; the query's sum must still reach the transaction, in one batch
// or spread over several.
func TestChildSumsWhenAParentStepEndsFirst(t *testing.T) {
	spans := []spanSpec{
		{id: 2, parent: 1, name: "request handler - /items/:id", kind: ptrace.SpanKindInternal, start: 1, end: 2},
		{id: 3, parent: 2, name: "pg.query:SELECT", kind: ptrace.SpanKindClient, start: 2, end: 9,
			attrs: map[string]any{"db.system": "postgresql", "db.statement": "SELECT 1", "net.peer.name": "db"}},
		{id: 4, parent: 3, name: "GET", kind: ptrace.SpanKindClient, start: 3, end: 5, // a call made while a cursor is open
			attrs: map[string]any{"http.method": "GET", "http.url": "http://price:9001/p"}},
		{id: 1, name: "GET /items/:id", kind: ptrace.SpanKindServer, start: 0, end: 10,
			attrs: map[string]any{"http.method": "GET", "http.route": "/items/:id"}},
	}
	for _, tc := range []struct {
		name    string
		batches [][]int // indexes into spans
	}{
		{"one batch, end order", [][]int{{0, 1, 2, 3}}},
		{"one batch, reversed", [][]int{{3, 2, 1, 0}}},
		{"parent step in an earlier batch", [][]int{{0}, {1, 2}, {3}}},
		{"children before their parent step", [][]int{{2}, {1}, {0}, {3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(nil, Options{Now: func() time.Time { return base }})
			var tx event.Row
			for _, idx := range tc.batches {
				var sel []spanSpec
				for _, i := range idx {
					sel = append(sel, spans[i])
				}
				td := traceOf(nodeRes, 9, sel...)
				rows := rowsOf(td)
				p.Spans(1, td, rows)
				for _, r := range rows {
					if field(r, FieldRole) == RoleTx {
						tx = r
					}
				}
			}
			if got := field(tx, FieldTxSQLCount) + "/" + field(tx, FieldTxHTTPCCount); got != "1/1" {
				t.Fatalf("sql/httpc = %s, want 1/1", got)
			}
		})
	}
}

func TestIsEntry(t *testing.T) {
	const known, remote = 0x100, 0x200
	for _, tc := range []struct {
		name          string
		kind          ptrace.SpanKind
		parent        bool
		flags         uint32
		entry, rpWant bool
	}{
		{"root internal span", ptrace.SpanKindInternal, false, 0, true, false},
		{"server, parent flags unknown", ptrace.SpanKindServer, true, 0, true, true},
		{"server, local parent", ptrace.SpanKindServer, true, known, true, false},
		{"consumer receive, remote parent", ptrace.SpanKindConsumer, true, known | remote, true, true},
		{"consumer process, local parent", ptrace.SpanKindConsumer, true, known, false, false},
		{"consumer, parent flags unknown", ptrace.SpanKindConsumer, true, 0, true, true},
		{"client step", ptrace.SpanKindClient, true, known, false, false},
		{"internal span, remote parent", ptrace.SpanKindInternal, true, known | remote, true, true},
	} {
		sp := ptrace.NewSpan()
		sp.SetKind(tc.kind)
		if tc.parent {
			sp.SetParentSpanID(pcommon.SpanID{1})
		}
		sp.SetFlags(tc.flags)
		if e, rp := isEntry(sp); e != tc.entry || rp != tc.rpWant {
			t.Errorf("%s: entry %v remote %v, want %v %v", tc.name, e, rp, tc.entry, tc.rpWant)
		}
	}
}

// An open statistics window is written every 30 s as rows of what came
// since; their sum is the window's total, and a key seen before a partial
// write still counts once against MaxKeys.
func TestStatisticsPartialWrites(t *testing.T) {
	store := openStore(t)
	now := base.Add(time.Second)
	p := New(store, Options{StatWindow: 5 * time.Minute, MaxKeys: 1, Now: func() time.Time { return now }})
	var n byte
	send := func(k int) {
		for range k {
			n++
			td := nodeOrder(n, 200, 1)
			rows := rowsOf(td)
			p.Commit(p.Spans(1, td, rows))
		}
	}
	send(3)
	now = now.Add(31 * time.Second)
	if err := p.flush(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	send(4)
	now = now.Add(31 * time.Second)
	if err := p.flush(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	rows := search(t, store, TypeStat, event.Filter{Field: FieldStatKind, Op: "=", Value: StatTx})
	total := 0
	for _, r := range rows {
		if r[FieldStatKey] != "GET /items/:id" {
			t.Errorf("key %q: the one key seen before the partial write took the only slot", r[FieldStatKey])
		}
		c, _ := strconv.Atoi(r["count"])
		total += c
	}
	if len(rows) != 2 || total != 7 {
		t.Fatalf("tx statistics rows %d summing to %d, want 2 partial rows summing to 7", len(rows), total)
	}
}
