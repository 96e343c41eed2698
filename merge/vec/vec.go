// Package vec holds the inner loops that dominate a merge's running time:
// bfloat16 conversion both ways, the weighted and sparsified task vectors,
// TIES's sign election, the scans of the magnitude cut-off selection, and
// DELLA's and DARE's draws and histograms. On amd64 with AVX2 they run
// eight lanes at a time (the draws use AVX-512's 64-bit multiply where the
// CPU has it); elsewhere, and for the tails, they run the portable Go
// loops of this file. Both give the same results bit for bit: every lane
// does the same IEEE operations in the same order as the Go loop, and the
// sums that a vector loop splits into lanes are defined lane by lane for
// both.
//
// No maintained Go library offers these loops (bfloat16 packages convert
// one value at a time, and the rest is specific to merging), hence the
// assembly.
package vec

import "math"

// BF16ToF32 widens the little-endian bfloat16 values in src into dst;
// len(src) must be 2*len(dst).
func BF16ToF32(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	bf16ToF32Go(dst, src, bf16ToF32Fast(dst, src))
}

func bf16ToF32Go(dst []float32, src []byte, from int) {
	for i := from; i < len(dst); i++ {
		dst[i] = math.Float32frombits(uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24)
	}
}

// F32ToBF16 rounds src to bfloat16 (to nearest, ties to even; NaN stays a
// quiet NaN with its sign) into dst, little-endian; len(dst) must be
// 2*len(src).
func F32ToBF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	f32ToBF16Go(dst, src, f32ToBF16Fast(dst, src))
}

func f32ToBF16Go(dst []byte, src []float32, from int) {
	for i := from; i < len(src); i++ {
		h := RoundBF16(src[i])
		dst[2*i], dst[2*i+1] = byte(h), byte(h>>8)
	}
}

// RoundToBF16 sets dst[i] to src[i] rounded to bfloat16 (as F32ToBF16
// rounds it) and widened back to float32; len(dst) must be len(src), and
// dst may be src.
func RoundToBF16(dst, src []float32) {
	dst = dst[:len(src)]
	roundToBF16Go(dst, src, roundToBF16Fast(dst, src))
}

func roundToBF16Go(dst, src []float32, from int) {
	for i := from; i < len(src); i++ {
		dst[i] = math.Float32frombits(uint32(RoundBF16(src[i])) << 16)
	}
}

// RoundBF16 rounds f to bfloat16 bits, as F32ToBF16 does.
func RoundBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// Consensus is mergekit's TIES sign election over len(w) models whose
// weighted task vectors are stored one after the other in x (model t's
// element i at x[t*len(out)+i]). For each element, the majority sign is +
// when Σ x >= 0; an entry agrees when its sign is the majority's and it is
// not zero; out gets the sum of the agreeing entries, in model order,
// divided, when normalize is set, by the sum of their models' weights w
// (1 when that sum is ±0).
func Consensus(out, x, w []float32, normalize bool) {
	n := len(out)
	if len(w) == 0 || len(x) != n*len(w) {
		panic("vec.Consensus: x must hold len(w) vectors of len(out) elements")
	}
	i := consensusFast(out, x, w, normalize)
	consensusGo(out[i:], x[i:], n, w, normalize)
}

// consensusGo is Consensus for out, whose element i has model t's entry at
// x[t*stride+i].
func consensusGo(out, x []float32, stride int, w []float32, normalize bool) {
	for i := range out {
		s := x[i]
		for t := 1; t < len(w); t++ {
			s += x[t*stride+i]
		}
		// the sign bit of a non-zero sum (a zero sum, -0 included, elects +)
		sb := math.Float32bits(s)
		neg := sb & (1 << 31) & nonZero(sb)
		var mixed, div float32
		for t, wt := range w {
			yb := math.Float32bits(x[t*stride+i])
			m := uint32(int32(^(yb^neg))>>31) & nonZero(yb) // agrees: all ones
			mixed += math.Float32frombits(yb & m)
			div += math.Float32frombits(math.Float32bits(wt) & m)
		}
		if normalize {
			if div == 0 {
				div = 1
			}
			mixed /= div
		}
		out[i] = mixed
	}
}

// Cut keeps elements by magnitude: element i, whose |value| has the float
// bits k, is in the cut when k > Above, or k == Above and i < End.
type Cut struct {
	Above int32
	End   int
}

// All is the cut holding every element.
func All() Cut { return Cut{Above: -1} }

// None is the cut holding no element.
func None() Cut { return Cut{Above: math.MaxInt32} }

// has is the cut as a bit mask: all ones when element i with key k is in.
func (c Cut) has(i int, k uint32) uint32 {
	gt := uint32((int64(c.Above) - int64(k)) >> 63)
	if k == uint32(c.Above) && i < c.End {
		gt = ^uint32(0)
	}
	return gt
}

func clamp32(v int) int32 { return int32(min(v, math.MaxInt32)) }

// WeighCut stores in x a weighted, sparsified task vector: for element
// off+i, x[i] = ((d[i]-b[i]) if it is in keep and not in drop, else 0) ·
// scale · weight, multiplied in that order.
func WeighCut(x, d, b []float32, off int, keep, drop Cut, scale, weight float32) {
	x, b = x[:len(d)], b[:len(d)]
	weighCutGo(x, d, b, off, keep, drop, scale, weight, weighCutFast(x, d, b, off, keep, drop, scale, weight))
}

func weighCutGo(x, d, b []float32, off int, keep, drop Cut, scale, weight float32, from int) {
	for i := from; i < len(d); i++ {
		v := math.Float32bits(d[i] - b[i])
		k := v &^ (1 << 31)
		v &= keep.has(off+i, k) &^ drop.has(off+i, k)
		x[i] = math.Float32frombits(v) * scale * weight
	}
}

// WeighBits is WeighCut with the kept elements given by the bit mask bits
// (element e kept when bit e&63 of bits[e>>6] is set).
func WeighBits(x, d, b []float32, bits []uint64, off int, scale, weight float32) {
	x, b = x[:len(d)], b[:len(d)]
	weighBitsGo(x, d, b, bits, off, scale, weight, weighBitsFast(x, d, b, bits, off, scale, weight))
}

func weighBitsGo(x, d, b []float32, bits []uint64, off int, scale, weight float32, from int) {
	for i := from; i < len(d); i++ {
		e := off + i
		keep := uint32(-int32(bits[e>>6] >> (uint(e) & 63) & 1))
		x[i] = math.Float32frombits(math.Float32bits(d[i]-b[i])&keep) * scale * weight
	}
}

// Window scans the magnitude keys k of d-b (elements off+i): it returns
// how many exceed hi, and appends k<<32 | (off+i) for those with
// lo <= k <= hi to cands, in element order.
func Window(d, b []float32, off int, lo, hi uint32, cands []uint64) (above int, _ []uint64) {
	b = b[:len(d)]
	i, above, cands := windowFast(d, b, off, lo, hi, cands)
	more, cands := windowGo(d, b, off, lo, hi, cands, i)
	return above + more, cands
}

func windowGo(d, b []float32, off int, lo, hi uint32, cands []uint64, from int) (above int, _ []uint64) {
	for i := from; i < len(d); i++ {
		k := math.Float32bits(d[i]-b[i]) &^ (1 << 31)
		if k > hi {
			above++
		} else if k >= lo {
			cands = append(cands, uint64(k)<<32|uint64(off+i))
		}
	}
	return above, cands
}

// CountNonFinite counts the NaN and ±Inf values of v.
func CountNonFinite(v []float32) int {
	i, c := countNonFiniteFast(v)
	return c + countNonFiniteGo(v, i)
}

func countNonFiniteGo(v []float32, from int) int {
	c := 0
	for _, x := range v[from:] {
		if math.Float32bits(x)&0x7f800000 == 0x7f800000 {
			c++
		}
	}
	return c
}

// Split sets bit i of keep for each draws[i] < lo, and bit i of band for
// each lo <= draws[i] < hi (bit i is bit i&63 of word i>>6; the other bits
// of the words covering draws are cleared). Draws must be below 2^31.
func Split(keep, band []uint64, draws []uint32, lo, hi uint32) {
	words := (len(draws) + 63) >> 6
	clear(keep[:words])
	clear(band[:words])
	splitGo(keep, band, draws, lo, hi, splitFast(keep, band, draws, lo, hi))
}

func splitGo(keep, band []uint64, draws []uint32, lo, hi uint32, from int) {
	for i := from; i < len(draws); i++ {
		switch d := draws[i]; {
		case d < lo:
			keep[i>>6] |= 1 << (uint(i) & 63)
		case d < hi:
			band[i>>6] |= 1 << (uint(i) & 63)
		}
	}
}

// MaxKey returns the largest magnitude key (float bits without the sign)
// of v, 0 for an empty v.
func MaxKey(v []float32) uint32 {
	i, top := maxKeyFast(v)
	return max(top, maxKeyGo(v, i))
}

func maxKeyGo(v []float32, from int) uint32 {
	var top uint32
	for _, x := range v[from:] {
		top = max(top, math.Float32bits(x)&^(1<<31))
	}
	return top
}

// Buckets stores in dst the bucket of each element of v: 0 for ±0, else 1
// plus its magnitude key minus low (0 when below low) shifted right by
// shift.
func Buckets(dst []uint32, v []float32, low uint32, shift uint) {
	dst = dst[:len(v)]
	bucketsGo(dst, v, low, shift, bucketsFast(dst, v, low, shift))
}

func bucketsGo(dst []uint32, v []float32, low uint32, shift uint, from int) {
	for i := from; i < len(v); i++ {
		k := math.Float32bits(v[i]) &^ (1 << 31)
		d := int32(k - low)
		dst[i] = uint32(d&^(d>>31))>>shift + min(1, k)
	}
}

// AbsSums returns Σ|v[i]| and the same sum over the elements whose bit in
// keep is set, in float64. The order of the additions is fixed: eight
// partial sums take the elements i ≡ 0, 1, …, 7 (mod 8) below len(v)&^7 in
// index order, and are added in that order; the elements from len(v)&^7
// on follow one by one.
func AbsSums(v []float32, keep []uint64) (all, kept float64) {
	i, la, lk := absSumsFast(v, keep)
	return absSumsGo(v, keep, la, lk, i)
}

// absSumsGo finishes AbsSums given the lane sums of the elements below
// from, which is 0 or len(v)&^7.
func absSumsGo(v []float32, keep []uint64, la, lk [8]float64, from int) (all, kept float64) {
	bit := func(i int) uint64 { return -(keep[i>>6] >> (uint(i) & 63) & 1) }
	i := from
	for ; i < len(v)&^7; i++ {
		a := math.Abs(float64(v[i]))
		la[i&7] += a
		lk[i&7] += math.Float64frombits(math.Float64bits(a) & bit(i))
	}
	for l := range la {
		all += la[l]
		kept += lk[l]
	}
	for ; i < len(v); i++ {
		a := math.Abs(float64(v[i]))
		all += a
		kept += math.Float64frombits(math.Float64bits(a) & bit(i))
	}
	return all, kept
}

// Sub stores a - b in dst; a and b must be at least as long as dst.
func Sub(dst, a, b []float32) {
	a, b = a[:len(dst)], b[:len(dst)]
	subGo(dst, a, b, subFast(dst, a, b))
}

func subGo(dst, a, b []float32, from int) {
	for i := from; i < len(dst); i++ {
		dst[i] = a[i] - b[i]
	}
}

// AddScaled sets out[i] = out[i]·lambda + b[i] (no multiplication when
// lambda is 1).
func AddScaled(out, b []float32, lambda float32) {
	b = b[:len(out)]
	addScaledGo(out, b, lambda, addScaledFast(out, b, lambda))
}

func addScaledGo(out, b []float32, lambda float32, from int) {
	for i := from; i < len(out); i++ {
		v := out[i]
		if lambda != 1 {
			v *= lambda
		}
		out[i] = v + b[i]
	}
}

// Collect appends to dst the indices i, in increasing order, of the
// elements of src equal to value.
func Collect(dst, src []uint32, value uint32) []uint32 {
	i, dst := collectFast(dst, src, value)
	return collectGo(dst, src, value, i)
}

func collectGo(dst, src []uint32, value uint32, from int) []uint32 {
	for i := from; i < len(src); i++ {
		if src[i] == value {
			dst = append(dst, uint32(i))
		}
	}
	return dst
}

// golden is 2^64 divided by the golden ratio, splitmix64's increment.
const golden = 0x9e3779b97f4a7c15

// Draw64 is element i's 64-bit draw from the stream key: splitmix64's
// finaliser applied to key + i*golden. For one key, distinct elements
// have distinct draws (the map from i is a bijection).
func Draw64(key uint64, i int) uint64 { return Mix(key + uint64(i)*golden) }

// Draw24 is element i's 24-bit draw from the stream key: the top 24 bits
// of Draw64.
func Draw24(key uint64, i int) uint32 { return uint32(Draw64(key, i) >> 40) }

// Draws stores Draw24(key, first+l) in dst[l].
func Draws(dst []uint32, key uint64, first int) {
	drawsGo(dst, key, first, drawsFast(dst, key, first))
}

func drawsGo(dst []uint32, key uint64, first, from int) {
	for l := from; l < len(dst); l++ {
		dst[l] = Draw24(key, first+l)
	}
}

// Mix is the splitmix64 finaliser.
func Mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// nonZero is all ones when the float bits b are not ±0, else 0.
func nonZero(b uint32) uint32 { return uint32(int32(-int32(b&0x7fffffff)) >> 31) }

// WeightedSum sets out[k] = float32((Σ_i w[i]·float64(x[i][k])) / div):
// the products and the sum in float64, the sum started from +0 and taken
// in input order, each product rounded before it is added (never fused),
// then divided by div and rounded to float32 (linear's average). Each
// x[i] must be at least as long as out, and len(w) == len(x).
func WeightedSum(out []float32, x [][]float32, w []float64, div float64) {
	if len(w) != len(x) {
		panic("vec.WeightedSum: len(w) != len(x)")
	}
	for i := range x {
		if len(x[i]) < len(out) {
			panic("vec.WeightedSum: an input is shorter than out")
		}
	}
	weightedSumGo(out, x, w, div, weightedSumFast(out, x, w, div))
}

func weightedSumGo(out []float32, x [][]float32, w []float64, div float64, from int) {
	for k := from; k < len(out); k++ {
		var s float64
		for i, v := range x {
			s += float64(w[i] * float64(v[k]))
		}
		out[k] = float32(s / div)
	}
}
