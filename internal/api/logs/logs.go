// Package logs serves log monitoring: search, counts over time, the
// categories and fields of matching logs, the lines around a hit, log
// patterns, export and statistics for log dashboards. Logs are event rows
// of type "log" (see internal/eventrow); authentication is the caller's
// middleware.
//
// Every endpoint takes the same selection:
//
//	start, end   the range (RFC3339, unix seconds, or relative like -15m); default the last hour
//	q            full text over _msg: words and "quoted phrases", all must match
//	filter       repeatable: field=value, field!=value, field~substring, field!~substring
//	category     repeatable: any of these categories
//	level        repeatable: any of these levels
package logs

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/api/objects"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const (
	typeLog       = "log"
	defaultRange  = time.Hour
	defaultLimit  = 100
	maxSearchRows = 10_000 // the store's page cap
	// Histograms aim at this many buckets when step=auto: enough for a
	// chart's width, few enough to stay cheap.
	autoBuckets    = 120
	defaultTopBy   = 5
	maxCategories  = 10_000
	defaultCatList = 1000
	defaultValues  = 10
	maxValues      = 1000

	fieldCategory = "category"
	fieldLevel    = "level"
)

type handler struct {
	es  *event.Store
	log *slog.Logger
	now func() time.Time
	// pageRows is the page size of the searches export and patterns page
	// through; tests shrink it to cover paging.
	pageRows int
}

// NewHandler returns the log API. log receives what cannot be reported to
// the client (an export failing mid-stream); nil means slog.Default().
func NewHandler(es *event.Store, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return (&handler{es: es, log: log.With("component", "api-logs"), now: time.Now, pageRows: maxSearchRows}).routes()
}

func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/logs/search", h.search)
	mux.HandleFunc("GET /api/v1/logs/histogram", h.histogram)
	mux.HandleFunc("GET /api/v1/logs/categories", h.categories)
	mux.HandleFunc("GET /api/v1/logs/fields", h.fields)
	mux.HandleFunc("GET /api/v1/logs/fields/{field}/values", h.values)
	mux.HandleFunc("GET /api/v1/logs/context", h.context)
	mux.HandleFunc("GET /api/v1/logs/patterns", h.patterns)
	mux.HandleFunc("GET /api/v1/logs/export", h.export)
	mux.HandleFunc("GET /api/v1/logs/stats", h.stats)
	mux.HandleFunc("/api/v1/logs/", func(w http.ResponseWriter, r *http.Request) {
		envelope.WriteError(w, http.StatusNotFound, "not_found", "no such log API path: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func badRequest(w http.ResponseWriter, err error) {
	envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
}

// selection authenticates the request and parses the shared parameters.
// ok=false means the answer has been written.
func (h *handler) selection(w http.ResponseWriter, r *http.Request) (project int64, q event.Query, ok bool) {
	id, ok := objects.Identity(w, r)
	if !ok {
		return 0, q, false
	}
	q, err := parseSelection(r.URL.Query(), h.now())
	if err != nil {
		badRequest(w, err)
		return 0, q, false
	}
	return id.Project.ID, q, true
}

func parseSelection(v url.Values, now time.Time) (event.Query, error) {
	q := event.Query{Type: typeLog, Text: v.Get("q")}
	var err error
	if q.Start, q.End, err = envelope.ParseRange(v, now, defaultRange); err != nil {
		return q, err
	}
	if q.Start.After(q.End) {
		return q, errors.New("start must not be after end")
	}
	for _, f := range v["filter"] {
		flt, err := event.ParseFilter(f)
		if err != nil {
			return q, err
		}
		q.Filters = append(q.Filters, flt)
	}
	for _, p := range []string{fieldCategory, fieldLevel} {
		if vals := nonEmpty(v[p]); len(vals) > 0 {
			q.In = append(q.In, event.In{Field: p, Values: vals})
		}
	}
	return q, nil
}

func nonEmpty(vals []string) []string {
	var out []string
	for _, s := range vals {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// niceSteps are the widths step=auto chooses from.
var niceSteps = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
	2 * 24 * time.Hour, 7 * 24 * time.Hour,
}

// autoStep is the smallest nice step giving at most about target buckets.
func autoStep(start, end time.Time, target int) time.Duration {
	want := end.Sub(start) / time.Duration(target)
	for _, s := range niceSteps {
		if s >= want {
			return s
		}
	}
	// Longer than the retention allows anyway; keep the bucket count.
	return want.Truncate(24 * time.Hour)
}

// parseStep reads ?step=: "auto" or empty for autoStep, a Go duration
// ("90s", "5m") or seconds ("60"). Steps under a second are refused, and
// so are steps giving more buckets than the store allows.
func parseStep(v url.Values, start, end time.Time, target int) (time.Duration, error) {
	s := strings.TrimSpace(v.Get("step"))
	if s == "" || s == "auto" {
		return autoStep(start, end, target), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, err2 := strconv.ParseFloat(s, 64)
		if err2 != nil || math.IsNaN(secs) || secs > 1e9 {
			return 0, fmt.Errorf("invalid step %q: want auto, a duration like 60s or 5m, or seconds", s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < time.Second {
		return 0, fmt.Errorf("invalid step %q: must be at least 1s", s)
	}
	if n := end.Sub(start)/d + 1; n > event.MaxBuckets {
		return 0, fmt.Errorf("step %s gives %d buckets over the range; at most %d are allowed", d, n, event.MaxBuckets)
	}
	return d, nil
}

func parseIntParam(v url.Values, name string, def, lo, hi int) (int, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: want an integer from %d to %d, got %q", name, lo, hi, s)
	}
	return n, nil
}

type searchJSON struct {
	Records    []event.Record `json:"records"`
	NextCursor string         `json:"nextCursor"`
	Partial    bool           `json:"partial"`
	Reason     string         `json:"reason,omitempty"`
}

// search answers a page of matching logs, newest first; ?limit= (default
// 100, max 10000) and ?cursor= page.
func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	project, q, ok := h.selection(w, r)
	if !ok {
		return
	}
	v := r.URL.Query()
	limit, err := envelope.ParseLimit(v, defaultLimit, maxSearchRows)
	if err != nil {
		badRequest(w, err)
		return
	}
	q.Limit, q.Cursor = limit, v.Get("cursor")
	res, err := h.es.Search(r.Context(), project, q)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	if res.Records == nil {
		res.Records = []event.Record{}
	}
	envelope.WriteData(w, searchJSON{Records: res.Records, NextCursor: res.NextCursor, Partial: res.Partial, Reason: res.Reason})
}

type bucketJSON struct {
	Time  time.Time `json:"time"`
	Count uint64    `json:"count"`
}

func bucketsJSON(b []event.Bucket) []bucketJSON {
	out := make([]bucketJSON, len(b))
	for i, x := range b {
		out[i] = bucketJSON{Time: x.Time, Count: x.Count}
	}
	return out
}

type histogramJSON struct {
	Step    float64                 `json:"step"` // seconds
	Buckets []bucketJSON            `json:"buckets,omitempty"`
	Series  map[string][]bucketJSON `json:"series,omitempty"`
}

// histogram answers counts per step over the range; with ?by=field, one
// series per top value of the field (?top=, default 5) plus "other".
func (h *handler) histogram(w http.ResponseWriter, r *http.Request) {
	project, q, ok := h.selection(w, r)
	if !ok {
		return
	}
	v := r.URL.Query()
	step, err := parseStep(v, q.Start, q.End, autoBuckets)
	if err != nil {
		badRequest(w, err)
		return
	}
	by := strings.TrimSpace(v.Get("by"))
	if by == "" {
		b, err := h.es.Histogram(r.Context(), project, q, step)
		if err != nil {
			envelope.WriteStoreError(w, r, err)
			return
		}
		envelope.WriteData(w, histogramJSON{Step: step.Seconds(), Buckets: bucketsJSON(b)})
		return
	}
	top, err := parseIntParam(v, "top", defaultTopBy, 1, event.MaxStatsTop)
	if err != nil {
		badRequest(w, err)
		return
	}
	series, err := h.es.HistogramBy(r.Context(), project, q, step, by, top)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out := histogramJSON{Step: step.Seconds(), Series: make(map[string][]bucketJSON, len(series))}
	for k, b := range series {
		out.Series[k] = bucketsJSON(b)
	}
	envelope.WriteData(w, out)
}

type categoryJSON struct {
	Category string `json:"category"`
	Count    uint64 `json:"count"`
}

// categories answers the categories of matching logs, most lines first
// (?limit=, default 1000).
func (h *handler) categories(w http.ResponseWriter, r *http.Request) {
	project, q, ok := h.selection(w, r)
	if !ok {
		return
	}
	limit, err := envelope.ParseLimit(r.URL.Query(), defaultCatList, maxCategories)
	if err != nil {
		badRequest(w, err)
		return
	}
	vals, _, err := h.es.TopValues(r.Context(), project, q, fieldCategory, limit)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out := make([]categoryJSON, len(vals))
	for i, v := range vals {
		out[i] = categoryJSON{Category: v.Value, Count: v.Count}
	}
	envelope.WriteData(w, out)
}

type fieldJSON struct {
	Field string `json:"field"`
	Count uint64 `json:"count"`
}

// fields answers which fields matching logs have, most common first.
func (h *handler) fields(w http.ResponseWriter, r *http.Request) {
	project, q, ok := h.selection(w, r)
	if !ok {
		return
	}
	names, err := h.es.FieldNames(r.Context(), project, q)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out := make([]fieldJSON, len(names))
	for i, f := range names {
		out[i] = fieldJSON{Field: f.Field, Count: f.Count}
	}
	envelope.WriteData(w, out)
}

type valueJSON struct {
	Value string `json:"value"`
	Count uint64 `json:"count"`
}

type valuesJSON struct {
	Total  uint64      `json:"total"` // matching lines, with or without the field
	Values []valueJSON `json:"values"`
}

// values answers a field's most common values (?limit=, default 10).
func (h *handler) values(w http.ResponseWriter, r *http.Request) {
	project, q, ok := h.selection(w, r)
	if !ok {
		return
	}
	limit, err := envelope.ParseLimit(r.URL.Query(), defaultValues, maxValues)
	if err != nil {
		badRequest(w, err)
		return
	}
	vals, total, err := h.es.TopValues(r.Context(), project, q, r.PathValue("field"), limit)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out := valuesJSON{Total: total, Values: make([]valueJSON, len(vals))}
	for i, v := range vals {
		out.Values[i] = valueJSON{Value: v.Value, Count: v.Count}
	}
	envelope.WriteData(w, out)
}
