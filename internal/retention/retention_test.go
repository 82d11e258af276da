package retention

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/store/event"
)

func TestEnforcerDeletesOnlyTheCategory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := meta.Open(ctx, dir+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, _, _ := m.CreateProject(ctx, "default", "")
	es, err := event.Open(ctx, event.Options{Dir: dir + "/events", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MaxMemoryBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	now := time.Now()
	var rows []event.Row
	for _, c := range []string{"debug", "access"} {
		for _, age := range []time.Duration{48 * time.Hour, time.Hour} {
			rows = append(rows, event.Row{Time: now.Add(-age), Fields: []event.Field{{Name: "type", Value: "log"}, {Name: "category", Value: c}, {Name: "_msg", Value: "x"}}})
		}
	}
	if _, _, err := es.Add(ctx, p.ID, rows); err != nil {
		t.Fatal(err)
	}
	es.Flush()
	r := Rule{Category: "debug", Days: 1}
	if err := r.Normalize(7 * 24 * time.Hour); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	if _, err := m.PutObject(ctx, p.ID, ObjKind, 0, b); err != nil {
		t.Fatal(err)
	}
	e := Enforcer{Meta: m, Events: es, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := e.Once(ctx, now); err != nil {
		t.Fatal(err)
	}
	count := func(cat string) uint64 {
		n, err := es.Count(ctx, p.ID, event.Query{Start: now.Add(-72 * time.Hour), End: now, Type: "log", Filters: []event.Filter{{Field: "category", Op: "=", Value: cat}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	for count("debug") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("debug rows: %d, want the recent one only", count("debug"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := count("access"); n != 2 {
		t.Errorf("access rows: %d, want both kept", n)
	}
}

func TestRuleCannotOutliveTheStore(t *testing.T) {
	r := Rule{Category: "audit", Days: 30}
	if err := r.Normalize(7 * 24 * time.Hour); err == nil || !strings.Contains(err.Error(), "cannot be kept longer") {
		t.Errorf("Normalize: %v", err)
	}
}
