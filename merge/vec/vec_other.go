//go:build !amd64

package vec

func bf16ToF32Fast(dst []float32, src []byte) int           { return 0 }
func f32ToBF16Fast(dst []byte, src []float32) int           { return 0 }
func consensusFast(out, x, w []float32, normalize bool) int { return 0 }

func weighCutFast(x, d, b []float32, off int, keep, drop Cut, scale, weight float32) int { return 0 }

func weighBitsFast(x, d, b []float32, bits []uint64, off int, scale, weight float32) int { return 0 }

func windowFast(d, b []float32, off int, lo, hi uint32, cands []uint64) (done, above int, _ []uint64) {
	return 0, 0, cands
}

func countNonFiniteFast(v []float32) int { return 0 }
