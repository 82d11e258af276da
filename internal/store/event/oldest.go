package event

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SearchOldest returns the oldest records matching q, oldest first (ties in
// insertion order): what follows a moment, for log context. It walks the
// range forwards in growing windows, as Search walks it backwards, with the
// same time and row budgets. Cursors are not supported (q.Cursor must be
// empty and NextCursor is never set): callers wanting more start again
// after the last record's time.
func (s *Store) SearchOldest(ctx context.Context, project int64, q Query) (res Result, err error) {
	tenant, err := tenantFor(project)
	if err != nil {
		return res, fmt.Errorf("search oldest events: %w", err)
	}
	if q.Cursor != "" {
		return res, fmt.Errorf("search oldest events: %w", badQuery("cursor is not supported when searching oldest first"))
	}
	n, err := s.normalize(q, time.Now())
	if err != nil {
		return res, err
	}
	ctx, cancel := s.withBudget(ctx)
	defer cancel()
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return res, fmt.Errorf("search oldest events: %w", ErrClosed)
	}

	res.Records = make([]Record, 0, min(n.limit, 256))
	var scanned uint64
	lo := n.start
	w := int64(firstWindow)
	windows := 0
	for lo <= n.end && len(res.Records) < n.limit {
		hi := min(n.end, lo+w-1)
		if lo+w-1 < lo { // overflow guard for huge windows
			hi = n.end
		}
		if windows > 0 && scanned >= s.opts.MaxScanRows {
			res.Partial = true
			res.Reason = fmt.Sprintf("row budget of %d scanned rows exhausted", s.opts.MaxScanRows)
			break
		}
		windows++
		recs, rows, err := s.runWindow(ctx, tenant, n.filter, lo, hi, n.limit-len(res.Records), n.fields, true)
		scanned += rows
		if err != nil {
			if ctx.Err() == nil || errors.Is(err, errEnginePanic) {
				return Result{}, fmt.Errorf("search oldest events: %w", err)
			}
			res.Partial = true
			res.Reason = "time budget exceeded"
			if errors.Is(ctx.Err(), context.Canceled) {
				res.Reason = "search canceled"
			}
			break
		}
		res.Records = append(res.Records, recs...)
		lo = hi + 1
		if w < int64(365*24*time.Hour) {
			w *= windowGrowth
		}
	}
	if len(res.Records) > n.limit {
		res.Records = res.Records[:n.limit]
	}
	s.stripHidden(res.Records, n.fields)
	return res, nil
}
