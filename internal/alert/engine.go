package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/notify"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

// Object kinds in the metadata store.
const (
	ObjRule        = "alert_rule"
	ObjChannel     = "notify_channel"
	ObjMaintenance = "maintenance"
)

// Alert states.
const (
	StatePending  = "pending"
	StateFiring   = "firing"
	StateResolved = "resolved"
)

// keepResolved is how long a resolved alert stays in the active list.
const keepResolved = 15 * time.Minute

// State is one alert instance: a rule and the label set it fired for.
type State struct {
	ID          string            `json:"id"`
	RuleID      int64             `json:"ruleId"`
	RuleName    string            `json:"ruleName"`
	Kind        string            `json:"kind"`
	Severity    string            `json:"severity"`
	Labels      map[string]string `json:"labels"`
	Value       float64           `json:"value"`
	Summary     string            `json:"summary"`
	Status      string            `json:"status"`
	ActiveSince time.Time         `json:"activeSince"`
	FiredAt     time.Time         `json:"firedAt,omitzero"`
	ResolvedAt  time.Time         `json:"resolvedAt,omitzero"`
	// Notified: the firing notification went out (not muted), so the
	// resolution is announced too, and a restart does not send it again.
	Notified     bool      `json:"notified"`
	LastNotified time.Time `json:"lastNotified,omitzero"`
	AckedBy      string    `json:"ackedBy,omitempty"`
	AckedAt      time.Time `json:"ackedAt,omitzero"`
	Muted        bool      `json:"muted"`
	LastEval     time.Time `json:"lastEval"`
}

// Notifier delivers notifications in the background.
type Notifier interface {
	Enqueue(ch *notify.Channel, n notify.Notification) error
}

// Options configures the engine.
type Options struct {
	Interval time.Duration // evaluation period; default 15 s
	Workers  int           // rules evaluated at once; default GOMAXPROCS
	// RuleTimeout bounds one rule's evaluation; default 10 s.
	RuleTimeout time.Duration
	// BaseURL, when set, links notifications to the alert list.
	BaseURL    string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Engine evaluates every project's rules.
type Engine struct {
	meta   *meta.Store
	src    Sources
	notify Notifier
	opts   Options
	log    *slog.Logger

	mu sync.Mutex
	// states: project → rule → alert id → state, so evaluating a rule
	// touches only its own alerts.
	states map[int64]map[int64]map[string]*State

	bootMu sync.Mutex
	boots  map[bootKey]*bootSeen

	evals, evalErrors, notifications prometheus.Counter
	duration                         prometheus.Gauge
}

// New returns an engine with the states saved by an earlier run.
func New(ctx context.Context, m *meta.Store, src Sources, n Notifier, opts Options) (*Engine, error) {
	if opts.Interval <= 0 {
		opts.Interval = 15 * time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.RuleTimeout <= 0 {
		opts.RuleTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{meta: m, src: src, notify: n, opts: opts, log: opts.Logger,
		states: map[int64]map[int64]map[string]*State{}, boots: map[bootKey]*bootSeen{},
		evals:         prometheus.NewCounter(prometheus.CounterOpts{Name: "osprey_alert_rule_evaluations_total", Help: "Alert rule evaluations."}),
		evalErrors:    prometheus.NewCounter(prometheus.CounterOpts{Name: "osprey_alert_rule_evaluation_failures_total", Help: "Alert rule evaluations that failed."}),
		notifications: prometheus.NewCounter(prometheus.CounterOpts{Name: "osprey_alert_notifications_total", Help: "Notifications handed to channels."}),
		duration:      prometheus.NewGauge(prometheus.GaugeOpts{Name: "osprey_alert_evaluation_seconds", Help: "Time the last evaluation of every rule took."}),
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{e.evals, e.evalErrors, e.notifications, e.duration} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("register alert metrics: %w", err)
			}
		}
	}
	saved, err := m.AlertStates(ctx)
	if err != nil {
		return nil, err
	}
	for p, bodies := range saved {
		for _, b := range bodies {
			var st State
			if err := json.Unmarshal(b, &st); err != nil {
				e.log.Warn("skip unreadable alert state", "project", p, "err", err)
				continue
			}
			e.rule(p, st.RuleID)[st.ID] = &st
		}
	}
	return e, nil
}

// rule returns the alerts of one rule; call with e.mu held.
func (e *Engine) rule(p, ruleID int64) map[string]*State {
	rules := e.states[p]
	if rules == nil {
		rules = map[int64]map[string]*State{}
		e.states[p] = rules
	}
	m := rules[ruleID]
	if m == nil {
		m = map[string]*State{}
		rules[ruleID] = m
	}
	return m
}

// Run evaluates every Interval until ctx is done.
func (e *Engine) Run(ctx context.Context) {
	t := time.NewTicker(e.opts.Interval)
	defer t.Stop()
	for {
		if err := e.EvalOnce(ctx); err != nil && ctx.Err() == nil {
			e.log.Error("alert evaluation", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type job struct {
	project int64
	rule    *Rule
}

// loadRules reads every enabled rule of every project.
func (e *Engine) loadRules(ctx context.Context) ([]job, error) {
	objs, err := e.meta.Objects(ctx, 0, ObjRule)
	if err != nil {
		return nil, err
	}
	jobs := make([]job, 0, len(objs))
	for _, o := range objs {
		var r Rule
		if err := json.Unmarshal(o.Body, &r); err != nil {
			e.log.Warn("skip unreadable alert rule", "id", o.ID, "err", err)
			continue
		}
		r.ID = o.ID
		if r.Enabled {
			jobs = append(jobs, job{o.Project, &r})
		}
	}
	return jobs, nil
}

// EvalOnce evaluates every enabled rule once, now.
func (e *Engine) EvalOnce(ctx context.Context) error {
	start := time.Now()
	now := e.opts.Now()
	jobs, err := e.loadRules(ctx)
	if err != nil {
		return err
	}
	type result struct {
		samples []Sample
		err     error
	}
	results := make([]result, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < e.opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rctx, cancel := context.WithTimeout(ctx, e.opts.RuleTimeout)
				results[i].samples, results[i].err = e.evaluate(rctx, jobs[i].project, jobs[i].rule, now)
				cancel()
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()

	windows, channels, projects := e.loadSide(ctx, jobs)
	evaluated := map[int64]bool{}
	var errs []error
	for i, j := range jobs {
		e.evals.Inc()
		if results[i].err != nil {
			// A failing rule keeps its alerts as they are rather than
			// resolving them: a broken query is not a recovery.
			e.evalErrors.Inc()
			errs = append(errs, fmt.Errorf("rule %d %q: %w", j.rule.ID, j.rule.Name, results[i].err))
			evaluated[j.rule.ID] = true
			continue
		}
		evaluated[j.rule.ID] = true
		muted := false
		for _, w := range windows[j.project] {
			if w.mutes(j.rule.ID, now) {
				muted = true
			}
		}
		e.apply(ctx, j.project, projects[j.project], j.rule, results[i].samples, now, muted, channels[j.project])
	}
	e.forget(ctx, evaluated, now)
	e.duration.Set(time.Since(start).Seconds())
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return nil
}

// loadSide reads maintenance windows, channels and project names for the
// projects that have rules.
func (e *Engine) loadSide(ctx context.Context, jobs []job) (map[int64][]MaintenanceWindow, map[int64][]*notify.Channel, map[int64]string) {
	windows := map[int64][]MaintenanceWindow{}
	channels := map[int64][]*notify.Channel{}
	names := map[int64]string{}
	if objs, err := e.meta.Objects(ctx, 0, ObjMaintenance); err == nil {
		for _, o := range objs {
			var w MaintenanceWindow
			if json.Unmarshal(o.Body, &w) == nil {
				w.ID = o.ID
				windows[o.Project] = append(windows[o.Project], w)
			}
		}
	} else {
		e.log.Error("load maintenance windows", "err", err)
	}
	if objs, err := e.meta.Objects(ctx, 0, ObjChannel); err == nil {
		for _, o := range objs {
			var c notify.Channel
			if json.Unmarshal(o.Body, &c) == nil {
				c.ID = o.ID
				channels[o.Project] = append(channels[o.Project], &c)
			}
		}
	} else {
		e.log.Error("load notification channels", "err", err)
	}
	if ps, err := e.meta.Projects(ctx); err == nil {
		for _, p := range ps {
			names[p.ID] = p.Name
		}
	}
	return windows, channels, names
}

// AlertID names the alert instance of a rule and label set.
func AlertID(ruleID int64, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := fnv.New64a()
	for _, k := range keys {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(labels[k]))
		h.Write([]byte{0})
	}
	return strconv.FormatInt(ruleID, 10) + "-" + strconv.FormatUint(h.Sum64(), 16)
}

// apply moves a rule's alerts along with this evaluation's samples.
func (e *Engine) apply(ctx context.Context, project int64, projectName string, r *Rule, samples []Sample, now time.Time, muted bool, chans []*notify.Channel) {
	e.mu.Lock()
	states := e.rule(project, r.ID)
	active := make(map[string]bool, len(samples))
	var changed []*State     // to save
	var transitions []*State // to save and record in the history
	var sends []pending
	forWait := r.For.D()
	if r.Kind == KindNoData {
		forWait = 0 // the silence already lasted For
	}
	for _, s := range samples {
		id := AlertID(r.ID, s.Labels)
		active[id] = true
		st := states[id]
		if st == nil || st.Status == StateResolved {
			st = &State{ID: id, RuleID: r.ID, Labels: s.Labels, Status: StatePending, ActiveSince: now}
			states[id] = st
		}
		st.RuleName, st.Kind, st.Severity, st.Value, st.LastEval, st.Muted = r.Name, r.Kind, r.Severity, s.Value, now, muted
		st.Summary = summary(r, st, s.Note)
		switch st.Status {
		case StatePending:
			if now.Sub(st.ActiveSince) >= forWait {
				st.Status, st.FiredAt = StateFiring, now
				transitions = append(transitions, st)
				if !muted {
					sends = append(sends, pending{st: *st, state: "firing"})
					st.Notified, st.LastNotified = true, now
				}
			}
		case StateFiring:
			switch {
			case !st.Notified && !muted:
				// It fired inside a maintenance window that has ended.
				sends = append(sends, pending{st: *st, state: "firing"})
				st.Notified, st.LastNotified = true, now
				changed = append(changed, st)
			case st.Notified && !muted && st.AckedAt.IsZero() && r.Repeat > 0 && now.Sub(st.LastNotified) >= r.Repeat.D():
				sends = append(sends, pending{st: *st, state: "repeat"})
				st.LastNotified = now
				changed = append(changed, st)
			}
		}
	}
	for id, st := range states {
		if active[id] || st.Status == StateResolved {
			continue
		}
		if st.Status == StatePending {
			delete(states, id)
			continue
		}
		st.Status, st.ResolvedAt, st.LastEval = StateResolved, now, now
		transitions = append(transitions, st)
		if st.Notified && !muted {
			sends = append(sends, pending{st: *st, state: "resolved"})
		}
	}
	saves := make([]State, 0, len(changed)+len(transitions))
	for _, st := range changed {
		saves = append(saves, *st)
	}
	records := make([]State, 0, len(transitions))
	for _, st := range transitions {
		records = append(records, *st)
	}
	e.mu.Unlock()

	for _, st := range saves {
		e.save(ctx, project, &st)
	}
	for _, st := range records {
		e.save(ctx, project, &st)
		e.record(ctx, project, &st, st.Status, "", now)
	}
	for _, p := range sends {
		e.send(project, projectName, r, chans, &p.st, p.state, now)
	}
}

type pending struct {
	st    State
	state string
}

// forget drops alerts of deleted or disabled rules (resolving firing
// ones) and resolved alerts older than keepResolved.
func (e *Engine) forget(ctx context.Context, evaluated map[int64]bool, now time.Time) {
	e.mu.Lock()
	type drop struct {
		project int64
		st      State
		resolve bool
	}
	var drops []drop
	for p, rules := range e.states {
		for ruleID, states := range rules {
			for id, st := range states {
				switch {
				case !evaluated[ruleID]:
					delete(states, id)
					drops = append(drops, drop{p, *st, st.Status == StateFiring})
				case st.Status == StateResolved && now.Sub(st.ResolvedAt) > keepResolved:
					delete(states, id)
					drops = append(drops, drop{p, *st, false})
				}
			}
			if len(states) == 0 {
				delete(rules, ruleID)
			}
		}
	}
	e.mu.Unlock()
	for _, d := range drops {
		if d.resolve {
			d.st.Status, d.st.ResolvedAt = StateResolved, now
			e.record(ctx, d.project, &d.st, StateResolved, "the rule was deleted or disabled", now)
		}
		if err := e.meta.PutAlertState(ctx, d.project, d.st.ID, nil); err != nil {
			e.log.Error("forget alert", "err", err)
		}
	}
}

func (e *Engine) save(ctx context.Context, project int64, st *State) {
	b, err := json.Marshal(st)
	if err == nil {
		err = e.meta.PutAlertState(ctx, project, st.ID, b)
	}
	if err != nil {
		e.log.Error("save alert state", "alert", st.ID, "err", err)
	}
}

// Event row fields of alert history rows.
const (
	EventKindAlert = "alert"
)

// record writes one transition to the event store: the history.
func (e *Engine) record(ctx context.Context, project int64, st *State, transition, who string, now time.Time) {
	f := []event.Field{
		{Name: event.FieldType, Value: "event"},
		{Name: "event.kind", Value: EventKindAlert},
		{Name: "severity", Value: st.Severity},
		{Name: "alert.id", Value: st.ID},
		{Name: "alert.rule_id", Value: strconv.FormatInt(st.RuleID, 10)},
		{Name: "alert.rule", Value: st.RuleName},
		{Name: "alert.rule_kind", Value: st.Kind},
		{Name: "alert.state", Value: transition},
		{Name: "alert.muted", Value: strconv.FormatBool(st.Muted)},
		{Name: event.FieldMsg, Value: st.Summary},
	}
	if !math.IsNaN(st.Value) && !math.IsInf(st.Value, 0) {
		f = append(f, event.Field{Name: "alert.value", Value: strconv.FormatFloat(st.Value, 'g', -1, 64)})
	}
	if who != "" {
		f = append(f, event.Field{Name: "alert.by", Value: who})
	}
	for k, v := range st.Labels {
		f = append(f, event.Field{Name: "alert.label." + k, Value: v})
	}
	// The agent fields let per-server and per-instance views list the
	// alerts of their subject.
	if id := st.Labels[LabelAgentID]; id != "" {
		f = append(f, event.Field{Name: "agent.id", Value: id}, event.Field{Name: "agent.name", Value: st.Labels[LabelAgentName]})
	}
	if _, _, err := e.src.Events.Add(ctx, project, []event.Row{{Time: now, Fields: f}}); err != nil {
		e.log.Error("record alert event", "alert", st.ID, "err", err)
	}
}

func (e *Engine) send(project int64, projectName string, r *Rule, chans []*notify.Channel, st *State, state string, now time.Time) {
	n := notify.Notification{
		Project: projectName, RuleID: r.ID, RuleName: r.Name, AlertID: st.ID, State: state, Severity: st.Severity,
		Summary: st.Summary, Labels: st.Labels, Value: st.Value, ActiveSince: st.ActiveSince, At: now,
	}
	if e.opts.BaseURL != "" {
		n.URL = strings.TrimRight(e.opts.BaseURL, "/") + "/alerts?alert=" + st.ID
	}
	for _, ch := range routeChannels(r, chans) {
		if !ch.Wants(st.Severity) {
			continue
		}
		e.notifications.Inc()
		if err := e.notify.Enqueue(ch, n); err != nil {
			e.log.Error("queue notification", "channel", ch.Name, "alert", st.ID, "err", err)
		}
	}
}

// routeChannels picks the rule's channels, or every channel when the
// rule names none.
func routeChannels(r *Rule, chans []*notify.Channel) []*notify.Channel {
	if len(r.Channels) == 0 {
		return chans
	}
	var out []*notify.Channel
	for _, c := range chans {
		for _, id := range r.Channels {
			if c.ID == id {
				out = append(out, c)
			}
		}
	}
	return out
}

// summary renders the rule's message, or a default sentence.
func summary(r *Rule, st *State, note string) string {
	if r.Message != "" {
		t, err := template.New("m").Option("missingkey=zero").Parse(r.Message)
		if err == nil {
			var b bytes.Buffer
			data := map[string]any{"Labels": st.Labels, "Value": st.Value, "Threshold": r.Threshold,
				"Rule": r.Name, "Severity": r.Severity, "Note": note}
			if t.Execute(&b, data) == nil {
				return b.String()
			}
		}
	}
	subject := st.Labels[LabelAgentName]
	if subject == "" {
		subject = st.Labels["url_check_name"]
	}
	v := strconv.FormatFloat(st.Value, 'g', 4, 64)
	var s string
	switch r.Kind {
	case KindNoData:
		s = fmt.Sprintf("%s: no data for %ss", subject, v)
	case KindReboot:
		s = fmt.Sprintf("%s rebooted at %s", subject, st.Labels["boot_time"])
	case KindURL:
		if r.Condition == "slow" {
			s = fmt.Sprintf("%s from %s took %s ms (limit %g ms)", st.Labels["url_check_name"], st.Labels[LabelAgentName], v, r.Threshold)
		} else {
			s = fmt.Sprintf("%s is down from %s", st.Labels["url_check_name"], st.Labels[LabelAgentName])
		}
	case KindEvent:
		s = fmt.Sprintf("%s: %s", subject, note)
	case KindLog:
		s = fmt.Sprintf("%s log lines in %s (%s %g)", v, r.Window.D(), r.Op, r.Threshold)
	default:
		s = "value " + v
		if r.Op != "" {
			s += fmt.Sprintf(" %s %g", r.Op, r.Threshold)
		}
		if subject != "" {
			s = subject + ": " + s
		}
	}
	return r.Name + ": " + s
}

// Active lists a project's pending, firing and recently resolved alerts,
// firing first, most severe first.
func (e *Engine) Active(project int64) []State {
	e.mu.Lock()
	var out []State
	for _, states := range e.states[project] {
		for _, st := range states {
			out = append(out, *st)
		}
	}
	e.mu.Unlock()
	rank := map[string]int{StateFiring: 0, StatePending: 1, StateResolved: 2}
	sev := map[string]int{SeverityCritical: 0, SeverityWarning: 1, SeverityInfo: 2}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if rank[a.Status] != rank[b.Status] {
			return rank[a.Status] < rank[b.Status]
		}
		if sev[a.Severity] != sev[b.Severity] {
			return sev[a.Severity] < sev[b.Severity]
		}
		return a.ActiveSince.After(b.ActiveSince)
	})
	return out
}

// ErrNotFiring is returned when acknowledging an alert that is not firing.
var ErrNotFiring = errors.New("alert is not firing")

// Ack acknowledges a firing alert: no more repeats; it still resolves.
func (e *Engine) Ack(ctx context.Context, project int64, alertID, user string) (State, error) {
	now := e.opts.Now()
	e.mu.Lock()
	var st *State
	for _, states := range e.states[project] {
		if s := states[alertID]; s != nil {
			st = s
		}
	}
	if st == nil {
		e.mu.Unlock()
		return State{}, fmt.Errorf("alert %s: %w", alertID, meta.ErrNotFound)
	}
	if st.Status != StateFiring {
		e.mu.Unlock()
		return *st, ErrNotFiring
	}
	st.AckedBy, st.AckedAt = user, now
	c := *st
	e.mu.Unlock()
	e.save(ctx, project, &c)
	e.record(ctx, project, &c, "acknowledged", user, now)
	return c, nil
}
