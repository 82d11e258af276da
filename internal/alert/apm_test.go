package alert

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/store/event"
)

// rollup writes one 5-second APM rollup row as the ingest does.
func (r *rig) rollup(at time.Time, app string, count, errors int, sumMs float64) {
	r.t.Helper()
	row := event.Row{Time: at, Fields: []event.Field{
		{Name: "type", Value: "apmroll"}, {Name: "app", Value: app}, {Name: "instance", Value: app + "-1"},
		{Name: "count", Value: strconv.Itoa(count)}, {Name: "errors", Value: strconv.Itoa(errors)},
		{Name: "sum_ms", Value: strconv.FormatFloat(sumMs, 'f', -1, 64)},
		{Name: "apdex_s", Value: strconv.Itoa(count - errors)}, {Name: "apdex_t", Value: "0"},
	}}
	if _, _, err := r.es.Add(context.Background(), r.project, []event.Row{row}); err != nil {
		r.t.Fatal(err)
	}
	r.es.Flush()
}

func TestAPMRules(t *testing.T) {
	r := newRig(t)
	// One minute of rollups ending 10 s before "now": checkout is slow and
	// failing, search is healthy.
	for i := 0; i < 12; i++ {
		at := r.now.Add(-apmLag - time.Minute + time.Duration(i)*5*time.Second)
		r.rollup(at, "checkout", 50, 10, 50*2500)
		r.rollup(at, "search", 100, 0, 100*20)
	}
	for _, tc := range []struct {
		rule Rule
		want map[string]float64 // app -> value
	}{
		{Rule{Condition: "avg_ms", Op: ">", Threshold: 2000}, map[string]float64{"checkout": 2500}},
		{Rule{Condition: "error_rate", Op: ">=", Threshold: 5}, map[string]float64{"checkout": 20}},
		{Rule{Condition: "tps", Op: ">", Threshold: 15}, map[string]float64{"search": 20}},
		{Rule{Condition: "errors", Op: ">", Threshold: 100}, map[string]float64{"checkout": 120}},
		{Rule{Condition: "apdex", Op: "<", Threshold: 0.9}, map[string]float64{"checkout": 0.8}},
		// An app that sent nothing has a TPS of 0.
		{Rule{Condition: "tps", Op: "<", Threshold: 1, App: "billing"}, map[string]float64{"billing": 0}},
		{Rule{Condition: "tps", Op: "<", Threshold: 1, App: "search"}, map[string]float64{}},
	} {
		rule := tc.rule
		rule.Name, rule.Kind = "apm "+rule.Condition, KindAPM
		if err := rule.Normalize(); err != nil {
			t.Fatal(err)
		}
		got, err := r.e.evaluate(context.Background(), r.project, &rule, r.now)
		if err != nil {
			t.Fatalf("%s: %v", rule.Condition, err)
		}
		m := map[string]float64{}
		for _, s := range got {
			m[s.Labels[LabelApp]] = s.Value
		}
		if len(m) != len(tc.want) {
			t.Errorf("%s %s %v (app %q): got %v, want %v", rule.Condition, rule.Op, rule.Threshold, rule.App, m, tc.want)
			continue
		}
		for app, v := range tc.want {
			if d := m[app] - v; d > 1e-9 || d < -1e-9 {
				t.Errorf("%s %s %v: %s = %v, want %v", rule.Condition, rule.Op, rule.Threshold, app, m[app], v)
			}
		}
	}
	bad := Rule{Name: "x", Kind: KindAPM, Condition: "latency", Op: ">"}
	if err := bad.Normalize(); err == nil {
		t.Error("an unknown APM condition was accepted")
	}
}
