// Package authn authenticates users of the HTTP API and picks the project a
// request is about. A user proves who they are with a session cookie (the
// web UI), HTTP basic auth, or a bearer API token (Grafana, promtool,
// scripts); the project comes from the X-Osprey-Project header (or the
// "project" query parameter, for EventSource which cannot set headers) and
// must be one the user is a member of.
package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/osprey-monitoring/osprey/internal/meta"
)

const (
	SessionCookie  = "osprey_session"
	CSRFHeader     = "X-CSRF-Token"
	ProjectHeader  = "X-Osprey-Project"
	sessionTTL     = 7 * 24 * time.Hour
	basicCacheTTL  = time.Minute
	basicCacheSize = 1024
)

// Identity is who is asking, about which project.
type Identity struct {
	User    meta.User
	Project meta.Project
	Role    string
}

type ctxKey struct{}

// From returns the identity a request was authenticated as.
func From(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}

// NewContext returns ctx carrying id, as Require does for an
// authenticated request (tests and in-process callers use it).
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// ProjectID is the shape the query APIs take to learn the project.
func ProjectID(r *http.Request) (int64, bool) {
	id, ok := From(r.Context())
	return id.Project.ID, ok
}

// Authenticator is safe for concurrent use.
type Authenticator struct {
	meta   *meta.Store
	secure bool // cookies only over TLS
	log    *slog.Logger

	// Checking bcrypt on every request of a Grafana dashboard would cost
	// ~50 ms each; verified basic credentials are cached briefly by hash.
	mu    sync.Mutex
	basic map[[32]byte]basicEntry

	loginMu     sync.Mutex
	loginLimits map[string]*rate.Limiter
}

type basicEntry struct {
	user    meta.User
	expires time.Time
}

func New(m *meta.Store, secureCookies bool, log *slog.Logger) *Authenticator {
	return &Authenticator{meta: m, secure: secureCookies, log: log, basic: map[[32]byte]basicEntry{}, loginLimits: map[string]*rate.Limiter{}}
}

var errUnauthenticated = errors.New("authentication required: log in, or use HTTP basic auth or 'Authorization: Bearer TOKEN'")

func (a *Authenticator) user(r *http.Request) (meta.User, bool, error) {
	ctx := r.Context()
	if authz := r.Header.Get("Authorization"); authz != "" {
		if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
			u, err := a.meta.UserByToken(ctx, strings.TrimSpace(tok))
			if err != nil {
				return meta.User{}, false, errors.New("unknown API token")
			}
			return u, false, nil
		}
		if name, pass, ok := r.BasicAuth(); ok {
			key := sha256.Sum256([]byte(name + "\x00" + pass))
			now := time.Now()
			a.mu.Lock()
			e, hit := a.basic[key]
			a.mu.Unlock()
			if hit && now.Before(e.expires) {
				return e.user, false, nil
			}
			u, err := a.meta.CheckPassword(ctx, name, pass)
			if err != nil {
				return meta.User{}, false, err
			}
			a.mu.Lock()
			if len(a.basic) >= basicCacheSize {
				a.basic = map[[32]byte]basicEntry{}
			}
			a.basic[key] = basicEntry{user: u, expires: now.Add(basicCacheTTL)}
			a.mu.Unlock()
			return u, false, nil
		}
		return meta.User{}, false, errors.New("unsupported Authorization scheme: use Basic or Bearer")
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return meta.User{}, false, errUnauthenticated
	}
	u, csrf, err := a.meta.Session(ctx, c.Value)
	if err != nil {
		return meta.User{}, false, errors.New("session expired: log in again")
	}
	// Cookies ride along on cross-site requests; a state-changing request
	// must also prove it came from our UI by echoing the CSRF token.
	if !safeMethod(r.Method) && subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(csrf)) != 1 {
		return meta.User{}, true, errors.New("missing or wrong " + CSRFHeader + " header")
	}
	return u, true, nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Require wraps next so it runs only for an authenticated member of the
// requested project.
func (a *Authenticator) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _, err := a.user(r)
		if err != nil {
			if errors.Is(err, meta.ErrBadCredentials) || errors.Is(err, errUnauthenticated) {
				w.Header().Set("WWW-Authenticate", `Basic realm="osprey"`)
			}
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		name := r.Header.Get(ProjectHeader)
		if name == "" {
			name = r.URL.Query().Get("project")
		}
		if name == "" {
			name = meta.DefaultProject
		}
		ms, err := a.meta.Memberships(r.Context(), u)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		for _, m := range ms {
			if m.Project.Name == name {
				ctx := context.WithValue(r.Context(), ctxKey{}, Identity{User: u, Project: m.Project, Role: m.Role})
				next.ServeHTTP(w, r.WithContext(ctx))
				return
			}
		}
		// The same answer for "no such project" and "not a member", so that
		// project names do not leak.
		writeError(w, http.StatusForbidden, "no access to project "+name)
	})
}

// Routes serves login, logout and me under the mux given.
func (a *Authenticator) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/login", a.login)
	mux.HandleFunc("POST /api/v1/logout", a.logout)
	mux.HandleFunc("GET /api/v1/me", a.me)
}

func (a *Authenticator) allowLogin(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a.loginMu.Lock()
	defer a.loginMu.Unlock()
	l := a.loginLimits[host]
	if l == nil {
		if len(a.loginLimits) > 10000 {
			a.loginLimits = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(rate.Every(time.Second), 10)
		a.loginLimits[host] = l
	}
	return l.Allow()
}

func (a *Authenticator) login(w http.ResponseWriter, r *http.Request) {
	if !a.allowLogin(r) {
		writeError(w, http.StatusTooManyRequests, "too many login attempts; wait a moment")
		return
	}
	var req struct {
		User     string `json:"user"`
		Password string `json:"password"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body must be JSON {\"user\":..., \"password\":...}")
		return
	}
	u, err := a.meta.CheckPassword(r.Context(), req.User, req.Password)
	if err != nil {
		writeError(w, http.StatusUnauthorized, meta.ErrBadCredentials.Error())
		return
	}
	id, csrf, err := a.meta.CreateSession(r.Context(), u.ID, sessionTTL)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: a.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL / time.Second),
	})
	a.writeMe(w, r, u, csrf)
}

func (a *Authenticator) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if _, csrf, err := a.meta.Session(r.Context(), c.Value); err == nil &&
			subtle.ConstantTimeCompare([]byte(r.Header.Get(CSRFHeader)), []byte(csrf)) == 1 {
			_ = a.meta.DeleteSession(r.Context(), c.Value)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

func (a *Authenticator) me(w http.ResponseWriter, r *http.Request) {
	u, viaCookie, err := a.user(r)
	if err != nil {
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	csrf := ""
	if viaCookie {
		c, _ := r.Cookie(SessionCookie)
		_, csrf, _ = a.meta.Session(r.Context(), c.Value)
	}
	a.writeMe(w, r, u, csrf)
}

func (a *Authenticator) writeMe(w http.ResponseWriter, r *http.Request, u meta.User, csrf string) {
	ms, err := a.meta.Memberships(r.Context(), u)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": u, "projects": ms, "csrfToken": csrf})
}

func writeJSON(w http.ResponseWriter, code int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": data})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "error", "errorType": http.StatusText(code), "error": msg})
}
