package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFlagsOverrideFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte("server: file:4317\ngroup: from-file\nkey: file-key\ninterval: 10s\nspool: {max_bytes: 8MiB}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("OSPREY_KEY", "")
	for _, tc := range []struct {
		name   string
		args   []string
		env    string
		server string
		group  string
		key    string
		iv     time.Duration
		spool  int64
	}{
		{"file only", []string{"--config", path}, "", "file:4317", "from-file", "file-key", 10 * time.Second, 8 << 20},
		{"env key over file", []string{"--config", path}, "env-key", "file:4317", "from-file", "env-key", 10 * time.Second, 8 << 20},
		{"flags over env and file", []string{"--config", path, "--server", "flag:1", "--key", "flag-key", "--group", "g", "--interval", "2s", "--spool-max-bytes", "1GiB"},
			"env-key", "flag:1", "g", "flag-key", 2 * time.Second, 1 << 30},
		{"no file", []string{"--name", "n1"}, "", "localhost:4317", "default", "", 5 * time.Second, 256 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("OSPREY_KEY", tc.env)
			cfg, done, err := parseConfig(tc.args)
			if err != nil || done {
				t.Fatalf("parse: %v %v", err, done)
			}
			if cfg.Server != tc.server || cfg.Group != tc.group || cfg.Key != tc.key || cfg.Interval != tc.iv || int64(cfg.Spool.MaxBytes) != tc.spool {
				t.Errorf("got server=%s group=%s key=%s interval=%v spool=%d", cfg.Server, cfg.Group, cfg.Key, cfg.Interval, cfg.Spool.MaxBytes)
			}
		})
	}
	if _, _, err := parseConfig([]string{"--spool-max-bytes", "lots"}); err == nil {
		t.Error("bad size accepted")
	}
}
