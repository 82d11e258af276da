package loadgen

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/osprey-monitoring/osprey/internal/wire"
)

// appInstance is one simulated process of a service.
type appInstance struct {
	idx  int
	svc  *serviceTmpl
	res  pcommon.Resource
	id   string
	name string
	host string
	ip   string
	addr string // server.address other services use to reach it
}

// appModel is immutable once built and shared by all trace and log
// workers.
type appModel struct {
	services   []*serviceTmpl
	byName     map[string]*serviceTmpl
	instances  []*appInstance
	users      []string
	clientIPs  []string
	userAgents []string
}

func newAppModel(cfg Config) *appModel {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xa995))
	m := &appModel{services: shopServices(rng), byName: map[string]*serviceTmpl{}}
	for _, s := range m.services {
		m.byName[s.name] = s
	}
	const alnum = "bcdfghjklmnpqrstvwxz2456789"
	suffix := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alnum[rng.IntN(len(alnum))]
		}
		return string(b)
	}
	for i := range cfg.Apps {
		svc := m.services[i%len(m.services)]
		host := "sim-apphost-" + pad(i+1, max(4, len(strconv.Itoa(cfg.Apps))))
		if cfg.Hosts > 0 {
			host = hostName(i%cfg.Hosts, cfg.Hosts)
		}
		inst := &appInstance{
			idx:  i,
			svc:  svc,
			id:   stableID(cfg.Seed, 2, i),
			name: svc.name + "-" + suffix(9) + "-" + suffix(5), // pod-like, as most apps now run
			host: host,
			ip:   "10.20." + strconv.Itoa(i/250%250) + "." + strconv.Itoa(i%250+2),
		}
		inst.addr = svc.name
		inst.res = pcommon.NewResource()
		a := inst.res.Attributes()
		a.PutStr(wire.AttrServiceName, svc.name)
		a.PutStr(wire.AttrServiceNamespace, "shop")
		a.PutStr(wire.AttrServiceInstanceID, inst.id)
		a.PutStr(wire.AttrHostName, host)
		a.PutStr(wire.AttrAgentID, inst.id)
		a.PutStr(wire.AttrAgentName, inst.name)
		a.PutStr(wire.AttrAgentGroup, svc.name)
		a.PutStr(wire.AttrAgentKind, "app")
		a.PutStr("telemetry.sdk.language", svc.lang)
		a.PutStr("telemetry.sdk.name", "opentelemetry")
		a.PutStr("deployment.environment.name", "production")
		svc.instances = append(svc.instances, i)
		m.instances = append(m.instances, inst)
	}
	m.users = make([]string, 5000)
	for i := range m.users {
		m.users[i] = "u" + strconv.Itoa(100000+rng.IntN(900000))
	}
	m.clientIPs = make([]string, 2000)
	for i := range m.clientIPs {
		switch rng.IntN(3) {
		case 0:
			m.clientIPs[i] = "203.0.113." + strconv.Itoa(1+rng.IntN(254))
		case 1:
			m.clientIPs[i] = "198.51.100." + strconv.Itoa(1+rng.IntN(254))
		default:
			m.clientIPs[i] = strconv.Itoa(1+rng.IntN(223)) + "." + strconv.Itoa(rng.IntN(256)) + "." +
				strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(1+rng.IntN(254))
		}
	}
	m.userAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"okhttp/4.12.0",
		"python-requests/2.32.3",
		"curl/8.5.0",
	}
	return m
}

// txGen builds trace batches. One per worker; not safe for concurrent use.
type txGen struct {
	m     *appModel
	rng   *rand.Rand
	td    ptrace.Traces
	slots []ptrace.SpanSlice // per instance, valid when used[i]
	used  []bool
	list  []int
	spans int
	txs   int
	// scratch for child scheduling, kept to avoid allocating per span
	steps   []*stepTmpl
	weights []float64
}

func newTxGen(m *appModel, seed int64, worker int) *txGen {
	g := &txGen{
		m:     m,
		rng:   rand.New(rand.NewPCG(uint64(seed), uint64(worker)+0x7a11)),
		slots: make([]ptrace.SpanSlice, len(m.instances)),
		used:  make([]bool, len(m.instances)),
	}
	g.reset()
	return g
}

func (g *txGen) reset() {
	g.td = ptrace.NewTraces()
	for _, i := range g.list {
		g.used[i] = false
	}
	g.list = g.list[:0]
	g.spans, g.txs = 0, 0
}

func (g *txGen) spansOf(inst *appInstance) ptrace.SpanSlice {
	if g.used[inst.idx] {
		return g.slots[inst.idx]
	}
	rs := g.td.ResourceSpans().AppendEmpty()
	inst.res.CopyTo(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(inst.svc.scope)
	ss.Scope().SetVersion(inst.svc.scopeVersion)
	g.used[inst.idx] = true
	g.slots[inst.idx] = ss.Spans()
	g.list = append(g.list, inst.idx)
	return g.slots[inst.idx]
}

func (g *txGen) traceID() pcommon.TraceID {
	var t pcommon.TraceID
	a, b := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		t[i] = byte(a >> (8 * i))
		t[8+i] = byte(b >> (8 * i))
	}
	return t
}

func (g *txGen) spanID() pcommon.SpanID {
	var s pcommon.SpanID
	a := g.rng.Uint64() | 1 // never the invalid all-zero id
	for i := range 8 {
		s[i] = byte(a >> (8 * i))
	}
	return s
}

// elapsed draws a response time: mostly tens of ms, a slow tail of 3–10 s
// and a few over 10 s, which is what gives a hitmap its shape.
func (g *txGen) elapsed() time.Duration {
	switch u := g.rng.Float64(); {
	case u < 0.003:
		return time.Duration((10 + 20*g.rng.Float64()) * float64(time.Second))
	case u < 0.025:
		return time.Duration((3 + 7*g.rng.Float64()) * float64(time.Second))
	case u < 0.08:
		return time.Duration((0.3 + 2.7*g.rng.Float64()) * float64(time.Second))
	default:
		ms := 35 * math.Exp(0.7*g.rng.NormFloat64())
		return time.Duration(math.Max(2, math.Min(ms, 3000)) * float64(time.Millisecond))
	}
}

// root generates one incoming transaction (and whatever it calls) ending
// now, and returns how many transactions (server spans) it produced.
func (g *txGen) root(now time.Time) int {
	inst := g.m.instances[g.rng.IntN(len(g.m.instances))]
	rt := &inst.svc.routes[inst.svc.pick[g.rng.IntN(len(inst.svc.pick))]]
	end := now.UnixNano()
	start := end - int64(g.elapsed())
	client := g.m.clientIPs[g.rng.IntN(len(g.m.clientIPs))]
	var user string
	if g.rng.IntN(10) != 0 { // some traffic is anonymous
		user = g.m.users[g.rng.IntN(len(g.m.users))]
	}
	ua := g.m.userAgents[g.rng.IntN(len(g.m.userAgents))]
	n, _ := g.server(inst, rt, g.traceID(), pcommon.SpanID{}, start, end, client, user, ua, 0)
	return n
}

// server emits a SERVER span for inst handling rt within [start, end], its
// children, and the server spans of any simulated services it calls. It
// returns the transaction count and whether the request failed.
func (g *txGen) server(inst *appInstance, rt *routeTmpl, tid pcommon.TraceID, parent pcommon.SpanID,
	start, end int64, client, user, ua string, depth int) (int, bool) {
	spans := g.spansOf(inst)
	sp := spans.AppendEmpty()
	sid := g.spanID()
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	if !parent.IsEmpty() {
		sp.SetParentSpanID(parent)
	}
	sp.SetName(rt.name)
	sp.SetKind(ptrace.SpanKindServer)
	sp.SetStartTimestamp(pcommon.Timestamp(start))
	sp.SetEndTimestamp(pcommon.Timestamp(end))
	g.spans++
	txs := 1

	failed := g.rng.Float64() < rt.failRate
	if end-start > int64(3*time.Second) && g.rng.IntN(8) == 0 {
		failed = true // slow requests time out more often
	}

	// Children hang under the controller method when the framework has
	// one, which gives profiles their nesting.
	childParent := sid
	cStart, cEnd := start, end
	if rt.method2 != "" {
		d := end - start
		ms := spans.AppendEmpty()
		mid := g.spanID()
		ms.SetTraceID(tid)
		ms.SetSpanID(mid)
		ms.SetParentSpanID(sid)
		ms.SetName(rt.method2)
		ms.SetKind(ptrace.SpanKindInternal)
		cStart, cEnd = start+d/20, end-d/40
		ms.SetStartTimestamp(pcommon.Timestamp(cStart))
		ms.SetEndTimestamp(pcommon.Timestamp(cEnd))
		ms.Attributes().PutStr("code.function.name", rt.method2)
		g.spans++
		childParent = mid
	}

	// Pick which steps run and how long each takes: a share of the time is
	// the service's own, the rest is split by random weights, and a slow
	// transaction has one dominant step — the bottleneck a profile shows.
	g.steps, g.weights = g.steps[:0], g.weights[:0]
	for i := range rt.steps {
		st := &rt.steps[i]
		if st.prob < 1 && g.rng.Float64() >= st.prob {
			continue
		}
		if st.kind == stepCall && depth >= 3 {
			continue
		}
		reps := 1
		if st.repeat > 0 {
			reps += g.rng.IntN(st.repeat + 1)
		}
		for range reps {
			g.steps = append(g.steps, st)
			g.weights = append(g.weights, 0.2+g.rng.ExpFloat64())
		}
	}
	if n := len(g.steps); n > 0 {
		total := 0.0
		if end-start > int64(time.Second) {
			g.weights[g.rng.IntN(n)] += 40
		}
		for _, w := range g.weights {
			total += w
		}
		window := float64(cEnd - cStart)
		self := 0.15 + 0.25*g.rng.Float64()
		gap := window * self / float64(n+1)
		busy := window * (1 - self)
		cur := float64(cStart) + gap
		// The scratch slices are rebuilt by nested calls, so iterate over
		// a copy of the schedule taken now.
		var stepsBuf [24]*stepTmpl
		var durBuf [24]int64
		steps := stepsBuf[:0]
		durs := durBuf[:0]
		for i, st := range g.steps {
			if i == len(stepsBuf) {
				break
			}
			steps = append(steps, st)
			durs = append(durs, int64(busy*g.weights[i]/total))
		}
		for i, st := range steps {
			s := min(int64(cur), cEnd)
			e := min(s+max(durs[i], int64(50*time.Microsecond)), cEnd)
			cur += float64(durs[i]) + gap
			n, calleeFailed := g.child(inst, st, tid, childParent, s, e, depth)
			txs += n
			if calleeFailed && g.rng.IntN(2) == 0 {
				failed = true
			}
		}
	}

	status := int64(200)
	if rt.method == "POST" {
		status = 201
	}
	if failed {
		status = 500
		if g.rng.IntN(4) == 0 {
			status = 503
		}
	} else if g.rng.IntN(40) == 0 {
		status = 404
	}
	a := sp.Attributes()
	a.EnsureCapacity(11)
	a.PutStr("http.request.method", rt.method)
	a.PutStr("http.route", rt.route)
	a.PutStr("url.path", rt.paths[g.rng.IntN(len(rt.paths))])
	a.PutStr("url.scheme", "http")
	a.PutInt("http.response.status_code", status)
	a.PutStr("client.address", client)
	a.PutStr("server.address", inst.addr)
	a.PutInt("server.port", inst.svc.port)
	if user != "" {
		a.PutStr("enduser.id", user)
	}
	a.PutStr("user_agent.original", ua)
	if failed {
		st := sp.Status()
		st.SetCode(ptrace.StatusCodeError)
		st.SetMessage(inst.svc.exception.msg)
		ev := sp.Events().AppendEmpty()
		ev.SetName("exception")
		ev.SetTimestamp(pcommon.Timestamp(end - int64(time.Millisecond)))
		ea := ev.Attributes()
		ea.EnsureCapacity(3)
		ea.PutStr("exception.type", inst.svc.exception.typ)
		ea.PutStr("exception.message", inst.svc.exception.msg)
		ea.PutStr("exception.stacktrace", inst.svc.exception.stack)
	}
	return txs, failed
}

// child emits one step of a transaction. Calls to simulated services
// continue the trace on the callee; when the callee service has no
// instances the call is an ordinary external HTTP call.
func (g *txGen) child(inst *appInstance, st *stepTmpl, tid pcommon.TraceID, parent pcommon.SpanID,
	start, end int64, depth int) (int, bool) {
	sp := g.spansOf(inst).AppendEmpty()
	sid := g.spanID()
	sp.SetTraceID(tid)
	sp.SetSpanID(sid)
	sp.SetParentSpanID(parent)
	sp.SetName(st.name)
	sp.SetStartTimestamp(pcommon.Timestamp(start))
	sp.SetEndTimestamp(pcommon.Timestamp(end))
	g.spans++
	a := sp.Attributes()
	switch st.kind {
	case stepSQL:
		sp.SetKind(ptrace.SpanKindClient)
		a.EnsureCapacity(7)
		a.PutStr("db.system.name", inst.svc.dbSystem)
		a.PutStr("db.namespace", inst.svc.dbNS)
		a.PutStr("db.operation.name", st.op)
		a.PutStr("db.collection.name", st.table)
		a.PutStr("db.query.text", st.texts[g.rng.IntN(len(st.texts))])
		a.PutStr("server.address", inst.svc.dbHost)
		a.PutInt("server.port", inst.svc.dbPort)
		return 0, false
	case stepInternal:
		sp.SetKind(ptrace.SpanKindInternal)
		a.PutStr("code.function.name", st.fn)
		return 0, false
	case stepHTTP:
		sp.SetKind(ptrace.SpanKindClient)
		status := int64(200)
		if g.rng.IntN(100) == 0 {
			status = 502
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		a.EnsureCapacity(5)
		a.PutStr("http.request.method", st.method)
		a.PutStr("url.full", st.urls[g.rng.IntN(len(st.urls))])
		a.PutStr("server.address", st.host)
		a.PutInt("server.port", st.port)
		a.PutInt("http.response.status_code", status)
		return 0, status >= 500
	}
	// stepCall
	sp.SetKind(ptrace.SpanKindClient)
	callee := g.m.byName[st.callee]
	a.EnsureCapacity(5)
	a.PutStr("http.request.method", st.method)
	a.PutStr("server.address", st.callee)
	port := int64(8080)
	if callee != nil {
		port = callee.port
	}
	a.PutInt("server.port", port)
	if callee == nil || len(callee.instances) == 0 {
		a.PutStr("url.full", "http://"+st.callee+"/")
		a.PutInt("http.response.status_code", 200)
		return 0, false
	}
	crt := &callee.routes[st.calleeRoute]
	a.PutStr("url.full", "http://"+st.callee+":"+strconv.FormatInt(port, 10)+crt.paths[0])
	target := g.m.instances[callee.instances[g.rng.IntN(len(callee.instances))]]
	// The callee sees the request a little after the caller sends it and
	// answers a little before the caller gets the answer: network time.
	lag := min((end-start)/20, int64(2*time.Millisecond))
	n, failed := g.server(target, crt, tid, sid, start+lag, end-lag, inst.ip, "", "", depth+1)
	status := int64(200)
	if failed {
		status = 500
		sp.Status().SetCode(ptrace.StatusCodeError)
	}
	a.PutInt("http.response.status_code", status)
	return n, failed
}

// runTraces paces transactions at this worker's share of cfg.TPS and ships
// them in batches of about cfg.BatchSpans spans.
func (r *runner) runTraces(m *appModel, w int) {
	cfg := r.cfg
	client := ptraceotlp.NewGRPCClient(r.conns[w])
	g := newTxGen(m, cfg.Seed, w)
	bo := &backoff{rng: rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(w)+202))}
	p := &pacer{rate: cfg.TPS / float64(cfg.Connections), start: time.Now()}
	var firstAt time.Time

	flush := func() bool {
		if g.spans == 0 {
			return true
		}
		spans, txs := uint64(g.spans), uint64(g.txs)
		req := ptraceotlp.NewExportRequestFromTraces(g.td)
		var resp ptraceotlp.ExportResponse
		err := r.call(func(ctx context.Context) error {
			var err error
			resp, err = client.Export(ctx, req)
			return err
		})
		g.reset()
		if err != nil {
			return r.handleErr("traces", err, bo)
		}
		bo.reset()
		if rej := uint64(resp.PartialSuccess().RejectedSpans()); rej > 0 {
			// We cannot tell which spans were refused; count the
			// request as an error and the transactions pro rata.
			r.count.errors.Add(1)
			txs -= min(txs, txs*rej/spans)
			spans -= min(spans, rej)
		}
		r.count.spans.Add(spans)
		r.count.transactions.Add(txs)
		return true
	}

	for {
		if r.stop.Err() != nil {
			flush()
			return
		}
		now := time.Now()
		n, wait := p.due(now)
		if n == 0 {
			if g.spans > 0 {
				if left := flushEvery - now.Sub(firstAt); left <= 0 {
					if !flush() {
						return
					}
					continue
				} else {
					wait = min(wait, left)
				}
			}
			if !sleepCtx(r.stop, wait) {
				flush()
				return
			}
			continue
		}
		// n counts transactions, and a root may bring its callees along.
		for made := 0; made < n; {
			if g.spans == 0 {
				firstAt = now
			}
			k := g.root(now)
			made += k
			g.txs += k
			p.add(k)
			if g.spans >= cfg.BatchSpans {
				if !flush() {
					return
				}
				if r.stop.Err() != nil {
					return
				}
				now = time.Now()
			}
		}
	}
}
