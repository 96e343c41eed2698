package vec

import (
	"math"
	"math/rand"
	"slices"
	"testing"
)

// special holds the float32 values whose handling differs most easily.
var special = []float32{0, float32(math.Copysign(0, -1)), 1, -1, float32(math.Inf(1)), float32(math.Inf(-1)),
	float32(math.NaN()), -float32(math.NaN()), math.Float32frombits(0x7f800001), math.Float32frombits(0xffc00001),
	math.Float32frombits(1), math.Float32frombits(0x80000001), math.MaxFloat32, -math.MaxFloat32,
	math.Float32frombits(0x3f808000), math.Float32frombits(0x3f818000), math.Float32frombits(0x3f807fff),
	math.Float32frombits(0x7f7fffff), math.Float32frombits(0x00008000)}

// randomFloats returns n values: random bit patterns, normal values, and
// the special values, shuffled.
func randomFloats(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		switch rng.Intn(4) {
		case 0:
			v[i] = math.Float32frombits(rng.Uint32())
		case 1:
			v[i] = special[rng.Intn(len(special))]
		default:
			v[i] = float32(rng.NormFloat64())
		}
	}
	return v
}

func TestBF16RoundTripMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{0, 1, 15, 16, 17, 33, 1000, 4099} {
		src := randomFloats(rng, n)
		b := make([]byte, 2*n)
		F32ToBF16(b, src)
		for i, f := range src {
			want := RoundBF16(f)
			if got := uint16(b[2*i]) | uint16(b[2*i+1])<<8; got != want {
				t.Fatalf("n=%d element %d (%#08x): bf16 %#04x, want %#04x", n, i, math.Float32bits(f), got, want)
			}
		}
		rounded := slices.Clone(src)
		RoundToBF16(rounded, rounded) // in place
		for i, f := range rounded {
			if got, want := math.Float32bits(f), uint32(b[2*i])<<16|uint32(b[2*i+1])<<24; got != want {
				t.Fatalf("n=%d element %d: RoundToBF16 %#08x, want %#08x", n, i, got, want)
			}
		}
		back := make([]float32, n)
		BF16ToF32(back, b)
		for i := range back {
			want := uint32(b[2*i])<<16 | uint32(b[2*i+1])<<24
			if got := math.Float32bits(back[i]); got != want {
				t.Fatalf("n=%d element %d: widened %#08x, want %#08x", n, i, got, want)
			}
		}
	}
}

func TestRoundBF16(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want uint16
	}{
		{0x3f808000, 0x3f80}, // tie, even below
		{0x3f818000, 0x3f82}, // tie, odd below: up
		{0x3f808001, 0x3f81},
		{0x3f807fff, 0x3f80},
		{0x7f7fffff, 0x7f80}, // rounds to +Inf
		{0x7f800000, 0x7f80},
		{0x7f800001, 0x7fc0}, // signalling NaN made quiet
		{0xffc00001, 0xffc0},
		{0x80000000, 0x8000},
	} {
		if got := RoundBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("RoundBF16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

// consensusRef is the sign election written plainly, with branches.
func consensusRef(x [][]float32, w []float32, i int, normalize bool) float32 {
	var s float32
	for t := range x {
		if t == 0 {
			s = x[0][i]
		} else {
			s += x[t][i]
		}
	}
	negative := s < 0 || (s != s && math.Signbit(float64(s)))
	var mixed, div float32
	for t := range x {
		y := x[t][i]
		if y == 0 {
			continue
		}
		if math.Signbit(float64(y)) == negative {
			mixed += y
			div += w[t]
		}
	}
	if normalize {
		if div == 0 {
			div = 1
		}
		mixed /= div
	}
	return mixed
}

func TestConsensus(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for _, models := range []int{1, 2, 3, 5, 9} {
		for _, n := range []int{1, 7, 8, 9, 64, 1001} {
			x := make([]float32, models*n)
			rows := make([][]float32, models)
			w := make([]float32, models)
			for m := range rows {
				rows[m] = x[m*n : (m+1)*n]
				w[m] = float32(rng.NormFloat64())
				if m == 1 {
					w[m] = -w[0] // weight sums of 0 occur
				}
				for i := range rows[m] {
					switch rng.Intn(6) {
					case 0:
						rows[m][i] = 0
					case 1:
						rows[m][i] = special[rng.Intn(len(special))]
					default:
						rows[m][i] = float32(rng.NormFloat64())
					}
				}
			}
			for _, normalize := range []bool{false, true} {
				out, plain := make([]float32, n), make([]float32, n)
				Consensus(out, x, w, normalize)
				consensusGo(plain, x, n, w, normalize)
				for i := range out {
					if !sameFloat(out[i], plain[i]) {
						t.Fatalf("%d models, n=%d, element %d: vector %#08x, scalar %#08x", models, n, i, math.Float32bits(out[i]), math.Float32bits(plain[i]))
					}
					want := consensusRef(rows, w, i, normalize)
					if !sameFloat(out[i], want) {
						t.Fatalf("%d models, n=%d, normalize %v, element %d: %v (%#08x), want %v (%#08x)",
							models, n, normalize, i, out[i], math.Float32bits(out[i]), want, math.Float32bits(want))
					}
				}
			}
		}
	}
}

func BenchmarkBF16ToF32(b *testing.B) {
	src := make([]byte, 2<<16)
	dst := make([]float32, 1<<16)
	b.SetBytes(int64(len(src)))
	for range b.N {
		BF16ToF32(dst, src)
	}
}

func BenchmarkF32ToBF16(b *testing.B) {
	src := randomFloats(rand.New(rand.NewSource(1)), 1<<16)
	dst := make([]byte, 2<<16)
	b.SetBytes(int64(len(dst)))
	for range b.N {
		F32ToBF16(dst, src)
	}
}

func BenchmarkConsensus(b *testing.B) {
	const n, models = 2048, 3
	rng := rand.New(rand.NewSource(3))
	x := make([]float32, n*models)
	for i := range x {
		if rng.Intn(2) == 0 {
			x[i] = float32(rng.NormFloat64())
		}
	}
	w := []float32{0.3, 0.4, 0.5}
	out := make([]float32, n)
	b.Run("avx2", func(b *testing.B) {
		b.SetBytes(n * 4)
		for range b.N {
			Consensus(out, x, w, true)
		}
	})
	b.Run("go", func(b *testing.B) {
		b.SetBytes(n * 4)
		for range b.N {
			consensusGo(out, x, n, w, true)
		}
	})
}

// inCut is Cut membership written plainly.
func inCut(c Cut, i int, k uint32) bool {
	return int64(k) > int64(c.Above) || int64(k) == int64(c.Above) && i < c.End
}

// tiedInputs returns d and b whose deltas d-b take few distinct values
// (so cuts fall on ties), with special values mixed in.
func tiedInputs(rng *rand.Rand, n int) (d, b []float32) {
	d, b = make([]float32, n), make([]float32, n)
	for i := range d {
		b[i] = float32(rng.NormFloat64())
		switch rng.Intn(8) {
		case 0:
			d[i] = special[rng.Intn(len(special))]
		case 1:
			d[i] = b[i]
		default:
			d[i] = b[i] + float32(rng.Intn(9)-4)*0.125
		}
	}
	return d, b
}

func TestWeighCutAndBits(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	key := func(x float32) uint32 { return math.Float32bits(x) &^ (1 << 31) }
	for _, n := range []int{1, 8, 13, 64, 517} {
		d, b := tiedInputs(rng, n)
		mid := key(0.25)
		cuts := []Cut{All(), None(), {Above: int32(mid), End: 0}, {Above: int32(mid), End: math.MaxInt},
			{Above: int32(mid), End: 40 + n/2}, {Above: int32(key(0.5)), End: 41}}
		bits := make([]uint64, (n+64+63)/64+1)
		for i := range bits {
			bits[i] = rng.Uint64()
		}
		for _, off := range []int{0, 3, 8, 13, 40, 64} {
			for _, keep := range cuts {
				for _, drop := range cuts {
					x := make([]float32, n)
					WeighCut(x, d, b, off, keep, drop, 1.5, -0.3)
					for i := range x {
						v := d[i] - b[i]
						if !inCut(keep, off+i, key(v)) || inCut(drop, off+i, key(v)) {
							v = 0
						}
						want := v * 1.5 * -0.3
						if !sameFloat(x[i], want) {
							t.Fatalf("n=%d off=%d keep %+v drop %+v element %d: %#08x, want %#08x", n, off, keep, drop, i, math.Float32bits(x[i]), math.Float32bits(want))
						}
					}
				}
			}
			x := make([]float32, n)
			WeighBits(x, d, b, bits, off, 0.7, 2)
			for i := range x {
				e := off + i
				v := d[i] - b[i]
				if bits[e/64]>>(e%64)&1 == 0 {
					v = 0
				}
				want := v * 0.7 * 2
				if !sameFloat(x[i], want) {
					t.Fatalf("bits n=%d off=%d element %d: %#08x, want %#08x", n, off, i, math.Float32bits(x[i]), math.Float32bits(want))
				}
			}
		}
	}
}

func TestWindow(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	key := func(x float32) uint32 { return math.Float32bits(x) &^ (1 << 31) }
	for _, n := range []int{1, 8, 23, 1024} {
		d, b := tiedInputs(rng, n)
		for _, win := range [][2]uint32{{key(0.125), key(0.375)}, {0, key(0.125)}, {key(0.5), math.MaxUint32}, {key(0.25), key(0.25)}} {
			for _, off := range []int{0, 5, 8, 1000} {
				prior := []uint64{42}
				above, cands := Window(d, b, off, win[0], win[1], prior)
				wantAbove, want := 0, []uint64{42}
				for i := range d {
					k := key(d[i] - b[i])
					if k > win[1] {
						wantAbove++
					} else if k >= win[0] {
						want = append(want, uint64(k)<<32|uint64(off+i))
					}
				}
				if above != wantAbove || len(cands) != len(want) {
					t.Fatalf("n=%d window %x off %d: %d above and %d candidates, want %d and %d", n, win, off, above, len(cands), wantAbove, len(want))
				}
				for i := range want {
					if cands[i] != want[i] {
						t.Fatalf("n=%d window %x off %d: candidate %d is %#x, want %#x", n, win, off, i, cands[i], want[i])
					}
				}
			}
		}
	}
}

func TestCountNonFinite(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	for _, n := range []int{0, 5, 8, 100, 1003} {
		v := randomFloats(rng, n)
		want := 0
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				want++
			}
		}
		if got := CountNonFinite(v); got != want {
			t.Fatalf("n=%d: %d non-finite, want %d", n, got, want)
		}
	}
}

// TestVectorEqualsScalar runs every loop both ways, the exported function
// (vector code where the CPU has it) and its portable loop from element 0,
// and requires the same bits, on many lengths and offsets.
func TestVectorEqualsScalar(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	same := func(a, b []float32) int {
		for i := range a {
			if !sameFloat(a[i], b[i]) {
				return i
			}
		}
		return -1
	}
	for _, n := range []int{0, 1, 7, 8, 9, 63, 64, 65, 1000, 2051} {
		d, b := tiedInputs(rng, n)
		v := randomFloats(rng, n)
		bits := make([]uint64, n/64+3)
		for i := range bits {
			bits[i] = rng.Uint64()
		}
		draws := make([]uint32, n)
		for i := range draws {
			draws[i] = rng.Uint32() >> 8
		}
		for _, off := range []int{0, 24, 7} {
			x, y := make([]float32, n), make([]float32, n)
			keep, drop := Cut{Above: int32(math.Float32bits(0.25)), End: off + n/3}, Cut{Above: int32(math.Float32bits(0.5)), End: off + n/2}
			WeighCut(x, d, b, off, keep, drop, 0.5, 3)
			weighCutGo(y, d, b, off, keep, drop, 0.5, 3, 0)
			if i := same(x, y); i >= 0 {
				t.Fatalf("WeighCut n=%d off=%d: element %d differs", n, off, i)
			}
			WeighBits(x, d, b, bits, off, 0.5, 3)
			weighBitsGo(y, d, b, bits, off, 0.5, 3, 0)
			if i := same(x, y); i >= 0 {
				t.Fatalf("WeighBits n=%d off=%d: element %d differs", n, off, i)
			}
			lo, hi := math.Float32bits(0.125), math.Float32bits(0.375)
			a1, c1 := Window(d, b, off, lo, hi, nil)
			a2, c2 := windowGo(d, b, off, lo, hi, nil, 0)
			if a1 != a2 || !slices.Equal(c1, c2) {
				t.Fatalf("Window n=%d off=%d: %d above, %d candidates; scalar %d, %d", n, off, a1, len(c1), a2, len(c2))
			}
		}
		x, y := make([]float32, n), make([]float32, n)
		BF16ToF32(x, f32Bytes(v))
		bf16ToF32Go(y, f32Bytes(v), 0)
		if i := same(x, y); i >= 0 {
			t.Fatalf("BF16ToF32 n=%d: element %d differs", n, i)
		}
		RoundToBF16(x, v)
		roundToBF16Go(y, v, 0)
		if i := same(x, y); i >= 0 {
			t.Fatalf("RoundToBF16 n=%d: element %d differs", n, i)
		}
		h1, h2 := make([]byte, 2*n), make([]byte, 2*n)
		F32ToBF16(h1, v)
		f32ToBF16Go(h2, v, 0)
		if !slices.Equal(h1, h2) {
			t.Fatalf("F32ToBF16 n=%d differs", n)
		}
		if c1, c2 := CountNonFinite(v), countNonFiniteGo(v, 0); c1 != c2 {
			t.Fatalf("CountNonFinite n=%d: %d, scalar %d", n, c1, c2)
		}
		if m1, m2 := MaxKey(v), maxKeyGo(v, 0); m1 != m2 {
			t.Fatalf("MaxKey n=%d: %#x, scalar %#x", n, m1, m2)
		}
		bk1, bk2 := make([]uint32, n), make([]uint32, n)
		Buckets(bk1, v, 0x3c000000, 15)
		bucketsGo(bk2, v, 0x3c000000, 15, 0)
		if !slices.Equal(bk1, bk2) {
			t.Fatalf("Buckets n=%d differs", n)
		}
		w := (n + 63) / 64
		k1, k2, band1, band2 := make([]uint64, w), make([]uint64, w), make([]uint64, w), make([]uint64, w)
		Split(k1, band1, draws, 1<<22, 1<<23)
		splitGo(k2, band2, draws, 1<<22, 1<<23, 0)
		if !slices.Equal(k1, k2) || !slices.Equal(band1, band2) {
			t.Fatalf("Split n=%d differs", n)
		}
		s1, s2 := AbsSums(d, bits)
		g1, g2 := absSumsGo(d, bits, [8]float64{}, [8]float64{}, 0)
		if !sameFloat64(s1, g1) || !sameFloat64(s2, g2) {
			t.Fatalf("AbsSums n=%d: %v %v, scalar %v %v", n, s1, s2, g1, g2)
		}
	}
}

// f32Bytes returns the high halves of v's values as bfloat16 bytes.
func f32Bytes(v []float32) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		u := math.Float32bits(x)
		b[2*i], b[2*i+1] = byte(u>>16), byte(u>>24)
	}
	return b
}

func TestSplitBucketsSums(t *testing.T) {
	draws := []uint32{5, 10, 15, 20, 25, 9, 10, 11, 0}
	keep, band := []uint64{^uint64(0)}, []uint64{^uint64(0)}
	Split(keep, band, draws, 10, 20)
	if keep[0] != 1<<0|1<<5|1<<8 || band[0] != 1<<1|1<<2|1<<6|1<<7 {
		t.Fatalf("Split: keep %b, band %b", keep[0], band[0])
	}
	v := []float32{-3, 0.5, 0, 2, 1e-20, -0.25, 8, 1}
	if got := MaxKey(v); got != math.Float32bits(8) {
		t.Fatalf("MaxKey %#x", got)
	}
	bk := make([]uint32, len(v))
	low := math.Float32bits(0.5)
	Buckets(bk, v, low, 23) // one bucket per binade from 0.5 up, after zero's
	if want := []uint32{3, 1, 0, 3, 1, 1, 5, 2}; !slices.Equal(bk, want) {
		t.Fatalf("Buckets %v, want %v", bk, want)
	}
	all, kept := AbsSums(v, []uint64{0b1000_0001})
	if all != 14.75 || kept != 4 { // 1e-20 is below half an ulp of the sum
		t.Fatalf("AbsSums %v %v", all, kept)
	}
}

func TestDrawsAndSub(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	for _, n := range []int{0, 1, 8, 13, 64, 1003} {
		for _, first := range []int{0, 5, 1<<31 - 3} {
			key := rng.Uint64()
			got, want := make([]uint32, n), make([]uint32, n)
			Draws(got, key, first)
			drawsGo(want, key, first, 0)
			if !slices.Equal(got, want) {
				t.Fatalf("Draws n=%d first=%d differs from the scalar draws", n, first)
			}
			for l, d := range got {
				if d >= 1<<24 || d != Draw24(key, first+l) {
					t.Fatalf("Draws n=%d: element %d is %d", n, l, d)
				}
			}
		}
		src := make([]uint32, n)
		for i := range src {
			src[i] = uint32(rng.Intn(5))
		}
		c1, c2 := Collect([]uint32{7}, src, 3), collectGo([]uint32{7}, src, 3, 0)
		if !slices.Equal(c1, c2) || c1[0] != 7 {
			t.Fatalf("Collect n=%d: %v, scalar %v", n, c1, c2)
		}
		for _, i := range c1[1:] {
			if src[i] != 3 {
				t.Fatalf("Collect n=%d: index %d holds %d", n, i, src[i])
			}
		}
		a, b := randomFloats(rng, n), randomFloats(rng, n)
		for _, lambda := range []float32{1, 0.7, -2} {
			x, y := slices.Clone(a), slices.Clone(a)
			AddScaled(x, b, lambda)
			addScaledGo(y, b, lambda, 0)
			for i := range x {
				if !sameFloat(x[i], y[i]) {
					t.Fatalf("AddScaled n=%d λ=%v element %d: %v, want %v", n, lambda, i, x[i], y[i])
				}
			}
		}
		x, y := make([]float32, n), make([]float32, n)
		Sub(x, a, b)
		subGo(y, a, b, 0)
		for i := range x {
			if !sameFloat(x[i], y[i]) {
				t.Fatalf("Sub n=%d element %d: %v, want %v", n, i, x[i], y[i])
			}
		}
	}
	// splitmix64's published first output for seed 0 (state advanced once)
	if got := Mix(golden); got != 0xe220a8397b1dcdaf {
		t.Fatalf("Mix(golden) = %#x, want splitmix64's first output 0xe220a8397b1dcdaf", got)
	}
}

func BenchmarkDraws(b *testing.B) {
	dst := make([]uint32, 4096)
	b.SetBytes(4096 * 4)
	for range b.N {
		Draws(dst, 42, 1000)
	}
}

// sameFloat reports whether a and b have the same bits, or are both NaN:
// which NaN payload an operation on two NaNs returns depends on operand
// order, which the compiler may swap, so payloads are not compared.
func sameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

func sameFloat64(a, b float64) bool {
	return math.Float64bits(a) == math.Float64bits(b) || a != a && b != b
}
