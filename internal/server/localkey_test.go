package server

import (
	"os"
	"path/filepath"
	"testing"
)

func TestKeepLocalAgentKey(t *testing.T) {
	tests := []struct {
		name     string
		project  string
		haveFile bool
		want     string // file content after; "" = no file
	}{
		{"default project with osprey up's key file", "default", true, "new-key\n"},
		{"other project leaves the file alone", "web", true, "old-key\n"},
		{"no local agent: no file is created", "default", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, LocalAgentKeyFile)
			if tc.haveFile {
				os.WriteFile(path, []byte("old-key\n"), 0o600)
			}
			if err := KeepLocalAgentKey(dir, tc.project, "new-key"); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("file created: %q", b)
				}
				return
			}
			if string(b) != tc.want {
				t.Errorf("file = %q, want %q", b, tc.want)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", st.Mode().Perm())
			}
		})
	}
}
