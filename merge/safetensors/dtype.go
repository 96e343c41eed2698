// Package safetensors reads and writes Hugging Face safetensors checkpoints.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON header describing each tensor (dtype, shape and data offsets relative
// to the start of the data section), then the raw little-endian tensor data.
// Files are read through a read-only memory mapping; the Writer lays out all
// shards up front so that tensors can be written concurrently, in chunks and
// in any order.
//
// Only the floating-point dtypes F32, F16 and BF16 are supported.
package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"

	"github.com/x448/float16"

	"github.com/mergetune/mergetune/merge/vec"
)

// DType is a safetensors element type, spelled as in the file header.
type DType string

// Supported element types.
const (
	// F32 is IEEE 754 single precision.
	F32 DType = "F32"
	// F16 is IEEE 754 half precision.
	F16 DType = "F16"
	// BF16 is bfloat16: the upper 16 bits of a float32.
	BF16 DType = "BF16"
)

// Size returns the number of bytes per element, or 0 for an unsupported
// dtype.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// Valid reports whether d is one of the supported dtypes.
func (d DType) Valid() bool { return d.Size() != 0 }

// TorchName returns the PyTorch name of the dtype ("float32", "float16",
// "bfloat16"), as used for torch_dtype in config.json, or "" for an
// unsupported dtype.
func (d DType) TorchName() string {
	switch d {
	case F32:
		return "float32"
	case F16:
		return "float16"
	case BF16:
		return "bfloat16"
	}
	return ""
}

// ParseDType parses a dtype given either as a PyTorch name ("float32",
// "float16", "bfloat16", optionally prefixed with "torch.") or as a
// safetensors name ("F32", "F16", "BF16").
func ParseDType(name string) (DType, error) {
	switch strings.TrimPrefix(name, "torch.") {
	case "float32", "F32":
		return F32, nil
	case "float16", "F16":
		return F16, nil
	case "bfloat16", "BF16":
		return BF16, nil
	}
	return "", fmt.Errorf("unsupported dtype %q (want float32, float16 or bfloat16)", name)
}

// ToFloat32 converts len(dst) elements of dtype d from src to float32.
// It panics if len(src) != len(dst)*d.Size() or d is unsupported.
func ToFloat32(d DType, src []byte, dst []float32) {
	if len(src) != len(dst)*d.Size() || !d.Valid() {
		panic(fmt.Sprintf("safetensors.ToFloat32: %d bytes of %q for %d elements", len(src), d, len(dst)))
	}
	switch d {
	case F32:
		f32ToF32(src, dst)
	case F16:
		f16ToF32(src, dst)
	case BF16:
		bf16ToF32(src, dst)
	}
}

// FromFloat32 converts src to dtype d into dst. Conversion to F16 and BF16
// rounds to nearest even; NaN stays NaN. It panics if
// len(dst) != len(src)*d.Size() or d is unsupported.
func FromFloat32(d DType, src []float32, dst []byte) {
	if len(dst) != len(src)*d.Size() || !d.Valid() {
		panic(fmt.Sprintf("safetensors.FromFloat32: %d elements into %d bytes of %q", len(src), len(dst), d))
	}
	switch d {
	case F32:
		f32FromF32(src, dst)
	case F16:
		f16FromF32(src, dst)
	case BF16:
		bf16FromF32(src, dst)
	}
}

func f32ToF32(src []byte, dst []float32) {
	i := 0
	for ; i+2 <= len(dst); i += 2 {
		v := binary.LittleEndian.Uint64(src[4*i:])
		dst[i] = math.Float32frombits(uint32(v))
		dst[i+1] = math.Float32frombits(uint32(v >> 32))
	}
	for ; i < len(dst); i++ {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func f32FromF32(src []float32, dst []byte) {
	i := 0
	for ; i+2 <= len(src); i += 2 {
		v := uint64(math.Float32bits(src[i])) | uint64(math.Float32bits(src[i+1]))<<32
		binary.LittleEndian.PutUint64(dst[4*i:], v)
	}
	for ; i < len(src); i++ {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(src[i]))
	}
}

// f16Widen returns the float32 bits of the IEEE half-precision value h
// (exact; NaN payloads are kept).
func f16Widen(h uint16) uint32 {
	sign := uint32(h&0x8000) << 16
	em := uint32(h & 0x7fff)
	switch {
	case em >= 0x7c00: // Inf or NaN
		return sign | 0x7f800000 | (em&0x3ff)<<13
	case em >= 0x0400: // normal: rebias the exponent from 15 to 127
		return sign | (em<<13 + (127-15)<<23)
	default: // zero or subnormal: em * 2^-24, exact in float32
		return sign | math.Float32bits(float32(em)*(1.0/(1<<24)))
	}
}

func f16ToF32(src []byte, dst []float32) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(f16Widen(binary.LittleEndian.Uint16(src[2*i:])))
	}
}

func f16FromF32(src []float32, dst []byte) {
	for i, f := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], float16.Fromfloat32(f).Bits())
	}
}

// bf16ToF32 widens bfloat16 to float32: a 16-bit shift.
func bf16ToF32(src []byte, dst []float32) { vec.BF16ToF32(dst, src) }

// Round rounds the values in v, in place, to the precision of d (to
// nearest, ties to even), as FromFloat32 then ToFloat32 would, without the
// intermediate bytes.
func Round(d DType, v []float32) { RoundTo(d, v, v) }

// RoundTo sets dst to the values of src rounded as Round rounds them;
// len(dst) must be len(src), and dst may be src.
func RoundTo(d DType, dst, src []float32) {
	dst = dst[:len(src)]
	switch d {
	case BF16:
		vec.RoundToBF16(dst, src)
	case F16:
		for i, f := range src {
			dst[i] = math.Float32frombits(f16Widen(float16.Fromfloat32(f).Bits()))
		}
	default:
		if len(src) > 0 && &dst[0] != &src[0] {
			copy(dst, src)
		}
	}
}

// bf16FromF32 rounds float32 to bfloat16, to nearest even; NaN is kept a
// (quiet) NaN with its sign.
func bf16FromF32(src []float32, dst []byte) { vec.F32ToBF16(dst, src) }
