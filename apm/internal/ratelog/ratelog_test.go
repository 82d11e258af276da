package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestOncePerPeriod(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 50*time.Millisecond)
	for range 5 {
		l.Log(slog.LevelWarn, "down", "server down")
	}
	l.Log(slog.LevelWarn, "other", "something else")
	if n := strings.Count(buf.String(), "server down"); n != 1 {
		t.Fatalf("logged %d times:\n%s", n, buf.String())
	}
	time.Sleep(60 * time.Millisecond)
	l.Log(slog.LevelWarn, "down", "server down")
	if !strings.Contains(buf.String(), "suppressed=4") || strings.Count(buf.String(), "something else") != 1 {
		t.Fatalf("log:\n%s", buf.String())
	}
}
