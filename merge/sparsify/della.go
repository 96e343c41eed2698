package sparsify

import "fmt"

// CheckDella returns an error unless DELLA's keep-probability window
// [density-epsilon, density+epsilon] lies inside (0, 1). A density of 1 or
// more disables pruning and needs no window.
func CheckDella(method, model string, density, epsilon float64) error {
	if density >= 1 {
		return nil
	}
	if err := CheckDensity(method, model, density); err != nil {
		return err
	}
	if density-epsilon <= 0 || density+epsilon >= 1 {
		return fmt.Errorf("%s: density %v ± epsilon %v for model %s leaves (0, 1); keep-probabilities must stay strictly between 0 and 1",
			method, density, epsilon, model)
	}
	return nil
}

// Ranker computes DELLA keep probabilities for one vector at a time: the
// element of smallest magnitude gets density-epsilon, the largest
// density+epsilon, linearly in rank between (ties ranked by index). It
// keeps scratch buffers between calls.
type Ranker struct {
	a, b []uint64
	idx  []uint32
}

// Prob is the keep probability of the element of the given rank (0 for
// the smallest magnitude) among n.
func Prob(rank, n int, density, epsilon float64) float32 {
	if n == 1 {
		return float32(density)
	}
	return float32(density - epsilon + float64(rank)*(2*epsilon/float64(n-1)))
}

// Probs fills p with the keep probabilities of the vector v.
func (r *Ranker) Probs(v []float32, density, epsilon float64, p []float32) {
	for rank, i := range r.Order(v) {
		p[i] = Prob(rank, len(v), density, epsilon)
	}
}

// Order returns the indices of v by ascending magnitude (stable), as a
// slice valid until the next call. It is an LSD radix sort of the 31-bit
// magnitude keys packed with their indices, three 11-bit digits, skipping
// digits every key shares.
func (r *Ranker) Order(v []float32) []uint32 {
	n := len(v)
	if cap(r.a) < n {
		r.a, r.b = make([]uint64, n), make([]uint64, n)
	}
	a, b := r.a[:n], r.b[:n]
	var or, and uint32 = 0, ^uint32(0)
	for i, x := range v {
		k := MagBits(x)
		or |= k
		and &= k
		a[i] = uint64(k)<<32 | uint64(i)
	}
	var count [2048]int
	for shift := uint(32); shift < 32+33; shift += 11 {
		if (or^and)>>(shift-32)&2047 == 0 {
			continue // every key has the same digit here
		}
		count = [2048]int{}
		for _, e := range a {
			count[(e>>shift)&2047]++
		}
		sum := 0
		for d, c := range count {
			count[d] = sum
			sum += c
		}
		for _, e := range a {
			d := (e >> shift) & 2047
			b[count[d]] = e
			count[d]++
		}
		a, b = b, a
	}
	if cap(r.idx) < n {
		r.idx = make([]uint32, n)
	}
	idx := r.idx[:n]
	for i, e := range a {
		idx[i] = uint32(e)
	}
	return idx
}
