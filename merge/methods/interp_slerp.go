package methods

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// slerpMethod returns slerp: spherical interpolation from the base (t = 0)
// to the one other model (t = 1), with one angle for the whole flattened
// tensor (mergekit slerp.py). Prepare makes one pass for the norms and the
// dot product; the kernel streams s0·base + s1·other.
func slerpMethod() *Method {
	return &Method{
		Name:     "slerp",
		Params:   []ParamDef{{Name: "t", Required: true, Range: unitRange, Search: Search{Start: 0.5, HasStart: true, Low: 0, High: 1}}},
		Base:     BaseRequired,
		Rectify:  RectifyCommon,
		Validate: validateSlerp,
		Prepare:  prepareSlerp,
	}
}

// slerpDotThreshold is the |cos| above which slerp falls back to lerp.
const slerpDotThreshold = 0.9995

// validateSlerp checks that there is at most one model besides the base
// (t's range is declared with the parameter).
func validateSlerp(j *Job) error {
	switch {
	case j.Base == nil && len(j.Models) == 0:
		return errors.New("slerp: no input models")
	case j.Base == nil && len(j.Models) > 1:
		return fmt.Errorf("slerp: needs a base model and exactly one other model, got no base and %d models", len(j.Models))
	case len(j.Models) > 1:
		return fmt.Errorf("slerp: needs exactly one model besides the base, got %d", len(j.Models))
	}
	return nil
}

func prepareSlerp(_ context.Context, j *Job) (Kernel, error) {
	if err := validateSlerp(j); err != nil {
		return nil, err
	}
	// A lone tensor is returned as it is.
	if j.Base == nil {
		return interpInputKernel("slerp", j, j.Models[0].Input), nil
	}
	if len(j.Models) == 0 {
		return interpInputKernel("slerp", j, j.Base.Input), nil
	}
	t := j.Params["t"]
	v0, v1 := j.Base.Input, j.Models[0].Input
	var s00, s11, s01 float64
	interpScan([]Input{v0, v1}, j.Len(), interpScanChunk(j), func(_ int, vals [][]float32) {
		a, b := vals[0], vals[1]
		for k := range a {
			x, y := float64(a[k]), float64(b[k])
			s00 += x * x
			s11 += y * y
			s01 += x * y
		}
	})
	// mergekit divides each vector by its norm only when the norm is > 1e-8.
	dot := s01
	if n0 := math.Sqrt(s00); n0 > 1e-8 {
		dot /= n0
	}
	if n1 := math.Sqrt(s11); n1 > 1e-8 {
		dot /= n1
	}
	c0, c1 := 1-t, t
	if !(math.Abs(dot) > slerpDotThreshold) {
		theta := math.Acos(dot)
		sinTheta := math.Sin(theta)
		c0 = math.Sin(theta-t*theta) / sinTheta
		c1 = math.Sin(t*theta) / sinTheta
	}
	rd := newInterpReader(v0, v1)
	return func(off int, out []float32) error {
		if err := interpCheckChunk("slerp", j, off, len(out)); err != nil {
			return err
		}
		vals := rd.read(off, len(out))
		a, b := vals[0], vals[1]
		for k := range out {
			out[k] = float32(c0*float64(a[k]) + c1*float64(b[k]))
		}
		return nil
	}, nil
}
