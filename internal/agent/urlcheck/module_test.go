package urlcheck

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// runModule runs m in the background; stop cancels it and reports whether
// Run returned in time.
func runModule(t *testing.T, m *Module, emit func(Output)) (stop func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx, emit)
	}()
	stopped := false
	stop = func() bool {
		if stopped {
			return true
		}
		stopped = true
		cancel()
		select {
		case <-done:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
	t.Cleanup(func() { stop() })
	return stop
}

func TestRunEmitsAndStops(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/up", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("/down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	plain := newServer(t, mux, nil)
	ca := newTestCA(t)
	notAfter := time.Now().Add(time.Hour).Truncate(time.Second)
	cert := ca.leaf(t, time.Now().Add(-time.Minute), notAfter)
	secure := newServer(t, mux, &cert)

	ident := &agentpb.AgentIdentity{Id: "agent-1", Name: "probe-eu", Group: "eu-west", Kind: "url", Version: "1.2.3"}
	m := New(Config{Enabled: true, Concurrency: 2}, ident, testLogger(t))
	checks := []*agentpb.URLCheck{
		{Id: "up", Name: "Up", Url: plain.URL + "/up", IntervalSeconds: 1},
		{Id: "down", Name: "Down", Url: plain.URL + "/down", IntervalSeconds: 1},
		{Id: "tls", Name: "TLS", Url: secure.URL + "/up", IntervalSeconds: 1, InsecureSkipVerify: true},
	}
	m.SetChecks(checks)

	outs := make(chan Output, 64)
	var emits atomic.Int64
	stop := runModule(t, m, func(o Output) {
		emits.Add(1)
		outs <- o
	})

	perCheck := map[string][]*agentpb.URLResult{}
	deadline := time.After(15 * time.Second)
	for len(perCheck["up"]) < 2 || len(perCheck["down"]) < 2 || len(perCheck["tls"]) < 2 {
		select {
		case o := <-outs:
			for _, r := range checkOutput(t, o, ident) {
				perCheck[r.CheckId] = append(perCheck[r.CheckId], r)
			}
		case <-deadline:
			t.Fatalf("results after 15 s: %d up, %d down, %d tls; want 2 each", len(perCheck["up"]), len(perCheck["down"]), len(perCheck["tls"]))
		}
	}
	if !stop() {
		t.Fatal("Run did not return after cancel")
	}
	after := emits.Load()
	time.Sleep(1500 * time.Millisecond)
	if emits.Load() != after {
		t.Error("emit called after Run returned")
	}

	for id, rs := range perCheck {
		e := m.entries[id]
		for _, r := range rs {
			if want := id != "down"; r.Up != want {
				t.Errorf("%s: up %v (%s), want %v", id, r.Up, r.Error, want)
			}
			// Runs happen at the check's phase within its interval.
			late := time.Duration((r.TimeUnixNano - int64(e.offset)) % int64(e.interval))
			if late > 300*time.Millisecond {
				t.Errorf("%s: run started %v after its slot", id, late)
			}
		}
	}
	if got := perCheck["tls"][0].TlsExpiryUnix; got != notAfter.Unix() {
		t.Errorf("tls expiry %d, want %d", got, notAfter.Unix())
	}
	if r := perCheck["down"][0]; r.Failure != FailureStatus || r.Error != "status 503, expected 200-399" {
		t.Errorf("down: failure %q error %q", r.Failure, r.Error)
	}
	st := m.Stats()
	if st.Checks != 3 || st.Runs < 6 || st.Failures < 2 || st.Skipped != 0 {
		t.Errorf("stats %+v: want 3 checks, >= 6 runs, >= 2 failures, none skipped", st)
	}
}

// checkOutput verifies one emit's push and metrics agree and carry the
// agent identity, and returns its results.
func checkOutput(t *testing.T, o Output, ident *agentpb.AgentIdentity) []*agentpb.URLResult {
	t.Helper()
	p := o.Push
	if !proto.Equal(p.GetAgent(), ident) || len(p.GetSnapshots()) != 1 {
		t.Fatalf("push agent %v, %d snapshots; want the identity and one snapshot", p.GetAgent(), len(p.GetSnapshots()))
	}
	snap := p.Snapshots[0]
	results := snap.GetUrlResults().GetResults()
	if snap.Type != SnapshotURLResults || len(results) == 0 {
		t.Fatalf("snapshot type %q with %d results", snap.Type, len(results))
	}
	byStart := map[string]*agentpb.URLResult{}
	for _, r := range results {
		if snap.TimeUnixNano < r.TimeUnixNano {
			t.Errorf("snapshot time %d before a result's start %d", snap.TimeUnixNano, r.TimeUnixNano)
		}
		byStart[r.CheckId+"@"+time.Unix(0, r.TimeUnixNano).String()] = r
	}

	md := o.Metrics
	if md.ResourceMetrics().Len() != 1 || md.ResourceMetrics().At(0).ScopeMetrics().Len() != 1 {
		t.Fatalf("want one resource with one scope")
	}
	rm := md.ResourceMetrics().At(0)
	for k, want := range map[string]string{
		wire.AttrAgentID: ident.Id, wire.AttrAgentName: ident.Name, wire.AttrAgentGroup: ident.Group, wire.AttrAgentKind: ident.Kind,
	} {
		if v, ok := rm.Resource().Attributes().Get(k); !ok || v.Str() != want {
			t.Errorf("resource %s = %v, want %q", k, v.AsRaw(), want)
		}
	}
	units := map[string]string{
		MetricUp: "", MetricDuration: "s", MetricPhaseDuration: "s", MetricStatusCode: "", MetricTLSExpiry: "s", MetricBodySize: "By",
	}
	ms := rm.ScopeMetrics().At(0).Metrics()
	tlsResults := 0
	for _, r := range results {
		if r.TlsExpiryUnix != 0 {
			tlsResults++
		}
	}
	for i := range ms.Len() {
		mt := ms.At(i)
		unit, known := units[mt.Name()]
		if !known || mt.Unit() != unit || mt.Type() != pmetric.MetricTypeGauge {
			t.Errorf("metric %s unit %q type %v unexpected", mt.Name(), mt.Unit(), mt.Type())
			continue
		}
		dps := mt.Gauge().DataPoints()
		want := len(results)
		switch mt.Name() {
		case MetricPhaseDuration:
			want *= 4
		case MetricTLSExpiry:
			want = tlsResults
		}
		if dps.Len() != want {
			t.Errorf("%s has %d points, want %d", mt.Name(), dps.Len(), want)
		}
		phases := map[string]int{}
		for j := range dps.Len() {
			dp := dps.At(j)
			a := dp.Attributes()
			id, _ := a.Get(AttrCheckID)
			name, _ := a.Get(AttrCheckName)
			full, _ := a.Get(AttrURL)
			r := byStart[id.Str()+"@"+time.Unix(0, int64(dp.Timestamp())).String()]
			if r == nil {
				t.Errorf("%s point %v at %v matches no result", mt.Name(), a.AsRaw(), dp.Timestamp())
				continue
			}
			wantAttrs := 3
			if mt.Name() == MetricPhaseDuration {
				wantAttrs = 4
				ph, _ := a.Get(AttrPhase)
				phases[ph.Str()]++
			}
			if a.Len() != wantAttrs || name.Str() != r.Name || full.Str() != r.Url {
				t.Errorf("%s point attributes %v for result %s %s: want exactly id, name, url (no failure)", mt.Name(), a.AsRaw(), r.Name, r.Url)
			}
			switch mt.Name() {
			case MetricUp:
				if up := dp.IntValue() == 1; up != r.Up {
					t.Errorf("up point %d for result up=%v", dp.IntValue(), r.Up)
				}
			case MetricDuration:
				if dp.DoubleValue() != r.TotalMs/1e3 {
					t.Errorf("duration %v s, result %v ms", dp.DoubleValue(), r.TotalMs)
				}
			case MetricStatusCode:
				if dp.IntValue() != int64(r.StatusCode) {
					t.Errorf("status point %d, result %d", dp.IntValue(), r.StatusCode)
				}
			case MetricTLSExpiry:
				if dp.IntValue() != r.TlsExpiryUnix {
					t.Errorf("tls expiry point %d, result %d", dp.IntValue(), r.TlsExpiryUnix)
				}
			case MetricBodySize:
				if dp.IntValue() != r.BodyBytes {
					t.Errorf("body size point %d, result %d", dp.IntValue(), r.BodyBytes)
				}
			}
		}
		if mt.Name() == MetricPhaseDuration {
			for _, ph := range []string{"dns", "connect", "tls", "first_byte"} {
				if phases[ph] != len(results) {
					t.Errorf("phase %s has %d points, want %d", ph, phases[ph], len(results))
				}
			}
		}
	}
	return results
}

// TestRunSkipsOverdue: a check slower than its interval runs one at a time;
// the slots it overran are counted as skipped.
func TestRunSkipsOverdue(t *testing.T) {
	var inflight, maxInflight, hits atomic.Int64
	srv := newServer(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := maxInflight.Load()
			if n <= m || maxInflight.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-time.After(2500 * time.Millisecond):
		case <-r.Context().Done():
		}
	}), nil)
	m := New(Config{Enabled: true}, &agentpb.AgentIdentity{Id: "a"}, testLogger(t))
	m.SetChecks([]*agentpb.URLCheck{{Id: "slow", Url: srv.URL, IntervalSeconds: 1, TimeoutMs: 10000}})
	stop := runModule(t, m, func(Output) {})
	time.Sleep(4500 * time.Millisecond)
	if !stop() {
		t.Fatal("Run did not return after cancel")
	}
	st := m.Stats()
	if maxInflight.Load() != 1 {
		t.Errorf("%d runs of one check in flight at once, want 1", maxInflight.Load())
	}
	if st.Skipped < 2 || st.Runs < 1 || hits.Load() > 2 {
		t.Errorf("stats %+v with %d requests: want >= 2 skipped, >= 1 run, at most 2 requests", st, hits.Load())
	}
}

func TestRunDisabled(t *testing.T) {
	var hits atomic.Int64
	srv := newServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }), nil)
	m := New(Config{Enabled: false}, nil, nil)
	m.SetChecks([]*agentpb.URLCheck{{Id: "a", Url: srv.URL, IntervalSeconds: 1}})
	var emits atomic.Int64
	stop := runModule(t, m, func(Output) { emits.Add(1) })
	time.Sleep(1500 * time.Millisecond)
	if !stop() {
		t.Fatal("Run did not return after cancel")
	}
	if hits.Load() != 0 || emits.Load() != 0 {
		t.Errorf("disabled module made %d requests and %d emits", hits.Load(), emits.Load())
	}
}
