package receiver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/metadata"

	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/wire"
)

// KeyLookup resolves a project access key; meta.Store implements it.
type KeyLookup interface {
	ProjectByKey(ctx context.Context, key string) (meta.Project, error)
}

// KeyCache puts a short-lived cache in front of the metadata database so
// that authenticating every batch costs a map lookup. Rotated keys stop
// working within the positive TTL.
type KeyCache struct {
	lookup  KeyLookup
	ttl     time.Duration
	negTTL  time.Duration
	mu      sync.Mutex
	entries map[string]keyEntry
}

type keyEntry struct {
	project meta.Project
	ok      bool
	expires time.Time
}

func NewKeyCache(l KeyLookup, ttl time.Duration) *KeyCache {
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	return &KeyCache{lookup: l, ttl: ttl, negTTL: 2 * time.Second, entries: map[string]keyEntry{}}
}

// ErrBadKey means the key is missing or belongs to no project.
var ErrBadKey = errors.New("unknown or missing project key")

func (c *KeyCache) Resolve(ctx context.Context, key string) (meta.Project, error) {
	if key == "" {
		return meta.Project{}, ErrBadKey
	}
	h := meta.HashSecret(key)
	now := time.Now()
	c.mu.Lock()
	e, hit := c.entries[h]
	c.mu.Unlock()
	if hit && now.Before(e.expires) {
		if !e.ok {
			return meta.Project{}, ErrBadKey
		}
		return e.project, nil
	}
	p, err := c.lookup.ProjectByKey(ctx, key)
	if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return meta.Project{}, err
	}
	e = keyEntry{project: p, ok: err == nil, expires: now.Add(c.ttl)}
	if !e.ok {
		e.expires = now.Add(c.negTTL)
	}
	c.mu.Lock()
	// Bounded: a flood of random keys must not grow memory.
	if len(c.entries) > 10000 {
		c.entries = map[string]keyEntry{}
	}
	c.entries[h] = e
	c.mu.Unlock()
	if !e.ok {
		return meta.Project{}, ErrBadKey
	}
	return p, nil
}

// keyFromHeader accepts "Bearer KEY" in Authorization, or the bare key in
// X-Osprey-Key (what OTLP exporters' "headers" settings make easy).
func keyFromHeader(authz, alt string) string {
	if k, ok := strings.CutPrefix(authz, "Bearer "); ok {
		return strings.TrimSpace(k)
	}
	if k, ok := strings.CutPrefix(authz, "bearer "); ok {
		return strings.TrimSpace(k)
	}
	return strings.TrimSpace(alt)
}

func keyFromGRPC(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return keyFromHeader(first(wire.HeaderAuthorization), first(wire.HeaderProjectKey))
}

func keyFromHTTP(r *http.Request) string {
	return keyFromHeader(r.Header.Get("Authorization"), r.Header.Get("X-Osprey-Key"))
}

// Limiter holds one token bucket of requests per project.
type Limiter struct {
	rps   rate.Limit
	burst int
	mu    sync.Mutex
	m     map[int64]*rate.Limiter
}

// NewLimiter limits each project to rps requests a second; rps <= 0 means
// no limit.
func NewLimiter(rps float64, burst int) *Limiter {
	if burst <= 0 {
		burst = int(rps * 2)
	}
	return &Limiter{rps: rate.Limit(rps), burst: burst, m: map[int64]*rate.Limiter{}}
}

func (l *Limiter) Allow(project int64) bool {
	if l == nil || l.rps <= 0 {
		return true
	}
	l.mu.Lock()
	b := l.m[project]
	if b == nil {
		b = rate.NewLimiter(l.rps, l.burst)
		l.m[project] = b
	}
	l.mu.Unlock()
	return b.Allow()
}

type projectKey struct{}

func withProject(ctx context.Context, p meta.Project) context.Context {
	return context.WithValue(ctx, projectKey{}, p)
}

// ProjectFrom returns the project an ingest request authenticated as.
func ProjectFrom(ctx context.Context) (meta.Project, bool) {
	p, ok := ctx.Value(projectKey{}).(meta.Project)
	return p, ok
}
