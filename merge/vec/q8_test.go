package vec

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// q8Block builds a block: the given leading values, then zeros.
func q8Block(lead ...float32) []float32 {
	x := make([]float32, Q8_0Block)
	copy(x, lead)
	return x
}

// q8Want is an expected block: the half-float scale bits and the leading
// quants (the rest 0).
func q8Want(d uint16, q ...int8) []byte {
	b := make([]byte, Q8_0BlockBytes)
	b[0], b[1] = byte(d), byte(d>>8)
	for i, v := range q {
		b[2+i] = byte(v)
	}
	return b
}

func TestQuantizeQ8_0Table(t *testing.T) {
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	// a block filled with v everywhere but the given leading values
	fill := func(v float32, lead ...float32) []float32 {
		x := make([]float32, Q8_0Block)
		for i := range x {
			x[i] = v
		}
		copy(x, lead)
		return x
	}
	cases := []struct {
		name string
		x    []float32
		want []byte
	}{
		{"all zeros", q8Block(), q8Want(0)},
		{"negative zeros", fill(float32(math.Copysign(0, -1))), q8Want(0)},
		// amax 127: d = 1 (0x3c00), id = 1, q = round(x)
		{"unit scale", q8Block(127, -127, 5, -3.25), q8Want(0x3c00, 127, -127, 5, -3)},
		// ties round away from zero, not to even
		{"ties at .5", q8Block(127, 0.5, -0.5, 1.5, 2.5, -2.5, 63.5, -126.5),
			q8Want(0x3c00, 127, 1, -1, 2, 3, -3, 64, -127)},
		{"just below .5", q8Block(127, math.Nextafter32(0.5, 0), math.Nextafter32(-2.5, 0)),
			q8Want(0x3c00, 127, 0, -2)},
		// the largest magnitude sets the scale whatever its sign
		{"negative max", q8Block(-254, 2, 3), q8Want(0x4000, -127, 1, 2)}, // d = 2; 3/2 = 1.5 -> 2
		{"max float32", q8Block(math.MaxFloat32, -math.MaxFloat32, 0),
			q8Want(0x7c00, 127, -127)}, // d = 2.7e36 overflows the half float
		// amax/127 underflows to 0: id = 0, every q 0
		{"scale 0", q8Block(math.SmallestNonzeroFloat32), q8Want(0)},
		// d is finite but 1/d overflows: x·Inf converts to 0x80000000, low byte 0
		{"scale too small to invert", q8Block(1e-38, -1e-38), q8Want(0)},
		// an infinity: d = Inf, id = 0, Inf·0 = NaN -> 0
		{"infinity", q8Block(1, inf, 2), q8Want(0x7c00)},
		// a NaN last: amax = NaN, d = NaN (0x7e00), every q 0
		{"NaN last", fill(1, 127), q8WantNaNLast()},
		// a NaN first is forgotten: amax is 127, the NaN's q is 0
		{"NaN first", q8Block(nan, 127, 3), q8Want(0x3c00, 0, 127, 3)},
		// a NaN in the middle resets amax to what follows it (2): 100 -> 6350,
		// whose low byte is 0xce
		{"NaN resets the maximum", q8Block(100, nan, 1, 2), q8Want(0x2408, -50, 0, 64, 127)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "NaN last" {
				c.x[Q8_0Block-1] = nan
			}
			for _, path := range []struct {
				name string
				run  func(dst []byte, src []float32)
			}{
				{"QuantizeQ8_0", func(dst []byte, src []float32) {
					if err := QuantizeQ8_0(dst, src); err != nil {
						t.Fatal(err)
					}
				}},
				{"scalar", func(dst []byte, src []float32) { quantizeQ8_0Go(dst, src, 0) }},
			} {
				got := make([]byte, Q8_0BlockBytes)
				path.run(got, c.x)
				if !bytes.Equal(got, c.want) {
					t.Errorf("%s:\n got %x\nwant %x", path.name, got, c.want)
				}
			}
		})
	}
}

// q8WantNaNLast: the block of "NaN last": scale 0x7e00, every quant 0.
func q8WantNaNLast() []byte { return q8Want(0x7e00) }

func TestQuantizeQ8_0Errors(t *testing.T) {
	cases := []struct {
		name     string
		dst, src int
	}{
		{"length not a multiple of 32", 34, 33},
		{"31 elements", 34, 31},
		{"destination too short", 33, 32},
		{"destination too long", 68, 32},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := QuantizeQ8_0(make([]byte, c.dst), make([]float32, c.src)); err == nil {
				t.Error("no error")
			}
			if err := QuantizeQ8_0BF16(make([]byte, c.dst), make([]byte, 2*c.src)); err == nil {
				t.Error("bf16: no error")
			}
		})
	}
	if err := QuantizeQ8_0BF16(make([]byte, 34), make([]byte, 63)); err == nil {
		t.Error("bf16: odd byte count accepted")
	}
	if err := QuantizeQ8_0(nil, nil); err != nil {
		t.Errorf("empty input: %v", err)
	}
}

// q8Random returns n random values: blocks of different magnitudes,
// some with ties, zeros, subnormals and non-finite values.
func q8Random(r *rand.Rand, n int, special bool) []float32 {
	x := make([]float32, n)
	for b := 0; b < n/Q8_0Block; b++ {
		blk := x[b*Q8_0Block : (b+1)*Q8_0Block]
		scale := float32(math.Ldexp(1, r.IntN(60)-40))
		kind := r.IntN(8)
		for j := range blk {
			blk[j] = float32(r.NormFloat64()) * scale
			if kind == 1 {
				// halves of the scale step: ties after x·id
				blk[j] = float32(r.IntN(255)-127) / 2
			}
		}
		if kind == 2 {
			clear(blk)
		}
		if special && kind == 3 {
			specials := []float32{float32(math.NaN()), float32(math.Inf(-1)), 1e-39, math.MaxFloat32, 1e-45}
			blk[r.IntN(len(blk))] = specials[r.IntN(len(specials))]
		}
	}
	return x
}

// TestQuantizeQ8_0Paths compares QuantizeQ8_0 (the vector loop where the
// CPU has one) with the scalar loop on random data, and checks that the
// vector loop does the finite blocks itself.
func TestQuantizeQ8_0Paths(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{32, 64, 96, 32 * 300, 32 * 1001} {
		for _, special := range []bool{false, true} {
			x := q8Random(r, n, special)
			want := make([]byte, n/32*34)
			quantizeQ8_0Go(want, x, 0)
			got := make([]byte, len(want))
			if err := QuantizeQ8_0(got, x); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				b := firstDiff(got, want) / Q8_0BlockBytes
				t.Fatalf("n=%d special=%v: block %d differs: got %x want %x (input %v)", n, special, b,
					got[b*34:b*34+34], want[b*34:b*34+34], x[b*32:b*32+32])
			}
			if !special && f16c {
				if done := quantizeQ8_0Fast(make([]byte, len(want)), x); done != n/Q8_0Block {
					t.Errorf("n=%d: the vector loop did %d of %d finite blocks", n, done, n/Q8_0Block)
				}
			}
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestQuantizeQ8_0Error bounds the dequantized error of finite blocks:
// |d·q - x| <= d/2 (plus the rounding of d to half precision), and the
// largest |q| is 127.
func TestQuantizeQ8_0Error(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, 32*500)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 0.02)
	}
	q := make([]byte, 34*500)
	if err := QuantizeQ8_0(q, x); err != nil {
		t.Fatal(err)
	}
	for b := range 500 {
		blk := q[b*34 : b*34+34]
		var amax float64
		for _, v := range x[b*32 : b*32+32] {
			amax = max(amax, math.Abs(float64(v)))
		}
		d := amax / 127
		dh := f16ToF64(binary.LittleEndian.Uint16(blk))
		if math.Abs(dh-d) > d/1024 {
			t.Fatalf("block %d: scale %g, want %g", b, dh, d)
		}
		top := 0
		for j, v := range x[b*32 : b*32+32] {
			qv := int(int8(blk[2+j]))
			top = max(top, qv, -qv)
			if math.Abs(float64(qv)*d-float64(v)) > d/2*(1+1e-5) {
				t.Fatalf("block %d element %d: %g quantized to %d × %g", b, j, v, qv, d)
			}
		}
		if top != 127 {
			t.Fatalf("block %d: largest |q| %d, want 127", b, top)
		}
	}
}

// f16ToF64 decodes normal and zero half floats (the test's scales).
func f16ToF64(h uint16) float64 {
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	if e == 0 {
		return math.Ldexp(m, -24)
	}
	return math.Ldexp(1+m/1024, e-15)
}

// TestQuantizeQ8_0BF16 checks the bfloat16 variant against widening then
// quantizing, across its internal pieces.
func TestQuantizeQ8_0BF16(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	n := 32 * 200
	src := make([]byte, 2*n)
	for i := range n {
		binary.LittleEndian.PutUint16(src[2*i:], RoundBF16(float32(r.NormFloat64())))
	}
	wide := make([]float32, n)
	BF16ToF32(wide, src)
	want := make([]byte, n/32*34)
	quantizeQ8_0Go(want, wide, 0)
	got := make([]byte, len(want))
	if err := QuantizeQ8_0BF16(got, src); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("bf16 quantization differs from widening then quantizing at byte %d", firstDiff(got, want))
	}
}

func TestF32ToF16(t *testing.T) {
	cases := []struct {
		f    float32
		want uint16
	}{
		{0, 0},
		{1, 0x3c00},
		{65504, 0x7bff},
		{65520, 0x7c00}, // halfway to the next power: ties to even, overflows
		{1e10, 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
		{5.9604645e-08, 0x0001},                    // smallest subnormal
		{2.9802322e-08, 0x0000},                    // half of it: ties to even, 0
		{1 + 1.0/2048, 0x3c00},                     // tie between 1 and 1+2^-10: even
		{1 + 3.0/2048, 0x3c02},                     // tie: to even upwards
		{float32(math.NaN()), 0x7e00},              // quiet NaN, positive
		{-float32(math.NaN()), 0xfe00},             // its sign kept
		{math.Float32frombits(0x7f800001), 0x7e00}, // a signalling NaN too
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.want {
			t.Errorf("F32ToF16(%g = %#x) = %#04x, want %#04x", c.f, math.Float32bits(c.f), got, c.want)
		}
	}
}

// FuzzQ8_0 compares QuantizeQ8_0 with the scalar loop on arbitrary float
// bits (NaNs, infinities and subnormals included).
func FuzzQ8_0(f *testing.F) {
	f.Add(make([]byte, 128))
	seed := make([]byte, 256)
	for i := range 64 {
		binary.LittleEndian.PutUint32(seed[4*i:], math.Float32bits(float32(i)-31.5))
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(data) / 4 / Q8_0Block * Q8_0Block
		x := make([]float32, n)
		for i := range x {
			x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		want := make([]byte, n/32*34)
		quantizeQ8_0Go(want, x, 0)
		got := make([]byte, len(want))
		if err := QuantizeQ8_0(got, x); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			b := firstDiff(got, want) / Q8_0BlockBytes
			t.Fatalf("block %d differs: got %x want %x (input %v)", b, got[b*34:b*34+34], want[b*34:b*34+34], x[b*32:b*32+32])
		}
	})
}
