package notify

import (
	"math"
	"strings"
	"testing"
	"time"
)

func testNotification() Notification {
	return Notification{
		Project:     "prod",
		RuleID:      12,
		RuleName:    "High CPU",
		AlertID:     "12:web-1",
		State:       StateFiring,
		Severity:    SeverityCritical,
		Summary:     "CPU at 97% on web-1",
		Labels:      map[string]string{"agent": "web-1", "instance": "10.0.0.1:9100"},
		Value:       97.5,
		ActiveSince: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		At:          time.Date(2026, 3, 1, 10, 5, 0, 0, time.UTC),
		URL:         "https://osprey.example.com/alerts/12",
	}
}

func TestValidate(t *testing.T) {
	webhook := func(url string) *Channel {
		return &Channel{Name: "hook", Type: TypeWebhook, Webhook: &WebhookConfig{URL: url}}
	}
	email := func(mod func(*EmailConfig)) *Channel {
		e := &EmailConfig{Host: "smtp.example.com", Port: 587, From: "alerts@example.com", To: []string{"ops@example.com"}}
		mod(e)
		return &Channel{Name: "mail", Type: TypeEmail, Email: e}
	}
	tests := []struct {
		name    string
		ch      *Channel
		wantErr string // "" = valid
	}{
		{"nil", nil, "missing"},
		{"webhook ok", webhook("https://hooks.example.com/x?token=1"), ""},
		{"webhook http ok", webhook("http://10.0.0.1:8080/hook"), ""},
		{"no name", &Channel{Type: TypeWebhook, Webhook: &WebhookConfig{URL: "https://a"}}, "name is required"},
		{"no type", &Channel{Name: "x"}, "type is required"},
		{"unknown type", &Channel{Name: "x", Type: "pager"}, `unknown type "pager"`},
		{"webhook missing settings", &Channel{Name: "x", Type: TypeWebhook}, "webhook settings are missing"},
		{"webhook empty URL", webhook(""), "URL is required"},
		{"webhook ftp", webhook("ftp://example.com/x"), `scheme "ftp" is not allowed`},
		{"webhook javascript", webhook("javascript:alert(1)"), "is not allowed"},
		{"webhook no host", webhook("https:///path"), "no host"},
		{"webhook bad port", webhook("https://example.com:99999/"), "out of range"},
		{"webhook unparsable", webhook("https://exa mple.com/%zz"), "does not parse"},
		{"webhook bad header name", &Channel{Name: "x", Type: TypeWebhook, Webhook: &WebhookConfig{
			URL: "https://a.example", Headers: map[string]string{"Bad Header": "v"}}}, "not a valid HTTP header name"},
		{"webhook header CRLF", &Channel{Name: "x", Type: TypeWebhook, Webhook: &WebhookConfig{
			URL: "https://a.example", Headers: map[string]string{"Authorization": "Bearer x\r\nEvil: 1"}}}, "line break"},
		{"webhook reserved header", &Channel{Name: "x", Type: TypeWebhook, Webhook: &WebhookConfig{
			URL: "https://a.example", Headers: map[string]string{"content-type": "text/plain"}}}, "cannot be overridden"},
		{"webhook with slack settings too", &Channel{Name: "x", Type: TypeWebhook,
			Webhook: &WebhookConfig{URL: "https://a.example"}, Slack: &SlackConfig{URL: "https://b.example"}}, "only webhook settings"},
		{"bad severity", &Channel{Name: "x", Type: TypeWebhook, Severities: []string{"critical", "fatal"},
			Webhook: &WebhookConfig{URL: "https://a.example"}}, `unknown severity "fatal"`},
		{"slack ok", &Channel{Name: "s", Type: TypeSlack, Slack: &SlackConfig{URL: "https://hooks.slack.com/services/T/B/X", Channel: "#ops"}}, ""},
		{"slack missing", &Channel{Name: "s", Type: TypeSlack}, "slack settings are missing"},
		{"slack bad scheme", &Channel{Name: "s", Type: TypeSlack, Slack: &SlackConfig{URL: "file:///etc/passwd"}}, "not allowed"},
		{"email ok", email(func(*EmailConfig) {}), ""},
		{"email default port", email(func(e *EmailConfig) { e.Port = 0 }), ""},
		{"email named from", email(func(e *EmailConfig) { e.From = "Osprey <alerts@example.com>" }), ""},
		{"email missing", &Channel{Name: "m", Type: TypeEmail}, "email settings are missing"},
		{"email no host", email(func(e *EmailConfig) { e.Host = "" }), "host is required"},
		{"email host with space", email(func(e *EmailConfig) { e.Host = "smtp example.com" }), "not a host name"},
		{"email bad port", email(func(e *EmailConfig) { e.Port = 70000 }), "out of range"},
		{"email negative port", email(func(e *EmailConfig) { e.Port = -1 }), "out of range"},
		{"email bad tls", email(func(e *EmailConfig) { e.TLS = "ssl" }), `tls "ssl" is unknown`},
		{"email no recipients", email(func(e *EmailConfig) { e.To = nil }), "at least one recipient"},
		{"email bad recipient", email(func(e *EmailConfig) { e.To = []string{"ops@example.com", "not an address"} }), "to:"},
		{"email recipient injection", email(func(e *EmailConfig) { e.To = []string{"a@example.com\r\nBcc: x@evil.com"} }), "line break"},
		{"email no from", email(func(e *EmailConfig) { e.From = "" }), "from: address is empty"},
		{"email password without user", email(func(e *EmailConfig) { e.Password = "p" }), "needs a username"},
		{"email auth in clear text", email(func(e *EmailConfig) { e.TLS = TLSNone; e.Username = "u"; e.Password = "p" }), "authentication needs TLS"},
		{"email auth in clear text to localhost", email(func(e *EmailConfig) {
			e.Host = "localhost"
			e.TLS = TLSNone
			e.Username = "u"
		}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ch.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateDoesNotEchoSecrets(t *testing.T) {
	ch := &Channel{Name: "x", Type: TypeWebhook, Webhook: &WebhookConfig{
		URL: "https://a.example/%zzSECRET", Headers: map[string]string{"Authorization": "Bearer SECRET"}}}
	if err := ch.Validate(); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("Validate() = %v, want an error without the URL", err)
	}
	ch.Webhook.URL = "https://a.example/"
	ch.Webhook.Headers["Authorization"] = "Bearer SECRET\n"
	if err := ch.Validate(); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Fatalf("Validate() = %v, want an error without the header value", err)
	}
}

func TestWants(t *testing.T) {
	tests := []struct {
		severities []string
		severity   string
		want       bool
	}{
		{nil, SeverityInfo, true},
		{nil, SeverityCritical, true},
		{[]string{SeverityCritical}, SeverityCritical, true},
		{[]string{SeverityCritical}, SeverityWarning, false},
		{[]string{SeverityWarning, SeverityCritical}, SeverityInfo, false},
		{[]string{SeverityCritical}, StateTest, true},
	}
	for _, tt := range tests {
		ch := &Channel{Severities: tt.severities}
		if got := ch.Wants(tt.severity); got != tt.want {
			t.Errorf("Wants(%q) with %v = %v, want %v", tt.severity, tt.severities, got, tt.want)
		}
	}
}

func TestTitle(t *testing.T) {
	tests := []struct {
		mod  func(*Notification)
		want string
	}{
		{func(*Notification) {}, "[FIRING] critical: CPU at 97% on web-1 (prod)"},
		{func(n *Notification) { n.State = StateResolved }, "[RESOLVED] critical: CPU at 97% on web-1 (prod)"},
		{func(n *Notification) { n.State = StateRepeat }, "[STILL FIRING] critical: CPU at 97% on web-1 (prod)"},
		{func(n *Notification) { n.Summary = "" }, "[FIRING] critical: High CPU (prod)"},
		{func(n *Notification) { n.Summary = "two\r\nlines" }, "[FIRING] critical: two lines (prod)"},
	}
	for _, tt := range tests {
		n := testNotification()
		tt.mod(&n)
		if got := title(n); got != tt.want {
			t.Errorf("title() = %q, want %q", got, tt.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for v, want := range map[float64]string{97.5: "97.5", 0.123456789: "0.123457", math.Inf(1): "", 1e9: "1e+09"} {
		if got := formatValue(v); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", v, got, want)
		}
	}
	if got := formatValue(math.NaN()); got != "" {
		t.Errorf("formatValue(NaN) = %q, want empty", got)
	}
}
