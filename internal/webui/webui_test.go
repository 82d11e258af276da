package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	root := fstest.MapFS{
		"index.html":        {Data: []byte("<!doctype html><div id=root></div>")},
		"assets/app-abc.js": {Data: []byte("console.log(1)")},
		"favicon.svg":       {Data: []byte("<svg/>")},
	}
	h := handler(root)
	for _, c := range []struct {
		path, wantBody, wantCache string
		code                      int
	}{
		{"/", "<!doctype html>", "no-cache", 200},
		{"/servers", "<!doctype html>", "no-cache", 200},
		{"/servers/abc/snapshots/2026-01-01T00:00:00Z", "<!doctype html>", "no-cache", 200},
		{"/assets/app-abc.js", "console.log", "public, max-age=31536000, immutable", 200},
		{"/favicon.svg", "<svg", "no-cache", 200},
		{"/assets/missing-123.js", "", "", 404},
		{"/api/v1/nope", `"status":"error"`, "", 404},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.wantBody) || rec.Header().Get("Cache-Control") != c.wantCache {
			t.Errorf("%s: %d %q cache %q", c.path, rec.Code, rec.Body.String(), rec.Header().Get("Cache-Control"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestEmbeddedBuild(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/servers", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<div id="root">`) || !strings.Contains(rec.Body.String(), "/assets/") {
		t.Fatalf("embedded index.html is not the Vite build: %d %.300s", rec.Code, rec.Body.String())
	}
}
