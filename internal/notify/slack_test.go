package notify

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestSlackDelivery proves the Slack/Mattermost JSON a real receiver gets: the headline text,
// the channel override, one attachment with the colour for the state and severity, title,
// link, fields and timestamp.
func TestSlackDelivery(t *testing.T) {
	tests := []struct {
		state, severity string
		wantColor       string
		wantText        string
	}{
		{StateFiring, SeverityCritical, "#d00000", "[FIRING] critical: CPU at 97% on web-1 (prod)"},
		{StateFiring, SeverityWarning, "#f2a900", "[FIRING] warning: CPU at 97% on web-1 (prod)"},
		{StateRepeat, SeverityInfo, "#439fe0", "[STILL FIRING] info: CPU at 97% on web-1 (prod)"},
		{StateResolved, SeverityCritical, "#2eb886", "[RESOLVED] critical: CPU at 97% on web-1 (prod)"},
		{StateAcknowledged, SeverityCritical, "#9e9e9e", "[ACKNOWLEDGED] critical: CPU at 97% on web-1 (prod)"},
		{StateTest, "", "#439fe0", "[TEST] CPU at 97% on web-1 (prod)"},
	}
	rcv := newReceiver(t, statuses(200))
	s, results := startSender(t, Options{})
	ch := &Channel{Name: "chat", Type: TypeSlack, Slack: &SlackConfig{URL: rcv.URL + "/hooks/x", Channel: "#ops"}}
	for i, tt := range tests {
		t.Run(tt.state+"/"+tt.severity, func(t *testing.T) {
			n := testNotification()
			n.State, n.Severity = tt.state, tt.severity
			if err := s.Enqueue(ch, n); err != nil {
				t.Fatal(err)
			}
			if r := waitResult(t, results, 5*time.Second); r.err != nil {
				t.Fatal(r.err)
			}
			req := rcv.requests()[i]
			if ct := req.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var msg struct {
				Text        string `json:"text"`
				Channel     string `json:"channel"`
				Attachments []struct {
					Fallback  string `json:"fallback"`
					Color     string `json:"color"`
					Title     string `json:"title"`
					TitleLink string `json:"title_link"`
					Text      string `json:"text"`
					Fields    []struct {
						Title string `json:"title"`
						Value string `json:"value"`
						Short bool   `json:"short"`
					} `json:"fields"`
					Ts int64 `json:"ts"`
				} `json:"attachments"`
			}
			if err := json.Unmarshal(req.body, &msg); err != nil {
				t.Fatalf("body: %v\n%s", err, req.body)
			}
			if msg.Text != tt.wantText || msg.Channel != "#ops" || len(msg.Attachments) != 1 {
				t.Fatalf("message = %s", req.body)
			}
			a := msg.Attachments[0]
			if a.Color != tt.wantColor {
				t.Errorf("color = %s, want %s", a.Color, tt.wantColor)
			}
			if a.Title != "High CPU" || a.TitleLink != n.URL || a.Text != n.Summary || a.Fallback != tt.wantText {
				t.Errorf("attachment = %+v", a)
			}
			if a.Ts != n.At.Unix() {
				t.Errorf("ts = %d, want %d", a.Ts, n.At.Unix())
			}
			fields := map[string]string{}
			for _, f := range a.Fields {
				fields[f.Title] = f.Value
			}
			want := map[string]string{
				"State": tt.state, "Severity": tt.severity, "Project": "prod", "Value": "97.5",
				"Active since": "2026-03-01T10:00:00Z", "Labels": "agent = web-1\ninstance = 10.0.0.1:9100",
			}
			if tt.severity == "" {
				delete(want, "Severity") // empty fields are left out
			}
			if len(fields) != len(want) {
				t.Errorf("fields = %v, want %v", fields, want)
			}
			for k, v := range want {
				if fields[k] != v {
					t.Errorf("field %q = %q, want %q", k, fields[k], v)
				}
			}
		})
	}
}

// TestSlackEscaping proves user text cannot trigger Slack mentions or links.
func TestSlackEscaping(t *testing.T) {
	n := testNotification()
	n.Summary = "<!channel> disk & cpu > 90%"
	n.Labels = map[string]string{"path": "<@U123>"}
	n.Value = math.NaN()
	msg := newSlackMessage(&SlackConfig{}, n)
	a := msg.Attachments[0]
	if want := "&lt;!channel&gt; disk &amp; cpu &gt; 90%"; a.Text != want {
		t.Errorf("text = %q, want %q", a.Text, want)
	}
	for _, f := range a.Fields {
		if f.Title == "Labels" && f.Value != "path = &lt;@U123&gt;" {
			t.Errorf("labels = %q", f.Value)
		}
		if f.Title == "Value" {
			t.Errorf("NaN value rendered as %q, want the field left out", f.Value)
		}
	}
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), `"channel"`) {
		t.Errorf("empty channel is sent: %s", b)
	}
}
