package apm

import (
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/store/event"
)

func TestTrace(t *testing.T) {
	f := setup(t)
	type want struct {
		span, app, name, parent string
		via                     *viaJSON
		offset, elapsed         float64
		err                     bool
		depth                   int
	}
	wants := []want{
		{spanA, "shop", "GET /checkout", "", nil, 0, 500, false, 0},
		{spanE, "pay", "POST /pay", spanA, &viaJSON{Type: "httpc", Text: "POST http://pay.svc:8080/pay", ElapsedMs: 300}, 110, 280, true, 1},
		// audit's parent span was dropped: the innermost enclosing
		// transaction of another app is pay's (shop's encloses it too).
		{spanI, "audit", "POST /audit", spanE, nil, 130, 60, false, 2},
		{spanH, "notify", "payments.done process", spanE, &viaJSON{Type: "msg", Text: "payments.done", ElapsedMs: 10}, 270, 330, false, 2},
	}
	for _, params := range []url.Values{nil, vals("start", rfc(f.t0), "end", rfc(f.t0.Add(time.Second)))} {
		var got traceJSON
		f.mustGet(t, "/api/v1/apm/trace/"+strings.ToUpper(trace1), params, &got)
		if got.TraceID != trace1 || got.Start != f.t0.UnixMilli() || float64(got.ElapsedMs) != 600 || got.Partial {
			t.Errorf("trace %s start %d elapsed %v partial %v", got.TraceID, got.Start, got.ElapsedMs, got.Partial)
		}
		if len(got.Transactions) != len(wants) {
			t.Fatalf("transactions %+v", got.Transactions)
		}
		for i, w := range wants {
			x := got.Transactions[i]
			if x.SpanID != w.span || x.App != w.app || x.Name != w.name || x.ParentTx != w.parent || !near(x.OffsetMs, w.offset) ||
				!near(x.ElapsedMs, w.elapsed) || x.Error != w.err || x.Depth != w.depth || (x.Via == nil) != (w.via == nil) ||
				(x.Via != nil && *x.Via != *w.via) {
				t.Errorf("transaction %d = %+v via %+v\nwant %+v via %+v", i, x, x.Via, w, w.via)
			}
		}
	}
	// The range is where spans are looked for.
	if code, _ := f.get(t, 1, "/api/v1/apm/trace/"+trace1, vals("start", rfc(f.t0.Add(time.Hour)), "end", rfc(f.t0.Add(2*time.Hour))), nil); code != 404 {
		t.Errorf("trace outside the range: %d", code)
	}
}

func TestCallChainCycle(t *testing.T) {
	// Two transactions of different apps with the same run and dropped
	// parents enclose each other; both still appear, once.
	tx := func(id, app string) event.Record {
		return event.Record{"span_id": id, "parent_span_id": "ffffffffffffffff", "apm.role": "tx", "app": app, "start": "1000", "end": "2000", "duration_ms": "0.001"}
	}
	got := callChain([]event.Record{tx("0000000000000001", "a"), tx("0000000000000002", "b")})
	if len(got.Transactions) != 2 || got.Transactions[0].ParentTx != "" || got.Transactions[0].Depth != 0 ||
		got.Transactions[1].ParentTx != got.Transactions[0].SpanID || got.Transactions[1].Depth != 1 {
		t.Errorf("chain %+v", got.Transactions)
	}
	// A parent cycle among spans ends the walk.
	loop := []event.Record{
		{"span_id": "0000000000000001", "parent_span_id": "0000000000000003", "apm.role": "tx", "app": "a", "start": "1", "end": "9"},
		{"span_id": "0000000000000002", "parent_span_id": "0000000000000003", "apm.role": "step", "app": "b"},
		{"span_id": "0000000000000003", "parent_span_id": "0000000000000002", "apm.role": "step", "app": "b"},
	}
	if got := callChain(loop); len(got.Transactions) != 1 || got.Transactions[0].ParentTx != "" {
		t.Errorf("chain %+v", got.Transactions)
	}
}

func TestProfile(t *testing.T) {
	f := setup(t)
	var got profileJSON
	f.mustGet(t, "/api/v1/apm/profile/"+trace1+"/"+spanA, nil, &got)
	tx := got.Tx
	if tx.SpanID != spanA || tx.Name != "GET /checkout" || tx.UserAgent != "curl/8" || !near(tx.CPUMs, 12.5) || !near(tx.AllocBytes, 4096) ||
		!near(tx.StepsDropped, 2) || !near(tx.ElapsedMs, 500) || tx.User != "u-42" || tx.Error {
		t.Errorf("tx %+v", tx)
	}
	type step struct {
		span, parent  string
		depth         int
		offset, elaps float64
		typ, text     string
		err           bool
		attrs         map[string]string
	}
	// Start order; pay's spans below the httpc step are another app's.
	wantSteps := []step{
		{spanB, spanA, 1, 10, 20, "method", "checkout.validate", false, map[string]string{"code.function": "validate"}},
		{spanC, spanB, 2, 12, 8, "sql", "SELECT * FROM orders WHERE id = ?", false, map[string]string{"db.system": "mysql"}},
		{spanD, spanA, 1, 100, 300, "httpc", "POST http://pay.svc:8080/pay", true, map[string]string{}},
	}
	if len(got.Steps) != len(wantSteps) {
		t.Fatalf("steps %+v", got.Steps)
	}
	for i, w := range wantSteps {
		s := got.Steps[i]
		if s.SpanID != w.span || s.ParentSpanID != w.parent || s.Depth != w.depth || !near(s.OffsetMs, w.offset) || !near(s.ElapsedMs, w.elaps) ||
			s.Type != w.typ || s.Text != w.text || s.Error != w.err {
			t.Errorf("step %d = %+v, want %+v", i, s, w)
		}
		// span.kind and the resource's and scope's fields are not the
		// step's own attributes.
		if len(s.Attributes) != len(w.attrs) {
			t.Errorf("step %d attributes %v, want %v", i, s.Attributes, w.attrs)
		}
		for k, v := range w.attrs {
			if s.Attributes[k] != v {
				t.Errorf("step %d attributes %v, want %v", i, s.Attributes, w.attrs)
			}
		}
	}
	if got.Steps[1].Rows != 3 || got.Steps[2].StatusMessage != "502 from pay" || got.Steps[0].Name != "checkout.validate" {
		t.Errorf("steps %+v", got.Steps)
	}
	// The samples taken while it ran, with texts; the snapshot without a
	// sample is not a stack.
	wantStacks := []stackSampleJSON{
		{Time: f.t0.Add(100 * time.Millisecond).UTC(), OffsetMs: 100, Hash: hash1, Text: stack1Text, StepType: "httpc", StepText: "POST http://pay.svc:8080/pay"},
		{Time: f.t0.Add(300 * time.Millisecond).UTC(), OffsetMs: 300, Hash: hash2, Text: stack2Text, StepType: "httpc", StepText: "POST http://pay.svc:8080/pay"},
	}
	if !slices.EqualFunc(got.Stacks, wantStacks, func(a, b stackSampleJSON) bool {
		return a.Time.Equal(b.Time) && a.OffsetMs == b.OffsetMs && a.Hash == b.Hash && a.Text == b.Text && a.StepType == b.StepType && a.StepText == b.StepText
	}) {
		t.Errorf("stacks %+v\nwant %+v", got.Stacks, wantStacks)
	}
	if len(got.Events) != 1 || got.Events[0].Name != "exception" || !near(got.Events[0].OffsetMs, 450) || got.Events[0].Attributes["exception.message"] != "late" {
		t.Errorf("events %+v", got.Events)
	}

	// pay's transaction: its own steps only, not notify's consumer below
	// its producer span.
	f.mustGet(t, "/api/v1/apm/profile/"+trace1+"/"+spanE, nil, &got)
	if len(got.Steps) != 2 || got.Steps[0].SpanID != spanF || !near(got.Steps[0].OffsetMs, 10) || got.Steps[1].SpanID != spanG ||
		got.Steps[1].Type != "msg" || !near(got.Steps[1].OffsetMs, 140) || len(got.Stacks) != 0 || len(got.Events) != 0 || !got.Tx.Error {
		t.Errorf("pay profile %+v", got)
	}
	if !math.IsNaN(float64(got.Tx.CPUMs)) {
		// Decoded null stays 0, so look at the JSON instead.
		_, env := f.get(t, 1, "/api/v1/apm/profile/"+trace1+"/"+spanE, nil, nil)
		if !strings.Contains(string(env.Data), `"cpu_ms":null`) {
			t.Errorf("pay profile: cpu_ms is unknown, want null: %s", env.Data)
		}
	}
}
