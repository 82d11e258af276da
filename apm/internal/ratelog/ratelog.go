// Package ratelog logs a recurring problem at most once per period, so an
// unreachable server does not flood the application's log.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Limiter remembers when each kind of message was last logged.
type Limiter struct {
	log   *slog.Logger
	every time.Duration

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

// New returns a Limiter that logs each key at most once per every.
func New(log *slog.Logger, every time.Duration) *Limiter {
	return &Limiter{log: log, every: every, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// Log logs msg unless a message with the same key was logged less than
// the period ago; the next one that is logged says how many were skipped.
func (l *Limiter) Log(level slog.Level, key, msg string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	if t, ok := l.last[key]; ok && now.Sub(t) < l.every {
		l.suppressed[key]++
		l.mu.Unlock()
		return
	}
	n := l.suppressed[key]
	l.last[key] = now
	delete(l.suppressed, key)
	l.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
