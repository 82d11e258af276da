package logtail

import (
	"testing"
	"time"
)

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, path string
		want          bool
	}{
		{"/var/log/*.log", "/var/log/syslog.log", true},
		{"/var/log/*.log", "/var/log/nginx/access.log", false},
		{"/var/log/**/*.log", "/var/log/a.log", true},
		{"/var/log/**/*.log", "/var/log/nginx/x/access.log", true},
		{"/var/log/**", "/var/log/nginx/access.log", true},
		{"/srv/**/logs/*.log", "/srv/a/b/logs/app.log", true},
		{"/srv/**/logs/*.log", "/srv/a/b/app.log", false},
		{"/var/log/app-?.log", "/var/log/app-1.log", true},
		{"/var/log/[ab].log", "/var/log/c.log", false},
	} {
		if got := matchGlob(tc.pattern, tc.path); got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %v", tc.pattern, tc.path, got)
		}
	}
	if !excluded([]string{"*.gz"}, "/var/log/a.log.gz") || excluded([]string{"/tmp/*.log"}, "/var/log/a.log") || !excluded([]string{"/var/**/debug/*"}, "/var/log/debug/x.log") {
		t.Error("excluded")
	}
}

func TestRotationNames(t *testing.T) {
	for s, want := range map[string]bool{
		".1": true, "-1": true, "_12": true, "-20261124": true, ".2026-11-24": true, "-20261124-1700000000": true,
		"": false, ".": false, ".old": false, ".bak": false, "x1": false, ".1a": false,
	} {
		if got := isRotationSuffix(s); got != want {
			t.Errorf("isRotationSuffix(%q) = %v", s, got)
		}
	}
	now := time.Now()
	sib := func(name string, age time.Duration) sibling { return sibling{name: name, mod: now.Add(-age)} }
	for _, tc := range []struct {
		a, b sibling
		want bool // a older than b
	}{
		{sib("app.log.2", 0), sib("app.log.1", time.Hour), true}, // numbers beat times
		{sib("app.log.1", 0), sib("app.log.10", 0), false},
		{sib("app.log-20261123", 0), sib("app.log-20261124", time.Hour), true},
		{sib("app.log.1", time.Hour), sib("app.log-20261124", 0), true}, // mixed: by time
	} {
		if got := rotatedOlder("app.log", tc.a, tc.b); got != tc.want {
			t.Errorf("rotatedOlder(%s, %s) = %v", tc.a.name, tc.b.name, got)
		}
	}
}
