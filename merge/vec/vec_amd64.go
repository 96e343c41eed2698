package vec

import (
	"math"
	"slices"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// avx2, avx512 and f16c are set once, at start-up, from the CPU's
// features (avx512: the DQ and VL extensions, for 64-bit multiplies; f16c:
// AVX2 and the half-precision conversions, for the q8_0 scales).
var (
	avx2   = cpu.X86.HasAVX2
	avx512 = avx2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL
	f16c   = avx2 && cpu.X86.HasF16C
)

//go:noescape
func bf16ToF32AVX2(dst *float32, src *byte, n int)

//go:noescape
func f32ToBF16AVX2(dst *byte, src *float32, n int)

//go:noescape
func roundToBF16AVX2(dst, src *float32, n int)

//go:noescape
func consensusAVX2(out, x *float32, n, stride int, w *float32, nw int, normalize bool)

// bf16ToF32Fast converts a multiple of 16 leading elements with AVX2 and
// returns how many it converted.
func bf16ToF32Fast(dst []float32, src []byte) int {
	n := len(dst) &^ 15
	if !avx2 || n == 0 {
		return 0
	}
	bf16ToF32AVX2(&dst[0], &src[0], n)
	return n
}

// f32ToBF16Fast is bf16ToF32Fast's converse.
func f32ToBF16Fast(dst []byte, src []float32) int {
	n := len(src) &^ 15
	if !avx2 || n == 0 {
		return 0
	}
	f32ToBF16AVX2(&dst[0], &src[0], n)
	return n
}

// roundToBF16Fast rounds a multiple of 16 leading elements with AVX2 and
// returns how many it rounded.
func roundToBF16Fast(dst, src []float32) int {
	n := len(src) &^ 15
	if !avx2 || n == 0 {
		return 0
	}
	roundToBF16AVX2(&dst[0], &src[0], n)
	return n
}

// consensusFast elects a multiple of 8 leading elements with AVX2 and
// returns how many it did.
func consensusFast(out, x, w []float32, normalize bool) int {
	n := len(out) &^ 7
	if !avx2 || n == 0 {
		return 0
	}
	consensusAVX2(&out[0], &x[0], n, len(out), &w[0], len(w), normalize)
	return n
}

//go:noescape
func weighCutAVX2(x, d, b *float32, n, off int, keepAbove, keepEnd, dropAbove, dropEnd int32, scale, weight float32)

//go:noescape
func weighBitsAVX2(x, d, b *float32, bits *byte, n int, scale, weight float32)

//go:noescape
func windowAVX2(d, b *float32, n, off int, lo, hi int32, cands *uint64) (above, added int)

//go:noescape
func countNonFiniteAVX2(v *float32, n int) int

// int32Safe reports whether the element indices [off, off+n) fit in the
// int32 lanes of the vector loops.
func int32Safe(off, n int) bool { return off >= 0 && off+n <= math.MaxInt32 }

func weighCutFast(x, d, b []float32, off int, keep, drop Cut, scale, weight float32) int {
	n := len(d) &^ 7
	if !avx2 || n == 0 || !int32Safe(off, n) {
		return 0
	}
	weighCutAVX2(&x[0], &d[0], &b[0], n, off, keep.Above, clamp32(keep.End), drop.Above, clamp32(drop.End), scale, weight)
	return n
}

func weighBitsFast(x, d, b []float32, bits []uint64, off int, scale, weight float32) int {
	n := len(d) &^ 7
	if !avx2 || n == 0 || off&7 != 0 {
		return 0
	}
	_ = bits[(off+n-1)>>6]
	weighBitsAVX2(&x[0], &d[0], &b[0], (*byte)(unsafe.Add(unsafe.Pointer(&bits[0]), off>>3)), n, scale, weight)
	return n
}

func windowFast(d, b []float32, off int, lo, hi uint32, cands []uint64) (done, above int, _ []uint64) {
	n := len(d) &^ 7
	if !avx2 || n == 0 || !int32Safe(off, n) {
		return 0, 0, cands
	}
	// candidates go through a buffer on the stack, a piece at a time, so
	// cands grows by what is found, not by the room the scan might need
	var buf [512]uint64
	hi = min(hi, math.MaxInt32)
	for at := 0; at < n; at += len(buf) {
		m := min(len(buf), n-at)
		a, added := windowAVX2(&d[at], &b[at], m, off+at, int32(lo), int32(hi), &buf[0])
		above += a
		cands = append(cands, buf[:added]...)
	}
	return n, above, cands
}

func countNonFiniteFast(v []float32) (done, count int) {
	n := len(v) &^ 7
	if !avx2 || n == 0 {
		return 0, 0
	}
	return n, countNonFiniteAVX2(&v[0], n)
}

//go:noescape
func splitAVX2(keep, band *uint64, draws *uint32, n int, lo, hi uint32)

//go:noescape
func maxKeyAVX2(v *float32, n int) uint32

//go:noescape
func bucketsAVX2(dst *uint32, v *float32, n int, low uint32, shift uint64)

//go:noescape
func absSumsAVX2(v *float32, keep *uint64, n int, sums *[16]float64)

func splitFast(keep, band []uint64, draws []uint32, lo, hi uint32) int {
	n := len(draws) &^ 7
	if !avx2 || n == 0 {
		return 0
	}
	_, _ = keep[(n-1)>>6], band[(n-1)>>6]
	splitAVX2(&keep[0], &band[0], &draws[0], n, lo, hi)
	return n
}

func maxKeyFast(v []float32) (done int, top uint32) {
	n := len(v) &^ 7
	if !avx2 || n == 0 {
		return 0, 0
	}
	return n, maxKeyAVX2(&v[0], n)
}

func bucketsFast(dst []uint32, v []float32, low uint32, shift uint) int {
	n := len(v) &^ 7
	if !avx2 || n == 0 {
		return 0
	}
	bucketsAVX2(&dst[0], &v[0], n, low, uint64(shift))
	return n
}

func absSumsFast(v []float32, keep []uint64) (done int, all, kept [8]float64) {
	n := len(v) &^ 7
	if !avx2 || n == 0 {
		return 0, all, kept
	}
	_ = keep[(n-1)>>6]
	var sums [16]float64
	absSumsAVX2(&v[0], &keep[0], n, &sums)
	return n, [8]float64(sums[:8]), [8]float64(sums[8:])
}

//go:noescape
func subAVX2(dst, a, b *float32, n int)

//go:noescape
func drawsAVX2(dst *uint32, x *uint64, n int)

//go:noescape
func drawsAVX512(dst *uint32, x *uint64, n int)

func subFast(dst, a, b []float32) int {
	n := len(dst) &^ 7
	if !avx2 || n == 0 {
		return 0
	}
	subAVX2(&dst[0], &a[0], &b[0], n)
	return n
}

func drawsFast(dst []uint32, key uint64, first int) int {
	n := len(dst) &^ 7
	if !avx2 || n == 0 {
		return 0
	}
	var x [8]uint64
	for l := range x {
		x[l] = key + uint64(first+l)*golden
	}
	if avx512 {
		drawsAVX512(&dst[0], &x[0], n)
	} else {
		drawsAVX2(&dst[0], &x[0], n)
	}
	return n
}

//go:noescape
func collectAVX2(dst *uint32, src *uint32, n int, value uint32) (added int)

func collectFast(dst, src []uint32, value uint32) (done int, _ []uint32) {
	n := len(src) &^ 7
	if !avx2 || n == 0 {
		return 0, dst
	}
	dst = slices.Grow(dst, n)
	added := collectAVX2(unsafe.SliceData(dst[len(dst):cap(dst)]), &src[0], n, value)
	return n, dst[:len(dst)+added]
}

//go:noescape
func addScaledAVX2(out, b *float32, n int, lambda float32, scale bool)

func addScaledFast(out, b []float32, lambda float32) int {
	n := len(out) &^ 7
	if !avx2 || n == 0 {
		return 0
	}
	addScaledAVX2(&out[0], &b[0], n, lambda, lambda != 1)
	return n
}

//go:noescape
func quantizeQ8_0AVX2(dst *byte, src *float32, nb int) (done int)

// quantizeQ8_0Fast quantizes the leading blocks of src into dst with AVX2
// (and F16C for the scales) and returns how many it did: it stops before
// the first block whose amax is not finite or whose scale has no finite
// inverse, which the scalar loop does.
func quantizeQ8_0Fast(dst []byte, src []float32) int {
	nb := len(src) / Q8_0Block
	if !f16c || nb == 0 {
		return 0
	}
	_ = dst[nb*Q8_0BlockBytes-1]
	return quantizeQ8_0AVX2(&dst[0], &src[0], nb)
}

//go:noescape
func weightedSumAVX2(out *float32, x **float32, w *float64, nx, n int, div float64, divide bool)

// weightedSumFast sums a multiple of 8 leading elements with AVX2 and
// returns how many it did.
func weightedSumFast(out []float32, x [][]float32, w []float64, div float64) int {
	n := len(out) &^ 7
	if !avx2 || n == 0 || len(x) == 0 {
		return 0
	}
	var stack [8]*float32
	ptrs := stack[:0]
	for _, v := range x {
		ptrs = append(ptrs, &v[0])
	}
	weightedSumAVX2(&out[0], &ptrs[0], &w[0], len(x), n, div, div != 1)
	return n
}
