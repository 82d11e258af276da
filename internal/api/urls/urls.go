// Package urls serves URL monitoring: the checks (create, edit, delete),
// the list with each check's current status per region (agent), a
// check's run history and its uptime over a range.
package urls

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/api/objects"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
	"github.com/osprey-monitoring/osprey/internal/urlchecks"
)

const (
	queryTimeout   = 30 * time.Second
	defaultRange   = 24 * time.Hour
	maxHistory     = 5000
	defaultHistory = 200
	typeURL        = "url"
)

type handler struct {
	meta *meta.Store
	ms   *metric.Store
	es   *event.Store
	now  func() time.Time
}

// NewHandler returns the URL monitoring API; authentication is the
// caller's middleware.
func NewHandler(m *meta.Store, ms *metric.Store, es *event.Store) http.Handler {
	h := &handler{meta: m, ms: ms, es: es, now: time.Now}
	mux := http.NewServeMux()
	checks := objects.API[urlchecks.Check]{Meta: m, Kind: urlchecks.ObjKind, What: "URL check",
		Check: func(c *urlchecks.Check) error { return c.Normalize() },
		SetID: func(c *urlchecks.Check, id int64, _ time.Time) { c.ID = id }}
	checks.Routes(mux, "/api/v1/urls/checks")
	mux.HandleFunc("GET /api/v1/urls", h.list)
	mux.HandleFunc("GET /api/v1/urls/checks/{id}/history", h.history)
	mux.HandleFunc("GET /api/v1/urls/checks/{id}/uptime", h.uptime)
	mux.HandleFunc("/api/v1/urls/", func(w http.ResponseWriter, r *http.Request) {
		envelope.WriteError(w, http.StatusNotFound, "not_found", "no such URL API path: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

// regionJSON is a check's latest run from one agent.
type regionJSON struct {
	AgentID    string       `json:"agentId"`
	Agent      string       `json:"agent"`
	Up         *bool        `json:"up"`
	TotalMs    envelope.Num `json:"totalMs"`
	StatusCode envelope.Num `json:"statusCode"`
	TLSExpiry  envelope.Num `json:"tlsExpiry"` // unix seconds
	Uptime     envelope.Num `json:"uptime"`    // 0-100 over the last 24 h
}

type checkStatusJSON struct {
	urlchecks.Check
	Status  string       `json:"status"` // up, down, partial (down in some regions), unknown, paused
	Regions []regionJSON `json:"regions"`
}

// vector runs an instant query and returns its samples by check id and
// agent id.
func (h *handler) vector(ctx context.Context, project int64, expr string) (map[[2]string]promql.Sample, error) {
	q, err := h.ms.Engine().NewInstantQuery(ctx, h.ms.Queryable(project), nil, expr, h.now())
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	vec, err := res.Vector()
	if err != nil {
		return nil, err
	}
	out := make(map[[2]string]promql.Sample, len(vec))
	for _, s := range vec {
		out[[2]string{s.Metric.Get("url_check_id"), s.Metric.Get("osprey_agent_id")}] = s
	}
	return out, nil
}

// list answers every check with its latest result per region.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	id, ok := objects.Identity(w, r)
	if !ok {
		return
	}
	checks, err := urlchecks.List(r.Context(), h.meta, id.Project.ID)
	if err != nil {
		envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	// last_over_time: a check runs every interval (up to a day), so its
	// latest value may be older than the 5-minute lookback.
	queries := map[string]string{
		"up":     `last_over_time(osprey_url_up[1d])`,
		"total":  `last_over_time(osprey_url_duration_seconds[1d])`,
		"status": `last_over_time(osprey_url_status_code[1d])`,
		"tls":    `last_over_time(osprey_url_tls_expiry_seconds[1d])`,
		"uptime": `avg_over_time(osprey_url_up[1d]) * 100`,
	}
	got := map[string]map[[2]string]promql.Sample{}
	for k, q := range queries {
		if got[k], err = h.vector(ctx, id.Project.ID, q); err != nil {
			envelope.WriteError(w, http.StatusInternalServerError, "internal", fmt.Sprintf("url status query %s: %v", k, err))
			return
		}
	}
	value := func(k string, key [2]string) float64 {
		if s, ok := got[k][key]; ok {
			return s.F
		}
		return math.NaN()
	}
	byCheck := map[string][][2]string{}
	for key := range got["up"] {
		byCheck[key[0]] = append(byCheck[key[0]], key)
	}
	out := make([]checkStatusJSON, 0, len(checks))
	for _, c := range checks {
		cid := strconv.FormatInt(c.ID, 10)
		cs := checkStatusJSON{Check: c, Regions: []regionJSON{}}
		ups, downs := 0, 0
		for _, key := range byCheck[cid] {
			s := got["up"][key]
			up := s.F == 1
			if up {
				ups++
			} else {
				downs++
			}
			cs.Regions = append(cs.Regions, regionJSON{
				AgentID: key[1], Agent: s.Metric.Get("osprey_agent_name"), Up: &up,
				TotalMs: envelope.Num(value("total", key) * 1000), StatusCode: envelope.Num(value("status", key)),
				TLSExpiry: envelope.Num(value("tls", key)), Uptime: envelope.Num(value("uptime", key)),
			})
		}
		switch {
		case !c.Enabled:
			cs.Status = "paused"
		case ups+downs == 0:
			cs.Status = "unknown"
		case downs == 0:
			cs.Status = "up"
		case ups == 0:
			cs.Status = "down"
		default:
			cs.Status = "partial"
		}
		out = append(out, cs)
	}
	envelope.WriteData(w, out)
}

func (h *handler) check(w http.ResponseWriter, r *http.Request) (int64, string, bool) {
	id, ok := objects.Identity(w, r)
	if !ok {
		return 0, "", false
	}
	cid, ok := objects.PathID(w, r)
	if !ok {
		return 0, "", false
	}
	if _, err := h.meta.Object(r.Context(), id.Project.ID, urlchecks.ObjKind, cid); err != nil {
		objects.WriteMetaError(w, err)
		return 0, "", false
	}
	return id.Project.ID, strconv.FormatInt(cid, 10), true
}

// history lists a check's runs in [start, end], newest first; ?agent=
// narrows to one region, ?failed=true to failures; ?cursor= pages.
func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	project, cid, ok := h.check(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	start, end, err := envelope.ParseRange(q, h.now(), defaultRange)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	fs := []event.Filter{{Field: "url.check.id", Op: "=", Value: cid}}
	if a := q.Get("agent"); a != "" {
		fs = append(fs, event.Filter{Field: "agent.id", Op: "=", Value: a})
	}
	if q.Get("failed") == "true" {
		fs = append(fs, event.Filter{Field: "url.up", Op: "=", Value: "false"})
	}
	limit, err := envelope.ParseLimit(q, defaultHistory, maxHistory)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	res, err := h.es.Search(r.Context(), project, event.Query{Start: start, End: end, Type: typeURL, Filters: fs,
		Limit: limit, Cursor: q.Get("cursor")})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	recs := res.Records
	if recs == nil {
		recs = []event.Record{}
	}
	envelope.WriteData(w, map[string]any{"runs": recs, "nextCursor": res.NextCursor, "partial": res.Partial})
}

// uptime counts a check's runs and failures in [start, end].
func (h *handler) uptime(w http.ResponseWriter, r *http.Request) {
	project, cid, ok := h.check(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	start, end, err := envelope.ParseRange(q, h.now(), defaultRange)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	base := []event.Filter{{Field: "url.check.id", Op: "=", Value: cid}}
	if a := q.Get("agent"); a != "" {
		base = append(base, event.Filter{Field: "agent.id", Op: "=", Value: a})
	}
	total, err := h.es.Count(r.Context(), project, event.Query{Start: start, End: end, Type: typeURL, Filters: base})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	failed, err := h.es.Count(r.Context(), project, event.Query{Start: start, End: end, Type: typeURL,
		Filters: append(base, event.Filter{Field: "url.up", Op: "=", Value: "false"})})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	pct := math.NaN()
	if total > 0 {
		pct = 100 * float64(total-failed) / float64(total)
	}
	envelope.WriteData(w, map[string]any{"runs": total, "failed": failed, "uptime": envelope.Num(pct),
		"start": start.UTC().Format(time.RFC3339), "end": end.UTC().Format(time.RFC3339)})
}
