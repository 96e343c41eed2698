package config

import (
	"math"
	"strconv"
	"strings"
)

// Value is the result of evaluating a Setting: a number (booleans become 1
// or 0) or, when IsStr is set, a string.
type Value struct {
	// Num is the numeric value (0 when IsStr).
	Num float64
	// Str is the string value (only meaningful when IsStr).
	Str string
	// IsStr reports whether the value is a string.
	IsStr bool
}

// String formats v as it would appear in YAML.
func (v Value) String() string {
	if v.IsStr {
		return strconv.Quote(v.Str)
	}
	return strconv.FormatFloat(v.Num, 'g', -1, 64)
}

// settingKind tells which form a Setting takes.
type settingKind uint8

const (
	kindUnset    settingKind = iota // zero Setting: never evaluates
	kindScalar                      // a number, bool or string
	kindGradient                    // a list of numbers (bools count as numbers)
	kindStep                        // a list of scalars containing a string
	kindConds                       // one or more {filter?, value} entries
)

// conditional is one {filter?, value} entry of a Setting.
type conditional struct {
	filter string  // "" or "*" matches every tensor
	value  Setting // a scalar, gradient or step function
}

// Setting is one mergekit ParameterSetting: a scalar (number or bool → 1/0;
// a string is kept as a string), a numeric list (gradient), a non-numeric
// list (step function), a conditional {filter?, value}, or a list of
// conditionals. The zero Setting is unset: Eval reports ok=false.
type Setting struct {
	kind  settingKind
	val   Value         // kindScalar
	list  []Value       // kindGradient, kindStep
	conds []conditional // kindConds
	line  int           // YAML line, 0 if unknown
	bare  bool          // kindConds written as one {filter, value} mapping, not a list
}

// NumSetting returns a numeric scalar Setting.
func NumSetting(v float64) Setting { return Setting{kind: kindScalar, val: Value{Num: v}} }

// StrSetting returns a string scalar Setting.
func StrSetting(s string) Setting {
	return Setting{kind: kindScalar, val: Value{Str: s, IsStr: true}}
}

// GradientSetting returns a gradient Setting over the given values. With no
// values it returns the unset Setting.
func GradientSetting(vs ...float64) Setting {
	if len(vs) == 0 {
		return Setting{}
	}
	list := make([]Value, len(vs))
	for i, v := range vs {
		list[i] = Value{Num: v}
	}
	return Setting{kind: kindGradient, list: list}
}

// Eval evaluates s for the tensor name at layer position t in [0, 1]
// (mergekit's evaluate_setting):
//
//   - scalar → itself;
//   - numeric list of length L → scaled = t*(L-1); i0 = int(scaled);
//     i1 = min(L-1, i0+1); frac = scaled-i0; (1-frac)*s[i0] + frac*s[i1];
//   - non-numeric list → s[int(t*(L-1))];
//   - conditionals → the first whose filter is "", "*" or a substring of
//     tensor wins and its value is evaluated recursively; when none matches
//     ok is false (the lookup falls through to the next level).
//
// t is clamped to [0, 1] (NaN counts as 0). The unset Setting gives ok=false.
func (s Setting) Eval(tensor string, t float64) (v Value, ok bool) {
	switch s.kind {
	case kindScalar:
		return s.val, true
	case kindGradient:
		t = clamp01(t)
		last := len(s.list) - 1
		scaled := t * float64(last)
		i0 := min(int(scaled), last)
		i1 := min(last, i0+1)
		frac := scaled - float64(i0)
		return Value{Num: (1-frac)*s.list[i0].Num + frac*s.list[i1].Num}, true
	case kindStep:
		t = clamp01(t)
		last := len(s.list) - 1
		return s.list[min(int(t*float64(last)), last)], true
	case kindConds:
		for _, c := range s.conds {
			if c.filter == "" || c.filter == "*" || strings.Contains(tensor, c.filter) {
				return c.value.Eval(tensor, t)
			}
		}
	}
	return Value{}, false
}

// clamp01 clamps t to [0, 1], mapping NaN to 0.
func clamp01(t float64) float64 {
	if math.IsNaN(t) || t < 0 {
		return 0
	}
	return min(t, 1)
}

// Leaf is one value written in a Setting.
type Leaf struct {
	// Suffix is the leaf's key path below the setting: "" for a scalar,
	// "[1]" for a list entry, "[0].value" or "[0].value[2]" under a
	// conditional.
	Suffix string
	// Value is the value as written.
	Value Value
}

// Leaves lists every value written in s, in order. Eval returns one of
// them, or for a gradient a value between two consecutive ones, so an
// interval that holds every leaf holds every value s evaluates to (up to
// rounding of the interpolation).
func (s Setting) Leaves() []Leaf {
	switch s.kind {
	case kindScalar:
		return []Leaf{{Value: s.val}}
	case kindGradient, kindStep:
		out := make([]Leaf, len(s.list))
		for i, v := range s.list {
			out[i] = Leaf{Suffix: "[" + strconv.Itoa(i) + "]", Value: v}
		}
		return out
	case kindConds:
		var out []Leaf
		for i, c := range s.conds {
			prefix := "[" + strconv.Itoa(i) + "].value"
			if s.bare {
				prefix = ".value"
			}
			for _, l := range c.value.Leaves() {
				out = append(out, Leaf{Suffix: prefix + l.Suffix, Value: l.Value})
			}
		}
		return out
	}
	return nil
}

// IsSet reports whether s holds a value (the zero Setting does not).
func (s Setting) IsSet() bool { return s.kind != kindUnset }

// String formats s in YAML flow style, e.g. "0.5", "[1, 0.7, 0.1]" or
// "[{filter: mlp, value: 0.5}, {value: 0}]".
func (s Setting) String() string {
	switch s.kind {
	case kindScalar:
		return s.val.String()
	case kindGradient, kindStep:
		parts := make([]string, len(s.list))
		for i, v := range s.list {
			parts[i] = v.String()
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case kindConds:
		parts := make([]string, len(s.conds))
		for i, c := range s.conds {
			if c.filter == "" {
				parts[i] = "{value: " + c.value.String() + "}"
			} else {
				parts[i] = "{filter: " + strconv.Quote(c.filter) + ", value: " + c.value.String() + "}"
			}
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return "<unset>"
}
