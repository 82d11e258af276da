package apm_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel"

	"github.com/osprey-monitoring/osprey/apm"
	"github.com/osprey-monitoring/osprey/apm/internal/collector"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

const testKey = "test-key"

// backend is a database the scenario runs against, with its dialect's SQL.
type backend struct {
	name, driver, dsn, addr string
	out                     string // the out statistic key of its calls
	fastSQL, fastMasked     string // with a parameter
	slowSQL, slowMasked     string // sleeps, carries a literal to mask
	errSQL, errMasked       string
}

var backends = []backend{
	{
		name: "mariadb", driver: "mysql", dsn: "root@tcp(127.0.0.1:3306)/", addr: "127.0.0.1:3306",
		out:     "mysql://127.0.0.1:3306",
		fastSQL: "SELECT ? + 1", fastMasked: "SELECT ? + ?",
		slowSQL: "SELECT SLEEP(0.3), 'secret-literal'", slowMasked: "SELECT SLEEP(?), ?",
		errSQL: "SELECT 2", errMasked: "SELECT ?",
	},
	{
		name: "postgres", driver: "pgx", dsn: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", addr: "127.0.0.1:5432",
		out:     "postgresql://127.0.0.1:5432",
		fastSQL: "SELECT $1::int + 1", fastMasked: "SELECT $1::int + ?",
		slowSQL: "SELECT pg_sleep(0.3)::text, 'secret-literal'", slowMasked: "SELECT pg_sleep(?)::text, ?",
		errSQL: "SELECT 2", errMasked: "SELECT ?",
	},
}

// reachable skips the test when addr does not answer, unless CI is
// "true": there the databases are part of the environment and their
// absence is a failure.
func reachable(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not reachable in CI: %v", addr, err)
	}
	t.Skipf("%s not reachable: %v", addr, err)
}

func TestScenario(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			reachable(t, b.addr)
			runScenario(t, b)
		})
	}
}

// hangWork blocks a request until released; its name must show in the
// sampled stack of the transaction.
//
//go:noinline
func hangWork(ctx context.Context, release <-chan struct{}) {
	select {
	case <-release:
	case <-ctx.Done():
	case <-time.After(20 * time.Second):
	}
}

func runScenario(t *testing.T, b backend) {
	col, err := collector.Start(testKey, false)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Stop()

	ctx := context.Background()
	agent, err := apm.Start(ctx, apm.Config{
		Endpoint:       col.Addr,
		Key:            testKey,
		App:            "apmtest-" + b.name,
		Instance:       "inst-1",
		Insecure:       true,
		BaseTime:       200 * time.Millisecond,
		ActiveInterval: 100 * time.Millisecond,
		StackInterval:  100 * time.Millisecond,
		// One window for the whole test (it would take a test running
		// across midnight UTC to split it).
		StatInterval: 24 * time.Hour,
		Attributes:   map[string]string{"k8s.pod.name": "pod-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	shut := false
	defer func() {
		if !shut {
			_ = agent.Shutdown(ctx)
		}
	}()

	db, err := apm.OpenDB(b.driver, b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(2)
	// Warm the pool outside any transaction (no span, no dbc step), so
	// requests reuse the connection and their step counts are exact.
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	if err := db.PingContext(pctx); err != nil {
		cancel()
		if os.Getenv("CI") == "true" {
			t.Fatalf("ping %s: %v", b.name, err)
		}
		t.Skipf("ping %s: %v", b.name, err)
	}
	cancel()

	client := &http.Client{Transport: agent.Transport(nil), Timeout: 30 * time.Second}
	var srvURL string
	release := make(chan struct{})
	tracer := otel.Tracer("apmtest")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {
		var n int
		if err := db.QueryRowContext(r.Context(), b.fastSQL, 41).Scan(&n); err != nil || n != 42 {
			http.Error(w, fmt.Sprint(n, err), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "down")
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		var v, s sql.NullString
		if err := db.QueryRowContext(r.Context(), b.slowSQL).Scan(&v, &s); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, srvURL+"/down?x=1", nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		io.WriteString(w, "slow")
	})
	mux.HandleFunc("GET /err", func(w http.ResponseWriter, r *http.Request) {
		var n int
		_ = db.QueryRowContext(r.Context(), b.errSQL).Scan(&n)
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	mux.HandleFunc("GET /hang", func(w http.ResponseWriter, r *http.Request) {
		apm.SetUser(r.Context(), "alice")
		ctx, span := tracer.Start(r.Context(), "hang-step")
		hangWork(ctx, release)
		span.End()
		io.WriteString(w, "hung")
	})
	srv := httptest.NewServer(agent.Handler(mux, "apmtest"))
	defer srv.Close()
	srvURL = srv.URL
	srvHostPort := strings.TrimPrefix(srv.URL, "http://")

	// The test is the outside world: its calls are not traced (a root
	// client span would be a transaction of its own).
	outside := &http.Client{Timeout: 30 * time.Second}
	get := func(path string, want int) {
		t.Helper()
		resp, err := outside.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
	for range 5 {
		get("/fast", 200)
	}
	get("/slow", 200)
	get("/err", 500)
	get("/err", 500)

	// A hanging request: it must show in the active snapshots with its
	// step, user and a stack naming hangWork; the stack text comes once.
	var hangWG sync.WaitGroup
	hangWG.Add(1)
	go func() {
		defer hangWG.Done()
		get("/hang", 200)
	}()
	var hangHash string
	var sampledWithHash int
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && sampledWithHash < 3 {
		time.Sleep(50 * time.Millisecond)
		sampledWithHash = 0
		for _, sn := range col.Snapshots() {
			act := sn.GetApmActive()
			if act == nil || sn.GetType() != wire.SnapshotApmActive {
				continue
			}
			for _, tx := range act.GetTransactions() {
				if tx.GetName() != "GET /hang" || tx.GetStackHash() == "" {
					continue
				}
				if st := tx.GetStep(); st.GetType() != "method" || st.GetText() != "hang-step" || st.GetElapsedMs() <= 0 {
					t.Fatalf("hang step = %v", st)
				}
				if tx.GetUser() != "alice" || tx.GetMethod() != "GET" || tx.GetClientIp() != "127.0.0.1" {
					t.Fatalf("hang tx = %v", tx)
				}
				if !act.GetStacksSampled() {
					t.Fatalf("stack hash on a snapshot without samples")
				}
				hangHash = tx.GetStackHash()
				sampledWithHash++
			}
		}
	}
	if sampledWithHash < 3 {
		t.Fatalf("hanging transaction seen with a stack in %d snapshots, want 3", sampledWithHash)
	}
	close(release)
	hangWG.Wait()

	var texts []string
	for _, sn := range col.Snapshots() {
		for _, st := range sn.GetApmActive().GetStacks() {
			if st.GetHash() == hangHash {
				texts = append(texts, st.GetText())
			}
		}
	}
	if len(texts) != 1 {
		t.Fatalf("stack %s sent %d times, want once", hangHash, len(texts))
	}
	if !strings.Contains(texts[0], "apm_test.hangWork\n\t") || !strings.Contains(texts[0], "apm_test.go:") {
		t.Fatalf("stack text does not name hangWork:\n%s", texts[0])
	}
	if len(hangHash) != 16 {
		t.Fatalf("stack hash %q is not 16 hex digits", hangHash)
	}

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := agent.Shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	shut = true

	checkRegistration(t, col, "apmtest-"+b.name)
	spans := col.Spans()
	entries := map[string][]collector.Span{}
	children := map[string][]collector.Span{}
	for _, s := range spans {
		if s.Kind == ptrace.SpanKindServer {
			entries[s.Name] = append(entries[s.Name], s)
		} else {
			children[s.ParentID] = append(children[s.ParentID], s)
		}
		if s.Resource[wire.AttrApmRollups] != wire.ApmRollupsInProcess || s.Resource[wire.AttrAgentKind] != wire.KindApp ||
			s.Resource["k8s.pod.name"] != "pod-1" || s.Resource[wire.AttrServiceName] != "apmtest-"+b.name {
			t.Fatalf("resource = %v", s.Resource)
		}
		for _, k := range []string{"db.query.text", "db.statement"} {
			if v, ok := s.Attrs[k].(string); ok && strings.Contains(v, "secret") {
				t.Fatalf("unmasked SQL exported: %q", v)
			}
		}
	}
	wantEntries := map[string]int{"GET /fast": 5, "GET /slow": 1, "GET /down": 1, "GET /err": 2, "GET /hang": 1}
	for name, n := range wantEntries {
		if len(entries[name]) != n {
			t.Fatalf("%d entry spans %q, want %d (all: %v)", len(entries[name]), name, n, names(spans))
		}
	}

	// Fast requests: only the first of the window keeps its SQL step.
	for i, e := range entries["GET /fast"] {
		wantSummary(t, e, 1, 0)
		kids := children[e.SpanID]
		if i == 0 {
			if len(kids) != 1 || kids[0].Attrs["db.query.text"] != b.fastMasked || dropped(e) != 0 {
				t.Fatalf("first fast request: steps %v, dropped %v", kids, e.Attrs[wire.AttrTxStepsDropped])
			}
			continue
		}
		if len(kids) != 0 || dropped(e) != 1 {
			t.Fatalf("fast request %d exported steps %v (dropped %v)", i, kids, e.Attrs[wire.AttrTxStepsDropped])
		}
	}
	// The slow request keeps its steps, SQL masked.
	slow := entries["GET /slow"][0]
	wantSummary(t, slow, 1, 1)
	var sawSQL, sawHTTPC bool
	for _, k := range children[slow.SpanID] {
		switch {
		case k.Attrs["db.query.text"] == b.slowMasked:
			sawSQL = true
			if k.Attrs["db.system.name"] != dbSystem(b) || k.Attrs["server.address"] != "127.0.0.1" {
				t.Fatalf("sql step attributes %v", k.Attrs)
			}
		case k.Kind == ptrace.SpanKindClient && k.Attrs["url.full"] == srv.URL+"/down?x=1":
			sawHTTPC = true
			// The callee joined the trace through traceparent.
			down := entries["GET /down"][0]
			if down.ParentID != k.SpanID || down.TraceID != slow.TraceID {
				t.Fatalf("downstream not a child of the client span: %+v", down)
			}
		}
	}
	if !sawSQL || !sawHTTPC || dropped(slow) != 0 {
		t.Fatalf("slow request steps: sql %v httpc %v: %v", sawSQL, sawHTTPC, children[slow.SpanID])
	}
	if ms := slow.Attrs[wire.AttrTxSQLMs].(float64); ms < 250 {
		t.Fatalf("slow sql_ms = %v", ms)
	}
	// Errors keep their steps, the second one too.
	for _, e := range entries["GET /err"] {
		wantSummary(t, e, 1, 0)
		if kids := children[e.SpanID]; len(kids) != 1 || kids[0].Attrs["db.query.text"] != b.errMasked {
			t.Fatalf("error request steps %v", kids)
		}
		if !e.StatusError {
			t.Fatalf("error request status not error")
		}
	}
	if u := entries["GET /hang"][0].Attrs["enduser.id"]; u != "alice" {
		t.Fatalf("hang enduser.id = %v", u)
	}

	// The rollups: counters and hitmap match the transactions exported.
	var count, errs, apdexS uint64
	var hit, hitErr [wire.HitmapBuckets]uint32
	var maxUsers, maxActive uint32
	stats := map[string]*agentpb.ApmStat{}
	var statWindows int
	for _, sn := range col.Snapshots() {
		r := sn.GetApmRollup()
		if r == nil {
			continue
		}
		if sn.GetType() != wire.SnapshotApmRollup {
			t.Fatalf("bad rollup snapshot %v", sn)
		}
		// A rollup has counters, statistics, or both (at Shutdown the
		// last statistics come alone, with no counter window).
		if r.GetWindowStartUnixNano() == 0 && (len(r.GetStats()) == 0 || r.GetCount() != 0) ||
			r.GetWindowStartUnixNano() != 0 && len(r.GetHitmap()) != wire.HitmapBuckets {
			t.Fatalf("bad rollup %v", r)
		}
		count += r.GetCount()
		errs += r.GetErrors()
		apdexS += r.GetApdexSatisfied()
		for i, v := range r.GetHitmap() {
			hit[i] += v
			hitErr[i] += r.GetHitmapErrors()[i]
		}
		maxUsers = max(maxUsers, r.GetUsers())
		maxActive = max(maxActive, r.GetActive())
		if r.GetWindowStartUnixNano() != 0 && (r.GetHeapBytes() == 0 || r.GetGoroutines() == 0) {
			t.Fatalf("rollup without runtime gauges: %v", r)
		}
		if len(r.GetStats()) > 0 {
			statWindows++
			if r.GetStatsWindowSeconds() != 86400 || r.GetStatsWindowStartUnixNano()%int64(24*time.Hour) != 0 {
				t.Fatalf("stats window %d s at %d", r.GetStatsWindowSeconds(), r.GetStatsWindowStartUnixNano())
			}
		}
		for _, s := range r.GetStats() {
			k := s.GetKind() + "|" + s.GetKey()
			if prev, ok := stats[k]; ok {
				prev.Count += s.GetCount()
				prev.Errors += s.GetErrors()
				prev.SqlCount += s.GetSqlCount()
				prev.HttpcCount += s.GetHttpcCount()
			} else {
				stats[k] = s
			}
		}
	}
	var wantHit, wantHitErr [wire.HitmapBuckets]uint32
	var total int
	var wantApdexS uint64
	for _, es := range entries {
		for _, e := range es {
			total++
			ms := float64(e.Duration()) / float64(time.Millisecond)
			if !e.StatusError && ms <= wire.ApdexT {
				wantApdexS++
			}
			if e.StatusError {
				wantHitErr[wire.HitmapBucket(ms)]++
			} else {
				wantHit[wire.HitmapBucket(ms)]++
			}
		}
	}
	if count != uint64(total) || errs != 2 || hit != wantHit || hitErr != wantHitErr {
		t.Fatalf("rollups: count %d errors %d hitmap %v/%v; want %d, 2, %v/%v", count, errs, hit, hitErr, total, wantHit, wantHitErr)
	}
	if apdexS != wantApdexS {
		t.Fatalf("apdex satisfied %d, want %d", apdexS, wantApdexS)
	}
	if maxUsers != 2 { // alice and 127.0.0.1
		t.Fatalf("users = %d, want 2", maxUsers)
	}
	if maxActive != 1 { // requests ran one at a time; the hanging one for many ticks
		t.Fatalf("active gauge max %d, want 1", maxActive)
	}
	if statWindows != 1 {
		t.Fatalf("statistics sent in %d rollups, want 1 (the last)", statWindows)
	}

	httpOut := "http://" + srvHostPort
	want := []struct {
		kind, key                           string
		count, errors, sqlCount, httpcCount uint64
	}{
		{"tx", "GET /fast", 5, 0, 5, 0},
		{"tx", "GET /slow", 1, 0, 1, 1},
		{"tx", "GET /err", 2, 2, 2, 0},
		{"tx", "GET /down", 1, 0, 0, 0},
		{"tx", "GET /hang", 1, 0, 0, 0},
		{"sql", b.fastMasked, 5, 0, 0, 0},
		{"sql", b.slowMasked, 1, 0, 0, 0},
		{"sql", b.errMasked, 2, 0, 0, 0},
		{"httpc", "GET " + srv.URL + "/down", 1, 0, 0, 0},
		{"out", b.out, 8, 0, 0, 0},
		{"out", httpOut, 1, 0, 0, 0},
		{"in", srvHostPort, 10, 2, 0, 0},
		{"ip", "127.0.0.1", 10, 2, 0, 0},
		{"error", "HTTP 500", 2, 2, 0, 0},
	}
	for _, w := range want {
		s := stats[w.kind+"|"+w.key]
		if s == nil {
			t.Errorf("no %s statistic %q", w.kind, w.key)
			continue
		}
		if s.GetCount() != w.count || s.GetErrors() != w.errors || s.GetSqlCount() != w.sqlCount || s.GetHttpcCount() != w.httpcCount {
			t.Errorf("%s %q: count %d errors %d sql %d httpc %d; want %d %d %d %d", w.kind, w.key,
				s.GetCount(), s.GetErrors(), s.GetSqlCount(), s.GetHttpcCount(), w.count, w.errors, w.sqlCount, w.httpcCount)
		}
	}
	kinds := map[string]int{}
	for k := range stats {
		kinds[strings.SplitN(k, "|", 2)[0]]++
	}
	// Nothing beyond the expected keys (ua: one Go client).
	if kinds["tx"] != 5 || kinds["sql"] != 3 || kinds["httpc"] != 1 || kinds["out"] != 2 || kinds["in"] != 1 ||
		kinds["ip"] != 1 || kinds["ua"] != 1 || kinds["error"] != 1 {
		t.Errorf("statistic keys per kind %v: %v", kinds, keys(stats))
	}
	if col.BadAuth.Load() != 0 {
		t.Fatalf("%d calls without the key", col.BadAuth.Load())
	}
}

func dbSystem(b backend) string {
	if b.driver == "mysql" {
		return "mysql"
	}
	return "postgresql"
}

func wantSummary(t *testing.T, e collector.Span, sql, httpc int64) {
	t.Helper()
	if e.Attrs[wire.AttrTxSQLCount] != sql || e.Attrs[wire.AttrTxHTTPCCount] != httpc {
		t.Fatalf("%s: summary sql %v httpc %v, want %d %d", e.Name, e.Attrs[wire.AttrTxSQLCount], e.Attrs[wire.AttrTxHTTPCCount], sql, httpc)
	}
	// Times only when there were calls.
	if _, ok := e.Attrs[wire.AttrTxSQLMs].(float64); ok != (sql > 0) {
		t.Fatalf("%s: %s present %v with %d calls", e.Name, wire.AttrTxSQLMs, ok, sql)
	}
	if _, ok := e.Attrs[wire.AttrTxHTTPCMs].(float64); ok != (httpc > 0) {
		t.Fatalf("%s: %s present %v with %d calls", e.Name, wire.AttrTxHTTPCMs, ok, httpc)
	}
}

// dropped is the steps_dropped summary, absent when 0.
func dropped(e collector.Span) int64 {
	n, _ := e.Attrs[wire.AttrTxStepsDropped].(int64)
	return n
}

func checkRegistration(t *testing.T, col *collector.Collector, app string) {
	t.Helper()
	regs := col.Registers()
	if len(regs) == 0 {
		t.Fatal("no Register call")
	}
	id := regs[0].GetAgent()
	if id.GetKind() != wire.KindApp || id.GetGroup() != app || id.GetName() != "inst-1" || id.GetId() == "" ||
		id.GetLabels()["k8s.pod.name"] != "pod-1" {
		t.Fatalf("identity %v", id)
	}
	for _, p := range col.Pushes() {
		if p.GetAgent().GetId() != id.GetId() {
			t.Fatalf("push under another identity: %v", p.GetAgent())
		}
	}
}

func names(spans []collector.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, fmt.Sprintf("%s(%v)", s.Name, s.Kind))
	}
	return out
}

func keys(m map[string]*agentpb.ApmStat) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v.GetCount()))
	}
	return out
}

// TestServerDown: with nothing listening, requests are not slowed and
// Shutdown returns within its deadline.
func TestServerDown(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now

	agent, err := apm.Start(context.Background(), apm.Config{
		Endpoint: addr, Key: testKey, App: "down", Insecure: true,
		ActiveInterval: 50 * time.Millisecond, StackInterval: 50 * time.Millisecond, StatInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := agent.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, span := otel.Tracer("t").Start(r.Context(), "work")
		span.End()
	}), "down")
	start := time.Now()
	for i := range 3000 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, fmt.Sprintf("/x/%d", i%7), nil))
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("3000 requests took %s with the server down", d)
	}
	time.Sleep(300 * time.Millisecond) // a few snapshot ticks against a dead server
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start = time.Now()
	_ = agent.Shutdown(ctx) // an error is expected: nothing was delivered
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("Shutdown took %s", d)
	}
	// Nothing of the agent keeps running.
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		st := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(st, "osprey/apm.(*Agent)") && !strings.Contains(st, "apm/internal/push.(*Pusher)") &&
			!strings.Contains(st, "batchSpanProcessor") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent goroutines left after Shutdown:\n%s", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
