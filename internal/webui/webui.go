// Package webui serves the browser UI from files built into the binary, so
// `go build` alone gives a server with a working UI. The files under static/
// are the Vite build of web/ (npm ci --prefix web && npm run --prefix web
// build), committed so that no Node toolchain is needed to build the server.
package webui

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var files embed.FS

// Handler serves the UI: files as they are, hashed assets (assets/) with a
// year-long immutable cache, and index.html for every other path that is not
// an API path (the UI routes in the browser). Unknown /api/ paths are 404.
func Handler() http.Handler {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	return handler(sub)
}

func handler(root fs.FS) http.Handler {
	fileSrv := http.FileServer(http.FS(root))
	index, _ := fs.ReadFile(root, "index.html")
	serveIndex := func(w http.ResponseWriter) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		_, _ = w.Write(index)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := path.Clean("/" + r.URL.Path)
		if p == "/api" || strings.HasPrefix(p, "/api/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":"error","errorType":"not_found","error":"no such API path"}` + "\n"))
			return
		}
		name := strings.TrimPrefix(p, "/")
		if name == "" || name == "index.html" {
			serveIndex(w)
			return
		}
		if st, err := fs.Stat(root, name); err == nil && !st.IsDir() {
			if strings.HasPrefix(name, "assets/") {
				w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			} else {
				w.Header().Set("Cache-Control", "no-cache")
			}
			w.Header().Set("X-Content-Type-Options", "nosniff")
			fileSrv.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(name, "assets/") {
			http.NotFound(w, r) // a missing hashed asset must not be answered with HTML
			return
		}
		serveIndex(w)
	})
}
