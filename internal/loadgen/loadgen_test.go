package loadgen

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// sink is an in-process stand-in for the Osprey server: it speaks the real
// protocols on loopback and records what arrives.
type sink struct {
	key         string
	failTraces  bool // answer Unavailable to every trace export
	mu          sync.Mutex
	points      uint64
	snapshots   uint64
	logs        uint64
	registers   map[string]int
	inventories map[string]int
	procLists   int
	procNames   map[string]bool
	metrics     map[string]metricSeen
	hostRes     []map[string]any
	cpuTime     map[string]float64 // host|cpu|state → last value
	nonMonotone int
	spans       []spanSeen
	logCats     map[string]int
	tracedLogs  int
	traceCalls  int
}

type metricSeen struct {
	unit  string
	typ   pmetric.MetricType
	attrs map[string]bool
}

type spanSeen struct {
	trace, id, parent string
	kind              ptrace.SpanKind
	service, name     string
	start, end        uint64
	attrs             map[string]any
	isErr             bool
	exception         bool
}

func newSink(key string) *sink {
	return &sink{key: key, registers: map[string]int{}, inventories: map[string]int{}, procNames: map[string]bool{},
		metrics: map[string]metricSeen{}, cpuTime: map[string]float64{}, logCats: map[string]int{}}
}

func (s *sink) auth(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get(wire.HeaderAuthorization); len(got) != 1 || got[0] != "Bearer "+s.key {
		return nil, status.Error(codes.Unauthenticated, "unknown project key")
	}
	return h(ctx, req)
}

func (s *sink) start(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(s.auth))
	pmetricotlp.RegisterGRPCServer(srv, &metricSink{s: s})
	ptraceotlp.RegisterGRPCServer(srv, &traceSink{s: s})
	plogotlp.RegisterGRPCServer(srv, &logSink{s: s})
	agentpb.RegisterAgentServiceServer(srv, &agentSink{s: s})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

type metricSink struct {
	pmetricotlp.UnimplementedGRPCServer
	s *sink
}

func (m *metricSink) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	s := m.s
	s.mu.Lock()
	defer s.mu.Unlock()
	md := req.Metrics()
	s.points += uint64(md.DataPointCount())
	for _, rm := range md.ResourceMetrics().All() {
		res := rm.Resource().Attributes().AsRaw()
		s.hostRes = append(s.hostRes, res)
		host, _ := res[wire.AttrHostName].(string)
		for _, sm := range rm.ScopeMetrics().All() {
			for _, mt := range sm.Metrics().All() {
				seen, ok := s.metrics[mt.Name()]
				if !ok {
					seen = metricSeen{unit: mt.Unit(), typ: mt.Type(), attrs: map[string]bool{}}
					s.metrics[mt.Name()] = seen
				}
				var dps pmetric.NumberDataPointSlice
				switch mt.Type() {
				case pmetric.MetricTypeSum:
					dps = mt.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = mt.Gauge().DataPoints()
				default:
					continue
				}
				for _, dp := range dps.All() {
					for k := range dp.Attributes().All() {
						seen.attrs[k] = true
					}
					if mt.Name() == "system.cpu.time" {
						cpu, _ := dp.Attributes().Get("cpu")
						st, _ := dp.Attributes().Get("state")
						key := host + "|" + cpu.Str() + "|" + st.Str()
						if prev, ok := s.cpuTime[key]; ok && dp.DoubleValue() < prev {
							s.nonMonotone++
						}
						s.cpuTime[key] = dp.DoubleValue()
					}
				}
			}
		}
	}
	return pmetricotlp.NewExportResponse(), nil
}

type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	s *sink
}

func (tr *traceSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s := tr.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.traceCalls++
	if s.failTraces {
		return ptraceotlp.NewExportResponse(), status.Error(codes.Unavailable, "ingest overloaded")
	}
	for _, rs := range req.Traces().ResourceSpans().All() {
		svc, _ := rs.Resource().Attributes().Get(wire.AttrServiceName)
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				seen := spanSeen{
					trace: sp.TraceID().String(), id: sp.SpanID().String(), kind: sp.Kind(),
					service: svc.Str(), name: sp.Name(), start: uint64(sp.StartTimestamp()), end: uint64(sp.EndTimestamp()),
					attrs: sp.Attributes().AsRaw(), isErr: sp.Status().Code() == ptrace.StatusCodeError,
				}
				if !sp.ParentSpanID().IsEmpty() {
					seen.parent = sp.ParentSpanID().String()
				}
				for _, ev := range sp.Events().All() {
					if ev.Name() == "exception" {
						seen.exception = true
					}
				}
				s.spans = append(s.spans, seen)
			}
		}
	}
	return ptraceotlp.NewExportResponse(), nil
}

type logSink struct {
	plogotlp.UnimplementedGRPCServer
	s *sink
}

func (l *logSink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs += uint64(req.Logs().LogRecordCount())
	for _, rl := range req.Logs().ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				cat, _ := lr.Attributes().Get("log.category")
				s.logCats[cat.Str()]++
				if !lr.TraceID().IsEmpty() {
					s.tracedLogs++
				}
			}
		}
	}
	return plogotlp.NewExportResponse(), nil
}

type agentSink struct {
	agentpb.UnimplementedAgentServiceServer
	s *sink
}

func (a *agentSink) Register(_ context.Context, req *agentpb.RegisterRequest) (*agentpb.RegisterResponse, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.s.registers[req.GetAgent().GetId()]++
	return &agentpb.RegisterResponse{Project: "test", ReportIntervalSeconds: 5}, nil
}

func (a *agentSink) Push(_ context.Context, req *agentpb.PushRequest) (*agentpb.PushResponse, error) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, snap := range req.GetSnapshots() {
		s.snapshots++
		switch snap.GetType() {
		case wire.SnapshotInventory:
			s.inventories[req.GetAgent().GetId()]++
		case wire.SnapshotProcessList:
			s.procLists++
			for _, p := range snap.GetProcessList().GetProcesses() {
				s.procNames[p.GetName()] = true
			}
		}
	}
	return &agentpb.PushResponse{Accepted: uint32(len(req.GetSnapshots()))}, nil
}

func TestRunAgainstServer(t *testing.T) {
	s := newSink("test-key")
	addr := s.start(t)
	cfg := Config{
		Server: addr, Key: "test-key", Hosts: 4, Apps: 6, TPS: 300, LogsPerSec: 200,
		Interval: 500 * time.Millisecond, Duration: 2 * time.Second, Processes: 60, Seed: 7,
		Connections: 2, BatchSpans: 300,
	}
	st, err := Run(t.Context(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("stats: %+v", st)
	s.mu.Lock()
	defer s.mu.Unlock()

	t.Run("counts match", func(t *testing.T) {
		var servers uint64
		for _, sp := range s.spans {
			if sp.kind == ptrace.SpanKindServer {
				servers++
			}
		}
		for _, c := range []struct {
			what      string
			got, sent uint64
		}{
			{"metric points", s.points, st.MetricPoints},
			{"snapshots", s.snapshots, st.Snapshots},
			{"spans", uint64(len(s.spans)), st.Spans},
			{"transactions", servers, st.Transactions},
			{"logs", s.logs, st.Logs},
		} {
			if c.got != c.sent || c.sent == 0 {
				t.Errorf("%s: server got %d, Stats say %d", c.what, c.got, c.sent)
			}
		}
		if st.Errors != 0 {
			t.Errorf("errors = %d", st.Errors)
		}
		// Rate: 300 tx/s for 2 s, give or take the first and last flush.
		if st.Transactions < 400 || st.Transactions > 700 {
			t.Errorf("transactions = %d, want about 600", st.Transactions)
		}
		if st.Logs < 250 || st.Logs > 450 {
			t.Errorf("logs = %d, want about 400", st.Logs)
		}
	})

	t.Run("hosts", func(t *testing.T) {
		if len(s.registers) != cfg.Hosts || len(s.inventories) != cfg.Hosts {
			t.Errorf("registered %d, inventories %d, want %d each", len(s.registers), len(s.inventories), cfg.Hosts)
		}
		for id, n := range s.inventories {
			if n != 1 {
				t.Errorf("agent %s sent %d inventories", id, n)
			}
		}
		if s.procLists < 2*cfg.Hosts {
			t.Errorf("process lists = %d, want several per host", s.procLists)
		}
		for _, want := range []string{"systemd", "osprey-agent", "sshd"} {
			if !s.procNames[want] {
				t.Errorf("no %s process in %v", want, s.procNames)
			}
		}
		if s.nonMonotone > 0 {
			t.Errorf("system.cpu.time went backwards %d times", s.nonMonotone)
		}
		for _, res := range s.hostRes {
			for _, k := range []string{wire.AttrAgentID, wire.AttrAgentName, wire.AttrAgentGroup, wire.AttrHostName, wire.AttrServiceInstanceID} {
				if v, _ := res[k].(string); v == "" {
					t.Fatalf("resource lacks %s: %v", k, res)
				}
			}
			if res[wire.AttrAgentKind] != "host" || res[wire.AttrServiceName] != "osprey-agent" {
				t.Fatalf("bad host resource: %v", res)
			}
			if name := res[wire.AttrAgentName].(string); !strings.HasPrefix(name, "sim-host-") || !strings.HasPrefix(res[wire.AttrAgentGroup].(string), "site-") {
				t.Fatalf("bad host identity: %v", res)
			}
		}
	})

	t.Run("metric names", func(t *testing.T) {
		// As internal/agent/host reports them.
		want := map[string]struct {
			unit  string
			typ   pmetric.MetricType
			attrs []string
		}{
			"system.cpu.time":                {"s", pmetric.MetricTypeSum, []string{"cpu", "state"}},
			"system.cpu.utilization":         {"1", pmetric.MetricTypeGauge, []string{"cpu", "state"}},
			"system.cpu.logical.count":       {"{cpu}", pmetric.MetricTypeSum, nil},
			"system.cpu.physical.count":      {"{cpu}", pmetric.MetricTypeSum, nil},
			"system.cpu.load_average.1m":     {"{thread}", pmetric.MetricTypeGauge, nil},
			"system.cpu.load_average.5m":     {"{thread}", pmetric.MetricTypeGauge, nil},
			"system.cpu.load_average.15m":    {"{thread}", pmetric.MetricTypeGauge, nil},
			"system.memory.usage":            {"By", pmetric.MetricTypeSum, []string{"state"}},
			"system.memory.utilization":      {"1", pmetric.MetricTypeGauge, []string{"state"}},
			"system.memory.limit":            {"By", pmetric.MetricTypeSum, nil},
			"system.linux.memory.available":  {"By", pmetric.MetricTypeSum, nil},
			"system.paging.usage":            {"By", pmetric.MetricTypeSum, []string{"state"}},
			"system.filesystem.usage":        {"By", pmetric.MetricTypeSum, []string{"device", "mode", "mountpoint", "type", "state"}},
			"system.filesystem.utilization":  {"1", pmetric.MetricTypeGauge, []string{"device", "mode", "mountpoint", "type"}},
			"system.disk.io":                 {"By", pmetric.MetricTypeSum, []string{"device", "direction"}},
			"system.disk.operations":         {"{operation}", pmetric.MetricTypeSum, []string{"device", "direction"}},
			"system.disk.io_time":            {"s", pmetric.MetricTypeSum, []string{"device"}},
			"system.disk.operation_time":     {"s", pmetric.MetricTypeSum, []string{"device", "direction"}},
			"system.disk.merged":             {"{operation}", pmetric.MetricTypeSum, []string{"device", "direction"}},
			"system.disk.pending_operations": {"{operation}", pmetric.MetricTypeSum, []string{"device"}},
			"system.network.io":              {"By", pmetric.MetricTypeSum, []string{"device", "direction"}},
			"system.network.packets":         {"{packet}", pmetric.MetricTypeSum, []string{"device", "direction"}},
			"system.network.errors":          {"{error}", pmetric.MetricTypeSum, []string{"device", "direction"}},
			"system.network.dropped":         {"{packet}", pmetric.MetricTypeSum, []string{"device", "direction"}},
			"system.processes.count":         {"{process}", pmetric.MetricTypeSum, []string{"status"}},
			"system.uptime":                  {"s", pmetric.MetricTypeGauge, nil},
		}
		for name := range s.metrics {
			if _, ok := want[name]; !ok && name != "system.paging.utilization" {
				t.Errorf("unexpected metric %s", name)
			}
		}
		for name, w := range want {
			got, ok := s.metrics[name]
			if !ok {
				t.Errorf("metric %s missing", name)
				continue
			}
			if got.unit != w.unit || got.typ != w.typ {
				t.Errorf("%s: unit %q type %v, want %q %v", name, got.unit, got.typ, w.unit, w.typ)
			}
			var attrs []string
			for k := range got.attrs {
				attrs = append(attrs, k)
			}
			slices.Sort(attrs)
			wa := slices.Clone(w.attrs)
			slices.Sort(wa)
			if !slices.Equal(attrs, wa) {
				t.Errorf("%s: attributes %v, want %v", name, attrs, wa)
			}
		}
	})

	t.Run("transactions", func(t *testing.T) { checkTraces(t, s.spans) })

	t.Run("logs", func(t *testing.T) {
		for _, c := range []string{"app", "nginx.access", "syslog"} {
			if s.logCats[c] == 0 {
				t.Errorf("no %s logs: %v", c, s.logCats)
			}
		}
		if s.tracedLogs == 0 {
			t.Error("no log carries a trace id")
		}
	})
}

// checkTraces asserts that spans form valid transactions: one root SERVER
// span per trace, one SERVER span per service in a trace, every parent
// present, children inside their parents, and some traces that cross
// services.
func checkTraces(t *testing.T, spans []spanSeen) {
	t.Helper()
	byTrace := map[string]map[string]*spanSeen{}
	for i := range spans {
		sp := &spans[i]
		if byTrace[sp.trace] == nil {
			byTrace[sp.trace] = map[string]*spanSeen{}
		}
		if _, dup := byTrace[sp.trace][sp.id]; dup {
			t.Fatalf("duplicate span id %s", sp.id)
		}
		byTrace[sp.trace][sp.id] = sp
	}
	var distributed, errs, exceptions, sql int
	for tid, tr := range byTrace {
		roots := 0
		servers := map[string]int{}
		for _, sp := range tr {
			if sp.kind == ptrace.SpanKindServer {
				servers[sp.service]++
				for _, k := range []string{"http.request.method", "http.route", "url.path", "http.response.status_code", "client.address", "user_agent.original"} {
					if _, ok := sp.attrs[k]; !ok {
						t.Fatalf("server span %s lacks %s: %v", sp.name, k, sp.attrs)
					}
				}
				if sp.isErr {
					errs++
				}
				if sp.exception {
					exceptions++
				}
			}
			if sys, ok := sp.attrs["db.system.name"]; ok {
				sql++
				if sys != "mysql" && sys != "postgresql" {
					t.Fatalf("db.system.name = %v", sys)
				}
				if q, _ := sp.attrs["db.query.text"].(string); q == "" || sp.attrs["db.namespace"] == nil {
					t.Fatalf("SQL span without query or namespace: %v", sp.attrs)
				}
			}
			if sp.parent == "" {
				roots++
				if sp.kind != ptrace.SpanKindServer {
					t.Fatalf("trace %s: root span %q is %v, want SERVER", tid, sp.name, sp.kind)
				}
				continue
			}
			p, ok := tr[sp.parent]
			if !ok {
				t.Fatalf("trace %s: span %q has unknown parent %s", tid, sp.name, sp.parent)
			}
			if sp.start < p.start || sp.end > p.end {
				t.Fatalf("trace %s: span %q [%d,%d] outside parent %q [%d,%d]", tid, sp.name, sp.start, sp.end, p.name, p.start, p.end)
			}
			if sp.kind == ptrace.SpanKindServer {
				if p.kind != ptrace.SpanKindClient || p.service == sp.service {
					t.Fatalf("trace %s: server span of %s has parent %q (%v) in %s", tid, sp.service, p.name, p.kind, p.service)
				}
			} else if p.service != sp.service {
				t.Fatalf("trace %s: %q in %s has parent in %s", tid, sp.name, sp.service, p.service)
			}
		}
		if roots != 1 {
			t.Fatalf("trace %s has %d roots", tid, roots)
		}
		for svc, n := range servers {
			if n != 1 {
				t.Fatalf("trace %s has %d server spans in %s", tid, n, svc)
			}
		}
		if len(servers) > 1 {
			distributed++
		}
	}
	if distributed == 0 || errs == 0 || exceptions == 0 || sql == 0 {
		t.Errorf("traces %d: distributed %d, errors %d, exceptions %d, sql %d; want all > 0",
			len(byTrace), distributed, errs, exceptions, sql)
	}
}

func TestWrongKeyStopsPromptly(t *testing.T) {
	s := newSink("right-key")
	addr := s.start(t)
	begin := time.Now()
	_, err := Run(t.Context(), Config{Server: addr, Key: "wrong-key", Hosts: 2, Apps: 2, TPS: 50, LogsPerSec: 10,
		Interval: 200 * time.Millisecond, Duration: 30 * time.Second}, nil)
	if !errors.Is(err, ErrKeyRefused) {
		t.Fatalf("err = %v, want ErrKeyRefused", err)
	}
	if !strings.Contains(err.Error(), "server refused the key") {
		t.Errorf("message %q", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("took %s to give up", d)
	}
}

func TestBacksOffWhenUnavailable(t *testing.T) {
	s := newSink("k")
	s.failTraces = true
	addr := s.start(t)
	st, err := Run(t.Context(), Config{Server: addr, Key: "k", Apps: 2, TPS: 5000, Duration: 1500 * time.Millisecond,
		Connections: 2, BatchSpans: 100}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	calls := s.traceCalls
	s.mu.Unlock()
	// Exponential back-off from 100 ms: a handful of attempts per worker,
	// not thousands.
	if st.Errors == 0 || calls > 30 || st.Spans != 0 {
		t.Errorf("errors %d, calls %d, spans %d", st.Errors, calls, st.Spans)
	}
}

func TestMain_Flags(t *testing.T) {
	s := newSink("env-key")
	addr := s.start(t)
	t.Setenv("OSPREY_KEY", "env-key")
	var out bytes.Buffer
	err := Main(t.Context(), []string{"--server", addr, "--hosts", "2", "--apps", "2", "--tps", "20", "--logs", "10",
		"--interval", "200ms", "--duration", "700ms", "--processes", "20", "--seed", "3"}, &out)
	if err != nil {
		t.Fatalf("Main: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "summary after") {
		t.Errorf("no summary in output:\n%s", out.String())
	}
	if err := Main(t.Context(), []string{"--bogus"}, &out); err == nil {
		t.Error("unknown flag accepted")
	}
}

func TestSameSeedSameFleet(t *testing.T) {
	cfg := Config{Hosts: 3, Apps: 3, Seed: 42, Processes: 50, Interval: time.Second}
	a, b := newFleet(cfg), newFleet(cfg)
	for i := range a.hosts {
		if a.hosts[i].ident.Id != b.hosts[i].ident.Id || a.hosts[i].inv.PlatformVersion != b.hosts[i].inv.PlatformVersion {
			t.Fatalf("host %d differs between runs with the same seed", i)
		}
	}
	ma, mb := newAppModel(cfg), newAppModel(cfg)
	if ma.instances[0].id != mb.instances[0].id || ma.instances[0].name != mb.instances[0].name {
		t.Fatal("app identity differs between runs with the same seed")
	}
}

// BenchmarkGenerateTransactions measures how many spans per second one
// core can generate and marshal into OTLP export requests, without network.
func BenchmarkGenerateTransactions(b *testing.B) {
	m := newAppModel(Config{Apps: 50, Hosts: 20, Seed: 1})
	g := newTxGen(m, 1, 0)
	var spans, bytes int
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for g.spans < 1000 {
			g.txs += g.root(now)
		}
		buf, err := ptraceotlp.NewExportRequestFromTraces(g.td).MarshalProto()
		if err != nil {
			b.Fatal(err)
		}
		spans += g.spans
		bytes += len(buf)
		g.reset()
	}
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(spans)/sec, "spans/s")
	b.ReportMetric(float64(bytes)/float64(spans), "B/span")
}

// A plain OTLP receiver (no Osprey agent service) still gets host metrics.
func TestPlainOTLPReceiver(t *testing.T) {
	s := newSink("k")
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pmetricotlp.RegisterGRPCServer(srv, &metricSink{s: s})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	st, err := Run(t.Context(), Config{Server: lis.Addr().String(), Hosts: 2, Interval: 200 * time.Millisecond,
		Duration: time.Second, Processes: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.MetricPoints == 0 || st.Snapshots != 0 || st.Errors != 0 {
		t.Errorf("stats %+v: want metrics only, no errors", st)
	}
}
