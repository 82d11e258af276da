package event

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestInFilter(t *testing.T) {
	s := openTest(t, "")
	now := time.Now().Add(-time.Minute)
	mustAdd(t, s, 1,
		row(now, "log", "e", "level", "error"), row(now, "log", "w", "level", "warn"),
		row(now, "log", "i", "level", "info"), row(now, "log", "none"),
		row(now, "log", "q", "level", `warn" or "x`))
	s.Flush()
	cases := []struct {
		name string
		in   []In
		want uint64
	}{
		{"one value", []In{{"level", []string{"error"}}}, 1},
		{"two values are or-ed", []In{{"level", []string{"error", "warn"}}}, 2},
		{"empty value is a missing field", []In{{"level", []string{"", "info"}}}, 2},
		{"lists are and-ed", []In{{"level", []string{"error", "warn"}}, {"level", []string{"warn"}}}, 1},
		{"values are quoted", []In{{"level", []string{`warn" or "x`}}}, 1},
	}
	for _, c := range cases {
		n, err := s.Count(context.Background(), 1, Query{In: c.in})
		if err != nil || n != c.want {
			t.Errorf("%s: count %d, %v; want %d", c.name, n, err, c.want)
		}
	}
	for _, bad := range [][]In{{{"level", nil}}, {{"", []string{"x"}}}, {{"_time", []string{"x"}}}} {
		if _, err := s.Count(context.Background(), 1, Query{In: bad}); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
