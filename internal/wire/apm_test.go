package wire

import "testing"

func TestHitmapBuckets(t *testing.T) {
	bounds := HitmapBounds()
	if len(bounds) != HitmapBuckets+1 {
		t.Fatalf("bounds: %d edges, want %d", len(bounds), HitmapBuckets+1)
	}
	for _, tc := range []struct {
		ms   float64
		want int
	}{
		{0, 0}, {124.9, 0}, {125, 1}, {4999, 39}, {5000, 40}, {9999, 59},
		{10000, 60}, {19999, 79}, {20000, 80}, {39999, 99}, {40000, 100},
		{79999, 119}, {80000, 119}, {1e9, 119}, {-3, 0},
	} {
		if got := HitmapBucket(tc.ms); got != tc.want {
			t.Errorf("HitmapBucket(%v) = %d, want %d", tc.ms, got, tc.want)
		}
	}
	for i := 0; i < HitmapBuckets; i++ {
		if got := HitmapBucket(bounds[i]); got != i {
			t.Errorf("lower edge %v of bucket %d lands in %d", bounds[i], i, got)
		}
	}
}
