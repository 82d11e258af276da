package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// startNginx runs Debian's nginx on a free loopback port with its access
// log in dir; CI must have it (scripts/test-deps.sh installs it).
func startNginx(t *testing.T, dir string) (addr, accessLog string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/nginx"); err2 == nil {
			bin = "/usr/sbin/nginx"
		} else {
			msg := "nginx is not installed (apt-get install nginx-light; scripts/test-deps.sh does)"
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	addr = freePort(t)
	accessLog = filepath.Join(dir, "access.log")
	for _, d := range []string{"tmp", "logs"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	conf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events {}
http {
  access_log %[2]s combined;
  client_body_temp_path %[1]s/tmp/body;
  proxy_temp_path %[1]s/tmp/proxy;
  fastcgi_temp_path %[1]s/tmp/fastcgi;
  uwsgi_temp_path %[1]s/tmp/uwsgi;
  scgi_temp_path %[1]s/tmp/scgi;
  server {
    listen %[3]s;
    location / { return 200 "ok\n"; }
    location /missing { return 404; }
    location /boom { return 500; }
  }
}
`, dir, accessLog, addr)), 0o644)
	start(t, filepath.Join(dir, "nginx.out"), nil, bin, "-c", conf, "-p", dir)
	eventually(t, 10*time.Second, "nginx answers", func() error {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	})
	return addr, accessLog
}

// TestLogsFromNginx: real requests to Debian's nginx are written to its
// access log, tailed by a real agent with the nginx preset, and arrive as
// log rows with the request's fields; a log rule on 5xx lines fires to a
// webhook.
func TestLogsFromNginx(t *testing.T) {
	dir := t.TempDir()
	addr, accessLog := startNginx(t, dir)
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
`, accessLog)), 0o644)
	start(t, filepath.Join(dir, "agent.log"), nil, "osprey-agent", "--config", cfg, "--server", s.grpcAddr, "--key", projectKey,
		"--name", "web-1", "--state-dir", filepath.Join(dir, "state"), "--interval", "1s")

	h := newHook(t)
	if _, err := s.send("POST", "/api/v1/alerts/channels", map[string]any{"name": "ops", "type": "webhook",
		"webhook": map[string]any{"url": h.srv.URL + "/hook"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.send("POST", "/api/v1/alerts/rules", map[string]any{"name": "5xx in nginx", "kind": "log", "enabled": true,
		"severity": "warning", "filters": []map[string]string{{"field": "http.response.status_code", "op": "=", "value": "500"}},
		"window": "5m", "op": ">=", "threshold": 3, "for": "0s", "repeat": "0s"}, nil); err != nil {
		t.Fatal(err)
	}

	get := func(path string) {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("User-Agent", "e2e-client/1.0")
		req.Header.Set("Referer", "http://shop.example/cart")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for i := 0; i < 20; i++ {
		get(fmt.Sprintf("/item?id=%d", i))
	}
	for i := 0; i < 5; i++ {
		get("/missing")
	}
	for i := 0; i < 3; i++ {
		get("/boom")
	}

	var rows []map[string]string
	eventually(t, 60*time.Second, "28 parsed request lines (plus nginx's own health check)", func() error {
		page, err := s.events("admin", adminPassword, "", url.Values{"type": {"log"}, "start": {"-10m"}, "limit": {"100"},
			"filter": {"category=nginx-access", "user_agent.original=e2e-client/1.0"}})
		if err != nil {
			return err
		}
		if len(page.Records) != 28 {
			return fmt.Errorf("%d rows", len(page.Records))
		}
		rows = page.Records
		return nil
	})
	statuses := map[string]int{}
	for _, r := range rows {
		statuses[r["http.response.status_code"]]++
		if r["http.request.method"] != "GET" || r["client.address"] != "127.0.0.1" || r["http.request.header.referer"] != "http://shop.example/cart" ||
			r["agent.name"] != "web-1" || r["log.file.path"] != accessLog {
			t.Fatalf("row fields %v", r)
		}
	}
	if statuses["200"] != 20 || statuses["404"] != 5 || statuses["500"] != 3 {
		t.Errorf("statuses %v", statuses)
	}
	for _, r := range rows {
		if r["http.response.status_code"] == "500" && r["url.path"] != "/boom" {
			t.Errorf("500 row %v", r)
		}
	}
	eventually(t, 30*time.Second, "the 5xx log rule fired", func() error {
		if count(h.states(), "firing 5xx in nginx") != 1 {
			return fmt.Errorf("webhook got %v", h.states())
		}
		return nil
	})
}

// TestLogLinesExactlyOnceAcrossAgentRestarts: a writer appends numbered
// lines fast and rotates its file by renaming it every 5,000 lines, while
// the agent is stopped and started twice; the server ends up with every
// line exactly once: rotated files (found next to the path by their
// suffix) are read to their end, positions are saved only once the spool
// has a batch, and a stopping agent lets its call in flight finish.
func TestLogLinesExactlyOnceAcrossAgentRestarts(t *testing.T) {
	const total, rotateEvery = 30000, 5000
	dir := t.TempDir()
	logPath := filepath.Join(dir, "app.log")
	s := newServer(t)
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`modules:
  host: {enabled: false}
  url: {enabled: false}
  logs:
    enabled: true
    sources:
      - paths: [%q]
        category: seq
        start_at: beginning
`, logPath)), 0o644)
	agentArgs := []string{"--config", cfg, "--server", s.grpcAddr, "--key", projectKey, "--name", "writer-host",
		"--state-dir", filepath.Join(dir, "state"), "--interval", "1s"}
	agent := start(t, filepath.Join(dir, "agent-1.log"), nil, "osprey-agent", agentArgs...)

	// The writer: numbered lines, rename rotation as logrotate does it.
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			done <- err
			return
		}
		for i := 1; i <= total; i++ {
			fmt.Fprintf(f, "seq=%06d payload for line %d\n", i, i)
			if i%rotateEvery == 0 {
				f.Close()
				// As logrotate does: app.log.1 → app.log.2, …, then app.log → app.log.1.
				for k := i/rotateEvery - 1; k >= 1; k-- {
					if err := os.Rename(fmt.Sprintf("%s.%d", logPath, k), fmt.Sprintf("%s.%d", logPath, k+1)); err != nil {
						done <- err
						return
					}
				}
				if err := os.Rename(logPath, logPath+".1"); err != nil {
					done <- err
					return
				}
				if f, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
					done <- err
					return
				}
			}
			if i%500 == 0 {
				time.Sleep(20 * time.Millisecond) // ~25k lines/s
			}
		}
		done <- f.Close()
	}()
	time.Sleep(300 * time.Millisecond)
	agent.stop(t)
	agent = start(t, filepath.Join(dir, "agent-2.log"), nil, "osprey-agent", agentArgs...)
	time.Sleep(400 * time.Millisecond)
	agent.stop(t)
	start(t, filepath.Join(dir, "agent-3.log"), nil, "osprey-agent", agentArgs...)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	eventually(t, 90*time.Second, fmt.Sprintf("%d lines at the server", total), func() error {
		var c struct{ Count int }
		if _, err := s.api("admin", adminPassword, "", "/api/v1/events/count", url.Values{"type": {"log"}, "start": {"-30m"},
			"filter": {"category=seq"}}, &c); err != nil {
			return err
		}
		if c.Count < total {
			var logs string
			for i := 1; i <= 3; i++ {
				b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("agent-%d.log", i)))
				logs += fmt.Sprintf("\n--- agent-%d.log:\n%s", i, tail(string(b), 1500))
			}
			return fmt.Errorf("%d lines%s", c.Count, logs)
		}
		return nil
	})
	time.Sleep(3 * time.Second) // let any extra lines arrive too
	// Exactly once: every sequence number, none twice.
	seen := make(map[string]bool, total)
	params := url.Values{"type": {"log"}, "start": {"-30m"}, "filter": {"category=seq"}, "limit": {"10000"}}
	for {
		page, err := s.events("admin", adminPassword, "", params)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			msg := r["_msg"]
			if len(msg) < 10 || seen[msg[:10]] {
				t.Fatalf("line %q twice or malformed (file %s offset %s id %s)", msg, r["log.file.path"], r["log.record.offset"], r["log.file.id"])
			}
			seen[msg[:10]] = true
		}
		if page.NextCursor == "" {
			break
		}
		params.Set("cursor", page.NextCursor)
	}
	if len(seen) != total {
		t.Fatalf("%d distinct lines, want %d", len(seen), total)
	}
}
