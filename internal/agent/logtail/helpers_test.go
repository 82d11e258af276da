package logtail

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

var testIdent = &agentpb.AgentIdentity{Id: "agent-1", Name: "web-1", Group: "web", Kind: "host", Version: "1.0.0"}

// record is an emitted log record, flattened for assertions.
type record struct {
	body     string
	attrs    map[string]any
	sevText  string
	sevNum   plog.SeverityNumber
	ts       time.Time
	observed time.Time
}

// sink plays the agent's spool: it keeps every batch it is handed.
type sink struct {
	mu       sync.Mutex
	recs     []record
	batches  int
	maxBatch int
	resource map[string]any
}

func (s *sink) emit(ld plog.Logs) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	s.maxBatch = max(s.maxBatch, ld.LogRecordCount())
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		s.resource = rl.Resource().Attributes().AsRaw()
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			lrs := rl.ScopeLogs().At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				s.recs = append(s.recs, record{
					body:     lr.Body().Str(),
					attrs:    lr.Attributes().AsRaw(),
					sevText:  lr.SeverityText(),
					sevNum:   lr.SeverityNumber(),
					ts:       lr.Timestamp().AsTime(),
					observed: lr.ObservedTimestamp().AsTime(),
				})
			}
		}
	}
}

func (s *sink) all() []record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]record(nil), s.recs...)
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.recs)
}

func (s *sink) bodies() []string {
	var out []string
	for _, r := range s.all() {
		out = append(out, r.body)
	}
	return out
}

// running is a module started by startModule.
type running struct {
	m    *Module
	stop func()
}

// startModule runs a new Module on cfg and stateDir; stop cancels it and
// waits for Run to return.
func startModule(t *testing.T, cfg Config, stateDir string, s *sink) running {
	t.Helper()
	cfg.Enabled = true
	var logger *slog.Logger
	if os.Getenv("LOGTAIL_DEBUG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := New(cfg, stateDir, testIdent, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx, s.emit)
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return running{m: m, stop: stop}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path string, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path string, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// fastConfig polls quickly, for tests that do not measure rotation races.
func fastConfig(src ...Source) Config {
	return Config{Sources: src, PollInterval: 20 * time.Millisecond, FlushInterval: 50 * time.Millisecond}
}
