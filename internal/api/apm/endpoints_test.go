package apm

import (
	"cmp"
	"encoding/csv"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

var endpoints = []string{
	"/api/v1/apm/apps", "/api/v1/apm/overview", "/api/v1/apm/hitmap", "/api/v1/apm/transactions",
	"/api/v1/apm/profile/" + trace1 + "/" + spanA, "/api/v1/apm/active", "/api/v1/apm/stacks", "/api/v1/apm/stacks/" + hash1,
	"/api/v1/apm/active/history/" + spanA, "/api/v1/apm/stats", "/api/v1/apm/trace/" + trace1, "/api/v1/apm/servicemap",
}

func TestUnauthenticated(t *testing.T) {
	f := setup(t)
	for _, p := range endpoints {
		if code, env := f.get(t, 0, p, nil, nil); code != http.StatusUnauthorized || env.ErrorType != "unauthorized" {
			t.Errorf("%s without identity: %d %+v", p, code, env)
		}
		// And every one answers a viewer.
		if code, env := f.get(t, 1, p, nil, nil); code != http.StatusOK {
			t.Errorf("%s as viewer: %d %s", p, code, env.Error)
		}
	}
	if code, _ := f.get(t, 1, "/api/v1/apm/nope", nil, nil); code != http.StatusNotFound {
		t.Errorf("unknown path: %d", code)
	}
}

func TestBadParams(t *testing.T) {
	f := setup(t)
	cases := []struct {
		path   string
		params url.Values
		want   string // in the error text
	}{
		{"/api/v1/apm/hitmap", vals("start", "soon"), "invalid start"},
		{"/api/v1/apm/hitmap", vals("start", "-1m", "end", "-2m"), "start must be before end"},
		{"/api/v1/apm/hitmap", vals("start", "-1m", "end", "-1m"), "start must be before end"},
		{"/api/v1/apm/hitmap", vals("start", "-7h"), "at most 6h"},
		{"/api/v1/apm/transactions", vals("min_ms", "abc"), "min_ms"},
		{"/api/v1/apm/transactions", vals("max_ms", "-1"), "max_ms"},
		{"/api/v1/apm/transactions", vals("min_ms", "250", "max_ms", "125"), "min_ms must be below max_ms"},
		{"/api/v1/apm/transactions", vals("error", "maybe"), "error: want 1 or 0"},
		{"/api/v1/apm/transactions", vals("limit", "0"), "limit"},
		{"/api/v1/apm/overview", vals("step", "fast"), "step"},
		{"/api/v1/apm/overview", vals("step", "-5s"), "step"},
		{"/api/v1/apm/overview", vals("step", "5s", "start", "-30d"), "points"},
		{"/api/v1/apm/stats", vals("kind", "bogus"), "kind: want one of tx, sql"},
		{"/api/v1/apm/stats", vals("sort", "name"), "sort: want one of count"},
		{"/api/v1/apm/stats", vals("format", "xml"), "format"},
		{"/api/v1/apm/stacks", vals("limit", "x"), "limit"},
		{"/api/v1/apm/profile/xyz/" + spanA, nil, "traceID: want 32 hex digits"},
		{"/api/v1/apm/profile/" + trace1 + "/abc", nil, "spanID: want 16 hex digits"},
		{"/api/v1/apm/trace/" + trace1 + "00", nil, "traceID"},
		{"/api/v1/apm/stacks/not-hex", nil, "hash"},
		{"/api/v1/apm/active/history/zz", nil, "spanID"},
		{"/api/v1/apm/active/history/" + spanA, vals("trace_id", "1"), "trace_id"},
	}
	for _, tc := range cases {
		code, env := f.get(t, 1, tc.path, tc.params, nil)
		if code != http.StatusBadRequest || env.ErrorType != "bad_data" || !strings.Contains(env.Error, tc.want) {
			t.Errorf("%s?%s: %d %q, want 400 containing %q", tc.path, tc.params.Encode(), code, env.Error, tc.want)
		}
	}
	for _, p := range []string{"/api/v1/apm/profile/" + trace1 + "/" + spanX, "/api/v1/apm/trace/" + strings.Repeat("9", 32), "/api/v1/apm/stacks/" + hash3} {
		if code, _ := f.get(t, 1, p, nil, nil); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

func TestHitmap(t *testing.T) {
	f := setup(t)
	w0, w1 := f.base.UnixMilli(), f.base.Add(window).UnixMilli()
	all := [][4]uint64{
		{uint64(w0), 0, 8, 0}, {uint64(w0), 5, 2, 1}, {uint64(w0), 119, 1, 0},
		{uint64(w1), 40, 7, 2}, {uint64(w1), 41, 0, 1},
	}
	cases := []struct {
		name        string
		params      url.Values
		project     int
		start, end  int64
		cells       [][4]uint64
		total, errs uint64
	}{
		{"two windows, flushes and instances summed", vals("start", rfc(f.base), "end", rfc(f.base.Add(2*window))), 1, w0, w0 + 10000, all, 22, 4},
		{"unaligned range widens to whole columns", vals("start", rfc(f.base.Add(2*time.Second)), "end", rfc(f.base.Add(window+time.Second))), 1, w0, w0 + 10000, all, 22, 4},
		{"app filter", vals("start", rfc(f.base), "end", rfc(f.base.Add(2*window)), "app", "pay"), 1, w0, w0 + 10000, all[3:], 10, 3},
		{"namespace filter", vals("start", rfc(f.base), "end", rfc(f.base.Add(2*window)), "namespace", "prod"), 1, w0, w0 + 10000, all[:3], 12, 1},
		{"instances, repeated", vals("start", rfc(f.base), "end", rfc(f.base.Add(2*window)), "instance", "shop-2", "instance", "pay-1"), 1, w0, w0 + 10000,
			[][4]uint64{{uint64(w0), 0, 4, 0}, {uint64(w0), 119, 1, 0}, all[3], all[4]}, 15, 3},
		{"one column", vals("start", rfc(f.base.Add(window)), "end", rfc(f.base.Add(2*window))), 1, w1, w1 + 5000, all[3:], 10, 3},
		{"other project", vals("start", rfc(f.base), "end", rfc(f.base.Add(2*window))), 2, w0, w0 + 10000, [][4]uint64{{uint64(w0), 0, 99, 0}}, 99, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got hitmapJSON
			if code, env := f.get(t, tc.project, "/api/v1/apm/hitmap", tc.params, &got); code != 200 {
				t.Fatalf("%d %s", code, env.Error)
			}
			if got.Step != 5 || len(got.Bounds) != wire.HitmapBuckets+1 || got.Bounds[1] != 125 || got.Bounds[120] != 80000 {
				t.Errorf("step %d, bounds %v", got.Step, got.Bounds)
			}
			if got.Start != tc.start || got.End != tc.end {
				t.Errorf("start/end %d/%d, want %d/%d", got.Start, got.End, tc.start, tc.end)
			}
			if !slices.Equal(got.Cells, tc.cells) || got.Total != tc.total || got.Errors != tc.errs {
				t.Errorf("cells %v total %d errors %d\nwant  %v total %d errors %d", got.Cells, got.Total, got.Errors, tc.cells, tc.total, tc.errs)
			}
		})
	}
}

func TestParsePair(t *testing.T) {
	for _, tc := range []struct {
		in     string
		bucket int
		n      uint64
		ok     bool
	}{
		{"0:3", 0, 3, true}, {"119:12345", 119, 12345, true}, {"7:0", 7, 0, true},
		{"", 0, 0, false}, {":3", 0, 0, false}, {"3:", 0, 0, false}, {"a:1", 0, 0, false}, {"1:b", 0, 0, false},
		{"1234:1", 0, 0, false}, {"1:-1", 0, 0, false}, {"1:99999999999999999999999", 0, 0, false},
	} {
		b, n, ok := parsePair(tc.in)
		if ok != tc.ok || (ok && (b != tc.bucket || n != tc.n)) {
			t.Errorf("parsePair(%q) = %d, %d, %v", tc.in, b, n, ok)
		}
	}
	// A malformed or out-of-range pair costs only itself.
	g := newHitmapGrid(time.Unix(0, 0), time.Unix(5, 0))
	g.add(time.Unix(1, 0), "1:2,x:5,120:9,,3:4", 0)
	if got := g.json(); !slices.Equal(got.Cells, [][4]uint64{{0, 1, 2, 0}, {0, 3, 4, 0}}) {
		t.Errorf("cells %v", got.Cells)
	}
}

func TestTransactionsBox(t *testing.T) {
	f := setup(t)
	box := func(kv ...string) url.Values {
		return vals(append([]string{"start", rfc(f.box), "end", rfc(f.box.Add(window)), "min_ms", "125", "max_ms", "250"}, kv...)...)
	}
	cases := []struct {
		name      string
		params    url.Values
		want      []int // box transactions, newest first
		truncated bool
	}{
		{"exactly the box", box(), []int{3, 8, 7, 1}, false},
		{"errors only", box("error", "1"), []int{7}, false},
		{"no errors", box("error", "0"), []int{3, 8, 1}, false},
		{"app", box("app", "shop"), []int{3, 7, 1}, false},
		{"namespace nobody has", box("namespace", "nowhere"), nil, false},
		{"name", box("name", "GET /box/3"), []int{3}, false},
		{"name substring", box("q", "box/"), []int{3, 8, 7, 1}, false},
		{"limit", box("limit", "2"), []int{3, 8}, true},
		{"limit equal to the matches", box("limit", "4"), []int{3, 8, 7, 1}, false},
		{"no upper edge", vals("start", rfc(f.box), "end", rfc(f.box.Add(window)), "min_ms", "250"), []int{5}, false},
		{"no lower edge", vals("start", rfc(f.box), "end", rfc(f.box.Add(window)), "max_ms", "125"), []int{6}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got transactionsJSON
			f.mustGet(t, "/api/v1/apm/transactions", tc.params, &got)
			var ids []string
			for _, x := range got.Transactions {
				ids = append(ids, x.SpanID)
			}
			var want []string
			for _, i := range tc.want {
				want = append(want, boxSpan(i))
			}
			// 7 and 8 end at the same moment: the later stored comes first.
			if !slices.Equal(ids, want) || got.Truncated != tc.truncated {
				t.Errorf("got %v truncated %v, want %v truncated %v", ids, got.Truncated, want, tc.truncated)
			}
		})
	}
	// What the box lists is what its hitmap cell would count: bucket 1
	// ([125, 250) ms) of the box's column.
	var got transactionsJSON
	_, env := f.get(t, 1, "/api/v1/apm/transactions", box(), &got)
	for _, x := range got.Transactions {
		if b := wire.HitmapBucket(float64(x.ElapsedMs)); b != 1 || x.Time.Before(f.box) || !x.Time.Before(f.box.Add(window)) {
			t.Errorf("%s: bucket %d at %s", x.SpanID, b, x.Time)
		}
	}
	x := got.Transactions[2]
	if x.App != "shop" || x.Instance != "shop-1" || x.Name != "GET /box/7" || !x.Error || float64(x.ElapsedMs) != 200 ||
		x.StartUnixMs != f.box.Add(3*time.Second-msd(200)).UnixMilli() || float64(x.SQLCount) != 0 {
		t.Errorf("transaction 7: %+v", x)
	}
	// Not HTTP: no status, which is null rather than a made-up 0.
	if !strings.Contains(string(env.Data), `"status":null`) {
		t.Errorf("no null status in %s", env.Data)
	}
}

func TestTransactionFields(t *testing.T) {
	f := setup(t)
	var got transactionsJSON
	f.mustGet(t, "/api/v1/apm/transactions", vals("start", rfc(f.t0), "end", rfc(f.t0.Add(time.Second)), "app", "shop"), &got)
	if len(got.Transactions) != 1 {
		t.Fatalf("got %+v", got)
	}
	x := got.Transactions[0]
	want := txJSON{Time: f.t0.Add(500 * time.Millisecond).UTC(), StartUnixMs: f.t0.UnixMilli(), TraceID: trace1, SpanID: spanA, App: "shop", Instance: "shop-1",
		Name: "GET /checkout", ElapsedMs: 500, Status: 200, Method: "GET", ClientIP: "10.0.0.9", User: "u-42", SQLCount: 1, SQLMs: 8, HTTPCCount: 1, HTTPCMs: 300}
	if !x.Time.Equal(want.Time) {
		t.Errorf("time %s, want %s", x.Time, want.Time)
	}
	x.Time = want.Time
	if x != want {
		t.Errorf("got  %+v\nwant %+v", x, want)
	}
}

func TestOverview(t *testing.T) {
	f := setup(t)
	nan := math.NaN()
	type want struct {
		step                                       float64
		times                                      int
		tps, avg, errs, rate, apdex, users, active []float64
		cpu, heap, ytps, yusers                    []float64
	}
	cases := []struct {
		name   string
		params url.Values
		want   want
	}{
		{"5-s buckets", vals("start", rfc(f.base), "end", rfc(f.base.Add(20*time.Second)), "step", "5s"), want{
			step: 5, times: 4,
			tps: []float64{12.0 / 5, 10.0 / 5, nan, nan}, avg: []float64{1150.0 / 12, 200, nan, nan},
			errs: []float64{1, 3, nan, nan}, rate: []float64{1.0 / 12, 0.3, nan, nan},
			apdex: []float64{(10 + 2.0/2) / 12, (2 + 4.0/2) / 10, nan, nan},
			// users: per instance the max of its rows, then summed.
			users: []float64{6 + 3, 7, nan, nan}, active: []float64{2 + 0, 4, nan, nan},
			cpu: []float64{(15 + 30) / 2.0, 40, nan, nan}, heap: []float64{150 + 300, 1000, nan, nan},
			ytps: []float64{50.0 / 5, nan, nan, nan}, yusers: []float64{20, nan, nan, nan},
		}},
		{"one 20-s bucket", vals("start", rfc(f.base), "end", rfc(f.base.Add(20*time.Second)), "step", "20"), want{
			step: 20, times: 1,
			tps: []float64{22.0 / 20}, avg: []float64{3150.0 / 22}, errs: []float64{4}, rate: []float64{4.0 / 22},
			apdex: []float64{(12 + 6.0/2) / 22}, users: []float64{6 + 3 + 7}, active: []float64{2 + 0 + 4},
			cpu: []float64{(15 + 30 + 40) / 3.0}, heap: []float64{150 + 300 + 1000}, ytps: []float64{50.0 / 20}, yusers: []float64{20},
		}},
		{"only closed windows count: the last bucket is 7 s long", vals("start", rfc(f.base), "end", rfc(f.base.Add(7*time.Second+time.Millisecond)), "step", "20s"), want{
			// end rounds down to base+5s: only W0 is closed.
			step: 20, times: 1, tps: []float64{12.0 / 5}, avg: []float64{1150.0 / 12}, errs: []float64{1}, rate: []float64{1.0 / 12},
			apdex: []float64{11.0 / 12}, users: []float64{9}, active: []float64{2}, cpu: []float64{22.5}, heap: []float64{450},
			ytps: []float64{10}, yusers: []float64{20},
		}},
		{"a step off the window grid rounds up", vals("start", rfc(f.base), "end", rfc(f.base.Add(10*time.Second)), "step", "7s", "app", "pay"), want{
			step: 10, times: 1, tps: []float64{1}, avg: []float64{200}, errs: []float64{3}, rate: []float64{0.3}, apdex: []float64{0.4},
			users: []float64{7}, active: []float64{4}, cpu: []float64{40}, heap: []float64{1000}, ytps: []float64{nan}, yusers: []float64{nan},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				Step      float64    `json:"step"`
				Times     []int64    `json:"times"`
				TPS       []*float64 `json:"tps"`
				AvgMs     []*float64 `json:"avg_ms"`
				Errors    []*float64 `json:"errors"`
				ErrorRate []*float64 `json:"error_rate"`
				Apdex     []*float64 `json:"apdex"`
				Users     []*float64 `json:"users"`
				Active    []*float64 `json:"active"`
				CPU       []*float64 `json:"cpu_percent"`
				Heap      []*float64 `json:"heap_bytes"`
				Yesterday struct {
					TPS   []*float64 `json:"tps"`
					Users []*float64 `json:"users"`
				} `json:"yesterday"`
			}
			f.mustGet(t, "/api/v1/apm/overview", tc.params, &got)
			w := tc.want
			if got.Step != w.step || len(got.Times) != w.times || got.Times[0] != f.base.UnixMilli() {
				t.Fatalf("step %v times %v", got.Step, got.Times)
			}
			for i := 1; i < len(got.Times); i++ {
				if got.Times[i]-got.Times[i-1] != int64(w.step*1000) {
					t.Errorf("times %v", got.Times)
				}
			}
			for _, s := range []struct {
				name string
				got  []*float64
				want []float64
			}{{"tps", got.TPS, w.tps}, {"avg_ms", got.AvgMs, w.avg}, {"errors", got.Errors, w.errs}, {"error_rate", got.ErrorRate, w.rate},
				{"apdex", got.Apdex, w.apdex}, {"users", got.Users, w.users}, {"active", got.Active, w.active}, {"cpu", got.CPU, w.cpu},
				{"heap", got.Heap, w.heap}, {"yesterday tps", got.Yesterday.TPS, w.ytps}, {"yesterday users", got.Yesterday.Users, w.yusers}} {
				if !sameSeries(s.got, s.want) {
					t.Errorf("%s = %s, want %v", s.name, fmtSeries(s.got), s.want)
				}
			}
		})
	}
}

// A step that does not divide a day: buckets on its multiples since the
// Unix epoch, as the store's, so every window lands in one.
func TestOverviewOddStep(t *testing.T) {
	f := setup(t)
	var got struct {
		Step   float64    `json:"step"`
		Times  []int64    `json:"times"`
		Errors []*float64 `json:"errors"`
	}
	f.mustGet(t, "/api/v1/apm/overview", vals("start", rfc(f.base), "end", rfc(f.base.Add(10*time.Second)), "step", "35s"), &got)
	var errs float64
	for i, ts := range got.Times {
		if ts%35000 != 0 {
			t.Errorf("time %d is not on the 35-s grid", ts)
		}
		if got.Errors[i] != nil {
			errs += *got.Errors[i]
		}
	}
	if got.Step != 35 || errs != 4 || got.Times[0] > f.base.UnixMilli() || got.Times[len(got.Times)-1] < f.base.Add(window).UnixMilli()-35000 {
		t.Errorf("step %v times %v errors %s", got.Step, got.Times, fmtSeries(got.Errors))
	}
}

// sameSeries compares a JSON series (null = NaN) within the API's three
// decimals.
func sameSeries(got []*float64, want []float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i, g := range got {
		if (g == nil) != math.IsNaN(want[i]) || (g != nil && math.Abs(*g-want[i]) > 0.0005) {
			return false
		}
	}
	return true
}

func fmtSeries(s []*float64) string {
	parts := make([]string, len(s))
	for i, v := range s {
		parts[i] = "null"
		if v != nil {
			parts[i] = csvNum(*v)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestApps(t *testing.T) {
	f := setup(t)
	var got []appJSON
	f.mustGet(t, "/api/v1/apm/apps", nil, &got)
	if len(got) != 2 || got[0].App != "pay" || got[1].App != "shop" {
		t.Fatalf("apps %+v", got)
	}
	pay, shop := got[0], got[1]
	if !near(pay.TPS, 10.0/300) || !near(pay.AvgMs, 200) || !near(pay.ErrorRate, 0.3) {
		t.Errorf("pay %+v", pay)
	}
	// shop: W0's three rows and the recent window.
	if !near(shop.TPS, 15.0/300) || !near(shop.AvgMs, 1180.0/15) || !near(shop.ErrorRate, 1.0/15) {
		t.Errorf("shop %+v", shop)
	}
	want := []instanceJSON{
		// From the rollups; the recent window makes shop-1 active.
		{Instance: "shop-1", AgentID: "agent-shop-1", Language: "go", Host: "host-1", Namespace: "prod", Deployment: "shop", Pod: "shop-1-pod", LastSeen: f.recent.UTC(), Active: true},
		// Rollups without agent, language or host, and no tx row either.
		{Instance: "shop-2", Namespace: "prod", Deployment: "shop", Pod: "shop-2-pod", LastSeen: f.base.UTC()},
	}
	if !slices.Equal(shop.Instances, want) {
		t.Errorf("shop instances\n got %+v\nwant %+v", shop.Instances, want)
	}
	// Rollups without agent, language or host: from the newest tx row.
	wantPay := instanceJSON{Instance: "pay-1", AgentID: "agent-pay-1", Language: "go", Host: "host-pay-1", Namespace: "staging", LastSeen: f.base.Add(window).UTC()}
	if len(pay.Instances) != 1 || pay.Instances[0] != wantPay {
		t.Errorf("pay instances %+v, want %+v", pay.Instances, wantPay)
	}
	f.mustGet(t, "/api/v1/apm/apps", vals("namespace", "staging"), &got)
	if len(got) != 1 || got[0].App != "pay" {
		t.Errorf("namespace=staging: %+v", got)
	}
}

func near[T ~float64](got T, want float64) bool { return math.Abs(float64(got)-want) < 0.0005 }

func TestStats(t *testing.T) {
	f := setup(t)
	sel, ins := "SELECT * FROM orders WHERE id = ?", `INSERT INTO "log" (a, b) VALUES (?, ?)`
	selRow := statRowJSON{Key: sel, Count: 20, Errors: 1, SumMs: 350, AvgMs: 17.5, MaxMs: 80, CPUMs: 5, SQLCount: 0, HTTPCCount: 0, Rows: 20}
	insRow := statRowJSON{Key: ins, Count: 2, SumMs: 400, AvgMs: 200, MaxMs: 300, CPUMs: envNaN, Rows: 2}
	delRow := statRowJSON{Key: "DELETE FROM x", Count: 1, SumMs: 1, AvgMs: 1, MaxMs: envNaN, CPUMs: envNaN}
	rng := []string{"start", rfc(f.base), "end", rfc(f.base.Add(2 * time.Minute))}
	cases := []struct {
		name   string
		params url.Values
		want   []statRowJSON
	}{
		{"by total time (default)", vals(append(rng, "kind", "sql")...), []statRowJSON{insRow, selRow, delRow}},
		{"by count", vals(append(rng, "kind", "sql", "sort", "count")...), []statRowJSON{selRow, insRow, delRow}},
		{"by mean", vals(append(rng, "kind", "sql", "sort", "avg_ms")...), []statRowJSON{insRow, selRow, delRow}},
		{"limit", vals(append(rng, "kind", "sql", "sort", "max_ms", "limit", "1")...), []statRowJSON{insRow}},
		{"one instance", vals(append(rng, "kind", "sql", "instance", "shop-2")...), []statRowJSON{{Key: sel, Count: 5, SumMs: 200, AvgMs: 40, MaxMs: 80, CPUMs: envNaN, Rows: 5}}},
		{"first window only", vals("start", rfc(f.base), "end", rfc(f.base.Add(59*time.Second)), "kind", "sql", "app", "shop", "sort", "count"),
			[]statRowJSON{{Key: sel, Count: 15, Errors: 1, SumMs: 300, AvgMs: 20, MaxMs: 80, CPUMs: 5, Rows: 15}, insRow}},
		{"tx", vals(append(rng, "kind", "tx")...), []statRowJSON{
			{Key: "POST /pay", Count: 40, Errors: 4, SumMs: 8000, AvgMs: 200, MaxMs: envNaN, CPUMs: envNaN},
			{Key: "GET /orders/{id}", Count: 100, Errors: 2, SumMs: 5000, AvgMs: 50, MaxMs: envNaN, CPUMs: envNaN, SQLCount: 200}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				Kind string           `json:"kind"`
				Rows []map[string]any `json:"rows"`
			}
			f.mustGet(t, "/api/v1/apm/stats", tc.params, &got)
			if got.Kind != cmp.Or(tc.params.Get("kind"), "tx") || !sameStatRows(got.Rows, tc.want) {
				t.Errorf("%s:\n got %+v\nwant %+v", got.Kind, got.Rows, tc.want)
			}
		})
	}

	resp := f.raw(t, 1, "/api/v1/apm/stats", vals(append(rng, "kind", "sql", "format", "csv")...))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	recs, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
	if err != nil {
		t.Fatalf("csv: %v\n%s", err, body)
	}
	wantCSV := [][]string{
		{"key", "count", "errors", "sum_ms", "avg_ms", "max_ms", "cpu_ms", "sql_count", "httpc_count", "rows"},
		{ins, "2", "0", "400", "200", "300", "", "0", "0", "2"},
		{sel, "20", "1", "350", "17.5", "80", "5", "0", "0", "20"},
		{"DELETE FROM x", "1", "0", "1", "1", "", "", "0", "0", "0"},
	}
	if !slices.EqualFunc(recs, wantCSV, slices.Equal) {
		t.Errorf("csv:\n%q\nwant\n%q", recs, wantCSV)
	}
}

var envNaN = envelope.Num(math.NaN())

// sameStatRows compares decoded JSON rows with the wanted ones: NaN is
// null, figures within the API's three decimals.
func sameStatRows(got []map[string]any, want []statRowJSON) bool {
	return slices.EqualFunc(got, want, func(g map[string]any, w statRowJSON) bool {
		if g["key"] != w.Key {
			return false
		}
		for i, v := range w.values() {
			x, ok := g[statColumns[i]].(float64)
			if math.IsNaN(float64(v)) {
				if g[statColumns[i]] != nil {
					return false
				}
			} else if !ok || math.Abs(x-float64(v)) > 0.0005 {
				return false
			}
		}
		return true
	})
}

func TestServiceMap(t *testing.T) {
	f := setup(t)
	var got struct {
		Nodes []mapNodeJSON `json:"nodes"`
		Edges []mapEdgeJSON `json:"edges"`
	}
	secs := 120.0
	f.mustGet(t, "/api/v1/apm/servicemap", vals("start", rfc(f.base), "end", rfc(f.base.Add(time.Duration(secs)*time.Second))), &got)
	type node struct {
		id, name, kind string
		count, errs    float64
		avg            float64
	}
	wantNodes := []node{
		{"app:pay", "pay", "app", 40, 4, 200},
		{"app:shop", "shop", "app", 100, 2, 50},
		{"db:mysql://db.svc:3306", "mysql://db.svc:3306", "db", 50, 0, 5},
		{"db:postgresql://pg:5432", "postgresql://pg:5432", "db", 12, 0, 2},
		{"external:https://api.stripe.com:443", "https://api.stripe.com:443", "external", 4, 0, 100},
		{"queue:kafka:audit", "kafka:audit", "queue", 3, 0, 1},
		// A queue is its own node even though pay consumes it.
		{"queue:nats:payments.requested", "nats:payments.requested", "queue", 7, 0, 1},
	}
	if len(got.Nodes) != len(wantNodes) {
		t.Fatalf("nodes %+v", got.Nodes)
	}
	for i, w := range wantNodes {
		n := got.Nodes[i]
		if n.ID != w.id || n.Name != w.name || n.Kind != w.kind || !near(n.Count, w.count) || !near(n.Errors, w.errs) || !near(n.AvgMs, w.avg) {
			t.Errorf("node %d = %+v, want %+v", i, n, w)
		}
	}
	type edge struct {
		from, to    string
		count, errs float64
		avg         float64
	}
	wantEdges := []edge{
		{"app:pay", "db:postgresql://pg:5432", 12, 0, 2},
		{"app:pay", "queue:kafka:audit", 3, 0, 1},
		// http://pay.svc:8080 leads to pay, which is reached at
		// pay.svc:8080; nats:payments.requested goes through its queue
		// node to pay, which consumes it.
		{"app:shop", "app:pay", 30, 3, 20},
		{"app:shop", "db:mysql://db.svc:3306", 50, 0, 5},
		{"app:shop", "external:https://api.stripe.com:443", 4, 0, 100},
		{"app:shop", "queue:nats:payments.requested", 7, 0, 1},
		{"queue:nats:payments.requested", "app:pay", 7, 0, 0},
	}
	if len(got.Edges) != len(wantEdges) {
		t.Fatalf("edges %+v", got.Edges)
	}
	for i, w := range wantEdges {
		e := got.Edges[i]
		if e.From != w.from || e.To != w.to || !near(e.Count, w.count) || !near(e.Errors, w.errs) || !near(e.AvgMs, w.avg) || !near(e.RPS, w.count/secs) {
			t.Errorf("edge %d = %+v, want %+v", i, e, w)
		}
	}
}

func TestTargetKind(t *testing.T) {
	for key, want := range map[string]string{
		"mysql://db:3306": "db", "postgresql://pg:5432": "db", "redis://cache:6379": "db", "MongoDB://m:27017": "db",
		"nats:orders.created": "queue", "kafka:audit": "queue", "amqp://rabbit:5672": "queue",
		"http://api:80": "external", "https://x.example:443": "external", "grpc://svc:9000": "external", "weird": "external",
	} {
		if got := targetKind(key); got != want {
			t.Errorf("targetKind(%q) = %s, want %s", key, got, want)
		}
	}
	for out, want := range map[string]string{
		"http://pay.svc:8080": "pay.svc:8080", "https://a:443/v1/x": "a:443", "nats:subj": "nats:subj", "mysql://db:3306": "db:3306",
	} {
		if got := inKeyOf(out); got != want {
			t.Errorf("inKeyOf(%q) = %s, want %s", out, got, want)
		}
	}
}
