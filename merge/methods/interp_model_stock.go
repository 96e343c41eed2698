package methods

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// modelStockMethod returns model_stock: t·mean(models) + (1-t)·base with
// t = N·cos/(1+(N-1)·cos), cos being the mean pairwise cosine of the task
// vectors, over the whole tensor or, with filter_wise, per last-axis row
// (mergekit model_stock.py). Prepare makes one pass to accumulate the
// task vectors' Gram matrix in float64; the kernel streams.
func modelStockMethod() *Method {
	return &Method{
		Name:     "model_stock",
		Params:   []ParamDef{{Name: "filter_wise", Default: 0, Range: boolean}},
		Base:     BaseRequired,
		Rectify:  RectifyCommon,
		Validate: validateModelStock,
		Prepare:  prepareModelStock,
	}
}

// validateModelStock requires a base and at least two other models (a
// lone base is returned as it is).
func validateModelStock(j *Job) error {
	if j.Base == nil {
		return errors.New("model_stock: needs a base model")
	}
	if len(j.Models) == 1 {
		return fmt.Errorf("model_stock: needs at least two models besides the base, got 1 (%s)", j.Models[0].Name)
	}
	return nil
}

func prepareModelStock(_ context.Context, j *Job) (Kernel, error) {
	if err := validateModelStock(j); err != nil {
		return nil, err
	}
	if len(j.Models) == 0 {
		return interpInputKernel("model_stock", j, j.Base.Input), nil
	}
	filterWise := j.Params.Bool("filter_wise", false)
	n, nm := j.Len(), len(j.Models)
	rowLen, groups := n, 1
	if filterWise {
		rowLen = j.RowLen()
		groups = n / rowLen
	}
	if n == 0 {
		groups = 0
	}
	// gram[g*npair + p] holds off_a·off_b of group g for the pairs a <= b,
	// in row-major upper-triangle order.
	npair := nm * (nm + 1) / 2
	gram := make([]float64, groups*npair)
	ins := append([]Input{j.Base.Input}, interpInputs(j.Models)...)
	d := make([]float64, nm)
	interpScan(ins, n, interpScanChunk(j), func(off int, vals [][]float32) {
		for k, b := range vals[0] {
			g := 0
			if filterWise {
				g = (off + k) / rowLen
			}
			for i := range nm {
				d[i] = float64(vals[i+1][k]) - float64(b)
			}
			acc := gram[g*npair : (g+1)*npair]
			p := 0
			for a := range nm {
				for c := a; c < nm; c++ {
					acc[p] += d[a] * d[c]
					p++
				}
			}
		}
	})

	// diag[a] is the index of the pair (a, a).
	diag := make([]int, nm)
	for a, p := 0, 0; a < nm; a++ {
		diag[a] = p
		p += nm - a
	}
	ts := make([]float64, groups)
	bad, firstBad := 0, -1
	for g := range ts {
		acc := gram[g*npair : (g+1)*npair]
		var sum float64
		p := 0
		for a := range nm {
			for c := a; c < nm; c++ {
				if c > a {
					norms := math.Sqrt(acc[diag[a]]) * math.Sqrt(acc[diag[c]])
					cos := acc[p] / math.Max(norms, 1e-6)
					sum += math.Max(-1, math.Min(1, cos))
				}
				p++
			}
		}
		cos := sum / float64(nm*(nm-1)/2)
		nf := float64(nm)
		t := nf * cos / (1 + (nf-1)*cos)
		ts[g] = t
		if !(t >= 0 && t <= 1) {
			if bad == 0 {
				firstBad = g
			}
			bad++
		}
	}
	if bad > 0 {
		if filterWise {
			j.Warnf("model_stock: %s: t is outside [0, 1] or not finite in %d of %d rows (first: row %d, t = %g)",
				j.Tensor, bad, groups, firstBad, ts[firstBad])
		} else {
			j.Warnf("model_stock: %s: t = %g is outside [0, 1] or not finite", j.Tensor, ts[firstBad])
		}
	}

	rd := newInterpReader(ins...)
	return func(off int, out []float32) error {
		if err := interpCheckChunk("model_stock", j, off, len(out)); err != nil {
			return err
		}
		vals := rd.read(off, len(out))
		for k := range out {
			g := 0
			if filterWise {
				g = (off + k) / rowLen
			}
			t := ts[g]
			var s float64
			for _, v := range vals[1:] {
				s += float64(v[k])
			}
			out[k] = float32(t*(s/float64(nm)) + (1-t)*float64(vals[0][k]))
		}
		return nil
	}, nil
}
