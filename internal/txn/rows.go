package txn

import (
	"strconv"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/wire"
	"github.com/osprey-monitoring/osprey/internal/wire/agentpb"
)

func u64(v uint64) string  { return strconv.FormatUint(v, 10) }
func f64(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// instFields are the identity fields every rollup row carries.
func instFields(f []event.Field, typ, app, instance string, res *resInfo) []event.Field {
	f = append(f,
		event.Field{Name: event.FieldType, Value: typ},
		event.Field{Name: FieldApp, Value: app},
		event.Field{Name: FieldInstance, Value: instance},
	)
	if res != nil {
		for _, kv := range [...][2]string{{FieldNamespace, res.namespace}, {FieldDeployment, res.deploy}, {FieldPod, res.pod},
			{"agent.id", res.agentID}, {"telemetry.sdk.language", res.language}, {"host.name", res.host}} {
			if kv[1] != "" {
				f = append(f, event.Field{Name: kv[0], Value: kv[1]})
			}
		}
	}
	return f
}

// sparse writes non-zero buckets as "bucket:count,…".
func sparse(h []uint32) string {
	var b strings.Builder
	for i, n := range h {
		if n == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(uint64(n), 10))
	}
	return b.String()
}

func rollRow(k rollKey, r *rollAcc, users int) event.Row {
	f := instFields(make([]event.Field, 0, 20), TypeRollup, k.app, k.instance, &r.res)
	f = append(f,
		event.Field{Name: event.FieldMsg, Value: "rollup " + k.app},
		event.Field{Name: "count", Value: u64(r.count)},
		event.Field{Name: "errors", Value: u64(r.errors)},
		event.Field{Name: "sum_ms", Value: f64(r.sumMs)},
		event.Field{Name: "max_ms", Value: f64(r.maxMs)},
		event.Field{Name: "apdex_s", Value: u64(r.apdexS)},
		event.Field{Name: "apdex_t", Value: u64(r.apdexT)},
		event.Field{Name: "sql_ms", Value: f64(r.sqlMs)},
		event.Field{Name: "httpc_ms", Value: f64(r.httpcMs)},
		event.Field{Name: "cpu_ms", Value: f64(r.cpuMs)},
		event.Field{Name: "users", Value: strconv.Itoa(users)},
		event.Field{Name: "hitmap", Value: sparse(r.hitmap[:])},
		event.Field{Name: "hitmap_err", Value: sparse(r.hitmapErr[:])},
	)
	return event.Row{Time: time.Unix(0, k.window).UTC(), Fields: f}
}

func statRows(k rollKey, s *statAcc, window time.Duration) []event.Row {
	rows := make([]event.Row, 0, len(s.lines))
	t := time.Unix(0, k.window).UTC()
	for lk, l := range s.lines {
		if l.count == 0 {
			continue // nothing since the last partial write
		}
		f := instFields(make([]event.Field, 0, 18), TypeStat, k.app, k.instance, &s.res)
		f = append(f, statFields(lk.kind, lk.key, l, window)...)
		rows = append(rows, event.Row{Time: t, Fields: f})
	}
	return rows
}

func statFields(kind, key string, l *statLine, window time.Duration) []event.Field {
	return []event.Field{
		{Name: event.FieldMsg, Value: key},
		{Name: FieldStatKind, Value: kind},
		{Name: FieldStatKey, Value: key},
		{Name: "window_s", Value: strconv.Itoa(int(window / time.Second))},
		{Name: "count", Value: u64(l.count)},
		{Name: "errors", Value: u64(l.errors)},
		{Name: "sum_ms", Value: f64(l.sumMs)},
		{Name: "max_ms", Value: f64(l.maxMs)},
		{Name: "cpu_ms", Value: f64(l.cpuMs)},
		{Name: "sql_count", Value: u64(l.sqlCount)},
		{Name: "httpc_count", Value: u64(l.httpcCount)},
		{Name: "rows", Value: u64(l.rows)},
	}
}

// PushRows converts the APM snapshots of an agent push (the Go library's
// active transactions, stacks and in-process rollups) to rows. Other
// snapshot kinds are eventrow's.
func PushRows(req *agentpb.PushRequest) []event.Row {
	var rows []event.Row
	a := req.GetAgent()
	app, instance := a.GetGroup(), a.GetName()
	if app == "" {
		app = "unknown_service"
	}
	if instance == "" {
		instance = a.GetId()
	}
	l := a.GetLabels()
	res := &resInfo{app: app, instance: instance, agentID: a.GetId(), language: l["telemetry.sdk.language"], host: l["host.name"],
		namespace: l[FieldNamespace], deploy: l[FieldDeployment], pod: l[FieldPod]}
	for _, sn := range req.GetSnapshots() {
		t := time.Unix(0, sn.GetTimeUnixNano()).UTC()
		switch {
		case sn.GetApmActive() != nil:
			rows = append(rows, activeRows(t, sn.GetApmActive(), res)...)
		case sn.GetApmRollup() != nil:
			rows = append(rows, rollupRows(sn.GetApmRollup(), res)...)
		}
	}
	return rows
}

func activeRows(t time.Time, act *agentpb.ApmActive, res *resInfo) []event.Row {
	rows := make([]event.Row, 0, len(act.GetTransactions())+len(act.GetStacks()))
	for _, st := range act.GetStacks() {
		if st.GetHash() == "" {
			continue
		}
		f := instFields(make([]event.Field, 0, 8), TypeStack, res.app, res.instance, nil)
		f = append(f,
			event.Field{Name: FieldStackHash, Value: st.GetHash()},
			event.Field{Name: event.FieldMsg, Value: st.GetText()},
		)
		rows = append(rows, event.Row{Time: t, Fields: f})
	}
	for _, tx := range act.GetTransactions() {
		f := instFields(make([]event.Field, 0, 24), TypeActive, res.app, res.instance, res)
		add := func(name, v string) {
			if v != "" {
				f = append(f, event.Field{Name: name, Value: v})
			}
		}
		add(event.FieldMsg, tx.GetName())
		add("trace_id", tx.GetTraceId())
		add("span_id", tx.GetSpanId())
		add(FieldTxName, tx.GetName())
		add("start", strconv.FormatInt(tx.GetStartUnixNano(), 10))
		add("elapsed_ms", f64(tx.GetElapsedMs()))
		add(FieldTxClientIP, tx.GetClientIp())
		add(FieldTxUser, tx.GetUser())
		add(FieldTxMethod, tx.GetMethod())
		add(FieldTxCPUMs, f64(tx.GetCpuMs()))
		add(FieldTxSQLCount, u64(uint64(tx.GetSqlCount())))
		add(FieldTxHTTPCCount, u64(uint64(tx.GetHttpcCount())))
		if s := tx.GetStep(); s != nil && s.GetType() != "" {
			add(FieldStepType, s.GetType())
			add(FieldStepText, s.GetText())
			add(FieldStepMs, f64(s.GetElapsedMs()))
		}
		add(FieldStackHash, tx.GetStackHash())
		rows = append(rows, event.Row{Time: t, Fields: f})
	}
	return rows
}

func rollupRows(r *agentpb.ApmRollup, res *resInfo) []event.Row {
	var rows []event.Row
	if ws := r.GetWindowStartUnixNano(); ws > 0 {
		f := instFields(make([]event.Field, 0, 26), TypeRollup, res.app, res.instance, res)
		f = append(f,
			event.Field{Name: event.FieldMsg, Value: "rollup " + res.app},
			event.Field{Name: "count", Value: u64(r.GetCount())},
			event.Field{Name: "errors", Value: u64(r.GetErrors())},
			event.Field{Name: "sum_ms", Value: f64(r.GetSumMs())},
			event.Field{Name: "max_ms", Value: f64(r.GetMaxMs())},
			event.Field{Name: "apdex_s", Value: u64(r.GetApdexSatisfied())},
			event.Field{Name: "apdex_t", Value: u64(r.GetApdexTolerating())},
			event.Field{Name: "sql_ms", Value: f64(r.GetSqlMs())},
			event.Field{Name: "httpc_ms", Value: f64(r.GetHttpcMs())},
			event.Field{Name: "users", Value: u64(uint64(r.GetUsers()))},
			event.Field{Name: "hitmap", Value: sparse(fit(r.GetHitmap()))},
			event.Field{Name: "hitmap_err", Value: sparse(fit(r.GetHitmapErrors()))},
			event.Field{Name: "active", Value: u64(uint64(r.GetActive()))},
			event.Field{Name: "cpu_percent", Value: f64(r.GetCpuPercent())},
			event.Field{Name: "heap_bytes", Value: u64(r.GetHeapBytes())},
			event.Field{Name: "goroutines", Value: u64(uint64(r.GetGoroutines()))},
			event.Field{Name: "gc_count", Value: u64(uint64(r.GetGcCount()))},
			event.Field{Name: "gc_pause_ms", Value: f64(r.GetGcPauseMs())},
		)
		rows = append(rows, event.Row{Time: time.Unix(0, ws).UTC(), Fields: f})
	}
	if len(r.GetStats()) > 0 {
		window := time.Duration(r.GetStatsWindowSeconds()) * time.Second
		t := time.Unix(0, r.GetStatsWindowStartUnixNano()).UTC()
		for _, s := range r.GetStats() {
			if s.GetKind() == "" {
				continue
			}
			l := &statLine{count: s.GetCount(), errors: s.GetErrors(), sumMs: s.GetSumMs(), maxMs: s.GetMaxMs(),
				cpuMs: s.GetCpuMs(), sqlCount: s.GetSqlCount(), httpcCount: s.GetHttpcCount(), rows: s.GetRows()}
			f := instFields(make([]event.Field, 0, 18), TypeStat, res.app, res.instance, res)
			f = append(f, statFields(s.GetKind(), s.GetKey(), l, window)...)
			rows = append(rows, event.Row{Time: t, Fields: f})
		}
	}
	return rows
}

// fit keeps a library's hitmap to the buckets this server knows.
func fit(h []uint32) []uint32 {
	if len(h) > wire.HitmapBuckets {
		return h[:wire.HitmapBuckets]
	}
	return h
}
