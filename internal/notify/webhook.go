package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// UserAgent is sent with every webhook and Slack request.
const UserAgent = "osprey-alerts/1"

// Header names of the webhook protocol.
const (
	HeaderSignature = "X-Osprey-Signature"
	HeaderDelivery  = "X-Osprey-Delivery"
)

// WebhookPayload is the documented webhook body (version "1"). Fields are only ever added
// within a version.
type WebhookPayload struct {
	Version     string            `json:"version"`
	Project     string            `json:"project"`
	RuleID      int64             `json:"ruleId"`
	RuleName    string            `json:"ruleName"`
	AlertID     string            `json:"alertId"`
	State       string            `json:"state"`
	Severity    string            `json:"severity"`
	Summary     string            `json:"summary"`
	Labels      map[string]string `json:"labels"`
	Value       *float64          `json:"value"`
	ActiveSince *string           `json:"activeSince"`
	At          string            `json:"at"`
	URL         string            `json:"url"`
}

// NewWebhookPayload builds the webhook body for n.
func NewWebhookPayload(n Notification) WebhookPayload {
	p := WebhookPayload{
		Version:  "1",
		Project:  n.Project,
		RuleID:   n.RuleID,
		RuleName: n.RuleName,
		AlertID:  n.AlertID,
		State:    n.State,
		Severity: n.Severity,
		Summary:  n.Summary,
		Labels:   n.Labels,
		At:       formatTime(n.At),
		URL:      n.URL,
	}
	if p.Labels == nil {
		p.Labels = map[string]string{} // always an object, so receivers need no null check
	}
	// JSON has no NaN or infinity; "no value" is null.
	if !math.IsNaN(n.Value) && !math.IsInf(n.Value, 0) {
		v := n.Value
		p.Value = &v
	}
	if !n.ActiveSince.IsZero() {
		s := formatTime(n.ActiveSince)
		p.ActiveSince = &s
	}
	return p
}

// Sign returns the X-Osprey-Signature value for body: "sha256=" and the hex HMAC-SHA256 of the
// exact body bytes keyed with secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (s *Sender) sendWebhook(ctx context.Context, cfg *WebhookConfig, n Notification, deliveryID string) error {
	body, err := json.Marshal(NewWebhookPayload(n))
	if err != nil {
		return permanent(fmt.Errorf("encode payload: %w", err))
	}
	h := make(http.Header, len(cfg.Headers)+2)
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	if cfg.Secret != "" {
		h.Set(HeaderSignature, Sign(cfg.Secret, body))
	}
	h.Set(HeaderDelivery, deliveryID)
	return s.postJSON(ctx, cfg.URL, h, body)
}

// postJSON posts body and turns anything but a 2xx into an error. Errors carry the URL's host
// only: the path and query of a webhook URL are often the credential.
func (s *Sender) postJSON(ctx context.Context, rawURL string, h http.Header, body []byte) error {
	host := urlHost(rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("POST %s: invalid request", host))
	}
	for k, v := range h {
		req.Header[k] = v
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", UserAgent)
	}
	req.Header.Set("Content-Type", "application/json")

	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error's text repeats the whole URL
		}
		return fmt.Errorf("POST %s: %w", host, err)
	}
	defer resp.Body.Close()
	// A short excerpt helps the test button explain a refusal; the rest is read so the
	// connection can be reused.
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	se := &statusError{host: host, code: resp.StatusCode, status: resp.Status, body: cleanExcerpt(excerpt)}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		se.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return se
}

// parseRetryAfter reads delay-seconds or an HTTP date; anything unusable is 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second) // avoids overflow; the caller caps it anyway
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// cleanExcerpt makes a response body excerpt safe to show on one line.
func cleanExcerpt(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, string(b))
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
