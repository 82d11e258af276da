package receiver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/meta"
)

type fakeKeys map[string]meta.Project

// A fake is fine here: what is tested is the cache's own logic; the
// metadata store's key lookup is tested against SQLite in package meta.
func (f fakeKeys) ProjectByKey(_ context.Context, key string) (meta.Project, error) {
	if p, ok := f[key]; ok {
		return p, nil
	}
	return meta.Project{}, meta.ErrNotFound
}

func TestKeyCacheForgetsRotatedKeys(t *testing.T) {
	keys := fakeKeys{"k1": {ID: 1, Name: "a"}}
	c := NewKeyCache(keys, 50*time.Millisecond)
	ctx := context.Background()
	if p, err := c.Resolve(ctx, "k1"); err != nil || p.ID != 1 {
		t.Fatalf("k1: %v %v", p, err)
	}
	for _, k := range []string{"", "nope"} {
		if _, err := c.Resolve(ctx, k); !errors.Is(err, ErrBadKey) {
			t.Errorf("key %q: %v, want ErrBadKey", k, err)
		}
	}
	delete(keys, "k1") // rotated away
	if _, err := c.Resolve(ctx, "k1"); err != nil {
		t.Errorf("within the TTL the cached key still works: %v", err)
	}
	time.Sleep(60 * time.Millisecond)
	if _, err := c.Resolve(ctx, "k1"); !errors.Is(err, ErrBadKey) {
		t.Errorf("rotated key after the TTL: %v, want ErrBadKey", err)
	}
}

func TestLimiterIsPerProject(t *testing.T) {
	l := NewLimiter(1, 3)
	for i := 0; i < 3; i++ {
		if !l.Allow(1) {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	if l.Allow(1) {
		t.Error("request past the burst allowed")
	}
	if !l.Allow(2) {
		t.Error("another project was limited by project 1's traffic")
	}
	if !NewLimiter(0, 0).Allow(1) {
		t.Error("rate 0 must mean unlimited")
	}
}

func TestKeyFromHeader(t *testing.T) {
	tests := []struct{ authz, alt, want string }{
		{"Bearer abc", "", "abc"},
		{"bearer  abc ", "", "abc"},
		{"", "abc", "abc"},
		{"Basic Zm9v", "", ""},
		{"Bearer abc", "other", "abc"},
	}
	for _, tc := range tests {
		if got := keyFromHeader(tc.authz, tc.alt); got != tc.want {
			t.Errorf("keyFromHeader(%q, %q) = %q, want %q", tc.authz, tc.alt, got, tc.want)
		}
	}
}
