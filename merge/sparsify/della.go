package sparsify

import (
	"fmt"
	"math/bits"
	"slices"

	"github.com/mergetune/mergetune/merge/vec"
)

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
	a, b      []uint64
	idx       []uint32
	bucket    []uint32 // Keep: each element's bucket
	start     []uint32 // Keep: each bucket's first rank
	band      []uint64 // Keep: bits of the elements whose draw needs rank bounds
	undecided []uint32 // Keep: elements whose rank bounds did not decide
	flagged   []uint32 // resolve: the buckets it has ranked
	members   []uint32 // resolve: one bucket's elements
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
// magnitude keys packed with their indices.
func (r *Ranker) Order(v []float32) []uint32 {
	n := len(v)
	if cap(r.a) < n {
		r.a, r.b = make([]uint64, n), make([]uint64, n)
	}
	a := r.a[:n]
	for i, x := range v {
		a[i] = uint64(MagBits(x))<<32 | uint64(i)
	}
	a = sortPacked(a, r.b[:n])
	if cap(r.idx) < n {
		r.idx = make([]uint32, n)
	}
	idx := r.idx[:n]
	for i, e := range a {
		idx[i] = uint32(e)
	}
	return idx
}

// sortPacked sorts entries key<<32 | index (31-bit keys) ascending with an
// LSD radix sort of three 11-bit digits, skipping digits every key shares.
// It uses tmp (of len(a)) as scratch and returns whichever of a and tmp
// holds the result.
func sortPacked(a, tmp []uint64) []uint64 {
	var or, and uint64 = 0, ^uint64(0)
	for _, e := range a {
		or |= e
		and &= e
	}
	var count [2048]int
	for shift := uint(32); shift < 32+33; shift += 11 {
		if (or^and)>>shift&2047 == 0 {
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
			tmp[count[d]] = e
			count[d]++
		}
		a, tmp = tmp, a
	}
	return a
}

// Keep decides DELLA's draw for every element of v without ranking them
// all: element i is kept (bit i of keep set; Keep clears the other bits of
// the words it covers) when draws[i] < thr[rank], where rank orders |v|
// ascending, ties by index (Order's order), and thr, one threshold per
// rank, is non-decreasing. Draws must be below 2^31.
//
// A draw below thr[0] keeps its element and one from thr[len(v)-1] on drops
// it, whatever the rank. For the draws in between, a histogram of the
// magnitudes bounds the element's rank, which almost always decides: up to
// 2048 buckets (one per element, rounded up to a power of two) split the
// top 8 binades evenly, with one bucket for the smaller magnitudes and one
// for zeros. Only the buckets holding an undecided element are ranked
// exactly.
func (r *Ranker) Keep(v []float32, draws, thr []uint32, keep []uint64) {
	n := len(v)
	if n == 0 {
		return
	}
	fine := min(2048, 1<<bits.Len(uint(n-1)))
	shift := max(0, 26-bits.Len(uint(fine-1))) // 8 binades over fine buckets
	nb := fine + 1
	r.grow(n, nb)
	bucket, start := r.bucket[:n], r.start[:nb+1]
	low := uint32(0) // smaller keys share bucket 1
	if top := vec.MaxKey(v); top >= 8<<23 {
		low = top - 8<<23 + 1
	}
	vec.Buckets(bucket, v, low, uint(shift))
	clear(start)
	for _, b := range bucket {
		start[b]++
	}
	var sum uint32
	for b, c := range start[:nb] {
		start[b] = sum
		sum += c
	}
	start[nb] = sum
	// the ranks of bucket b's elements are start[b] to start[b+1]-1
	band := r.band[:(n+63)/64]
	vec.Split(keep, band, draws, thr[0], thr[n-1])
	undecided := r.undecided[:n]
	nu := 0
	for w, word := range band {
		for ; word != 0; word &= word - 1 {
			i := w<<6 | bits.TrailingZeros64(word)
			b, d := bucket[i], uint64(draws[i])
			// kept below the bucket's lowest rank's threshold; undecided
			// below its highest rank's (no branches: outcomes are random)
			k := (d - uint64(thr[start[b]])) >> 63
			u := (d - uint64(thr[start[b+1]-1])) >> 63 &^ k
			keep[w] |= k << (i & 63)
			undecided[nu] = uint32(i)
			nu += int(u)
		}
	}
	if nu > 0 {
		r.resolve(v, draws, thr, keep, undecided[:nu])
	}
}

// resolve decides the elements of the buckets holding an undecided element
// from their exact ranks. A bucket's members, collected in index order,
// are in rank order when they share one key (ties go by index); a bucket
// holding several keys is sorted by (key, index).
func (r *Ranker) resolve(v []float32, draws, thr []uint32, keep []uint64, undecided []uint32) {
	bucket, start := r.bucket[:len(v)], r.start
	done := r.flagged[:0]
	for _, u := range undecided {
		b := bucket[u]
		if slices.Contains(done, b) {
			continue
		}
		done = append(done, b)
		members := vec.Collect(r.members[:0], bucket, b)
		r.members = members
		k0 := MagBits(v[members[0]])
		for _, i := range members[1:] {
			if MagBits(v[i]) != k0 {
				r.sortByKey(v, members)
				break
			}
		}
		for p, i := range members {
			if draws[i] < thr[int(start[b])+p] {
				keep[i>>6] |= 1 << (i & 63)
			} else {
				keep[i>>6] &^= 1 << (i & 63)
			}
		}
	}
	r.flagged = done
}

// sortByKey sorts the element indices idx (ascending) by magnitude key,
// stably.
func (r *Ranker) sortByKey(v []float32, idx []uint32) {
	a := r.a[:len(idx)]
	for p, i := range idx {
		a[p] = uint64(MagBits(v[i]))<<32 | uint64(i)
	}
	if len(a) <= 48 {
		// insertion sort: a radix pass would cost more than a short slice
		for p := 1; p < len(a); p++ {
			for q := p; q > 0 && a[q] < a[q-1]; q-- {
				a[q], a[q-1] = a[q-1], a[q]
			}
		}
	} else {
		a = sortPacked(a, r.b[:len(idx)])
	}
	for p, e := range a {
		idx[p] = uint32(e)
	}
}

// grow sizes the Ranker's scratch for vectors of n elements and nb buckets.
func (r *Ranker) grow(n, nb int) {
	if cap(r.a) < n {
		r.a, r.b = make([]uint64, n), make([]uint64, n)
	}
	if cap(r.bucket) < n {
		r.bucket, r.undecided, r.band = make([]uint32, n), make([]uint32, n), make([]uint64, (n+63)/64)
	}
	if cap(r.start) < nb+1 {
		r.start = make([]uint32, nb+1)
	}
}
