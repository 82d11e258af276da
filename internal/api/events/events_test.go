package events

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/store/event"
)

type respEnvelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	Error     string          `json:"error"`
	ErrorType string          `json:"errorType"`
}

func setup(t *testing.T) (*httptest.Server, time.Time) {
	t.Helper()
	s, err := event.Open(context.Background(), event.Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	now := time.Now().Truncate(time.Millisecond)
	var rows []event.Row
	for i := range 30 {
		rows = append(rows, event.Row{Time: now.Add(-time.Duration(i) * time.Second), Fields: []event.Field{
			{Name: "type", Value: "log"}, {Name: "_msg", Value: "request " + strconv.Itoa(i) + " done"},
			{Name: "level", Value: []string{"info", "error"}[i%2]}, {Name: "service.name", Value: "api"},
		}})
	}
	trace := "0af7651916cd43dd8448eb211c80319c"
	for i, start := range []int64{300, 100, 200} {
		rows = append(rows, event.Row{Time: now.Add(-time.Hour - time.Duration(i)*time.Minute), Fields: []event.Field{
			{Name: "type", Value: "span"}, {Name: "_msg", Value: "span " + strconv.Itoa(i)},
			{Name: "trace_id", Value: trace}, {Name: "start", Value: strconv.FormatInt(start, 10)},
		}})
	}
	// Another project's span of the same trace must not leak.
	if _, _, err := s.Add(context.Background(), 2, []event.Row{{Time: now, Fields: []event.Field{{Name: "type", Value: "span"}, {Name: "trace_id", Value: trace}}}}); err != nil {
		t.Fatal(err)
	}
	if _, rej, err := s.Add(context.Background(), 1, rows); err != nil || rej != 0 {
		t.Fatalf("Add: %d %v", rej, err)
	}
	s.Flush()
	h := NewHandler(s, func(r *http.Request) (int64, bool) {
		p, err := strconv.ParseInt(r.Header.Get("X-Project"), 10, 64)
		return p, err == nil
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, now
}

func get(t *testing.T, srv *httptest.Server, path string, params url.Values) (int, respEnvelope) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path+"?"+params.Encode(), nil)
	req.Header.Set("X-Project", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env respEnvelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return resp.StatusCode, env
}

func TestSearchAndPaging(t *testing.T) {
	srv, _ := setup(t)
	params := url.Values{"type": {"log"}, "start": {"-15m"}, "limit": {"7"}, "fields": {"level,_msg"}}
	seen := map[string]bool{}
	for page := 0; ; page++ {
		code, env := get(t, srv, "/api/v1/events", params)
		if code != 200 || env.Status != "success" {
			t.Fatalf("code %d env %+v", code, env)
		}
		var d searchData
		if err := json.Unmarshal(env.Data, &d); err != nil {
			t.Fatal(err)
		}
		for _, r := range d.Records {
			if seen[r["_msg"]] {
				t.Fatalf("duplicate %q", r["_msg"])
			}
			seen[r["_msg"]] = true
			if r["level"] == "" || r["_time"] == "" || r["service.name"] != "" {
				t.Fatalf("fields projection: %v", r)
			}
		}
		if d.NextCursor == "" {
			break
		}
		params.Set("cursor", d.NextCursor)
		if page > 10 {
			t.Fatal("no end")
		}
	}
	if len(seen) != 30 {
		t.Fatalf("saw %d records", len(seen))
	}

	code, env := get(t, srv, "/api/v1/events", url.Values{"q": {`"request 3"`}, "filter": {"level=error", "service.name!=web"}})
	var d searchData
	_ = json.Unmarshal(env.Data, &d)
	if code != 200 || len(d.Records) != 1 || d.Records[0]["_msg"] != "request 3 done" {
		t.Fatalf("text+filters: %d %s", code, env.Data)
	}
	if string(env.Data) == "" || d.Partial {
		t.Fatalf("partial: %s", env.Data)
	}
	// Empty result is an empty array, not null.
	_, env = get(t, srv, "/api/v1/events", url.Values{"q": {"nomatch"}})
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(env.Data, &raw)
	if string(raw["records"]) != "[]" {
		t.Fatalf("empty records = %s", raw["records"])
	}
}

func TestCount(t *testing.T) {
	srv, now := setup(t)
	code, env := get(t, srv, "/api/v1/events/count", url.Values{
		"filter": {"level=error"},
		"start":  {strconv.FormatFloat(float64(now.Add(-time.Minute).UnixNano())/1e9, 'f', 3, 64)},
		"end":    {now.Add(time.Second).Format(time.RFC3339Nano)},
	})
	if code != 200 || string(env.Data) != `{"count":15}` {
		t.Fatalf("count: %d %s %s", code, env.Data, env.Error)
	}
}

func TestTrace(t *testing.T) {
	srv, _ := setup(t)
	code, env := get(t, srv, "/api/v1/traces/0AF7651916CD43DD8448EB211C80319C", nil)
	var d traceData
	_ = json.Unmarshal(env.Data, &d)
	if code != 200 || len(d.Spans) != 3 {
		t.Fatalf("trace: %d %s", code, env.Data)
	}
	for i, want := range []string{"100", "200", "300"} {
		if d.Spans[i]["start"] != want {
			t.Fatalf("span %d start %s, want %s", i, d.Spans[i]["start"], want)
		}
	}
	if code, env := get(t, srv, "/api/v1/traces/xyz", nil); code != 400 || env.Status != "error" {
		t.Fatalf("bad trace id: %d %+v", code, env)
	}
}

func TestErrors(t *testing.T) {
	srv, _ := setup(t)
	cases := []url.Values{
		{"start": {"yesterday"}},
		{"end": {"-1h"}, "start": {"-10m"}},
		{"limit": {"-3"}},
		{"limit": {"ten"}},
		{"filter": {"noop"}},
		{"filter": {"=value"}},
		{"filter": {"a|b"}},
		{"cursor": {"not-a-cursor"}},
		{"q": {`"unterminated`}},
		{"filter": {"_time=1"}},
	}
	for _, p := range cases {
		code, env := get(t, srv, "/api/v1/events", p)
		if code != 400 || env.Status != "error" || env.Error == "" || env.ErrorType != "bad_data" {
			t.Errorf("%v: code %d env %+v", p, code, env)
		}
	}
	resp, err := http.Get(srv.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("no project: %d", resp.StatusCode)
	}
}

func TestParseFilterAndTime(t *testing.T) {
	for in, want := range map[string]event.Filter{
		"a=b":           {Field: "a", Op: "=", Value: "b"},
		"a!=b":          {Field: "a", Op: "!=", Value: "b"},
		"a~b=c":         {Field: "a", Op: "~", Value: "b=c"},
		"a!~x":          {Field: "a", Op: "!~", Value: "x"},
		"http.route=/x": {Field: "http.route", Op: "=", Value: "/x"},
		"a!b=c":         {Field: "a!b", Op: "=", Value: "c"},
		"a=":            {Field: "a", Op: "=", Value: ""},
	} {
		got, err := event.ParseFilter(in)
		if err != nil || got != want {
			t.Errorf("event.ParseFilter(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}
