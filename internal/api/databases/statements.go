package databases

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

const (
	defaultRange      = time.Hour
	defaultStatements = 50
	maxStatements     = 1000
	// maxStatementSnaps bounds the snapshots summed for one answer: a
	// month of 5-minute snapshots.
	maxStatementSnaps = 10000
)

type statementJSON struct {
	Digest       string  `json:"digest"`
	Text         string  `json:"text"`
	Database     string  `json:"database"`
	User         string  `json:"user,omitempty"`
	Calls        uint64  `json:"calls"`
	TotalSeconds float64 `json:"totalSeconds"`
	AvgSeconds   float64 `json:"avgSeconds"`
	MaxSeconds   float64 `json:"maxSeconds"`
	Rows         uint64  `json:"rows"`
	RowsExamined uint64  `json:"rowsExamined"`
	Errors       uint64  `json:"errors"`
}

// SumStatements adds up statement snapshots (each the deltas of one
// interval) per digest and database, newest text winning.
func SumStatements(snaps []*agentpb.DBStatements) []statementJSON {
	idx := map[string]int{}
	var out []statementJSON
	for _, sn := range snaps {
		for _, s := range sn.GetStatements() {
			k := s.GetDatabase() + "\x00" + s.GetDigest() + "\x00" + s.GetUser()
			i, ok := idx[k]
			if !ok {
				i = len(out)
				idx[k] = i
				out = append(out, statementJSON{Digest: s.GetDigest(), Text: s.GetText(), Database: s.GetDatabase(), User: s.GetUser()})
			}
			o := &out[i]
			o.Calls += s.GetCalls()
			o.TotalSeconds += s.GetTotalSeconds()
			o.Rows += s.GetRows()
			o.RowsExamined += s.GetRowsExamined()
			o.Errors += s.GetErrors()
			o.MaxSeconds = max(o.MaxSeconds, s.GetMaxSeconds())
		}
	}
	for i := range out {
		if out[i].Calls > 0 {
			out[i].AvgSeconds = out[i].TotalSeconds / float64(out[i].Calls)
		}
	}
	return out
}

var statementOrder = map[string]func(a, b *statementJSON) bool{
	"total":  func(a, b *statementJSON) bool { return a.TotalSeconds > b.TotalSeconds },
	"calls":  func(a, b *statementJSON) bool { return a.Calls > b.Calls },
	"rows":   func(a, b *statementJSON) bool { return a.Rows > b.Rows },
	"avg":    func(a, b *statementJSON) bool { return a.AvgSeconds > b.AvgSeconds },
	"max":    func(a, b *statementJSON) bool { return a.MaxSeconds > b.MaxSeconds },
	"errors": func(a, b *statementJSON) bool { return a.Errors > b.Errors },
	"examined": func(a, b *statementJSON) bool {
		return a.RowsExamined > b.RowsExamined
	},
}

// statements answers the top statements over [start, end] by ?sort=
// (total, calls, rows, avg, max, errors, examined), ?limit= of them.
func (h *handler) statements(w http.ResponseWriter, r *http.Request) {
	project, a, ok := h.find(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	start, end, err := envelope.ParseRange(q, h.now(), defaultRange)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	by := q.Get("sort")
	if by == "" {
		by = "total"
	}
	less, ok := statementOrder[by]
	if !ok {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", "sort: want total, calls, rows, avg, max, errors or examined, not "+strconv.Quote(by))
		return
	}
	limit, err := envelope.ParseLimit(q, defaultStatements, maxStatements)
	if err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", err.Error())
		return
	}
	res, err := h.es.Search(r.Context(), project, event.Query{
		Start: start, End: end, Type: typeSnapshot, Filters: snapshotFilters(wire.SnapshotDBStatements, a.ID),
		Limit: maxStatementSnaps, Fields: []string{event.FieldTime, fieldBody},
	})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	var snaps []*agentpb.DBStatements
	available, hint := false, ""
	var interval float64
	for _, rec := range res.Records {
		var s agentpb.DBStatements
		if err := decodeBody(rec, &s); err != nil {
			envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		if s.GetAvailable() {
			available = true
			interval += s.GetIntervalSeconds()
			snaps = append(snaps, &s)
		} else if hint == "" {
			hint = s.GetHint() // newest first: the current reason
		}
	}
	if len(res.Records) == 0 {
		hint = "no statement statistics in this range yet: the agent sends them every 5 minutes, as the change since the last time"
	}
	stmts := SumStatements(snaps)
	sort.SliceStable(stmts, func(i, j int) bool { return less(&stmts[i], &stmts[j]) })
	if len(stmts) > limit {
		stmts = stmts[:limit]
	}
	if stmts == nil {
		stmts = []statementJSON{}
	}
	envelope.WriteData(w, map[string]any{
		"available": available, "hint": hint, "snapshots": len(snaps), "coveredSeconds": interval,
		"statements": stmts, "partial": res.Partial,
	})
}
