// Package notify delivers alert notifications to webhooks, Slack-compatible incoming webhooks
// and e-mail, with a bounded queue, retries and back-off.
//
// # Delivery
//
// Sender.Enqueue never blocks: it queues the delivery (up to Options.QueueSize pending) or
// returns ErrQueueFull. Workers make up to Options.MaxAttempts attempts, waiting BaseBackoff,
// then twice that, and so on, plus up to 25% jitter, capped at MaxBackoff (1 min). The answer
// decides what happens next:
//
//   - 2xx: delivered.
//   - 408, 429, 5xx, network errors and timeouts: retried. On 429 and 503 a Retry-After header
//     (seconds or an HTTP date) is honoured as the minimum wait, capped at MaxBackoff.
//   - other 3xx and 4xx: final (redirects are not followed; a moved webhook must be
//     reconfigured).
//   - e-mail: SMTP 5xx replies, certificate failures and a server without STARTTLS are final;
//     SMTP 4xx replies and network errors are retried.
//
// Deliveries may arrive out of order after a retry (a "resolved" before a late "firing");
// receivers should order by "at". The same delivery may arrive twice if an answer is lost;
// the X-Osprey-Delivery header is the same on every attempt of one delivery.
// At shutdown, Run keeps delivering for up to 5 s and then abandons what is left.
//
// # Webhook payload (version 1)
//
// A webhook channel POSTs one JSON object per notification, with headers
//
//	Content-Type: application/json
//	User-Agent: osprey-alerts/1
//	X-Osprey-Delivery: <32 hex digits, unique per delivery, repeated on retries>
//	X-Osprey-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>  (only when a secret is set)
//
// plus any headers configured on the channel (e.g. Authorization). The body:
//
//	{
//	  "version": "1",
//	  "project": "prod",                      // project name
//	  "ruleId": 12,
//	  "ruleName": "High CPU",
//	  "alertId": "12:3f9a…",                  // stable per rule and label set
//	  "state": "firing",                      // firing | repeat | resolved | acknowledged | test
//	  "severity": "critical",                 // info | warning | critical
//	  "summary": "CPU at 97% on web-1",       // the rendered message, one line
//	  "labels": {"agent": "web-1"},           // always an object, possibly empty
//	  "value": 97.2,                          // number, or null when there is no value
//	  "activeSince": "2026-03-01T10:00:00Z",  // RFC 3339 UTC, or null when unknown
//	  "at": "2026-03-01T10:05:00Z",           // RFC 3339 UTC, when this transition happened
//	  "url": "https://osprey.example.com/…"   // link to the alert, may be ""
//	}
//
// New fields may be added within version 1; receivers should ignore unknown fields.
// Any 2xx answer acknowledges the delivery.
//
// To verify a signature, compute HMAC-SHA256 over the exact request body bytes (before any
// JSON parsing) with the shared secret, hex-encode it, prefix "sha256=" and compare with the
// X-Osprey-Signature header in constant time (e.g. hmac.Equal in Go).
//
// # Slack-compatible
//
// A slack channel POSTs Slack's incoming-webhook format with a legacy attachment, which Slack,
// Mattermost and Rocket.Chat all render:
//
//	{"text": "[FIRING] critical: CPU at 97% on web-1 (prod)", "channel": "#ops",
//	 "attachments": [{"fallback": "…", "color": "#d00000", "title": "High CPU",
//	   "title_link": "https://…", "text": "CPU at 97% on web-1",
//	   "fields": [{"title": "State", "value": "firing", "short": true}, …],
//	   "footer": "Osprey", "ts": 1772359500}]}
//
// Colours: resolved #2eb886 (green); otherwise critical #d00000 (red), warning #f2a900
// (amber), info #439fe0 (blue); acknowledged and unknown severities #9e9e9e (grey).
// &, < and > in user text are escaped as Slack requires, so labels cannot mention @channel.
//
// # E-mail
//
// One message to all recipients, subject "[FIRING] critical: <summary> (<project>)" (also
// STILL FIRING, RESOLVED, ACKNOWLEDGED, TEST), multipart/alternative with a text/plain and a
// text/html part, headers Date, Message-ID, From, To, MIME-Version, Auto-Submitted and
// X-Osprey-Alert-Id. TLS "starttls" (default) upgrades with STARTTLS and fails if the server
// does not offer it; "tls" is implicit TLS (port 465); "none" is clear text. A username
// enables AUTH PLAIN, which is refused over clear text except to localhost.
//
// Errors and logs name the channel and the target host only: webhook URLs, secrets, header
// values and passwords are never logged or returned.
package notify
