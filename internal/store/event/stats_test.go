package event

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"
)

// statsFixture stores, for project 1, 60 log rows one per 10 s from base
// (6 per minute over 10 minutes): level cycles info,info,error; service
// is api for even i and web for odd i, except that rows with i%10==0 lack
// "service.name"; dur = i.
// Project 2 gets one row, to prove tenancy.
func statsFixture(t *testing.T) (*Store, time.Time) {
	t.Helper()
	s := openTest(t, "")
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var rows []Row
	for i := range 60 {
		kv := []string{"level", []string{"info", "info", "error"}[i%3], "dur", strconv.Itoa(i)}
		if i%10 != 0 {
			kv = append(kv, "service.name", []string{"api", "web"}[i%2])
		}
		rows = append(rows, row(base.Add(time.Duration(i)*10*time.Second), "log", fmt.Sprintf("request %d done", i), kv...))
	}
	mustAdd(t, s, 1, rows...)
	mustAdd(t, s, 2, row(base, "log", "other tenant", "level", "info", "service.name", "api"))
	s.Flush()
	return s, base
}

func sumBuckets(b []Bucket) (n uint64) {
	for _, x := range b {
		n += x.Count
	}
	return n
}

func TestHistogram(t *testing.T) {
	s, base := statsFixture(t)
	ctx := context.Background()
	q := Query{Start: base.Add(-90 * time.Second), End: base.Add(10*time.Minute + 30*time.Second), Type: "log"}
	got, err := s.Histogram(ctx, 1, q, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Aligned to whole minutes: from base-2m to base+10m, 13 buckets, the
	// two leading and the trailing one empty.
	if len(got) != 13 {
		t.Fatalf("%d buckets, want 13: %v", len(got), got)
	}
	for i, b := range got {
		if want := base.Add(time.Duration(i-2) * time.Minute); !b.Time.Equal(want) {
			t.Fatalf("bucket %d at %s, want %s", i, b.Time, want)
		}
		want := uint64(6)
		if i < 2 || i == 12 {
			want = 0
		}
		if b.Count != want {
			t.Fatalf("bucket %d count %d, want %d", i, b.Count, want)
		}
	}
	// Filters and text narrow it like Count does.
	q.Filters = []Filter{{Field: "level", Op: "=", Value: "error"}}
	got, err = s.Histogram(ctx, 1, q, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if n := sumBuckets(got); n != 20 {
		t.Fatalf("error rows in histogram = %d, want 20", n)
	}
	c, _ := s.Count(ctx, 1, q)
	if c != 20 {
		t.Fatalf("Count = %d", c)
	}
	// Another project sees only its own row.
	got, err = s.Histogram(ctx, 2, Query{Start: q.Start, End: q.End}, time.Minute)
	if err != nil || sumBuckets(got) != 1 {
		t.Fatalf("project 2: %d rows, %v", sumBuckets(got), err)
	}
	got, err = s.Histogram(ctx, 3, Query{Start: q.Start, End: q.End}, time.Minute)
	if err != nil || sumBuckets(got) != 0 {
		t.Fatalf("project 3: %d rows, %v", sumBuckets(got), err)
	}
}

func TestHistogramBy(t *testing.T) {
	s, base := statsFixture(t)
	q := Query{Start: base, End: base.Add(10 * time.Minute)}
	got, err := s.HistogramBy(context.Background(), 1, q, time.Minute, "service.name", 1)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// web (odd i) has 30 rows, api 24; api and the 6 rows without the
	// field fold into other.
	if !slices.Equal(keys, []string{OtherValue, "web"}) {
		t.Fatalf("series %q", keys)
	}
	if w, o := sumBuckets(got["web"]), sumBuckets(got[OtherValue]); w != 30 || o != 30 {
		t.Fatalf("web=%d other=%d, want 30 and 30", w, o)
	}
	if got["web"][0].Count != 3 || got[OtherValue][0].Count != 3 {
		t.Fatalf("first minute: web=%d other=%d", got["web"][0].Count, got[OtherValue][0].Count)
	}
	// No other series when the top values cover every row.
	got, err = s.HistogramBy(context.Background(), 1, q, time.Minute, "level", 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || sumBuckets(got["info"]) != 40 || sumBuckets(got["error"]) != 20 {
		t.Fatalf("by level: %v", got)
	}
}

// Values are quoted, so LogsQL syntax inside a value is data: a top value
// full of quotes and pipes counts exactly its own rows.
func TestHistogramByHostileValue(t *testing.T) {
	s := openTest(t, "")
	now := time.Now().Add(-time.Minute)
	evil := `x" | delete _msg | stats count() as "n`
	mustAdd(t, s, 1,
		row(now, "log", "a", "level", evil), row(now, "log", "b", "level", evil),
		row(now, "log", "c", "level", "x"), row(now, "log", "d", "level", `x"`))
	s.Flush()
	got, err := s.HistogramBy(context.Background(), 1, Query{}, time.Hour, "level", 1)
	if err != nil {
		t.Fatal(err)
	}
	if sumBuckets(got[evil]) != 2 || sumBuckets(got[OtherValue]) != 2 {
		t.Fatalf("got %v", got)
	}
	vals, total, err := s.TopValues(context.Background(), 1, Query{Filters: []Filter{{Field: "level", Op: "=", Value: evil}}}, "level", 10)
	if err != nil || total != 2 || len(vals) != 1 || vals[0] != (ValueCount{evil, 2}) {
		t.Fatalf("TopValues = %v %d %v", vals, total, err)
	}
}

// Field names may hold the punctuation of real attribute names; quoted,
// they still work in by-clauses and function arguments.
func TestOddFieldNames(t *testing.T) {
	s := openTest(t, "")
	now := time.Now().Add(-time.Minute)
	const odd = "k8s:pod/name-x@v1.2"
	mustAdd(t, s, 1, row(now, "log", "a", odd, "p1", "by:te-s", "10"), row(now, "log", "b", odd, "p1", "by:te-s", "30"),
		row(now, "log", "c", odd, "p2", "by:te-s", "5"))
	s.Flush()
	ctx := context.Background()
	vals, total, err := s.TopValues(ctx, 1, Query{}, odd, 5)
	if err != nil || total != 3 || !slices.Equal(vals, []ValueCount{{"p1", 2}, {"p2", 1}}) {
		t.Fatalf("TopValues: %v %d %v", vals, total, err)
	}
	h, err := s.HistogramBy(ctx, 1, Query{}, time.Hour, odd, 1)
	if err != nil || sumBuckets(h["p1"]) != 2 || sumBuckets(h[OtherValue]) != 1 {
		t.Fatalf("HistogramBy: %v %v", h, err)
	}
	st, err := s.Stats(ctx, 1, Query{}, StatsQuery{Step: time.Hour, Func: "sum", Field: "by:te-s", By: []string{odd}})
	if err != nil || len(st) != 2 || st[0].Labels[odd] != "p1" || sumPoints(st[0].Points) != 40 || sumPoints(st[1].Points) != 5 {
		t.Fatalf("Stats: %+v %v", st, err)
	}
}

func sumPoints(ps []Point) (n float64) {
	for _, p := range ps {
		if !math.IsNaN(p.Value) {
			n += p.Value
		}
	}
	return n
}

func TestTopValues(t *testing.T) {
	s, base := statsFixture(t)
	q := Query{Start: base, End: base.Add(10 * time.Minute)}
	ctx := context.Background()
	vals, total, err := s.TopValues(ctx, 1, q, "service.name", 10)
	if err != nil {
		t.Fatal(err)
	}
	// Rows without the field count in total but are not a value.
	if total != 60 || !slices.Equal(vals, []ValueCount{{"web", 30}, {"api", 24}}) {
		t.Fatalf("service.name: %v total %d", vals, total)
	}
	vals, total, err = s.TopValues(ctx, 1, q, "level", 1)
	if err != nil || total != 60 || !slices.Equal(vals, []ValueCount{{"info", 40}}) {
		t.Fatalf("level top 1: %v %d %v", vals, total, err)
	}
	q.Text = "zzz-nothing"
	vals, total, err = s.TopValues(ctx, 1, q, "level", 5)
	if err != nil || total != 0 || len(vals) != 0 {
		t.Fatalf("no match: %v %d %v", vals, total, err)
	}
	vals, total, err = s.TopValues(ctx, 2, Query{Start: q.Start, End: q.End}, "service.name", 5)
	if err != nil || total != 1 || !slices.Equal(vals, []ValueCount{{"api", 1}}) {
		t.Fatalf("project 2: %v %d %v", vals, total, err)
	}
}

func TestFieldNames(t *testing.T) {
	s, base := statsFixture(t)
	got, err := s.FieldNames(context.Background(), 1, Query{Start: base, End: base.Add(10 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	want := []FieldCount{{"_msg", 60}, {"dur", 60}, {"level", 60}, {"type", 60}, {"service.name", 54}}
	if !slices.Equal(got, want) {
		t.Fatalf("FieldNames = %v, want %v", got, want)
	}
	got, err = s.FieldNames(context.Background(), 3, Query{Start: base, End: base.Add(10 * time.Minute)})
	if err != nil || len(got) != 0 {
		t.Fatalf("project 3: %v %v", got, err)
	}
}

func TestStats(t *testing.T) {
	s, base := statsFixture(t)
	ctx := context.Background()
	q := Query{Start: base, End: base.Add(10*time.Minute - time.Nanosecond)}
	// Minute k holds dur 6k..6k+5.
	cases := []struct {
		fn    string
		want0 float64 // first minute, all rows
	}{
		{"count", 6}, {"sum", 15}, {"avg", 2.5}, {"max", 5}, {"min", 0}, {"p95", 5},
	}
	for _, c := range cases {
		t.Run(c.fn, func(t *testing.T) {
			got, err := s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: c.fn, Field: "dur"})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || len(got[0].Points) != 10 || got[0].Rows != 60 {
				t.Fatalf("shape: %+v", got)
			}
			if v := got[0].Points[0].Value; v != c.want0 {
				t.Fatalf("%s of first minute = %v, want %v", c.fn, v, c.want0)
			}
		})
	}
	got, err := s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: "max", Field: "dur", By: []string{"service.name", "level"}, Top: 2})
	if err != nil {
		t.Fatal(err)
	}
	// Groups by rows: web/info 20, api/info 16, web/error 10, ...
	if len(got) != 2 || got[0].Labels["service.name"] != "web" || got[0].Labels["level"] != "info" ||
		got[1].Labels["service.name"] != "api" || got[0].Rows != 20 || got[1].Rows != 16 {
		t.Fatalf("groups: %+v", got)
	}
	// web/info in minute 0 is i in {1, 3}; api/info is {4} (0 lacks the service).
	if v, w := got[0].Points[0].Value, got[1].Points[0].Value; v != 3 || w != 4 {
		t.Fatalf("max of minute 0: web/info %v, api/info %v", v, w)
	}
	// A bucket without rows of a group is NaN for non-count functions.
	got, err = s.Stats(ctx, 1, Query{Start: base, End: base.Add(20 * time.Minute)}, StatsQuery{Step: time.Minute, Func: "avg", Field: "dur"})
	if err != nil {
		t.Fatal(err)
	}
	if p := got[0].Points; !math.IsNaN(p[len(p)-1].Value) {
		t.Fatalf("empty bucket avg = %v", p[len(p)-1].Value)
	}
	// avg over a non-numeric field is NaN rather than an error.
	got, err = s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: "avg", Field: "level"})
	if err != nil || !math.IsNaN(got[0].Points[0].Value) {
		t.Fatalf("avg(level) = %+v, %v", got, err)
	}
	got, err = s.Stats(ctx, 2, q, StatsQuery{Step: time.Minute, Func: "count", By: []string{"level"}})
	if err != nil || len(got) != 1 || got[0].Rows != 1 {
		t.Fatalf("project 2: %+v %v", got, err)
	}
}

func TestAggregationBadInput(t *testing.T) {
	s, base := statsFixture(t)
	ctx := context.Background()
	q := Query{Start: base, End: base.Add(10 * time.Minute)}
	hostile := []string{"", "a b", `level" | delete _msg`, "x|y", "#n", "_time", "_stream", FieldSeq, "a\"b", "é", string(make([]byte, 200))}
	for _, f := range hostile {
		if _, _, err := s.TopValues(ctx, 1, q, f, 5); !errors.Is(err, ErrBadQuery) {
			t.Errorf("TopValues(%q): %v", f, err)
		}
		if _, err := s.HistogramBy(ctx, 1, q, time.Minute, f, 5); !errors.Is(err, ErrBadQuery) {
			t.Errorf("HistogramBy(%q): %v", f, err)
		}
		if _, err := s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: "avg", Field: f}); !errors.Is(err, ErrBadQuery) {
			t.Errorf("Stats field %q: %v", f, err)
		}
		if _, err := s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: "count", By: []string{f}}); !errors.Is(err, ErrBadQuery) {
			t.Errorf("Stats by %q: %v", f, err)
		}
	}
	bad := []struct {
		name string
		run  func() error
	}{
		{"zero step", func() error { _, err := s.Histogram(ctx, 1, q, 0); return err }},
		{"too many buckets", func() error { _, err := s.Histogram(ctx, 1, q, time.Millisecond); return err }},
		{"start after end", func() error {
			_, err := s.Histogram(ctx, 1, Query{Start: q.End, End: q.Start}, time.Minute)
			return err
		}},
		{"bad filter", func() error {
			_, err := s.Histogram(ctx, 1, Query{Filters: []Filter{{Field: "_time", Op: "=", Value: "x"}}}, time.Minute)
			return err
		}},
		{"top zero", func() error { _, err := s.HistogramBy(ctx, 1, q, time.Minute, "level", 0); return err }},
		{"n zero", func() error { _, _, err := s.TopValues(ctx, 1, q, "level", 0); return err }},
		{"n huge", func() error { _, _, err := s.TopValues(ctx, 1, q, "level", MaxTopValues+1); return err }},
		{"unknown fn", func() error {
			_, err := s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: "median", Field: "dur"})
			return err
		}},
		{"fn without field", func() error {
			_, err := s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: "sum"})
			return err
		}},
		{"too many by", func() error {
			_, err := s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: "count", By: []string{"a", "b", "c", "d"}})
			return err
		}},
		{"by twice", func() error {
			_, err := s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: "count", By: []string{"a", "a"}})
			return err
		}},
		{"oldest with cursor", func() error { _, err := s.SearchOldest(ctx, 1, Query{Cursor: "x"}); return err }},
	}
	for _, c := range bad {
		if err := c.run(); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%s: %v, want ErrBadQuery", c.name, err)
		}
	}
	if _, err := s.Histogram(ctx, -1, q, time.Minute); err == nil {
		t.Error("negative project accepted")
	}
}

func TestAggregationBudgetAndClose(t *testing.T) {
	s, base := statsFixture(t)
	q := Query{Start: base, End: base.Add(10 * time.Minute)}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	calls := map[string]func(context.Context) error{
		"Histogram": func(ctx context.Context) error { _, err := s.Histogram(ctx, 1, q, time.Minute); return err },
		"HistogramBy": func(ctx context.Context) error {
			_, err := s.HistogramBy(ctx, 1, q, time.Minute, "level", 3)
			return err
		},
		"TopValues":  func(ctx context.Context) error { _, _, err := s.TopValues(ctx, 1, q, "level", 3); return err },
		"FieldNames": func(ctx context.Context) error { _, err := s.FieldNames(ctx, 1, q); return err },
		"Stats": func(ctx context.Context) error {
			_, err := s.Stats(ctx, 1, q, StatsQuery{Step: time.Minute, Func: "count", By: []string{"level"}})
			return err
		},
	}
	for name, call := range calls {
		if err := call(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s past its deadline: %v", name, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for name, call := range calls {
		if err := call(context.Background()); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
}

func TestSearchOldest(t *testing.T) {
	s := openTest(t, "")
	base := time.Now().Add(-time.Hour)
	var rows []Row
	for i := range 50 {
		rows = append(rows, row(base.Add(time.Duration(i)*time.Minute), "log", "m"+strconv.Itoa(i), "agent.id", "a1"))
	}
	// Three rows at one instant keep insertion order.
	tie := base.Add(90 * time.Second)
	rows = append(rows, row(tie, "log", "tie0", "agent.id", "a1"), row(tie, "log", "tie1", "agent.id", "a1"), row(tie, "log", "tie2", "agent.id", "a1"))
	mustAdd(t, s, 1, rows...)
	mustAdd(t, s, 2, row(base.Add(30*time.Second), "log", "other tenant", "agent.id", "a1"))
	s.Flush()
	res, err := s.SearchOldest(context.Background(), 1, Query{Start: base.Add(time.Second), End: time.Now(), Limit: 5, Filters: []Filter{{Field: "agent.id", Op: "=", Value: "a1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := msgs(res), []string{"m1", "tie0", "tie1", "tie2", "m2"}; !slices.Equal(got, want) {
		t.Fatalf("oldest first = %q, want %q", got, want)
	}
	if res.NextCursor != "" || res.Partial {
		t.Fatalf("cursor/partial: %+v", res)
	}
	if _, ok := res.Records[0][FieldSeq]; ok {
		t.Fatal("seq leaked")
	}
	// The whole range, when it holds fewer rows than the limit, comes back.
	res, err = s.SearchOldest(context.Background(), 1, Query{Start: base.Add(-time.Minute), End: time.Now(), Limit: 1000})
	if err != nil || len(res.Records) != 53 {
		t.Fatalf("%d records, %v", len(res.Records), err)
	}
	res, err = s.SearchOldest(context.Background(), 2, Query{Start: base.Add(-time.Minute), End: time.Now()})
	if err != nil || !slices.Equal(msgs(res), []string{"other tenant"}) {
		t.Fatalf("project 2: %q %v", msgs(res), err)
	}
}
