package stacks

import (
	"context"
	"regexp"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
)

//go:noinline
func parkedWorker(ready chan<- struct{}, stop <-chan struct{}) {
	ready <- struct{}{}
	<-stop
}

func TestSampleFindsLabelledGoroutine(t *testing.T) {
	ready, stop := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go pprof.Do(context.Background(), pprof.Labels(Label, "00000000000000aa"), func(context.Context) {
		defer wg.Done()
		parkedWorker(ready, stop)
	})
	// An unlabelled goroutine and one whose label is not wanted must not
	// show up.
	go pprof.Do(context.Background(), pprof.Labels(Label, "00000000000000bb"), func(context.Context) {
		defer wg.Done()
		parkedWorker(ready, stop)
	})
	<-ready
	<-ready
	defer func() { close(stop); wg.Wait() }()

	var s Sampler
	for range 2 { // the second run goes through the formatted-stack cache
		got, err := s.Sample(func(l string) bool { return l == "00000000000000aa" })
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("got %d stacks, want 1: %v", len(got), got)
		}
		st := got["00000000000000aa"]
		if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(st.Hash) || st.Hash != Hash(st.Text) {
			t.Fatalf("hash %q", st.Hash)
		}
		if !strings.Contains(st.Text, "stacks.parkedWorker\n\t") || !strings.Contains(st.Text, "stacks_test.go:") {
			t.Fatalf("stack text:\n%s", st.Text)
		}
		if lines := strings.Split(st.Text, "\n"); len(lines)%2 != 0 || strings.HasPrefix(lines[0], "\t") || !strings.HasPrefix(lines[1], "\t") {
			t.Fatalf("not function/\\tfile:line pairs:\n%s", st.Text)
		}
	}
}

// The hash is FNV-1a, the same in every process (the server's dictionary
// shares equal stacks across instances).
func TestHashStable(t *testing.T) {
	if got := Hash("a"); got != "af63dc4c8601ec8c" {
		t.Fatalf("Hash(a) = %s", got)
	}
}
