package webui

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
)

// TestCommittedBuildIsCurrent rebuilds web/ into a temporary directory and
// compares it with static/: the build is committed (so that go build alone
// gives the UI), and a change to web/src without a rebuild would otherwise
// ship a stale UI unnoticed. Vite names files by content hash, so equal
// sources give equal files.
func TestCommittedBuildIsCurrent(t *testing.T) {
	web, _ := filepath.Abs("../../web")
	vite := filepath.Join(web, "node_modules", ".bin", "vite")
	if _, err := os.Stat(vite); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("web/node_modules missing in CI (scripts/test-deps.sh runs npm ci): %v", err)
		}
		t.Skip("web/node_modules not installed")
	}
	if testing.Short() {
		t.Skip("builds the UI")
	}
	out := t.TempDir()
	cmd := exec.Command(vite, "build", "--outDir", out, "--emptyOutDir", "--logLevel", "error")
	cmd.Dir = web
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vite build: %v\n%s", err, b)
	}
	want := listFiles(t, out)
	got := listFiles(t, "static")
	if len(want) != len(got) {
		t.Fatalf("committed build has %v, a fresh build of web/ has %v: run npm run --prefix web build and commit internal/webui/static", got, want)
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("committed build differs from web/ (%s vs %s): run npm run --prefix web build and commit internal/webui/static", got[i], want[i])
		}
		a, _ := os.ReadFile(filepath.Join(out, want[i]))
		b, _ := os.ReadFile(filepath.Join("static", got[i]))
		if !bytes.Equal(a, b) {
			t.Fatalf("%s differs from a fresh build of web/: run npm run --prefix web build and commit internal/webui/static", got[i])
		}
	}
}

func listFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}
