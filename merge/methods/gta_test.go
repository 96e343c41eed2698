package methods

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/mergetune/mergetune/merge/sparsify"
)

// §12 of merge-methods.md: shape [2,3] inputs.
var (
	o12Base = Slice{0.5, -1.0, 2.0, 0.25, 0.0, -0.75}
	o12A    = Slice{0.6, -1.2, 2.3, 0.3, 0.0, -0.86}
	o12B    = Slice{0.7, -1.1, 2.25, 0.2, 0.12, -0.9}
	o12C    = Slice{0.58, -1.25, 2.35, 0.35, 0.0, -0.75}
)

// mergeChunks runs a method over a job, calling the kernel on row-aligned
// chunks of chunk elements.
func mergeChunks(t *testing.T, m *Method, j *Job, chunk int) ([]float32, error) {
	t.Helper()
	fillDefaults(m, j)
	if err := m.Check(j); err != nil {
		return nil, err
	}
	k, err := m.Prepare(context.Background(), j)
	if err != nil {
		return nil, err
	}
	out := make([]float32, j.Len())
	for off := 0; off < len(out); off += chunk {
		if err := k(off, out[off:min(off+chunk, len(out))]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// fillDefaults sets unset parameters to their defaults, as the engine does.
func fillDefaults(m *Method, j *Job) {
	if j.Params == nil {
		j.Params = Params{}
	}
	for _, p := range m.Params {
		if p.Required || p.Optional {
			continue
		}
		if p.PerModel {
			for i := range j.Models {
				if j.Models[i].Params == nil {
					j.Models[i].Params = Params{}
				}
				if _, ok := j.Models[i].Params[p.Name]; !ok {
					j.Models[i].Params[p.Name] = p.Default
				}
			}
		} else if _, ok := j.Params[p.Name]; !ok {
			j.Params[p.Name] = p.Default
		}
	}
}

func closeTo(got, want []float32, rtol, atol float64) int {
	for i := range want {
		if math.Abs(float64(got[i])-float64(want[i])) > atol+rtol*math.Abs(float64(want[i])) {
			return i
		}
	}
	return -1
}

func TestTaskVectorMethodsOracle12(t *testing.T) {
	reg := All()
	wAB := func(p Params) []Model {
		return []Model{
			{Name: "A", Input: o12A, Params: merged(Params{"weight": 0.6}, p)},
			{Name: "B", Input: o12B, Params: merged(Params{"weight": 0.4}, p)},
		}
	}
	wABC := func(p Params) []Model {
		return []Model{
			{Name: "A", Input: o12A, Params: merged(Params{"weight": 0.6}, p)},
			{Name: "B", Input: o12B, Params: merged(Params{"weight": 0.4}, p)},
			{Name: "C", Input: o12C, Params: merged(Params{"weight": 0.5}, p)},
		}
	}
	cases := []struct {
		name, method string
		models       []Model
		params       Params
		want         []float32
	}{
		{"ta", "task_arithmetic", wAB(nil), nil,
			[]float32{0.63999999, -1.16000009, 2.27999997, 0.26000002, 0.048, -0.87599999}},
		{"ta lambda", "task_arithmetic", wAB(nil), Params{"lambda": 0.5},
			[]float32{0.56999999, -1.08000004, 2.13999987, 0.255, 0.024, -0.81300002}},
		{"ties d1", "ties", wABC(nil), nil,
			[]float32{0.62, -1.19000006, 2.30333328, 0.32272726, 0.12, -0.87599999}},
		{"ties d.5", "ties", wABC(Params{"density": 0.5}), nil,
			[]float32{0.69999999, -1.2227273, 2.30333328, 0.34999999, 0.0, -0.87599999}},
		{"ties d.5 nonorm", "ties", wABC(Params{"density": 0.5}), Params{"normalize": 0},
			[]float32{0.57999998, -1.245, 2.45499992, 0.30000001, 0.0, -0.87599999}},
		{"ties d.5 rescale", "ties", wABC(Params{"density": 0.5}), Params{"rescale": 1},
			[]float32{0.78999996, -1.26253998, 2.37617493, 0.36142856, 0.0, -0.91922951}},
		{"breadcrumbs g.2", "breadcrumbs", wAB(Params{"density": 0.5, "gamma": 0.2}), nil,
			[]float32{0.63999999, -1.12, 2.0, 0.25, 0.048, -0.87599999}},
		{"breadcrumbs_ties g.2", "breadcrumbs_ties", wABC(Params{"density": 0.5, "gamma": 0.2}), nil,
			[]float32{0.68000001, -1.245, 2.0, 0.30000001, 0.048, -0.87599999}},
		{"sce 1", "sce", []Model{{Name: "A", Input: o12A}, {Name: "B", Input: o12B}, {Name: "C", Input: o12C}}, nil,
			[]float32{0.62197679, -1.18991923, 2.30487299, 0.32828653, 0.12, -0.8798238}},
		{"sce .5", "sce", []Model{{Name: "A", Input: o12A}, {Name: "B", Input: o12B}, {Name: "C", Input: o12C}}, Params{"select_topk": 0.5},
			[]float32{0.5, -1.20077109, 2.0, 0.32852083, 0.0, -0.87562501}},
	}
	for _, c := range cases {
		for _, chunk := range []int{3, 6} {
			m, err := reg.Lookup(c.method)
			if err != nil {
				t.Fatal(err)
			}
			j := &Job{Tensor: "w", Shape: []int{2, 3}, Base: &Model{Name: "base", Input: o12Base}, Models: c.models, Params: copyParams(c.params)}
			got, err := mergeChunks(t, m, j, chunk)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if i := closeTo(got, c.want, 1e-5, 2e-6); i >= 0 {
				t.Errorf("%s chunk %d: element %d = %v, want %v (all %v)", c.name, chunk, i, got[i], c.want[i], got)
			}
		}
	}
}

func merged(a, b Params) Params {
	out := Params{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func copyParams(p Params) Params { return merged(p, nil) }

func TestDareFixedMaskRescale(t *testing.T) {
	// §12: δ = [.3, -.1, .05, .2, -.4], mask [1,0,1,0,1] → factor 1.4.
	base := Slice{0, 0, 0, 0, 0}
	m := Slice{.3, -.1, .05, .2, -.4}
	j := &Job{Tensor: "w", Shape: []int{5}, Base: &Model{Name: "base", Input: base},
		Models: []Model{{Name: "m", Input: m, Params: Params{"weight": 1, "density": 0.5}}},
		Masks:  func(int) []float32 { return []float32{1, 0, 1, 0, 1} }}
	got, err := mergeChunks(t, All()["dare_linear"], j, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{.42, 0, .07, 0, -.56}
	if i := closeTo(got, want, 1e-6, 1e-7); i >= 0 {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestDareSeededReproducible(t *testing.T) {
	n := 10000
	base, m := make(Slice, n), make(Slice, n)
	for i := range m {
		m[i] = float32(i%7) + 1
	}
	run := func(seed uint64) []float32 {
		j := &Job{Tensor: "w", Shape: []int{100, 100}, Seed: seed, Base: &Model{Name: "base", Input: base},
			Models: []Model{{Name: "m", Input: m, Params: Params{"weight": 1, "density": 0.3}}}}
		out, err := mergeChunks(t, All()["dare_linear"], j, 700)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	kept := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed differs at %d", i)
		}
		if a[i] != 0 {
			kept++
		}
	}
	if kept < 2600 || kept > 3400 {
		t.Errorf("kept %d of %d nonzero draws at density 0.3", kept, n)
	}
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same == n {
		t.Errorf("seeds 1 and 2 drew the same mask")
	}
}

func TestDellaKeepProbs(t *testing.T) {
	// §4.5: row [0.3, -0.1, 0.05, 0.2, -0.4], density 0.5, ε 0.1.
	got := DellaProbs([]int{5}, []float32{0.3, -0.1, 0.05, 0.2, -0.4}, 0.5, 0.1)
	want := []float32{0.55, 0.45, 0.40, 0.50, 0.60}
	if i := closeTo(got, want, 1e-6, 1e-7); i >= 0 {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestTaskVectorErrors(t *testing.T) {
	base := &Model{Name: "base", Input: o12Base}
	cases := []struct {
		method string
		p      Params
		want   string
	}{
		{"ties", Params{"weight": 1, "density": 1.5}, "ties: density = 1.5 is outside (0, 1] for model A"},
		{"ties", Params{"weight": 1, "density": 0}, "ties: density = 0 is outside (0, 1] for model A"},
		{"ties", Params{"weight": 1, "density": 0.1}, "keeps no element of tensor w"},
		{"della", Params{"weight": 1, "density": 0.3, "epsilon": 0.4}, "della: density 0.3 ± epsilon 0.4 for model A leaves (0, 1)"},
		{"della", Params{"weight": 1, "density": 0.5, "epsilon": 0.5}, "della: epsilon = 0.5 is outside [0, 0.5) for model A"},
		{"breadcrumbs", Params{"weight": 1, "density": 0.5, "gamma": 1}, "breadcrumbs: gamma = 1 is outside [0, 1) for model A"},
	}
	for _, c := range cases {
		j := &Job{Tensor: "w", Shape: []int{2, 3}, Base: base, Models: []Model{{Name: "A", Input: o12A, Params: c.p}}}
		_, err := mergeChunks(t, All()[c.method], j, 6)
		if err == nil || !contains(err.Error(), c.want) {
			t.Errorf("%s %v: error %v, want %q", c.method, c.p, err, c.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestDellaMasksMatchProbs: the drawn DELLA masks keep element i exactly
// when its draw is below its rank's probability (DellaProbs, which ranks
// by sorting), for rows of odd lengths (not aligned to mask words), 3-D
// tensors, quantized deltas full of ties, and one or several workers.
func TestDellaMasksMatchProbs(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	for _, shape := range [][]int{{37, 100}, {5, 64}, {3, 50, 4}, {1000}, {2, 3000}} {
		n := 1
		for _, d := range shape {
			n *= d
		}
		base, model := make(Slice, n), make(Slice, n)
		for i := range base {
			base[i] = float32(rng.NormFloat64())
			model[i] = base[i] + float32(rng.Intn(9)-4)*0.0625 // ties
			if i%3 == 0 {
				model[i] = base[i] + float32(rng.NormFloat64()*0.01)
			}
		}
		for _, workers := range []int{1, 3} {
			j := &Job{Tensor: "w", Shape: shape, Base: &Model{Input: base}, Seed: 7, Workers: workers,
				Models: []Model{{Name: "m", Input: model, Params: Params{"weight": 1, "density": 0.4, "epsilon": 0.2}}}}
			tv := &taskVector{in: model, weight: 1, scale: 1, mask: tvMask{kind: sparsifyDella}}
			if err := dellaMasks(j, []*taskVector{tv}, n); err != nil {
				t.Fatal(err)
			}
			delta := make([]float32, n)
			for i := range delta {
				delta[i] = model[i] - base[i]
			}
			probs := DellaProbs(shape, delta, 0.4, 0.2)
			stream := sparsify.NewStream(7, "w", 0)
			for i := range probs {
				want := stream.Uniform(i) < probs[i]
				if got := tv.mask.bits[i/64]>>(i%64)&1 == 1; got != want {
					t.Fatalf("shape %v, %d workers: element %d kept %v, want %v", shape, workers, i, got, want)
				}
			}
			if len(tv.mask.bits) != (n+63)/64 || n%64 != 0 && tv.mask.bits[n/64]>>(n%64) != 0 {
				t.Fatalf("shape %v: bits set beyond the tensor", shape)
			}
		}
	}
}
