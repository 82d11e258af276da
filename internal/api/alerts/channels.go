package alerts

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"time"

	"github.com/osprey-monitoring/osprey/internal/alert"
	"github.com/osprey-monitoring/osprey/internal/api/envelope"
	"github.com/osprey-monitoring/osprey/internal/api/objects"
	"github.com/osprey-monitoring/osprey/internal/notify"
)

// channelDoc is a channel as the API reads and writes it.
type channelDoc struct {
	ID         int64                 `json:"id"`
	Name       string                `json:"name"`
	Type       string                `json:"type"`
	Severities []string              `json:"severities"`
	Webhook    *notify.WebhookConfig `json:"webhook,omitempty"`
	Slack      *notify.SlackConfig   `json:"slack,omitempty"`
	Email      *notify.EmailConfig   `json:"email,omitempty"`
}

func (c *channelDoc) channel() *notify.Channel {
	return &notify.Channel{ID: c.ID, Name: c.Name, Type: c.Type, Severities: c.Severities,
		Webhook: c.Webhook, Slack: c.Slack, Email: c.Email}
}

func (c *channelDoc) Validate() error { return c.channel().Validate() }

// redacted hides secrets from what is served: they are write-only.
func (c *channelDoc) redacted() *channelDoc {
	out := *c
	if c.Webhook != nil {
		wh := *c.Webhook
		if wh.Secret != "" {
			wh.Secret = hidden
		}
		if len(wh.Headers) > 0 {
			hs := make(map[string]string, len(wh.Headers))
			for k := range wh.Headers {
				hs[k] = hidden
			}
			wh.Headers = hs
		}
		out.Webhook = &wh
	}
	if c.Email != nil {
		em := *c.Email
		if em.Password != "" {
			em.Password = hidden
		}
		out.Email = &em
	}
	return &out
}

const hidden = "********"

// keepSecrets puts back the stored secrets a client returned as hidden.
func keepSecrets(stored, next *channelDoc) {
	if next.Webhook != nil && stored.Webhook != nil {
		if next.Webhook.Secret == hidden {
			next.Webhook.Secret = stored.Webhook.Secret
		}
		for k, v := range next.Webhook.Headers {
			if v == hidden {
				next.Webhook.Headers[k] = stored.Webhook.Headers[k]
			}
		}
	}
	if next.Email != nil && stored.Email != nil && next.Email.Password == hidden {
		next.Email.Password = stored.Email.Password
	}
}

// testChannel sends a test notification through a stored channel (by id)
// or through the channel in the body (before it is saved), and answers
// with the delivery error in words.
func (h *handler) testChannel(w http.ResponseWriter, r *http.Request) {
	id, ok := objects.Editor(w, r)
	if !ok {
		return
	}
	var doc channelDoc
	if r.PathValue("id") != "" {
		oid, ok := objects.PathID(w, r)
		if !ok {
			return
		}
		obj, err := h.meta.Object(r.Context(), id.Project.ID, alert.ObjChannel, oid)
		if err != nil {
			objects.WriteMetaError(w, err)
			return
		}
		if err := json.Unmarshal(obj.Body, &doc); err != nil {
			envelope.WriteError(w, http.StatusInternalServerError, "internal", err.Error())
			return
		}
		doc.ID = oid
	} else if !objects.Decode(w, r, &doc) {
		return
	}
	ch := doc.channel()
	if err := ch.Validate(); err != nil {
		envelope.WriteError(w, http.StatusBadRequest, "bad_data", "notification channel: "+err.Error())
		return
	}
	now := h.now().UTC()
	ctx, cancel := context.WithTimeout(r.Context(), testTimeout)
	defer cancel()
	err := h.tester.Send(ctx, ch, notify.Notification{
		Project: id.Project.Name, AlertID: "test", State: "test", Severity: alert.SeverityInfo,
		RuleName: "Test notification", Summary: "Test notification from Osprey, sent by " + id.User.Name,
		Labels: map[string]string{}, Value: math.NaN(), ActiveSince: now, At: now,
	})
	if err != nil {
		envelope.WriteData(w, map[string]any{"ok": false, "error": err.Error()})
		return
	}
	envelope.WriteData(w, map[string]any{"ok": true, "sentAt": now.Format(time.RFC3339)})
}
