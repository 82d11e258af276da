// Package agentstate keeps the latest state of every reporting agent: its
// identity, when it was first and last seen, its inventory and the latest
// values of its gauges. Agents appear by themselves when they first report
// and are shown inactive after three silent report intervals; nothing is
// registered by hand.
package agentstate

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

// maxLatest bounds the latest values kept per agent, so one agent sending
// high-cardinality gauges cannot grow the server's memory without limit.
const maxLatest = 256

// maxOwnLatest is the extra room kept for osprey.* values.
const maxOwnLatest = 32

// Agent is the latest state of one agent.
type Agent struct {
	ID        string             `json:"id"`
	Name      string             `json:"name"`
	Group     string             `json:"group"`
	Kind      string             `json:"kind"`
	Host      string             `json:"host,omitempty"`
	Service   string             `json:"service,omitempty"`
	Version   string             `json:"version,omitempty"`
	Labels    map[string]string  `json:"labels,omitempty"`
	FirstSeen time.Time          `json:"firstSeen"`
	LastSeen  time.Time          `json:"lastSeen"`
	Inventory *agentpb.Inventory `json:"inventory,omitempty"`
	Processes int                `json:"processes,omitempty"`
	Latest    map[string]float64 `json:"latest,omitempty"`
	// HostStats are per-device figures reduced at ingest (fullest
	// filesystem, network and disk byte rates).
	HostStats *HostStats `json:"hostStats,omitempty"`
	// procs summarises the latest process list by name; not persisted
	// (the next push, seconds after a restart, brings it back).
	procs []ProcStat
	// Active is computed when listed.
	Active bool `json:"active"`
}

// Tracker is safe for concurrent use.
type Tracker struct {
	interval time.Duration
	mu       sync.RWMutex
	projects map[int64]map[string]*Agent
	dirty    map[int64]map[string]bool
}

func NewTracker(interval time.Duration) *Tracker {
	if interval <= 0 {
		interval = wire.DefaultReportInterval * time.Second
	}
	return &Tracker{interval: interval, projects: map[int64]map[string]*Agent{}, dirty: map[int64]map[string]bool{}}
}

// identity derives an agent identity from OTLP resource attributes: our own
// agent's osprey.* keys first, then what any OpenTelemetry SDK sends.
func identity(attrs pcommon.Map) (id, name, group, kind, host, service string) {
	get := func(k string) string {
		if v, ok := attrs.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	id, name, group, kind = get(wire.AttrAgentID), get(wire.AttrAgentName), get(wire.AttrAgentGroup), get(wire.AttrAgentKind)
	host, service = get(wire.AttrHostName), get(wire.AttrServiceName)
	if id == "" {
		id = get(wire.AttrServiceInstanceID)
	}
	if id == "" && host != "" {
		id = host
		if service != "" {
			id = service + "@" + host
		}
	}
	if id == "" {
		id = service
	}
	if name == "" {
		name = firstNonEmpty(host, service, id)
	}
	if group == "" {
		group = firstNonEmpty(get(wire.AttrServiceNamespace), service, "default")
	}
	if kind == "" {
		kind = "app"
	}
	return
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func (t *Tracker) touchLocked(project int64, id string, now time.Time) *Agent {
	m := t.projects[project]
	if m == nil {
		m = map[string]*Agent{}
		t.projects[project] = m
	}
	a := m[id]
	if a == nil {
		a = &Agent{ID: id, FirstSeen: now}
		m[id] = a
	}
	if now.After(a.LastSeen) {
		a.LastSeen = now
	}
	d := t.dirty[project]
	if d == nil {
		d = map[string]bool{}
		t.dirty[project] = d
	}
	d[id] = true
	return a
}

// ObserveResource records that the agent behind a resource reported.
func (t *Tracker) ObserveResource(project int64, attrs pcommon.Map, now time.Time) {
	id, name, group, kind, host, service := identity(attrs)
	if id == "" {
		return
	}
	t.mu.Lock()
	a := t.touchLocked(project, id, now)
	a.Name, a.Group, a.Kind, a.Host, a.Service = name, group, kind, host, service
	t.mu.Unlock()
}

// ObserveMetrics records the reporting agents of md and their latest gauges.
func (t *Tracker) ObserveMetrics(project int64, md pmetric.Metrics, now time.Time) {
	rms := md.ResourceMetrics()
	var key strings.Builder
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		id, name, group, kind, host, service := identity(rm.Resource().Attributes())
		if id == "" {
			continue
		}
		t.mu.Lock()
		a := t.touchLocked(project, id, now)
		a.Name, a.Group, a.Kind, a.Host, a.Service = name, group, kind, host, service
		if v, ok := rm.Resource().Attributes().Get("osprey.agent.version"); ok {
			a.Version = v.AsString()
		}
		if a.Latest == nil {
			a.Latest = map[string]float64{}
		}
		var acc hostAcc
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				acc.add(m)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				default:
					continue
				}
				for d := 0; d < dps.Len(); d++ {
					dp := dps.At(d)
					// Per-core and per-device series stay in the TSDB; the
					// latest view keeps the host-level ones a list needs.
					if dp.Attributes().Len() > 1 {
						continue
					}
					key.Reset()
					key.WriteString(m.Name())
					dp.Attributes().Range(func(k string, v pcommon.Value) bool {
						key.WriteByte('{')
						key.WriteString(k)
						key.WriteByte('=')
						key.WriteString(v.AsString())
						key.WriteByte('}')
						return true
					})
					val := dp.DoubleValue()
					if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
						val = float64(dp.IntValue())
					}
					k := key.String()
					// Our own osprey.* figures (what lists show) get room
					// beyond the cap that other gauges may have filled.
					if _, ok := a.Latest[k]; ok || len(a.Latest) < maxLatest ||
						len(a.Latest) < maxLatest+maxOwnLatest && strings.HasPrefix(k, "osprey.") {
						a.Latest[k] = val
					}
				}
			}
		}
		acc.apply(a)
		t.mu.Unlock()
	}
}

// ObservePush records an agent-protocol push: identity and snapshots.
func (t *Tracker) ObservePush(project int64, req *agentpb.PushRequest, now time.Time) {
	ag := req.GetAgent()
	if ag.GetId() == "" {
		return
	}
	// Summarise outside the lock: it is the costly part.
	var procs []ProcStat
	for _, s := range req.GetSnapshots() {
		if pl := s.GetProcessList(); pl != nil {
			procs = summarizeProcesses(pl.GetProcesses())
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.touchLocked(project, ag.GetId(), now)
	t.applyIdentity(a, ag)
	for _, s := range req.GetSnapshots() {
		switch {
		case s.GetInventory() != nil:
			a.Inventory = s.GetInventory()
		case s.GetProcessList() != nil:
			a.Processes = len(s.GetProcessList().GetProcesses())
			a.procs = procs
		}
	}
}

// ObserveRegister records an agent's registration with its inventory.
func (t *Tracker) ObserveRegister(project int64, ag *agentpb.AgentIdentity, inv *agentpb.Inventory, now time.Time) {
	if ag.GetId() == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.touchLocked(project, ag.GetId(), now)
	t.applyIdentity(a, ag)
	if inv != nil {
		a.Inventory = inv
	}
}

func (t *Tracker) applyIdentity(a *Agent, ag *agentpb.AgentIdentity) {
	if ag.GetName() != "" {
		a.Name = ag.GetName()
	}
	if ag.GetGroup() != "" {
		a.Group = ag.GetGroup()
	}
	if ag.GetKind() != "" {
		a.Kind = ag.GetKind()
	}
	if ag.GetVersion() != "" {
		a.Version = ag.GetVersion()
	}
	if len(ag.GetLabels()) > 0 {
		a.Labels = ag.GetLabels()
	}
}

// List returns copies of a project's agents, sorted by name, with Active
// set from now.
func (t *Tracker) List(project int64, now time.Time) []Agent {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Agent, 0, len(t.projects[project]))
	for _, a := range t.projects[project] {
		c := *a
		c.Latest = make(map[string]float64, len(a.Latest))
		for k, v := range a.Latest {
			c.Latest[k] = v
		}
		if a.HostStats != nil {
			// Ingest updates it in place; the copy is read after unlock.
			hs := *a.HostStats
			c.HostStats = &hs
		}
		c.Active = now.Sub(a.LastSeen) <= 3*t.interval
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// TakeDirty returns the JSON state of agents changed since the last call,
// for persistence.
func (t *Tracker) TakeDirty() map[int64]map[string][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int64]map[string][]byte{}
	for p, ids := range t.dirty {
		for id := range ids {
			a := t.projects[p][id]
			if a == nil {
				continue
			}
			b, err := json.Marshal(a)
			if err != nil {
				continue
			}
			if out[p] == nil {
				out[p] = map[string][]byte{}
			}
			out[p][id] = b
		}
	}
	t.dirty = map[int64]map[string]bool{}
	return out
}

// Restore loads persisted states (as written from TakeDirty).
func (t *Tracker) Restore(states map[int64]map[string][]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, m := range states {
		for id, b := range m {
			var a Agent
			if json.Unmarshal(b, &a) != nil || a.ID == "" {
				continue
			}
			if t.projects[p] == nil {
				t.projects[p] = map[string]*Agent{}
			}
			t.projects[p][id] = &a
		}
		_ = m
	}
}
