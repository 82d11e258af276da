package server

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestExampleConfigLoadsAndFlagsOverride(t *testing.T) {
	cfg := DefaultConfig()
	if err := cfg.LoadFile(filepath.Join("..", "..", "osprey.example.yaml")); err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Retention.Metrics) != 15*24*time.Hour || cfg.Ingest.RateLimit != 5000 || cfg.HTTPAddr != ":8800" {
		t.Fatalf("example config read as %+v", cfg)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	cfg.BindFlags(fs)
	if err := fs.Parse([]string{"--http-addr", "127.0.0.1:9", "--retention-events", "36h"}); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:9" || time.Duration(cfg.Retention.Events) != 36*time.Hour {
		t.Errorf("flags did not override: %+v", cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

func TestBadConfigIsRefused(t *testing.T) {
	tests := []struct {
		name string
		yaml string
	}{
		{"unknown duration", "retention: {metrics: 5 weeks}"},
		{"not yaml", "data_dir: [unclosed"},
	}
	for _, tc := range tests {
		p := filepath.Join(t.TempDir(), "c.yaml")
		os.WriteFile(p, []byte(tc.yaml), 0o644)
		cfg := DefaultConfig()
		if err := cfg.LoadFile(p); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	cfg := DefaultConfig()
	cfg.TLS.CertFile = "x.pem"
	if cfg.validate() == nil {
		t.Error("TLS cert without key accepted")
	}
	cfg = DefaultConfig()
	cfg.Ingest.WALSync = "sometimes"
	if cfg.validate() == nil {
		t.Error("unknown wal_sync accepted")
	}
}
