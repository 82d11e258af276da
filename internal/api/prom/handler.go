// Package prom serves the Prometheus HTTP query API (/api/v1/...) over the
// embedded metric store, so that promtool, Grafana's Prometheus data source
// and other Prometheus clients work against Osprey unchanged. Each request is
// scoped to one project by the caller's ProjectFunc.
package prom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/osprey-monitoring/osprey/internal/store/metric"
)

// ProjectFunc returns the project of an authenticated request. Authentication
// is the caller's middleware; ok=false answers 401.
type ProjectFunc func(r *http.Request) (project int64, ok bool)

// Options is the query budget of the API. Zero values take the defaults.
type Options struct {
	QueryTimeout  time.Duration // default 30s
	MaxSamples    int           // samples held in memory by one query; default 50e6
	LookbackDelta time.Duration // default: the store's (5m)
	Logger        *slog.Logger
}

// Version is what /api/v1/status/buildinfo reports. Grafana reads it to pick
// the query features it may use, so it names the Prometheus release whose
// engine is embedded (module v0.316.0 = Prometheus 3.16.0).
const Version = "3.16.0"

const (
	// maxPointsPerSeries is Prometheus' own guard against range queries
	// whose step is far too small for their range.
	maxPointsPerSeries = 11000
	// statusClientClosed is nginx's and Prometheus' code for a request the
	// client abandoned.
	statusClientClosed = 499
)

var (
	// minTime and maxTime are Prometheus' defaults for optional ranges.
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
)

type handler struct {
	store   *metric.Store
	project ProjectFunc
	engine  *promql.Engine
	opts    Options
	log     *slog.Logger
	parser  parser.Parser
	mux     *http.ServeMux
}

// NewHandler returns the /api/v1 handler. Mount it at the server root (paths
// start with /api/v1/), or strip any prefix in front of /api/v1.
func NewHandler(store *metric.Store, project ProjectFunc, opts Options) http.Handler {
	so := store.Options()
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 30 * time.Second
	}
	if opts.MaxSamples <= 0 {
		opts.MaxSamples = 50_000_000
	}
	if opts.LookbackDelta <= 0 {
		opts.LookbackDelta = so.LookbackDelta
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	// The store's engine is reused when it has this budget; a different
	// memory budget or lookback needs an engine of its own (built once, here).
	// The time budget is applied per request as a context deadline, so it does
	// not need its own engine.
	engine := store.Engine()
	if opts.MaxSamples != so.QueryMaxSamples || opts.LookbackDelta != so.LookbackDelta || opts.QueryTimeout > so.QueryTimeout {
		engine = metric.NewEngine(metric.EngineOptions{
			Logger:        opts.Logger,
			Timeout:       opts.QueryTimeout,
			MaxSamples:    opts.MaxSamples,
			LookbackDelta: opts.LookbackDelta,
		})
	}
	h := &handler{
		store:   store,
		project: project,
		engine:  engine,
		opts:    opts,
		log:     opts.Logger,
		parser:  parser.NewParser(parser.Options{}),
		mux:     http.NewServeMux(),
	}
	h.route("/api/v1/query", h.query)
	h.route("/api/v1/query_range", h.queryRange)
	h.route("/api/v1/series", h.series)
	h.route("/api/v1/labels", h.labelNames)
	h.route("/api/v1/label/{name}/values", h.labelValues)
	h.route("/api/v1/metadata", h.metadata)
	h.route("/api/v1/query_exemplars", h.exemplars)
	h.route("/api/v1/format_query", h.formatQuery)
	h.route("/api/v1/status/buildinfo", h.buildInfo)
	// Grafana asks for rules and alerts when alerting is enabled on the data
	// source; Osprey's alert rules live elsewhere, so both are empty.
	h.route("/api/v1/rules", func(*http.Request, int64) apiResult {
		return apiResult{data: map[string]any{"groups": []any{}}}
	})
	h.route("/api/v1/alerts", func(*http.Request, int64) apiResult {
		return apiResult{data: map[string]any{"alerts": []any{}}}
	})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, h.log, &apiError{errNotFound, fmt.Errorf("unknown API endpoint %s", r.URL.Path)})
	})
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

type apiResult struct {
	data     any
	err      *apiError
	warnings annotations.Annotations
	query    string // for warning positions
	closer   func()
}

type endpoint func(r *http.Request, project int64) apiResult

func (h *handler) route(path string, fn endpoint) {
	serve := func(w http.ResponseWriter, r *http.Request) {
		project, ok := h.project(r)
		if !ok {
			writeError(w, h.log, &apiError{errUnauthorized, errors.New("unauthorized: missing or invalid credentials")})
			return
		}
		if err := r.ParseForm(); err != nil {
			writeError(w, h.log, &apiError{errBadData, fmt.Errorf("error parsing form values: %w", err)})
			return
		}
		res := fn(r, project)
		if res.closer != nil {
			defer res.closer()
		}
		if res.err != nil {
			writeError(w, h.log, res.err)
			return
		}
		writeSuccess(w, h.log, res.data, res.warnings, res.query)
	}
	h.mux.HandleFunc("GET "+path, serve)
	h.mux.HandleFunc("POST "+path, serve)
}

// queryContext applies the request's timeout parameter, capped by the API's
// budget, as a deadline; the engine reports an exceeded deadline as a query
// timeout.
func (h *handler) queryContext(r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	timeout := h.opts.QueryTimeout
	if s := r.FormValue("timeout"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return nil, nil, invalidParam(err, "timeout")
		}
		if d > 0 && d < timeout {
			timeout = d
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return ctx, cancel, nil
}

func (h *handler) queryOpts(r *http.Request) (promql.QueryOpts, *apiError) {
	var lookback time.Duration
	if s := r.FormValue("lookback_delta"); s != "" {
		d, err := parseDuration(s)
		if err != nil {
			return nil, &apiError{errBadData, fmt.Errorf("error parsing lookback delta duration: %w", err)}
		}
		lookback = d
	}
	return promql.NewPrometheusQueryOpts(false, lookback, nil), nil
}

type queryData struct {
	ResultType parser.ValueType `json:"resultType"`
	Result     parser.Value     `json:"result"`
}

func (h *handler) query(r *http.Request, project int64) apiResult {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	ts, err := parseTimeParam(r, "time", time.Now())
	if err != nil {
		return apiResult{err: invalidParam(err, "time")}
	}
	ctx, cancel, apiErr := h.queryContext(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	defer cancel()
	opts, apiErr := h.queryOpts(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	qs := r.FormValue("query")
	qry, err := h.engine.NewInstantQuery(ctx, h.store.Queryable(project), opts, qs, ts)
	if err != nil {
		return apiResult{err: constructionError(err)}
	}
	return h.exec(ctx, qry, qs, limit)
}

func (h *handler) queryRange(r *http.Request, project int64) apiResult {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	start, err := parseTime(r.FormValue("start"))
	if err != nil {
		return apiResult{err: invalidParam(err, "start")}
	}
	end, err := parseTime(r.FormValue("end"))
	if err != nil {
		return apiResult{err: invalidParam(err, "end")}
	}
	if end.Before(start) {
		return apiResult{err: invalidParam(errors.New("end timestamp must not be before start time"), "end")}
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		return apiResult{err: invalidParam(err, "step")}
	}
	if step <= 0 {
		return apiResult{err: invalidParam(errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer"), "step")}
	}
	if end.Sub(start)/step > maxPointsPerSeries {
		return apiResult{err: &apiError{errBadData, errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")}}
	}
	ctx, cancel, apiErr := h.queryContext(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	defer cancel()
	opts, apiErr := h.queryOpts(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	qs := r.FormValue("query")
	qry, err := h.engine.NewRangeQuery(ctx, h.store.Queryable(project), opts, qs, start, end, step)
	if err != nil {
		return apiResult{err: constructionError(err)}
	}
	return h.exec(ctx, qry, qs, limit)
}

func (h *handler) exec(ctx context.Context, qry promql.Query, qs string, limit int) apiResult {
	// The engine checks its context only between steps of some operators; a
	// budget already spent while the query was being prepared fails here.
	// ctx.Err() lags the deadline until the runtime fires the timer, so the
	// clock is checked too.
	err := ctx.Err()
	if dl, ok := ctx.Deadline(); ok && err == nil && !time.Now().Before(dl) {
		err = context.DeadlineExceeded
	}
	if err != nil {
		qry.Close()
		return apiResult{err: execError(fmt.Errorf("query timed out before evaluation: %w", err)), query: qs}
	}
	res := qry.Exec(ctx)
	if res.Err != nil {
		qry.Close()
		return apiResult{err: execError(res.Err), warnings: res.Warnings, query: qs}
	}
	warnings := res.Warnings
	val := res.Value
	switch v := val.(type) {
	case promql.Matrix:
		if v == nil {
			v = promql.Matrix{}
		}
		if limit > 0 && len(v) > limit {
			v = v[:limit]
			warnings = warnings.Add(errors.New("results truncated due to limit"))
		}
		val = v
	case promql.Vector:
		if v == nil {
			v = promql.Vector{}
		}
		if limit > 0 && len(v) > limit {
			v = v[:limit]
			warnings = warnings.Add(errors.New("results truncated due to limit"))
		}
		val = v
	}
	// The result's points come from pools returned by Close, so Close runs
	// after the response is written.
	return apiResult{
		data:     queryData{ResultType: val.Type(), Result: val},
		warnings: warnings,
		query:    qs,
		closer:   qry.Close,
	}
}

func (h *handler) series(r *http.Request, project int64) apiResult {
	if len(r.Form["match[]"]) == 0 {
		return apiResult{err: &apiError{errBadData, errors.New("no match[] parameter provided")}}
	}
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	start, end, apiErr := parseRange(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	matcherSets, err := h.parseMatchers(r.Form["match[]"])
	if err != nil {
		return apiResult{err: invalidParam(err, "match[]")}
	}
	ctx, cancel, apiErr := h.queryContext(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	defer cancel()

	q, err := h.store.Queryable(project).Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return apiResult{err: execError(err)}
	}
	defer q.Close()
	hints := &storage.SelectHints{
		Start: timestamp.FromTime(start),
		End:   timestamp.FromTime(end),
		Func:  "series", // no samples needed
		Limit: hintLimit(limit),
	}
	var set storage.SeriesSet
	if len(matcherSets) > 1 {
		sets := make([]storage.SeriesSet, 0, len(matcherSets))
		for _, ms := range matcherSets {
			sets = append(sets, q.Select(ctx, true, hints, ms...))
		}
		set = storage.NewMergeSeriesSet(sets, 0, storage.ChainedSeriesMerge)
	} else {
		set = q.Select(ctx, false, hints, matcherSets[0]...)
	}
	metrics := []labels.Labels{}
	warnings := set.Warnings()
	for i := 1; set.Next(); i++ {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return apiResult{err: execError(err)}
			}
		}
		metrics = append(metrics, set.At().Labels())
		if limit > 0 && len(metrics) > limit {
			metrics = metrics[:limit]
			warnings = warnings.Add(errors.New("results truncated due to limit"))
			break
		}
	}
	if err := set.Err(); err != nil {
		return apiResult{err: execError(err), warnings: warnings}
	}
	return apiResult{data: metrics, warnings: warnings}
}

func (h *handler) labelNames(r *http.Request, project int64) apiResult {
	return h.labelQuery(r, project, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, hints, ms...)
	})
}

func (h *handler) labelValues(r *http.Request, project int64) apiResult {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return apiResult{err: &apiError{errBadData, fmt.Errorf("invalid label name: %q", name)}}
	}
	return h.labelQuery(r, project, func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, name, hints, ms...)
	})
}

type labelFunc func(ctx context.Context, q storage.Querier, hints *storage.LabelHints, ms []*labels.Matcher) ([]string, annotations.Annotations, error)

// labelQuery is the shared body of /labels and /label/{name}/values: the
// union of the answers for each match[] set, sorted, optionally limited.
func (h *handler) labelQuery(r *http.Request, project int64, fn labelFunc) apiResult {
	limit, err := parseLimit(r.FormValue("limit"))
	if err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	start, end, apiErr := parseRange(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	matcherSets, err := h.parseMatchers(r.Form["match[]"])
	if err != nil {
		return apiResult{err: &apiError{errBadData, err}}
	}
	ctx, cancel, apiErr := h.queryContext(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	defer cancel()
	q, err := h.store.Queryable(project).Querier(timestamp.FromTime(start), timestamp.FromTime(end))
	if err != nil {
		return apiResult{err: execError(err)}
	}
	defer q.Close()
	hints := &storage.LabelHints{Limit: hintLimit(limit)}

	var (
		vals     []string
		warnings annotations.Annotations
	)
	if len(matcherSets) == 0 {
		matcherSets = [][]*labels.Matcher{nil}
	}
	seen := map[string]struct{}{}
	for _, ms := range matcherSets {
		got, ws, err := fn(ctx, q, hints, ms)
		warnings.Merge(ws)
		if err != nil {
			return apiResult{err: execError(err), warnings: warnings}
		}
		for _, v := range got {
			if _, dup := seen[v]; !dup {
				seen[v] = struct{}{}
				vals = append(vals, v)
			}
		}
	}
	if vals == nil {
		vals = []string{}
	}
	slices.Sort(vals)
	if limit > 0 && len(vals) > limit {
		vals = vals[:limit]
		warnings = warnings.Add(errors.New("results truncated due to limit"))
	}
	return apiResult{data: vals, warnings: warnings}
}

// metadata answers with no metadata: the TSDB keeps none that is queryable
// per project, and clients (Grafana's metric browser) treat an empty map as
// "unknown type".
func (*handler) metadata(r *http.Request, _ int64) apiResult {
	if _, err := parseLimit(r.FormValue("limit")); err != nil {
		return apiResult{err: invalidParam(err, "limit")}
	}
	return apiResult{data: map[string]any{}}
}

// exemplars: Osprey stores no exemplars (traces are linked through the event
// store), so the answer is always empty, after validating like Prometheus.
func (h *handler) exemplars(r *http.Request, _ int64) apiResult {
	start, end, apiErr := parseRange(r)
	if apiErr != nil {
		return apiResult{err: apiErr}
	}
	if end.Before(start) {
		return apiResult{err: invalidParam(errors.New("end timestamp must not be before start timestamp"), "end")}
	}
	if _, err := h.parser.ParseExpr(r.FormValue("query")); err != nil {
		return apiResult{err: &apiError{errBadData, err}}
	}
	return apiResult{data: []any{}}
}

func (h *handler) formatQuery(r *http.Request, _ int64) apiResult {
	expr, err := h.parser.ParseExpr(r.FormValue("query"))
	if err != nil {
		return apiResult{err: invalidParam(err, "query")}
	}
	return apiResult{data: parser.Prettify(expr)}
}

func (*handler) buildInfo(*http.Request, int64) apiResult {
	return apiResult{data: map[string]string{
		"version":   Version,
		"revision":  "",
		"branch":    "",
		"buildUser": "osprey",
		"buildDate": "",
		"goVersion": runtime.Version(),
	}}
}

func (h *handler) parseMatchers(in []string) ([][]*labels.Matcher, error) {
	sets, err := h.parser.ParseMetricSelectors(in)
	if err != nil {
		return nil, err
	}
	for _, ms := range sets {
		if !slices.ContainsFunc(ms, func(m *labels.Matcher) bool { return m != nil && !m.Matches("") }) {
			return nil, errors.New("match[] must contain at least one non-empty matcher")
		}
	}
	return sets, nil
}

func parseRange(r *http.Request) (start, end time.Time, apiErr *apiError) {
	start, err := parseTimeParam(r, "start", minTime)
	if err != nil {
		return start, end, invalidParam(err, "start")
	}
	end, err = parseTimeParam(r, "end", maxTime)
	if err != nil {
		return start, end, invalidParam(err, "end")
	}
	return start, end, nil
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid time value for '%s': %w", name, err)
	}
	return t, nil
}

// parseTime accepts unix seconds (fractions allowed) or RFC3339, like
// Prometheus.
func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, frac := math.Modf(t)
		frac = math.Round(frac*1000) / 1000
		return time.Unix(int64(sec), int64(frac*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	// time.Parse handles four-digit years only; Prometheus clients send
	// these boundary values for "unbounded".
	switch s {
	case minTime.Format(time.RFC3339Nano):
		return minTime, nil
	case maxTime.Format(time.RFC3339Nano):
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

// parseDuration accepts float seconds or a Prometheus duration ("15s", "1h30m").
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return n, nil
}

// hintLimit asks storage for one more than the limit, so truncation can be
// detected and reported as a warning.
func hintLimit(limit int) int {
	if limit > 0 && limit < math.MaxInt {
		return limit + 1
	}
	return limit
}

func invalidParam(err error, name string) *apiError {
	return &apiError{errBadData, fmt.Errorf("invalid parameter %q: %w", name, err)}
}

func constructionError(err error) *apiError {
	var eqt promql.ErrQueryTimeout
	var eqc promql.ErrQueryCanceled
	if errors.As(err, &eqt) || errors.As(err, &eqc) {
		return execError(err)
	}
	return invalidParam(err, "query")
}

// execError maps engine errors to Prometheus' error types.
func execError(err error) *apiError {
	var (
		eqc promql.ErrQueryCanceled
		eqt promql.ErrQueryTimeout
		es  promql.ErrStorage
	)
	switch {
	case errors.As(err, &eqc):
		return &apiError{errCanceled, err}
	case errors.As(err, &eqt), errors.Is(err, context.DeadlineExceeded):
		return &apiError{errTimeout, err}
	case errors.As(err, &es):
		return &apiError{errInternal, err}
	case errors.Is(err, context.Canceled):
		return &apiError{errCanceled, err}
	}
	return &apiError{errExec, err}
}

type errorType struct {
	name   string
	status int
}

var (
	errBadData      = errorType{"bad_data", http.StatusBadRequest}
	errExec         = errorType{"execution", http.StatusUnprocessableEntity}
	errTimeout      = errorType{"timeout", http.StatusServiceUnavailable}
	errCanceled     = errorType{"canceled", statusClientClosed}
	errInternal     = errorType{"internal", http.StatusInternalServerError}
	errNotFound     = errorType{"not_found", http.StatusNotFound}
	errUnauthorized = errorType{"unauthorized", http.StatusUnauthorized}
)

type apiError struct {
	typ errorType
	err error
}

type response struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

func writeSuccess(w http.ResponseWriter, log *slog.Logger, data any, ws annotations.Annotations, query string) {
	resp := response{Status: "success", Data: data}
	if len(ws) > 0 {
		resp.Warnings, resp.Infos = ws.AsStrings(query, 10, 10)
	}
	writeJSON(w, log, http.StatusOK, resp)
}

func writeError(w http.ResponseWriter, log *slog.Logger, e *apiError) {
	writeJSON(w, log, e.typ.status, response{Status: "error", ErrorType: e.typ.name, Error: e.err.Error()})
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, status int, resp response) {
	b, err := json.Marshal(resp)
	if err != nil {
		log.Error("prometheus API: marshal response", "err", err)
		http.Error(w, `{"status":"error","errorType":"internal","error":"cannot marshal response"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if _, err := w.Write(b); err != nil {
		log.Debug("prometheus API: write response", "err", err)
	}
}
