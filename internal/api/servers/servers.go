// Package servers serves the server-monitoring API of a project's host
// agents:
//
//	GET /api/v1/servers                          latest figures of every server
//	GET /api/v1/servers/overview                 counts, OS breakdown, averages, groups
//	GET /api/v1/servers/top?by=cpu|memory|diskio top servers
//	GET /api/v1/servers/top-processes?by=cpu|memory  top process names across servers
//	GET /api/v1/servers/cpu-map?start&end&step   CPU busy % of every server over time
//	GET /api/v1/servers/{id}/processes?at=       the process list at a past moment
//	GET /api/v1/servers/{id}/snapshots?start&end the server's load snapshots
//	GET /api/v1/servers/{id}/snapshots/{time}    one load snapshot
//
// Lists, overview and tops read the agent tracker (memory, no I/O) so they
// stay cheap for thousands of servers; the CPU map is one PromQL range
// query; process lists and load snapshots come from the event store.
// Responses use the Prometheus API envelope like the other Osprey APIs.
package servers

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
)

// KindHost is the agent kind these views list (the osprey-agent host module).
const KindHost = "host"

const (
	defaultTop    = 5
	maxTop        = 100
	maxTopHosts   = 5 // host names listed per top process
	queryTimeout  = 30 * time.Second
	defaultMapWin = time.Hour
)

type handler struct {
	tr      *agentstate.Tracker
	ms      *metric.Store
	es      *event.Store
	project func(*http.Request) (int64, bool)
	now     func() time.Time
}

// NewHandler returns the servers API. project resolves the authenticated
// request's project (authentication is the caller's middleware); ok=false
// answers 401.
func NewHandler(tr *agentstate.Tracker, ms *metric.Store, es *event.Store, project func(*http.Request) (int64, bool)) http.Handler {
	h := &handler{tr: tr, ms: ms, es: es, project: project, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/servers", h.list)
	mux.HandleFunc("GET /api/v1/servers/overview", h.overview)
	mux.HandleFunc("GET /api/v1/servers/top", h.top)
	mux.HandleFunc("GET /api/v1/servers/top-processes", h.topProcesses)
	mux.HandleFunc("GET /api/v1/servers/cpu-map", h.cpuMap)
	mux.HandleFunc("GET /api/v1/servers/{id}", h.one)
	mux.HandleFunc("GET /api/v1/servers/{id}/processes", h.processes)
	mux.HandleFunc("GET /api/v1/servers/{id}/snapshots", h.snapshots)
	mux.HandleFunc("GET /api/v1/servers/{id}/snapshots/{time}", h.snapshot)
	mux.HandleFunc("/api/v1/servers/", func(w http.ResponseWriter, r *http.Request) {
		envelope.WriteError(w, http.StatusNotFound, "not_found", "no such servers API path: "+r.URL.Path)
	})
	return mux
}

func (h *handler) auth(w http.ResponseWriter, r *http.Request) (int64, bool) {
	p, ok := h.project(r)
	if !ok {
		envelope.WriteError(w, http.StatusUnauthorized, "unauthorized", "not authenticated")
	}
	return p, ok
}

// num is a figure that may be unknown: NaN marshals as null.
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, math.Round(f*100)/100, 'f', -1, 64), nil
}

type serverJSON struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Group           string            `json:"group"`
	Labels          map[string]string `json:"labels"`
	Active          bool              `json:"active"`
	LastSeen        time.Time         `json:"lastSeen"`
	OS              string            `json:"os"`
	Platform        string            `json:"platform"`
	PlatformVersion string            `json:"platformVersion"`
	Kernel          string            `json:"kernel"`
	Arch            string            `json:"arch"`
	Cores           int               `json:"cores"`
	MemoryBytes     uint64            `json:"memoryBytes"`
	BootTime        *time.Time        `json:"bootTime"`
	CPU             num               `json:"cpu"`
	Memory          num               `json:"memory"`
	Disk            num               `json:"disk"`
	Load1           num               `json:"load1"`
	Swap            num               `json:"swap"`
	NetRx           num               `json:"netRx"`
	NetTx           num               `json:"netTx"`
	DiskRead        num               `json:"diskRead"`
	DiskWrite       num               `json:"diskWrite"`
	Processes       int               `json:"processes"`
}

var (
	noLabels = map[string]string{}
	nan      = math.NaN()
)

func toServer(v *agentstate.HostView, bt *time.Time) serverJSON {
	s := serverJSON{
		ID: v.ID, Name: v.Name, Group: v.Group, Labels: v.Labels, Active: v.Active, LastSeen: v.LastSeen.UTC(),
		CPU: num(v.CPU), Memory: num(v.Memory), Disk: num(v.Disk), Load1: num(v.Load1), Swap: num(v.Swap),
		NetRx: num(v.NetRx), NetTx: num(v.NetTx), DiskRead: num(v.DiskRead), DiskWrite: num(v.DiskWrite),
		Processes: v.Processes,
	}
	if s.Labels == nil {
		s.Labels = noLabels
	}
	if inv := v.Inventory; inv != nil {
		s.OS, s.Platform, s.PlatformVersion = inv.GetOs(), inv.GetPlatform(), inv.GetPlatformVersion()
		s.Kernel, s.Arch = inv.GetKernelVersion(), inv.GetArch()
		s.Cores, s.MemoryBytes = int(inv.GetLogicalCores()), inv.GetMemoryBytes()
		if b := inv.GetBootTimeUnix(); b > 0 {
			*bt = time.Unix(b, 0).UTC()
			s.BootTime = bt
		}
	}
	return s
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	body := listBody(h.tr.Hosts(project, KindHost, h.now()))
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// one answers for a single server, so that a detail page refreshing every
// 5 s does not fetch the whole fleet.
func (h *handler) one(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	hosts := h.tr.Hosts(project, KindHost, h.now())
	for i := range hosts {
		if hosts[i].ID != id {
			continue
		}
		var bt time.Time
		s := toServer(&hosts[i], &bt)
		b := append([]byte(`{"status":"success","data":`), appendServer(nil, &s)...)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(b, "}\n"...))
		return
	}
	envelope.WriteError(w, http.StatusNotFound, "not_found", "no server "+id)
}

type avgMax struct {
	Avg num `json:"avg"`
	Max num `json:"max"`
}

// stat accumulates avg/max over the values that are known.
type stat struct {
	sum, max float64
	n        int
}

func (s *stat) add(v float64) {
	if math.IsNaN(v) {
		return
	}
	if s.n == 0 || v > s.max {
		s.max = v
	}
	s.sum += v
	s.n++
}

func (s *stat) avg() float64 {
	if s.n == 0 {
		return math.NaN()
	}
	return s.sum / float64(s.n)
}

func (s *stat) json() avgMax {
	if s.n == 0 {
		return avgMax{Avg: num(math.NaN()), Max: num(math.NaN())}
	}
	return avgMax{Avg: num(s.avg()), Max: num(s.max)}
}

type nameCount struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type groupJSON struct {
	Name   string `json:"name"`
	Total  int    `json:"total"`
	Active int    `json:"active"`
	CPUAvg num    `json:"cpuAvg"`
}

type labelValueJSON struct {
	Value  string `json:"value"`
	Total  int    `json:"total"`
	Active int    `json:"active"`
}

type overviewJSON struct {
	Total       int                         `json:"total"`
	Active      int                         `json:"active"`
	Inactive    int                         `json:"inactive"`
	Cores       int                         `json:"cores"`
	ActiveCores int                         `json:"activeCores"`
	OS          []nameCount                 `json:"os"`
	CPU         avgMax                      `json:"cpu"`
	Memory      avgMax                      `json:"memory"`
	Disk        avgMax                      `json:"disk"`
	Groups      []groupJSON                 `json:"groups"`
	LabelGroups map[string][]labelValueJSON `json:"labelGroups"`
}

// osName is what the OS breakdown counts: "debian 13", else the OS type.
func osName(v *agentstate.HostView) string {
	inv := v.Inventory
	switch {
	case inv == nil:
		return "unknown"
	case inv.GetPlatform() != "":
		return strings.TrimSpace(inv.GetPlatform() + " " + inv.GetPlatformVersion())
	case inv.GetOs() != "":
		return inv.GetOs()
	}
	return "unknown"
}

// buildOverview counts every server and averages the active ones only: an
// inactive server's last figures are history, not the present.
func buildOverview(hosts []agentstate.HostView) overviewJSON {
	o := overviewJSON{Total: len(hosts), LabelGroups: map[string][]labelValueJSON{}}
	var cpu, mem, disk stat
	osCount := map[string]int{}
	type group struct {
		total, active int
		cpu           stat
	}
	groups := map[string]*group{}
	labels := map[string]map[string]*labelValueJSON{}
	for i := range hosts {
		v := &hosts[i]
		cores := int(v.Inventory.GetLogicalCores())
		o.Cores += cores
		osCount[osName(v)]++
		g := groups[v.Group]
		if g == nil {
			g = &group{}
			groups[v.Group] = g
		}
		g.total++
		if v.Active {
			o.Active++
			o.ActiveCores += cores
			cpu.add(v.CPU)
			mem.add(v.Memory)
			disk.add(v.Disk)
			g.active++
			g.cpu.add(v.CPU)
		}
		for k, val := range v.Labels {
			m := labels[k]
			if m == nil {
				m = map[string]*labelValueJSON{}
				labels[k] = m
			}
			lv := m[val]
			if lv == nil {
				lv = &labelValueJSON{Value: val}
				m[val] = lv
			}
			lv.Total++
			if v.Active {
				lv.Active++
			}
		}
	}
	o.Inactive = o.Total - o.Active
	o.CPU, o.Memory, o.Disk = cpu.json(), mem.json(), disk.json()
	o.OS = make([]nameCount, 0, len(osCount))
	for n, c := range osCount {
		o.OS = append(o.OS, nameCount{Name: n, Count: c})
	}
	slices.SortFunc(o.OS, func(a, b nameCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Name, b.Name))
	})
	o.Groups = make([]groupJSON, 0, len(groups))
	for n, g := range groups {
		o.Groups = append(o.Groups, groupJSON{Name: n, Total: g.total, Active: g.active, CPUAvg: num(g.cpu.avg())})
	}
	slices.SortFunc(o.Groups, func(a, b groupJSON) int { return strings.Compare(a.Name, b.Name) })
	for k, m := range labels {
		vals := make([]labelValueJSON, 0, len(m))
		for _, lv := range m {
			vals = append(vals, *lv)
		}
		slices.SortFunc(vals, func(a, b labelValueJSON) int { return strings.Compare(a.Value, b.Value) })
		o.LabelGroups[k] = vals
	}
	return o
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	envelope.WriteData(w, buildOverview(h.tr.Hosts(project, KindHost, h.now())))
}

func parseLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return defaultTop, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("limit %q is not a positive integer", s)
	}
	return min(n, maxTop), nil
}

type topJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Value num    `json:"value"`
}

// topServers ranks active servers by a figure; servers without it are
// left out.
func topServers(hosts []agentstate.HostView, by string, limit int) ([]topJSON, error) {
	var val func(*agentstate.HostView) float64
	switch by {
	case "", "cpu":
		val = func(v *agentstate.HostView) float64 { return v.CPU }
	case "memory":
		val = func(v *agentstate.HostView) float64 { return v.Memory }
	case "diskio":
		val = func(v *agentstate.HostView) float64 { return v.DiskRead + v.DiskWrite }
	default:
		return nil, fmt.Errorf("by %q is not cpu, memory or diskio", by)
	}
	out := make([]topJSON, 0, len(hosts))
	for i := range hosts {
		v := &hosts[i]
		if x := val(v); v.Active && !math.IsNaN(x) {
			out = append(out, topJSON{ID: v.ID, Name: v.Name, Value: num(x)})
		}
	}
	slices.SortStableFunc(out, func(a, b topJSON) int { return cmp.Compare(b.Value, a.Value) })
	return out[:min(limit, len(out))], nil
}

func (h *handler) top(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	limit, err := parseLimit(r)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	out, err := topServers(h.tr.Hosts(project, KindHost, h.now()), r.URL.Query().Get("by"), limit)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	envelope.WriteData(w, out)
}

type topProcessJSON struct {
	Name    string   `json:"name"`
	Max     num      `json:"max"`
	Avg     num      `json:"avg"`
	Count   int      `json:"count"`
	Servers int      `json:"servers"`
	Hosts   []string `json:"hosts"`
}

// topProcs aggregates the active servers' process summaries by name: max
// and average over every instance, instances, distinct servers, and the
// servers where the name peaks.
func topProcs(hosts []agentstate.HostView, by string, limit int) ([]topProcessJSON, error) {
	byCPU := true
	switch by {
	case "", "cpu":
	case "memory":
		byCPU = false
	default:
		return nil, fmt.Errorf("by %q is not cpu or memory", by)
	}
	type peak struct {
		host string
		v    float64
	}
	type agg struct {
		max, sum float64
		count    int
		servers  int
		peaks    []peak // highest first, at most maxTopHosts
	}
	aggs := map[string]*agg{}
	for i := range hosts {
		v := &hosts[i]
		if !v.Active {
			continue
		}
		for j := range v.Procs {
			p := &v.Procs[j]
			mx, sum := p.CPUMax, p.CPUSum
			if !byCPU {
				mx, sum = float64(p.RSSMax), float64(p.RSSSum)
			}
			a := aggs[p.Name]
			if a == nil {
				a = &agg{max: mx}
				aggs[p.Name] = a
			}
			a.max = max(a.max, mx)
			a.sum += sum
			a.count += int(p.Count)
			a.servers++
			if len(a.peaks) < maxTopHosts || mx > a.peaks[len(a.peaks)-1].v {
				k := len(a.peaks)
				for k > 0 && a.peaks[k-1].v < mx {
					k--
				}
				a.peaks = slices.Insert(a.peaks, k, peak{host: v.Name, v: mx})
				if len(a.peaks) > maxTopHosts {
					a.peaks = a.peaks[:maxTopHosts]
				}
			}
		}
	}
	out := make([]topProcessJSON, 0, len(aggs))
	for name, a := range aggs {
		t := topProcessJSON{Name: name, Max: num(a.max), Count: a.count, Servers: a.servers, Hosts: make([]string, len(a.peaks))}
		if a.count > 0 {
			t.Avg = num(a.sum / float64(a.count))
		}
		for i, p := range a.peaks {
			t.Hosts[i] = p.host
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b topProcessJSON) int {
		return cmp.Or(cmp.Compare(b.Max, a.Max), cmp.Compare(b.Avg, a.Avg), strings.Compare(a.Name, b.Name))
	})
	return out[:min(limit, len(out))], nil
}

func (h *handler) topProcesses(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	limit, err := parseLimit(r)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	out, err := topProcs(h.tr.Hosts(project, KindHost, h.now()), r.URL.Query().Get("by"), limit)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	envelope.WriteData(w, out)
}

func sortHosts(v []agentstate.HostView) {
	slices.SortFunc(v, func(a, b agentstate.HostView) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
}
