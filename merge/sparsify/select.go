// Package sparsify holds the shared sparsification primitives of the
// task-vector merge methods, written for streaming: magnitude cut-offs are
// found by radix selection over a tensor read chunk by chunk (no sort, no
// copy of the tensor), random keep-masks come from a counter-based generator
// so any element's draw is known without drawing the ones before it, and
// DELLA's rank-based keep probabilities are computed one vector at a time.
package sparsify

import (
	"fmt"
	"math"
)

// MagBits maps |x| to an unsigned key whose order is the order of |x|:
// the float's bits with the sign cleared. NaNs sort above +Inf.
func MagBits(x float32) uint32 { return math.Float32bits(x) &^ (1 << 31) }

// Cut describes the set of the K elements of largest magnitude of a
// stream: every element whose key is above Bits, plus Ties of the Equal
// elements whose key equals Bits: all of them when Ties == Equal, else the
// Ties of lowest rank in a tie stream (see TieOrder), which ResolveTies or
// ChooseTies settle. Cuts for different K over one stream and one tie
// stream are nested.
type Cut struct {
	K     int
	Bits  uint32
	Ties  int // elements equal to Bits that are kept
	Equal int // elements equal to Bits in the stream
	kept  *tieSet
	all   bool // K >= n: keep everything
}

// NeedsOrder reports whether only some of the elements equal to Bits are
// kept, so ResolveTies or ChooseTies must settle which before Keep, Mask
// or KeptTies is used.
func (c Cut) NeedsOrder() bool { return c.partial() && c.kept == nil }

// partial reports whether only some of the elements equal to Bits are kept.
func (c Cut) partial() bool { return !c.all && c.Ties < c.Equal }

// Keep reports whether element i, with key bits, is in the cut. It needs
// no state, so chunks can be tested in any order and concurrently.
func (c *Cut) Keep(i int, bits uint32) bool {
	return c.all || bits > c.Bits || bits == c.Bits && c.tieKept(i)
}

// tieKept reports whether element i, whose key equals Bits, is kept.
func (c *Cut) tieKept(i int) bool {
	if c.kept != nil {
		return c.kept.has(i)
	}
	return !c.partial()
}

// Span gives the cut as two integers, for vector code: element i with key
// k is in the cut when k > above, or k == above and i < end. A cut that
// keeps everything has above = -1. When only some elements equal to Bits
// are kept, end is 0: the caller adds those given by KeptTies.
func (c *Cut) Span() (above int64, end int) {
	if c.all {
		return -1, 0
	}
	if c.partial() {
		return int64(c.Bits), 0
	}
	return int64(c.Bits), math.MaxInt
}

// KeptTies calls f, in increasing order, for each element in [lo, hi)
// equal to Bits that the cut keeps, when it keeps only some of them (Span
// then leaves them out); otherwise it does nothing.
func (c *Cut) KeptTies(lo, hi int, f func(i int)) {
	if c.partial() && c.kept != nil {
		c.kept.each(lo, hi, f)
	}
}

// Mask is Keep as a bit mask: all ones when element i, with key bits, is
// in the cut, else 0. It avoids a branch on the (random) outcome.
func (c *Cut) Mask(i int, bits uint32) uint32 {
	if c.all {
		return ^uint32(0)
	}
	m := uint32((int64(c.Bits) - int64(bits)) >> 63) // bits > c.Bits
	if bits == c.Bits && c.tieKept(i) {
		m = ^uint32(0)
	}
	return m
}

// All reports whether the cut keeps every element.
func (c Cut) All() bool { return c.all }

// Merge1 adds another selector's pass-one counts (from a disjoint part of
// the stream) to s.
func (s *Selector) Merge1(o *Selector) {
	for i, c := range o.hist1 {
		s.hist1[i] += c
	}
	s.n += o.n
}

// Fork returns a selector for pass two over a part of the stream, sharing
// s's plan; merge it back with Merge2.
func (s *Selector) Fork() *Selector {
	f := &Selector{n: s.n, ks: s.ks, plans: s.plans, low: map[uint32][]uint64{}}
	for b := range s.low {
		f.low[b] = make([]uint64, 1<<16)
	}
	return f
}

// Merge2 adds a fork's pass-two counts to s.
func (s *Selector) Merge2(o *Selector) {
	for b, h := range o.low {
		dst := s.low[b]
		for i, c := range h {
			dst[i] += c
		}
	}
}

// Selector finds top-K cuts of a stream of keys by two-pass radix
// selection: pass one histograms the high 16 bits of every key, pass two
// the low 16 bits of the keys in the bucket holding each cut. Usage:
// Add1 every key, Plan the Ks, Add2 every key again, then Cuts.
type Selector struct {
	n     int
	hist1 []uint64
	ks    []int
	plans []plan
	low   map[uint32][]uint64
}

type plan struct {
	bucket uint32
	above  int // keys whose high half is above bucket
	need   int // keys still needed from the bucket
	trivia int // 0: normal, 1: none, 2: all
}

// NewSelector returns an empty Selector.
func NewSelector() *Selector {
	return &Selector{hist1: make([]uint64, 1<<16)}
}

// Add1 records keys in pass one.
func (s *Selector) Add1(keys []uint32) {
	h := s.hist1
	for _, b := range keys {
		h[b>>16]++
	}
	s.n += len(keys)
}

// N is the number of keys seen in pass one.
func (s *Selector) N() int { return s.n }

// Plan fixes the cut sizes; it must be called between the two passes.
func (s *Selector) Plan(ks ...int) {
	s.ks = ks
	s.plans = make([]plan, len(ks))
	s.low = map[uint32][]uint64{}
	for i, k := range ks {
		p := &s.plans[i]
		switch {
		case k <= 0:
			p.trivia = 1
			continue
		case k >= s.n:
			p.trivia = 2
			continue
		}
		above := 0
		for b := len(s.hist1) - 1; b >= 0; b-- {
			c := int(s.hist1[b])
			if above+c >= k {
				p.bucket, p.above, p.need = uint32(b), above, k-above
				break
			}
			above += c
		}
		if s.low[p.bucket] == nil {
			s.low[p.bucket] = make([]uint64, 1<<16)
		}
	}
}

// NeedsPass2 reports whether Add2 must be called (some cut is not trivial).
func (s *Selector) NeedsPass2() bool { return len(s.low) > 0 }

// Add2 records keys in pass two, in the same order as pass one.
func (s *Selector) Add2(keys []uint32) {
	if len(s.low) == 1 {
		for bucket, h := range s.low {
			for _, b := range keys {
				if b>>16 == bucket {
					h[b&0xffff]++
				}
			}
		}
		return
	}
	buckets := make([]uint32, 0, len(s.low))
	hists := make([][]uint64, 0, len(s.low))
	for b, h := range s.low {
		buckets, hists = append(buckets, b), append(hists, h)
	}
	for _, b := range keys {
		hb := b >> 16
		for i, bucket := range buckets {
			if hb == bucket {
				hists[i][b&0xffff]++
				break
			}
		}
	}
}

// Cuts returns the cuts, one per K given to Plan.
func (s *Selector) Cuts() []Cut {
	cuts := make([]Cut, len(s.ks))
	for i, p := range s.plans {
		c := Cut{K: s.ks[i]}
		switch p.trivia {
		case 1:
			c.Bits = math.MaxUint32
		case 2:
			c.all = true
		default:
			h := s.low[p.bucket]
			above := 0
			for l := len(h) - 1; l >= 0; l-- {
				cnt := int(h[l])
				if above+cnt >= p.need {
					c.Bits = p.bucket<<16 | uint32(l)
					c.Ties = p.need - above
					c.Equal = cnt
					break
				}
				above += cnt
			}
		}
		cuts[i] = c
	}
	return cuts
}

// TopK selects cuts of the given sizes over n keys produced chunk by chunk
// by keys(off, dst), which fills dst with the keys of elements
// [off, off+len(dst)), breaking ties at each cut by the tie stream order.
// It reads the stream twice, and again to settle a cut's ties.
func TopK(n int, order Stream, keys func(off int, dst []uint32), ks ...int) []Cut {
	s := NewSelector()
	buf := make([]uint32, min(n, chunkLen))
	for off := 0; off < n; off += len(buf) {
		m := min(len(buf), n-off)
		keys(off, buf[:m])
		s.Add1(buf[:m])
	}
	s.Plan(ks...)
	if s.NeedsPass2() {
		for off := 0; off < n; off += len(buf) {
			m := min(len(buf), n-off)
			keys(off, buf[:m])
			s.Add2(buf[:m])
		}
	}
	cuts := s.Cuts()
	for i := range cuts {
		cuts[i].ResolveTies(n, order, keys)
	}
	return cuts
}

// chunkLen is the number of elements read at a time by the helpers here.
const chunkLen = 1 << 16

// Count returns floor(fraction * n) computed in double precision, as
// mergekit does for densities and gammas.
func Count(fraction float64, n int) int {
	return int(math.Floor(fraction * float64(n)))
}

// CheckDensity returns an error unless 0 < density <= 1.
func CheckDensity(method, model string, density float64) error {
	if !(density > 0 && density <= 1) {
		return fmt.Errorf("%s: density %v for model %s is outside (0, 1]", method, density, model)
	}
	return nil
}
