package notify

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Notification states.
const (
	StateFiring       = "firing"
	StateRepeat       = "repeat"
	StateResolved     = "resolved"
	StateAcknowledged = "acknowledged"
	StateTest         = "test"
)

// Severities.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Channel types.
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack"
	TypeEmail   = "email"
)

// E-mail transport security modes.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "tls"
	TLSNone     = "none"
)

// Notification is one alert transition to deliver.
type Notification struct {
	Project     string // project name
	RuleID      int64
	RuleName    string
	AlertID     string            // stable id of the alert instance (rule + label set)
	State       string            // "firing", "repeat", "resolved", "acknowledged", "test"
	Severity    string            // "info", "warning", "critical"
	Summary     string            // the rendered message template, one line
	Labels      map[string]string // the alert's labels (agent, instance, url, ...)
	Value       float64           // the value that crossed the threshold (NaN when none)
	ActiveSince time.Time
	At          time.Time // when this transition happened
	URL         string    // link to the alert in the UI (may be empty)
}

// Channel is a configured destination.
type Channel struct {
	ID         int64
	Name       string
	Type       string         // "webhook", "slack", "email"
	Severities []string       // deliver only these; empty = all
	Webhook    *WebhookConfig `json:"webhook,omitempty"`
	Slack      *SlackConfig   `json:"slack,omitempty"`
	Email      *EmailConfig   `json:"email,omitempty"`
}

// WebhookConfig is a generic JSON webhook.
type WebhookConfig struct {
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"` // e.g. Authorization
	// Secret, when set, signs the body: header X-Osprey-Signature: sha256=<hex HMAC-SHA256(body)>.
	Secret string `json:"secret,omitempty"`
}

// SlackConfig is a Slack-compatible incoming webhook.
type SlackConfig struct {
	URL     string `json:"url"` // Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat)
	Channel string `json:"channel,omitempty"`
}

// EmailConfig is an SMTP submission server and the envelope.
type EmailConfig struct {
	Host string `json:"host"`
	// Port 0 means the usual port for TLS: 587 for "starttls", 465 for "tls", 25 for "none".
	Port int `json:"port"` // 25/587 STARTTLS, 465 implicit TLS
	// TLS is "starttls" (the default when empty; the send fails when the server does not offer
	// it rather than falling back to clear text), "tls" (implicit TLS) or "none".
	TLS                string   `json:"tls"`
	Username           string   `json:"username,omitempty"`
	Password           string   `json:"password,omitempty"`
	From               string   `json:"from"`
	To                 []string `json:"to"`
	InsecureSkipVerify bool     `json:"insecureSkipVerify,omitempty"`
	CAFile             string   `json:"caFile,omitempty"` // trust this PEM bundle (tests, private CAs)
}

// tlsMode returns the effective TLS mode ("" means STARTTLS).
func (e *EmailConfig) tlsMode() string {
	if e.TLS == "" {
		return TLSStartTLS
	}
	return e.TLS
}

// port returns the configured port or the conventional one for the TLS mode.
func (e *EmailConfig) port() int {
	if e.Port != 0 {
		return e.Port
	}
	switch e.tlsMode() {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	default:
		return 587
	}
}

func (e *EmailConfig) addr() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(e.port()))
}

// Validate returns a clear error for a bad channel: unknown type, a missing or non-HTTP(S) URL,
// no recipients, a bad port, and so on. It does no I/O.
func (c *Channel) Validate() error {
	if c == nil {
		return errors.New("channel: missing")
	}
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("channel: name is required")
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("channel %q: %w", c.Name, err)
	}
	return nil
}

func (c *Channel) validate() error {
	for _, s := range c.Severities {
		if !validSeverity(s) {
			return fmt.Errorf("unknown severity %q (want info, warning or critical)", s)
		}
	}
	// A config of another type alongside the chosen one is refused: it would be silently
	// ignored, and usually means the type was changed without clearing the old settings.
	set := 0
	for _, present := range []bool{c.Webhook != nil, c.Slack != nil, c.Email != nil} {
		if present {
			set++
		}
	}
	switch c.Type {
	case TypeWebhook:
		if c.Webhook == nil {
			return errors.New("webhook settings are missing")
		}
		if set > 1 {
			return errors.New("only webhook settings are allowed for a webhook channel")
		}
		return c.Webhook.validate()
	case TypeSlack:
		if c.Slack == nil {
			return errors.New("slack settings are missing")
		}
		if set > 1 {
			return errors.New("only slack settings are allowed for a slack channel")
		}
		return c.Slack.validate()
	case TypeEmail:
		if c.Email == nil {
			return errors.New("email settings are missing")
		}
		if set > 1 {
			return errors.New("only email settings are allowed for an email channel")
		}
		return c.Email.validate()
	case "":
		return errors.New("type is required (webhook, slack or email)")
	default:
		return fmt.Errorf("unknown type %q (want webhook, slack or email)", c.Type)
	}
}

// Wants reports whether the channel takes notifications of this severity. An empty severity
// list takes everything, and the "test" pseudo-severity always passes so that the UI's test
// button reaches every channel; callers should skip the check for State "test" notifications.
func (c *Channel) Wants(severity string) bool {
	if len(c.Severities) == 0 || severity == StateTest {
		return true
	}
	for _, s := range c.Severities {
		if strings.EqualFold(s, severity) {
			return true
		}
	}
	return false
}

func validSeverity(s string) bool {
	switch s {
	case SeverityInfo, SeverityWarning, SeverityCritical:
		return true
	}
	return false
}

// reservedHeader reports headers set by the sender; letting users override them would break
// the body framing, the JSON contract or the signature.
func reservedHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Type", "Content-Length", "Transfer-Encoding", "Host", "Connection",
		"X-Osprey-Signature", "X-Osprey-Delivery":
		return true
	}
	return false
}

func (w *WebhookConfig) validate() error {
	if err := validateHTTPURL(w.URL); err != nil {
		return err
	}
	for k, v := range w.Headers {
		if !validHeaderName(k) {
			return fmt.Errorf("header name %q is not a valid HTTP header name", k)
		}
		if reservedHeader(k) {
			return fmt.Errorf("header %q is set by Osprey and cannot be overridden", k)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			// The value may be a credential, so it is not echoed.
			return fmt.Errorf("header %q: value contains a line break", k)
		}
	}
	return nil
}

func (s *SlackConfig) validate() error {
	if err := validateHTTPURL(s.URL); err != nil {
		return err
	}
	if strings.ContainsAny(s.Channel, "\r\n") {
		return errors.New("slack channel contains a line break")
	}
	return nil
}

func (e *EmailConfig) validate() error {
	host := strings.TrimSpace(e.Host)
	if host == "" {
		return errors.New("email: SMTP host is required")
	}
	if host != e.Host || strings.ContainsAny(e.Host, " \t\r\n/") {
		return fmt.Errorf("email: SMTP host %q is not a host name", e.Host)
	}
	if e.Port < 0 || e.Port > 65535 {
		return fmt.Errorf("email: port %d is out of range (1-65535, or 0 for the default)", e.Port)
	}
	switch e.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("email: tls %q is unknown (want starttls, tls or none)", e.TLS)
	}
	if e.Password != "" && e.Username == "" {
		return errors.New("email: a password needs a username")
	}
	// net/smtp refuses PLAIN over clear text to anything but localhost; saying so here beats a
	// failure on the first alert.
	if e.Username != "" && e.tlsMode() == TLSNone && !isLocalhost(e.Host) {
		return errors.New("email: authentication needs TLS (set tls to starttls or tls)")
	}
	if e.CAFile != "" && strings.ContainsAny(e.CAFile, "\r\n\x00") {
		return errors.New("email: caFile is not a path")
	}
	if _, err := parseAddress(e.From); err != nil {
		return fmt.Errorf("email: from: %w", err)
	}
	if len(e.To) == 0 {
		return errors.New("email: at least one recipient is required")
	}
	for _, to := range e.To {
		if _, err := parseAddress(to); err != nil {
			return fmt.Errorf("email: to: %w", err)
		}
	}
	return nil
}

// parseAddress accepts "a@example.com" or "Name <a@example.com>".
func parseAddress(s string) (*mail.Address, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("address is empty")
	}
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("address contains a line break")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", s, err)
	}
	return a, nil
}

func isLocalhost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1"
}

func validateHTTPURL(raw string) error {
	if strings.TrimSpace(raw) == "" {
		return errors.New("URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse echoes the URL, which may carry a token.
		return errors.New("URL does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("URL scheme %q is not allowed (http or https only)", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("URL port %q is out of range", p)
		}
	}
	return nil
}

// urlHost returns only the host of a URL for logs and errors: webhook URLs often carry tokens
// in the path or query.
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	return u.Host
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// clone copies the channel deeply enough that the caller may change its own copy while a
// delivery is queued.
func (c *Channel) clone() *Channel {
	out := *c
	out.Severities = append([]string(nil), c.Severities...)
	if c.Webhook != nil {
		w := *c.Webhook
		if c.Webhook.Headers != nil {
			w.Headers = make(map[string]string, len(c.Webhook.Headers))
			for k, v := range c.Webhook.Headers {
				w.Headers[k] = v
			}
		}
		out.Webhook = &w
	}
	if c.Slack != nil {
		s := *c.Slack
		out.Slack = &s
	}
	if c.Email != nil {
		e := *c.Email
		e.To = append([]string(nil), c.Email.To...)
		out.Email = &e
	}
	return &out
}

// cloneNotification copies the label map for the same reason as Channel.clone.
func cloneNotification(n Notification) Notification {
	if n.Labels != nil {
		l := make(map[string]string, len(n.Labels))
		for k, v := range n.Labels {
			l[k] = v
		}
		n.Labels = l
	}
	return n
}

// stateTag is the upper-case word used in subjects and message titles.
func stateTag(state string) string {
	switch state {
	case StateFiring:
		return "FIRING"
	case StateRepeat:
		return "STILL FIRING"
	case StateResolved:
		return "RESOLVED"
	case StateAcknowledged:
		return "ACKNOWLEDGED"
	case StateTest:
		return "TEST"
	case "":
		return "ALERT"
	default:
		return strings.ToUpper(state)
	}
}

// title is the one-line headline shared by every channel type:
// "[FIRING] critical: disk almost full (prod)".
func title(n Notification) string {
	var b strings.Builder
	b.WriteString("[" + stateTag(n.State) + "] ")
	if n.Severity != "" {
		b.WriteString(n.Severity + ": ")
	}
	s := oneLine(n.Summary)
	if s == "" {
		s = oneLine(n.RuleName)
	}
	b.WriteString(s)
	if n.Project != "" {
		b.WriteString(" (" + oneLine(n.Project) + ")")
	}
	return b.String()
}

// oneLine collapses line breaks so a summary cannot inject headers or break layouts.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.Fields(s), " ")
}

// formatValue renders the value for people; NaN and infinities (no value) render as "".
func formatValue(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
