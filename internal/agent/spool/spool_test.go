package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func payload(i int, size int) []byte {
	b := make([]byte, size)
	copy(b, fmt.Sprintf("rec-%06d", i))
	return b
}

// drain reads and acks everything, returning the record prefixes in order.
func drain(t *testing.T, s *Spool) []string {
	t.Helper()
	var out []string
	var buf []byte
	for {
		rec, err := s.Peek(buf)
		if errors.Is(err, ErrEmpty) {
			return out
		}
		if err != nil {
			t.Fatalf("peek: %v", err)
		}
		buf = rec.Data
		out = append(out, fmt.Sprintf("%d:%s", rec.Type, rec.Data[:10]))
		if err := s.Ack(rec); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
}

func want(from, to int, typ Type) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%d:rec-%06d", typ, i))
	}
	return out
}

func equal(t *testing.T, got, exp []string) {
	t.Helper()
	if len(got) != len(exp) {
		t.Fatalf("got %d records, want %d\n got: %v\nwant: %v", len(got), len(exp), got, exp)
	}
	for i := range got {
		if got[i] != exp[i] {
			t.Fatalf("record %d: got %s want %s", i, got[i], exp[i])
		}
	}
}

func TestFIFOAcrossSegments(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		size  int
		types bool
	}{
		{"few small", 5, 100, false},
		{"many rolling segments", 500, 1000, false},
		{"mixed types", 300, 700, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), Options{MaxBytes: 64 << 20, SegmentBytes: 64 << 10})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var exp []string
			for i := 0; i < tc.n; i++ {
				typ := Type(1)
				if tc.types && i%3 == 0 {
					typ = 2
				}
				if err := s.Append(typ, payload(i, tc.size)); err != nil {
					t.Fatal(err)
				}
				exp = append(exp, want(i, i+1, typ)...)
			}
			if st := s.Stats(); st.Records != int64(tc.n) || st.Bytes != int64(tc.n*(tc.size+headerSize)) {
				t.Fatalf("stats %+v", st)
			}
			equal(t, drain(t, s), exp)
			if st := s.Stats(); st.Records != 0 || st.Bytes != 0 {
				t.Fatalf("stats after drain %+v", st)
			}
		})
	}
}

func TestInterleavedAppendAndRead(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MaxBytes: 1 << 20, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []string
	for i := 0; i < 400; i++ {
		if err := s.Append(1, payload(i, 900)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 1 {
			got = append(got, drain(t, s)...)
		}
	}
	equal(t, got, want(0, 400, 1))
	entries, _ := os.ReadDir(s.dir)
	if len(entries) > 3 { // current segment + cursor
		t.Fatalf("consumed segments not removed: %d entries", len(entries))
	}
}

func TestBoundDropsOldest(t *testing.T) {
	const size = 1000 - headerSize
	s, err := Open(t.TempDir(), Options{MaxBytes: 640 << 10, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 2000 // ~2 MB into a 640 KiB spool
	for i := 0; i < n; i++ {
		if err := s.Append(1, payload(i, size)); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Bytes > 640<<10 {
			t.Fatalf("after %d appends spool holds %d bytes, over the bound", i, st.Bytes)
		}
	}
	st := s.Stats()
	if st.Dropped == 0 || st.Dropped+uint64(st.Records) != n {
		t.Fatalf("dropped %d + kept %d != %d", st.Dropped, st.Records, n)
	}
	got := drain(t, s)
	// What is left is the newest, contiguous and in order.
	equal(t, got, want(n-len(got), n, 1))
	if err := s.Append(1, make([]byte, 700<<10)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized append: %v", err)
	}
}

func TestRestartPersistence(t *testing.T) {
	dir := t.TempDir()
	opts := Options{MaxBytes: 4 << 20, SegmentBytes: 64 << 10}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		if err := s.Append(2, payload(i, 500)); err != nil {
			t.Fatal(err)
		}
	}
	// Consume 120 of them, then "restart".
	var buf []byte
	for i := 0; i < 120; i++ {
		rec, err := s.Peek(buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ack(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != 180 {
		t.Fatalf("after restart %d records, want 180", st.Records)
	}
	for i := 300; i < 310; i++ {
		if err := s.Append(2, payload(i, 500)); err != nil {
			t.Fatal(err)
		}
	}
	equal(t, drain(t, s), want(120, 310, 2))
	s.Close()
	// Fully drained: a third open finds nothing and ids keep increasing.
	s, err = Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Records != 0 {
		t.Fatalf("drained spool reopened with %d records", st.Records)
	}
	if err := s.Append(1, payload(1, 20)); err != nil {
		t.Fatal(err)
	}
	equal(t, drain(t, s), want(1, 2, 1))
}

func TestCorruptTail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		damage  func(t *testing.T, path string)
		keep    int // records expected to survive out of 10
		corrupt bool
	}{
		{"torn header", func(t *testing.T, p string) { appendBytes(t, p, []byte{1, 2, 3}) }, 10, true},
		{"torn payload", func(t *testing.T, p string) {
			appendBytes(t, p, []byte{200, 0, 0, 0, 9, 9, 9, 9, 1, 'x', 'y'})
		}, 10, true},
		{"flipped byte in last record", func(t *testing.T, p string) { flipAt(t, p, -5) }, 9, true},
		{"zero fill after crash", func(t *testing.T, p string) { appendBytes(t, p, make([]byte, 4096)) }, 10, true},
		{"clean", func(t *testing.T, p string) {}, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{MaxBytes: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				if err := s.Append(1, payload(i, 100)); err != nil {
					t.Fatal(err)
				}
			}
			path := s.segPath(s.segs[len(s.segs)-1].id)
			s.Close()
			tc.damage(t, path)
			s, err = Open(dir, Options{MaxBytes: 4 << 20})
			if err != nil {
				t.Fatalf("open after damage: %v", err)
			}
			defer s.Close()
			if got := s.Stats().Corrupt > 0; got != tc.corrupt {
				t.Fatalf("corrupt reported %v, want %v", got, tc.corrupt)
			}
			// New appends after recovery must be readable after the survivors.
			if err := s.Append(1, payload(10, 100)); err != nil {
				t.Fatal(err)
			}
			exp := append(want(0, tc.keep, 1), want(10, 11, 1)...)
			equal(t, drain(t, s), exp)
		})
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flipAt(t *testing.T, path string, fromEnd int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[int64(len(b))+fromEnd] ^= 0xff
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func TestStaleCursorIgnored(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := s.Append(1, payload(i, 50)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// A cursor that points mid-record is not trusted: resend all.
	if err := os.WriteFile(filepath.Join(dir, cursorFile), []byte("garbage"), 0o640); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	equal(t, drain(t, s), want(0, 3, 1))
}

func TestCaughtUpReaderKeepsDiskSmall(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MaxBytes: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 300; i++ {
		if err := s.Append(1, payload(i, 20000)); err != nil {
			t.Fatal(err)
		}
		equal(t, drain(t, s), want(i, i+1, 1))
	}
	var onDisk int64
	m, _ := filepath.Glob(filepath.Join(s.dir, "*.seg"))
	for _, f := range m {
		st, _ := os.Stat(f)
		onDisk += st.Size()
	}
	if onDisk > compactAt+20000+headerSize {
		t.Fatalf("%d bytes of acknowledged data left on disk", onDisk)
	}
}

func TestDamageAfterOpenSkipsSegment(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MaxBytes: 4 << 20, SegmentBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 3; i++ { // two records fill segment 1, the third starts segment 2
		if err := s.Append(1, payload(i, 30000)); err != nil {
			t.Fatal(err)
		}
	}
	if len(s.segs) != 2 {
		t.Fatalf("%d segments, want 2", len(s.segs))
	}
	flipAt(t, s.segPath(s.segs[0].id), -60000) // inside the first payload
	if _, err := s.Peek(nil); err == nil || errors.Is(err, ErrEmpty) {
		t.Fatalf("damaged record read without error: %v", err)
	}
	equal(t, drain(t, s), want(2, 3, 1))
	if st := s.Stats(); st.Corrupt == 0 || st.Records != 0 {
		t.Fatalf("stats %+v", st)
	}
}
