// Package vec holds the inner loops that dominate a merge's running time:
// bfloat16 conversion both ways and TIES's sign election. On amd64 with
// AVX2 they run eight lanes at a time; elsewhere, and for the tails, they
// run the portable Go loops of this file. Both give the same bits: every
// lane does the same IEEE single-precision operations in the same order.
//
// No maintained Go library offers these loops (bfloat16 packages convert
// one value at a time, and the sign election is mergekit's own), hence
// the assembly.
package vec

import "math"

// BF16ToF32 widens the little-endian bfloat16 values in src into dst;
// len(src) must be 2*len(dst).
func BF16ToF32(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	i := bf16ToF32Fast(dst, src)
	for ; i < len(dst); i++ {
		dst[i] = math.Float32frombits(uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24)
	}
}

// F32ToBF16 rounds src to bfloat16 (to nearest, ties to even; NaN stays a
// quiet NaN with its sign) into dst, little-endian; len(dst) must be
// 2*len(src).
func F32ToBF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	i := f32ToBF16Fast(dst, src)
	for ; i < len(src); i++ {
		h := RoundBF16(src[i])
		dst[2*i], dst[2*i+1] = byte(h), byte(h>>8)
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

// nonZero is all ones when the float bits b are not ±0, else 0.
func nonZero(b uint32) uint32 { return uint32(int32(-int32(b&0x7fffffff)) >> 31) }
