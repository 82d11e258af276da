package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// TestURLAndAlertsUI runs the URL and alert screens' browser tests
// against a real server and agent: checks created in the form run from the
// agent against loopback targets, a channel's test button reaches a real
// webhook receiver, a rule made in the editor fires and is acknowledged.
func TestURLAndAlertsUI(t *testing.T) {
	node, webDir := uiPrereqs(t)
	if testing.Short() {
		t.Skip("browser tests take a minute")
	}
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }))
	defer bad.Close()
	h := newHook(t)

	s := newServer(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte("modules:\n  host: {enabled: true, process_list: false}\n  url: {enabled: true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, filepath.Join(dir, "agent.log"), nil, "osprey-agent", "--config", cfg, "--server", s.grpcAddr, "--key", projectKey,
		"--name", "region-a", "--state-dir", filepath.Join(dir, "state"), "--interval", "2s")
	runBrowserTests(t, node, webDir, []string{"url.test.mjs", "alerts.test.mjs"}, "OSPREY_URL=http://"+s.httpAddr,
		"OSPREY_URL_TARGET_OK="+ok.URL+"/health", "OSPREY_URL_TARGET_BAD="+bad.URL+"/", "OSPREY_WEBHOOK_URL="+h.srv.URL+"/hook")
}
