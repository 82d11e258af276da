package meta

import (
	"context"
	"errors"
	"testing"
)

func TestObjects(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir()+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, _, _ := s.CreateProject(ctx, "a", "")
	b, _, _ := s.CreateProject(ctx, "b", "")
	rev := func(p int64) int64 {
		r, err := s.ObjectsRev(ctx, p, "rule")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if rev(a.ID) != 0 {
		t.Fatal("revision before any object")
	}
	id, err := s.PutObject(ctx, a.ID, "rule", 0, []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutObject(ctx, a.ID, "rule", id, []byte(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	o, err := s.Object(ctx, a.ID, "rule", id)
	if err != nil || string(o.Body) != `{"n":2}` {
		t.Fatalf("object %s %v", o.Body, err)
	}
	// Another project's id, or another kind, is not found.
	if _, err := s.Object(ctx, b.ID, "rule", id); !errors.Is(err, ErrNotFound) {
		t.Errorf("other project: %v", err)
	}
	if _, err := s.PutObject(ctx, b.ID, "rule", id, []byte(`{}`)); !errors.Is(err, ErrNotFound) {
		t.Errorf("replace from another project: %v", err)
	}
	if err := s.DeleteObject(ctx, a.ID, "channel", id); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete as another kind: %v", err)
	}
	before := rev(a.ID)
	if err := s.DeleteObject(ctx, a.ID, "rule", id); err != nil {
		t.Fatal(err)
	}
	if rev(a.ID) <= before || rev(b.ID) != 0 {
		t.Errorf("revisions after delete: a %d (was %d), b %d", rev(a.ID), before, rev(b.ID))
	}
	if all, _ := s.Objects(ctx, 0, "rule"); len(all) != 0 {
		t.Errorf("left after delete: %v", all)
	}

	if err := s.PutAlertState(ctx, a.ID, "1-abc", []byte(`{"id":"1-abc"}`)); err != nil {
		t.Fatal(err)
	}
	st, err := s.AlertStates(ctx)
	if err != nil || len(st[a.ID]) != 1 {
		t.Fatalf("states %v %v", st, err)
	}
	if err := s.PutAlertState(ctx, a.ID, "1-abc", nil); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.AlertStates(ctx); len(st) != 0 {
		t.Errorf("state left after delete: %v", st)
	}
}
