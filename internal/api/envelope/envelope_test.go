package envelope

import (
	"net/url"
	"strings"
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

func TestParseRange(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		q          url.Values
		start, end time.Time
		err        string
	}{
		{url.Values{}, now.Add(-time.Hour), now, ""},
		{url.Values{"start": {"-15m"}}, now.Add(-15 * time.Minute), now, ""},
		{url.Values{"end": {"-1h"}}, now.Add(-2 * time.Hour), now.Add(-time.Hour), ""},
		{url.Values{"end": {"soon"}}, time.Time{}, time.Time{}, "invalid end"},
		{url.Values{"start": {"soon"}}, time.Time{}, time.Time{}, "invalid start"},
	}
	for _, tc := range tests {
		start, end, err := ParseRange(tc.q, now, time.Hour)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: err %v, want %q", tc.q, err, tc.err)
			}
			continue
		}
		if err != nil || !start.Equal(tc.start) || !end.Equal(tc.end) {
			t.Errorf("%v: %v..%v %v, want %v..%v", tc.q, start, end, err, tc.start, tc.end)
		}
	}
}
