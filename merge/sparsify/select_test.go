package sparsify

import (
	"math"
	"math/rand"
	"reflect"
	"sort"
	"testing"
)

// TestTopKMatchesSort: the cuts hold the elements of a sort by magnitude
// (descending), ties ordered by their rank in the tie stream.
func TestTopKMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	tie := TieOrder(5, "w", 0)
	for _, n := range []int{1, 7, 1000, 70000, 200000} {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
			if i%13 == 0 {
				v[i] = 0.5 // ties
			}
		}
		keys := func(off int, dst []uint32) {
			for i := range dst {
				dst[i] = MagBits(v[off+i])
			}
		}
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sort.Slice(order, func(a, b int) bool {
			ka, kb := MagBits(v[order[a]]), MagBits(v[order[b]])
			if ka != kb {
				return ka > kb
			}
			return tie.Rank(order[a]) < tie.Rank(order[b])
		})
		ks := []int{0, 1, n / 3, n / 2, n - 1, n, n + 5}
		cuts := TopK(n, tie, keys, ks...)
		for ci, k := range ks {
			want := make([]bool, n)
			for _, i := range order[:max(0, min(k, n))] {
				want[i] = true
			}
			c := cuts[ci]
			for i := range v {
				if got := c.Mask(i, MagBits(v[i])) != 0; got != want[i] {
					t.Fatalf("n=%d k=%d: mask of element %d kept=%v, want %v", n, k, i, got, want[i])
				}
				if got := c.Keep(i, MagBits(v[i])); got != want[i] {
					t.Fatalf("n=%d k=%d: stateless element %d kept=%v, want %v", n, k, i, got, want[i])
				}
			}
		}
	}
}

func TestRankerProbs(t *testing.T) {
	var r Ranker
	p := make([]float32, 5)
	r.Probs([]float32{0.3, -0.1, 0.05, 0.2, -0.4}, 0.5, 0.1, p)
	want := []float32{0.55, 0.45, 0.40, 0.50, 0.60}
	for i := range want {
		if d := p[i] - want[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("probs %v, want %v", p, want)
		}
	}
	// a longer vector: ranks must follow the magnitude order
	rng := rand.New(rand.NewSource(2))
	v := make([]float32, 3000)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	q := make([]float32, len(v))
	r.Probs(v, 0.5, 0.2, q)
	for i := range v {
		for _, j := range []int{(i + 1) % len(v), (i * 7) % len(v)} {
			if MagBits(v[i]) < MagBits(v[j]) && !(q[i] < q[j]) {
				t.Fatalf("rank order broken: |%v| < |%v| but p %v >= %v", v[i], v[j], q[i], q[j])
			}
		}
	}
}

func TestUniformSpread(t *testing.T) {
	s := NewStream(42, "model.layers.0.mlp.up_proj.weight", 1)
	var sum float64
	n := 100000
	for i := 0; i < n; i++ {
		u := s.Uniform(i)
		if u < 0 || u >= 1 {
			t.Fatalf("draw %v outside [0,1)", u)
		}
		sum += float64(u)
	}
	if m := sum / float64(n); m < 0.49 || m > 0.51 {
		t.Fatalf("mean %v", m)
	}
	if NewStream(42, "a", 0).Uniform(5) == NewStream(42, "a", 1).Uniform(5) {
		t.Fatalf("models share draws")
	}
}

func BenchmarkTopK(b *testing.B) {
	n := 1 << 22
	v := make([]uint32, n)
	rng := rand.New(rand.NewSource(1))
	for i := range v {
		v[i] = MagBits(float32(rng.NormFloat64()))
	}
	b.SetBytes(int64(n) * 4)
	for i := 0; i < b.N; i++ {
		TopK(n, TieOrder(1, "w", 0), func(off int, dst []uint32) { copy(dst, v[off:]) }, n/2)
	}
}

func TestSelectorForkMerge(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	n := 100000
	keys := make([]uint32, n)
	for i := range keys {
		keys[i] = MagBits(float32(rng.NormFloat64()))
		if i%7 == 0 {
			keys[i] = MagBits(0.25)
		}
	}
	ks := []int{n / 10, n / 2}
	tie := TieOrder(3, "w", 0)
	want := TopK(n, tie, func(off int, dst []uint32) { copy(dst, keys[off:]) }, ks...)
	// two parts counted separately, then merged
	s := NewSelector()
	parts := []*Selector{NewSelector(), NewSelector()}
	parts[0].Add1(keys[:n/3])
	parts[1].Add1(keys[n/3:])
	for _, p := range parts {
		s.Merge1(p)
	}
	s.Plan(ks...)
	f0, f1 := s.Fork(), s.Fork()
	f0.Add2(keys[:n/3])
	f1.Add2(keys[n/3:])
	s.Merge2(f0)
	s.Merge2(f1)
	got := s.Cuts()
	for i := range got {
		got[i].ResolveTies(n, tie, func(off int, dst []uint32) { copy(dst, keys[off:]) })
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("cut %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestThreshold24MatchesUniform(t *testing.T) {
	s := NewStream(9, "x", 0)
	for _, p := range []float32{0, 1e-9, 0.1, 0.3, 0.5, 0.66, 0.999999, 1, 1.5} {
		th := Threshold24(p)
		for i := 0; i < 20000; i++ {
			if (s.Uniform(i) < p) != (s.Bits24(i) < th) {
				t.Fatalf("p=%v element %d: Uniform %v, Bits24 %d, threshold %d disagree", p, i, s.Uniform(i), s.Bits24(i), th)
			}
		}
	}
}

func TestRankerOrderMatchesStableSort(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	var r Ranker
	for _, n := range []int{1, 2, 3, 17, 64, 1000, 5000} {
		for _, dist := range []string{"normal", "ties", "skewed", "constant"} {
			v := make([]float32, n)
			for i := range v {
				switch dist {
				case "normal":
					v[i] = float32(rng.NormFloat64())
				case "ties":
					v[i] = float32(rng.Intn(5)) - 2
				case "skewed":
					v[i] = float32(math.Exp(rng.NormFloat64() * 8))
				case "constant":
					v[i] = 0.5
				}
			}
			want := make([]int, n)
			for i := range want {
				want[i] = i
			}
			sort.SliceStable(want, func(a, b int) bool { return MagBits(v[want[a]]) < MagBits(v[want[b]]) })
			got := r.Order(v)
			for i := range want {
				if int(got[i]) != want[i] {
					t.Fatalf("n=%d %s: position %d holds %d, want %d", n, dist, i, got[i], want[i])
				}
			}
		}
	}
}

// TestRankerKeepMatchesRanks: Keep decides every element as comparing its
// draw with its exact rank's threshold would, on smooth, skewed, tied,
// zero-heavy and constant vectors of many lengths.
func TestRankerKeepMatchesRanks(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	var r Ranker
	for _, n := range []int{1, 2, 3, 17, 64, 1000, 2048, 5632, 100, 17} { // one Ranker, lengths up and down
		thr := make([]uint32, n)
		for rank := range thr {
			thr[rank] = Threshold24(Prob(rank, n, 0.5, 0.3))
		}
		for _, dist := range []string{"normal", "skewed", "ties", "zeros", "constant", "wide"} {
			v := make([]float32, n)
			for i := range v {
				switch dist {
				case "normal":
					v[i] = float32(rng.NormFloat64() * 0.002)
				case "skewed":
					v[i] = float32(math.Exp(rng.NormFloat64() * 8))
				case "ties":
					v[i] = float32(rng.Intn(5)-2) * 0.25
				case "zeros":
					if rng.Intn(3) == 0 {
						v[i] = float32(rng.NormFloat64())
					}
				case "constant":
					v[i] = -0.5
				case "wide": // magnitudes far below the top 8 binades
					v[i] = float32(rng.NormFloat64() * math.Pow(2, -float64(rng.Intn(40))))
				}
			}
			draws := make([]uint32, n)
			s := NewStream(uint64(n), dist, 0)
			for i := range draws {
				draws[i] = s.Bits24(i)
			}
			want, wantKept := make([]uint8, n), 0
			for rank, i := range r.Order(v) {
				if draws[i] < thr[rank] {
					want[i] = 1
					wantKept++
				}
			}
			got := make([]uint64, (n+63)/64)
			for i := range got {
				got[i] = ^uint64(0) // Keep clears what it does not keep
			}
			r.Keep(v, draws, thr, got)
			kept := 0
			for i := range want {
				g := uint8(got[i/64] >> (i % 64) & 1)
				if g != want[i] {
					t.Fatalf("n=%d %s: element %d (%v) kept %d, want %d", n, dist, i, v[i], g, want[i])
				}
				kept += int(g)
			}
			if kept != wantKept || wantKept == 0 && n > 64 {
				t.Fatalf("n=%d %s: %d kept, want %d", n, dist, kept, wantKept)
			}
		}
	}
}

// BenchmarkRanker compares ranking a DELLA row (Order) with deciding its
// draws from bounds (Keep), on a row of 2048 normal deltas.
func BenchmarkRanker(b *testing.B) {
	rng := rand.New(rand.NewSource(1))
	const n = 2048
	v := make([]float32, n)
	draws, thr := make([]uint32, n), make([]uint32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64() * 0.002)
		draws[i] = NewStream(1, "w", 0).Bits24(i)
		thr[i] = Threshold24(Prob(i, n, 0.5, 0.1))
	}
	keep := make([]uint64, n/64)
	var r Ranker
	b.Run("order", func(b *testing.B) {
		b.SetBytes(n * 4)
		for range b.N {
			r.Order(v)
		}
	})
	b.Run("keep", func(b *testing.B) {
		b.SetBytes(n * 4)
		for range b.N {
			r.Keep(v, draws, thr, keep)
		}
	})
}
