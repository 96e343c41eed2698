package methods

import (
	"context"
	"errors"
	"math"

	"github.com/mergetune/mergetune/merge/vec"
)

// ramMethod returns ram, Reinforced Agent Merging (arXiv:2601.13572;
// mergekit merge_methods/ram.py): an element changed by one model only
// (|τ_i| > epsilon) takes that model's change whole; one changed by
// several takes their mean, so shared changes are not diluted by the
// models that left the element alone.
func ramMethod() *Method {
	return &Method{
		Name:     "ram",
		Params:   []ParamDef{{Name: "epsilon", Default: 1e-5, Range: nonNeg}},
		Base:     BaseRequired,
		Rectify:  RectifyNone,
		Validate: validateRAM,
		Prepare:  func(ctx context.Context, j *Job) (Kernel, error) { return prepareRAM(ctx, j, false) },
		Parallel: true,
	}
}

// ramPlusMethod returns ramplus_tl, RAM+ in its tensor-local form (same
// paper and file): model i's unique changes are scaled by
// λ_i = 1 + r·clamp(ρ_i, 0, alpha), ρ_i being the ratio of its shared to
// its unique changed elements in this tensor. epsilon must be positive:
// it also bounds ρ's denominator, and 0 would give 0/0 for a model with
// no changed element.
func ramPlusMethod() *Method {
	return &Method{
		Name: "ramplus_tl",
		Params: []ParamDef{
			{Name: "r", Default: 0.1, Range: nonNeg},
			{Name: "alpha", Default: 0.2, Range: nonNeg},
			{Name: "epsilon", Default: 1e-5, Range: Range{HasLo: true, LoOpen: true}},
		},
		Base:     BaseRequired,
		Rectify:  RectifyNone,
		Validate: validateRAM,
		Prepare:  func(ctx context.Context, j *Job) (Kernel, error) { return prepareRAM(ctx, j, true) },
		Parallel: true,
	}
}

func validateRAM(j *Job) error {
	if j.Base == nil {
		return errors.New("ram: a base_model is required")
	}
	return nil
}

// ramBlock reads a block of the base and the task vectors.
type ramBlock struct {
	base []float32
	tv   [][]float32
}

func newRAMBlock(models, n int) *ramBlock {
	b := &ramBlock{base: make([]float32, n), tv: make([][]float32, models)}
	for i := range b.tv {
		b.tv[i] = make([]float32, n)
	}
	return b
}

// read fills the block with elements [off, off+n).
func (b *ramBlock) read(j *Job, off, n int) {
	base := b.base[:n]
	j.Base.Input.Read(off, base)
	for i, m := range j.Models {
		x := b.tv[i][:n]
		m.Input.Read(off, x)
		vec.Sub(x, x, base)
	}
}

// changed reports whether a task-vector element counts as a change:
// |τ| > epsilon, compared in float32 as torch compares a float32 tensor
// with a Python float.
func changed(tv, eps float32) bool { return float32(math.Abs(float64(tv))) > eps }

// contributors counts the models that change element e of the block.
func (b *ramBlock) contributors(e int, eps float32) int {
	c := 0
	for _, x := range b.tv {
		if changed(x[e], eps) {
			c++
		}
	}
	return c
}

func prepareRAM(ctx context.Context, j *Job, plus bool) (Kernel, error) {
	if err := validateRAM(j); err != nil {
		return nil, err
	}
	nm := len(j.Models)
	if nm == 0 {
		return func(off int, out []float32) error { j.Base.Input.Read(off, out); return nil }, nil
	}
	eps := float32(j.Params.Get("epsilon", 1e-5))
	lambda := make([]float32, nm)
	for i := range lambda {
		lambda[i] = 1
	}
	if plus {
		var err error
		if lambda, err = ramLambdas(ctx, j, eps); err != nil {
			return nil, err
		}
	}
	bufs := make(chan *ramBlock, max(1, j.Workers)+1)
	return func(off int, out []float32) error {
		var b *ramBlock
		select {
		case b = <-bufs:
		default:
			b = newRAMBlock(nm, passChunk)
		}
		defer func() {
			select {
			case bufs <- b:
			default:
			}
		}()
		for lo := 0; lo < len(out); lo += passChunk {
			n := min(passChunk, len(out)-lo)
			b.read(j, off+lo, n)
			for e := range n {
				cnt := b.contributors(e, eps)
				var merged float32
				for i, x := range b.tv {
					switch v := x[e]; {
					case !changed(v, eps):
					case cnt == 1:
						merged += v * lambda[i]
					default:
						merged += v / float32(cnt)
					}
				}
				out[lo+e] = b.base[e] + merged
			}
		}
		return nil
	}, nil
}

// ramLambdas computes RAM+'s per-model scale of the unique changes,
// λ_i = 1 + r·clamp(ρ_i, 0, alpha) with ρ_i = shared_i / max(unique_i,
// epsilon), in float32 as mergekit does, over the whole tensor.
func ramLambdas(ctx context.Context, j *Job, eps float32) ([]float32, error) {
	nm, n := len(j.Models), j.Len()
	count := (n + passChunk - 1) / passChunk
	// per chunk and model: shared and unique counts, summed in chunk order
	shared := make([][]int, count)
	unique := make([][]int, count)
	blocks := make([]*ramBlock, max(1, j.Workers))
	chunks(n, j.Workers, func(w, c, lo, hi int) {
		if ctx.Err() != nil {
			return
		}
		if blocks[w] == nil {
			blocks[w] = newRAMBlock(nm, passChunk)
		}
		b := blocks[w]
		b.read(j, lo, hi-lo)
		s, u := make([]int, nm), make([]int, nm)
		for e := range hi - lo {
			cnt := b.contributors(e, eps)
			for i, x := range b.tv {
				switch {
				case !changed(x[e], eps):
				case cnt == 1:
					u[i]++
				default:
					s[i]++
				}
			}
		}
		shared[c], unique[c] = s, u
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := float32(j.Params.Get("r", 0.1))
	alpha := float32(j.Params.Get("alpha", 0.2))
	lambda := make([]float32, nm)
	for i := range lambda {
		var s, u int
		for c := range count {
			s += shared[c][i]
			u += unique[c][i]
		}
		rho := float32(s) / max(float32(u), eps)
		lambda[i] = 1 + r*min(max(rho, 0), alpha)
	}
	return lambda, nil
}
