package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type urlRegion struct {
	Agent      string
	Up         *bool
	TotalMs    *float64
	StatusCode *float64
	TLSExpiry  *float64
}

type urlStatus struct {
	ID      int64
	Name    string
	Status  string
	Regions []urlRegion
}

// TestURLMonitoringAndAlerts registers checks against real loopback
// servers (healthy, failing with 500, too slow, TLS), lets a real agent
// run them, and checks status, causes, TLS expiry, history and uptime; a
// URL-down rule notifies a real webhook once, stays firing without a
// second notification across a server restart, and resolves once when
// the target recovers.
func TestURLMonitoringAndAlerts(t *testing.T) {
	var broken atomic.Bool
	broken.Store(true)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "all ok") }))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "recovered")
	}))
	defer bad.Close()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	dir := t.TempDir()
	certPath, keyPath, _ := selfSigned(t, dir)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	secure := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secure ok") }))
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	secure.StartTLS()
	defer secure.Close()

	s := newServer(t)
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte("modules:\n  host: {enabled: false}\n  url: {enabled: true}\n"), 0o644)
	start(t, filepath.Join(dir, "agent.log"), nil, "osprey-agent", "--config", cfg, "--server", s.grpcAddr, "--key", projectKey,
		"--name", "region-seoul", "--state-dir", filepath.Join(dir, "state"), "--interval", "1s")

	checks := []map[string]any{
		{"name": "ok", "url": ok.URL + "/health", "expectedBody": "all ok", "intervalSeconds": 5, "timeoutMs": 2000, "enabled": true},
		{"name": "bad", "url": bad.URL, "intervalSeconds": 5, "timeoutMs": 2000, "enabled": true},
		{"name": "slow", "url": slow.URL, "intervalSeconds": 5, "timeoutMs": 1000, "enabled": true},
		{"name": "tls", "url": secure.URL, "intervalSeconds": 5, "timeoutMs": 2000, "insecureSkipVerify": true, "enabled": true},
		{"name": "wrong body", "url": ok.URL, "expectedBody": "never there", "intervalSeconds": 5, "timeoutMs": 2000, "enabled": true},
	}
	ids := map[string]int64{}
	for _, c := range checks {
		var got struct{ ID int64 }
		if _, err := s.send("POST", "/api/v1/urls/checks", c, &got); err != nil {
			t.Fatal(err)
		}
		ids[c["name"].(string)] = got.ID
	}
	if code, err := s.send("POST", "/api/v1/urls/checks", map[string]any{"name": "x", "url": "ftp://example.com"}, nil); code != 400 {
		t.Errorf("a non-HTTP URL: %d %v, want 400", code, err)
	}

	want := map[string]string{"ok": "up", "bad": "down", "slow": "down", "tls": "up", "wrong body": "down"}
	var list []urlStatus
	eventually(t, 90*time.Second, "every check ran from region-seoul", func() error {
		list = nil
		if _, err := s.api("admin", adminPassword, "", "/api/v1/urls", nil, &list); err != nil {
			return err
		}
		for _, c := range list {
			if c.Status != want[c.Name] || len(c.Regions) != 1 || c.Regions[0].Agent != "region-seoul" {
				return fmt.Errorf("%s: %s %+v", c.Name, c.Status, c.Regions)
			}
		}
		return nil
	})
	for _, c := range list {
		r := c.Regions[0]
		switch c.Name {
		case "bad":
			if r.StatusCode == nil || *r.StatusCode != 500 {
				t.Errorf("bad: status %v", r.StatusCode)
			}
		case "tls":
			if r.TLSExpiry == nil || *r.TLSExpiry < float64(time.Now().Unix()) {
				t.Errorf("tls: expiry %v", r.TLSExpiry)
			}
		case "ok":
			if r.TotalMs == nil || *r.TotalMs <= 0 {
				t.Errorf("ok: time %v", r.TotalMs)
			}
		}
	}
	// Run rows become searchable about a second after they arrive.
	causes := map[string]string{"bad": "status", "slow": "timeout", "wrong body": "body"}
	for name, cause := range causes {
		eventually(t, 30*time.Second, name+" history with its cause", func() error {
			var h struct{ Runs []map[string]string }
			if _, err := s.api("admin", adminPassword, "", fmt.Sprintf("/api/v1/urls/checks/%d/history", ids[name]), url.Values{"start": {"-10m"}}, &h); err != nil {
				return err
			}
			if len(h.Runs) == 0 || h.Runs[0]["url.failure"] != cause || h.Runs[0]["error.message"] == "" {
				return fmt.Errorf("runs %v, want failure %s", h.Runs, cause)
			}
			return nil
		})
	}
	eventually(t, 30*time.Second, "uptime of ok is 100%", func() error {
		var up struct {
			Runs   int
			Uptime *float64
		}
		if _, err := s.api("admin", adminPassword, "", fmt.Sprintf("/api/v1/urls/checks/%d/uptime", ids["ok"]), url.Values{"start": {"-10m"}}, &up); err != nil {
			return err
		}
		if up.Runs == 0 || up.Uptime == nil || *up.Uptime != 100 {
			return fmt.Errorf("uptime %+v", up)
		}
		return nil
	})

	// An alert on the bad check, to a real webhook.
	h := newHook(t)
	if _, err := s.send("POST", "/api/v1/alerts/channels", map[string]any{"name": "ops", "type": "webhook",
		"webhook": map[string]any{"url": h.srv.URL + "/hook", "secret": "s3cret"}}, nil); err != nil {
		t.Fatal(err)
	}
	// E-mail over STARTTLS to a real SMTP server for critical alerts, and
	// a second webhook that takes only info alerts (it must get nothing).
	sink, smtpPort := startSMTP(t, certPath, keyPath)
	if _, err := s.send("POST", "/api/v1/alerts/channels", map[string]any{"name": "oncall-mail", "type": "email", "severities": []string{"critical"},
		"email": map[string]any{"host": "127.0.0.1", "port": smtpPort, "tls": "starttls", "caFile": certPath,
			"from": "osprey@example.com", "to": []string{"oncall@example.com"}}}, nil); err != nil {
		t.Fatal(err)
	}
	infoHook := newHook(t)
	if _, err := s.send("POST", "/api/v1/alerts/channels", map[string]any{"name": "info only", "type": "webhook", "severities": []string{"info"},
		"webhook": map[string]any{"url": infoHook.srv.URL + "/hook"}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.send("POST", "/api/v1/alerts/rules", map[string]any{"name": "bad is down", "kind": "url", "enabled": true,
		"severity": "critical", "checkId": fmt.Sprint(ids["bad"]), "condition": "down", "for": "0s", "repeat": "0s"}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the URL-down alert at the webhook", func() error {
		if count(h.states(), "firing bad is down") != 1 {
			return fmt.Errorf("webhook got %v", h.states())
		}
		return nil
	})
	// A restart keeps the alert firing without announcing it again.
	s.proc.stop(t)
	s.start()
	time.Sleep(5 * time.Second) // several evaluations at 1 s
	var active []struct{ Status, RuleName string }
	if _, err := s.api("admin", adminPassword, "", "/api/v1/alerts", nil, &active); err != nil || len(active) != 1 || active[0].Status != "firing" {
		t.Fatalf("after restart: %+v %v", active, err)
	}
	if n := count(h.states(), "firing bad is down"); n != 1 {
		t.Fatalf("after a restart the webhook got %d firing notifications", n)
	}
	broken.Store(false)
	eventually(t, 60*time.Second, "the alert resolved once the target recovered", func() error {
		if count(h.states(), "resolved bad is down") != 1 {
			return fmt.Errorf("webhook got %v", h.states())
		}
		return nil
	})
	eventually(t, 30*time.Second, "a firing and a resolved mail over STARTTLS", func() error {
		var subjects []string
		for _, m := range sink.received() {
			if !m.TLS || len(m.To) != 1 || m.To[0] != "oncall@example.com" {
				return fmt.Errorf("mail %+v", m)
			}
			subjects = append(subjects, m.Subject)
		}
		if len(subjects) != 2 || !strings.HasPrefix(subjects[0], "[FIRING]") || !strings.HasPrefix(subjects[1], "[RESOLVED]") {
			return fmt.Errorf("subjects %q", subjects)
		}
		return nil
	})
	if got := infoHook.states(); len(got) != 0 {
		t.Errorf("the info-only channel got %v for a critical alert", got)
	}
	eventually(t, 30*time.Second, "one firing and one resolved in the alert history", func() error {
		var hist struct{ Events []map[string]string }
		if _, err := s.api("admin", adminPassword, "", "/api/v1/alerts/history", url.Values{"start": {"-10m"}}, &hist); err != nil {
			return err
		}
		var states []string
		for _, e := range hist.Events {
			states = append(states, e["alert.state"])
		}
		if len(states) != 2 || count(states, "firing") != 1 || count(states, "resolved") != 1 {
			return fmt.Errorf("history %v", states)
		}
		return nil
	})
}
