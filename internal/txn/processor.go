package txn

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

// Store is where rollup rows go.
type Store interface {
	Add(ctx context.Context, project int64, rows []event.Row) (accepted, rejected int, err error)
}

// Options tune a Processor.
type Options struct {
	// StatWindow is the statistics window; default 5 minutes.
	StatWindow time.Duration
	// ApdexT is the Apdex threshold; default wire.ApdexT ms.
	ApdexT time.Duration
	// MaxKeys bounds the keys of one statistics kind per instance and
	// window; the rest are counted under "(other)". Default 2,000.
	MaxKeys int
	Logger  *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

const (
	rollWindow = 5 * time.Second
	// pendingTTL is how long child sums wait for their parent span.
	pendingTTL = 2 * time.Minute
	// maxPending bounds the child sums kept; beyond it a new trace's
	// counts are lost rather than memory.
	maxPending = 1 << 20
	// maxLinks bounds the step links kept for linkTTL.
	maxLinks = 1 << 20
	linkTTL  = time.Minute
	// statPartial is how often an open statistics window is written.
	statPartial   = 30 * time.Second
	usersWindow   = 5 * time.Minute
	maxUsers      = 50_000
	pendingShards = 64
	otherKey      = "(other)"
)

// Processor is safe for concurrent use by the ingest appliers.
type Processor struct {
	opts  Options
	log   *slog.Logger
	store Store

	shards [pendingShards]pendingShard

	mu    sync.Mutex
	rolls map[rollKey]*rollAcc
	stats map[rollKey]*statAcc
	users map[instKey]map[string]int64 // user -> last seen (unix s)
}

type instKey struct {
	project       int64
	app, instance string
}

type rollKey struct {
	instKey
	window int64 // unix ns of the window start
}

// New returns a Processor writing its rollups to store. Run flushes them.
func New(store Store, opts Options) *Processor {
	if opts.StatWindow <= 0 {
		opts.StatWindow = 5 * time.Minute
	}
	if opts.ApdexT <= 0 {
		opts.ApdexT = wire.ApdexT * time.Millisecond
	}
	if opts.MaxKeys <= 0 {
		opts.MaxKeys = 2000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Processor{opts: opts, log: opts.Logger, store: store,
		rolls: map[rollKey]*rollAcc{}, stats: map[rollKey]*statAcc{}, users: map[instKey]map[string]int64{}}
	for i := range p.shards {
		p.shards[i].m = map[pendingKey]*pendingSum{}
		p.shards[i].links = map[pendingKey]link{}
	}
	return p
}

// Child sums. A step's SQL and external calls go to its transaction: up
// the parent links of the steps seen so far to the first span not seen
// (the entry span, or a step still to come, which passes the sum on when
// it arrives). Links, not end order, because a parent step may end before
// its children (express's request handler ends before the query it
// started) and batches carry spans in any order.
type pendingKey struct {
	project int64
	trace   pcommon.TraceID
	span    pcommon.SpanID
}

type pendingSum struct {
	sqlCount, httpcCount int64
	sqlMs, httpcMs       float64
	at                   int64 // unix s, for expiry
}

type link struct {
	parent pcommon.SpanID
	at     int64
}

type pendingShard struct {
	mu    sync.Mutex
	m     map[pendingKey]*pendingSum
	links map[pendingKey]link // step -> its parent, for sums that come later
}

// maxDepth bounds a walk up the links (and breaks a cycle a broken SDK
// could send).
const maxDepth = 64

func (p *Processor) shard(k pendingKey) *pendingShard {
	return &p.shards[int(k.trace[15]^k.span[7])%pendingShards]
}

func (p *Processor) link(k pendingKey, parent pcommon.SpanID, now int64) {
	s := p.shard(k)
	s.mu.Lock()
	if len(s.links) < maxLinks/pendingShards {
		s.links[k] = link{parent: parent, at: now}
	}
	s.mu.Unlock()
}

// resolve walks from k up the known step links.
func (p *Processor) resolve(k pendingKey) pendingKey {
	for range maxDepth {
		s := p.shard(k)
		s.mu.Lock()
		l, ok := s.links[k]
		s.mu.Unlock()
		if !ok {
			return k
		}
		k.span = l.parent
	}
	return k
}

func (p *Processor) take(k pendingKey) (pendingSum, bool) {
	s := p.shard(k)
	s.mu.Lock()
	v, ok := s.m[k]
	if ok {
		delete(s.m, k)
	}
	s.mu.Unlock()
	if !ok {
		return pendingSum{}, false
	}
	return *v, true
}

func (p *Processor) give(k pendingKey, add pendingSum, now int64) {
	if add.sqlCount == 0 && add.httpcCount == 0 {
		return
	}
	s := p.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		if len(s.m) >= maxPending/pendingShards {
			return
		}
		v = &pendingSum{}
		s.m[k] = v
	}
	v.sqlCount += add.sqlCount
	v.httpcCount += add.httpcCount
	v.sqlMs += add.sqlMs
	v.httpcMs += add.httpcMs
	v.at = now
}

// Batch is what a trace batch contributes to the rollups; Commit adds it
// once the batch's rows are stored (a replayed batch that was stored
// before a crash is not counted twice).
type Batch struct {
	project int64
	txs     []txRec
	steps   []stepRec
}

type txRec struct {
	inst                 instKey
	res                  *resInfo
	end                  int64
	ms, cpuMs            float64
	err                  bool
	name, ip, ua, user   string
	errKey, in           string
	sqlCount, httpcCount int64
	sqlMs, httpcMs       float64
}

type stepRec struct {
	inst      instKey
	res       *resInfo
	end       int64
	typ, text string
	out       string
	ms        float64
	err       bool
	rows      int64
}

// Spans adds the APM fields to rows, which must be eventrow.Spans(td)
// (one row per span, in the same order), and returns the batch's
// contribution to the rollups.
func (p *Processor) Spans(project int64, td ptrace.Traces, rows []event.Row) *Batch {
	b := &Batch{project: project}
	now := p.opts.Now().Unix()
	type item struct {
		sp    ptrace.Span
		res   *resInfo
		row   int
		entry bool
		rp    bool
	}
	items := make([]item, 0, len(rows))
	rss := td.ResourceSpans()
	idx := 0
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := resourceInfo(rs.Resource().Attributes())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				e, rp := isEntry(sp)
				items = append(items, item{sp: sp, res: &res, row: idx, entry: e, rp: rp})
				idx++
			}
		}
	}
	if idx != len(rows) {
		p.log.Error("span rows do not match the spans; APM fields skipped", "spans", idx, "rows", len(rows))
		return b
	}
	// Steps before entries, and every step's link known before any sum
	// moves, so a sum walks past steps of this batch whatever their order.
	slices.SortStableFunc(items, func(x, y item) int {
		switch {
		case x.entry == y.entry:
			return 0
		case x.entry:
			return 1
		}
		return -1
	})
	for _, it := range items {
		if par := it.sp.ParentSpanID(); !it.entry && !par.IsEmpty() {
			p.link(pendingKey{project, it.sp.TraceID(), it.sp.SpanID()}, par, now)
		}
	}
	for _, it := range items {
		sp := it.sp
		var a spanAttrs
		a.read(sp.Attributes())
		row := &rows[it.row]
		inst := instKey{project, it.res.app, it.res.instance}
		ms := durationMs(sp)
		self := pendingKey{project, sp.TraceID(), sp.SpanID()}
		if !it.entry {
			typ, text := stepKind(sp, &a)
			sum, _ := p.take(self)
			switch typ {
			case StepSQL:
				sum.sqlCount++
				sum.sqlMs += ms
			case StepHTTPC:
				sum.httpcCount++
				sum.httpcMs += ms
			}
			if par := sp.ParentSpanID(); !par.IsEmpty() {
				p.give(p.resolve(pendingKey{project, sp.TraceID(), par}), sum, now)
			}
			row.Fields = append(row.Fields,
				event.Field{Name: FieldRole, Value: RoleStep},
				event.Field{Name: FieldApp, Value: it.res.app},
				event.Field{Name: FieldInstance, Value: it.res.instance},
				event.Field{Name: FieldStepType, Value: typ},
				event.Field{Name: FieldStepText, Value: text},
			)
			if a.dbRows > 0 {
				row.Fields = append(row.Fields, event.Field{Name: FieldStepRows, Value: strconv.FormatInt(a.dbRows, 10)})
			}
			if !it.res.inProcess {
				b.steps = append(b.steps, stepRec{inst: inst, res: it.res, end: int64(sp.EndTimestamp()), typ: typ, text: text,
					out: outTarget(typ, &a), ms: ms, err: isError(sp, &a), rows: a.dbRows})
			}
			continue
		}
		sum, _ := p.take(self)
		if a.hasSummary {
			sum = pendingSum{sqlCount: a.sqlCount, sqlMs: a.sqlMs, httpcCount: a.httpcCount, httpcMs: a.httpcMs}
		}
		failed := isError(sp, &a)
		user := a.user
		if user == "" {
			user = a.clientIP
		}
		name := txName(sp, &a)
		f := row.Fields
		f = append(f,
			event.Field{Name: FieldRole, Value: RoleTx},
			event.Field{Name: FieldApp, Value: it.res.app},
			event.Field{Name: FieldInstance, Value: it.res.instance},
			event.Field{Name: FieldTxName, Value: name},
			event.Field{Name: FieldTxError, Value: boolStr(failed)},
			event.Field{Name: FieldTxSQLCount, Value: strconv.FormatInt(sum.sqlCount, 10)},
			event.Field{Name: FieldTxSQLMs, Value: formatMs(sum.sqlMs)},
			event.Field{Name: FieldTxHTTPCCount, Value: strconv.FormatInt(sum.httpcCount, 10)},
			event.Field{Name: FieldTxHTTPCMs, Value: formatMs(sum.httpcMs)},
		)
		add := func(name, v string) {
			if v != "" {
				f = append(f, event.Field{Name: name, Value: v})
			}
		}
		add(FieldTxClientIP, a.clientIP)
		add(FieldTxUser, user)
		add(FieldTxUserAgent, a.userAgent)
		add(FieldTxMethod, a.method)
		if a.status > 0 {
			add(FieldTxStatus, strconv.FormatInt(a.status, 10))
		}
		if a.cpuMs > 0 {
			add(FieldTxCPUMs, formatMs(a.cpuMs))
		}
		if a.alloc > 0 {
			add(FieldTxAllocBytes, strconv.FormatInt(a.alloc, 10))
		}
		if a.dropped > 0 {
			add(FieldTxStepsDropped, strconv.FormatInt(a.dropped, 10))
		}
		if it.rp {
			add(FieldTxRemoteParent, "1")
		}
		row.Fields = f
		if !it.res.inProcess {
			rec := txRec{inst: inst, res: it.res, end: int64(sp.EndTimestamp()), ms: ms, cpuMs: a.cpuMs, err: failed,
				name: name, ip: a.clientIP, ua: a.userAgent, user: user, in: inAddress(sp, &a),
				sqlCount: sum.sqlCount, httpcCount: sum.httpcCount, sqlMs: sum.sqlMs, httpcMs: sum.httpcMs}
			if failed {
				rec.errKey = errorKey(row.Fields, sp, &a)
			}
			b.txs = append(b.txs, rec)
		}
	}
	return b
}

func durationMs(sp ptrace.Span) float64 {
	s, e := sp.StartTimestamp(), sp.EndTimestamp()
	if e <= s {
		return 0
	}
	return float64(e-s) / 1e6
}

func boolStr(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func formatMs(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// Commit folds a stored batch into the rollups.
func (p *Processor) Commit(b *Batch) {
	if b == nil || len(b.txs)+len(b.steps) == 0 {
		return
	}
	now := p.opts.Now()
	statW := int64(p.opts.StatWindow)
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range b.txs {
		t := &b.txs[i]
		r := p.roll(rollKey{t.inst, t.end - t.end%int64(rollWindow)}, t.res)
		r.add(t, p.opts.ApdexT)
		if t.user != "" {
			p.seeUser(t.inst, t.user, now.Unix())
		}
		s := p.stat(rollKey{t.inst, t.end - t.end%statW}, t.res)
		st := s.line(StatTx, t.name, p.opts.MaxKeys)
		st.add(t.ms, t.err)
		st.cpuMs += t.cpuMs
		st.sqlCount += uint64(t.sqlCount)
		st.httpcCount += uint64(t.httpcCount)
		if t.ip != "" {
			s.line(StatIP, t.ip, p.opts.MaxKeys).add(t.ms, t.err)
		}
		if t.ua != "" {
			s.line(StatUA, t.ua, p.opts.MaxKeys).add(t.ms, t.err)
		}
		if t.err {
			s.line(StatError, t.errKey, p.opts.MaxKeys).add(t.ms, t.err)
		}
		if t.in != "" {
			s.line(StatIn, t.in, p.opts.MaxKeys).add(t.ms, t.err)
		}
	}
	for i := range b.steps {
		st := &b.steps[i]
		s := p.stat(rollKey{st.inst, st.end - st.end%statW}, st.res)
		switch st.typ {
		case StepSQL:
			l := s.line(StatSQL, st.text, p.opts.MaxKeys)
			l.add(st.ms, st.err)
			l.rows += uint64(max(st.rows, 0))
		case StepHTTPC:
			s.line(StatHTTPC, st.text, p.opts.MaxKeys).add(st.ms, st.err)
		}
		if st.out != "" {
			s.line(StatOut, st.out, p.opts.MaxKeys).add(st.ms, st.err)
		}
	}
}

func (p *Processor) roll(k rollKey, res *resInfo) *rollAcc {
	r, ok := p.rolls[k]
	if !ok {
		r = &rollAcc{res: *res}
		p.rolls[k] = r
	}
	return r
}

func (p *Processor) stat(k rollKey, res *resInfo) *statAcc {
	s, ok := p.stats[k]
	if !ok {
		s = &statAcc{res: *res, lines: map[statLineKey]*statLine{}, written: p.opts.Now()}
		p.stats[k] = s
	}
	return s
}

func (p *Processor) seeUser(k instKey, user string, now int64) {
	m, ok := p.users[k]
	if !ok {
		m = map[string]int64{}
		p.users[k] = m
	}
	if _, seen := m[user]; !seen && len(m) >= maxUsers {
		return
	}
	m[user] = now
}

// rollAcc is one 5-second window of one instance.
type rollAcc struct {
	res                   resInfo
	count, errors         uint64
	sumMs, maxMs          float64
	apdexS, apdexT        uint64
	sqlMs, httpcMs, cpuMs float64
	hitmap, hitmapErr     [wire.HitmapBuckets]uint32
}

func (r *rollAcc) add(t *txRec, apdexT time.Duration) {
	r.count++
	r.sumMs += t.ms
	r.maxMs = max(r.maxMs, t.ms)
	r.sqlMs += t.sqlMs
	r.httpcMs += t.httpcMs
	r.cpuMs += t.cpuMs
	b := wire.HitmapBucket(t.ms)
	if t.err {
		r.errors++
		r.hitmapErr[b]++
	} else {
		r.hitmap[b]++
	}
	T := float64(apdexT) / 1e6
	switch {
	case t.err:
		// A failed transaction is frustrated whatever its speed.
	case t.ms <= T:
		r.apdexS++
	case t.ms <= 4*T:
		r.apdexT++
	}
}

type statLineKey struct{ kind, key string }

type statAcc struct {
	res   resInfo
	lines map[statLineKey]*statLine
	keys  map[string]int // keys per kind, for MaxKeys
	// written is when the window's lines were last written as partial
	// rows (zero: never).
	written time.Time
}

type statLine struct {
	count, errors        uint64
	sumMs, maxMs, cpuMs  float64
	sqlCount, httpcCount uint64
	rows                 uint64
}

func (s *statAcc) line(kind, key string, maxKeys int) *statLine {
	k := statLineKey{kind, key}
	if l, ok := s.lines[k]; ok {
		return l
	}
	if s.keys == nil {
		s.keys = map[string]int{}
	}
	if s.keys[kind] >= maxKeys {
		k.key = otherKey
		if l, ok := s.lines[k]; ok {
			return l
		}
	}
	s.keys[kind]++
	l := &statLine{}
	s.lines[k] = l
	return l
}

func (l *statLine) add(ms float64, failed bool) {
	l.count++
	if failed {
		l.errors++
	}
	l.sumMs += ms
	l.maxMs = max(l.maxMs, ms)
}

// Run flushes finished windows every second until ctx ends.
func (p *Processor) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := p.flush(ctx, false); err != nil {
				p.log.Error("flush APM rollups", "err", err)
			}
			p.sweep()
		}
	}
}

// Close flushes every window, finished or not.
func (p *Processor) Close(ctx context.Context) error {
	return p.flush(ctx, true)
}

// flush writes the windows that ended (all of them with force). A late
// span for a flushed window opens it again and a second row is written;
// readers sum rows, so nothing is counted twice.
func (p *Processor) flush(ctx context.Context, force bool) error {
	now := p.opts.Now()
	// A window is written a second after it ends: spans of its last
	// moment are still in flight.
	rollCut := now.Add(-rollWindow - time.Second).UnixNano()
	statCut := now.Add(-p.opts.StatWindow - time.Second).UnixNano()
	byProject := map[int64][]event.Row{}
	p.mu.Lock()
	for k, r := range p.rolls {
		if !force && k.window > rollCut {
			continue
		}
		delete(p.rolls, k)
		users := p.countUsers(k.instKey, now.Unix())
		byProject[k.project] = append(byProject[k.project], rollRow(k, r, users))
	}
	for k, s := range p.stats {
		switch {
		case force || k.window <= statCut:
			delete(p.stats, k)
		case now.Sub(s.written) >= statPartial:
			// An open window is written every statPartial as rows of
			// what came since: readers sum rows, so the statistics of the
			// last minutes show, and a crash loses at most that much.
			s.written = now
		default:
			continue
		}
		byProject[k.project] = append(byProject[k.project], statRows(k, s, p.opts.StatWindow)...)
		// Zeroed, not removed: a key stays known, so MaxKeys bounds the
		// whole window.
		for _, l := range s.lines {
			*l = statLine{}
		}
	}
	p.mu.Unlock()
	var errs []error
	for project, rows := range byProject {
		if len(rows) == 0 {
			continue
		}
		if _, _, err := p.store.Add(ctx, project, rows); err != nil {
			errs = append(errs, fmt.Errorf("add %d rollup rows of project %d: %w", len(rows), project, err))
		}
	}
	if len(errs) > 0 {
		return errs[0]
	}
	return nil
}

// countUsers counts the users seen in the last 5 minutes, forgetting older
// ones. Called with p.mu held.
func (p *Processor) countUsers(k instKey, now int64) int {
	m := p.users[k]
	cut := now - int64(usersWindow/time.Second)
	for u, at := range m {
		if at < cut {
			delete(m, u)
		}
	}
	if len(m) == 0 {
		delete(p.users, k)
	}
	return len(m)
}

// sweep drops child sums whose parent never came (a dropped span, or a
// parent exported by another process).
func (p *Processor) sweep() {
	now := p.opts.Now()
	cut, linkCut := now.Add(-pendingTTL).Unix(), now.Add(-linkTTL).Unix()
	for i := range p.shards {
		s := &p.shards[i]
		s.mu.Lock()
		for k, v := range s.m {
			if v.at < cut {
				delete(s.m, k)
			}
		}
		for k, l := range s.links {
			if l.at < linkCut {
				delete(s.links, k)
			}
		}
		s.mu.Unlock()
	}
}
