//go:build !amd64

package vec

// f16c: no vector q8_0 loop on this architecture.
const f16c = false

func bf16ToF32Fast(dst []float32, src []byte) int           { return 0 }
func f32ToBF16Fast(dst []byte, src []float32) int           { return 0 }
func roundToBF16Fast(dst, src []float32) int                { return 0 }
func consensusFast(out, x, w []float32, normalize bool) int { return 0 }

func weighCutFast(x, d, b []float32, off int, keep, drop Cut, scale, weight float32) int { return 0 }

func weighBitsFast(x, d, b []float32, bits []uint64, off int, scale, weight float32) int { return 0 }

func windowFast(d, b []float32, off int, lo, hi uint32, cands []uint64) (done, above int, _ []uint64) {
	return 0, 0, cands
}

func countNonFiniteFast(v []float32) (done, count int) { return 0, 0 }

func splitFast(keep, band []uint64, draws []uint32, lo, hi uint32) int { return 0 }

func maxKeyFast(v []float32) (done int, top uint32) { return 0, 0 }

func bucketsFast(dst []uint32, v []float32, low uint32, shift uint) int { return 0 }

func absSumsFast(v []float32, keep []uint64) (done int, all, kept [8]float64) {
	return 0, all, kept
}

func subFast(dst, a, b []float32) int { return 0 }

func drawsFast(dst []uint32, key uint64, first int) int { return 0 }

func collectFast(dst, src []uint32, value uint32) (done int, _ []uint32) { return 0, dst }

func addScaledFast(out, b []float32, lambda float32) int { return 0 }

func quantizeQ8_0Fast(dst []byte, src []float32) int { return 0 }

func weightedSumFast(out []float32, x [][]float32, w []float64, div float64) int { return 0 }
