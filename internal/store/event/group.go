package event

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Group aggregates several fields of the matching rows at once, per group
// of field values and optionally per time bucket: what rollup rows
// (counters summed over windows and instances) are read with. It shares
// the rules of the other aggregations (tenant, time budget, quoting).

// GroupFuncs are the functions an Agg may use: count (rows), sum, min,
// max and avg (numbers; min and max also order text, and of _time give
// the oldest and newest row's time in RFC 3339), any (some non-empty
// value, for fields that are equal across a group) and count_uniq
// (distinct non-empty values).
var GroupFuncs = []string{"count", "sum", "min", "max", "avg", "any", "count_uniq"}

// Agg is one aggregate of a GroupQuery: Func over Field, answered under
// Name.
type Agg struct {
	Name  string // letters, digits and _
	Func  string // one of GroupFuncs
	Field string // ignored for count
}

// Ratio is a figure derived from two aggregates of a group, Num / Den
// (say a mean from a sum and a count), so groups can be ranked by it.
type Ratio struct{ Name, Num, Den string }

// GroupQuery says what Group computes.
type GroupQuery struct {
	// Step > 0 also groups by _time buckets of this width, aligned to
	// multiples of Step since the Unix epoch.
	Step   time.Duration
	By     []string // up to MaxGroupBy fields
	Aggs   []Agg
	Ratios []Ratio
	// Top > 0 keeps only the Top groups with the largest Rank (the name
	// of an Agg or a Ratio), ties by the By values.
	Rank string
	Top  int
	// MaxGroups bounds the groups answered: a query with more fails with
	// ErrBadQuery rather than building them all. Default (and at most)
	// 1,000,000.
	MaxGroups int
}

// MaxGroupBy bounds GroupQuery.By.
const MaxGroupBy = 6

// Group is one result group of Group.
type Group struct {
	Time   time.Time         // the bucket start with Step, else zero
	Keys   []string          // the By values in order; "" when rows lacked the field
	Values map[string]string // by Agg or Ratio name, as the engine formats them
}

// Float is the named value as a number; NaN when it is missing or not a
// number (e.g. the sum of a field no row in the group has).
func (g Group) Float(name string) float64 {
	v, ok := g.Values[name]
	if !ok {
		return math.NaN()
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return math.NaN()
	}
	return f
}

var aggName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// col is the result column of an aggregate: '#' keeps it apart from the
// by fields, which validField refuses it in.
func col(name string) string { return quote("#" + name) }

func (gq *GroupQuery) render() (string, error) {
	if len(gq.By) > MaxGroupBy {
		return "", badQuery("at most %d group fields", MaxGroupBy)
	}
	for i, f := range gq.By {
		if err := validField(f); err != nil {
			return "", fmt.Errorf("group by: %w", err)
		}
		if slices.Contains(gq.By[:i], f) {
			return "", badQuery("group field %q given twice", f)
		}
	}
	if len(gq.Aggs) == 0 {
		return "", badQuery("no aggregate to compute")
	}
	names := make(map[string]bool, len(gq.Aggs)+len(gq.Ratios))
	addName := func(n string) error {
		if !aggName.MatchString(n) {
			return badQuery("aggregate name %q: only letters, digits and _ are allowed", n)
		}
		if names[n] {
			return badQuery("aggregate name %q given twice", n)
		}
		names[n] = true
		return nil
	}
	var by []string
	if gq.Step != 0 {
		if gq.Step < 0 {
			return "", badQuery("step must be positive")
		}
		by = append(by, stepExpr(gq.Step))
	}
	for _, f := range gq.By {
		by = append(by, quote(f))
	}
	var b strings.Builder
	b.WriteString("| stats ")
	if len(by) > 0 {
		b.WriteString("by (" + strings.Join(by, ", ") + ") ")
	}
	for i, a := range gq.Aggs {
		if err := addName(a.Name); err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteString(", ")
		}
		switch {
		case a.Func == "count":
			b.WriteString("count()")
		case (a.Func == "min" || a.Func == "max") && a.Field == FieldTime:
			// The newest or oldest row of each group (RFC 3339).
			b.WriteString(a.Func + "(" + FieldTime + ")")
		case slices.Contains(GroupFuncs, a.Func):
			if err := validField(a.Field); err != nil {
				return "", badQuery("%s(%s): %v", a.Func, a.Field, err)
			}
			b.WriteString(a.Func + "(" + quote(a.Field) + ")")
		default:
			return "", badQuery("unknown function %q; want one of %s", a.Func, strings.Join(GroupFuncs, ", "))
		}
		b.WriteString(" as " + col(a.Name))
	}
	for _, r := range gq.Ratios {
		if !names[r.Num] || !names[r.Den] {
			return "", badQuery("ratio %s: %s / %s names no earlier aggregate", r.Name, r.Num, r.Den)
		}
		if err := addName(r.Name); err != nil {
			return "", err
		}
		fmt.Fprintf(&b, " | math (%s / %s) as %s", col(r.Num), col(r.Den), col(r.Name))
	}
	switch {
	case gq.Top < 0:
		return "", badQuery("top must not be negative")
	case gq.Top > 0:
		if !names[gq.Rank] {
			return "", badQuery("rank %q names no aggregate", gq.Rank)
		}
		b.WriteString(" | sort by (" + col(gq.Rank) + " desc")
		for _, f := range by {
			b.WriteString(", " + f)
		}
		b.WriteString(") limit " + strconv.Itoa(gq.Top))
	}
	return b.String(), nil
}

// Group computes gq's aggregates over the rows matching q (Limit, Cursor
// and Fields are ignored), one Group per bucket and combination of By
// values that has rows. Groups come largest Rank first with Top, else by
// time and then By values.
func (s *Store) Group(ctx context.Context, project int64, q Query, gq GroupQuery) ([]Group, error) {
	pipes, err := gq.render()
	if err != nil {
		return nil, fmt.Errorf("event group: %w", err)
	}
	maxRows := gq.MaxGroups
	if maxRows <= 0 || maxRows > maxResultRows {
		maxRows = maxResultRows
	}
	tenant, n, ctx, cancel, err := s.prepare(ctx, project, q)
	defer cancel()
	if err != nil {
		return nil, fmt.Errorf("event group: %w", err)
	}
	if gq.Step > 0 {
		// The same bound as the histograms: a tiny step over a long range
		// is refused before it builds millions of groups.
		if _, _, err := bucketGrid(n.start, n.end, gq.Step); err != nil {
			return nil, fmt.Errorf("event group: %w", err)
		}
	}
	rows, err := s.aggregateMax(ctx, tenant, n, "", pipes, maxRows)
	if err != nil {
		return nil, fmt.Errorf("event group: %w", err)
	}
	out := make([]Group, 0, len(rows))
	for _, r := range rows {
		g := Group{Keys: make([]string, len(gq.By)), Values: make(map[string]string, len(gq.Aggs)+len(gq.Ratios))}
		if gq.Step > 0 {
			t, err := time.Parse(time.RFC3339Nano, r[FieldTime])
			if err != nil {
				return nil, fmt.Errorf("event group: bucket time %q: %w", r[FieldTime], err)
			}
			g.Time = t.UTC()
		}
		for i, f := range gq.By {
			g.Keys[i] = r[f]
		}
		for _, a := range gq.Aggs {
			g.Values[a.Name] = r["#"+a.Name]
		}
		for _, x := range gq.Ratios {
			g.Values[x.Name] = r["#"+x.Name]
		}
		out = append(out, g)
	}
	// Blocks may arrive from several workers; restore the order.
	if gq.Top > 0 {
		slices.SortFunc(out, func(a, b Group) int {
			if c := cmpDesc(a.Float(gq.Rank), b.Float(gq.Rank)); c != 0 {
				return c
			}
			return cmpGroups(a, b)
		})
	} else {
		slices.SortFunc(out, cmpGroups)
	}
	return out, nil
}

// cmpDesc orders numbers largest first, NaN last.
func cmpDesc(a, b float64) int {
	switch an, bn := math.IsNaN(a), math.IsNaN(b); {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	}
	return cmp.Compare(b, a)
}

func cmpGroups(a, b Group) int {
	if c := a.Time.Compare(b.Time); c != 0 {
		return c
	}
	return slices.Compare(a.Keys, b.Keys)
}
