package apm

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const (
	// appsRange is what the app list summarises.
	appsRange = 5 * time.Minute
	// activeWithin: an instance whose newest rollup window started this
	// long ago still reports (windows every 5 s, plus flush delay).
	activeWithin = 30 * time.Second
	// maxInfoLookups bounds the per-instance searches /apps makes for
	// instances whose rollups lack agent id, language and host.
	maxInfoLookups = 20
	// overviewPoints is what step=auto aims at.
	overviewPoints = 300
)

type instanceJSON struct {
	Instance   string    `json:"instance"`
	AgentID    string    `json:"agent_id"`
	Language   string    `json:"language"`
	Host       string    `json:"host"`
	Namespace  string    `json:"namespace"`
	Deployment string    `json:"deployment"`
	Pod        string    `json:"pod"`
	LastSeen   time.Time `json:"last_seen"` // start of the newest rollup window
	Active     bool      `json:"active"`
}

type appJSON struct {
	App       string         `json:"app"`
	Instances []instanceJSON `json:"instances"`
	TPS       envelope.Num   `json:"tps"`
	AvgMs     envelope.Num   `json:"avg_ms"`
	ErrorRate envelope.Num   `json:"error_rate"` // 0–1
}

// apps answers the apps and their instances seen in the rollups of the
// last 5 minutes, with throughput, mean response time and error rate.
func (h *handler) apps(w http.ResponseWriter, r *http.Request) {
	sel, ok := h.parse(w, r, appsRange)
	if !ok {
		return
	}
	// The list is "now"; a given range is ignored, as docs/apm.md says.
	now := h.now()
	sel.start, sel.end = now.Add(-appsRange), now
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	groups, err := h.es.Group(ctx, sel.project, sel.query(typeRoll), event.GroupQuery{
		Step: window, By: []string{fApp, fInstance},
		Aggs: []event.Agg{
			{Name: "n", Func: "sum", Field: fCount}, {Name: "err", Func: "sum", Field: fErrors}, {Name: "ms", Func: "sum", Field: fSumMs},
			{Name: "ns", Func: "any", Field: fNamespace}, {Name: "dep", Func: "any", Field: fDeployment}, {Name: "pod", Func: "any", Field: fPod},
			{Name: "agent", Func: "any", Field: fAgentID}, {Name: "lang", Func: "any", Field: fLanguage}, {Name: "host", Func: "any", Field: fHost},
		},
		MaxGroups: maxGroups,
	})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	type acc struct{ n, errs, ms float64 }
	apps := map[string]*acc{}
	insts := map[instKey]*instanceJSON{}
	var keys []instKey
	for _, g := range groups {
		k := instKey{g.Keys[0], g.Keys[1]}
		a := apps[k.app]
		if a == nil {
			a = &acc{}
			apps[k.app] = a
		}
		a.n += zeroNaN(g.Float("n"))
		a.errs += zeroNaN(g.Float("err"))
		a.ms += zeroNaN(g.Float("ms"))
		in := insts[k]
		if in == nil {
			in = &instanceJSON{Instance: k.instance}
			insts[k] = in
			keys = append(keys, k)
		}
		if g.Time.After(in.LastSeen) {
			in.LastSeen = g.Time
		}
		fill(&in.Namespace, g.Values["ns"])
		fill(&in.Deployment, g.Values["dep"])
		fill(&in.Pod, g.Values["pod"])
		fill(&in.AgentID, g.Values["agent"])
		fill(&in.Language, g.Values["lang"])
		fill(&in.Host, g.Values["host"])
	}
	h.instanceInfo(ctx, sel, insts, keys)
	slices.SortFunc(keys, func(a, b instKey) int {
		return cmp.Or(strings.Compare(a.app, b.app), strings.Compare(a.instance, b.instance))
	})
	out := []appJSON{}
	for _, k := range keys {
		if len(out) == 0 || out[len(out)-1].App != k.app {
			a := apps[k.app]
			out = append(out, appJSON{App: k.app, Instances: []instanceJSON{},
				TPS: envelope.Num(a.n / appsRange.Seconds()), AvgMs: envelope.Num(ratio(a.ms, a.n)), ErrorRate: envelope.Num(ratio(a.errs, a.n))})
		}
		in := insts[k]
		in.Active = now.Sub(in.LastSeen) <= activeWithin
		out[len(out)-1].Instances = append(out[len(out)-1].Instances, *in)
	}
	envelope.WriteData(w, out)
}

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func zeroNaN(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return f
}

// instanceInfo fills agent id, language and host of instances whose
// rollups lack them from one of the instance's transactions. Lookups that
// fail leave the fields empty: the list is still right without them.
func (h *handler) instanceInfo(ctx context.Context, sel selection, insts map[instKey]*instanceJSON, keys []instKey) {
	done := 0
	for _, k := range keys {
		in := insts[k]
		if in.AgentID != "" && in.Language != "" && in.Host != "" {
			continue
		}
		if done == maxInfoLookups {
			return
		}
		done++
		// Any of its rows will do: they share the resource.
		recs, err := h.es.Some(ctx, sel.project, event.Query{
			Start: sel.start, End: sel.end.Add(clockSkew), Type: typeSpan, Limit: 1,
			Filters: []event.Filter{{Field: fRole, Op: "=", Value: roleTx}, {Field: fApp, Op: "=", Value: k.app}, {Field: fInstance, Op: "=", Value: k.instance}},
			Fields:  []string{fAgentID, fLanguage, fHost},
		})
		if err != nil {
			h.log.Warn("apm: instance info lookup", "app", k.app, "instance", k.instance, "err", err)
			return
		}
		if len(recs) == 1 {
			rec := recs[0]
			fill(&in.AgentID, rec[fAgentID])
			fill(&in.Language, rec[fLanguage])
			fill(&in.Host, rec[fHost])
		}
	}
}

// overviewSteps are the widths step=auto picks from: whole rollup windows.
var overviewSteps = []time.Duration{
	5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// parseOverviewStep reads ?step= (a duration like 1m, or seconds), rounded
// up to a multiple of the 5-s rollup window, since a bucket must hold
// whole windows; auto or absent picks one giving about 300 points.
func parseOverviewStep(v url.Values, start, end time.Time) (time.Duration, error) {
	s := strings.TrimSpace(v.Get("step"))
	if s == "" || s == "auto" {
		want := end.Sub(start) / overviewPoints
		for _, st := range overviewSteps {
			if st >= want {
				return st, nil
			}
		}
		return want.Truncate(24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, err2 := strconv.Atoi(s)
		if err2 != nil || secs > 1e9 {
			return 0, fmt.Errorf("step: want auto, a duration like 1m, or seconds, got %q", s)
		}
		d = time.Duration(secs) * time.Second
	}
	if d <= 0 {
		return 0, fmt.Errorf("step: want a positive duration, got %q", s)
	}
	// Round up to whole windows; the answer says the step used.
	d = (d + window - 1) / window * window
	if n := end.Sub(start)/d + 1; n > event.MaxBuckets {
		return 0, fmt.Errorf("step %s gives %d points over the range; at most %d are allowed", d, n, event.MaxBuckets)
	}
	return d, nil
}

type overviewJSON struct {
	Step       float64        `json:"step"`  // seconds
	Times      []int64        `json:"times"` // unix ms, bucket starts
	TPS        []envelope.Num `json:"tps"`
	AvgMs      []envelope.Num `json:"avg_ms"`
	Errors     []envelope.Num `json:"errors"`     // failed transactions in the bucket
	ErrorRate  []envelope.Num `json:"error_rate"` // 0–1
	Apdex      []envelope.Num `json:"apdex"`
	Users      []envelope.Num `json:"users"`
	Active     []envelope.Num `json:"active"`
	CPUPercent []envelope.Num `json:"cpu_percent"`
	HeapBytes  []envelope.Num `json:"heap_bytes"`
	Yesterday  yesterdayJSON  `json:"yesterday"`
}

type yesterdayJSON struct {
	TPS   []envelope.Num `json:"tps"`
	Users []envelope.Num `json:"users"`
}

// series accumulates one figure per bucket; NaN until a bucket has data.
type series []float64

func newSeries(n int) series {
	s := make(series, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// add sums v into bucket i, leaving NaN values out.
func (s series) add(i int, v float64) {
	if math.IsNaN(v) {
		return
	}
	if math.IsNaN(s[i]) {
		s[i] = 0
	}
	s[i] += v
}

func (s series) json() []envelope.Num {
	out := make([]envelope.Num, len(s))
	for i, v := range s {
		out[i] = envelope.Num(v)
	}
	return out
}

// overviewGrid is the time axis of an overview: buckets of step from
// first, and how many seconds of closed rollup windows each covers (the
// TPS divisor).
type overviewGrid struct {
	first, step, last time.Duration // first and last as unix ns
	n                 int
}

func (g overviewGrid) index(t time.Time) (int, bool) {
	i := (time.Duration(t.UnixNano()) - g.first) / g.step
	return int(i), i >= 0 && int(i) < g.n
}

// seconds is the covered length of bucket i: the last bucket ends where
// the closed windows end.
func (g overviewGrid) seconds(i int) float64 {
	b := g.first + time.Duration(i)*g.step
	return (min(b+g.step, g.last) - b).Seconds()
}

// overview answers the counters of the selected apps per ?step= over the
// range: TPS (transactions / step seconds), mean response time, errors
// and error rate, Apdex ((satisfied + tolerating/2) / count), users (per
// instance the max, summed), active (likewise), CPU percent (mean over
// instances), heap bytes (per instance the mean, summed), and TPS and
// users of the same range 24 h earlier. Only closed rollup windows count,
// so the last point is not a partial window's low; buckets without
// rollups are null.
func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	sel, ok := h.parse(w, r, defaultRange)
	if !ok {
		return
	}
	step, err := parseOverviewStep(r.URL.Query(), sel.start, sel.end)
	if err != nil {
		badRequest(w, err)
		return
	}
	// Windows end at or before end; buckets start on multiples of step.
	last := alignDown(sel.end, window)
	first := alignDown(sel.start, step)
	if !first.Before(last) {
		badRequest(w, fmt.Errorf("the range holds no closed %s rollup window", window))
		return
	}
	grid := overviewGrid{first: time.Duration(first.UnixNano()), step: step, last: time.Duration(last.UnixNano())}
	grid.n = int((grid.last - grid.first + step - 1) / step)
	out := overviewJSON{Step: step.Seconds(), Times: make([]int64, grid.n)}
	for i := range out.Times {
		out.Times[i] = int64(grid.first+time.Duration(i)*step) / 1e6
	}

	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	groups, err := h.overviewGroups(ctx, sel, first, last, step, true)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	n, errs, sumMs, apS, apT := newSeries(grid.n), newSeries(grid.n), newSeries(grid.n), newSeries(grid.n), newSeries(grid.n)
	users, active, cpu, cpuN, heap := newSeries(grid.n), newSeries(grid.n), newSeries(grid.n), newSeries(grid.n), newSeries(grid.n)
	for _, g := range groups {
		i, ok := grid.index(g.Time)
		if !ok {
			continue
		}
		n.add(i, zeroNaN(g.Float("n")))
		errs.add(i, zeroNaN(g.Float("err")))
		sumMs.add(i, g.Float("ms"))
		apS.add(i, g.Float("s"))
		apT.add(i, g.Float("t"))
		users.add(i, g.Float("users"))
		active.add(i, g.Float("active"))
		if c := g.Float("cpu"); !math.IsNaN(c) {
			cpu.add(i, c)
			cpuN.add(i, 1)
		}
		heap.add(i, g.Float("heap"))
	}
	tps, avg, rate, apdex := newSeries(grid.n), newSeries(grid.n), newSeries(grid.n), newSeries(grid.n)
	for i := range grid.n {
		if math.IsNaN(n[i]) {
			continue
		}
		tps[i] = n[i] / grid.seconds(i)
		avg[i] = ratio(sumMs[i], n[i])
		rate[i] = ratio(errs[i], n[i])
		apdex[i] = ratio(zeroNaN(apS[i])+zeroNaN(apT[i])/2, n[i])
		cpu[i] = ratio(cpu[i], cpuN[i])
	}
	out.TPS, out.AvgMs, out.Errors, out.ErrorRate, out.Apdex = tps.json(), avg.json(), errs.json(), rate.json(), apdex.json()
	out.Users, out.Active, out.CPUPercent, out.HeapBytes = users.json(), active.json(), cpu.json(), heap.json()

	// Yesterday: the same buckets a day earlier, plotted at today's times.
	const day = 24 * time.Hour
	groups, err = h.overviewGroups(ctx, sel, first.Add(-day), last.Add(-day), step, false)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	yn, yusers := newSeries(grid.n), newSeries(grid.n)
	for _, g := range groups {
		if i, ok := grid.index(g.Time.Add(day)); ok {
			yn.add(i, zeroNaN(g.Float("n")))
			yusers.add(i, g.Float("users"))
		}
	}
	for i := range grid.n {
		yn[i] /= grid.seconds(i) // NaN stays NaN
	}
	out.Yesterday = yesterdayJSON{TPS: yn.json(), Users: yusers.json()}
	envelope.WriteData(w, out)
}

// overviewGroups sums the rollups of [first, last) per step bucket and
// instance; full adds every figure, else only count and users.
func (h *handler) overviewGroups(ctx context.Context, sel selection, first, last time.Time, step time.Duration, full bool) ([]event.Group, error) {
	q := sel.query(typeRoll)
	q.Start, q.End = first, last.Add(-time.Nanosecond)
	aggs := []event.Agg{{Name: "n", Func: "sum", Field: fCount}, {Name: "users", Func: "max", Field: fUsers}}
	if full {
		aggs = append(aggs,
			event.Agg{Name: "err", Func: "sum", Field: fErrors}, event.Agg{Name: "ms", Func: "sum", Field: fSumMs},
			event.Agg{Name: "s", Func: "sum", Field: fApdexS}, event.Agg{Name: "t", Func: "sum", Field: fApdexT},
			event.Agg{Name: "active", Func: "max", Field: fActive},
			event.Agg{Name: "cpu", Func: "avg", Field: fCPUPct}, event.Agg{Name: "heap", Func: "avg", Field: fHeap})
	}
	groups, err := h.es.Group(ctx, sel.project, q, event.GroupQuery{Step: step, By: []string{fApp, fInstance}, Aggs: aggs, MaxGroups: maxGroups})
	if err != nil {
		return nil, fmt.Errorf("overview rollups: %w", err)
	}
	return groups, nil
}
