// Package databases serves the database monitoring views: the instance
// list, the stat-metric catalog for the metric picker, sessions and lock
// trees at any moment, lock history and SQL statistics. Instances are the
// agents of kind db (one per instance an agent's db module watches); their
// stats are in the TSDB and their snapshots in the event store.
package databases

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

// Event row fields these views read (written by internal/eventrow).
const (
	fieldBody         = "body"
	fieldSnapshotType = "snapshot.type"
	fieldAgentID      = "agent.id"
	typeSnapshot      = "snapshot"
)

const (
	// sessionsWindow is how far before the chosen moment a sessions
	// snapshot is looked for: the db module sends one every cycle (5 s).
	sessionsWindow = 30 * time.Second
	// lockWindow: lock snapshots are sent only in cycles with waits, so a
	// moment with none within a cycle and a half had no waits.
	lockWindow   = 8 * time.Second
	queryTimeout = 30 * time.Second
	maxHistory   = 2000
)

type handler struct {
	tr      *agentstate.Tracker
	ms      *metric.Store
	es      *event.Store
	project func(*http.Request) (int64, bool)
	now     func() time.Time
}

// NewHandler returns the databases API. project resolves the authenticated
// request's project; ok=false answers 401.
func NewHandler(tr *agentstate.Tracker, ms *metric.Store, es *event.Store, project func(*http.Request) (int64, bool)) http.Handler {
	h := &handler{tr: tr, ms: ms, es: es, project: project, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/databases", h.list)
	mux.HandleFunc("GET /api/v1/databases/{id}", h.one)
	mux.HandleFunc("GET /api/v1/databases/{id}/catalog", h.catalog)
	mux.HandleFunc("GET /api/v1/databases/{id}/sessions", h.sessions)
	mux.HandleFunc("GET /api/v1/databases/{id}/locks", h.locks)
	mux.HandleFunc("GET /api/v1/databases/{id}/locks/history", h.lockHistory)
	mux.HandleFunc("GET /api/v1/databases/{id}/statements", h.statements)
	mux.HandleFunc("/api/v1/databases/", func(w http.ResponseWriter, r *http.Request) {
		envelope.WriteError(w, http.StatusNotFound, "not_found", "no such databases API path: "+r.URL.Path)
	})
	return mux
}

func (h *handler) auth(w http.ResponseWriter, r *http.Request) (int64, bool) {
	p, ok := h.project(r)
	if !ok {
		envelope.WriteError(w, http.StatusUnauthorized, "unauthorized", "not authenticated")
	}
	return p, ok
}

type instanceJSON struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Group          string            `json:"group"`
	Engine         string            `json:"engine"`
	Version        string            `json:"version"`
	Address        string            `json:"address"`
	Labels         map[string]string `json:"labels"`
	Active         bool              `json:"active"` // the agent reports
	Up             *bool             `json:"up"`     // the database answers; null before the first report
	Health         string            `json:"health"` // ok, warning (lock waits), down, inactive
	LastSeen       time.Time         `json:"lastSeen"`
	Sessions       envelope.Num      `json:"sessions"`
	ActiveSessions envelope.Num      `json:"activeSessions"`
	Waits          envelope.Num      `json:"lockWaits"`
	// Rate is statements per second (MySQL Questions) or transactions
	// per second (PostgreSQL commits + rollbacks) over the last minute.
	Rate            envelope.Num `json:"rate"`
	CollectDuration envelope.Num `json:"collectSeconds"`
}

func latest(a *agentstate.Agent, k string) float64 {
	if v, ok := a.Latest[k]; ok {
		return v
	}
	return math.NaN()
}

func toInstance(a *agentstate.Agent, rate float64) instanceJSON {
	in := instanceJSON{
		ID: a.ID, Name: a.Name, Group: a.Group, Labels: a.Labels, Active: a.Active, LastSeen: a.LastSeen.UTC(),
		Engine: a.Labels["db.system"], Version: a.Labels["db.version"], Address: a.Labels["server.address"],
		Sessions: envelope.Num(latest(a, "osprey.db.sessions.total")), ActiveSessions: envelope.Num(latest(a, "osprey.db.sessions.active")),
		Waits: envelope.Num(latest(a, "osprey.db.lock.waits")), Rate: envelope.Num(rate),
		CollectDuration: envelope.Num(latest(a, "osprey.db.collect.duration")),
	}
	if in.Labels == nil {
		in.Labels = map[string]string{}
	}
	if v, ok := a.Latest["osprey.db.up"]; ok {
		up := v == 1
		in.Up = &up
	}
	switch {
	case !a.Active:
		in.Health = "inactive"
	case in.Up != nil && !*in.Up:
		in.Health = "down"
	case float64(in.Waits) > 0:
		in.Health = "warning"
	default:
		in.Health = "ok"
	}
	return in
}

func (h *handler) instances(project int64) []agentstate.Agent {
	var out []agentstate.Agent
	for _, a := range h.tr.List(project, h.now()) {
		if a.Kind == wire.KindDB {
			out = append(out, a)
		}
	}
	return out
}

// rateQuery is each instance's statement or transaction rate.
const rateQuery = `sum by (osprey_agent_id) (rate(mysql_global_status_questions_total[1m]))
 or sum by (osprey_agent_id) (rate(pg_stat_database_xact_commit_total[1m]) + rate(pg_stat_database_xact_rollback_total[1m]))`

func (h *handler) rates(ctx context.Context, project int64) map[string]float64 {
	out := map[string]float64{}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	q, err := h.ms.Engine().NewInstantQuery(ctx, h.ms.Queryable(project), nil, rateQuery, h.now())
	if err != nil {
		return out
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return out
	}
	vec, err := res.Vector()
	if err != nil {
		return out
	}
	for _, s := range vec {
		out[s.Metric.Get("osprey_agent_id")] = s.F
	}
	return out
}

func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	all := h.instances(project)
	rates := h.rates(r.Context(), project)
	out := make([]instanceJSON, 0, len(all))
	for i := range all {
		rate, ok := rates[all[i].ID]
		if !ok {
			rate = math.NaN()
		}
		out = append(out, toInstance(&all[i], rate))
	}
	envelope.WriteData(w, out)
}

// find returns the instance or answers 404.
func (h *handler) find(w http.ResponseWriter, r *http.Request) (int64, *agentstate.Agent, bool) {
	project, ok := h.auth(w, r)
	if !ok {
		return 0, nil, false
	}
	id := r.PathValue("id")
	for _, a := range h.instances(project) {
		if a.ID == id {
			return project, &a, true
		}
	}
	envelope.WriteError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no database instance %q", id))
	return 0, nil, false
}

func (h *handler) one(w http.ResponseWriter, r *http.Request) {
	project, a, ok := h.find(w, r)
	if !ok {
		return
	}
	rate, ok := h.rates(r.Context(), project)[a.ID]
	if !ok {
		rate = math.NaN()
	}
	envelope.WriteData(w, toInstance(a, rate))
}

var lenient = protojson.UnmarshalOptions{DiscardUnknown: true}

// decodeBody reads a snapshot row's body (protojson) back into msg.
func decodeBody(rec event.Record, msg proto.Message) error {
	b, ok := rec[fieldBody]
	if !ok {
		return fmt.Errorf("snapshot at %s has no body", rec[event.FieldTime])
	}
	if err := lenient.Unmarshal([]byte(b), msg); err != nil {
		return fmt.Errorf("decode snapshot at %s: %w", rec[event.FieldTime], err)
	}
	return nil
}

func snapshotFilters(kind, id string) []event.Filter {
	return []event.Filter{{Field: fieldSnapshotType, Op: "=", Value: kind}, {Field: fieldAgentID, Op: "=", Value: id}}
}

// snapshotAt finds the instance and its newest snapshot of kind in
// [at-window, at] for ?at= (default now); rec is nil when there is none.
// It answers the error itself (ok=false).
func (h *handler) snapshotAt(w http.ResponseWriter, r *http.Request, kind string, window time.Duration) (a *agentstate.Agent, at time.Time, rec event.Record, ok bool) {
	project, a, ok := h.find(w, r)
	if !ok {
		return nil, at, nil, false
	}
	at, err := envelope.ParseTime(r.URL.Query().Get("at"), h.now())
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", "at: "+err.Error())
		return nil, at, nil, false
	}
	rec, err = h.latestSnapshot(r.Context(), project, a.ID, kind, at, window)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return nil, at, nil, false
	}
	return a, at, rec, true
}

// latestSnapshot finds the newest snapshot of kind in [at-window, at].
func (h *handler) latestSnapshot(ctx context.Context, project int64, id, kind string, at time.Time, window time.Duration) (event.Record, error) {
	res, err := h.es.Search(ctx, project, event.Query{
		Start: at.Add(-window), End: at, Type: typeSnapshot,
		Filters: snapshotFilters(kind, id), Limit: 1,
		Fields: []string{event.FieldTime, fieldBody},
	})
	if err != nil {
		return nil, err
	}
	if len(res.Records) == 0 {
		return nil, nil
	}
	return res.Records[0], nil
}
