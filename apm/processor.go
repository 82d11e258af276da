package apm

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/osprey-monitoring/osprey/internal/sqlmask"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

// processor is the SpanProcessor in front of the batch processor. It
// follows every transaction while it runs (for active snapshots and stack
// samples), sums its steps, computes the rollups, and decides which spans
// are worth exporting: every entry span with its summary, and the steps
// only of slow, failed or first-of-their-name transactions.
type processor struct {
	next sdktrace.SpanProcessor // the batch processor

	baseTime   time.Duration
	stepLimit  int
	showParams bool

	live     liveMap
	counters counterSet
	stats    *statSet
	users    userSet
	names    strCache
	sqlText  strCache

	orphans      atomic.Uint64 // steps whose transaction was not found
	stepsDropped atomic.Uint64 // steps not exported, all reasons

	stepPool sync.Pool // *[]sdktrace.ReadOnlySpan
}

func newProcessor(cfg *Config, next sdktrace.SpanProcessor) *processor {
	p := &processor{
		next:       next,
		baseTime:   cfg.BaseTime,
		stepLimit:  cfg.StepLimit,
		showParams: cfg.ShowSQLParams,
		stats:      newStatSet(),
	}
	p.counters.apdexT = float64(cfg.ApdexT) / float64(time.Millisecond)
	p.live.init()
	return p
}

// tx is one running transaction.
type tx struct {
	rec spanRec // the entry span's record; rec.tx points back here

	cur        atomic.Pointer[spanRec] // the open step, nil when in its own code
	user       atomic.Pointer[string]  // enduser.id set on a step (SetUser with its context)
	sqlCount   atomic.Uint32
	httpcCount atomic.Uint32
	sqlNs      atomic.Int64
	httpcNs    atomic.Int64

	mu      sync.Mutex
	steps   *[]sdktrace.ReadOnlySpan
	dropped int
	done    bool // the entry span ended; later steps follow keep
	keep    bool
}

// spanRec links a live span to its transaction.
type spanRec struct {
	tx     *tx
	parent *spanRec // nil for the entry span
	span   sdktrace.ReadWriteSpan
}

func (r *spanRec) isEntry() bool { return r.parent == nil }

// OnStart starts a transaction for an entry span and attaches any other
// span to the transaction of its parent. It reads no attributes: that
// would cost a copy per span, and classification can wait for OnEnd.
func (p *processor) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	id := s.SpanContext().SpanID()
	par := s.Parent()
	if isEntry(s.SpanKind(), par) {
		t := &tx{}
		t.rec = spanRec{tx: t, span: s}
		p.live.put(id, &t.rec)
		p.next.OnStart(parent, s)
		return
	}
	if prec := p.live.get(par.SpanID()); prec != nil {
		rec := &spanRec{tx: prec.tx, parent: prec, span: s}
		if p.live.put(id, rec) {
			prec.tx.cur.Store(rec)
		}
	}
	p.next.OnStart(parent, s)
}

// OnEnd finishes a step or a transaction.
func (p *processor) OnEnd(s sdktrace.ReadOnlySpan) {
	rec := p.live.remove(s.SpanContext().SpanID())
	switch {
	case rec != nil && rec.isEntry():
		p.endTx(s, rec.tx)
	case rec != nil:
		p.endStep(s, rec)
	case isEntry(s.SpanKind(), s.Parent()):
		// Not tracked (the live map was full): still a transaction.
		p.endTx(s, &tx{})
	default:
		// A step whose transaction this process never saw (its parent
		// ended first, or came from another TracerProvider): export it
		// as it is and let the server place it.
		p.orphans.Add(1)
		var a spanAttrs
		a.read(s.Attributes())
		p.export(s, &a)
	}
}

func (p *processor) endStep(s sdktrace.ReadOnlySpan, rec *spanRec) {
	t := rec.tx
	// The step closes: the transaction is back in its parent step.
	var back *spanRec
	if !rec.parent.isEntry() {
		back = rec.parent
	}
	t.cur.CompareAndSwap(rec, back)

	var a spanAttrs
	a.read(s.Attributes())
	if a.sqlSkip {
		return
	}
	if a.user != "" && t.user.Load() == nil {
		u := a.user
		t.user.Store(&u)
	}
	dur := s.EndTime().Sub(s.StartTime())
	failed := s.Status().Code == codes.Error || a.status >= 500
	typ := stepType(s.SpanKind(), s.Name(), &a)
	v := statAdd{dur: dur, failed: failed}
	switch typ {
	case stepSQL:
		t.sqlCount.Add(1)
		t.sqlNs.Add(int64(dur))
		v.rows = uint64(max(a.dbRows, 0))
		p.stats.add(statSQL, p.stepText(typ, s, &a), v)
		v.rows = 0
	case stepHTTPC:
		t.httpcCount.Add(1)
		t.httpcNs.Add(int64(dur))
		p.stats.add(statHTTPC, p.stepText(typ, s, &a), v)
	}
	if out := p.outTarget(typ, &a); out != "" {
		p.stats.add(statOut, out, v)
	}

	t.mu.Lock()
	if t.done {
		keep := t.keep
		t.mu.Unlock()
		// A step that outlived its transaction (work left running in a
		// goroutine): it follows the transaction's decision.
		if keep {
			p.export(s, &a)
		}
		return
	}
	if t.steps == nil {
		t.steps = p.getSteps()
	}
	if len(*t.steps) < p.stepLimit {
		*t.steps = append(*t.steps, s)
	} else {
		t.dropped++
	}
	t.mu.Unlock()
}

func (p *processor) getSteps() *[]sdktrace.ReadOnlySpan {
	if v, ok := p.stepPool.Get().(*[]sdktrace.ReadOnlySpan); ok {
		return v
	}
	s := make([]sdktrace.ReadOnlySpan, 0, 8)
	return &s
}

func (p *processor) putSteps(s *[]sdktrace.ReadOnlySpan) {
	clear(*s)
	*s = (*s)[:0]
	if cap(*s) > 64 {
		return // a huge transaction's buffer is not worth keeping
	}
	p.stepPool.Put(s)
}

func (p *processor) endTx(s sdktrace.ReadOnlySpan, t *tx) {
	var a spanAttrs
	attrs := s.Attributes()
	a.read(attrs)
	kind := s.SpanKind()
	end := s.EndTime()
	dur := end.Sub(s.StartTime())
	ms := float64(dur) / float64(time.Millisecond)
	failed := s.Status().Code == codes.Error || a.status >= 500
	name := p.txName(s, &a)

	user := a.user
	var setUser bool // the user came from a step: add enduser.id to the entry
	if user == "" {
		if u := t.user.Load(); u != nil {
			user, setUser = *u, true
		}
	}
	if user == "" {
		user = a.clientIP
	}

	sqlCount, httpcCount := t.sqlCount.Load(), t.httpcCount.Load()
	sqlMs := float64(t.sqlNs.Load()) / float64(time.Millisecond)
	httpcMs := float64(t.httpcNs.Load()) / float64(time.Millisecond)

	p.counters.add(s.SpanContext().SpanID()[7], ms, failed, sqlMs, httpcMs)
	if user != "" {
		p.users.see(user, end.Unix())
	}
	v := statAdd{dur: dur, failed: failed}
	txv := v
	txv.sqlCount, txv.httpcCount = uint64(sqlCount), uint64(httpcCount)
	first := p.stats.add(statTx, name, txv)
	if a.clientIP != "" {
		p.stats.add(statIP, a.clientIP, v)
	}
	if a.userAgent != "" {
		p.stats.add(statUA, a.userAgent, v)
	}
	if failed {
		p.stats.add(statError, errorKey(s, &a), v)
	}
	if in := p.inAddress(kind, &a); in != "" {
		p.stats.add(statIn, in, v)
	}

	keep := dur >= p.baseTime || failed || first
	t.mu.Lock()
	t.done, t.keep = true, keep
	steps, dropped := t.steps, t.dropped
	t.steps = nil
	t.mu.Unlock()

	if steps != nil {
		if keep {
			// Children first, as an SDK without this processor would
			// export them: the server sums children it already has.
			for _, st := range *steps {
				var sa spanAttrs
				sa.read(st.Attributes())
				p.export(st, &sa)
			}
		} else {
			dropped += len(*steps)
		}
		p.putSteps(steps)
	}
	if dropped > 0 {
		p.stepsDropped.Add(uint64(dropped))
	}

	// The summary goes on the span as attributes. The span is immutable
	// once ended, so the exporter gets a wrapper; it builds the attribute
	// list when the exporter asks, on the export goroutine rather than the
	// request's.
	sum := &txSpan{ReadOnlySpan: s, sqlCount: sqlCount, httpcCount: httpcCount,
		sqlMs: sqlMs, httpcMs: httpcMs, dropped: dropped}
	if setUser {
		sum.user = user
	}
	p.next.OnEnd(sum)
}

// txSpan is an ended entry span with its transaction summary. The counts
// are always there (they tell the server the summary is authoritative, so
// it does not sum the children it got); times and drops only when not zero.
type txSpan struct {
	sdktrace.ReadOnlySpan
	sqlCount, httpcCount uint32
	sqlMs, httpcMs       float64
	dropped              int
	user                 string // enduser.id to add
}

func (s *txSpan) Attributes() []attribute.KeyValue {
	attrs := s.ReadOnlySpan.Attributes()
	out := make([]attribute.KeyValue, len(attrs), len(attrs)+6)
	copy(out, attrs)
	out = append(out,
		attribute.Int64(wire.AttrTxSQLCount, int64(s.sqlCount)),
		attribute.Int64(wire.AttrTxHTTPCCount, int64(s.httpcCount)))
	if s.sqlCount > 0 {
		out = append(out, attribute.Float64(wire.AttrTxSQLMs, s.sqlMs))
	}
	if s.httpcCount > 0 {
		out = append(out, attribute.Float64(wire.AttrTxHTTPCMs, s.httpcMs))
	}
	if s.dropped > 0 {
		out = append(out, attribute.Int64(wire.AttrTxStepsDropped, int64(s.dropped)))
	}
	if s.user != "" {
		out = append(out, keyEndUser.String(s.user))
	}
	return out
}

// sqlSpan is an ended SQL step whose text the exporter gets masked; the
// masking runs when the exporter asks, on the export goroutine.
type sqlSpan struct {
	sdktrace.ReadOnlySpan
	p      *processor
	system string
}

func (s *sqlSpan) Attributes() []attribute.KeyValue {
	attrs := s.ReadOnlySpan.Attributes()
	out := make([]attribute.KeyValue, len(attrs))
	copy(out, attrs)
	for i := range out {
		if out[i].Key == keyDBQuery || out[i].Key == keyDBStmt {
			out[i].Value = attribute.StringValue(s.p.maskSQL(s.system, out[i].Value.AsString()))
		}
	}
	return out
}

// export hands a step to the batch processor, with its SQL masked unless
// the configuration says to show parameters.
func (p *processor) export(s sdktrace.ReadOnlySpan, a *spanAttrs) {
	switch {
	case a.sqlSkip:
	case p.showParams || a.dbText == "":
		p.next.OnEnd(s)
	default:
		p.next.OnEnd(&sqlSpan{ReadOnlySpan: s, p: p, system: a.dbSystem})
	}
}

// maxCachedSQL: longer statements are masked each time rather than kept.
const maxCachedSQL = 2048

func (p *processor) maskSQL(system, q string) string {
	build := func(k strKey) string {
		d := sqlmask.Postgres
		switch k.b {
		case "mysql", "mariadb", "tidb":
			d = sqlmask.MySQL
		}
		return sqlmask.Mask(sqlmask.Truncate(k.a), d)
	}
	k := strKey{kind: ckSQL, a: q, b: system}
	if len(q) > maxCachedSQL {
		return build(k)
	}
	return p.sqlText.get(k, build)
}

// txName is WhaTap's "service": METHOD route for HTTP (the path without
// its query when there is no route), else the span name; as the server
// names transactions of plain OpenTelemetry apps.
func (p *processor) txName(s sdktrace.ReadOnlySpan, a *spanAttrs) string {
	route := a.route
	if route == "" && s.SpanKind() == trace.SpanKindServer && a.method != "" {
		route = a.urlPath
		if route == "" {
			route = a.target
		}
		route = stripQuery(route)
	}
	if route == "" {
		return s.Name()
	}
	if a.method == "" {
		return route
	}
	// otelhttp names a span "METHOD route" already.
	if n := s.Name(); len(n) == len(a.method)+1+len(route) && n[:len(a.method)] == a.method &&
		n[len(a.method)] == ' ' && n[len(a.method)+1:] == route {
		return n
	}
	return p.names.get(strKey{kind: ckTxName, a: a.method, b: route}, func(k strKey) string {
		return k.a + " " + k.b
	})
}

// stepText describes a step: masked SQL, "METHOD url", the destination,
// or the span name.
func (p *processor) stepText(typ string, s sdktrace.ReadOnlySpan, a *spanAttrs) string {
	switch typ {
	case stepSQL:
		if a.dbText == "" {
			return s.Name()
		}
		return p.maskSQL(a.dbSystem, a.dbText)
	case stepMsg:
		return p.names.get(strKey{kind: ckMsg, a: a.msgSystem, b: a.msgDest}, func(k strKey) string {
			return wire.MsgKey(k.a, k.b)
		})
	case stepHTTPC:
		if a.method == "" && a.urlFull == "" {
			return p.names.get(strKey{kind: ckRPC, a: a.rpcSystem, b: a.rpcService, c: a.rpcMethod}, func(k strKey) string {
				return wire.RPCText(k.a, k.b, k.c)
			})
		}
		u := stripQuery(a.urlFull)
		if u == "" {
			host := a.serverAddr
			if host == "" {
				host = a.peerName
			}
			port := portString(a.serverPort)
			if port == "" {
				port = portString(a.peerPort)
			}
			u = "http://" + wire.HostPort(host, port) + a.urlPath
		}
		if a.method == "" {
			return u
		}
		return p.names.get(strKey{kind: ckHTTPC, a: a.method, b: u}, func(k strKey) string {
			return k.a + " " + k.b
		})
	}
	return s.Name()
}

// outTarget is the key of an outgoing call in the service map: what the
// callee sees as its own address.
func (p *processor) outTarget(typ string, a *spanAttrs) string {
	switch typ {
	case stepSQL, stepDBC:
		host, port := a.serverAddr, a.serverPort
		if host == "" {
			host, port = a.peerName, a.peerPort
		}
		if host == "" || a.dbSystem == "" {
			return ""
		}
		return p.names.get(strKey{kind: ckDBOut, a: a.dbSystem, b: host, c: portString(port)}, func(k strKey) string {
			return wire.DBTarget(k.a, k.b, k.c)
		})
	case stepMsg:
		return p.names.get(strKey{kind: ckMsg, a: a.msgSystem, b: a.msgDest}, func(k strKey) string {
			return wire.MsgKey(k.a, k.b)
		})
	case stepHTTPC:
		if o := wire.URLOrigin(a.urlFull); o != "" {
			return o
		}
		host, port := a.serverAddr, a.serverPort
		if host == "" {
			host, port = a.peerName, a.peerPort
		}
		return wire.CallTarget(a.scheme, host, portString(port), a.rpcSystem, a.rpcService)
	}
	return ""
}

// inAddress is the address the app was reached at: host:port for
// servers, system:destination for consumers.
func (p *processor) inAddress(kind trace.SpanKind, a *spanAttrs) string {
	if kind == trace.SpanKindConsumer && a.msgSystem != "" {
		return p.names.get(strKey{kind: ckMsg, a: a.msgSystem, b: a.msgDest}, func(k strKey) string {
			return wire.MsgKey(k.a, k.b)
		})
	}
	if a.hostHeader != "" {
		return a.hostHeader
	}
	if a.serverAddr != "" {
		port := a.serverPort
		if port.Type() == attribute.EMPTY {
			return a.serverAddr
		}
		return p.names.get(strKey{kind: ckJoin, a: a.serverAddr, b: portString(port)}, func(k strKey) string {
			return wire.HostPort(k.a, k.b)
		})
	}
	if o := wire.URLOrigin(a.urlFull); o != "" {
		return o[strings.Index(o, "://")+3:]
	}
	return ""
}

func (p *processor) Shutdown(ctx context.Context) error   { return p.next.Shutdown(ctx) }
func (p *processor) ForceFlush(ctx context.Context) error { return p.next.ForceFlush(ctx) }

// liveMap maps the span id of every running span of a transaction to its
// record. Sharded by the id's last byte (random), so concurrent requests
// rarely share a lock, and without a shared counter (an atomic every span
// start and end would bounce one cache line between all cores).
const (
	liveShards = 64
	// maxLive bounds the spans followed at once (a leak of never-ended
	// spans must not grow memory without end); past it new spans are
	// not followed and their transactions have no steps.
	maxLive = 1 << 20
)

type liveShard struct {
	mu sync.Mutex
	m  map[trace.SpanID]*spanRec
	_  [48]byte
}

type liveMap struct {
	shards [liveShards]liveShard
}

func (l *liveMap) init() {
	for i := range l.shards {
		l.shards[i].m = make(map[trace.SpanID]*spanRec)
	}
}

func (l *liveMap) put(id trace.SpanID, r *spanRec) bool {
	sh := &l.shards[id[7]%liveShards]
	sh.mu.Lock()
	ok := len(sh.m) < maxLive/liveShards
	if ok {
		sh.m[id] = r
	}
	sh.mu.Unlock()
	return ok
}

func (l *liveMap) get(id trace.SpanID) *spanRec {
	sh := &l.shards[id[7]%liveShards]
	sh.mu.Lock()
	r := sh.m[id]
	sh.mu.Unlock()
	return r
}

func (l *liveMap) remove(id trace.SpanID) *spanRec {
	sh := &l.shards[id[7]%liveShards]
	sh.mu.Lock()
	r, ok := sh.m[id]
	if ok {
		delete(sh.m, id)
	}
	sh.mu.Unlock()
	return r
}

// entries returns every running transaction.
func (l *liveMap) entries() []*tx {
	var txs []*tx
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		for _, r := range sh.m {
			if r.isEntry() {
				txs = append(txs, r.tx)
			}
		}
		sh.mu.Unlock()
	}
	return txs
}
