package sparsify

import (
	"math/bits"
	"slices"
	"sort"

	"github.com/mergetune/mergetune/merge/vec"
)

// Tie order. When a cut keeps only some of the elements whose magnitude
// equals its key (bf16 task vectors have tie groups of tens of thousands
// of elements), the kept ones are those of lowest rank, an element's rank
// being its 64-bit draw from a tie stream: a seeded hash of its index. The
// ranks of one stream are distinct, so the choice is exact, and it depends
// only on (seed, tensor, model, index): not on the chunking or the number
// of workers, and not on the position in the tensor (keeping the lowest
// indices would starve the last rows of a tensor of their changes).

// TieOrder returns the tie stream of model (its position among the inputs,
// or -1 for a cut over all models) on the named tensor.
func TieOrder(seed uint64, tensor string, model int) Stream {
	return Stream(vec.Mix(uint64(NewStream(seed, tensor, model)) ^ tieSalt))
}

// tieSalt separates the tie streams from the keep-mask draws of DARE and
// DELLA on the same (seed, tensor, model).
const tieSalt = 0x7469652d6f726465 // "tie-orde"

// Rank returns element i's rank among tied elements (lower is kept first).
func (s Stream) Rank(i int) uint64 { return vec.Draw64(uint64(s), i) }

// collectTies is the largest tie group whose element indices ResolveTies
// collects in one scan; beyond it a histogram scan narrows the ranks first.
const collectTies = 1 << 20

// tieSet is the set of the kept elements of a tie group: a sorted list of
// indices, or a bit set over the tensor when the list would be larger.
type tieSet struct {
	idx  []int
	bits []uint64
}

// listed reports whether k elements out of n are kept as a list.
func listed(n, k int) bool { return k*64 <= n }

// newTieSet returns an empty set for k elements out of n, to which the
// elements are added in increasing order.
func newTieSet(n, k int) *tieSet {
	if listed(n, k) {
		return &tieSet{idx: make([]int, 0, k)}
	}
	return &tieSet{bits: make([]uint64, (n+63)/64)}
}

// add adds i, above every element added before.
func (s *tieSet) add(i int) {
	if s.bits != nil {
		s.bits[i>>6] |= 1 << (uint(i) & 63)
		return
	}
	s.idx = append(s.idx, i)
}

// fromBits returns the set of the k elements whose bits are set in b, as
// newTieSet would hold it (b itself, or a list read from it).
func fromBits(b []uint64, n, k int) *tieSet {
	if !listed(n, k) {
		return &tieSet{bits: b}
	}
	idx := make([]int, 0, k)
	for w, word := range b {
		for word != 0 {
			idx = append(idx, w<<6|bits.TrailingZeros64(word))
			word &= word - 1
		}
	}
	return &tieSet{idx: idx}
}

func (s *tieSet) has(i int) bool {
	if s.bits != nil {
		return s.bits[i>>6]>>(uint(i)&63)&1 != 0
	}
	_, ok := slices.BinarySearch(s.idx, i)
	return ok
}

// each calls f for every element of the set in [lo, hi), in increasing order.
func (s *tieSet) each(lo, hi int, f func(i int)) {
	if s.bits == nil {
		for k := sort.SearchInts(s.idx, lo); k < len(s.idx) && s.idx[k] < hi; k++ {
			f(s.idx[k])
		}
		return
	}
	for w := lo >> 6; w<<6 < hi; w++ {
		word := s.bits[w]
		if w<<6 < lo {
			word &^= 1<<(uint(lo)&63) - 1
		}
		for word != 0 {
			i := w<<6 | bits.TrailingZeros64(word)
			if i >= hi {
				return
			}
			f(i)
			word &= word - 1
		}
	}
}

func (s *tieSet) len() int {
	if s.bits == nil {
		return len(s.idx)
	}
	n := 0
	for _, w := range s.bits {
		n += bits.OnesCount64(w)
	}
	return n
}

// ChooseTies settles which of the elements equal to c.Bits are kept, given
// all of them (tied: their indices, in any order, fastest as a few
// ascending runs, as workers collect them) and the tie stream: the c.Ties
// of lowest rank. n is the length of the stream. It does nothing unless
// NeedsOrder.
func (c *Cut) ChooseTies(n int, order Stream, tied []int) {
	if !c.NeedsOrder() {
		return
	}
	tied = sortRuns(tied)
	ranks := make([]uint64, len(tied))
	for k, i := range tied {
		ranks[k] = order.Rank(i)
	}
	thr := smallest(ranks, c.Ties)
	set := newTieSet(n, c.Ties)
	for k, i := range tied {
		if ranks[k] <= thr {
			set.add(i)
		}
	}
	c.kept = set
}

// sortRuns returns v sorted: its ascending runs merged pairwise when there
// are few of them, else sorted in place.
func sortRuns(v []int) []int {
	var runs [][]int
	start := 0
	for i := 1; i <= len(v); i++ {
		if i == len(v) || v[i] < v[i-1] {
			runs = append(runs, v[start:i])
			start = i
			if len(runs) > 64 {
				slices.Sort(v)
				return v
			}
		}
	}
	for len(runs) > 1 {
		var next [][]int
		for r := 0; r+1 < len(runs); r += 2 {
			next = append(next, mergeSorted(runs[r], runs[r+1]))
		}
		if len(runs)%2 == 1 {
			next = append(next, runs[len(runs)-1])
		}
		runs = next
	}
	if len(runs) == 0 {
		return v
	}
	return runs[0]
}

// mergeSorted merges two ascending slices into a new one.
func mergeSorted(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] <= b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// ResolveTies settles which elements equal to c.Bits are kept (see
// ChooseTies) by scanning the stream of n keys for them, once when the tie
// group holds at most collectTies elements, else twice. It does nothing
// unless NeedsOrder.
func (c *Cut) ResolveTies(n int, order Stream, keys func(off int, dst []uint32)) {
	c.resolveTies(n, order, keys, collectTies)
}

// resolveTies is ResolveTies collecting tie groups of up to collect
// elements in one scan.
func (c *Cut) resolveTies(n int, order Stream, keys func(off int, dst []uint32), collect int) {
	if !c.NeedsOrder() {
		return
	}
	buf := make([]uint32, min(n, chunkLen))
	var pos []uint32
	scan := func(visit func(i int)) {
		for off := 0; off < n; off += len(buf) {
			m := min(len(buf), n-off)
			keys(off, buf[:m])
			pos = vec.Collect(pos[:0], buf[:m], c.Bits)
			for _, p := range pos {
				visit(off + int(p))
			}
		}
	}
	if c.Equal <= collect {
		tied := make([]int, 0, c.Equal)
		scan(func(i int) { tied = append(tied, i) })
		c.ChooseTies(n, order, tied)
		return
	}
	// a histogram of the ranks' top 16 bits finds the bucket of the
	// c.Ties-th lowest rank; the second scan keeps the ranks below it and
	// collects the bucket's
	hist := make([]int, 1<<16)
	scan(func(i int) { hist[order.Rank(i)>>48]++ })
	bucket, below := 0, 0
	for ; below+hist[bucket] < c.Ties; bucket++ {
		below += hist[bucket]
	}
	set := newTieSet(n, c.Ties)
	var cand []int
	var ranks []uint64
	scan(func(i int) {
		switch r := order.Rank(i); {
		case int(r>>48) < bucket:
			set.add(i)
		case int(r>>48) == bucket:
			cand, ranks = append(cand, i), append(ranks, r)
		}
	})
	if len(cand) == 0 || c.Ties == below {
		c.kept = set
		return
	}
	// the bucket's members of lowest rank, merged into the set in order
	thr := smallest(ranks, c.Ties-below)
	b := set.bits
	if b == nil {
		b = make([]uint64, (n+63)/64)
		for _, i := range set.idx {
			b[i>>6] |= 1 << (uint(i) & 63)
		}
	}
	for k, i := range cand {
		if ranks[k] <= thr {
			b[i>>6] |= 1 << (uint(i) & 63)
		}
	}
	c.kept = fromBits(b, n, c.Ties)
}

// smallest returns the k-th lowest of the distinct values v (1 <= k <=
// len(v)), so that exactly k values are <= it. It does not modify v.
func smallest(v []uint64, k int) uint64 {
	if len(v) <= 4096 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[k-1]
	}
	// a histogram of the top bits (about 16 values a bucket) finds the
	// bucket of the k-th; only its values are sorted
	shift := 64 - min(16, bits.Len(uint(len(v)))-4)
	hist := make([]uint32, 1<<(64-shift))
	for _, r := range v {
		hist[r>>shift]++
	}
	bucket, below := 0, 0
	for ; below+int(hist[bucket]) < k; bucket++ {
		below += int(hist[bucket])
	}
	in := make([]uint64, 0, hist[bucket])
	for _, r := range v {
		if int(r>>shift) == bucket {
			in = append(in, r)
		}
	}
	slices.Sort(in)
	return in[k-below-1]
}

// Same reports whether c and o, cuts over one stream of n keys, keep the
// same elements (however their kept ties are stored).
func (c *Cut) Same(o *Cut, n int) bool {
	if c.K != o.K || c.Bits != o.Bits || c.Ties != o.Ties || c.Equal != o.Equal || c.all != o.all || c.NeedsOrder() != o.NeedsOrder() {
		return false
	}
	var a, b []int
	c.KeptTies(0, n, func(i int) { a = append(a, i) })
	o.KeptTies(0, n, func(i int) { b = append(b, i) })
	return slices.Equal(a, b)
}
