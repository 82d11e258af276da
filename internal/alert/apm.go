package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/osprey-monitoring/osprey/internal/store/event"
)

// apmLag keeps the newest rollup windows out of an APM rule: a 5-second
// window is written about a second after it ends, so the last seconds
// would read as a drop in traffic.
const apmLag = 10 * time.Second

// LabelApp names the application of an APM alert.
const LabelApp = "app"

type apmTotals struct{ count, errors, sumMs, apdexS, apdexT, seconds float64 }

var apmConditions = map[string]func(t apmTotals) float64{
	"tps":    func(t apmTotals) float64 { return t.count / t.seconds },
	"errors": func(t apmTotals) float64 { return t.errors },
	"avg_ms": func(t apmTotals) float64 {
		if t.count == 0 {
			return 0
		}
		return t.sumMs / t.count
	},
	"error_rate": func(t apmTotals) float64 {
		if t.count == 0 {
			return 0
		}
		return 100 * t.errors / t.count
	},
	"apdex": func(t apmTotals) float64 {
		if t.count == 0 {
			return 1
		}
		return (t.apdexS + t.apdexT/2) / t.count
	},
}

// apmRule reads the apps' 5-second rollups over the rule's window.
func (e *Engine) apmRule(ctx context.Context, project int64, r *Rule, now time.Time) ([]Sample, error) {
	end := now.Add(-apmLag)
	start := end.Add(-r.Window.D())
	q := event.Query{Start: start, End: end, Type: "apmroll"}
	if r.App != "" {
		q.Filters = []event.Filter{{Field: "app", Op: "=", Value: r.App}}
	}
	groups, err := e.src.Events.Group(ctx, project, q, event.GroupQuery{
		By: []string{"app"},
		Aggs: []event.Agg{
			{Name: "count", Func: "sum", Field: "count"}, {Name: "errors", Func: "sum", Field: "errors"},
			{Name: "sum_ms", Func: "sum", Field: "sum_ms"}, {Name: "apdex_s", Func: "sum", Field: "apdex_s"},
			{Name: "apdex_t", Func: "sum", Field: "apdex_t"},
		},
		MaxGroups: 10_000,
	})
	if err != nil {
		return nil, fmt.Errorf("read APM rollups: %w", err)
	}
	val := apmConditions[r.Condition]
	num := func(g event.Group, name string) float64 {
		if v := g.Float(name); v == v { // not NaN
			return v
		}
		return 0
	}
	var out []Sample
	seen := false
	for _, g := range groups {
		t := apmTotals{count: num(g, "count"), errors: num(g, "errors"), sumMs: num(g, "sum_ms"),
			apdexS: num(g, "apdex_s"), apdexT: num(g, "apdex_t"), seconds: r.Window.D().Seconds()}
		app := g.Keys[0]
		seen = seen || app == r.App
		if v := val(t); ops[r.Op](v, r.Threshold) {
			out = append(out, Sample{Labels: map[string]string{LabelApp: app}, Value: v})
		}
	}
	// A named app that sent nothing has no rollups: its traffic is zero,
	// which is what a "tps < N" rule is for.
	if r.App != "" && !seen {
		if v := val(apmTotals{seconds: r.Window.D().Seconds()}); ops[r.Op](v, r.Threshold) {
			out = append(out, Sample{Labels: map[string]string{LabelApp: r.App}, Value: v})
		}
	}
	return out, nil
}
