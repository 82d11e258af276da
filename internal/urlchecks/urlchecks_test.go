package urlchecks

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/osprey-monitoring/osprey/internal/meta"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		c    Check
		err  string // "" = valid
	}{
		{"defaults", Check{Name: "shop", URL: "https://shop.example/"}, ""},
		{"no name", Check{URL: "https://shop.example/"}, "name is empty"},
		{"ftp", Check{Name: "x", URL: "ftp://files.example/"}, "http:// or https://"},
		{"no host", Check{Name: "x", URL: "http:///path"}, "no host"},
		{"method", Check{Name: "x", URL: "http://a.example", Method: "FETCH"}, "not an HTTP method"},
		{"status", Check{Name: "x", URL: "http://a.example", ExpectedStatus: []int{200, 999}}, "999"},
		{"interval", Check{Name: "x", URL: "http://a.example", IntervalSeconds: 1}, "interval"},
		{"timeout beyond interval", Check{Name: "x", URL: "http://a.example", IntervalSeconds: 5, TimeoutMs: 6000}, "longer than the interval"},
		{"header", Check{Name: "x", URL: "http://a.example", Headers: map[string]string{"Bad Name": "v"}}, "header name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Normalize()
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.c.Method != "GET" || tt.c.IntervalSeconds != 60 || tt.c.TimeoutMs != 10000 {
					t.Errorf("defaults %+v", tt.c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error %v, want it to mention %q", err, tt.err)
			}
		})
	}
}

func TestAgentConfig(t *testing.T) {
	ctx := context.Background()
	m, err := meta.Open(ctx, t.TempDir()+"/meta.db")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, _, _ := m.CreateProject(ctx, "default", "")
	put := func(c Check) {
		if err := c.Normalize(); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(c)
		if _, err := m.PutObject(ctx, p.ID, ObjKind, 0, b); err != nil {
			t.Fatal(err)
		}
	}
	put(Check{Name: "everywhere", URL: "http://a.example", Enabled: true})
	put(Check{Name: "seoul only", URL: "http://b.example", Enabled: true, Agents: []string{"seoul"}})
	put(Check{Name: "paused", URL: "http://c.example", Enabled: false})
	src := Source{Meta: m}
	v1, checks, err := src.AgentConfig(ctx, p.ID, "tokyo")
	if err != nil || len(checks) != 1 || checks[0].GetName() != "everywhere" || checks[0].GetMethod() != "GET" {
		t.Fatalf("tokyo: %v %v", checks, err)
	}
	_, checks, _ = src.AgentConfig(ctx, p.ID, "seoul")
	if len(checks) != 2 {
		t.Fatalf("seoul runs %d checks, want 2", len(checks))
	}
	put(Check{Name: "new", URL: "http://d.example", Enabled: true})
	if v2, _, _ := src.AgentConfig(ctx, p.ID, "tokyo"); v2 == v1 {
		t.Error("the version did not change with the checks")
	}
}
