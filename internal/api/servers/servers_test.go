package servers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/eventrow"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

const project = 7

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStores(t testing.TB) (*metric.Store, *event.Store) {
	t.Helper()
	ms, err := metric.Open(context.Background(), metric.Options{Dir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ms.Close() })
	es, err := event.Open(context.Background(), event.Options{Dir: t.TempDir(), Logger: quiet(), MaxMemoryBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = es.Close() })
	return ms, es
}

// host is one simulated server's readings.
type host struct {
	id, name, group string
	labels          map[string]string
	idle, memUsed   float64 // fractions
	swap            float64 // fraction; NaN = no swap
	load1           float64
	fs              []float64 // per mount fractions; none = no filesystem
	netRx, netTx    float64   // bytes/s
	diskRd, diskWr  float64   // bytes/s
	cores           int32
}

// metrics builds one report as the host module would send it; counters
// are the rates times seconds since an epoch so consecutive reports give
// the rates back.
func (h host) metrics(ts time.Time) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	ra := rm.Resource().Attributes()
	ra.PutStr(wire.AttrAgentID, h.id)
	ra.PutStr(wire.AttrAgentName, h.name)
	ra.PutStr(wire.AttrAgentGroup, h.group)
	ra.PutStr(wire.AttrAgentKind, "host")
	ra.PutStr(wire.AttrHostName, h.name)
	ms := rm.ScopeMetrics().AppendEmpty().Metrics()
	pts := pcommon.NewTimestampFromTime(ts)
	gauge := func(name, unit string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetUnit(unit)
		return m.SetEmptyGauge().DataPoints()
	}
	sum := func(name, unit string) pmetric.NumberDataPointSlice {
		m := ms.AppendEmpty()
		m.SetName(name)
		m.SetUnit(unit)
		s := m.SetEmptySum()
		s.SetIsMonotonic(true)
		s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
		return s.DataPoints()
	}
	point := func(dps pmetric.NumberDataPointSlice, v float64, kv ...string) {
		dp := dps.AppendEmpty()
		dp.SetTimestamp(pts)
		dp.SetDoubleValue(v)
		for i := 0; i+1 < len(kv); i += 2 {
			dp.Attributes().PutStr(kv[i], kv[i+1])
		}
	}
	u := gauge("system.cpu.utilization", "1")
	point(u, h.idle, "state", "idle")
	point(u, 1-h.idle, "state", "user")
	point(u, h.idle, "cpu", "cpu0", "state", "idle") // per core: not the host figure
	mu := gauge("system.memory.utilization", "1")
	point(mu, h.memUsed, "state", "used")
	point(mu, 1-h.memUsed, "state", "free")
	if !math.IsNaN(h.swap) {
		point(gauge("system.paging.utilization", "1"), h.swap, "state", "used")
	}
	point(gauge("system.cpu.load_average.1m", "{thread}"), h.load1)
	if len(h.fs) > 0 {
		f := gauge("system.filesystem.utilization", "1")
		for i, v := range h.fs {
			point(f, v, "device", fmt.Sprintf("/dev/sd%c1", 'a'+i), "mountpoint", fmt.Sprintf("/m%d", i), "type", "ext4", "mode", "rw")
		}
	}
	secs := float64(ts.Unix() - 1_700_000_000)
	n := sum("system.network.io", "By")
	// Two interfaces, the rate split between them.
	point(n, h.netRx*secs/2, "device", "eth0", "direction", "receive")
	point(n, h.netRx*secs/2, "device", "eth1", "direction", "receive")
	point(n, h.netTx*secs, "device", "eth0", "direction", "transmit")
	d := sum("system.disk.io", "By")
	point(d, h.diskRd*secs, "device", "sda", "direction", "read")
	point(d, h.diskWr*secs, "device", "sda", "direction", "write")
	return md
}

func (h host) push(ts time.Time, procs ...*agentpb.Process) *agentpb.PushRequest {
	return &agentpb.PushRequest{
		Agent: &agentpb.AgentIdentity{Id: h.id, Name: h.name, Group: h.group, Kind: "host", Labels: h.labels},
		Snapshots: []*agentpb.Snapshot{
			{TimeUnixNano: ts.UnixNano(), Type: wire.SnapshotInventory, Body: &agentpb.Snapshot_Inventory{Inventory: &agentpb.Inventory{
				Hostname: h.name, Os: "linux", Platform: "debian", PlatformVersion: "13", Arch: "amd64",
				LogicalCores: h.cores, MemoryBytes: 8 << 30, BootTimeUnix: 1_700_000_000, KernelVersion: "6.12.0",
			}}},
			{TimeUnixNano: ts.UnixNano(), Type: wire.SnapshotProcessList, Body: &agentpb.Snapshot_ProcessList{
				ProcessList: &agentpb.ProcessList{Processes: procs}}},
		},
	}
}

// fixture is three servers: web-1 and db-1 reporting now, old-1 silent
// for a minute (inactive).
type fixture struct {
	h     http.Handler
	tr    *agentstate.Tracker
	ms    *metric.Store
	es    *event.Store
	now   time.Time
	hosts []host
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ms, es := openStores(t)
	f := &fixture{tr: agentstate.NewTracker(0), ms: ms, es: es, now: time.Now()}
	f.h = NewHandler(f.tr, ms, es, func(*http.Request) (int64, bool) { return project, true })
	web := host{id: "w1", name: "web-1", group: "web", labels: map[string]string{"site": "seoul"}, idle: 0.25, memUsed: 0.5, swap: 0.1,
		load1: 1.5, fs: []float64{0.3, 0.8}, netRx: 1000, netTx: 500, diskRd: 4096, diskWr: 8192, cores: 4}
	db := host{id: "d1", name: "db-1", group: "db", labels: map[string]string{"site": "busan"}, idle: 0.75, memUsed: 0.9, swap: math.NaN(),
		load1: 0.5, netRx: 10, netTx: 20, cores: 8}
	old := host{id: "o1", name: "old-1", group: "web", labels: map[string]string{"site": "seoul"}, idle: 0.01, memUsed: 0.99, swap: 0.5,
		fs: []float64{0.99}, diskRd: 1 << 30, cores: 2}
	f.hosts = []host{web, db, old}
	ctx := context.Background()
	feed := func(h host, last time.Time) {
		for i := 24; i >= 0; i-- {
			ts := last.Add(-time.Duration(i) * 5 * time.Second)
			md := h.metrics(ts)
			f.tr.ObserveMetrics(project, md, ts)
			if _, err := ms.AppendOTLP(ctx, project, md); err != nil {
				t.Fatal(err)
			}
		}
	}
	procs := func(ps ...*agentpb.Process) []*agentpb.Process { return ps }
	feed(web, f.now.Add(-time.Second))
	feed(db, f.now.Add(-2*time.Second))
	feed(old, f.now.Add(-time.Minute))
	pushes := []*agentpb.PushRequest{
		web.push(f.now.Add(-time.Second), procs(
			&agentpb.Process{Pid: 10, Name: "nginx", CpuPercent: 30, RssBytes: 100 << 20},
			&agentpb.Process{Pid: 11, Name: "nginx", CpuPercent: 10, RssBytes: 50 << 20},
			&agentpb.Process{Pid: 12, Name: "java", CpuPercent: 150, RssBytes: 2 << 30},
		)...),
		db.push(f.now.Add(-2*time.Second), procs(
			&agentpb.Process{Pid: 20, Name: "postgres", CpuPercent: 60, RssBytes: 1 << 30},
			&agentpb.Process{Pid: 21, Name: "nginx", CpuPercent: 2, RssBytes: 10 << 20},
		)...),
		old.push(f.now.Add(-time.Minute), procs(&agentpb.Process{Pid: 30, Name: "burner", CpuPercent: 400, RssBytes: 7 << 30})...),
	}
	pushTimes := []time.Time{f.now.Add(-time.Second), f.now.Add(-2 * time.Second), f.now.Add(-time.Minute)}
	for i, p := range pushes {
		f.tr.ObservePush(project, p, pushTimes[i])
		if _, _, err := es.Add(ctx, project, eventrow.Snapshots(p)); err != nil {
			t.Fatal(err)
		}
	}
	es.Flush()
	return f
}

// get calls the handler and decodes "data" into out; it returns the status.
func (f *fixture) get(t testing.TB, path string, params url.Values, out any) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path+"?"+params.Encode(), nil)
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		t.Fatalf("%s: %v: %s", path, err, rec.Body.String())
	}
	if rec.Code != http.StatusOK {
		if env.Status != "error" || env.Error == "" {
			t.Fatalf("%s: %d without an error envelope: %s", path, rec.Code, rec.Body.String())
		}
		return rec.Code
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("%s: decode data: %v: %s", path, err, env.Data)
		}
	}
	return rec.Code
}

type serverOut struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Group           string            `json:"group"`
	Labels          map[string]string `json:"labels"`
	Active          bool              `json:"active"`
	OS              string            `json:"os"`
	Platform        string            `json:"platform"`
	PlatformVersion string            `json:"platformVersion"`
	Cores           int               `json:"cores"`
	MemoryBytes     uint64            `json:"memoryBytes"`
	BootTime        *time.Time        `json:"bootTime"`
	CPU             *float64          `json:"cpu"`
	Memory          *float64          `json:"memory"`
	Disk            *float64          `json:"disk"`
	Load1           *float64          `json:"load1"`
	Swap            *float64          `json:"swap"`
	NetRx           *float64          `json:"netRx"`
	NetTx           *float64          `json:"netTx"`
	DiskRead        *float64          `json:"diskRead"`
	DiskWrite       *float64          `json:"diskWrite"`
	Processes       int               `json:"processes"`
}

func wantNum(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	switch {
	case math.IsNaN(want) && got != nil:
		t.Errorf("%s = %v, want null", what, *got)
	case !math.IsNaN(want) && got == nil:
		t.Errorf("%s = null, want %v", what, want)
	case got != nil && math.Abs(*got-want) > 0.01:
		t.Errorf("%s = %v, want %v", what, *got, want)
	}
}

func TestServersList(t *testing.T) {
	f := newFixture(t)
	var data struct {
		Servers []serverOut `json:"servers"`
	}
	f.get(t, "/api/v1/servers", nil, &data)
	if len(data.Servers) != 3 {
		t.Fatalf("got %d servers", len(data.Servers))
	}
	byName := map[string]serverOut{}
	for _, s := range data.Servers {
		byName[s.Name] = s
	}
	if data.Servers[0].Name != "db-1" || data.Servers[2].Name != "web-1" {
		t.Errorf("not sorted by name: %v, %v", data.Servers[0].Name, data.Servers[2].Name)
	}
	nan := math.NaN()
	for _, tc := range []struct {
		name                                       string
		active                                     bool
		cpu, mem, disk, load, swap, rx, tx, rd, wr float64
		cores, procs                               int
	}{
		{"web-1", true, 75, 50, 80, 1.5, 10, 1000, 500, 4096, 8192, 4, 3},
		{"db-1", true, 25, 90, nan, 0.5, nan, 10, 20, 0, 0, 8, 2},
		{"old-1", false, 99, 99, 99, 0, 50, 0, 0, 1 << 30, 0, 2, 1},
	} {
		s, ok := byName[tc.name]
		if !ok {
			t.Fatalf("%s missing", tc.name)
		}
		if s.Active != tc.active || s.Cores != tc.cores || s.Processes != tc.procs {
			t.Errorf("%s: active %v cores %d processes %d", tc.name, s.Active, s.Cores, s.Processes)
		}
		wantNum(t, tc.name+" cpu", s.CPU, tc.cpu)
		wantNum(t, tc.name+" memory", s.Memory, tc.mem)
		wantNum(t, tc.name+" disk", s.Disk, tc.disk)
		wantNum(t, tc.name+" load1", s.Load1, tc.load)
		wantNum(t, tc.name+" swap", s.Swap, tc.swap)
		wantNum(t, tc.name+" netRx", s.NetRx, tc.rx)
		wantNum(t, tc.name+" netTx", s.NetTx, tc.tx)
		wantNum(t, tc.name+" diskRead", s.DiskRead, tc.rd)
		wantNum(t, tc.name+" diskWrite", s.DiskWrite, tc.wr)
		if s.OS != "linux" || s.Platform != "debian" || s.PlatformVersion != "13" || s.MemoryBytes != 8<<30 ||
			s.BootTime == nil || s.BootTime.Unix() != 1_700_000_000 || s.Labels["site"] == "" {
			t.Errorf("%s inventory: %+v", tc.name, s)
		}
	}
}

type overviewOut struct {
	Total, Active, Inactive, Cores int
	OS                             []struct {
		Name  string
		Count int
	}
	CPU, Memory, Disk struct{ Avg, Max *float64 }
	Groups            []struct {
		Name          string
		Total, Active int
		CPUAvg        *float64 `json:"cpuAvg"`
	}
	LabelGroups map[string][]struct {
		Value         string
		Total, Active int
	} `json:"labelGroups"`
}

func TestServersOverviewTopAndProcesses(t *testing.T) {
	f := newFixture(t)
	var o overviewOut
	f.get(t, "/api/v1/servers/overview", nil, &o)
	if o.Total != 3 || o.Active != 2 || o.Inactive != 1 || o.Cores != 14 {
		t.Errorf("counts %+v", o)
	}
	if len(o.OS) != 1 || o.OS[0].Name != "debian 13" || o.OS[0].Count != 3 {
		t.Errorf("os %+v", o.OS)
	}
	// Averages over the two active servers only; db-1 has no filesystem.
	wantNum(t, "cpu avg", o.CPU.Avg, 50)
	wantNum(t, "cpu max", o.CPU.Max, 75)
	wantNum(t, "memory avg", o.Memory.Avg, 70)
	wantNum(t, "disk avg", o.Disk.Avg, 80)
	wantNum(t, "disk max", o.Disk.Max, 80)
	if len(o.Groups) != 2 || o.Groups[1].Name != "web" || o.Groups[1].Total != 2 || o.Groups[1].Active != 1 {
		t.Errorf("groups %+v", o.Groups)
	} else {
		wantNum(t, "web cpu avg", o.Groups[1].CPUAvg, 75)
	}
	if s := o.LabelGroups["site"]; len(s) != 2 || s[1].Value != "seoul" || s[1].Total != 2 || s[1].Active != 1 {
		t.Errorf("label groups %+v", o.LabelGroups)
	}

	type top struct {
		ID, Name string
		Value    float64
	}
	for _, tc := range []struct {
		by   string
		want []string
	}{
		{"cpu", []string{"web-1", "db-1"}},
		{"memory", []string{"db-1", "web-1"}},
		{"diskio", []string{"web-1", "db-1"}},
	} {
		var got []top
		f.get(t, "/api/v1/servers/top", url.Values{"by": {tc.by}}, &got)
		var names []string
		for _, g := range got {
			names = append(names, g.Name)
		}
		if fmt.Sprint(names) != fmt.Sprint(tc.want) {
			t.Errorf("top by %s = %v, want %v", tc.by, names, tc.want)
		}
	}
	var one []top
	f.get(t, "/api/v1/servers/top", url.Values{"by": {"cpu"}, "limit": {"1"}}, &one)
	if len(one) != 1 || one[0].Value != 75 || one[0].ID != "w1" {
		t.Errorf("top 1 = %+v", one)
	}
	if code := f.get(t, "/api/v1/servers/top", url.Values{"by": {"nope"}}, nil); code != 400 {
		t.Errorf("bad by: %d", code)
	}
	if code := f.get(t, "/api/v1/servers/top", url.Values{"limit": {"-1"}}, nil); code != 400 {
		t.Errorf("bad limit: %d", code)
	}

	type tp struct {
		Name           string
		Max, Avg       float64
		Count, Servers int
		Hosts          []string
	}
	var procs []tp
	f.get(t, "/api/v1/servers/top-processes", url.Values{"by": {"cpu"}, "limit": {"10"}}, &procs)
	// burner (400%) is on the inactive server and must not show.
	if len(procs) != 3 || procs[0].Name != "java" || procs[1].Name != "postgres" || procs[2].Name != "nginx" {
		t.Fatalf("top processes by cpu %+v", procs)
	}
	ng := procs[2]
	if ng.Max != 30 || ng.Count != 3 || ng.Servers != 2 || math.Abs(ng.Avg-14) > 0.01 || fmt.Sprint(ng.Hosts) != "[web-1 db-1]" {
		t.Errorf("nginx %+v", ng)
	}
	f.get(t, "/api/v1/servers/top-processes", url.Values{"by": {"memory"}, "limit": {"1"}}, &procs)
	if len(procs) != 1 || procs[0].Name != "java" || procs[0].Max != 2<<30 {
		t.Errorf("top processes by memory %+v", procs)
	}
	if code := f.get(t, "/api/v1/servers/top-processes", url.Values{"by": {"io"}}, nil); code != 400 {
		t.Errorf("bad by: %d", code)
	}
	if code := f.get(t, "/api/v1/servers/nope/nope/nope", nil, nil); code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

func TestOverviewEdgeCases(t *testing.T) {
	nan := math.NaN()
	inv := &agentpb.Inventory{Os: "linux", LogicalCores: 2}
	for _, tc := range []struct {
		name                         string
		hosts                        []agentstate.HostView
		total, active, cores         int
		cpuAvg, cpuMax, diskAvg, mem float64
		os                           string
	}{
		{name: "no servers", cpuAvg: nan, cpuMax: nan, diskAvg: nan, mem: nan, os: ""},
		{name: "all inactive", hosts: []agentstate.HostView{
			{ID: "a", CPU: 90, Memory: 90, Disk: 90, Inventory: inv},
		}, total: 1, cores: 2, cpuAvg: nan, cpuMax: nan, diskAvg: nan, mem: nan, os: "linux"},
		{name: "missing values are skipped, not zero", hosts: []agentstate.HostView{
			{ID: "a", Active: true, CPU: 40, Memory: nan, Disk: nan},
			{ID: "b", Active: true, CPU: nan, Memory: 60, Disk: 10, Inventory: inv},
			{ID: "c", Active: false, CPU: 100, Memory: 100, Disk: 100, Inventory: inv},
		}, total: 3, active: 2, cores: 4, cpuAvg: 40, cpuMax: 40, diskAvg: 10, mem: 60, os: "linux"},
		{name: "no filesystem anywhere", hosts: []agentstate.HostView{
			{ID: "a", Active: true, CPU: 10, Memory: 20, Disk: nan},
			{ID: "b", Active: true, CPU: 30, Memory: 40, Disk: nan},
		}, total: 2, active: 2, cpuAvg: 20, cpuMax: 30, diskAvg: nan, mem: 30, os: "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := buildOverview(tc.hosts)
			if o.Total != tc.total || o.Active != tc.active || o.Inactive != tc.total-tc.active || o.Cores != tc.cores {
				t.Errorf("counts %+v", o)
			}
			for _, c := range []struct {
				what      string
				got, want float64
			}{
				{"cpu avg", float64(o.CPU.Avg), tc.cpuAvg}, {"cpu max", float64(o.CPU.Max), tc.cpuMax},
				{"disk avg", float64(o.Disk.Avg), tc.diskAvg}, {"memory avg", float64(o.Memory.Avg), tc.mem},
			} {
				if math.IsNaN(c.want) != math.IsNaN(c.got) || (!math.IsNaN(c.want) && math.Abs(c.got-c.want) > 1e-9) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
			if tc.os != "" && (len(o.OS) == 0 || o.OS[0].Name != tc.os) {
				t.Errorf("os %+v, want %s first", o.OS, tc.os)
			}
			b, err := json.Marshal(o)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var back map[string]any
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("not JSON: %v: %s", err, b)
			}
		})
	}
}

func TestCPUMap(t *testing.T) {
	f := newFixture(t)
	var m struct {
		Servers []struct{ ID, Name string }
		Step    int
		Times   []int64
		Values  [][]*float64
	}
	f.get(t, "/api/v1/servers/cpu-map", url.Values{"start": {fmt.Sprint(f.now.Add(-10 * time.Minute).Unix())}}, &m)
	if m.Step != 5 || len(m.Times) != 120 || len(m.Values) != len(m.Servers) {
		t.Fatalf("step %d, %d times, %d rows for %d servers", m.Step, len(m.Times), len(m.Values), len(m.Servers))
	}
	if len(m.Servers) != 3 || m.Servers[0].Name != "db-1" || m.Servers[2].Name != "web-1" {
		t.Fatalf("servers %+v", m.Servers)
	}
	for i, want := range []float64{25, 99, 75} {
		row := m.Values[i]
		var seen int
		for _, v := range row {
			if v != nil {
				seen++
				if math.Abs(*v-want) > 0.1 {
					t.Errorf("%s: %v, want %v", m.Servers[i].Name, *v, want)
					break
				}
			}
		}
		if seen == 0 {
			t.Errorf("%s: no values", m.Servers[i].Name)
		}
	}
	// The default is the last hour in at most 120 columns.
	f.get(t, "/api/v1/servers/cpu-map", nil, &m)
	if m.Step != 30 || len(m.Times) != 120 || m.Times[119]%30 != 0 {
		t.Errorf("default map: step %d, %d times", m.Step, len(m.Times))
	}
	f.get(t, "/api/v1/servers/cpu-map", url.Values{"start": {"-24h"}, "step": {"1s"}}, &m)
	if len(m.Times) > 120 {
		t.Errorf("a day at 1s gave %d columns", len(m.Times))
	}
	if code := f.get(t, "/api/v1/servers/cpu-map", url.Values{"start": {"tomorrow"}}, nil); code != 400 {
		t.Errorf("bad start: %d", code)
	}
}

func TestMapGrid(t *testing.T) {
	end := time.Unix(1_700_000_017, 0)
	for _, tc := range []struct {
		span, step, want time.Duration
		cols             int
	}{
		{time.Hour, 0, 30 * time.Second, 120},
		{10 * time.Minute, 0, 5 * time.Second, 120},
		{time.Minute, 0, 5 * time.Second, 13},
		{time.Hour, 2 * time.Minute, 2 * time.Minute, 31},
		{7 * 24 * time.Hour, 0, 2 * time.Hour, 85},
	} {
		first, last, step := mapGrid(end.Add(-tc.span), end, tc.step)
		cols := int(last.Sub(first)/step) + 1
		if step != tc.want || cols != tc.cols || last.After(end) || last.Unix()%int64(step/time.Second) != 0 {
			t.Errorf("span %s step %s: step %s cols %d last %s", tc.span, tc.step, step, cols, last)
		}
	}
}

func TestProcessesAtAndLoadSnapshots(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var pl struct {
		Time      string
		Processes []processJSON
	}
	f.get(t, "/api/v1/servers/w1/processes", nil, &pl)
	if len(pl.Processes) != 3 || pl.Processes[2].Name != "java" || pl.Processes[2].RSSBytes != 2<<30 || pl.Time == "" {
		t.Errorf("process list now: %+v", pl)
	}
	f.get(t, "/api/v1/servers/o1/processes", url.Values{"at": {f.now.Add(-50 * time.Second).Format(time.RFC3339Nano)}}, &pl)
	if len(pl.Processes) != 1 || pl.Processes[0].Name != "burner" {
		t.Errorf("process list 50s ago: %+v", pl)
	}
	if code := f.get(t, "/api/v1/servers/o1/processes", url.Values{"at": {fmt.Sprint(f.now.Add(-2 * time.Minute).Unix())}}, nil); code != 404 {
		t.Errorf("before any list: %d", code)
	}
	if code := f.get(t, "/api/v1/servers/w1/processes", url.Values{"at": {"yesterday"}}, nil); code != 400 {
		t.Errorf("bad at: %d", code)
	}

	// Two load snapshots of web-1, one of db-1.
	snapAt := func(h host, ts time.Time, reason string) {
		req := &agentpb.PushRequest{Agent: &agentpb.AgentIdentity{Id: h.id, Name: h.name, Kind: "host"},
			Snapshots: []*agentpb.Snapshot{{TimeUnixNano: ts.UnixNano(), Type: wire.SnapshotLoadSnapshot,
				Body: &agentpb.Snapshot_LoadSnapshot{LoadSnapshot: &agentpb.LoadSnapshot{
					Reason: reason, Triggers: []string{"cpu"}, CpuPercent: 97, MemoryPercent: 50,
					TopCpu: []*agentpb.Process{{Pid: 12, Name: "java", CpuPercent: 150, RssBytes: 2 << 30}},
					Connections: &agentpb.Connections{Total: 3, States: []*agentpb.Count{{Key: "ESTABLISHED", Count: 3}},
						TopRemoteAddresses: []*agentpb.Count{{Key: "10.0.0.9", Count: 3}}},
				}}}}}
		if _, _, err := f.es.Add(ctx, project, eventrow.Snapshots(req)); err != nil {
			t.Fatal(err)
		}
	}
	t1, t2 := f.now.Add(-10*time.Minute+123456789), f.now.Add(-time.Minute)
	snapAt(f.hosts[0], t1, "CPU 97% for 3 intervals (threshold 90%)")
	snapAt(f.hosts[0], t2, "CPU 98% for 3 intervals (threshold 90%)")
	snapAt(f.hosts[1], t2, "other server")
	f.es.Flush()

	var list struct {
		Snapshots []struct {
			Time, Reason, Trigger string
			CPU, Memory           float64
		}
	}
	f.get(t, "/api/v1/servers/w1/snapshots", nil, &list)
	if len(list.Snapshots) != 2 || list.Snapshots[0].Reason != "CPU 98% for 3 intervals (threshold 90%)" ||
		list.Snapshots[1].CPU != 97 || list.Snapshots[1].Memory != 50 || list.Snapshots[1].Trigger != "cpu" {
		t.Fatalf("snapshots %+v", list.Snapshots)
	}
	f.get(t, "/api/v1/servers/w1/snapshots", url.Values{"start": {"-5m"}}, &list)
	if len(list.Snapshots) != 1 {
		t.Errorf("last 5 minutes: %+v", list.Snapshots)
	}
	var one loadSnapshotJSON
	f.get(t, "/api/v1/servers/w1/snapshots/"+url.PathEscape(t1.UTC().Format(time.RFC3339Nano)), nil, &one)
	if one.Reason != "CPU 97% for 3 intervals (threshold 90%)" || len(one.TopCPU) != 1 || one.TopCPU[0].RSSBytes != 2<<30 ||
		one.Connections.Total != 3 || one.Connections.TopRemoteAddresses[0].Key != "10.0.0.9" {
		t.Errorf("snapshot %+v", one)
	}
	if code := f.get(t, "/api/v1/servers/w1/snapshots/"+url.PathEscape(t1.Add(time.Millisecond).UTC().Format(time.RFC3339Nano)), nil, nil); code != 404 {
		t.Errorf("no snapshot at that time: %d", code)
	}
	if code := f.get(t, "/api/v1/servers/d1/snapshots/"+url.PathEscape(t1.UTC().Format(time.RFC3339Nano)), nil, nil); code != 404 {
		t.Errorf("another server's snapshot time: %d", code)
	}
	// The event row points at the snapshot.
	res, err := f.es.Search(ctx, project, event.Query{Start: f.now.Add(-time.Hour), Type: "event",
		Filters: []event.Filter{{Field: "event.kind", Op: "=", Value: "load_snapshot"}, {Field: "agent.id", Op: "=", Value: "w1"}}})
	if err != nil || len(res.Records) != 2 || res.Records[1]["snapshot.time"] != t1.UTC().Format(time.RFC3339Nano) ||
		res.Records[1]["severity"] != "warning" {
		t.Errorf("events %v %v", res.Records, err)
	}
}

func TestListJSONMatchesEncodingJSON(t *testing.T) {
	bt := time.Unix(1_700_000_000, 0).UTC()
	for _, s := range []serverJSON{
		{ID: "a", Name: "web \"1\" <b>&\n\t\x01 \u2028 é 한", Group: "g", Labels: map[string]string{"z": "1", "a": "x\\y"},
			Active: true, LastSeen: time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC), OS: "linux", Cores: 4, MemoryBytes: 1 << 40,
			BootTime: &bt, CPU: 12.345, Memory: num(math.NaN()), Disk: 100, Load1: 0.001, Swap: num(math.Inf(1)),
			NetRx: 1e15, NetTx: 0, DiskRead: 3.5, DiskWrite: -1, Processes: 300},
		{ID: "b\xff", Labels: map[string]string{}, CPU: num(math.NaN()), Memory: num(math.NaN()), Disk: num(math.NaN()),
			Load1: num(math.NaN()), Swap: num(math.NaN()), NetRx: num(math.NaN()), NetTx: num(math.NaN()),
			DiskRead: num(math.NaN()), DiskWrite: num(math.NaN())},
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendServer(nil, &s); string(got) != string(want) {
			t.Errorf("hand-written:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}

func TestOneServerMatchesTheList(t *testing.T) {
	f := newFixture(t)
	var list struct {
		Servers []serverOut `json:"servers"`
	}
	f.get(t, "/api/v1/servers", nil, &list)
	for _, want := range list.Servers {
		var got serverOut
		if code := f.get(t, "/api/v1/servers/"+want.ID, nil, &got); code != http.StatusOK {
			t.Fatalf("%s: status %d", want.ID, code)
		}
		if got.ID != want.ID || got.Name != want.Name || got.Active != want.Active || got.Cores != want.Cores || got.Processes != want.Processes {
			t.Errorf("/servers/%s = %+v, list has %+v", want.ID, got, want)
		}
	}
	if code := f.get(t, "/api/v1/servers/no-such-host", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown server: %d, want 404", code)
	}
	// Fixed paths still win over {id}.
	var o overviewOut
	if code := f.get(t, "/api/v1/servers/overview", nil, &o); code != http.StatusOK || o.Total != 3 {
		t.Errorf("overview after adding {id}: %d %+v", code, o)
	}
}
