package apm

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

type viaJSON struct {
	Type      string       `json:"type"`
	Text      string       `json:"text"`
	ElapsedMs envelope.Num `json:"elapsed_ms"`
}

type chainTxJSON struct {
	App      string `json:"app"`
	Instance string `json:"instance"`
	Name     string `json:"name"`
	SpanID   string `json:"span_id"`
	ParentTx string `json:"parent_tx"` // span id of the calling transaction; "" for a root
	// Via is the call that reached this transaction (the caller's client
	// or producer span); null when the caller did not export it.
	Via       *viaJSON     `json:"via"`
	OffsetMs  envelope.Num `json:"offset_ms"` // from the trace's start
	ElapsedMs envelope.Num `json:"elapsed_ms"`
	Error     bool         `json:"error"`
	Depth     int          `json:"depth"` // 0 for a root
}

type traceJSON struct {
	TraceID      string        `json:"trace_id"`
	Start        int64         `json:"start"` // unix ms
	ElapsedMs    envelope.Num  `json:"elapsed_ms"`
	Transactions []chainTxJSON `json:"transactions"`
	// Partial: the trace had more spans than one answer reads.
	Partial bool `json:"partial,omitempty"`
}

// trace answers the call chain of a trace: its transactions, each with
// the transaction that called it, callers before callees (depth first,
// callees in start order). The range (default the last 7 days) is where
// its spans are looked for.
func (h *handler) trace(w http.ResponseWriter, r *http.Request) {
	traceID, ok := pathID(w, r, "traceID", traceIDRe, "32 hex digits")
	if !ok {
		return
	}
	sel, ok := h.lookupSelection(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	spans, partial, err := h.traceSpans(ctx, sel.project, traceID, sel.start, sel.end)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	if len(spans) == 0 {
		notFound(w, "no spans of trace "+traceID+" in the range")
		return
	}
	out := callChain(spans)
	out.TraceID, out.Partial = traceID, partial
	envelope.WriteData(w, out)
}

// callChain links a trace's transactions. A transaction's caller is the
// transaction owning its parent span: the parent is a client or producer
// span of the calling app, below that app's entry span. When the parent
// was not exported (the Go library drops the steps of fast
// transactions), the caller is the innermost transaction of another app
// whose run encloses this one.
func callChain(spans []event.Record) traceJSON {
	byID := make(map[string]event.Record, len(spans))
	var txs []event.Record
	start, end := int64(0), int64(0)
	for _, s := range spans {
		byID[s[fSpanID]] = s
		if s[fRole] == roleTx {
			txs = append(txs, s)
		}
		if st := nanos(s, fStart); st != 0 && (start == 0 || st < start) {
			start = st
		}
		end = max(end, nanos(s, fEnd))
	}
	chain := make([]chainTxJSON, len(txs))
	index := make(map[string]int, len(txs))
	for i, tx := range txs {
		index[tx[fSpanID]] = i
		chain[i] = chainTxJSON{App: tx[fApp], Instance: tx[fInstance], Name: cmp.Or(tx[fTxName], tx[fSpanName]), SpanID: tx[fSpanID],
			OffsetMs: ms(nanos(tx, fStart) - start), ElapsedMs: envelope.Num(num(tx, fDuration)), Error: truthy(tx[fTxError])}
	}
	for i, tx := range txs {
		parent := tx[fParentID]
		if parent == "" {
			continue
		}
		if p, ok := byID[parent]; ok {
			if caller := owningTx(p, byID); caller != "" && caller != tx[fSpanID] {
				chain[i].ParentTx = caller
				if p[fRole] != roleTx {
					chain[i].Via = &viaJSON{Type: p[fStepType], Text: cmp.Or(p[fStepText], p[fSpanName]), ElapsedMs: envelope.Num(num(p, fDuration))}
				}
				continue
			}
		}
		chain[i].ParentTx = enclosingTx(tx, txs)
	}

	// Depth-first from the roots, so callers come before callees. A
	// transaction left unvisited sits on a cycle (the enclosing fallback
	// can pair runs of equal length); it becomes a root.
	kids := map[string][]int{}
	var roots []int
	for i, c := range chain {
		if _, ok := index[c.ParentTx]; ok {
			kids[c.ParentTx] = append(kids[c.ParentTx], i)
		} else {
			chain[i].ParentTx = ""
			roots = append(roots, i)
		}
	}
	byStart := func(a, b int) int {
		return cmp.Or(cmp.Compare(nanos(txs[a], fStart), nanos(txs[b], fStart)), strings.Compare(chain[a].SpanID, chain[b].SpanID))
	}
	slices.SortFunc(roots, byStart)
	out := traceJSON{Start: start / 1e6, ElapsedMs: ms(end - start), Transactions: make([]chainTxJSON, 0, len(chain))}
	visited := make([]bool, len(chain))
	var visit func(i, depth int)
	visit = func(i, depth int) {
		if visited[i] {
			return
		}
		visited[i] = true
		c := chain[i]
		c.Depth = depth
		out.Transactions = append(out.Transactions, c)
		k := kids[c.SpanID]
		slices.SortFunc(k, byStart)
		for _, j := range k {
			visit(j, depth+1)
		}
	}
	for _, i := range roots {
		visit(i, 0)
	}
	for i := range chain {
		if !visited[i] {
			chain[i].ParentTx = ""
			visit(i, 0)
		}
	}
	return out
}

// owningTx walks up from span s to the entry span it runs under and
// returns that span's id; "" when the walk leaves the stored spans.
func owningTx(s event.Record, byID map[string]event.Record) string {
	for range len(byID) + 1 {
		if s[fRole] == roleTx {
			return s[fSpanID]
		}
		p, ok := byID[s[fParentID]]
		if !ok {
			return ""
		}
		s = p
	}
	return "" // a parent cycle; span ids repeat in a broken trace
}

// enclosingTx is the innermost transaction of another app whose
// [start, end] encloses tx's: the latest to start, then the earliest to
// end. "" when none does.
func enclosingTx(tx event.Record, txs []event.Record) string {
	st, en := nanos(tx, fStart), nanos(tx, fEnd)
	best := -1
	for i, o := range txs {
		if o[fApp] == tx[fApp] || nanos(o, fStart) > st || nanos(o, fEnd) < en {
			continue
		}
		if best < 0 || nanos(o, fStart) > nanos(txs[best], fStart) ||
			(nanos(o, fStart) == nanos(txs[best], fStart) && nanos(o, fEnd) < nanos(txs[best], fEnd)) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return txs[best][fSpanID]
}
