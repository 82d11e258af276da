package logtail

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRotation runs a writer process that writes 200,000 numbered lines
// and rotates its log every 5,000 lines, while the module tails it with
// the default poll interval and is stopped and started again twice
// midway (rotations happen while it is down, and several between two
// polls).
func TestRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200k lines")
	}
	for _, mode := range []string{"rename", "copytruncate", "copytruncate-pause"} {
		t.Run(mode, func(t *testing.T) { testRotation(t, mode) })
	}
}

func testRotation(t *testing.T, mode string) {
	const lines = 200_000
	dir := t.TempDir()
	path := filepath.Join(dir, "log", "app.log")
	state := filepath.Join(dir, "state")
	writeFile(t, path, "")
	cfg := Config{Sources: []Source{{Paths: []string{filepath.Join(dir, "log", "*.log")}, Category: "app"}}}
	s := &sink{}

	r := startModule(t, cfg, state, s)
	waitUntil(t, 10*time.Second, "the log file open", func() bool { return r.m.Stats().FilesOpen == 1 })
	wait := startWriter(t, writerSpec{Path: path, Lines: lines, Every: 5000, Mode: mode, Burst: 300, Sleep: 3 * time.Millisecond, Gap: 2 * time.Millisecond})
	var stats []Stats
	for range 2 {
		time.Sleep(700 * time.Millisecond)
		r.stop()
		stats = append(stats, r.m.Stats())
		time.Sleep(300 * time.Millisecond)
		r = startModule(t, cfg, state, s)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	// The last line is in the file at the path, which nothing truncates
	// after the writer ends: once it is in, everything is.
	waitUntil(t, 60*time.Second, "the last line", func() bool {
		recs := s.all()
		return len(recs) > 0 && recs[len(recs)-1].body == seqLine(lines)[:len(seqLine(lines))-1]
	})
	time.Sleep(300 * time.Millisecond)
	r.stop()
	stats = append(stats, r.m.Stats())
	t.Logf("module stats per run: %+v", stats)

	recs := s.all()
	prev, fragments := 0, 0
	seen := make([]bool, lines+1)
	for i, rec := range recs {
		seq, ok := parseSeq(rec.body)
		if !ok {
			fragments++
			t.Logf("fragment at %d: %q", i, rec.body)
			continue
		}
		if seq <= prev {
			for j := max(0, i-2); j < min(len(recs), i+2); j++ {
				t.Logf("record %d: %.14s %v %v", j, recs[j].body, recs[j].attrs[AttrFileID], recs[j].attrs[AttrRecordOffset])
			}
			t.Fatalf("record %d: seq %d after %d (duplicate or out of order)", i, seq, prev)
		}
		prev = seq
		seen[seq] = true
		if rec.attrs[AttrFilePath] != path || rec.attrs[AttrCategory] != "app" {
			t.Fatalf("record %d: attributes %v", i, rec.attrs)
		}
	}
	var lost []int
	for seq := 1; seq <= lines; seq++ {
		if !seen[seq] {
			lost = append(lost, seq)
		}
	}
	var rotations, truncations uint64
	for _, st := range stats {
		rotations += st.Rotations
		truncations += st.Truncations
	}

	switch mode {
	case "rename":
		if len(lost) > 0 || fragments > 0 || len(recs) != lines {
			t.Fatalf("rename: %d records for %d lines, %d lost (first %v), %d fragments", len(recs), lines, len(lost), head(lost), fragments)
		}
		if rotations == 0 {
			t.Error("no rotation counted")
		}
	case "copytruncate-pause":
		if len(lost) > 0 || fragments > 0 {
			t.Fatalf("copytruncate with the writer paused: %d lost (first %v), %d fragments", len(lost), head(lost), fragments)
		}
		if truncations == 0 {
			t.Error("no truncation counted")
		}
	case "copytruncate":
		windows := readWindows(t, path)
		inWindow, width := 0, 0
		for _, w := range windows {
			width += w.Hi - w.Lo
		}
		for _, seq := range lost {
			for _, w := range windows {
				if seq > w.Lo && seq <= w.Hi {
					inWindow++
					break
				}
			}
		}
		t.Logf("copytruncate: %d rotations, %d lines written between copy and truncation, %d lost, %d fragments",
			len(windows), width, len(lost), fragments)
		if inWindow != len(lost) {
			t.Fatalf("%d of %d lost lines were written outside a copy→truncate window (first lost %v, windows %v)", len(lost)-inWindow, len(lost), head(lost), windows)
		}
		if fragments > 2*len(windows) {
			t.Fatalf("%d fragments for %d rotations", fragments, len(windows))
		}
		if truncations == 0 {
			t.Error("no truncation counted")
		}
	}
	if _, err := os.Stat(filepath.Join(state, PositionsFile)); err != nil {
		t.Fatal(err)
	}
}

// head shows the first runs of consecutive numbers in s.
func head(s []int) string {
	var b strings.Builder
	runs := 0
	for i := 0; i < len(s) && runs < 10; runs++ {
		j := i
		for j+1 < len(s) && s[j+1] == s[j]+1 {
			j++
		}
		fmt.Fprintf(&b, "%d-%d ", s[i], s[j])
		i = j + 1
	}
	return b.String()
}
