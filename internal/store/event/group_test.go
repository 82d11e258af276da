package event

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"
	"time"
)

// groupFixture stores rollup-like rows for project 1: per 5-s window w
// (0..5) from base and instance i (a, b, c), count = 10*w+i+1 and
// sum_ms = 100*(count); instance c has no "zone" field and sum_ms is
// missing in window 5 for every instance.
func groupFixture(t *testing.T) (*Store, time.Time) {
	t.Helper()
	s := openTest(t, "")
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var rows []Row
	for w := range 6 {
		for i, inst := range []string{"a", "b", "c"} {
			n := 10*w + i + 1
			kv := []string{"app", "shop", "instance", inst, "count", strconv.Itoa(n)}
			if w < 5 {
				kv = append(kv, "sum_ms", strconv.Itoa(100*n))
			}
			if inst != "c" {
				kv = append(kv, "zone", "z-"+inst)
			}
			rows = append(rows, row(base.Add(time.Duration(w)*5*time.Second), "apmroll", "", kv...))
		}
	}
	mustAdd(t, s, 1, rows...)
	mustAdd(t, s, 2, row(base, "apmroll", "", "app", "other", "instance", "x", "count", "1000"))
	s.Flush()
	return s, base
}

func TestGroup(t *testing.T) {
	s, base := groupFixture(t)
	ctx := context.Background()
	q := Query{Start: base, End: base.Add(time.Minute), Type: "apmroll"}

	t.Run("by step and instance", func(t *testing.T) {
		got, err := s.Group(ctx, 1, q, GroupQuery{Step: 10 * time.Second, By: []string{"instance"},
			Aggs: []Agg{{Name: "n", Func: "sum", Field: "count"}, {Name: "rows", Func: "count"}, {Name: "zone", Func: "any", Field: "zone"}}})
		if err != nil {
			t.Fatal(err)
		}
		// 3 ten-second buckets × 3 instances, by time then instance.
		if len(got) != 9 {
			t.Fatalf("%d groups, want 9: %+v", len(got), got)
		}
		for k, g := range got {
			b, i := k/3, k%3
			if !g.Time.Equal(base.Add(time.Duration(b) * 10 * time.Second)) {
				t.Errorf("group %d at %s", k, g.Time)
			}
			if want := []string{"a", "b", "c"}[i]; g.Keys[0] != want {
				t.Errorf("group %d instance %q, want %q", k, g.Keys[0], want)
			}
			// windows 2b and 2b+1: (20b+i+1) + (20b+10+i+1)
			if want := float64(40*b + 2*i + 12); g.Float("n") != want {
				t.Errorf("group %d sum %v, want %v", k, g.Float("n"), want)
			}
			if g.Float("rows") != 2 {
				t.Errorf("group %d rows %v", k, g.Float("rows"))
			}
			if want := map[int]string{0: "z-a", 1: "z-b", 2: ""}[i]; g.Values["zone"] != want {
				t.Errorf("group %d zone %q, want %q", k, g.Values["zone"], want)
			}
		}
	})

	t.Run("top by ratio", func(t *testing.T) {
		got, err := s.Group(ctx, 1, q, GroupQuery{By: []string{"zone"},
			Aggs:   []Agg{{Name: "n", Func: "sum", Field: "count"}, {Name: "sum_ms", Func: "sum", Field: "sum_ms"}},
			Ratios: []Ratio{{Name: "avg", Num: "sum_ms", Den: "n"}}, Rank: "n", Top: 2})
		if err != nil {
			t.Fatal(err)
		}
		// Sums over all windows: a 1+11+…+51 = 156, b 162, c ("") 168.
		if len(got) != 2 || got[0].Keys[0] != "" || got[1].Keys[0] != "z-b" || got[0].Float("n") != 168 || got[1].Float("n") != 162 {
			t.Fatalf("top 2 = %+v", got)
		}
		// sum_ms lacks window 5 (n = 53 for c): 100*(168-53)/168.
		if want := 100 * float64(168-53) / 168; math.Abs(got[0].Float("avg")-want) > 1e-9 {
			t.Errorf("avg %v, want %v", got[0].Float("avg"), want)
		}
	})

	t.Run("whole range, missing field", func(t *testing.T) {
		q := q
		q.Start = base.Add(25 * time.Second) // window 5 only
		got, err := s.Group(ctx, 1, q, GroupQuery{Aggs: []Agg{{Name: "ms", Func: "sum", Field: "sum_ms"}, {Name: "max", Func: "max", Field: "count"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !math.IsNaN(got[0].Float("ms")) || got[0].Float("max") != 53 || len(got[0].Keys) != 0 {
			t.Fatalf("got %+v", got)
		}
	})

	t.Run("newest row", func(t *testing.T) {
		got, err := s.Group(ctx, 1, q, GroupQuery{By: []string{"instance"}, Aggs: []Agg{{Name: "last", Func: "max", Field: FieldTime}, {Name: "first", Func: "min", Field: FieldTime}}})
		if err != nil || len(got) != 3 {
			t.Fatalf("got %+v, %v", got, err)
		}
		last, err := time.Parse(time.RFC3339Nano, got[1].Values["last"])
		if err != nil || !last.Equal(base.Add(25*time.Second)) || got[1].Values["first"] != base.UTC().Format(time.RFC3339Nano) {
			t.Errorf("b: first %s, last %s (%v)", got[1].Values["first"], got[1].Values["last"], err)
		}
	})

	t.Run("max groups", func(t *testing.T) {
		_, err := s.Group(ctx, 1, q, GroupQuery{Step: 5 * time.Second, By: []string{"instance"}, Aggs: []Agg{{Name: "n", Func: "count"}}, MaxGroups: 10})
		if !errors.Is(err, ErrBadQuery) {
			t.Fatalf("18 groups over a bound of 10: err %v, want ErrBadQuery", err)
		}
	})

	t.Run("tenancy", func(t *testing.T) {
		got, err := s.Group(ctx, 2, q, GroupQuery{Aggs: []Agg{{Name: "n", Func: "sum", Field: "count"}}})
		if err != nil || len(got) != 1 || got[0].Float("n") != 1000 {
			t.Fatalf("project 2: %+v, %v", got, err)
		}
	})
}

func TestGroupBadInput(t *testing.T) {
	s, base := groupFixture(t)
	q := Query{Start: base, End: base.Add(time.Minute)}
	for name, gq := range map[string]GroupQuery{
		"no aggregate":     {},
		"bad func":         {Aggs: []Agg{{Name: "x", Func: "median", Field: "count"}}},
		"bad name":         {Aggs: []Agg{{Name: `x") | delete`, Func: "count"}}},
		"twice":            {Aggs: []Agg{{Name: "x", Func: "count"}, {Name: "x", Func: "count"}}},
		"hostile field":    {Aggs: []Agg{{Name: "x", Func: "sum", Field: `a") | drop`}}},
		"hostile by":       {By: []string{"a b"}, Aggs: []Agg{{Name: "x", Func: "count"}}},
		"rank unknown":     {Aggs: []Agg{{Name: "x", Func: "count"}}, Top: 3, Rank: "y"},
		"ratio unknown":    {Aggs: []Agg{{Name: "x", Func: "count"}}, Ratios: []Ratio{{Name: "r", Num: "x", Den: "z"}}},
		"tiny step":        {Step: time.Millisecond, Aggs: []Agg{{Name: "x", Func: "count"}}},
		"negative top":     {Aggs: []Agg{{Name: "x", Func: "count"}}, Top: -1},
		"time as by field": {By: []string{"_time"}, Aggs: []Agg{{Name: "x", Func: "count"}}},
	} {
		if _, err := s.Group(context.Background(), 1, q, gq); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%s: err %v, want ErrBadQuery", name, err)
		}
	}
}

func TestRangeFilter(t *testing.T) {
	s := openTest(t, "")
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var rows []Row
	for i, v := range []string{"0", "124.999", "125", "249.5", "250", "5000", "abc", "-3"} {
		rows = append(rows, row(base.Add(time.Duration(i)*time.Second), "span", v, "duration_ms", v))
	}
	rows = append(rows, row(base, "span", "none"))
	mustAdd(t, s, 1, rows...)
	s.Flush()
	for _, tc := range []struct {
		r    Range
		want int
	}{
		{Range{Field: "duration_ms", Min: 125, Max: 250}, 2}, // 125, 249.5
		{Range{Field: "duration_ms", Min: 0, Max: 125}, 2},   // 0, 124.999
		{Range{Field: "duration_ms", Min: 250, Max: math.Inf(1)}, 2},
		{Range{Field: "duration_ms", Min: math.Inf(-1), Max: 0}, 1},
	} {
		res := search(t, s, 1, Query{Start: base.Add(-time.Minute), End: base.Add(time.Minute), Ranges: []Range{tc.r}, Limit: 100})
		if len(res.Records) != tc.want {
			t.Errorf("%+v: %v, want %d rows", tc.r, msgs(res), tc.want)
		}
	}
	for _, r := range []Range{
		{Field: "duration_ms", Min: 5, Max: 5}, {Field: "duration_ms", Min: math.NaN(), Max: 1},
		{Field: "duration_ms", Min: math.Inf(-1), Max: math.Inf(1)}, {Field: "_time", Min: 0, Max: 1}, {Min: 0, Max: 1},
	} {
		if _, err := s.Search(context.Background(), 1, Query{Ranges: []Range{r}}); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%+v: err %v, want ErrBadQuery", r, err)
		}
	}
}

func TestSome(t *testing.T) {
	s, base := groupFixture(t)
	ctx := context.Background()
	q := Query{Start: base, End: base.Add(time.Minute), Type: "apmroll", Filters: []Filter{{Field: "instance", Op: "=", Value: "b"}}}
	q.Limit = 4
	got, err := s.Some(ctx, 1, q)
	if err != nil || len(got) != 4 {
		t.Fatalf("some: %d records, %v", len(got), err)
	}
	for _, r := range got {
		if r["instance"] != "b" || r["app"] != "shop" || r[FieldTime] == "" || r[FieldSeq] != "" || r["_stream"] != "" {
			t.Errorf("record %v", r)
		}
	}
	q.Limit, q.Fields = 100, []string{"zone"}
	got, err = s.Some(ctx, 1, q)
	if err != nil || len(got) != 6 {
		t.Fatalf("some: %d records, %v", len(got), err)
	}
	if r := got[0]; len(r) != 2 || r["zone"] != "z-b" || r[FieldTime] == "" {
		t.Errorf("fields: record %v", r)
	}
	if _, err := s.Some(ctx, 1, Query{Cursor: "1.1"}); !errors.Is(err, ErrBadQuery) {
		t.Errorf("cursor: err %v", err)
	}
	if got, err := s.Some(ctx, 2, Query{Start: base, End: base.Add(time.Minute), Limit: 10}); err != nil || len(got) != 1 {
		t.Errorf("project 2: %v, %v", got, err)
	}
}

// TestSomeKeepsNames reads rows of several streams, with fields of their
// own, more than once: the engine reuses the memory of the column names
// it passes through, which the records must not share.
func TestSomeKeepsNames(t *testing.T) {
	s := openTest(t, "")
	base := time.Now().Add(-time.Hour).Truncate(time.Minute)
	var rows []Row
	for i := range 9 {
		svc := []string{"shop", "pay", "notify"}[i%3]
		rows = append(rows, row(base.Add(time.Duration(i)*time.Millisecond), "span", "s",
			"service.name", svc, "app", svc, "span_id", strconv.Itoa(i), "only."+svc, "x", "n", strconv.Itoa(i)))
	}
	mustAdd(t, s, 1, rows...)
	s.Flush()
	for range 5 {
		got, err := s.Some(context.Background(), 1, Query{Start: base, End: base.Add(time.Second), Limit: 100})
		if err != nil || len(got) != 9 {
			t.Fatalf("some: %d records, %v", len(got), err)
		}
		for _, r := range got {
			if r["app"] == "" || r["span_id"] != r["n"] || r["only."+r["app"]] != "x" {
				t.Fatalf("record %v", r)
			}
		}
	}
}
