package servers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/api/envelope"
)

// maxMapColumns bounds the CPU map's width: a heat map cell per column
// per server, and 2,000 servers × 120 columns is what a screen shows.
const maxMapColumns = 120

// niceSteps are the steps the map chooses from, so columns land on round
// times and stay put between refreshes.
var niceSteps = []time.Duration{
	5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// agentLabel is the series label of the reporting agent's id (the
// osprey.agent.id resource attribute promoted by the metric store).
const agentLabel = "osprey_agent_id"

// mapGrid picks the columns: a requested step is widened to a nice step
// giving at most maxMapColumns columns; the columns end at the last step
// boundary not after end.
func mapGrid(start, end time.Time, step time.Duration) (time.Time, time.Time, time.Duration) {
	span := end.Sub(start)
	// A little slack, so "the last 10 minutes" from a whole-second start
	// a fraction over 10 minutes still gets 5 s columns (the oldest
	// column is then cut).
	need := time.Duration(float64(span) * 0.98 / maxMapColumns)
	step = max(step, need)
	chosen := niceSteps[len(niceSteps)-1]
	for _, s := range niceSteps {
		if s >= step {
			chosen = s
			break
		}
	}
	if step > chosen {
		chosen = step.Round(time.Second)
	}
	last := end.Truncate(chosen)
	cols := min(int(span/chosen)+1, maxMapColumns)
	first := last.Add(-time.Duration(cols-1) * chosen)
	return first, last, chosen
}

// cpuMapQuery is the busy percentage of each host, averaged over each
// column's step so a short spike between two columns is not missed. Only
// whole-host points (no cpu label) are read.
func cpuMapQuery(step time.Duration) string {
	return `100 * (1 - avg by (` + agentLabel + `) (avg_over_time(system_cpu_utilization_ratio{state="idle",cpu=""}[` +
		strconv.FormatInt(int64(step/time.Second), 10) + `s])))`
}

type mapServer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (h *handler) cpuMap(w http.ResponseWriter, r *http.Request) {
	project, ok := h.auth(w, r)
	if !ok {
		return
	}
	now := h.now()
	q := r.URL.Query()
	start, end, err := envelope.ParseRange(q, now, defaultMapWin)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	if !start.Before(end) {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", "start must be before end")
		return
	}
	var step time.Duration
	if s := q.Get("step"); s != "" {
		if step, err = time.ParseDuration(s); err != nil {
			f, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || f <= 0 || f > 1e9 {
				envelope.WriteError(w, http.StatusBadRequest, "bad_data", fmt.Sprintf("step %q is not a duration or seconds", s))
				return
			}
			step = time.Duration(f * float64(time.Second))
		}
	}
	body, err := h.buildCPUMap(r.Context(), project, start, end, step, now)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// buildCPUMap runs the range query and lays it out as rows of servers
// (sorted by name) by columns of times. It writes the JSON itself: the
// value matrix is up to 240k numbers and nulls.
func (h *handler) buildCPUMap(ctx context.Context, project int64, start, end time.Time, step time.Duration, now time.Time) ([]byte, error) {
	first, last, step := mapGrid(start, end, step)
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	qry, err := h.ms.Engine().NewRangeQuery(ctx, h.ms.Queryable(project), nil, cpuMapQuery(step), first, last, step)
	if err != nil {
		return nil, fmt.Errorf("cpu map query: %w", err)
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, fmt.Errorf("cpu map query: %w", res.Err)
	}
	mat, err := res.Matrix()
	if err != nil {
		return nil, fmt.Errorf("cpu map query result: %w", err)
	}
	byID := make(map[string]promql.Series, len(mat))
	for _, s := range mat {
		byID[s.Metric.Get(agentLabel)] = s
	}
	// Rows: the host agents seen since the map's start, plus any series
	// of an agent the tracker does not know (it restarted without state).
	hosts := h.tr.Hosts(project, KindHost, now)
	rows := make([]agentstate.HostView, 0, len(hosts))
	known := make(map[string]bool, len(hosts))
	for _, v := range hosts {
		known[v.ID] = true
		if _, has := byID[v.ID]; has || !v.LastSeen.Before(first) {
			rows = append(rows, v)
		}
	}
	for id := range byID {
		if !known[id] && id != "" {
			rows = append(rows, agentstate.HostView{ID: id, Name: id})
		}
	}
	sortHosts(rows)

	cols := int(last.Sub(first)/step) + 1
	var b bytes.Buffer
	b.Grow(64 + len(rows)*(48+cols*5))
	b.WriteString(`{"status":"success","data":{"servers":`)
	servers := make([]mapServer, len(rows))
	for i, v := range rows {
		servers[i] = mapServer{ID: v.ID, Name: v.Name}
	}
	sj, err := json.Marshal(servers)
	if err != nil {
		return nil, fmt.Errorf("encode cpu map: %w", err)
	}
	b.Write(sj)
	b.WriteString(`,"step":`)
	b.WriteString(strconv.FormatInt(int64(step/time.Second), 10))
	b.WriteString(`,"times":[`)
	for c := range cols {
		if c > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(first.Add(time.Duration(c)*step).Unix(), 10))
	}
	b.WriteString(`],"values":[`)
	row := make([]float64, cols)
	firstMs, stepMs := first.UnixMilli(), step.Milliseconds()
	var num []byte
	for i, v := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		for c := range row {
			row[c] = math.NaN()
		}
		for _, p := range byID[v.ID].Floats {
			if c := (p.T - firstMs) / stepMs; c >= 0 && c < int64(cols) {
				row[c] = p.F
			}
		}
		b.WriteByte('[')
		for c, f := range row {
			if c > 0 {
				b.WriteByte(',')
			}
			if math.IsNaN(f) || math.IsInf(f, 0) {
				b.WriteString("null")
				continue
			}
			num = strconv.AppendFloat(num[:0], math.Round(f*10)/10, 'f', -1, 64)
			b.Write(num)
		}
		b.WriteByte(']')
	}
	b.WriteString("]}}\n")
	return b.Bytes(), nil
}
