package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/osprey-monitoring/osprey/internal/agent/host"
)

func TestLoadSnapshotConfigFromYAML(t *testing.T) {
	// The shipped example spells out the defaults.
	cfg, err := LoadConfig("osprey-agent.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Modules.Host.LoadSnapshot, host.DefaultLoadSnapshotConfig(); got != want {
		t.Errorf("example: %+v, want the defaults %+v", got, want)
	}
	// A partial section keeps the defaults of what it leaves out.
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte("modules:\n  host:\n    load_snapshot:\n      cpu_percent: 1\n      cooldown: 30s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ls := cfg.Modules.Host.LoadSnapshot
	if !ls.Enabled || ls.CPUPercent != 1 || ls.MemoryPercent != 90 || ls.Intervals != 3 || ls.Cooldown != 30*time.Second || ls.Top != 15 {
		t.Errorf("partial section: %+v", ls)
	}
	if err := os.WriteFile(path, []byte("modules:\n  host:\n    load_snapshot:\n      cpu_percnt: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(path); err == nil {
		t.Error("a misspelt key was accepted")
	}
}
