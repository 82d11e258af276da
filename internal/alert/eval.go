package alert

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
)

// Sources are what rules read: metrics, events and agents' latest state.
type Sources struct {
	Metrics *metric.Store
	Events  *event.Store
	Agents  *agentstate.Tracker
}

// Sample is one series or subject for which a rule's condition holds now.
type Sample struct {
	Labels map[string]string
	Value  float64
	// Note is context for the message (the latest event's text) that is
	// not part of the alert's identity.
	Note string
}

// Label names the engine sets on agent-based alerts, matching the metric
// labels of the same agents so rules and views agree.
const (
	LabelAgentID   = "osprey_agent_id"
	LabelAgentName = "osprey_agent_name"
	LabelAgentKind = "osprey_agent_kind"
	LabelGroup     = "osprey_agent_group"
)

// urlExpr is the PromQL of a URL rule.
func urlExpr(r *Rule) string {
	sel := ""
	if r.CheckID != "" {
		sel = `url_check_id="` + escape(r.CheckID) + `"`
	}
	if r.Condition == "slow" {
		return `osprey_url_duration_seconds{` + sel + `} * 1000 > ` + strconv.FormatFloat(r.Threshold, 'f', -1, 64)
	}
	return `osprey_url_up{` + sel + `} == 0`
}

func escape(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\', '"':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func (e *Engine) evaluate(ctx context.Context, project int64, r *Rule, now time.Time) ([]Sample, error) {
	switch r.Kind {
	case KindMetric:
		return e.promql(ctx, project, r.Expr, r.Op, r.Threshold, now)
	case KindURL:
		return e.promql(ctx, project, urlExpr(r), "", 0, now)
	case KindNoData:
		return e.noData(project, r, now), nil
	case KindReboot:
		return e.reboots(project, r, now), nil
	case KindLog:
		return e.logCount(ctx, project, r, now)
	case KindEvent:
		return e.agentEvents(ctx, project, r, now)
	case KindAPM:
		return e.apmRule(ctx, project, r, now)
	}
	return nil, fmt.Errorf("unknown rule kind %q", r.Kind)
}

func (e *Engine) promql(ctx context.Context, project int64, expr, op string, threshold float64, now time.Time) ([]Sample, error) {
	ms := e.src.Metrics
	q, err := ms.Engine().NewInstantQuery(ctx, ms.Queryable(project), nil, expr, now)
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, res.Err)
	}
	var out []Sample
	add := func(m map[string]string, v float64) {
		if op != "" && !ops[op](v, threshold) {
			return
		}
		out = append(out, Sample{Labels: m, Value: v})
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			m := s.Metric.Map()
			delete(m, "__name__")
			delete(m, "osprey_project")
			add(m, s.F)
		}
	case promql.Scalar:
		add(map[string]string{}, v.V)
	default:
		return nil, fmt.Errorf("query %q: got a %s, want an instant vector or scalar", expr, res.Value.Type())
	}
	return out, nil
}

func agentMatches(r *Rule, a *agentstate.Agent) bool {
	return (r.AgentKind == "" || a.Kind == r.AgentKind) && (r.AgentGroup == "" || a.Group == r.AgentGroup)
}

func agentLabels(a *agentstate.Agent) map[string]string {
	return map[string]string{LabelAgentID: a.ID, LabelAgentName: a.Name, LabelAgentKind: a.Kind, LabelGroup: a.Group}
}

// noData: an agent silent for the rule's For. The state machine does not
// wait again (For is the silence itself).
func (e *Engine) noData(project int64, r *Rule, now time.Time) []Sample {
	var out []Sample
	for _, a := range e.src.Agents.List(project, now) {
		if !agentMatches(r, &a) {
			continue
		}
		if silent := now.Sub(a.LastSeen); silent >= r.For.D() {
			out = append(out, Sample{Labels: agentLabels(&a), Value: math.Round(silent.Seconds())})
		}
	}
	return out
}

type bootKey struct {
	project int64
	agent   string
}

type bootSeen struct {
	boot     int64
	rebootAt time.Time
}

// reboots: a host whose boot time moved forward; the alert lasts the
// rule's Window, then resolves by itself.
func (e *Engine) reboots(project int64, r *Rule, now time.Time) []Sample {
	e.bootMu.Lock()
	defer e.bootMu.Unlock()
	var out []Sample
	for _, a := range e.src.Agents.List(project, now) {
		if !agentMatches(r, &a) || a.Inventory == nil || a.Inventory.GetBootTimeUnix() == 0 {
			continue
		}
		k := bootKey{project, a.ID}
		bt := a.Inventory.GetBootTimeUnix()
		seen, ok := e.boots[k]
		switch {
		case !ok:
			e.boots[k] = &bootSeen{boot: bt}
			continue
		case bt > seen.boot+60: // boot times jitter by a second or so
			seen.boot, seen.rebootAt = bt, now
		}
		if !seen.rebootAt.IsZero() && now.Sub(seen.rebootAt) < r.Window.D() {
			l := agentLabels(&a)
			l["boot_time"] = time.Unix(bt, 0).UTC().Format(time.RFC3339)
			out = append(out, Sample{Labels: l, Value: float64(bt)})
		}
	}
	return out
}

func eventFilters(fs []FieldFilter) []event.Filter {
	out := make([]event.Filter, len(fs))
	for i, f := range fs {
		out[i] = event.Filter{Field: f.Field, Op: f.Op, Value: f.Value}
	}
	return out
}

func (e *Engine) logCount(ctx context.Context, project int64, r *Rule, now time.Time) ([]Sample, error) {
	n, err := e.src.Events.Count(ctx, project, event.Query{
		Start: now.Add(-r.Window.D()), End: now, Type: "log", Text: r.Text, Filters: eventFilters(r.Filters),
	})
	if err != nil {
		return nil, fmt.Errorf("count log lines: %w", err)
	}
	if !ops[r.Op](float64(n), r.Threshold) {
		return nil, nil
	}
	return []Sample{{Labels: map[string]string{}, Value: float64(n)}}, nil
}

// maxEventScan bounds the events read per evaluation of an event rule.
const maxEventScan = 5000

func (e *Engine) agentEvents(ctx context.Context, project int64, r *Rule, now time.Time) ([]Sample, error) {
	fs := append(eventFilters(r.Filters), event.Filter{Field: "event.kind", Op: "=", Value: r.EventKind})
	if r.AgentKind != "" {
		fs = append(fs, event.Filter{Field: "agent.kind", Op: "=", Value: r.AgentKind})
	}
	if r.AgentGroup != "" {
		fs = append(fs, event.Filter{Field: "agent.group", Op: "=", Value: r.AgentGroup})
	}
	res, err := e.src.Events.Search(ctx, project, event.Query{
		Start: now.Add(-r.Window.D()), End: now, Type: "event", Filters: fs, Limit: maxEventScan,
		Fields: []string{"agent.id", "agent.name", "agent.kind", "agent.group", event.FieldMsg},
	})
	if err != nil {
		return nil, fmt.Errorf("read %s events: %w", r.EventKind, err)
	}
	type acc struct {
		labels map[string]string
		note   string
		n      float64
	}
	by := map[string]*acc{}
	var order []string
	for _, rec := range res.Records {
		id := rec["agent.id"]
		a := by[id]
		if a == nil {
			// Newest first: the label carries the latest event's text.
			a = &acc{labels: map[string]string{LabelAgentID: id, LabelAgentName: rec["agent.name"],
				LabelAgentKind: rec["agent.kind"], LabelGroup: rec["agent.group"]}, note: rec[event.FieldMsg]}
			by[id] = a
			order = append(order, id)
		}
		a.n++
	}
	var out []Sample
	for _, id := range order {
		if ops[r.Op](by[id].n, r.Threshold) {
			out = append(out, Sample{Labels: by[id].labels, Value: by[id].n, Note: by[id].note})
		}
	}
	return out, nil
}
