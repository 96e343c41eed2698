package methods

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// nuslerpMethod returns nuslerp: spherical interpolation between exactly two
// models at t = w1/(w0+w1), of their task vectors when a base is given,
// either over the flattened tensor (nuslerp_flatten, the default), over
// rows, or over columns (nuslerp_row_wise) (mergekit nuslerp.py). Prepare
// loads the inputs and computes the whole result in float64.
func nuslerpMethod() *Method {
	return &Method{
		Name: "nuslerp",
		Params: []ParamDef{
			{Name: "weight", PerModel: true, Required: true, Range: anyNumber, Search: evenShare()},
			{Name: "nuslerp_row_wise", Default: 0, Range: boolean},
			{Name: "nuslerp_flatten", Default: 1, Range: boolean},
		},
		Base:     BaseOptional,
		Rectify:  RectifyCommon,
		Validate: validateNuslerp,
		Prepare:  prepareNuslerp,
	}
}

// validateNuslerp checks that there are exactly two models besides the
// base, unless the tensor is present in one model only.
func validateNuslerp(j *Job) error {
	total := len(j.Models)
	if j.Base != nil {
		total++
	}
	switch {
	case total == 0:
		return errors.New("nuslerp: no input models")
	case total == 1:
		return nil
	case len(j.Models) != 2:
		return fmt.Errorf("nuslerp: needs exactly two models besides the base, got %d", len(j.Models))
	}
	return nil
}

func prepareNuslerp(_ context.Context, j *Job) (Kernel, error) {
	if err := validateNuslerp(j); err != nil {
		return nil, err
	}
	if len(j.Models) == 0 {
		return interpInputKernel("nuslerp", j, j.Base.Input), nil
	}
	if len(j.Models) == 1 {
		return interpInputKernel("nuslerp", j, j.Models[0].Input), nil
	}
	w, sum := interpWeights(j.Models)
	t := 0.5
	if math.Abs(sum) >= 1e-6 {
		t = w[1] / sum
	}
	n := j.Len()
	ins := interpInputs(j.Models)
	if j.Base != nil {
		ins = append(ins, j.Base.Input)
	}
	vals := interpLoadAll(ins, n)
	// pair returns the two interpolated vectors' values at k: the models,
	// or their task vectors when there is a base.
	pair := func(k int) (float64, float64) {
		a, b := float64(vals[0][k]), float64(vals[1][k])
		if j.Base != nil {
			base := float64(vals[2][k])
			a -= base
			b -= base
		}
		return a, b
	}

	// The vectors: vecs of them, each of length vlen, element m of vector v
	// at index start(v) + m·stride.
	vecs, vlen, stride := 1, n, 1
	start := func(int) int { return 0 }
	if !j.Params.Bool("nuslerp_flatten", true) && n > 0 {
		if j.Params.Bool("nuslerp_row_wise", false) && len(j.Shape) >= 2 {
			// Vectors along axis 0 (the columns of [out, in]).
			vlen = j.Shape[0]
			stride = n / vlen
			vecs = stride
			start = func(v int) int { return v }
		} else {
			// Vectors along the last axis (rows).
			vlen = j.RowLen()
			vecs = n / vlen
			start = func(v int) int { return v * vlen }
		}
	}
	res := make([]float32, n)
	for v := range vecs {
		s := start(v)
		var s00, s11, s01 float64
		for m := range vlen {
			a, b := pair(s + m*stride)
			s00 += a * a
			s11 += b * b
			s01 += a * b
		}
		cos := s01 / (math.Max(math.Sqrt(s00), 1e-7) * math.Max(math.Sqrt(s11), 1e-7))
		theta := math.Acos(math.Max(-1, math.Min(1, cos)))
		sinTheta := math.Sin(theta)
		c0 := math.Sin((1-t)*theta) / sinTheta
		c1 := math.Sin(t*theta) / sinTheta
		if math.Abs(sinTheta) < 1e-8 {
			c0, c1 = 1-t, t
		}
		for m := range vlen {
			k := s + m*stride
			a, b := pair(k)
			r := c0*a + c1*b
			if j.Base != nil {
				r += float64(vals[2][k])
			}
			res[k] = float32(r)
		}
	}
	return interpSliceKernel("nuslerp", j, res), nil
}
