package logs

import (
	"net/http"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/logpattern"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const (
	defaultSample = 20_000
	maxSample     = 200_000
	// Pattern sparklines need fewer points than the main histogram.
	patternBuckets  = 60
	defaultPatterns = 100
	maxPatterns     = 1000
	// A pattern is "new" when first seen in this last share of the range.
	newShare = 0.1
	// A spike is a last step (the step-wide window ending at the range end,
	// not the aligned bucket, which may have only just begun) holding more
	// than spikeFactor × the pattern's mean per step, and at least
	// spikeMinLines lines, so one stray line in a quiet pattern is not one.
	spikeFactor   = 3
	spikeMinLines = 5
)

type levelCounts map[string]int

type patternAgg struct {
	count       int
	first, last time.Time
	levels      levelCounts
	series      []uint64
	recent      int // lines in the last step
}

type patternJSON struct {
	ID        int          `json:"id"`
	Template  string       `json:"template"`
	Count     int          `json:"count"`
	Share     envelope.Num `json:"share"` // of the sampled lines, 0-1
	Sample    string       `json:"sample"`
	FirstSeen time.Time    `json:"firstSeen"`
	LastSeen  time.Time    `json:"lastSeen"`
	Levels    levelCounts  `json:"levels"`
	Series    []bucketJSON `json:"series"`
	New       bool         `json:"new"`
	Spike     bool         `json:"spike"`
}

type patternsJSON struct {
	Patterns []patternJSON `json:"patterns"`
	Sampled  int           `json:"sampled"` // lines clustered
	Total    uint64        `json:"total"`   // lines matching in the range
	Step     float64       `json:"step"`    // seconds, of each pattern's series
	// CoveredFrom is the oldest time the sample reaches: the range start
	// when every matching line was sampled, else the oldest sampled line.
	// Series, new and spike are judged over [coveredFrom, end].
	CoveredFrom time.Time `json:"coveredFrom"`
	Partial     bool      `json:"partial"`
	Reason      string    `json:"reason,omitempty"`
}

// patterns clusters up to ?sample= (default 20000) of the newest matching
// lines into patterns (see internal/logpattern) and answers the ?limit=
// (default 100) largest with their counts over time (?step=, auto ≈ 60
// buckets).
func (h *handler) patterns(w http.ResponseWriter, r *http.Request) {
	project, q, ok := h.selection(w, r)
	if !ok {
		return
	}
	v := r.URL.Query()
	sample, err := parseIntParam(v, "sample", defaultSample, 1, maxSample)
	if err != nil {
		badRequest(w, err)
		return
	}
	limit, err := envelope.ParseLimit(v, defaultPatterns, maxPatterns)
	if err != nil {
		badRequest(w, err)
		return
	}
	step, err := parseStep(v, q.Start, q.End, patternBuckets)
	if err != nil {
		badRequest(w, err)
		return
	}
	ctx := r.Context()
	total, err := h.es.Count(ctx, project, q)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}

	st := int64(step)
	first := floorDiv(q.Start.UnixNano(), st) * st
	nb := int((floorDiv(q.End.UnixNano(), st)*st-first)/st) + 1

	recentFrom := q.End.Add(-step)
	aggs := map[int]*patternAgg{}
	miner := logpattern.New(logpattern.Options{OnEvict: func(id int) { delete(aggs, id) }})
	out := patternsJSON{Patterns: []patternJSON{}, Total: total, Step: step.Seconds(), CoveredFrom: q.Start}
	var oldest time.Time
	// Only what clustering needs; JSON bodies keep their text in msg or
	// message (eventrow flattens them), which clusters better than the JSON.
	q.Fields = []string{event.FieldMsg, fieldLevel, "msg", "message"}
	exhausted := false
	for out.Sampled < sample {
		q.Limit = min(h.pageRows, sample-out.Sampled)
		res, err := h.es.Search(ctx, project, q)
		if err != nil {
			envelope.WriteStoreError(w, r, err)
			return
		}
		for _, rec := range res.Records {
			ts, err := time.Parse(time.RFC3339Nano, rec[event.FieldTime])
			if err != nil {
				continue
			}
			id, _ := miner.Add(messageOf(rec))
			a := aggs[id]
			if a == nil {
				a = &patternAgg{first: ts, last: ts, levels: levelCounts{}, series: make([]uint64, nb)}
				aggs[id] = a
			}
			a.count++
			if ts.Before(a.first) {
				a.first = ts
			}
			if ts.After(a.last) {
				a.last = ts
			}
			if lv := rec[fieldLevel]; lv != "" {
				a.levels[lv]++
			}
			if i := (ts.UnixNano() - first) / st; i >= 0 && i < int64(nb) {
				a.series[i]++
			}
			if ts.After(recentFrom) {
				a.recent++
			}
			oldest = ts
			out.Sampled++
		}
		if res.Partial {
			out.Partial, out.Reason = true, res.Reason
		}
		if res.NextCursor == "" {
			exhausted = !res.Partial
			break
		}
		if res.Partial {
			break
		}
		q.Cursor = res.NextCursor
	}
	if uint64(out.Sampled) >= total {
		exhausted = true
	}
	if !exhausted && out.Sampled > 0 {
		out.CoveredFrom = oldest
	}

	// New and spike are judged over the time the sample covers.
	steps := float64(q.End.Sub(out.CoveredFrom)) / float64(step)
	newAfter := out.CoveredFrom.Add(time.Duration(float64(q.End.Sub(out.CoveredFrom)) * (1 - newShare)))
	for _, c := range miner.Clusters() {
		if len(out.Patterns) >= limit {
			break
		}
		a := aggs[c.ID]
		if a == nil {
			continue
		}
		p := patternJSON{ID: c.ID, Template: c.Template, Count: a.count, Sample: c.Sample,
			FirstSeen: a.first, LastSeen: a.last, Levels: a.levels,
			Share: envelope.Num(float64(a.count) / float64(out.Sampled)),
			New:   !a.first.Before(newAfter), Series: make([]bucketJSON, nb)}
		for i, n := range a.series {
			p.Series[i] = bucketJSON{Time: time.Unix(0, first+int64(i)*st).UTC(), Count: n}
		}
		if a.recent >= spikeMinLines && steps > 1 {
			p.Spike = float64(a.recent) > spikeFactor*float64(a.count)/steps
		}
		out.Patterns = append(out.Patterns, p)
	}
	envelope.WriteData(w, out)
}

// messageOf is the text to cluster: _msg, or for JSON bodies their msg or
// message field when there is one.
func messageOf(rec event.Record) string {
	m := rec[event.FieldMsg]
	if strings.HasPrefix(m, "{") {
		if s := rec["msg"]; s != "" {
			return s
		}
		if s := rec["message"]; s != "" {
			return s
		}
	}
	return m
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
