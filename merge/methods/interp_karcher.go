package methods

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// karcherMethod returns karcher: the Karcher (Riemannian) mean of every
// input on the unit hypersphere, with equal weights 1/N, found by at most
// max_iter gradient steps and rescaled by the mean norm (mergekit
// karcher.py). An auto-appended base is averaged in like any model. Prepare
// loads the inputs and computes the whole result in float64, checking ctx
// before each iteration.
func karcherMethod() *Method {
	return &Method{
		Name: "karcher",
		Params: []ParamDef{
			{Name: "max_iter", Default: 10, Range: Range{HasLo: true, HasHi: true, Hi: MaxIter, Whole: true}},
			{Name: "tol", Default: 1e-5, Range: nonNeg},
		},
		Base:     BaseNone,
		Rectify:  RectifyNone,
		Validate: validateKarcher,
		Prepare:  prepareKarcher,
	}
}

// validateKarcher checks that there is an input (the ranges of max_iter
// and tol are declared with the parameters).
func validateKarcher(j *Job) error {
	if len(j.Models) == 0 {
		return errors.New("karcher: no input models")
	}
	return nil
}

func prepareKarcher(ctx context.Context, j *Job) (Kernel, error) {
	if err := validateKarcher(j); err != nil {
		return nil, err
	}
	if len(j.Models) == 1 {
		return interpInputKernel("karcher", j, j.Models[0].Input), nil
	}
	maxIter := int(j.Params.Get("max_iter", 10))
	tol := j.Params.Get("tol", 1e-5)
	n, nm := j.Len(), len(j.Models)
	xs := interpLoadAll(interpInputs(j.Models), n)
	alpha := 1 / float64(nm)

	norms := make([]float64, nm)
	var valid []int
	for i := range nm {
		var s float64
		for _, v := range xs[i] {
			s += float64(v) * float64(v)
		}
		norms[i] = math.Sqrt(s)
		if norms[i] > tol {
			valid = append(valid, i)
		}
	}
	res := make([]float32, n)
	if len(valid) == 0 {
		return interpSliceKernel("karcher", j, res), nil
	}
	// Every weight is 1/N, so the valid inputs' normalised weights are equal.
	a := 1 / float64(len(valid))
	// unit returns element k of input i's unit vector.
	unit := func(i, k int) float64 { return float64(xs[i][k]) / norms[i] }
	// dotU returns u·unit_i.
	dotU := func(u []float64, i int) float64 {
		var s float64
		for k, v := range xs[i] {
			s += u[k] * float64(v)
		}
		return s / norms[i]
	}
	normalize := func(v []float64, scale float64) {
		for k := range v {
			v[k] /= scale
		}
	}

	u := make([]float64, n)
	for _, i := range valid {
		for k := range u {
			u[k] += a * unit(i, k)
		}
	}
	if nu := interpL2(u); nu < tol {
		for k := range u {
			u[k] = unit(valid[0], k)
		}
	} else {
		normalize(u, nu)
	}
	tg := make([]float64, n)
	for range maxIter {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("karcher: %s: %w", j.Tensor, err)
		}
		clear(tg)
		for _, i := range valid {
			c := math.Max(-1, math.Min(1, dotU(u, i)))
			theta := math.Acos(c)
			if theta < tol {
				continue
			}
			f := a * theta / math.Sin(theta)
			for k := range tg {
				tg[k] += f * (unit(i, k) - c*u[k])
			}
		}
		nt := interpL2(tg)
		if nt < tol {
			break
		}
		cosT, sinT := math.Cos(nt), math.Sin(nt)
		for k := range u {
			u[k] = cosT*u[k] + sinT*tg[k]/nt
		}
		if nu := interpL2(u); nu > tol {
			normalize(u, nu)
		}
	}
	var s float64
	for i := range nm {
		s += alpha * norms[i]
	}
	for k := range res {
		res[k] = float32(s * u[k])
	}
	return interpSliceKernel("karcher", j, res), nil
}

// interpL2 returns the Euclidean norm of v.
func interpL2(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}
