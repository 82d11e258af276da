package logs

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/authn"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

type envelopeJSON struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	Error     string          `json:"error"`
	ErrorType string          `json:"errorType"`
}

type fixture struct {
	srv  *httptest.Server
	es   *event.Store
	now  time.Time
	base time.Time // first api line
}

func logRow(ts time.Time, msg string, kv ...string) event.Row {
	r := event.Row{Time: ts, Fields: []event.Field{{Name: "type", Value: "log"}, {Name: "_msg", Value: msg}}}
	for i := 0; i+1 < len(kv); i += 2 {
		r.Fields = append(r.Fields, event.Field{Name: kv[i], Value: kv[i+1]})
	}
	return r
}

// setup stores, for project 1, rows shaped like internal/eventrow's:
//   - 100 api access lines, one per 10 s from base (now-30m, whole
//     minute): agent a1, file /var/log/api.log, level error for every 10th
//     (status 500) else info (200), duration i ms;
//   - 30 payments lines at base+5s+i*20s: agent a2, level warn;
//   - 20 "disk full" error lines in the last minute (a new, spiking
//     pattern), agent a1, category system;
//   - a span, which no log endpoint may show.
//
// Project 2 has one line.
func setup(t *testing.T) *fixture {
	t.Helper()
	es, err := event.Open(context.Background(), event.Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = es.Close() })
	now := time.Now()
	base := now.Add(-30 * time.Minute).Truncate(time.Minute)
	var rows []event.Row
	for i := range 100 {
		lvl, status := "info", "200"
		if i%10 == 0 {
			lvl, status = "error", "500"
		}
		rows = append(rows, logRow(base.Add(time.Duration(i)*10*time.Second),
			fmt.Sprintf("GET /users/%d completed in %dms status=%s", i, i, status),
			"level", lvl, "category", "api", "service.name", "api", "agent.id", "a1", "agent.name", "host-1",
			"log.file.path", "/var/log/api.log", "http.response.status_code", status,
			"http.server.request.duration", strconv.Itoa(i), "seq.i", strconv.Itoa(i)))
	}
	for i := range 30 {
		rows = append(rows, logRow(base.Add(5*time.Second+time.Duration(i)*20*time.Second),
			fmt.Sprintf("payment %x declined: insufficient funds", 0xabc0000+i),
			"level", "warn", "category", "payments", "service.name", "payments", "agent.id", "a2", "agent.name", "host-2",
			"log.file.path", "/var/log/pay.log"))
	}
	for i := range 20 {
		rows = append(rows, logRow(now.Add(-50*time.Second+time.Duration(i)*time.Second),
			fmt.Sprintf("disk full on /dev/sda%d", i),
			"level", "error", "category", "system", "service.name", "api", "agent.id", "a1", "agent.name", "host-1",
			"log.file.path", "/var/log/syslog"))
	}
	rows = append(rows, event.Row{Time: now.Add(-time.Minute), Fields: []event.Field{{Name: "type", Value: "span"}, {Name: "_msg", Value: "GET /users/1 completed"}, {Name: "category", Value: "api"}}})
	if _, rej, err := es.Add(context.Background(), 1, rows); err != nil || rej != 0 {
		t.Fatalf("Add: %d rejected, %v", rej, err)
	}
	if _, _, err := es.Add(context.Background(), 2, []event.Row{logRow(now.Add(-time.Minute), "secret of project 2", "level", "info", "category", "secret")}); err != nil {
		t.Fatal(err)
	}
	es.Flush()

	h := &handler{es: es, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: func() time.Time { return now }, pageRows: 7}
	mux := h.routes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Stands in for authn.Require: X-Test-Project picks the project.
		if p, err := strconv.ParseInt(r.Header.Get("X-Test-Project"), 10, 64); err == nil {
			r = r.WithContext(authn.NewContext(r.Context(), authn.Identity{
				User: meta.User{ID: 1, Name: "viewer"}, Project: meta.Project{ID: p}, Role: meta.RoleViewer}))
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, es: es, now: now, base: base}
}

func (f *fixture) raw(t *testing.T, project int, path string, params url.Values) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL+path+"?"+params.Encode(), nil)
	if project > 0 {
		req.Header.Set("X-Test-Project", strconv.Itoa(project))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// get calls path for project and decodes the envelope's data into out when
// the answer is 200.
func (f *fixture) get(t *testing.T, project int, path string, params url.Values, out any) (int, envelopeJSON) {
	t.Helper()
	resp := f.raw(t, project, path, params)
	var env envelopeJSON
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			t.Fatalf("decode %s data: %v\n%s", path, err, env.Data)
		}
	}
	return resp.StatusCode, env
}

func (f *fixture) mustGet(t *testing.T, path string, params url.Values, out any) {
	t.Helper()
	if code, env := f.get(t, 1, path, params, out); code != http.StatusOK {
		t.Fatalf("%s?%s: %d %s", path, params.Encode(), code, env.Error)
	}
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

var endpoints = []string{
	"/api/v1/logs/search", "/api/v1/logs/histogram", "/api/v1/logs/categories", "/api/v1/logs/fields",
	"/api/v1/logs/fields/level/values", "/api/v1/logs/context", "/api/v1/logs/patterns", "/api/v1/logs/export", "/api/v1/logs/stats",
}

func TestUnauthenticated(t *testing.T) {
	f := setup(t)
	for _, p := range endpoints {
		if code, env := f.get(t, 0, p, nil, nil); code != http.StatusUnauthorized || env.ErrorType != "unauthorized" {
			t.Errorf("%s without identity: %d %+v", p, code, env)
		}
	}
	if code, _ := f.get(t, 1, "/api/v1/logs/nope", nil, nil); code != http.StatusNotFound {
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
		{"/api/v1/logs/search", vals("start", "yesterday-ish"), "invalid start"},
		{"/api/v1/logs/search", vals("start", "-1h", "end", "-2h"), "start must not be after end"},
		{"/api/v1/logs/search", vals("filter", "novalue"), "invalid filter"},
		{"/api/v1/logs/search", vals("limit", "-3"), "limit"},
		{"/api/v1/logs/search", vals("q", `"open`), "unterminated quote"},
		{"/api/v1/logs/search", vals("cursor", "!!"), "invalid cursor"},
		{"/api/v1/logs/histogram", vals("step", "fast"), "invalid step"},
		{"/api/v1/logs/histogram", vals("step", "10ms"), "at least 1s"},
		{"/api/v1/logs/histogram", vals("step", "1s", "start", "-30d"), "buckets"},
		{"/api/v1/logs/histogram", vals("by", `level" | delete`), "field name"},
		{"/api/v1/logs/histogram", vals("by", "level", "top", "0"), "top"},
		{"/api/v1/logs/fields/a%20b/values", nil, "field name"},
		{"/api/v1/logs/fields/_time/values", nil, "_time"},
		{"/api/v1/logs/context", vals("agent", "a1"), "time"},
		{"/api/v1/logs/context", vals("time", "2024-01-01T00:00:00Z"), "source"},
		{"/api/v1/logs/context", vals("time", "2024-01-01T00:00:00Z", "agent", "a1", "before", "9999"), "before"},
		{"/api/v1/logs/patterns", vals("sample", "0"), "sample"},
		{"/api/v1/logs/export", vals("format", "xml"), "format"},
		{"/api/v1/logs/stats", vals("fn", "median"), "fn"},
		{"/api/v1/logs/stats", vals("fn", "avg"), "needs a numeric field"},
		{"/api/v1/logs/stats", vals("fn", "avg", "field", "x y"), "field name"},
		{"/api/v1/logs/stats", vals("by", "a,b,c,d"), "by fields"},
	}
	for _, c := range cases {
		code, env := f.get(t, 1, c.path, c.params, nil)
		if code != http.StatusBadRequest || env.ErrorType != "bad_data" || !strings.Contains(env.Error, c.want) {
			t.Errorf("%s?%s: %d %q, want 400 containing %q", c.path, c.params.Encode(), code, env.Error, c.want)
		}
	}
}

func msgsOf(recs []event.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r["_msg"])
	}
	return out
}

func TestSearch(t *testing.T) {
	f := setup(t)
	var res searchJSON
	f.mustGet(t, "/api/v1/logs/search", vals("limit", "3"), &res)
	// Newest first; logs only (the span is not a log).
	if got := msgsOf(res.Records); !slices.Equal(got, []string{"disk full on /dev/sda19", "disk full on /dev/sda18", "disk full on /dev/sda17"}) || res.NextCursor == "" {
		t.Fatalf("first page %q cursor %q", got, res.NextCursor)
	}
	total := 0
	params := vals("limit", "40")
	for {
		var page searchJSON
		f.mustGet(t, "/api/v1/logs/search", params, &page)
		for _, r := range page.Records {
			if r["type"] != "log" {
				t.Fatalf("non-log row %v", r)
			}
		}
		total += len(page.Records)
		if page.NextCursor == "" {
			break
		}
		params.Set("cursor", page.NextCursor)
	}
	if total != 150 {
		t.Fatalf("paged through %d lines, want 150", total)
	}
	cases := []struct {
		params url.Values
		want   int
	}{
		{vals("level", "error"), 30},
		{vals("level", "error", "level", "warn"), 60},
		{vals("category", "payments", "category", "system"), 50},
		{vals("category", "api", "level", "error"), 10},
		{vals("q", "declined"), 30},
		{vals("q", `"insufficient funds" declined`), 30},
		{vals("filter", "agent.id=a2"), 30},
		{vals("filter", "agent.id!=a2", "filter", "_msg~sda1"), 11},
		{vals("filter", "log.file.path!~api"), 50},
		{vals("start", f.base.Add(-time.Second).Format(time.RFC3339Nano), "end", f.base.Add(5*time.Second).Format(time.RFC3339Nano)), 2},
	}
	for _, c := range cases {
		c.params.Set("limit", "1000")
		var res searchJSON
		f.mustGet(t, "/api/v1/logs/search", c.params, &res)
		if len(res.Records) != c.want {
			t.Errorf("%s: %d lines, want %d", c.params.Encode(), len(res.Records), c.want)
		}
	}
	// Project 2 sees its own line only.
	if code, env := f.get(t, 2, "/api/v1/logs/search", nil, &res); code != 200 || !slices.Equal(msgsOf(res.Records), []string{"secret of project 2"}) {
		t.Fatalf("project 2: %d %s %q", code, env.Error, msgsOf(res.Records))
	}
}

func sumCounts(b []bucketJSON) (n uint64) {
	for _, x := range b {
		n += x.Count
	}
	return n
}

func TestHistogram(t *testing.T) {
	f := setup(t)
	var h histogramJSON
	f.mustGet(t, "/api/v1/logs/histogram", nil, &h)
	// The default hour at ≈120 buckets is 30 s steps, aligned.
	if h.Step != 30 || len(h.Buckets) < 120 || len(h.Buckets) > 121 || sumCounts(h.Buckets) != 150 {
		t.Fatalf("step %v, %d buckets, %d lines", h.Step, len(h.Buckets), sumCounts(h.Buckets))
	}
	for i, b := range h.Buckets {
		if b.Time.Unix()%30 != 0 || (i > 0 && b.Time.Sub(h.Buckets[i-1].Time) != 30*time.Second) {
			t.Fatalf("bucket %d at %s", i, b.Time)
		}
	}
	f.mustGet(t, "/api/v1/logs/histogram", vals("step", "5m", "level", "error"), &h)
	if h.Step != 300 || sumCounts(h.Buckets) != 30 {
		t.Fatalf("errors by 5m: step %v, %d lines", h.Step, sumCounts(h.Buckets))
	}
	var by histogramJSON
	f.mustGet(t, "/api/v1/logs/histogram", vals("step", "60", "by", "level", "top", "2"), &by)
	if len(by.Buckets) != 0 || len(by.Series) != 3 || sumCounts(by.Series["info"]) != 90 ||
		sumCounts(by.Series["error"]) != 30 || sumCounts(by.Series["other"]) != 30 {
		t.Fatalf("by level: %+v", by.Series)
	}
	var p2 histogramJSON
	f.get(t, 2, "/api/v1/logs/histogram", nil, &p2)
	if sumCounts(p2.Buckets) != 1 {
		t.Fatalf("project 2 counts %d", sumCounts(p2.Buckets))
	}
}

func TestCategoriesFieldsValues(t *testing.T) {
	f := setup(t)
	var cats []categoryJSON
	f.mustGet(t, "/api/v1/logs/categories", nil, &cats)
	if want := []categoryJSON{{"api", 100}, {"payments", 30}, {"system", 20}}; !slices.Equal(cats, want) {
		t.Fatalf("categories %v, want %v", cats, want)
	}
	f.mustGet(t, "/api/v1/logs/categories", vals("q", "declined"), &cats)
	if want := []categoryJSON{{"payments", 30}}; !slices.Equal(cats, want) {
		t.Fatalf("categories of declined %v", cats)
	}

	var fields []fieldJSON
	f.mustGet(t, "/api/v1/logs/fields", vals("filter", "agent.id=a2"), &fields)
	var names []string
	for _, x := range fields {
		names = append(names, x.Field)
		if x.Count != 30 {
			t.Errorf("field %s count %d", x.Field, x.Count)
		}
	}
	slices.Sort(names)
	if want := []string{"_msg", "agent.id", "agent.name", "category", "level", "log.file.path", "service.name", "type"}; !slices.Equal(names, want) {
		t.Fatalf("fields %q, want %q", names, want)
	}

	var v valuesJSON
	f.mustGet(t, "/api/v1/logs/fields/level/values", vals("limit", "2"), &v)
	if want := []valueJSON{{"info", 90}, {"error", 30}}; v.Total != 150 || !slices.Equal(v.Values, want) {
		t.Fatalf("level values %+v", v)
	}
	f.mustGet(t, "/api/v1/logs/fields/http.response.status_code/values", nil, &v)
	if want := []valueJSON{{"200", 90}, {"500", 10}}; v.Total != 150 || !slices.Equal(v.Values, want) {
		t.Fatalf("status values %+v", v)
	}
	f.get(t, 2, "/api/v1/logs/categories", nil, &cats)
	if want := []categoryJSON{{"secret", 1}}; !slices.Equal(cats, want) {
		t.Fatalf("project 2 categories %v", cats)
	}
}

func TestContext(t *testing.T) {
	f := setup(t)
	// Same-instant neighbours: two more lines of the api file at line 50's time.
	hitAt := f.base.Add(500 * time.Second)
	if _, _, err := f.es.Add(context.Background(), 1, []event.Row{
		logRow(hitAt, "same instant A", "agent.id", "a1", "log.file.path", "/var/log/api.log"),
		logRow(hitAt, "same instant B", "agent.id", "a1", "log.file.path", "/var/log/api.log"),
	}); err != nil {
		t.Fatal(err)
	}
	f.es.Flush()
	var c contextJSON
	f.mustGet(t, "/api/v1/logs/context", vals("time", hitAt.Format(time.RFC3339Nano), "agent", "a1", "file", "/var/log/api.log", "before", "3", "after", "4"), &c)
	if got, want := msgsOf(c.Before), []string{"GET /users/47 completed in 47ms status=200", "GET /users/48 completed in 48ms status=200", "GET /users/49 completed in 49ms status=200"}; !slices.Equal(got, want) {
		t.Fatalf("before %q, want %q", got, want)
	}
	if c.Hit["_msg"] != "GET /users/50 completed in 50ms status=500" {
		t.Fatalf("hit %v", c.Hit)
	}
	if got, want := msgsOf(c.After), []string{"same instant A", "same instant B", "GET /users/51 completed in 51ms status=200", "GET /users/52 completed in 52ms status=200"}; !slices.Equal(got, want) {
		t.Fatalf("after %q, want %q", got, want)
	}
	// By service: payments lines interleave in time but are another source.
	f.mustGet(t, "/api/v1/logs/context", vals("time", f.base.Add(5*time.Second).Format(time.RFC3339Nano), "service", "payments", "before", "5", "after", "2"), &c)
	if len(c.Before) != 0 || !strings.HasPrefix(c.Hit["_msg"], "payment abc0000 ") || len(c.After) != 2 || !strings.HasPrefix(c.After[1]["_msg"], "payment abc0002 ") {
		t.Fatalf("payments context: before %q hit %v after %q", msgsOf(c.Before), c.Hit, msgsOf(c.After))
	}
	// No line at that instant: neighbours, and a null hit.
	f.mustGet(t, "/api/v1/logs/context", vals("time", f.base.Add(time.Second).Format(time.RFC3339Nano), "agent", "a1", "file", "/var/log/api.log", "before", "2", "after", "1"), &c)
	if c.Hit != nil || len(c.Before) != 1 || len(c.After) != 1 || c.After[0]["seq.i"] != "1" {
		t.Fatalf("between lines: before %q hit %v after %q", msgsOf(c.Before), c.Hit, msgsOf(c.After))
	}
	// Another project cannot see project 1's neighbours.
	f.get(t, 2, "/api/v1/logs/context", vals("time", hitAt.Format(time.RFC3339Nano), "agent", "a1"), &c)
	if c.Hit != nil || len(c.Before)+len(c.After) != 0 {
		t.Fatalf("project 2 context: %+v", c)
	}
}

func TestPatterns(t *testing.T) {
	f := setup(t)
	var p patternsJSON
	f.mustGet(t, "/api/v1/logs/patterns", nil, &p)
	if p.Sampled != 150 || p.Total != 150 || p.Partial || !p.CoveredFrom.Equal(f.now.Add(-time.Hour)) {
		t.Fatalf("sampled %d total %d partial %v covered %s", p.Sampled, p.Total, p.Partial, p.CoveredFrom)
	}
	type want struct {
		template string
		count    int
		levels   levelCounts
		new      bool
		spike    bool
	}
	wants := []want{
		{"GET <*> completed in <*> status=<*>", 100, levelCounts{"info": 90, "error": 10}, false, false},
		{"payment <*> declined: insufficient funds", 30, levelCounts{"warn": 30}, false, false},
		{"disk full on <*>", 20, levelCounts{"error": 20}, true, true},
	}
	if len(p.Patterns) != len(wants) {
		t.Fatalf("%d patterns: %+v", len(p.Patterns), p.Patterns)
	}
	for i, w := range wants {
		got := p.Patterns[i]
		if got.Template != w.template || got.Count != w.count || got.New != w.new || got.Spike != w.spike ||
			fmt.Sprint(got.Levels) != fmt.Sprint(w.levels) {
			t.Errorf("pattern %d = %+v, want %+v", i, got, w)
		}
		if d := float64(got.Share) - float64(w.count)/150; d > 0.001 || d < -0.001 {
			t.Errorf("pattern %d share %v", i, got.Share)
		}
		if sumCounts(got.Series) != uint64(w.count) || got.Sample == "" || got.FirstSeen.After(got.LastSeen) {
			t.Errorf("pattern %d series/sample/seen: %d %q %s %s", i, sumCounts(got.Series), got.Sample, got.FirstSeen, got.LastSeen)
		}
	}
	if p.Step != 60 || len(p.Patterns[0].Series) < 60 {
		t.Fatalf("step %v, %d points", p.Step, len(p.Patterns[0].Series))
	}
	// A sample smaller than the matches covers only the newest lines.
	f.mustGet(t, "/api/v1/logs/patterns", vals("sample", "10", "limit", "5"), &p)
	if p.Sampled != 10 || p.Total != 150 || len(p.Patterns) != 1 || p.Patterns[0].Template != "disk full on <*>" ||
		!p.CoveredFrom.After(f.now.Add(-time.Minute)) {
		t.Fatalf("small sample: %+v", p)
	}
	// JSON bodies cluster on their msg field.
	if _, _, err := f.es.Add(context.Background(), 3, []event.Row{
		logRow(f.now.Add(-time.Minute), `{"msg":"job 1 done","level":"info"}`, "msg", "job 1 done"),
		logRow(f.now.Add(-time.Minute), `{"msg":"job 2 done","level":"info"}`, "msg", "job 2 done"),
	}); err != nil {
		t.Fatal(err)
	}
	f.es.Flush()
	f.get(t, 3, "/api/v1/logs/patterns", nil, &p)
	if len(p.Patterns) != 1 || p.Patterns[0].Template != "job <*> done" {
		t.Fatalf("JSON bodies: %+v", p.Patterns)
	}
}

func TestExport(t *testing.T) {
	f := setup(t)
	resp := f.raw(t, 1, "/api/v1/logs/export", vals("level", "warn", "level", "error"))
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="osprey-logs-`) {
		t.Fatalf("ndjson: %d %v", resp.StatusCode, resp.Header)
	}
	sc := bufio.NewScanner(resp.Body)
	var lines []event.Record
	for sc.Scan() {
		var r event.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("stream did not end cleanly: %v", err)
	}
	// 60 lines over pages of 7, newest first, no duplicates.
	if len(lines) != 60 || lines[0]["_msg"] != "disk full on /dev/sda19" {
		t.Fatalf("%d lines, first %v", len(lines), lines[0])
	}
	seen := map[string]bool{}
	for i, r := range lines {
		if seen[r["_msg"]] {
			t.Fatalf("duplicate %q", r["_msg"])
		}
		seen[r["_msg"]] = true
		if i > 0 && r["_time"] > lines[i-1]["_time"] {
			t.Fatalf("not newest first at %d", i)
		}
	}

	resp = f.raw(t, 1, "/api/v1/logs/export", vals("format", "csv", "category", "payments", "limit", "12", "fields", "agent.id,level"))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %v", resp.StatusCode, resp.Header)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"_time", "level", "category", "agent.name", "service.name", "_msg", "agent.id"}; !slices.Equal(recs[0], want) {
		t.Fatalf("header %q, want %q", recs[0], want)
	}
	if len(recs) != 13 || recs[1][1] != "warn" || recs[1][2] != "payments" || recs[1][3] != "host-2" || recs[1][6] != "a2" ||
		!strings.HasPrefix(recs[1][5], "payment abc001d ") {
		t.Fatalf("%d rows, first %q", len(recs), recs[1])
	}
	// Nothing matching: a well-formed empty file.
	resp = f.raw(t, 1, "/api/v1/logs/export", vals("q", "zzznothing"))
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || len(b) != 0 {
		t.Fatalf("empty export: %d %q", resp.StatusCode, b)
	}
	// Another project's export holds only its line.
	resp = f.raw(t, 2, "/api/v1/logs/export", nil)
	if b, _ := io.ReadAll(resp.Body); strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), "secret of project 2") {
		t.Fatalf("project 2 export %q", b)
	}
}

func TestStats(t *testing.T) {
	f := setup(t)
	// Decoded with pointers, since empty buckets are null.
	var s struct {
		Step   float64
		Fn     string
		Series map[string][]struct{ Value *float64 }
		Rows   map[string]uint64
	}
	f.mustGet(t, "/api/v1/logs/stats", vals("fn", "max", "field", "http.server.request.duration", "by", "level", "step", "10m", "category", "api"), &s)
	if s.Step != 600 || s.Fn != "max" || len(s.Series) != 2 || s.Rows["info"] != 90 || s.Rows["error"] != 10 {
		t.Fatalf("stats: %+v", s)
	}
	info, errs := s.Series["info"], s.Series["error"]
	var maxInfo, maxErr float64
	nulls := 0
	for i := range info {
		if v := info[i].Value; v != nil {
			maxInfo = max(maxInfo, *v)
		} else {
			nulls++
		}
		if v := errs[i].Value; v != nil {
			maxErr = max(maxErr, *v)
		}
	}
	if maxInfo != 99 || maxErr != 90 || nulls == 0 {
		t.Fatalf("max info %v, max error %v, %d empty buckets", maxInfo, maxErr, nulls)
	}
	// Empty buckets are null in JSON, not NaN (which JSON cannot carry).
	resp := f.raw(t, 1, "/api/v1/logs/stats", vals("fn", "avg", "field", "http.server.request.duration", "step", "10m"))
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), `"value":null`) || strings.Contains(string(b), "NaN") {
		t.Fatalf("avg body %s", b)
	}
	var c statsJSON
	f.mustGet(t, "/api/v1/logs/stats", nil, &c)
	if c.Fn != "count" || len(c.Series) != 1 || c.Rows[""] != 150 {
		t.Fatalf("default count: %+v", c)
	}
	// Several by fields key a series by their values joined.
	// a1/error (10 api + 20 disk lines) and a2/warn tie at 30; ties go by key.
	c = statsJSON{}
	f.mustGet(t, "/api/v1/logs/stats", vals("by", "agent.id,level", "top", "2"), &c)
	if len(c.Series) != 2 || c.Rows["a1, info"] != 90 || c.Rows["a1, error"] != 30 {
		t.Fatalf("by two fields: %v", c.Rows)
	}
}
