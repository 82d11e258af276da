package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (s *server) post(user, pass, project, path string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.httpAddr+path, strings.NewReader("{}"))
	req.SetBasicAuth(user, pass)
	req.Header.Set("X-Osprey-Project", project)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var env struct {
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(b, &env)
	return resp.StatusCode, env.Data
}

func TestNewProjectKeyFromTheAPI(t *testing.T) {
	s := newServer(t)
	const oldKey = "osp_e2e_empty_project_key_00003"
	s.cli("project", "create", "empty", "--key", oldKey)
	s.cli("user", "add", "vera", "--password", "vera-password-1", "--project", "empty", "--role", "viewer")

	if code, _ := s.post("vera", "vera-password-1", "empty", "/api/v1/project/key"); code != http.StatusForbidden {
		t.Errorf("viewer making a key: %d, want 403", code)
	}
	code, data := s.post("admin", adminPassword, "empty", "/api/v1/project/key")
	if code != http.StatusOK {
		t.Fatalf("owner making a key for an empty project: %d", code)
	}
	newKey, _ := data["key"].(string)
	if !strings.HasPrefix(newKey, "osp_") || data["grpcPort"] == "" {
		t.Fatalf("answer %v", data)
	}
	logs := plogotlp.NewGRPCClient(otlpConn(t, s.grpcAddr))
	eventually(t, 15*time.Second, "the old key refused (key cache expires)", func() error {
		_, err := logs.Export(withKey(context.Background(), oldKey), logBatch("old", 0, 1, time.Now()))
		if status.Code(err) != codes.Unauthenticated {
			return err
		}
		return nil
	})
	if _, err := logs.Export(withKey(context.Background(), newKey), logBatch("new", 0, 1, time.Now())); err != nil {
		t.Fatalf("the new key does not work: %v", err)
	}

	// A project with a connected agent keeps its key: rotating would cut it off.
	startAgent(t, s, "keyed-host")
	eventually(t, 30*time.Second, "agent active in default", func() error {
		var a struct{ Active int }
		_, err := s.api("admin", adminPassword, "default", "/api/v1/agents", nil, &a)
		if err == nil && a.Active == 0 {
			return io.EOF
		}
		return err
	})
	if code, _ := s.post("admin", adminPassword, "default", "/api/v1/project/key"); code != http.StatusConflict {
		t.Errorf("new key while an agent is connected: %d, want 409", code)
	}
}
