// Package alert is the alert engine every product uses: rules (a PromQL
// threshold, agent no-data, server rebooted, URL down or slow, log keyword
// or rate, agent-raised events) evaluated on a schedule; each alert
// instance goes pending → firing → resolved, notifies once when it fires,
// repeats on a schedule while it lasts (until acknowledged), and notifies
// again when it resolves. Maintenance windows mute notifications. State
// is saved on every transition so a restart neither forgets a firing
// alert nor fires it twice; every transition is also an event row, which
// is the project's alert history.
package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
)

// Rule kinds.
const (
	KindMetric = "metric" // PromQL expression compared with a threshold
	KindNoData = "nodata" // an agent stopped reporting
	KindReboot = "reboot" // a server's boot time moved forward
	KindURL    = "url"    // a URL check is down or slow
	KindLog    = "log"    // log lines matching a keyword, counted over a window
	KindEvent  = "event"  // events raised by agents (e.g. load snapshots)
	KindAPM    = "apm"    // an application's TPS, response time, error rate or Apdex over a window
)

// Severities, least to most urgent.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Duration is a time.Duration written as "5m" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n float64
		if json.Unmarshal(b, &n) != nil {
			return fmt.Errorf("duration: want a string like \"5m\" or seconds, got %s", b)
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	if s == "" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Rule is an alert rule as stored and served.
type Rule struct {
	ID       int64  `json:"id"`
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Enabled  bool   `json:"enabled"`
	Severity string `json:"severity"`
	// For is how long the condition must hold before the alert fires;
	// for nodata, how long an agent must be silent.
	For Duration `json:"for"`
	// Repeat is how often a firing, unacknowledged alert notifies again;
	// zero never repeats.
	Repeat Duration `json:"repeat"`
	// Message is a text/template over .Labels, .Value, .Threshold, .Rule
	// and .Severity; empty gives a sentence made from the rule.
	Message  string  `json:"message"`
	Channels []int64 `json:"channels"` // empty: every channel of the project

	// metric: Expr compared with Threshold by Op (>, >=, <, <=, ==, !=);
	// an empty Op makes every series the expression returns an alert, as
	// in Prometheus rules.
	Expr      string  `json:"expr,omitempty"`
	Op        string  `json:"op,omitempty"`
	Threshold float64 `json:"threshold"`

	// nodata, reboot, event: which agents (empty matches all).
	AgentKind  string `json:"agentKind,omitempty"`
	AgentGroup string `json:"agentGroup,omitempty"`

	// url: the check (empty: every check) and "down" or "slow" (total
	// time above Threshold milliseconds).
	CheckID   string `json:"checkId,omitempty"`
	Condition string `json:"condition,omitempty"`

	// log: lines whose text matches Text (words and "phrases") and whose
	// fields match Filters, counted over Window, compared by Op with
	// Threshold (default: > 0). event: EventKind (e.g. load_snapshot).
	Text      string        `json:"text,omitempty"`
	Filters   []FieldFilter `json:"filters,omitempty"`
	Window    Duration      `json:"window,omitempty"`
	EventKind string        `json:"eventKind,omitempty"`

	// apm: Condition is tps, avg_ms, error_rate (percent), errors or
	// apdex, over Window, per app (App, when set, names the only one),
	// compared by Op with Threshold.
	App string `json:"app,omitempty"`

	UpdatedAt time.Time `json:"updatedAt"`
}

// FieldFilter matches an event field: Op "=", "!=", "~" (contains), "!~".
type FieldFilter struct {
	Field string `json:"field"`
	Op    string `json:"op"`
	Value string `json:"value"`
}

var ops = map[string]func(v, t float64) bool{
	">":  func(v, t float64) bool { return v > t },
	">=": func(v, t float64) bool { return v >= t },
	"<":  func(v, t float64) bool { return v < t },
	"<=": func(v, t float64) bool { return v <= t },
	"==": func(v, t float64) bool { return v == t },
	"!=": func(v, t float64) bool { return v != t },
}

// Normalize fills defaults and checks the rule; the error says what is
// wrong in words a rule editor can show.
func (r *Rule) Normalize() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" {
		bad("name is empty")
	}
	switch r.Severity {
	case "":
		r.Severity = SeverityWarning
	case SeverityInfo, SeverityWarning, SeverityCritical:
	default:
		bad("severity %q: want info, warning or critical", r.Severity)
	}
	if r.For < 0 || r.Repeat < 0 || r.Window < 0 {
		bad("for, repeat and window cannot be negative")
	}
	if r.Op != "" && ops[r.Op] == nil {
		bad("op %q: want >, >=, <, <=, == or !=", r.Op)
	}
	switch r.Kind {
	case KindMetric:
		if strings.TrimSpace(r.Expr) == "" {
			bad("expr is empty: a metric rule needs a PromQL expression")
		} else if _, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr); err != nil {
			bad("expr: %v", err)
		}
	case KindNoData:
		if r.For == 0 {
			r.For = Duration(time.Minute)
		}
	case KindReboot:
		if r.Window == 0 {
			r.Window = Duration(10 * time.Minute)
		}
	case KindURL:
		switch r.Condition {
		case "", "down":
			r.Condition = "down"
		case "slow":
			if r.Threshold <= 0 {
				bad("threshold: a slow-URL rule needs the time limit in milliseconds")
			}
		default:
			bad("condition %q: want down or slow", r.Condition)
		}
	case KindLog, KindEvent:
		if r.Window == 0 {
			r.Window = Duration(5 * time.Minute)
		}
		if r.Op == "" {
			r.Op = ">"
		}
		if r.Kind == KindEvent && r.EventKind == "" {
			bad("eventKind is empty: say which agent events raise this alert (e.g. load_snapshot)")
		}
		if r.Kind == KindLog && strings.TrimSpace(r.Text) == "" && len(r.Filters) == 0 {
			bad("a log rule needs text or field filters")
		}
		for _, f := range r.Filters {
			switch f.Op {
			case "=", "!=", "~", "!~":
			default:
				bad("filter on %s: op %q: want =, !=, ~ or !~", f.Field, f.Op)
			}
		}
	case KindAPM:
		if r.Window == 0 {
			r.Window = Duration(time.Minute)
		}
		if r.Window.D() < 10*time.Second {
			bad("window: an APM rule needs at least 10s (rollups are 5-second windows)")
		}
		if apmConditions[r.Condition] == nil {
			bad("condition %q: want tps, avg_ms, error_rate, errors or apdex", r.Condition)
		}
		if r.Op == "" {
			bad("op is empty: say how the value compares with the threshold (e.g. > 2000 for avg_ms)")
		}
	default:
		bad("kind %q: want metric, nodata, reboot, url, log, event or apm", r.Kind)
	}
	if r.Message != "" {
		if _, err := template.New("m").Option("missingkey=zero").Parse(r.Message); err != nil {
			bad("message template: %v", err)
		}
	}
	return errors.Join(errs...)
}

// MaintenanceWindow mutes notifications of some rules (all when Rules is
// empty) between Start and End. Alerts still change state and are kept in
// the history, marked muted.
type MaintenanceWindow struct {
	ID     int64     `json:"id"`
	Name   string    `json:"name"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Rules  []int64   `json:"rules"`
	Reason string    `json:"reason"`
}

// Normalize checks the window.
func (m *MaintenanceWindow) Normalize() error {
	if m.Start.IsZero() || m.End.IsZero() || !m.End.After(m.Start) {
		return errors.New("maintenance window needs a start before its end")
	}
	if strings.TrimSpace(m.Name) == "" {
		m.Name = "maintenance"
	}
	return nil
}

func (m *MaintenanceWindow) mutes(ruleID int64, at time.Time) bool {
	if at.Before(m.Start) || !at.Before(m.End) {
		return false
	}
	if len(m.Rules) == 0 {
		return true
	}
	for _, id := range m.Rules {
		if id == ruleID {
			return true
		}
	}
	return false
}
