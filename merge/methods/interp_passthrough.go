package methods

import (
	"context"
	"fmt"
)

// passthroughMethod returns passthrough: the one input tensor, multiplied
// by its per-model scale when one is set (mergekit passthrough.py). The
// scale is Optional: unset, it is absent from the model's Params. It
// streams.
func passthroughMethod() *Method {
	return &Method{
		Name:     "passthrough",
		Params:   []ParamDef{{Name: "scale", PerModel: true, Optional: true, Range: anyNumber}},
		Base:     BaseNone,
		Rectify:  RectifyNone,
		Validate: validatePassthrough,
		Prepare:  preparePassthrough,
	}
}

// validatePassthrough requires exactly one input model.
func validatePassthrough(j *Job) error {
	if len(j.Models) != 1 {
		return fmt.Errorf("passthrough: needs exactly one input model, got %d", len(j.Models))
	}
	return nil
}

func preparePassthrough(_ context.Context, j *Job) (Kernel, error) {
	if err := validatePassthrough(j); err != nil {
		return nil, err
	}
	in := j.Models[0].Input
	scale, ok := j.Models[0].Params["scale"]
	if !ok {
		return interpInputKernel("passthrough", j, in), nil
	}
	return func(off int, out []float32) error {
		if err := interpCheckChunk("passthrough", j, off, len(out)); err != nil {
			return err
		}
		in.Read(off, out)
		for k, v := range out {
			out[k] = float32(float64(v) * scale)
		}
		return nil
	}, nil
}
