package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/osprey-monitoring/osprey/internal/store/metric"
)

// benchRig loads 10,000 series (cpu of 10,000 hosts in 1,000 groups, a
// sample every 15 s for 10 minutes) and 1,000 rules.
func benchRig(b *testing.B, expr func(i int) string) *rig {
	t := &testing.T{}
	r := newRig(t)
	r.t = t
	ctx := context.Background()
	const hosts, points = 10_000, 40
	lsets := make([]labels.Labels, hosts)
	for h := range lsets {
		lsets[h] = labels.FromStrings("__name__", "cpu", "host", fmt.Sprintf("h%05d", h), "group", fmt.Sprintf("g%03d", h%1000))
	}
	start := r.now.Add(-10 * time.Minute)
	for p := 0; p < points; p++ {
		s := make([]metric.Sample, hosts)
		for h := range s {
			s[h] = metric.Sample{Labels: lsets[h], T: start.Add(time.Duration(p) * 15 * time.Second).UnixMilli(), V: float64((h*7 + p) % 100)}
		}
		if _, err := r.ms.AppendSamples(ctx, r.project, s); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 1000; i++ {
		body, _ := json.Marshal(Rule{Name: fmt.Sprintf("rule %d", i), Kind: KindMetric, Enabled: true, Severity: SeverityWarning,
			Expr: expr(i), Op: ">", Threshold: 98, For: Duration(time.Minute)})
		if _, err := r.meta.PutObject(ctx, r.project, ObjRule, 0, body); err != nil {
			b.Fatal(err)
		}
	}
	return r
}

func benchEval(b *testing.B, r *rig) {
	ctx := context.Background()
	if err := r.e.EvalOnce(ctx); err != nil { // states settle: pending
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.e.EvalOnce(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/eval")
}

// BenchmarkEval1000RulesEachOverAllSeries: every rule reads all 10,000
// series (e.g. "any host's CPU above N"): 10M samples looked at per round.
func BenchmarkEval1000RulesEachOverAllSeries(b *testing.B) {
	benchEval(b, benchRig(b, func(i int) string { return fmt.Sprintf(`cpu{host!="h%05d"}`, i) }))
}

// BenchmarkEval1000RulesOverTheirGroup: each rule reads its group's 10
// series (per-service or per-cluster rules), 10,000 series in all.
func BenchmarkEval1000RulesOverTheirGroup(b *testing.B) {
	benchEval(b, benchRig(b, func(i int) string { return fmt.Sprintf(`avg_over_time(cpu{group="g%03d"}[1m])`, i) }))
}
