package eval

import (
	"testing"
)

// outcomes returns n outcomes of which k are correct, spread evenly.
func outcomes(n, k int) []bool {
	c := make([]bool, n)
	for i := range k {
		c[i*n/k] = true
	}
	return c
}

func TestBootstrap(t *testing.T) {
	tests := []struct {
		name   string
		n, k   int
		lo, hi float64 // bounds the interval must lie within
	}{
		{"half of 20", 20, 10, 0.25, 0.75},
		{"half of 200", 200, 100, 0.42, 0.58},
		{"half of 2000", 2000, 1000, 0.47, 0.53},
		{"9 of 10", 10, 9, 0.6, 1},
		{"1 of 50", 50, 1, 0, 0.08},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := outcomes(tc.n, tc.k)
			mean := float64(tc.k) / float64(tc.n)
			lo, hi := Bootstrap(c, BootstrapResamples, BootstrapSeed)
			if !(lo <= mean && mean <= hi) {
				t.Errorf("[%v, %v] does not contain the mean %v", lo, hi, mean)
			}
			if lo < tc.lo || hi > tc.hi || lo == hi {
				t.Errorf("[%v, %v] not within [%v, %v]", lo, hi, tc.lo, tc.hi)
			}
			lo2, hi2 := Bootstrap(c, BootstrapResamples, BootstrapSeed)
			if lo2 != lo || hi2 != hi {
				t.Errorf("not deterministic: [%v, %v] then [%v, %v]", lo, hi, lo2, hi2)
			}
		})
	}
}

func TestBootstrapNarrowsWithItems(t *testing.T) {
	prev := 2.0
	for _, n := range []int{10, 40, 160, 640} {
		lo, hi := Bootstrap(outcomes(n, n*7/10), BootstrapResamples, BootstrapSeed)
		if w := hi - lo; w >= prev {
			t.Errorf("n=%d: width %v, not narrower than %v", n, w, prev)
		} else {
			prev = w
		}
	}
	// The width shrinks like 1/√n: 64 times the items, about 1/8 the width.
	lo1, hi1 := Bootstrap(outcomes(10, 7), BootstrapResamples, BootstrapSeed)
	if r := (hi1 - lo1) / prev; r < 5 || r > 12 {
		t.Errorf("width ratio %v between 10 and 640 items, want about 8", r)
	}
}

func TestBootstrapEdges(t *testing.T) {
	tests := []struct {
		name      string
		c         []bool
		resamples int
		lo, hi    float64
	}{
		{"no items", nil, 1000, 0, 0},
		{"no resamples", outcomes(10, 5), 0, 0, 0},
		{"all correct", outcomes(30, 30), 1000, 1, 1},
		{"all wrong", make([]bool, 30), 1000, 0, 0},
		{"one resample", []bool{true}, 1, 1, 1},
	}
	for _, tc := range tests {
		lo, hi := Bootstrap(tc.c, tc.resamples, 1)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("%s: [%v, %v], want [%v, %v]", tc.name, lo, hi, tc.lo, tc.hi)
		}
	}
	c := outcomes(50, 20)
	lo1, hi1 := Bootstrap(c, 1000, 1)
	lo2, hi2 := Bootstrap(c, 1000, 2)
	if lo1 == lo2 && hi1 == hi2 {
		t.Log("seeds 1 and 2 gave the same interval (possible, unlikely)")
	}
}
