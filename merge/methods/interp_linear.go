package methods

import (
	"context"
	"errors"
	"fmt"
)

// linearMethod returns linear: the weighted average Σ w_i T_i, divided by
// Σ w_i when normalize is on (mergekit linear.py). It streams: the kernel
// reads each input chunk and accumulates in float64.
func linearMethod() *Method {
	return &Method{
		Name: "linear",
		Params: []ParamDef{
			{Name: "normalize", Default: 1, Range: boolean},
			{Name: "weight", PerModel: true, Required: true, Range: anyNumber, Search: evenShare()},
		},
		Base:     BaseNone,
		Rectify:  RectifyCommon,
		Validate: validateLinear,
		Prepare:  prepareLinear,
	}
}

// validateLinear rejects a job without models and, with normalize on,
// weights that sum to 0 (mergekit would write inf/NaN; §13 quirk 20).
func validateLinear(j *Job) error {
	if len(j.Models) == 0 {
		return errors.New("linear: no input models")
	}
	w, sum := interpWeights(j.Models)
	if j.Params.Bool("normalize", true) && sum == 0 {
		return fmt.Errorf("linear: weights sum to 0 (%s) with normalize=true; the result would be inf/NaN",
			interpWeightList(j.Models, w))
	}
	return nil
}

func prepareLinear(_ context.Context, j *Job) (Kernel, error) {
	if err := validateLinear(j); err != nil {
		return nil, err
	}
	w, sum := interpWeights(j.Models)
	div := 1.0
	if j.Params.Bool("normalize", true) {
		div = sum
	}
	rd := newInterpReader(interpInputs(j.Models)...)
	return func(off int, out []float32) error {
		if err := interpCheckChunk("linear", j, off, len(out)); err != nil {
			return err
		}
		vals := rd.read(off, len(out))
		for k := range out {
			var s float64
			for i, v := range vals {
				s += w[i] * float64(v[k])
			}
			out[k] = float32(s / div)
		}
		return nil
	}, nil
}
