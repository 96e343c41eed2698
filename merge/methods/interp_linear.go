package methods

import (
	"context"
	"errors"
	"fmt"

	"github.com/mergetune/mergetune/merge/vec"
)

// linearMethod returns linear: the weighted average Σ w_i T_i, divided by
// Σ w_i when normalize is on (mergekit linear.py). It streams: the kernel
// reads each input chunk and accumulates in float64 (vec.WeightedSum).
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

// linearStep is how many elements linear reads from each input at a
// time: with 3 inputs the float32 pieces take 96 KiB, which stay in the
// core's cache between the widening and the sum.
const linearStep = 8192

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
		// a piece at a time, so that the widened inputs stay in the cache
		for s := 0; s < len(out); s += linearStep {
			m := min(linearStep, len(out)-s)
			vec.WeightedSum(out[s:s+m], rd.read(off+s, m), w, div)
		}
		return nil
	}, nil
}
