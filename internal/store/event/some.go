package event

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Some returns up to q.Limit records matching q in no particular order
// (q.Cursor must be empty). The engine stops as soon as it has them, so a
// lookup that wants any matching row (the row of an id, or a field all
// rows of a group share) costs no sort of the range, where Search sorts
// each window it reads. Records are as Search's.
func (s *Store) Some(ctx context.Context, project int64, q Query) ([]Record, error) {
	if q.Cursor != "" {
		return nil, fmt.Errorf("some events: %w", badQuery("cursor is not supported"))
	}
	tenant, err := tenantFor(project)
	if err != nil {
		return nil, fmt.Errorf("some events: %w", err)
	}
	n, err := s.normalize(q, time.Now())
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.withBudget(ctx)
	defer cancel()
	var b strings.Builder
	b.WriteString("| limit " + strconv.Itoa(n.limit))
	if n.fields != nil {
		b.WriteString(" | fields " + quote(FieldTime))
		for _, f := range n.fields {
			if f != FieldTime {
				b.WriteString(", " + quote(f))
			}
		}
	}
	rows, err := s.aggregateMax(ctx, tenant, n, "", b.String(), n.limit)
	if err != nil {
		return nil, fmt.Errorf("some events: %w", err)
	}
	recs := make([]Record, len(rows))
	for i, r := range rows {
		rec := make(Record, len(r))
		for k, v := range r {
			if v != "" {
				rec[k] = v
			}
		}
		recs[i] = rec
	}
	s.stripHidden(recs, n.fields)
	return recs, nil
}
