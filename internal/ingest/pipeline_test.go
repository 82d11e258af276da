package ingest

import "testing"

func TestAppliedMarkNeverPassesAGap(t *testing.T) {
	tests := []struct {
		name  string
		order []uint64
		want  []uint64 // applied mark after each completion
	}{
		{"in order", []uint64{1, 2, 3}, []uint64{1, 2, 3}},
		{"second first", []uint64{2, 1, 3}, []uint64{0, 2, 3}},
		{"reverse", []uint64{4, 3, 2, 1}, []uint64{0, 0, 0, 4}},
		{"gap filled late", []uint64{1, 3, 4, 5, 2, 6}, []uint64{1, 1, 1, 1, 5, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &Pipeline{done: map[uint64]struct{}{}}
			for i, seq := range tc.order {
				p.markApplied(seq)
				if got := p.applied.Load(); got != tc.want[i] {
					t.Fatalf("after completing %v: applied = %d, want %d", tc.order[:i+1], got, tc.want[i])
				}
			}
			if len(p.done) != 0 {
				t.Errorf("%d completions left pending", len(p.done))
			}
		})
	}
}
