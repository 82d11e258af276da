package loadgen

import (
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/osprey-monitoring/osprey/internal/wire"
)

type logKind uint8

const (
	logApp logKind = iota
	logAccess
	logSyslog
)

// logSource is one resource that emits logs: an app instance (its own
// logs) or a host (files its agent tails).
type logSource struct {
	res  pcommon.Resource
	kind logKind
	lang string
}

type logTmpl struct {
	sev    plog.SeverityNumber
	text   string
	bodies []string
	fields []string // key, value pairs added as attributes
	json   bool
	traced bool
}

type logModel struct {
	sources [3][]logSource // by kind
	weights [3]float64     // cumulative share of lines per kind
	app     []logTmpl
	syslog  []logTmpl
	ips     []string
	paths   []string
	agents  []string
}

func newLogModel(cfg Config, apps *appModel, f *fleet) *logModel {
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x1095))
	lm := &logModel{}
	if apps != nil {
		for _, inst := range apps.instances {
			lm.sources[logApp] = append(lm.sources[logApp], logSource{res: inst.res, kind: logApp, lang: inst.svc.lang})
		}
		lm.ips, lm.agents = apps.clientIPs, apps.userAgents
	}
	if f != nil {
		for _, h := range f.hosts {
			src := logSource{res: h.res}
			if h.role == roleWeb {
				src.kind = logAccess
				lm.sources[logAccess] = append(lm.sources[logAccess], src)
			}
			src.kind = logSyslog
			lm.sources[logSyslog] = append(lm.sources[logSyslog], src)
		}
	}
	if len(lm.sources[logApp])+len(lm.sources[logSyslog]) == 0 {
		// Nothing else simulated: a lone log agent still makes a stream.
		res := pcommon.NewResource()
		a := res.Attributes()
		id := stableID(cfg.Seed, 3, 0)
		a.PutStr(wire.AttrAgentID, id)
		a.PutStr(wire.AttrAgentName, "sim-log-0001")
		a.PutStr(wire.AttrAgentGroup, "site-a")
		a.PutStr(wire.AttrAgentKind, "log")
		a.PutStr(wire.AttrHostName, "sim-log-0001")
		a.PutStr(wire.AttrServiceInstanceID, id)
		a.PutStr(wire.AttrServiceName, "osprey-agent")
		lm.sources[logApp] = []logSource{{res: res, kind: logApp, lang: "java"}}
	}
	if len(lm.sources[logAccess]) == 0 && len(lm.sources[logSyslog]) > 0 {
		lm.sources[logAccess] = lm.sources[logSyslog][:1]
	}
	if lm.ips == nil {
		lm.ips = []string{"203.0.113.7", "198.51.100.23", "10.0.4.17", "172.16.9.3"}
		lm.agents = []string{"curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
	}
	share := [3]float64{0.6, 0.25, 0.15}
	total := 0.0
	for k := range share {
		if len(lm.sources[k]) == 0 {
			share[k] = 0
		}
		total += share[k]
	}
	acc := 0.0
	for k := range share {
		acc += share[k] / total
		lm.weights[k] = acc
	}

	lm.paths = render(rng, "/api/orders/{n}", 32)
	lm.paths = append(lm.paths, "/api/products", "/api/checkout", "/health", "/static/app.js", "/static/logo.svg", "/favicon.ico")
	t := func(sev plog.SeverityNumber, text, body string, traced bool, fields ...string) logTmpl {
		return logTmpl{sev: sev, text: text, bodies: render(rng, body, 32), fields: fields, traced: traced}
	}
	lm.app = []logTmpl{
		t(plog.SeverityNumberInfo, "INFO", "Order {n} created for customer {n}, total {n}.00 KRW", true, "event", "order_created"),
		t(plog.SeverityNumberInfo, "INFO", "Payment authorised for order {n} via card gateway in {n}us", true, "event", "payment_authorised", "payment.gateway", "card"),
		t(plog.SeverityNumberInfo, "INFO", "User {n} logged in from {s}", true, "event", "login"),
		t(plog.SeverityNumberInfo, "INFO", "Cache refreshed: products ({n} entries)", false),
		t(plog.SeverityNumberDebug, "DEBUG", "Fetched {n} rows from order_items for order {n}", true),
		t(plog.SeverityNumberDebug, "DEBUG", "HikariPool-1 - Pool stats (total=20, active={n}, idle=4, waiting=0)", false),
		t(plog.SeverityNumberWarn, "WARN", "Slow query took {n} ms: SELECT * FROM orders WHERE customer_id = {n}", true, "event", "slow_query"),
		t(plog.SeverityNumberWarn, "WARN", "Retrying call to payment-service (attempt 2/3) after 503", true),
		t(plog.SeverityNumberError, "ERROR", "Failed to process order {n}: upstream timeout after 3000 ms", true, "event", "order_failed", "error.type", "TimeoutException"),
		{sev: plog.SeverityNumberError, text: "ERROR", bodies: []string{javaException.stack, nodeException.stack}, traced: true,
			fields: []string{"error.type", javaException.typ}},
		{sev: plog.SeverityNumberInfo, text: "INFO", json: true, traced: true,
			bodies: render(rng, `{"level":"info","msg":"request completed","method":"GET","path":"/api/orders/{n}","status":200,"duration_ms":{n}}`, 32)},
		{sev: plog.SeverityNumberWarn, text: "WARN", json: true,
			bodies: render(rng, `{"level":"warn","msg":"rate limit close","client":"{s}","remaining":{n}}`, 32)},
	}
	lm.syslog = []logTmpl{
		t(plog.SeverityNumberInfo, "INFO", "sshd[{n}]: Accepted publickey for ops from 10.0.0.{n} port {n} ssh2: ED25519 SHA256:q1w2e3r4", false, "process.executable.name", "sshd"),
		t(plog.SeverityNumberInfo, "INFO", "CRON[{n}]: (root) CMD (/usr/lib/sysstat/debian-sa1 1 1)", false, "process.executable.name", "CRON"),
		t(plog.SeverityNumberInfo, "INFO", "systemd[1]: Started session-{n}.scope - Session {n} of User ops.", false, "process.executable.name", "systemd"),
		t(plog.SeverityNumberWarn, "WARN", "kernel: TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.", false, "process.executable.name", "kernel"),
		t(plog.SeverityNumberError, "ERROR", "kernel: Out of memory: Killed process {n} (java) total-vm:{n}kB, anon-rss:{n}kB", false, "process.executable.name", "kernel"),
		t(plog.SeverityNumberWarn, "WARN", "sshd[{n}]: Invalid user admin from 45.{n}.12.9 port {n}", false, "process.executable.name", "sshd"),
	}
	return lm
}

// logGen builds log batches; one per worker.
type logGen struct {
	m     *logModel
	rng   *rand.Rand
	ld    plog.Logs
	slots map[*logSource]plog.LogRecordSlice
	n     int
	// The access-log timestamp changes once a second; caching it keeps
	// time formatting out of the per-line cost.
	stampSec int64
	stamp    string
}

func newLogGen(m *logModel, seed int64, worker int) *logGen {
	g := &logGen{m: m, rng: rand.New(rand.NewPCG(uint64(seed), uint64(worker)+0x106)), slots: map[*logSource]plog.LogRecordSlice{}}
	g.reset()
	return g
}

func (g *logGen) reset() {
	g.ld = plog.NewLogs()
	clear(g.slots)
	g.n = 0
}

func (g *logGen) recordsOf(src *logSource) plog.LogRecordSlice {
	if s, ok := g.slots[src]; ok {
		return s
	}
	rl := g.ld.ResourceLogs().AppendEmpty()
	src.res.CopyTo(rl.Resource())
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("github.com/osprey-monitoring/osprey/agent/log")
	g.slots[src] = sl.LogRecords()
	return sl.LogRecords()
}

func (g *logGen) line(now time.Time) {
	u := g.rng.Float64()
	kind := logApp
	for k, w := range g.m.weights {
		if u < w {
			kind = logKind(k)
			break
		}
	}
	srcs := g.m.sources[kind]
	src := &srcs[g.rng.IntN(len(srcs))]
	lr := g.recordsOf(src).AppendEmpty()
	ts := pcommon.NewTimestampFromTime(now)
	lr.SetTimestamp(ts - pcommon.Timestamp(g.rng.Int64N(int64(50*time.Millisecond))))
	lr.SetObservedTimestamp(ts)
	a := lr.Attributes()
	g.n++
	switch kind {
	case logAccess:
		g.access(lr, now)
		return
	case logSyslog:
		t := &g.m.syslog[g.rng.IntN(len(g.m.syslog))]
		g.fill(lr, t)
		a.PutStr("log.category", "syslog")
		a.PutStr("log.file.path", "/var/log/syslog")
		return
	}
	t := &g.m.app[g.rng.IntN(len(g.m.app))]
	g.fill(lr, t)
	a.PutStr("log.category", "app")
	a.PutStr("thread.name", []string{"http-nio-8080-exec-3", "http-nio-8080-exec-7", "main", "scheduling-1", "worker-2"}[g.rng.IntN(5)])
	if t.traced && g.rng.IntN(2) == 0 {
		var tid pcommon.TraceID
		var sid pcommon.SpanID
		x, y := g.rng.Uint64(), g.rng.Uint64()|1
		for i := range 8 {
			tid[i], tid[8+i], sid[i] = byte(x>>(8*i)), byte(y>>(8*i)), byte(y>>(8*i))
		}
		lr.SetTraceID(tid)
		lr.SetSpanID(sid)
	}
}

func (g *logGen) fill(lr plog.LogRecord, t *logTmpl) {
	lr.SetSeverityNumber(t.sev)
	lr.SetSeverityText(t.text)
	lr.Body().SetStr(t.bodies[g.rng.IntN(len(t.bodies))])
	a := lr.Attributes()
	a.EnsureCapacity(3 + len(t.fields)/2)
	for i := 0; i+1 < len(t.fields); i += 2 {
		a.PutStr(t.fields[i], t.fields[i+1])
	}
	if t.json {
		a.PutStr("log.format", "json")
	}
}

// access writes an nginx "combined" line plus request time, the preset
// the log explorer's field extraction is built for.
func (g *logGen) access(lr plog.LogRecord, now time.Time) {
	if sec := now.Unix(); sec != g.stampSec {
		g.stampSec = sec
		g.stamp = now.UTC().Format("02/Jan/2006:15:04:05 -0700")
	}
	ip := g.m.ips[g.rng.IntN(len(g.m.ips))]
	path := g.m.paths[g.rng.IntN(len(g.m.paths))]
	method := "GET"
	if g.rng.IntN(6) == 0 {
		method = "POST"
	}
	status := 200
	switch u := g.rng.IntN(100); {
	case u < 2:
		status = 500 + g.rng.IntN(4)
	case u < 7:
		status = 404
	case u < 9:
		status = 304
	}
	size := 200 + g.rng.IntN(30000)
	rt := g.rng.IntN(200) + 1
	if g.rng.IntN(50) == 0 {
		rt = 1000 + g.rng.IntN(9000)
	}
	b := make([]byte, 0, 256)
	b = append(b, ip...)
	b = append(b, " - - ["...)
	b = append(b, g.stamp...)
	b = append(b, "] \""...)
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, ` "-" "`...)
	b = append(b, g.m.agents[g.rng.IntN(len(g.m.agents))]...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(rt/1000), 10)
	b = append(b, '.')
	b = append(b, byte('0'+rt/100%10), byte('0'+rt/10%10), byte('0'+rt%10))
	sev, text := plog.SeverityNumberInfo, "INFO"
	if status >= 500 {
		sev, text = plog.SeverityNumberError, "ERROR"
	} else if status >= 400 {
		sev, text = plog.SeverityNumberWarn, "WARN"
	}
	lr.SetSeverityNumber(sev)
	lr.SetSeverityText(text)
	lr.Body().SetStr(string(b))
	a := lr.Attributes()
	a.EnsureCapacity(2)
	a.PutStr("log.category", "nginx.access")
	a.PutStr("log.file.path", "/var/log/nginx/access.log")
}

// runLogs paces log lines at this worker's share of cfg.LogsPerSec.
func (r *runner) runLogs(lm *logModel, w, workers int) {
	cfg := r.cfg
	client := plogotlp.NewGRPCClient(r.conns[w%len(r.conns)])
	g := newLogGen(lm, cfg.Seed, w)
	bo := &backoff{rng: rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(w)+303))}
	p := &pacer{rate: cfg.LogsPerSec / float64(workers), start: time.Now()}
	const batch = 1000
	var firstAt time.Time

	flush := func() bool {
		if g.n == 0 {
			return true
		}
		n := uint64(g.n)
		req := plogotlp.NewExportRequestFromLogs(g.ld)
		var resp plogotlp.ExportResponse
		err := r.call(func(ctx context.Context) error {
			var err error
			resp, err = client.Export(ctx, req)
			return err
		})
		g.reset()
		if err != nil {
			return r.handleErr("logs", err, bo)
		}
		bo.reset()
		if rej := uint64(resp.PartialSuccess().RejectedLogRecords()); rej > 0 {
			r.count.errors.Add(1)
			n -= min(n, rej)
		}
		r.count.logs.Add(n)
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
			if g.n > 0 {
				left := flushEvery - now.Sub(firstAt)
				if left <= 0 {
					if !flush() {
						return
					}
					continue
				}
				wait = min(wait, left)
			}
			if !sleepCtx(r.stop, wait) {
				flush()
				return
			}
			continue
		}
		for range n {
			if g.n == 0 {
				firstAt = now
			}
			g.line(now)
			p.add(1)
			if g.n >= batch {
				if !flush() || r.stop.Err() != nil {
					return
				}
				now = time.Now()
			}
		}
	}
}
