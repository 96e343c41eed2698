package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestWeightedSum compares WeightedSum (the vector loop where the CPU has
// one) with the scalar loop, and both with the definition on chosen
// values: a sum started from +0 (so -0 products give +0), input order,
// rounded products.
func TestWeightedSum(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	cases := []struct {
		name string
		x    [][]float32
		w    []float64
		div  float64
		want float32
	}{
		{"average", [][]float32{{1}, {2}, {4}}, []float64{1, 1, 1}, 3, float32(7.0 / 3)},
		{"negative zeros sum to +0", [][]float32{{negZero}, {negZero}}, []float64{1, 1}, 1, 0},
		{"unnormalized", [][]float32{{1.5}, {-2}}, []float64{2, 0.25}, 1, 2.5},
		// order matters: (1e30 - 1e30) + 1 = 1, but 1e30 + (1 - 1e30) would be 0
		{"input order", [][]float32{{1e30}, {-1e30}, {1}}, []float64{1, 1, 1}, 1, 1},
	}
	for _, c := range cases {
		for _, n := range []int{1, 8, 17} {
			x := make([][]float32, len(c.x))
			for i := range x {
				x[i] = make([]float32, n)
				for k := range x[i] {
					x[i][k] = c.x[i][0]
				}
			}
			out := make([]float32, n)
			WeightedSum(out, x, c.w, c.div)
			for k, v := range out {
				if math.Float32bits(v) != math.Float32bits(c.want) {
					t.Errorf("%s, n=%d: out[%d] = %g (%#x), want %g", c.name, n, k, v, math.Float32bits(v), c.want)
					break
				}
			}
		}
	}

	r := rand.New(rand.NewPCG(7, 8))
	for _, nx := range []int{1, 2, 3, 5, 9} {
		for _, n := range []int{8, 24, 1000, 4099} {
			x := make([][]float32, nx)
			w := make([]float64, nx)
			for i := range x {
				w[i] = r.NormFloat64()
				x[i] = make([]float32, n+3) // longer than out is allowed
				for k := range x[i] {
					x[i][k] = float32(r.NormFloat64())
					switch r.IntN(50) {
					case 0:
						x[i][k] = float32(math.NaN())
					case 1:
						x[i][k] = float32(math.Inf(1 - 2*r.IntN(2)))
					case 2:
						x[i][k] = negZero
					}
				}
			}
			for _, div := range []float64{1, 3, -0.7} {
				want := make([]float32, n)
				weightedSumGo(want, x, w, div, 0)
				got := make([]float32, n)
				WeightedSum(got, x, w, div)
				for k := range got {
					if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
						t.Fatalf("nx=%d n=%d div=%g: out[%d] = %#x, scalar %#x", nx, n, div, k, math.Float32bits(got[k]), math.Float32bits(want[k]))
					}
				}
			}
		}
	}
}

func BenchmarkWeightedSum(b *testing.B) {
	const n = 1 << 18
	x := make([][]float32, 3)
	for i := range x {
		x[i] = make([]float32, n)
		for k := range x[i] {
			x[i][k] = float32(k%1000) / 7
		}
	}
	out := make([]float32, n)
	w := []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}
	b.SetBytes(4 * n * 3)
	for b.Loop() {
		WeightedSum(out, x, w, 1)
	}
}

func BenchmarkWeightedSumGo(b *testing.B) {
	const n = 1 << 18
	x := make([][]float32, 3)
	for i := range x {
		x[i] = make([]float32, n)
		for k := range x[i] {
			x[i][k] = float32(k%1000) / 7
		}
	}
	out := make([]float32, n)
	w := []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}
	b.SetBytes(4 * n * 3)
	for b.Loop() {
		weightedSumGo(out, x, w, 1, 0)
	}
}
