package vec

import (
	"fmt"
	"math"

	"github.com/x448/float16"
)

// The q8_0 format of ggml (GGUF tensor type 8): the values are cut into
// blocks of Q8_0Block consecutive elements, and each block is stored in
// Q8_0BlockBytes bytes:
//
//	bytes 0-1:  d, the block's scale, as a little-endian IEEE half float
//	bytes 2-33: q[0..31], one signed byte per element
//
// An element's value is d·q. A tensor's blocks follow one another with no
// padding; a row of a 2-D tensor must hold a whole number of blocks.
const (
	// Q8_0Block is the number of elements of a q8_0 block.
	Q8_0Block = 32
	// Q8_0BlockBytes is the size in bytes of a q8_0 block.
	Q8_0BlockBytes = 2 + Q8_0Block
)

// Q8_0Size returns the size in bytes of n elements in q8_0, or an error
// when n is not a whole number of blocks.
func Q8_0Size(n int) (int, error) {
	if n < 0 || n%Q8_0Block != 0 {
		return 0, fmt.Errorf("q8_0: %d elements are not a whole number of %d-element blocks", n, Q8_0Block)
	}
	return n / Q8_0Block * Q8_0BlockBytes, nil
}

// QuantizeQ8_0 quantizes src into dst in the q8_0 layout (see Q8_0Block),
// producing the bytes ggml's reference quantizer (quantize_row_q8_0_ref,
// which Ollama's `create --quantize q8_0` runs) produces for the same
// float32 values. len(src) must be a multiple of Q8_0Block and len(dst)
// Q8_0Size(len(src)).
//
// Per block, with all arithmetic in float32: amax is the running
// maximum of |x| over the block in element order, taken as ggml's
// MAX(amax, |x|) = amax > |x| ? amax : |x| (so a NaN is kept only when it
// is the block's last element, and a NaN is forgotten by the next
// element); d = amax/127; id = 1/d, or 0 when d is 0; d is stored rounded
// to half precision (to nearest, ties to even; a NaN as 0x7e00 with its
// sign); q = round(x·id), rounding halves away from zero, converted to a
// signed byte as an amd64 build of the reference converts it: the low byte
// of the truncated 32-bit integer, where a NaN or a value outside the
// int32 range gives 0x80000000 (so such elements, and every element of a
// block with an infinite value or a scale too small to invert in float32,
// store 0). For finite input every q is the exact rounded value, in
// [-127, 127].
func QuantizeQ8_0(dst []byte, src []float32) error {
	size, err := Q8_0Size(len(src))
	if err != nil {
		return err
	}
	if len(dst) != size {
		return fmt.Errorf("q8_0: destination of %d bytes for %d elements, want %d", len(dst), len(src), size)
	}
	nb := len(src) / Q8_0Block
	for b := 0; b < nb; {
		b += quantizeQ8_0Fast(dst[b*Q8_0BlockBytes:], src[b*Q8_0Block:])
		if b < nb {
			// a block the vector loop leaves to the scalar one
			quantizeQ8_0Block(dst[b*Q8_0BlockBytes:(b+1)*Q8_0BlockBytes], src[b*Q8_0Block:(b+1)*Q8_0Block])
			b++
		}
	}
	return nil
}

// QuantizeQ8_0BF16 is QuantizeQ8_0 for little-endian bfloat16 values
// (2 bytes each) in src: ggml widens them to float32 exactly, as
// BF16ToF32 does, before quantizing.
func QuantizeQ8_0BF16(dst, src []byte) error {
	if len(src)%2 != 0 {
		return fmt.Errorf("q8_0: bfloat16 source of %d bytes, an odd count", len(src))
	}
	n := len(src) / 2
	size, err := Q8_0Size(n)
	if err != nil {
		return err
	}
	if len(dst) != size {
		return fmt.Errorf("q8_0: destination of %d bytes for %d elements, want %d", len(dst), n, size)
	}
	var buf [64 * Q8_0Block]float32
	for off := 0; off < n; off += len(buf) {
		m := min(len(buf), n-off)
		BF16ToF32(buf[:m], src[2*off:2*(off+m)])
		if err := QuantizeQ8_0(dst[off/Q8_0Block*Q8_0BlockBytes:(off+m)/Q8_0Block*Q8_0BlockBytes], buf[:m]); err != nil {
			return err
		}
	}
	return nil
}

// quantizeQ8_0Go quantizes blocks from on of src into dst one by one.
func quantizeQ8_0Go(dst []byte, src []float32, from int) {
	for b := from; b < len(src)/Q8_0Block; b++ {
		quantizeQ8_0Block(dst[b*Q8_0BlockBytes:(b+1)*Q8_0BlockBytes], src[b*Q8_0Block:(b+1)*Q8_0Block])
	}
}

// quantizeQ8_0Block quantizes one block x into the Q8_0BlockBytes of out.
func quantizeQ8_0Block(out []byte, x []float32) {
	x = x[:Q8_0Block]
	out = out[:Q8_0BlockBytes]
	var amax float32
	for _, v := range x {
		a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31))
		if !(amax > a) {
			amax = a
		}
	}
	d := amax / 127
	var id float32
	if d != 0 {
		id = 1 / d
	}
	h := F32ToF16(d)
	out[0], out[1] = byte(h), byte(h>>8)
	for j, v := range x {
		out[2+j] = byte(cvtt32(roundHalfAway(v * id)))
	}
}

// roundHalfAway is C's roundf: to the nearest integer, halves away from
// zero (exact: a float32 converts to float64 without rounding).
func roundHalfAway(f float32) float64 { return math.Round(float64(f)) }

// cvtt32 is amd64's CVTTSD2SL: f truncated to int32, or math.MinInt32 for a
// NaN or a value outside the int32 range.
func cvtt32(f float64) int32 {
	if !(f > math.MinInt32-1 && f < math.MaxInt32+1) {
		return math.MinInt32
	}
	return int32(f)
}

// F32ToF16 rounds f to IEEE half precision bits as ggml's
// GGML_FP32_TO_FP16 does: to nearest, ties to even, overflowing to ±Inf;
// a NaN becomes the quiet NaN 0x7e00 with f's sign.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16)&0x8000 | 0x7e00
	}
	return uint16(float16.Fromfloat32(f))
}
