package methods

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/mergetune/mergetune/merge/vec"
)

// bf16 rounds x to bfloat16, as a checkpoint stores it.
func bf16(x float32) float32 { return math.Float32frombits(uint32(vec.RoundBF16(x)) << 16) }

// tiedBF16 returns a bf16 base of n elements and a bf16 model whose task
// vector is never zero and full of ties: "coarse" has seven distinct
// deltas (every base in [1, 2), so one bf16 step is 2^-7), "fine" is
// fine-tuning noise rounded to bf16 (tie groups of thousands).
func tiedBF16(n int, kind string, seed int64) (base, model Slice) {
	rng := rand.New(rand.NewSource(seed))
	base, model = make(Slice, n), make(Slice, n)
	for i := range base {
		switch kind {
		case "coarse":
			base[i] = bf16(1 + rng.Float32())
			k := float32(rng.Intn(3) + 1)
			if rng.Intn(2) == 0 {
				k = -k
			}
			model[i] = base[i] + k/128
		default:
			base[i] = bf16(float32(rng.NormFloat64() * 0.02))
			for model[i] == base[i] {
				model[i] = bf16(base[i] + float32(rng.NormFloat64()*0.002))
			}
		}
	}
	return base, model
}

// TestMagnitudeTiesUnbiased: on bf16 task vectors with large tie groups,
// the magnitude cut-offs (ties, breadcrumbs, breadcrumbs_ties, sce's
// select_topk) keep about the same share of the kept elements in each
// quarter of the tensor, both for tensors selected in two exact passes and
// for large ones selected from a sample; the output is the same for one
// and several workers and any chunking, the same for the same seed, and
// another seed breaks the ties otherwise.
func TestMagnitudeTiesUnbiased(t *testing.T) {
	reg := All()
	for _, tc := range []struct {
		shape []int
		kind  string
	}{
		{[]int{256, 512}, "coarse"}, // cut-offs by two exact passes
		{[]int{256, 512}, "fine"},
		{[]int{1024, 4160}, "coarse"}, // from a sample (>= sampledSelectFrom)
	} {
		shape, kind, n := tc.shape, tc.kind, tc.shape[0]*tc.shape[1]
		{
			base, model := tiedBF16(n, kind, int64(n))
			twice := make(Slice, n) // a second model for sce: the same signs, twice the delta
			for i := range twice {
				twice[i] = base[i] + 2*(model[i]-base[i])
			}
			for _, c := range []struct {
				method string
				params Params
				global Params
			}{
				{"ties", Params{"density": 0.3}, nil},
				{"ties", Params{"density": 0.7}, nil},
				{"breadcrumbs", Params{"density": 0.5, "gamma": 0.05}, nil},
				{"breadcrumbs_ties", Params{"density": 0.4, "gamma": 0.1}, nil},
				{"sce", nil, Params{"select_topk": 0.3}},
			} {
				if c.method == "sce" && n >= sampledSelectFrom {
					continue // sce selects in exact passes at any size
				}
				name := fmt.Sprintf("%s %v %s %v%v", kind, shape, c.method, c.params, c.global)
				run := func(seed uint64, workers, chunk int) []float32 {
					t.Helper()
					j := &Job{Tensor: "model.layers.0.mlp.up_proj.weight", Shape: shape, Base: &Model{Name: "base", Input: base},
						Seed: seed, Workers: workers, Params: Params{}}
					for k, v := range c.global {
						j.Params[k] = v
					}
					p := Params{"weight": 1}
					for k, v := range c.params {
						p[k] = v
					}
					j.Models = []Model{{Name: "m", Input: model, Params: p}}
					if c.method == "sce" {
						j.Models = append(j.Models, Model{Name: "m2", Input: twice, Params: Params{}})
					}
					out, err := mergeChunks(t, reg[c.method], j, chunk*shape[1])
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					return out
				}
				out := run(1, 1, 64)
				var q [4]int
				total := 0
				for i := range out {
					if out[i] != base[i] {
						q[i*4/n]++
						total++
					}
				}
				if total == 0 {
					t.Fatalf("%s: nothing kept", name)
				}
				for i, k := range q {
					if share := float64(k) / float64(total); share < 0.225 || share > 0.275 {
						t.Errorf("%s: kept elements per quarter %v: quarter %d holds %.3f of them, not within 10%% of 1/4", name, q, i, share)
						break
					}
				}
				same := func(a, b []float32) bool {
					for i := range a {
						if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
							return false
						}
					}
					return true
				}
				if !same(out, run(1, 2, 37)) {
					t.Errorf("%s: 2 workers and other chunks change the output", name)
				}
				if !same(out, run(1, 1, 64)) {
					t.Errorf("%s: the same seed gives another output", name)
				}
				if same(out, run(2, 1, 64)) {
					t.Errorf("%s: seeds 1 and 2 break the ties alike", name)
				}
			}
		}
	}
}
