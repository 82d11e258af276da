package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// Attachment colours, chosen to read well in Slack and Mattermost themes.
const (
	ColorCritical = "#d00000"
	ColorWarning  = "#f2a900"
	ColorInfo     = "#439fe0"
	ColorResolved = "#2eb886"
	ColorMuted    = "#9e9e9e" // acknowledged, unknown severity
)

// slackMessage is the subset of Slack's incoming-webhook format that Mattermost and
// Rocket.Chat also render (legacy attachments rather than Block Kit, which they ignore).
type slackMessage struct {
	Text        string            `json:"text"`
	Channel     string            `json:"channel,omitempty"`
	Attachments []slackAttachment `json:"attachments"`
}

type slackAttachment struct {
	Fallback  string       `json:"fallback"`
	Color     string       `json:"color"`
	Title     string       `json:"title"`
	TitleLink string       `json:"title_link,omitempty"`
	Text      string       `json:"text"`
	Fields    []slackField `json:"fields"`
	Footer    string       `json:"footer"`
	Ts        int64        `json:"ts"`
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

// slackColor: resolved is green whatever the severity; a firing alert takes its severity's
// colour; acknowledged is muted because someone is on it.
func slackColor(n Notification) string {
	switch n.State {
	case StateResolved:
		return ColorResolved
	case StateAcknowledged:
		return ColorMuted
	}
	switch n.Severity {
	case SeverityCritical:
		return ColorCritical
	case SeverityWarning:
		return ColorWarning
	case SeverityInfo:
		return ColorInfo
	}
	if n.State == StateTest {
		return ColorInfo
	}
	return ColorMuted
}

func newSlackMessage(cfg *SlackConfig, n Notification) slackMessage {
	headline := title(n)
	a := slackAttachment{
		Fallback:  headline,
		Color:     slackColor(n),
		Title:     slackEscape(oneLine(n.RuleName)),
		TitleLink: n.URL,
		Text:      slackEscape(oneLine(n.Summary)),
		Footer:    "Osprey",
		Ts:        n.At.Unix(),
	}
	if a.Title == "" {
		a.Title = slackEscape(headline)
	}
	add := func(t, v string, short bool) {
		if v != "" {
			a.Fields = append(a.Fields, slackField{Title: t, Value: slackEscape(v), Short: short})
		}
	}
	add("State", n.State, true)
	add("Severity", n.Severity, true)
	add("Project", n.Project, true)
	add("Value", formatValue(n.Value), true)
	add("Active since", formatTime(n.ActiveSince), true)
	add("Labels", formatLabels(n.Labels, " = ", "\n"), false)
	if a.Fields == nil {
		a.Fields = []slackField{}
	}
	return slackMessage{
		Text:        slackEscape(headline),
		Channel:     cfg.Channel,
		Attachments: []slackAttachment{a},
	}
}

func (s *Sender) sendSlack(ctx context.Context, cfg *SlackConfig, n Notification, deliveryID string) error {
	body, err := json.Marshal(newSlackMessage(cfg, n))
	if err != nil {
		return permanent(fmt.Errorf("encode payload: %w", err))
	}
	h := http.Header{}
	h.Set(HeaderDelivery, deliveryID)
	return s.postJSON(ctx, cfg.URL, h, body)
}

// slackEscape applies Slack's three control-character escapes so that user text such as
// "<!channel>" in a label cannot ping a whole channel; Mattermost decodes them the same way.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// formatLabels renders labels sorted by name for stable messages.
func formatLabels(labels map[string]string, sep, join string) string {
	keys := sortedKeys(labels)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = oneLine(k) + sep + oneLine(labels[k])
	}
	return strings.Join(lines, join)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
