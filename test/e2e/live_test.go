package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
)

func TestLiveStreamDeliversFreshRecords(t *testing.T) {
	s := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.httpAddr+"/api/v1/live?type=log&filter=e2e.run=live&q=line%201", nil)
	req.SetBasicAuth("admin", adminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("live: %d %s", resp.StatusCode, ct)
	}
	r := bufio.NewReader(resp.Body)
	if line, _ := r.ReadString('\n'); !strings.HasPrefix(line, ": connected") {
		t.Fatalf("first line %q", line)
	}

	logs := plogotlp.NewGRPCClient(otlpConn(t, s.grpcAddr))
	if _, err := logs.Export(withKey(context.Background(), projectKey), logBatch("other", 0, 3, time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := logs.Export(withKey(context.Background(), projectKey), logBatch("live", 0, 3, time.Now())); err != nil {
		t.Fatal(err)
	}
	// Only the filtered run's "line 1" may arrive: field filter and text both apply.
	var event string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before the record arrived: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var recs []map[string]string
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &recs); err != nil {
				t.Fatal(err)
			}
			if event != "log" || len(recs) != 1 || recs[0]["e2e.run"] != "live" || !strings.Contains(recs[0]["_msg"], "line 1") {
				t.Fatalf("live delivered %s %v, want the one matching log", event, recs)
			}
			return
		}
	}
}
