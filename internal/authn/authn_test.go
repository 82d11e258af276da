package authn

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osprey-monitoring/osprey/internal/meta"
)

func setup(t *testing.T) (*httptest.Server, *meta.Store, string) {
	t.Helper()
	ctx := context.Background()
	m, err := meta.Open(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	def, _, _ := m.CreateProject(ctx, meta.DefaultProject, "")
	m.CreateProject(ctx, "other", "")
	u, _ := m.CreateUser(ctx, "ana", "ana-password", false)
	m.SetMember(ctx, u.ID, def.ID, meta.RoleViewer)
	tok, _ := m.CreateToken(ctx, u.ID, "t")

	a := New(m, false, slog.Default())
	mux := http.NewServeMux()
	a.Routes(mux)
	mux.Handle("/api/v1/thing", a.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := From(r.Context())
		w.Write([]byte(id.User.Name + "@" + id.Project.Name + ":" + id.Role))
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, m, tok
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func TestCredentialsAndProjects(t *testing.T) {
	srv, _, tok := setup(t)
	tests := []struct {
		name    string
		auth    func(r *http.Request)
		project string
		want    int
		body    string
	}{
		{"no credentials", func(r *http.Request) {}, "", 401, ""},
		{"basic", func(r *http.Request) { r.SetBasicAuth("ana", "ana-password") }, "", 200, "ana@default:viewer"},
		{"basic wrong password", func(r *http.Request) { r.SetBasicAuth("ana", "nope") }, "", 401, ""},
		{"bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }, "", 200, "ana@default:viewer"},
		{"bearer wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok+"x") }, "", 401, ""},
		{"not a member", func(r *http.Request) { r.SetBasicAuth("ana", "ana-password") }, "other", 403, ""},
		{"no such project", func(r *http.Request) { r.SetBasicAuth("ana", "ana-password") }, "ghost", 403, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/api/v1/thing", nil)
			tc.auth(req)
			if tc.project != "" {
				req.Header.Set(ProjectHeader, tc.project)
			}
			code, body := do(t, req)
			if code != tc.want || (tc.body != "" && body != tc.body) {
				t.Errorf("got %d %q, want %d %q", code, body, tc.want, tc.body)
			}
		})
	}
}

func TestSessionCookieNeedsCSRFForWrites(t *testing.T) {
	srv, _, _ := setup(t)
	resp, err := http.Post(srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"user":"ana","password":"ana-password"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v: want HttpOnly and SameSite", cookie)
	}
	var me struct {
		Data struct {
			CSRF string `json:"csrfToken"`
		} `json:"data"`
	}
	json.NewDecoder(resp.Body).Decode(&me)
	if me.Data.CSRF == "" {
		t.Fatal("login answer has no CSRF token")
	}

	get, _ := http.NewRequest("GET", srv.URL+"/api/v1/thing", nil)
	get.AddCookie(cookie)
	if code, body := do(t, get); code != 200 || body != "ana@default:viewer" {
		t.Errorf("GET with cookie: %d %q", code, body)
	}
	post, _ := http.NewRequest("POST", srv.URL+"/api/v1/thing", nil)
	post.AddCookie(cookie)
	if code, _ := do(t, post); code != 401 {
		t.Errorf("POST with cookie and no CSRF token: %d, want 401", code)
	}
	post, _ = http.NewRequest("POST", srv.URL+"/api/v1/thing", nil)
	post.AddCookie(cookie)
	post.Header.Set(CSRFHeader, me.Data.CSRF)
	if code, _ := do(t, post); code != 200 {
		t.Errorf("POST with cookie and CSRF token: %d, want 200", code)
	}

	bad, err := http.Post(srv.URL+"/api/v1/login", "application/json", strings.NewReader(`{"user":"ana","password":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	bad.Body.Close()
	if bad.StatusCode != 401 {
		t.Errorf("bad login: %d", bad.StatusCode)
	}
}
