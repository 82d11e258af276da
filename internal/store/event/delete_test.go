package event

import (
	"context"
	"testing"
	"time"
)

func TestDeleteOlderByCategory(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx := context.Background()
	now := time.Now()
	var rows []Row
	for i := 0; i < 100; i++ {
		for _, c := range []string{"debug", "access"} {
			for _, age := range []time.Duration{3 * time.Hour, time.Minute} {
				rows = append(rows, Row{Time: now.Add(-age).Add(time.Duration(i) * time.Millisecond), Fields: []Field{
					{Name: FieldType, Value: "log"}, {Name: "category", Value: c}, {Name: FieldMsg, Value: "line"}}})
			}
		}
	}
	if _, _, err := s.Add(ctx, 1, rows); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Add(ctx, 2, rows); err != nil {
		t.Fatal(err)
	}
	s.Flush()
	count := func(project int64, cat string, start, end time.Time) uint64 {
		n, err := s.Count(ctx, project, Query{Start: start, End: end, Type: "log", Filters: []Filter{{Field: "category", Op: "=", Value: cat}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.DeleteOlder(ctx, 1, Query{Type: "log", Filters: []Filter{{Field: "category", Op: "=", Value: "debug"}}}, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	old, recent := now.Add(-4*time.Hour), now.Add(-2*time.Hour)
	deadline := time.Now().Add(60 * time.Second)
	for count(1, "debug", old, recent) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("old debug rows still there: %d", count(1, "debug", old, recent))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := count(1, "debug", recent, now); n != 100 {
		t.Errorf("recent debug rows: %d, want 100 kept", n)
	}
	if n := count(1, "access", old, recent); n != 100 {
		t.Errorf("old access rows: %d, want 100 kept (another category)", n)
	}
	if n := count(2, "debug", old, recent); n != 100 {
		t.Errorf("another project's old debug rows: %d, want 100 kept", n)
	}
	if err := s.DeleteOlder(ctx, 1, Query{}, now); err == nil {
		t.Error("a delete without type or filters was accepted")
	}
}
