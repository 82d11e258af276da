package event

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
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
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.opts.SearchTimeout)
		defer cancel()
	}
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
		recs, rows, err := s.runWindowOldest(ctx, tenant, n.filter, lo, hi, n.limit-len(res.Records), n.fields)
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

// runWindowOldest is runWindow in ascending order.
func (s *Store) runWindowOldest(ctx context.Context, tenant logstorage.TenantID, filter string, lo, hi int64, limit int, fields []string) (recs []Record, scanned uint64, err error) {
	var b strings.Builder
	b.WriteString(filter)
	b.WriteString(" | sort by (_time, ")
	b.WriteString(quote(FieldSeq))
	b.WriteString(") limit ")
	b.WriteString(strconv.Itoa(limit))
	if fields != nil {
		b.WriteString(" | fields _time, ")
		b.WriteString(quote(FieldSeq))
		for _, f := range fields {
			if f == FieldTime || f == FieldSeq {
				continue
			}
			b.WriteString(", ")
			b.WriteString(quote(f))
		}
	}
	q, err := logstorage.ParseQueryAtTimestamp(b.String(), hi)
	if err != nil {
		return nil, 0, fmt.Errorf("build LogsQL query: %w", err)
	}
	q.AddTimeFilter(lo, hi)

	var mu sync.Mutex
	var qs logstorage.QueryStats
	err = func() (err error) {
		defer recoverAsError(&err, "run event query")
		qctx := logstorage.NewQueryContext(ctx, &qs, []logstorage.TenantID{tenant}, q, false, nil)
		return s.st.RunQuery(qctx, func(_ uint, db *logstorage.DataBlock) {
			cols := db.GetColumns(false)
			rows := db.RowsCount()
			mu.Lock()
			defer mu.Unlock()
			for i := 0; i < rows; i++ {
				r := make(Record, len(cols))
				for _, c := range cols {
					if v := c.Values[i]; v != "" {
						r[c.Name] = strings.Clone(v)
					}
				}
				recs = append(recs, r)
			}
		})
	}()
	scanned = qs.RowsProcessed
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, scanned, err
	}
	slices.SortFunc(recs, func(a, b Record) int {
		if ta, tb := recordTs(a), recordTs(b); ta != tb {
			if ta < tb {
				return -1
			}
			return 1
		}
		sa, sb := recordSeq(a), recordSeq(b)
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
	return recs, scanned, nil
}
