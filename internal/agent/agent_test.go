package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/osprey-monitoring/osprey/internal/agent/spool"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// event is one accepted call, in arrival order.
type event struct {
	kind    string // metrics, push, register
	ts      time.Time
	agentID string
	attrs   map[string]string
	snaps   []string
	procs   int
	errs    int64 // osprey.agent.send.errors in a metrics batch
}

// testServer is a stand-in Osprey server: the OTLP metrics service and the
// agent service on one gRPC listener, checking the bearer key.
type testServer struct {
	pmetricotlp.UnimplementedGRPCServer
	agentpb.UnimplementedAgentServiceServer
	key string

	mu      sync.Mutex
	events  []event
	refused int
}

func (s *testServer) auth(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(wire.HeaderAuthorization); len(v) != 1 || v[0] != "Bearer "+s.key {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		return status.Error(codes.Unauthenticated, "unknown access key")
	}
	return nil
}

func (s *testServer) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	if err := s.auth(ctx); err != nil {
		return pmetricotlp.NewExportResponse(), err
	}
	rms := req.Metrics().ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		ev := event{kind: "metrics", attrs: map[string]string{}}
		for k, v := range rm.Resource().Attributes().All() {
			ev.attrs[k] = v.Str()
		}
		ev.agentID = ev.attrs[wire.AttrAgentID]
		for j := 0; j < rm.ScopeMetrics().Len(); j++ {
			ms := rm.ScopeMetrics().At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() == "system.uptime" {
					ev.ts = m.Gauge().DataPoints().At(0).Timestamp().AsTime()
				}
				if m.Name() == "osprey.agent.send.errors" {
					ev.errs = m.Sum().DataPoints().At(0).IntValue()
				}
				if m.Type() == pmetric.MetricTypeSum && m.Sum().DataPoints().Len() > 0 {
					if dp := m.Sum().DataPoints().At(0); dp.StartTimestamp() > dp.Timestamp() {
						return pmetricotlp.NewExportResponse(), status.Error(codes.InvalidArgument, "start after time")
					}
				}
			}
		}
		s.add(ev)
	}
	return pmetricotlp.NewExportResponse(), nil
}

func (s *testServer) Push(ctx context.Context, req *agentpb.PushRequest) (*agentpb.PushResponse, error) {
	if err := s.auth(ctx); err != nil {
		return nil, err
	}
	ev := event{kind: "push", agentID: req.GetAgent().GetId()}
	for _, sn := range req.GetSnapshots() {
		ev.snaps = append(ev.snaps, sn.GetType())
		if sn.GetType() == wire.SnapshotProcessList {
			ev.ts = time.Unix(0, sn.GetTimeUnixNano())
			ev.procs = len(sn.GetProcessList().GetProcesses())
		}
	}
	s.add(ev)
	return &agentpb.PushResponse{Accepted: uint32(len(req.GetSnapshots()))}, nil
}

func (s *testServer) Register(ctx context.Context, req *agentpb.RegisterRequest) (*agentpb.RegisterResponse, error) {
	if err := s.auth(ctx); err != nil {
		return nil, err
	}
	if req.GetInventory().GetLogicalCores() < 1 || req.GetAgent().GetKind() != KindHost {
		return nil, status.Error(codes.InvalidArgument, "incomplete registration")
	}
	s.add(event{kind: "register", agentID: req.GetAgent().GetId()})
	return &agentpb.RegisterResponse{Project: "test", ReportIntervalSeconds: 5}, nil
}

func (s *testServer) add(ev event) {
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()
}

func (s *testServer) snapshot() ([]event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event(nil), s.events...), s.refused
}

func (s *testServer) serve(t *testing.T, addr string) func() {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	gs := grpc.NewServer()
	pmetricotlp.RegisterGRPCServer(gs, s)
	agentpb.RegisterAgentServiceServer(gs, s)
	go func() { _ = gs.Serve(lis) }()
	return gs.Stop
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testConfig(addr, key, dir string) Config {
	cfg := DefaultConfig()
	cfg.Server = addr
	cfg.Key = key
	cfg.StateDir = dir
	cfg.Interval = 200 * time.Millisecond
	cfg.Version = "test"
	return cfg
}

// start runs the agent in the background; the returned stop cancels it and
// waits for Run to return.
func start(t *testing.T, cfg Config, logger *slog.Logger) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, logger) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// spooledMetricTimes reads a copy of the agent's spool (so the original is
// untouched) and returns the timestamps of its metrics batches in order.
func spooledMetricTimes(t *testing.T, stateDir string) []time.Time {
	t.Helper()
	cp := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(stateDir, "spool", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cp, filepath.Base(f)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sp, err := spool.Open(cp, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	var out []time.Time
	var buf []byte
	for {
		rec, err := sp.Peek(buf)
		if errors.Is(err, spool.ErrEmpty) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		buf = rec.Data
		if rec.Type == recMetrics {
			req := pmetricotlp.NewExportRequest()
			if err := req.UnmarshalProto(rec.Data); err != nil {
				t.Fatal(err)
			}
			out = append(out, uptimeTime(req.Metrics()))
		}
		if err := sp.Ack(rec); err != nil {
			t.Fatal(err)
		}
	}
}

func uptimeTime(md pmetric.Metrics) time.Time {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				if ms.At(k).Name() == "system.uptime" {
					return ms.At(k).Gauge().DataPoints().At(0).Timestamp().AsTime()
				}
			}
		}
	}
	return time.Time{}
}

func spoolFiles(dir string) int64 {
	var n int64
	m, _ := filepath.Glob(filepath.Join(dir, "spool", "*.seg"))
	for _, f := range m {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}

// The server is down at first: the agent spools, is restarted, spools
// more; then the server comes up and everything arrives, oldest first,
// with no cycle missing, and live data follows.
func TestSpoolWhileDownThenDeliverInOrder(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	logs := &logBuf{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	cfg := testConfig(addr, "secret", dir)

	stop := start(t, cfg, logger)
	waitFor(t, 5*time.Second, "first run to spool", func() bool { return spoolFiles(dir) > 0 })
	time.Sleep(time.Second)
	stop()
	firstStop := time.Now()
	spooled := spooledMetricTimes(t, dir)
	if len(spooled) < 3 {
		t.Fatalf("%d metrics batches spooled while the server was down", len(spooled))
	}

	stop = start(t, cfg, logger)
	defer stop()
	time.Sleep(time.Second)
	srv := &testServer{key: "secret"}
	serverUp := time.Now()
	defer srv.serve(t, addr)()

	// Wait for live data: a batch collected after the server came up.
	waitFor(t, 30*time.Second, "live data after backlog", func() bool {
		evs, _ := srv.snapshot()
		for _, e := range evs {
			if e.kind == "metrics" && e.ts.After(serverUp.Add(time.Second)) {
				return true
			}
		}
		return false
	})
	evs, _ := srv.snapshot()

	if evs[0].kind != "register" {
		t.Errorf("first call was %s, want register", evs[0].kind)
	}
	var metrics, pushes []event
	id := ""
	for _, e := range evs {
		if id == "" {
			id = e.agentID
		}
		if e.agentID != id {
			t.Fatalf("agent id changed across restart: %s then %s", id, e.agentID)
		}
		switch e.kind {
		case "metrics":
			metrics = append(metrics, e)
		case "push":
			pushes = append(pushes, e)
		}
	}
	t.Logf("%d calls: %d metrics batches, %d pushes; oldest from %v, first run stopped %v, server up %v",
		len(evs), len(metrics), len(pushes), metrics[0].ts.Format(time.StampMilli), firstStop.Format(time.StampMilli), serverUp.Format(time.StampMilli))
	if !metrics[0].ts.Before(firstStop) {
		t.Errorf("oldest batch delivered is from %v, want one from the first run (stopped %v)", metrics[0].ts, firstStop)
	}
	// Exactly what the first run spooled arrives first, in order.
	for i, ts := range spooled {
		if i >= len(metrics) || !metrics[i].ts.Equal(ts) {
			t.Fatalf("spooled batch %d (%v) not delivered in place", i, ts)
		}
	}
	// In order, and no gap within a run: consecutive cycles are one
	// interval apart, except once across the restart.
	gaps := 0
	for _, seq := range [][]event{metrics, pushes} {
		gaps = 0
		for i := 1; i < len(seq); i++ {
			d := seq[i].ts.Sub(seq[i-1].ts)
			if d <= 0 {
				t.Fatalf("%s %d arrived out of order: %v after %v", seq[i].kind, i, seq[i].ts, seq[i-1].ts)
			}
			// Tolerant of a late timer on a loaded machine; a lost batch
			// between the spooled ones is caught exactly above.
			if d > cfg.Interval*5/2 {
				gaps++
			}
		}
		if gaps > 1 {
			t.Errorf("%s: %d gaps, want only the restart", seq[0].kind, gaps)
		}
	}
	if len(metrics) < 8 || len(pushes) != len(metrics) && len(pushes) != len(metrics)-1 && len(pushes) != len(metrics)+1 {
		t.Errorf("%d metrics batches and %d pushes", len(metrics), len(pushes))
	}
	// Inventory went at each start with the first process list.
	inv := 0
	for _, p := range pushes {
		for _, s := range p.snaps {
			if s == wire.SnapshotInventory {
				inv++
			}
		}
		if p.procs == 0 {
			t.Errorf("push without processes: %+v", p)
		}
	}
	if inv != 2 {
		t.Errorf("%d inventory snapshots, want 2 (one per start)", inv)
	}
	a := metrics[0].attrs
	for k, v := range map[string]string{
		wire.AttrAgentID: id, wire.AttrServiceInstanceID: id, wire.AttrAgentKind: KindHost,
		wire.AttrAgentGroup: "default", wire.AttrServiceName: "osprey-agent",
	} {
		if a[k] != v {
			t.Errorf("resource %s = %q, want %q", k, a[k], v)
		}
	}
	if a[wire.AttrHostName] == "" || a[wire.AttrAgentName] == "" {
		t.Errorf("resource without host name: %v", a)
	}
	if last := metrics[len(metrics)-1]; last.errs == 0 {
		t.Errorf("send errors not counted while the server was down")
	}
	if !strings.Contains(logs.String(), "server unreachable") {
		t.Errorf("no log about the unreachable server:\n%s", logs.String())
	}
}

func TestWrongKeyIsRefusedNotSpun(t *testing.T) {
	addr := freeAddr(t)
	srv := &testServer{key: "right"}
	defer srv.serve(t, addr)()
	logs := &logBuf{}
	cfg := testConfig(addr, "wrong", t.TempDir())
	stop := start(t, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	waitFor(t, 5*time.Second, "refusal logged", func() bool {
		return strings.Contains(logs.String(), "server refused the key")
	})
	time.Sleep(2 * time.Second)
	stop()
	evs, refused := srv.snapshot()
	if len(evs) != 0 {
		t.Errorf("server accepted %d calls with a wrong key", len(evs))
	}
	if refused < 1 || refused > 2 {
		t.Errorf("agent called %d times in ~2s with a refused key; want it to back off", refused)
	}
	if n := strings.Count(logs.String(), "server refused the key"); n != 1 {
		t.Errorf("refusal logged %d times, want once", n)
	}
	// Nothing was dropped: the batches wait in the spool for a right key.
	if spoolFiles(cfg.StateDir) == 0 {
		t.Error("spool is empty after a refused key")
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yaml")
	if err := os.WriteFile(path, []byte(`
server: osprey.example:4317
group: web
interval: 10s
spool: {max_bytes: 64MiB}
tls: {enabled: true, insecure_skip_verify: true}
modules:
  host: {enabled: true, process_list: false}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvKey, "from-env")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server != "osprey.example:4317" || cfg.Group != "web" || cfg.Interval != 10*time.Second ||
		cfg.Spool.MaxBytes != 64<<20 || !cfg.TLS.Enabled || !cfg.TLS.InsecureSkipVerify ||
		cfg.Modules.Host.ProcessList || cfg.Key != "from-env" || cfg.Modules.Host.DiskExclude == "" {
		t.Errorf("loaded %+v", cfg)
	}

	if err := os.WriteFile(path, []byte("sever: typo:4317\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil {
		t.Error("unknown key accepted")
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := LoadConfig(path); err != nil || cfg.Server != "localhost:4317" {
		t.Errorf("empty file: %v %+v", err, cfg)
	}
}

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true}, {"256MiB", 256 << 20, true}, {"1GB", 1e9, true},
		{"2g", 2 << 30, true}, {"512 KiB", 512 << 10, true}, {"12 parsecs", 0, false}, {"", 0, false},
	} {
		got, err := ParseByteSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseByteSize(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestAgentIDIsStable(t *testing.T) {
	dir := t.TempDir()
	a, err := loadOrCreateID(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := loadOrCreateID(dir)
	if err != nil || a != b || len(a) != 36 {
		t.Fatalf("ids %q %q %v", a, b, err)
	}
}

// BenchmarkCycle is one full collection cycle as the agent runs it: host
// metrics, process list, encoding and the spool append.
func BenchmarkCycle(b *testing.B) {
	cfg := testConfig("127.0.0.1:1", "k", b.TempDir())
	if err := cfg.normalize(); err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	a, closeFn, err := newTestAgent(b, cfg, logger)
	if err != nil {
		b.Fatal(err)
	}
	defer closeFn()
	b.ReportAllocs()
	for b.Loop() {
		if err := a.cycle(context.Background(), time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(spoolFiles(cfg.StateDir))/float64(b.N), "spool-B/op")
}

func newTestAgent(b *testing.B, cfg Config, logger *slog.Logger) (*agent, func(), error) {
	sp, err := openSpool(cfg, logger)
	if err != nil {
		return nil, nil, err
	}
	a, err := newAgent(context.Background(), cfg, &agentpb.AgentIdentity{Id: "bench", Kind: KindHost}, sp, logger)
	if err != nil {
		sp.Close()
		return nil, nil, fmt.Errorf("new agent: %w", err)
	}
	a.send = &sender{}
	return a, func() { sp.Close() }, nil
}
