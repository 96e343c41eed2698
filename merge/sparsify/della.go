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
	keys, tmpKeys []uint32
	idx, tmpIdx   []int32
}

// Probs fills p with the keep probabilities of the vector v.
func (r *Ranker) Probs(v []float32, density, epsilon float64, p []float32) {
	n := len(v)
	if n == 1 {
		p[0] = float32(density)
		return
	}
	r.sort(v)
	lo := density - epsilon
	step := 2 * epsilon / float64(n-1)
	for rank, i := range r.idx[:n] {
		p[i] = float32(lo + float64(rank)*step)
	}
}

// sort orders the indices of v by ascending magnitude, stably, with an LSD
// radix sort on the 31-bit magnitude keys (three 11-bit digits).
func (r *Ranker) sort(v []float32) {
	n := len(v)
	if cap(r.keys) < n {
		r.keys, r.tmpKeys = make([]uint32, n), make([]uint32, n)
		r.idx, r.tmpIdx = make([]int32, n), make([]int32, n)
	}
	keys, tk := r.keys[:n], r.tmpKeys[:n]
	idx, ti := r.idx[:n], r.tmpIdx[:n]
	for i, x := range v {
		keys[i] = MagBits(x)
		idx[i] = int32(i)
	}
	var count [2048]int
	for shift := uint(0); shift < 33; shift += 11 {
		count = [2048]int{}
		for _, k := range keys {
			count[(k>>shift)&2047]++
		}
		sum := 0
		for d := range count {
			c := count[d]
			count[d] = sum
			sum += c
		}
		for j, k := range keys {
			d := (k >> shift) & 2047
			tk[count[d]] = k
			ti[count[d]] = idx[j]
			count[d]++
		}
		keys, tk = tk, keys
		idx, ti = ti, idx
	}
	// three passes: the sorted data is in the buffers that started as tmp.
	r.keys, r.tmpKeys = keys, tk
	r.idx, r.tmpIdx = idx, ti
}
