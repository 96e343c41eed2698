package study

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mergetune/mergetune/merge/methods"
)

// Suggester proposes values for named parameters: a goptuna trial in a
// running study, a fixed table in tests.
type Suggester interface {
	// Float proposes a float in [low, high], on a log scale when log is
	// set, on a grid of step when step > 0.
	Float(name string, low, high float64, log bool, step float64) (float64, error)
	// Int proposes an integer in [low, high], on a grid of step when step > 1.
	Int(name string, low, high, step int) (int, error)
	// Choice proposes one of choices.
	Choice(name string, choices []string) (string, error)
}

// Assignment is one point of a study's space resolved into merge settings.
type Assignment struct {
	Method string
	// Global holds the method's global parameters; Models[i] model i's
	// per-model parameters. Values are float64, bool or []float64 (a
	// gradient over the layers).
	Global map[string]any
	Models []map[string]any
}

// ParamNames returns the names under which prm's values are suggested:
// name (global, shared), name[model] (per_model), name[k] (per_layer,
// global parameter) or name[model][k] (per_layer, per-model parameter).
func (s *Study) ParamNames(prm Param) []string { return s.paramNames(prm) }

func (s *Study) paramNames(prm Param) []string {
	switch {
	case prm.Scope == ScopePerModel:
		out := make([]string, len(s.Models))
		for i, m := range s.Models {
			out[i] = fmt.Sprintf("%s[%s]", prm.Name, m.Name)
		}
		return out
	case prm.Scope == ScopePerLayer && prm.PerModel:
		var out []string
		for _, m := range s.Models {
			for k := range prm.Knots {
				out = append(out, fmt.Sprintf("%s[%s][%d]", prm.Name, m.Name, k))
			}
		}
		return out
	case prm.Scope == ScopePerLayer:
		out := make([]string, prm.Knots)
		for k := range prm.Knots {
			out[k] = fmt.Sprintf("%s[%d]", prm.Name, k)
		}
		return out
	}
	return []string{prm.Name}
}

// Sample asks sg for a value of every parameter the chosen method takes
// and resolves the study's fixed parameters and defaults around them.
func (s *Study) Sample(sg Suggester) (*Assignment, error) {
	method := s.Methods[0]
	if len(s.Methods) > 1 {
		m, err := sg.Choice("method", s.Methods)
		if err != nil {
			return nil, fmt.Errorf("suggest method: %w", err)
		}
		method = m
	}
	reg := methods.All()
	m := reg[method]
	a := &Assignment{Method: method, Global: map[string]any{}, Models: make([]map[string]any, len(s.Models))}
	for i := range a.Models {
		a.Models[i] = map[string]any{}
	}
	for name, v := range s.Fixed {
		d, ok := methodParam(m, name)
		if !ok {
			continue
		}
		if d.PerModel {
			for i := range a.Models {
				a.Models[i][name] = v
			}
		} else {
			a.Global[name] = v
		}
	}
	for _, prm := range s.Space {
		if _, ok := methodParam(m, prm.Name); !ok {
			continue
		}
		names := s.paramNames(prm)
		vals := make([]any, len(names))
		for i, n := range names {
			v, err := suggest(sg, prm, n)
			if err != nil {
				return nil, fmt.Errorf("suggest %s: %w", n, err)
			}
			vals[i] = v
		}
		switch prm.Scope {
		case ScopeGlobal:
			a.Global[prm.Name] = vals[0]
		case ScopeShared:
			for i := range a.Models {
				a.Models[i][prm.Name] = vals[0]
			}
		case ScopePerModel:
			for i := range a.Models {
				a.Models[i][prm.Name] = vals[i]
			}
		case ScopePerLayer:
			if prm.PerModel {
				for i := range a.Models {
					a.Models[i][prm.Name] = gradient(vals[i*prm.Knots : (i+1)*prm.Knots])
				}
			} else {
				a.Global[prm.Name] = gradient(vals)
			}
		}
	}
	for _, d := range m.Params {
		if !d.Required {
			continue
		}
		def := DefaultValue(method, d.Name, len(s.Models))
		if d.PerModel {
			for i := range a.Models {
				if _, set := a.Models[i][d.Name]; !set {
					a.Models[i][d.Name] = def
				}
			}
		} else if _, set := a.Global[d.Name]; !set {
			a.Global[d.Name] = def
		}
	}
	return a, nil
}

func gradient(vals []any) []float64 {
	out := make([]float64, len(vals))
	for i, v := range vals {
		out[i] = toFloat(v)
	}
	return out
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

func suggest(sg Suggester, prm Param, name string) (any, error) {
	switch prm.Type {
	case "float":
		return sg.Float(name, prm.Low, prm.High, prm.Log, prm.Step)
	case "int":
		step := int(prm.Step)
		v, err := sg.Int(name, int(prm.Low), int(prm.High), max(step, 1))
		return float64(v), err
	}
	c, err := sg.Choice(name, prm.Choices)
	if err != nil {
		return nil, err
	}
	return choiceValue(c), nil
}

// choiceValue turns a choice's text into the number or boolean it spells.
func choiceValue(c string) any {
	if f, err := strconv.ParseFloat(c, 64); err == nil {
		return f
	}
	if b, err := strconv.ParseBool(c); err == nil {
		return b
	}
	return c
}

// DefaultValue is the starting value of a method parameter for a merge of
// n models: mergekit's documented defaults where they exist (lambda 1,
// epsilon 0.15, t 0.5), density 0.5 (0.9 for breadcrumbs, whose gamma
// removes another 1%), gamma 0.01, and weight 1 for the task-vector
// methods (they take lambda) or 1/n for the interpolations; otherwise the
// method's own default (0 when it has none).
func DefaultValue(method, param string, n int) float64 {
	m := methods.All()[method]
	switch param {
	case "weight":
		if _, tv := methodParam(m, "lambda"); tv {
			return 1
		}
		return 1 / float64(max(n, 1))
	case "lambda":
		return 1
	case "density":
		if method == "breadcrumbs" || method == "breadcrumbs_ties" {
			return 0.9
		}
		return 0.5
	case "gamma":
		return 0.01
	case "epsilon":
		return 0.15
	case "t":
		return 0.5
	}
	if d, ok := methodParam(m, param); ok && !math.IsNaN(d.Default) {
		return d.Default
	}
	return 0
}

// DefaultParams returns the first trial's parameters in goptuna's internal
// representation (a categorical as its index, log-scale values raw): the
// first method and DefaultValue of each searched parameter, brought inside
// its range (a value outside it would be silently re-sampled).
func (s *Study) DefaultParams() map[string]float64 {
	method := s.Methods[0]
	out := map[string]float64{}
	if len(s.Methods) > 1 {
		out["method"] = 0
	}
	m := methods.All()[method]
	for _, prm := range s.Space {
		if _, ok := methodParam(m, prm.Name); !ok {
			continue
		}
		d := DefaultValue(method, prm.Name, len(s.Models))
		var v float64
		switch prm.Type {
		case "choice":
			best := math.Inf(1)
			for i, c := range prm.Choices {
				if dist := math.Abs(toFloat(choiceValue(c)) - d); dist < best {
					best, v = dist, float64(i)
				}
			}
		case "int":
			v = math.Round(min(max(d, prm.Low), prm.High))
		default:
			v = min(max(d, prm.Low), prm.High)
			if prm.Step > 0 {
				v = prm.Low + math.Round((v-prm.Low)/prm.Step)*prm.Step
				v = min(v, prm.High)
			}
		}
		for _, n := range s.paramNames(prm) {
			out[n] = v
		}
	}
	return out
}

// mkConfig is the mergekit YAML a trial writes.
type mkConfig struct {
	MergeMethod string         `yaml:"merge_method"`
	BaseModel   string         `yaml:"base_model,omitempty"`
	Models      []mkModel      `yaml:"models"`
	Parameters  map[string]any `yaml:"parameters,omitempty"`
	Dtype       string         `yaml:"dtype,omitempty"`
}

type mkModel struct {
	Model      string         `yaml:"model"`
	Parameters map[string]any `yaml:"parameters,omitempty"`
}

// MergeYAML writes the mergekit configuration of an assignment: the
// study's base model (omitted for methods that take none), its models with
// their per-model parameters, the global parameters and the dtype. header,
// when not empty, is written first as a comment.
func (s *Study) MergeYAML(a *Assignment, header string) (string, error) {
	paths := make([]string, len(s.Models))
	for i, m := range s.Models {
		paths[i] = m.Path
	}
	return MergeYAML(a, s.BaseModel, paths, s.Dtype, header)
}

// MergeYAML writes the mergekit configuration merging the models at paths
// onto base with the settings of a (a.Models[i] belongs to paths[i]).
func MergeYAML(a *Assignment, base string, paths []string, dtype, header string) (string, error) {
	m := methods.All()[a.Method]
	if m == nil {
		return "", fmt.Errorf("merge yaml: unknown method %q", a.Method)
	}
	if len(a.Models) != len(paths) {
		return "", fmt.Errorf("merge yaml: %d models but %d parameter sets", len(paths), len(a.Models))
	}
	c := mkConfig{MergeMethod: a.Method, Dtype: dtype}
	if m.Base != methods.BaseNone {
		c.BaseModel = base
	}
	if len(a.Global) > 0 {
		c.Parameters = a.Global
	}
	for i, p := range paths {
		mm := mkModel{Model: p}
		if len(a.Models[i]) > 0 {
			mm.Parameters = a.Models[i]
		}
		c.Models = append(c.Models, mm)
	}
	out, err := yaml.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("merge yaml: %w", err)
	}
	if header == "" {
		return string(out), nil
	}
	var hdr []byte
	for _, line := range strings.Split(header, "\n") {
		hdr = append(hdr, "# "+line+"\n"...)
	}
	return string(hdr) + string(out), nil
}
