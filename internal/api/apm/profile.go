package apm

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const (
	// A transaction's steps end before it, or (async work) shortly
	// after; the profile reads the trace's spans over its run plus these
	// margins.
	stepsBefore = time.Minute
	stepsAfter  = 5 * time.Minute
	// maxTraceSpans bounds the spans read for one trace.
	maxTraceSpans = storeMaxRows
)

type profileTxJSON struct {
	txJSON
	UserAgent    string       `json:"user_agent"`
	CPUMs        envelope.Num `json:"cpu_ms"`
	AllocBytes   envelope.Num `json:"alloc_bytes"`
	StepsDropped envelope.Num `json:"steps_dropped"`
}

type stepJSON struct {
	SpanID        string            `json:"span_id"`
	ParentSpanID  string            `json:"parent_span_id"`
	Depth         int               `json:"depth"` // 1 for a direct child of the entry span
	OffsetMs      envelope.Num      `json:"offset_ms"`
	ElapsedMs     envelope.Num      `json:"elapsed_ms"`
	Type          string            `json:"type"`
	Text          string            `json:"text"`
	Name          string            `json:"name"`
	Rows          envelope.Num      `json:"rows"`
	Error         bool              `json:"error"`
	StatusMessage string            `json:"status_message"`
	Attributes    map[string]string `json:"attributes"`
}

type stackSampleJSON struct {
	Time     time.Time    `json:"time"`
	OffsetMs envelope.Num `json:"offset_ms"`
	Hash     string       `json:"hash"`
	Text     string       `json:"text"`
	StepType string       `json:"step_type"`
	StepText string       `json:"step_text"`
}

type spanEventJSON struct {
	OffsetMs   envelope.Num   `json:"offset_ms"`
	Name       string         `json:"name"`
	Attributes map[string]any `json:"attributes"`
}

type profileJSON struct {
	Tx     profileTxJSON     `json:"tx"`
	Steps  []stepJSON        `json:"steps"`
	Stacks []stackSampleJSON `json:"stacks"`
	Events []spanEventJSON   `json:"events"`
	// Partial: the trace had more spans than one answer reads, or the
	// store's budget ran out; steps may be missing.
	Partial bool `json:"partial,omitempty"`
}

// profile answers one transaction with its steps in start order (the
// spans of its trace below its entry span within its app, not entering
// the transactions it called), the stack samples taken while it ran and
// its exception events. The range (default the last 7 days) is where
// its row is looked for.
func (h *handler) profile(w http.ResponseWriter, r *http.Request) {
	traceID, ok := pathID(w, r, "traceID", traceIDRe, "32 hex digits")
	if !ok {
		return
	}
	spanID, ok := pathID(w, r, "spanID", spanIDRe, "16 hex digits")
	if !ok {
		return
	}
	sel, ok := h.lookupSelection(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	recs, err := h.es.Some(ctx, sel.project, event.Query{Start: sel.start, End: sel.end, Type: typeSpan, Limit: 1,
		Filters: []event.Filter{{Field: fTraceID, Op: "=", Value: traceID}, {Field: fSpanID, Op: "=", Value: spanID}}})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	if len(recs) == 0 {
		notFound(w, fmt.Sprintf("no transaction %s/%s between %s and %s", traceID, spanID, sel.start.Format(time.RFC3339), sel.end.Format(time.RFC3339)))
		return
	}
	txRec := recs[0]
	txStart, txEnd := nanos(txRec, fStart), nanos(txRec, fEnd)
	if txStart == 0 {
		txStart = recTime(txRec).UnixNano()
	}
	if txEnd == 0 {
		txEnd = recTime(txRec).UnixNano()
	}
	out := profileJSON{Tx: profileTxJSON{txJSON: toTx(txRec), UserAgent: txRec[fTxUserAgent],
		CPUMs: envelope.Num(num(txRec, fTxCPUMs)), AllocBytes: envelope.Num(num(txRec, fTxAlloc)),
		StepsDropped: envelope.Num(count(txRec, fTxStepsDropped))},
		Steps: []stepJSON{}, Stacks: []stackSampleJSON{}, Events: []spanEventJSON{}}

	spans, partial, err := h.traceSpans(ctx, sel.project, traceID, time.Unix(0, txStart).Add(-stepsBefore), time.Unix(0, txEnd).Add(stepsAfter))
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	out.Partial = partial
	steps := descendants(txRec, spans)
	for _, s := range steps {
		out.Steps = append(out.Steps, toStep(s.rec, s.depth, txStart))
	}
	out.Events = exceptionEvents(txStart, append([]event.Record{txRec}, recsOf(steps)...))

	out.Stacks, err = h.txStacks(ctx, sel.project, spanID, txStart, txEnd)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	envelope.WriteData(w, out)
}

// traceSpans reads the span rows of a trace in [start, end], in no
// particular order (callers order them by start); partial when there are
// more than maxTraceSpans.
func (h *handler) traceSpans(ctx context.Context, project int64, traceID string, start, end time.Time) ([]event.Record, bool, error) {
	recs, err := h.es.Some(ctx, project, event.Query{Start: start, End: end, Type: typeSpan, Limit: maxTraceSpans,
		Filters: []event.Filter{{Field: fTraceID, Op: "=", Value: traceID}}})
	if err != nil {
		return nil, false, fmt.Errorf("spans of trace %s: %w", traceID, err)
	}
	return recs, len(recs) == maxTraceSpans, nil
}

type stepRec struct {
	rec   event.Record
	depth int
}

func recsOf(steps []stepRec) []event.Record {
	out := make([]event.Record, len(steps))
	for i, s := range steps {
		out[i] = s.rec
	}
	return out
}

// descendants are the spans below the entry span tx within its app, in
// start order: a span of another app, or another entry span, is a
// transaction of its own and ends the walk down that branch.
func descendants(tx event.Record, spans []event.Record) []stepRec {
	children := map[string][]event.Record{}
	for _, s := range spans {
		if p := s[fParentID]; p != "" {
			children[p] = append(children[p], s)
		}
	}
	app := tx[fApp]
	var out []stepRec
	seen := map[string]bool{tx[fSpanID]: true}
	var walk func(id string, depth int)
	walk = func(id string, depth int) {
		for _, c := range children[id] {
			if c[fApp] != app || c[fRole] == roleTx || seen[c[fSpanID]] {
				continue
			}
			seen[c[fSpanID]] = true
			out = append(out, stepRec{c, depth})
			walk(c[fSpanID], depth+1)
		}
	}
	walk(tx[fSpanID], 1)
	slices.SortStableFunc(out, func(a, b stepRec) int {
		return cmp.Or(cmp.Compare(nanos(a.rec, fStart), nanos(b.rec, fStart)), cmp.Compare(a.depth, b.depth),
			strings.Compare(a.rec[fSpanID], b.rec[fSpanID]))
	})
	return out
}

// stepFields are what a step shows in its own columns; attributes are
// the rest, less what the resource and scope put on every span.
var stepFields = map[string]bool{
	event.FieldTime: true, event.FieldMsg: true, event.FieldType: true, event.FieldSeq: true,
	fTraceID: true, fSpanID: true, fParentID: true, fSpanName: true, fSpanKind: true, fStatus: true, fStatMsg: true,
	fStart: true, fEnd: true, fDuration: true, fEvents: true, fRole: true, fApp: true, fInstance: true,
	fStepType: true, fStepText: true, fStepRows: true, "osprey.batch": true,
}

// resourcePrefixes are the namespaces of resource and scope attributes
// (OpenTelemetry semantic conventions and our agent's), which every span
// of a process inherits.
var resourcePrefixes = []string{"service.", "telemetry.", "host.", "process.", "os.", "k8s.", "container.",
	"cloud.", "deployment.", "device.", "faas.", "webengine.", "otel.scope.", "agent.", "osprey.agent."}

func stepAttributes(rec event.Record) map[string]string {
	out := map[string]string{}
	for k, v := range rec {
		if stepFields[k] || strings.HasPrefix(k, "tx.") {
			continue
		}
		if slices.ContainsFunc(resourcePrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		out[k] = v
	}
	return out
}

func toStep(rec event.Record, depth int, txStart int64) stepJSON {
	return stepJSON{
		SpanID: rec[fSpanID], ParentSpanID: rec[fParentID], Depth: depth,
		OffsetMs: ms(nanos(rec, fStart) - txStart), ElapsedMs: envelope.Num(num(rec, fDuration)),
		Type: cmp.Or(rec[fStepType], stepMethod), Text: cmp.Or(rec[fStepText], rec[fSpanName]), Name: rec[fSpanName], Rows: envelope.Num(num(rec, fStepRows)),
		Error: rec[fStatus] == "error", StatusMessage: rec[fStatMsg], Attributes: stepAttributes(rec),
	}
}

// exceptionEvents reads the exception events of the rows' span.events
// (JSON kept by ingest), in time order.
func exceptionEvents(txStart int64, recs []event.Record) []spanEventJSON {
	type jsonEvent struct {
		Name       string         `json:"name"`
		Time       time.Time      `json:"time"`
		Attributes map[string]any `json:"attributes"`
	}
	type timed struct {
		t int64
		e spanEventJSON
	}
	var all []timed
	for _, rec := range recs {
		raw := rec[fEvents]
		if raw == "" {
			continue
		}
		var evs []jsonEvent
		if err := json.Unmarshal([]byte(raw), &evs); err != nil {
			continue // not ours to fail on: the rest of the profile stands
		}
		for _, e := range evs {
			if e.Name != "exception" {
				continue
			}
			t := e.Time.UnixNano()
			if e.Time.IsZero() {
				t = nanos(rec, fEnd)
			}
			if e.Attributes == nil {
				e.Attributes = map[string]any{}
			}
			all = append(all, timed{t, spanEventJSON{OffsetMs: ms(t - txStart), Name: e.Name, Attributes: e.Attributes}})
		}
	}
	slices.SortStableFunc(all, func(a, b timed) int { return cmp.Compare(a.t, b.t) })
	out := make([]spanEventJSON, len(all))
	for i, x := range all {
		out[i] = x.e
	}
	return out
}

// txStacks are the stack samples of the active rows of one transaction
// while it ran, oldest first, with their texts.
func (h *handler) txStacks(ctx context.Context, project int64, spanID string, txStart, txEnd int64) ([]stackSampleJSON, error) {
	res, err := h.es.SearchOldest(ctx, project, event.Query{
		Start: time.Unix(0, txStart).Add(-window), End: time.Unix(0, txEnd).Add(window), Type: typeActive, Limit: storeMaxRows,
		Filters: []event.Filter{{Field: fSpanID, Op: "=", Value: spanID}, {Field: fStackHash, Op: "!=", Value: ""}},
		Fields:  []string{event.FieldTime, fStackHash, fStepType, fStepText},
	})
	if err != nil {
		return nil, fmt.Errorf("stack samples of %s: %w", spanID, err)
	}
	texts, err := h.stackTexts(ctx, project, hashesOf(res.Records), time.Unix(0, txEnd).Add(clockSkew))
	if err != nil {
		return nil, err
	}
	out := make([]stackSampleJSON, 0, len(res.Records))
	for _, rec := range res.Records {
		t := recTime(rec)
		out = append(out, stackSampleJSON{Time: t, OffsetMs: ms(t.UnixNano() - txStart), Hash: rec[fStackHash],
			Text: texts[rec[fStackHash]], StepType: rec[fStepType], StepText: rec[fStepText]})
	}
	return out, nil
}

func hashesOf(recs []event.Record) []string {
	var out []string
	seen := map[string]bool{}
	for _, rec := range recs {
		if h := rec[fStackHash]; h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}
