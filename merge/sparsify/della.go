package sparsify

import (
	"fmt"
	"math/bits"
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
	a, b   []uint64
	idx    []uint32
	keys   []uint32
	bucket []uint32
	start  []uint32
	flag   []uint8
	bounds []uint64
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
// all: element i is kept (keep[i] = 1, else 0) when draws[i] < thr[rank],
// where rank orders |v| ascending, ties by index (Order's order), and thr,
// one threshold per rank, is non-decreasing. It returns how many were kept.
//
// A histogram of the magnitudes (buckets 1/256 of a binade wide over the
// top 8 binades) bounds each element's rank; the draw decides almost every
// element from those bounds alone, and only the buckets holding an
// undecided element are sorted for exact ranks.
func (r *Ranker) Keep(v []float32, draws, thr []uint32, keep []uint8) int {
	n := len(v)
	if n == 0 {
		return 0
	}
	nb := 1 << bits.Len(uint(n-1))
	shift := max(0, 26-bits.Len(uint(nb-1))) // 8 binades over nb buckets
	r.grow(n, nb)
	keys, bucket, start, flag := r.keys[:n], r.bucket[:n], r.start[:nb+1], r.flag[:nb]
	var top uint32
	for i, x := range v {
		k := MagBits(x)
		keys[i] = k
		top = max(top, k)
	}
	low := uint32(0) // keys below low share bucket 0
	if top >= 8<<23 {
		low = top - 8<<23 + 1
	}
	clear(start)
	for i, k := range keys {
		d := int32(k - low)
		b := uint32(d&^(d>>31)) >> shift
		bucket[i] = b
		start[b]++
	}
	// the ranks of bucket b's elements are start[b] to start[b+1]-1; the
	// draw decides unless it falls between those ranks' thresholds, kept
	// per bucket as lo | hi<<32.
	bounds := r.bounds[:nb]
	var sum uint32
	for b, c := range start[:nb] {
		lo := min(sum, uint32(n-1))
		sum += c
		start[b] = lo
		hi := max(sum, 1) - 1
		bounds[b] = uint64(thr[lo]) | uint64(thr[hi])<<32
	}
	start[nb] = sum
	undecided := false
	kept := 0
	for i, b := range bucket {
		d, t := uint64(draws[i]), bounds[b]
		sure := uint8((d - uint64(uint32(t))) >> 63) // below the lowest rank's threshold
		maybe := uint8((d - t>>32) >> 63)            // below the highest rank's
		keep[i] = sure
		kept += int(sure)
		if maybe != sure {
			flag[b] = 1
			undecided = true
		}
	}
	if !undecided {
		return kept
	}
	// exact ranks inside the flagged buckets: sort their members by (key,
	// index); a bucket's members are then contiguous and in rank order.
	a := r.a[:0]
	for i, b := range bucket {
		if flag[b] != 0 {
			a = append(a, uint64(keys[i])<<32|uint64(i))
		}
	}
	a = sortPacked(a, r.b[:len(a)])
	for p := 0; p < len(a); {
		b := bucket[uint32(a[p])]
		flag[b] = 0
		rank := int(start[b])
		for ; p < len(a) && bucket[uint32(a[p])] == b; p++ {
			i := uint32(a[p])
			k := uint8(0)
			if draws[i] < thr[rank] {
				k = 1
			}
			kept += int(k) - int(keep[i])
			keep[i] = k
			rank++
		}
	}
	return kept
}

// grow sizes the Ranker's scratch for vectors of n elements and nb buckets.
func (r *Ranker) grow(n, nb int) {
	if cap(r.a) < n {
		r.a, r.b = make([]uint64, n), make([]uint64, n)
	}
	if cap(r.keys) < n {
		r.keys, r.bucket = make([]uint32, n), make([]uint32, n)
	}
	if cap(r.start) < nb+1 {
		r.start, r.flag, r.bounds = make([]uint32, nb+1), make([]uint8, nb), make([]uint64, nb)
	}
}
