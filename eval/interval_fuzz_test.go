package eval

import (
	"math"
	"testing"
)

// FuzzIntervals checks the interval rules on any counts: Wilson holds k/n
// inside [0, 1] with a non-zero width; PairedDiff holds the difference
// inside [-1, 1] and mirrors when the models swap; McNemar's p is in [0, 1]
// (it underflows to 0 past about a thousand discordant items all one way).
func FuzzIntervals(f *testing.F) {
	f.Add(uint16(0), uint16(0), uint16(0), uint16(40))
	f.Add(uint16(40), uint16(0), uint16(0), uint16(0))
	f.Add(uint16(12), uint16(9), uint16(2), uint16(21))
	f.Add(uint16(1), uint16(0), uint16(5000), uint16(0))
	f.Fuzz(func(t *testing.T, both, onlyA, onlyB, neither uint16) {
		a, b, c, d := int(both), int(onlyA), int(onlyB), int(neither)
		n := a + b + c + d
		if n == 0 {
			return
		}
		for _, k := range []int{a + b, a + c} {
			lo, hi := Wilson(k, n)
			p := float64(k) / float64(n)
			if !(lo >= 0 && hi <= 1 && lo <= p && p <= hi && hi-lo > 0) {
				t.Fatalf("Wilson(%d, %d) = [%v, %v]", k, n, lo, hi)
			}
		}
		lo, hi := PairedDiff(a, b, c, d)
		diff := float64(b-c) / float64(n)
		if !(lo >= -1 && hi <= 1 && lo <= diff+1e-12 && diff <= hi+1e-12 && hi-lo > 0) {
			t.Fatalf("PairedDiff(%d, %d, %d, %d) = [%v, %v], difference %v", a, b, c, d, lo, hi, diff)
		}
		slo, shi := PairedDiff(a, c, b, d)
		if math.Abs(slo+hi) > 1e-9 || math.Abs(shi+lo) > 1e-9 {
			t.Fatalf("PairedDiff(%d, %d, %d, %d) swapped = [%v, %v], want [%v, %v]", a, c, b, d, slo, shi, -hi, -lo)
		}
		if p := McNemarExact(b, c); !(p >= 0 && p <= 1) {
			t.Fatalf("McNemarExact(%d, %d) = %v", b, c, p)
		}
	})
}
