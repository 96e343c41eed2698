package eval

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 5e-4 }

// TestWilson checks the interval against hand-computed values and that it
// never collapses at 0 or n correct.
func TestWilson(t *testing.T) {
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{
		{0, 40, 0, 0.0876},       // 0 of 40: not [0, 0]
		{40, 40, 0.9124, 1},      // all right: not [1, 1]
		{20, 40, 0.3518, 0.6482}, // symmetric about 1/2
		{1, 10, 0.0179, 0.4042},
		{0, 1, 0, 0.7935},
		{0, 0, 0, 1}, // nothing known
	} {
		lo, hi := Wilson(tc.k, tc.n)
		if !near(lo, tc.lo) || !near(hi, tc.hi) {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tc.k, tc.n, lo, hi, tc.lo, tc.hi)
		}
		if tc.n > 0 && hi-lo < 0.01 {
			t.Errorf("Wilson(%d, %d) collapsed: [%v, %v]", tc.k, tc.n, lo, hi)
		}
	}
	// Narrower with more items, always inside [0, 1] and around k/n.
	prev := 1.0
	for _, n := range []int{10, 40, 160, 640} {
		for k := 0; k <= n; k += n / 10 {
			lo, hi := Wilson(k, n)
			p := float64(k) / float64(n)
			if lo < 0 || hi > 1 || lo > p || hi < p {
				t.Errorf("Wilson(%d, %d) = [%v, %v]", k, n, lo, hi)
			}
		}
		lo, hi := Wilson(n/2, n)
		if hi-lo >= prev {
			t.Errorf("n %d: width %v not below %v", n, hi-lo, prev)
		}
		prev = hi - lo
	}
}

// TestMcNemarExact checks hand-computed two-sided binomial p-values.
func TestMcNemarExact(t *testing.T) {
	for _, tc := range []struct {
		a, b int
		p    float64
	}{
		{0, 0, 1},
		{0, 5, 2.0 / 32},
		{5, 0, 2.0 / 32},
		{1, 9, 2 * 11.0 / 1024},
		{3, 3, 1},
		{10, 30, 0.00222},
	} {
		if p := McNemarExact(tc.a, tc.b); math.Abs(p-tc.p) > 1e-5 {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", tc.a, tc.b, p, tc.p)
		}
	}
}

// TestPairedDiff checks that the paired interval holds the difference,
// mirrors when the models swap, and does not collapse when both models
// agree on every item.
func TestPairedDiff(t *testing.T) {
	for _, c := range [][4]int{{12, 9, 2, 21}, {0, 0, 0, 40}, {40, 0, 0, 0}, {10, 0, 0, 10}, {0, 5, 0, 0}, {3, 1, 7, 29}} {
		lo, hi := PairedDiff(c[0], c[1], c[2], c[3])
		n := float64(c[0] + c[1] + c[2] + c[3])
		d := float64(c[1]-c[2]) / n
		if lo > d || hi < d || lo < -1 || hi > 1 || hi-lo < 0.01 {
			t.Errorf("PairedDiff%v = [%v, %v], difference %v", c, lo, hi, d)
		}
		slo, shi := PairedDiff(c[0], c[2], c[1], c[3])
		if !near(slo, -hi) || !near(shi, -lo) {
			t.Errorf("PairedDiff%v swapped = [%v, %v], want [%v, %v]", c, slo, shi, -hi, -lo)
		}
	}
	// Both models wrong on all 40 items: an interval around 0 as wide as
	// the Wilson bound of either.
	lo, hi := PairedDiff(0, 0, 0, 40)
	_, w := Wilson(0, 40)
	if !near(lo, -w) || !near(hi, w) {
		t.Errorf("all wrong: [%v, %v], want ±%v", lo, hi, w)
	}
}

func TestMeanInterval(t *testing.T) {
	for _, tc := range []struct {
		name         string
		xs           []float64
		mean, lo, hi float64
	}{
		{"none", nil, 0, 0, 0},
		{"one", []float64{0.4}, 0.4, 0.4, 0.4},
		// sd 0.1, n 3: t(2) = 4.303, half 4.303 × 0.1/√3.
		{"three", []float64{0.5, 0.6, 0.7}, 0.6, 0.6 - 4.303*0.1/math.Sqrt(3), 0.6 + 4.303*0.1/math.Sqrt(3)},
		{"equal", []float64{0.5, 0.5}, 0.5, 0.5, 0.5},
	} {
		m, lo, hi := MeanInterval(tc.xs)
		if math.Abs(m-tc.mean) > 1e-12 || math.Abs(lo-tc.lo) > 1e-12 || math.Abs(hi-tc.hi) > 1e-12 {
			t.Errorf("%s: %v [%v, %v], want %v [%v, %v]", tc.name, m, lo, hi, tc.mean, tc.lo, tc.hi)
		}
	}
	// Past 30 degrees of freedom: the normal quantile.
	xs := make([]float64, 40)
	for i := range xs {
		xs[i] = float64(i % 2)
	}
	m, lo, _ := MeanInterval(xs)
	sd := math.Sqrt(10.0 / 39)
	if want := m - Z95*sd/math.Sqrt(40); math.Abs(lo-want) > 1e-12 {
		t.Errorf("40 values: lo %v, want %v", lo, want)
	}
}
