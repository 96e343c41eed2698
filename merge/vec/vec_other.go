//go:build !amd64

package vec

func bf16ToF32Fast(dst []float32, src []byte) int           { return 0 }
func f32ToBF16Fast(dst []byte, src []float32) int           { return 0 }
func consensusFast(out, x, w []float32, normalize bool) int { return 0 }
