package apm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

const (
	// maxHitmapRange bounds the hitmap: it is a live chart of minutes,
	// and each 5-s column costs one rollup row per instance and flush.
	maxHitmapRange = 6 * time.Hour
	// maxHitmapRows bounds the rollup rows one hitmap reads; past it the
	// answer is partial (oldest columns missing).
	maxHitmapRows = 200_000

	defaultTxLimit = 1000
)

type hitmapJSON struct {
	Step   int         `json:"step"` // seconds
	Bounds []float64   `json:"bounds"`
	Start  int64       `json:"start"` // unix ms, the first column's start
	End    int64       `json:"end"`   // unix ms, the last column's end
	Cells  [][4]uint64 `json:"cells"` // [t_ms, bucket, ok, err]
	Total  uint64      `json:"total"`
	Errors uint64      `json:"errors"`
	// Partial: more rollup rows than one answer reads; the oldest columns
	// are incomplete.
	Partial bool `json:"partial,omitempty"`
}

// hitmapGrid holds the counts of a hitmap: per 5-s column, per bucket,
// successes and errors.
type hitmapGrid struct {
	first int64 // unix ns of column 0
	cols  []*[wire.HitmapBuckets][2]uint64
}

func newHitmapGrid(start, end time.Time) *hitmapGrid {
	first := alignDown(start, window)
	n := int((end.Sub(first) + window - 1) / window)
	return &hitmapGrid{first: first.UnixNano(), cols: make([]*[wire.HitmapBuckets][2]uint64, max(n, 1))}
}

// add sums one rollup row's sparse "bucket:count,…" pairs into its
// column; kind 0 is successes, 1 errors. Malformed pairs are skipped: a
// row is one instance's window, and the rest of it still counts.
func (g *hitmapGrid) add(t time.Time, pairs string, kind int) {
	if pairs == "" {
		return
	}
	c := (t.UnixNano() - g.first) / int64(window)
	if c < 0 || c >= int64(len(g.cols)) {
		return
	}
	col := g.cols[c]
	if col == nil {
		col = new([wire.HitmapBuckets][2]uint64)
		g.cols[c] = col
	}
	for len(pairs) > 0 {
		var pair string
		pair, pairs, _ = strings.Cut(pairs, ",")
		b, n, ok := parsePair(pair)
		if ok && b < wire.HitmapBuckets {
			col[b][kind] += n
		}
	}
}

// parsePair reads "bucket:count" without allocating: the hitmap parses
// about a hundred of them per rollup row.
func parsePair(s string) (bucket int, n uint64, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || i == len(s)-1 || i > 3 {
		return 0, 0, false
	}
	for _, c := range []byte(s[:i]) {
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		bucket = bucket*10 + int(c-'0')
	}
	for _, c := range []byte(s[i+1:]) {
		if c < '0' || c > '9' || n > math.MaxUint64/10-10 {
			return 0, 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return bucket, n, true
}

func (g *hitmapGrid) json() hitmapJSON {
	out := hitmapJSON{Step: int(window / time.Second), Bounds: wire.HitmapBounds(),
		Start: g.first / 1e6, End: (g.first + int64(len(g.cols))*int64(window)) / 1e6, Cells: [][4]uint64{}}
	for c, col := range g.cols {
		if col == nil {
			continue
		}
		t := uint64((g.first + int64(c)*int64(window)) / 1e6)
		for b := range col {
			ok, bad := col[b][0], col[b][1]
			if ok+bad == 0 {
				continue
			}
			out.Cells = append(out.Cells, [4]uint64{t, uint64(b), ok, bad})
			out.Total += ok + bad
			out.Errors += bad
		}
	}
	return out
}

// hitmap answers the response-time distribution per 5-s column from the
// apmroll rows (whose _time is the window start), summing instances and
// the several flushes a window may have.
func (h *handler) hitmap(w http.ResponseWriter, r *http.Request) {
	sel, ok := h.parse(w, r, defaultRange)
	if !ok {
		return
	}
	if sel.end.Sub(sel.start) > maxHitmapRange {
		badRequest(w, fmt.Errorf("the hitmap covers at most %s; narrow start/end", maxHitmapRange))
		return
	}
	grid := newHitmapGrid(sel.start, sel.end)
	partial, err := h.fillHitmap(r.Context(), sel, grid)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out := grid.json()
	out.Partial = partial
	envelope.WriteData(w, out)
}

// fillHitmap pages through the rollup rows of the grid's columns, newest
// first, up to maxHitmapRows.
func (h *handler) fillHitmap(ctx context.Context, sel selection, grid *hitmapGrid) (partial bool, err error) {
	q := sel.query(typeRoll)
	q.Start = time.Unix(0, grid.first)
	q.End = time.Unix(0, grid.first+int64(len(grid.cols))*int64(window)-1)
	q.Fields = []string{event.FieldTime, fHitmap, fHitmapErr}
	q.Limit = storeMaxRows
	read := 0
	for {
		res, err := h.es.Search(ctx, sel.project, q)
		if err != nil {
			return false, fmt.Errorf("hitmap rollups: %w", err)
		}
		for _, rec := range res.Records {
			t := recTime(rec)
			grid.add(t, rec[fHitmap], 0)
			grid.add(t, rec[fHitmapErr], 1)
		}
		read += len(res.Records)
		if res.Partial {
			return true, nil
		}
		if res.NextCursor == "" {
			return false, nil
		}
		if read >= maxHitmapRows {
			return true, nil
		}
		q.Cursor = res.NextCursor
	}
}

type txJSON struct {
	Time        time.Time    `json:"time"` // the end
	StartUnixMs int64        `json:"start_unix_ms"`
	TraceID     string       `json:"trace_id"`
	SpanID      string       `json:"span_id"`
	App         string       `json:"app"`
	Instance    string       `json:"instance"`
	Name        string       `json:"name"`
	ElapsedMs   envelope.Num `json:"elapsed_ms"`
	Error       bool         `json:"error"`
	Status      envelope.Num `json:"status"` // HTTP status; null when not HTTP
	Method      string       `json:"method"`
	ClientIP    string       `json:"client_ip"`
	User        string       `json:"user"`
	SQLCount    envelope.Num `json:"sql_count"`
	SQLMs       envelope.Num `json:"sql_ms"`
	HTTPCCount  envelope.Num `json:"httpc_count"`
	HTTPCMs     envelope.Num `json:"httpc_ms"`
}

// txFields are the fields txJSON reads, so searches fetch only them.
var txFields = []string{event.FieldTime, fTraceID, fSpanID, fApp, fInstance, fTxName, fSpanName, fStart, fDuration,
	fTxError, fTxStatus, fTxMethod, fTxClientIP, fTxUser, fTxSQLCount, fTxSQLMs, fTxHTTPCCount, fTxHTTPCMs}

func toTx(rec event.Record) txJSON {
	return txJSON{
		Time: recTime(rec), StartUnixMs: nanos(rec, fStart) / 1e6,
		TraceID: rec[fTraceID], SpanID: rec[fSpanID], App: rec[fApp], Instance: rec[fInstance], Name: cmp.Or(rec[fTxName], rec[fSpanName]),
		ElapsedMs: envelope.Num(num(rec, fDuration)), Error: truthy(rec[fTxError]), Status: envelope.Num(num(rec, fTxStatus)),
		Method: rec[fTxMethod], ClientIP: rec[fTxClientIP], User: rec[fTxUser],
		SQLCount: envelope.Num(count(rec, fTxSQLCount)), SQLMs: envelope.Num(count(rec, fTxSQLMs)),
		HTTPCCount: envelope.Num(count(rec, fTxHTTPCCount)), HTTPCMs: envelope.Num(count(rec, fTxHTTPCMs)),
	}
}

type transactionsJSON struct {
	Transactions []txJSON `json:"transactions"`
	// Truncated: more transactions match than were answered (the limit,
	// or the store's time or row budget).
	Truncated bool `json:"truncated"`
}

// transactions answers exactly the tx rows of a hitmap box, newest first:
// end in [start, end) (rows are timed at their end) and duration_ms in
// [min_ms, max_ms) (the box's bucket edges; no max_ms means no upper
// edge). error=1 keeps only failed ones (0 only successful ones), name
// is an exact tx name, q a substring of it; limit defaults to 1000.
func (h *handler) transactions(w http.ResponseWriter, r *http.Request) {
	sel, ok := h.parse(w, r, defaultRange)
	if !ok {
		return
	}
	v := r.URL.Query()
	limit, err := envelope.ParseLimit(v, defaultTxLimit, storeMaxRows)
	if err != nil {
		badRequest(w, err)
		return
	}
	minMs, err := parseMs(v, "min_ms", 0)
	if err != nil {
		badRequest(w, err)
		return
	}
	maxMs, err := parseMs(v, "max_ms", math.Inf(1))
	if err != nil {
		badRequest(w, err)
		return
	}
	if minMs >= maxMs {
		badRequest(w, errors.New("min_ms must be below max_ms"))
		return
	}
	q := sel.query(typeSpan)
	// The box's end is exclusive; the store's is inclusive.
	q.End = sel.end.Add(-time.Nanosecond)
	q.Filters = []event.Filter{{Field: fRole, Op: "=", Value: roleTx}}
	if minMs > 0 || !math.IsInf(maxMs, 1) {
		lo := minMs
		if lo == 0 {
			// Durations are never negative; an open lower side keeps the
			// filter one comparison.
			lo = math.Inf(-1)
		}
		q.Ranges = []event.Range{{Field: fDuration, Min: lo, Max: maxMs}}
	}
	switch e := v.Get("error"); e {
	case "":
	case "1", "true":
		q.Filters = append(q.Filters, event.Filter{Field: fTxError, Op: "=", Value: "1"})
	case "0", "false":
		q.Filters = append(q.Filters, event.Filter{Field: fTxError, Op: "!=", Value: "1"})
	default:
		badRequest(w, fmt.Errorf("error: want 1 or 0, got %q", e))
		return
	}
	if name := v.Get("name"); name != "" {
		q.Filters = append(q.Filters, event.Filter{Field: fTxName, Op: "=", Value: name})
	}
	if s := strings.TrimSpace(v.Get("q")); s != "" {
		q.Filters = append(q.Filters, event.Filter{Field: fTxName, Op: "~", Value: s})
	}
	// One more than asked tells whether there are more, except at the
	// store's cap, where its cursor says so.
	q.Limit = min(limit+1, storeMaxRows)
	q.Fields = txFields
	res, err := h.es.Search(r.Context(), sel.project, q)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out := transactionsJSON{Transactions: make([]txJSON, 0, min(len(res.Records), limit))}
	for i, rec := range res.Records {
		if i == limit {
			break
		}
		out.Transactions = append(out.Transactions, toTx(rec))
	}
	out.Truncated = len(res.Records) > limit || res.Partial || (q.Limit == limit && res.NextCursor != "")
	envelope.WriteData(w, out)
}
