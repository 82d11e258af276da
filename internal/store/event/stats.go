package event

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
)

// Aggregations over matching rows: counts over time, the most common values
// of a field, which fields occur, and small numeric statistics. They share
// Count's rules: the project is the engine tenant, the time budget is ctx's
// deadline (default Options.SearchTimeout), every name and value reaching
// LogsQL is validated and quoted, and engine panics become errors.

// Bucket is the number of matching rows in [Time, Time+step).
type Bucket struct {
	Time  time.Time
	Count uint64
}

// ValueCount is one value of a field and the number of rows holding it.
type ValueCount struct {
	Value string
	Count uint64
}

// FieldCount is a field name and the number of matching rows that have it.
type FieldCount struct {
	Field string
	Count uint64
}

// Point is one value of a Series; Value is NaN when the bucket had no row
// the function could use (e.g. avg of a field no row in the bucket has).
type Point struct {
	Time  time.Time
	Value float64
}

// Series is one group of a Stats result: Labels hold the values of the
// StatsQuery.By fields ("" when rows lacked the field).
type Series struct {
	Labels map[string]string
	Rows   uint64 // matching rows of the group over the whole range
	Points []Point
}

// StatsQuery says what Stats computes.
type StatsQuery struct {
	Step  time.Duration // bucket width; must be positive
	By    []string      // up to MaxStatsBy fields to split series by
	Func  string        // one of StatsFuncs
	Field string        // the numeric field; ignored for count
	Top   int           // keep the Top groups with most rows; default 10, max MaxStatsTop
}

// StatsFuncs are the functions Stats accepts.
var StatsFuncs = []string{"count", "sum", "avg", "max", "min", "p95"}

// OtherValue names the series that HistogramBy folds the values outside
// the top ones (and rows without the field) into.
const OtherValue = "other"

const (
	// MaxBuckets bounds the buckets of one histogram or stats series, so a
	// tiny step over a long range is refused rather than building millions
	// of groups in memory.
	MaxBuckets  = 10_000
	MaxStatsBy  = 3
	MaxStatsTop = 50
	// MaxTopValues bounds TopValues' n.
	MaxTopValues = 10_000
	// maxResultRows bounds the rows one aggregation may return to us; the
	// limits above keep well-formed queries far below it.
	maxResultRows = 1_000_000
	// BatchField is stamped on rows by the ingest pipeline (ingest.BatchField);
	// it is bookkeeping, not data.
	batchField = "osprey.batch"
)

// Result column names contain '#', which validField refuses, so they never
// collide with a user's field.
const (
	colN     = "#n"
	colTotal = "#total"
	colV     = "#v"
)

// safeField is what a field name used in a by-clause, a stats function or
// field_names output may look like: semantic-convention names
// (http.response.status_code, k8s.pod.name), flattened JSON keys
// (body.user_id) and the engine's _msg. Names are quoted as well; the
// pattern keeps odd names (spaces, quotes, pipes) from ever being
// interpreted, and keeps result columns ('#') distinct.
var safeField = regexp.MustCompile(`^[A-Za-z0-9_@][A-Za-z0-9_.@/:\-]*$`)

// validField checks a user-supplied field name for grouping or aggregation.
func validField(name string) error {
	switch {
	case name == "":
		return badQuery("empty field name")
	case len(name) > maxFieldNameLen:
		return badQuery("field name longer than %d bytes", maxFieldNameLen)
	case !safeField.MatchString(name):
		return badQuery("field name %q: only letters, digits and _ . @ / : - are allowed", name)
	}
	switch name {
	case FieldTime:
		return badQuery("field %s: use the time range and step", name)
	case "_stream", "_stream_id", FieldSeq:
		return badQuery("field %s is internal", name)
	}
	return nil
}

// hiddenField reports fields FieldNames leaves out: the engine's and our
// bookkeeping, and _time, which every row has.
func hiddenField(name string) bool {
	switch name {
	case FieldTime, "_stream", "_stream_id", FieldSeq, batchField:
		return true
	}
	return false
}

// aggRow is one result row of an aggregation, column name → value.
type aggRow map[string]string

// prepare validates q for an aggregation and returns the tenant, the
// normalised query and ctx with the time budget applied.
func (s *Store) prepare(ctx context.Context, project int64, q Query) (logstorage.TenantID, normalized, context.Context, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	tenant, err := tenantFor(project)
	if err != nil {
		return tenant, normalized{}, ctx, cancel, err
	}
	q.Cursor, q.Limit, q.Fields = "", 0, nil
	n, err := s.normalize(q, time.Now())
	if err != nil {
		return tenant, n, ctx, cancel, err
	}
	ctx, cancel = s.withBudget(ctx)
	return tenant, n, ctx, cancel, nil
}

// aggregate runs "<filter> <pipes>" over [n.start, n.end] for tenant and
// returns the result rows. pipes must be built only from validated and
// quoted input.
func (s *Store) aggregate(ctx context.Context, tenant logstorage.TenantID, n normalized, extraFilter, pipes string) ([]aggRow, error) {
	return s.aggregateMax(ctx, tenant, n, extraFilter, pipes, maxResultRows)
}

// aggregateMax is aggregate with a bound of its own on the result rows:
// more is ErrBadQuery.
func (s *Store) aggregateMax(ctx context.Context, tenant logstorage.TenantID, n normalized, extraFilter, pipes string, maxRows int) ([]aggRow, error) {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	filter := n.filter
	if extraFilter != "" {
		filter = "(" + filter + ") " + extraFilter
	}
	lq, err := logstorage.ParseQueryAtTimestamp(filter+" "+pipes, n.end)
	if err != nil {
		return nil, fmt.Errorf("build LogsQL query: %w", err)
	}
	lq.AddTimeFilter(n.start, n.end)

	// Stop the engine as soon as the result is known to be too big.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		rows     []aggRow
		overflow bool
	)
	err = func() (err error) {
		defer recoverAsError(&err, "run event aggregation")
		qctx := logstorage.NewQueryContext(ctx, &logstorage.QueryStats{}, []logstorage.TenantID{tenant}, lq, false, nil)
		return s.st.RunQuery(qctx, func(_ uint, db *logstorage.DataBlock) {
			cols := db.GetColumns(false)
			nr := db.RowsCount()
			mu.Lock()
			defer mu.Unlock()
			if overflow {
				return
			}
			if len(rows)+nr > maxRows {
				overflow = true
				cancel()
				return
			}
			// Block memory is reused after this callback: names too, when
			// the pipes pass stored rows through (Some) rather than build
			// result columns.
			names := make([]string, len(cols))
			for k, c := range cols {
				names[k] = strings.Clone(c.Name)
			}
			for i := 0; i < nr; i++ {
				r := make(aggRow, len(cols))
				for k, c := range cols {
					r[names[k]] = strings.Clone(c.Values[i])
				}
				rows = append(rows, r)
			}
		})
	}()
	if overflow {
		return nil, badQuery("the aggregation has more than %d result rows; narrow the query", maxRows)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// bucketGrid returns the first bucket start (aligned to step since the Unix
// epoch, as the engine aligns _time buckets) and the number of buckets
// covering [start, end].
func bucketGrid(start, end int64, step time.Duration) (first int64, count int, err error) {
	if step <= 0 {
		return 0, 0, badQuery("step must be positive")
	}
	st := int64(step)
	first = floorDiv(start, st) * st
	last := floorDiv(end, st) * st
	nb := (last-first)/st + 1
	if nb > MaxBuckets {
		return 0, 0, badQuery("step %s gives %d buckets over the range; at most %d are allowed", step, nb, MaxBuckets)
	}
	return first, int(nb), nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func stepExpr(step time.Duration) string {
	// Integer nanoseconds: the engine's own form for _time buckets.
	return "_time:" + strconv.FormatInt(int64(step), 10)
}

// bucketIndex maps a result row's _time bucket to its grid index.
func bucketIndex(v string, first int64, step time.Duration, count int) (int, bool) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return 0, false
	}
	i := (t.UnixNano() - first) / int64(step)
	if i < 0 || i >= int64(count) {
		return 0, false
	}
	return int(i), true
}

func emptyBuckets(first int64, step time.Duration, count int) []Bucket {
	b := make([]Bucket, count)
	for i := range b {
		b[i].Time = time.Unix(0, first+int64(i)*int64(step)).UTC()
	}
	return b
}

func parseCount(v string) uint64 {
	x, _ := strconv.ParseUint(v, 10, 64)
	return x
}

// Histogram counts the rows matching q per step-wide bucket over
// [q.Start, q.End]. Buckets are aligned to multiples of step since the Unix
// epoch (so the first and last may be partly outside the range) and empty
// ones are present with Count 0. Limit, Cursor and Fields are ignored.
func (s *Store) Histogram(ctx context.Context, project int64, q Query, step time.Duration) ([]Bucket, error) {
	tenant, n, ctx, cancel, err := s.prepare(ctx, project, q)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("event histogram: %w", err)
	}
	first, nb, err := bucketGrid(n.start, n.end, step)
	if err != nil {
		return nil, fmt.Errorf("event histogram: %w", err)
	}
	rows, err := s.aggregate(ctx, tenant, n, "", "| stats by ("+stepExpr(step)+") count() as "+quote(colN))
	if err != nil {
		return nil, fmt.Errorf("event histogram: %w", err)
	}
	out := emptyBuckets(first, step, nb)
	for _, r := range rows {
		if i, ok := bucketIndex(r[FieldTime], first, step, nb); ok {
			out[i].Count += parseCount(r[colN])
		}
	}
	return out, nil
}

// HistogramBy is Histogram split by field: one series for each of the
// field's top most common values and OtherValue for the remaining rows
// (other values and rows without the field; present only when non-zero).
// It costs two scans: TopValues, then one stats pass with a conditional
// count per top value.
func (s *Store) HistogramBy(ctx context.Context, project int64, q Query, step time.Duration, field string, top int) (map[string][]Bucket, error) {
	if err := validField(field); err != nil {
		return nil, fmt.Errorf("event histogram by field: %w", err)
	}
	if top <= 0 || top > MaxStatsTop {
		return nil, fmt.Errorf("event histogram by field: %w", badQuery("top must be 1..%d", MaxStatsTop))
	}
	tenant, n, ctx, cancel, err := s.prepare(ctx, project, q)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("event histogram by %s: %w", field, err)
	}
	first, nb, err := bucketGrid(n.start, n.end, step)
	if err != nil {
		return nil, fmt.Errorf("event histogram by %s: %w", field, err)
	}
	values, _, err := s.topValues(ctx, tenant, n, field, top)
	if err != nil {
		return nil, fmt.Errorf("event histogram by %s: %w", field, err)
	}
	var b strings.Builder
	b.WriteString("| stats by (" + stepExpr(step) + ") count() as " + quote(colN))
	for i, v := range values {
		fmt.Fprintf(&b, ", count() if (%s:=%s) as %s", quote(field), quote(v.Value), quote("#"+strconv.Itoa(i)))
	}
	rows, err := s.aggregate(ctx, tenant, n, "", b.String())
	if err != nil {
		return nil, fmt.Errorf("event histogram by %s: %w", field, err)
	}
	out := make(map[string][]Bucket, len(values)+1)
	for _, v := range values {
		out[v.Value] = emptyBuckets(first, step, nb)
	}
	other := emptyBuckets(first, step, nb)
	var otherTotal uint64
	for _, r := range rows {
		i, ok := bucketIndex(r[FieldTime], first, step, nb)
		if !ok {
			continue
		}
		rest := parseCount(r[colN])
		for k, v := range values {
			c := parseCount(r["#"+strconv.Itoa(k)])
			out[v.Value][i].Count += c
			rest -= min(c, rest)
		}
		other[i].Count += rest
		otherTotal += rest
	}
	if otherTotal > 0 {
		if cur, ok := out[OtherValue]; ok {
			// A real value named "other" shares the folded series.
			for i := range cur {
				cur[i].Count += other[i].Count
			}
		} else {
			out[OtherValue] = other
		}
	}
	return out, nil
}

// TopValues returns the n most common non-empty values of field among the
// rows matching q, most common first (ties by value), and total, the number
// of matching rows (with or without the field).
func (s *Store) TopValues(ctx context.Context, project int64, q Query, field string, n int) (values []ValueCount, total uint64, err error) {
	if err := validField(field); err != nil {
		return nil, 0, fmt.Errorf("event top values: %w", err)
	}
	if n <= 0 || n > MaxTopValues {
		return nil, 0, fmt.Errorf("event top values: %w", badQuery("n must be 1..%d", MaxTopValues))
	}
	tenant, nq, ctx, cancel, err := s.prepare(ctx, project, q)
	defer cancel()
	if err != nil {
		return nil, 0, fmt.Errorf("event top values of %s: %w", field, err)
	}
	values, total, err = s.topValues(ctx, tenant, nq, field, n)
	if err != nil {
		return nil, 0, fmt.Errorf("event top values of %s: %w", field, err)
	}
	return values, total, nil
}

func (s *Store) topValues(ctx context.Context, tenant logstorage.TenantID, n normalized, field string, limit int) ([]ValueCount, uint64, error) {
	f := quote(field)
	// One more than asked, since the empty value (rows without the field)
	// may be among them and is dropped. total_stats sums every group before
	// the limit cuts them.
	pipes := fmt.Sprintf("| stats by (%s) count() as %s | total_stats sum(%s) as %s | sort by (%s desc, %s) limit %d",
		f, quote(colN), quote(colN), quote(colTotal), quote(colN), f, limit+1)
	rows, err := s.aggregate(ctx, tenant, n, "", pipes)
	if err != nil {
		return nil, 0, err
	}
	var total uint64
	values := make([]ValueCount, 0, len(rows))
	for _, r := range rows {
		total = parseCount(r[colTotal])
		if v := r[field]; v != "" {
			values = append(values, ValueCount{Value: v, Count: parseCount(r[colN])})
		}
	}
	// Blocks may arrive from several workers; restore the order.
	slices.SortFunc(values, func(a, b ValueCount) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Value, b.Value)
	})
	if len(values) > limit {
		values = values[:limit]
	}
	return values, total, nil
}

// FieldNames lists the fields present in rows matching q with the number of
// rows having each, most common first (ties by name). Internal fields
// (_time, _stream, _stream_id, osprey.seq, osprey.batch) are left out.
func (s *Store) FieldNames(ctx context.Context, project int64, q Query) ([]FieldCount, error) {
	tenant, n, ctx, cancel, err := s.prepare(ctx, project, q)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("event field names: %w", err)
	}
	rows, err := s.aggregate(ctx, tenant, n, "", "| field_names")
	if err != nil {
		return nil, fmt.Errorf("event field names: %w", err)
	}
	out := make([]FieldCount, 0, len(rows))
	for _, r := range rows {
		name := r["name"]
		if name == "" || hiddenField(name) {
			continue
		}
		out = append(out, FieldCount{Field: name, Count: parseCount(r["hits"])})
	}
	slices.SortFunc(out, func(a, b FieldCount) int {
		if a.Count != b.Count {
			if a.Count > b.Count {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Field, b.Field)
	})
	return out, nil
}

// statsFunc renders a StatsQuery function as LogsQL.
func statsFunc(fn, field string) (string, error) {
	if fn == "count" {
		return "count()", nil
	}
	if !slices.Contains(StatsFuncs, fn) {
		return "", badQuery("unknown function %q; want one of %s", fn, strings.Join(StatsFuncs, ", "))
	}
	if err := validField(field); err != nil {
		return "", badQuery("function %s needs a numeric field: %v", fn, err)
	}
	if fn == "p95" {
		return "quantile(0.95, " + quote(field) + ")", nil
	}
	return fn + "(" + quote(field) + ")", nil
}

// Stats computes sq.Func over the rows matching q per sq.Step bucket, one
// series per group of sq.By values (only the sq.Top groups with most
// rows; all rows form one series without By). Series come most rows first.
// Count buckets without rows are 0; other functions' are NaN.
func (s *Store) Stats(ctx context.Context, project int64, q Query, sq StatsQuery) ([]Series, error) {
	fn, err := statsFunc(sq.Func, sq.Field)
	if err != nil {
		return nil, fmt.Errorf("event stats: %w", err)
	}
	if len(sq.By) > MaxStatsBy {
		return nil, fmt.Errorf("event stats: %w", badQuery("at most %d by fields", MaxStatsBy))
	}
	for i, f := range sq.By {
		if err := validField(f); err != nil {
			return nil, fmt.Errorf("event stats: by: %w", err)
		}
		if slices.Contains(sq.By[:i], f) {
			return nil, fmt.Errorf("event stats: %w", badQuery("by field %q given twice", f))
		}
	}
	switch {
	case sq.Top == 0:
		sq.Top = 10
	case sq.Top < 0 || sq.Top > MaxStatsTop:
		return nil, fmt.Errorf("event stats: %w", badQuery("top must be 1..%d", MaxStatsTop))
	}
	tenant, n, ctx, cancel, err := s.prepare(ctx, project, q)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("event stats: %w", err)
	}
	first, nb, err := bucketGrid(n.start, n.end, sq.Step)
	if err != nil {
		return nil, fmt.Errorf("event stats: %w", err)
	}
	by := make([]string, len(sq.By))
	for i, f := range sq.By {
		by[i] = quote(f)
	}

	// Pick the groups first, so a high-cardinality by field costs the top
	// groups' buckets rather than every group's.
	groups := []Series{{Labels: map[string]string{}}}
	extra := ""
	if len(by) > 0 {
		pipes := fmt.Sprintf("| stats by (%s) count() as %s | sort by (%s desc, %s) limit %d",
			strings.Join(by, ", "), quote(colN), quote(colN), strings.Join(by, ", "), sq.Top)
		rows, err := s.aggregate(ctx, tenant, n, "", pipes)
		if err != nil {
			return nil, fmt.Errorf("event stats: pick groups: %w", err)
		}
		groups = groups[:0]
		for _, r := range rows {
			g := Series{Labels: make(map[string]string, len(sq.By)), Rows: parseCount(r[colN])}
			for _, f := range sq.By {
				g.Labels[f] = r[f]
			}
			groups = append(groups, g)
		}
		if len(groups) == 0 {
			return []Series{}, nil
		}
		var alt []string
		for _, g := range groups {
			var conj []string
			for _, f := range sq.By {
				conj = append(conj, quote(f)+":="+quote(g.Labels[f]))
			}
			alt = append(alt, "("+strings.Join(conj, " ")+")")
		}
		extra = "(" + strings.Join(alt, " or ") + ")"
	}
	byClause := stepExpr(sq.Step)
	if len(by) > 0 {
		byClause += ", " + strings.Join(by, ", ")
	}
	rows, err := s.aggregate(ctx, tenant, n, extra,
		fmt.Sprintf("| stats by (%s) %s as %s, count() as %s", byClause, fn, quote(colV), quote(colN)))
	if err != nil {
		return nil, fmt.Errorf("event stats: %w", err)
	}
	empty := 0.0
	if sq.Func != "count" {
		empty = math.NaN()
	}
	index := make(map[string]int, len(groups))
	for i := range groups {
		index[groupKey(groups[i].Labels, sq.By)] = i
		pts := make([]Point, nb)
		for k := range pts {
			pts[k] = Point{Time: time.Unix(0, first+int64(k)*int64(sq.Step)).UTC(), Value: empty}
		}
		groups[i].Points = pts
	}
	for _, r := range rows {
		k, ok := bucketIndex(r[FieldTime], first, sq.Step, nb)
		if !ok {
			continue
		}
		gi, ok := index[groupKey(r, sq.By)]
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(r[colV], 64)
		if err != nil {
			v = math.NaN()
		}
		groups[gi].Points[k].Value = v
		if len(by) == 0 {
			groups[gi].Rows += parseCount(r[colN])
		}
	}
	slices.SortStableFunc(groups, func(a, b Series) int {
		if a.Rows != b.Rows {
			if a.Rows > b.Rows {
				return -1
			}
			return 1
		}
		return strings.Compare(groupKey(a.Labels, sq.By), groupKey(b.Labels, sq.By))
	})
	return groups, nil
}

func groupKey(labels map[string]string, by []string) string {
	var b strings.Builder
	for _, f := range by {
		b.WriteString(strconv.Quote(labels[f]))
		b.WriteByte(0)
	}
	return b.String()
}
