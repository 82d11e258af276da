// Package events serves the event store over HTTP:
//
//	GET /api/v1/events        records, newest first, with cursor paging
//	GET /api/v1/events/count  number of matching records
//	GET /api/v1/traces/{id}   all spans of one trace, ordered by start
//
// Responses use the Prometheus API envelope ({"status":"success","data":…}
// or {"status":"error","errorType":…,"error":…}) so one client handles
// every Osprey API.
package events

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

// ProjectFunc resolves the request's project; auth is done by the
// caller's middleware. ok=false answers 401.
type ProjectFunc func(r *http.Request) (project int64, ok bool)

const (
	defaultRange = time.Hour
	// A trace is looked up within this distance of "now" unless the
	// request gives start/end.
	defaultTraceRange = 7 * 24 * time.Hour
	maxTraceSpans     = 10000
	traceClockSkew    = 10 * time.Minute
)

type handler struct {
	store   *event.Store
	project ProjectFunc
	now     func() time.Time
}

// NewHandler returns the events API handler.
func NewHandler(store *event.Store, project ProjectFunc) http.Handler {
	h := &handler{store: store, project: project, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/events", h.search)
	mux.HandleFunc("GET /api/v1/events/count", h.count)
	mux.HandleFunc("GET /api/v1/traces/{traceID}", h.trace)
	return mux
}

type searchData struct {
	Records    []event.Record `json:"records"`
	NextCursor string         `json:"nextCursor"`
	Partial    bool           `json:"partial"`
	Reason     string         `json:"reason,omitempty"`
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	q, err := h.parseQuery(r, defaultRange)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	res, err := h.store.Search(r.Context(), project, q)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	if res.Records == nil {
		res.Records = []event.Record{}
	}
	envelope.WriteData(w, searchData{Records: res.Records, NextCursor: res.NextCursor, Partial: res.Partial, Reason: res.Reason})
}

func (h *handler) count(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	q, err := h.parseQuery(r, defaultRange)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	n, err := h.store.Count(r.Context(), project, q)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	envelope.WriteData(w, map[string]uint64{"count": n})
}

type traceData struct {
	TraceID string         `json:"traceId"`
	Spans   []event.Record `json:"spans"`
	Partial bool           `json:"partial"`
	Reason  string         `json:"reason,omitempty"`
}

func (h *handler) trace(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	id := strings.ToLower(r.PathValue("traceID"))
	if b, err := hex.DecodeString(id); err != nil || len(b) != 16 {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", "trace id must be 32 hex digits")
		return
	}
	q, err := h.parseQuery(r, defaultTraceRange)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	if r.URL.Query().Get("end") == "" {
		// Spans are stored by end time and may run ahead of our clock by
		// the store's accepted skew.
		q.End = q.End.Add(traceClockSkew)
	}
	q.Type = "span"
	q.Text = ""
	q.Filters = []event.Filter{{Field: "trace_id", Op: "=", Value: id}}
	q.Limit = maxTraceSpans
	q.Cursor = ""
	res, err := h.store.Search(r.Context(), project, q)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	spans := res.Records
	if spans == nil {
		spans = []event.Record{}
	}
	slices.SortStableFunc(spans, func(a, b event.Record) int {
		sa, _ := strconv.ParseInt(a["start"], 10, 64)
		sb, _ := strconv.ParseInt(b["start"], 10, 64)
		return cmpInt(sa, sb)
	})
	partial, reason := res.Partial, res.Reason
	if res.NextCursor != "" && !partial {
		partial, reason = true, fmt.Sprintf("trace has more than %d spans", maxTraceSpans)
	}
	envelope.WriteData(w, traceData{TraceID: id, Spans: spans, Partial: partial, Reason: reason})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (h *handler) auth(w http.ResponseWriter, r *http.Request) (int64, bool) {
	project, ok := h.project(r)
	if !ok {
		envelope.WriteError(w, http.StatusUnauthorized, "unauthorized", "no project for this request")
		return 0, false
	}
	return project, true
}

// parseQuery reads type, start, end, q, filter (repeatable), limit,
// cursor and fields.
func (h *handler) parseQuery(r *http.Request, defRange time.Duration) (event.Query, error) {
	v := r.URL.Query()
	now := h.now()
	var q event.Query
	var err error
	if q.Start, q.End, err = envelope.ParseRange(v, now, defRange); err != nil {
		return q, err
	}
	if q.Start.After(q.End) {
		return q, errors.New("start must not be after end")
	}
	q.Type = v.Get("type")
	q.Text = v.Get("q")
	for _, f := range v["filter"] {
		flt, err := event.ParseFilter(f)
		if err != nil {
			return q, err
		}
		q.Filters = append(q.Filters, flt)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return q, fmt.Errorf("invalid limit %q: must be a positive integer", s)
		}
		q.Limit = n
	}
	q.Cursor = v.Get("cursor")
	if s := v.Get("fields"); s != "" {
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				q.Fields = append(q.Fields, f)
			}
		}
	}
	return q, nil
}
