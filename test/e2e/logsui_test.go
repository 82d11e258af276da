package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLogsUI runs the log screens' browser tests against a real server and
// agent tailing Debian's nginx access log (fed by real requests) and an
// application log that a writer keeps appending to.
func TestLogsUI(t *testing.T) {
	node, webDir := uiPrereqs(t)
	if testing.Short() {
		t.Skip("browser tests take a minute")
	}
	dir := t.TempDir()
	addr, accessLog := startNginx(t, dir)
	appLog := filepath.Join(dir, "app.log")
	s := newServer(t)
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`modules:
  host: {enabled: false}
  url: {enabled: false}
  logs:
    enabled: true
    sources:
      - paths: [%q]
        category: nginx-access
        start_at: beginning
        parsers: [{type: nginx}]
      - paths: [%q]
        category: app
        start_at: beginning
        parsers: [{type: java}]
`, accessLog, appLog)), 0o644)
	start(t, filepath.Join(dir, "agent.log"), nil, "osprey-agent", "--config", cfg, "--server", s.grpcAddr, "--key", projectKey,
		"--name", "web-1", "--state-dir", filepath.Join(dir, "state"), "--interval", "1s")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // application lines, ~20/s, with recurring patterns
		f, err := os.OpenFile(appLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return
		}
		defer f.Close()
		for i := 0; ctx.Err() == nil; i++ {
			ts := time.Now().Format("2006-01-02 15:04:05.000")
			switch {
			case i%10 == 0:
				fmt.Fprintf(f, "%s ERROR [http-%d] com.shop.Pay - payment-timeout for order %d after %d ms\n", ts, i%8, 10000+i, 3000+i%700)
			case i%4 == 0:
				fmt.Fprintf(f, "%s WARN [http-%d] com.shop.Cart - cart %d has %d stale items\n", ts, i%8, i*7, i%9)
			default:
				fmt.Fprintf(f, "%s INFO [http-%d] com.shop.Api - GET /api/items/%d answered in %d ms\n", ts, i%8, i, 5+i%40)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	go func() { // access lines
		for i := 0; ctx.Err() == nil; i++ {
			path := fmt.Sprintf("/item?id=%d", i)
			if i%7 == 0 {
				path = "/boom"
			} else if i%5 == 0 {
				path = "/missing"
			}
			if resp, err := http.Get("http://" + addr + path); err == nil {
				resp.Body.Close()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	eventually(t, 60*time.Second, "both categories have lines", func() error {
		for _, c := range []string{"nginx-access", "app"} {
			var n struct{ Count int }
			if _, err := s.api("admin", adminPassword, "", "/api/v1/events/count", map[string][]string{"type": {"log"}, "start": {"-10m"},
				"filter": {"category=" + c}}, &n); err != nil || n.Count < 20 {
				return fmt.Errorf("%s: %d lines, %v", c, n.Count, err)
			}
		}
		return nil
	})
	runBrowserTests(t, node, webDir, []string{"logs.test.mjs"}, "OSPREY_URL=http://"+s.httpAddr,
		"OSPREY_LOG_CATEGORY=nginx-access", "OSPREY_LOG_APP_CATEGORY=app", "OSPREY_LOG_TERM=payment-timeout")
}
