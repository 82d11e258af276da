// Package alerts serves the alert API: rules, notification channels (with
// a test button), maintenance windows, the live alert list with
// acknowledgement, and the alert history.
package alerts

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/osprey-monitoring/osprey/internal/alert"
	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/api/objects"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/notify"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const (
	maxBody        = 1 << 20
	defaultHistory = 24 * time.Hour
	maxHistory     = 5000
	testTimeout    = 20 * time.Second
)

// Tester sends one notification now (the channel test button).
type Tester interface {
	Send(ctx context.Context, ch *notify.Channel, n notify.Notification) error
}

type handler struct {
	meta   *meta.Store
	engine *alert.Engine
	es     *event.Store
	tester Tester
	now    func() time.Time
}

// NewHandler returns the alerts API; authentication is the caller's
// middleware (authn.From must give the identity).
func NewHandler(m *meta.Store, e *alert.Engine, es *event.Store, t Tester) http.Handler {
	h := &handler{meta: m, engine: e, es: es, tester: t, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/alerts", h.active)
	mux.HandleFunc("POST /api/v1/alerts/{id}/ack", h.ack)
	mux.HandleFunc("GET /api/v1/alerts/history", h.history)

	rules := objects.API[alert.Rule]{Meta: m, Kind: alert.ObjRule, What: "alert rule",
		Check: func(r *alert.Rule) error { return r.Normalize() },
		SetID: func(r *alert.Rule, id int64, t time.Time) { r.ID, r.UpdatedAt = id, t }}
	rules.Routes(mux, "/api/v1/alerts/rules")

	chans := objects.API[channelDoc]{Meta: m, Kind: alert.ObjChannel, What: "notification channel",
		Check: func(c *channelDoc) error { return c.Validate() },
		SetID: func(c *channelDoc, id int64, _ time.Time) { c.ID = id },
		View:  func(c *channelDoc) any { return c.redacted() },
		Keep:  keepSecrets}
	chans.Routes(mux, "/api/v1/alerts/channels")
	mux.HandleFunc("POST /api/v1/alerts/channels/{id}/test", h.testChannel)
	mux.HandleFunc("POST /api/v1/alerts/channels/test", h.testChannel)

	mw := objects.API[alert.MaintenanceWindow]{Meta: m, Kind: alert.ObjMaintenance, What: "maintenance window",
		Check: func(m *alert.MaintenanceWindow) error { return m.Normalize() },
		SetID: func(m *alert.MaintenanceWindow, id int64, _ time.Time) { m.ID = id }}
	mw.Routes(mux, "/api/v1/alerts/maintenance")

	mux.HandleFunc("/api/v1/alerts/", func(w http.ResponseWriter, r *http.Request) {
		envelope.WriteError(w, http.StatusNotFound, "not_found", "no such alerts API path: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (h *handler) active(w http.ResponseWriter, r *http.Request) {
	id, ok := objects.Identity(w, r)
	if !ok {
		return
	}
	envelope.WriteData(w, h.engine.Active(id.Project.ID))
}

func (h *handler) ack(w http.ResponseWriter, r *http.Request) {
	id, ok := objects.Identity(w, r)
	if !ok {
		return
	}
	st, err := h.engine.Ack(r.Context(), id.Project.ID, r.PathValue("id"), id.User.Name)
	switch {
	case errors.Is(err, meta.ErrNotFound):
		envelope.WriteError(w, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, alert.ErrNotFiring):
		envelope.WriteError(w, http.StatusConflict, "conflict", "alert "+st.ID+" is "+st.Status+", not firing")
	case err != nil:
		envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
	default:
		envelope.WriteData(w, st)
	}
}

// history lists alert transitions (fired, resolved, acknowledged) in
// [start, end], newest first; ?rule= narrows to one rule.
func (h *handler) history(w http.ResponseWriter, r *http.Request) {
	id, ok := objects.Identity(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	start, end, err := envelope.ParseRange(q, h.now(), defaultHistory)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	fs := []event.Filter{{Field: "event.kind", Op: "=", Value: alert.EventKindAlert}}
	if rule := q.Get("rule"); rule != "" {
		fs = append(fs, event.Filter{Field: "alert.rule_id", Op: "=", Value: rule})
	}
	if a := q.Get("alert"); a != "" {
		fs = append(fs, event.Filter{Field: "alert.id", Op: "=", Value: a})
	}
	limit, err := envelope.ParseLimit(q, 500, maxHistory)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	res, err := h.es.Search(r.Context(), id.Project.ID, event.Query{Start: start, End: end, Type: "event", Filters: fs, Limit: limit})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	recs := res.Records
	if recs == nil {
		recs = []event.Record{}
	}
	envelope.WriteData(w, map[string]any{"events": recs, "partial": res.Partial})
}
