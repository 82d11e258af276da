package event

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/VictoriaMetrics/VictoriaLogs/lib/logstorage"
)

// DeleteOlder starts the deletion of a project's rows that match q's type
// and filters and are older than before (q's time range and text are
// ignored). The engine runs deletions as background tasks that survive
// restarts; rows go once their parts are rewritten. It is how retention
// shorter than the store's (per log category) is enforced.
func (s *Store) DeleteOlder(ctx context.Context, project int64, q Query, before time.Time) error {
	tenant, err := tenantFor(project)
	if err != nil {
		return fmt.Errorf("delete events: %w", err)
	}
	q.Text, q.Cursor, q.Limit, q.Fields = "", "", 0, nil
	q.Start, q.End = time.Unix(0, 0), before
	n, err := s.normalize(q, time.Now())
	if err != nil {
		return err
	}
	if q.Type == "" && len(q.Filters) == 0 {
		return badQuery("refusing to delete every row of a project: give a type or filters")
	}
	expr := n.filter + " _time:<" + before.UTC().Format(time.RFC3339Nano)
	f, err := logstorage.ParseFilter(expr)
	if err != nil {
		return fmt.Errorf("delete events: build filter: %w", err)
	}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return fmt.Errorf("delete events: %w", ErrClosed)
	}
	now := time.Now().UnixNano()
	id := "osprey-" + strconv.FormatInt(project, 10) + "-" + strconv.FormatInt(now, 10)
	err = func() (err error) {
		defer recoverAsError(&err, "run event deletion")
		return s.st.DeleteRunTask(ctx, id, now, []logstorage.TenantID{tenant}, f)
	}()
	if err != nil {
		return fmt.Errorf("delete events: %w", err)
	}
	return nil
}
