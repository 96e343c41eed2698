package methods

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// nearswapMethod returns nearswap: each element moves from the base towards
// the one other model by w = clamp(t/|base-other|, 0, 1), so elements that
// are already near each other are swapped in (mergekit nearswap.py). It
// streams element by element.
func nearswapMethod() *Method {
	return &Method{
		Name:     "nearswap",
		Params:   []ParamDef{{Name: "t", Required: true, Range: nonNeg, Search: Search{Start: 0.5, HasStart: true}}},
		Base:     BaseRequired,
		Rectify:  RectifyNone,
		Validate: validateNearswap,
		Prepare:  prepareNearswap,
	}
}

// validateNearswap checks that there is a base and at most one other
// model (t's range is declared with the parameter).
func validateNearswap(j *Job) error {
	if j.Base == nil {
		return errors.New("nearswap: needs a base model")
	}
	if len(j.Models) > 1 {
		return fmt.Errorf("nearswap: needs exactly one model besides the base, got %d", len(j.Models))
	}
	return nil
}

func prepareNearswap(_ context.Context, j *Job) (Kernel, error) {
	if err := validateNearswap(j); err != nil {
		return nil, err
	}
	if len(j.Models) == 0 {
		return interpInputKernel("nearswap", j, j.Base.Input), nil
	}
	t := j.Params["t"]
	rd := newInterpReader(j.Base.Input, j.Models[0].Input)
	return func(off int, out []float32) error {
		if err := interpCheckChunk("nearswap", j, off, len(out)); err != nil {
			return err
		}
		vals := rd.read(off, len(out))
		a, b := vals[0], vals[1]
		for k := range out {
			x, y := float64(a[k]), float64(b[k])
			w := t / math.Max(math.Abs(x-y), 1e-6)
			// Clamp to [0, 1]; a NaN stays NaN, as in torch.
			if w < 0 {
				w = 0
			} else if w > 1 {
				w = 1
			}
			out[k] = float32(w*y + (1-w)*x)
		}
		return nil
	}, nil
}
