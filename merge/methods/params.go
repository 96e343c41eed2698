package methods

import (
	"context"
	"fmt"
	"math"
	"strconv"
)

// Range is the set of values a parameter accepts. Every value must be a
// finite number; the zero Range accepts any finite number, and its fields
// narrow it.
type Range struct {
	Lo, Hi         float64 // the bounds, where HasLo / HasHi
	HasLo, HasHi   bool
	LoOpen, HiOpen bool // the bound itself is excluded
	Whole          bool // whole numbers only
	Bool           bool // a boolean: any finite number, non-zero meaning true (for messages)
}

// The ranges the built-in methods declare.
var (
	anyNumber = Range{}
	boolean   = Range{Bool: true}
	unitRange = Range{HasLo: true, HasHi: true, Hi: 1}               // [0, 1]
	density01 = Range{HasLo: true, HasHi: true, Hi: 1, LoOpen: true} // (0, 1]
	gammaRng  = Range{HasLo: true, HasHi: true, Hi: 1, HiOpen: true} // [0, 1)
	nonNeg    = Range{HasLo: true}                                   // >= 0
)

// MaxIter is the largest max_iter an iterative method (karcher) accepts.
const MaxIter = 10000

// Contains reports whether v lies in r.
func (r Range) Contains(v float64) bool {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return false
	case r.HasLo && (v < r.Lo || r.LoOpen && v == r.Lo):
		return false
	case r.HasHi && (v > r.Hi || r.HiOpen && v == r.Hi):
		return false
	case r.Whole && v != math.Trunc(v):
		return false
	}
	return true
}

// String describes r for messages: "[0, 1]", "(0, 1]", ">= 0",
// "[0, 10000] (whole numbers)", "any finite number", "a boolean (…)".
func (r Range) String() string {
	if r.Bool {
		return "a boolean (true/false, or a finite number: non-zero is true)"
	}
	var s string
	switch {
	case r.HasLo && r.HasHi:
		open, close := "[", "]"
		if r.LoOpen {
			open = "("
		}
		if r.HiOpen {
			close = ")"
		}
		s = open + num(r.Lo) + ", " + num(r.Hi) + close
	case r.HasLo && r.LoOpen:
		s = "> " + num(r.Lo)
	case r.HasLo:
		s = ">= " + num(r.Lo)
	case r.HasHi && r.HiOpen:
		s = "< " + num(r.Hi)
	case r.HasHi:
		s = "<= " + num(r.Hi)
	default:
		if r.Whole {
			return "any whole number"
		}
		return "any finite number"
	}
	if r.Whole {
		return s + " (whole numbers)"
	}
	return s
}

// num formats a bound or value the short way (1e+09, 0.5, NaN, +Inf).
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// Check returns an error naming the parameter and value when v is not
// in the parameter's range, e.g. "select_topk = -1 is outside [0, 1]".
func (d ParamDef) Check(v float64) error {
	if d.Range.Contains(v) {
		return nil
	}
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return fmt.Errorf("%s = %s is not a finite number (allowed: %s)", d.Name, num(v), d.Range)
	case d.Range.Whole && v == math.Trunc(v):
		return fmt.Errorf("%s = %s is outside %s", d.Name, num(v), d.Range)
	case d.Range.Whole:
		return fmt.Errorf("%s = %s is not a whole number (allowed: %s)", d.Name, num(v), d.Range)
	}
	return fmt.Errorf("%s = %s is outside %s", d.Name, num(v), d.Range)
}

// CheckParams checks every resolved parameter of j that m declares (the
// global ones, and each model's and the base's per-model ones) against
// its declared range. Unknown names are left to the engine.
func (m *Method) CheckParams(j *Job) error {
	for _, d := range m.Params {
		if !d.PerModel {
			if v, ok := j.Params[d.Name]; ok {
				if err := d.Check(v); err != nil {
					return fmt.Errorf("%s: %w", m.Name, err)
				}
			}
			continue
		}
		models := j.Models
		if j.Base != nil {
			models = append([]Model{*j.Base}, models...)
		}
		for _, mo := range models {
			if v, ok := mo.Params[d.Name]; ok {
				if err := d.Check(v); err != nil {
					return fmt.Errorf("%s: %w for model %s", m.Name, err, mo.Name)
				}
			}
		}
	}
	return nil
}

// Check validates a job before any tensor is read: every parameter in
// its declared range (CheckParams), then the method's own Validate
// (relations between parameters, the number of models).
func (m *Method) Check(j *Job) error {
	if err := m.CheckParams(j); err != nil {
		return err
	}
	if m.Validate != nil {
		return m.Validate(j)
	}
	return nil
}

// checked returns m with a Prepare that runs CheckParams first, so no
// kernel is built from an out-of-range parameter even by a caller that
// skips Check.
func checked(m *Method) *Method {
	prepare := m.Prepare
	m.Prepare = func(ctx context.Context, j *Job) (Kernel, error) {
		if err := m.CheckParams(j); err != nil {
			return nil, err
		}
		return prepare(ctx, j)
	}
	return m
}
