package safetensors

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/x448/float16"
)

func TestParseDType(t *testing.T) {
	tests := []struct {
		in   string
		want DType
	}{
		{"float32", F32}, {"torch.float32", F32}, {"F32", F32},
		{"float16", F16}, {"torch.float16", F16}, {"F16", F16},
		{"bfloat16", BF16}, {"torch.bfloat16", BF16}, {"BF16", BF16},
	}
	for _, tc := range tests {
		got, err := ParseDType(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"int8", "torch.int8", "", "F64", "float"} {
		_, err := ParseDType(bad)
		if err == nil || !strings.Contains(err.Error(), `"`+bad+`"`) {
			t.Errorf("ParseDType(%q) error = %v; want it to name the value", bad, err)
		}
	}
}

func TestDTypeNames(t *testing.T) {
	tests := []struct {
		d     DType
		size  int
		torch string
	}{
		{F32, 4, "float32"}, {F16, 2, "float16"}, {BF16, 2, "bfloat16"}, {"I8", 0, ""},
	}
	for _, tc := range tests {
		if tc.d.Size() != tc.size || tc.d.TorchName() != tc.torch {
			t.Errorf("%s: Size %d TorchName %q; want %d %q", tc.d, tc.d.Size(), tc.d.TorchName(), tc.size, tc.torch)
		}
		if tc.size != 0 {
			back, err := ParseDType(tc.torch)
			if err != nil || back != tc.d {
				t.Errorf("ParseDType(TorchName(%s)) = %s, %v", tc.d, back, err)
			}
		}
	}
}

// exactValues are representable exactly in F32, F16 and BF16.
var exactValues = []float32{0, 1, -1, 0.5, -2, 3, 0.375, 256, -1024, 0.015625, 1.5, 7, float32(math.Inf(1)), float32(math.Inf(-1))}

func TestConversionRoundTripExact(t *testing.T) {
	for _, d := range []DType{F32, F16, BF16} {
		// Odd length exercises the tail loops.
		for _, n := range []int{0, 1, 3, 4, 5, len(exactValues)} {
			src := exactValues[:n]
			buf := make([]byte, n*d.Size())
			FromFloat32(d, src, buf)
			got := make([]float32, n)
			ToFloat32(d, buf, got)
			for i := range src {
				if got[i] != src[i] {
					t.Errorf("%s n=%d: element %d = %v; want %v", d, n, i, got[i], src[i])
				}
			}
		}
	}
}

func TestBF16Rounding(t *testing.T) {
	tests := []struct {
		name string
		in   float32
		want float32
	}{
		{"tie to even down: 1+2^-8", 1 + 1.0/256, 1},
		{"above tie: 1+3*2^-9", 1 + 3.0/512, 1 + 1.0/128},
		{"below tie: 1+2^-9", 1 + 1.0/512, 1},
		{"tie to even up: 1+3*2^-8", 1 + 3.0/256, 1 + 2.0/128},
		{"negative tie: -(1+2^-8)", -(1 + 1.0/256), -1},
		{"max finite rounds to inf", math.MaxFloat32, float32(math.Inf(1))},
		{"exact", 1 + 1.0/128, 1 + 1.0/128},
	}
	for _, tc := range tests {
		// Run through both the unrolled and the tail loop.
		for _, n := range []int{1, 4, 5} {
			src := make([]float32, n)
			for i := range src {
				src[i] = tc.in
			}
			buf := make([]byte, 2*n)
			FromFloat32(BF16, src, buf)
			got := make([]float32, n)
			ToFloat32(BF16, buf, got)
			for i := range got {
				if got[i] != tc.want {
					t.Errorf("%s (n=%d, i=%d): got %v; want %v", tc.name, n, i, got[i], tc.want)
				}
			}
		}
	}
}

func TestNaNStaysNaN(t *testing.T) {
	nans := []float32{
		float32(math.NaN()),
		math.Float32frombits(0x7f800001), // smallest signalling NaN: truncation would give inf
		math.Float32frombits(0xffffffff),
		math.Float32frombits(0x7fffffff), // rounding up would overflow into the sign
	}
	for _, d := range []DType{F32, F16, BF16} {
		buf := make([]byte, len(nans)*d.Size())
		FromFloat32(d, nans, buf)
		got := make([]float32, len(nans))
		ToFloat32(d, buf, got)
		for i, g := range got {
			if !math.IsNaN(float64(g)) {
				t.Errorf("%s: NaN %#x became %v", d, math.Float32bits(nans[i]), g)
			}
		}
	}
}

func TestBF16MatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	src := make([]float32, 10001)
	for i := range src {
		src[i] = math.Float32frombits(r.Uint32())
	}
	buf := make([]byte, 2*len(src))
	FromFloat32(BF16, src, buf)
	for i, f := range src {
		got := uint16(buf[2*i]) | uint16(buf[2*i+1])<<8
		// Reference: round through float64 arithmetic on the exact value.
		if math.IsNaN(float64(f)) {
			if got&0x7fff <= 0x7f80 {
				t.Fatalf("NaN %#x -> %#x", math.Float32bits(f), got)
			}
			continue
		}
		lo := math.Float32frombits(math.Float32bits(f) &^ 0xffff)
		hi := math.Float32frombits(math.Float32bits(lo) + 0x10000)
		dlo := math.Abs(float64(f) - float64(lo))
		dhi := math.Abs(float64(hi) - float64(f))
		want := lo
		if dhi < dlo || (dhi == dlo && (math.Float32bits(lo)>>16)&1 == 1) {
			want = hi
		}
		if math.IsInf(float64(lo), 0) {
			want = lo
		}
		if g := math.Float32frombits(uint32(got) << 16); g != want {
			t.Fatalf("bf16(%v) = %v; want %v", f, g, want)
		}
	}
}

func TestF16MatchesLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	src := make([]float32, 4097)
	for i := range src {
		src[i] = float32(r.NormFloat64() * 100)
	}
	buf := make([]byte, 2*len(src))
	FromFloat32(F16, src, buf)
	got := make([]float32, len(src))
	ToFloat32(F16, buf, got)
	for i, f := range src {
		if want := float16.Fromfloat32(f).Float32(); got[i] != want {
			t.Fatalf("f16(%v) = %v; want %v", f, got[i], want)
		}
	}
}

func TestConversionLengthMismatchPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on length mismatch")
		}
	}()
	ToFloat32(BF16, make([]byte, 3), make([]float32, 2))
}

const benchN = 1 << 20

func BenchmarkToFloat32BF16(b *testing.B) {
	src := make([]byte, 2*benchN)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := make([]float32, benchN)
	b.SetBytes(int64(len(src) + 4*len(dst)))
	for b.Loop() {
		ToFloat32(BF16, src, dst)
	}
}

func BenchmarkFromFloat32BF16(b *testing.B) {
	src := make([]float32, benchN)
	for i := range src {
		src[i] = float32(i) * 0.001
	}
	dst := make([]byte, 2*benchN)
	b.SetBytes(int64(4*len(src) + len(dst)))
	for b.Loop() {
		FromFloat32(BF16, src, dst)
	}
}

func BenchmarkToFloat32F16(b *testing.B) {
	src := make([]byte, 2*benchN)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := make([]float32, benchN)
	b.SetBytes(int64(len(src) + 4*len(dst)))
	for b.Loop() {
		ToFloat32(F16, src, dst)
	}
}

func BenchmarkToFloat32F32(b *testing.B) {
	src := make([]byte, 4*benchN)
	dst := make([]float32, benchN)
	b.SetBytes(int64(len(src) + 4*len(dst)))
	for b.Loop() {
		ToFloat32(F32, src, dst)
	}
}

func TestF16WidenAllValues(t *testing.T) {
	for h := range 1 << 16 {
		got := math.Float32frombits(f16Widen(uint16(h)))
		want := float16.Frombits(uint16(h)).Float32()
		if math.IsNaN(float64(want)) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("f16 %#04x: got %v; want NaN", h, got)
			}
			continue
		}
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("f16 %#04x: got %v (%#x); want %v (%#x)", h, got, math.Float32bits(got), want, math.Float32bits(want))
		}
	}
}

// TestRoundMatchesRoundTrip: Round and RoundTo equal a round trip through
// the dtype's bytes, NaN and infinities included (enough values for the
// vector loops).
func TestRoundMatchesRoundTrip(t *testing.T) {
	v := []float32{0, 1, -1, 1 + 1.0/256, 1 + 3.0/512, 3.14159265, -2.5e-9, 65519, 70000, 1e30, float32(math.Inf(1)), float32(math.NaN()),
		math.Float32frombits(0x7f800001), math.Float32frombits(0xffc00001), math.Float32frombits(0x3f818000), math.Float32frombits(0x7f7fffff)}
	for range 2 {
		v = append(v, v...)
	}
	v = v[:len(v)-3]
	for _, d := range []DType{F32, F16, BF16} {
		got := append([]float32(nil), v...)
		Round(d, got)
		to := make([]float32, len(v))
		RoundTo(d, to, v)
		buf := make([]byte, len(v)*d.Size())
		want := make([]float32, len(v))
		FromFloat32(d, v, buf)
		ToFloat32(d, buf, want)
		for i := range v {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s: Round(%v) = %v, round trip gives %v", d, v[i], got[i], want[i])
			}
			if math.Float32bits(to[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s: RoundTo(%v) = %v, round trip gives %v", d, v[i], to[i], want[i])
			}
		}
	}
}
