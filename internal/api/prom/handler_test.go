package prom

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/osprey-monitoring/osprey/internal/store/metric"
)

// projectHeader stands in for the caller's auth middleware in tests.
func projectHeader(r *http.Request) (int64, bool) {
	p, err := strconv.ParseInt(r.Header.Get("X-Test-Project"), 10, 64)
	return p, err == nil
}

type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

type fixture struct {
	store *metric.Store
	srv   *httptest.Server
	now   time.Time
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	s, err := metric.Open(context.Background(), metric.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	srv := httptest.NewServer(NewHandler(s, projectHeader, opts))
	t.Cleanup(srv.Close)
	return &fixture{store: s, srv: srv, now: time.Now().Truncate(time.Second)}
}

// call does a GET (or a form POST when post is set) for project and decodes
// the Prometheus envelope.
func (f *fixture) call(t *testing.T, project int64, post bool, path string, params url.Values) (int, apiResponse) {
	t.Helper()
	var req *http.Request
	var err error
	if post {
		req, err = http.NewRequest(http.MethodPost, f.srv.URL+path, strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(http.MethodGet, f.srv.URL+path+"?"+params.Encode(), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if project != 0 {
		req.Header.Set("X-Test-Project", strconv.FormatInt(project, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out apiResponse
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("%s: not JSON (%d): %s", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: content type %q", path, ct)
	}
	return resp.StatusCode, out
}

func (f *fixture) ok(t *testing.T, project int64, path string, params url.Values, into any) {
	t.Helper()
	for _, post := range []bool{false, true} {
		code, resp := f.call(t, project, post, path, params)
		if code != http.StatusOK || resp.Status != "success" {
			t.Fatalf("%s %v (post=%v): %d %+v", path, params, post, code, resp)
		}
		if err := json.Unmarshal(resp.Data, into); err != nil {
			t.Fatalf("%s: decode data %s: %v", path, resp.Data, err)
		}
	}
}

type vectorResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Value  [2]any            `json:"value"`
	} `json:"result"`
}

type matrixResult struct {
	ResultType string `json:"resultType"`
	Result     []struct {
		Metric map[string]string `json:"metric"`
		Values [][2]any          `json:"values"`
	} `json:"result"`
}

// hostReport is one agent's OTLP report with a sum, a gauge and a histogram.
func hostReport(agent string, ts time.Time, cpu float64) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("osprey.agent.id", agent)
	rm.Resource().Attributes().PutStr("host.name", "host-"+agent)
	sm := rm.ScopeMetrics().AppendEmpty()
	pts := pcommon.NewTimestampFromTime(ts)

	m := sm.Metrics().AppendEmpty()
	m.SetName("system.cpu.time")
	m.SetUnit("s")
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sum.DataPoints().AppendEmpty()
	dp.Attributes().PutStr("state", "user")
	dp.SetTimestamp(pts)
	dp.SetDoubleValue(cpu)

	m = sm.Metrics().AppendEmpty()
	m.SetName("system.memory.usage")
	m.SetUnit("By")
	dp = m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.Attributes().PutStr("state", "used")
	dp.SetTimestamp(pts)
	dp.SetIntValue(2048)

	m = sm.Metrics().AppendEmpty()
	m.SetName("http.server.request.duration")
	m.SetUnit("s")
	h := m.SetEmptyHistogram()
	h.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hdp := h.DataPoints().AppendEmpty()
	hdp.SetTimestamp(pts)
	hdp.ExplicitBounds().FromRaw([]float64{0.1, 0.5, 1})
	hdp.BucketCounts().FromRaw([]uint64{50, 30, 10, 10})
	hdp.SetCount(100)
	hdp.SetSum(42)
	return md
}

func TestOTLPQueriedThroughAPI(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	// Two reports a minute apart so rate() has something to work with.
	for i, cpu := range []float64{100, 160} {
		ts := f.now.Add(time.Duration(i-1) * time.Minute)
		if res, err := f.store.AppendOTLP(ctx, 1, hostReport("a1", ts, cpu)); err != nil || res.Rejected != 0 {
			t.Fatalf("append: %+v %v", res, err)
		}
	}
	at := strconv.FormatInt(f.now.Unix(), 10)

	tests := []struct {
		query string
		want  string
		label [2]string
	}{
		{`system_cpu_time_seconds_total`, "160", [2]string{"osprey_agent_id", "a1"}},
		{`irate(system_cpu_time_seconds_total[5m])`, "1", [2]string{"host_name", "host-a1"}},
		{`system_memory_usage_bytes{state="used"}`, "2048", [2]string{"state", "used"}},
		{`histogram_quantile(0.5, rate(http_server_request_duration_seconds_bucket[5m]))`, "NaN", [2]string{}},
		{`histogram_quantile(0.5, http_server_request_duration_seconds_bucket)`, "0.1", [2]string{}},
		{`http_server_request_duration_seconds_sum / http_server_request_duration_seconds_count`, "0.42", [2]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			var v vectorResult
			f.ok(t, 1, "/api/v1/query", url.Values{"query": {tc.query}, "time": {at}}, &v)
			if v.ResultType != "vector" || len(v.Result) != 1 {
				t.Fatalf("result %+v", v)
			}
			if got := v.Result[0].Value[1]; got != tc.want {
				t.Errorf("value %v, want %s", got, tc.want)
			}
			if tc.label[0] != "" && v.Result[0].Metric[tc.label[0]] != tc.label[1] {
				t.Errorf("labels %v, want %s=%s", v.Result[0].Metric, tc.label[0], tc.label[1])
			}
			if _, leaked := v.Result[0].Metric[metric.ProjectLabel]; leaked {
				t.Errorf("project label in result: %v", v.Result[0].Metric)
			}
		})
	}

	var m matrixResult
	f.ok(t, 1, "/api/v1/query_range", url.Values{
		"query": {"system_memory_usage_bytes"},
		"start": {f.now.Add(-2 * time.Minute).Format(time.RFC3339)},
		"end":   {at},
		"step":  {"30s"},
	}, &m)
	if m.ResultType != "matrix" || len(m.Result) != 1 || len(m.Result[0].Values) != 3 {
		t.Fatalf("range result %+v", m)
	}
}

func TestRemoteWriteQueriedThroughAPI(t *testing.T) {
	f := newFixture(t, Options{})
	var samples []prompb.Sample
	for i := range 10 {
		samples = append(samples, prompb.Sample{Timestamp: f.now.Add(time.Duration(i-9) * 15 * time.Second).UnixMilli(), Value: float64(i)})
	}
	req := &prompb.WriteRequest{Timeseries: []prompb.TimeSeries{{
		Labels:  []prompb.Label{{Name: "__name__", Value: "rw_up"}, {Name: "job", Value: "node"}},
		Samples: samples,
	}}}
	res, err := f.store.AppendRemoteWrite(context.Background(), 5, req)
	if err != nil || res.Accepted != 10 {
		t.Fatalf("append: %+v %v", res, err)
	}
	var m matrixResult
	f.ok(t, 5, "/api/v1/query_range", url.Values{
		"query": {`rw_up{job="node"}`},
		"start": {strconv.FormatInt(f.now.Add(-135*time.Second).Unix(), 10)},
		"end":   {strconv.FormatInt(f.now.Unix(), 10)},
		"step":  {"15"},
	}, &m)
	if len(m.Result) != 1 || len(m.Result[0].Values) != 10 || m.Result[0].Values[9][1] != "9" {
		t.Fatalf("range result %+v", m)
	}
	var series []map[string]string
	f.ok(t, 5, "/api/v1/series", url.Values{"match[]": {"rw_up"}}, &series)
	if len(series) != 1 || series[0]["job"] != "node" || len(series[0]) != 2 {
		t.Fatalf("series %v", series)
	}
}

func TestProjectIsolation(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	if _, err := f.store.AppendOTLP(ctx, 1, hostReport("secret-agent", f.now, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.AppendSamples(ctx, 2, []metric.Sample{{Labels: labels.FromStrings("__name__", "b_only"), T: f.now.UnixMilli(), V: 1}}); err != nil {
		t.Fatal(err)
	}
	at := strconv.FormatInt(f.now.Unix(), 10)
	start := strconv.FormatInt(f.now.Add(-time.Hour).Unix(), 10)

	checks := []struct {
		path   string
		params url.Values
		want   string // exact JSON of data, or of data.result for queries
	}{
		{"/api/v1/query", url.Values{"query": {`{__name__=~".+"}`}, "time": {at}}, `[{"metric":{"__name__":"b_only"},"value":[` + at + `,"1"]}]`},
		{"/api/v1/query", url.Values{"query": {`count({osprey_project="1"})`}, "time": {at}}, `[]`},
		{"/api/v1/query", url.Values{"query": {`system_cpu_time_seconds_total`}, "time": {at}}, `[]`},
		{"/api/v1/query_range", url.Values{"query": {`count({__name__=~".+"})`}, "start": {at}, "end": {at}, "step": {"60"}}, `[{"metric":{},"values":[[` + at + `,"1"]]}]`},
		{"/api/v1/series", url.Values{"match[]": {`{__name__=~".+"}`}}, `[{"__name__":"b_only"}]`},
		{"/api/v1/series", url.Values{"match[]": {`{osprey_project=~".+"}`}}, `[]`},
		{"/api/v1/labels", nil, `["__name__"]`},
		{"/api/v1/labels", url.Values{"match[]": {`{__name__=~".+"}`}, "start": {start}, "end": {at}}, `["__name__"]`},
		{"/api/v1/label/__name__/values", nil, `["b_only"]`},
		{"/api/v1/label/osprey_agent_id/values", nil, `[]`},
		{"/api/v1/label/host_name/values", url.Values{"match[]": {`{__name__=~".+"}`}}, `[]`},
		{"/api/v1/label/osprey_project/values", nil, `[]`},
	}
	for _, tc := range checks {
		t.Run(tc.path+"?"+tc.params.Encode(), func(t *testing.T) {
			var data json.RawMessage
			f.ok(t, 2, tc.path, tc.params, &data)
			if strings.HasPrefix(tc.path, "/api/v1/query") {
				var qd struct{ Result json.RawMessage }
				if err := json.Unmarshal(data, &qd); err != nil {
					t.Fatal(err)
				}
				data = qd.Result
			}
			if string(data) != tc.want {
				t.Fatalf("got %s, want %s", data, tc.want)
			}
		})
	}
}

func TestUnauthorized(t *testing.T) {
	f := newFixture(t, Options{})
	code, resp := f.call(t, 0, false, "/api/v1/query", url.Values{"query": {"1"}})
	if code != http.StatusUnauthorized || resp.Status != "error" || resp.ErrorType == "" {
		t.Fatalf("%d %+v", code, resp)
	}
}

func TestBadParams(t *testing.T) {
	f := newFixture(t, Options{})
	now := strconv.FormatInt(f.now.Unix(), 10)
	tests := []struct {
		name     string
		path     string
		params   url.Values
		wantCode int
		wantType string
		wantErr  string
	}{
		{"no query", "/api/v1/query", nil, 400, "bad_data", `invalid parameter "query"`},
		{"syntax error", "/api/v1/query", url.Values{"query": {"sum("}}, 400, "bad_data", `invalid parameter "query"`},
		{"bad time", "/api/v1/query", url.Values{"query": {"1"}, "time": {"yesterday"}}, 400, "bad_data", `invalid parameter "time"`},
		{"bad limit", "/api/v1/query", url.Values{"query": {"1"}, "limit": {"-1"}}, 400, "bad_data", `invalid parameter "limit"`},
		{"bad timeout", "/api/v1/query", url.Values{"query": {"1"}, "timeout": {"soon"}}, 400, "bad_data", `invalid parameter "timeout"`},
		{"range no step", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {now}, "end": {now}}, 400, "bad_data", `invalid parameter "step"`},
		{"range zero step", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {now}, "end": {now}, "step": {"0"}}, 400, "bad_data", "zero or negative"},
		{"range end before start", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {now}, "end": {"0"}, "step": {"1"}}, 400, "bad_data", `invalid parameter "end"`},
		{"range too many points", "/api/v1/query_range", url.Values{"query": {"1"}, "start": {"0"}, "end": {now}, "step": {"1"}}, 400, "bad_data", "11,000 points"},
		{"series no match", "/api/v1/series", nil, 400, "bad_data", "no match[]"},
		{"series empty matcher", "/api/v1/series", url.Values{"match[]": {`{job=""}`}}, 400, "bad_data", "non-empty matcher"},
		{"series bad matcher", "/api/v1/series", url.Values{"match[]": {`{job=`}}, 400, "bad_data", `invalid parameter "match[]"`},
		{"labels bad start", "/api/v1/labels", url.Values{"start": {"x"}}, 400, "bad_data", `invalid parameter "start"`},
		{"label values bad name", "/api/v1/label/" + url.PathEscape("a\xff") + "/values", nil, 400, "bad_data", "invalid label name"},
		{"string in range query", "/api/v1/query_range", url.Values{"query": {`"s"`}, "start": {now}, "end": {now}, "step": {"1"}}, 400, "bad_data", "string"},
		{"unknown endpoint", "/api/v1/nope", nil, 404, "not_found", "unknown API endpoint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, resp := f.call(t, 1, false, tc.path, tc.params)
			if code != tc.wantCode || resp.Status != "error" || resp.ErrorType != tc.wantType || !strings.Contains(resp.Error, tc.wantErr) {
				t.Fatalf("got %d %+v, want %d %s containing %q", code, resp, tc.wantCode, tc.wantType, tc.wantErr)
			}
		})
	}
}

func TestQueryBudget(t *testing.T) {
	f := newFixture(t, Options{MaxSamples: 100})
	var samples []metric.Sample
	for i := range 200 {
		samples = append(samples, metric.Sample{Labels: labels.FromStrings("__name__", "m", "i", strconv.Itoa(i)), T: f.now.UnixMilli(), V: 1})
	}
	if _, err := f.store.AppendSamples(context.Background(), 1, samples); err != nil {
		t.Fatal(err)
	}
	at := strconv.FormatInt(f.now.Unix(), 10)
	code, resp := f.call(t, 1, false, "/api/v1/query", url.Values{"query": {"m"}, "time": {at}})
	if code != http.StatusUnprocessableEntity || resp.ErrorType != "execution" || !strings.Contains(resp.Error, "too many samples") {
		t.Fatalf("max samples: %d %+v", code, resp)
	}
	// Within budget still works.
	var v vectorResult
	f.ok(t, 1, "/api/v1/query", url.Values{"query": {`m{i="7"}`}, "time": {at}}, &v)

	// A deadline that has passed by the time the engine runs is a timeout.
	code, resp = f.call(t, 1, false, "/api/v1/query_range", url.Values{
		"query": {`m{i="7"}`}, "start": {strconv.FormatInt(f.now.Add(-24*time.Hour).Unix(), 10)}, "end": {at}, "step": {"60"}, "timeout": {"0.000001"},
	})
	if code != http.StatusServiceUnavailable || resp.ErrorType != "timeout" {
		t.Fatalf("timeout: %d %+v", code, resp)
	}
}

func TestLimitAndMetaEndpoints(t *testing.T) {
	f := newFixture(t, Options{})
	var samples []metric.Sample
	for i := range 5 {
		samples = append(samples, metric.Sample{Labels: labels.FromStrings("__name__", fmt.Sprintf("m%d", i), "k", "v"), T: f.now.UnixMilli(), V: 1})
	}
	if _, err := f.store.AppendSamples(context.Background(), 1, samples); err != nil {
		t.Fatal(err)
	}
	code, resp := f.call(t, 1, false, "/api/v1/label/__name__/values", url.Values{"limit": {"2"}})
	if code != 200 || string(resp.Data) != `["m0","m1"]` || len(resp.Warnings) != 1 {
		t.Fatalf("limit: %d %s %v", code, resp.Data, resp.Warnings)
	}
	code, resp = f.call(t, 1, false, "/api/v1/series", url.Values{"match[]": {`{k="v"}`}, "limit": {"3"}})
	if var_ := strings.Count(string(resp.Data), "__name__"); code != 200 || var_ != 3 {
		t.Fatalf("series limit: %d %s", code, resp.Data)
	}
	code, resp = f.call(t, 1, false, "/api/v1/query", url.Values{"query": {`{k="v"}`}, "limit": {"1"}})
	if code != 200 || strings.Count(string(resp.Data), "__name__") != 1 || len(resp.Warnings) != 1 {
		t.Fatalf("query limit: %d %s", code, resp.Data)
	}

	var bi map[string]string
	f.ok(t, 1, "/api/v1/status/buildinfo", nil, &bi)
	if bi["version"] != Version {
		t.Fatalf("buildinfo %v", bi)
	}
	var md map[string]any
	f.ok(t, 1, "/api/v1/metadata", nil, &md)
	var ex []any
	f.ok(t, 1, "/api/v1/query_exemplars", url.Values{"query": {"m0"}}, &ex)
	var formatted string
	f.ok(t, 1, "/api/v1/format_query", url.Values{"query": {"sum(rate(x[5m]))by(job)"}}, &formatted)
	if formatted != "sum by (job) (rate(x[5m]))" {
		t.Fatalf("format_query %q", formatted)
	}
	var rules map[string][]any
	f.ok(t, 1, "/api/v1/rules", nil, &rules)
	// Grafana's "Save & test" probe.
	var v vectorResult
	f.ok(t, 1, "/api/v1/query", url.Values{"query": {"vector(1)+vector(1)"}}, &v)
	if len(v.Result) != 1 || v.Result[0].Value[1] != "2" {
		t.Fatalf("health probe %+v", v)
	}
}

// TestPromtool runs the real promtool against the handler. It needs promtool
// on PATH; in CI it must not be skipped.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not on PATH in CI: %v", err)
		}
		t.Skip("promtool not on PATH")
	}
	s, err := metric.Open(context.Background(), metric.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().Truncate(time.Second)
	if _, err := s.AppendOTLP(context.Background(), 9, hostReport("pt", now, 3)); err != nil {
		t.Fatal(err)
	}
	// promtool sends no credentials here; the test's ProjectFunc plays the
	// authenticated caller.
	srv := httptest.NewServer(NewHandler(s, func(*http.Request) (int64, bool) { return 9, true }, Options{}))
	defer srv.Close()

	out, err := exec.Command(promtool, "query", "instant", "--time", now.Format(time.RFC3339), srv.URL, "system_memory_usage_bytes").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool query instant: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "2048") || !strings.Contains(string(out), `osprey_agent_id="pt"`) {
		t.Fatalf("promtool output: %s", out)
	}
	out, err = exec.Command(promtool, "query", "labels", srv.URL, "osprey_agent_id").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "pt" {
		t.Fatalf("promtool query labels: %v\n%s", err, out)
	}
	out, err = exec.Command(promtool, "query", "range", "--start", now.Add(-time.Minute).Format(time.RFC3339),
		"--end", now.Format(time.RFC3339), "--step", "15s", srv.URL, "sum(system_memory_usage_bytes)").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "2048 @[") {
		t.Fatalf("promtool query range: %v\n%s", err, out)
	}
	out, err = exec.Command(promtool, "query", "series", "--match", "system_memory_usage_bytes", srv.URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `host_name="host-pt"`) || strings.Contains(string(out), metric.ProjectLabel) {
		t.Fatalf("promtool query series: %v\n%s", err, out)
	}
}
