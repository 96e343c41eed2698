package methods

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// multislerpMethod returns multislerp: the weighted spherical mean of any
// number of models (of their task vectors when a base is given), computed
// on the unit hypersphere over each flattened tensor and rescaled by the
// weighted mean norm (mergekit multislerp.py). Prepare loads the inputs and
// computes the whole result in float64.
func multislerpMethod() *Method {
	return &Method{
		Name: "multislerp",
		Params: []ParamDef{
			{Name: "weight", PerModel: true, Required: true, Range: anyNumber, Search: evenShare()},
			{Name: "normalize_weights", Default: 1, Range: boolean},
			{Name: "eps", Default: 1e-8, Range: nonNeg},
		},
		Base:     BaseOptional,
		Rectify:  RectifyNone,
		Validate: validateMultislerp,
		Prepare:  prepareMultislerp,
	}
}

// validateMultislerp checks that there is an input and, with normalize_weights on and two or
// more models, that the weights do not sum to 0.
func validateMultislerp(j *Job) error {
	if len(j.Models) == 0 && j.Base == nil {
		return errors.New("multislerp: no input models")
	}
	if len(j.Models) >= 2 && j.Params.Bool("normalize_weights", true) {
		if w, sum := interpWeights(j.Models); sum == 0 {
			return fmt.Errorf("multislerp: weights sum to 0 (%s) with normalize_weights=true; the result would be inf/NaN",
				interpWeightList(j.Models, w))
		}
	}
	return nil
}

func prepareMultislerp(_ context.Context, j *Job) (Kernel, error) {
	if err := validateMultislerp(j); err != nil {
		return nil, err
	}
	// A lone model (even with a base) is returned as it is; so is a lone base.
	if len(j.Models) == 0 {
		return interpInputKernel("multislerp", j, j.Base.Input), nil
	}
	if len(j.Models) == 1 {
		return interpInputKernel("multislerp", j, j.Models[0].Input), nil
	}
	eps := j.Params.Get("eps", 1e-8)
	w, sum := interpWeights(j.Models)
	if j.Params.Bool("normalize_weights", true) {
		for i := range w {
			w[i] /= sum
		}
	}
	n, nm := j.Len(), len(j.Models)
	var base []float32
	if j.Base != nil {
		base = Load(j.Base.Input, n)
	}
	xs := interpLoadAll(interpInputs(j.Models), n)
	// x returns element k of model i's (task) vector.
	x := func(i, k int) float64 {
		if base != nil {
			return float64(xs[i][k]) - float64(base[k])
		}
		return float64(xs[i][k])
	}
	addBase := func(k int, r float64) float32 {
		if base != nil {
			r += float64(base[k])
		}
		return float32(r)
	}

	norms := make([]float64, nm)
	for i := range nm {
		var s float64
		for k := range n {
			v := x(i, k)
			s += v * v
		}
		norms[i] = math.Sqrt(s)
	}
	// scale[i] turns model i's vector into w_i·unit_i.
	scale := make([]float64, nm)
	for i := range nm {
		scale[i] = w[i] / (norms[i] + eps)
	}
	mean := make([]float64, n)
	var meanSq float64
	for k := range n {
		var s float64
		for i := range nm {
			s += scale[i] * x(i, k)
		}
		mean[k] = s
		meanSq += s * s
	}
	res := make([]float32, n)
	meanNorm := math.Sqrt(meanSq)
	if meanNorm < eps {
		if nm == 2 {
			for k := range n {
				res[k] = addBase(k, w[0]*x(0, k)+w[1]*x(1, k))
			}
			return interpSliceKernel("multislerp", j, res), nil
		}
		return nil, fmt.Errorf("multislerp: %s: the weighted mean of the unit vectors has norm %g < eps = %g", j.Tensor, meanNorm, eps)
	}
	for k := range mean {
		mean[k] /= meanNorm
	}
	// The tangent-space projection of each unit vector: unit_i - d_i·mean,
	// with d_i = unit_i·mean; r = Σ w_i·tangent_i.
	d := make([]float64, nm)
	for i := range nm {
		var s float64
		for k := range n {
			s += x(i, k) * mean[k]
		}
		d[i] = s / (norms[i] + eps)
	}
	var wd float64
	for i := range nm {
		wd += w[i] * d[i]
	}
	r := make([]float64, n)
	var rSq float64
	for k := range n {
		var s float64
		for i := range nm {
			s += scale[i] * x(i, k)
		}
		r[k] = s - wd*mean[k]
		rSq += r[k] * r[k]
	}
	tn := math.Sqrt(rSq) + eps
	cosT, sinT := math.Cos(tn), math.Sin(tn)/tn
	var avgNorm float64
	for i := range nm {
		avgNorm += norms[i] * w[i]
	}
	for k := range n {
		res[k] = addBase(k, (mean[k]*cosT+r[k]*sinT)*avgNorm)
	}
	return interpSliceKernel("multislerp", j, res), nil
}
