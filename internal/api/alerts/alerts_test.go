package alerts

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/osprey-monitoring/osprey/internal/agentstate"
	"github.com/osprey-monitoring/osprey/internal/alert"
	"github.com/osprey-monitoring/osprey/internal/authn"
	"github.com/osprey-monitoring/osprey/internal/meta"
	"github.com/osprey-monitoring/osprey/internal/notify"
	"github.com/osprey-monitoring/osprey/internal/store/event"
	"github.com/osprey-monitoring/osprey/internal/store/metric"
)

type env struct {
	h       http.Handler
	meta    *meta.Store
	project meta.Project
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := meta.Open(ctx, dir+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	p, _, err := m.CreateProject(ctx, "default", "")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := metric.Open(ctx, metric.Options{Dir: dir + "/metrics", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ms.Close() })
	es, err := event.Open(ctx, event.Options{Dir: dir + "/events", Logger: quiet, MaxMemoryBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { es.Close() })
	sender := notify.NewSender(notify.Options{})
	e, err := alert.New(ctx, m, alert.Sources{Metrics: ms, Events: es, Agents: agentstate.NewTracker(0)}, sender, alert.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &env{h: NewHandler(m, e, es, sender), meta: m, project: p}
}

// do calls the API as a user with role.
func (e *env) do(t *testing.T, role, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req = req.WithContext(authn.NewContext(req.Context(), authn.Identity{User: meta.User{ID: 1, Name: "kim"}, Project: e.project, Role: role}))
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func TestRuleEditing(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, role, body string
		code             int
		errText          string
	}{
		{"good", meta.RoleEditor, `{"name":"cpu","kind":"metric","enabled":true,"expr":"up == 0","for":"1m"}`, 201, ""},
		{"bad PromQL", meta.RoleEditor, `{"name":"cpu","kind":"metric","expr":"rate(up[5m]"}`, 400, "expr:"},
		{"unknown field", meta.RoleEditor, `{"name":"cpu","kind":"metric","expr":"up","treshold":3}`, 400, "unknown field"},
		{"viewer", meta.RoleViewer, `{"name":"cpu","kind":"metric","expr":"up"}`, 403, "viewer"},
		{"bad duration", meta.RoleOwner, `{"name":"cpu","kind":"metric","expr":"up","for":"soon"}`, 400, "duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e.do(t, tt.role, "POST", "/api/v1/alerts/rules", tt.body)
			if code != tt.code {
				t.Fatalf("code %d, want %d: %v", code, tt.code, out)
			}
			if tt.errText != "" && !strings.Contains(out["error"].(string), tt.errText) {
				t.Errorf("error %q, want it to mention %q", out["error"], tt.errText)
			}
		})
	}
	code, out := e.do(t, meta.RoleViewer, "GET", "/api/v1/alerts/rules", "")
	if code != 200 || len(out["data"].([]any)) != 1 {
		t.Fatalf("list as viewer: %d %v", code, out)
	}
	r := out["data"].([]any)[0].(map[string]any)
	if r["for"] != "1m0s" || r["severity"] != "warning" || r["id"].(float64) <= 0 {
		t.Errorf("stored rule %v", r)
	}
	if code, _ := e.do(t, meta.RoleEditor, "DELETE", "/api/v1/alerts/rules/999", ""); code != 404 {
		t.Errorf("delete of a missing rule: %d", code)
	}
}

func TestChannelSecretsAreWriteOnly(t *testing.T) {
	e := newEnv(t)
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("X-Osprey-Signature"))
	}))
	defer hook.Close()
	code, out := e.do(t, meta.RoleOwner, "POST", "/api/v1/alerts/channels",
		`{"name":"ops","type":"webhook","webhook":{"url":"`+hook.URL+`","secret":"s3cret","headers":{"Authorization":"Bearer tok"}}}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	wh := out["data"].(map[string]any)["webhook"].(map[string]any)
	if wh["secret"] != hidden || wh["headers"].(map[string]any)["Authorization"] != hidden {
		t.Errorf("secrets served: %v", wh)
	}
	id := int64(out["data"].(map[string]any)["id"].(float64))
	// Saving back what was served keeps the secrets.
	if code, out := e.do(t, meta.RoleOwner, "PUT", "/api/v1/alerts/channels/"+itoa(id),
		`{"name":"ops renamed","type":"webhook","webhook":{"url":"`+hook.URL+`","secret":"********","headers":{"Authorization":"********"}}}`); code != 200 {
		t.Fatalf("replace: %d %v", code, out)
	}
	obj, err := e.meta.Object(context.Background(), e.project.ID, alert.ObjChannel, id)
	if err != nil || !strings.Contains(string(obj.Body), `"secret":"s3cret"`) || !strings.Contains(string(obj.Body), "Bearer tok") {
		t.Fatalf("stored %s %v", obj.Body, err)
	}
	// The test button signs with the stored secret.
	code, out = e.do(t, meta.RoleOwner, "POST", "/api/v1/alerts/channels/"+itoa(id)+"/test", "")
	if code != 200 || out["data"].(map[string]any)["ok"] != true || len(got) != 1 || !strings.HasPrefix(got[0], "sha256=") {
		t.Fatalf("test: %d %v, receiver got %v", code, out, got)
	}
	// A dead endpoint answers ok=false with the reason, not an HTTP error.
	code, out = e.do(t, meta.RoleOwner, "POST", "/api/v1/alerts/channels/test", `{"name":"dead","type":"webhook","webhook":{"url":"http://127.0.0.1:1/x"}}`)
	if code != 200 || out["data"].(map[string]any)["ok"] != false || out["data"].(map[string]any)["error"] == "" {
		t.Fatalf("dead endpoint: %d %v", code, out)
	}
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }
