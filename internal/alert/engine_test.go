package alert

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/notify"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// recorder keeps what the engine hands to channels; the channels
// themselves are tested against real receivers in internal/notify.
type recorder struct {
	mu  sync.Mutex
	got []notify.Notification
}

func (r *recorder) Enqueue(ch *notify.Channel, n notify.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.got {
		out = append(out, n.State+" "+n.Labels["host"])
	}
	r.got = nil
	return out
}

type rig struct {
	t       *testing.T
	meta    *meta.Store
	ms      *metric.Store
	es      *event.Store
	tr      *agentstate.Tracker
	rec     *recorder
	now     time.Time
	project int64
	e       *Engine
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newRig(t *testing.T) *rig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	m, err := meta.Open(ctx, dir+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, _, err := m.CreateProject(ctx, "default", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.PutObject(ctx, p.ID, ObjChannel, 0, []byte(`{"name":"hook","type":"webhook","webhook":{"url":"http://127.0.0.1:1/x"}}`)); err != nil {
		t.Fatal(err)
	}
	ms, err := metric.Open(ctx, metric.Options{Dir: dir + "/metrics", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	es, err := event.Open(ctx, event.Options{Dir: dir + "/events", Logger: quiet(), MaxMemoryBytes: 128 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { es.Close() })
	r := &rig{t: t, meta: m, ms: ms, es: es, tr: agentstate.NewTracker(5 * time.Second), rec: &recorder{},
		now: time.Now().Truncate(time.Minute), project: p.ID}
	r.restart()
	return r
}

// restart makes a new engine over the same stores, as a server restart does.
func (r *rig) restart() {
	e, err := New(context.Background(), r.meta, Sources{Metrics: r.ms, Events: r.es, Agents: r.tr}, r.rec,
		Options{Now: func() time.Time { return r.now }, Logger: quiet()})
	if err != nil {
		r.t.Fatal(err)
	}
	r.e = e
}

func (r *rig) rule(rule Rule) int64 {
	r.t.Helper()
	if err := rule.Normalize(); err != nil {
		r.t.Fatal(err)
	}
	b, _ := json.Marshal(rule)
	id, err := r.meta.PutObject(context.Background(), r.project, ObjRule, 0, b)
	if err != nil {
		r.t.Fatal(err)
	}
	return id
}

// cpu records each host's value at the rig's current time.
func (r *rig) cpu(vals map[string]float64) {
	r.t.Helper()
	var s []metric.Sample
	for h, v := range vals {
		s = append(s, metric.Sample{Labels: labels.FromStrings("__name__", "cpu", "host", h), T: r.now.UnixMilli(), V: v})
	}
	if _, err := r.ms.AppendSamples(context.Background(), r.project, s); err != nil {
		r.t.Fatal(err)
	}
}

// step advances time, records values and evaluates.
func (r *rig) step(d time.Duration, vals map[string]float64) []string {
	r.t.Helper()
	r.now = r.now.Add(d)
	if vals != nil {
		r.cpu(vals)
	}
	if err := r.e.EvalOnce(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	return r.rec.take()
}

func same(a []string, b ...string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMetricRuleFiresRepeatsAndResolves(t *testing.T) {
	r := newRig(t)
	r.rule(Rule{Name: "cpu high", Kind: KindMetric, Enabled: true, Severity: SeverityCritical, Expr: "cpu", Op: ">", Threshold: 90,
		For: Duration(time.Minute), Repeat: Duration(5 * time.Minute)})
	steps := []struct {
		after time.Duration
		vals  map[string]float64
		want  []string
	}{
		{0, map[string]float64{"a": 95, "b": 10}, nil},                // pending: For is a minute
		{30 * time.Second, map[string]float64{"a": 96, "b": 10}, nil}, // still pending
		{31 * time.Second, map[string]float64{"a": 97, "b": 10}, []string{"firing a"}},
		{2 * time.Minute, map[string]float64{"a": 97, "b": 10}, nil},                  // firing, not yet time to repeat
		{3 * time.Minute, map[string]float64{"a": 98, "b": 10}, []string{"repeat a"}}, // 5 min after firing
		{time.Minute, map[string]float64{"a": 50, "b": 10}, []string{"resolved a"}},
		{time.Minute, map[string]float64{"a": 50, "b": 10}, nil}, // resolved only once
	}
	for i, s := range steps {
		if got := r.step(s.after, s.vals); !same(got, s.want...) {
			t.Fatalf("step %d: notifications %v, want %v", i, got, s.want)
		}
	}
	st := r.e.Active(r.project)
	if len(st) != 1 || st[0].Status != StateResolved || st[0].Summary == "" {
		t.Fatalf("active list %+v", st)
	}
	// The history has the firing and the resolution.
	r.es.Flush()
	res, err := r.es.Search(context.Background(), r.project, event.Query{Start: r.now.Add(-time.Hour), End: r.now.Add(time.Minute),
		Type: "event", Filters: []event.Filter{{Field: "event.kind", Op: "=", Value: EventKindAlert}}})
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, rec := range res.Records {
		states = append(states, rec["alert.state"]+" "+rec["alert.label.host"])
	}
	if !same(states, "resolved a", "firing a") {
		t.Errorf("history %v, want resolved and firing of a", states)
	}
}

func TestAckStopsRepeatsButNotResolution(t *testing.T) {
	r := newRig(t)
	r.rule(Rule{Name: "cpu", Kind: KindMetric, Enabled: true, Expr: "cpu > 90", Repeat: Duration(time.Minute)})
	if got := r.step(0, map[string]float64{"a": 99}); !same(got, "firing a") {
		t.Fatalf("got %v", got)
	}
	id := r.e.Active(r.project)[0].ID
	if _, err := r.e.Ack(context.Background(), r.project, id, "kim"); err != nil {
		t.Fatal(err)
	}
	if got := r.step(2*time.Minute, map[string]float64{"a": 99}); len(got) != 0 {
		t.Fatalf("acknowledged alert repeated: %v", got)
	}
	if got := r.step(time.Minute, map[string]float64{"a": 1}); !same(got, "resolved a") {
		t.Fatalf("got %v", got)
	}
	if _, err := r.e.Ack(context.Background(), r.project, id, "kim"); err != ErrNotFiring {
		t.Errorf("ack of a resolved alert: %v", err)
	}
}

func TestRestartDoesNotFireTwice(t *testing.T) {
	r := newRig(t)
	r.rule(Rule{Name: "cpu", Kind: KindMetric, Enabled: true, Expr: "cpu", Op: ">", Threshold: 90})
	if got := r.step(0, map[string]float64{"a": 99}); !same(got, "firing a") {
		t.Fatalf("got %v", got)
	}
	r.restart()
	if got := r.step(15*time.Second, map[string]float64{"a": 99}); len(got) != 0 {
		t.Fatalf("after a restart the firing alert notified again: %v", got)
	}
	if st := r.e.Active(r.project); len(st) != 1 || st[0].Status != StateFiring {
		t.Fatalf("after restart %+v", st)
	}
	r.restart()
	if got := r.step(15*time.Second, map[string]float64{"a": 1}); !same(got, "resolved a") {
		t.Fatalf("resolution after a restart: %v", got)
	}
}

func TestMaintenanceMutesThenNotifies(t *testing.T) {
	r := newRig(t)
	id := r.rule(Rule{Name: "cpu", Kind: KindMetric, Enabled: true, Expr: "cpu", Op: ">", Threshold: 90})
	w, _ := json.Marshal(MaintenanceWindow{Name: "patching", Start: r.now.Add(-time.Minute), End: r.now.Add(2 * time.Minute), Rules: []int64{id}})
	if _, err := r.meta.PutObject(context.Background(), r.project, ObjMaintenance, 0, w); err != nil {
		t.Fatal(err)
	}
	if got := r.step(0, map[string]float64{"a": 99}); len(got) != 0 {
		t.Fatalf("muted rule notified: %v", got)
	}
	if st := r.e.Active(r.project); len(st) != 1 || st[0].Status != StateFiring || !st[0].Muted {
		t.Fatalf("muted alert %+v", st)
	}
	// Still firing when the window ends: now it is announced.
	if got := r.step(3*time.Minute, map[string]float64{"a": 99}); !same(got, "firing a") {
		t.Fatalf("after the window: %v", got)
	}
}

func TestNoDataAndReboot(t *testing.T) {
	r := newRig(t)
	r.rule(Rule{Name: "silent", Kind: KindNoData, Enabled: true, AgentKind: "host", For: Duration(time.Minute)})
	r.rule(Rule{Name: "reboot", Kind: KindReboot, Enabled: true})
	ag := &agentpb.AgentIdentity{Id: "h1", Name: "web-1", Kind: "host"}
	r.tr.ObserveRegister(r.project, ag, &agentpb.Inventory{BootTimeUnix: 1000}, r.now)
	if got := r.step(30*time.Second, nil); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
	if got := r.step(40*time.Second, nil); len(got) != 1 || got[0] != "firing " {
		t.Fatalf("no-data after 70 s: %v", got)
	}
	// The host comes back, rebooted.
	r.tr.ObserveRegister(r.project, ag, &agentpb.Inventory{BootTimeUnix: 5000}, r.now)
	got := r.step(time.Second, nil)
	if !same(got, "resolved ", "firing ") && !same(got, "firing ", "resolved ") {
		t.Fatalf("on return: %v, want the no-data alert resolved and a reboot alert", got)
	}
	var reboot *State
	for _, st := range r.e.Active(r.project) {
		if st.Kind == KindReboot {
			reboot = &st
		}
	}
	if reboot == nil || reboot.Status != StateFiring || reboot.Labels[LabelAgentName] != "web-1" {
		t.Fatalf("reboot alert %+v", reboot)
	}
	// It resolves by itself after the rule's window (10 min).
	r.tr.ObserveRegister(r.project, ag, &agentpb.Inventory{BootTimeUnix: 5000}, r.now.Add(11*time.Minute))
	if got := r.step(11*time.Minute, nil); !same(got, "resolved ") {
		t.Fatalf("reboot alert after its window: %v", got)
	}
}

func TestRuleValidation(t *testing.T) {
	tests := []struct {
		name string
		r    Rule
		ok   bool
	}{
		{"metric", Rule{Name: "x", Kind: KindMetric, Expr: "up == 0"}, true},
		{"bad promql", Rule{Name: "x", Kind: KindMetric, Expr: "rate(up[5m]"}, false},
		{"no name", Rule{Kind: KindMetric, Expr: "up"}, false},
		{"bad severity", Rule{Name: "x", Kind: KindMetric, Expr: "up", Severity: "panic"}, false},
		{"bad op", Rule{Name: "x", Kind: KindMetric, Expr: "up", Op: "=>"}, false},
		{"slow url needs ms", Rule{Name: "x", Kind: KindURL, Condition: "slow"}, false},
		{"log needs text", Rule{Name: "x", Kind: KindLog}, false},
		{"log", Rule{Name: "x", Kind: KindLog, Text: "OutOfMemoryError"}, true},
		{"event needs kind", Rule{Name: "x", Kind: KindEvent}, false},
		{"bad template", Rule{Name: "x", Kind: KindNoData, Message: "{{.Labels"}, false},
		{"unknown kind", Rule{Name: "x", Kind: "magic"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Normalize()
			if (err == nil) != tt.ok {
				t.Errorf("Normalize() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSummaryTemplate(t *testing.T) {
	r := &Rule{Name: "cpu", Kind: KindMetric, Message: "{{.Labels.host}} at {{printf \"%.0f\" .Value}}% (limit {{.Threshold}})", Threshold: 90}
	st := &State{Labels: map[string]string{"host": "db-1"}, Value: 97.4}
	if got := summary(r, st, ""); got != "db-1 at 97% (limit 90)" {
		t.Errorf("summary %q", got)
	}
	if got := summary(&Rule{Name: "n", Kind: KindMetric, Op: ">", Threshold: 1}, &State{Value: math.Pi, Labels: map[string]string{}}, ""); got != "n: value 3.142 > 1" {
		t.Errorf("default summary %q", got)
	}
}
