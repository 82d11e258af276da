package apm

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

const (
	defaultStatRows = 100
	maxStatRows     = 10_000
)

// statKinds are the apmstat kinds (docs/apm.md).
var statKinds = []string{"tx", "sql", "httpc", "error", "ip", "ua", "out", "in"}

// statColumns are a statistics row's figures, in CSV column order; each
// may be the sort.
var statColumns = []string{"count", "errors", "sum_ms", "avg_ms", "max_ms", "cpu_ms", "sql_count", "httpc_count", "rows"}

type statRowJSON struct {
	Key        string       `json:"key"`
	Count      envelope.Num `json:"count"`
	Errors     envelope.Num `json:"errors"`
	SumMs      envelope.Num `json:"sum_ms"`
	AvgMs      envelope.Num `json:"avg_ms"`
	MaxMs      envelope.Num `json:"max_ms"`
	CPUMs      envelope.Num `json:"cpu_ms"`
	SQLCount   envelope.Num `json:"sql_count"`
	HTTPCCount envelope.Num `json:"httpc_count"`
	Rows       envelope.Num `json:"rows"`
}

func (s statRowJSON) values() []envelope.Num {
	return []envelope.Num{s.Count, s.Errors, s.SumMs, s.AvgMs, s.MaxMs, s.CPUMs, s.SQLCount, s.HTTPCCount, s.Rows}
}

// stats answers the statistics of ?kind= (default tx) over the range,
// summed over windows and instances per key: the ?limit= (default 100)
// keys with the largest ?sort= (default sum_ms). ?format=csv answers CSV
// with a header row instead. Rows count when their window starts in
// [start, end].
func (h *handler) stats(w http.ResponseWriter, r *http.Request) {
	sel, ok := h.parse(w, r, defaultRange)
	if !ok {
		return
	}
	v := r.URL.Query()
	kind := cmp.Or(v.Get("kind"), "tx")
	if !slices.Contains(statKinds, kind) {
		badRequest(w, fmt.Errorf("kind: want one of %s, got %q", strings.Join(statKinds, ", "), kind))
		return
	}
	sort := cmp.Or(v.Get("sort"), "sum_ms")
	if !slices.Contains(statColumns, sort) {
		badRequest(w, fmt.Errorf("sort: want one of %s, got %q", strings.Join(statColumns, ", "), sort))
		return
	}
	format := v.Get("format")
	if format != "" && format != "json" && format != "csv" {
		badRequest(w, fmt.Errorf("format: want json or csv, got %q", format))
		return
	}
	limit, err := envelope.ParseLimit(v, defaultStatRows, maxStatRows)
	if err != nil {
		badRequest(w, err)
		return
	}
	q := sel.query(typeStat)
	q.Filters = []event.Filter{{Field: fStatKind, Op: "=", Value: kind}}
	groups, err := h.es.Group(r.Context(), sel.project, q, event.GroupQuery{
		By: []string{fStatKey}, Aggs: statAggs, Ratios: []event.Ratio{{Name: "avg_ms", Num: "sum_ms", Den: "count"}},
		Rank: sort, Top: limit,
	})
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	rows := make([]statRowJSON, len(groups))
	for i, g := range groups {
		rows[i] = statRowJSON{Key: g.Keys[0],
			Count: envelope.Num(zeroNaN(g.Float("count"))), Errors: envelope.Num(zeroNaN(g.Float("errors"))),
			SumMs: envelope.Num(g.Float("sum_ms")), AvgMs: envelope.Num(ratio(g.Float("sum_ms"), g.Float("count"))),
			MaxMs: envelope.Num(g.Float("max_ms")), CPUMs: envelope.Num(g.Float("cpu_ms")),
			SQLCount: envelope.Num(zeroNaN(g.Float("sql_count"))), HTTPCCount: envelope.Num(zeroNaN(g.Float("httpc_count"))),
			Rows: envelope.Num(zeroNaN(g.Float("rows")))}
	}
	if format == "csv" {
		h.writeStatsCSV(w, kind, rows)
		return
	}
	envelope.WriteData(w, map[string]any{"kind": kind, "rows": rows})
}

var statAggs = []event.Agg{
	{Name: "count", Func: "sum", Field: fCount}, {Name: "errors", Func: "sum", Field: fErrors},
	{Name: "sum_ms", Func: "sum", Field: fSumMs}, {Name: "max_ms", Func: "max", Field: fMaxMs},
	{Name: "cpu_ms", Func: "sum", Field: "cpu_ms"}, {Name: "sql_count", Func: "sum", Field: "sql_count"},
	{Name: "httpc_count", Func: "sum", Field: "httpc_count"}, {Name: "rows", Func: "sum", Field: "rows"},
}

func (h *handler) writeStatsCSV(w http.ResponseWriter, kind string, rows []statRowJSON) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="apm-stats-`+kind+`.csv"`)
	cw := csv.NewWriter(w)
	rec := append([]string{"key"}, statColumns...)
	_ = cw.Write(rec)
	for _, row := range rows {
		rec = append(rec[:0], row.Key)
		for _, n := range row.values() {
			rec = append(rec, csvNum(float64(n)))
		}
		if err := cw.Write(rec); err != nil {
			// The status is sent; the client sees a short file.
			h.log.Warn("apm: stats csv write", "err", err)
			return
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		h.log.Warn("apm: stats csv write", "err", err)
	}
}

// csvNum is a figure as the JSON shows it (three decimals), empty when
// unknown.
func csvNum(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return ""
	}
	return strconv.FormatFloat(math.Round(f*1000)/1000, 'f', -1, 64)
}

type mapNodeJSON struct {
	ID     string       `json:"id"`
	Name   string       `json:"name"`
	Kind   string       `json:"kind"` // app, db, queue, external
	Count  envelope.Num `json:"count"`
	Errors envelope.Num `json:"errors"`
	AvgMs  envelope.Num `json:"avg_ms"`
}

type mapEdgeJSON struct {
	From   string       `json:"from"`
	To     string       `json:"to"`
	Count  envelope.Num `json:"count"`
	Errors envelope.Num `json:"errors"`
	AvgMs  envelope.Num `json:"avg_ms"`
	RPS    envelope.Num `json:"rps"` // count over the range's seconds
}

// Node kinds of the service map.
const (
	nodeApp      = "app"
	nodeDB       = "db"
	nodeQueue    = "queue"
	nodeExternal = "external"
)

// Schemes of out keys that name a database or a message queue.
var (
	dbSchemes = []string{"mysql", "mariadb", "postgresql", "postgres", "redis", "rediss", "mongodb", "mongodb+srv",
		"mssql", "sqlserver", "oracle", "cassandra", "memcached", "clickhouse", "sqlite", "db2", "couchbase", "elasticsearch"}
	queueSchemes = []string{"nats", "kafka", "amqp", "amqps", "rabbitmq", "sqs", "sns", "pulsar", "mqtt", "pubsub", "kinesis"}
)

// targetKind classifies an out key by its scheme ("mysql://…", "nats:…").
func targetKind(key string) string {
	scheme, _, ok := strings.Cut(key, ":")
	if !ok {
		return nodeExternal
	}
	scheme = strings.ToLower(scheme)
	switch {
	case slices.Contains(dbSchemes, scheme):
		return nodeDB
	case slices.Contains(queueSchemes, scheme):
		return nodeQueue
	}
	return nodeExternal
}

// inKeyOf is the in key an out key reaches: "http://host:port/…" is
// reached at "host:port"; keys without "//" ("nats:subject") are the
// same on both sides.
func inKeyOf(out string) string {
	_, rest, ok := strings.Cut(out, "://")
	if !ok {
		return out
	}
	host, _, _ := strings.Cut(rest, "/")
	return host
}

type flow struct{ n, errs, ms float64 }

func (f *flow) add(g event.Group) {
	f.n += zeroNaN(g.Float("n"))
	f.errs += zeroNaN(g.Float("err"))
	f.ms += zeroNaN(g.Float("ms"))
}

// serviceMap answers the apps (from the tx statistics) and what they call
// (out statistics) over the range: an out key that an app's in keys match
// is an edge to that app, otherwise to a database, queue or external
// node of its own.
func (h *handler) serviceMap(w http.ResponseWriter, r *http.Request) {
	sel, ok := h.parse(w, r, defaultRange)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), queryTimeout)
	defer cancel()
	aggs := []event.Agg{{Name: "n", Func: "sum", Field: fCount}, {Name: "err", Func: "sum", Field: fErrors}, {Name: "ms", Func: "sum", Field: fSumMs}}
	statGroups := func(kind string, by ...string) ([]event.Group, error) {
		q := sel.query(typeStat)
		q.Filters = []event.Filter{{Field: fStatKind, Op: "=", Value: kind}}
		g, err := h.es.Group(ctx, sel.project, q, event.GroupQuery{By: by, Aggs: aggs, MaxGroups: maxGroups})
		if err != nil {
			return nil, fmt.Errorf("service map %s statistics: %w", kind, err)
		}
		return g, nil
	}
	txs, err := statGroups("tx", fApp)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	ins, err := statGroups("in", fApp, fStatKey)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}
	outs, err := statGroups("out", fApp, fStatKey)
	if err != nil {
		envelope.WriteStoreError(w, r, err)
		return
	}

	nodes := map[string]*mapNodeJSON{}
	flows := map[string]*flow{}
	node := func(id, name, kind string) *flow {
		if nodes[id] == nil {
			nodes[id] = &mapNodeJSON{ID: id, Name: name, Kind: kind}
			flows[id] = &flow{}
		}
		return flows[id]
	}
	appID := func(app string) string { return nodeApp + ":" + app }
	for _, g := range txs {
		node(appID(g.Keys[0]), g.Keys[0], nodeApp).add(g)
	}
	reachedAt := map[string][]string{}     // in key → apps
	consumed := map[string][]event.Group{} // queue in key → its consumers' figures
	for _, g := range ins {
		if k := g.Keys[1]; !slices.Contains(reachedAt[k], g.Keys[0]) {
			reachedAt[k] = append(reachedAt[k], g.Keys[0])
		}
		if targetKind(g.Keys[1]) == nodeQueue {
			consumed[g.Keys[1]] = append(consumed[g.Keys[1]], g)
		}
	}
	type edgeKey struct{ from, to string }
	edges := map[edgeKey]*flow{}
	edge := func(from, to string, g event.Group) {
		e := edges[edgeKey{from, to}]
		if e == nil {
			e = &flow{}
			edges[edgeKey{from, to}] = e
		}
		e.add(g)
	}
	for _, g := range outs {
		from, key := appID(g.Keys[0]), g.Keys[1]
		node(from, g.Keys[0], nodeApp) // a caller without tx statistics of its own
		if kind := targetKind(key); kind == nodeQueue {
			// A queue is a node of its own even when an app consumes
			// from it: producer → queue → consumers, each edge with its
			// side's figures.
			id := kind + ":" + key
			node(id, key, kind).add(g)
			edge(from, id, g)
			continue
		}
		var to []string
		for _, app := range reachedAt[inKeyOf(key)] {
			to = append(to, appID(app))
			node(appID(app), app, nodeApp)
		}
		if len(to) == 0 {
			// A target no app answers for: it takes the calls' figures.
			kind := targetKind(key)
			id := kind + ":" + key
			node(id, key, kind).add(g)
			to = []string{id}
		}
		for _, t := range to {
			edge(from, t, g)
		}
	}
	for key, gs := range consumed {
		id := nodeQueue + ":" + key
		node(id, key, nodeQueue)
		for _, g := range gs {
			node(appID(g.Keys[0]), g.Keys[0], nodeApp)
			edge(id, appID(g.Keys[0]), g)
		}
	}

	secs := sel.end.Sub(sel.start).Seconds()
	out := struct {
		Nodes []mapNodeJSON `json:"nodes"`
		Edges []mapEdgeJSON `json:"edges"`
	}{Nodes: []mapNodeJSON{}, Edges: []mapEdgeJSON{}}
	for id, n := range nodes {
		f := flows[id]
		n.Count, n.Errors, n.AvgMs = envelope.Num(f.n), envelope.Num(f.errs), envelope.Num(ratio(f.ms, f.n))
		out.Nodes = append(out.Nodes, *n)
	}
	for k, f := range edges {
		out.Edges = append(out.Edges, mapEdgeJSON{From: k.from, To: k.to, Count: envelope.Num(f.n), Errors: envelope.Num(f.errs),
			AvgMs: envelope.Num(ratio(f.ms, f.n)), RPS: envelope.Num(f.n / secs)})
	}
	slices.SortFunc(out.Nodes, func(a, b mapNodeJSON) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(out.Edges, func(a, b mapEdgeJSON) int {
		return cmp.Or(strings.Compare(a.From, b.From), strings.Compare(a.To, b.To))
	})
	envelope.WriteData(w, out)
}
