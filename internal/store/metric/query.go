package metric

import (
	"context"
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
)

// Queryable returns a view of the store limited to project. Every selection
// gets the matcher osprey_project="<project>" added, so a query can only ever
// read its own project's series whatever its matchers say, and the label is
// removed from everything returned: it is an implementation detail of
// tenancy, not data.
func (s *Store) Queryable(project int64) storage.Queryable {
	return scopedQueryable{db: s, project: project}
}

type scopedQueryable struct {
	db      *Store
	project int64
}

func (q scopedQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	inner, err := q.db.db.Querier(mint, maxt)
	if err != nil {
		return nil, fmt.Errorf("metric store: querier for project %d: %w", q.project, err)
	}
	return &scopedQuerier{
		inner:   inner,
		matcher: labels.MustNewMatcher(labels.MatchEqual, ProjectLabel, projectString(q.project)),
	}, nil
}

type scopedQuerier struct {
	inner   storage.Querier
	matcher *labels.Matcher
}

// scope returns ms restricted to the project. The caller's own matchers on
// the project label are judged as if the label did not exist (it is invisible
// to queries): one that matches the empty value is dropped, any other makes
// the selection empty (ok=false).
func (q *scopedQuerier) scope(ms []*labels.Matcher) (_ []*labels.Matcher, ok bool) {
	out := make([]*labels.Matcher, 0, len(ms)+1)
	out = append(out, q.matcher)
	for _, m := range ms {
		if m.Name == ProjectLabel {
			if !m.Matches("") {
				return nil, false
			}
			continue
		}
		out = append(out, m)
	}
	return out, true
}

func (q *scopedQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	// Removing the project label can change the order of label sets (it is
	// not always at the same position), so sorted callers get a re-sorted set.
	scoped, ok := q.scope(ms)
	if !ok {
		return storage.EmptySeriesSet()
	}
	set := q.inner.Select(ctx, sortSeries, hints, scoped...)
	if !sortSeries {
		return &strippedSet{SeriesSet: set}
	}
	return sortedStripped(set)
}

func (q *scopedQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	scoped, ok := q.scope(ms)
	if name == ProjectLabel || !ok {
		return nil, nil, nil
	}
	return q.inner.LabelValues(ctx, name, hints, scoped...)
}

func (q *scopedQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	// The inner limit would count the hidden label; ask for one more.
	var h *storage.LabelHints
	if hints != nil {
		hc := *hints
		if hc.Limit > 0 {
			hc.Limit++
		}
		h = &hc
	}
	scoped, ok := q.scope(ms)
	if !ok {
		return nil, nil, nil
	}
	names, ws, err := q.inner.LabelNames(ctx, h, scoped...)
	if err != nil {
		return nil, ws, err
	}
	names = slices.DeleteFunc(names, func(n string) bool { return n == ProjectLabel })
	if hints != nil && hints.Limit > 0 && len(names) > hints.Limit {
		names = names[:hints.Limit]
	}
	return names, ws, nil
}

func (q *scopedQuerier) Close() error { return q.inner.Close() }

type strippedSet struct {
	storage.SeriesSet
}

func (s *strippedSet) At() storage.Series { return strip(s.SeriesSet.At()) }

// strippedSeries is a series with the project label removed from its labels;
// samples are read from the wrapped series unchanged.
type strippedSeries struct {
	storage.Series
	lset labels.Labels
}

func (s strippedSeries) Labels() labels.Labels { return s.lset }

func strip(s storage.Series) storage.Series {
	return strippedSeries{Series: s, lset: labels.NewBuilder(s.Labels()).Del(ProjectLabel).Labels()}
}

// sortedStripped drains set, strips the project label and sorts by the
// resulting label sets.
func sortedStripped(set storage.SeriesSet) storage.SeriesSet {
	var series []storage.Series
	for set.Next() {
		series = append(series, strip(set.At()))
	}
	if err := set.Err(); err != nil {
		return storage.ErrSeriesSet(err)
	}
	slices.SortFunc(series, func(a, b storage.Series) int {
		return labels.Compare(a.Labels(), b.Labels())
	})
	return &sliceSet{series: series, ws: set.Warnings()}
}

type sliceSet struct {
	series []storage.Series
	i      int
	ws     annotations.Annotations
}

func (s *sliceSet) Next() bool {
	if s.i >= len(s.series) {
		return false
	}
	s.i++
	return true
}
func (s *sliceSet) At() storage.Series                { return s.series[s.i-1] }
func (s *sliceSet) Err() error                        { return nil }
func (s *sliceSet) Warnings() annotations.Annotations { return s.ws }
