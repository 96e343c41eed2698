package vec

import (
	"math"
	"math/rand"
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
					if math.Float32bits(out[i]) != math.Float32bits(plain[i]) {
						t.Fatalf("%d models, n=%d, element %d: vector %#08x, scalar %#08x", models, n, i, math.Float32bits(out[i]), math.Float32bits(plain[i]))
					}
					want := consensusRef(rows, w, i, normalize)
					if math.Float32bits(out[i]) != math.Float32bits(want) && !(out[i] != out[i] && want != want) {
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
						if math.Float32bits(x[i]) != math.Float32bits(want) && !(x[i] != x[i] && want != want) {
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
				if math.Float32bits(x[i]) != math.Float32bits(want) && !(x[i] != x[i] && want != want) {
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
