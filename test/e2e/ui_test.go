package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromiumPath is Debian's Chromium, the only browser the UI tests drive
// (playwright-core never downloads one).
const chromiumPath = "/usr/bin/chromium"

// uiPrereqs finds node, Chromium and web/node_modules. Locally a missing
// piece skips the test; in CI (CI=true) it fails it, so the browser tests
// cannot silently stop running.
func uiPrereqs(t *testing.T) (node, webDir string) {
	t.Helper()
	webDir, err := filepath.Abs("../../web")
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	node, err = exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node (apt-get install -y nodejs npm)")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath+" (apt-get install -y chromium)")
	}
	if _, err := os.Stat(filepath.Join(webDir, "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "web/node_modules (npm ci --prefix web)")
	}
	if len(missing) > 0 {
		msg := "browser tests need: " + strings.Join(missing, "; ") + " — scripts/test-deps.sh installs them"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, webDir
}

// browserOrSkip says whether the browser tests can run; without node,
// Chromium or the web packages it fails in CI and skips (returning false)
// locally, as does -short.
func browserOrSkip(t *testing.T) (node, webDir string, ok bool) {
	t.Helper()
	if testing.Short() {
		t.Log("browser tests skipped in -short")
		return "", "", false
	}
	var skipped bool
	t.Run("browser", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		node, webDir = uiPrereqs(t)
	})
	return node, webDir, !skipped && node != ""
}

// TestWebUI runs the browser tests (web/e2e/*.test.mjs) in headless
// Chromium against a real server fed by a real agent and 50 simulated
// hosts: login, the resource board, a server's charts and process list (now
// and at a past moment), a load snapshot, the server list, theme, logout.
func TestWebUI(t *testing.T) {
	node, webDir := uiPrereqs(t)
	if testing.Short() {
		t.Skip("browser tests take a minute")
	}
	s := newServer(t)
	s.cli("project", "create", "staging") // an empty project for the empty state

	// The real agent, set to take a load snapshot at once (memory use is
	// always above 0.1%), so the alert list and the snapshot view have one.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(`modules:
  host:
    enabled: true
    process_list: true
    load_snapshot:
      enabled: true
      cpu_percent: 100
      memory_percent: 0.1
      intervals: 1
      cooldown: 1m
      top: 15
`), 0o644); err != nil {
		t.Fatal(err)
	}
	start(t, filepath.Join(dir, "agent.log"), nil, "osprey-agent", "--config", cfg,
		"--server", s.grpcAddr, "--key", projectKey, "--name", "ui-host", "--group", "e2e",
		"--state-dir", filepath.Join(dir, "state"), "--interval", "1s")
	start(t, filepath.Join(dir, "loadgen.log"), nil, "osprey", "loadgen", "--server", s.grpcAddr, "--key", projectKey,
		"--hosts", "50", "--apps", "0", "--tps", "0", "--logs", "0", "--interval", "2s", "--duration", "10m")

	var agentID string
	eventually(t, 90*time.Second, "51 servers with process lists and a load snapshot", func() error {
		var o struct{ Active int }
		if _, err := s.api("admin", adminPassword, "", "/api/v1/servers/overview", nil, &o); err != nil {
			return err
		}
		if o.Active < 51 {
			return fmt.Errorf("%d active servers", o.Active)
		}
		var top []struct{ Name string }
		if _, err := s.api("admin", adminPassword, "", "/api/v1/servers/top-processes", url.Values{"by": {"cpu"}}, &top); err != nil || len(top) == 0 {
			return fmt.Errorf("top processes: %v %v", top, err)
		}
		ev, err := s.events("admin", adminPassword, "", url.Values{"type": {"event"}, "start": {"-10m"}, "filter": {"agent.name=ui-host"}})
		if err != nil {
			return err
		}
		if len(ev.Records) == 0 {
			return errors.New("no load snapshot event of ui-host yet")
		}
		agentID = ev.Records[0]["agent.id"]
		return nil
	})
	// The past-moment scenario needs a few seconds of process lists.
	eventually(t, 30*time.Second, "process lists of ui-host 10 s back", func() error {
		_, err := s.api("admin", adminPassword, "", "/api/v1/servers/"+agentID+"/processes",
			url.Values{"at": {fmt.Sprint(time.Now().Add(-10 * time.Second).Unix())}}, nil)
		return err
	})

	runBrowserTests(t, node, webDir, []string{"ui.test.mjs"},
		"OSPREY_URL=http://"+s.httpAddr, "OSPREY_EMPTY_PROJECT=staging")
}

// runBrowserTests runs web/e2e test files (by name: node 20 takes no
// globs) in headless Chromium against a server, as admin.
func runBrowserTests(t *testing.T, node, webDir string, names []string, env ...string) {
	t.Helper()
	var files []string
	for _, n := range names {
		f := filepath.Join(webDir, "e2e", n)
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("browser test file: %v", err)
		}
		files = append(files, f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Env = append(os.Environ(), "OSPREY_USER=admin", "OSPREY_PASSWORD="+adminPassword, "CHROMIUM="+chromiumPath)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("browser tests failed: %v\n%s", err, out)
	}
	t.Logf("browser tests:\n%s", tail(string(out), 3000))
}
