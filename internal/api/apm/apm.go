// Package apm serves application performance monitoring: the apps and
// their instances, overview counters, the hitmap and the transactions in
// one of its boxes, a transaction's profile, active transactions with
// their stacks, statistics, the call chain of a trace and the service map.
// It reads the event rows docs/apm.md describes (type=span rows with
// apm.role tx|step, apmroll, apmstat, active and stack rows); the ingest
// path writes them. Authentication is the caller's middleware; any member
// of the project may read.
//
// Every endpoint takes, where it makes sense:
//
//	start, end   the range (RFC 3339, unix seconds or relative like -15m); default the last 10 minutes
//	app, instance, namespace, deployment, pod   repeatable filters
package apm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/api/objects"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

// Row types and fields of docs/apm.md.
const (
	typeSpan   = "span"
	typeRoll   = "apmroll"
	typeStat   = "apmstat"
	typeActive = "active"
	typeStack  = "stack"

	fApp        = "app"
	fInstance   = "instance"
	fNamespace  = "k8s.namespace.name"
	fDeployment = "k8s.deployment.name"
	fPod        = "k8s.pod.name"
	fAgentID    = "agent.id"
	fLanguage   = "telemetry.sdk.language"
	fHost       = "host.name"

	fRole     = "apm.role"
	roleTx    = "tx"
	fTraceID  = "trace_id"
	fSpanID   = "span_id"
	fParentID = "parent_span_id"
	fSpanName = "span.name"
	fSpanKind = "span.kind"
	fStatus   = "status"
	fStatMsg  = "status.message"
	fStart    = "start"
	fEnd      = "end"
	fDuration = "duration_ms"
	fEvents   = "span.events"

	fTxName       = "tx.name"
	fTxError      = "tx.error"
	fTxClientIP   = "tx.client_ip"
	fTxUser       = "tx.user"
	fTxUserAgent  = "tx.user_agent"
	fTxMethod     = "tx.method"
	fTxStatus     = "tx.status"
	fTxSQLCount   = "tx.sql_count"
	fTxSQLMs      = "tx.sql_ms"
	fTxHTTPCCount = "tx.httpc_count"
	fTxHTTPCMs    = "tx.httpc_ms"
	fTxCPUMs      = "tx.cpu_ms"
	fTxAlloc      = "tx.alloc_bytes"
	// The library's attribute, kept on the row as sent.
	fTxStepsDropped = "osprey.tx.steps_dropped"

	fStepType    = "step.type"
	fStepText    = "step.text"
	fStepRows    = "step.rows"
	fStepElapsed = "step.elapsed_ms"
	fElapsed     = "elapsed_ms"
	fStackHash   = "stack.hash"

	fCount     = "count"
	fErrors    = "errors"
	fSumMs     = "sum_ms"
	fMaxMs     = "max_ms"
	fApdexS    = "apdex_s"
	fApdexT    = "apdex_t"
	fUsers     = "users"
	fActive    = "active"
	fCPUPct    = "cpu_percent"
	fHeap      = "heap_bytes"
	fHitmap    = "hitmap"
	fHitmapErr = "hitmap_err"

	fStatKind = "stat.kind"
	fStatKey  = "stat.key"
)

const (
	defaultRange = 10 * time.Minute
	// window is the rollup window: apmroll rows are 5-s counters.
	window = 5 * time.Second
	// storeMaxRows is the store's page cap.
	storeMaxRows = 10_000
	// maxGroups bounds the groups of one aggregation: instances × points
	// of an overview, keys of a statistics kind.
	maxGroups = 200_000
	// lookupRange is how far back a trace, a transaction or a stack text
	// is looked for when the request gives no range: stack texts are sent
	// once per process session, so they may be days old.
	lookupRange = 7 * 24 * time.Hour
	// clockSkew: span rows are timed at their end and may run ahead of
	// our clock by the store's accepted skew.
	clockSkew = 10 * time.Minute
)

type handler struct {
	es  *event.Store
	log *slog.Logger
	now func() time.Time
}

// NewHandler returns the APM API. log receives what cannot be reported to
// the client; nil means slog.Default().
func NewHandler(es *event.Store, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return (&handler{es: es, log: log.With("component", "api-apm"), now: time.Now}).routes()
}

func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/apm/apps", h.apps)
	mux.HandleFunc("GET /api/v1/apm/overview", h.overview)
	mux.HandleFunc("GET /api/v1/apm/hitmap", h.hitmap)
	mux.HandleFunc("GET /api/v1/apm/transactions", h.transactions)
	mux.HandleFunc("GET /api/v1/apm/profile/{traceID}/{spanID}", h.profile)
	mux.HandleFunc("GET /api/v1/apm/active", h.active)
	mux.HandleFunc("GET /api/v1/apm/active/history/{spanID}", h.activeHistory)
	mux.HandleFunc("GET /api/v1/apm/stacks", h.stacks)
	mux.HandleFunc("GET /api/v1/apm/stacks/{hash}", h.stack)
	mux.HandleFunc("GET /api/v1/apm/stats", h.stats)
	mux.HandleFunc("GET /api/v1/apm/trace/{traceID}", h.trace)
	mux.HandleFunc("GET /api/v1/apm/servicemap", h.serviceMap)
	mux.HandleFunc("/api/v1/apm/", func(w http.ResponseWriter, r *http.Request) {
		envelope.WriteError(w, http.StatusNotFound, "not_found", "no such APM API path: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func badRequest(w http.ResponseWriter, err error) {
	envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
}

func notFound(w http.ResponseWriter, msg string) {
	envelope.WriteError(w, http.StatusNotFound, "not_found", msg)
}

// selection is what every endpoint reads: the project, the range and the
// app/instance/k8s filters.
type selection struct {
	project    int64
	start, end time.Time
	// in holds the filters as the rows name their fields.
	in []event.In
	// k8s says whether in has namespace, deployment or pod filters, which
	// rows without k8s fields (active) cannot apply themselves.
	k8s bool
}

// filterParams maps the query parameters to row fields.
var filterParams = []struct{ param, field string }{
	{"app", fApp}, {"instance", fInstance},
	{"namespace", fNamespace}, {"deployment", fDeployment}, {"pod", fPod},
}

// parse authenticates the request and reads the shared parameters, with
// def as the default range. ok=false means the answer has been written.
func (h *handler) parse(w http.ResponseWriter, r *http.Request, def time.Duration) (sel selection, ok bool) {
	id, ok := objects.Identity(w, r)
	if !ok {
		return sel, false
	}
	sel, err := parseSelection(r.URL.Query(), h.now(), def)
	if err != nil {
		badRequest(w, err)
		return sel, false
	}
	sel.project = id.Project.ID
	return sel, true
}

func parseSelection(v url.Values, now time.Time, def time.Duration) (selection, error) {
	var sel selection
	var err error
	if sel.start, sel.end, err = envelope.ParseRange(v, now, def); err != nil {
		return sel, err
	}
	if !sel.start.Before(sel.end) {
		return sel, errors.New("start must be before end")
	}
	for _, p := range filterParams {
		var vals []string
		for _, s := range v[p.param] {
			if s = strings.TrimSpace(s); s != "" {
				vals = append(vals, s)
			}
		}
		if len(vals) > 0 {
			sel.in = append(sel.in, event.In{Field: p.field, Values: vals})
			sel.k8s = sel.k8s || (p.field != fApp && p.field != fInstance)
		}
	}
	return sel, nil
}

// query is an event query of typ over the selection's range and filters.
func (sel selection) query(typ string) event.Query {
	return event.Query{Start: sel.start, End: sel.end, Type: typ, In: slices.Clone(sel.in)}
}

// appFilters are the selection's app and instance filters only, for rows
// that have no k8s fields.
func (sel selection) appFilters() []event.In {
	var out []event.In
	for _, in := range sel.in {
		if in.Field == fApp || in.Field == fInstance {
			out = append(out, in)
		}
	}
	return out
}

// instKey names one instance of one app.
type instKey struct{ app, instance string }

// instancesOf resolves the selection's k8s filters to the instances whose
// rollups carry those fields in [start, end], for rows without them.
func (h *handler) instancesOf(ctx context.Context, sel selection, start, end time.Time) ([]instKey, error) {
	q := sel.query(typeRoll)
	q.Start, q.End = start, end
	groups, err := h.es.Group(ctx, sel.project, q, event.GroupQuery{
		By: []string{fApp, fInstance}, Aggs: []event.Agg{{Name: "n", Func: "count"}}, MaxGroups: maxGroups,
	})
	if err != nil {
		return nil, fmt.Errorf("instances of the k8s filters: %w", err)
	}
	out := make([]instKey, len(groups))
	for i, g := range groups {
		out[i] = instKey{g.Keys[0], g.Keys[1]}
	}
	return out, nil
}

// narrowToInstances restricts q to the given instances: an instance-in
// filter (app names are implied by the instances, which rows of one app
// share). none=true means no instance matches and the answer is empty.
func narrowToInstances(q *event.Query, insts []instKey) (none bool) {
	if len(insts) == 0 {
		return true
	}
	vals := make([]string, 0, len(insts))
	for _, k := range insts {
		if !slices.Contains(vals, k.instance) {
			vals = append(vals, k.instance)
		}
	}
	q.In = append(q.In, event.In{Field: fInstance, Values: vals})
	return false
}

// parseMs reads a non-negative millisecond figure; def when absent.
func parseMs(v url.Values, name string, def float64) (float64, error) {
	s := v.Get(name)
	if s == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("%s: want milliseconds (a number ≥ 0), got %q", name, s)
	}
	return f, nil
}

var (
	traceIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)
	spanIDRe  = regexp.MustCompile(`^[0-9a-f]{16}$`)
	hashRe    = regexp.MustCompile(`^[0-9a-f]{1,64}$`)
)

// pathID reads a lower-case hex path value; ok=false means 400 was
// answered.
func pathID(w http.ResponseWriter, r *http.Request, name string, re *regexp.Regexp, want string) (string, bool) {
	id := strings.ToLower(r.PathValue(name))
	if !re.MatchString(id) {
		badRequest(w, fmt.Errorf("%s: want %s, got %q", name, want, r.PathValue(name)))
		return "", false
	}
	return id, true
}

// lookupSelection is the range of a lookup by id: the request's start
// and end when given, else the last lookupRange (plus the clock skew
// span rows may have).
func (h *handler) lookupSelection(w http.ResponseWriter, r *http.Request) (selection, bool) {
	sel, ok := h.parse(w, r, lookupRange)
	if ok && r.URL.Query().Get("end") == "" {
		sel.end = sel.end.Add(clockSkew)
	}
	return sel, ok
}

// Record helpers. Values are as the store holds them; numbers that are
// missing or not numbers read as NaN (null in JSON) or 0 (counts).

func num(rec event.Record, f string) float64 {
	v, ok := rec[f]
	if !ok {
		return math.NaN()
	}
	x, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return math.NaN()
	}
	return x
}

// count is a counter field; 0 when missing.
func count(rec event.Record, f string) float64 { return zeroNaN(num(rec, f)) }

// nanos reads a unix-nanosecond field; 0 when missing.
func nanos(rec event.Record, f string) int64 {
	x, _ := strconv.ParseInt(rec[f], 10, 64)
	return x
}

func recTime(rec event.Record) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, rec[event.FieldTime])
	return t
}

// truthy reads the 1/0 flags of the rows (and true/false, to be lenient).
func truthy(s string) bool { return s == "1" || s == "true" }

// ms converts a nanosecond difference to milliseconds.
func ms(ns int64) envelope.Num { return envelope.Num(float64(ns) / 1e6) }

// ratio is a/b, NaN (null) when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// alignDown rounds t down to a multiple of d since the Unix epoch, as the
// store aligns its time buckets and the rollups their windows
// (time.Truncate counts from year 1, which differs for steps that do not
// divide a day).
func alignDown(t time.Time, d time.Duration) time.Time {
	ns, step := t.UnixNano(), int64(d)
	q := ns / step
	if ns%step < 0 {
		q--
	}
	return time.Unix(0, q*step)
}
