package runner

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMatmul compares matmul, serial and split across goroutines, with a
// float64 reference, on shapes that exercise the 4-row blocks, the row and
// column tails and the parallel split.
func TestMatmul(t *testing.T) {
	tests := []struct{ T, N, K, threads int }{
		{1, 1, 1, 1}, {1, 3, 5, 1}, {1, 4, 8, 1}, {2, 7, 9, 1}, {3, 17, 33, 4},
		{1, 256, 48, 2}, {60, 256, 48, 4}, {12, 352, 128, 2}, {5, 1023, 257, 3},
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dx%dx%d/threads=%d", tc.T, tc.N, tc.K, tc.threads), func(t *testing.T) {
			x := make([]float32, tc.T*tc.K)
			w := make([]float32, tc.N*tc.K)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			for i := range w {
				w[i] = float32(r.NormFloat64())
			}
			out := make([]float32, tc.T*tc.N)
			matmul(out, x, w, tc.T, tc.N, tc.K, tc.threads)
			for i := range tc.T {
				for j := range tc.N {
					var want, mag float64
					for k := range tc.K {
						p := float64(x[i*tc.K+k]) * float64(w[j*tc.K+k])
						want += p
						mag += math.Abs(p)
					}
					if got := float64(out[i*tc.N+j]); math.Abs(got-want) > 1e-6*mag+1e-30 {
						t.Fatalf("out[%d][%d] = %v; want %v", i, j, got, want)
					}
				}
			}
		})
	}
}

func TestRMSNormAndRope(t *testing.T) {
	x := []float32{1, -2, 3, -4}
	w := []float32{1, 0.5, 2, 1}
	dst := make([]float32, 4)
	rmsNorm(dst, x, w, 0)
	r := 1 / math.Sqrt((1+4+9+16)/4.0)
	for i := range x {
		if want := float64(w[i]) * float64(x[i]) * r; math.Abs(float64(dst[i])-want) > 1e-6 {
			t.Errorf("rmsNorm[%d] = %v; want %v", i, dst[i], want)
		}
	}
	// rotate_half: [a0, a1, b0, b1] -> [a*cos - b*sin, b*cos + a*sin].
	v := []float32{1, 2, 3, 4}
	rope(v, []float32{0, 1}, []float32{1, 0})
	if want := []float32{-3, 2, 1, 4}; fmt.Sprint(v) != fmt.Sprint(want) {
		t.Errorf("rope = %v; want %v", v, want)
	}
}
