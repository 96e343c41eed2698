package merge

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/methods"
	"github.com/mergetune/mergetune/merge/safetensors"
)

// prepareTask settles a task's shape and dtype, resolves its parameters
// and builds and validates its job, before anything is written.
func (e *engine) prepareTask(slices []config.Slice, t *task) error {

	baseRef := e.cfg.BaseFor(slices, t.slice)
	baseIdx := -1
	if e.method.Base != methods.BaseNone && baseRef != "" {
		for i, in := range t.inputs {
			if in.ref == baseRef {
				baseIdx = i
				break
			}
		}
	}
	if e.method.Base == methods.BaseRequired && baseIdx < 0 {
		if baseRef == "" {
			return fmt.Errorf("%s: merge_method %s needs a base_model", e.cfg.File, e.method.Name)
		}
		return fmt.Errorf("%s: merge_method %s: base_model %s is not among the sources of slices[%d]", e.cfg.File, e.method.Name, baseRef, t.slice)
	}
	var inputs []methods.Input
	var shape []int
	var err error
	if e.vocab != nil && isEmbed(t.name) {
		inputs, shape, err = e.permuteEmbed(t, baseRef) // rows aligned to the output vocabulary
	} else {
		inputs, shape, err = e.rectify(t, baseIdx)
	}
	if err != nil {
		return err
	}
	t.shape = shape
	ref := t.inputs[0]
	if baseIdx >= 0 {
		ref = t.inputs[baseIdx]
	}
	if t.dtype, err = e.outDType(ref.tensor.DType); err != nil {
		return err
	}
	j := &methods.Job{Tensor: t.name, Shape: shape, IsEmbed: isEmbed(t.name), Seed: e.opt.Seed, Warn: e.warn}
	if j.Params, err = e.resolve1(slices, t.slice, -1, t.name, t.t, false, ""); err != nil {
		return err
	}
	var refs []string
	for i, in := range t.inputs {
		if inputs[i] == nil {
			continue // skipped (shape mismatch)
		}
		isBase := i == baseIdx
		p, err := e.resolve1(slices, t.slice, in.source, in.name, t.t, isBase, in.ref)
		if err != nil {
			return err
		}
		m := methods.Model{Name: in.ref, Input: inputs[i], Params: p}
		if isBase {
			j.Base = &m
			continue
		}
		j.Models = append(j.Models, m)
		refs = append(refs, in.ref)
	}
	if e.opt.Masks != nil {
		j.Masks = func(i int) []float32 { return e.opt.Masks(t.name, refs[i]) }
	}
	if err := e.method.Check(j); err != nil {
		return fmt.Errorf("%s: tensor %s: %w", e.cfg.File, t.name, err)
	}
	t.job = j
	return nil
}

// resolve1 resolves the method's parameters for one source (source >= 0,
// per-model parameters) or globally (source < 0), filling in defaults.
func (e *engine) resolve1(slices []config.Slice, slice, source int, tensor string, t float64, isBase bool, ref string) (methods.Params, error) {
	p := methods.Params{}
	for _, d := range e.method.Params {
		if d.PerModel != (source >= 0) {
			continue
		}
		v, ok := e.cfg.Lookup(slices, slice, source, d.Name, tensor, t)
		switch {
		case ok && v.IsStr:
			return nil, fmt.Errorf("%s: parameter %s = %q for tensor %s is not a number", e.cfg.File, d.Name, v.Str, tensor)
		case ok:
			p[d.Name] = v.Num
		case d.Required && !isBase:
			who := ""
			if ref != "" {
				who = " for model " + ref
			}
			return nil, fmt.Errorf("%s: merge_method %s: missing required parameter %s%s (tensor %s)", e.cfg.File, e.method.Name, d.Name, who, tensor)
		case !d.Required && !d.Optional:
			p[d.Name] = d.Default
		}
	}
	return p, nil
}

// outDType is the dtype a tensor is written in: out_dtype, else dtype,
// else the reference input's own.
func (e *engine) outDType(native safetensors.DType) (safetensors.DType, error) {
	for _, name := range []string{e.cfg.OutDType, e.cfg.DType} {
		if name != "" {
			d, err := safetensors.ParseDType(name)
			if err != nil {
				return "", fmt.Errorf("%s: %w", e.cfg.File, err)
			}
			return d, nil
		}
	}
	return native, nil
}

// rectify reconciles the input shapes the way the method asks (§6 of the
// method reference) and returns one Input per task input (nil where a
// model is skipped) and the output shape.
func (e *engine) rectify(t *task, baseIdx int) ([]methods.Input, []int, error) {
	ins := make([]methods.Input, len(t.inputs))
	shapes := make([][]int, len(t.inputs))
	same := true
	for i, in := range t.inputs {
		shapes[i] = in.tensor.Shape
		if !slices.Equal(shapes[i], shapes[0]) {
			same = false
		}
	}
	cast, err := e.castDType()
	if err != nil {
		return nil, nil, err
	}
	wrap := func(i int, shape []int) methods.Input {
		in := e.reader(t.inputs[i], cast)
		if !slices.Equal(shape, shapes[i]) {
			in = subMatrix{in: in, cols: shapes[i][1], outCols: shape[1]}
		}
		return in
	}
	if same {
		for i := range ins {
			ins[i] = wrap(i, shapes[0])
		}
		return ins, slices.Clone(shapes[0]), nil
	}
	embed := isEmbed(t.name)
	all2D := true
	for _, s := range shapes {
		all2D = all2D && len(s) == 2
	}
	mismatch := func() error {
		var b []string
		for i, in := range t.inputs {
			b = append(b, fmt.Sprintf("%s %v", in.ref, shapes[i]))
		}
		return fmt.Errorf("%s: tensor %s: shapes differ (%s) and merge_method %s cannot reconcile them", e.cfg.File, t.name, strings.Join(b, ", "), e.method.Name)
	}
	switch {
	case e.method.Rectify == methods.RectifyCommon && embed && all2D:
		out := slices.Clone(shapes[0])
		for _, s := range shapes {
			out[0], out[1] = min(out[0], s[0]), min(out[1], s[1])
		}
		for i := range ins {
			ins[i] = wrap(i, out)
		}
		e.warn("tensor %s: embedding sizes differ; merging the common %v submatrix (the output vocabulary may be smaller than config.json's vocab_size)", t.name, out)
		return ins, out, nil
	case e.method.Rectify == methods.RectifyToBase && baseIdx >= 0:
		out := slices.Clone(shapes[baseIdx])
		for i := range ins {
			s := shapes[i]
			switch {
			case slices.Equal(s, out):
				ins[i] = wrap(i, out)
			case embed && all2D && s[0] >= out[0] && s[1] >= out[1]:
				ins[i] = wrap(i, out)
			case embed && all2D:
				return nil, nil, fmt.Errorf("tensor %s: embedding of %s %v is smaller than the base's %v", t.name, t.inputs[i].ref, s, out)
			default:
				e.warn("tensor %s: %s has shape %v, the base %v; skipping that model for this tensor (mergekit does the same)", t.name, t.inputs[i].ref, s, out)
			}
		}
		return ins, out, nil
	}
	return nil, nil, mismatch()
}

// reader reads one task input as the methods see it: the tensor (read
// in pieces, safetensors.Tensor.Read), with its LoRA change applied,
// rounded to cast ("" for none).
func (e *engine) reader(ti input, cast safetensors.DType) methods.Input {
	var in methods.Input = ti.tensor
	native := ti.tensor.DType
	if l := e.withLoRA(ti.ref, ti.tensor.Name, in); l != in {
		in, native = l, safetensors.F32 // W + ΔW is computed in float32
	}
	if cast != "" && cast != native {
		in = &castInput{in: in, d: cast}
	}
	return in
}

// castDType is the dtype inputs are rounded to before merging ("" for none).
func (e *engine) castDType() (safetensors.DType, error) {
	if e.cfg.DType == "" {
		return "", nil
	}
	d, err := safetensors.ParseDType(e.cfg.DType)
	if err != nil {
		return "", fmt.Errorf("%s: dtype: %w", e.cfg.File, err)
	}
	if d == safetensors.F32 {
		return "", nil
	}
	return d, nil
}

// castInput rounds values to a narrower dtype, as mergekit's `dtype:` cast
// of the inputs does before merging.
type castInput struct {
	in methods.Input
	d  safetensors.DType
}

func (c *castInput) Read(off int, dst []float32) {
	c.in.Read(off, dst)
	safetensors.Round(c.d, dst)
}

// subMatrix reads the top-left [rows, outCols] corner of a 2-D tensor with
// cols columns.
type subMatrix struct {
	in      methods.Input
	cols    int
	outCols int
}

func (s subMatrix) Read(off int, dst []float32) {
	for len(dst) > 0 {
		r, c := off/s.outCols, off%s.outCols
		n := min(len(dst), s.outCols-c)
		s.in.Read(r*s.cols+c, dst[:n])
		dst, off = dst[n:], off+n
	}
}
