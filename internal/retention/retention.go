// Package retention keeps log categories for less time than the event
// store keeps everything: a rule says "category debug: 3 days", and a
// background job asks the store to delete that category's older rows.
package retention

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/osprey-monitoring/osprey/internal/api/objects"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

// ObjKind is the metadata object kind of retention rules.
const ObjKind = "log_retention"

// Rule keeps a log category for Days days.
type Rule struct {
	ID       int64  `json:"id"`
	Category string `json:"category"`
	Days     int    `json:"days"`
}

// Normalize checks the rule against the store's own retention, which no
// rule can extend.
func (r *Rule) Normalize(max time.Duration) error {
	var errs []error
	r.Category = strings.TrimSpace(r.Category)
	if r.Category == "" {
		errs = append(errs, errors.New("category is empty"))
	}
	if r.Days < 1 {
		errs = append(errs, fmt.Errorf("days %d: want at least 1", r.Days))
	}
	if max > 0 && time.Duration(r.Days)*24*time.Hour > max {
		errs = append(errs, fmt.Errorf("days %d: events are kept %s in all (server flag --retention-events), a category cannot be kept longer", r.Days, max))
	}
	return errors.Join(errs...)
}

// Routes serves the rules' CRUD under base (e.g. /api/v1/logs/retention).
func Routes(mux *http.ServeMux, base string, m *meta.Store, max time.Duration) {
	objects.API[Rule]{Meta: m, Kind: ObjKind, What: "log retention rule",
		Check: func(r *Rule) error { return r.Normalize(max) },
		SetID: func(r *Rule, id int64, _ time.Time) { r.ID = id }}.Routes(mux, base)
}

// Enforcer runs the deletions.
type Enforcer struct {
	Meta     *meta.Store
	Events   *event.Store
	Interval time.Duration // default 1 h
	Logger   *slog.Logger
}

// Run enforces every rule a minute after start and then every Interval.
func (e Enforcer) Run(ctx context.Context) {
	if e.Interval <= 0 {
		e.Interval = time.Hour
	}
	t := time.NewTimer(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := e.Once(ctx, time.Now()); err != nil && ctx.Err() == nil {
			e.Logger.Error("log retention", "err", err)
		}
		t.Reset(e.Interval)
	}
}

// Once starts the deletion of every category's rows older than its rule.
func (e Enforcer) Once(ctx context.Context, now time.Time) error {
	objs, err := e.Meta.Objects(ctx, 0, ObjKind)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range objs {
		var r Rule
		if err := json.Unmarshal(o.Body, &r); err != nil {
			errs = append(errs, fmt.Errorf("retention rule %d: %w", o.ID, err))
			continue
		}
		before := now.Add(-time.Duration(r.Days) * 24 * time.Hour)
		q := event.Query{Type: "log", Filters: []event.Filter{{Field: "category", Op: "=", Value: r.Category}}}
		if err := e.Events.DeleteOlder(ctx, o.Project, q, before); err != nil {
			errs = append(errs, fmt.Errorf("category %q of project %d: %w", r.Category, o.Project, err))
		}
	}
	return errors.Join(errs...)
}
