package event

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestFlushSurvivesKill9 runs a child process that adds rows, calls Flush,
// reports, then adds more rows without flushing and is killed with
// SIGKILL. Every flushed row must be there after reopening.
func TestFlushSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("OSPREY_EVENT_KILL_CHILD"); dir != "" {
		killChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlushSurvivesKill9$")
	cmd.Env = append(os.Environ(), "OSPREY_EVENT_KILL_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	flushed := false
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "FLUSHED" {
			flushed = true
			break
		}
	}
	if !flushed {
		_ = cmd.Process.Kill()
		t.Fatal("child did not report FLUSHED")
	}
	// Kill at once: no Close, no background flush interval may pass.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s := openTest(t, dir)
	n, err := s.Count(context.Background(), 3, Query{Type: "log", Start: time.Now().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10000 {
		t.Fatalf("after kill -9: %d flushed rows survived, want 10000", n)
	}
}

func killChild(dir string) {
	s, err := Open(context.Background(), Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	now := time.Now()
	rows := make([]Row, 10000)
	for i := range rows {
		rows[i] = row(now.Add(-time.Duration(i)*time.Millisecond), "log", fmt.Sprintf("durable %d", i))
	}
	if _, _, err := s.Add(context.Background(), 3, rows); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	if err := s.FlushErr(); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("FLUSHED")
	for {
		_, _, _ = s.Add(context.Background(), 3, []Row{row(time.Now(), "other", "unflushed")})
		time.Sleep(time.Millisecond)
	}
}
