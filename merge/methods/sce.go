package methods

import (
	"context"
	"fmt"

	"github.com/mergetune/mergetune/merge/sparsify"
)

// sceMethod is SCE (select, calculate, erase): keep the positions where the
// task vectors vary most, weight each model by its mean squared task
// vector, and average the models that agree with the (unweighted) majority
// sign.
func sceMethod() *Method {
	return &Method{
		Name: "sce",
		Params: []ParamDef{
			{Name: "int8_mask", Default: 0, Range: boolean},
			{Name: "select_topk", Default: 1, Range: unitRange},
		},
		Base:     BaseRequired,
		Rectify:  RectifyNone,
		Validate: validateSCE,
		Prepare:  prepareSCE,
	}
}

func validateSCE(j *Job) error {
	if j.Base == nil {
		return fmt.Errorf("sce: a base_model is required")
	}
	return nil
}

// sceState reads the task vectors of one chunk.
type sceState struct {
	j    *Job
	base []float32
	tv   [][]float32
}

func (s *sceState) read(off, k int) {
	if cap(s.base) < k {
		s.base = make([]float32, k)
		s.tv = make([][]float32, len(s.j.Models))
		for i := range s.tv {
			s.tv[i] = make([]float32, k)
		}
	}
	s.base = s.base[:k]
	s.j.Base.Input.Read(off, s.base)
	for i, m := range s.j.Models {
		x := s.tv[i][:k]
		m.Input.Read(off, x)
		for e := range x {
			x[e] -= s.base[e]
		}
		s.tv[i] = x
	}
}

// variance is the population variance over models of element e.
func (s *sceState) variance(e int) float32 {
	n := float32(len(s.tv))
	var mean float32
	for _, x := range s.tv {
		mean += x[e]
	}
	mean /= n
	var v float32
	for _, x := range s.tv {
		d := x[e] - mean
		v += d * d
	}
	return v / n
}

func prepareSCE(_ context.Context, j *Job) (Kernel, error) {
	n := j.Len()
	if len(j.Models) == 0 {
		return func(off int, out []float32) error { j.Base.Input.Read(off, out); return nil }, nil
	}
	topk := j.Params.Get("select_topk", 1)
	s := &sceState{j: j}
	// select: the positions of largest variance across models
	var cut *sparsify.Cut
	if topk < 1 {
		sel := sparsify.NewSelector()
		nonzero := 0
		keys := make([]uint32, 0, 1<<16)
		pass := func(add func([]uint32)) {
			for off := 0; off < n; off += 1 << 16 {
				k := min(1<<16, n-off)
				s.read(off, k)
				keys = keys[:k]
				for e := range keys {
					v := s.variance(e)
					if v != 0 {
						nonzero++
					}
					keys[e] = sparsify.MagBits(v)
				}
				add(keys)
			}
		}
		pass(sel.Add1)
		k := 0
		if topk > 0 {
			k = sparsify.Count(topk, nonzero)
		}
		sel.Plan(k)
		if sel.NeedsPass2() {
			pass(sel.Add2)
		}
		c := sel.Cuts()[0]
		// which of the positions tied at the cut are kept: a seeded hash
		// of the position orders them (see sparsify.TieOrder)
		c.ResolveTies(n, sparsify.TieOrder(j.Seed, j.Tensor, -1), func(off int, dst []uint32) {
			s.read(off, len(dst))
			for e := range dst {
				dst[e] = sparsify.MagBits(s.variance(e))
			}
		})
		cut = &c
	}
	// calculate: w_i = mean((masked τ_i)²), normalised
	w := make([]float64, len(j.Models))
	mask := make([]bool, 1<<16)
	// selectChunk masks the chunk of k positions from off that s holds
	selectChunk := func(off, k int) []bool {
		for e := 0; e < k; e++ {
			mask[e] = cut == nil || cut.Keep(off+e, sparsify.MagBits(s.variance(e)))
		}
		return mask[:k]
	}
	for off := 0; off < n; off += 1 << 16 {
		k := min(1<<16, n-off)
		s.read(off, k)
		sel := selectChunk(off, k)
		for i, x := range s.tv {
			for e := 0; e < k; e++ {
				if sel[e] {
					w[i] += float64(x[e]) * float64(x[e])
				}
			}
		}
	}
	var total float64
	for i := range w {
		w[i] /= float64(n)
		total += w[i]
	}
	wf := make([]float32, len(w))
	for i := range w {
		if total < 1e-6 {
			wf[i] = 1 / float32(len(w))
		} else {
			wf[i] = float32(w[i] / total)
		}
	}
	// erase: average the models that agree with the majority sign
	return func(off int, out []float32) error {
		k := len(out)
		for start := 0; start < k; start += 1 << 16 {
			m := min(1<<16, k-start)
			s.read(off+start, m)
			sel := selectChunk(off+start, m)
			for e := 0; e < m; e++ {
				o := &out[start+e]
				if !sel[e] {
					*o = s.base[e]
					continue
				}
				var sum float32
				for _, x := range s.tv {
					sum += x[e]
				}
				pos := sum >= 0
				var merged, div float32
				for i, x := range s.tv {
					v := x[e]
					if (pos && v > 0) || (!pos && v < 0) {
						merged += v * wf[i]
						div += wf[i]
					}
				}
				*o = s.base[e] + merged/max(div, 1e-6)
			}
		}
		return nil
	}, nil
}
