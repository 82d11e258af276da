package apm

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const (
	// activeRange: snapshots come every few seconds; an instance without
	// one for this long has nothing running that we know of.
	activeRange = 15 * time.Second
	// Speed-meter bands of elapsed time.
	slowMs     = 3000
	verySlowMs = 8000
	// tpsRange is how far back /active looks for an instance's newest
	// closed rollup window.
	tpsRange = 30 * time.Second
	// queryTimeout bounds endpoints that make several store queries.
	queryTimeout = 30 * time.Second

	defaultStacks  = 20
	maxStacks      = 1000
	historyRange   = time.Hour
	stackTextChunk = 200
)

// Step types (docs/apm.md); an active transaction without a step runs
// its own code, which counts as method.
const (
	stepSQL    = "sql"
	stepHTTPC  = "httpc"
	stepDBC    = "dbc"
	stepMsg    = "msg"
	stepMethod = "method"
)

type activeStepJSON struct {
	Type      string       `json:"type"`
	Text      string       `json:"text"`
	ElapsedMs envelope.Num `json:"elapsed_ms"`
}

// stepOf is the step an active row was in; nil when it ran its own code.
func stepOf(rec event.Record) *activeStepJSON {
	if rec[fStepType] == "" && rec[fStepText] == "" {
		return nil
	}
	return &activeStepJSON{Type: rec[fStepType], Text: rec[fStepText], ElapsedMs: envelope.Num(num(rec, fStepElapsed))}
}

type activeTxJSON struct {
	App        string          `json:"app"`
	Instance   string          `json:"instance"`
	AgentID    string          `json:"agent_id"`
	TraceID    string          `json:"trace_id"`
	SpanID     string          `json:"span_id"`
	Name       string          `json:"name"`
	Start      int64           `json:"start"` // unix ms
	ElapsedMs  envelope.Num    `json:"elapsed_ms"`
	ClientIP   string          `json:"client_ip"`
	User       string          `json:"user"`
	Method     string          `json:"method"`
	CPUMs      envelope.Num    `json:"cpu_ms"`
	SQLCount   envelope.Num    `json:"sql_count"`
	HTTPCCount envelope.Num    `json:"httpc_count"`
	Step       *activeStepJSON `json:"step"` // null: running its own code
	StackHash  string          `json:"stack_hash"`
}

type activeInstanceJSON struct {
	App      string       `json:"app"`
	Instance string       `json:"instance"`
	Normal   int          `json:"normal"`    // elapsed < 3 s
	Slow     int          `json:"slow"`      // 3–8 s
	VerySlow int          `json:"very_slow"` // > 8 s
	TPS      envelope.Num `json:"tps"`       // of the newest closed rollup window
	// Errors failed in that window: the speed meter's red.
	Errors envelope.Num `json:"errors"`
}

type activeJSON struct {
	Time         time.Time            `json:"time"` // the moment described
	Transactions []activeTxJSON       `json:"transactions"`
	Instances    []activeInstanceJSON `json:"instances"`
	Bottleneck   map[string]int       `json:"bottleneck"`
}

var activeFields = []string{event.FieldTime, fApp, fInstance, fAgentID, fTraceID, fSpanID, fTxName, fStart, fElapsed,
	fTxClientIP, fTxUser, fTxMethod, fTxCPUMs, fTxSQLCount, fTxHTTPCCount, fStepType, fStepText, fStepElapsed, fStackHash}

// active answers the running transactions of the newest snapshot of each
// instance within the 15 s before end (default now), longest running
// first, the speed-meter bands and TPS per instance, and what the running
// ones wait on.
func (h *handler) active(w http.ResponseWriter, r *http.Request) {
	sel, ok := h.parse(w, r, activeRange)
	if !ok {
		return
	}
	sel.start = sel.end.Add(-activeRange)
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()

	aq := event.Query{Start: sel.start, End: sel.end, Type: typeActive, In: sel.appFilters()}
	out := activeJSON{Time: sel.end.UTC(), Transactions: []activeTxJSON{}, Instances: []activeInstanceJSON{},
		Bottleneck: map[string]int{stepSQL: 0, stepHTTPC: 0, stepDBC: 0, stepMsg: 0, stepMethod: 0}}
	if sel.k8s {
		// Active rows carry no k8s fields; the rollups say which
		// instances the filters mean.
		insts, err := h.instancesOf(ctx, sel, sel.end.Add(-appsRange), sel.end)
		if err != nil {
			envelope.WriteStoreError(w, r, err)
			return
		}
		if narrowToInstances(&aq, insts) {
			envelope.WriteData(w, out)
			return
		}
	}
	newest, err := h.es.Group(ctx, sel.project, aq, event.GroupQuery{By: []string{fApp, fInstance},
		Aggs: []event.Agg{{Name: "t", Func: "max", Field: event.FieldTime}}, MaxGroups: maxGroups})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	insts := map[instKey]*activeInstanceJSON{}
	instance := func(k instKey) *activeInstanceJSON {
		in := insts[k]
		if in == nil {
			in = &activeInstanceJSON{App: k.app, Instance: k.instance, TPS: envelope.Num(math.NaN()), Errors: envelope.Num(math.NaN())}
			insts[k] = in
		}
		return in
	}
	for _, g := range newest {
		k := instKey{g.Keys[0], g.Keys[1]}
		t, err := time.Parse(time.RFC3339Nano, g.Values["t"])
		if err != nil {
			h.log.Warn("apm: newest active snapshot time", "value", g.Values["t"], "err", err)
			continue
		}
		// The rows of one snapshot share its time exactly.
		res, err := h.es.Search(ctx, sel.project, event.Query{Start: t, End: t, Type: typeActive, Limit: storeMaxRows, Fields: activeFields,
			Filters: []event.Filter{{Field: fApp, Op: "=", Value: k.app}, {Field: fInstance, Op: "=", Value: k.instance}}})
		if err != nil {
			envelope.WriteStoreError(w, r, err)
			return
		}
		in := instance(k)
		for _, rec := range res.Records {
			tx := toActiveTx(rec)
			out.Transactions = append(out.Transactions, tx)
			switch e := float64(tx.ElapsedMs); {
			case e > verySlowMs:
				in.VerySlow++
			case e >= slowMs:
				in.Slow++
			default:
				in.Normal++
			}
			out.Bottleneck[bottleneckOf(rec[fStepType])]++
		}
	}
	if err := h.activeTPS(ctx, sel, instance); err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	slices.SortStableFunc(out.Transactions, func(a, b activeTxJSON) int {
		return cmp.Or(cmp.Compare(float64(b.ElapsedMs), float64(a.ElapsedMs)), strings.Compare(a.SpanID, b.SpanID))
	})
	for _, in := range insts {
		out.Instances = append(out.Instances, *in)
	}
	slices.SortFunc(out.Instances, func(a, b activeInstanceJSON) int {
		return cmp.Or(strings.Compare(a.App, b.App), strings.Compare(a.Instance, b.Instance))
	})
	envelope.WriteData(w, out)
}

func bottleneckOf(stepType string) string {
	switch stepType {
	case stepSQL, stepHTTPC, stepDBC, stepMsg:
		return stepType
	}
	return stepMethod
}

func toActiveTx(rec event.Record) activeTxJSON {
	return activeTxJSON{
		App: rec[fApp], Instance: rec[fInstance], AgentID: rec[fAgentID], TraceID: rec[fTraceID], SpanID: rec[fSpanID],
		Name: rec[fTxName], Start: nanos(rec, fStart) / 1e6, ElapsedMs: envelope.Num(count(rec, fElapsed)),
		ClientIP: rec[fTxClientIP], User: rec[fTxUser], Method: rec[fTxMethod], CPUMs: envelope.Num(num(rec, fTxCPUMs)),
		SQLCount: envelope.Num(count(rec, fTxSQLCount)), HTTPCCount: envelope.Num(count(rec, fTxHTTPCCount)),
		Step: stepOf(rec), StackHash: rec[fStackHash],
	}
}

// activeTPS sets each instance's TPS from its newest closed rollup window
// in the 30 s before end, adding instances that run nothing now.
func (h *handler) activeTPS(ctx context.Context, sel selection, instance func(instKey) *activeInstanceJSON) error {
	last := alignDown(sel.end, window)
	q := sel.query(typeRoll)
	q.Start, q.End = last.Add(-tpsRange), last.Add(-time.Nanosecond)
	groups, err := h.es.Group(ctx, sel.project, q, event.GroupQuery{Step: window, By: []string{fApp, fInstance},
		Aggs: []event.Agg{{Name: "n", Func: "sum", Field: fCount}, {Name: "err", Func: "sum", Field: fErrors}}, MaxGroups: maxGroups})
	if err != nil {
		return fmt.Errorf("active tps: %w", err)
	}
	// Groups come in time order, so the newest window is the last seen.
	for _, g := range groups {
		in := instance(instKey{g.Keys[0], g.Keys[1]})
		in.TPS = envelope.Num(zeroNaN(g.Float("n")) / window.Seconds())
		in.Errors = envelope.Num(zeroNaN(g.Float("err")))
	}
	return nil
}

type historySampleJSON struct {
	Time      time.Time       `json:"time"`
	ElapsedMs envelope.Num    `json:"elapsed_ms"`
	Step      *activeStepJSON `json:"step"`
	Hash      string          `json:"hash"`
	Text      string          `json:"text"`
}

// activeHistory answers the snapshots of one running transaction, oldest
// first, with their stack texts: what it did over time. The range
// defaults to the last hour; ?trace_id= narrows to one trace.
func (h *handler) activeHistory(w http.ResponseWriter, r *http.Request) {
	spanID, ok := pathID(w, r, "spanID", spanIDRe, "16 hex digits")
	if !ok {
		return
	}
	sel, ok := h.parse(w, r, historyRange)
	if !ok {
		return
	}
	q := event.Query{Start: sel.start, End: sel.end, Type: typeActive, In: sel.appFilters(), Limit: storeMaxRows,
		Filters: []event.Filter{{Field: fSpanID, Op: "=", Value: spanID}},
		Fields:  []string{event.FieldTime, fElapsed, fStepType, fStepText, fStepElapsed, fStackHash}}
	if t := strings.ToLower(r.URL.Query().Get("trace_id")); t != "" {
		if !traceIDRe.MatchString(t) {
			badRequest(w, fmt.Errorf("trace_id: want 32 hex digits, got %q", t))
			return
		}
		q.Filters = append(q.Filters, event.Filter{Field: fTraceID, Op: "=", Value: t})
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	res, err := h.es.SearchOldest(ctx, sel.project, q)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	texts, err := h.stackTexts(ctx, sel.project, hashesOf(res.Records), sel.end)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	samples := make([]historySampleJSON, 0, len(res.Records))
	for _, rec := range res.Records {
		samples = append(samples, historySampleJSON{Time: recTime(rec), ElapsedMs: envelope.Num(num(rec, fElapsed)),
			Step: stepOf(rec), Hash: rec[fStackHash], Text: texts[rec[fStackHash]]})
	}
	envelope.WriteData(w, map[string]any{"samples": samples})
}

// stack answers the text of one stack hash from any of its rows within
// the range (default the last 7 days: texts are sent once per session; a
// hash is the hash of its text, so its rows agree).
func (h *handler) stack(w http.ResponseWriter, r *http.Request) {
	hash, ok := pathID(w, r, "hash", hashRe, "hex digits")
	if !ok {
		return
	}
	sel, ok := h.lookupSelection(w, r)
	if !ok {
		return
	}
	recs, err := h.es.Some(r.Context(), sel.project, event.Query{Start: sel.start, End: sel.end, Type: typeStack, Limit: 1,
		Filters: []event.Filter{{Field: fStackHash, Op: "=", Value: hash}}, Fields: []string{event.FieldMsg}})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	if len(recs) == 0 {
		notFound(w, "no stack "+hash)
		return
	}
	envelope.WriteData(w, map[string]string{"hash": hash, "text": recs[0][event.FieldMsg]})
}

// stackTexts resolves stack hashes to their texts from the stack rows of
// the lookupRange before end. A hash is the hash of its text, so any row
// of a hash has the same text. Unknown hashes are left out.
func (h *handler) stackTexts(ctx context.Context, project int64, hashes []string, end time.Time) (map[string]string, error) {
	out := make(map[string]string, len(hashes))
	for len(hashes) > 0 {
		chunk := hashes[:min(len(hashes), stackTextChunk)]
		hashes = hashes[len(chunk):]
		groups, err := h.es.Group(ctx, project, event.Query{Start: end.Add(-lookupRange), End: end, Type: typeStack,
			In: []event.In{{Field: fStackHash, Values: chunk}}},
			event.GroupQuery{By: []string{fStackHash}, Aggs: []event.Agg{{Name: "text", Func: "any", Field: event.FieldMsg}}, MaxGroups: len(chunk)})
		if err != nil {
			return nil, fmt.Errorf("stack texts: %w", err)
		}
		for _, g := range groups {
			out[g.Keys[0]] = g.Values["text"]
		}
	}
	return out, nil
}

type topStackJSON struct {
	Hash         string `json:"hash"`
	Count        uint64 `json:"count"`        // samples
	Transactions uint64 `json:"transactions"` // distinct transactions sampled in it
	Text         string `json:"text"`
	TopFrame     string `json:"top_frame"`
}

// stacks answers the stacks most often sampled over the range (limit,
// default 20): where running transactions spend their time.
func (h *handler) stacks(w http.ResponseWriter, r *http.Request) {
	sel, ok := h.parse(w, r, defaultRange)
	if !ok {
		return
	}
	limit, err := envelope.ParseLimit(r.URL.Query(), defaultStacks, maxStacks)
	if err != nil {
		badRequest(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	out := map[string][]topStackJSON{"stacks": {}}
	q := event.Query{Start: sel.start, End: sel.end, Type: typeActive, In: sel.appFilters(),
		Filters: []event.Filter{{Field: fStackHash, Op: "!=", Value: ""}}}
	if sel.k8s {
		insts, err := h.instancesOf(ctx, sel, sel.start, sel.end)
		if err != nil {
			envelope.WriteStoreError(w, r, err)
			return
		}
		if narrowToInstances(&q, insts) {
			envelope.WriteData(w, out)
			return
		}
	}
	groups, err := h.es.Group(ctx, sel.project, q, event.GroupQuery{By: []string{fStackHash},
		Aggs: []event.Agg{{Name: "n", Func: "count"}, {Name: "tx", Func: "count_uniq", Field: fSpanID}}, Rank: "n", Top: limit})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	hashes := make([]string, len(groups))
	for i, g := range groups {
		hashes[i] = g.Keys[0]
	}
	texts, err := h.stackTexts(ctx, sel.project, hashes, sel.end)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	for _, g := range groups {
		text := texts[g.Keys[0]]
		out["stacks"] = append(out["stacks"], topStackJSON{Hash: g.Keys[0], Count: uint64(zeroNaN(g.Float("n"))),
			Transactions: uint64(zeroNaN(g.Float("tx"))), Text: text, TopFrame: topFrame(text)})
	}
	envelope.WriteData(w, out)
}

// topFrame is the innermost frame of a stack text outside the Go runtime
// (a parked goroutine's top is runtime.gopark, which says nothing), else
// the innermost frame. Frames are the unindented lines; a "goroutine N
// [state]:" header is skipped.
func topFrame(text string) string {
	first := ""
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || line[0] == ' ' || line[0] == '\t' || strings.HasPrefix(line, "goroutine ") {
			continue
		}
		if first == "" {
			first = line
		}
		if !strings.HasPrefix(line, "runtime.") {
			return line
		}
	}
	return first
}
