package vec

import "golang.org/x/sys/cpu"

// avx2 is set once, at start-up, from the CPU's features.
var avx2 = cpu.X86.HasAVX2

//go:noescape
func bf16ToF32AVX2(dst *float32, src *byte, n int)

//go:noescape
func f32ToBF16AVX2(dst *byte, src *float32, n int)

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
