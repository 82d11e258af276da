package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestWebhookDelivery proves the documented body, the headers and the HMAC signature, as a
// real receiver sees them.
func TestWebhookDelivery(t *testing.T) {
	full := testNotification()
	bare := Notification{State: StateTest, Severity: SeverityInfo, Value: math.NaN(), At: full.At}
	tests := []struct {
		name   string
		n      Notification
		secret string
		want   map[string]any
	}{
		{
			name: "firing with secret", n: full, secret: "s3cr3t",
			want: map[string]any{
				"version": "1", "project": "prod", "ruleId": 12.0, "ruleName": "High CPU",
				"alertId": "12:web-1", "state": "firing", "severity": "critical",
				"summary": "CPU at 97% on web-1",
				"labels":  map[string]any{"agent": "web-1", "instance": "10.0.0.1:9100"},
				"value":   97.5, "activeSince": "2026-03-01T10:00:00Z", "at": "2026-03-01T10:05:00Z",
				"url": "https://osprey.example.com/alerts/12",
			},
		},
		{
			name: "no value, no labels, no start, unsigned", n: bare,
			want: map[string]any{
				"version": "1", "project": "", "ruleId": 0.0, "ruleName": "", "alertId": "",
				"state": "test", "severity": "info", "summary": "", "labels": map[string]any{},
				"value": nil, "activeSince": nil, "at": "2026-03-01T10:05:00Z", "url": "",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, statuses(http.StatusNoContent))
			s, results := startSender(t, Options{})
			ch := webhookChannel(rcv.URL + "/in?token=abc")
			ch.Webhook.Secret = tt.secret
			ch.Webhook.Headers = map[string]string{"Authorization": "Bearer tok", "X-Team": "ops"}
			if err := s.Enqueue(ch, tt.n); err != nil {
				t.Fatal(err)
			}
			if r := waitResult(t, results, 5*time.Second); r.err != nil || r.attempts != 1 {
				t.Fatalf("result: %d attempts, err %v", r.attempts, r.err)
			}
			req := rcv.requests()[0]
			for k, want := range map[string]string{
				"Content-Type": "application/json", "User-Agent": "osprey-alerts/1",
				"Authorization": "Bearer tok", "X-Team": "ops",
			} {
				if got := req.header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
			if id := req.header.Get(HeaderDelivery); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(id) {
				t.Errorf("delivery id = %q", id)
			}
			sig := req.header.Get(HeaderSignature)
			if tt.secret == "" {
				if sig != "" {
					t.Errorf("unsigned delivery carries signature %q", sig)
				}
			} else {
				// Computed independently, the way a receiver would.
				m := hmac.New(sha256.New, []byte(tt.secret))
				m.Write(req.body)
				if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); sig != want {
					t.Errorf("signature = %q, want %q", sig, want)
				}
			}
			var got map[string]any
			if err := json.Unmarshal(req.body, &got); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, req.body)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("body = %v\nwant   %v", got, tt.want)
			}
		})
	}
}

// TestSendReportsRefusal proves the synchronous Send used by the test button returns a
// readable error with the status and the receiver's reason, without the URL's token, and
// makes exactly one attempt.
func TestSendReportsRefusal(t *testing.T) {
	rcv := newReceiver(t, func(_ int, w http.ResponseWriter) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("  maintenance\nwindow  "))
	})
	s := NewSender(Options{})
	err := s.Send(context.Background(), webhookChannel(rcv.URL+"/hooks/URLTOKEN"), testNotification())
	if err == nil {
		t.Fatal("Send succeeded against a 503")
	}
	host := strings.TrimPrefix(rcv.URL, "http://")
	want := "webhook ops-hook: POST " + host + ": 503 Service Unavailable: maintenance window"
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
	if n := len(rcv.requests()); n != 1 {
		t.Errorf("Send made %d attempts, want 1", n)
	}
	if st := s.Stats(); st != (Stats{}) {
		t.Errorf("Send changed the stats: %+v", st)
	}

	// An invalid channel fails before any I/O.
	if err := s.Send(context.Background(), webhookChannel("ftp://x"), testNotification()); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("Send with a bad URL = %v", err)
	}
}

// TestSendHonoursContext proves a cancelled context stops a slow delivery.
func TestSendHonoursContext(t *testing.T) {
	release := make(chan struct{})
	rcv := newReceiver(t, func(int, http.ResponseWriter) { <-release })
	defer close(release)
	s := NewSender(Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Send(ctx, webhookChannel(rcv.URL), testNotification())
	if err == nil || !strings.Contains(err.Error(), "context deadline exceeded") {
		t.Errorf("err = %v, want a deadline error", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Error("Send ignored the context")
	}
}

func TestSign(t *testing.T) {
	// Reference from: printf '{"a":1}' | openssl dgst -sha256 -hmac key
	const want = "sha256=88a67f24bbcdaed0e6c997404bb79a743baf44c6bab2f4c27328e3009d22e342"
	if got := Sign("key", []byte(`{"a":1}`)); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
