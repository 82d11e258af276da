//go:build linux

package host

import "testing"

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, line, comm string
		state            byte
		ppid             int32
		ticks            uint64
	}{
		{"plain", "42 (bash) S 1 42 42 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 1 0 100 1000 50 18446744073709551615", "bash", 'S', 1, 10},
		{"spaces and parens in comm", "7 (a b) (c)) R 2 0 0 0 -1 0 0 0 0 0 1 1 0 0 20 0 4 0 5 99 3 0", "a b) (c)", 'R', 2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := parseStat([]byte(tc.line), nil)
			if !ok || string(f.name) != tc.comm || f.state != tc.state || f.ppid != tc.ppid || f.ticks != tc.ticks {
				t.Fatalf("got %+v ok=%v", f, ok)
			}
		})
	}
}

func TestParseIO(t *testing.T) {
	rd, wr := parseIO([]byte("rchar: 10\nwchar: 20\nsyscr: 1\nsyscw: 2\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"))
	if rd != 4096 || wr != 8192 {
		t.Fatalf("read %d write %d", rd, wr)
	}
}
