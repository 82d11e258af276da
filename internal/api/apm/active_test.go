package apm

import (
	"net/url"
	"slices"
	"testing"
	"time"
)

func TestActive(t *testing.T) {
	f := setup(t)
	type inst struct {
		app, instance          string
		normal, slow, verySlow int
		tps                    float64
	}
	cases := []struct {
		name       string
		params     url.Values
		spans      []string // longest running first
		insts      []inst
		bottleneck map[string]int
	}{
		{"every instance's newest snapshot", nil,
			[]string{"5100000000000002", "5100000000000003", "5100000000000004", "5200000000000001", "5100000000000005"},
			// 9000 ms is very slow, 8000 and 3000 slow, 2999.9 and 100 normal;
			// shop-1's TPS is its recent window's 3 transactions / 5 s.
			[]inst{{"pay", "pay-1", 1, 0, 0, -1}, {"shop", "shop-1", 1, 2, 1, 0.6}},
			map[string]int{"sql": 1, "httpc": 1, "dbc": 1, "msg": 1, "method": 1}},
		{"app", vals("app", "shop"),
			[]string{"5100000000000002", "5100000000000003", "5100000000000004", "5100000000000005"},
			[]inst{{"shop", "shop-1", 1, 2, 1, 0.6}},
			map[string]int{"sql": 1, "httpc": 1, "dbc": 1, "msg": 0, "method": 1}},
		{"namespace, through the rollups", vals("namespace", "staging"),
			[]string{"5200000000000001"}, []inst{{"pay", "pay-1", 1, 0, 0, -1}},
			map[string]int{"sql": 0, "httpc": 0, "dbc": 0, "msg": 1, "method": 0}},
		{"namespace nobody has", vals("namespace", "nowhere"), nil, nil,
			map[string]int{"sql": 0, "httpc": 0, "dbc": 0, "msg": 0, "method": 0}},
		// Then shop-1's older snapshot was its newest, shop-2's was within
		// 15 s, and shop-1's recent window had not closed.
		{"as of 10 s ago", vals("end", rfc(f.now.Add(-10*time.Second))),
			[]string{"5300000000000001", "5100000000000002", "5100000000000001"},
			[]inst{{"shop", "shop-1", 2, 0, 0, -1}, {"shop", "shop-2", 0, 0, 1, -1}},
			map[string]int{"sql": 0, "httpc": 0, "dbc": 0, "msg": 0, "method": 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got activeJSON
			_, env := f.get(t, 1, "/api/v1/apm/active", tc.params, &got)
			var spans []string
			for _, x := range got.Transactions {
				spans = append(spans, x.SpanID)
			}
			if !slices.Equal(spans, tc.spans) {
				t.Errorf("transactions %v, want %v", spans, tc.spans)
			}
			if len(got.Instances) != len(tc.insts) {
				t.Fatalf("instances %+v, want %+v\n%s", got.Instances, tc.insts, env.Data)
			}
			for i, w := range tc.insts {
				g := got.Instances[i]
				// tps -1 stands for null, which decodes as 0.
				if g.App != w.app || g.Instance != w.instance || g.Normal != w.normal || g.Slow != w.slow || g.VerySlow != w.verySlow || !near(g.TPS, max(w.tps, 0)) {
					t.Errorf("instance %d = %+v, want %+v", i, g, w)
				}
			}
			for k, v := range tc.bottleneck {
				if got.Bottleneck[k] != v {
					t.Errorf("bottleneck %v, want %v", got.Bottleneck, tc.bottleneck)
					break
				}
			}
		})
	}

	var got activeJSON
	f.mustGet(t, "/api/v1/apm/active", nil, &got)
	x := got.Transactions[0]
	if x.App != "shop" || x.Instance != "shop-1" || x.AgentID != "agent-shop-1" || x.TraceID != trace1 || x.Name != "GET /slow" ||
		x.ElapsedMs != 9000 || x.ClientIP != "10.1.1.1" || x.User != "u-1" || x.Method != "GET" || x.SQLCount != 2 || x.StackHash != hash1 ||
		x.Step == nil || *x.Step != (activeStepJSON{Type: "dbc", Text: "pool wait", ElapsedMs: 8500}) {
		t.Errorf("longest %+v step %+v", x, x.Step)
	}
	if last := got.Transactions[4]; last.Step != nil || last.StackHash != "" {
		t.Errorf("own code: %+v", last)
	}
}

func TestActiveHistory(t *testing.T) {
	f := setup(t)
	var got struct {
		Samples []historySampleJSON `json:"samples"`
	}
	for _, params := range []url.Values{nil, vals("trace_id", trace1)} {
		f.mustGet(t, "/api/v1/apm/active/history/"+spanA, params, &got)
		type w struct {
			off     time.Duration
			elapsed float64
			hash    string
			text    string
		}
		want := []w{{100 * time.Millisecond, 100, hash1, stack1Text}, {300 * time.Millisecond, 300, hash2, stack2Text}, {350 * time.Millisecond, 350, "", ""}}
		if len(got.Samples) != len(want) {
			t.Fatalf("samples %+v", got.Samples)
		}
		for i, s := range got.Samples {
			if !s.Time.Equal(f.t0.Add(want[i].off)) || !near(s.ElapsedMs, want[i].elapsed) || s.Hash != want[i].hash || s.Text != want[i].text ||
				s.Step == nil || s.Step.Type != "httpc" {
				t.Errorf("sample %d = %+v, want %+v", i, s, want[i])
			}
		}
	}
	f.mustGet(t, "/api/v1/apm/active/history/"+spanA, vals("trace_id", "ffffffffffffffffffffffffffffffff"), &got)
	if len(got.Samples) != 0 {
		t.Errorf("another trace: %+v", got.Samples)
	}
}

func TestStacks(t *testing.T) {
	f := setup(t)
	s1 := topStackJSON{Hash: hash1, Count: 5, Transactions: 4, Text: stack1Text, TopFrame: "main.checkout(0xc000010000)"}
	s2 := topStackJSON{Hash: hash2, Count: 3, Transactions: 3, Text: stack2Text, TopFrame: "database/sql.(*DB).QueryContext(...)"}
	s3 := topStackJSON{Hash: hash3, Count: 1, Transactions: 1}
	cases := []struct {
		name   string
		params url.Values
		want   []topStackJSON
	}{
		{"all", nil, []topStackJSON{s1, s2, s3}},
		{"limit", vals("limit", "1"), []topStackJSON{s1}},
		{"app", vals("app", "pay"), []topStackJSON{s3}},
		{"namespace", vals("namespace", "prod"), []topStackJSON{s1, s2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				Stacks []topStackJSON `json:"stacks"`
			}
			f.mustGet(t, "/api/v1/apm/stacks", tc.params, &got)
			if !slices.Equal(got.Stacks, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got.Stacks, tc.want)
			}
		})
	}
	var one map[string]string
	f.mustGet(t, "/api/v1/apm/stacks/"+hash1, nil, &one)
	if one["hash"] != hash1 || one["text"] != stack1Text {
		t.Errorf("stack %v", one)
	}
}

func TestTopFrame(t *testing.T) {
	for text, want := range map[string]string{
		stack1Text: "main.checkout(0xc000010000)",
		"runtime.gopark()\n\t/x.go:1\nruntime.chanrecv()\n": "runtime.gopark()",
		"main.f()\r\n\t/a.go:1\r\n":                         "main.f()",
		"":                                                  "",
		"goroutine 1 [running]:\n":                          "",
	} {
		if got := topFrame(text); got != want {
			t.Errorf("topFrame(%q) = %q, want %q", text, got, want)
		}
	}
}
