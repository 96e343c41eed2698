package methods

import (
	"math"
	"strings"
	"testing"
)

// ramInputs: task vectors chosen so that every case of RAM shows: an
// element changed by one model (0, 2), by all three (1, 5), by two (4),
// and by none (3: 1e-6 is below epsilon).
func ramInputs() (base Slice, models []Model) {
	base = Slice{0, 0, 0, 0, 1, 1}
	tvs := [][]float32{
		{0.5, 0.2, 0, 1e-6, 0.3, -0.4},
		{0, 0.4, 0, 0, 0.3, 0.2},
		{0, -0.3, 0.1, 0, 0, 0.2},
	}
	for i, tv := range tvs {
		x := make(Slice, len(tv))
		for e := range tv {
			x[e] = base[e] + tv[e]
		}
		models = append(models, Model{Name: "m" + string(rune('0'+i)), Input: x, Params: Params{}})
	}
	return base, models
}

// TestRAMHandComputed checks ram and ramplus_tl against values worked out
// by hand from mergekit's ram.py. ramplus_tl: model 0 changes 1 element
// alone and 3 with others (ρ = 3), model 2 1 and 2 (ρ = 2), so with
// r = 0.5 and alpha = 4, λ = 2.5 and 2; with the defaults (r 0.1, alpha
// 0.2) both are clamped to λ = 1.02.
func TestRAMHandComputed(t *testing.T) {
	reg := All()
	tests := []struct {
		method string
		params Params
		want   []float32
	}{
		{"ram", nil, []float32{0.5, 0.1, 0.1, 0, 1.3, 1}},
		{"ramplus_tl", Params{"r": 0.5, "alpha": 4}, []float32{1.25, 0.1, 0.2, 0, 1.3, 1}},
		{"ramplus_tl", nil, []float32{0.51, 0.1, 0.102, 0, 1.3, 1}},
		// epsilon 0: element 3 counts as changed, by model 0 alone
		{"ram", Params{"epsilon": 0}, []float32{0.5, 0.1, 0.1, 1e-6, 1.3, 1}},
	}
	for _, tt := range tests {
		base, models := ramInputs()
		m := reg[tt.method]
		j := &Job{Tensor: "x", Shape: []int{2, 3}, Base: &Model{Name: "base", Input: base, Params: Params{}}, Models: models, Params: copyParams(tt.params)}
		for _, chunk := range []int{3, 6} {
			got, err := mergeChunks(t, m, j, chunk)
			if err != nil {
				t.Fatal(err)
			}
			if i := closeTo(got, tt.want, 1e-6, 1e-7); i >= 0 {
				t.Errorf("%s %v (chunk %d): element %d = %v, want %v (all: %v)", tt.method, tt.params, chunk, i, got[i], tt.want[i], got)
			}
		}
	}
}

// ramReference follows ram.py literally on whole tensors.
func ramReference(base []float32, models [][]float32, eps float32, plus bool, r, alpha float32) []float32 {
	n, nm := len(base), len(models)
	tv := make([][]float32, nm)
	nz := make([][]bool, nm)
	cnt := make([]int, n)
	for i, m := range models {
		tv[i], nz[i] = make([]float32, n), make([]bool, n)
		for e := range n {
			tv[i][e] = m[e] - base[e]
			nz[i][e] = float32(math.Abs(float64(tv[i][e]))) > eps
			if nz[i][e] {
				cnt[e]++
			}
		}
	}
	lambda := make([]float32, nm)
	for i := range lambda {
		lambda[i] = 1
		if !plus {
			continue
		}
		var shared, unique int
		for e := range n {
			if nz[i][e] && cnt[e] > 1 {
				shared++
			}
			if nz[i][e] && cnt[e] == 1 {
				unique++
			}
		}
		rho := float32(shared) / float32(math.Max(float64(unique), float64(eps)))
		lambda[i] = 1 + r*float32(math.Min(math.Max(float64(rho), 0), float64(alpha)))
	}
	out := make([]float32, n)
	for e := range n {
		var merged float32
		for i := range nm {
			if !nz[i][e] {
				continue
			}
			if cnt[e] == 1 {
				merged += tv[i][e] * lambda[i]
			} else {
				merged += tv[i][e] / float32(cnt[e])
			}
		}
		out[e] = base[e] + merged
	}
	return out
}

// TestRAMMatchesReference: on tensors spanning several statistics chunks,
// with sparse task vectors (so unique and shared changes are both common),
// the streamed, parallel result equals the literal reference whatever the
// worker count and chunking.
func TestRAMMatchesReference(t *testing.T) {
	reg := All()
	n := 3*passChunk + 77
	gen := func(seed int, sparse bool) []float32 {
		v := make([]float32, n)
		for e := range v {
			x := math.Sin(float64(seed*7919+e) * 0.37)
			if sparse && math.Abs(x) < 0.6 {
				x = 0
			}
			v[e] = float32(x) * 0.01
		}
		return v
	}
	base := gen(1, false)
	var raw [][]float32
	var models []Model
	for i := range 3 {
		tv := gen(i+2, true)
		x := make([]float32, n)
		for e := range x {
			x[e] = base[e] + tv[e]
		}
		raw = append(raw, x)
		models = append(models, Model{Name: "m", Input: Slice(x), Params: Params{}})
	}
	for _, plus := range []bool{false, true} {
		name := "ram"
		want := ramReference(base, raw, 1e-5, plus, 0.3, 0.5)
		params := Params{}
		if plus {
			name, params = "ramplus_tl", Params{"r": 0.3, "alpha": 0.5}
		}
		for _, workers := range []int{1, 3} {
			j := &Job{Tensor: "x", Shape: []int{n}, Base: &Model{Input: Slice(base), Params: Params{}}, Models: models, Params: copyParams(params), Workers: workers}
			got, err := mergeChunks(t, reg[name], j, 1000)
			if err != nil {
				t.Fatal(err)
			}
			for e := range want {
				if math.Float32bits(got[e]) != math.Float32bits(want[e]) {
					t.Fatalf("%s workers %d: element %d = %v, want %v", name, workers, e, got[e], want[e])
				}
			}
		}
	}
}

func TestRAMParams(t *testing.T) {
	reg := All()
	base, models := ramInputs()
	tests := []struct {
		method string
		params Params
		want   string
	}{
		{"ramplus_tl", Params{"epsilon": 0}, "ramplus_tl: epsilon = 0 is outside > 0"},
		{"ram", Params{"epsilon": -1}, "ram: epsilon = -1 is outside >= 0"},
		{"ramplus_tl", Params{"alpha": -0.1}, "alpha = -0.1 is outside >= 0"},
	}
	for _, tt := range tests {
		j := &Job{Tensor: "x", Shape: []int{6}, Base: &Model{Input: base, Params: Params{}}, Models: models, Params: copyParams(tt.params)}
		_, err := mergeChunks(t, reg[tt.method], j, 6)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %v: error %v, want %q", tt.method, tt.params, err, tt.want)
		}
	}
	j := &Job{Tensor: "x", Shape: []int{6}, Models: models, Params: Params{}}
	if _, err := mergeChunks(t, reg["ram"], j, 6); err == nil || !strings.Contains(err.Error(), "base_model is required") {
		t.Errorf("no base: %v", err)
	}
	// only the base: the base
	j = &Job{Tensor: "x", Shape: []int{6}, Base: &Model{Input: base, Params: Params{}}, Params: Params{}}
	got, err := mergeChunks(t, reg["ramplus_tl"], j, 6)
	if err != nil || closeTo(got, base, 0, 0) >= 0 {
		t.Errorf("base only: %v, %v", got, err)
	}
}
