package envelope

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                     now,
		"now":                  now,
		"-15m":                 now.Add(-15 * time.Minute),
		"now-1h":               now.Add(-time.Hour),
		"-2d":                  now.Add(-48 * time.Hour),
		"1700000000.5":         time.Unix(1700000000, 5e8),
		"2026-01-01T00:00:00Z": time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		got, err := ParseTime(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"+1h", "yesterday", "-1x", "1e20", "NaN"} {
		if _, err := ParseTime(bad, now); err == nil {
			t.Errorf("ParseTime(%q) accepted", bad)
		}
	}
}
