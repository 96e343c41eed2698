package merge

import (
	"fmt"
	"strconv"

	"github.com/mergetune/mergetune/merge/config"
	"github.com/mergetune/mergetune/merge/methods"
)

// checkValues checks every number written for parameter r against the
// range its definition d declares, before any model is opened. A gradient
// evaluates between its entries, so checking the entries covers it; the
// resolved values are checked again per tensor (methods.Method.Check).
func (e *engine) checkValues(r config.ParamRef, d methods.ParamDef) error {
	for _, l := range r.Setting.Leaves() {
		if l.Value.IsStr {
			continue // refused, with the tensor, when resolved
		}
		if err := d.Check(l.Value.Num); err != nil {
			at := e.cfg.File
			if r.Line > 0 {
				at += ":" + strconv.Itoa(r.Line)
			}
			return fmt.Errorf("%s: %s%s: %w (merge_method %s)", at, r.Path, l.Suffix, err, e.method.Name)
		}
	}
	return nil
}

// NonFiniteError reports a merged tensor holding NaN or ±Inf values,
// which Run refuses unless Options.AllowNonFinite is set.
type NonFiniteError struct {
	File   string // the merge config
	Tensor string // the output tensor
	Count  int64  // how many of its values are not finite
	Total  int64  // how many values it has
}

// Error implements error.
func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("%s: tensor %s: %d of %d merged values are not finite (NaN or ±Inf); check the inputs and the parameters, or allow them with --allow-nonfinite (merge.Options.AllowNonFinite)",
		e.File, e.Tensor, e.Count, e.Total)
}

// checkFinite returns a *NonFiniteError when count of task t's merged
// values are not finite, unless the options allow them: then it warns,
// once per tensor.
func (e *engine) checkFinite(t *task, count int64) error {
	if count == 0 {
		return nil
	}
	if !e.opt.AllowNonFinite {
		return &NonFiniteError{File: e.cfg.File, Tensor: t.name, Count: count, Total: int64(t.len())}
	}
	e.emit("non-finite "+t.name, fmt.Sprintf("tensor %s: %d of %d merged values are not finite (NaN or ±Inf), written as they are (--allow-nonfinite)", t.name, count, t.len()))
	return nil
}
