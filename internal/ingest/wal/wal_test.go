package wal

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func open(t *testing.T, dir string, segSize int64) (*WAL, []Record) {
	t.Helper()
	w, recs, err := Open(Options{Dir: dir, SegmentSize: segSize})
	if err != nil {
		t.Fatalf("open wal: %v", err)
	}
	return w, recs
}

func appendN(t *testing.T, w *WAL, n int, from int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if _, err := w.Append(uint8(i%5+1), int64(i%3+1), []byte(fmt.Sprintf("body-%d", i))); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
}

func TestReplayAfterCrashKeepsEveryRecordInOrder(t *testing.T) {
	dir := t.TempDir()
	w, recs := open(t, dir, 1<<10) // tiny segments: many rotations
	if len(recs) != 0 {
		t.Fatalf("new wal replays %d records", len(recs))
	}
	appendN(t, w, 200, 0)
	// No Close: simulate kill -9 (the OS has the bytes; nothing was fsynced).
	w2, recs := open(t, dir, 1<<10)
	defer w2.Close(context.Background())
	if len(recs) != 200 {
		t.Fatalf("replayed %d records, want 200", len(recs))
	}
	for i, r := range recs {
		if r.Seq != uint64(i+1) || string(r.Body) != fmt.Sprintf("body-%d", i) || r.Kind != uint8(i%5+1) || r.Project != int64(i%3+1) {
			t.Fatalf("record %d = %+v", i, r)
		}
	}
	seq, err := w2.Append(1, 1, []byte("next"))
	if err != nil || seq != 201 {
		t.Fatalf("append after reopen: seq %d err %v, want 201", seq, err)
	}
}

func TestCheckpointTrimsAndLimitsReplay(t *testing.T) {
	dir := t.TempDir()
	w, _ := open(t, dir, 1<<10)
	appendN(t, w, 300, 0)
	before := len(segments(t, dir))
	if err := w.Checkpoint(250); err != nil {
		t.Fatal(err)
	}
	after := len(segments(t, dir))
	if after >= before {
		t.Fatalf("checkpoint kept all %d segments", before)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	w2, recs := open(t, dir, 1<<10)
	defer w2.Close(context.Background())
	if len(recs) != 50 || recs[0].Seq != 251 || recs[49].Seq != 300 {
		t.Fatalf("replay after checkpoint 250: %d records, first %d", len(recs), recs[0].Seq)
	}
}

func TestTornTailIsCutAndLaterAppendsSurvive(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(path string, size int64)
	}{
		{"half a header", func(p string, _ int64) { appendBytes(t, p, []byte{9, 0}) }},
		{"half a record", func(p string, _ int64) { appendBytes(t, p, []byte{100, 0, 0, 0, 1, 2, 3, 4, 'x'}) }},
		{"flipped byte in last record", func(p string, size int64) {
			b, _ := os.ReadFile(p)
			b[size-2] ^= 0xff
			os.WriteFile(p, b, 0o644)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			w, _ := open(t, dir, 1<<20)
			appendN(t, w, 10, 0)
			w.Close(context.Background())
			segs := segments(t, dir)
			path := segs[len(segs)-1]
			st, _ := os.Stat(path)
			tc.corrupt(path, st.Size())
			w2, recs := open(t, dir, 1<<20)
			want := 10
			if tc.name == "flipped byte in last record" {
				want = 9
			}
			if len(recs) != want {
				t.Fatalf("replayed %d, want %d", len(recs), want)
			}
			appendN(t, w2, 5, 100)
			w2.Close(context.Background())
			_, recs = open(t, dir, 1<<20)
			if len(recs) != want+5 || !bytes.Equal(recs[len(recs)-1].Body, []byte("body-104")) {
				t.Fatalf("after repair and append: %d records", len(recs))
			}
			for i := 1; i < len(recs); i++ {
				if recs[i].Seq != recs[i-1].Seq+1 {
					t.Fatalf("gap in seqs at %d: %d then %d", i, recs[i-1].Seq, recs[i].Seq)
				}
			}
		})
	}
}

func TestOversizedRecordRefused(t *testing.T) {
	w, _ := open(t, t.TempDir(), 0)
	defer w.Close(context.Background())
	if _, err := w.Append(1, 1, make([]byte, MaxRecordSize)); err == nil {
		t.Fatal("a record over the size limit was accepted")
	}
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkAppend(b *testing.B) {
	w, _, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(context.Background())
	body := bytes.Repeat([]byte("x"), 64<<10) // a typical 1,000-span OTLP batch is ~200 KiB; 64 KiB is a small one
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := w.Append(2, 1, body); err != nil {
			b.Fatal(err)
		}
	}
}
