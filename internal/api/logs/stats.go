package logs

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const defaultStatsTop = 10

type pointJSON struct {
	Time  time.Time    `json:"time"`
	Value envelope.Num `json:"value"` // null when the bucket had nothing to compute from
}

type statsJSON struct {
	Step  float64 `json:"step"` // seconds
	Fn    string  `json:"fn"`
	Field string  `json:"field,omitempty"`
	// Series maps the by value (values joined by ", " for several by
	// fields; "" for lines without it, and the one series without by) to
	// its points, like the histogram's series.
	Series map[string][]pointJSON `json:"series"`
	// Rows is each series' matching lines over the range; series are the
	// top ones by it.
	Rows map[string]uint64 `json:"rows"`
}

// stats answers, for log dashboard widgets, ?fn= (count, sum, avg, max,
// min, p95) of the numeric ?field= per ?step= (auto ≈ 120 buckets), one
// series per value of ?by= (comma-separated, up to 3 fields; the ?top=,
// default 10, series with most lines).
//
//	{"step": 60, "fn": "avg", "field": "…", "series": {"GET": [{"time": …, "value": 1.5|null}]}, "rows": {"GET": 120}}
func (h *handler) stats(w http.ResponseWriter, r *http.Request) {
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
	fn := v.Get("fn")
	if fn == "" {
		fn = "count"
	}
	if !slices.Contains(event.StatsFuncs, fn) {
		badRequest(w, errors.New("fn: want one of "+strings.Join(event.StatsFuncs, ", ")+", got "+fn))
		return
	}
	field := strings.TrimSpace(v.Get("field"))
	if fn != "count" && field == "" {
		badRequest(w, errors.New("field: fn "+fn+" needs a numeric field"))
		return
	}
	var by []string
	for _, b := range v["by"] {
		by = append(by, nonEmpty(strings.Split(b, ","))...)
	}
	top, err := parseIntParam(v, "top", defaultStatsTop, 1, event.MaxStatsTop)
	if err != nil {
		badRequest(w, err)
		return
	}
	series, err := h.es.Stats(r.Context(), project, q, event.StatsQuery{Step: step, By: by, Func: fn, Field: field, Top: top})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out := statsJSON{Step: step.Seconds(), Fn: fn, Series: make(map[string][]pointJSON, len(series)), Rows: make(map[string]uint64, len(series))}
	if fn != "count" {
		out.Field = field
	}
	for _, s := range series {
		key := make([]string, len(by))
		for i, f := range by {
			key[i] = s.Labels[f]
		}
		k := strings.Join(key, ", ")
		pts := make([]pointJSON, len(s.Points))
		for i, p := range s.Points {
			pts[i] = pointJSON{Time: p.Time, Value: envelope.Num(p.Value)}
		}
		out.Series[k] = pts
		out.Rows[k] = s.Rows
	}
	envelope.WriteData(w, out)
}
